//! Loss recovery beyond the per-state basics: tail loss probes (RFC 8985 section 7) as
//! Linux sends them on SACK connections.

mod common;

use core::time::Duration;

use common::*;
use synack::State;

/// An established active connection with SACK, whose handshake took 100 ms (so SRTT is
/// 100 ms and the RTO 300 ms).
fn sack_connection(h: &mut Harness) -> Conn {
    let c = h.syn_sent();
    h.advance(Duration::from_millis(100));
    let mut synack = pkt("S.", c.p(0), c.l(1)).mss(1000);
    synack.options.sack_permitted = true;
    h.send(&c, synack);
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    c
}

/// One segment unanswered: the probe goes at min(2·SRTT + 200 ms, RTO) = 300 ms and
/// resends it; the RTO then restarts from the probe (600 ms), and only after that does
/// it back off (1200 ms). Without the probe the retransmissions would be at 300, 900
/// and 2100 ms.
#[test]
fn single_segment_tail_loss_probe_then_rto() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    let t0 = h.now.total_millis();
    h.stack.send(c.handle, &[7u8; 100]).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 100)]);
    let out: Vec<(u64, Seg)> = h
        .advance_ms(1300)
        .into_iter()
        .map(|(t, s)| (t - t0, s))
        .collect();
    let data = seg(".", c.l(1), c.p(1), 100);
    assert_eq!(
        out,
        vec![(300, data.clone()), (600, data.clone()), (1200, data)]
    );
    assert_eq!(h.stack.stats().TCPLossProbes, 1);
    assert_eq!(h.stack.stats().TCPTimeouts, 2);
}

/// Several segments in flight: the probe comes at 2·SRTT + 2 ms and resends the last
/// segment, not the first (RFC 8985 7.3), well before the RTO.
#[test]
fn multi_segment_probe_resends_the_last_segment() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    let t0 = h.now.total_millis();
    h.stack.send(c.handle, &[1u8; 2500]).unwrap();
    assert_eq!(h.recv().len(), 3);
    let out = h.advance_ms(250);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0 - t0, 202);
    assert_eq!(out[0].1, seg(".", c.l(2001), c.p(1), 500));
    // The ACK of everything ends the episode; no RTO follows.
    h.send(&c, pkt(".", c.p(1), c.l(2501)));
    assert_eq!(h.advance_ms(3000), vec![]);
    assert_eq!(h.stack.stats().TCPTimeouts, 0);
}

/// Without SACK there is no probe (Linux requires SACK for TLP): the RTO alone.
#[test]
fn no_probe_without_sack() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.send(c.handle, &[7u8; 100]).unwrap();
    assert_eq!(h.recv().len(), 1);
    h.advance_ms(5000);
    assert_eq!(h.stack.stats().TCPLossProbes, 0);
    assert!(h.stack.stats().TCPTimeouts > 0);
}

/// RFC 6675 / Linux: three segments SACKed above a hole make it lost; the first hole
/// is retransmitted at once, and PRR (RFC 6937) then releases one retransmission per
/// delivered segment. When the hole is filled, recovery ends with cwnd = ssthresh
/// (CUBIC: 7 of 10 segments).
#[test]
fn sack_fast_retransmit_with_prr() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    h.stack.send(c.handle, &[0u8; 10_000]).unwrap();
    assert_eq!(h.recv().len(), 10);
    // Segments 1-4 (1:4001) are lost; 4001:5001.. arrive.
    h.send(&c, c.sack_ack(1, &[(4001, 5001)]));
    h.send(&c, c.sack_ack(1, &[(4001, 6001)]));
    assert_eq!(h.recv(), vec![], "two SACKed segments: not yet a loss");
    h.send(&c, c.sack_ack(1, &[(4001, 7001)]));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 1000)]);
    h.send(&c, c.sack_ack(1, &[(4001, 8001)]));
    assert_eq!(h.recv(), vec![seg(".", c.l(1001), c.p(1), 1000)]);
    h.send(&c, c.sack_ack(1, &[(4001, 9001)]));
    assert_eq!(h.recv(), vec![seg(".", c.l(2001), c.p(1), 1000)]);
    h.send(&c, c.sack_ack(1, &[(4001, 10001)]));
    assert_eq!(h.recv(), vec![seg(".", c.l(3001), c.p(1), 1000)]);
    assert_eq!(h.stack.stats().TCPFastRetrans, 4);
    h.send(&c, pkt(".", c.p(1), c.l(10001)));
    let info = h.stack.socket_info(c.handle).unwrap();
    assert_eq!(info.cwnd, 7, "{info}");
    assert_eq!(info.ssthresh, Some(7));
    assert_eq!(h.stack.stats().TCPTimeouts, 0);
}

/// Without SACK, duplicate ACKs count as SACKed segments (Linux), so the first two
/// each release one new segment (limited transmit, RFC 3042) and the third retransmits
/// the head (RFC 5681 3.2). The duplicates come 10 ms after the flight and 2 ms apart,
/// as over a slow link: within a millisecond of the last send, Linux's
/// tcp_tso_should_defer would hold the one segment back for a larger unit (tso.rs).
#[test]
fn dupacks_give_limited_transmit_then_fast_retransmit() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.send(c.handle, &[0u8; 15_000]).unwrap();
    // MSS is 536 without an MSS option; cwnd 10 segments.
    let first = h.recv();
    assert_eq!(first.len(), 10);
    assert_eq!(h.advance(Duration::from_millis(10)).len(), 0);
    let sent: u32 = 10 * 536;
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1 + sent), c.p(1), 536)]);
    h.advance(Duration::from_millis(2));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    assert_eq!(h.recv(), vec![seg(".", c.l(1 + sent + 536), c.p(1), 536)]);
    h.advance(Duration::from_millis(2));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let out = h.recv();
    assert_eq!(out.first(), Some(&seg(".", c.l(1), c.p(1), 536)), "{out:?}");
}

/// RACK (RFC 8985 6.2-6.3): one SACKed segment is not yet a loss; the hole is declared
/// lost when it has been out for the RTT of the SACKed segment plus a quarter of the
/// minimum RTT (and Linux's two-tick timer floor), then fast retransmitted.
#[test]
fn rack_reordering_window_delays_the_retransmission() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    let t0 = h.now.total_millis();
    h.stack.send(c.handle, &[0u8; 4000]).unwrap();
    assert_eq!(h.recv().len(), 4);
    h.advance(Duration::from_millis(100));
    h.send(&c, c.sack_ack(1, &[(3001, 4001)]));
    assert_eq!(h.recv(), vec![], "inside the reordering window");
    let out = h.advance_ms(50);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0 - t0, 100 + 25 + 2);
    assert_eq!(out[0].1, seg(".", c.l(1), c.p(1), 1000));
}

/// Linux counts only whole segments as SACKed: a block of one byte changes nothing, so
/// the tail loss probe, not fast recovery, answers it.
#[test]
fn sub_segment_sack_blocks_are_ignored() {
    let mut h = Harness::new();
    let c = sack_connection(&mut h);
    let t0 = h.now.total_millis();
    h.stack.send(c.handle, &[0u8; 4000]).unwrap();
    assert_eq!(h.recv().len(), 4);
    h.advance(Duration::from_millis(100));
    h.send(&c, c.sack_ack(1, &[(4000, 4001)]));
    let out = h.advance_ms(150);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0 - t0, 202, "the loss probe, at 2 SRTT + 2 ms");
    assert_eq!(out[0].1, seg(".", c.l(3001), c.p(1), 1000));
    assert_eq!(h.stack.stats().TCPFastRetrans, 0);
}

/// RFC 5681 4.1 (`tcp_slow_start_after_idle`, on by default): a write after more than an
/// RTO of silence starts again from the restart window; with the knob off cwnd stays.
#[test]
fn cwnd_restarts_after_idle_unless_disabled() {
    for (on, expected) in [(true, 10), (false, 20)] {
        let mut h = Harness::with_config(|c| c.tcp_slow_start_after_idle = on);
        let c = sack_connection(&mut h);
        h.stack.send(c.handle, &[0u8; 10_000]).unwrap();
        assert_eq!(h.recv().len(), 10);
        h.send(&c, pkt(".", c.p(1), c.l(10_001)));
        assert_eq!(h.stack.socket_info(c.handle).unwrap().cwnd, 20);
        h.advance(Duration::from_secs(5));
        h.stack.send(c.handle, b"x").unwrap();
        let info = h.stack.socket_info(c.handle).unwrap();
        assert_eq!(
            info.cwnd, expected,
            "tcp_slow_start_after_idle={on}: {info}"
        );
    }
}
