//! Pacing as Linux gives it under the fq qdisc ([`Qdisc::Fq`]): every transmission unit
//! (Linux's skb, tso.rs) gets an earliest departure time (EDT), the queue holds it until
//! then, and TCP Small Queues bounds how much waits there.
//!
//! Linux's __tcp_transmit_skb stamps each skb with `tcp_wstamp_ns = max(tcp_wstamp_ns,
//! now)` and hands it to the qdisc: for TCP it is sent (in flight, its timers armed, its
//! send time for RTT samples and RACK that stamp). After a data skb, tcp_update_skb_after_send
//! advances `tcp_wstamp_ns` by `len / sk_pacing_rate`, less a credit of at most half of
//! that for the time the unit came late (`now - prior tcp_wstamp_ns`), and not at all for
//! the first ten data segments (the original fq did not pace them) or while the rate is
//! unknown (no RTT sample yet). fq holds each skb until its stamp (a single flow's skbs
//! leave in order: their stamps only grow). tcp_small_queue_check lets a new unit into
//! the queue only while what waits there (skb truesize) is at most the larger of two such
//! units and a millisecond of the pacing rate (`sk_pacing_shift`), or while nothing else
//! is unacknowledged.
//!
//! synack keeps that queue per connection: [`Connection::poll_segment`] (output.rs) puts
//! a unit whose time has not come into it and returns it when it has; the earliest
//! departure is part of [`Connection::next_deadline`], so the stack's
//! [`poll_timeout`](crate::Stack::poll_timeout) wakes the caller for it. Pure ACKs are not
//! queued (Linux's would wait behind the flow's data). A queued segment whose data the
//! peer acknowledged before it left is dropped (Linux sends its clone anyway).
//!
//! A device queue that drops everything ([`Qdisc::DropAll`], `pfifo limit 0`) makes every
//! transmission fail as Linux's tcp_transmit_skb sees NET_XMIT_DROP
//! ([`Connection::xmit_failed`]).
//!
//! The state lives out of line ([`super::rare::Rare`]): only connections under fq have it.

use std::collections::VecDeque;

use synack_wire::{Control, SeqNum};

use super::output::Outgoing;
use super::recovery::CaState;
use super::{Connection, Ctx, TimerKind};
use crate::config::Qdisc;
use crate::time::Instant;

/// Linux's tcp_update_skb_after_send: the original fq did not pace a flow's first ten
/// data segments.
const UNPACED_SEGMENTS: u32 = 10;

/// What an skb costs beside its payload (Linux's skb truesize: the `sk_buff`, the
/// shared info and the header room `MAX_TCP_HEADER`), which TCP Small Queues counts.
const SKB_OVERHEAD: u32 = 896;

/// Linux's `sk_pacing_shift` (10): the queue may hold about a millisecond of the rate.
const PACING_SHIFT: u32 = 10;

const NSEC_PER_SEC: u128 = 1_000_000_000;

/// A segment waiting in the qdisc.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Held {
    out: Outgoing,
    depart: Instant,
    /// The unit's truesize, charged on its first segment.
    truesize: u32,
}

/// A connection's pacing state under fq.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pacing {
    /// Linux's `tcp_wstamp_ns`: the earliest departure time of the next unit, in
    /// nanoseconds of the engine's clock.
    wstamp_ns: u64,
    /// Linux's `data_segs_out` (as far as pacing needs it): data segments sent,
    /// retransmissions included, counted up to [`UNPACED_SEGMENTS`].
    data_segs: u32,
    /// The departure time of the unit being cut into segments.
    unit_depart: Option<Instant>,
    /// The truesize of the unit just started, charged to the queue with its first
    /// segment.
    charge: Option<u32>,
    /// The qdisc's queue of this flow.
    held: VecDeque<Held>,
    /// The truesize of what waits in `held` (Linux's `sk_wmem_alloc`).
    held_truesize: u32,
}

impl Pacing {
    /// No unit sent yet.
    pub const NONE: Pacing = Pacing {
        wstamp_ns: 0,
        data_segs: 0,
        unit_depart: None,
        charge: None,
        held: VecDeque::new(),
        held_truesize: 0,
    };
}

fn nanos(t: Instant) -> u64 {
    t.total_micros().saturating_mul(1000)
}

impl Connection {
    /// Whether segments wait in the qdisc.
    pub(crate) fn pacing_queued(&self) -> bool {
        self.rare.is_set() && !self.rare.pacing.held.is_empty()
    }

    /// The departure time of the first segment waiting in the qdisc.
    pub(crate) fn pacing_deadline(&self) -> Option<Instant> {
        if !self.rare.is_set() {
            return None;
        }
        self.rare.pacing.held.front().map(|h| h.depart)
    }

    /// Linux's tcp_small_queue_check for a new unit at `seq` under fq: whether it must
    /// wait for the qdisc to send what it holds.
    pub(crate) fn tsq_throttled(&self, ctx: &Ctx, seq: SeqNum, mss: u32) -> bool {
        if ctx.config.qdisc != Qdisc::Fq || !self.pacing_queued() {
            return false;
        }
        // tcp_rtx_queue_empty_or_single_skb: a lone unit in flight is no queue.
        if self
            .inflight
            .chunks
            .at(self.snd_una)
            .is_some_and(|c| c.end.after_eq(self.snd_nxt))
        {
            return false;
        }
        let rest = self
            .inflight
            .chunks
            .at(seq)
            .map_or(mss, |c| (c.end - seq).max(0) as u32);
        let unit = rest.min(self.tso_segs(ctx.config).saturating_mul(mss));
        let rate_share = self
            .pacing_rate_now(ctx.config)
            .map_or(u64::MAX, |r| r >> PACING_SHIFT);
        let limit = u64::from(2 * (unit + SKB_OVERHEAD)).max(rate_share);
        // `sk_wmem_alloc` starts at 1.
        u64::from(self.rare.pacing.held_truesize) + 1 > limit
    }

    /// A unit of `len` bytes (payload) starts: Linux's tcp_wstamp_ns update in
    /// __tcp_transmit_skb and tcp_update_skb_after_send. Returns its departure time.
    pub(crate) fn paced_unit_sent(&mut self, ctx: &Ctx, len: u32) -> Instant {
        if ctx.config.qdisc != Qdisc::Fq {
            return ctx.now;
        }
        let rate = self.pacing_rate_now(ctx.config);
        let segs = len.div_ceil(self.current_mss().max(1)).max(1);
        let p = &mut self.rare.pacing;
        let prior = p.wstamp_ns;
        p.wstamp_ns = prior.max(nanos(ctx.now));
        let depart = Instant::from_micros(p.wstamp_ns.div_ceil(1000));
        p.unit_depart = Some(depart);
        p.charge = Some(len + SKB_OVERHEAD);
        p.data_segs = p.data_segs.saturating_add(segs).min(UNPACED_SEGMENTS);
        if let Some(rate) = rate.filter(|&r| r > 0 && p.data_segs >= UNPACED_SEGMENTS) {
            let len_ns = (u128::from(len) * NSEC_PER_SEC / u128::from(rate)) as u64;
            let credit = p.wstamp_ns - prior;
            p.wstamp_ns += len_ns - (len_ns / 2).min(credit);
        }
        depart
    }

    /// The send time of the segment just decided: its unit's departure time under fq
    /// (Linux's skb_mstamp_ns is the EDT stamp), else now.
    pub(crate) fn departure(&self, ctx: &Ctx) -> Instant {
        if ctx.config.qdisc != Qdisc::Fq || !self.rare.is_set() {
            return ctx.now;
        }
        self.rare.pacing.unit_depart.unwrap_or(ctx.now)
    }

    /// Linux's `tcp_wstamp_ns` under fq, to the microsecond.
    pub(crate) fn paced_wstamp(&self, ctx: &Ctx) -> Option<Instant> {
        if ctx.config.qdisc != Qdisc::Fq || !self.rare.is_set() {
            return None;
        }
        Some(Instant::from_micros(self.rare.pacing.wstamp_ns / 1000))
    }

    /// Under fq, a pure ACK leaves at once but still moves `tcp_wstamp_ns` up to now
    /// (__tcp_transmit_skb stamps every skb), which shortens the next unit's credit.
    pub(crate) fn paced_ack_sent(&mut self, ctx: &Ctx) {
        if ctx.config.qdisc == Qdisc::Fq && self.rare.is_set() {
            let now = nanos(ctx.now);
            if self.rare.pacing.wstamp_ns < now {
                self.rare.pacing.wstamp_ns = now;
            }
        }
    }

    /// The qdisc's decision on a segment TCP just sent (in `seg`, where it was built):
    /// false to send it now, true when the qdisc took it to wait for its departure
    /// time (or behind segments that wait), leaving `None`. The first segment of a
    /// unit carries the unit's truesize.
    pub(crate) fn qdisc_enqueue(&mut self, ctx: &Ctx, seg: &mut Option<Outgoing>) -> bool {
        let Some(out) = seg else { return false };
        let data = out.payload_len > 0 || out.repr.control == Control::Fin;
        if ctx.config.qdisc != Qdisc::Fq || !data || !self.rare.is_set() {
            return false;
        }
        let depart = self.departure(ctx);
        let charge = self.rare.pacing.charge.take();
        if depart <= ctx.now && self.rare.pacing.held.is_empty() {
            return false;
        }
        let Some(out) = seg.take() else { return false };
        let truesize = charge.unwrap_or(0);
        let p = &mut self.rare.pacing;
        p.held_truesize = p.held_truesize.saturating_add(truesize);
        p.held.push_back(Held {
            out,
            depart,
            truesize,
        });
        true
    }

    /// fq's dequeue: the first waiting segment whose departure time has come, its
    /// payload found again in the send buffer (which ACKs may have moved).
    pub(crate) fn qdisc_dequeue(&mut self, ctx: &Ctx) -> Option<Outgoing> {
        while self.pacing_deadline().is_some_and(|d| d <= ctx.now) {
            let start = self.send_buf_seq();
            let p = &mut self.rare.pacing;
            let Some(h) = p.held.pop_front() else { break };
            p.held_truesize = p.held_truesize.saturating_sub(h.truesize);
            let mut out = h.out;
            if out.payload_len > 0 {
                if out.repr.seq.before(start) {
                    // Acknowledged while it waited: its data is gone from the buffer.
                    continue;
                }
                out.payload_at = (out.repr.seq - start) as usize;
            }
            return Some(out);
        }
        None
    }

    /// A unit of `len` bytes could not be transmitted: the device's queue drops every
    /// packet ([`Qdisc::DropAll`], `pfifo limit 0`), as Linux's tcp_transmit_skb sees
    /// NET_XMIT_DROP. Nothing was sent: the data stays unsent (a retransmission stays
    /// lost, not retransmitted); new data counts in OutSegs as __tcp_transmit_skb counts
    /// it before the qdisc; the connection enters CWR (tcp_enter_cwr); and with nothing
    /// in flight the probe timer starts (tcp_check_probe_timer), which retries
    /// (timers.rs).
    pub(crate) fn xmit_failed(&mut self, ctx: &mut Ctx, retransmit: bool, len: u32) {
        let segs = len.div_ceil(self.current_mss().max(1)).max(1);
        if !retransmit {
            ctx.stats.OutSegs += u64::from(segs);
        }
        if matches!(self.rec.state, CaState::Open | CaState::Disorder) {
            let flight = self.flight();
            self.enter_cwr(ctx, flight);
        }
        if self.flight() == 0 && self.timer(TimerKind::Retransmit).is_none() {
            self.arm_persist(ctx);
        }
    }

    /// Linux's `sk_pacing_rate`, bytes per second: the rate tcp_update_pacing_rate
    /// computes ([`Connection::pacing_rate`]); `None` (Linux's `~0UL`, unlimited)
    /// before an RTT sample.
    pub(crate) fn pacing_rate_now(&self, config: &crate::config::Config) -> Option<u64> {
        self.pacing_rate(config)
    }
}
