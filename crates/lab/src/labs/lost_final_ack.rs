//! `lost-final-ack`: why TIME_WAIT exists, reason one. The last ACK of the close is lost,
//! the server retransmits its FIN, and TIME_WAIT is there to answer it; without TIME_WAIT
//! the retransmitted FIN meets a closed port and the server gets a RST (seeds 000, 004;
//! RFC 9293 section 3.6).

use std::time::Duration;

use serde::Serialize;
use synack::State;

use super::{lan, time_in_state, Duo, LabDef};
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, drain, sa};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "lost-final-ack",
    title: "why TIME_WAIT exists (1): the last ACK is lost and the FIN comes again",
    seeds: "000, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// What the client does after its last ACK.
    pub name: String,
    /// The client's last ACK was lost (the lab makes sure of it).
    pub final_ack_lost: bool,
    /// FINs the server sent in all (1 + retransmissions).
    pub server_fins: usize,
    /// What the client answered the retransmitted FIN with: "ACK" or "RST".
    pub client_answer: String,
    /// The server's connection ended cleanly (LAST-ACK to CLOSED on an ACK).
    pub server_closed_cleanly: bool,
    /// The server got a RST instead.
    pub server_got_rst: bool,
    /// Seconds the client spent in TIME-WAIT (0 when it skipped it); the retransmitted
    /// FIN restarts the 60 s.
    pub client_time_wait_s: f64,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// With TIME-WAIT, as Linux does.
    pub with_time_wait: Variant,
    /// With TIME-WAIT skipped (`tcp_max_tw_buckets=0` at the client: no room for it).
    pub without_time_wait: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let with = one(
        opts,
        "TIME-WAIT (Linux's default)",
        &[],
        &mut counters,
        &mut ladders,
    )?;
    let without = one(
        opts,
        "TIME-WAIT skipped (client tcp_max_tw_buckets=0)",
        &[("tcp_max_tw_buckets", "0")],
        &mut counters,
        &mut ladders,
    )?;
    let figures = Figures {
        with_time_wait: with,
        without_time_wait: without,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "The client closes first; the server acknowledges, closes too and is LAST-ACK. \
             The client's last ACK (ack=v+1) is lost. The server cannot tell, so its \
             retransmission timer sends the FIN again ({} FINs in all). The client is still \
             in TIME-WAIT, recognises the FIN and acknowledges it again ({}), restarting \
             its 60 s (it stays {:.1} s in all); the server's connection ends cleanly: {}.",
            f.with_time_wait.server_fins,
            f.with_time_wait.client_answer,
            f.with_time_wait.client_time_wait_s,
            f.with_time_wait.server_closed_cleanly
        ),
        format!(
            "Cut TIME-WAIT short (here with tcp_max_tw_buckets=0 at the client, the knob \
             seeds 000 and 004 name: no room left, so the client goes straight to CLOSED) and \
             the retransmitted FIN finds nothing: the client answers {}, and the server's \
             close ends in a reset instead of an orderly close (server got a RST: {}). That \
             is why the active closer waits 2MSL: to answer the peer's FIN as long as it can \
             come again.",
            f.without_time_wait.client_answer, f.without_time_wait.server_got_rst
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
    name: &str,
    client_overrides: &[(&str, &str)],
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let mut d = Duo::new(opts, |_| {}, client_overrides, &[], lan())?;
    let l = d.listen(128)?;
    let (c, s, link) = (d.c, d.s, d.link);
    let hc = d.connect(None)?;
    let hs = d.establish(hc, l)?;
    let local = call("getsockname()", d.w.stack(c).local_addr(hc))?;
    let server = d.server;
    d.w.record(name, (c, "client 10.0.0.1"), (s, "server 10.0.0.2:80"), 40);
    call("client close()", d.w.stack(c).close(hc))?;
    let mut eof = false;
    d.w.until("end of stream at the server", |net| {
        eof = eof || drain(&mut net.node_mut(s).stack, hs, &mut Vec::new()).0;
        eof && super::conn_state(&net.node(c).stack, local, server) == State::FinWait2
    })?;
    d.w.run_for(Duration::from_millis(50));
    call("server close()", d.w.stack(s).close(hs))?;
    // The moment the client has taken the server's FIN, its next segment is the last
    // ACK: the link toward the server loses it.
    d.w.until("the server's FIN at the client", |net| {
        let st = super::conn_state(&net.node(c).stack, local, server);
        let done = st != State::FinWait2;
        if done {
            net.link_config_mut(link, c).loss = 1.0;
        }
        done
    })?;
    d.w.net.link_config_mut(link, c).loss = 0.0;
    let sref = sa(server.ip(), server.port());
    d.w.until("the server's close", |net| {
        super::conn_state(&net.node(s).stack, sref, local) == State::Closed
    })?;
    d.w.until("the client's TIME-WAIT end", |net| {
        super::conn_state(&net.node(c).stack, local, server) == State::Closed
    })?;
    counters.push(CounterSnapshot::take(
        &format!("server, {name}"),
        &d.w.net.node(s).stack,
        &["RetransSegs", "TCPTimeouts", "EstabResets"],
    ));
    counters.push(CounterSnapshot::take(
        &format!("client, {name}"),
        &d.w.net.node(c).stack,
        &["TW", "TCPTimeWaitOverflow", "OutRsts"],
    ));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let segs: Vec<_> = ladder.segments().collect();
    let server_fins = segs
        .iter()
        .filter(|g| g.from == Side::Right && g.kind == "FIN")
        .count();
    let last_fin = segs
        .iter()
        .rposition(|g| g.from == Side::Right && g.kind == "FIN");
    let final_ack_lost = segs
        .iter()
        .any(|g| g.from == Side::Left && g.kind == "ACK" && g.arrived_us.is_none());
    let answer = last_fin
        .and_then(|i| segs[i..].iter().find(|g| g.from == Side::Left))
        .map_or("nothing".to_string(), |g| g.kind.clone());
    let server_got_rst = segs.iter().any(|g| g.from == Side::Left && g.kind == "RST");
    let server_states = ladder.states(Side::Right);
    let server_closed_cleanly =
        !server_got_rst && server_states.ends_with(&["LAST-ACK".to_string(), "CLOSED".to_string()]);
    let tw =
        time_in_state(&ladder, Side::Left, "TIME-WAIT").map_or(0.0, |(a, b)| (b - a) as f64 / 1e6);
    ladders.push(ladder);
    Ok(Variant {
        name: name.to_string(),
        final_ack_lost,
        server_fins,
        client_answer: answer,
        server_closed_cleanly,
        server_got_rst,
        client_time_wait_s: tw,
    })
}
