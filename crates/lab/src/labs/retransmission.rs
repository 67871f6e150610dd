//! `retransmission`: SYN retries (`tcp_syn_retries` 6 gives up after 127 s), RTO
//! backoff, and `tcp_retries2` (seeds 000, 004; RFC 6298, RFC 9293 3.8.3).

use std::time::Duration;

use serde::Serialize;
use synack::{EventKind, SocketHandle};

use super::{lan, Duo, LabDef};
use crate::ladder::Side;
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, push, secs, Net};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "retransmission",
    title: "SYN retries, RTO backoff, tcp_retries2: how long TCP keeps trying",
    seeds: "000, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// Retransmissions into a black hole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempts {
    /// The setting.
    pub name: String,
    /// When each transmission left, seconds after the first.
    pub sent_at_s: Vec<f64>,
    /// The gaps between them, seconds (the backed-off RTOs).
    pub gaps_s: Vec<f64>,
    /// When the call failed, seconds after the first transmission.
    pub gave_up_after_s: f64,
    /// The error the program saw.
    pub error: String,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// connect() to a host that never answers (`tcp_syn_retries`).
    pub syn: Attempts,
    /// Data on an established connection whose peer vanished (`tcp_retries2`).
    pub data: Attempts,
    /// The same with tcp_retries2=8.
    pub data_retries2_8: Attempts,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let syn = syn_retries(opts, &mut counters, &mut ladders)?;
    let data = data_retries(opts, "as configured", &[], &mut counters, &mut ladders)?;
    let data_retries2_8 = data_retries(
        opts,
        "tcp_retries2=8",
        &[("tcp_retries2", "8")],
        &mut counters,
        &mut Vec::new(),
    )?;
    let plot = Plot::new(
        "transmissions into a black hole",
        "seconds since the first transmission",
        "transmissions so far",
    )
    .stepped()
    .with(series("SYN (tcp_syn_retries)", &syn))
    .with(series("data (tcp_retries2 as configured)", &data))
    .with(series("data (tcp_retries2=8)", &data_retries2_8));
    let figures = Figures {
        syn,
        data,
        data_retries2_8,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "connect() to a host that never answers: the SYN goes at 0 s and again after \
             1, 2, 4, 8, 16, 32 s (the initial RTO of 1 s, doubled each time: sent at {:?} \
             s); after the last one TCP waits once more and connect() fails with {} after \
             {:.0} s. That is tcp_syn_retries=6: 1+2+4+8+16+32+64 = 127 s.",
            f.syn.sent_at_s, f.syn.error, f.syn.gave_up_after_s
        ),
        format!(
            "On an established connection the RTO starts from the measured RTT (200 ms \
             floor) and doubles up to 120 s; tcp_retries2 bounds the total as Linux \
             computes it (a time, from the RTO doubling to the cap): with {} transmissions \
             the write fails with {} after {:.1} s (15: about 924.6 s, the famous 15 \
             minutes); tcp_retries2=8 gives up after {:.1} s.",
            f.data.sent_at_s.len(),
            f.data.error,
            f.data.gave_up_after_s,
            f.data_retries2_8.gave_up_after_s
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        vec![plot],
    ))
}

fn series(name: &str, a: &Attempts) -> Series {
    let mut pts: Vec<(f64, f64)> = a
        .sent_at_s
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, (i + 1) as f64))
        .collect();
    pts.push((a.gave_up_after_s, a.sent_at_s.len() as f64));
    Series::new(name, pts)
}

/// Waits for `h` to report its end; returns the errno name.
fn wait_closed(
    w: &mut crate::world::World,
    node: synack_sim::NodeId,
    h: SocketHandle,
) -> Result<String, LabError> {
    let mut err = None;
    w.until("the connection's failure", |net: &mut Net| {
        while let Some(e) = net.node_mut(node).stack.poll_event() {
            if e.socket == h {
                if let EventKind::Closed(x) = e.kind {
                    err = Some(x.map_or("none", |x| x.name()).to_string());
                }
            }
        }
        err.is_some()
    })?;
    Ok(err.unwrap_or_default())
}

fn attempts(name: &str, ladder: &crate::Ladder, end_us: u64, kinds: &[&str]) -> Attempts {
    let times: Vec<u64> = ladder
        .segments()
        .filter(|g| g.from == Side::Left && kinds.contains(&g.kind.as_str()))
        .map(|g| g.at_us)
        .collect();
    let t0 = times.first().copied().unwrap_or(0);
    let sent_at_s: Vec<f64> = times.iter().map(|t| (t - t0) as f64 / 1e6).collect();
    let gaps_s = sent_at_s.windows(2).map(|w| w[1] - w[0]).collect();
    Attempts {
        name: name.to_string(),
        sent_at_s,
        gaps_s,
        gave_up_after_s: (end_us.saturating_sub(t0)) as f64 / 1e6,
        error: String::new(),
    }
}

fn syn_retries(
    opts: &Options,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Attempts, LabError> {
    let mut d = Duo::new(opts, |_| {}, &[], &[], lan().with_loss(1.0))?;
    let (c, s) = (d.c, d.s);
    d.w.record(
        "SYN retries into a black hole",
        (c, "client 10.0.0.1"),
        (s, "server 10.0.0.2:80"),
        40,
    );
    let h = d.connect(None)?;
    let err = wait_closed(&mut d.w, c, h)?;
    let end = d.w.now().total_micros();
    counters.push(CounterSnapshot::take(
        "client after connect() failed",
        &d.w.net.node(c).stack,
        &["ActiveOpens", "AttemptFails", "RetransSegs", "TCPTimeouts"],
    ));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let mut a = attempts("tcp_syn_retries as configured", &ladder, end, &["SYN"]);
    a.error = err;
    ladders.push(ladder);
    Ok(a)
}

fn data_retries(
    opts: &Options,
    name: &str,
    overrides: &[(&str, &str)],
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Attempts, LabError> {
    let mut d = Duo::new(opts, |_| {}, overrides, &[], lan())?;
    let l = d.listen(128)?;
    let (c, s, link) = (d.c, d.s, d.link);
    let h = d.connect(None)?;
    let _hs = d.establish(h, l)?;
    d.w.run_for(Duration::from_millis(100));
    // The server vanishes: nothing gets through any more, either way.
    d.w.net.link_config_mut(link, c).loss = 1.0;
    d.w.net.link_config_mut(link, s).loss = 1.0;
    d.w.record(
        &format!("data into a black hole ({name})"),
        (c, "client 10.0.0.1"),
        (s, "server 10.0.0.2:80 (gone)"),
        40,
    );
    let mut sent = 0;
    call(
        "send()",
        push(d.w.stack(c), h, b"are you there?", &mut sent),
    )?;
    let err = wait_closed(&mut d.w, c, h)?;
    let end = d.w.now().total_micros();
    counters.push(CounterSnapshot::take(
        &format!("client, data ({name})"),
        &d.w.net.node(c).stack,
        &[
            "RetransSegs",
            "TCPTimeouts",
            "TCPAbortOnTimeout",
            "TCPLossProbes",
        ],
    ));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let mut a = attempts(name, &ladder, end, &["DATA"]);
    a.error = err;
    ladders.push(ladder);
    let _ = secs;
    Ok(a)
}
