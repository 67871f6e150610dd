//! `old-duplicate`: why TIME_WAIT exists, reason two. A delayed segment of an old
//! connection reaches a new connection on the same 4-tuple; with TIME-WAIT cut to
//! nothing and no timestamps its bytes are accepted in place of the new connection's
//! (shown byte for byte); 2MSL of TIME-WAIT, or timestamps with PAWS (RFC 7323 5), each
//! reject it (seeds 000, 004; RFC 9293 3.4.1).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use synack::wire::{parse_datagram, tcp::Control};
use synack::State;

use super::{lan, Duo, LabDef};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, drain, push, sa};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "old-duplicate",
    title: "why TIME_WAIT exists (2): an old connection's delayed segment in a new one",
    seeds: "000, 004",
    run: |o| run(o).map(Outcome::into_report),
};

/// The client's fixed port, so both connections have the same 4-tuple.
const CLIENT_PORT: u16 = 40_000;
/// What the first connection's server sends, and the second's.
const OLD_BYTES: usize = 512 * 1024;
const NEW_BYTES: usize = 64 * 1024;

/// One combination of the two protections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// The client kept TIME-WAIT (2MSL) after the first connection.
    pub time_wait: bool,
    /// Timestamps (and so PAWS) were on.
    pub timestamps: bool,
    /// What happened to the old segment.
    pub outcome: String,
    /// Bytes of the new connection's stream that differ from what its server sent.
    pub corrupted_bytes: usize,
    /// Where the first difference is, bytes into the stream.
    pub first_corrupt_offset: Option<usize>,
    /// 16 bytes there, as sent by the new connection's server.
    pub expected: Option<String>,
    /// The same 16 bytes as the client read them.
    pub got: Option<String>,
    /// Seconds between the two connections' handshakes.
    pub reopened_after_s: f64,
    /// Segments dropped by PAWS at the client.
    pub paws_rejected: u64,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// No TIME-WAIT, no timestamps: the old segment corrupts the new stream.
    pub neither: Variant,
    /// TIME-WAIT, no timestamps.
    pub time_wait_only: Variant,
    /// Timestamps, no TIME-WAIT: PAWS rejects it.
    pub paws_only: Variant,
    /// Both.
    pub both: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let neither = one(opts, false, false, &mut counters, &mut ladders)?;
    let time_wait_only = one(opts, true, false, &mut counters, &mut ladders)?;
    let paws_only = one(opts, false, true, &mut counters, &mut ladders)?;
    let both = one(opts, true, true, &mut counters, &mut Vec::new())?;
    let figures = Figures {
        neither,
        time_wait_only,
        paws_only,
        both,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A client at port {CLIENT_PORT} fetches {} KB; one of the server's segments is \
             held up in the network. The client closes first. Then it connects again from \
             the same port: the same 4-tuple, a new connection, whose ISNs (RFC 6528: a \
             hash of the 4-tuple plus a 4 us clock) sit just above the old ones, so the old \
             segment's sequence numbers fall inside the new window.",
            OLD_BYTES / 1024
        ),
        format!(
            "With TIME-WAIT cut to nothing (tcp_max_tw_buckets=0 at the client) and \
             tcp_timestamps=0, the new connection reopens {:.2} s later and the old segment \
             arrives: it is accepted, and {} bytes of the new stream are the old \
             connection's (at offset {:?}: the server sent {:?}, the client read {:?}). \
             TCP delivered wrong data without any error.",
            f.neither.reopened_after_s,
            f.neither.corrupted_bytes,
            f.neither.first_corrupt_offset,
            f.neither.expected.as_deref().unwrap_or(""),
            f.neither.got.as_deref().unwrap_or("")
        ),
        format!(
            "With TIME-WAIT the 4-tuple stays taken for 2MSL ({:.0} s): the old segment \
             arrives while the client is in TIME-WAIT, which answers it with an ACK and \
             drops it ({}), and by the time the tuple is free every old segment has died. \
             With timestamps and PAWS the old segment carries an older TSval than the new \
             connection has seen, and is dropped ({}, {} PAWS drop(s)). Either protection \
             suffices; both: {}.",
            f.time_wait_only.reopened_after_s,
            f.time_wait_only.outcome,
            f.paws_only.outcome,
            f.paws_only.paws_rejected,
            f.both.outcome
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

/// The old connection's data segments: (sequence number, datagram).
type Kept = Rc<RefCell<Vec<(u32, Vec<u8>)>>>;

fn pattern(tag: &[u8], n: usize) -> Vec<u8> {
    tag.iter().copied().cycle().take(n).collect()
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn one(
    opts: &Options,
    time_wait: bool,
    timestamps: bool,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let name = format!(
        "TIME-WAIT {}, timestamps {}",
        if time_wait {
            "60 s (tcp_rfc1337=1)"
        } else {
            "none"
        },
        if timestamps { "on" } else { "off" }
    );
    let ts = if timestamps { "1" } else { "0" };
    let mut client_over = vec![("tcp_timestamps", ts)];
    if time_wait {
        // The server's RST to TIME-WAIT's ACK must not end it early (RFC 1337).
        client_over.push(("tcp_rfc1337", "1"));
    } else {
        client_over.push(("tcp_max_tw_buckets", "0"));
    }
    let mut d = Duo::new(opts, |_| {}, &client_over, &[("tcp_timestamps", ts)], lan())?;
    let l = d.listen(128)?;
    let (c, s) = (d.c, d.s);
    let local = sa(d.caddr, CLIENT_PORT);
    let server = d.server;
    // The first connection; every data segment the server sends is kept.
    let kept: Kept = Rc::default();
    let sink = Rc::clone(&kept);
    d.w.net.set_tap(move |_, from, _, bytes, _| {
        if from == s {
            if let Ok((_, tcp)) = parse_datagram(bytes, false) {
                if !tcp.payload.is_empty() {
                    sink.borrow_mut().push((tcp.seq.0, bytes.to_vec()));
                }
            }
        }
    });
    let h = d.connect(Some(CLIENT_PORT))?;
    let hs = d.establish(h, l)?;
    let t1 = d.w.now();
    let old = pattern(b"old-connection#1|", OLD_BYTES);
    let (mut sent, mut got) = (0, Vec::new());
    d.w.until("the first connection's data", |net| {
        let _ = push(&mut net.node_mut(s).stack, hs, &old, &mut sent);
        drain(&mut net.node_mut(c).stack, h, &mut got);
        got.len() >= OLD_BYTES
    })?;
    d.w.net.clear_tap();
    call("client close()", d.w.stack(c).close(h))?;
    let mut closed = false;
    d.w.until("the first connection's close", |net| {
        if !closed && drain(&mut net.node_mut(s).stack, hs, &mut Vec::new()).0 {
            closed = true;
            let _ = net.node_mut(s).stack.close(hs);
        }
        closed && super::conn_state(&net.node(s).stack, server, local) == State::Closed
    })?;
    let kept = std::mem::take(&mut *kept.borrow_mut());
    let mut outcome = String::new();
    if time_wait {
        // The delayed segment arrives while the client is in TIME-WAIT.
        d.w.run_for(Duration::from_millis(500));
        d.w.record(
            &format!("{name}: the old segment meets TIME-WAIT"),
            (c, "client 10.0.0.1:40000"),
            (s, "server 10.0.0.2:80"),
            10,
        );
        d.w.note("a delayed segment of the old connection arrives");
        if let Some((_, bytes)) = kept.get(kept.len() / 2) {
            d.w.net.send_from(s, bytes);
        }
        d.w.run_for(Duration::from_millis(100));
        if let Some(i) = d.w.stop_recording() {
            let answered = d.w.ladders[i].segments().any(|g| g.kind == "ACK");
            outcome = if answered {
                "rejected by TIME-WAIT (answered with an ACK)".into()
            } else {
                "rejected by TIME-WAIT".into()
            };
            ladders.push(d.w.ladders[i].clone());
        }
        d.w.until("the end of TIME-WAIT", |net| {
            super::conn_state(&net.node(c).stack, local, server) == State::Closed
        })?;
    }
    // The second connection, same 4-tuple.
    d.w.record(
        &format!("{name}: the new connection"),
        (c, "client 10.0.0.1:40000"),
        (s, "server 10.0.0.2:80"),
        18,
    );
    let h2 = d.connect(Some(CLIENT_PORT))?;
    let hs2 = d.establish(h2, l)?;
    let reopened_after_s = (d.w.now().total_micros() - t1.total_micros()) as f64 / 1e6;
    let synack =
        d.w.recorded_so_far()
            .into_iter()
            .find_map(|(_, left, bytes)| {
                let (_, tcp) = parse_datagram(&bytes, false).ok()?;
                (!left && tcp.control == Control::Syn && tcp.ack.is_some()).then_some(tcp.seq.0)
            });
    let y2 = synack.unwrap_or(0).wrapping_add(1);
    // The old segment whose bytes fall nearest above the new connection's start.
    let candidate = kept
        .iter()
        .filter(|(seq, _)| seq.wrapping_sub(y2) < 32 * 1024)
        .min_by_key(|(seq, _)| seq.wrapping_sub(y2));
    let paws_before = d.w.net.node(c).stack.stats().PAWSEstab;
    if let (Some((_, bytes)), false) = (candidate, time_wait) {
        d.w.note("the old connection's delayed segment arrives");
        d.w.net.send_from(s, bytes);
        d.w.run_for(Duration::from_millis(1));
    }
    let new = pattern(b"NEW-CONNECTION#2|", NEW_BYTES);
    let (mut sent2, mut got2) = (0, Vec::new());
    d.w.until("the second connection's data", |net| {
        let _ = push(&mut net.node_mut(s).stack, hs2, &new, &mut sent2);
        drain(&mut net.node_mut(c).stack, h2, &mut got2);
        got2.len() >= NEW_BYTES
    })?;
    if let Some(i) = d.w.stop_recording() {
        if !time_wait {
            ladders.push(d.w.ladders[i].clone());
        }
    }
    let paws = d.w.net.node(c).stack.stats().PAWSEstab - paws_before;
    let diff: Vec<usize> = (0..NEW_BYTES).filter(|&i| got2[i] != new[i]).collect();
    let first = diff.first().copied();
    if !time_wait {
        outcome = if !diff.is_empty() {
            format!("accepted: {} bytes of the new stream corrupted", diff.len())
        } else if paws > 0 {
            "rejected by PAWS (older timestamp)".into()
        } else if candidate.is_none() {
            "no old segment fell in the new window".into()
        } else {
            "rejected".into()
        };
    }
    counters.push(CounterSnapshot::take(
        &format!("client, {name}"),
        &d.w.net.node(c).stack,
        &[
            "TW",
            "TCPTimeWaitOverflow",
            "PAWSEstab",
            "TCPOFOQueue",
            "TCPDupData",
        ],
    ));
    Ok(Variant {
        name,
        time_wait,
        timestamps,
        outcome,
        corrupted_bytes: diff.len(),
        first_corrupt_offset: first,
        expected: first.map(|i| show(&new[i..(i + 16).min(NEW_BYTES)])),
        got: first.map(|i| show(&got2[i..(i + 16).min(NEW_BYTES)])),
        reopened_after_s: (reopened_after_s * 1000.0).round() / 1000.0,
        paws_rejected: paws,
    })
}
