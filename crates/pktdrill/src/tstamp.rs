//! `SO_TIMESTAMPING` transmit timestamps (Linux's Documentation/networking/
//! timestamping.rst), taken where packetdrill's tun device would take them: the runner
//! is the device.
//!
//! - Each `send*()` call that queues data marks its last byte (`tcp_tx_timestamp`); the
//!   key reported is that byte's offset from where `SOF_TIMESTAMPING_OPT_ID` was set
//!   (`write_seq` then), 0 without OPT_ID.
//! - When the segment holding a marked byte first leaves, `SCM_TSTAMP_SCHED` (with
//!   `SOF_TIMESTAMPING_TX_SCHED`; the queueing discipline and the device are one step
//!   here) and `SCM_TSTAMP_SND` (with `SOF_TIMESTAMPING_TX_SOFTWARE`) are queued on the
//!   error queue, stamped with the virtual time; when the peer acknowledges the byte,
//!   `SCM_TSTAMP_ACK` (with `SOF_TIMESTAMPING_TX_ACK`). Each wakes the socket with
//!   `EPOLLERR`.
//! - `recvmsg(MSG_ERRQUEUE)` returns one at a time: an `SCM_TIMESTAMPING` control
//!   message whose time is checked within the script's tolerance, and the
//!   `IP_RECVERR` / `IPV6_RECVERR` one (`ee_errno=ENOMSG`, `ee_origin=
//!   SO_EE_ORIGIN_TIMESTAMPING`, `ee_info` the kind, `ee_data` the key).

use std::collections::VecDeque;

use synack::SocketHandle;

use crate::ast::Expr;
use crate::runner::{Res, Runner, Stop};
use crate::syscalls::int_of;
use crate::zerocopy::Note;

/// `ENOMSG`, the `ee_errno` of a timestamp.
pub(crate) const ENOMSG: i64 = 42;
/// `SO_EE_ORIGIN_TIMESTAMPING`.
pub(crate) const ORIGIN_TIMESTAMPING: i64 = 4;
const TX_SOFTWARE: u32 = 0x2;
const OPT_ID: u32 = 0x80;
const TX_SCHED: u32 = 0x100;
const TX_ACK: u32 = 0x200;
/// `SCM_TSTAMP_SND`, `SCM_TSTAMP_SCHED`, `SCM_TSTAMP_ACK`.
const SND: u32 = 0;
const SCHED: u32 = 1;
const ACK: u32 = 2;

/// Linux's values of the timestamping symbols.
pub(crate) fn sym_value(s: &str) -> Option<i64> {
    Some(match s {
        "SO_TIMESTAMPING" | "SO_TIMESTAMPING_OLD" | "SCM_TIMESTAMPING" => 37,
        "SOF_TIMESTAMPING_TX_HARDWARE" => 0x1,
        "SOF_TIMESTAMPING_TX_SOFTWARE" => TX_SOFTWARE.into(),
        "SOF_TIMESTAMPING_RX_HARDWARE" => 0x4,
        "SOF_TIMESTAMPING_RX_SOFTWARE" => 0x8,
        "SOF_TIMESTAMPING_SOFTWARE" => 0x10,
        "SOF_TIMESTAMPING_SYS_HARDWARE" => 0x20,
        "SOF_TIMESTAMPING_RAW_HARDWARE" => 0x40,
        "SOF_TIMESTAMPING_OPT_ID" => OPT_ID.into(),
        "SOF_TIMESTAMPING_TX_SCHED" => TX_SCHED.into(),
        "SOF_TIMESTAMPING_TX_ACK" => TX_ACK.into(),
        "SOF_TIMESTAMPING_OPT_CMSG" => 0x400,
        "SOF_TIMESTAMPING_OPT_TSONLY" => 0x800,
        "SCM_TSTAMP_SND" => SND.into(),
        "SCM_TSTAMP_SCHED" => SCHED.into(),
        "SCM_TSTAMP_ACK" => ACK.into(),
        "SO_EE_ORIGIN_TIMESTAMPING" => ORIGIN_TIMESTAMPING,
        "ENOMSG" => ENOMSG,
        "MSG_TRUNC" => 0x20,
        _ => return None,
    })
}

/// The name of a timestamp kind, for messages.
pub(crate) fn kind_name(kind: u32) -> &'static str {
    match kind {
        SND => "SCM_TSTAMP_SND",
        SCHED => "SCM_TSTAMP_SCHED",
        _ => "SCM_TSTAMP_ACK",
    }
}

/// A byte marked for timestamps.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Its stream offset.
    off: u64,
    sent: bool,
}

/// A socket's SO_TIMESTAMPING state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ts {
    flags: u32,
    /// The stream offset where OPT_ID was set.
    base: Option<u64>,
    marks: VecDeque<Mark>,
}

impl Ts {
    fn key(&self, off: u64) -> u32 {
        self.base.map_or(0, |b| off.wrapping_sub(b) as u32)
    }

    /// Marks are waiting for their acknowledgment.
    pub(crate) fn waiting_ack(&self) -> bool {
        !self.marks.is_empty()
    }

    /// The stream has `acked` bytes acknowledged at `now`: the marks it passed give
    /// their ACK timestamps. True if anything was queued.
    pub(crate) fn on_acked(&mut self, acked: u64, now: i64, errq: &mut VecDeque<Note>) -> bool {
        let mut queued = false;
        while self.marks.front().is_some_and(|m| m.off < acked) {
            let Some(m) = self.marks.pop_front() else {
                break;
            };
            if self.flags & TX_ACK != 0 {
                errq.push_back(Note::Tstamp(ACK, self.key(m.off), now));
                queued = true;
            }
        }
        queued
    }

    /// A segment with the stream's bytes `[start, end)` left at `now` (a first
    /// transmission or a retransmission): marks in it sent for the first time give
    /// their SCHED and SND timestamps. True if anything was queued.
    fn on_sent(&mut self, start: u64, end: u64, now: i64, errq: &mut VecDeque<Note>) -> bool {
        let (flags, base) = (self.flags, self.base);
        let key = |off: u64| base.map_or(0, |b| off.wrapping_sub(b) as u32);
        let mut queued = false;
        for m in self.marks.iter_mut() {
            if m.sent || m.off < start || m.off >= end {
                continue;
            }
            m.sent = true;
            if flags & TX_SCHED != 0 {
                errq.push_back(Note::Tstamp(SCHED, key(m.off), now));
                queued = true;
            }
            if flags & TX_SOFTWARE != 0 {
                errq.push_back(Note::Tstamp(SND, key(m.off), now));
                queued = true;
            }
        }
        queued
    }
}

impl Runner<'_> {
    /// `setsockopt(SO_TIMESTAMPING, [flags])`: `(return, errno)`.
    pub(crate) fn set_timestamping(&mut self, fd: i64, flags: i64) -> (i64, Option<String>) {
        let Some(h) = self.fds.get(&fd).map(|f| f.h) else {
            return (-1, Some("EBADF".into()));
        };
        let flags = flags as u32;
        let state = self.stack.state(h).ok();
        let z = self.zc.entry(h).or_default();
        if flags & OPT_ID != 0 && z.ts.base.is_none() {
            // Linux numbers keys from write_seq, which a socket not connected lacks.
            if matches!(state, Some(synack::State::Closed | synack::State::Listen)) {
                return (-1, Some("EINVAL".into()));
            }
            z.ts.base = Some(z.written);
        }
        if flags & OPT_ID == 0 {
            z.ts.base = None;
        }
        z.ts.flags = flags;
        (0, None)
    }

    /// A `send*()` call on `h` queued data: its last byte is marked.
    pub(crate) fn ts_wrote(&mut self, h: SocketHandle) {
        if let Some(z) = self.zc.get_mut(&h) {
            if z.ts.flags & (TX_SCHED | TX_SOFTWARE | TX_ACK) != 0 && z.written > 0 {
                let off = z.written - 1;
                z.ts.marks.push_back(Mark { off, sent: false });
            }
        }
    }

    /// An outbound data segment of the connection under test, `seq` its live sequence
    /// number: marks it carries are stamped.
    pub(crate) fn ts_outbound(&mut self, seq: u32, len: usize) {
        if len == 0 || !self.zc.values().any(|z| !z.ts.marks.is_empty()) {
            return;
        }
        let Some((isn, _)) = self.map.local_isn else {
            return;
        };
        let Some(h) = self.sut_handle() else {
            return;
        };
        let start = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
        let now = self.now;
        let woke = match self.zc.get_mut(&h) {
            Some(z) => z.ts.on_sent(start, start + len as u64, now, &mut z.errq),
            None => false,
        };
        if woke {
            self.epoll_wakeup_key(h, crate::poll::EPOLLERR);
        }
    }

    /// Checks an `SCM_TIMESTAMPING` message's `{scm_sec=..., scm_nsec=...}` against the
    /// timestamp taken at `at` (µs), within the script's tolerance.
    pub(crate) fn check_scm_time(&self, data: Option<&Expr>, at: i64, what: &str) -> Res<()> {
        let Some(d) = data else { return Ok(()) };
        let sec = d.field("scm_sec").and_then(int_of);
        let nsec = d.field("scm_nsec").and_then(int_of);
        let (Some(sec), Some(nsec)) = (sec, nsec) else {
            return Err(Stop::Unsupported(format!(
                "line {}: SCM_TIMESTAMPING data other than {{scm_sec=N, scm_nsec=N}}",
                self.line
            )));
        };
        let want = sec * 1_000_000 + nsec / 1000;
        if (want - at).abs() > self.set.tol_us {
            return Err(self.fail(
                format!(
                    "recvmsg(MSG_ERRQUEUE): expected a timestamp at {} s, got {what}",
                    crate::report::secs(want)
                ),
                None,
            ));
        }
        Ok(())
    }
}
