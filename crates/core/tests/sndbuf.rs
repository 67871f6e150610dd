//! The send buffer grows as Linux's tcp_sndbuf_expand sizes it, when Linux's
//! tcp_check_space lets it: after an ACK, for a writer that found the buffer full
//! (SOCK_NOSPACE), while the flight stays below cwnd once what may go has gone
//! (tcp_should_expand_sndbuf), never above `tcp_wmem[2]` nor with SO_SNDBUF set.

mod common;

use core::time::Duration;

use common::*;
use synack::{SockOpt, SockOptName};

/// Per segment: a 1000-byte head plus MAX_TCP_HEADER and skb_shared_info (320 + 320)
/// rounded up to a power of two (2048), plus the sk_buff (256).
const PER_MSS: usize = 2304;

/// An established active connection with a 1000-byte MSS, a 100 ms handshake and the
/// peer's window scaled by 2^7.
fn connection(h: &mut Harness) -> Conn {
    let c = h.syn_sent();
    h.advance(Duration::from_millis(100));
    let mut synack = pkt("S.", c.p(0), c.l(1)).mss(1000);
    synack.options.window_scale = Some(7);
    h.send(&c, synack);
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    c
}

/// getsockopt(SO_SNDBUF): Linux's `sk_sndbuf`.
fn sndbuf(h: &mut Harness, c: &Conn) -> usize {
    match h.stack.get_option(c.handle, SockOptName::SendBuffer) {
        Ok(SockOpt::SendBuffer(n)) => n,
        other => panic!("{other:?}"),
    }
}

/// At establishment the buffer holds the initial window's skbs twice over (2 x 10 x
/// 2304). A writer fills it; the ACK of the first flight raises cwnd to 20, and the
/// unsent data fills that: the buffer stays (the flight reaches cwnd). The ACK of that
/// flight raises cwnd to 40 with 35000 bytes unsent: now the buffer grows to twice 40
/// segments' skbs.
#[test]
fn the_buffer_grows_only_when_the_flight_stays_below_cwnd() {
    let mut h = Harness::new();
    let c = connection(&mut h);
    assert_eq!(sndbuf(&mut h, &c), 2 * 10 * PER_MSS);
    let taken = h.stack.send(c.handle, &[0u8; 200_000]).unwrap();
    assert!(taken < 200_000, "the writer met a full buffer");
    assert_eq!(h.output().len(), 10);
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(10_001)));
    assert_eq!(h.output().len(), 20);
    assert_eq!(
        sndbuf(&mut h, &c),
        2 * 10 * PER_MSS,
        "the flight fills cwnd"
    );
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(30_001)));
    assert!((taken - 30_000) < 40_000, "less unsent than cwnd");
    assert_eq!(sndbuf(&mut h, &c), 2 * 40 * PER_MSS);
}

/// A writer that never found the buffer full (no SOCK_NOSPACE) does not grow it, nor
/// does one that set SO_SNDBUF.
#[test]
fn no_growth_without_a_blocked_writer_or_with_so_sndbuf() {
    let mut h = Harness::new();
    let c = connection(&mut h);
    assert_eq!(h.stack.send(c.handle, &[0u8; 20_000]), Ok(20_000));
    assert_eq!(h.output().len(), 10);
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(10_001)));
    h.output();
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(20_001)));
    assert_eq!(sndbuf(&mut h, &c), 2 * 10 * PER_MSS);

    let mut h = Harness::new();
    let c = connection(&mut h);
    h.stack
        .set_option(c.handle, SockOpt::SendBuffer(30_000))
        .unwrap();
    let set = sndbuf(&mut h, &c);
    let taken = h.stack.send(c.handle, &[0u8; 200_000]).unwrap();
    assert!(taken < 200_000);
    h.output();
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(10_001)));
    h.output();
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(taken as u32 + 1)));
    assert_eq!(sndbuf(&mut h, &c), set, "SO_SNDBUF locks it");
}
