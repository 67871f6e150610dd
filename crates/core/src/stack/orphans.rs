//! `tcp_max_orphans`: how many connections the program closed may still be finishing, as
//! Linux counts and limits them (tcp_orphan_count, tcp_orphan_cache, tcp_check_oom).
//!
//! An orphan is a connection whose handle was closed while it still has a FIN to get
//! across: FIN-WAIT-1, CLOSING, LAST-ACK, and FIN-WAIT-2 when it outlives TIME-WAIT's
//! length (Linux turns a FIN-WAIT-2 orphan with a shorter `tcp_fin_timeout` into a
//! TIME-WAIT mini-socket at once, which is not counted). Linux compares not the live
//! count but a copy a timer refreshes every 100 ms (tcp_orphan_update), so a burst of
//! closes within one period is judged by the count before it; [`Orphans`] keeps the same
//! copy, refreshed lazily at the period's boundaries of the stack's clock.

use core::time::Duration;

use super::Stack;
use crate::conn::Connection;
use crate::state::State;
use crate::time::Instant;

/// Linux's TCP_ORPHAN_TIMER_PERIOD.
const PERIOD_MICROS: u64 = 100_000;

/// The stack's orphan count and Linux's periodic copy of it.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    /// Orphans now (Linux's tcp_orphan_count).
    live: usize,
    /// `live` as it stood at the latest period boundary (Linux's tcp_orphan_cache).
    cache: usize,
    /// The period `cache` was taken in.
    period: u64,
    /// Where the period of the latest refresh ends, in microseconds: until then a
    /// refresh has nothing to do (the stack's clock never goes back), and is one
    /// comparison (issue 9: every call on a connection asks for the copy).
    period_end: u64,
}

impl Orphans {
    /// Brings the copy up to `now`: a boundary passed since the last change means the
    /// copy taken there is the count as it stands (nothing changed in between).
    fn refresh(&mut self, now: Instant) {
        let t = now.total_micros();
        if t < self.period_end {
            return;
        }
        let period = t / PERIOD_MICROS;
        self.period_end = (period + 1).saturating_mul(PERIOD_MICROS);
        if period != self.period {
            self.period = period;
            self.cache = self.live;
        }
    }

    /// One more orphan, or one fewer.
    pub fn count(&mut self, now: Instant, add: bool) {
        self.refresh(now);
        if add {
            self.live += 1;
        } else {
            self.live = self.live.saturating_sub(1);
        }
    }

    /// The count Linux's checks read (tcp_orphan_cache) at `now`.
    pub fn cached(&mut self, now: Instant) -> usize {
        self.refresh(now);
        self.cache
    }

    /// Orphans now.
    pub fn live(&self) -> usize {
        self.live
    }
}

/// Linux's tcp_too_many_orphans: the cached count, doubled `shift` times (orphans that
/// have been silent long or met ICMP errors are judged more harshly), exceeds the limit.
pub(crate) fn too_many(cached: usize, shift: u32, max: usize) -> bool {
    cached.checked_shl(shift).unwrap_or(usize::MAX) > max
}

/// Whether a connection the program closed counts as an orphan in `state`.
pub(crate) fn counts(conn: &Connection, state: State, config: &crate::Config) -> bool {
    match state {
        State::Closed | State::TimeWait => false,
        State::FinWait2 => conn.opts.fin_timeout(config) > config.tcp_timewait_len,
        _ => true,
    }
}

impl Stack {
    /// The number of orphaned connections (closed by the program, still finishing), as
    /// Linux's `/proc/net/sockstat` reports `orphan`.
    pub fn orphan_count(&self) -> usize {
        self.orphans.live()
    }

    /// After close() orphaned `h`: Linux's __tcp_close checks tcp_check_oom (shift 0)
    /// and, with too many orphans ("too many orphaned sockets") or the stack out of
    /// memory ("out of memory -- consider tuning tcp_mem"), resets the connection once
    /// its FIN has been pushed.
    pub(super) fn check_orphans_on_close(&mut self, h: super::SocketHandle) {
        let counted = self
            .slot(h)
            .is_some_and(|s| s.has(super::Slot::COUNTED_ORPHAN) && s.has(super::Slot::USER_CLOSED));
        if !counted {
            return;
        }
        let cached = self.orphans.cached(self.now);
        let too_many = too_many(cached, 0, self.config.tcp_max_orphans);
        if !too_many && self.budget.pages() <= self.config.tcp_mem[2] {
            return;
        }
        self.with_conn(h, |c, ctx| {
            // tcp_check_oom: too many orphans, or out of memory (memory.rs).
            if too_many || c.out_of_memory(ctx) {
                c.reset_after_push();
            }
        });
    }
}

/// The silence after which an orphan is judged more harshly (Linux: twice TCP_RTO_MAX).
pub(crate) fn long_silence(config: &crate::Config) -> Duration {
    config.rto_max * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_reads_the_count_of_the_last_period_boundary() {
        let mut o = Orphans::default();
        let t = |ms| Instant::from_millis(ms);
        o.count(t(1000), true);
        o.count(t(1010), true);
        assert_eq!(
            (o.live(), o.cached(t(1050))),
            (2, 0),
            "same period: old copy"
        );
        assert_eq!(o.cached(t(1100)), 2, "the boundary at 1.1 s took the copy");
        o.count(t(1150), false);
        assert_eq!(o.cached(t(1199)), 2);
        assert_eq!(o.cached(t(5000)), 1);
        assert!(too_many(1, 0, 0) && !too_many(1, 0, 1) && too_many(1, 1, 1));
    }
}
