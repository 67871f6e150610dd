//! A connection under the stack's memory budget (`tcp_mem`; stack/budget.rs keeps the
//! count): what Linux's TCP does when `__sk_mem_raise_allocated` says no or the stack
//! is under memory pressure.
//!
//! - Receiving (tcp_input.c's tcp_try_rmem_schedule, tcp_prune_queue,
//!   tcp_prune_ofo_queue): data whose ring growth the budget refuses, or any data
//!   while the stack is under pressure and the connection holds out-of-order data and
//!   more than its share of `high`, makes the
//!   connection prune (PruneCalled): under pressure the window's slow start is cut to
//!   four segments (tcp_adjust_rcv_ssthresh), then out-of-order data above the segment
//!   is dropped from the highest down (OfoPruned) until the growth is admitted; when
//!   nothing is left to drop the segment is dropped (TCPOFODrop or TCPRcvQDrop, as
//!   the caller counts it), except in-order data into an empty receive queue, which
//!   is always taken (sk_forced_mem_schedule). (RcvPruned counts the socket's own
//!   overcommit, rcvspace.rs.)
//! - Sending (sk_wmem_schedule): a write whose ring growth the budget refuses takes
//!   only what the ring holds, and the send buffer shrinks to half what is queued
//!   (sk_stream_moderate_sndbuf), so the program sees a full buffer; an empty send
//!   queue always takes a page of data (Linux forces its first skb).
//! - Windows and buffers under pressure: no growth of `rcv_ssthresh`
//!   (tcp_grow_window), the window's cap cut when the free space halves
//!   (__tcp_select_window), no receive-buffer clamp raise (tcp_clamp_window), no send
//!   buffer expansion (tcp_should_expand_sndbuf).
//! - Orphans over the limit are reset (tcp_out_of_memory in tcp_check_oom).

use super::{Connection, Ctx};
use crate::buffer::MIN_RING;
use crate::stack::budget::{conn_pages, PAGE};

/// Linux's SOCK_MIN_SNDBUF: twice TCP_SKB_MIN_TRUESIZE (2048 + a 256-byte sk_buff).
pub(crate) const SOCK_MIN_SNDBUF: usize = 2 * (2048 + 256);

impl Connection {
    /// May a ring of this connection grow from `have` to `want` bytes, holding `held`
    /// bytes against the minimum `min`? (`__sk_mem_raise_allocated`.)
    fn mem_admits(&self, ctx: &Ctx, have: usize, want: usize, held: usize, min: usize) -> bool {
        let extra = (want.div_ceil(PAGE) as u64).saturating_sub(have.div_ceil(PAGE) as u64);
        let own = u64::from(conn_pages(self)) + extra;
        ctx.mem.admits(self.mem_unsettled(), extra, held, min, own)
    }

    /// The stack-wide half of tcp_try_rmem_schedule for `len` bytes at `offset` past
    /// RCV.NXT (the socket's own half is [`Connection::rmem_schedule`]): true when the
    /// receive ring may grow to hold them, after pruning out-of-order data above them
    /// if the budget asks for it.
    pub(crate) fn mem_schedule_recv(&mut self, ctx: &mut Ctx, offset: usize, len: usize) -> bool {
        let admits = |c: &Connection, ctx: &Ctx| {
            let capacity = c.recv_capacity_for(offset, len);
            let have = c.recv_buf.ring_size();
            let want = c.recv_buf.ring_size_after(offset, len, capacity);
            want <= have
                || c.mem_admits(ctx, have, want, c.rs.rmem as usize, ctx.config.tcp_rmem[0])
        };
        // Linux charges every segment's memory, so a socket over its share under
        // pressure prunes even when the segment lands in memory already held; a ring
        // holds its memory ahead, so that is asked of its out-of-order data here.
        let over_share = |c: &Connection, ctx: &Ctx| {
            c.recv_buf.has_ooo()
                && ctx.mem.under_pressure(c.mem_unsettled())
                && !ctx.mem.within_share(u64::from(conn_pages(c)))
        };
        if admits(self, ctx) && !over_share(self, ctx) {
            return true;
        }
        // tcp_prune_queue (the socket is within sk_rcvbuf here; the budget refused).
        ctx.stats.PruneCalled += 1;
        if ctx.mem.under_pressure(self.mem_unsettled()) {
            self.adjust_rcv_ssthresh();
        }
        let mut pruned = false;
        while !admits(self, ctx) || over_share(self, ctx) {
            if !self.prune_ofo(offset) {
                break;
            }
            if !pruned {
                ctx.stats.OfoPruned += 1;
                pruned = true;
            }
        }
        admits(self, ctx)
    }

    /// Linux's tcp_prune_ofo_queue, one range at a time: drops the highest out-of-order
    /// data if it lies at or above `offset` (the segment being queued would not land
    /// last otherwise), frees its memory charge and gives the ring's memory back.
    /// Returns whether anything was dropped.
    fn prune_ofo(&mut self, offset: usize) -> bool {
        let Some((start, end)) = self.recv_buf.prune_ooo_from(offset) else {
            return false;
        };
        self.uncharge_between(self.rcv_nxt + start as u32, self.rcv_nxt + end as u32);
        // Linux resets the SACK state (tcp_sack_reset): no D-SACK is left to send; the
        // blocks follow the ranges still held.
        self.dsack = None;
        true
    }

    /// Linux's tcp_adjust_rcv_ssthresh: the window's cap falls to four segments.
    pub(crate) fn adjust_rcv_ssthresh(&mut self) {
        self.rs.ssthresh = self.rs.ssthresh.min(4 * u32::from(self.adv_mss));
    }

    /// How many of `k` more bytes (after `taken` already taken by this write) the send
    /// ring may hold: all of them when it has room or may grow (sk_wmem_schedule),
    /// else what fits, with the send buffer moderated (sk_stream_moderate_sndbuf) so
    /// the program sees a full buffer. An empty send queue always takes a page
    /// (sk_forced_mem_schedule of the first skb).
    pub(crate) fn wmem_admit(&mut self, ctx: &Ctx, taken: usize, k: usize) -> usize {
        let held = self.send_buf.len() + taken;
        let have = self.send_buf.ring_size();
        if held + k <= have {
            return k;
        }
        let want = self.send_buf.ring_size_after(taken + k);
        if want <= have
            || self.mem_admits(ctx, have, want, self.wmem_queued(), ctx.config.tcp_wmem[0])
        {
            return k;
        }
        if self.opts.sndbuf.is_none() {
            let moderated = self
                .sndbuf()
                .min(self.wmem_queued() / 2)
                .max(SOCK_MIN_SNDBUF);
            self.set_sndbuf(moderated);
        }
        // What the ring holds, and a page for an empty queue.
        let room = if held == 0 { have.max(MIN_RING) } else { have };
        k.min(room.saturating_sub(held))
    }

    /// Linux's tcp_out_of_memory: the stack is over `tcp_mem`'s limit and this socket
    /// holds more than the minimum send buffer.
    pub(crate) fn out_of_memory(&self, ctx: &Ctx) -> bool {
        self.wmem_queued() > SOCK_MIN_SNDBUF && ctx.mem.over_high(self.mem_unsettled())
    }
}
