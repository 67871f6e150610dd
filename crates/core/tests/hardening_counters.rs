//! Counters counted as Linux counts them (issue 6, bug 7).
//!
//! - A segment the out-of-order queue refuses is TCPOFODrop, not TCPOFOQueue (Linux's
//!   tcp_data_queue_ofo counts TCPOFOQueue only for what it queues).
//! - An IPv4 header in error is an IP error (ip_rcv_core: Ip InHdrErrors, and IpExt
//!   InCsumErrors for a bad header checksum, IpExt InTruncatedPkts for a datagram shorter
//!   than its total length); TCP never sees it, so it is not in InSegs, InErrs or the
//!   TCP InCsumErrors, which count TCP checksum errors only.

mod common;

use common::*;
use synack::wire::{self, SeqNum, TcpRepr};
use synack::Stats;

/// Linux's OFO queue takes what memory allows; synack's holds 16 disjoint ranges. A
/// 17th hole-separated segment is refused and counted as TCPOFODrop.
#[test]
fn refused_out_of_order_segment_is_ofo_drop() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    let before = h.stack.stats().clone();
    for i in 0..17u32 {
        // One byte at p(2), p(4), ...: each leaves a hole before it.
        h.send(&c, pkt(".", c.p(2 + 2 * i), c.l(1)).data(b"x"));
        h.output();
    }
    let after = h.stack.stats();
    assert_eq!(after.TCPOFOQueue - before.TCPOFOQueue, 16, "16 queued");
    assert_eq!(after.TCPOFODrop - before.TCPOFODrop, 1, "the 17th refused");
    // The refused byte was not kept: filling the holes delivers 16 of them.
    for i in 0..17u32 {
        h.send(&c, pkt(".", c.p(1 + 2 * i), c.l(1)).data(b"y"));
    }
    let data = h.read_all(c.handle).unwrap();
    let mut want = "yx".repeat(16).into_bytes();
    want.push(b'y');
    assert_eq!(data, want);
}

/// A SYN to the stack's listener, as a datagram.
fn syn_datagram() -> Vec<u8> {
    let repr = TcpRepr {
        src_port: PEER_PORT,
        dst_port: LISTEN_PORT,
        seq: SeqNum(PEER_ISS),
        ack: None,
        control: wire::Control::Syn,
        psh: false,
        ece: false,
        cwr: false,
        window: 65535,
        urgent: None,
        options: Default::default(),
        payload: b"data",
    };
    let mut buf = vec![0u8; 200];
    let n =
        wire::emit_datagram(&mut buf, PEER_IP.into(), LOCAL_IP.into(), 64, &repr).expect("emit");
    buf.truncate(n);
    buf
}

/// The counters that moved, as `(group, name, delta)`.
fn moved(before: &Stats, after: &Stats) -> Vec<(&'static str, &'static str, u64)> {
    before
        .iter()
        .zip(after.iter())
        .filter(|(b, a)| a.2 != b.2)
        .map(|(b, a)| (a.0, a.1, a.2 - b.2))
        .collect()
}

/// Feeds `datagram` to a stack with a listener; returns the counters that moved and
/// how many datagrams the stack sent.
fn feed(datagram: &[u8]) -> (Vec<(&'static str, &'static str, u64)>, usize) {
    let mut h = Harness::new();
    h.listen(16);
    let before = h.stack.stats().clone();
    h.stack.handle_packet(h.now, datagram);
    let sent = h.output().len();
    (moved(&before, h.stack.stats()), sent)
}

#[test]
fn ipv4_header_checksum_error_is_an_ip_error() {
    let mut d = syn_datagram();
    d[10] ^= 0x5a; // the IPv4 header checksum
    let (moved, sent) = feed(&d);
    assert_eq!(sent, 0);
    assert_eq!(
        moved,
        vec![("Ip", "InHdrErrors", 1), ("IpExt", "InCsumErrors", 1)]
    );
}

#[test]
fn tcp_checksum_error_is_a_tcp_error() {
    let mut d = syn_datagram();
    let last = d.len() - 1;
    d[last] ^= 0x5a; // a payload byte: the TCP checksum no longer matches
    let (moved, sent) = feed(&d);
    assert_eq!(sent, 0);
    assert_eq!(
        moved,
        vec![
            ("Tcp", "InSegs", 1),
            ("Tcp", "InErrs", 1),
            ("Tcp", "InCsumErrors", 1)
        ]
    );
}

#[test]
fn ipv4_header_errors_are_ip_errors() {
    // A header length below 5 words.
    let mut d = syn_datagram();
    d[0] = 0x44;
    assert_eq!(feed(&d).0, vec![("Ip", "InHdrErrors", 1)]);
    // Fewer bytes than a header.
    let d = syn_datagram();
    assert_eq!(feed(&d[..12]).0, vec![("Ip", "InHdrErrors", 1)]);
    // A whole header, but fewer bytes than its total length.
    let d = syn_datagram();
    assert_eq!(
        feed(&d[..d.len() - 2]).0,
        vec![("IpExt", "InTruncatedPkts", 1)]
    );
}
