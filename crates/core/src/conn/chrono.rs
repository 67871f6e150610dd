//! The send side's chronographs, as Linux's `tcp_chrono_start` / `tcp_chrono_stop` keep
//! them for TCP_INFO: how long the connection was busy (data written and not yet
//! acknowledged), and of that how long it was limited by the peer's receive window and
//! by the send buffer (`tcpi_busy_time`, `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`).
//!
//! One chronograph runs at a time, the most interesting condition winning (send buffer
//! over receive window over busy); the times are kept in jiffies (milliseconds, HZ =
//! 1000), as Linux's `tcp_jiffies32` counts them.

use super::Connection;
use crate::state::State;
use crate::time::Instant;

/// What the send side is doing, in Linux's order of interest (`enum tcp_chrono`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ChronoKind {
    /// Nothing written waits (TCP_CHRONO_UNSPEC).
    #[default]
    Idle = 0,
    /// Data waits to be sent or acknowledged (TCP_CHRONO_BUSY).
    Busy = 1,
    /// The peer's receive window stopped transmission (TCP_CHRONO_RWND_LIMITED).
    RwndLimited = 2,
    /// Everything written went out, not for lack of cwnd, while the writer was held
    /// back by the send buffer (TCP_CHRONO_SNDBUF_LIMITED).
    SndbufLimited = 3,
}

/// A connection's chronographs (Linux's `chrono_start`, `chrono_stat`, `chrono_type`),
/// 16 bytes: the start time, the running kind and the waiting writer share a word.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Chrono {
    /// Bits 0..29: when the running chronograph started, in jiffies modulo 2^29 (six
    /// days; a chronograph is charged at least at every ACK and write); bits 29..31:
    /// the running [`ChronoKind`]; bit 31: the writer met a full send buffer and waits
    /// for room (Linux's SOCK_NOSPACE), set by a write that could not take all its
    /// bytes, cleared when an ACK leaves a third of the buffer free
    /// (sk_stream_write_space).
    word: u32,
    /// Jiffies accumulated by Busy, RwndLimited and SndbufLimited.
    stat: [u32; 3],
}

const START_MASK: u32 = (1 << 29) - 1;
const NOSPACE: u32 = 1 << 31;

/// Linux's `tcp_jiffies32` on the engine's clock (HZ = 1000), modulo 2^29.
fn jiffies(now: Instant) -> u32 {
    now.total_millis() as u32 & START_MASK
}

impl Chrono {
    /// Nothing counted, nothing running.
    pub const IDLE: Chrono = Chrono {
        word: 0,
        stat: [0; 3],
    };

    /// The running chronograph.
    pub fn kind(&self) -> ChronoKind {
        match (self.word >> 29) & 3 {
            1 => ChronoKind::Busy,
            2 => ChronoKind::RwndLimited,
            3 => ChronoKind::SndbufLimited,
            _ => ChronoKind::Idle,
        }
    }

    /// Whether the writer waits for room.
    pub fn nospace(&self) -> bool {
        self.word & NOSPACE != 0
    }

    /// Sets or clears the writer's wait for room.
    pub fn set_nospace(&mut self, on: bool) {
        if on {
            self.word |= NOSPACE;
        } else {
            self.word &= !NOSPACE;
        }
    }

    /// Jiffies since the running chronograph started.
    fn elapsed(&self, now: Instant) -> u32 {
        jiffies(now).wrapping_sub(self.word & START_MASK) & START_MASK
    }

    /// Linux's `tcp_chrono_set`: the running chronograph is charged up to now, and `kind`
    /// runs from now.
    fn switch(&mut self, now: Instant, kind: ChronoKind) {
        let old = self.kind();
        if old != ChronoKind::Idle {
            let i = old as usize - 1;
            self.stat[i] = self.stat[i].wrapping_add(self.elapsed(now));
        }
        self.word = (self.word & NOSPACE) | ((kind as u32) << 29) | jiffies(now);
    }

    /// The times in microseconds at `now`: (busy, rwnd-limited, sndbuf-limited), the
    /// busy time including the other two (Linux's tcp_get_info_chrono_stats).
    pub fn times(&self, now: Instant) -> (u64, u64, u64) {
        let mut t = self.stat.map(u64::from);
        let kind = self.kind();
        if kind != ChronoKind::Idle {
            t[kind as usize - 1] += u64::from(self.elapsed(now));
        }
        let us = t.map(|j| j * 1000);
        (us[0] + us[1] + us[2], us[1], us[2])
    }
}

impl Connection {
    /// Nothing written waits to be sent or acknowledged (Linux's
    /// tcp_rtx_and_write_queues_empty).
    fn queues_empty(&self) -> bool {
        self.send_buf.is_empty()
    }

    /// Linux's `tcp_chrono_start`: `kind` runs if it is more interesting than the
    /// running one.
    pub(crate) fn chrono_start(&mut self, now: Instant, kind: ChronoKind) {
        if kind > self.rare.chrono.kind() {
            self.rare.chrono.switch(now, kind);
        }
    }

    /// Linux's `tcp_chrono_stop`: with nothing left written, no chronograph runs;
    /// otherwise, if `kind` was the running one, busy time runs again.
    pub(crate) fn chrono_stop(&mut self, now: Instant, kind: ChronoKind) {
        if self.rare.chrono.kind() == ChronoKind::Idle {
            // Nothing runs: nothing to stop (and nothing to allocate).
            return;
        }
        if self.queues_empty() {
            self.rare.chrono.switch(now, ChronoKind::Idle);
        } else if kind == self.rare.chrono.kind() {
            self.rare.chrono.switch(now, ChronoKind::Busy);
        }
    }

    /// A write that took `taken` of `asked` bytes, with `unsent_before` bytes unsent
    /// before it: data queued on an empty write queue starts busy time (Linux's
    /// tcp_add_write_queue_tail), and a write cut short by the send buffer leaves the
    /// writer waiting for room (SOCK_NOSPACE).
    pub(crate) fn chrono_on_write(
        &mut self,
        now: Instant,
        unsent_before: usize,
        taken: usize,
        asked: usize,
    ) {
        if taken > 0 && unsent_before == 0 {
            self.chrono_start(now, ChronoKind::Busy);
        }
        if taken < asked {
            self.rare.chrono.set_nospace(true);
        }
    }

    /// An ACK advanced SND.UNA: with everything sent acknowledged, busy time stops
    /// (Linux's tcp_clean_rtx_queue); with a third of the buffer free the waiting writer
    /// has room again and send-buffer-limited time stops (tcp_check_space).
    pub(crate) fn chrono_on_ack(&mut self, now: Instant, config: &crate::Config) {
        if self.snd_una == self.snd_max {
            self.chrono_stop(now, ChronoKind::Busy);
        }
        if self.rare.chrono.nospace() && self.stream_writeable(config) {
            self.rare.chrono.set_nospace(false);
            self.chrono_stop(now, ChronoKind::SndbufLimited);
        }
    }

    /// A new data segment went out. If it emptied the write queue, transmission ends
    /// for want of data, not for the window (the end of Linux's tcp_write_xmit); and if
    /// meanwhile the writer waits for room and the flow is not cwnd-limited, the send
    /// buffer is what limits it (tcp_cwnd_validate).
    pub(crate) fn chrono_on_new_data_sent(&mut self, now: Instant) {
        if self.notsent_bytes() == 0 {
            self.chrono_stop(now, ChronoKind::RwndLimited);
        }
        if self.rare.chrono.nospace()
            && self.notsent_bytes() == 0
            && matches!(self.state, State::Established | State::CloseWait)
            && !self.cc.cwnd_limited(self.max_flight)
        {
            self.chrono_start(now, ChronoKind::SndbufLimited);
        }
    }
}
