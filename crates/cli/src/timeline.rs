//! The demo's output: one timeline of the segments on the wire and the state transitions
//! of both ends, in virtual-time order.
//!
//! The network's tap records each packet when a node transmits it; [`Timeline::flush`],
//! called after every step of the network, prints those packets and then the transitions
//! the stacks traced during the step. A step transmits what was queued at the previous
//! instant before it delivers and fires timers at the next, so this order is time order.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use synack::wire::SegmentDisplay;
use synack::{EventKind, Instant, Stack, State, Transition};
use synack_sim::{Fate, NodeId, Pair};

use crate::annotate::{Annotator, Segment};

/// One end of the demo's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The active opener, 10.0.0.1.
    Client,
    /// The listener's side, 10.0.0.2.
    Server,
}

impl Side {
    /// Both sides, client first.
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    /// "client" or "server".
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    /// The index of the side (0 for the client), also the direction of its segments.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A packet as the tap saw it.
struct Tapped {
    at: Instant,
    from: NodeId,
    bytes: Vec<u8>,
    fate: Fate,
}

/// Per-direction totals for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirStats {
    /// Packets put on the link.
    pub segments: u64,
    /// Payload bytes put on the link (retransmissions included).
    pub payload: u64,
    /// Segments that repeated sequence space already sent.
    pub retransmissions: u64,
    /// Packets the link did not deliver.
    pub lost: u64,
}

/// Prints the merged timeline and keeps what the scenario needs to know about the ends.
pub struct Timeline {
    tap: Rc<RefCell<Vec<Tapped>>>,
    client_node: NodeId,
    annotator: Annotator,
    out: std::io::Stdout,
    /// The latest state of each end's connection (the listener aside), from the trace.
    pub state: [State; 2],
    /// Totals per direction (index 0: client to server).
    pub dirs: [DirStats; 2],
    /// The first error an end reported with a Closed event.
    pub failure: Option<(Side, synack::Error)>,
}

impl Timeline {
    /// Installs a tap on `pair`'s network and turns on both stacks' transition traces.
    pub fn attach(pair: &mut Pair<Stack>) -> Timeline {
        let tap: Rc<RefCell<Vec<Tapped>>> = Rc::default();
        let sink = Rc::clone(&tap);
        pair.net.set_tap(move |at, from, _to, bytes, fate| {
            sink.borrow_mut().push(Tapped {
                at,
                from,
                bytes: bytes.to_vec(),
                fate,
            });
        });
        pair.client().set_trace_transitions(true);
        pair.server().set_trace_transitions(true);
        Timeline {
            tap,
            client_node: pair.client,
            annotator: Annotator::default(),
            out: std::io::stdout(),
            state: [State::Closed; 2],
            dirs: [DirStats::default(); 2],
            failure: None,
        }
    }

    /// The latest known state of `side`'s connection.
    pub fn state(&self, side: Side) -> State {
        self.state[side.index()]
    }

    /// Prints one line. Output errors (a closed pipe) are ignored: the demo runs on.
    pub fn line(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{text}");
    }

    /// Prints everything that happened since the last flush: packets first, then the
    /// transitions of both stacks, in time order; and notes connection errors.
    pub fn flush(&mut self, pair: &mut Pair<Stack>) {
        let tapped = std::mem::take(&mut *self.tap.borrow_mut());
        for p in tapped {
            self.packet(p);
        }
        let mut transitions = Vec::new();
        for side in Side::BOTH {
            let stack = match side {
                Side::Client => pair.client(),
                Side::Server => pair.server(),
            };
            while let Some(t) = stack.poll_transition() {
                transitions.push((side, t));
            }
            while let Some(e) = stack.poll_event() {
                if let EventKind::Closed(Some(err)) = e.kind {
                    self.failure.get_or_insert((side, err));
                }
            }
        }
        transitions.sort_by_key(|(_, t)| t.at);
        for (side, t) in transitions {
            self.transition(side, t);
        }
    }

    /// Prints one packet with its seed-style labels, noting retransmissions and losses.
    fn packet(&mut self, p: Tapped) {
        let dir = if p.from == self.client_node { 0 } else { 1 };
        let stats = &mut self.dirs[dir];
        stats.segments += 1;
        if !p.fate.is_delivered() {
            stats.lost += 1;
        }
        let Some(seg) = Segment::parse(&p.bytes) else {
            self.line(format_args!(
                "{:>10}  (not a TCP segment: {} bytes)",
                p.at.to_string(),
                p.bytes.len()
            ));
            return;
        };
        stats.payload += u64::from(seg.len);
        let retransmission = self.annotator.is_retransmission(dir, &seg);
        if retransmission {
            stats.retransmissions += 1;
        }
        let labels = self.annotator.observe(dir, &seg);
        let Ok(mut display) = SegmentDisplay::from_datagram(&p.bytes) else {
            return;
        };
        if let Some((src, dst)) = self.annotator.isns(dir) {
            display = display.relative(src, dst);
        }
        let ip = if p.bytes.first().is_some_and(|b| b >> 4 == 6) {
            "IP6"
        } else {
            "IP"
        };
        let mut text = format!("{:>10}  {ip} {display}", p.at.to_string());
        for l in labels {
            text += &format!("  [{l}]");
        }
        if retransmission {
            text += "  (retransmission)";
        }
        if p.fate != Fate::Delivered {
            text += &format!("  ** {} **", p.fate);
        }
        self.line(text);
    }

    /// Prints one state transition and records the connection's new state.
    fn transition(&mut self, side: Side, t: Transition) {
        let listener = t.remote.port() == 0;
        if !listener {
            self.state[side.index()] = t.to;
        }
        let what = if listener {
            format!("  (listener {})", t.local)
        } else {
            String::new()
        };
        self.line(format_args!(
            "{:>10}  {:<6}  {} -> {}{what}",
            t.at.to_string(),
            side.name(),
            t.from,
            t.to
        ));
    }
}
