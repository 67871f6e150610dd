//! `simultaneous`: simultaneous open (SYN-SENT to SYN-RECV on both sides) and
//! simultaneous close through CLOSING (seed 003; RFC 9293 section 3.5 figure 7 and
//! section 3.6 figure 13).

use std::time::Duration;

use serde::Serialize;
use synack::State;

use super::LabDef;
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, sa, v4, World};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "simultaneous",
    title: "simultaneous open and simultaneous close (through CLOSING)",
    seeds: "003",
    run: |o| run(o).map(Outcome::into_report),
};

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Host A's states, in order.
    pub a_states: Vec<String>,
    /// Host B's states, in order.
    pub b_states: Vec<String>,
    /// Segments of the open (two SYNs crossing, two SYN-ACKs crossing).
    pub open_segments: usize,
    /// Segments of the close (two FINs crossing, two ACKs crossing).
    pub close_segments: usize,
    /// Both sides went through SYN-RECV.
    pub both_syn_recv: bool,
    /// Both sides went through CLOSING.
    pub both_closing: bool,
    /// Both sides went through TIME-WAIT.
    pub both_time_wait: bool,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let (ip_a, ip_b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
    let (pa, pb) = (sa(ip_a, 5000), sa(ip_b, 6000));
    let mut w = World::new(opts.seed);
    let a = w.add_host(opts.config(1, |_| {}, &[])?, &[ip_a]);
    let b = w.add_host(opts.config(2, |_| {}, &[])?, &[ip_b]);
    w.link(a, b, super::lan());
    w.record(
        "simultaneous open and close",
        (a, "A 10.0.0.1:5000"),
        (b, "B 10.0.0.2:6000"),
        40,
    );
    let ha = w.stack(a).socket();
    let hb = w.stack(b).socket();
    call("A bind()", w.stack(a).bind(ha, pa))?;
    call("B bind()", w.stack(b).bind(hb, pb))?;
    // Both connect at the same instant: the SYNs cross on the link.
    call("A connect()", w.stack(a).connect(ha, pb))?;
    call("B connect()", w.stack(b).connect(hb, pa))?;
    w.until("both ESTABLISHED", |net| {
        net.node(a).stack.state(ha) == Ok(State::Established)
            && net.node(b).stack.state(hb) == Ok(State::Established)
    })?;
    w.run_for(Duration::from_millis(50));
    w.note("both programs call close() at the same instant");
    call("A close()", w.stack(a).close(ha))?;
    call("B close()", w.stack(b).close(hb))?;
    w.until("both in TIME-WAIT", |net| {
        [(a, pa, pb), (b, pb, pa)]
            .iter()
            .all(|&(n, l, r)| super::conn_state(&net.node(n).stack, l, r) == State::TimeWait)
    })?;
    let counters = vec![
        CounterSnapshot::take(
            "A, in TIME-WAIT",
            &w.net.node(a).stack,
            &["ActiveOpens", "PassiveOpens", "TW"],
        ),
        CounterSnapshot::take(
            "B, in TIME-WAIT",
            &w.net.node(b).stack,
            &["ActiveOpens", "PassiveOpens", "TW"],
        ),
    ];
    w.until("TIME-WAIT's end", |net| {
        net.node(a).stack.sockets().is_empty() && net.node(b).stack.sockets().is_empty()
    })?;
    let idx = w.stop_recording().unwrap_or(0);
    let ladder = &w.ladders[idx];
    let a_states = ladder.states(Side::Left);
    let b_states = ladder.states(Side::Right);
    let segs: Vec<_> = ladder.segments().collect();
    let open_segments = segs
        .iter()
        .filter(|g| g.kind == "SYN" || g.kind == "SYN-ACK")
        .count();
    let first_fin = segs
        .iter()
        .position(|g| g.kind == "FIN")
        .unwrap_or(segs.len());
    let close_segments = segs.len() - first_fin;
    let has = |v: &Vec<String>, s: &str| v.iter().any(|x| x == s);
    let figures = Figures {
        both_syn_recv: has(&a_states, "SYN-RECV") && has(&b_states, "SYN-RECV"),
        both_closing: has(&a_states, "CLOSING") && has(&b_states, "CLOSING"),
        both_time_wait: has(&a_states, "TIME-WAIT") && has(&b_states, "TIME-WAIT"),
        a_states,
        b_states,
        open_segments,
        close_segments,
    };
    let narrative = vec![
        "Two programs bind a port each and connect() to each other at the same instant: \
         neither listens. Both send a SYN and are SYN-SENT; the SYNs cross on the link. Each \
         receives a SYN while SYN-SENT, so each moves to SYN-RECV and sends a SYN-ACK \
         (RFC 9293 figure 7); when the SYN-ACKs arrive both are ESTABLISHED: four segments \
         instead of three, and no server."
            .to_string(),
        format!(
            "Then both close at once: the FINs cross, each side receives a FIN while \
             FIN-WAIT-1 (its own FIN not yet acknowledged) and enters CLOSING; the ACKs \
             cross and both enter TIME-WAIT (RFC 9293 figure 13): both sides are active \
             closers. Through CLOSING: {}; both in TIME-WAIT: {}.",
            figures.both_closing, figures.both_time_wait
        ),
    ];
    let ladders = w.ladders.clone();
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
