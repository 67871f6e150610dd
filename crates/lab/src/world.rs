//! The world a lab runs in: synack stacks on a simulated network, and the recorder that
//! turns what happens between two of them into a [`Ladder`].
//!
//! Recording needs nothing from the lab's loop: the network's tap notes every segment
//! when it is sent (with its fate), each recorded [`Host`] notes what it receives, and the
//! stacks trace their state transitions; [`World::stop_recording`] merges the three by
//! time into a ladder.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use synack::{Config, Error, Instant, SocketHandle, Stack};
use synack_sim::{Endpoint, Fate, LinkConfig, LinkId, Network, NodeId};

use crate::ladder::{Ladder, Raw};
use crate::LabError;

/// Received datagrams, with the time they arrived.
type Inbox = Rc<RefCell<Vec<(Instant, Vec<u8>)>>>;

/// A node of the lab's network: a synack stack that can note what it receives.
pub struct Host {
    /// The stack.
    pub stack: Stack,
    log: Option<Inbox>,
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if let Some(log) = &self.log {
            log.borrow_mut().push((now, packet.to_vec()));
        }
        self.stack.handle_packet(now, packet);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Endpoint::poll_transmit(&mut self.stack, now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

/// The network of a lab.
pub type Net = Network<Host>;

/// A packet as the tap saw it.
struct Sent {
    at: Instant,
    from: NodeId,
    to: NodeId,
    bytes: Vec<u8>,
    fate: Fate,
}

/// A ladder being recorded.
struct Recorder {
    title: String,
    left: NodeId,
    right: NodeId,
    left_name: String,
    right_name: String,
    sent: Rc<RefCell<Vec<Sent>>>,
    inbox: [Inbox; 2],
    notes: Vec<(Instant, String)>,
    filter: Option<Box<dyn Fn(SocketAddr, SocketAddr) -> bool>>,
    max_events: usize,
}

/// A simulated network of synack stacks, with a ladder recorder.
pub struct World {
    /// The network.
    pub net: Net,
    recorder: Option<Recorder>,
    nodes: Vec<NodeId>,
    /// The ladders recorded so far.
    pub ladders: Vec<Ladder>,
}

/// How much virtual time a phase of a lab may take before the lab gives up.
pub const PHASE_LIMIT: Duration = Duration::from_secs(4 * 3600);

impl World {
    /// An empty network whose randomness comes from `seed`.
    pub fn new(seed: u64) -> World {
        World {
            net: Network::new(seed),
            recorder: None,
            nodes: Vec::new(),
            ladders: Vec::new(),
        }
    }

    /// Adds a stack with `config` owning `addrs`.
    pub fn add_host(&mut self, config: Config, addrs: &[IpAddr]) -> NodeId {
        let mut stack = Stack::new(config);
        for a in addrs {
            stack.add_address(*a);
        }
        let n = self.net.add_node(Host { stack, log: None }, addrs);
        self.nodes.push(n);
        n
    }

    /// Joins `a` and `b` with the same link configuration both ways.
    pub fn link(&mut self, a: NodeId, b: NodeId, link: LinkConfig) -> LinkId {
        self.net.link(a, b, link.clone(), link)
    }

    /// The stack of node `n`.
    pub fn stack(&mut self, n: NodeId) -> &mut Stack {
        &mut self.net.node_mut(n).stack
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.net.now()
    }

    /// Steps until `cond` holds; fails (naming `phase`) when the network goes idle or
    /// [`PHASE_LIMIT`] passes first.
    pub fn until(
        &mut self,
        phase: &str,
        cond: impl FnMut(&mut Net) -> bool,
    ) -> Result<(), LabError> {
        let deadline = self.now() + PHASE_LIMIT;
        if self.net.run_until(deadline, cond) {
            self.sync();
            Ok(())
        } else {
            Err(LabError::Scenario(format!(
                "{phase} did not happen (virtual time {} s)",
                self.now()
            )))
        }
    }

    /// Steps until `cond` holds or `deadline`; returns whether `cond` held.
    pub fn until_or(&mut self, deadline: Instant, cond: impl FnMut(&mut Net) -> bool) -> bool {
        let r = self.net.run_until(deadline, cond);
        self.sync();
        r
    }

    /// Advances the clock by `d`, processing everything on the way.
    pub fn run_for(&mut self, d: Duration) {
        self.net.run_for(d);
        self.sync();
    }

    /// Lets every stack send what it has queued at this instant, then tells each stack
    /// the time, so that the next socket call is stamped with it.
    pub fn sync(&mut self) {
        let now = self.now();
        self.net.run_until(now, |_| false);
        for &n in &self.nodes {
            self.net.node_mut(n).stack.handle_timeout(now);
        }
    }

    /// Starts recording a ladder between `left` and `right` (named `left_name` and
    /// `right_name` in the diagram); keeps at most `max_events` rows.
    pub fn record(
        &mut self,
        title: &str,
        (left, left_name): (NodeId, &str),
        (right, right_name): (NodeId, &str),
        max_events: usize,
    ) {
        self.stop_recording();
        let sent: Rc<RefCell<Vec<Sent>>> = Rc::default();
        let sink = Rc::clone(&sent);
        // Enough for the rows kept; a long run records no more than that.
        let cap = max_events.saturating_mul(4);
        self.net.set_tap(move |at, from, to, bytes, fate| {
            if ((from == left && to == right) || (from == right && to == left))
                && sink.borrow().len() < cap
            {
                sink.borrow_mut().push(Sent {
                    at,
                    from,
                    to,
                    bytes: bytes.to_vec(),
                    fate,
                });
            }
        });
        let inbox: [Inbox; 2] = [Rc::default(), Rc::default()];
        for (n, log) in [(left, &inbox[0]), (right, &inbox[1])] {
            let host = self.net.node_mut(n);
            host.log = Some(Rc::clone(log));
            host.stack.set_trace_transitions(true);
        }
        self.recorder = Some(Recorder {
            title: title.to_string(),
            left,
            right,
            left_name: left_name.to_string(),
            right_name: right_name.to_string(),
            sent,
            inbox,
            notes: Vec::new(),
            filter: None,
            max_events,
        });
    }

    /// Records only connections whose (left end, right end) addresses pass `f`.
    pub fn record_filter(&mut self, f: impl Fn(SocketAddr, SocketAddr) -> bool + 'static) {
        if let Some(r) = &mut self.recorder {
            r.filter = Some(Box::new(f));
        }
    }

    /// Adds a note to the ladder being recorded, at the current time.
    pub fn note(&mut self, text: impl Into<String>) {
        let now = self.now();
        if let Some(r) = &mut self.recorder {
            r.notes.push((now, text.into()));
        }
    }

    /// Whether a ladder is being recorded.
    pub fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Ends the recording and keeps its ladder in [`World::ladders`]; returns its index.
    pub fn stop_recording(&mut self) -> Option<usize> {
        let r = self.recorder.take()?;
        self.net.clear_tap();
        let mut transitions = [Vec::new(), Vec::new()];
        for (i, n) in [r.left, r.right].into_iter().enumerate() {
            let host = self.net.node_mut(n);
            host.log = None;
            while let Some(t) = host.stack.poll_transition() {
                transitions[i].push(t);
            }
            host.stack.set_trace_transitions(false);
        }
        let sent = std::mem::take(&mut *r.sent.borrow_mut());
        let raw = Raw {
            sent: sent
                .into_iter()
                .map(|s| (s.at, s.from == r.left && s.to == r.right, s.bytes, s.fate))
                .collect(),
            inbox: [
                std::mem::take(&mut *r.inbox[0].borrow_mut()),
                std::mem::take(&mut *r.inbox[1].borrow_mut()),
            ],
            transitions,
            notes: r.notes,
        };
        let ladder = Ladder::build(
            &r.title,
            &r.left_name,
            &r.right_name,
            raw,
            r.filter.as_deref(),
            r.max_events,
        );
        self.ladders.push(ladder);
        Some(self.ladders.len() - 1)
    }
}

/// A SocketAddr helper: `ip:port`.
pub fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// An IPv4 address `a.b.c.d`.
pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::from([a, b, c, d])
}

/// Turns a failed socket call into a [`LabError::Scenario`] naming it.
pub fn call<T>(what: &str, r: Result<T, Error>) -> Result<T, LabError> {
    r.map_err(|e| LabError::Scenario(format!("{what} failed: {e}")))
}

/// Reads everything available; returns (bytes read, end of stream seen, error).
pub fn drain(stack: &mut Stack, h: SocketHandle, out: &mut Vec<u8>) -> (bool, Option<Error>) {
    let mut buf = [0u8; 16384];
    loop {
        match stack.recv(h, &mut buf) {
            Ok(0) => return (true, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return (false, None),
            Err(e) => return (false, Some(e)),
        }
    }
}

/// Sends as much of `data[*sent..]` as the socket takes.
pub fn push(
    stack: &mut Stack,
    h: SocketHandle,
    data: &[u8],
    sent: &mut usize,
) -> Result<(), Error> {
    while *sent < data.len() {
        match stack.send(h, &data[*sent..]) {
            Ok(0) | Err(Error::WouldBlock) => break,
            Ok(n) => *sent += n,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Seconds of virtual time as a float, for figures and plots.
pub fn secs(t: Instant) -> f64 {
    t.total_micros() as f64 / 1e6
}

/// Milliseconds between two instants, as a float.
pub fn ms_between(a: Instant, b: Instant) -> f64 {
    (b.total_micros() as f64 - a.total_micros() as f64) / 1e3
}
