//! Many short request/response exchanges between a client program and a server program,
//! at a steady rate, with the socket counts sampled as `ss -s` would show them: the
//! load behind the TIME_WAIT and CLOSE_WAIT labs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use serde::Serialize;
use synack::{Error, EventKind, SocketHandle, Stack};
use synack_sim::NodeId;

use crate::report::SsSummary;
use crate::world::{secs, World};
use crate::LabError;

/// How long the client program waits after a failed connect() before it tries another
/// (requests meanwhile fail at once), as connection pools and circuit breakers do.
pub(crate) const BACKOFF: Duration = Duration::from_millis(100);

/// What the two programs do.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    /// New requests per second.
    pub rate: f64,
    /// How long requests keep coming.
    pub duration: Duration,
    /// How long to keep watching after the last request.
    pub linger: Duration,
    /// Request and response sizes.
    pub request: usize,
    /// Response size.
    pub response: usize,
    /// Requests per connection before the client closes it (1: short connections;
    /// more: HTTP keep-alive with nginx's `keepalive_requests`).
    pub requests_per_conn: usize,
    /// The server closes its side when it reads end of stream (false: the leak).
    pub server_closes: bool,
    /// Sampling period.
    pub sample_every: Duration,
    /// Local port whose use by an outgoing connection is counted.
    pub watch_port: Option<u16>,
}

/// One sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds of virtual time.
    pub t: f64,
    /// Requests answered in the last period.
    pub ok: u64,
    /// Connection attempts that failed in the last period.
    pub failed: u64,
    /// The client's sockets.
    pub client: SsSummary,
    /// The server's sockets.
    pub server: SsSummary,
}

/// What happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrafficStats {
    /// Requests the client wanted to make.
    pub requests: u64,
    /// Requests answered in full.
    pub answered: u64,
    /// connect() calls.
    pub connects: u64,
    /// connect() calls that failed at once, by errno.
    pub connect_errors: BTreeMap<String, u64>,
    /// Connections that failed later, by errno.
    pub conn_errors: BTreeMap<String, u64>,
    /// Requests that failed: connect() failed, or the program was backing off after a
    /// failed connect().
    pub failed_requests: u64,
    /// When the first connect() failed, seconds.
    pub first_failure_s: Option<f64>,
    /// Outgoing connections that used the watched local port.
    pub watched_port_uses: u64,
    /// Samples over time.
    pub samples: Vec<Sample>,
}

impl TrafficStats {
    /// The largest TIME-WAIT count the client had.
    pub fn max_client_time_wait(&self) -> usize {
        self.samples
            .iter()
            .map(|s| s.client.time_wait)
            .max()
            .unwrap_or(0)
    }

    /// connect() failures with EADDRNOTAVAIL.
    pub fn eaddrnotavail(&self) -> u64 {
        self.connect_errors
            .get("EADDRNOTAVAIL")
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Default)]
struct ClientConn {
    connected: bool,
    got: usize,
    done: usize,
    busy: bool,
}

/// Runs the traffic from `client` to `server` (a listener `l` on `server_addr`).
pub(crate) fn run(
    w: &mut World,
    t: &Traffic,
    client: NodeId,
    server: NodeId,
    l: SocketHandle,
    server_addr: std::net::SocketAddr,
) -> Result<TrafficStats, LabError> {
    let mut st = TrafficStats::default();
    let mut conns: HashMap<SocketHandle, ClientConn> = HashMap::new();
    let mut idle: VecDeque<SocketHandle> = VecDeque::new();
    let mut queued: u64 = 0; // requests waiting for a connection
    let mut served: HashMap<SocketHandle, usize> = HashMap::new();
    let mut srv_closed: HashSet<SocketHandle> = HashSet::new();
    let start = w.now();
    let period = Duration::from_secs_f64(1.0 / t.rate);
    let end = start + t.duration;
    let stop = end + t.linger;
    let mut next_req = start;
    let mut backoff_until = start;
    let mut next_sample = start + t.sample_every;
    let (mut ok_i, mut fail_i) = (0u64, 0u64);
    let mut buf = vec![0u8; t.response.max(t.request).max(1)];
    let request = vec![b'q'; t.request];
    let response = vec![b'r'; t.response];
    loop {
        let now = w.now();
        if now >= next_sample {
            st.samples.push(Sample {
                t: secs(now) - secs(start),
                ok: ok_i,
                failed: fail_i,
                client: SsSummary::of(&w.net.node(client).stack),
                server: SsSummary::of(&w.net.node(server).stack),
            });
            ok_i = 0;
            fail_i = 0;
            next_sample += t.sample_every;
        }
        if now >= stop {
            break;
        }
        while now >= next_req && next_req < end {
            next_req += period;
            st.requests += 1;
            queued += 1;
        }
        // Hand queued requests to idle keep-alive connections, or open new ones.
        let cs = &mut w.net.node_mut(client).stack;
        while queued > 0 {
            if let Some(h) = idle.pop_front() {
                queued -= 1;
                if let Some(c) = conns.get_mut(&h) {
                    c.busy = true;
                    c.got = 0;
                    let _ = cs.send(h, &request);
                }
                continue;
            }
            queued -= 1;
            if now < backoff_until {
                // The program backs off after a failed connect(): the request fails.
                st.failed_requests += 1;
                fail_i += 1;
                continue;
            }
            let h = cs.socket();
            st.connects += 1;
            match cs.connect(h, server_addr) {
                Ok(()) => {
                    if let (Some(p), Ok(a)) = (t.watch_port, cs.local_addr(h)) {
                        if a.port() == p {
                            st.watched_port_uses += 1;
                        }
                    }
                    conns.insert(
                        h,
                        ClientConn {
                            busy: true,
                            ..ClientConn::default()
                        },
                    );
                }
                Err(e) => {
                    *st.connect_errors.entry(e.name().to_string()).or_default() += 1;
                    st.first_failure_s.get_or_insert(secs(now) - secs(start));
                    st.failed_requests += 1;
                    fail_i += 1;
                    backoff_until = now + BACKOFF;
                    let _ = cs.close(h);
                }
            }
        }
        let mut target = next_sample.min(stop);
        if next_req < end {
            target = target.min(next_req);
        }
        let mut ok_step = 0;
        let mut fail_step = 0;
        w.net.run_until(target, |net| {
            client_events(
                &mut net.node_mut(client).stack,
                &mut conns,
                &mut idle,
                &mut buf,
                &request,
                t,
                &mut st,
                &mut ok_step,
                &mut fail_step,
            );
            server_events(
                &mut net.node_mut(server).stack,
                l,
                &mut served,
                &mut srv_closed,
                &response,
                t,
            );
            false
        });
        ok_i += ok_step;
        fail_i += fail_step;
        if w.now() < target {
            // Idle network: jump to the next request or sample.
            w.net.run_for(target - w.now());
        }
        w.sync();
    }
    Ok(st)
}

#[allow(clippy::too_many_arguments)]
fn client_events(
    cs: &mut Stack,
    conns: &mut HashMap<SocketHandle, ClientConn>,
    idle: &mut VecDeque<SocketHandle>,
    buf: &mut [u8],
    request: &[u8],
    t: &Traffic,
    st: &mut TrafficStats,
    ok: &mut u64,
    failed: &mut u64,
) {
    while let Some(ev) = cs.poll_event() {
        let h = ev.socket;
        let Some(c) = conns.get_mut(&h) else {
            continue;
        };
        match ev.kind {
            EventKind::Connected => {
                c.connected = true;
                let _ = cs.send(h, request);
            }
            EventKind::Readable => loop {
                match cs.recv(h, buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        c.got += n;
                        if c.got >= t.response && c.busy {
                            c.busy = false;
                            c.done += 1;
                            st.answered += 1;
                            *ok += 1;
                            if c.done >= t.requests_per_conn {
                                let _ = cs.close(h);
                                conns.remove(&h);
                                break;
                            }
                            idle.push_back(h);
                        }
                    }
                }
            },
            EventKind::Closed(err) => {
                if let Some(e) = err {
                    *st.conn_errors.entry(e.name().to_string()).or_default() += 1;
                    if !c.connected {
                        *failed += 1;
                    }
                }
                idle.retain(|&x| x != h);
                let _ = cs.close(h);
                conns.remove(&h);
            }
            _ => {}
        }
    }
}

fn server_events(
    ss: &mut Stack,
    l: SocketHandle,
    served: &mut HashMap<SocketHandle, usize>,
    closed: &mut HashSet<SocketHandle>,
    response: &[u8],
    t: &Traffic,
) {
    let mut buf = [0u8; 2048];
    while let Some(ev) = ss.poll_event() {
        match ev.kind {
            EventKind::Incoming => {
                while let Ok((h, _)) = ss.accept(l) {
                    served.insert(h, 0);
                }
            }
            EventKind::Readable => {
                let h = ev.socket;
                let Some(got) = served.get_mut(&h) else {
                    continue;
                };
                loop {
                    match ss.recv(h, &mut buf) {
                        Ok(0) => {
                            if t.server_closes && closed.insert(h) {
                                let _ = ss.close(h);
                                served.remove(&h);
                            }
                            break;
                        }
                        Ok(n) => {
                            *got += n;
                            while *got >= t.request {
                                *got -= t.request;
                                let _ = ss.send(h, response);
                            }
                        }
                        Err(Error::WouldBlock) | Err(_) => break,
                    }
                }
            }
            EventKind::Closed(_) => {
                let h = ev.socket;
                if served.remove(&h).is_some() && closed.insert(h) {
                    let _ = ss.close(h);
                }
            }
            _ => {}
        }
    }
}
