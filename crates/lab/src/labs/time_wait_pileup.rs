//! `time-wait-pileup`: short-lived client connections fill `ip_local_port_range` with
//! TIME_WAIT until connect() fails with EADDRNOTAVAIL; the service works, fails, works
//! again, in cycles (seed 004's incident). Then each remedy of seeds 000 and 004 side by
//! side: `tcp_tw_reuse=1` with timestamps, a wider port range, `ip_local_reserved_ports`,
//! HTTP keep-alive (`keepalive_requests`), `tcp_max_tw_buckets`.

use std::time::Duration;

use serde::Serialize;

use super::traffic::{self, Sample, Traffic, TrafficStats};
use super::{lan, Duo, LabDef};
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "time-wait-pileup",
    title: "TIME_WAIT fills the port range until connect() fails; the remedies side by side",
    seeds: "000, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// A service port inside the wide ephemeral range, as in seed 000's story (8080).
pub const SERVICE_PORT: u16 = 8080;

/// One remedy's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remedy {
    /// What was changed.
    pub name: String,
    /// The client's port range in this run.
    pub port_range: (u16, u16),
    /// Requests the client made and requests answered.
    pub requests: u64,
    /// Requests answered.
    pub answered: u64,
    /// connect() calls.
    pub connects: u64,
    /// connect() failures with EADDRNOTAVAIL.
    pub eaddrnotavail: u64,
    /// Requests that failed (connect() failed, or the client was backing off 100 ms
    /// after a failure).
    pub failed_requests: u64,
    /// When connect() first failed, seconds (None: never).
    pub first_failure_s: Option<f64>,
    /// The most TIME-WAIT entries the client held at once.
    pub max_time_wait: usize,
    /// TIME-WAIT entries reused for new connections (TWRecycled).
    pub tw_recycled: u64,
    /// Connections that skipped TIME-WAIT (TCPTimeWaitOverflow).
    pub tw_overflow: u64,
    /// Outgoing connections that took the service port 8080 as their local port.
    pub service_port_taken: u64,
    /// Whether the service could bind port 8080 at the end.
    pub service_bind_ok: bool,
    #[serde(skip)]
    samples: Vec<Sample>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// New requests per second (enough to exhaust the configured range in about 37 s).
    pub rate_per_s: f64,
    /// Seconds the requests kept coming.
    pub duration_s: f64,
    /// The client's configuration as the reader set it.
    pub baseline: Remedy,
    /// `tcp_tw_reuse=1` (timestamps on): connect() takes over TIME-WAIT entries older
    /// than a second.
    pub tw_reuse: Remedy,
    /// `ip_local_port_range=1024 65535`.
    pub wide_range: Remedy,
    /// The wide range with `ip_local_reserved_ports=8080`.
    pub wide_range_reserved: Remedy,
    /// HTTP keep-alive: 100 requests per connection (nginx's `keepalive_requests`).
    pub keepalive: Remedy,
    /// `tcp_max_tw_buckets` at half the port range.
    pub max_tw_buckets: Remedy,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let base = opts.config(1, |_| {}, &[])?;
    let (lo, hi) = base.ip_local_port_range;
    let ports = f64::from(hi - lo + 1);
    let rate = (ports * 1.6 / 60.0).max(1.0);
    let duration = Duration::from_secs(75);
    let half = (u32::from(hi - lo) + 1).div_ceil(2).to_string();
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let t = Traffic {
        rate,
        duration,
        linger: Duration::from_secs(1),
        request: 100,
        response: 1000,
        requests_per_conn: 1,
        server_closes: true,
        sample_every: Duration::from_secs(1),
        watch_port: Some(SERVICE_PORT),
    };
    let baseline = one(
        opts,
        "as configured",
        &[],
        &t,
        &mut counters,
        Some(&mut ladders),
    )?;
    let tw_reuse = one(
        opts,
        "tcp_tw_reuse=1",
        &[("tcp_tw_reuse", "1"), ("tcp_timestamps", "1")],
        &t,
        &mut counters,
        None,
    )?;
    let wide = [("ip_local_port_range", "1024 65535")];
    let wide_range = one(
        opts,
        "ip_local_port_range=1024 65535",
        &wide,
        &t,
        &mut counters,
        None,
    )?;
    let wide_range_reserved = one(
        opts,
        "ip_local_port_range=1024 65535, ip_local_reserved_ports=8080",
        &[wide[0], ("ip_local_reserved_ports", "8080")],
        &t,
        &mut counters,
        None,
    )?;
    let keepalive = one(
        opts,
        "keep-alive, 100 requests per connection",
        &[],
        &Traffic {
            requests_per_conn: 100,
            ..t.clone()
        },
        &mut counters,
        None,
    )?;
    let max_tw_buckets = one(
        opts,
        &format!("tcp_max_tw_buckets={half}"),
        &[("tcp_max_tw_buckets", &half)],
        &t,
        &mut counters,
        None,
    )?;
    let all = [
        &baseline,
        &tw_reuse,
        &wide_range,
        &wide_range_reserved,
        &keepalive,
        &max_tw_buckets,
    ];
    let mut tw_plot = Plot::new("client TIME-WAIT entries", "seconds", "TIME-WAIT sockets");
    let mut ok_plot = Plot::new("requests answered per second", "seconds", "requests/s");
    for r in all {
        tw_plot = tw_plot.with(Series::new(
            r.name.clone(),
            r.samples
                .iter()
                .map(|s| (s.t, s.client.time_wait as f64))
                .collect(),
        ));
        ok_plot = ok_plot.with(Series::new(
            r.name.clone(),
            r.samples.iter().map(|s| (s.t, s.ok as f64)).collect(),
        ));
    }
    let figures = Figures {
        rate_per_s: (rate * 10.0).round() / 10.0,
        duration_s: duration.as_secs_f64(),
        baseline,
        tw_reuse,
        wide_range,
        wide_range_reserved,
        keepalive,
        max_tw_buckets,
    };
    let f = &figures;
    let b = &f.baseline;
    let narrative = vec![
        format!(
            "A client (think nginx to a backend, HTTP/1.0) opens a new connection for every \
             request, {:.0} per second, and closes it first, so every connection leaves a \
             TIME-WAIT entry holding its local port for 60 s. The ports {}-{} are {} in \
             all: TIME-WAIT reaches {} entries and from {} s on connect() fails with \
             EADDRNOTAVAIL ({} times). Ports come back only as entries expire, 60 s after \
             they were made, so the service works, fails, and works again: seed 004's \
             incident ({} of {} requests failed; the client backs off 100 ms after a failed \
             connect(), as connection pools do).",
            f.rate_per_s,
            b.port_range.0,
            b.port_range.1,
            u32::from(b.port_range.1 - b.port_range.0) + 1,
            b.max_time_wait,
            b.first_failure_s
                .map_or("no time".to_string(), |s| format!("{s:.1}")),
            b.eaddrnotavail,
            b.failed_requests,
            b.requests
        ),
        format!(
            "The remedies of seeds 000 and 004, same load: tcp_tw_reuse=1 (with timestamps, \
             which make it safe) lets connect() take over a TIME-WAIT entry older than one \
             second: {} failures, {} entries reused. A wider range (1024-65535) holds the \
             load: {} failures, but outgoing connections took the service port 8080 {} \
             time(s), so a restarting service may find its port taken (bind after the run: \
             {}); ip_local_reserved_ports=8080 keeps it out of the range ({} times). \
             Keep-alive with 100 requests per connection needs a hundredth of the \
             connections: at most {} TIME-WAIT entries. tcp_max_tw_buckets={} caps the \
             entries ({} connections skipped TIME-WAIT, losing its protection): {} failures.",
            f.tw_reuse.eaddrnotavail,
            f.tw_reuse.tw_recycled,
            f.wide_range.eaddrnotavail,
            f.wide_range.service_port_taken,
            if f.wide_range.service_bind_ok {
                "succeeded"
            } else {
                "EADDRINUSE"
            },
            f.wide_range_reserved.service_port_taken,
            f.keepalive.max_time_wait,
            half,
            f.max_tw_buckets.tw_overflow,
            f.max_tw_buckets.eaddrnotavail
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        vec![tw_plot, ok_plot],
    ))
}

fn one(
    opts: &Options,
    name: &str,
    overrides: &[(&str, &str)],
    t: &Traffic,
    counters: &mut Vec<CounterSnapshot>,
    ladders: Option<&mut Vec<crate::Ladder>>,
) -> Result<Remedy, LabError> {
    let mut d = Duo::new(opts, |_| {}, overrides, &[], lan())?;
    let l = d.listen(4096)?;
    let (c, s) = (d.c, d.s);
    let port_range = d.w.net.node(c).stack.config().ip_local_port_range;
    if let Some(ladders) = ladders {
        ladders.push(super::short_exchange(&mut d, l, "one short connection")?);
    }
    let server = d.server;
    let stats: TrafficStats = traffic::run(&mut d.w, t, c, s, l, server)?;
    let cs = &d.w.net.node(c).stack;
    let snap = CounterSnapshot::take(
        &format!("client, {name}"),
        cs,
        &["ActiveOpens", "TW", "TWRecycled", "TCPTimeWaitOverflow"],
    );
    let st = d.w.stack(c);
    let probe = st.socket();
    let service_bind_ok = st
        .bind(probe, crate::world::sa(d.caddr, SERVICE_PORT))
        .is_ok();
    let _ = st.close(probe);
    let r = Remedy {
        name: name.to_string(),
        port_range,
        requests: stats.requests,
        answered: stats.answered,
        connects: stats.connects,
        eaddrnotavail: stats.eaddrnotavail(),
        failed_requests: stats.failed_requests,
        first_failure_s: stats.first_failure_s,
        max_time_wait: stats.max_client_time_wait(),
        tw_recycled: snap.get("TWRecycled"),
        tw_overflow: snap.get("TCPTimeWaitOverflow"),
        service_port_taken: stats.watched_port_uses,
        service_bind_ok,
        samples: stats.samples,
    };
    counters.push(snap);
    Ok(r)
}
