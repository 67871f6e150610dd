//! The hand-off from a half-open request to a connection (issue 6, bug 4).
//!
//! The third-step ACK either yields a connection that is queued for accept(), or leaves
//! the request record as it was (Linux's tcp_check_req: a segment that PAWS rejects is
//! answered with an ACK and dropped, the request keeps its SYN-ACK timer).

mod common;

use core::time::Duration;

use common::*;
use synack::wire::SeqNum;
use synack::{Error, EventKind, State};

/// A listener and a SYN with timestamps (TSval 100); returns the half-open connection
/// and the SYN-ACK's TSval.
fn half_open_with_timestamps(h: &mut Harness) -> (Conn, u32) {
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1460).ts(100, 0),
    );
    let out = h.output();
    assert_eq!(out.len(), 1, "one SYN-ACK: {out:?}");
    let ts = out[0].options.timestamp.expect("SYN-ACK has timestamps");
    let c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    (c, ts.tsval)
}

/// RFC 7323 5.3 R1 at SYN-RECEIVED (Linux's tcp_check_req): a third-step ACK whose TSval
/// is older than the SYN's is answered with an ACK and dropped; no connection is made,
/// the request stays with its timer, and the next good ACK completes the handshake into
/// the accept queue.
#[test]
fn paws_rejected_third_ack_leaves_the_request() {
    let mut h = Harness::new();
    let (c, tsval) = half_open_with_timestamps(&mut h);
    let listener = c.handle;
    let paws_before = h.stack.stats().PAWSEstab;
    h.send(&c, pkt(".", c.p(1), c.l(1)).ts(50, tsval));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(out[0].options.timestamp.map(|t| t.tsecr), Some(100));
    assert_eq!(h.stack.stats().PAWSEstab, paws_before + 1);
    assert_eq!(h.stack.accept(listener), Err(Error::WouldBlock));
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
    assert_eq!(h.stack.stats().PassiveOpens, 0, "no child was created");
    assert_eq!(
        h.stack.sockets().len(),
        2,
        "the listener and the request, nothing else: {:?}",
        h.stack.sockets()
    );
    // The request is as it was: its SYN-ACK timer still runs.
    let out = h.advance(Duration::from_millis(1000));
    assert_eq!(briefs(&out), vec![seg("S.", c.l(0), c.p(1), 0)]);
    // A good ACK completes the handshake; accept() returns the connection.
    h.send(&c, pkt(".", c.p(1), c.l(1)).ts(101, tsval));
    assert_eq!(h.recv(), vec![]);
    assert!(h
        .events()
        .iter()
        .any(|e| e.socket == listener && e.kind == EventKind::Incoming));
    let (child, peer) = h
        .stack
        .accept(listener)
        .expect("the connection is accepted");
    assert_eq!(peer, c.remote());
    assert_eq!(h.state(child), State::Established);
    assert_eq!(h.states_of(&c), vec![State::Established]);
}

/// A PAWS-rejected third ACK with data leaves nothing behind either: the data is not
/// taken, and the peer's retransmission with a good timestamp is.
#[test]
fn paws_rejected_third_ack_with_data_is_not_taken() {
    let mut h = Harness::new();
    let (c, tsval) = half_open_with_timestamps(&mut h);
    let listener = c.handle;
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"early").ts(50, tsval));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.accept(listener), Err(Error::WouldBlock));
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"early").ts(102, tsval));
    let (child, _) = h.stack.accept(listener).expect("accepted");
    assert_eq!(h.read_all(child).unwrap(), b"early");
}

/// Rejected ACKs (they carry no data) are answered at most once per
/// `tcp_invalid_ratelimit` (Linux's tcp_oow_rate_limited, TCPACKSkippedSynRecv).
#[test]
fn rejected_acks_at_syn_received_are_rate_limited() {
    let mut h = Harness::new();
    let (c, tsval) = half_open_with_timestamps(&mut h);
    let mut answers = 0;
    for _ in 0..100 {
        h.send(&c, pkt(".", c.p(1), c.l(1)).ts(50, tsval));
        answers += h.recv().len();
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(answers, 1);
    assert_eq!(h.stack.stats().TCPACKSkippedSynRecv, 99);
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
}
