//! A spurious retransmission timeout over the simulated network: a bulk transfer whose
//! ACK path suddenly takes far longer than the retransmission timeout (a delay spike,
//! as a radio handover causes) times out though nothing was lost. With F-RTO (RFC 5682,
//! Linux's default `tcp_frto` = 2) the sender sends new data on the first late ACK, sees
//! the next one acknowledge data it never retransmitted, and undoes the timeout: cwnd
//! and ssthresh come back and the rest is not sent twice. Without it (`tcp_frto` = 0)
//! the timeout stands: ssthresh drops and cwnd starts again from one segment.
//! Timestamps are off, so that the Eifel detection (which Linux applies whatever
//! `tcp_frto` says) cannot find the spurious timeout instead.

mod harness;

use std::time::Duration;

use synack::{Config, INFINITE_SSTHRESH};
use synack_sim::LinkConfig;

/// What the sender looked like around the spike.
#[derive(Debug)]
struct Spike {
    /// cwnd when the spike began.
    cwnd_before: u32,
    /// cwnd and ssthresh once the late ACKs were in.
    cwnd_after: u32,
    ssthresh_after: u32,
    timeouts: u64,
    spurious: u64,
    undone: u64,
    retransmitted: u64,
}

fn delay_spike(tcp_frto: u8) -> Spike {
    let link = LinkConfig::ideal(Duration::from_millis(10));
    let config = Config {
        tcp_frto,
        tcp_timestamps: false,
        ..Config::default()
    };
    let mut pair = harness::pair_with(3, link.clone(), link, config, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    let data = vec![5u8; 1 << 20];
    let mut sent = 0;
    let mut got = Vec::new();
    let mut pump = |pair: &mut synack_sim::Pair<synack::Stack>, d: Duration| {
        let until = pair.now() + d;
        pair.run_until(until, |p| {
            if sent < data.len() {
                sent += p.client().send(ch, &data[sent..]).unwrap_or(0);
            }
            harness::read_all(p.server(), sh, &mut got).unwrap();
            false
        });
    };
    // Slow start for 100 ms (five round trips).
    pump(&mut pair, Duration::from_millis(100));
    let cwnd_before = pair.client().tcp_info(ch).unwrap().snd_cwnd;
    assert_eq!(
        pair.client().stats().TCPTimeouts,
        0,
        "no timeout before the spike"
    );
    // The spike: from now on, ACKs take 400 ms to come back.
    pair.net.link_config_mut(pair.link, pair.server).delay = Duration::from_millis(400);
    pump(&mut pair, Duration::from_millis(600));
    let info = pair.client().tcp_info(ch).unwrap();
    let s = pair.client().stats();
    Spike {
        cwnd_before,
        cwnd_after: info.snd_cwnd,
        ssthresh_after: info.snd_ssthresh,
        timeouts: s.TCPTimeouts,
        spurious: s.TCPSpuriousRTOs,
        undone: s.TCPLossUndo,
        retransmitted: s.RetransSegs,
    }
}

#[test]
fn frto_undoes_the_timeout_a_delay_spike_causes() {
    let s = delay_spike(2);
    assert!(s.timeouts >= 1, "the spike outlasts the RTO: {s:?}");
    assert_eq!((s.spurious, s.undone), (1, 1), "{s:?}");
    assert_eq!(s.ssthresh_after, INFINITE_SSTHRESH, "{s:?}");
    assert!(s.cwnd_after >= s.cwnd_before, "cwnd restored: {s:?}");
    assert_eq!(
        s.retransmitted, 1,
        "only the timeout's retransmission: {s:?}"
    );
}

#[test]
fn without_frto_the_spurious_timeout_costs_the_window() {
    let s = delay_spike(0);
    assert!(s.timeouts >= 1, "{s:?}");
    assert_eq!((s.spurious, s.undone), (0, 0), "{s:?}");
    assert!(s.ssthresh_after < s.cwnd_before, "ssthresh reduced: {s:?}");
    assert!(s.cwnd_after < s.cwnd_before, "cwnd not restored: {s:?}");
}
