//! synack with many connections: `n` idle established connections between two stacks
//! (for memory per connection and per-segment cost beside them), and `n` TIME-WAIT
//! entries (for memory per entry).
//!
//! A stack's ephemeral ports are per destination, so the client takes ports 1024 to
//! 65535 ([`Config::ip_local_port_range`]) and the server listens on as many ports from
//! [`IDLE_PORT_BASE`] as `n` needs (60,000 connections each). Connections are opened in
//! batches of [`BATCH`] so that no SYN queue overflows into SYN cookies.

use std::net::SocketAddr;

use synack::{Config, Error, Instant, SocketHandle, Stack, State};

use crate::link::{drive, Clock, Pair, Step};
use crate::synack_side::{config, server_addr_on, SynackPair};
use crate::{BulkOutcome, PORT};

/// The first server port of the idle connections.
pub const IDLE_PORT_BASE: u16 = 1000;
/// Connections per server port.
const PER_PORT: u64 = 60_000;
/// Handshakes in flight at once.
const BATCH: u64 = 1000;

fn fail(what: &str, e: Error) -> String {
    format!("synack {what}: {e:?}")
}

/// Both stacks' configuration for many connections: buffers of `buf`, a wide ephemeral
/// range, and room for a TIME-WAIT entry per connection.
fn many_config(buf: usize, seed: u64, n: u64) -> Config {
    Config {
        ip_local_port_range: (1024, 65535),
        tcp_max_tw_buckets: (n as usize).max(262_144),
        ..config(buf, seed, true)
    }
}

/// Listeners on as many ports from [`IDLE_PORT_BASE`] as `n` connections need.
fn listeners(b: &mut Stack, n: u64) -> Result<Vec<SocketHandle>, String> {
    let ports = n.div_ceil(PER_PORT).max(1);
    (0..ports)
        .map(|i| {
            let l = b.socket();
            b.bind(l, server_addr_on(IDLE_PORT_BASE + i as u16))
                .map_err(|e| fail("bind", e))?;
            b.listen(l, 4096).map_err(|e| fail("listen", e))?;
            Ok(l)
        })
        .collect()
}

fn idle_target(i: u64) -> SocketAddr {
    server_addr_on(IDLE_PORT_BASE + (i / PER_PORT) as u16)
}

/// Two stacks with `n` idle established connections between them (the application
/// keeps no handle), and a listener on [`PORT`] for transfers beside them.
pub struct IdlePair {
    /// The stacks.
    pub pair: SynackPair,
    /// Their clock.
    pub clock: Clock,
    /// The listener on [`PORT`].
    pub listener: SocketHandle,
}

impl IdlePair {
    /// Sets up `n` idle connections, with socket buffers of `buf` for later transfers.
    pub fn new(n: u64, buf: usize) -> Result<IdlePair, String> {
        let mut pair = SynackPair::with(many_config(buf, 1, n), many_config(buf, 2, n));
        let mut clock = Clock::default();
        let ls = listeners(&mut pair.b, n)?;
        let listener = pair.b.socket();
        pair.b
            .bind(listener, server_addr_on(PORT))
            .map_err(|e| fail("bind", e))?;
        pair.b.listen(listener, 16).map_err(|e| fail("listen", e))?;
        let (mut started, mut accepted) = (0u64, 0u64);
        drive(&mut pair, &mut clock, "synack idle setup", |p| {
            let mut step = Step::Idle;
            while started < n && started - accepted < BATCH {
                let h = p.a.socket();
                p.a.connect(h, idle_target(started))
                    .map_err(|e| fail("connect", e))?;
                started += 1;
                step = Step::Progress;
            }
            for &l in &ls {
                loop {
                    match p.b.accept(l) {
                        Ok(_) => {
                            accepted += 1;
                            step = Step::Progress;
                        }
                        Err(Error::WouldBlock) => break,
                        Err(e) => return Err(fail("accept", e)),
                    }
                }
            }
            Ok(if accepted == n { Step::Done } else { step })
        })?;
        // Let the last ACKs land, then drop the link's spare buffers.
        drive(&mut pair, &mut clock, "synack idle settle", |p| {
            Ok(if p.wire().a2b.is_empty() && p.wire().b2a.is_empty() {
                Step::Done
            } else {
                Step::Idle
            })
        })?;
        pair.trim_wire();
        Ok(IdlePair {
            pair,
            clock,
            listener,
        })
    }

    /// A bulk transfer of `bytes` over a new connection beside the idle ones.
    pub fn transfer(&mut self, bytes: u64) -> Result<BulkOutcome, String> {
        let r = crate::synack_side::transfer(
            &mut self.pair,
            &mut self.clock,
            self.listener,
            bytes,
            true,
        );
        self.pair.trim_wire();
        r
    }
}

/// Two stacks after `n` lifecycles (connect, client closes, server closes on end of
/// stream), the client holding a TIME-WAIT entry for each.
pub fn time_wait_pair(n: u64) -> Result<(SynackPair, Clock), String> {
    let buf = crate::Params::FULL.churn_buf;
    let mut pair = SynackPair::with(many_config(buf, 1, n), many_config(buf, 2, n));
    let mut clock = Clock::default();
    let ls = listeners(&mut pair.b, n)?;
    let mut done = 0u64;
    while done < n {
        let k = BATCH.min(n - done);
        let clients: Vec<SocketHandle> = (0..k)
            .map(|i| {
                let h = pair.a.socket();
                pair.a
                    .connect(h, idle_target(done + i))
                    .map(|_| h)
                    .map_err(|e| fail("connect", e))
            })
            .collect::<Result<_, _>>()?;
        let mut servers: Vec<SocketHandle> = Vec::new();
        let mut closing = false;
        let (mut client_closed, mut server_closed) = (false, 0usize);
        drive(&mut pair, &mut clock, "synack time-wait setup", |p| {
            let mut step = Step::Idle;
            for &l in &ls {
                while let Ok((h, _)) = p.b.accept(l) {
                    servers.push(h);
                    step = Step::Progress;
                }
            }
            if !closing && servers.len() as u64 == k {
                for &c in &clients {
                    p.a.close(c).map_err(|e| fail("close", e))?;
                }
                closing = true;
                client_closed = true;
                step = Step::Progress;
            }
            if client_closed {
                for h in servers.iter_mut() {
                    if p.b.state(*h) == Ok(State::CloseWait) {
                        p.b.close(*h).map_err(|e| fail("close", e))?;
                        server_closed += 1;
                        step = Step::Progress;
                    }
                }
            }
            let finished = server_closed == k as usize
                && clients.iter().all(|&c| p.a.state(c).is_err())
                && servers.iter().all(|&s| p.b.state(s).is_err());
            Ok(if finished { Step::Done } else { step })
        })?;
        done += k;
    }
    if pair.a.stats().TW < n {
        return Err(format!(
            "synack time-wait setup: {} TIME-WAIT entries of {n}",
            pair.a.stats().TW
        ));
    }
    pair.trim_wire();
    Ok((pair, clock))
}

/// Lets every TIME-WAIT entry of the client expire.
pub fn expire_time_wait((pair, clock): &mut (SynackPair, Clock)) -> Result<(), String> {
    let later = Instant::from_micros(clock.now_us) + core::time::Duration::from_secs(61);
    pair.a.handle_timeout(later);
    pair.b.handle_timeout(later);
    clock.now_us = later.total_micros();
    let left = pair.a.time_wait_timers();
    if left != 0 {
        return Err(format!("{left} TIME-WAIT entries did not expire"));
    }
    Ok(())
}
