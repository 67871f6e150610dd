//! CUBIC (RFC 9438), the Linux default, in integer arithmetic.
//!
//! Windows are in bytes; the RFC's formulas, written in segments, are scaled by the MSS.
//! Time is in microseconds. The constants are the RFC's (and Linux's): C = 0.4 and
//! beta_cubic = 0.7 (Linux: `beta = 717/1024`, `bic_scale = 41` for C ~ 0.4). Everything is
//! exact integer arithmetic (Linux likewise avoids floating point), so results are the same
//! on every machine.
//!
//! Not implemented: HyStart (Linux's `hystart=1` slow-start exit heuristic; RFC 9438 4.10
//! allows it but does not require it), so slow start ends only at ssthresh or a loss; and
//! the spurious-congestion undo of RFC 9438 4.9.

use crate::time::Instant;
use core::time::Duration;

/// `C` = 0.4 as the fraction `C_NUM / C_DEN` (RFC 9438 4.1.1).
const C_NUM: u128 = 2;
const C_DEN: u128 = 5;
/// Microseconds per second, cubed: `(t in us)^3 / US3 = (t in s)^3`.
const US3: u128 = 1_000_000_000_000_000_000;
/// Time offsets from K are clamped to this (about 2.8 hours) so that `mss * d^3` fits a u128;
/// the window saturates long before.
const MAX_DELTA_US: u64 = 10_000_000_000;

/// Integer cube root: the largest `r` with `r^3 <= n`.
pub(super) fn icbrt(n: u128) -> u64 {
    // Bit-by-bit: the root of a u128 has at most 43 bits.
    let mut r: u128 = 0;
    for bit in (0..43).rev() {
        let candidate = r | (1 << bit);
        if candidate
            .checked_mul(candidate)
            .and_then(|sq| sq.checked_mul(candidate))
            .is_some_and(|cube| cube <= n)
        {
            r = candidate;
        }
    }
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// `u128` to `u32`, saturating.
fn sat32(x: u128) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// Micros in a duration, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// CUBIC's per-connection state.
#[derive(Clone, Debug, Default)]
pub(super) struct Cubic {
    /// W_max in bytes: the window at the last congestion event, after fast convergence
    /// (RFC 9438 4.7); 0 before any.
    w_max: u32,
    /// cwnd_prior: the window just before the last reduction (RFC 9438 4.1.2).
    cwnd_prior: u32,
    /// Start of the current congestion-avoidance stage; `None` until its first ACK.
    epoch_start: Option<Instant>,
    /// K in microseconds (RFC 9438 4.2 equation 2) for the current epoch.
    k_us: u64,
    /// The window the curve plateaus at for this epoch (W_max, or cwnd_epoch if larger).
    origin: u32,
    /// W_est in bytes (RFC 9438 4.3).
    w_est: u32,
    /// Remainder of `alpha * mss * acked / cwnd` not yet added to `w_est` (17ths of bytes).
    est_acc: u64,
    /// Remainder of `(target - cwnd) * acked / cwnd` not yet added to cwnd.
    inc_acc: u64,
    /// The next epoch follows a retransmission timeout (RFC 9438 4.8).
    after_timeout: bool,
}

impl Cubic {
    /// A congestion event (fast retransmit): fast convergence (RFC 9438 4.7) and the
    /// multiplicative decrease (RFC 9438 4.6). Returns the new ssthresh,
    /// `max(cwnd * beta_cubic, 2*SMSS)`.
    ///
    /// RFC 9438 4.6 multiplies the flight size (and permits cwnd); Linux's
    /// `bictcp_recalc_ssthresh` multiplies cwnd, which is what this does.
    pub(super) fn on_congestion(&mut self, cwnd: u32, mss: u32) -> u32 {
        // Fast convergence: a flow whose window shrank since the last event releases
        // bandwidth by lowering its plateau to cwnd * (1 + beta) / 2.
        self.w_max = if cwnd < self.w_max {
            sat32(u128::from(cwnd) * 17 / 20)
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        self.epoch_start = None;
        sat32(u128::from(cwnd) * 7 / 10).max(mss.saturating_mul(2))
    }

    /// A retransmission timeout (RFC 9438 4.8): the first congestion-avoidance stage
    /// afterwards uses K = 0 and W_max = the window at its start (Linux: `bictcp_reset` on
    /// entering the Loss state).
    pub(super) fn on_timeout(&mut self) {
        self.after_timeout = true;
        self.epoch_start = None;
    }

    /// Transmission resumes after `idle` with nothing in flight: the epoch is shifted so that
    /// the idle period does not count as growth time (Linux `bictcp_cwnd_event`,
    /// `CA_EVENT_TX_START`; RFC 9438 4.2 likewise excludes application-limited periods).
    pub(super) fn on_idle(&mut self, idle: Duration) {
        if let Some(start) = self.epoch_start {
            self.epoch_start = Some(start + idle);
        }
    }

    /// The MSS changed from `old` to `new`: keep the byte-denominated state in proportion
    /// and restart the epoch (K depends on the MSS).
    pub(super) fn rescale(&mut self, old: u32, new: u32) {
        let scale = |w: u32| sat32(u128::from(w) * u128::from(new) / u128::from(old.max(1)));
        self.w_max = scale(self.w_max);
        self.cwnd_prior = scale(self.cwnd_prior);
        self.epoch_start = None;
    }

    /// W_cubic(t) in bytes for the current epoch, `t` in microseconds since its start
    /// (RFC 9438 4.2 equation 1: `C * (t - K)^3 + W_max`, in segments, times the MSS).
    pub(super) fn w_cubic(&self, t_us: u64, mss: u32) -> u32 {
        let (d, below) = if t_us >= self.k_us {
            (t_us - self.k_us, false)
        } else {
            (self.k_us - t_us, true)
        };
        let d = u128::from(d.min(MAX_DELTA_US));
        let delta = (d * d * d)
            .saturating_mul(C_NUM * u128::from(mss))
            .checked_div(C_DEN * US3)
            .unwrap_or(0);
        if below {
            sat32(u128::from(self.origin).saturating_sub(delta))
        } else {
            sat32(u128::from(self.origin) + delta)
        }
    }

    /// Starts an epoch at `now` with window `cwnd` (RFC 9438 4.2, 4.8).
    fn start_epoch(&mut self, now: Instant, cwnd: u32, mss: u32) {
        if self.after_timeout {
            self.after_timeout = false;
            self.w_max = cwnd;
        }
        self.epoch_start = Some(now);
        if self.w_max <= cwnd {
            self.k_us = 0;
            self.origin = cwnd;
        } else {
            // K = cbrt((W_max - cwnd_epoch) / C) seconds, with the window in segments:
            // K^3 [us^3] = (W_max - cwnd) [bytes] / mss / C * 10^18.
            let diff = u128::from(self.w_max - cwnd);
            let k3 = diff * C_DEN * US3 / (C_NUM * u128::from(mss.max(1)));
            self.k_us = icbrt(k3);
            self.origin = self.w_max;
        }
        self.w_est = cwnd;
        self.est_acc = 0;
        self.inc_acc = 0;
    }

    /// Congestion avoidance for `acked` newly acknowledged bytes at `now`; returns the new
    /// cwnd. `rtt` is the round-trip time to look ahead by (RFC 9438 4.2 uses the smoothed
    /// RTT; Linux's CUBIC uses the minimum RTT); `None` looks ahead by nothing.
    pub(super) fn on_ca_ack(
        &mut self,
        now: Instant,
        cwnd: u32,
        acked: u32,
        mss: u32,
        rtt: Option<Duration>,
    ) -> u32 {
        let cwnd = cwnd.max(1);
        let start = match self.epoch_start {
            Some(start) => start,
            None => {
                self.start_epoch(now, cwnd, mss);
                now
            }
        };
        let t = micros(now - start);
        let rtt = rtt.map_or(0, micros);

        // RFC 9438 4.3: the Reno-friendly estimate, alpha_cubic = 3(1 - beta)/(1 + beta)
        // = 9/17 per RTT, and 1 once W_est has reached cwnd_prior.
        let alpha17: u128 = if self.w_est >= self.cwnd_prior { 17 } else { 9 };
        let den = 17 * u128::from(cwnd);
        let acc = u128::from(self.est_acc) + alpha17 * u128::from(mss) * u128::from(acked);
        let est_inc = acc / den;
        // The remainder is below 17 * cwnd, so it fits.
        self.est_acc = u64::try_from(acc % den).unwrap_or(0);
        self.w_est = sat32(u128::from(self.w_est) + est_inc);

        let w_now = self.w_cubic(t, mss);
        if w_now < self.w_est {
            // Reno-friendly region: follow Reno's rate.
            self.inc_acc = 0;
            return cwnd.max(self.w_est);
        }

        // RFC 9438 4.4/4.5 (concave and convex regions): aim at W_cubic one RTT ahead,
        // but never below cwnd nor above 1.5 * cwnd (RFC 9438 4.2), growing by
        // (target - cwnd) / cwnd per acknowledged segment.
        let ahead = self.w_cubic(t.saturating_add(rtt), mss);
        let cap = sat32(u128::from(cwnd) * 3 / 2);
        let target = ahead.clamp(cwnd, cap);
        let acc = u128::from(self.inc_acc) + u128::from(target - cwnd) * u128::from(acked);
        let inc = acc / u128::from(cwnd);
        self.inc_acc = u64::try_from(acc % u128::from(cwnd)).unwrap_or(0);
        sat32(u128::from(cwnd) + inc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_root_is_exact_floor() {
        for n in [0u128, 1, 7, 8, 26, 27, 1000, 999, 1_000_000_000_000_000_000] {
            let r = u128::from(icbrt(n));
            assert!(r * r * r <= n && (r + 1) * (r + 1) * (r + 1) > n, "{n}");
        }
        let r = u128::from(icbrt(u128::MAX));
        assert!(r.checked_pow(3).is_some());
        assert!((r + 1).checked_pow(3).is_none());
    }

    #[test]
    fn k_and_curve_match_rfc_formula() {
        let mss = 1000u32;
        let mut c = Cubic::default();
        let ssthresh = c.on_congestion(100_000, mss);
        assert_eq!(ssthresh, 70_000);
        c.start_epoch(Instant::ZERO, ssthresh, mss);
        // K = cbrt((100 - 70) / 0.4) = cbrt(75) s.
        let k = 75f64.cbrt();
        assert!((c.k_us as f64 / 1e6 - k).abs() < 1e-5, "{}", c.k_us);
        for t in [0.0, 1.0, 2.5, k, 5.0, 8.0] {
            let want = 0.4 * (t - k).powi(3) + 100.0; // segments
            let got = f64::from(c.w_cubic((t * 1e6) as u64, mss)) / f64::from(mss);
            assert!((got - want).abs() < 0.01, "t={t}: {got} vs {want}");
        }
        // K is rounded down to the microsecond, so W_cubic(0) may exceed cwnd_epoch by a byte.
        assert!(c.w_cubic(0, mss).abs_diff(70_000) <= 1);
        assert_eq!(c.w_cubic(u64::MAX, u32::MAX), u32::MAX);
    }

    #[test]
    fn fast_convergence_lowers_plateau() {
        let mut c = Cubic::default();
        c.on_congestion(100_000, 1000);
        assert_eq!(c.w_max, 100_000);
        c.on_congestion(80_000, 1000);
        assert_eq!(c.w_max, 68_000); // 80 * 0.85
        assert_eq!(c.cwnd_prior, 80_000);
        c.on_congestion(90_000, 1000);
        assert_eq!(c.w_max, 90_000);
        assert_eq!(c.on_congestion(1000, 1000), 2000);
    }

    #[test]
    fn timeout_epoch_has_no_plateau() {
        let mut c = Cubic::default();
        c.on_congestion(100_000, 1000);
        c.on_timeout();
        c.on_ca_ack(Instant::ZERO, 20_000, 1000, 1000, None);
        assert_eq!(c.k_us, 0);
        assert_eq!(c.origin, 20_000);
        assert_eq!(c.w_max, 20_000);
    }
}
