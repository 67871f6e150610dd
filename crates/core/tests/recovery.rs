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
