//! `silly-window`: a slow reader with a small buffer and a sender of small writes
//! (RFC 813, RFC 1122 4.2.3.3 and 4.2.3.4). The receiver's side of silly-window
//! avoidance never reopens its window by less than min(MSS, half the buffer); the
//! sender's side (Nagle's algorithm, and sending less than a full segment only when
//! nothing small is in flight) keeps segments large. TCP_NODELAY turns the sender's side off;
//! the receiver's side is a MUST of RFC 1122 that Linux offers no knob for (seed 004).

use std::time::Duration;

use serde::Serialize;
use synack::SockOpt;

use super::{lan, Duo, LabDef};
use crate::ladder::{Event, Side};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, push};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "silly-window",
    title: "a slow reader and small writes: silly-window avoidance on each side",
    seeds: "004",
    run: |o| run(o).map(Outcome::into_report),
};

/// The reader's receive buffer (SO_RCVBUF, before Linux doubles it).
const RCVBUF: usize = 4096;
/// The writer's write size and the reader's read size, bytes.
const WRITE: usize = 100;
const READ: usize = 100;
/// The reader reads this often.
const READ_EVERY: Duration = Duration::from_millis(20);
/// The paced writer writes this often.
const PACE: Duration = Duration::from_millis(1);
/// How long the lab runs.
const RUN: Duration = Duration::from_secs(6);

/// One setting of the sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// The setting.
    pub name: String,
    /// Bytes the reader read.
    pub bytes_read: usize,
    /// Data segments the sender sent.
    pub data_segments: usize,
    /// Their average payload, bytes.
    pub average_payload: f64,
    /// Data segments under half the MSS: the silly ones.
    pub small_segments: usize,
    /// The smallest non-zero window the reader advertised after a zero window.
    pub smallest_reopened_window: Option<u32>,
    /// Times the reader advertised a zero window.
    pub zero_windows: usize,
    /// Segments per 1000 bytes delivered (overhead).
    pub segments_per_kb: f64,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The connection's MSS.
    pub mss: u32,
    /// The reader's receive buffer in use, bytes.
    pub rcvbuf: usize,
    /// The receiver's side: a slow reader, a writer that never waits.
    pub slow_reader: Variant,
    /// The sender's side on (Nagle): a fast reader, small paced writes.
    pub nagle: Variant,
    /// The sender's side off (TCP_NODELAY), same load.
    pub nodelay: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let (slow_reader, mss, rcvbuf) = one(opts, false, true, &mut counters, &mut ladders)?;
    let (nagle, _, _) = one(opts, false, false, &mut counters, &mut ladders)?;
    let (nodelay, _, _) = one(opts, true, false, &mut counters, &mut ladders)?;
    let figures = Figures {
        mss,
        rcvbuf,
        slow_reader,
        nagle,
        nodelay,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A reader with a {}-byte receive buffer reads {READ} bytes every {} ms; a \
             writer writes as fast as its buffer takes. The reader's buffer fills and it \
             advertises a zero window ({} times). Each read frees {READ} bytes; a naive \
             receiver would announce each of those tiny windows and the sender would fill \
             each with a tiny segment: the silly window syndrome, 40 bytes of headers for \
             every {READ} of data. The receiver's side of the avoidance (RFC 1122 \
             4.2.3.3) keeps the window shut until min(MSS, half the buffer) is free: the \
             smallest window it reopened to is {:?} bytes. Linux has no knob to turn this \
             side off: RFC 1122 makes it a MUST.",
            f.rcvbuf,
            READ_EVERY.as_millis(),
            f.slow_reader.zero_windows,
            f.slow_reader.smallest_reopened_window
        ),
        format!(
            "The sender's side: a writer of {WRITE} bytes every {} ms to a reader that \
             keeps up. With Nagle's algorithm (RFC 1122 4.2.3.4) small writes wait while a \
             small segment is unacknowledged and go out together: {} data segments \
             averaging {:.0} bytes, {:.1} segments per KB. With TCP_NODELAY every write is \
             a segment: {} averaging {:.0} bytes, {:.1} per KB.",
            PACE.as_millis(),
            f.nagle.data_segments,
            f.nagle.average_payload,
            f.nagle.segments_per_kb,
            f.nodelay.data_segments,
            f.nodelay.average_payload,
            f.nodelay.segments_per_kb
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

fn one(
    opts: &Options,
    nodelay: bool,
    slow_reader: bool,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<(Variant, u32, usize), LabError> {
    let name = match (slow_reader, nodelay) {
        (true, _) => "a slow reader, a writer that never waits",
        (false, false) => "a fast reader, a writer of 100 bytes every ms, Nagle",
        (false, true) => "a fast reader, a writer of 100 bytes every ms, TCP_NODELAY",
    };
    // No window scaling, so the window field reads in bytes (the reader's knobs win).
    let mut d = Duo::new(opts, |c| c.tcp_window_scaling = false, &[], &[], lan())?;
    let (c, s) = (d.c, d.s);
    let server = d.server;
    let st = d.w.stack(s);
    let l = st.socket();
    // Only the slow reader's buffer is small: a reader that keeps up gets the default,
    // since each small segment is charged its buffer's whole truesize (896 bytes for
    // 100 of data) and twenty of them between reads would fill 8 KB of memory.
    if slow_reader {
        call(
            "setsockopt(SO_RCVBUF)",
            st.set_option(l, SockOpt::RecvBuffer(RCVBUF)),
        )?;
    }
    call("bind()", st.bind(l, server))?;
    call("listen()", st.listen(l, 16))?;
    let h = d.connect(None)?;
    let hs = d.establish(h, l)?;
    if nodelay {
        call(
            "setsockopt(TCP_NODELAY)",
            d.w.stack(c).set_option(h, SockOpt::NoDelay(true)),
        )?;
    }
    let mss = d.w.net.node(c).stack.socket_info(h).map_or(0, |i| i.mss);
    let rcvbuf = match d.w.stack(s).get_option(hs, synack::SockOptName::RecvBuffer) {
        Ok(SockOpt::RecvBuffer(n)) => n,
        _ => RCVBUF,
    };
    d.w.record(
        name,
        (c, "writer 10.0.0.1"),
        (s, "reader 10.0.0.2:80"),
        20_000,
    );
    let start = d.w.now();
    let piece = vec![b'w'; WRITE];
    let mut read = 0usize;
    let mut next_read = start + READ_EVERY;
    let mut buf = [0u8; READ];
    let mut next_write = start;
    while d.w.now() < start + RUN {
        let target = if slow_reader {
            next_read
        } else {
            next_read.min(next_write)
        };
        d.w.until_or(target, |net| {
            if slow_reader {
                let cs = &mut net.node_mut(c).stack;
                loop {
                    let mut sent = 0;
                    if push(cs, h, &piece, &mut sent).is_err() || sent < WRITE {
                        break;
                    }
                }
            }
            false
        });
        if !slow_reader && d.w.now() >= next_write {
            let mut sent = 0;
            let _ = push(d.w.stack(c), h, &piece, &mut sent);
            next_write += PACE;
        }
        if d.w.now() >= next_read {
            let st = d.w.stack(s);
            if slow_reader {
                if let Ok(n) = st.recv(hs, &mut buf) {
                    read += n;
                }
            } else {
                let mut all = [0u8; 8192];
                while let Ok(n) = st.recv(hs, &mut all) {
                    if n == 0 {
                        break;
                    }
                    read += n;
                }
            }
            next_read += READ_EVERY;
        }
    }
    d.w.stop_recording();
    let Some(mut ladder) = d.w.ladders.pop() else {
        return Err(LabError::Scenario("no ladder recorded".into()));
    };
    let data: Vec<u32> = ladder
        .segments()
        .filter(|g| g.from == Side::Left && g.len > 0)
        .map(|g| g.len)
        .collect();
    // The reader's windows, in bytes (no window scaling in this lab).
    let windows: Vec<u32> = ladder
        .segments()
        .filter(|g| g.from == Side::Right)
        .map(|g| u32::from(g.window))
        .collect();
    let zero_windows = windows.iter().filter(|&&w| w == 0).count();
    let smallest_reopened_window = windows
        .windows(2)
        .filter(|w| w[0] == 0 && w[1] > 0)
        .map(|w| w[1])
        .min();
    for e in &mut ladder.events {
        if let Event::Segment(g) = e {
            g.label += &format!(" win={}", g.window);
        }
    }
    ladder.omitted += ladder.events.len().saturating_sub(36);
    ladder.events.truncate(36);
    ladder.title = format!("{name} (the first rows, with the advertised windows)");
    ladders.push(ladder);
    counters.push(CounterSnapshot::take(
        &format!("writer, {name}"),
        &d.w.net.node(c).stack,
        &["OutSegs", "TCPWinProbe"],
    ));
    let n = data.len();
    let total: u32 = data.iter().sum();
    Ok((
        Variant {
            name: name.to_string(),
            bytes_read: read,
            data_segments: n,
            average_payload: if n == 0 {
                0.0
            } else {
                (f64::from(total) / n as f64).round()
            },
            small_segments: data.iter().filter(|&&l| l < mss / 2).count(),
            smallest_reopened_window,
            zero_windows,
            segments_per_kb: if read == 0 {
                0.0
            } else {
                ((n as f64 * 1000.0 / read as f64) * 10.0).round() / 10.0
            },
        },
        mss,
        rcvbuf,
    ))
}
