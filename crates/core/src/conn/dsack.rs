//! D-SACK (RFC 2883) as Linux sends and reads it (`tcp_dsack`).
//!
//! Receiving: when a segment brings bytes we already hold, the next ACK reports them in
//! a first SACK block of their own, ahead of the ordinary SACK blocks (RFC 2883 section
//! 4). Linux keeps one such block (`duplicate_sack[0]`): a duplicate *sets* it (a whole
//! old segment, the old head of a partly new one, or out-of-order data already queued),
//! and the bytes a segment covers of several queued ranges *extend* it when they touch
//! it. The block goes out once, on the next segment carrying an ACK, and a FIN drops it
//! (tcp_fin resets the SACK state).
//!
//! Sending: a first block below the ACK field, or inside the second block, reports a
//! duplicate (RFC 2883 section 4, Linux's tcp_check_dsack); it is counted
//! (`TCPDSACKRecv`, `TCPDSACKOfoRecv`, `tcpi_dsack_dups`) and is not a SACK of new data.

use synack_wire::{SackBlock, SeqNum};

use super::{Connection, Ctx};

impl Connection {
    /// Linux's tcp_dsack_set: the pending D-SACK becomes `[start, end)`, counted as
    /// old (below RCV.NXT) or out-of-order.
    pub(crate) fn dsack_set(&mut self, ctx: &mut Ctx, start: SeqNum, end: SeqNum) {
        if !self.neg.sack || !ctx.config.tcp_dsack || !start.before(end) {
            return;
        }
        if start.before(self.rcv_nxt) {
            ctx.stats.TCPDSACKOldSent += 1;
        } else {
            ctx.stats.TCPDSACKOfoSent += 1;
        }
        self.inflight.dsack = Some((start, end));
    }

    /// Linux's tcp_dsack_extend: sets the D-SACK if none is pending, otherwise widens
    /// the pending one when `[start, end)` overlaps or touches it.
    pub(crate) fn dsack_extend(&mut self, ctx: &mut Ctx, start: SeqNum, end: SeqNum) {
        match self.inflight.dsack {
            None => self.dsack_set(ctx, start, end),
            Some((s, e)) => {
                if start.before_eq(e) && s.before_eq(end) {
                    self.inflight.dsack = Some((s.min(start), e.max(end)));
                }
            }
        }
    }

    /// The D-SACKs a segment `[seq, end)` earns against the out-of-order data held,
    /// before it is queued: for data out of order, Linux's tcp_data_queue_ofo (a segment
    /// inside a queued range, or one overlapping the head of a range, sets; the ranges
    /// it covers extend); for in-order data, tcp_ofo_queue (each queued range the
    /// segment overlaps extends with the overlap). `seq` is at or past RCV.NXT.
    pub(crate) fn dsack_for_queue(&self, seq: SeqNum, end: SeqNum) -> DsackPlan {
        let mut plan = DsackPlan::default();
        let in_order = seq == self.rcv_nxt;
        let mut first = true;
        for (a, b) in self.recv_buf.ooo_sorted() {
            let (s, e) = (self.rcv_nxt + a as u32, self.rcv_nxt + b as u32);
            if !s.before(end) {
                break;
            }
            if !seq.before(e) {
                continue;
            }
            if first && !in_order && s.before(seq) {
                // The segment starts inside a queued range: all of it, or the part of
                // the range it repeats.
                let covered = end.before_eq(e);
                plan.push(true, seq, if covered { end } else { e });
                if covered {
                    break;
                }
            } else {
                plan.push(false, s, e.min(end));
            }
            first = false;
        }
        plan
    }

    /// Applies what [`Connection::dsack_for_queue`] found, once the segment is queued.
    pub(crate) fn dsack_apply(&mut self, ctx: &mut Ctx, plan: &DsackPlan) {
        for &(set, s, e) in &plan.steps[..plan.len] {
            if set {
                self.dsack_set(ctx, s, e);
            } else {
                self.dsack_extend(ctx, s, e);
            }
        }
    }

    /// Linux's tcp_send_dupack for a data segment that failed the sequence or PAWS
    /// check: if it starts below RCV.NXT its old part is a D-SACK.
    pub(crate) fn dupack_dsack(&mut self, ctx: &mut Ctx, seg: &synack_wire::TcpRepr) {
        if seg.payload.is_empty() || !seg.seq.before(self.rcv_nxt) {
            return;
        }
        ctx.stats.DelayedACKLost += 1;
        self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
        let end = seg.seq + seg.payload.len() as u32;
        self.dsack_set(ctx, seg.seq, end.min(self.rcv_nxt));
    }

    /// The pending D-SACK block, for the next segment's options.
    pub(crate) fn dsack_block(&self) -> Option<SackBlock> {
        self.inflight
            .dsack
            .map(|(left, right)| SackBlock { left, right })
    }

    /// Sender side (RFC 2883 section 4, Linux's tcp_check_dsack and tcp_dsack_seen):
    /// whether the first block of an ACK is a D-SACK. A valid one is counted per
    /// duplicated segment in `tcpi_dsack_dups`; one larger than the largest window the
    /// peer offered, or reporting more duplicates than were retransmitted, is dubious
    /// and only counted as such.
    pub(crate) fn check_dsack(&mut self, ctx: &mut Ctx, blocks: &[SackBlock], ack: SeqNum) -> bool {
        let Some(first) = blocks.first() else {
            return false;
        };
        if first.left.before(ack) {
            ctx.stats.TCPDSACKRecv += 1;
        } else if blocks
            .get(1)
            .is_some_and(|b| first.right.before_eq(b.right) && first.left.after_eq(b.left))
        {
            ctx.stats.TCPDSACKOfoRecv += 1;
        } else {
            return false;
        }
        let len = (first.right - first.left).max(0) as u32;
        let mss = self.mss.max(1);
        if len == 0 || len > self.max_snd_wnd.max(1) {
            ctx.stats.TCPDSACKIgnoredDubious += 1;
            return false;
        }
        let dups = len.div_ceil(mss);
        self.dsack_dups += dups;
        if self.dsack_dups > self.retrans_total {
            // Linux counts the duplicates but does not believe a D-SACK of segments
            // it never sent twice.
            ctx.stats.TCPDSACKIgnoredDubious += 1;
            return false;
        }
        ctx.stats.TCPDSACKRecvSegs += u64::from(dups);
        true
    }
}

/// The D-SACK steps a queued segment earns, `(set, start, end)` (`set` false: extend).
/// Queued ranges are disjoint and never adjacent, so an extension by a range after the
/// second cannot touch the block the first two made: two steps are all that matter.
#[derive(Debug, Default)]
pub(crate) struct DsackPlan {
    steps: [(bool, SeqNum, SeqNum); 2],
    len: usize,
}

impl DsackPlan {
    fn push(&mut self, set: bool, s: SeqNum, e: SeqNum) {
        if self.len < self.steps.len() {
            self.steps[self.len] = (set, s, e);
            self.len += 1;
        }
    }
}
