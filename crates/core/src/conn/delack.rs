//! The delayed-ACK engine, as Linux's `inet_csk` ACK state (`icsk_ack`) runs it (RFC
//! 1122 section 4.2.3.2 and RFC 9293 section 3.8.6.3 leave the policy to the stack; RFC
//! 5681 section 4.2 bounds it).
//!
//! - **Quick-ACK mode**: the first data, and data after a silence longer than the RTO,
//!   make the next ACKs immediate (`quick`, up to TCP_MAX_QUICKACKS = 16, at most half
//!   the window in segments), unless the connection is interactive.
//! - **Interactive ("pingpong") mode**: data we send less than `ato` after data arrived
//!   answers a request, so the ACK of the next request is held to ride on the reply;
//!   quick ACKs are off, and a read that empties the receive queue does not force the
//!   ACK out (unless two small segments wait). A FIN received enters the mode too. The
//!   delayed-ACK timer firing means no reply came in time: the mode ends.
//! - **ato**, the delayed-ACK timeout: 40 ms at the first data, then following the gaps
//!   between data segments (halved towards them), doubled (up to the RTO) each time the
//!   timer fires outside interactive mode, and when arming, bounded by the smoothed RTT
//!   and by 200 ms (`TCP_DELACK_MAX`).
//! - **TCP_QUICKACK** (`__tcp_sock_set_quickack`): 1 leaves interactive mode and sends a
//!   held ACK if the receive queue is empty; 0 enters interactive mode. The option reads
//!   back as "not interactive"; it does not stick, since sending a reply enters the mode
//!   again, which is why programs set it after every read.

use crate::conn::flag;
use core::time::Duration;

use super::{Connection, Ctx, TimerKind};
use crate::state::State;
use crate::time::Instant;

/// Linux acknowledges at most this many segments at once in quick-ACK mode
/// (TCP_MAX_QUICKACKS).
pub(crate) const MAX_QUICKACKS: u32 = 16;

/// TCP_ATO_MIN: the delayed-ACK timeout's floor and starting value.
const ATO_MIN: Duration = Duration::from_millis(40);

/// Linux's `icsk_ack`: the receive side's ACK state.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AckState {
    /// Quick ACKs left (`icsk_ack.quick`).
    pub quick: u32,
    /// Replies sent within `ato` of a request (`icsk_ack.pingpong`); interactive mode
    /// when at least `tcp_pingpong_thresh`.
    pub pingpong: u8,
    /// The delayed-ACK timeout (`icsk_ack.ato`) in nanoseconds, exact as a `Duration`
    /// of under 584 years is, in 8 bytes instead of 16 (issue 9's memory budget; see
    /// [`AckState::ato`]); zero until data arrives.
    ato_ns: u64,
    /// When data last arrived (`icsk_ack.lrcvtime`).
    pub lrcvtime: Instant,
    /// A segment smaller than the MSS estimate, or a full one with PSH, arrived since
    /// the last ACK (ICSK_ACK_PUSHED); `pushed2`: two of them (ICSK_ACK_PUSHED2).
    pub pushed: bool,
    pub pushed2: bool,
}

impl AckState {
    /// The delayed-ACK timeout (`icsk_ack.ato`); zero until data arrives.
    #[inline]
    pub fn ato(&self) -> Duration {
        Duration::from_nanos(self.ato_ns)
    }

    /// Sets the delayed-ACK timeout (saturating past 584 years).
    #[inline]
    pub fn set_ato(&mut self, ato: Duration) {
        self.ato_ns = u64::try_from(ato.as_nanos()).unwrap_or(u64::MAX);
    }
}

impl Connection {
    /// Whether the connection is in interactive mode (inet_csk_in_pingpong_mode).
    pub(crate) fn in_pingpong(&self, ctx: &Ctx) -> bool {
        self.ack.pingpong >= ctx.config.tcp_pingpong_thresh.max(1)
    }

    /// inet_csk_enter_pingpong_mode.
    pub(crate) fn enter_pingpong(&mut self, ctx: &Ctx) {
        self.ack.pingpong = ctx.config.tcp_pingpong_thresh.max(1);
    }

    /// tcp_incr_quickack: at least `max` quick ACKs, bounded by half the window in
    /// full segments (two at least).
    fn incr_quickack(&mut self, max: u32) {
        let n = (self.rcv_wnd() / (2 * self.rcv_mss.max(1))).max(2);
        self.ack.quick = self.ack.quick.max(n.min(max));
    }

    /// tcp_enter_quickack_mode: quick ACKs, interactive mode off, ato at its floor.
    pub(crate) fn enter_quickack_mode(&mut self, max: u32) {
        self.incr_quickack(max);
        self.ack.pingpong = 0;
        self.ack.set_ato(ATO_MIN);
    }

    /// tcp_in_quickack_mode.
    fn in_quickack_mode(&self, ctx: &Ctx) -> bool {
        self.ack.quick > 0 && !self.in_pingpong(ctx)
    }

    /// New in-order data, `small` when shorter than the MSS estimate (tcp_event_data_recv
    /// and tcp_measure_rcv_mss):
    /// an ACK is owed, ato follows the gap since the previous data, and a small or
    /// pushed segment is remembered for the read that drains it.
    pub(crate) fn on_data_recv(&mut self, ctx: &Ctx, small: bool, psh: bool) {
        self.set_flag(flag::ACK_PENDING, true);
        if !small {
            if psh {
                self.ack.pushed = true;
            }
        } else {
            if self.ack.pushed {
                self.ack.pushed2 = true;
            }
            self.ack.pushed = true;
        }
        let rto = self.rtt.rto();
        if self.ack.ato().is_zero() {
            // The first data: start the engine.
            self.incr_quickack(MAX_QUICKACKS);
            self.ack.set_ato(ATO_MIN);
        } else {
            let m = ctx.now - self.ack.lrcvtime;
            if m <= ATO_MIN / 2 {
                self.ack.set_ato(self.ack.ato() / 2 + ATO_MIN / 2);
            } else if m < self.ack.ato() {
                self.ack.set_ato((self.ack.ato() / 2 + m).min(rto));
            } else if m > rto {
                // A long silence: the sender may be restarting; ACK quickly.
                self.incr_quickack(MAX_QUICKACKS);
            }
        }
        self.ack.lrcvtime = ctx.now;
    }

    /// Data went out (tcp_event_data_sent): a reply within ato of the last data
    /// received counts towards interactive mode.
    pub(crate) fn on_data_sent(&mut self, ctx: &Ctx) {
        if !self.ack.ato().is_zero() && ctx.now - self.ack.lrcvtime < self.ack.ato() {
            self.ack.pingpong = self.ack.pingpong.saturating_add(1);
        }
    }

    /// Linux's __tcp_ack_snd_check, after a segment's data and FIN are processed: ACK
    /// now if more than one full segment is unacknowledged, in quick-ACK mode, or when
    /// something already asked for it; otherwise arm the delayed-ACK timer.
    pub(crate) fn ack_snd_check(&mut self, ctx: &Ctx) {
        if !self.flag(flag::ACK_PENDING) || self.flag(flag::ACK_NOW) {
            return;
        }
        // Two full segments unacknowledged, and the window would not shrink by
        // acknowledging now (checking it may end quick-ACK mode, as
        // __tcp_select_window does when the free space falls under half).
        let mut now = false;
        if self.unacked_bytes >= 2 * self.rcv_mss {
            let (window, end_quick) = self.raw_window(ctx.config);
            if end_quick {
                self.ack.quick = 0;
            }
            now = window >= self.rcv_wnd();
        }
        if now || self.in_quickack_mode(ctx) {
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        self.send_delayed_ack(ctx);
    }

    /// tcp_send_delayed_ack: arm the timer for ato, bounded by the smoothed RTT (40 ms
    /// at least) and by 200 ms in interactive mode or after a pushed segment (500 ms
    /// otherwise), never later than a timer already armed; a timer about to fire sends
    /// the ACK now.
    fn send_delayed_ack(&mut self, ctx: &Ctx) {
        let mut ato = self.ack.ato();
        if ato > ctx.config.delack_min {
            let mut max_ato = if self.in_pingpong(ctx) || self.ack.pushed {
                ctx.config.delack_max
            } else {
                Duration::from_millis(500)
            };
            if let Some(srtt) = self.rtt.srtt() {
                max_ato = max_ato.min(srtt.max(ctx.config.delack_min));
            }
            ato = ato.min(max_ato);
        }
        ato = ato.min(ctx.config.delack_max);
        let mut at = ctx.now + ato;
        if let Some(armed) = self.timer(TimerKind::DelayedAck) {
            if armed <= ctx.now + ato / 4 {
                self.set_flag(flag::ACK_NOW, true);
                return;
            }
            at = at.min(armed);
        }
        if at <= ctx.now {
            // ato is zero (no data yet, say a bare FIN): the timer would fire at once.
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        self.arm(TimerKind::DelayedAck, at);
    }

    /// The delayed-ACK timer fired (tcp_delack_timer_handler): in interactive mode no
    /// reply came in time, so the mode ends and ato returns to its floor; otherwise the
    /// timeout was too short for this sender, so ato doubles (up to the RTO).
    pub(crate) fn on_delack_timer(&mut self, ctx: &mut Ctx) {
        if !self.flag(flag::ACK_PENDING) {
            return;
        }
        if self.in_pingpong(ctx) {
            self.ack.pingpong = 0;
            self.ack.set_ato(ATO_MIN);
        } else {
            self.ack.set_ato((self.ack.ato() * 2).min(self.rtt.rto()));
        }
        ctx.stats.DelayedACKs += 1;
        self.set_flag(flag::ACK_NOW, true);
    }

    /// An ACK of RCV.NXT went out (tcp_event_ack_sent): one quick ACK spent if one was
    /// owed (leaving quick-ACK mode returns ato to its floor); the timer and the
    /// pushed marks are cleared.
    pub(crate) fn on_ack_sent(&mut self) {
        if self.ack.quick > 0 && self.flag(flag::ACK_PENDING) {
            self.ack.quick -= 1;
            if self.ack.quick == 0 {
                self.ack.set_ato(ATO_MIN);
            }
        }
        self.ack.pushed = false;
        self.ack.pushed2 = false;
    }

    /// A read took `copied` bytes (tcp_cleanup_rbuf's ACK part): a held ACK goes now if
    /// more than one full segment is unacknowledged, or if the read emptied the queue
    /// after a small segment (two of them in interactive mode).
    pub(crate) fn ack_after_read(&mut self, ctx: &Ctx, copied: usize) {
        if !self.flag(flag::ACK_PENDING) {
            return;
        }
        let pushed = self.ack.pushed2 || (self.ack.pushed && !self.in_pingpong(ctx));
        if self.unacked_bytes > self.rcv_mss || (copied > 0 && pushed && self.recv_buf.is_empty()) {
            self.set_flag(flag::ACK_NOW, true);
        }
    }

    /// setsockopt(TCP_QUICKACK, val), as Linux's __tcp_sock_set_quickack.
    pub(crate) fn set_quickack(&mut self, ctx: &Ctx, val: i32) {
        if val == 0 {
            self.enter_pingpong(ctx);
            return;
        }
        self.ack.pingpong = 0;
        if matches!(self.state, State::Established | State::CloseWait)
            && self.flag(flag::ACK_PENDING)
        {
            self.ack.pushed = true;
            self.ack_after_read(ctx, 1);
            if val & 1 == 0 {
                self.enter_pingpong(ctx);
            }
        }
    }

    /// getsockopt(TCP_QUICKACK): 1 unless in interactive mode.
    pub(crate) fn quickack_opt(&self, pingpong_thresh: u8) -> bool {
        self.ack.pingpong < pingpong_thresh.max(1)
    }
}
