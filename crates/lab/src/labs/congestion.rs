//! `congestion`: a bulk transfer over a bottleneck with a small drop-tail queue and a
//! short outage: slow start, congestion avoidance, fast retransmit and recovery
//! (RFC 5681, RFC 6937 PRR), an RTO (RFC 6298); cwnd and ssthresh over time, Reno
//! beside CUBIC (RFC 9438) (seeds 001, 004).

use std::time::Duration;

use serde::Serialize;
use synack_sim::LinkConfig;

use super::{Duo, LabDef};
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{drain, secs};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "congestion",
    title: "slow start, congestion avoidance, fast recovery and an RTO: Reno beside CUBIC",
    seeds: "001, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// How long the transfer runs.
const RUN: Duration = Duration::from_secs(20);
/// When the link goes dark, and for how long (long enough for an RTO).
const OUTAGE_AT: Duration = Duration::from_secs(10);
const OUTAGE: Duration = Duration::from_millis(1500);
/// Sampling period of cwnd and ssthresh.
const SAMPLE: Duration = Duration::from_millis(10);

/// One algorithm's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The algorithm.
    pub algorithm: String,
    /// Bytes acknowledged.
    pub bytes_acked: u64,
    /// Throughput over the run, Mbit/s.
    pub throughput_mbps: f64,
    /// When slow start first ended (ssthresh set), seconds.
    pub slow_start_end_s: Option<f64>,
    /// The largest cwnd, segments.
    pub max_cwnd: u32,
    /// Fast retransmissions (TCPFastRetrans).
    pub fast_retransmits: u64,
    /// Retransmission timeouts (TCPTimeouts).
    pub timeouts: u64,
    /// cwnd right after the outage's RTO, segments (1: back to slow start).
    pub cwnd_after_rto: Option<u32>,
    #[serde(skip)]
    cwnd: Vec<(f64, f64)>,
    #[serde(skip)]
    ssthresh: Vec<(f64, f64)>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The bottleneck: rate, one-way delay, queue.
    pub link: String,
    /// Reno (RFC 5681).
    pub reno: Variant,
    /// CUBIC (RFC 9438, Linux's default).
    pub cubic: Variant,
}

/// The bottleneck: 20 Mbit/s, 20 ms each way, a 30-packet queue.
fn link() -> LinkConfig {
    LinkConfig::ideal(Duration::from_millis(20))
        .with_rate(20_000_000)
        .with_queue_limit(30)
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let reno = one(opts, "reno", &mut counters, &mut ladders)?;
    let cubic = one(opts, "cubic", &mut counters, &mut Vec::new())?;
    let mut plots = Vec::new();
    for v in [&reno, &cubic] {
        plots.push(
            Plot::new(
                &format!("{}: cwnd and ssthresh", v.algorithm),
                "seconds",
                "segments",
            )
            .stepped()
            .with(Series::new("cwnd", v.cwnd.clone()))
            .with(Series::new("ssthresh", v.ssthresh.clone())),
        );
    }
    plots.push(
        Plot::new("cwnd, Reno beside CUBIC", "seconds", "segments")
            .stepped()
            .with(Series::new("reno", reno.cwnd.clone()))
            .with(Series::new("cubic", cubic.cwnd.clone())),
    );
    let figures = Figures {
        link: "20 Mbit/s, 20 ms each way, 30-packet drop-tail queue".to_string(),
        reno,
        cubic,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A client sends as fast as TCP lets it through a 20 Mbit/s bottleneck (40 ms \
             round trip, a 30-packet queue). Slow start doubles cwnd every round trip from \
             10 segments until the queue overflows (Reno leaves slow start at {:.2} s); the \
             losses are repaired by fast retransmit ({} times for Reno, {} for CUBIC) and \
             cwnd falls to ssthresh, half of what it was for Reno, 70% for CUBIC.",
            f.reno.slow_start_end_s.unwrap_or(f64::NAN),
            f.reno.fast_retransmits,
            f.cubic.fast_retransmits
        ),
        format!(
            "Then Reno grows cwnd by one segment per round trip (the sawtooth), CUBIC along \
             a cubic curve that flattens near the last loss and probes beyond it. At {} s \
             the link goes dark for {:.1} s: nothing is acknowledged, the retransmission \
             timer fires ({} timeouts for Reno), ssthresh takes half the flight and cwnd \
             restarts from {} segment(s) in slow start. Throughput: Reno {:.1} Mbit/s, CUBIC \
             {:.1} Mbit/s.",
            OUTAGE_AT.as_secs(),
            OUTAGE.as_secs_f64(),
            f.reno.timeouts,
            f.reno.cwnd_after_rto.unwrap_or(0),
            f.reno.throughput_mbps,
            f.cubic.throughput_mbps
        ),
    ];
    Ok(Outcome::new(
        &DEF, opts, narrative, ladders, counters, figures, plots,
    ))
}

fn one(
    opts: &Options,
    algorithm: &str,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let over = [("tcp_congestion_control", algorithm)];
    // Buffers large enough that the network, not a window, limits the sender.
    let buffers = |c: &mut synack::Config| {
        c.tcp_rmem = [4096, 4 << 20, 6 << 20];
        c.tcp_wmem = [4096, 4 << 20, 6 << 20];
    };
    let mut d = Duo::new(opts, buffers, &over, &over, link())?;
    let l = d.listen(128)?;
    let (c, s, lk) = (d.c, d.s, d.link);
    if algorithm == "reno" {
        d.w.record(
            &format!("{algorithm}: the start of slow start"),
            (c, "sender 10.0.0.1"),
            (s, "receiver 10.0.0.2:80"),
            30,
        );
    }
    let h = d.connect(None)?;
    let hs = d.establish(h, l)?;
    let start = d.w.now();
    let chunk = vec![b'z'; 65536];
    let mut v = Variant {
        algorithm: algorithm.to_string(),
        bytes_acked: 0,
        throughput_mbps: 0.0,
        slow_start_end_s: None,
        max_cwnd: 0,
        fast_retransmits: 0,
        timeouts: 0,
        cwnd_after_rto: None,
        cwnd: Vec::new(),
        ssthresh: Vec::new(),
    };
    let mut t = start;
    let mut outage_on = false;
    let mut rto_seen = false;
    let mut sink = Vec::new();
    while t < start + RUN {
        t += SAMPLE;
        let since = t - start;
        let dark = since >= OUTAGE_AT && since < OUTAGE_AT + OUTAGE;
        if dark != outage_on {
            outage_on = dark;
            d.w.net.link_config_mut(lk, c).loss = if dark { 1.0 } else { 0.0 };
        }
        d.w.until_or(t, |net| {
            let cs = &mut net.node_mut(c).stack;
            while let Ok(n) = cs.send(h, &chunk) {
                if n == 0 {
                    break;
                }
            }
            sink.clear();
            drain(&mut net.node_mut(s).stack, hs, &mut sink);
            false
        });
        if d.w.recording() && since >= Duration::from_millis(300) {
            d.w.stop_recording();
        }
        let Some(info) = d.w.net.node(c).stack.socket_info(h) else {
            break;
        };
        let x = secs(t) - secs(start);
        v.cwnd.push((x, f64::from(info.cwnd)));
        if let Some(ss) = info.ssthresh {
            v.ssthresh.push((x, f64::from(ss)));
            v.slow_start_end_s.get_or_insert(x);
        }
        v.max_cwnd = v.max_cwnd.max(info.cwnd);
        let timeouts = d.w.net.node(c).stack.stats().TCPTimeouts;
        if timeouts > 0 && !rto_seen {
            rto_seen = true;
            v.cwnd_after_rto = Some(info.cwnd);
        }
        v.bytes_acked = info.bytes_acked;
    }
    d.w.stop_recording();
    ladders.extend(d.w.ladders.iter().cloned());
    let snap = CounterSnapshot::take(
        &format!("sender, {algorithm}"),
        &d.w.net.node(c).stack,
        &[
            "OutSegs",
            "RetransSegs",
            "TCPFastRetrans",
            "TCPTimeouts",
            "TCPLossProbes",
            "TCPSACKRecv",
        ],
    );
    v.fast_retransmits = snap.get("TCPFastRetrans");
    v.timeouts = snap.get("TCPTimeouts");
    v.throughput_mbps =
        ((v.bytes_acked as f64 * 8.0 / RUN.as_secs_f64() / 1e6) * 10.0).round() / 10.0;
    counters.push(snap);
    Ok(v)
}
