//! `syn-flood`: spoofed SYNs fill a listener's SYN queue; with `tcp_syncookies=0`
//! legitimate clients are turned away, with 1 every one is served, by SYN cookies that
//! keep no state until the third ACK proves the client real (seed 000; RFC 4987).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use synack::wire::{emit_datagram, tcp::Control, TcpOptions, TcpRepr};
use synack::{EventKind, SeqNum, SocketHandle};
use synack_sim::{LinkConfig, Rng};

use super::LabDef;
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome, SsSummary};
use crate::world::{call, sa, v4, World};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "syn-flood",
    title: "a SYN flood: without cookies clients are turned away, with them all are served",
    seeds: "000",
    run: |o| run(o).map(Outcome::into_report),
};

/// Spoofed SYNs per second.
const FLOOD_RATE: u64 = 2000;
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(100);
/// Legitimate clients per second, during the first 30 s of the flood.
const CLIENT_RATE: u64 = 10;
/// How long the lab watches (past the clients' last SYN retry).
const WATCH: Duration = Duration::from_secs(170);
const TICK: Duration = Duration::from_millis(10);
/// Clients start between 1 s and this, so the flood outlasts their last SYN retry.
const CLIENTS_UNTIL_MS: u64 = 31_000;

/// One setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// Spoofed SYNs sent.
    pub spoofed_syns: u64,
    /// Legitimate clients that tried.
    pub clients: u64,
    /// Clients whose connect() succeeded.
    pub served: u64,
    /// served / clients.
    pub served_ratio: f64,
    /// Clients served within 1 s of connect() (no SYN retransmission needed).
    pub served_at_once: u64,
    /// Median connect() time of the served clients, ms.
    pub median_connect_ms: f64,
    /// Clients whose connect() failed, by errno.
    pub failures: BTreeMap<String, u64>,
    /// The largest SYN queue (half-open requests) seen.
    pub max_syn_queue: usize,
    #[serde(skip)]
    syn_queue: Vec<(f64, f64)>,
    #[serde(skip)]
    accept_queue: Vec<(f64, f64)>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// `tcp_syncookies=0`.
    pub cookies_off: Variant,
    /// `tcp_syncookies=1` (Linux's default: cookies once the SYN queue is full).
    pub cookies_on: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let cookies_off = one(opts, "tcp_syncookies=0", "0", &mut counters, &mut ladders)?;
    let cookies_on = one(opts, "tcp_syncookies=1", "1", &mut counters, &mut ladders)?;
    let mut syn_plot = Plot::new(
        "server SYN queue (half-open requests)",
        "seconds",
        "requests",
    );
    let mut acc_plot = Plot::new("server accept queue", "seconds", "connections");
    for v in [&cookies_off, &cookies_on] {
        syn_plot = syn_plot.with(Series::new(v.name.clone(), v.syn_queue.clone()));
        acc_plot = acc_plot.with(Series::new(v.name.clone(), v.accept_queue.clone()));
    }
    let figures = Figures {
        cookies_off,
        cookies_on,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "An attacker sends {FLOOD_RATE} SYNs a second for {} s from spoofed addresses \
             that never answer. Each takes a slot in the listener's SYN queue and holds it \
             while the server retransmits its SYN-ACK (tcp_synack_retries=5: about a \
             minute). The queue fills within a second ({} entries at most) and stays full. \
             For the first 30 s, {CLIENT_RATE} real clients a second connect.",
            FLOOD.as_secs(),
            f.cookies_off.max_syn_queue
        ),
        format!(
            "With tcp_syncookies=0, a real client's SYN finds the queue full and is dropped; \
             its retransmissions (1, 3, 7, 15, 31, 63 s) find it full too: {} of {} served \
             ({:.1}%), the others fail ({:?}).",
            f.cookies_off.served,
            f.cookies_off.clients,
            100.0 * f.cookies_off.served_ratio,
            f.cookies_off.failures
        ),
        format!(
            "With tcp_syncookies=1, once the queue is full the server answers with a SYN \
             cookie: the SYN-ACK's sequence number encodes the connection, nothing is kept, \
             and the client's ACK brings it back. {} of {} served ({:.1}%), {} of them at \
             once, median connect() {:.1} ms; the spoofed SYNs cost the server nothing but \
             a SYN-ACK each.",
            f.cookies_on.served,
            f.cookies_on.clients,
            100.0 * f.cookies_on.served_ratio,
            f.cookies_on.served_at_once,
            f.cookies_on.median_connect_ms
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        vec![syn_plot, acc_plot],
    ))
}

fn spoofed_syn(rng: &mut Rng, server: std::net::SocketAddr, buf: &mut [u8]) -> Option<usize> {
    let r = rng.next_u64();
    // 198.18.0.0/15, the benchmarking range: nobody answers from there.
    let src = IpAddr::from([198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8]);
    let syn = TcpRepr {
        src_port: 1024 + ((r >> 24) as u16 % 60000),
        dst_port: server.port(),
        seq: SeqNum((r >> 32) as u32),
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
    emit_datagram(buf, src, server.ip(), 64, &syn).ok()
}

fn one(
    opts: &Options,
    name: &str,
    cookies: &str,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let over = [("tcp_syncookies", cookies)];
    let (cip, sip, aip) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2), v4(10, 0, 0, 66));
    let mut w = World::new(opts.seed);
    let c = w.add_host(opts.config(1, |_| {}, &over)?, &[cip]);
    let s = w.add_host(opts.config(2, |_| {}, &over)?, &[sip]);
    let a = w.add_host(opts.config(3, |_| {}, &over)?, &[aip]);
    let link = LinkConfig::ideal(Duration::from_millis(10));
    w.link(c, s, link.clone());
    w.link(a, s, link);
    let server = sa(sip, super::PORT);
    let st = w.stack(s);
    let l = st.socket();
    call("bind()", st.bind(l, server))?;
    call("listen()", st.listen(l, 4096))?;
    let mut rng = Rng::new(crate::mix(opts.seed, 99));
    let mut buf = [0u8; 128];
    let start = w.now();
    let mut started: HashMap<SocketHandle, synack::Instant> = HashMap::new();
    let mut connect_ms: Vec<f64> = Vec::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let (mut spoofed, mut clients) = (0u64, 0u64);
    let mut v = Variant {
        name: name.to_string(),
        spoofed_syns: 0,
        clients: 0,
        served: 0,
        served_ratio: 0.0,
        served_at_once: 0,
        median_connect_ms: 0.0,
        failures: BTreeMap::new(),
        max_syn_queue: 0,
        syn_queue: Vec::new(),
        accept_queue: Vec::new(),
    };
    let ticks = (WATCH.as_millis() / TICK.as_millis()) as u64;
    let per_tick = FLOOD_RATE * TICK.as_millis() as u64 / 1000;
    let client_every = 1000 / CLIENT_RATE / TICK.as_millis() as u64;
    for tick in 0..ticks {
        let t = tick * TICK.as_millis() as u64;
        let in_flood = t >= 500 && t < 500 + FLOOD.as_millis() as u64;
        if in_flood {
            for _ in 0..per_tick {
                if let Some(n) = spoofed_syn(&mut rng, server, &mut buf) {
                    w.net.send_from(a, &buf[..n]);
                    spoofed += 1;
                }
            }
        }
        if in_flood && (1000..CLIENTS_UNTIL_MS).contains(&t) && tick % client_every == 0 {
            let cs = w.stack(c);
            let h = cs.socket();
            if t == 2000 {
                w.record(
                    &format!("{name}: a real client at 2 s, the SYN queue full"),
                    (c, "client 10.0.0.1"),
                    (s, "server 10.0.0.2:80"),
                    30,
                );
                w.note("1024 spoofed requests fill the SYN queue");
            }
            let cs = w.stack(c);
            call("client connect()", cs.connect(h, server))?;
            if t == 2000 {
                let port = call("getsockname()", cs.local_addr(h))?.port();
                w.record_filter(move |l, _| l.port() == port);
            }
            started.insert(h, w.now());
            clients += 1;
        }
        if tick % 50 == 0 {
            let now_s = t as f64 / 1000.0;
            let q = SsSummary::of(&w.net.node(s).stack).syn_recv;
            v.max_syn_queue = v.max_syn_queue.max(q);
            v.syn_queue.push((now_s, q as f64));
            let acc = w.net.node(s).stack.socket_info(l).map_or(0, |i| i.recv_q);
            v.accept_queue.push((now_s, acc as f64));
        }
        let target = start + Duration::from_millis(t) + TICK;
        w.until_or(target, |net| {
            while let Some(e) = net.node_mut(c).stack.poll_event() {
                let Some(t0) = started.get(&e.socket).copied() else {
                    continue;
                };
                match e.kind {
                    EventKind::Connected => {
                        let ms = (net.now().total_micros() - t0.total_micros()) as f64 / 1e3;
                        connect_ms.push(ms);
                        started.remove(&e.socket);
                    }
                    EventKind::Closed(err) => {
                        let name = err.map_or("closed", |e| e.name()).to_string();
                        *failures.entry(name).or_default() += 1;
                        started.remove(&e.socket);
                    }
                    _ => {}
                }
            }
            let ss = &mut net.node_mut(s).stack;
            while let Ok((h, _)) = ss.accept(l) {
                let _ = ss.close(h);
            }
            false
        });
    }
    if let Some(idx) = w.stop_recording() {
        ladders.push(w.ladders[idx].clone());
    }
    counters.push(CounterSnapshot::take(
        &format!("server, {name}"),
        &w.net.node(s).stack,
        &[
            "PassiveOpens",
            "ListenDrops",
            "ListenOverflows",
            "SyncookiesSent",
            "SyncookiesRecv",
            "SyncookiesFailed",
        ],
    ));
    connect_ms.sort_by(f64::total_cmp);
    v.spoofed_syns = spoofed;
    v.clients = clients;
    v.served = connect_ms.len() as u64;
    v.served_ratio = if clients == 0 {
        0.0
    } else {
        v.served as f64 / clients as f64
    };
    v.served_at_once = connect_ms.iter().filter(|&&m| m < 1000.0).count() as u64;
    v.median_connect_ms = connect_ms
        .get(connect_ms.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    v.failures = failures;
    Ok(v)
}
