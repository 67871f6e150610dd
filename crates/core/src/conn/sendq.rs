//! How a write fills the send queue and what it is charged, as Linux's
//! tcp_sendmsg_locked does it: the queue is a list of chunks (chunks.rs, Linux's skbs),
//! each growing to the size goal as writes append; each chunk costs its payload plus
//! Linux's per-skb overhead against the send buffer (`sk_wmem_queued` against
//! `sk_sndbuf`), and a write opens a new chunk only while the queue is charged less
//! than the buffer (sk_stream_memory_free), so it may overshoot the buffer by up to one
//! size goal. A full chunk at the head of the unsent data goes out at once (tcp_push_one)
//! and one that takes the writes past half the peer's largest window since the last
//! PSH is marked and pushed (forced_push): both cut a transmission unit off the chunk
//! while the write is still appending, which decides where the following chunks start.
//! A writer that found no room becomes writable again when a third of the buffer is
//! free (sk_stream_wspace ≥ sk_stream_min_wspace) and, with TCP_NOTSENT_LOWAT, when
//! twice the unsent bytes are below it.

use synack_wire::SeqNum;

use super::mtup::ProbeStep;
use super::tso::GSO_MAX_SIZE;
use super::{Connection, Ctx, SendFlags};
use crate::config::Config;

/// What Linux charges per skb on top of its payload: `SKB_TRUESIZE` of the
/// `MAX_TCP_HEADER` (320 bytes) head an skb of the send queue is allocated with, that
/// is the head itself plus the aligned `struct sk_buff` (256) and
/// `struct skb_shared_info` (320), on x86-64.
pub(crate) const SKB_OVERHEAD: usize = 320 + 256 + 320;

/// Which of Linux's pushes cuts units off a write in progress (plan_transmit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Push {
    /// tcp_push_one: one unit, never deferred, Nagle off (TCP_NAGLE_PUSH).
    One,
    /// __tcp_push_pending_frames with TCP_NAGLE_PUSH (forced_push).
    Pending,
    /// tcp_push at the end of the write: Nagle's test and the cork apply to a partial
    /// segment at the end; `more` is MSG_MORE.
    Write { more: bool },
}

impl Connection {
    /// Linux's `sk_wmem_queued`: the payload held plus each chunk's overhead.
    pub(crate) fn wmem_queued(&self) -> usize {
        self.send_buf.len() + self.chunks.len() * SKB_OVERHEAD
    }

    /// Linux's `sk_sndbuf` (SO_SNDBUF doubled, or `tcp_wmem[1]` grown with cwnd).
    pub fn sndbuf(&self) -> usize {
        self.chunks.sndbuf as usize
    }

    /// Sets `sk_sndbuf`.
    pub(crate) fn set_sndbuf(&mut self, bytes: usize) {
        self.chunks.sndbuf = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    /// Linux's tcp_sndbuf_expand: room for the skbs of twice the larger of cwnd, the
    /// initial window (10) and `reordering + 1` segments, without GSO (the worst case),
    /// each a head of the MSS (the peer's, `mss_clamp`, which the timestamp option does
    /// not shrink) plus `MAX_TCP_HEADER` (320) and `struct skb_shared_info` (320)
    /// rounded up to a power of two, plus the `struct sk_buff` (256). CUBIC and Reno
    /// have no `sndbuf_expand` of their own: the factor is 2.
    pub(crate) fn sndbuf_expand(&self) -> usize {
        let mss_clamp = self.mss + if self.neg.ts.is_some() { 12 } else { 0 };
        let per_mss = (mss_clamp as usize + 320 + 320).next_power_of_two() + 256;
        let segs = (self.cc.cwnd() / self.mss.max(1))
            .max(10)
            .max(u32::from(self.rec.reordering) + 1) as usize;
        2 * segs * per_mss
    }

    /// The payload of a full-sized segment now (Linux's tcp_current_mss).
    pub(crate) fn current_mss(&self) -> u32 {
        self.mss.saturating_sub(self.sack_option_len()).max(1)
    }

    /// Linux's tcp_xmit_size_goal: how large a chunk grows, a multiple of the MSS up
    /// to the GSO limit, bounded by half the largest window the peer offered
    /// (tcp_bound_to_half_wnd).
    pub(crate) fn size_goal(&self) -> u32 {
        let mss = self.current_mss();
        let max_window = self.max_snd_wnd;
        let cutoff = if max_window > 536 {
            max_window / 2
        } else {
            max_window
        };
        let mut goal = GSO_MAX_SIZE;
        if cutoff > 0 && goal > cutoff {
            goal = cutoff.max(68u32.saturating_sub(20 + u32::from(self.neg.ts.is_some()) * 12));
        }
        (goal / mss * mss).max(mss)
    }

    /// SND.UNA as data sees it: past the SYN. A Fast Open child sends data before its
    /// SYN-ACK is acknowledged; Linux's child socket starts with SND.UNA past the SYN-ACK
    /// (tcp_create_openreq_child), whose retransmission the request keeps, so neither
    /// the window nor the packets in flight count it.
    pub(crate) fn data_una(&self) -> SeqNum {
        if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        }
    }

    /// The right edge of the peer's window (Linux's tcp_wnd_end).
    pub(crate) fn wnd_end(&self) -> SeqNum {
        self.data_una() + self.snd_wnd
    }

    /// Linux's sk_stream_memory_free with tcp_stream_memory_free: the queue is charged
    /// less than the buffer and (`unsent << wake`) is below TCP_NOTSENT_LOWAT.
    /// `default_lowat` is `tcp_notsent_lowat`; `queued` and `unsent` are bytes a write
    /// in progress has taken and, of those, not yet cut into units to send.
    pub(crate) fn memory_free(
        &self,
        default_lowat: u32,
        queued: usize,
        unsent: usize,
        wake: u32,
    ) -> bool {
        if self.wmem_queued() + queued >= self.sndbuf() {
            return false;
        }
        let unsent = (self.notsent_bytes() + unsent) as u64;
        let lowat = self.opts.notsent_lowat.unwrap_or(default_lowat);
        (unsent << wake) < u64::from(lowat)
    }

    /// Linux's __sk_stream_is_writeable(sk, 1): a third of the buffer free
    /// (sk_stream_wspace ≥ sk_stream_min_wspace) and memory free as a wake-up sees it.
    pub(crate) fn stream_writeable(&self, config: &Config) -> bool {
        let queued = self.wmem_queued();
        self.sndbuf().saturating_sub(queued) >= queued / 2
            && self.memory_free(config.tcp_notsent_lowat, 0, 0, 1)
    }

    /// At most how many bytes a write would take now (0 when it would block): the room
    /// in the last chunk and, while the buffer is not fully charged, what is left of
    /// it plus one more chunk (a write overshoots by up to one size goal).
    /// `default_lowat` is `tcp_notsent_lowat`.
    pub(crate) fn write_room(&self, default_lowat: u32) -> usize {
        let goal = self.size_goal() as usize;
        let at = self.send_buf_seq() + self.send_buf.len() as u32;
        let tail = self
            .chunks
            .open_tail(at)
            .map_or(0, |c| goal.saturating_sub((c.end - c.start) as usize));
        if !self.memory_free(default_lowat, 0, 0, 0) {
            return tail;
        }
        tail + self.sndbuf().saturating_sub(self.wmem_queued()) + goal
    }

    /// Makes the ring hold `more` bytes beyond what it holds. It grows (once, not per
    /// write) to the most a write can leave queued: the buffer plus two size goals.
    pub(crate) fn reserve_ring(&mut self, more: usize) {
        if self.send_buf.free() >= more {
            return;
        }
        let most = self.sndbuf() + 2 * self.size_goal() as usize;
        let cap = (self.send_buf.len() + more).max(most);
        self.send_buf.set_capacity(cap);
    }

    /// Linux's forced_push: the writes have gone more than half the peer's largest
    /// window past the last PSH mark.
    fn forced_push(&self, write_seq: SeqNum) -> bool {
        write_seq.after(self.chunks.pushed_seq + (self.max_snd_wnd >> 1))
    }

    /// Takes up to `n` bytes of a write into the chunks and returns how many: the
    /// loop of Linux's tcp_sendmsg_locked. The bytes themselves are copied into the
    /// ring by the caller, after this returns (it only grows the ring when
    /// `may_grow`, so that the taken bytes fit).
    pub(crate) fn queue_write(
        &mut self,
        ctx: &mut Ctx,
        n: usize,
        flags: SendFlags,
        may_grow: bool,
    ) -> usize {
        self.events |= super::events::SEND_CALL;
        let config = ctx.config;
        // tcp_send_mss: the MSS for a route that changed (mtup.rs).
        self.route_mtu_check(config);
        let goal = self.size_goal();
        let mut write_seq = self.send_buf_seq() + self.send_buf.len() as u32;
        let mut taken = 0usize;
        // Where the units cut off while this write appends end: Linux has sent them.
        let mut head = self.snd_nxt;
        while taken < n {
            let room = match self.chunks.open_tail(write_seq) {
                Some(c) if ((c.end - c.start) as u32) < goal => goal - (c.end - c.start) as u32,
                _ => {
                    let unsent = (write_seq - head).max(0) as usize;
                    let unsent = unsent.saturating_sub(self.notsent_bytes());
                    if !self.memory_free(config.tcp_notsent_lowat, taken, unsent, 0) {
                        break;
                    }
                    self.chunks.open(write_seq);
                    goal
                }
            };
            let mut k = (room as usize).min(n - taken);
            if may_grow {
                self.reserve_ring(taken + k);
            }
            k = k.min(self.send_buf.free().saturating_sub(taken));
            // The stack's memory budget may refuse the ring's growth (memory.rs).
            k = self.wmem_admit(ctx, taken, k);
            if k == 0 {
                break;
            }
            self.chunks.extend(k as u32, taken == 0);
            taken += k;
            write_seq += k as u32;
            if taken == n {
                break;
            }
            let full = self
                .chunks
                .open_tail(write_seq)
                .is_none_or(|c| (c.end - c.start) as u32 >= goal);
            if !full {
                continue;
            }
            if self.forced_push(write_seq) {
                self.chunks.mark_tail(true, false);
                self.chunks.pushed_seq = write_seq;
                head = self.plan_transmit(ctx, head, Push::Pending);
            } else if self
                .chunks
                .open_tail(write_seq)
                .is_some_and(|c| c.start == head)
            {
                head = self.plan_transmit(ctx, head, Push::One);
            }
        }
        self.chunks.drop_empty_tail();
        if taken > 0 {
            // tcp_push: the write's last chunk is marked for PSH unless MSG_MORE holds
            // it (and even then once the writes went half a window past the last mark);
            // MSG_EOR closes it to later writes.
            let push = !flags.more || self.forced_push(write_seq);
            self.chunks.mark_tail(push, flags.eor && taken == n);
            if push {
                self.chunks.pushed_seq = write_seq;
            }
            self.push_write(ctx, head, write_seq, flags.more);
        }
        taken
    }

    /// Linux's tcp_push at the end of a write. With `tcp_autocorking`, a partial last
    /// chunk is left open while what an earlier write cut off still waits for the device
    /// (tcp_should_autocork: `skb->len < size_goal` and `sk_wmem_alloc` above the skb's
    /// own truesize, a transmission not yet completed). The engine's device is its
    /// driver, which takes a unit when it next polls: a unit cut off and not yet polled
    /// is one in the device. Otherwise what tcp_write_xmit would send at once is cut
    /// into units now, so that a later write appends to none of them.
    fn push_write(&mut self, ctx: &mut Ctx, head: SeqNum, write_seq: SeqNum, more: bool) {
        if self.snd_nxt != self.snd_max || !self.state.is_synchronized() {
            return;
        }
        let Some(tail) = self.chunks.open_tail(write_seq) else {
            return;
        };
        let in_device = head.after(self.snd_nxt)
            || self
                .chunks
                .at(self.snd_nxt)
                .is_some_and(|c| c.started && c.start == self.snd_nxt && c.sent_to == c.start);
        if ctx.config.tcp_autocorking
            && ((tail.end - tail.start) as u32) < self.size_goal()
            && in_device
        {
            ctx.stats.TCPAutoCorking += 1;
            return;
        }
        self.plan_transmit(ctx, head, Push::Write { more });
    }

    /// tcp_nagle_check for a write's push (`more`: MSG_MORE, Linux's TCP_NAGLE_CORK for
    /// this push): whether a partial segment at the end of the queue waits.
    fn write_holds_partial(&self, more: bool, planned: bool) -> bool {
        if more {
            return true;
        }
        if self.push_once {
            return false;
        }
        let in_flight = planned || self.snd_nxt.after(self.snd_una);
        self.opts.cork || (!self.opts.nodelay && in_flight && self.snd_sml.after(self.snd_una))
    }

    /// What Linux's tcp_write_xmit would cut off the unsent chunks now, while a write
    /// is still appending (tcp_push_one with `one`, else __tcp_push_pending_frames):
    /// units of the TSO size within cwnd and the window. The segments themselves go
    /// when the stack next polls the connection, at the same instant, and follow these
    /// units (chunks.rs).
    /// Returns where the units cut so far end (`head`, where the unsent data starts,
    /// when none is).
    fn plan_transmit(&mut self, ctx: &Ctx, head: SeqNum, push: Push) -> SeqNum {
        if self.snd_nxt != self.snd_max || !self.state.is_synchronized() {
            return head;
        }
        // tcp_write_xmit begins with tcp_mtu_probe, except in tcp_push_one (mtup.rs).
        let mut head = head;
        if push != Push::One && head == self.snd_nxt {
            match self.mtu_probe(ctx) {
                ProbeStep::Wait => return head,
                ProbeStep::Built(end) => head = end,
                ProbeStep::None => {}
            }
        }
        let mss = self.current_mss();
        let segs = self.tso_segs(ctx.config);
        let planned = (head - self.snd_nxt).max(0) as u32;
        let mut cwnd_room = self
            .cc
            .cwnd()
            .saturating_sub(self.pipe())
            .saturating_sub(planned);
        let mut seq = head;
        while let Some(c) = self.chunks.at(seq) {
            if c.start != seq {
                break;
            }
            let wnd_end = self.wnd_end();
            let send_wnd = (wnd_end - seq).max(0) as u32;
            // Whole segments of cwnd, as Linux's tcp_cwnd_test counts them.
            let mut room = (cwnd_room / mss * mss).min(send_wnd);
            if room < mss.min((c.end - c.start) as u32) || room == 0 {
                break;
            }
            // tcp_push_one never defers; __tcp_push_pending_frames may (tso.rs).
            let planned = (seq - self.snd_nxt).max(0) as u32;
            if push != Push::One && self.tso_should_defer(ctx, seq, planned) {
                break;
            }
            if let Push::Write { more } = push {
                // tcp_nagle_test for a last skb of one partial segment, and
                // tcp_mss_split_point for a unit ending with one.
                let rest = (c.end - seq).max(0) as u32;
                let tail = self.chunks.at(c.end).is_none();
                if tail && self.write_holds_partial(more, planned > 0) {
                    if rest < mss {
                        break;
                    }
                    let needed = rest.min(send_wnd);
                    if room.min(segs.saturating_mul(mss)) > needed && !needed.is_multiple_of(mss) {
                        room = needed - needed % mss;
                    }
                }
            }
            let Some((end, _)) = self.chunks.transmit(seq, room, mss, segs) else {
                break;
            };
            cwnd_room = cwnd_room.saturating_sub((end - seq) as u32);
            seq = end;
            if push == Push::One {
                break;
            }
        }
        seq
    }
}
