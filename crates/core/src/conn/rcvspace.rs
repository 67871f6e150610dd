//! The receive window as Linux computes it from memory, not from bytes.
//!
//! RFC 9293 section 3.8.6.2.2 leaves the size of the offered window to the receiver;
//! Linux derives it from the receive buffer (`sk_rcvbuf`), which counts memory: every
//! queued segment is charged its buffer's *truesize* (payload plus allocation overhead),
//! and the share of memory that holds payload is the socket's `scaling_ratio`, measured
//! from the segments received (6.x's `tcp_win_from_space`; before 6.6 a fixed share
//! set by `tcp_adv_win_scale`, which Linux keeps as an obsolete knob). On top of that:
//!
//! - `window_clamp`, the largest window ever offered (`tcp_init_buffer_space`, which
//!   also keeps one segment of the buffer back for the application, `tcp_app_win`);
//! - `rcv_ssthresh`, the window's slow start: it grows by two segments or twice the
//!   payload for each segment whose truesize would fit the buffer (`tcp_grow_window`);
//! - `__tcp_select_window`: the free space, capped by `rcv_ssthresh`, rounded to the
//!   window scale or to whole segments; a window that would fall under half the buffer
//!   ends quick-ACK mode and may go to zero; `tcp_select_window` never moves the right
//!   edge left (RFC 9293 3.8.6) unless `tcp_shrink_window` allows it with scaling on.
//!
//! Truesize is modelled as a Linux TUN device allocates its buffers (`tun_alloc_skb`),
//! since that is how packets reach a Linux stack in the tests synack is checked
//! against: a datagram under a page is one `kmalloc`ed head (the slab sizes), a larger
//! one a page-sized head plus page chunks of up to 32 KiB.

use super::{Connection, Ctx};
use crate::config::Config;
use crate::time::Instant;
use synack_wire::SeqNum;

/// Linux's TCP_RMEM_TO_WIN_SCALE: the scaling ratio is a fraction of 256.
const RATIO_SHIFT: u32 = 8;

/// TCP_DEFAULT_SCALING_RATIO: half of the memory holds payload until measured.
pub(crate) const DEFAULT_SCALING_RATIO: u8 = 128;

/// Linux's PAGE_SIZE.
const PAGE: usize = 4096;
/// SKB_DATA_ALIGN(sizeof(struct sk_buff)): the buffer descriptor's share of truesize.
const SKB_STRUCT: usize = 256;
/// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), at the end of every head.
const SKB_SHINFO: usize = 320;
/// SKB_SMALL_HEAD_CACHE_SIZE: heads this small come from a dedicated cache.
const SMALL_HEAD: usize = 640;
/// PAGE_ALLOC_COSTLY_ORDER: page chunks of a large buffer are at most 8 pages.
const MAX_CHUNK: usize = PAGE << 3;

/// `tcp_win_from_space`: the payload share of `space` bytes of buffer memory.
pub(crate) fn win_from_space(ratio: u8, space: i64) -> i64 {
    (space * i64::from(ratio)) >> RATIO_SHIFT
}

/// `tcp_space_from_win`: the memory that holds a window of `win` bytes of payload.
pub(crate) fn space_from_win(ratio: u8, win: u64) -> u64 {
    (win << RATIO_SHIFT) / u64::from(ratio.max(1))
}

/// The truesize Linux charges for a received datagram of `len` bytes (IP header
/// included) that a TUN device built: under a page, one head from the slab whose size
/// fits the data and the shared info (SKB_HEAD_ALIGN); otherwise a head of one page
/// (`good_linear`) and the rest in page chunks, each charged whole
/// (alloc_skb_with_frags).
pub(crate) fn rx_truesize(len: usize) -> u32 {
    let head_truesize = |data: usize| {
        let size = data.div_ceil(64) * 64 + SKB_SHINFO;
        let slab = if size <= SMALL_HEAD {
            SMALL_HEAD
        } else {
            size.next_power_of_two()
        };
        slab + SKB_STRUCT
    };
    if len < PAGE {
        return head_truesize(len) as u32;
    }
    let linear = PAGE - SKB_SHINFO;
    let mut truesize = head_truesize(linear);
    let mut rest = len - linear;
    let mut chunk = MAX_CHUNK;
    while rest > 0 {
        let aligned = rest.div_ceil(PAGE) * PAGE;
        while chunk > PAGE && aligned < chunk {
            chunk /= 2;
        }
        truesize += chunk;
        rest -= rest.min(chunk);
    }
    truesize as u32
}

/// The initial window and window scale (Linux's tcp_select_initial_window, RFC 7323
/// section 2.3): `space` (the buffer's payload share) rounded down to whole `mss`
/// segments, at most 65535; the scale is the shift that lets the largest buffer the
/// socket may grow to (`tcp_rmem[2]`, `rmem_max`, or the fixed SO_RCVBUF) be offered.
/// Returns (window, window clamp, scale).
pub(crate) fn initial_window(config: &Config, rcvbuf: Option<usize>, mss: u32) -> (u32, u32, u8) {
    let full = win_from_space(
        DEFAULT_SCALING_RATIO,
        rcvbuf.unwrap_or(config.tcp_rmem[1]) as i64,
    )
    .clamp(0, i64::from(u32::MAX)) as u32;
    // A fixed SO_RCVBUF clamps the window (tcp_openreq_init_rwin, tcp_connect_init);
    // otherwise the clamp is the largest scaled window.
    let clamp = if rcvbuf.is_some() { full } else { 65535 << 14 };
    let mut space = full.min(clamp);
    let mss = mss.max(1);
    if space > mss {
        space = space / mss * mss;
    }
    let window = space.min(65535);
    let mut wscale = 0u8;
    if config.tcp_window_scaling {
        let max = (space as usize)
            .max(config.tcp_rmem[2])
            .max(config.rmem_max)
            .min(clamp as usize)
            .max(1);
        let ilog2 = usize::BITS - 1 - max.leading_zeros();
        wscale = ilog2.saturating_sub(15).min(14) as u8;
    }
    (window, clamp.min(65535 << wscale), wscale)
}

/// The receive side's memory and window state (Linux's sk_rcvbuf, sk_rmem_alloc,
/// scaling_ratio, rcv_ssthresh), with what only a connection receiving data needs out of
/// line.
#[derive(Debug, Clone)]
pub struct RcvSpace {
    /// `sk_rcvbuf`: the memory the receive queues may use.
    pub rcvbuf: u32,
    /// `sk_rmem_alloc`: the truesize of every segment held, in order or not.
    pub rmem: u32,
    /// `rcv_ssthresh`: the window's current cap while it grows.
    pub ssthresh: u32,
    /// `scaling_ratio`: payload per 256 bytes of memory, measured.
    pub ratio: u8,
    /// The next ACK must offer a zero window: a segment was taken over the memory
    /// limit (ICSK_ACK_NOMEM).
    pub nomem: bool,
    /// The socket belongs to a program (Linux's sk_socket): connected by it or
    /// accepted, and not closed. Only then does out-of-order data grow the buffer.
    pub owned: bool,
    /// `rcvq_space.space`: the most the application read in one round trip.
    space: u32,
    /// `rcvq_space.seq`: the sequence number read up to when the round began.
    space_seq: SeqNum,
    /// `rcvq_space.time`: when the round began.
    space_time: Instant,
    /// Receiver round-trip measurement and memory charges, allocated when data first
    /// arrives (an idle connection never needs them: issue 9's memory budget).
    tune: Option<Box<Tune>>,
}

/// The receive state of a connection that has received data.
#[derive(Debug, Clone)]
struct Tune {
    /// `rcv_rtt_est.rtt_us`, times 8: the receiver's round-trip estimate; 0 unknown.
    rtt_us8: u32,
    /// `rcv_rtt_est.seq`: the window edge whose arrival ends a measurement.
    rtt_seq: SeqNum,
    /// `rcv_rtt_est.time`: when the measurement began; zero before the first.
    rtt_time: Instant,
    /// `rcv_rtt_last_tsecr`: the last echoed timestamp used.
    last_tsecr: u32,
    /// (end sequence number, truesize) of each held segment, in sequence order.
    charges: Vec<(SeqNum, u32)>,
}

impl RcvSpace {
    /// The state of a new socket with `rcvbuf` bytes of receive memory.
    pub fn new(rcvbuf: usize) -> RcvSpace {
        RcvSpace {
            rcvbuf: rcvbuf.min(i32::MAX as usize) as u32,
            rmem: 0,
            ssthresh: 0,
            ratio: DEFAULT_SCALING_RATIO,
            nomem: false,
            owned: false,
            space: 0,
            space_seq: SeqNum(0),
            space_time: Instant::ZERO,
            tune: None,
        }
    }

    fn tune(&mut self) -> &mut Tune {
        self.tune.get_or_insert_with(|| {
            Box::new(Tune {
                rtt_us8: 0,
                rtt_seq: SeqNum(0),
                rtt_time: Instant::ZERO,
                last_tsecr: 0,
                charges: Vec::new(),
            })
        })
    }

    /// `rcvq_space.space` (0 before the connection is established).
    pub fn space(&self) -> u32 {
        self.space
    }
}

impl Connection {
    /// Whether the user fixed the receive buffer (SOCK_RCVBUF_LOCK).
    pub(super) fn rcvbuf_locked(&self) -> bool {
        self.opts.rcvbuf.is_some()
    }

    /// `tcp_space`: the payload the free memory can still take (negative when over).
    pub(crate) fn tcp_space(&self) -> i64 {
        win_from_space(
            self.rs.ratio,
            i64::from(self.rs.rcvbuf) - i64::from(self.rs.rmem),
        )
    }

    /// `tcp_full_space`: the payload the whole buffer holds.
    pub(crate) fn full_space(&self) -> i64 {
        win_from_space(self.rs.ratio, i64::from(self.rs.rcvbuf))
    }

    /// The window last offered (Linux's rcv_wnd).
    pub(crate) fn rcv_wnd(&self) -> u32 {
        (self.rcv_adv - self.rcv_wup).max(0) as u32
    }

    /// The window the peer may still fill (tcp_receive_window).
    pub(crate) fn receive_window(&self) -> u32 {
        (self.rcv_adv - self.rcv_nxt).max(0) as u32
    }

    /// The initial window offered in our SYN or SYN-ACK sets where the window and its
    /// slow start begin (tcp_create_openreq_child, tcp_connect_init).
    pub(crate) fn init_rcv_wnd(&mut self, window: u32, clamp: u32) {
        self.rcv_wup = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt + window;
        self.rs.ssthresh = window;
        self.window_clamp = clamp;
    }

    /// Linux's tcp_init_buffer_space, when the connection is established: the clamp
    /// is the buffer's payload share less one segment kept for the application
    /// (`tcp_app_win`), the window's slow start never above it, and autotuning starts
    /// from ten segments at most.
    pub(crate) fn init_buffer_space(&mut self, ctx: &Ctx) {
        let app_win = ctx.config.tcp_app_win;
        let advmss = u32::from(self.adv_mss);
        let maxwin = self.full_space().clamp(0, i64::from(u32::MAX)) as u32;
        if self.window_clamp >= maxwin {
            self.window_clamp = maxwin;
            if app_win > 0 && maxwin > 4 * advmss {
                let reserve = if app_win >= 32 { 0 } else { maxwin >> app_win };
                self.window_clamp = (maxwin - reserve).max(4 * advmss);
            }
        }
        // Force reservation of one segment.
        if app_win > 0 && self.window_clamp > 2 * advmss && self.window_clamp + advmss > maxwin {
            self.window_clamp = (2 * advmss).max(maxwin.saturating_sub(advmss));
        }
        self.rs.ssthresh = self.rs.ssthresh.min(self.window_clamp);
        let space = self.rs.ssthresh.min(self.rcv_wnd()).min(10 * advmss);
        let copied = self.copied_seq();
        self.rs.space = space;
        self.rs.space_seq = copied;
        self.rs.space_time = ctx.now;
    }

    /// The sequence number the application has read up to (Linux's copied_seq).
    pub(crate) fn copied_seq(&self) -> SeqNum {
        self.rcv_nxt - self.recv_buf.len() as u32
    }

    /// A segment's payload arrived (tcp_measure_rcv_mss): `len` is its segment size (a
    /// GSO packet's), `payload` its length and `truesize` its memory. A new size
    /// remeasures the scaling ratio, and the clamp follows the buffer's new payload
    /// share. Returns whether the segment was smaller than the estimate.
    pub(crate) fn measure_rcv_mss(&mut self, len: u32, payload: u32, truesize: u32) -> bool {
        if len < self.rcv_mss {
            return true;
        }
        if len != self.rcv_mss {
            let ratio = ((u64::from(payload) << RATIO_SHIFT) / u64::from(truesize.max(1)))
                .clamp(1, 255) as u8;
            if ratio != self.rs.ratio {
                self.rs.ratio = ratio;
                self.window_clamp = self.full_space().clamp(0, i64::from(u32::MAX)) as u32;
                let clamp = self.window_clamp;
                self.rs.space = self.rs.space.min(clamp);
            }
        }
        self.rcv_mss = len.min(u32::from(self.adv_mss));
        false
    }

    /// Linux's tcp_grow_window: a segment whose truesize the buffer could hold at this
    /// window opens `rcv_ssthresh` by two segments or twice its payload (the room to the
    /// clamp and the free space permitting), and asks for a quick ACK.
    pub(crate) fn grow_window(&mut self, ctx: &Ctx, payload: u32, truesize: u32) {
        // Check #1 of tcp_grow_window: not under memory pressure.
        if ctx.mem.under_pressure(self.mem_unsettled()) {
            return;
        }
        let config = ctx.config;
        let limit = i64::from(self.window_clamp).min(self.tcp_space());
        let room = limit - i64::from(self.rs.ssthresh);
        if room <= 0 {
            return;
        }
        let advmss = u32::from(self.adv_mss);
        let mut incr = 0u32;
        if win_from_space(self.rs.ratio, i64::from(truesize)) <= i64::from(payload) {
            incr = 2 * advmss;
        } else {
            // __tcp_grow_window: would it fit at a smaller window?
            let mut truesize = win_from_space(self.rs.ratio, i64::from(truesize)) >> 1;
            let mut window = win_from_space(self.rs.ratio, config.tcp_rmem[2] as i64) >> 1;
            while i64::from(self.rs.ssthresh) <= window {
                if truesize <= i64::from(payload) {
                    incr = 2 * self.rcv_mss;
                    break;
                }
                truesize >>= 1;
                window >>= 1;
            }
        }
        if incr > 0 {
            let incr = incr.max(2 * payload);
            self.rs.ssthresh += (room.min(i64::from(incr))) as u32;
            self.ack.quick |= 1;
        }
    }

    /// Linux's __tcp_select_window: the window the free memory allows now, before the
    /// rule against moving the right edge left. Also says whether quick-ACK mode ends
    /// (the free space fell under half the buffer).
    pub(crate) fn raw_window(&self, config: &Config) -> (u32, bool) {
        let wscale = u32::from(self.neg.rcv_wscale);
        let mut mss = i64::from(self.rcv_mss);
        let mut free = self.tcp_space();
        let allowed = self.full_space();
        let full = i64::from(self.window_clamp).min(allowed);
        let mut end_quick = false;
        if mss > full {
            mss = full;
            if mss <= 0 {
                return (0, false);
            }
        }
        let round_down = |x: i64| x & !((1i64 << wscale) - 1);
        let align_up = |x: i64| (x + (1i64 << wscale) - 1) & !((1i64 << wscale) - 1);
        if config.tcp_shrink_window && wscale > 0 {
            free = round_down(free);
            if free < full >> 1 {
                end_quick = true;
                if free < allowed >> 4 || free < mss || free < 1 << wscale {
                    return (0, end_quick);
                }
            }
            if free > i64::from(self.rs.ssthresh) {
                free = align_up(i64::from(self.rs.ssthresh));
            }
            return (free.max(0) as u32, end_quick);
        }
        if free < full >> 1 {
            end_quick = true;
            free = round_down(free);
            if free < allowed >> 4 || free < mss {
                return (0, end_quick);
            }
        }
        free = free.min(i64::from(self.rs.ssthresh));
        let window = if wscale > 0 {
            align_up(free)
        } else {
            let mut window = i64::from(self.rcv_wnd());
            if window <= free - mss || window > free {
                window = free / mss * mss;
            } else if mss == full && free > window + (full >> 1) {
                window = free;
            }
            window
        };
        (window.max(0) as u32, end_quick)
    }

    /// Linux's tcp_select_window: the window field of the next segment. A zero window
    /// after memory ran out; never a right edge left of the one offered unless
    /// `tcp_shrink_window` allows it with scaling on; the zero-window counters.
    pub fn select_window_field(&mut self, ctx: &mut Ctx) -> u16 {
        let wscale = u32::from(self.neg.rcv_wscale);
        let old_win = self.rcv_wnd();
        if self.rs.nomem {
            self.rcv_wup = self.rcv_nxt;
            self.rcv_adv = self.rcv_nxt;
            return 0;
        }
        let cur_win = self.receive_window();
        // __tcp_select_window: under memory pressure, a window whose free space fell
        // under half the buffer gets its cap cut (tcp_adjust_rcv_ssthresh).
        if ctx.mem.under_pressure(self.mem_unsettled())
            && self.tcp_space() < i64::from(self.window_clamp).min(self.full_space()) >> 1
        {
            self.adjust_rcv_ssthresh();
        }
        let (mut new_win, end_quick) = self.raw_window(ctx.config);
        if end_quick {
            self.ack.quick = 0;
        }
        if new_win < cur_win && !(ctx.config.tcp_shrink_window && wscale > 0) {
            if new_win == 0 {
                ctx.stats.TCPWantZeroWindowAdv += 1;
            }
            new_win = cur_win.div_ceil(1 << wscale) << wscale;
        }
        self.rcv_wup = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt + new_win;
        let field = new_win.min(65535 << wscale) >> wscale;
        if field == 0 {
            if old_win != 0 {
                ctx.stats.TCPToZeroWindowAdv += 1;
            }
        } else if old_win == 0 {
            ctx.stats.TCPFromZeroWindowAdv += 1;
        }
        field as u16
    }

    /// Whether `len` more bytes of payload may be queued (Linux's tcp_can_ingest: what
    /// is held, in truesize, plus the newcomer's length within `sk_rcvbuf`). When the
    /// memory is used up, tcp_prune_queue's tcp_clamp_window first lets a buffer the
    /// user did not fix grow to what is held (up to `tcp_rmem[2]`) and restarts the
    /// window's slow start from two segments if even that is exceeded; quick-ACK mode
    /// ends. (Linux then collapses and prunes its queues; synack's hold no overhead to
    /// reclaim.)
    pub(crate) fn rmem_schedule(&mut self, ctx: &mut Ctx, len: u32) -> bool {
        let fits = |rs: &RcvSpace| u64::from(rs.rmem) + u64::from(len) <= u64::from(rs.rcvbuf);
        if fits(&self.rs) {
            return true;
        }
        // tcp_prune_queue.
        ctx.stats.PruneCalled += 1;
        if self.rs.rmem >= self.rs.rcvbuf {
            // tcp_clamp_window: the buffer grows to what is held unless the stack is
            // short of memory.
            let max = ctx.config.tcp_rmem[2].min(i32::MAX as usize) as u32;
            self.ack.quick = 0;
            let unsettled = self.mem_unsettled();
            let roomy =
                !ctx.mem.under_pressure(self.mem_unsettled()) && ctx.mem.below_low(unsettled);
            if self.rs.rcvbuf < max && !self.rcvbuf_locked() && roomy {
                self.rs.rcvbuf = self.rs.rmem.min(max);
            }
            if self.rs.rmem > self.rs.rcvbuf {
                self.rs.ssthresh = self.window_clamp.min(2 * u32::from(self.adv_mss));
            }
        } else if ctx.mem.under_pressure(self.mem_unsettled()) {
            self.adjust_rcv_ssthresh();
        }
        if fits(&self.rs) {
            return true;
        }
        // Nothing of synack's queues collapses; the segment is dropped.
        ctx.stats.RcvPruned += 1;
        false
    }

    /// Forgets the memory charged for the segments ending in `(from, to]` (pruned
    /// out-of-order data).
    pub(crate) fn uncharge_between(&mut self, from: SeqNum, to: SeqNum) {
        let Some(t) = self.rs.tune.as_mut() else {
            return;
        };
        let mut freed = 0u32;
        t.charges.retain(|&(end, size)| {
            let pruned = end.after(from) && end.before_eq(to);
            if pruned {
                freed = freed.saturating_add(size);
            }
            !pruned
        });
        self.rs.rmem = self.rs.rmem.saturating_sub(freed);
    }

    /// Charges `truesize` for a segment ending at `end` that was queued.
    pub(crate) fn charge(&mut self, end: SeqNum, truesize: u32) {
        let charges = &mut self.rs.tune().charges;
        // In-order data (nearly every segment) ends past everything charged: it goes
        // last without a search.
        if charges.last().is_none_or(|&(e, _)| e.before_eq(end)) {
            charges.push((end, truesize));
        } else {
            let at = charges.partition_point(|&(e, _)| e.before_eq(end));
            charges.insert(at, (end, truesize));
        }
        self.rs.rmem = self.rs.rmem.saturating_add(truesize);
    }

    /// Frees the memory of every segment the application has read entirely.
    pub(crate) fn uncharge_read(&mut self) {
        let copied = self.copied_seq();
        let Some(t) = self.rs.tune.as_mut() else {
            return;
        };
        let n = t.charges.partition_point(|&(e, _)| e.before_eq(copied));
        let freed: u32 = t.charges.drain(..n).map(|(_, size)| size).sum();
        if t.charges.is_empty() && t.charges.capacity() > 64 {
            t.charges = Vec::new();
        }
        self.rs.rmem = self.rs.rmem.saturating_sub(freed);
    }

    /// Frees everything held (the queues were purged).
    pub(crate) fn uncharge_all(&mut self) {
        if let Some(t) = self.rs.tune.as_mut() {
            t.charges = Vec::new();
        }
        self.rs.rmem = 0;
    }

    /// Linux's tcp_rcvbuf_grow (receive-buffer autotuning, `tcp_moderate_rcvbuf`):
    /// the application read `newval` bytes in a round trip; the buffer is sized for
    /// twice that (the measure is a round trip late), more while the rate grows (as a
    /// sender in slow start doubles it), plus the out-of-order data held, at most
    /// `tcp_rmem[2]`; the clamp follows. Not for a buffer the user fixed.
    pub(crate) fn rcvbuf_grow(&mut self, ctx: &Ctx, newval: u32) {
        let oldval = self.rs.space;
        self.rs.space = newval;
        if !ctx.config.tcp_moderate_rcvbuf || self.rcvbuf_locked() {
            return;
        }
        let mut rcvwin = u64::from(newval) << 1;
        if newval > oldval && oldval > 0 {
            let grow = rcvwin * u64::from(newval - oldval) / u64::from(oldval);
            rcvwin += grow << 1;
        }
        if self.recv_buf.has_ooo() {
            rcvwin += self.recv_buf.ooo_end() as u64;
        }
        let cap = ctx.config.tcp_rmem[2].min(i32::MAX as usize) as u64;
        let rcvbuf = space_from_win(self.rs.ratio, rcvwin).min(cap) as u32;
        if rcvbuf > self.rs.rcvbuf {
            self.rs.rcvbuf = rcvbuf;
            self.window_clamp = self.full_space().clamp(0, i64::from(u32::MAX)) as u32;
        }
    }

    /// Linux's tcp_rcv_space_adjust, after each read: once a receiver round trip has
    /// passed, what the application took in it (less what still waits) sizes the
    /// buffer if it beats the best round so far.
    pub(crate) fn rcv_space_adjust(&mut self, ctx: &Ctx) {
        let copied_seq = self.copied_seq();
        let rcv_nxt = self.rcv_nxt;
        let Some(t) = self.rs.tune.as_mut() else {
            return;
        };
        if t.rtt_us8 == 0 {
            return;
        }
        let elapsed = (ctx.now - self.rs.space_time).as_micros() as u64;
        if elapsed < u64::from(t.rtt_us8 >> 3) {
            return;
        }
        let copied = (copied_seq - self.rs.space_seq) - (rcv_nxt - copied_seq);
        if copied > self.rs.space as i32 {
            self.rcvbuf_grow(ctx, copied as u32);
        }
        self.rs.space_seq = copied_seq;
        self.rs.space_time = ctx.now;
    }

    /// tcp_rcv_rtt_update: `sample` microseconds; without timestamps (`win_dep`) only
    /// a smaller sample counts (the estimate is a minimum), with them an average.
    fn rcv_rtt_update(&mut self, sample: u32, win_dep: bool) {
        let queue_empty = self.recv_buf.is_empty();
        let t = self.rs.tune();
        let old = t.rtt_us8;
        let m = sample.saturating_mul(8);
        if old == 0 || m < old {
            t.rtt_us8 = m;
        } else {
            if win_dep || !queue_empty {
                return;
            }
            t.rtt_us8 = old - (old >> 3) + sample;
        }
    }

    /// tcp_rcv_rtt_measure: without timestamps, a round trip is the time the peer takes
    /// to fill the window offered when the measurement began.
    pub(crate) fn rcv_rtt_measure(&mut self, ctx: &Ctx) {
        let rcv_nxt = self.rcv_nxt;
        let t = self.rs.tune();
        if t.rtt_time != Instant::ZERO {
            if rcv_nxt.before(t.rtt_seq) {
                return;
            }
            let delta = ((ctx.now - t.rtt_time).as_micros() as u64).clamp(1, u64::from(u32::MAX));
            self.rcv_rtt_update(delta as u32, true);
        }
        let edge = self.rcv_nxt + self.rcv_wnd();
        let t = self.rs.tune();
        t.rtt_seq = edge;
        t.rtt_time = ctx.now;
    }

    /// tcp_rcv_rtt_measure_ts: with timestamps, a segment of at least the MSS estimate
    /// echoing a new TSval measures the round trip directly (milliseconds here).
    pub(crate) fn rcv_rtt_measure_ts(&mut self, ctx: &Ctx, tsecr: u32, seg_len: u32) {
        let Some(ts) = self.neg.ts else {
            return;
        };
        let t = self.rs.tune();
        if tsecr == t.last_tsecr {
            return;
        }
        t.last_tsecr = tsecr;
        if seg_len >= self.rcv_mss {
            let delta = ts.now_val(ctx.now).wrapping_sub(tsecr) as i32;
            if delta > 0 {
                self.rcv_rtt_update((delta as u32).saturating_mul(1000), false);
            }
        }
    }
}
