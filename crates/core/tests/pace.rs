//! Pacing under the fq qdisc ([`Qdisc::Fq`]): earliest departure times as Linux's
//! tcp_update_skb_after_send sets them, the queue that holds a unit until then, TCP Small
//! Queues, and the pacing rate in TCP_INFO and `ss -i`.

mod common;

use core::time::Duration;

use common::*;
use synack::{Config, Instant, Qdisc};

/// An established active connection with a 1000-byte MSS whose handshake took 100 ms,
/// and a 40000-byte write whose first ten segments went at once (units of two
/// segments: the pacing rate, 200% of ten segments per 100 ms, is 200 kB/s, less than
/// `tcp_min_tso_segs` per millisecond).
fn bulk(config: impl FnOnce(&mut Config)) -> (Harness, Conn) {
    let mut h = Harness::with_config(config);
    let c = h.syn_sent();
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt("S.", c.p(0), c.l(1)).mss(1000));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.stack.send(c.handle, &[0u8; 40_000]), Ok(40_000));
    let out = h.output();
    assert_eq!(out.len(), 10, "the initial window, unpaced: {out:?}");
    assert_eq!(psh_at(&out), vec![1, 3, 5, 7, 9]);
    h.advance(Duration::from_millis(100));
    (h, c)
}

/// Microseconds since the epoch of each segment sent, with its first byte.
fn times(out: &[Sent], c: &Conn) -> Vec<(u64, u32)> {
    out.iter()
        .map(|s| (s.at.total_micros(), (s.seq - c.l(0)) as u32))
        .collect()
}

/// The ACK of the first unit (cwnd 12, 240 kB/s) lets two units go. Under fq the first
/// leaves at once: the fifth unit of the first flight moved the departure time to 110
/// ms (2000 bytes at 200 kB/s), long past; 2000 bytes at 240 kB/s are 8.333 ms, less
/// the credit for coming late, at most half of it: the second unit leaves 4.167 ms
/// later, at the time `poll_timeout` gives. It counts as in flight meanwhile, as a
/// segment in Linux's qdisc does. Without fq both go at once.
#[test]
fn fq_holds_a_unit_until_its_departure_time() {
    let (mut h, c) = bulk(|c| c.qdisc = Qdisc::Fq);
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    assert_eq!(
        times(&h.output(), &c),
        vec![(200_000, 10_001), (200_000, 11_001)]
    );
    let info = h.stack.tcp_info(c.handle).unwrap();
    assert_eq!((info.snd_cwnd, info.unacked), (12, 12));
    assert_eq!(info.pacing_rate, 240_000);
    assert_eq!(h.stack.poll_timeout(), Some(Instant::from_micros(204_167)));
    let out = h.advance(Duration::from_millis(10));
    assert_eq!(times(&out, &c), vec![(204_167, 12_001), (204_167, 13_001)]);

    let (mut h, c) = bulk(|_| {});
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    let starts: Vec<u64> = h.output().iter().map(|s| s.at.total_micros()).collect();
    assert_eq!(starts, vec![200_000; 4], "the default qdisc does not pace");
}

/// TCP Small Queues (tcp_small_queue_check): the ACK of two units (cwnd 14) lets four
/// go, but with one unit waiting in the qdisc and a second joining it, what waits there
/// is more than two units: the fourth stays in TCP (not in flight) until the qdisc has
/// sent the second. Every unit leaves after the one before it, at the pacing rate.
#[test]
fn small_queues_keep_two_units_in_the_qdisc() {
    let (mut h, c) = bulk(|c| c.qdisc = Qdisc::Fq);
    h.send(&c, pkt(".", c.p(1), c.l(4001)));
    assert_eq!(h.output().len(), 2, "the first unit leaves at once");
    let info = h.stack.tcp_info(c.handle).unwrap();
    assert_eq!((info.snd_cwnd, info.unacked), (14, 12));
    let out = h.advance(Duration::from_millis(50));
    let t = times(&out, &c);
    assert_eq!(t.len(), 6, "{t:?}");
    let starts: Vec<u32> = t.iter().map(|&(_, s)| s).collect();
    assert_eq!(starts, vec![12_001, 13_001, 14_001, 15_001, 16_001, 17_001]);
    // 2000 bytes at 280 kB/s: 7.143 ms apart, the first gap halved by the credit.
    let at: Vec<u64> = t.iter().step_by(2).map(|&(at, _)| at).collect();
    assert_eq!(at, vec![203_572, 210_715, 217_858]);
    assert_eq!(h.stack.tcp_info(c.handle).unwrap().unacked, 14);
}

/// `ss -i` prints the pacing rate in bits per second, as ss's sprint_bw does; it is
/// Linux's sk_pacing_rate whatever the qdisc, and unknown before an RTT sample.
#[test]
fn pacing_rate_in_ss_and_tcp_info() {
    let (h, c) = bulk(|_| {});
    let info = h.stack.socket_info(c.handle).unwrap();
    assert_eq!(info.pacing_rate, Some(200_000));
    assert!(info.to_string().contains(" pacing_rate 1.6Mbps"), "{info}");
    let mut h = Harness::new();
    let c = h.syn_sent();
    let tcpi = h.stack.tcp_info(c.handle).unwrap();
    assert_eq!(
        (tcpi.pacing_rate, tcpi.max_pacing_rate),
        (u64::MAX, u64::MAX)
    );
}

/// `pfifo limit 0` ([`Qdisc::DropAll`]): nothing the stack sends leaves, and TCP sees each
/// transmission fail as Linux's tcp_transmit_skb sees NET_XMIT_DROP: the data stays
/// unsent (nothing in flight), the connection enters CWR, and the probe timer retries
/// every 500 ms (TCP_RESOURCE_PROBE_INTERVAL) without backing off, until
/// TCP_USER_TIMEOUT, counted from the first probe, ends the connection.
#[test]
fn a_queue_that_drops_everything_makes_transmissions_fail() {
    let mut h = Harness::new();
    let c = h.established_active();
    assert_eq!(h.stack.send(c.handle, &[0u8; 1000]), Ok(1000));
    assert!(!h.output().is_empty());
    h.advance(Duration::from_millis(50));
    h.send(&c, pkt(".", c.p(1), c.l(1001)));
    h.stack
        .set_option(
            c.handle,
            synack::SockOpt::UserTimeout(Duration::from_secs(3)),
        )
        .unwrap();
    h.stack.config_mut().qdisc = Qdisc::DropAll;
    let start = h.now;
    assert_eq!(h.stack.send(c.handle, &[0u8; 1000]), Ok(1000));
    assert!(h.output().is_empty(), "nothing leaves");
    let info = h.stack.tcp_info(c.handle).unwrap();
    assert_eq!((info.unacked, info.ca_state), (0, 2), "not sent; CWR");
    // The first probe after an RTO, then one every 500 ms, none backed off.
    let mut probes_at = Vec::new();
    while h.stack.tcp_info(c.handle).is_ok_and(|i| i.state == 1) {
        let before = h.stack.tcp_info(c.handle).unwrap().probes;
        assert!(h.advance(Duration::from_millis(10)).is_empty());
        let info = h.stack.tcp_info(c.handle).unwrap();
        assert_eq!(info.backoff, 0);
        if info.probes > before {
            probes_at.push((h.now - start).as_millis());
        }
        assert!(h.now - start < Duration::from_secs(10), "never gave up");
    }
    let first = probes_at[0];
    let gaps: Vec<u128> = probes_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|&g| (500..510).contains(&g)),
        "{probes_at:?}"
    );
    // Given up 3 s after the first probe: the sixth probe was the last.
    assert_eq!(probes_at.len(), 6, "{probes_at:?}");
    let dead = (h.now - start).as_millis();
    assert!(
        (first + 3000..first + 3010).contains(&dead),
        "{dead} {probes_at:?}"
    );
    assert_eq!(
        h.stack.send(c.handle, &[0u8; 10]),
        Err(synack::Error::TimedOut)
    );
}
