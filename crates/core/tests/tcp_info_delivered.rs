//! `tcpi_delivered` (Linux's `tp->delivered`): the handshake's SYN or SYN-ACK counts
//! once when acknowledged, then each segment (a FIN included) once, when SACKed or
//! cumulatively acknowledged, whichever comes first.

mod common;

use common::*;
use synack::State;

/// By address, so that it also answers after close().
fn delivered(h: &Harness, c: &Conn) -> u32 {
    h.stack
        .tcp_info_by_addr(c.local(), c.remote())
        .expect("the connection")
        .delivered
}

/// An established active connection with SACK and a 1000-byte MSS.
fn sack_connection(h: &mut Harness) -> Conn {
    let c = h.syn_sent();
    assert_eq!(
        delivered(h, &c),
        0,
        "nothing is delivered before the SYN-ACK"
    );
    let mut synack = pkt("S.", c.p(0), c.l(1)).mss(1000);
    synack.options.sack_permitted = true;
    h.send(&c, synack);
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    c
}

/// Active open: the SYN-ACK delivers the SYN (1); a cumulative ACK of two of four
/// segments adds 2; a SACK of the fourth adds 1 at once, and the ACK that then covers
/// all four adds only the third, not the SACKed one again; the FIN adds 1.
#[test]
fn segments_count_once_whether_sacked_or_acknowledged() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    assert_eq!(delivered(&h, &c), 1, "the SYN-ACK delivers our SYN");
    h.stack.send(c.handle, &[0u8; 4000]).unwrap();
    assert_eq!(h.recv().len(), 4);
    assert_eq!(delivered(&h, &c), 1, "sending delivers nothing");
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    assert_eq!(delivered(&h, &c), 3);
    h.send(&c, c.sack_ack(2001, &[(3001, 4001)]));
    assert_eq!(delivered(&h, &c), 4, "a SACKed segment is delivered");
    h.send(&c, pkt(".", c.p(1), c.l(4001)));
    assert_eq!(
        delivered(&h, &c),
        5,
        "the SACKed segment is not counted twice"
    );
    assert_eq!(h.stack.tcp_info(c.handle).unwrap().delivered_ce, 0);
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(4001), c.p(1), 0)]);
    h.send(&c, pkt(".", c.p(1), c.l(4002)));
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    assert_eq!(delivered(&h, &c), 6, "the FIN is a packet of its own");
}

/// Passive open: the accepted child counts its SYN-ACK once the handshake's ACK
/// arrives (Linux's tcp_rcv_state_process, SYN-RECV), and data it sends after.
#[test]
fn the_passive_side_counts_its_syn_ack() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    assert_eq!(
        delivered(&h, &c),
        1,
        "the handshake's ACK delivers the SYN-ACK"
    );
    h.stack.send(c.handle, &[0u8; 100]).unwrap();
    assert_eq!(h.recv().len(), 1);
    h.send(&c, pkt(".", c.p(1), c.l(101)));
    assert_eq!(delivered(&h, &c), 2);
}
