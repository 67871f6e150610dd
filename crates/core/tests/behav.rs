//! Linux behaviours beyond the RFCs' minimum, each as Linux shows it on the wire: D-SACK
//! (RFC 2883, `tcp_dsack`).

mod common;

use common::*;
use synack::wire::{SackBlock, SeqNum, TcpOptions};

/// A passive connection that negotiated SACK and timestamps (so at most three SACK
/// blocks fit beside the timestamps).
fn sack_ts_conn(h: &mut Harness) -> Conn {
    let l = h.listen(8);
    let mut syn = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1000).ts(100, 0);
    syn.options.sack_permitted = true;
    let mut c = h.passive_syn(l, PEER_PORT, syn);
    h.send(&c, pkt(".", c.p(1), c.l(1)).ts(101, 0));
    c.handle = h.stack.accept(l).expect("accept").0;
    h.events();
    c
}

/// The peer's data segment `[from, to)` (offsets into its sequence space).
fn data(c: &Conn, from: u32, to: u32) -> Pkt {
    pkt(".", c.p(from), c.l(1))
        .data(&vec![7u8; (to - from) as usize])
        .ts(200, 0)
}

fn blocks(o: &TcpOptions, c: &Conn) -> Vec<(u32, u32)> {
    o.sack()
        .iter()
        .map(|b: &SackBlock| ((b.left - c.irs) as u32, (b.right - c.irs) as u32))
        .collect()
}

/// The D-SACK block comes first and takes one of the three places beside timestamps:
/// the SACK blocks after it are the most recent ones (RFC 2883 section 4, RFC 2018
/// section 4), and the block goes only once.
#[test]
fn dsack_comes_first_within_the_option_space() {
    let mut h = Harness::new();
    let c = sack_ts_conn(&mut h);
    h.send(&c, data(&c, 1, 1001));
    assert_eq!(h.output().len(), 1);
    for (from, to) in [(2001, 3001), (4001, 5001), (6001, 7001)] {
        h.send(&c, data(&c, from, to));
        h.output();
    }
    // The first hole's data twice: a whole old segment.
    h.send(&c, data(&c, 1, 1001));
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        blocks(&out[0].options, &c),
        [(1, 1001), (6001, 7001), (4001, 5001)]
    );
    // Out-of-order data again: the D-SACK lies inside the first SACK block.
    h.send(&c, data(&c, 2001, 3001));
    let out = h.output();
    assert_eq!(
        blocks(&out[0].options, &c),
        [(2001, 3001), (2001, 3001), (6001, 7001)]
    );
    // New out-of-order data: no D-SACK any more.
    h.send(&c, data(&c, 8001, 9001));
    let out = h.output();
    assert_eq!(
        blocks(&out[0].options, &c),
        [(8001, 9001), (2001, 3001), (6001, 7001)]
    );
    let s = h.stack.stats();
    assert_eq!((s.TCPDSACKOldSent, s.TCPDSACKOfoSent), (1, 1));
    assert_eq!(s.DelayedACKLost, 1);
}

/// With `tcp_dsack` off, duplicates are acknowledged without a D-SACK and nothing is
/// counted.
#[test]
fn tcp_dsack_off_sends_none() {
    let mut h = Harness::with_config(|c| c.set_sysctl("tcp_dsack", "0").unwrap());
    let c = sack_ts_conn(&mut h);
    h.send(&c, data(&c, 1, 1001));
    h.output();
    h.send(&c, data(&c, 1, 1001));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(blocks(&out[0].options, &c), []);
    assert_eq!(h.stack.stats().TCPDSACKOldSent, 0);
}

/// A data segment that fails PAWS is answered at once, whatever the rate limit on
/// ACKs of unacceptable segments, with a D-SACK of its data (Linux's tcp_send_dupack).
#[test]
fn paws_rejected_data_is_dsacked() {
    let mut h = Harness::new();
    let c = sack_ts_conn(&mut h);
    h.send(&c, data(&c, 1, 1001));
    h.output();
    for _ in 0..2 {
        h.send(&c, data(&c, 1, 1001).ts(50, 0));
        let out = h.output();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(blocks(&out[0].options, &c), [(1, 1001)]);
    }
    assert_eq!(h.stack.stats().PAWSEstab, 2);
}

/// TCP_DEFER_ACCEPT reads back as Linux gives it: the seconds become a count of SYN-ACK
/// timeouts (1 s, 2 s, 4 s ... up to 120 s each) whose sum reaches them, and the
/// option reads back that sum.
#[test]
fn defer_accept_reads_back_in_whole_timeouts() {
    use synack::{SockOpt, SockOptName};
    let mut h = Harness::new();
    let l = h.stack.socket();
    for (set, got) in [(0, 0), (1, 1), (2, 3), (3, 3), (5, 7), (8, 15), (300, 367)] {
        h.stack.set_option(l, SockOpt::DeferAccept(set)).unwrap();
        assert_eq!(
            h.stack.get_option(l, SockOptName::DeferAccept),
            Ok(SockOpt::DeferAccept(got)),
            "TCP_DEFER_ACCEPT {set}"
        );
    }
}

/// TCP_NOTSENT_LOWAT (Linux's tcp_stream_memory_free): with the limit set, a
/// connection is writable, and send() takes data, only while fewer bytes than the
/// limit wait unsent; without it the same connection is writable. getsockopt reads 0
/// while unset, as Linux.
#[test]
fn notsent_lowat_gates_writability_and_send() {
    use synack::{Error, SockOpt, SockOptName};
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    assert_eq!(
        h.stack.get_option(c.handle, SockOptName::NotSentLowat),
        Ok(SockOpt::NotSentLowat(0))
    );
    // cwnd (ten 536-byte segments) sends 5360 bytes; 2640 wait unsent.
    assert_eq!(h.stack.send(c.handle, &[1u8; 8000]), Ok(8000));
    let out = h.output();
    let sent: usize = out.iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, 5360);
    assert!(h.stack.readiness(c.handle).unwrap().writable, "no limit");
    h.stack
        .set_option(c.handle, SockOpt::NotSentLowat(1000))
        .unwrap();
    assert_eq!(
        h.stack.get_option(c.handle, SockOptName::NotSentLowat),
        Ok(SockOpt::NotSentLowat(1000))
    );
    assert!(!h.stack.readiness(c.handle).unwrap().writable);
    // As Linux's tcp_sendmsg: the limit stops a write at a new chunk (skb) only, so the
    // unsent last chunk still fills up to the size goal; the next byte is refused.
    let took = h.stack.send(c.handle, &[2u8; 100_000]).unwrap();
    assert!(took > 0 && took < 100_000, "{took}");
    assert_eq!(h.stack.send(c.handle, b"more"), Err(Error::WouldBlock));
    // Everything acknowledged: the rest goes, nothing waits, writable again.
    let mut acked = 5360u32;
    let mut sent = 0;
    loop {
        h.send(&c, pkt(".", c.p(1), c.l(1 + acked)));
        let n: usize = h.output().iter().map(|s| s.payload.len()).sum();
        if n == 0 {
            break;
        }
        sent += n;
        acked += n as u32;
    }
    assert_eq!(sent, 2640 + took);
    assert!(h.stack.readiness(c.handle).unwrap().writable);
    assert_eq!(h.stack.send(c.handle, b"more"), Ok(4));
}
