//! `tw-recycle-nat`: the knob Linux removed in 4.12. A server with `tcp_tw_recycle=1`
//! behind a NAT load balancer: its clients' timestamp clocks differ, the server remembers
//! the last timestamp of "the" peer address, and the SYNs of the clients whose clock is
//! behind are silently dropped (seed 000). Off, all connect.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use synack::{EventKind, Instant, SocketHandle};
use synack_sim::{LinkConfig, NodeId};

use super::LabDef;
use crate::nat::Nat;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, sa, v4, Net, World};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "tw-recycle-nat",
    title: "tcp_tw_recycle (removed in Linux 4.12) behind a NAT: some clients' SYNs vanish",
    seeds: "000",
    run: |o| run(o).map(Outcome::into_report),
};

/// Clients behind the load balancer.
const CLIENTS: usize = 2;
/// Each client connects this often.
const EVERY: Duration = Duration::from_millis(500);
/// For this long.
const LOAD: Duration = Duration::from_secs(20);
/// And the lab watches until the last connect() has succeeded or given up.
const WATCH: Duration = Duration::from_secs(160);

/// One client host behind the NAT.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientFigures {
    /// Its address (private, behind the NAT).
    pub address: String,
    /// connect() calls.
    pub attempts: u64,
    /// Answered requests.
    pub served: u64,
    /// connect() calls that failed, by errno.
    pub failures: BTreeMap<String, u64>,
    /// Connections that needed SYN retransmissions (connect() over 900 ms).
    pub slow_connects: u64,
}

/// One setting of the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// Each client.
    pub clients: Vec<ClientFigures>,
    /// SYNs the server dropped for an older timestamp (PAWSPassive).
    pub syns_dropped: u64,
    /// Connections that entered TIME-WAIT at the server.
    pub server_time_waits: u64,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// `tcp_tw_recycle=1` on the server.
    pub recycle_on: Variant,
    /// `tcp_tw_recycle=0` (the default; the only setting since Linux 4.12).
    pub recycle_off: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let recycle_on = one(opts, "tcp_tw_recycle=1", "1", &mut counters, &mut ladders)?;
    let recycle_off = one(
        opts,
        "tcp_tw_recycle=0",
        "0",
        &mut counters,
        &mut Vec::new(),
    )?;
    let figures = Figures {
        recycle_on,
        recycle_off,
    };
    let f = &figures;
    let line = |v: &Variant| {
        v.clients
            .iter()
            .map(|c| format!("{} served {} of {}", c.address, c.served, c.attempts))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let narrative = vec![
        "Two client hosts sit behind a load balancer in NAT mode (LVS, as seed 000 \
         describes): the server sees both as the balancer's one address. Each host \
         stamps its segments with its own timestamp clock (RFC 7323), so from the \
         server's side that one address speaks with two clocks. The server answers each \
         request and closes first, so its side of every connection goes through \
         TIME-WAIT."
            .to_string(),
        format!(
            "With tcp_tw_recycle=1 (Linux before 4.12) the server remembers, per peer \
             address, the last timestamp it saw when a connection entered TIME-WAIT, and \
             for 60 s drops any SYN from that address whose timestamp is older: PAWS \
             across connections, sound only if an address is one host. The client whose \
             clock is behind has its SYNs dropped without a word (no RST, no SYN-ACK: \
             {} dropped, PAWSPassive), retransmits them, and times out: {}.",
            f.recycle_on.syns_dropped,
            line(&f.recycle_on)
        ),
        format!(
            "With the knob off, all connect: {}. Linux removed tcp_tw_recycle in 4.12; \
             synack keeps it, off by default, to show why.",
            line(&f.recycle_off)
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

struct Pending {
    client: usize,
    started: Instant,
    got: usize,
    connected: bool,
}

fn one(
    opts: &Options,
    name: &str,
    recycle: &str,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let over = [("tcp_tw_recycle", recycle)];
    let (vip, inside, backend) = (v4(10, 0, 0, 2), v4(10, 0, 0, 10), v4(10, 0, 0, 3));
    let mut w = World::new(opts.seed);
    let link = LinkConfig::ideal(Duration::from_millis(5));
    let nat = w.add_nat(Nat::new(vip, inside, backend));
    let server = w.add_host(opts.config(100, |_| {}, &over)?, &[backend]);
    w.link(nat, server, link.clone());
    let mut clients: Vec<(NodeId, String)> = Vec::new();
    for i in 0..CLIENTS {
        let ip = v4(10, 0, 1, 1 + i as u8);
        let n = w.add_host(opts.config(1 + i as u64, |_| {}, &over)?, &[ip]);
        w.link(n, nat, link.clone());
        clients.push((n, ip.to_string()));
    }
    let st = w.stack(server);
    let l = st.socket();
    call("bind()", st.bind(l, sa(backend, super::PORT)))?;
    call("listen()", st.listen(l, 128))?;
    let target = sa(vip, super::PORT);
    let mut figs: Vec<ClientFigures> = clients
        .iter()
        .map(|(_, a)| ClientFigures {
            address: a.clone(),
            attempts: 0,
            served: 0,
            failures: BTreeMap::new(),
            slow_connects: 0,
        })
        .collect();
    let mut pending: HashMap<(usize, SocketHandle), Pending> = HashMap::new();
    let mut served_conns: BTreeMap<SocketHandle, usize> = BTreeMap::new();
    if recycle == "1" {
        w.record(
            "between the balancer and the server (both clients' connections)",
            (nat, "balancer 10.0.0.10"),
            (server, "server 10.0.0.3:80"),
            40,
        );
    }
    let start = w.now();
    let mut k = 0u64;
    loop {
        let t = start + EVERY * k as u32;
        if t >= start + LOAD {
            break;
        }
        let idx = (k as usize) % CLIENTS;
        k += 1;
        let (node, _) = clients[idx];
        let cs = w.stack(node);
        let h = cs.socket();
        call("connect()", cs.connect(h, target))?;
        figs[idx].attempts += 1;
        pending.insert(
            (idx, h),
            Pending {
                client: idx,
                started: w.now(),
                got: 0,
                connected: false,
            },
        );
        let next = start + EVERY * k as u32;
        drive(
            &mut w,
            next,
            &clients,
            &mut pending,
            &mut figs,
            server,
            l,
            &mut served_conns,
        );
    }
    drive(
        &mut w,
        start + WATCH,
        &clients,
        &mut pending,
        &mut figs,
        server,
        l,
        &mut served_conns,
    );
    if let Some(i) = w.stop_recording() {
        ladders.push(w.ladders[i].clone());
    }
    let snap = CounterSnapshot::take(
        &format!("server, {name}"),
        &w.net.node(server).stack,
        &["PassiveOpens", "PAWSPassive", "TW"],
    );
    let v = Variant {
        name: name.to_string(),
        clients: figs,
        syns_dropped: snap.get("PAWSPassive"),
        server_time_waits: snap.get("TW"),
    };
    counters.push(snap);
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn drive(
    w: &mut World,
    until: Instant,
    clients: &[(NodeId, String)],
    pending: &mut HashMap<(usize, SocketHandle), Pending>,
    figs: &mut [ClientFigures],
    server: NodeId,
    l: SocketHandle,
    served_conns: &mut BTreeMap<SocketHandle, usize>,
) {
    w.until_or(until, |net: &mut Net| {
        let now = net.now();
        for (i, (node, _)) in clients.iter().enumerate() {
            let cs = &mut net.node_mut(*node).stack;
            while let Some(e) = cs.poll_event() {
                let Some(p) = pending.get_mut(&(i, e.socket)) else {
                    continue;
                };
                match e.kind {
                    EventKind::Connected => {
                        p.connected = true;
                        if (now.total_micros() - p.started.total_micros()) > 900_000 {
                            figs[p.client].slow_connects += 1;
                        }
                        let _ = cs.send(e.socket, b"GET / HTTP/1.0\r\n\r\n");
                    }
                    EventKind::Readable => {
                        let mut buf = [0u8; 1024];
                        loop {
                            match cs.recv(e.socket, &mut buf) {
                                Ok(0) => {
                                    if p.got >= 100 {
                                        figs[p.client].served += 1;
                                    }
                                    let _ = cs.close(e.socket);
                                    pending.remove(&(i, e.socket));
                                    break;
                                }
                                Ok(n) => p.got += n,
                                Err(_) => break,
                            }
                        }
                    }
                    EventKind::Closed(err) => {
                        let what = err.map_or("closed", |e| e.name()).to_string();
                        *figs[p.client].failures.entry(what).or_default() += 1;
                        let _ = cs.close(e.socket);
                        pending.remove(&(i, e.socket));
                    }
                    _ => {}
                }
            }
        }
        // The server answers each request and closes first.
        let ss = &mut net.node_mut(server).stack;
        while let Ok((h, _)) = ss.accept(l) {
            served_conns.insert(h, 0);
        }
        let mut buf = [0u8; 512];
        served_conns.retain(|h, got| {
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
