//! `accept-overflow`: a program that accepts too slowly. When the accept queue is full,
//! `tcp_abort_on_overflow=0` drops the handshake's third ACK (the server retransmits its
//! SYN-ACK, and the client, which believes it is connected, waits) while `=1` answers it
//! with a RST; and `listen(backlog)` is capped by `net.core.somaxconn` (seed 000).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use synack::{EventKind, SocketHandle};

use super::{lan, Duo, LabDef};
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome, SsSummary};
use crate::world::call;
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "accept-overflow",
    title: "an application that accepts too slowly: tcp_abort_on_overflow 0 against 1; somaxconn",
    seeds: "000",
    run: |o| run(o).map(Outcome::into_report),
};

/// listen()'s backlog in the lab.
const BACKLOG: u32 = 8;
/// Clients: two bursts of `BACKLOG`.
const CLIENTS: u64 = 2 * BACKLOG as u64;
/// The server program accepts one connection this often.
const ACCEPT_EVERY: Duration = Duration::from_secs(1);
/// How long the lab watches.
const WATCH: Duration = Duration::from_secs(60);

/// One setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// The listener's effective backlog (what `ss -lnt` shows as Send-Q).
    pub backlog: usize,
    /// Clients whose request was answered.
    pub served: u64,
    /// Clients whose connection failed, by errno.
    pub failures: BTreeMap<String, u64>,
    /// The most clients that were ESTABLISHED, as far as they knew, while the server had
    /// no connection for them (the third ACK dropped).
    pub max_phantom_connections: usize,
    /// Times the accept queue overflowed (ListenOverflows).
    pub listen_overflows: u64,
    /// SYN-ACKs the server retransmitted.
    pub synack_retransmits: u64,
    /// RSTs the server sent.
    pub resets_sent: u64,
    /// The slowest answered request, seconds after connect().
    pub slowest_s: f64,
    #[serde(skip)]
    phantom: Vec<(f64, f64)>,
    #[serde(skip)]
    accept_queue: Vec<(f64, f64)>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// `tcp_abort_on_overflow=0` (Linux's default).
    pub abort_off: Variant,
    /// `tcp_abort_on_overflow=1`.
    pub abort_on: Variant,
    /// listen(4096) with `net.core.somaxconn=128`: the effective backlog.
    pub listen_4096_somaxconn_128: usize,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let abort_off = one(
        opts,
        "tcp_abort_on_overflow=0",
        "0",
        &mut counters,
        &mut ladders,
    )?;
    let abort_on = one(
        opts,
        "tcp_abort_on_overflow=1",
        "1",
        &mut counters,
        &mut ladders,
    )?;
    let mut d = Duo::new(opts, |_| {}, &[], &[("net.core.somaxconn", "128")], lan())?;
    let l = d.listen(4096)?;
    let capped =
        d.w.net
            .node(d.s)
            .stack
            .socket_info(l)
            .map_or(0, |i| i.send_q);
    let mut q = Plot::new(
        "accept queue",
        "seconds",
        "connections waiting for accept()",
    );
    let mut p = Plot::new(
        "clients ESTABLISHED that the server does not know",
        "seconds",
        "connections",
    );
    for v in [&abort_off, &abort_on] {
        q = q.with(Series::new(v.name.clone(), v.accept_queue.clone()));
        p = p.with(Series::new(v.name.clone(), v.phantom.clone()));
    }
    let figures = Figures {
        abort_off,
        abort_on,
        listen_4096_somaxconn_128: capped,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A server listen()s with a backlog of {BACKLOG} and accept()s one connection \
             every {} ms. {BACKLOG} clients connect at once, and {BACKLOG} more 100 ms \
             later: the first burst fills the accept queue ({} is the backlog; Linux holds \
             one more), the second burst's handshakes complete into a full queue.",
            ACCEPT_EVERY.as_millis(),
            f.abort_off.backlog
        ),
        format!(
            "With tcp_abort_on_overflow=0 the server drops the third ACK of every handshake \
             that finds the queue full, and any SYN that arrives while it is full \
             ({} overflows): up to {} clients at once are ESTABLISHED, as far as they know, \
             and have sent their request, while the server has nothing but a half-open \
             request; it retransmits its SYN-ACK ({} times, after 1, 2, 4... s), the client \
             acknowledges again, and once a slot is free that ACK completes the handshake. \
             Everyone is served, slowly ({} of {CLIENTS}; the slowest after {:.1} s).",
            f.abort_off.listen_overflows,
            f.abort_off.max_phantom_connections,
            f.abort_off.synack_retransmits,
            f.abort_off.served,
            f.abort_off.slowest_s
        ),
        format!(
            "With tcp_abort_on_overflow=1 the server answers that ACK with a RST: {} of \
             {CLIENTS} clients are served, the others see {:?} at once. Linux's default is \
             0: a short burst is absorbed by retransmissions instead of turned into errors. \
             And listen(4096) gives a backlog of {} with net.core.somaxconn=128: the sysctl \
             caps what programs ask for.",
            f.abort_on.served, f.abort_on.failures, f.listen_4096_somaxconn_128
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        vec![q, p],
    ))
}

#[derive(Default)]
struct Client {
    started: Option<synack::Instant>,
    got: usize,
}

fn one(
    opts: &Options,
    name: &str,
    abort: &str,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let over = [("tcp_abort_on_overflow", abort)];
    let mut d = Duo::new(opts, |_| {}, &over, &over, lan())?;
    let l = d.listen(BACKLOG)?;
    let (c, s) = (d.c, d.s);
    let backlog = d.w.net.node(s).stack.socket_info(l).map_or(0, |i| i.send_q);
    let start = d.w.now();
    let mut clients: HashMap<SocketHandle, Client> = HashMap::new();
    let mut served = 0u64;
    let mut slowest = 0f64;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut server_conns: Vec<(SocketHandle, usize)> = Vec::new();
    let mut v = Variant {
        name: name.to_string(),
        backlog,
        served: 0,
        failures: BTreeMap::new(),
        max_phantom_connections: 0,
        listen_overflows: 0,
        synack_retransmits: 0,
        resets_sent: 0,
        slowest_s: 0.0,
        phantom: Vec::new(),
        accept_queue: Vec::new(),
    };
    let tick = Duration::from_millis(10);
    let ticks = (WATCH.as_millis() / tick.as_millis()) as u64;
    let mut next_accept = start;
    let server = d.server;
    let abort_ladder = true;
    for i in 0..ticks {
        let now = d.w.now();
        if i == 0 || i == 10 {
            // Two bursts of `BACKLOG` clients, 100 ms apart: the first fills the accept
            // queue, the second's handshakes complete into a full queue.
            for k in 0..BACKLOG {
                let cs = d.w.stack(c);
                let h = cs.socket();
                call("connect()", cs.connect(h, server))?;
                if i == 10 && k + 1 == BACKLOG && abort_ladder {
                    let port = call("getsockname()", cs.local_addr(h))?.port();
                    d.w.record(
                        &format!("{name}: the last client of the second burst"),
                        (c, "client 10.0.0.1"),
                        (s, "server 10.0.0.2:80"),
                        40,
                    );
                    d.w.record_filter(move |l, _| l.port() == port);
                }
                clients.insert(
                    h,
                    Client {
                        started: Some(now),
                        got: 0,
                    },
                );
            }
        }
        if now >= next_accept {
            next_accept = now + ACCEPT_EVERY;
            if let Ok((h, _)) = d.w.stack(s).accept(l) {
                server_conns.push((h, 0));
            }
        }
        if i % 5 == 0 {
            let t = (now.total_micros() - start.total_micros()) as f64 / 1e6;
            let cl = SsSummary::of(&d.w.net.node(c).stack);
            let sv = SsSummary::of(&d.w.net.node(s).stack);
            // Connections the server has: in the accept queue or accepted and open.
            let known = sv.estab + sv.close_wait + sv.last_ack + sv.fin_wait1 + sv.fin_wait2;
            let phantom = cl.estab.saturating_sub(known);
            v.max_phantom_connections = v.max_phantom_connections.max(phantom);
            v.phantom.push((t, phantom as f64));
            let acc = d.w.net.node(s).stack.socket_info(l).map_or(0, |i| i.recv_q);
            v.accept_queue.push((t, acc as f64));
        }
        let target = now + tick;
        d.w.until_or(target, |net| {
            let at = net.now();
            let cs = &mut net.node_mut(c).stack;
            while let Some(e) = cs.poll_event() {
                let Some(cl) = clients.get_mut(&e.socket) else {
                    continue;
                };
                match e.kind {
                    EventKind::Connected => {
                        let _ = cs.send(e.socket, b"GET / HTTP/1.0\r\n\r\n");
                    }
                    EventKind::Readable => {
                        let mut buf = [0u8; 512];
                        while let Ok(n) = cs.recv(e.socket, &mut buf) {
                            if n == 0 {
                                break;
                            }
                            cl.got += n;
                        }
                        if cl.got >= 100 {
                            if let Some(t0) = cl.started.take() {
                                served += 1;
                                let secs = (at.total_micros() - t0.total_micros()) as f64;
                                slowest = slowest.max(secs / 1e6);
                                let _ = cs.close(e.socket);
                            }
                        }
                    }
                    EventKind::Closed(Some(err)) if cl.started.take().is_some() => {
                        *failures.entry(err.name().to_string()).or_default() += 1;
                        let _ = cs.close(e.socket);
                    }
                    _ => {}
                }
            }
            let ss = &mut net.node_mut(s).stack;
            let mut buf = [0u8; 512];
            server_conns.retain_mut(|(h, got)| {
                while let Ok(n) = ss.recv(*h, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    *got += n;
                }
                if *got >= 18 {
                    let _ = ss.send(*h, &[b'r'; 100]);
                    let _ = ss.close(*h);
                    return false;
                }
                true
            });
            false
        });
    }
    if let Some(idx) = d.w.stop_recording() {
        ladders.push(d.w.ladders[idx].clone());
    }
    let snap = CounterSnapshot::take(
        &format!("server, {name}"),
        &d.w.net.node(s).stack,
        &[
            "PassiveOpens",
            "ListenOverflows",
            "ListenDrops",
            "RetransSegs",
            "OutRsts",
        ],
    );
    v.listen_overflows = snap.get("ListenOverflows");
    v.synack_retransmits = snap.get("RetransSegs");
    v.resets_sent = snap.get("OutRsts");
    counters.push(snap);
    v.served = served;
    v.slowest_s = (slowest * 1000.0).round() / 1000.0;
    v.failures = failures;
    Ok(v)
}
