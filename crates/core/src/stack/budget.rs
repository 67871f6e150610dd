//! The stack-wide memory budget, Linux's `tcp_mem` (net/core/sock.c's
//! `__sk_mem_raise_allocated` and `__sk_mem_reduce_allocated`, tcp.c's
//! `tcp_enter_memory_pressure` / `tcp_leave_memory_pressure`).
//!
//! Every page of payload ring a connection holds (its send ring, its receive ring with
//! the out-of-order data in it) is charged to one counter, Linux's
//! `sk_memory_allocated`. The charge follows the rings: [`Budget::settle`] brings a
//! connection's recorded charge ([`Connection::mem_pages`]) to what its rings hold
//! now, and `after_conn` runs it after anything touched the connection; a released
//! ring (reclaim.rs) and a connection that goes give their pages back at once.
//!
//! Against `tcp_mem = (low, pressure, high)`:
//! - above `pressure` the stack enters memory pressure (TCPMemoryPressures) and stays
//!   under it until the charge falls below `low` (TCPMemoryPressuresChrono adds the
//!   milliseconds spent); under pressure windows and send buffers stop growing and
//!   out-of-order data is pruned (conn/input.rs, conn/rcvspace.rs);
//! - a ring that would grow is asked about first ([`MemView::admits`], the rules of
//!   `__sk_mem_raise_allocated`): at or under `low` it may; above `high` it may not;
//!   in between it may while the socket holds less than its minimum (`tcp_rmem[0]`,
//!   `tcp_wmem[0]`), while the stack is not under pressure, or while the socket's
//!   pages times the number of sockets stay under `high` (its fair share).
//!
//! Linux charges `sk_forward_alloc` pages of skb truesize; synack charges the rings'
//! own memory, which is what the process holds for payload.

use core::cell::Cell;

use crate::conn::Connection;
use crate::stats::Stats;
use crate::time::Instant;

/// The page `tcp_mem` counts in (Linux's SK_MEM_QUANTUM, PAGE_SIZE on x86).
pub(crate) const PAGE: usize = 4096;

/// The pages the rings of `conn` hold now.
#[inline]
pub(crate) fn conn_pages(conn: &Connection) -> u32 {
    let pages = conn.send_buf.ring_size().div_ceil(PAGE) + conn.recv_buf.ring_size().div_ceil(PAGE);
    pages.min(u32::MAX as usize) as u32
}

/// The stack's charge and pressure state (Linux's `tcp_memory_allocated` and
/// `tcp_memory_pressure`).
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Pages charged: the sum of every live connection's [`Connection::mem_pages`].
    pages: u64,
    /// When memory pressure began; `None` while not under pressure.
    pressure_since: Option<Instant>,
    /// A connection asked for growth past `pressure` during a call: pressure begins
    /// even if the growth was refused (`__sk_mem_raise_allocated` enters it before
    /// deciding).
    request: Cell<bool>,
}

impl Budget {
    /// Pages charged now (`/proc/net/sockstat`'s `TCP: ... mem`).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Whether the stack is under memory pressure (tcp_under_memory_pressure).
    pub fn under_pressure(&self) -> bool {
        self.pressure_since.is_some()
    }

    /// Brings `conn`'s charge to what its rings hold: the stack's count rises or falls
    /// by the difference, entering or leaving pressure as Linux does on each. Inline
    /// for the usual case (nothing changed: two loads and a compare, run by every
    /// `after_conn`), out of line otherwise.
    #[inline(always)]
    pub fn settle(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        limits: &[u64; 3],
        stats: &mut Stats,
    ) {
        if conn_pages(conn) != conn.mem_pages || self.request.get() {
            self.settle_changed(conn, now, limits, stats);
        }
    }

    /// [`Budget::settle`] when the rings changed or pressure was asked for.
    #[inline(never)]
    fn settle_changed(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        limits: &[u64; 3],
        stats: &mut Stats,
    ) {
        if self.request.get() {
            self.request.set(false);
            self.enter_pressure(now, stats);
        }
        let pages = conn_pages(conn);
        if pages != conn.mem_pages {
            self.change(conn.mem_pages, pages, now, limits, stats);
            conn.mem_pages = pages;
        }
    }

    /// A connection that goes gives its charge back.
    pub fn uncharge(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        limits: &[u64; 3],
        stats: &mut Stats,
    ) {
        if conn.mem_pages != 0 {
            self.change(conn.mem_pages, 0, now, limits, stats);
            conn.mem_pages = 0;
        }
    }

    /// The charge moves from `from` to `to` pages for one connection.
    fn change(&mut self, from: u32, to: u32, now: Instant, limits: &[u64; 3], stats: &mut Stats) {
        if to > from {
            // __sk_mem_raise_allocated: at or under `low` pressure ends; above
            // `pressure` it begins.
            self.pages += u64::from(to - from);
            if self.pages <= limits[0] {
                self.leave_pressure(now, stats);
            } else if self.pages > limits[1] {
                self.enter_pressure(now, stats);
            }
        } else {
            // __sk_mem_reduce_allocated: under `low` pressure ends.
            self.pages = self.pages.saturating_sub(u64::from(from - to));
            if self.pages < limits[0] {
                self.leave_pressure(now, stats);
            }
        }
    }

    /// tcp_enter_memory_pressure: counted once per episode.
    fn enter_pressure(&mut self, now: Instant, stats: &mut Stats) {
        if self.pressure_since.is_none() {
            self.pressure_since = Some(now);
            stats.TCPMemoryPressures += 1;
        }
    }

    /// tcp_leave_memory_pressure: the episode's length, in milliseconds.
    fn leave_pressure(&mut self, now: Instant, stats: &mut Stats) {
        if let Some(since) = self.pressure_since.take() {
            stats.TCPMemoryPressuresChrono +=
                now.saturating_duration_since(since).as_millis() as u64;
        }
    }

    /// What a connection's handlers need to know of the budget during one call.
    #[inline]
    pub fn view(&self, limits: &[u64; 3], sockets: usize) -> MemView<'_> {
        MemView {
            pages: self.pages,
            limits: *limits,
            pressure: self.pressure_since.is_some(),
            sockets: sockets as u64,
            request: &self.request,
        }
    }
}

/// The budget as it stood when a call began (in [`crate::conn::Ctx::mem`]); what the
/// connection's own rings grew since is counted by the connection itself
/// ([`Connection::mem_unsettled`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemView<'a> {
    /// Pages charged.
    pub pages: u64,
    /// `tcp_mem`.
    pub limits: [u64; 3],
    /// Under memory pressure.
    pub pressure: bool,
    /// Connections sharing the budget (Linux's sk_sockets_allocated).
    pub sockets: u64,
    /// Set when growth past `pressure` was asked for ([`Budget::settle`] begins the
    /// pressure then).
    request: &'a Cell<bool>,
}

impl MemView<'_> {
    /// tcp_under_memory_pressure, for a connection whose rings grew by `unsettled`
    /// pages since the call began (Linux charges before it asks: the growth that
    /// crosses `pressure` already counts).
    #[inline]
    pub fn under_pressure(&self, unsettled: i64) -> bool {
        self.pressure || self.pages.saturating_add_signed(unsettled) > self.limits[1]
    }

    /// Whether a connection holding `own` pages is within its share of `high`
    /// under pressure (`__sk_mem_raise_allocated`'s last test).
    #[inline]
    pub fn within_share(&self, own: u64) -> bool {
        self.limits[2] > self.sockets.max(1).saturating_mul(own)
    }

    /// Whether the charge is under `low` (where tcp_should_expand_sndbuf and
    /// tcp_clamp_window still let buffers grow).
    #[inline]
    pub fn below_low(&self, unsettled: i64) -> bool {
        self.pages.saturating_add_signed(unsettled) < self.limits[0]
    }

    /// tcp_out_of_memory's test of the stack: the charge is above `high`.
    #[inline]
    pub fn over_high(&self, unsettled: i64) -> bool {
        self.pages.saturating_add_signed(unsettled) > self.limits[2]
    }

    /// `__sk_mem_raise_allocated`: may a connection whose rings grew by `unsettled`
    /// pages since the call began grow a ring by `extra` pages, holding `held` bytes
    /// against its minimum `min` (`tcp_rmem[0]` or `tcp_wmem[0]`) and `own` pages in
    /// all after the growth?
    pub fn admits(&self, unsettled: i64, extra: u64, held: usize, min: usize, own: u64) -> bool {
        if extra == 0 {
            return true;
        }
        let allocated = self
            .pages
            .saturating_add_signed(unsettled)
            .saturating_add(extra);
        if allocated <= self.limits[0] {
            return true;
        }
        if allocated > self.limits[1] {
            self.request.set(true);
        }
        let pressure = self.pressure || allocated > self.limits[1];
        if allocated > self.limits[2] {
            return false;
        }
        // The minimum buffer is guaranteed under pressure.
        if held < min {
            return true;
        }
        // Under pressure, a socket within its fair share may still grow.
        !pressure || self.within_share(own)
    }
}

impl super::Stack {
    /// The pages of payload ring memory charged against `tcp_mem` now: the `mem`
    /// figure of Linux's `/proc/net/sockstat` (`TCP: inuse ... mem N`).
    pub fn mem_pages(&self) -> u64 {
        self.budget.pages()
    }

    /// Whether the stack is under memory pressure (`tcp_mem`'s second value was crossed
    /// and the charge has not yet fallen below the first; Linux's
    /// tcp_under_memory_pressure).
    pub fn under_memory_pressure(&self) -> bool {
        self.budget.under_pressure()
    }
}

impl Connection {
    /// Pages the rings grew (positive) or shrank by since the budget last settled.
    #[inline]
    pub(crate) fn mem_unsettled(&self) -> i64 {
        i64::from(conn_pages(self)) - i64::from(self.mem_pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pages: u64, pressure: bool) -> MemView<'static> {
        MemView {
            pages,
            limits: [10, 20, 30],
            pressure,
            sockets: 4,
            request: Box::leak(Box::default()),
        }
    }

    #[test]
    fn growth_follows_the_rules_of_sk_mem_raise_allocated() {
        // At or under low: always.
        assert!(view(5, false).admits(0, 5, 1 << 20, 4096, 100));
        // Above high: never, not even under the minimum.
        assert!(!view(30, false).admits(0, 1, 0, 4096, 1));
        assert!(
            view(30, false).admits(0, 0, 1 << 20, 4096, 1),
            "no growth: no question"
        );
        // Between: the minimum is kept; without pressure anything goes.
        assert!(view(15, false).admits(0, 1, 100, 4096, 100));
        assert!(view(15, false).admits(0, 1, 1 << 20, 4096, 100));
        // Under pressure (or entering it): only a socket within its share (30 / 4).
        assert!(view(15, true).admits(0, 1, 1 << 20, 4096, 7));
        assert!(!view(15, true).admits(0, 1, 1 << 20, 4096, 8));
        assert!(
            !view(20, false).admits(0, 1, 1 << 20, 4096, 8),
            "21 pages enter pressure"
        );
        // What the connection grew within the call counts.
        assert!(!view(25, false).admits(5, 1, 0, 4096, 1));
    }

    #[test]
    fn pressure_begins_above_pressure_and_ends_under_low() {
        let mut b = Budget::default();
        let mut stats = Stats::default();
        let limits = [10, 20, 30];
        let t = Instant::from_millis;
        b.change(0, 20, t(0), &limits, &mut stats);
        assert!(!b.under_pressure(), "20 pages is not above pressure");
        b.change(0, 1, t(100), &limits, &mut stats);
        assert!(b.under_pressure());
        b.change(0, 5, t(200), &limits, &mut stats);
        b.change(5, 0, t(300), &limits, &mut stats);
        b.change(20, 10, t(400), &limits, &mut stats);
        assert!(b.under_pressure(), "11 pages: still above low");
        b.change(1, 0, t(500), &limits, &mut stats);
        assert!(b.under_pressure(), "10 pages: at low, not under it");
        b.change(1, 0, t(1100), &limits, &mut stats);
        assert!(!b.under_pressure(), "9 pages: under low");
        assert_eq!(
            (
                stats.TCPMemoryPressures,
                stats.TCPMemoryPressuresChrono,
                b.pages()
            ),
            (1, 1000, 9)
        );
        // Growing back to low leaves nothing to end; above pressure again is a new episode.
        b.change(0, 12, t(2000), &limits, &mut stats);
        assert_eq!((b.under_pressure(), stats.TCPMemoryPressures), (true, 2));
    }
}
