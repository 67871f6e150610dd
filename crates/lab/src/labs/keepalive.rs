//! `keepalive`: a peer that vanishes without a word. With SO_KEEPALIVE the connection is
//! found dead after `tcp_keepalive_time + tcp_keepalive_intvl x tcp_keepalive_probes`
//! (2 h 11 min 15 s by default); without it, never (seed 004; RFC 1122 4.2.3.6).

use std::time::Duration;

use serde::Serialize;
use synack::{EventKind, SockOpt, State};

use super::{lan, Duo, LabDef};
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::call;
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "keepalive",
    title: "a peer that vanishes: keepalive finds out after 2 h 11 min 15 s, or never",
    seeds: "004",
    run: |o| run(o).map(Outcome::into_report),
};

/// One setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// Seconds from the peer's disappearance (the last segment) to the error; `None`
    /// when the connection was still ESTABLISHED at the end of the run.
    pub detected_after_s: Option<f64>,
    /// The same as h:mm:ss.
    pub detected_after: String,
    /// keepalive_time + keepalive_intvl x keepalive_probes of the setting, seconds.
    pub expected_s: Option<f64>,
    /// Probes sent.
    pub probes: u64,
    /// The error the program saw.
    pub error: Option<String>,
    /// The client's state at the end.
    pub final_state: String,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// SO_KEEPALIVE with the configured sysctls (Linux's defaults unless changed).
    pub keepalive: Variant,
    /// SO_KEEPALIVE with tcp_keepalive_time=60, intvl=10, probes=3.
    pub tuned: Variant,
    /// No SO_KEEPALIVE.
    pub off: Variant,
}

/// How long the lab watches: longer than the default detection time.
const WATCH: Duration = Duration::from_secs(3 * 3600);

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let keepalive = one(
        opts,
        "SO_KEEPALIVE, sysctls as configured",
        true,
        &[],
        &mut counters,
        &mut Vec::new(),
    )?;
    let tuned = one(
        opts,
        "SO_KEEPALIVE, tcp_keepalive_time=60 intvl=10 probes=3",
        true,
        &[
            ("tcp_keepalive_time", "60"),
            ("tcp_keepalive_intvl", "10"),
            ("tcp_keepalive_probes", "3"),
        ],
        &mut counters,
        &mut ladders,
    )?;
    let off = one(
        opts,
        "no SO_KEEPALIVE",
        false,
        &[],
        &mut counters,
        &mut Vec::new(),
    )?;
    let figures = Figures {
        keepalive,
        tuned,
        off,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A connection sits idle; then the server's host disappears (a crash, a cable \
             pulled, a NAT entry expired): no FIN, no RST, nothing. With SO_KEEPALIVE the \
             client probes after tcp_keepalive_time of silence and then every \
             tcp_keepalive_intvl; after tcp_keepalive_probes unanswered probes the \
             connection is dropped with {}. With Linux's defaults (7200 s + 75 s x 9) that \
             is {} after the last segment ({} probes).",
            f.keepalive.error.as_deref().unwrap_or("no error"),
            f.keepalive.detected_after,
            f.keepalive.probes
        ),
        format!(
            "Tuned to 60 s + 10 s x 3 it takes {}. Without SO_KEEPALIVE the client is still \
             {} after {} hours: an idle connection to a dead peer lives forever, holding its \
             resources, until the program writes to it.",
            f.tuned.detected_after,
            f.off.final_state,
            WATCH.as_secs() / 3600
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        Vec::new(),
    ))
}

fn hms(s: f64) -> String {
    let t = s.round() as u64;
    format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn one(
    opts: &Options,
    name: &str,
    keepalive: bool,
    overrides: &[(&str, &str)],
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let mut d = Duo::new(opts, |_| {}, overrides, &[], lan())?;
    let l = d.listen(128)?;
    let (c, s, link) = (d.c, d.s, d.link);
    let h = d.connect(None)?;
    let _hs = d.establish(h, l)?;
    if keepalive {
        call(
            "setsockopt(SO_KEEPALIVE)",
            d.w.stack(c).set_option(h, SockOpt::KeepAlive(true)),
        )?;
    }
    let cfg = d.w.net.node(c).stack.config().clone();
    let expected = keepalive.then(|| {
        (cfg.tcp_keepalive_time + cfg.tcp_keepalive_intvl * cfg.tcp_keepalive_probes).as_secs_f64()
    });
    d.w.run_for(Duration::from_millis(100));
    // The server vanishes.
    d.w.net.link_config_mut(link, c).loss = 1.0;
    d.w.net.link_config_mut(link, s).loss = 1.0;
    let gone = d.w.now();
    d.w.record(
        name,
        (c, "client 10.0.0.1"),
        (s, "server 10.0.0.2:80 (gone)"),
        40,
    );
    d.w.note("the server's host vanishes");
    let mut err = None;
    let deadline = gone + WATCH;
    let closed = d.w.until_or(deadline, |net| {
        while let Some(e) = net.node_mut(c).stack.poll_event() {
            if let (true, EventKind::Closed(x)) = (e.socket == h, e.kind) {
                err = Some(x.map_or("none", |x| x.name()).to_string());
            }
        }
        err.is_some()
    });
    let at = d.w.now();
    let final_state = d.w.net.node(c).stack.state(h).unwrap_or(State::Closed);
    let cs = CounterSnapshot::take(
        &format!("client, {name}"),
        &d.w.net.node(c).stack,
        &["TCPKeepAlive", "TCPAbortOnTimeout", "CurrEstab"],
    );
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let probes = ladder
        .segments()
        .filter(|g| g.from == Side::Left && g.kind == "ACK")
        .count() as u64;
    let after = closed.then(|| (at.total_micros() - gone.total_micros()) as f64 / 1e6);
    counters.push(cs);
    ladders.push(ladder);
    Ok(Variant {
        name: name.to_string(),
        detected_after_s: after,
        detected_after: after.map_or_else(|| "never".to_string(), hms),
        expected_s: expected,
        probes,
        error: err,
        final_state: crate::ladder::state_name(final_state),
    })
}
