//! Loss recovery as Linux does it: a SACK scoreboard (RFC 6675), duplicate ACKs counted
//! as SACKs when the peer has no SACK (Linux's "reno SACKs", which yields limited
//! transmit, RFC 3042), fast retransmit when three segments are SACKed above a hole
//! (RFC 5681 3.2, RFC 6675 5), NewReno's partial ACKs (RFC 6582), and Proportional Rate
//! Reduction (RFC 6937) to size cwnd while recovering.
//!
//! The state machine is Linux's `tcp_ca_state`: Open, Disorder (SACKs or duplicate
//! ACKs but no loss yet), Recovery (fast recovery) and Loss (after a timeout).

use std::collections::VecDeque;

use synack_wire::SeqNum;

use crate::time::Instant;

use super::sack::Scoreboard;
use super::{Connection, Ctx};

/// Linux's congestion-avoidance states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaState {
    /// Nothing unusual.
    Open,
    /// SACKs or duplicate ACKs seen, no loss detected yet.
    Disorder,
    /// The window is being reduced after an ECN echo (RFC 3168 6.1.2), by PRR, until
    /// the data sent before it is acknowledged.
    Cwr,
    /// Fast recovery (RFC 5681 3.2, RFC 6675).
    Recovery,
    /// After a retransmission timeout, until SND.UNA passes `recover`.
    Loss,
}

/// A connection's recovery state.
#[derive(Debug, Clone)]
pub(crate) struct Recovery {
    pub state: CaState,
    /// What the peer SACKed above SND.UNA.
    pub sacked: Scoreboard,
    /// Without SACK: duplicate ACKs counted as SACKed segments (Linux's sacked_out for
    /// Reno).
    pub reno_sacked: u32,
    /// Un-SACKed bytes in `[SND.UNA, lost_end)` are considered lost.
    pub lost_end: SeqNum,
    /// Lost bytes below this point have been retransmitted.
    pub rexmit_next: SeqNum,
    /// The reordering the network has shown, in packets (Linux's tp->reordering):
    /// `tcp_reordering` at first, raised by a SACK that fills a hole below SACKed
    /// data, up to `tcp_max_reordering`. Segments SACKed above a hole that make it
    /// lost (RFC 5681's DupThresh).
    pub reordering: u16,
    /// Times reordering was seen (Linux's reord_seen, `tcpi_reord_seen`), saturating
    /// at 255 to keep the record compact; once seen, RACK keeps its reordering window
    /// even when many segments are SACKed.
    pub reord_seen: u8,
}

impl Recovery {
    /// Open, nothing SACKed, assuming `reordering` (`tcp_reordering`).
    pub fn new(iss: SeqNum, reordering: u16) -> Recovery {
        Recovery {
            state: CaState::Open,
            sacked: Scoreboard::default(),
            reno_sacked: 0,
            lost_end: iss,
            rexmit_next: iss,
            reordering,
            reord_seen: 0,
        }
    }
}

/// A window reduction's state (fast recovery or CWR): Proportional Rate Reduction's
/// counts (RFC 6937 section 3), in segments: delivered and sent since the reduction
/// began, and cwnd when it began; and where CWR ends. It lives in the in-flight box
/// (inflight.rs) while a reduction runs, and is zero at rest: every reduction starts
/// it afresh (`init_cwnd_reduction`), only a reduction reads it, and its end clears it
/// (`end_prr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prr {
    pub delivered: u32,
    pub out: u32,
    pub prior_cwnd: u32,
    /// The CWR state lasts until an ACK above this (SND.NXT when it began; Linux's
    /// high_seq), read only in CWR.
    pub cwr_high: SeqNum,
}

impl Prr {
    /// No reduction running.
    pub const REST: Prr = Prr {
        delivered: 0,
        out: 0,
        prior_cwnd: 0,
        cwr_high: SeqNum(0),
    };
}

impl Default for Prr {
    fn default() -> Prr {
        Prr::REST
    }
}

fn div_ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b.max(1))
}

impl Connection {
    /// Bytes the peer holds above SND.UNA: SACKed, or estimated from duplicate ACKs.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        if self.neg.sack {
            self.rec.sacked.bytes()
        } else {
            let outstanding = (self.snd_max - self.snd_una).max(0) as u32;
            (self.rec.reno_sacked * self.mss).min(outstanding.saturating_sub(self.mss))
        }
    }

    /// Lost bytes not yet retransmitted.
    fn lost_unsent(&self) -> u32 {
        let from = self.rec.rexmit_next.max(self.snd_una);
        let end = self.rec.lost_end.min(self.snd_max);
        if !from.before(end) {
            return 0;
        }
        if self.neg.sack {
            self.rec.sacked.unsacked_between(from, end)
        } else {
            (end - from) as u32
        }
    }

    /// RFC 6675's pipe (Linux's tcp_packets_in_flight), in bytes: what is sent and
    /// neither acknowledged, SACKed nor lost-and-not-yet-resent.
    pub(crate) fn pipe(&self) -> u32 {
        let outstanding = (self.snd_nxt - self.data_una()).max(0) as u32;
        outstanding
            .saturating_sub(self.sacked_bytes())
            .saturating_sub(self.lost_unsent())
    }

    /// Bytes sent and not yet delivered (acknowledged or SACKed).
    pub(crate) fn undelivered(&self) -> u32 {
        let outstanding = (self.snd_max - self.snd_una).max(0) as u32;
        outstanding.saturating_sub(self.sacked_bytes())
    }

    /// The next lost stretch to retransmit: where it starts and how long it is.
    pub(crate) fn next_retransmission(&self) -> Option<(SeqNum, u32)> {
        let from = self.rec.rexmit_next.max(self.snd_una);
        if !from.before(self.rec.lost_end.min(self.snd_max)) {
            return None;
        }
        let (start, end) = if self.neg.sack {
            // Holes lie below the highest SACK, and lost_end never passes it.
            let (s, e) = self.rec.sacked.next_hole(from)?;
            (s, e.min(self.rec.lost_end))
        } else {
            (from, self.rec.lost_end)
        };
        start.before(end).then(|| (start, (end - start) as u32))
    }

    /// Records the SACK blocks of an ACK (before SND.UNA moves): RFC 2018, RFC 6675.
    pub(crate) fn record_sacks(&mut self, ctx: &mut Ctx, seg: &synack_wire::TcpRepr, ack: SeqNum) {
        // Most ACKs carry no SACK option: they return before the blocks are gathered.
        if !self.neg.sack || seg.options.sack_blocks.iter().all(Option::is_none) {
            return;
        }
        let blocks = seg.options.sack();
        ctx.stats.TCPSACKRecv += blocks.len() as u64;
        let dsack = self.check_dsack(ctx, &blocks, ack);
        let una = ack.max(self.snd_una);
        let mut aligned = synack_wire::SackBlocks::new();
        // A D-SACK reports a duplicate, not new data held (RFC 2883 section 5).
        for b in blocks.iter().skip(usize::from(dsack)) {
            if let Some(b) = self.align_sack(*b) {
                aligned.push(b);
            }
        }
        let reord = self.newly_sacked_hole(una, &aligned);
        self.rec.sacked.add_blocks(una, self.snd_max, &aligned);
        if let Some(low) = reord {
            // Not in the Loss state a Fast Open SYN's lost data began, which has no undo
            // point (Linux checks only outside Loss or with an undo_marker).
            let fastopen_loss = self.in_loss()
                && self.tfo.syn_data > 0
                && !self.tfo.syn_data_acked
                && self.recover == self.iss + 1 + self.tfo.syn_data;
            if !fastopen_loss {
                self.check_sack_reordering(ctx, low);
            }
        }
    }

    /// The lowest sequence number these SACK blocks newly cover that lies below data
    /// already SACKed and was never retransmitted (Linux's state->reord from
    /// tcp_sacktag_one): a segment delivered after later ones, so reordered. Blocks
    /// are taken in sequence order, each raising the SACKed high mark for the next.
    fn newly_sacked_hole(&self, una: SeqNum, blocks: &[synack_wire::SackBlock]) -> Option<SeqNum> {
        // At most four blocks fit an ACK: sort them in place, without allocating.
        let mut sorted = [(SeqNum(0), SeqNum(0)); 4];
        let mut n = 0;
        for b in blocks {
            if n == sorted.len() || !b.left.after_eq(una) || !b.right.before_eq(self.snd_max) {
                continue;
            }
            let mut i = n;
            while i > 0 && b.left.before(sorted[i - 1].0) {
                sorted[i] = sorted[i - 1];
                i -= 1;
            }
            sorted[i] = (b.left, b.right);
            n += 1;
        }
        let mut high = self.rec.sacked.highest();
        let mut low: Option<SeqNum> = None;
        for &(s, e) in &sorted[..n] {
            if let Some(h) = high {
                if s.before(h) && self.rec.sacked.unsacked_between(s, e.min(h)) > 0 {
                    // The first byte of the block that was not SACKed before.
                    let mut first = s;
                    for &(rs, re) in self.rec.sacked.ranges() {
                        if first.after_eq(rs) && first.before(re) {
                            first = re;
                        }
                    }
                    let retransmitted = self
                        .inflight
                        .rexmits
                        .iter()
                        .any(|&(rs, re, _)| rs.before(e) && first.before(re));
                    if first.before(h) && !retransmitted {
                        low = Some(low.map_or(first, |l| l.min(first)));
                    }
                }
            }
            high = Some(high.map_or(e, |h| h.max(e)));
        }
        low
    }

    /// The lowest sequence number a cumulative ACK from `una` to `ack` covers that
    /// was neither SACKed nor ever retransmitted (tcp_clean_rtx_queue's `reord`): a
    /// hole filled by data sent once, so delivered after what was SACKed above it.
    /// Data below `rexmit_high` may have been retransmitted; only what lies above it
    /// counts (Linux asks each skb's TCPCB_RETRANS bit, which the engine does not keep
    /// once recovery is over).
    pub(crate) fn acked_hole(&self, una: SeqNum, ack: SeqNum) -> Option<SeqNum> {
        if !self.neg.sack {
            return None;
        }
        let mut first = una.max(self.rexmit_high);
        for &(rs, re) in self.rec.sacked.ranges() {
            if first.after_eq(rs) && first.before(re) {
                first = re;
            }
        }
        first.before(ack).then_some(first)
    }

    /// Linux's tcp_check_sack_reordering: data delivered at `low` (newly SACKed, or
    /// filling a hole under a cumulative ACK) below the highest SACKed data was
    /// reordered by the distance to that data's end (tcp_highest_sack_seq: the start
    /// of the skb after the highest SACKed one, SND.UNA once nothing is SACKed); the
    /// reordering the connection assumes grows to it (in packets, up to
    /// `tcp_max_reordering`), and the event is counted (`TCPSACKReorder`,
    /// `tcpi_reord_seen`).
    pub(crate) fn check_sack_reordering(&mut self, ctx: &mut Ctx, low: SeqNum) {
        let fack = self.rec.sacked.highest().unwrap_or(self.snd_una);
        if !low.before(fack) {
            return;
        }
        let mss = self.mss.max(1);
        let metric = (fack - low) as u32;
        if metric > u32::from(self.rec.reordering).saturating_mul(mss) {
            let max = ctx.config.tcp_max_reordering.min(u32::from(u16::MAX));
            self.rec.reordering = metric.div_ceil(mss).min(max) as u16;
        }
        self.rec.reord_seen = self.rec.reord_seen.saturating_add(1);
        ctx.stats.TCPSACKReorder += 1;
    }

    /// Linux marks only whole segments as SACKed (tcp_match_skb_to_sack rounds a
    /// block to segment boundaries within the skb): a block's edges snap inward to the
    /// segment boundaries of the chunks they fall in, and a block that covers no whole
    /// segment is ignored.
    fn align_sack(&self, b: synack_wire::SackBlock) -> Option<synack_wire::SackBlock> {
        let mss = self.mss.max(1);
        let mut left = b.left;
        if let Some(c) = self.inflight.chunks.at(left) {
            let off = (left - c.start) as u32;
            if !off.is_multiple_of(mss) {
                left = (c.start + off.div_ceil(mss) * mss).min(c.end);
            }
        }
        let mut right = b.right;
        if let Some(c) = self.inflight.chunks.at(right - 1) {
            let off = (right - c.start) as u32;
            if right != c.end && !off.is_multiple_of(mss) {
                right = c.start + off / mss * mss;
            }
        }
        left.before(right)
            .then_some(synack_wire::SackBlock { left, right })
    }

    /// Moves the scoreboard past a cumulative ACK of `acked` bytes (Linux's
    /// tcp_remove_reno_sacks for the duplicate-ACK count: one segment filled the hole,
    /// the rest had been counted).
    pub(crate) fn advance_scoreboard(&mut self, acked: u32) {
        self.rec.sacked.advance(self.snd_una);
        if !self.neg.sack && acked > 0 {
            let segs = div_ceil(acked, self.mss);
            self.rec.reno_sacked = self.rec.reno_sacked.saturating_sub(segs.saturating_sub(1));
        }
        if self.rec.rexmit_next.before(self.snd_una) {
            self.rec.rexmit_next = self.snd_una;
        }
    }

    /// The recovery state machine for one ACK (Linux's tcp_fastretrans_alert and
    /// tcp_cong_control). `delivered` is what this ACK newly acknowledged or SACKed;
    /// `una_advanced` whether SND.UNA moved; `dupack` whether it was a duplicate ACK;
    /// `ece` whether it echoed congestion (RFC 3168).
    pub(crate) fn on_ack_recovery(
        &mut self,
        ctx: &mut Ctx,
        delivered: u32,
        una_advanced: bool,
        dupack: bool,
        flight_before: u32,
        ece: bool,
    ) {
        let mut delivered = delivered;
        if dupack && !self.neg.sack {
            let outstanding = (self.snd_max - self.snd_una).max(0) as u32;
            if self.rec.reno_sacked + 1 < div_ceil(outstanding, self.mss) {
                self.rec.reno_sacked += 1;
                delivered += self.mss;
            }
        }
        let mut newly_lost = false;
        match self.rec.state {
            CaState::Loss => {
                if self.snd_una.after_eq(self.recover) {
                    self.rec.state = CaState::Open;
                } else if self.neg.sack
                    && ctx.config.tcp_recovery & 1 != 0
                    && self.rack_lost_retransmission_in_loss(ctx.now)
                {
                    // Linux's tcp_fastretrans_alert in Loss: RACK found a retransmission
                    // lost again (FLAG_LOST_RETRANS), so fast recovery takes over and
                    // retransmits the holes below the SACKed data.
                    self.enter_recovery(ctx, flight_before);
                    newly_lost = true;
                }
            }
            CaState::Recovery => {
                if self.snd_una.after_eq(self.recover) {
                    self.exit_recovery();
                } else if self.neg.sack {
                    if let Some(high) = self.rec.sacked.highest() {
                        if high.after(self.rec.lost_end) {
                            self.rec.lost_end = high;
                            newly_lost = true;
                        }
                    }
                    if ctx.config.tcp_recovery & 1 != 0 {
                        newly_lost |= self.rack_detect_lost_retransmissions(ctx.now);
                    }
                } else if una_advanced {
                    // NewReno partial ACK (RFC 6582 3.2 step 5): the next segment is lost.
                    self.rec.lost_end = self.snd_una + self.mss;
                    self.rec.rexmit_next = self.snd_una;
                    newly_lost = true;
                }
            }
            CaState::Open | CaState::Disorder | CaState::Cwr => {
                // Linux holds CWR until something above its start is acknowledged, so
                // that the CWR flag has reached the peer.
                if self.rec.state == CaState::Cwr && self.snd_una.after(self.inflight.prr.cwr_high)
                {
                    self.exit_recovery();
                }
                let cwr = self.rec.state == CaState::Cwr;
                let sacked_segs = if self.neg.sack {
                    div_ceil(self.rec.sacked.bytes(), self.mss)
                } else {
                    self.rec.reno_sacked
                };
                if cwr {
                    // CWR stays until its end (Linux's tcp_try_to_open).
                } else if sacked_segs > 0 {
                    self.rec.state = CaState::Disorder;
                } else if self.rec.state == CaState::Disorder {
                    self.rec.state = CaState::Open;
                }
                // RFC 6582 3.2 step 2: no new recovery for losses of the last one.
                let fresh = self.neg.sack || self.snd_una.after_eq(self.recover);
                let reordering = u32::from(self.rec.reordering);
                // tcp_recovery 0x1: RACK; 0x4: RACK without the DupThresh shortcut.
                let rack = ctx.config.tcp_recovery & 1 != 0;
                let dupthresh =
                    !rack || (self.rec.reord_seen == 0 && ctx.config.tcp_recovery & 4 == 0);
                // A lost path MTU probe is no congestion (mtup.rs).
                if sacked_segs >= reordering && dupthresh && fresh {
                    if !self.mtup_probe_lost(ctx) {
                        self.enter_recovery(ctx, flight_before);
                        newly_lost = true;
                    }
                } else if self.neg.sack && sacked_segs > 0 && rack {
                    match self.rack_deadline(ctx.now) {
                        Some(at) if at <= ctx.now && !self.mtup_probe_lost(ctx) => {
                            self.enter_recovery(ctx, flight_before);
                            newly_lost = true;
                        }
                        Some(at) if at <= ctx.now => {}
                        Some(at) => self.arm(super::TimerKind::Reorder, at),
                        None => {}
                    }
                } else {
                    self.disarm(super::TimerKind::Reorder);
                }
                if ece && matches!(self.rec.state, CaState::Open | CaState::Disorder) {
                    self.enter_cwr(ctx, flight_before);
                }
            }
        }
        if self.rec.state == CaState::Recovery {
            self.prr_update(delivered, una_advanced, newly_lost);
        } else if self.rec.state == CaState::Cwr {
            // Linux's tcp_cwnd_reduction, which waits for something delivered.
            if delivered > 0 {
                self.prr_update(delivered, una_advanced, newly_lost);
            }
        } else if una_advanced
            || (delivered > 0 && u32::from(self.rec.reordering) > ctx.config.tcp_reordering)
        {
            // Linux's tcp_may_raise_cwnd: grow only when data was cumulatively acked
            // (RFC 5681), unless the network has shown more reordering than
            // tcp_reordering: then any delivery, SACKed data too, grows it.
            let flight = flight_before.max(self.max_flight);
            self.cc.on_ack(ctx.now, delivered, flight);
        }
    }

    /// RACK (RFC 8985 section 6.2) for retransmissions: the latest retransmission that
    /// has been delivered proves every retransmission sent before it and still missing
    /// lost again; the retransmission pointer goes back to the first of them.
    fn rack_detect_lost_retransmissions(&mut self, now: Instant) -> bool {
        let delivered = |c: &Connection, s: SeqNum, e: SeqNum| {
            e.before_eq(c.snd_una) || c.rec.sacked.unsacked_between(s.max(c.snd_una), e) == 0
        };
        // A retransmission delivered sooner than the minimum RTT was the original's
        // delivery, not its own: it proves nothing (Linux's tcp_rack_advance).
        let min_rtt = self.rtt.min_rtt().unwrap_or_default();
        let Some(last) = self
            .inflight
            .rexmits
            .iter()
            .rposition(|&(s, e, t)| delivered(self, s, e) && now - t >= min_rtt)
        else {
            return false;
        };
        let mut lost_again = None;
        for &(s, e, _) in self.inflight.rexmits.iter().take(last) {
            if !delivered(self, s, e) {
                lost_again = Some(lost_again.map_or(s, |l: SeqNum| l.min(s)));
            }
        }
        self.inflight_clear(|f| {
            f.rexmits.drain(..=last);
            if f.rexmits.is_empty() {
                f.rexmits = VecDeque::new();
            }
        });
        match lost_again {
            Some(s) if s.before(self.rec.rexmit_next) => {
                self.rec.rexmit_next = s.max(self.snd_una);
                true
            }
            _ => false,
        }
    }

    /// RACK (RFC 8985 section 6.2) in the Loss state, where the reordering window is
    /// zero (Linux's tcp_rack_reo_wnd from Recovery up): a retransmission still missing
    /// is lost again once a segment sent after it has been SACKed, whether that segment
    /// is new data or another retransmission (one delivered sooner than the minimum RTT
    /// proves nothing: it was the original's delivery, Linux's tcp_rack_advance).
    fn rack_lost_retransmission_in_loss(&self, now: Instant) -> bool {
        let sacked = |s: SeqNum, e: SeqNum| {
            e.before_eq(self.snd_una)
                || self.rec.sacked.unsacked_between(s.max(self.snd_una), e) == 0
        };
        let min_rtt = self.rtt.min_rtt().unwrap_or_default();
        let rexmitted = |s: SeqNum, e: SeqNum| {
            self.inflight
                .rexmits
                .iter()
                .any(|&(rs, re, _)| rs.before(e) && s.before(re))
        };
        // Sent after (t, end): later, or at the same instant further on.
        let after =
            |t0: Instant, s0: SeqNum, t: Instant, e: SeqNum| t0 > t || (t0 == t && s0.after_eq(e));
        self.inflight.rexmits.iter().any(|&(s, e, t)| {
            if sacked(s, e) {
                return false;
            }
            let by_rexmit =
                self.inflight.rexmits.iter().any(|&(s1, e1, t1)| {
                    after(t1, s1, t, e) && sacked(s1, e1) && now - t1 >= min_rtt
                });
            let mut prev = self.snd_una;
            let by_new = self.inflight.sent.iter().any(|&(e0, t0)| {
                let s0 = prev.max(self.snd_una);
                prev = e0;
                s0.before(e0) && after(t0, s0, t, e) && sacked(s0, e0) && !rexmitted(s0, e0)
            });
            by_rexmit || by_new
        })
    }

    /// RACK's verdict on the first hole (RFC 8985 sections 6.2-6.3): it is lost once it
    /// has been out longer than the RTT of the latest delivered segment plus the
    /// reordering window (a quarter of the minimum RTT, while no reordering was seen).
    /// Linux arms the timer two ticks late at least (TCP_TIMEOUT_MIN, 2 ms at 1000 Hz).
    fn rack_deadline(&self, now: Instant) -> Option<Instant> {
        let hole = self.rec.sacked.next_hole(self.snd_una)?.0;
        let highest = self.rec.sacked.highest()?;
        let sent_at = |seq: SeqNum| {
            self.inflight
                .sent
                .iter()
                .find(|(end, _)| end.after(seq))
                .map(|(_, t)| *t)
        };
        let hole_sent = sent_at(hole)?;
        let last_delivered_sent = sent_at(highest - 1)?;
        let rack_rtt = now - last_delivered_sent;
        let reo_wnd = self.rtt.min_rtt().unwrap_or_default() / 4;
        Some(hole_sent + rack_rtt + reo_wnd + core::time::Duration::from_millis(2))
    }

    /// The reordering window expired with the hole still there: fast recovery.
    pub(crate) fn on_reorder_timeout(&mut self, ctx: &mut Ctx) {
        if matches!(
            self.rec.state,
            CaState::Open | CaState::Disorder | CaState::Cwr
        ) && self.neg.sack
            && self.rec.sacked.next_hole(self.snd_una).is_some()
        {
            let flight = self.flight();
            self.enter_recovery(ctx, flight);
            self.prr_update(0, false, true);
        }
    }

    /// Records a retransmission sent during recovery.
    pub(crate) fn on_retransmitted(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if matches!(self.rec.state, CaState::Recovery | CaState::Loss)
            && self.inflight.rexmits.len() < 1024
        {
            self.inflight.rexmits.push_back((start, end, now));
        }
    }

    /// An ECN echo (RFC 3168 6.1.2, Linux's tcp_enter_cwr): ssthresh as for a loss,
    /// cwnd brought down to it by PRR over the next round trip, and CWR on the next
    /// new data segment; once per window of data.
    pub(super) fn enter_cwr(&mut self, ctx: &Ctx, flight: u32) {
        self.init_cwnd_reduction(ctx, flight);
        self.inflight.prr.cwr_high = self.snd_max;
        self.rec.state = CaState::Cwr;
    }

    /// Linux's tcp_init_cwnd_reduction: PRR starts counting, ssthresh is reduced.
    fn init_cwnd_reduction(&mut self, ctx: &Ctx, flight: u32) {
        self.inflight.prr = Prr {
            prior_cwnd: div_ceil(self.cc.cwnd(), self.mss).max(1),
            ..Prr::REST
        };
        self.cc.enter_recovery(ctx.now, flight);
        self.ecn_queue_cwr();
    }

    /// Fast retransmit: enter recovery (RFC 5681 3.2 steps 2-3 with RFC 6937's cwnd).
    /// From CWR the reduction already under way goes on (Linux's tcp_enter_recovery
    /// starts one only outside a reduction).
    fn enter_recovery(&mut self, ctx: &Ctx, flight: u32) {
        self.init_undo_for_recovery();
        if self.rec.state != CaState::Cwr {
            self.init_cwnd_reduction(ctx, flight);
        }
        let r = &mut self.rec;
        r.rexmit_next = self.snd_una;
        r.lost_end = if self.neg.sack {
            r.sacked.highest().unwrap_or(self.snd_una + self.mss)
        } else {
            self.snd_una + self.mss
        };
        r.state = CaState::Recovery;
        self.forget_rexmits();
        self.recover = self.snd_max;
    }

    /// A reduction (fast recovery or CWR) ends: PRR's counts go back to rest, and the
    /// in-flight box with them if nothing else holds it.
    pub(crate) fn end_prr(&mut self) {
        if self.inflight.prr != Prr::REST {
            self.inflight_clear(|f| f.prr = Prr::REST);
        }
    }

    /// Recovery or CWR ends: cwnd = ssthresh (Linux's tcp_end_cwnd_reduction).
    fn exit_recovery(&mut self) {
        self.end_prr();
        self.cc.exit_recovery(self.flight());
        self.cc.set_cwnd(self.cc.ssthresh());
        self.rec.state = if self.sacked_bytes() > 0 {
            CaState::Disorder
        } else {
            CaState::Open
        };
        self.rec.lost_end = self.snd_una;
    }

    /// RFC 6937 PRR with the slow-start reduction bound, in segments as Linux's
    /// tcp_cwnd_reduction computes it: cwnd becomes pipe plus what may be sent now.
    fn prr_update(&mut self, delivered: u32, una_advanced: bool, newly_lost: bool) {
        let mss = self.mss;
        let d = div_ceil(delivered, mss);
        self.inflight.prr.delivered += d;
        let r = self.inflight.prr;
        let pipe = div_ceil(self.pipe(), mss) as i64;
        let ssthresh = (self.cc.ssthresh() / mss) as i64;
        let mut sndcnt: i64 = if pipe > ssthresh {
            let dividend = ssthresh * i64::from(r.delivered) + i64::from(r.prior_cwnd) - 1;
            dividend / i64::from(r.prior_cwnd) - i64::from(r.out)
        } else {
            let bound = (i64::from(r.delivered) - i64::from(r.out)).max(i64::from(d))
                + i64::from(una_advanced && !newly_lost);
            bound.min(ssthresh - pipe)
        };
        // Force the fast retransmission when recovery begins.
        if r.out == 0 {
            sndcnt = sndcnt.max(1);
        }
        let cwnd = (pipe + sndcnt.max(0)).max(1) as u32 * mss;
        self.cc.set_cwnd(cwnd);
    }

    /// Bookkeeping for a segment sent while recovering.
    pub(crate) fn on_sent_in_recovery(&mut self) {
        if matches!(self.rec.state, CaState::Recovery | CaState::Cwr) {
            self.inflight.prr.out += 1;
        }
    }

    /// A retransmission timeout found the data at SND.UNA SACKed: the receiver
    /// reneged (it pruned out-of-order data it had SACKed, as a receiver short of
    /// memory does), and every SACK is forgotten so that the data goes again (Linux's
    /// tcp_timeout_mark_lost, TCPSACKReneging).
    pub(crate) fn check_sack_reneging(&mut self, stats: &mut crate::stats::Stats) {
        if self
            .rec
            .sacked
            .ranges()
            .first()
            .is_some_and(|r| r.0 == self.snd_una)
        {
            stats.TCPSACKReneging += 1;
            self.rec.sacked.clear();
        }
    }

    /// A retransmission timeout: Loss state; the scoreboard stays so that SACKed data
    /// is not sent again (Linux's tcp_enter_loss keeps SACK information).
    pub(crate) fn enter_loss(&mut self) {
        self.end_prr();
        self.rec.state = CaState::Loss;
        self.forget_rexmits();
        self.rec.reno_sacked = 0;
        self.rec.lost_end = self.snd_una;
        self.rec.rexmit_next = self.snd_una;
    }

    /// Whether the connection is in the Loss state.
    pub(crate) fn in_loss(&self) -> bool {
        self.rec.state == CaState::Loss
    }
}
