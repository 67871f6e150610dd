//! Round-trip time estimation and the retransmission timeout (RFC 6298, with Linux's
//! bounds).
//!
//! The estimator keeps SRTT and RTTVAR in fixed point (SRTT x 8 and RTTVAR x 4, in
//! microseconds, as Linux's `srtt_us`/`mdev_us` do), so the RFC's 1/8 and 1/4 gains lose
//! almost nothing to rounding. Samples must follow Karn's algorithm (RFC 6298 section 3):
//! the caller takes none from retransmitted segments unless timestamps disambiguate them.

use core::time::Duration;

/// Microseconds in a `Duration`, saturating at `u32::MAX` (about 71 minutes: every RTO
/// bound Linux allows, `TCP_RTO_MAX` being 120 s, fits; Linux keeps them in 32 bits too).
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// `fixed` when no RTO is imposed.
const NOT_FIXED: u32 = u32::MAX;

/// An imposed RTO in µs, one below [`NOT_FIXED`] at most: an RTO of 71 minutes or more
/// is imposed as `u32::MAX - 1` µs, which [`RttEstimator::rto`] then caps at `max_rto`
/// anyway (a difference of 1 µs only if `max_rto` itself is 71 minutes or more).
fn fixed_micros(d: Duration) -> u32 {
    micros(d).min(NOT_FIXED - 1)
}

/// Samples are clamped to this many microseconds (about 9 minutes) so that the
/// fixed-point state (x 8) fits in 32 bits, as Linux's `srtt_us` does.
const MAX_SAMPLE_US: u32 = u32::MAX / 8;

/// An RFC 6298 round-trip estimator and RTO calculator, in 32-bit microseconds as
/// Linux's `srtt_us`/`mdev_us` (28 bytes per connection; issue 9's memory budget).
#[derive(Clone, Debug)]
pub struct RttEstimator {
    /// SRTT x 8, microseconds; meaningful once `samples > 0`.
    srtt8: u32,
    /// RTTVAR x 4, microseconds (so this is the RFC's `K*RTTVAR` term with K = 4).
    rttvar4: u32,
    min_rtt: u32,
    samples: u32,
    /// An RTO imposed until the next sample, µs: the initial RTO, or one set by
    /// `reset_to`; [`NOT_FIXED`] when none (four bytes, not an `Option`'s eight: issue
    /// 9's memory budget).
    fixed: u32,
    min_rto: u32,
    max_rto: u32,
}

impl RttEstimator {
    /// An estimator with no samples yet. Linux uses an initial RTO of 1 s
    /// (`TCP_TIMEOUT_INIT`, RFC 6298 2.1), a minimum of 200 ms (`TCP_RTO_MIN`, where RFC 6298
    /// 2.4 says 1 s) and a maximum of 120 s (`TCP_RTO_MAX`, RFC 6298 2.5 allows a cap of at
    /// least 60 s).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt8: 0,
            rttvar4: 0,
            min_rtt: u32::MAX,
            samples: 0,
            fixed: fixed_micros(initial_rto),
            min_rto: micros(min_rto),
            max_rto: micros(max_rto),
        }
    }

    /// Takes one RTT measurement.
    ///
    /// RFC 6298 2.2 for the first sample (SRTT = R, RTTVAR = R/2) and 2.3 afterwards
    /// (RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT = 7/8 SRTT + 1/8 R'). Any RTO set by
    /// [`reset_to`](RttEstimator::reset_to) or the initial RTO stops applying.
    ///
    /// Linux additionally damps how fast RTTVAR may fall (`mdev_max_us`, tracked per
    /// window); this estimator follows the RFC's plain EWMA there.
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = micros(rtt).min(MAX_SAMPLE_US);
        if self.samples == 0 {
            self.srtt8 = r * 8;
            self.rttvar4 = r * 2; // 4 * R/2
        } else {
            // |SRTT - R'| x 8, from the old SRTT (RFC 6298 2.3: RTTVAR is updated first).
            let err8 = self.srtt8.abs_diff(r * 8);
            // 4 * (3/4 RTTVAR + 1/4 err) = RTTVAR4 - RTTVAR4/4 + err.
            self.rttvar4 = self.rttvar4 - self.rttvar4 / 4 + err8 / 8;
            // 8 * (7/8 SRTT + 1/8 R') = SRTT8 - SRTT8/8 + R'.
            self.srtt8 = self.srtt8 - self.srtt8 / 8 + r;
        }
        self.min_rtt = self.min_rtt.min(r);
        self.samples = self.samples.saturating_add(1);
        self.fixed = NOT_FIXED;
    }

    /// Takes a sample for the minimum RTT only (Linux's tcp_update_rtt_min with the
    /// RTT of the newest segment an ACK delivered).
    pub fn note_min(&mut self, rtt: Duration) {
        if self.samples > 0 {
            self.min_rtt = self.min_rtt.min(micros(rtt).min(MAX_SAMPLE_US));
        }
    }

    /// The current retransmission timeout.
    ///
    /// Before any sample (or after [`reset_to`](RttEstimator::reset_to)) this is the imposed
    /// value. Otherwise RFC 6298 2.4 with Linux's rule: RTO = SRTT + max(4*RTTVAR, min_rto)
    /// (Linux's `tcp_rtt_estimator` floors the variance term at `rto_min` rather than
    /// flooring the whole RTO, so a 10 ms path gets 210 ms, not 200 ms). Always clamped to
    /// `max_rto` (RFC 6298 2.5).
    pub fn rto(&self) -> Duration {
        Duration::from_micros(self.rto_micros())
    }

    fn rto_micros(&self) -> u64 {
        let rto = if self.fixed != NOT_FIXED {
            u64::from(self.fixed)
        } else {
            u64::from(self.srtt8 / 8) + u64::from(self.rttvar4.max(self.min_rto))
        };
        rto.min(u64::from(self.max_rto))
    }

    /// The smoothed RTT, or `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_micros(u64::from(self.srtt8 / 8)))
    }

    /// Eight times the smoothed RTT in microseconds (Linux's `srtt_us`), or `None`
    /// before the first sample.
    pub fn srtt8_us(&self) -> Option<u64> {
        (self.samples > 0).then_some(u64::from(self.srtt8))
    }

    /// The RTT variation (RTTVAR, not multiplied by K); zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(u64::from(self.rttvar4 / 4))
    }

    /// The smallest sample seen over the connection's life, or `None` before the first.
    /// (Linux's `tcp_min_rtt` keeps a 5-minute windowed minimum, `tcp_min_rtt_wlen`; the
    /// all-time minimum is what this estimator keeps.)
    pub fn min_rtt(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_micros(u64::from(self.min_rtt)))
    }

    /// How many samples have been taken (saturating).
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The RTO after `backoffs` consecutive expirations: RFC 6298 5.5 doubles it each time,
    /// i.e. `rto() << backoffs`, clamped to `max_rto` (Linux's `inet_csk_rto_backoff`).
    /// Never overflows, whatever `backoffs` is.
    pub fn backed_off(&self, backoffs: u32) -> Duration {
        let rto = u128::from(self.rto_micros());
        // A u64 shifted by at most 64 still fits in a u128.
        let shifted = rto << backoffs.min(64);
        let max = u128::from(u64::from(self.max_rto));
        let clamped = if rto == 0 { 0 } else { shifted.min(max) };
        Duration::from_micros(u64::try_from(clamped).unwrap_or(u64::MAX))
    }

    /// Imposes `rto` until the next sample, e.g. Linux's 3 s fallback
    /// (`TCP_TIMEOUT_FALLBACK`) when data transfer begins after the SYN or SYN-ACK had to be
    /// retransmitted (RFC 6298 5.7). SRTT and RTTVAR, if any, are kept: the next sample
    /// updates them as usual and ends the override.
    pub fn reset_to(&mut self, rto: Duration) {
        self.fixed = fixed_micros(rto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn linux() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(200), ms(120_000))
    }

    #[test]
    fn initial_rto_until_first_sample() {
        let e = linux();
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.min_rtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.samples(), 0);
    }

    #[test]
    fn first_and_second_samples_follow_rfc6298() {
        let mut e = linux();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300)); // 100 + max(200, 200)
        e.on_sample(ms(200));
        // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
        assert_eq!(e.min_rtt(), Some(ms(100)));
        assert_eq!(e.samples(), 2);
    }

    #[test]
    fn variance_term_is_floored_not_the_rto() {
        let mut e = linux();
        for _ in 0..50 {
            e.on_sample(ms(10));
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        assert_eq!(e.rto(), ms(210));
        // A noisy path: the variance term exceeds the floor.
        let mut e = linux();
        e.on_sample(ms(400));
        assert_eq!(e.rto(), ms(400 + 800));
    }

    #[test]
    fn converges_and_clamps_to_max() {
        let mut e = linux();
        for _ in 0..200 {
            e.on_sample(ms(50));
        }
        for _ in 0..200 {
            e.on_sample(ms(80));
        }
        let srtt = e.srtt().unwrap();
        assert!(srtt > ms(79) && srtt <= ms(80), "{srtt:?}");
        assert_eq!(e.min_rtt(), Some(ms(50)));
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), ms(120_000));
        let mut e = RttEstimator::new(ms(500_000), ms(200), ms(120_000));
        assert_eq!(e.rto(), ms(120_000));
        e.on_sample(Duration::ZERO);
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        let mut e = linux();
        assert_eq!(e.backed_off(0), ms(1000));
        assert_eq!(e.backed_off(3), ms(8000));
        assert_eq!(e.backed_off(6), ms(64_000));
        assert_eq!(e.backed_off(7), ms(120_000));
        assert_eq!(e.backed_off(64), ms(120_000));
        assert_eq!(e.backed_off(u32::MAX), ms(120_000));
        e.on_sample(ms(10));
        assert_eq!(e.backed_off(1), ms(420)); // 2 * (10 + 200)
                                              // Bounds past 32 bits of microseconds (Linux allows at most 120 s) saturate.
        let unbounded = RttEstimator::new(Duration::MAX, ms(200), Duration::MAX);
        assert_eq!(
            unbounded.backed_off(u32::MAX),
            Duration::from_micros(u64::from(u32::MAX))
        );
    }

    #[test]
    fn reset_to_holds_until_next_sample() {
        let mut e = linux();
        e.reset_to(ms(3000));
        assert_eq!(e.rto(), ms(3000));
        assert_eq!(e.backed_off(1), ms(6000));
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100))); // still a first sample
        assert_eq!(e.rto(), ms(300));
        e.reset_to(ms(3000));
        assert_eq!(e.rto(), ms(3000));
        e.on_sample(ms(100));
        assert_eq!(e.samples(), 2);
        assert_eq!(e.rto(), Duration::from_micros(100_000 + 200_000));
    }

    #[test]
    fn an_rto_past_32_bits_of_micros_is_still_imposed() {
        // Two hours do not fit in u32 microseconds: still imposed (and capped at the
        // maximum), never mistaken for "nothing imposed" (which would give 300 ms here).
        let mut e = linux();
        e.on_sample(ms(100));
        e.reset_to(Duration::from_secs(7200));
        assert_eq!(e.rto(), ms(120_000));
        let mut e = RttEstimator::new(Duration::from_secs(7200), ms(200), Duration::MAX);
        assert_eq!(e.rto(), Duration::from_micros(u64::from(u32::MAX - 1)));
        e.on_sample(ms(100));
        assert_eq!(e.rto(), ms(300));
    }
}
