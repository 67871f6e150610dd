//! `handshake`: the three-way handshake with random ISNs and every state; and why not
//! two: an old duplicate SYN (seeds 000, 001, 002; RFC 9293 section 3.5, figure 8).

use std::time::Duration;

use serde::Serialize;
use synack::wire::{emit_datagram, tcp::Control, TcpOptions, TcpRepr};
use synack::SeqNum;

use super::{lan, Duo, LabDef};
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::sa;
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "handshake",
    title: "the three-way handshake, random ISNs, and why two steps are not enough",
    seeds: "000, 001, 002",
    run: |o| run(o).map(Outcome::into_report),
};

/// What the old duplicate SYN did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OldDuplicate {
    /// The old SYN's sequence number (an ISN of a connection long gone).
    pub old_isn: u32,
    /// The client's ISN for the connection it really opens.
    pub client_isn: u32,
    /// The server answered the old SYN with a SYN-ACK acknowledging old_isn+1.
    pub server_answered_old_syn: bool,
    /// The client, which never sent that SYN, answered the SYN-ACK with a RST.
    pub client_reset_it: bool,
    /// No half-open connection was left at the server after the RST.
    pub server_dropped_it: bool,
    /// Connections the server accepted in all (1: only the real one).
    pub accepted: usize,
    /// The accepted connection is the real one (its SYN-ACK acknowledges client_isn+1).
    pub accepted_is_current: bool,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The client's initial sequence number (x).
    pub client_isn: u32,
    /// The server's (y).
    pub server_isn: u32,
    /// The states the client went through.
    pub client_states: Vec<String>,
    /// The states the server's side went through.
    pub server_states: Vec<String>,
    /// Segments in the handshake.
    pub handshake_segments: usize,
    /// When connect() completed, ms after it was called (one round trip).
    pub client_connected_ms: f64,
    /// When the server's side was ESTABLISHED, ms after connect() (1.5 round trips).
    pub server_established_ms: f64,
    /// The old duplicate SYN.
    pub old_duplicate: OldDuplicate,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut d = Duo::new(opts, |_| {}, &[], &[], lan())?;
    let l = d.listen(128)?;
    let (c, s) = (d.c, d.s);
    d.w.record(
        "the three-way handshake",
        (c, "client 10.0.0.1"),
        (s, "server 10.0.0.2:80"),
        40,
    );
    let t0 = d.w.now();
    let h = d.connect(None)?;
    let _accepted = d.establish(h, l)?;
    d.w.run_for(Duration::from_millis(20));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = &d.w.ladders[idx];
    let syn = ladder.segments().find(|s| s.kind == "SYN").cloned();
    let synack = ladder.segments().find(|s| s.kind == "SYN-ACK").cloned();
    let (Some(syn), Some(synack)) = (syn, synack) else {
        return Err(LabError::Scenario(
            "the handshake's SYN or SYN-ACK was not seen".into(),
        ));
    };
    let handshake_segments = ladder
        .segments()
        .take_while(|s| !(s.from == Side::Right && s.kind != "SYN-ACK"))
        .filter(|s| s.len == 0)
        .count()
        .min(3);
    let mut client_states = vec!["CLOSED".to_string()];
    client_states.extend(ladder.states(Side::Left));
    let mut server_states = vec!["LISTEN".to_string()];
    server_states.extend(ladder.states(Side::Right));
    let at = |side: Side| {
        ladder.events.iter().find_map(|e| match e {
            crate::ladder::Event::State {
                at_us,
                side: sd,
                state,
                ..
            } if *sd == side && state == "ESTABLISHED" => Some(*at_us),
            _ => None,
        })
    };
    let t0us = t0.total_micros();
    let client_connected_ms = at(Side::Left).map_or(f64::NAN, |t| (t - t0us) as f64 / 1e3);
    let server_established_ms = at(Side::Right).map_or(f64::NAN, |t| (t - t0us) as f64 / 1e3);

    // Part two: an old duplicate SYN from the same port arrives before the real one.
    let old = old_duplicate(&mut d, l)?;
    let counters = vec![
        CounterSnapshot::take(
            "client",
            &d.w.net.node(c).stack,
            &[
                "ActiveOpens",
                "AttemptFails",
                "OutRsts",
                "InSegs",
                "OutSegs",
            ],
        ),
        CounterSnapshot::take(
            "server",
            &d.w.net.node(s).stack,
            &[
                "PassiveOpens",
                "AttemptFails",
                "TcpPassiveEstab",
                "InSegs",
                "OutSegs",
            ],
        ),
    ];
    let figures = Figures {
        client_isn: syn.seq,
        server_isn: synack.seq,
        client_states,
        server_states,
        handshake_segments,
        client_connected_ms,
        server_established_ms,
        old_duplicate: old,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "The client calls connect(): its SYN carries a random initial sequence number, \
             x = {} (RFC 6528: a keyed hash of the addresses plus a clock), and the client \
             is SYN-SENT. The server, LISTEN, answers with its own random ISN y = {} and \
             ack=x+1: SYN-RECV. The client's ACK seq=x+1 ack=y+1 completes it: the client \
             is ESTABLISHED after one round trip ({:.0} ms), the server half a round trip \
             later ({:.0} ms). A SYN consumes one sequence number, so data starts at x+1.",
            f.client_isn, f.server_isn, f.client_connected_ms, f.server_established_ms
        ),
        format!(
            "Why not two steps? A SYN from an old connection (seq={}, long delayed in the \
             network) reaches the server first. With two steps the server would now be \
             ESTABLISHED with nobody, waiting for data. With three, the server only answers \
             (SYN-ACK ack=old+1) and the client, which knows it never sent that SYN, \
             answers with a RST: the server drops the half-open connection ({}). Then the \
             real SYN (x'={}) arrives and the handshake completes: the server accepted {} \
             connection(s), the real one: {}.",
            f.old_duplicate.old_isn,
            if f.old_duplicate.server_dropped_it {
                "dropped"
            } else {
                "NOT dropped"
            },
            f.old_duplicate.client_isn,
            f.old_duplicate.accepted,
            f.old_duplicate.accepted_is_current
        ),
        "Change a knob and run again: --sysctl net.ipv4.tcp_timestamps=0 removes the \
         timestamp option from the SYNs; --seed N draws other ISNs."
            .to_string(),
    ];
    let ladders = d.w.ladders.clone();
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

/// The RFC 9293 figure 8 scenario: the old SYN arrives first, the client resets it.
fn old_duplicate(d: &mut Duo, l: synack::SocketHandle) -> Result<OldDuplicate, LabError> {
    const PORT: u16 = 40_000;
    let (c, s, link) = (d.c, d.s, d.link);
    d.w.record(
        "why three steps: an old duplicate SYN",
        (c, "client 10.0.0.1:40000"),
        (s, "server 10.0.0.2:80"),
        40,
    );
    d.w.record_filter(|l, _| l.port() == PORT);
    // The old duplicate: a SYN of a connection that no longer exists, same 4-tuple.
    let old_isn = d.w.net.node(c).stack.now().total_micros() as u32 ^ 0x5a5a_0000;
    let syn = TcpRepr {
        src_port: PORT,
        dst_port: super::PORT,
        seq: SeqNum(old_isn),
        ack: None,
        control: Control::Syn,
        psh: false,
        ece: false,
        cwr: false,
        window: 64240,
        urgent: None,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = [0u8; 128];
    let n = emit_datagram(&mut buf, d.caddr, d.server.ip(), 64, &syn)
        .map_err(|e| LabError::Scenario(format!("building the old SYN: {e:?}")))?;
    d.w.note("an old duplicate SYN (x) of the same 4-tuple is still in the network");
    d.w.net.send_from(c, &buf[..n]);
    // The real SYN is held up on the way (50 ms instead of 10).
    let cfg = d.w.net.link_config_mut(link, c);
    cfg.reorder = 1.0;
    cfg.reorder_delay = Duration::from_millis(40);
    d.w.note("the client connects (SYN x'); its SYN is slow on the way (50 ms)");
    let h = d.connect(Some(PORT))?;
    d.w.sync();
    d.w.net.link_config_mut(link, c).reorder = 0.0;
    // After the old SYN's round trip and the RST's trip: is anything half-open?
    d.w.run_for(Duration::from_millis(35));
    let half_open = crate::report::SsSummary::of(&d.w.net.node(s).stack).syn_recv;
    let mut accepted = 0;
    let server = d.server;
    let client = sa(d.caddr, PORT);
    d.w.until("the real handshake", |net| {
        while net.node_mut(s).stack.accept(l).is_ok() {
            accepted += 1;
        }
        super::conn_state(&net.node(c).stack, client, server) == synack::State::Established
            && accepted > 0
    })?;
    d.w.run_for(Duration::from_millis(20));
    while d.w.stack(s).accept(l).is_ok() {
        accepted += 1;
    }
    let _ = h;
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = &d.w.ladders[idx];
    let real_syn = ladder
        .segments()
        .find(|g| g.kind == "SYN" && g.from == Side::Left && g.seq != old_isn)
        .map_or(0, |g| g.seq);
    let answered = ladder
        .segments()
        .any(|g| g.kind == "SYN-ACK" && g.ack == old_isn.wrapping_add(1));
    let reset = ladder
        .segments()
        .any(|g| g.kind == "RST" && g.from == Side::Left && g.seq == old_isn.wrapping_add(1));
    let current = ladder.segments().any(|g| {
        g.kind == "SYN-ACK" && g.ack == real_syn.wrapping_add(1) && g.arrived_us.is_some()
    });
    Ok(OldDuplicate {
        old_isn,
        client_isn: real_syn,
        server_answered_old_syn: answered,
        client_reset_it: reset,
        server_dropped_it: half_open == 0,
        accepted,
        accepted_is_current: current && accepted == 1,
    })
}
