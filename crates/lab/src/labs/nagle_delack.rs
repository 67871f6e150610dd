//! `nagle-delack`: the 40 ms stall of write-write-read, where Nagle's algorithm (RFC 896,
//! the sender waits for an ACK before sending a second small segment) meets the delayed
//! ACK (RFC 1122 4.2.3.2, the receiver waits up to 40 ms for something to piggyback on);
//! and TCP_NODELAY, TCP_QUICKACK and TCP_CORK, each of which ends it (seed 004).

use std::time::Duration;

use serde::Serialize;
use synack::SockOpt;
use synack_sim::LinkConfig;

use super::{Duo, LabDef};
use crate::ladder::Side;
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, drain, push};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "nagle-delack",
    title: "the 40 ms stall of write-write-read: Nagle meets delayed ACK",
    seeds: "004",
    run: |o| run(o).map(Outcome::into_report),
};

/// Requests per variant; the medians are over the last [`MEASURED`].
const REQUESTS: usize = 30;
/// Requests measured (after the server's quick-ACK start is spent).
const MEASURED: usize = 10;
/// The request's two writes and the response, bytes.
const HEADER: usize = 100;
const BODY: usize = 100;
const RESPONSE: usize = 100;

/// One setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// Each request's latency, ms (first write to the whole response read).
    pub latencies_ms: Vec<f64>,
    /// The median latency over the last requests, ms.
    pub median_latency_ms: f64,
    /// The median minus the round-trip time: the stall, ms.
    pub stall_ms: f64,
    /// Segments the client sent per request (the last request).
    pub client_segments_per_request: usize,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The link's round-trip time, ms.
    pub rtt_ms: f64,
    /// Nagle and delayed ACK, both on (Linux's default).
    pub nagle_delack: Variant,
    /// TCP_NODELAY on the client.
    pub nodelay: Variant,
    /// TCP_QUICKACK set by the server after each read.
    pub quickack: Variant,
    /// TCP_CORK around the client's two writes.
    pub cork: Variant,
}

/// A LAN: 50 us each way, so the stall is all delayed ACK.
fn link() -> LinkConfig {
    LinkConfig::ideal(Duration::from_micros(50))
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let mut v = Vec::new();
    for mode in 0..4 {
        v.push(one(opts, mode, &mut counters, &mut ladders)?);
    }
    let mut plot = Plot::new("latency of each request", "request", "ms");
    for x in &v {
        plot = plot.with(Series::new(
            x.name.clone(),
            x.latencies_ms
                .iter()
                .enumerate()
                .map(|(i, &l)| ((i + 1) as f64, l))
                .collect(),
        ));
    }
    let mut it = v.into_iter();
    let (Some(nagle_delack), Some(nodelay), Some(quickack), Some(cork)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(LabError::Scenario("a variant did not run".into()));
    };
    let figures = Figures {
        rtt_ms: 0.1,
        nagle_delack,
        nodelay,
        quickack,
        cork,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A client sends each request with two writes (a {HEADER}-byte header, a \
             {BODY}-byte body), then reads the {RESPONSE}-byte response. The first write \
             leaves at once. Nagle's algorithm holds the second: a small segment is \
             already unacknowledged. The server's TCP holds its ACK of the first: once the \
             quick ACKs of a new connection are spent, an ACK waits up to 40 ms for data \
             to ride on, and the server has none (it needs the body to answer). Both wait \
             for the other until the delayed-ACK timer fires: every request takes {:.1} ms \
             on a link whose round trip is {:.1} ms, a stall of {:.1} ms.",
            f.nagle_delack.median_latency_ms, f.rtt_ms, f.nagle_delack.stall_ms
        ),
        format!(
            "TCP_NODELAY on the client sends the body at once: {:.1} ms. TCP_QUICKACK set \
             by the server after each read sends its ACK at once, which releases the body: \
             {:.1} ms (one more round trip than NODELAY). TCP_CORK around the two writes \
             sends header and body as one segment when uncorked: {:.1} ms, with {} \
             segment(s) per request instead of {}.",
            f.nodelay.median_latency_ms,
            f.quickack.median_latency_ms,
            f.cork.median_latency_ms,
            f.cork.client_segments_per_request,
            f.nagle_delack.client_segments_per_request
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

fn one(
    opts: &Options,
    mode: u8,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let name = [
        "Nagle + delayed ACK",
        "TCP_NODELAY (client)",
        "TCP_QUICKACK (server, after each read)",
        "TCP_CORK (client, around the writes)",
    ][mode as usize];
    let mut d = Duo::new(opts, |_| {}, &[], &[], link())?;
    let l = d.listen(128)?;
    let (c, s) = (d.c, d.s);
    let h = d.connect(None)?;
    let hs = d.establish(h, l)?;
    if mode == 1 {
        call(
            "setsockopt(TCP_NODELAY)",
            d.w.stack(c).set_option(h, SockOpt::NoDelay(true)),
        )?;
    }
    let header = vec![b'h'; HEADER];
    let body = vec![b'b'; BODY];
    let response = vec![b'r'; RESPONSE];
    let mut latencies = Vec::new();
    let mut server_got = 0usize;
    let mut segs_last = 0;
    for i in 0..REQUESTS {
        if i + 1 == REQUESTS {
            d.w.record(
                &format!("{name}: one request"),
                (c, "client 10.0.0.1"),
                (s, "server 10.0.0.2:80"),
                30,
            );
        }
        let t0 = d.w.now();
        if mode == 3 {
            call(
                "setsockopt(TCP_CORK)",
                d.w.stack(c).set_option(h, SockOpt::Cork(true)),
            )?;
        }
        let (mut a, mut b) = (0, 0);
        call("write(header)", push(d.w.stack(c), h, &header, &mut a))?;
        // What send() puts on the wire leaves before the program's next call.
        d.w.sync();
        call("write(body)", push(d.w.stack(c), h, &body, &mut b))?;
        if mode == 3 {
            call(
                "setsockopt(TCP_CORK, 0)",
                d.w.stack(c).set_option(h, SockOpt::Cork(false)),
            )?;
        }
        let want = (i + 1) * (HEADER + BODY);
        let (mut resp_sent, mut got) = (0, Vec::new());
        let mut answered = false;
        d.w.until("the response", |net| {
            let ss = &mut net.node_mut(s).stack;
            let mut buf = Vec::new();
            drain(ss, hs, &mut buf);
            if !buf.is_empty() {
                server_got += buf.len();
                if mode == 2 {
                    let _ = ss.set_option(hs, SockOpt::QuickAck(true));
                }
            }
            if server_got >= want && !answered {
                let _ = push(ss, hs, &response, &mut resp_sent);
                answered = resp_sent == RESPONSE;
            }
            drain(&mut net.node_mut(c).stack, h, &mut got);
            got.len() >= RESPONSE
        })?;
        latencies.push((d.w.now().total_micros() - t0.total_micros()) as f64 / 1e3);
        // The program thinks a little before its next request.
        d.w.run_for(Duration::from_millis(100));
        if i + 1 == REQUESTS {
            let idx = d.w.stop_recording().unwrap_or(0);
            let ladder = d.w.ladders[idx].clone();
            segs_last = ladder
                .segments()
                .filter(|g| g.from == Side::Left && g.len > 0)
                .count();
            ladders.push(ladder);
        }
    }
    counters.push(CounterSnapshot::take(
        &format!("server, {name}"),
        &d.w.net.node(s).stack,
        &["DelayedACKs", "InSegs", "OutSegs"],
    ));
    let mut last: Vec<f64> = latencies[REQUESTS - MEASURED..].to_vec();
    last.sort_by(f64::total_cmp);
    let median = last[MEASURED / 2];
    Ok(Variant {
        name: name.to_string(),
        median_latency_ms: median,
        stall_ms: ((median - 0.1) * 10.0).round() / 10.0,
        latencies_ms: latencies,
        client_segments_per_request: segs_last,
    })
}
