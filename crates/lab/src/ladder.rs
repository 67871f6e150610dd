//! Ladders: the seeds' two-column diagrams of a connection, with the segments between
//! the two sides and each side's state as it changes.
//!
//! Segments are labelled the way the seeds write them: the left side's initial sequence
//! number is `x`, the right side's `y` (a second connection on the same addresses gets
//! `x'` and `y'`), so the handshake reads `SYN seq=x`, `SYN-ACK seq=y ack=x+1`,
//! `ACK seq=x+1 ack=y+1`.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;
use synack::wire::{parse_datagram, tcp::Control, SeqNum};
use synack::{Instant, State, Transition};
use synack_sim::Fate;

/// Which side of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The left column (usually the client).
    Left,
    /// The right column (usually the server).
    Right,
}

/// One segment on the ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seg {
    /// When it was sent, microseconds of virtual time.
    pub at_us: u64,
    /// When it arrived, if it did.
    pub arrived_us: Option<u64>,
    /// The sender.
    pub from: Side,
    /// `SYN`, `SYN-ACK`, `ACK`, `FIN`, `RST`, `DATA`, as the label starts.
    pub kind: String,
    /// The raw sequence number.
    pub seq: u32,
    /// The raw acknowledgment number (0 without ACK).
    pub ack: u32,
    /// Payload bytes.
    pub len: u32,
    /// The advertised window, as carried (unscaled).
    pub window: u16,
    /// TSval, when the segment carries timestamps.
    pub tsval: Option<u32>,
    /// The seed-style label: `SYN-ACK seq=y ack=x+1`.
    pub label: String,
    /// What the network did with it: `delivered`, `lost`, ...
    pub fate: String,
    /// Whether it repeats sequence space already sent.
    pub retransmission: bool,
}

/// One row of a ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A segment.
    Segment(Seg),
    /// A side's connection changed state.
    State {
        /// When, microseconds.
        at_us: u64,
        /// Whose.
        side: Side,
        /// The new state, as netstat names it.
        state: String,
    },
    /// A remark by the lab.
    Note {
        /// When, microseconds.
        at_us: u64,
        /// The remark.
        text: String,
    },
}

impl Event {
    /// When the row happened, microseconds.
    pub fn at_us(&self) -> u64 {
        match self {
            Event::Segment(s) => s.at_us,
            Event::State { at_us, .. } | Event::Note { at_us, .. } => *at_us,
        }
    }
}

/// A two-column diagram of the segments between two hosts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ladder {
    /// What the ladder shows.
    pub title: String,
    /// The left column's name.
    pub left: String,
    /// The right column's name.
    pub right: String,
    /// The rows, in time order.
    pub events: Vec<Event>,
    /// Rows left out beyond the ladder's limit.
    pub omitted: usize,
}

/// What the recorder collected: sends (time, left-to-right, bytes, fate), each side's
/// arrivals, each side's transitions and the lab's notes.
pub(crate) struct Raw {
    pub sent: Vec<(Instant, bool, Vec<u8>, Fate)>,
    pub inbox: [Vec<(Instant, Vec<u8>)>; 2],
    pub transitions: [Vec<Transition>; 2],
    pub notes: Vec<(Instant, String)>,
}

/// Per connection (left end, right end): ISNs and the highest sequence sent each way.
#[derive(Default)]
struct ConnNames {
    /// The latest ISN each way, with its generation.
    isn: [Option<(SeqNum, usize)>; 2],
    /// Every ISN seen each way, with its generation.
    all: [Vec<(SeqNum, usize)>; 2],
    snd_max: [Option<SeqNum>; 2],
    /// The last SYN each way: its number and whether it carried an ACK.
    last_syn: [Option<(SeqNum, bool)>; 2],
}

impl ConnNames {
    /// The ISN (with its generation) that `value` is nearest above, preferring the
    /// latest connection's when nothing fits.
    fn base(&self, side: usize, value: SeqNum) -> Option<(SeqNum, usize)> {
        self.all[side]
            .iter()
            .filter(|(isn, _)| (value - *isn) >= 0)
            .min_by_key(|(isn, _)| value - *isn)
            .copied()
            .or(self.isn[side])
    }
}

/// ISN generations per side across all connections, so each new SYN gets a new prime.
#[derive(Default)]
struct Labeler {
    conns: HashMap<(SocketAddr, SocketAddr), ConnNames>,
    generation: HashMap<(SocketAddr, SocketAddr), [usize; 2]>,
}

/// The generation of a base learned from a connection already open when recording
/// started: named u (left) and v (right), as the seeds name the close's numbers.
const MIDSTREAM: usize = usize::MAX;

fn letter(side: usize, generation: usize) -> String {
    if generation == MIDSTREAM {
        return if side == 0 { "u" } else { "v" }.to_string();
    }
    let base = if side == 0 { "x" } else { "y" };
    format!("{base}{}", "'".repeat(generation))
}

fn rel(value: SeqNum, base: Option<(SeqNum, usize)>, side: usize) -> String {
    match base {
        Some((isn, g)) => {
            let d = value - isn;
            let l = letter(side, g);
            match d {
                0 => l,
                d if d > 0 => format!("{l}+{d}"),
                d => format!("{l}{d}"),
            }
        }
        None => value.0.to_string(),
    }
}

impl Labeler {
    /// Labels a segment sent by `side` (0 left) on connection `key`.
    fn label(
        &mut self,
        key: (SocketAddr, SocketAddr),
        side: usize,
        tcp: &synack::wire::TcpRepr<'_>,
    ) -> (String, String, bool) {
        let gens = self.generation.entry(key).or_default();
        let names = self.conns.entry(key).or_default();
        let other = 1 - side;
        if tcp.control == Control::Syn && names.isn[side].map(|(i, _)| i) != Some(tcp.seq) {
            let g = gens[side];
            gens[side] += 1;
            names.isn[side] = Some((tcp.seq, g));
            names.all[side].push((tcp.seq, g));
            names.snd_max[side] = None;
        }
        if tcp.control != Control::Syn && names.isn[side].is_none() {
            // Recording started mid-connection: number from here.
            names.isn[side] = Some((tcp.seq, MIDSTREAM));
            names.all[side].push((tcp.seq, MIDSTREAM));
        }
        if let (Some(ack), None) = (tcp.ack, names.isn[other]) {
            names.isn[other] = Some((ack, MIDSTREAM));
            names.all[other].push((ack, MIDSTREAM));
        }
        let seg_len = tcp.seg_len();
        // A SYN-ACK of a simultaneous open repeats the SYN's number without being a
        // retransmission; a SYN is one only when the same kind was sent before.
        let syn_kind = (tcp.control == Control::Syn).then_some(tcp.ack.is_some());
        let retrans = if let Some(k) = syn_kind {
            names.last_syn[side] == Some((tcp.seq, k))
        } else {
            seg_len > 0
                && names.snd_max[side].is_some_and(|m| tcp.seq.before(m))
                && tcp.control != Control::Rst
        };
        if let Some(k) = syn_kind {
            names.last_syn[side] = Some((tcp.seq, k));
        }
        let end = tcp.seq + seg_len;
        names.snd_max[side] = Some(match names.snd_max[side] {
            Some(m) if !end.after(m) => m,
            _ => end,
        });
        let kind = match (tcp.control, tcp.ack.is_some()) {
            (Control::Syn, true) => "SYN-ACK",
            (Control::Syn, false) => "SYN",
            (Control::Fin, _) => "FIN",
            (Control::Rst, _) => "RST",
            (Control::None, _) if !tcp.payload.is_empty() => "DATA",
            (Control::None, _) => "ACK",
        };
        let mut label = format!(
            "{kind} seq={}",
            rel(tcp.seq, names.base(side, tcp.seq), side)
        );
        if let Some(ack) = tcp.ack {
            label += &format!(" ack={}", rel(ack, names.base(other, ack), other));
        }
        if !tcp.payload.is_empty() {
            label += &format!(" len={}", tcp.payload.len());
        }
        (kind.to_string(), label, retrans)
    }
}

impl Ladder {
    /// Builds a ladder from what the recorder collected.
    pub(crate) fn build(
        title: &str,
        left: &str,
        right: &str,
        raw: Raw,
        filter: Option<&dyn Fn(SocketAddr, SocketAddr) -> bool>,
        max_events: usize,
    ) -> Ladder {
        let pass = |l: SocketAddr, r: SocketAddr| filter.is_none_or(|f| f(l, r));
        // (time, order class, sequence) keys; states before segments at one instant.
        let mut rows: Vec<(u64, u8, usize, Event)> = Vec::new();
        let mut labeler = Labeler::default();
        let mut used = [
            vec![false; raw.inbox[0].len()],
            vec![false; raw.inbox[1].len()],
        ];
        for (i, (at, left_to_right, bytes, fate)) in raw.sent.iter().enumerate() {
            let Ok((ip, tcp)) = parse_datagram(bytes, false) else {
                continue;
            };
            let src = SocketAddr::new(ip.src, tcp.src_port);
            let dst = SocketAddr::new(ip.dst, tcp.dst_port);
            let (key, side) = if *left_to_right {
                ((src, dst), 0)
            } else {
                ((dst, src), 1)
            };
            if !pass(key.0, key.1) {
                continue;
            }
            let (kind, mut label, retransmission) = labeler.label(key, side, &tcp);
            if retransmission {
                label += " (retransmission)";
            }
            // The arrival: the first unused identical datagram at the receiver, not
            // before the send.
            let inbox = &raw.inbox[1 - side];
            let arrived = if fate.is_delivered() {
                inbox
                    .iter()
                    .enumerate()
                    .find(|(j, (t, b))| !used[1 - side][*j] && *t >= *at && b == bytes)
                    .map(|(j, (t, _))| {
                        used[1 - side][j] = true;
                        t.total_micros()
                    })
            } else {
                None
            };
            let tsval = tcp.options.timestamp.map(|t| t.tsval);
            rows.push((
                at.total_micros(),
                1,
                i,
                Event::Segment(Seg {
                    at_us: at.total_micros(),
                    arrived_us: arrived,
                    from: if side == 0 { Side::Left } else { Side::Right },
                    kind,
                    seq: tcp.seq.0,
                    ack: tcp.ack.map_or(0, |a| a.0),
                    len: tcp.payload.len() as u32,
                    window: tcp.window,
                    tsval,
                    label,
                    fate: fate.as_str().to_string(),
                    retransmission,
                }),
            ));
        }
        for (side, list) in raw.transitions.iter().enumerate() {
            for (i, t) in list.iter().enumerate() {
                let (l, r) = if side == 0 {
                    (t.local, t.remote)
                } else {
                    (t.remote, t.local)
                };
                if !pass(l, r) {
                    continue;
                }
                rows.push((
                    t.at.total_micros(),
                    0,
                    i,
                    Event::State {
                        at_us: t.at.total_micros(),
                        side: if side == 0 { Side::Left } else { Side::Right },
                        state: state_name(t.to),
                    },
                ));
            }
        }
        for (i, (at, text)) in raw.notes.into_iter().enumerate() {
            rows.push((
                at.total_micros(),
                0,
                i,
                Event::Note {
                    at_us: at.total_micros(),
                    text,
                },
            ));
        }
        rows.sort_by_key(|r| (r.0, r.1, r.2));
        let total = rows.len();
        let events: Vec<Event> = rows.into_iter().take(max_events).map(|r| r.3).collect();
        Ladder {
            title: title.to_string(),
            left: left.to_string(),
            right: right.to_string(),
            omitted: total - events.len(),
            events,
        }
    }

    /// The segments of the ladder.
    pub fn segments(&self) -> impl Iterator<Item = &Seg> {
        self.events.iter().filter_map(|e| match e {
            Event::Segment(s) => Some(s),
            _ => None,
        })
    }

    /// The states one side went through, in order.
    pub fn states(&self, side: Side) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::State { side: s, state, .. } if *s == side => Some(state.clone()),
                _ => None,
            })
            .collect()
    }

    /// The ladder as text: time, the left side's state, the arrow with its label, the
    /// right side's state.
    pub fn to_text(&self) -> String {
        const STATE: usize = 12;
        const ARROW: usize = 50;
        let mut out = String::new();
        out += &format!("{}\n", self.title);
        let head = format!("{:>9}  {}", "time (s)", self.left);
        let width = 9 + 2 + STATE + 1 + ARROW + 1;
        out += &format!("{head:<width$}{}\n", self.right);
        for e in &self.events {
            let t = format!("{:>9.3}", e.at_us() as f64 / 1e6);
            let line = match e {
                Event::State {
                    side: Side::Left,
                    state,
                    ..
                } => format!("{t}  {state}"),
                Event::State {
                    side: Side::Right,
                    state,
                    ..
                } => {
                    format!("{t}  {:STATE$} {:ARROW$} {state}", "", "")
                }
                Event::Note { text, .. } => format!("{t}  ({text})"),
                Event::Segment(s) => {
                    let lost = s.arrived_us.is_none();
                    let body = format!(" {} ", s.label);
                    let dashes = ARROW.saturating_sub(body.len() + 4).max(2);
                    let arrow = match (s.from, lost) {
                        (Side::Left, false) => format!("--{body}{}->", "-".repeat(dashes)),
                        (Side::Left, true) => format!("--{body}{}X ", "-".repeat(dashes)),
                        (Side::Right, false) => format!("<-{}{body}--", "-".repeat(dashes)),
                        (Side::Right, true) => format!(" X{}{body}--", "-".repeat(dashes)),
                    };
                    let fate = if lost {
                        format!("  [{}]", s.fate)
                    } else {
                        String::new()
                    };
                    format!("{t}  {:STATE$} {arrow}{fate}", "")
                }
            };
            out += line.trim_end();
            out.push('\n');
        }
        if self.omitted > 0 {
            out += &format!("{:>9}  ... {} more rows not shown\n", "", self.omitted);
        }
        out
    }
}

/// A state as netstat names it, with the seeds' dashes: `SYN-SENT`, `TIME-WAIT`.
pub fn state_name(s: State) -> String {
    s.to_string()
        .replace('_', "-")
        .replace("FIN-WAIT", "FIN-WAIT-")
}
