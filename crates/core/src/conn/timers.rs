//! A connection's timers. Each expiry handler only decides and delegates; the stack
//! keeps one deadline per connection in its timer queue (the earliest of these).

use super::{Connection, Ctx};
use crate::conn::flag;
use crate::error::Error;
use crate::state::State;
use crate::time::Instant;

/// The kinds of timers a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// Retransmission of SYN, SYN-ACK, data or FIN (RFC 6298).
    Retransmit = 0,
    /// Delayed ACK (RFC 9293 section 3.8.6.3; RFC 1122 4.2.3.2).
    DelayedAck = 1,
    /// Zero-window probe (RFC 9293 section 3.8.6.1).
    Persist = 2,
    /// Keepalive (RFC 9293 section 3.8.4; RFC 1122 4.2.3.6).
    Keepalive = 3,
    /// FIN-WAIT-2 timeout of an orphaned connection (`tcp_fin_timeout`).
    FinWait2 = 4,
    /// RACK's reordering window (RFC 8985 section 6.3): a hole becomes a loss when it
    /// expires.
    Reorder = 5,
}

impl TimerKind {
    /// Number of kinds.
    pub const COUNT: usize = 6;
    pub(crate) const ALL: [TimerKind; Self::COUNT] = [
        TimerKind::Retransmit,
        TimerKind::DelayedAck,
        TimerKind::Persist,
        TimerKind::Keepalive,
        TimerKind::FinWait2,
        TimerKind::Reorder,
    ];

    /// The name `ss -o` prints for the timer.
    pub fn ss_name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "on",
            TimerKind::DelayedAck => "delack",
            TimerKind::Persist => "persist",
            TimerKind::Keepalive => "keepalive",
            TimerKind::FinWait2 => "timewait",
            TimerKind::Reorder => "on",
        }
    }
}

/// The deadlines of the timers every connection runs (Retransmit, DelayedAck,
/// Keepalive, FinWait2): eight bytes each (an unarmed timer is `u64::MAX`, an instant no
/// clock reaches). Persist and Reorder, armed only while data waits or is in flight,
/// live in the in-flight box (inflight.rs); [`Connection::timer`] and
/// [`Connection::arm`] see all six by [`TimerKind`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerSlots([u64; 4]);

impl TimerSlots {
    const OFF: u64 = u64::MAX;

    /// Every timer unarmed.
    pub const fn new() -> TimerSlots {
        TimerSlots([Self::OFF; 4])
    }

    /// The inline slot of `kind`, or `None` for the two kept in the in-flight box.
    #[inline]
    fn index(kind: TimerKind) -> Option<usize> {
        match kind {
            TimerKind::Retransmit => Some(0),
            TimerKind::DelayedAck => Some(1),
            TimerKind::Keepalive => Some(2),
            TimerKind::FinWait2 => Some(3),
            TimerKind::Persist | TimerKind::Reorder => None,
        }
    }

    fn get(&self, i: usize) -> Option<Instant> {
        let at = self.0[i];
        (at != Self::OFF).then(|| Instant::from_micros(at))
    }

    fn set(&mut self, i: usize, at: Option<Instant>) {
        self.0[i] = at.map_or(Self::OFF, |t| t.total_micros().min(Self::OFF - 1));
    }

    /// The earliest inline deadline.
    fn earliest(&self) -> Option<Instant> {
        let m = *self.0.iter().min()?;
        (m != Self::OFF).then(|| Instant::from_micros(m))
    }
}

impl Connection {
    /// The deadline of `kind`, if armed.
    #[inline]
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        match TimerSlots::index(kind) {
            Some(i) => self.timers.get(i),
            None if kind == TimerKind::Persist => self.inflight.persist_at,
            None => self.inflight.reorder_at,
        }
    }

    /// Arms `kind` at `at` (`Some`) or disarms it. Disarming Persist or Reorder never
    /// allocates the in-flight box, and may give it back.
    #[inline]
    pub(crate) fn set_timer(&mut self, kind: TimerKind, at: Option<Instant>) {
        match (TimerSlots::index(kind), at) {
            (Some(i), at) => self.timers.set(i, at),
            (None, Some(at)) if kind == TimerKind::Persist => self.inflight.persist_at = Some(at),
            (None, Some(at)) => self.inflight.reorder_at = Some(at),
            // Only a deadline that is set has anything to clear (and may free the box).
            (None, None) if self.timer(kind).is_none() => {}
            (None, None) if kind == TimerKind::Persist => {
                self.inflight_clear(|f| f.persist_at = None);
            }
            (None, None) => {
                self.inflight_clear(|f| f.reorder_at = None);
            }
        }
    }

    /// Disarms every timer (the connection closed or went to TIME-WAIT).
    pub(crate) fn disarm_all(&mut self) {
        self.timers = TimerSlots::new();
        self.inflight_clear(|f| {
            f.persist_at = None;
            f.reorder_at = None;
        });
    }

    /// The armed timers with their deadlines, in [`TimerKind::ALL`] order.
    pub fn timers_armed(&self) -> impl Iterator<Item = (TimerKind, Instant)> + '_ {
        TimerKind::ALL
            .into_iter()
            .filter_map(|k| self.timer(k).map(|at| (k, at)))
    }

    /// The earliest deadline of any timer.
    #[inline]
    pub fn timers_earliest(&self) -> Option<Instant> {
        let inline = self.timers.earliest();
        match self.inflight.get() {
            None => inline,
            Some(f) => earliest_of(inline, earliest_of(f.persist_at, f.reorder_at)),
        }
    }
}

/// The earlier of two optional deadlines.
#[inline]
fn earliest_of(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Linux's TCP_RESOURCE_PROBE_INTERVAL: the probe timer's period while the host's own
/// queue drops what TCP sends.
const RESOURCE_PROBE_INTERVAL: core::time::Duration = core::time::Duration::from_millis(500);

/// Linux's TCP_TIMEOUT_MIN (2 jiffies): the shortest probe timer.
const TIMEOUT_MIN: core::time::Duration = core::time::Duration::from_millis(8);

/// TCP_THIN_LINEAR_RETRIES: the timeouts a thin stream takes without backing off.
const THIN_LINEAR_RETRIES: u8 = 6;

impl Connection {
    /// Runs every timer due at `ctx.now`.
    pub fn on_timeout(&mut self, ctx: &mut Ctx) {
        for kind in TimerKind::ALL {
            if self.state == State::Closed {
                return;
            }
            match self.timer(kind) {
                Some(at) if at <= ctx.now => {
                    self.set_timer(kind, None);
                    match kind {
                        TimerKind::Retransmit if self.flag(flag::XMIT_PROBE) => {
                            self.on_loss_probe(ctx)
                        }
                        TimerKind::Retransmit => self.on_rto(ctx),
                        TimerKind::DelayedAck => self.on_delack_timer(ctx),
                        TimerKind::Persist => self.on_persist(ctx),
                        TimerKind::Keepalive => self.on_keepalive(ctx),
                        TimerKind::FinWait2 => {
                            if self.state == State::FinWait2 {
                                self.close_with(None);
                            }
                        }
                        TimerKind::Reorder => self.on_reorder_timeout(ctx),
                    }
                }
                _ => {}
            }
        }
    }

    /// Retransmission timeout (RFC 6298 section 5.4-5.7, RFC 5681 section 3.1): give
    /// up when the budget is spent (Linux's tcp_write_timeout), else go back to
    /// SND.UNA with cwnd at one segment and a doubled RTO.
    fn on_rto(&mut self, ctx: &mut Ctx) {
        if !self.snd_max.after(self.snd_una) {
            return;
        }
        let config = ctx.config;
        // Linux's tcp_retransmit_timer: with the peer's window closed, the
        // retransmission is a zero-window probe and, unless the connection is an
        // orphan, the retry budget does not apply.
        let zero_window = self.snd_wnd == 0 && !self.flag(flag::ORPHAN);
        // Linux's tcp_write_timeout: an orphan first checks that there are not too many
        // orphans (tcp_out_of_resources), resetting unless it would have given up anyway.
        if self.flag(flag::ORPHAN) && self.state.is_synchronized() {
            let alive = self.rtt.backed_off(self.backoff.into()) < config.rto_max;
            let limit =
                super::model_timeout(config.orphan_retries(), config.rto_min, config.rto_max);
            let head_sent = self.inflight.sent.front().map(|(_, t)| *t);
            let start = self.retrans_stamp.or(head_sent).unwrap_or(ctx.now);
            let do_reset = alive || ctx.now - start < limit;
            if self.out_of_resources(ctx, do_reset) {
                return;
            }
        }
        let expired = match self.state {
            // SYN states count retransmissions (tcp_syn_retries, tcp_synack_retries).
            State::SynSent => self.backoff >= super::count_limit(self.opts.syn_retries(config)),
            // A Fast Open child gets one retry more (Linux's tcp_fastopen_synack_timer).
            State::SynReceived if self.tfo.listener.is_some() => {
                self.backoff > super::count_limit(config.tcp_synack_retries)
            }
            State::SynReceived => self.backoff >= super::count_limit(config.tcp_synack_retries),
            _ if zero_window => self.zero_window_timed_out(ctx),
            _ => {
                let budget = if self.flag(flag::ORPHAN) {
                    config.orphan_retries()
                } else {
                    config.tcp_retries2
                };
                let limit = match self.opts.user_timeout {
                    // TCP_USER_TIMEOUT replaces the retry budget (RFC 5482; Linux's
                    // retransmits_timed_out with a user timeout).
                    Some(t) if !t.is_zero() => t,
                    _ => super::model_timeout(budget, config.rto_min, config.rto_max),
                };
                // The budget runs from the first transmission of the oldest segment.
                let head_sent = self.inflight.sent.front().map(|(_, t)| *t);
                let start = *self
                    .retrans_stamp
                    .get_or_insert(head_sent.unwrap_or(ctx.now));
                ctx.now - start >= limit
            }
        };
        if expired {
            if self.state.is_synchronized() {
                ctx.stats.TCPAbortOnTimeout += 1;
            } else {
                ctx.stats.AttemptFails += 1;
            }
            self.close_with(Some(self.soft_error.unwrap_or(Error::TimedOut)));
            return;
        }
        if !(zero_window && self.state.is_synchronized()) {
            ctx.stats.TCPTimeouts += 1;
        }
        // Linux's tcp_write_timeout: past `tcp_retries1`, maybe an ICMP black hole.
        if self.state.is_synchronized() && !zero_window && config.tcp_mtu_probing > 0 {
            let retries1 =
                super::model_timeout(config.tcp_retries1, config.rto_min, config.rto_max);
            if self
                .retrans_stamp
                .is_some_and(|start| ctx.now - start >= retries1)
            {
                self.black_hole_detected(ctx);
            }
        }
        if self.state.is_synchronized() {
            self.loss_begins(ctx);
            self.cc.on_rto(ctx.now, self.flight());
            self.recover = self.snd_max;
            self.check_sack_reneging(ctx.stats);
            self.enter_loss();
            // Linux's tcp_enter_loss: the reduction is news for the peer (CWR).
            self.ecn_queue_cwr();
            self.inflight_clear(|f| {
                f.tlp_high_seq = None;
                f.loss_probe = None;
            });
        }
        self.snd_nxt = if self.state.is_synchronized() {
            self.snd_una
        } else {
            self.iss
        };
        self.rtt_seq = None;
        self.backoff = self.backoff.saturating_add(1);
        self.rto_count = self.rto_count.saturating_add(1);
        // Linux's tcp_retransmit_timer with tcp_thin_linear_timeouts: a thin stream
        // (tcp_stream_is_thin: under four segments out, past initial slow start, which
        // the loss just ended) keeps its RTO for its first six timeouts.
        let segments_out = (self.snd_max - self.snd_una).max(0) as u32;
        let thin = segments_out.div_ceil(self.mss.max(1)) < 4;
        if config.tcp_thin_linear_timeouts
            && self.state == State::Established
            && thin
            && self.rto_count <= THIN_LINEAR_RETRIES
        {
            self.backoff = 0;
        }
        let rto = if self.state.is_synchronized() {
            self.rtt.backed_off(self.backoff.into())
        } else {
            (ctx.config.rto_initial * (1u32 << self.backoff.min(16))).min(ctx.config.rto_max)
        };
        self.arm_rto(ctx.now + rto);
    }

    /// Linux's tcp_rtx_probe0_timed_out: a connection probing a closed window with
    /// retransmissions gives up only once the peer has been silent for twice `rto_max`
    /// (or the user timeout) and the head has been retransmitted for as long; a user
    /// timeout also bounds the retransmitting alone.
    fn zero_window_timed_out(&mut self, ctx: &Ctx) -> bool {
        let head_sent = self.inflight.sent.front().map(|(_, t)| *t);
        let start = *self
            .retrans_stamp
            .get_or_insert(head_sent.unwrap_or(ctx.now));
        let retransmitting = ctx.now - start;
        let mut timeout = ctx.config.rto_max * 2;
        if let Some(user) = self.opts.user_timeout.filter(|t| !t.is_zero()) {
            if retransmitting > user {
                return true;
            }
            timeout = timeout.min(user);
        }
        ctx.now - self.rcv_tstamp > timeout && retransmitting > timeout
    }

    /// Linux's tcp_schedule_loss_probe (RFC 8985 section 7.2): on a SACK connection in
    /// the open state with data in flight and nothing more that cwnd lets go, arm the
    /// probe timeout PTO = 2·SRTT (plus the delayed-ACK allowance `rto_min` when a
    /// single segment is in flight), never later than the RTO would fire. Returns
    /// whether the probe was armed.
    pub(crate) fn schedule_loss_probe(&mut self, ctx: &Ctx, advancing_rto: bool) -> bool {
        let config = ctx.config;
        let flight = self.flight();
        let unsent = self.flag(flag::FIN_QUEUED) && !self.flag(flag::FIN_SENT)
            || (self.send_buf.len() as i64) > (self.snd_nxt - self.send_buf_seq()) as i64;
        if !matches!(config.tcp_early_retrans, 3 | 4)
            || !self.neg.sack
            || !self.state.is_synchronized()
            || flight == 0
            || self.cc.in_recovery()
            || self.in_loss()
            || (self.cc.cwnd() > flight && unsent)
        {
            return false;
        }
        let mut timeout = match self.rtt.srtt() {
            Some(srtt) if flight <= self.mss => srtt * 2 + config.rto_min,
            Some(srtt) => srtt * 2 + core::time::Duration::from_millis(2),
            None => config.rto_initial,
        };
        let rto_delta = match (advancing_rto, self.timer(TimerKind::Retransmit)) {
            (false, Some(at)) if !self.flag(flag::XMIT_PROBE) => at - ctx.now,
            _ => self.rtt.backed_off(self.backoff.into()),
        };
        timeout = timeout.min(rto_delta);
        self.arm(TimerKind::Retransmit, ctx.now + timeout);
        self.set_flag(flag::XMIT_PROBE, true);
        true
    }

    /// The probe timeout fired (Linux's tcp_send_loss_probe, RFC 8985 section 7.3):
    /// send one probe unless one is already outstanding, then go back to the RTO.
    fn on_loss_probe(&mut self, ctx: &mut Ctx) {
        let open = !self.cc.in_recovery() && !self.in_loss();
        if open && self.inflight.tlp_high_seq.is_none() && self.snd_max.after(self.snd_una) {
            // The last segment sent: it starts where the one before it ended (the
            // first-transmission record keeps segment boundaries, FIN included).
            let last = self
                .inflight
                .sent
                .iter()
                .rev()
                .nth(1)
                .map_or(self.snd_una, |(end, _)| *end)
                .max(self.snd_una);
            self.inflight.loss_probe = Some(last);
            self.inflight.tlp_high_seq = Some(self.snd_max);
            ctx.stats.TCPLossProbes += 1;
        }
        self.arm_rto(ctx.now + self.rtt.backed_off(self.backoff.into()));
    }

    /// Persist timer expiry (RFC 9293 section 3.8.6.1; Linux's tcp_probe_timer): send a
    /// probe, back off, and give up after `tcp_retries2` unanswered probes.
    fn on_persist(&mut self, ctx: &mut Ctx) {
        if self.snd_max.after(self.snd_una) || self.send_buf.is_empty() {
            if self.rare.probes_tstamp.is_some() {
                self.rare.probes_tstamp = None;
            }
            return;
        }
        // Linux's tcp_probe_timer: TCP_USER_TIMEOUT ends probing that has lasted that
        // long since the first probe, however the peer answers.
        let user_timeout = self.opts.user_timeout.filter(|t| !t.is_zero());
        match self.rare.probes_tstamp {
            None => self.rare.probes_tstamp = Some(ctx.now),
            Some(first) if user_timeout.is_some_and(|u| ctx.now - first >= u) => {
                ctx.stats.TCPAbortOnTimeout += 1;
                self.close_with(Some(self.soft_error.unwrap_or(Error::TimedOut)));
                return;
            }
            Some(_) => {}
        }
        let budget = if self.flag(flag::ORPHAN) {
            ctx.config.orphan_retries()
        } else {
            ctx.config.tcp_retries2
        };
        if self.probes >= super::count_limit(budget) {
            ctx.stats.TCPAbortOnTimeout += 1;
            self.close_with(Some(self.soft_error.unwrap_or(Error::TimedOut)));
            return;
        }
        // Linux's tcp_probe_timer: an orphan checks the orphan limit before probing.
        if self.flag(flag::ORPHAN) && self.out_of_resources(ctx, true) {
            return;
        }
        self.probes = self.probes.saturating_add(1);
        if ctx.config.qdisc == crate::config::Qdisc::DropAll {
            // tcp_send_probe0: the probe could not leave the host (local congestion):
            // TCP_RESOURCE_PROBE_INTERVAL, without backing off, at most what remains of
            // the user timeout (tcp_clamp_probe0_to_user_timeout).
            let mut wait = RESOURCE_PROBE_INTERVAL;
            if let (Some(u), Some(first)) = (user_timeout, self.rare.probes_tstamp) {
                let left = u.saturating_sub(ctx.now - first);
                wait = wait.min(left.max(TIMEOUT_MIN));
            }
            self.arm(TimerKind::Persist, ctx.now + wait);
            return;
        }
        if self.backoff < super::count_limit(ctx.config.tcp_retries2) {
            self.backoff += 1;
        }
        ctx.stats.TCPWinProbe += 1;
        self.set_flag(flag::PROBE_PENDING, true);
        let at = ctx.now + self.rtt.backed_off(self.backoff.into());
        self.arm(TimerKind::Persist, at);
    }

    /// Keepalive expiry (RFC 1122 section 4.2.3.6, Linux's tcp_keepalive_timer).
    fn on_keepalive(&mut self, ctx: &mut Ctx) {
        if !self.opts.keepalive || !self.state.is_synchronized() {
            return;
        }
        let config = ctx.config;
        let idle = ctx.now - self.last_recv;
        let keepidle = self.opts.keepalive_time(config);
        if idle < keepidle {
            self.probes = 0;
            self.arm(TimerKind::Keepalive, self.last_recv + keepidle);
            return;
        }
        if self.probes >= super::count_limit(self.opts.keepalive_probes(config)) {
            ctx.stats.TCPAbortOnTimeout += 1;
            self.reset(ctx, Some(self.soft_error.unwrap_or(Error::TimedOut)));
            return;
        }
        self.probes = self.probes.saturating_add(1);
        ctx.stats.TCPKeepAlive += 1;
        self.set_flag(flag::PROBE_PENDING, true);
        let intvl = self.opts.keepalive_intvl(config);
        self.arm(TimerKind::Keepalive, ctx.now + intvl);
    }
}
