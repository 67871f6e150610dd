//! RFC 7323 timestamps across connections between the same two hosts.

mod common;

use common::*;
use std::net::SocketAddr;

/// Linux keys the timestamp offset by the two addresses only (secure_tcp_ts_off):
/// two connections to the same host from different ports read one clock, so the
/// second's TSval is the first's plus the milliseconds in between. (Keyed by ports too,
/// each connection had a random clock, and PAWS across connections, tcp_tw_reuse's and
/// tcp_tw_recycle's checks saw time jump back and forth.)
#[test]
fn connections_to_one_host_share_a_timestamp_clock() {
    let mut h = Harness::new();
    let peer = SocketAddr::new(PEER_IP.into(), PEER_PORT);
    let a = h.stack.socket();
    h.stack.connect(a, peer).unwrap();
    let first = h.output();
    h.advance(core::time::Duration::from_millis(250));
    let b = h.stack.socket();
    h.stack
        .connect(b, SocketAddr::new(PEER_IP.into(), PEER_PORT + 1))
        .unwrap();
    let second = h.output();
    let ts = |s: &[Sent]| s[0].options.timestamp.expect("SYN with timestamps").tsval;
    assert_ne!(first[0].src_port, second[0].src_port);
    assert_eq!(ts(&second).wrapping_sub(ts(&first)), 250);
}
