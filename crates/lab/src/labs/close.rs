//! `close`: the four-way close; who enters TIME_WAIT, and for how long (seeds 000, 004).

use std::time::Duration;

use serde::Serialize;
use synack::State;

use super::{lan, time_in_state, Duo, LabDef};
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{drain, push};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "close",
    title: "the four-way close: who enters TIME_WAIT, and for how long",
    seeds: "000, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// One close, by one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloseRun {
    /// Who called close() first: "client" or "server".
    pub first_closer: String,
    /// Who went through TIME_WAIT.
    pub time_wait_side: String,
    /// How long it stayed there, seconds.
    pub time_wait_s: f64,
    /// The first closer's states from ESTABLISHED on.
    pub closer_states: Vec<String>,
    /// The other side's states from ESTABLISHED on.
    pub peer_states: Vec<String>,
    /// The close's segments, labelled.
    pub segments: Vec<String>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The client closes first (the usual HTTP/1.0 client).
    pub client_first: CloseRun,
    /// The server closes first (the server of a short-connection service).
    pub server_first: CloseRun,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let client_first = one(opts, true, &mut counters, &mut ladders)?;
    let server_first = one(opts, false, &mut counters, &mut ladders)?;
    let figures = Figures {
        client_first,
        server_first,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "The client closes first: FIN; the server's TCP acknowledges it \
             (ack=u+1) and its program reads end of stream (CLOSE-WAIT), finishes its work \
             and closes: FIN seq=w, LAST-ACK. The client, FIN-WAIT-1 then FIN-WAIT-2, \
             acknowledges it and enters TIME-WAIT, where it stays {:.1} s (2MSL: Linux fixes \
             it at 60 s, TCP_TIMEWAIT_LEN); the server is CLOSED as soon as that ACK arrives.",
            f.client_first.time_wait_s
        ),
        format!(
            "Only the side that closes first goes through TIME-WAIT: when the server closes \
             first, the {} spends {:.1} s there instead, holding the 4-tuple (server port \
             80 included: a restarted server needs SO_REUSEADDR).",
            f.server_first.time_wait_side, f.server_first.time_wait_s
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

fn one(
    opts: &Options,
    client_first: bool,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<CloseRun, LabError> {
    let mut d = Duo::new(opts, |_| {}, &[], &[], lan())?;
    let l = d.listen(128)?;
    let (c, s) = (d.c, d.s);
    let title = if client_first {
        "the client closes first"
    } else {
        "the server closes first"
    };
    d.w.record(title, (c, "client 10.0.0.1"), (s, "server 10.0.0.2:80"), 40);
    let hc = d.connect(None)?;
    let hs = d.establish(hc, l)?;
    let (mut sent, mut got) = (0, Vec::new());
    let req = b"GET / HTTP/1.0\r\n\r\n";
    d.w.until("the request", |net| {
        let _ = push(&mut net.node_mut(c).stack, hc, req, &mut sent);
        drain(&mut net.node_mut(s).stack, hs, &mut got);
        got.len() == req.len()
    })?;
    d.w.run_for(Duration::from_millis(100));
    let (first, fh, second, sh) = if client_first {
        (c, hc, s, hs)
    } else {
        (s, hs, c, hc)
    };
    crate::world::call("close()", d.w.stack(first).close(fh))?;
    let mut eof = false;
    d.w.until("end of stream at the peer", |net| {
        let mut sink = Vec::new();
        eof = eof || drain(&mut net.node_mut(second).stack, sh, &mut sink).0;
        eof
    })?;
    // The peer's program finishes its work before it closes.
    d.w.run_for(Duration::from_millis(100));
    crate::world::call("close()", d.w.stack(second).close(sh))?;
    let first_side = if client_first {
        Side::Left
    } else {
        Side::Right
    };
    d.w.until("TIME_WAIT", |net| {
        net.node(first)
            .stack
            .sockets()
            .iter()
            .any(|i| i.state == State::TimeWait)
    })?;
    let who = if client_first { "client" } else { "server" };
    counters.push(CounterSnapshot::take(
        &format!("{who} (closed first), in TIME_WAIT"),
        &d.w.net.node(first).stack,
        &["ActiveOpens", "PassiveOpens", "TW", "CurrEstab", "OutSegs"],
    ));
    d.w.until("TIME_WAIT's end", |net| {
        net.node(first)
            .stack
            .sockets()
            .iter()
            .all(|i| i.state != State::TimeWait)
            && net
                .node(second)
                .stack
                .sockets()
                .iter()
                .all(|i| i.remote.is_none())
    })?;
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let (t0, t1) = time_in_state(&ladder, first_side, "TIME-WAIT").unwrap_or((0, 0));
    let tw_side = ladder
        .events
        .iter()
        .find_map(|e| match e {
            crate::ladder::Event::State { side, state, .. } if state == "TIME-WAIT" => {
                Some(if *side == Side::Left {
                    "client"
                } else {
                    "server"
                })
            }
            _ => None,
        })
        .unwrap_or("none");
    let from_estab = |side: Side| {
        let st = ladder.states(side);
        let i = st.iter().position(|s| s == "ESTABLISHED").unwrap_or(0);
        st[i..].to_vec()
    };
    let segments = ladder
        .segments()
        .skip_while(|g| g.kind != "FIN")
        .map(|g| g.label.clone())
        .collect();
    ladders.push(ladder.clone());
    Ok(CloseRun {
        first_closer: who.to_string(),
        time_wait_side: tw_side.to_string(),
        time_wait_s: (t1 - t0) as f64 / 1e6,
        closer_states: from_estab(first_side),
        peer_states: from_estab(if client_first {
            Side::Right
        } else {
            Side::Left
        }),
        segments,
    })
}
