//! Per-state unit tests over the engine (DESIGN.md, "Tests, in layers", item 2): given a
//! connection in one of the eleven states of RFC 9293 and one segment from the peer,
//! these are the segments that must come out and the state after. Each test cites the
//! RFC 9293 section 3.10.7 step (or the RFC that refines it) and, where Linux differs
//! from the letter of the RFC, the Linux function whose behaviour synack follows.
//!
//! Segments are compared as `[flags] seq N ack N len N` (see `common::Seg`), with
//! sequence numbers relative to the two ISNs: `c.p(n)` in the peer's space, `c.l(n)` in
//! the stack's.

mod common;

use core::time::Duration;

use common::*;
use synack::wire::{Control, SeqNum};
use synack::{Error, EventKind, Instant, SockOpt, State};

/// The error of the `Closed` event for `h`, if one was reported.
fn closed_event(h: &mut Harness, handle: synack::SocketHandle) -> Option<Option<Error>> {
    h.events()
        .into_iter()
        .filter(|e| e.socket == handle)
        .find_map(|e| match e.kind {
            EventKind::Closed(err) => Some(err),
            _ => None,
        })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// =====================================================================================
// CLOSED (RFC 9293 3.10.7.1): no socket at all.
// =====================================================================================

/// RFC 9293 3.10.7.1: a segment without ACK to a closed port gets
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`; a SYN counts one octet.
#[test]
fn closed_syn_gets_rst_ack() {
    let mut h = Harness::new();
    h.inject_ports(9999, PEER_PORT, &pkt("S", SeqNum(1000), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg("R.", SeqNum(0), SeqNum(1001), 0)]);
    assert!(h.stack.sockets().is_empty());
}

/// RFC 9293 3.10.7.1: SEG.LEN counts the payload and the FIN of a segment without ACK.
#[test]
fn closed_data_fin_without_ack_gets_rst_ack() {
    let mut h = Harness::new();
    h.inject_ports(
        9999,
        PEER_PORT,
        &pkt("F", SeqNum(1000), SeqNum(0)).data(&[7; 10]),
    );
    assert_eq!(h.recv(), vec![seg("R.", SeqNum(0), SeqNum(1011), 0)]);
}

/// RFC 9293 3.10.7.1: a segment with ACK to a closed port gets `<SEQ=SEG.ACK><CTL=RST>`.
#[test]
fn closed_ack_gets_rst_seq_seg_ack() {
    let mut h = Harness::new();
    h.inject_ports(
        9999,
        PEER_PORT,
        &pkt(".", SeqNum(1000), SeqNum(5555)).data(b"xy"),
    );
    assert_eq!(h.recv(), vec![seg("R", SeqNum(5555), SeqNum(0), 0)]);
}

/// RFC 9293 3.10.7.1: "An incoming segment containing a RST is discarded."
#[test]
fn closed_rst_is_not_answered() {
    let mut h = Harness::new();
    h.inject_ports(9999, PEER_PORT, &pkt("R", SeqNum(1000), SeqNum(0)));
    h.inject_ports(9999, PEER_PORT, &pkt("R.", SeqNum(1000), SeqNum(5)));
    assert_eq!(h.recv(), vec![]);
}

/// RFC 9293 3.10.7.1: a socket that is bound but not listening is still CLOSED to the
/// network (Linux: no listener found, tcp_v4_send_reset).
#[test]
fn closed_bound_socket_is_not_a_listener() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack
        .bind(s, std::net::SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT))
        .unwrap();
    h.inject_ports(LISTEN_PORT, PEER_PORT, &pkt("S", SeqNum(1000), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg("R.", SeqNum(0), SeqNum(1001), 0)]);
    assert_eq!(h.state(s), State::Closed);
}

// =====================================================================================
// LISTEN (RFC 9293 3.10.7.2)
// =====================================================================================

/// RFC 9293 3.10.7.2 "third, check for a SYN": `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`,
/// and a half-open request appears (SYN-RECV in `ss`). The peer sent no options, so
/// the SYN-ACK carries only MSS (RFC 7323 2.2/3.2, RFC 2018 2: options are echoed only).
#[test]
fn listen_syn_gets_syn_ack() {
    let mut h = Harness::new();
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)),
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    let c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    assert_eq!(briefs(&out), vec![seg("S.", c.l(0), c.p(1), 0)]);
    let o = out[0].options;
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.window_scale, None);
    assert!(!o.sack_permitted);
    assert_eq!(o.timestamp, None);
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
    assert_eq!(h.state(l), State::Listen);
}

/// RFC 9293 3.10.7.2 "second, check for an ACK": `<SEQ=SEG.ACK><CTL=RST>`.
#[test]
fn listen_ack_gets_rst() {
    let mut h = Harness::new();
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt(".", SeqNum(PEER_ISS), SeqNum(777)),
    );
    assert_eq!(h.recv(), vec![seg("R", SeqNum(777), SeqNum(0), 0)]);
    assert_eq!(h.state(l), State::Listen);
    assert_eq!(h.stack.sockets().len(), 1, "only the listener");
}

/// RFC 9293 3.10.7.2 "first, check for a RST": ignored.
#[test]
fn listen_rst_is_ignored() {
    let mut h = Harness::new();
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("R", SeqNum(PEER_ISS), SeqNum(0)),
    );
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(l), State::Listen);
    assert_eq!(h.stack.sockets().len(), 1);
}

/// RFC 9293 3.10.7.2 "fourth, other data or control": a FIN or data without SYN and
/// without ACK is dropped silently.
#[test]
fn listen_fin_without_ack_is_dropped() {
    let mut h = Harness::new();
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("F", SeqNum(PEER_ISS), SeqNum(0)).data(b"x"),
    );
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(l), State::Listen);
    assert_eq!(h.stack.sockets().len(), 1);
}

/// Completes the handshakes of `n` peers, sending all SYNs before any third-step ACK.
fn handshakes_interleaved(h: &mut Harness, l: synack::SocketHandle, ports: &[u16]) -> Vec<Conn> {
    ports
        .iter()
        .map(|&p| h.passive_syn(l, p, pkt("S", SeqNum(PEER_ISS + u32::from(p)), SeqNum(0))))
        .collect()
}

/// Linux's accept queue (listen(2), tcp_check_req / sk_acceptq_is_full): with
/// `listen(2)` the queue holds backlog + 1 = 3 connections; a further third-step ACK is
/// dropped without a reply (ListenOverflows), and the request stays half-open so that
/// its SYN-ACK retransmission can bring the ACK again (RFC 9293 3.10.7.4 leaves the
/// queueing policy to the implementation).
#[test]
fn listen_accept_queue_overflow_drops_third_ack() {
    let mut h = Harness::new();
    let l = h.listen(2);
    let first = h.established_passive_on_no_accept(l, 40001);
    let second = h.established_passive_on_no_accept(l, 40002);
    let later = handshakes_interleaved(&mut h, l, &[40003, 40004]);
    let before = h.stack.stats().ListenOverflows;
    h.send(&later[0], pkt(".", later[0].p(1), later[0].l(1)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(
        h.stack.stats().ListenOverflows,
        before,
        "third connection fits"
    );
    h.send(&later[1], pkt(".", later[1].p(1), later[1].l(1)));
    assert_eq!(h.recv(), vec![], "the overflowing ACK is dropped silently");
    assert_eq!(h.stack.stats().ListenOverflows, before + 1);
    assert_eq!(h.states_of(&later[1]), vec![State::SynReceived]);
    let mut accepted = Vec::new();
    while let Ok((_, peer)) = h.stack.accept(l) {
        accepted.push(peer.port());
    }
    assert_eq!(accepted, vec![first, second, 40003]);
}

/// Linux's `tcp_abort_on_overflow = 1` (tcp_check_req, embryonic_reset): the overflowing
/// third-step ACK is answered with `<SEQ=SEG.ACK><CTL=RST>` and the request is dropped.
#[test]
fn listen_accept_queue_overflow_with_abort_on_overflow_resets() {
    let mut h = Harness::with_config(|c| c.tcp_abort_on_overflow = true);
    let l = h.listen(2);
    h.established_passive_on_no_accept(l, 40001);
    h.established_passive_on_no_accept(l, 40002);
    let later = handshakes_interleaved(&mut h, l, &[40003, 40004]);
    h.send(&later[0], pkt(".", later[0].p(1), later[0].l(1)));
    assert_eq!(h.recv(), vec![]);
    let before = h.stack.stats().ListenOverflows;
    h.send(&later[1], pkt(".", later[1].p(1), later[1].l(1)));
    assert_eq!(h.recv(), vec![seg("R", later[1].l(1), SeqNum(0), 0)]);
    assert_eq!(h.stack.stats().ListenOverflows, before + 1);
    assert_eq!(h.states_of(&later[1]), vec![]);
}

trait PassiveNoAccept {
    fn established_passive_on_no_accept(&mut self, l: synack::SocketHandle, port: u16) -> u16;
}

impl PassiveNoAccept for Harness {
    /// A full passive handshake from `port` whose connection stays in the accept queue.
    fn established_passive_on_no_accept(&mut self, l: synack::SocketHandle, port: u16) -> u16 {
        let c = self.passive_syn(l, port, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
        self.send(&c, pkt(".", c.p(1), c.l(1)));
        assert_eq!(self.recv(), vec![]);
        assert_eq!(self.states_of(&c), vec![State::Established]);
        port
    }
}

// =====================================================================================
// SYN-SENT (RFC 9293 3.10.7.3)
// =====================================================================================

/// RFC 9293 3.10.7.3 "fourth, check the SYN bit": a SYN-ACK acknowledging our SYN
/// establishes the connection and is acknowledged with `<SEQ=SND.NXT><ACK=RCV.NXT>`.
#[test]
fn syn_sent_syn_ack_establishes() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("S.", c.p(0), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    let kinds: Vec<_> = h.events().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::Connected), "{kinds:?}");
}

/// RFC 9293 3.10.7.3 "first, check the ACK bit": SEG.ACK =< ISS or > SND.NXT is
/// answered with `<SEQ=SEG.ACK><CTL=RST>` and the connection stays in SYN-SENT.
#[test]
fn syn_sent_bad_ack_gets_rst() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("S.", c.p(0), c.l(0)));
    assert_eq!(h.recv(), vec![seg("R", c.l(0), SeqNum(0), 0)]);
    h.send(&c, pkt(".", c.p(0), c.l(100)));
    assert_eq!(h.recv(), vec![seg("R", c.l(100), SeqNum(0), 0)]);
    assert_eq!(h.state(c.handle), State::SynSent);
}

/// RFC 9293 3.10.7.3 "second, check the RST bit": with an acceptable ACK the connection
/// is refused (ECONNREFUSED, CLOSED), and nothing is sent back.
#[test]
fn syn_sent_rst_with_acceptable_ack_refuses() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("R.", SeqNum(0), c.l(1)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        closed_event(&mut h, c.handle),
        Some(Some(Error::ConnectionRefused))
    );
    assert_eq!(h.stack.send(c.handle, b"x"), Err(Error::ConnectionRefused));
}

/// RFC 9293 3.10.7.3 "second, check the RST bit": a RST without ACK is dropped (RFC
/// 5961 3.2 keeps this: only an acceptable ACK validates a RST in SYN-SENT).
#[test]
fn syn_sent_rst_without_ack_is_ignored() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("R", c.p(0), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::SynSent);
}

/// RFC 9293 3.10.7.3 "first": a RST with an unacceptable ACK is dropped, not answered.
#[test]
fn syn_sent_rst_with_bad_ack_is_dropped() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("R.", c.p(0), c.l(5)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::SynSent);
}

/// RFC 9293 3.10.7.3 "fourth": a SYN without ACK (simultaneous open) moves to
/// SYN-RECEIVED and is answered with `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`: the same ISS.
#[test]
fn syn_sent_syn_goes_to_syn_received() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("S", c.p(0), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg("S.", c.l(0), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::SynReceived);
}

/// RFC 6298 5.5 and Linux's tcp_syn_retries (tcp_write_timeout): the SYN goes again at
/// 1 s and 3 s (the initial RTO of RFC 6298 2.1 doubling), and with tcp_syn_retries = 2
/// the attempt fails with ETIMEDOUT at 1 + 2 + 4 = 7 s.
#[test]
fn syn_sent_retransmits_then_times_out() {
    let mut h = Harness::with_config(|c| c.tcp_syn_retries = 2);
    let c = h.syn_sent();
    let out = h.advance_ms(6999);
    assert_eq!(
        out,
        vec![
            (1000, seg("S", c.l(0), SeqNum(0), 0)),
            (3000, seg("S", c.l(0), SeqNum(0), 0)),
        ]
    );
    assert_eq!(h.state(c.handle), State::SynSent);
    let out = h.advance_ms(1);
    assert_eq!(out, vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(closed_event(&mut h, c.handle), Some(Some(Error::TimedOut)));
    assert_eq!(h.stack.send(c.handle, b"x"), Err(Error::TimedOut));
}

// =====================================================================================
// SYN-RECEIVED (RFC 9293 3.10.7.4), passive (request records) and simultaneous open.
// =====================================================================================

/// RFC 9293 3.10.7.4 "fifth, SYN-RECEIVED": an acceptable ACK enters ESTABLISHED; the
/// connection is queued for accept() and the listener reports it.
#[test]
fn syn_received_passive_ack_establishes() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![State::Established]);
    assert!(h
        .events()
        .iter()
        .any(|e| e.socket == l && e.kind == EventKind::Incoming));
    let (a, _) = h.stack.accept(l).unwrap();
    assert_eq!(h.state(a), State::Established);
}

/// RFC 9293 3.10.7.4 "fifth, SYN-RECEIVED": an unacceptable ACK gets
/// `<SEQ=SEG.ACK><CTL=RST>`; the half-open request stays (Linux's tcp_check_req hands
/// the segment to the listener, which resets it).
#[test]
fn syn_received_passive_bad_ack_gets_rst() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(5)));
    assert_eq!(h.recv(), vec![seg("R", c.l(5), SeqNum(0), 0)]);
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
}

/// RFC 9293 3.10.7.4 "second, SYN-RECEIVED": a RST for a passively opened connection
/// returns it to LISTEN: the request is gone, the listener stays, nothing is sent.
#[test]
fn syn_received_passive_rst_drops_request() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt("R", c.p(1), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![]);
    assert_eq!(h.state(l), State::Listen);
    // Back to LISTEN: a late ACK of the old SYN-ACK is now reset.
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg("R", c.l(1), SeqNum(0), 0)]);
}

/// A retransmitted SYN in SYN-RECEIVED means our SYN-ACK was lost: it is sent again with
/// the same ISS (Linux's tcp_check_req, inet_rtx_syn_ack).
#[test]
fn syn_received_passive_retransmitted_syn_gets_syn_ack_again() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.advance(ms(300));
    h.send(&c, pkt("S", c.p(0), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg("S.", c.l(0), c.p(1), 0)]);
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
}

/// RFC 6298 5.5 for the SYN-ACK and Linux's tcp_synack_retries (reqsk_timer_handler):
/// the SYN-ACK goes again at 1 s and 3 s, and with tcp_synack_retries = 2 the request
/// is dropped at 7 s; a late ACK is then reset by the listener.
#[test]
fn syn_received_passive_synack_retransmission_and_drop() {
    let mut h = Harness::with_config(|c| c.tcp_synack_retries = 2);
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    let out = h.advance_ms(6999);
    assert_eq!(
        out,
        vec![
            (1000, seg("S.", c.l(0), c.p(1), 0)),
            (3000, seg("S.", c.l(0), c.p(1), 0)),
        ]
    );
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
    assert_eq!(h.advance_ms(1), vec![]);
    assert_eq!(h.states_of(&c), vec![]);
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg("R", c.l(1), SeqNum(0), 0)]);
}

/// RFC 9293 3.10.7.4 "fifth, SYN-RECEIVED" after a simultaneous open: an acceptable ACK
/// enters ESTABLISHED and connect() completes.
#[test]
fn syn_received_simultaneous_ack_establishes() {
    let mut h = Harness::new();
    let c = h.syn_received_simultaneous();
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Established);
    assert!(h
        .events()
        .iter()
        .any(|e| e.socket == c.handle && e.kind == EventKind::Connected));
}

/// RFC 9293 3.10.7.4 "fifth, SYN-RECEIVED": "If the segment acknowledgment is not
/// acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
#[test]
fn syn_received_simultaneous_bad_ack_gets_rst() {
    let mut h = Harness::new();
    let c = h.syn_received_simultaneous();
    h.send(&c, pkt(".", c.p(1), c.l(5)));
    assert_eq!(h.recv(), vec![seg("R", c.l(5), SeqNum(0), 0)]);
    assert_eq!(h.state(c.handle), State::SynReceived);
}

/// RFC 9293 3.10.7.4 "second, SYN-RECEIVED": a RST on an actively opened connection
/// means "connection refused" (Linux's tcp_reset: ECONNREFUSED in SYN_RECV).
#[test]
fn syn_received_simultaneous_rst_refuses() {
    let mut h = Harness::new();
    let c = h.syn_received_simultaneous();
    h.send(&c, pkt("R", c.p(1), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        closed_event(&mut h, c.handle),
        Some(Some(Error::ConnectionRefused))
    );
}

// =====================================================================================
// ESTABLISHED (RFC 9293 3.10.7.4)
// =====================================================================================

/// RFC 9293 3.10.7.4 "seventh": in-order data is delivered and acknowledged; at the
/// start of a connection Linux acknowledges at once (quick-ACK, tcp_event_data_recv).
#[test]
fn established_in_order_data_is_acked_at_once() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
    assert_eq!(h.state(c.handle), State::Established);
}

/// The same on a passively opened connection.
#[test]
fn established_passive_in_order_data_is_acked() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
}

/// RFC 9293 3.10.7.4 "seventh" and RFC 5681 4.2 ("a TCP receiver SHOULD send an
/// immediate duplicate ACK when an out-of-order segment arrives"), then an immediate ACK
/// of the whole when the hole is filled.
#[test]
fn established_out_of_order_data_gets_immediate_dup_ack() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(11), c.l(1)).data(b"world"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 16]), Err(Error::WouldBlock));
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"0123456789"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(16), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"0123456789world");
}

/// RFC 9293 3.10.7.4 "first": a duplicate of data already received is acknowledged
/// (`<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`) and not delivered twice.
#[test]
fn established_duplicate_segment_is_acked() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
}

/// RFC 9293 3.10.7.4 "first": an old segment entirely left of the window is not
/// acceptable; it is acknowledged and dropped.
#[test]
fn established_old_segment_is_acked_and_dropped() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    h.send(&c, pkt(".", c.p(6), c.l(1)).data(b"world"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(11), 0)]);
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"HELLO"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(11), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"helloworld");
}

/// RFC 9293 3.10.7.4 "first": a segment beyond the receive window is acknowledged and
/// dropped; its data is not delivered.
#[test]
fn established_out_of_window_segment_is_acked_and_dropped() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt(".", c.p(200_000), c.l(1)).data(b"far"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 16]), Err(Error::WouldBlock));
    assert_eq!(h.state(c.handle), State::Established);
}

/// Linux's tcp_oow_rate_limited: "Data packets without SYNs are not likely part of an
/// ACK loop", so every duplicate data segment is acknowledged, even twice within
/// tcp_invalid_ratelimit (RFC 9293 3.10.7.4 "first" wants each acknowledged; RFC 5961 7
/// rate-limits only challenge ACKs).
#[test]
fn established_old_data_segments_are_each_acked() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    h.send(&c, pkt(".", c.p(6), c.l(1)).data(b"world"));
    h.recv();
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(11), 0)]);
    h.advance(ms(10));
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(11), 0)]);
}

/// RFC 9293 3.10.7.4 "second" with RFC 5961 3.2: a RST at exactly RCV.NXT resets the
/// connection (ECONNRESET) and is not answered.
#[test]
fn established_rst_at_rcv_nxt_resets() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("R", c.p(1), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        closed_event(&mut h, c.handle),
        Some(Some(Error::ConnectionReset))
    );
    assert_eq!(
        h.stack.recv(c.handle, &mut [0; 4]),
        Err(Error::ConnectionReset)
    );
}

/// RFC 5961 3.2: a RST inside the window but not at RCV.NXT gets a challenge ACK
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and the connection stays.
#[test]
fn established_rst_in_window_gets_challenge_ack() {
    let mut h = Harness::new();
    let c = h.established_active();
    let before = h.stack.stats().TCPChallengeACK;
    h.send(&c, pkt("R", c.p(100), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    assert_eq!(h.stack.stats().TCPChallengeACK, before + 1);
}

/// RFC 5961 3.2: a RST outside the window is dropped silently.
#[test]
fn established_rst_out_of_window_is_dropped() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("R", c.p(200_000), SeqNum(0)));
    h.send(&c, pkt("R", c.p(0) - 100_000, SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Established);
}

/// RFC 5961 4.2 (RFC 9293 3.10.7.4 "fourth"): a SYN in a synchronized state, whatever
/// its sequence number, gets a challenge ACK and the connection stays.
#[test]
fn established_syn_gets_challenge_ack() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("S", c.p(50), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    // Past tcp_invalid_ratelimit, a SYN far outside the window too.
    h.advance(ms(1000));
    h.send(&c, pkt("S", c.p(0) + 500_000, SeqNum(0)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
}

/// RFC 9293 3.10.7.4 "fifth": "If the ACK acks something not yet sent (SEG.ACK >
/// SND.NXT), then send an ACK, drop the segment, and return" (RFC 5961 5.2 likewise).
#[test]
fn established_ack_of_unsent_data_is_acked_and_dropped() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(100)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 16]), Err(Error::WouldBlock));
    assert_eq!(h.state(c.handle), State::Established);
}

/// RFC 9293 3.10.7.4 "eighth": a FIN moves ESTABLISHED to CLOSE-WAIT and is acknowledged;
/// the reader then sees end of stream.
#[test]
fn established_fin_goes_to_close_wait() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("F.", c.p(1), c.l(1)));
    // No data came before the FIN: Linux's ato is still 0, so the ACK is immediate.
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(2), 0)]);
    assert_eq!(h.state(c.handle), State::CloseWait);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 4]), Ok(0));
}

/// Linux's tcp_fin enters pingpong mode: after data has arrived (so the delayed-ACK
/// interval is 40 ms), the ACK of a later FIN waits for the delayed-ACK timer.
#[test]
fn established_fin_after_data_is_acked_late() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hi"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(3), 0)], "quick ACK");
    h.send(&c, pkt("F.", c.p(3), c.l(1)));
    assert_eq!(h.recv(), vec![]);
    let out = h.advance(Duration::from_millis(40));
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(4), 0)]);
    assert_eq!(h.state(c.handle), State::CloseWait);
}

/// RFC 9293 3.10.7.4 "seventh" and "eighth" on one segment: the data, then the FIN, one
/// ACK for both.
#[test]
fn established_data_with_fin() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("FP.", c.p(1), c.l(1)).data(b"hello"));
    // One delayed ACK for both: the FIN's pingpong mode ends quick-ACK mode.
    assert_eq!(h.recv(), vec![]);
    let out = h.advance(Duration::from_millis(40));
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(7), 0)]);
    assert_eq!(h.state(c.handle), State::CloseWait);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
    assert_eq!(h.stack.recv(c.handle, &mut [0; 4]), Ok(0));
}

/// A FIN ahead of missing data waits for the hole (RFC 9293 3.10.7.4 "eighth": "do not
/// process the FIN if ... the segment is not in sequence").
#[test]
fn established_out_of_order_fin_waits_for_the_hole() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("F.", c.p(6), c.l(1)).data(b"world"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(12), 0)]);
    assert_eq!(h.state(c.handle), State::CloseWait);
    assert_eq!(h.read_all(c.handle).unwrap(), b"helloworld");
}

// =====================================================================================
// FIN-WAIT-1
// =====================================================================================

/// RFC 9293 3.10.7.4 "fifth, FIN-WAIT-1": once our FIN is acknowledged, FIN-WAIT-2.
#[test]
fn fin_wait_1_ack_of_fin_goes_to_fin_wait_2() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    h.send(&c, pkt(".", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::FinWait2);
}

/// RFC 9293 3.10.7.4 "eighth, FIN-WAIT-1": a FIN that does not acknowledge ours leads to
/// CLOSING, and is acknowledged.
#[test]
fn fin_wait_1_fin_without_ack_of_ours_goes_to_closing() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    h.send(&c, pkt("F.", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.state(c.handle), State::Closing);
}

/// RFC 9293 3.10.7.4 "eighth, FIN-WAIT-1": "If our FIN has been ACKed ... enter the
/// TIME-WAIT state"; the FIN is acknowledged.
#[test]
fn fin_wait_1_fin_ack_goes_to_time_wait() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
}

/// RFC 9293 3.10.7.4 "seventh": FIN-WAIT-1 still receives data (half-close).
#[test]
fn fin_wait_1_data_is_accepted() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(6), 0)]);
    assert_eq!(h.state(c.handle), State::FinWait1);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
}

/// RFC 9293 3.10.7.4 "second": a RST at RCV.NXT closes a FIN-WAIT-1 connection
/// (ECONNRESET, Linux's tcp_reset).
#[test]
fn fin_wait_1_rst_closes() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    h.send(&c, pkt("R", c.p(1), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        closed_event(&mut h, c.handle),
        Some(Some(Error::ConnectionReset))
    );
}

/// RFC 9293 3.10.4 and RFC 6298: the FIN is retransmitted like data when unacknowledged.
#[test]
fn fin_wait_1_fin_is_retransmitted() {
    let mut h = Harness::new();
    let c = h.fin_wait_1();
    let out = h.advance(Duration::from_secs(2));
    assert!(!out.is_empty(), "the FIN is retransmitted");
    assert_eq!(out[0].brief(), seg("F.", c.l(1), c.p(1), 0));
    assert_eq!(h.state(c.handle), State::FinWait1);
}

// =====================================================================================
// FIN-WAIT-2
// =====================================================================================

/// RFC 9293 3.10.7.4 "eighth, FIN-WAIT-2": the FIN enters TIME-WAIT and is acknowledged.
#[test]
fn fin_wait_2_fin_goes_to_time_wait() {
    let mut h = Harness::new();
    let c = h.fin_wait_2();
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    let info = &h.entries(&c)[0];
    assert_eq!(
        info.timer.map(|t| (t.name, t.remaining)),
        Some(("timewait", Duration::from_secs(60)))
    );
}

/// RFC 9293 3.10.7.4 "seventh": FIN-WAIT-2 still receives data.
#[test]
fn fin_wait_2_data_is_accepted() {
    let mut h = Harness::new();
    let c = h.fin_wait_2();
    h.send(&c, pkt("P.", c.p(1), c.l(2)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(6), 0)]);
    assert_eq!(h.state(c.handle), State::FinWait2);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
}

/// Linux's tcp_fin_timeout (RFC 9293 leaves FIN-WAIT-2 unbounded): an orphaned
/// FIN-WAIT-2 connection (the user called close()) lives tcp_fin_timeout, then
/// disappears; afterwards the port is CLOSED to the peer.
#[test]
fn fin_wait_2_orphan_times_out_after_fin_timeout() {
    let mut h = Harness::with_config(|c| c.tcp_fin_timeout = Duration::from_secs(30));
    let c = h.established_active();
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
    h.send(&c, pkt(".", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    h.advance(ms(29_999));
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    h.advance(ms(1));
    assert_eq!(h.states_of(&c), vec![]);
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg("R", c.l(2), SeqNum(0), 0)]);
}

/// A FIN-WAIT-2 connection whose user only called shutdown(SHUT_WR) is not orphaned and
/// stays as long as the peer wants (Linux arms tcp_fin_timeout only for orphans).
#[test]
fn fin_wait_2_not_orphaned_stays() {
    let mut h = Harness::with_config(|c| c.tcp_fin_timeout = Duration::from_secs(30));
    let c = h.fin_wait_2();
    assert_eq!(briefs(&h.advance(Duration::from_secs(300))), vec![]);
    assert_eq!(h.state(c.handle), State::FinWait2);
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
}

// =====================================================================================
// CLOSE-WAIT
// =====================================================================================

/// RFC 9293 3.10.4, CLOSE-WAIT: close() queues a FIN and enters LAST-ACK.
#[test]
fn close_wait_close_goes_to_last_ack() {
    let mut h = Harness::new();
    let c = h.close_wait();
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::LastAck]);
}

/// RFC 9293 3.10.4, CLOSE-WAIT: data can still be sent after the peer's FIN.
#[test]
fn close_wait_can_still_send() {
    let mut h = Harness::new();
    let c = h.close_wait();
    assert_eq!(h.stack.send(c.handle, b"bye"), Ok(3));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(2), 3)]);
}

/// RFC 9293 3.10.7.4 "eighth, CLOSE-WAIT: Remain in the CLOSE-WAIT state": a
/// retransmitted FIN is acknowledged again.
#[test]
fn close_wait_retransmitted_fin_is_acked() {
    let mut h = Harness::new();
    let c = h.close_wait();
    h.send(&c, pkt("F.", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(2), 0)]);
    assert_eq!(h.state(c.handle), State::CloseWait);
}

/// RFC 9293 3.10.7.4 "second" with Linux's tcp_reset: a RST in CLOSE-WAIT closes the
/// connection with EPIPE (the peer already said it would send nothing more).
#[test]
fn close_wait_rst_gives_epipe() {
    let mut h = Harness::new();
    let c = h.close_wait();
    h.send(&c, pkt("R", c.p(2), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        closed_event(&mut h, c.handle),
        Some(Some(Error::BrokenPipe))
    );
    assert_eq!(h.stack.send(c.handle, b"x"), Err(Error::BrokenPipe));
}

// =====================================================================================
// CLOSING
// =====================================================================================

/// RFC 9293 3.10.7.4 "fifth, CLOSING": the ACK of our FIN enters TIME-WAIT.
#[test]
fn closing_ack_of_fin_goes_to_time_wait() {
    let mut h = Harness::new();
    let c = h.closing();
    h.send(&c, pkt(".", c.p(2), c.l(2)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
}

/// RFC 9293 3.10.7.4 "eighth, CLOSING: Remain in the CLOSING state": a retransmitted
/// FIN is acknowledged again.
#[test]
fn closing_retransmitted_fin_is_acked() {
    let mut h = Harness::new();
    let c = h.closing();
    h.send(&c, pkt("F.", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.state(c.handle), State::Closing);
}

// =====================================================================================
// LAST-ACK
// =====================================================================================

/// RFC 9293 3.10.7.4 "fifth, LAST-ACK": the ACK of our FIN deletes the TCB: CLOSED, no
/// TIME-WAIT, nothing left in `ss`.
#[test]
fn last_ack_ack_of_fin_closes() {
    let mut h = Harness::new();
    let c = h.last_ack();
    h.send(&c, pkt(".", c.p(2), c.l(2)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![]);
    assert_eq!(h.stack.state(c.handle), Err(Error::BadHandle));
    // The 4-tuple is free: anything more is answered as CLOSED.
    h.send(&c, pkt(".", c.p(2), c.l(2)));
    assert_eq!(h.recv(), vec![seg("R", c.l(2), SeqNum(0), 0)]);
}

/// RFC 9293 3.10.7.4 "second, LAST-ACK": a RST deletes the TCB.
#[test]
fn last_ack_rst_closes() {
    let mut h = Harness::new();
    let c = h.last_ack();
    h.send(&c, pkt("R", c.p(2), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 6298 5.4-5.6: the FIN of LAST-ACK is retransmitted with a doubling timeout.
#[test]
fn last_ack_fin_is_retransmitted() {
    let mut h = Harness::new();
    let c = h.last_ack();
    let out = h.advance(Duration::from_secs(2));
    assert!(out.len() >= 2, "{out:?}");
    assert!(out
        .iter()
        .all(|s| s.brief() == seg("F.", c.l(1), c.p(2), 0)));
    let t0 = h.now.total_millis() - 2000;
    let first = out[0].at.total_millis() - t0;
    let second = out[1].at.total_millis() - out[0].at.total_millis();
    assert_eq!(second, 2 * first, "RTO doubles: {out:?}");
}

// =====================================================================================
// TIME-WAIT
// =====================================================================================

/// RFC 9293 3.10.7.4 "eighth, TIME-WAIT": a retransmitted FIN is acknowledged again and
/// restarts the 2 MSL timeout (Linux: TCP_TIMEWAIT_LEN, 60 s).
#[test]
fn time_wait_retransmitted_fin_is_reacked_and_restarts_timer() {
    let mut h = Harness::new();
    let c = h.time_wait();
    h.advance(Duration::from_secs(30));
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.timer_left(&c), Some(Duration::from_secs(60)));
    h.advance(ms(59_999));
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    h.advance(ms(1));
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 9293 3.10.7.4 / RFC 9293 3.4.2 (2 MSL; Linux's 60 s TCP_TIMEWAIT_LEN): after 60 s
/// of quiet the entry is gone and nothing was sent.
#[test]
fn time_wait_expires_after_60s() {
    let mut h = Harness::new();
    let c = h.time_wait();
    assert_eq!(h.advance(ms(59_999)).len(), 0);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    assert_eq!(h.advance(ms(1)).len(), 0);
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 9293 3.10.7.4 "second, TIME-WAIT: If the RST bit is set, then enter the CLOSED
/// state": Linux does so by default (tcp_rfc1337 = 0, TWKilled).
#[test]
fn time_wait_rst_kills_it() {
    let mut h = Harness::new();
    let c = h.time_wait();
    let before = h.stack.stats().TWKilled;
    h.send(&c, pkt("R", c.p(2), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![]);
    assert_eq!(h.stack.stats().TWKilled, before + 1);
}

/// RFC 1337 (TIME-WAIT assassination), Linux's tcp_rfc1337 = 1: a RST is ignored.
#[test]
fn time_wait_rst_ignored_with_rfc1337() {
    let mut h = Harness::with_config(|c| c.tcp_rfc1337 = true);
    let c = h.time_wait();
    h.send(&c, pkt("R", c.p(2), SeqNum(0)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
}

/// A passive connection that the server closed first and that reached TIME-WAIT.
fn server_time_wait(h: &mut Harness) -> Conn {
    let (_, c) = h.established_passive();
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
    h.send(&c, pkt("F.", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    c
}

/// RFC 9293 3.10.7.4 (TIME-WAIT) with RFC 1122 4.2.2.13 and Linux's
/// tcp_timewait_state_process: a new SYN with a sequence number above the old RCV.NXT
/// reopens the connection through the listener, with ISN = old SND.NXT + 65535 + 2.
#[test]
fn time_wait_new_syn_reopens_through_listener() {
    let mut h = Harness::new();
    let c = server_time_wait(&mut h);
    let new_irs = c.p(100_000);
    h.send(&c, pkt("S", new_irs, SeqNum(0)));
    assert_eq!(h.recv(), vec![seg("S.", c.l(2) + 65537, new_irs + 1, 0)]);
    assert_eq!(h.states_of(&c), vec![State::SynReceived]);
}

/// RFC 9293 3.10.7.4 "first" in TIME-WAIT (Linux's tcp_timewait_state_process): an old
/// duplicate SYN (sequence number below RCV.NXT) is answered with an ACK of the old
/// connection, not a new connection.
#[test]
fn time_wait_old_duplicate_syn_gets_ack() {
    let mut h = Harness::new();
    let c = server_time_wait(&mut h);
    h.send(&c, pkt("S", c.p(0), SeqNum(0)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
}

// =====================================================================================
// Timestamps (RFC 7323)
// =====================================================================================

/// A passive connection that negotiated timestamps: the peer's SYN carries TSval 100;
/// returns the connection and the stack's TSval in the SYN-ACK.
fn passive_with_timestamps(h: &mut Harness) -> (Conn, u32) {
    let l = h.listen(16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1460).ts(100, 0),
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    let ts = out[0].options.timestamp.expect("SYN-ACK echoes timestamps");
    assert_eq!(ts.tsecr, 100, "RFC 7323 3.2: TSecr echoes the SYN's TSval");
    let mut c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt(".", c.p(1), c.l(1)).ts(101, ts.tsval));
    assert_eq!(h.recv(), vec![]);
    c.handle = h.stack.accept(l).unwrap().0;
    (c, ts.tsval)
}

/// RFC 7323 3.2 and 4.3: after the handshake, every segment carries TSopt and echoes
/// TS.Recent (the latest TSval of an acceptable segment).
#[test]
fn timestamps_are_echoed_in_established() {
    let mut h = Harness::new();
    let (c, _) = passive_with_timestamps(&mut h);
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"hello").ts(150, 0));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(6), 0)]);
    assert_eq!(out[0].options.timestamp.map(|t| t.tsecr), Some(150));
}

/// RFC 7323 5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is not
/// acceptable: it is acknowledged and dropped.
#[test]
fn paws_rejects_old_timestamp() {
    let mut h = Harness::new();
    let (c, _) = passive_with_timestamps(&mut h);
    let before = h.stack.stats().PAWSEstab;
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"stale").ts(50, 0));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(out[0].options.timestamp.map(|t| t.tsecr), Some(101));
    assert_eq!(h.stack.recv(c.handle, &mut [0; 16]), Err(Error::WouldBlock));
    assert_eq!(h.stack.stats().PAWSEstab, before + 1);
}

/// RFC 6191 (and Linux's tcp_timewait_state_process): in TIME-WAIT with timestamps, a
/// SYN with a lower sequence number but a newer timestamp reopens the connection.
#[test]
fn time_wait_syn_with_newer_timestamp_reopens() {
    let mut h = Harness::new();
    let (c, tsval) = passive_with_timestamps(&mut h);
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
    h.send(&c, pkt("F.", c.p(1), c.l(2)).ts(200, tsval));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    h.advance(Duration::from_secs(1));
    let low = c.p(0) - 5000;
    h.send(&c, pkt("S", low, SeqNum(0)).mss(1460).ts(300, 0));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg("S.", c.l(2) + 65537, low + 1, 0)]);
    assert_eq!(out[0].options.timestamp.map(|t| t.tsecr), Some(300));
    // The same SYN with an old timestamp would be an old duplicate.
}

// =====================================================================================
// Close, half-close, retransmission, flow control, Nagle, delayed ACK
// =====================================================================================

/// RFC 9293 3.10.4 / RFC 2525 2.17 and Linux's tcp_close: close() with unread data
/// aborts with `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>` (TCPAbortOnClose) instead of
/// a FIN, and the connection is gone.
#[test]
fn close_with_unread_data_sends_rst() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"unread"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(7), 0)]);
    let before = h.stack.stats().TCPAbortOnClose;
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("R.", c.l(1), c.p(7), 0)]);
    assert_eq!(h.stack.stats().TCPAbortOnClose, before + 1);
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 9293 3.10.5 (ABORT): abort() sends `<SEQ=SND.NXT><CTL=RST>` (Linux adds the ACK)
/// and the connection is gone.
#[test]
fn abort_sends_rst() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.abort(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("R.", c.l(1), c.p(1), 0)]);
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 9293 3.6 (half-close) and 3.10.4: after shutdown(SHUT_WR) the FIN goes out,
/// send() fails with EPIPE, and data from the peer is still received.
#[test]
fn half_close_still_receives() {
    let mut h = Harness::new();
    let c = h.fin_wait_2();
    assert_eq!(h.stack.send(c.handle, b"x"), Err(Error::BrokenPipe));
    h.send(&c, pkt("P.", c.p(1), c.l(2)).data(b"response"));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(9), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"response");
    h.send(&c, pkt("F.", c.p(9), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(10), 0)]);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 4]), Ok(0));
}

/// RFC 6298 5.4-5.6: an unacknowledged segment is retransmitted at RTO, then after
/// 2*RTO, 4*RTO, ...
#[test]
fn rto_backoff_doubles() {
    let mut h = Harness::new();
    let c = h.established_active();
    let rto = h.stack.socket_info(c.handle).unwrap().rto;
    assert_eq!(h.stack.send(c.handle, &[1; 100]), Ok(100));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 100)]);
    let t0 = h.now;
    let out = h.advance(rto * 15);
    let times: Vec<Duration> = out.iter().map(|s| s.at - t0).collect();
    assert_eq!(times, vec![rto, rto * 3, rto * 7, rto * 15], "{out:?}");
    assert!(out
        .iter()
        .all(|s| s.brief() == seg(".", c.l(1), c.p(1), 100)));
    // The ACK ends the backoff.
    h.send(&c, pkt(".", c.p(1), c.l(101)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.state(c.handle), State::Established);
}

/// RFC 5681 3.2: the third duplicate ACK triggers a retransmission of the first
/// unacknowledged segment at once, not at the RTO.
#[test]
fn fast_retransmit_after_three_dup_acks() {
    let mut h = Harness::new();
    let c = h.established_active();
    let mss = 536; // the peer sent no MSS option (RFC 9293 3.7.1)
    assert_eq!(h.stack.send(c.handle, &[7; 4 * 536]), Ok(4 * mss));
    let out = h.recv();
    assert_eq!(
        out,
        (0..4)
            .map(|i| seg(".", c.l(1 + i * 536), c.p(1), mss))
            .collect::<Vec<_>>()
    );
    let before = h.stack.stats().TCPFastRetrans;
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![], "two duplicate ACKs are not enough");
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), mss)]);
    assert_eq!(h.stack.stats().TCPFastRetrans, before + 1);
}

/// ESTABLISHED with 100 bytes acknowledged and the peer's window closed, 100 more bytes
/// queued.
fn zero_window(h: &mut Harness) -> Conn {
    let c = h.established_active();
    h.stack.send(c.handle, &[1; 100]).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 100)]);
    h.send(&c, pkt(".", c.p(1), c.l(101)).win(0));
    h.stack.send(c.handle, &[2; 100]).unwrap();
    assert_eq!(h.recv(), vec![], "nothing fits in a zero window");
    c
}

/// RFC 9293 3.8.6.1 (zero-window probing) and RFC 1122 4.2.2.17: the sender probes a
/// closed window with exponentially growing intervals and keeps the connection; when
/// the window reopens, the data flows.
#[test]
fn zero_window_probes_back_off_and_data_flows_when_it_opens() {
    let mut h = Harness::new();
    let c = zero_window(&mut h);
    let t0 = h.now;
    let mut times = Vec::new();
    for _ in 0..5 {
        let out = h.next_output(Duration::from_secs(120));
        assert_eq!(
            briefs(&out),
            vec![seg(".", c.l(100), c.p(1), 0)],
            "Linux's probe"
        );
        times.push(h.now - t0);
        h.send(&c, pkt(".", c.p(1), c.l(101)).win(0));
        assert_eq!(h.recv(), vec![]);
    }
    let gaps: Vec<Duration> = std::iter::once(times[0])
        .chain(times.windows(2).map(|w| w[1] - w[0]))
        .collect();
    assert!(gaps[0] >= ms(200), "{gaps:?}");
    for w in gaps.windows(2) {
        assert_eq!(w[1], w[0] * 2, "probe intervals double: {gaps:?}");
    }
    assert_eq!(h.state(c.handle), State::Established);
    h.send(&c, pkt(".", c.p(1), c.l(101)).win(65535));
    assert_eq!(h.recv(), vec![seg(".", c.l(101), c.p(1), 100)]);
}

/// RFC 1122 4.2.2.17 ("the sending TCP MUST allow the connection to stay open
/// indefinitely as long as the receiving TCP continues to send acknowledgments in
/// response to the probe segments") and Linux's tcp_probe_timer, which resets
/// icsk_probes_out on every incoming ACK: answered probes never exhaust tcp_retries2.
#[test]
fn zero_window_answered_probes_keep_connection() {
    let mut h = Harness::with_config(|c| c.tcp_retries2 = 3);
    let c = zero_window(&mut h);
    for i in 0..8 {
        let out = h.next_output(Duration::from_secs(120));
        assert_eq!(
            briefs(&out),
            vec![seg(".", c.l(100), c.p(1), 0)],
            "probe {i} at {:?}",
            h.now
        );
        h.send(&c, pkt(".", c.p(1), c.l(101)).win(0));
        assert_eq!(h.recv(), vec![]);
        assert_eq!(h.state(c.handle), State::Established, "after probe {i}");
    }
}

/// RFC 896 / RFC 9293 3.7.4 (Nagle): a second small write waits until the first small
/// segment is acknowledged.
#[test]
fn nagle_holds_second_small_segment() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.send(c.handle, b"a").unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 1)]);
    h.stack.send(c.handle, b"b").unwrap();
    assert_eq!(h.recv(), vec![], "Nagle holds the second small segment");
    h.advance(ms(10));
    assert_eq!(h.recv(), vec![]);
    h.send(&c, pkt(".", c.p(1), c.l(2)));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(1), 1)]);
}

/// RFC 9293 3.7.4: TCP_NODELAY turns Nagle off; both small writes go at once.
#[test]
fn nodelay_sends_small_segments_at_once() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack
        .set_option(c.handle, SockOpt::NoDelay(true))
        .unwrap();
    h.stack.send(c.handle, b"a").unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 1)]);
    h.stack.send(c.handle, b"b").unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(1), 1)]);
}

/// RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2 (delayed ACK) with Linux's quick-ACK start: the
/// first segments are acknowledged at once, at most TCP_MAX_QUICKACKS (16) of them;
/// after that a single small segment is acknowledged after the 40 ms delayed-ACK timer.
#[test]
fn delayed_ack_after_quickack_phase() {
    let mut h = Harness::new();
    let c = h.established_active();
    let mut off = 1;
    let mut quick = 0;
    loop {
        h.send(&c, pkt("P.", c.p(off), c.l(1)).data(&[0x55; 10]));
        off += 10;
        let out = h.recv();
        if out.is_empty() {
            break;
        }
        assert_eq!(out, vec![seg(".", c.l(1), c.p(off), 0)]);
        quick += 1;
        assert!(quick <= 16, "quick-ACK mode must end");
        h.read_all(c.handle).unwrap();
        h.advance(ms(100));
    }
    assert!(quick >= 1, "the first segment is acknowledged at once");
    let t0 = h.now;
    assert_eq!(h.advance_ms(39), vec![]);
    let out = h.advance(ms(1));
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(off), 0)]);
    assert_eq!(out[0].at - t0, ms(40));
}

/// Sanity: the harness's segments round-trip through the wire crate's parser, and
/// ACK-less control segments summarize without an ack.
#[test]
fn harness_seg_summary() {
    let s = Sent {
        at: Instant::ZERO,
        src: LOCAL_IP.into(),
        dst: PEER_IP.into(),
        src_port: 1,
        dst_port: 2,
        control: Control::Rst,
        psh: false,
        seq: SeqNum(5),
        ack: None,
        window: 0,
        options: Default::default(),
        payload: vec![],
        urgent: None,
    };
    assert_eq!(s.brief(), seg("R", SeqNum(5), SeqNum(99), 0));
    assert_eq!(format!("{:?}", s.brief()), "[R] seq 5 len 0");
}

/// RFC 9293 3.10.7.4 "fifth": an ACK older than SND.UNA minus the largest window the
/// peer has offered gets a challenge ACK and the segment is dropped (RFC 5961 5.2).
#[test]
fn established_ack_too_old_gets_challenge_ack() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(0) - 100_000).data(b"blind"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.recv(c.handle, &mut [0; 16]), Err(Error::WouldBlock));
    assert_eq!(h.state(c.handle), State::Established);
}

/// RFC 9293 3.10.7.4 "fifth": "If the ACK is a duplicate (SEG.ACK =< SND.UNA), it can be
/// ignored", but the segment's text is still processed.
#[test]
fn established_old_ack_with_data_is_accepted() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.send(&c, pkt("P.", c.p(1), c.l(0)).data(b"hello"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    assert_eq!(h.read_all(c.handle).unwrap(), b"hello");
}

/// RFC 9293 3.10.7.4 "fifth, SYN-RECEIVED" then "seventh": data on the third-step ACK is
/// delivered to the accepted connection and acknowledged.
#[test]
fn syn_received_passive_ack_with_data() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(b"GET /"));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(6), 0)]);
    let (a, _) = h.stack.accept(l).unwrap();
    assert_eq!(h.read_all(a).unwrap(), b"GET /");
}

/// RFC 9293 3.10.7.4 "eighth, SYN-RECEIVED": a FIN on the third-step ACK moves the new
/// connection to CLOSE-WAIT; it is still queued for accept().
#[test]
fn syn_received_passive_ack_with_fin_goes_to_close_wait() {
    let mut h = Harness::new();
    let l = h.listen(16);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt("F.", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(2), 0)]);
    let (a, _) = h.stack.accept(l).unwrap();
    assert_eq!(h.state(a), State::CloseWait);
    assert_eq!(h.stack.recv(a, &mut [0; 4]), Ok(0));
}

/// RFC 9293 3.10.1 and the DESIGN's Linux option layout: the active SYN offers MSS
/// 1460, SACK-permitted, timestamps (TSecr 0) and window scale 7 (for tcp_rmem[2] =
/// 6 MB, RFC 7323 2.3).
#[test]
fn syn_sent_syn_options() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack
        .connect(s, std::net::SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    let o = out[0].options;
    assert_eq!(o.mss, Some(1460));
    assert!(o.sack_permitted);
    assert_eq!(o.timestamp.map(|t| t.tsecr), Some(0));
    assert_eq!(o.window_scale, Some(7));
}

/// RFC 7323 3.2: when the SYN-ACK carries timestamps, the handshake's ACK carries TSopt
/// echoing the SYN-ACK's TSval; without them, no segment carries timestamps. A SYN-ACK
/// whose TSecr is not a TSval we sent is reset and the SYN-SENT connection waits on
/// (Linux's tcp_rcv_synsent_state_process, PAWSActive).
#[test]
fn syn_sent_timestamps_negotiated_only_if_echoed() {
    let mut h = Harness::new();
    let handle = h.stack.socket();
    h.stack
        .connect(handle, std::net::SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    let out = h.output();
    let syn_tsval = out[0]
        .options
        .timestamp
        .expect("the SYN offers timestamps")
        .tsval;
    let c = Conn {
        handle,
        local_port: out[0].src_port,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(
        &c,
        pkt("S.", c.p(0), c.l(1)).ts(777, syn_tsval.wrapping_sub(1)),
    );
    assert_eq!(briefs(&h.output()), vec![seg("R", c.l(1), SeqNum(0), 0)]);
    assert_eq!(h.state(handle), State::SynSent);
    assert_eq!(h.stack.stats().PAWSActive, 1);
    h.send(&c, pkt("S.", c.p(0), c.l(1)).ts(777, syn_tsval));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(out[0].options.timestamp.map(|t| t.tsecr), Some(777));

    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.send(c.handle, b"x").unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].options.timestamp, None);
}

/// RFC 1122 4.2.2.13 and Linux's tcp_rcv_state_process (TCPAbortOnData): new data for
/// a connection the user closed (orphaned FIN-WAIT-2) cannot be delivered: the
/// connection is reset; the RST answers the segment, `<SEQ=SEG.ACK><CTL=RST>`
/// (tcp_v4_send_reset).
#[test]
fn fin_wait_2_orphan_data_resets() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
    h.send(&c, pkt(".", c.p(1), c.l(2)));
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    h.send(&c, pkt("P.", c.p(1), c.l(2)).data(b"late"));
    assert_eq!(h.recv(), vec![seg("R", c.l(2), SeqNum(0), 0)]);
    assert_eq!(h.states_of(&c), vec![]);
}

/// RFC 9293 3.10.7.4 (TIME-WAIT, Linux's tcp_timewait_state_process): a bare ACK at
/// RCV.NXT is not answered and restarts the 2 MSL timer.
#[test]
fn time_wait_bare_ack_restarts_timer_silently() {
    let mut h = Harness::new();
    let c = h.time_wait();
    h.advance(Duration::from_secs(30));
    h.send(&c, pkt(".", c.p(2), c.l(2)));
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.timer_left(&c), Some(Duration::from_secs(60)));
}

/// RFC 9293 3.10.7.4 "first" in TIME-WAIT: an unacceptable segment (data beyond the
/// FIN) is acknowledged with the TIME-WAIT's ACK.
#[test]
fn time_wait_data_gets_ack() {
    let mut h = Harness::new();
    let c = h.time_wait();
    h.send(&c, pkt("P.", c.p(2), c.l(2)).data(b"zombie"));
    assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
}

/// Linux's tcp_retries2 (tcp_write_timeout, retransmits_timed_out): the budget
/// tcp_retries2 = 3 is the time 3 doubling RTOs from TCP_RTO_MIN take (0.2, 0.4, 0.8,
/// 1.6: 3 s in all), counted from the original transmission of the oldest unacknowledged
/// segment (retrans_stamp is that skb's first send time). With RTO = 200 ms the data
/// goes again at 0.2, 0.6 and 1.4 s, and at 3.0 s the connection fails with ETIMEDOUT
/// without a fourth retransmission and without a RST.
#[test]
fn rto_gives_up_after_tcp_retries2() {
    let mut h = Harness::with_config(|c| c.tcp_retries2 = 3);
    let c = h.established_active();
    assert_eq!(
        h.stack.socket_info(c.handle).unwrap().rto,
        Duration::from_millis(200)
    );
    h.stack.send(c.handle, &[1; 10]).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 10)]);
    let out = h.advance_ms(2999);
    let times: Vec<u64> = out.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![200, 600, 1400]);
    assert_eq!(h.state(c.handle), State::Established);
    let out = h.advance_ms(1);
    assert_eq!(out, vec![], "no fourth retransmission, no RST");
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(closed_event(&mut h, c.handle), Some(Some(Error::TimedOut)));
}

/// ESTABLISHED after the quick-ACK phase: returns the next peer offset.
fn past_quickack(h: &mut Harness, c: &Conn) -> u32 {
    let mut off = 1;
    for _ in 0..=16 {
        h.send(c, pkt("P.", c.p(off), c.l(1)).data(&[0x55; 10]));
        off += 10;
        let out = h.recv();
        h.read_all(c.handle).unwrap();
        if out.is_empty() {
            h.advance(ms(200));
            return off;
        }
        h.advance(ms(100));
    }
    panic!("quick-ACK mode never ended");
}

/// RFC 1122 4.2.3.2 / RFC 5681 4.2: "an ACK SHOULD be generated for at least every
/// second full-sized segment": two full-sized segments are acknowledged at once even
/// outside quick-ACK mode.
#[test]
fn delayed_ack_every_second_full_segment() {
    let mut h = Harness::new();
    let c = h.established_active();
    let off = past_quickack(&mut h, &c);
    h.send(&c, pkt(".", c.p(off), c.l(1)).data(&[1; 536]));
    assert_eq!(h.recv(), vec![], "one full segment may wait");
    h.send(&c, pkt(".", c.p(off + 536), c.l(1)).data(&[2; 536]));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(off + 1072), 0)]);
}
