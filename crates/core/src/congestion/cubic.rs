//! CUBIC as Linux's `tcp_cubic.c` runs it: windows counted in packets, the window grown by
//! one packet every `cnt` packets acknowledged (`tcp_cong_avoid_ai` with `snd_cwnd_cnt`),
//! time in jiffies (HZ = 1000) and in 1/1024 s for the curve, and HyStart ending slow
//! start early. The curve is RFC 9438's (C = 0.4 as Linux's `bic_scale = 41` gives it,
//! beta_cubic = 717/1024); where Linux and the RFC part, this follows Linux:
//! - the window is updated per packet count (`cnt`), recomputed at most once a jiffy and,
//!   while the window is unchanged, at most every HZ/32 (`bictcp_update`);
//! - the curve looks ahead by the minimum RTT CUBIC itself has sampled (`delay_min`);
//! - the TCP-friendly estimate grows by one packet per `cwnd * 15 / 8` packets
//!   acknowledged (Linux's `beta_scale`), with no switch of alpha at cwnd_prior;
//! - while W_max is 0 (before any loss, and after a timeout: entering the Loss state
//!   resets everything, `bictcp_reset`) `cnt` is at most 20, a growth of at least 5% per
//!   round trip;
//! - HyStart (`hystart`, `hystart_detect`, `hystart_low_window`, `hystart_ack_delta_us`:
//!   [`Hystart`]): slow start ends (ssthresh = cwnd) on an ACK train longer than half the
//!   minimum RTT, or when the least RTT of the first eight samples of a round exceeds the
//!   minimum by an eighth of it (clamped to 4..16 ms).
//!
//! Everything is integer arithmetic, as in Linux, so results are the same everywhere.
//! Not implemented: the spurious-congestion undo of RFC 9438 4.9 beyond Linux's
//! (`tcp_reno_undo_cwnd`, which the connection does).

use super::Hystart;
use crate::conn::cold::{Cold, ColdDefault};
use crate::time::Instant;
use core::time::Duration;

/// beta_cubic, in 1024ths (Linux's `beta`).
const BETA: u64 = 717;
/// Linux's BICTCP_BETA_SCALE.
const BETA_SCALE: u64 = 1024;
/// C * 1024 * 10 (Linux's `cube_rtt_scale = bic_scale * 10` with `bic_scale = 41`).
const CUBE_RTT_SCALE: u64 = 410;
/// 2^40 / CUBE_RTT_SCALE: K^3 in (1/1024 s)^3 per packet of W_max - cwnd (`cube_factor`).
const CUBE_FACTOR: u64 = (1 << 40) / CUBE_RTT_SCALE;
/// Linux's `beta_scale`: 8 * (1024 + 717) / 3 / (1024 - 717) = 15, the TCP-friendly
/// estimate's packets acknowledged per packet of growth, times 8 over cwnd.
const FRIENDLY_SCALE: u64 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);
/// The jiffy rate the curve's clock runs at (CONFIG_HZ=1000).
const HZ: u32 = 1000;
/// HyStart's delay test waits for this many RTT samples in a round (HYSTART_MIN_SAMPLES).
const HYSTART_MIN_SAMPLES: u8 = 8;
/// The delay threshold, min_rtt / 8, is clamped to [4 ms, 16 ms] (HYSTART_DELAY_MIN/MAX).
const HYSTART_DELAY_MIN_US: u32 = 4000;
const HYSTART_DELAY_MAX_US: u32 = 16000;
/// The GSO size HyStart's ACK-train allowance is computed from (`sk_gso_max_size`).
const GSO_MAX_SIZE: u64 = 65_536;

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

/// `flags`: an epoch is under way (`epoch_start` is set; Linux's `epoch_start != 0`).
const EPOCH: u8 = 1;
/// `flags`: HyStart has ended slow start (Linux's `found`).
const FOUND: u8 = 2;
/// `flags`: a HyStart round is under way (`end_seq` is set).
const ROUND: u8 = 4;

/// Linux's `tcp_jiffies32` on the engine's clock.
fn jiffies(now: Instant) -> u32 {
    (now.total_millis() * u64::from(HZ) / 1000) as u32
}

/// Micros in a duration, saturating to u32 (Linux keeps RTTs in u32 microseconds).
fn micros32(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// A HyStart exit: which test ended slow start (Linux's TCPHystartTrainDetect and
/// TCPHystartDelayDetect counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HystartExit {
    /// The ACK train of a round lasted longer than half the minimum RTT.
    AckTrain,
    /// The round's RTT rose above the minimum by the delay threshold.
    Delay,
}

/// CUBIC's per-connection state (Linux's `struct bictcp`), windows in packets: the part
/// every connection carries inline. The curve and HyStart's round ([`Curve`]) stay out of
/// line until CUBIC first needs them (congestion avoidance, a reduction, or HyStart from
/// `hystart_low_window` packets), so that an idle connection, or one whose window never
/// left the start of slow start, carries one pointer for them (issue 9's memory budget).
#[derive(Clone, Debug, Default)]
pub(super) struct Cubic {
    /// The least RTT CUBIC has sampled, µs; 0 for none (`delay_min`).
    delay_min: u32,
    /// Packets acknowledged toward the next increment (`tp->snd_cwnd_cnt`).
    cwnd_cnt: u32,
    /// Bytes acknowledged short of a whole packet (less than an MSS), carried to the
    /// next ACK.
    acked_rem: u16,
    /// [`EPOCH`], [`FOUND`], [`ROUND`].
    flags: u8,
}

/// CUBIC's curve and HyStart's round: the rest of Linux's `struct bictcp`, out of line
/// ([`Cold`]) and reading as zeros until first written.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Curve {
    /// Packets acknowledged per packet of growth (`cnt`).
    cnt: u32,
    /// W_max: the window before the last reduction, after fast convergence
    /// (`last_max_cwnd`); 0 before any loss and after a timeout.
    last_max_cwnd: u32,
    /// The window `cnt` was last computed for, and when (`last_cwnd`, `last_time`).
    last_cwnd: u32,
    last_time: u32,
    /// The curve's plateau (`bic_origin_point`) and K in 1/1024 s (`bic_K`).
    origin: u32,
    k: u32,
    /// Start of the epoch in jiffies, while `flags` has [`EPOCH`] (from the first ACK in
    /// congestion avoidance until a reduction).
    epoch_start: u32,
    /// Packets acknowledged in this epoch not yet turned into friendly growth (`ack_cnt`).
    ack_cnt: u32,
    /// The TCP-friendly window estimate (`tcp_cwnd`).
    tcp_cwnd: u32,
    /// HyStart: RTT samples this round, and their least (`sample_cnt`, `curr_rtt`).
    sample_cnt: u8,
    curr_rtt: u32,
    /// HyStart: the round began at this time and the last ACK of the train came at
    /// `last_ack` (µs, wrapping, as Linux's `bictcp_clock_us`); the round ends when
    /// SND.UNA passes `end_seq` (while `flags` has [`ROUND`]; else with the next sample).
    round_start: u32,
    last_ack: u32,
    end_seq: u32,
}

/// A curve nobody has written: every field zero, as Linux's `bictcp_init` leaves them.
static NO_CURVE: Curve = Curve {
    cnt: 0,
    last_max_cwnd: 0,
    last_cwnd: 0,
    last_time: 0,
    origin: 0,
    k: 0,
    epoch_start: 0,
    ack_cnt: 0,
    tcp_cwnd: 0,
    sample_cnt: 0,
    curr_rtt: 0,
    round_start: 0,
    last_ack: 0,
    end_seq: 0,
};

impl ColdDefault for Curve {
    fn default_ref() -> &'static Curve {
        &NO_CURVE
    }

    #[inline]
    fn fresh() -> Curve {
        Curve::default()
    }
}

impl Cubic {
    /// The epoch's start in jiffies, if one is under way.
    fn epoch(&self, curve: &Curve) -> Option<u32> {
        (self.flags & EPOCH != 0).then_some(curve.epoch_start)
    }

    fn set_epoch(&mut self, curve: &mut Curve, start: Option<u32>) {
        curve.epoch_start = start.unwrap_or(0);
        if start.is_some() {
            self.flags |= EPOCH;
        } else {
            self.flags &= !EPOCH;
        }
    }

    /// Linux's `bictcp_hystart_reset`: a new round starts now and ends at `snd_nxt`.
    fn hystart_reset(&mut self, curve: &mut Curve, now: Instant, snd_nxt: u32) {
        curve.round_start = now.total_micros() as u32;
        curve.last_ack = curve.round_start;
        curve.end_seq = snd_nxt;
        self.flags |= ROUND;
        curve.curr_rtt = u32::MAX;
        curve.sample_cnt = 0;
    }

    /// The increment count (`snd_cwnd_cnt`), which Reno uses as its byte counter: Linux's
    /// algorithms share it, and a controller runs one algorithm for its life.
    pub(super) fn count_mut(&mut self) -> &mut u32 {
        &mut self.cwnd_cnt
    }

    /// The segment size changed: windows in packets stay as they are; bytes short of a
    /// packet are dropped.
    pub(super) fn mss_changed(&mut self) {
        self.acked_rem = 0;
    }

    /// A congestion event (`cubictcp_recalc_ssthresh`): the epoch ends, W_max is set with
    /// fast convergence (a window that shrank since the last event lowers the plateau
    /// to cwnd * (1 + beta) / 2, RFC 9438 4.7), and the new ssthresh, in packets, is
    /// `max(cwnd * 717 / 1024, 2)` (RFC 9438 4.6 with Linux's beta and rounding).
    pub(super) fn on_congestion(&mut self, curve: &mut Cold<Curve>, cwnd_pkts: u32) -> u32 {
        let curve = &mut **curve;
        self.set_epoch(curve, None);
        let cwnd = u64::from(cwnd_pkts);
        curve.last_max_cwnd = if cwnd_pkts < curve.last_max_cwnd {
            (cwnd * (BETA_SCALE + BETA) / (2 * BETA_SCALE)) as u32
        } else {
            cwnd_pkts
        };
        ((cwnd * BETA / BETA_SCALE) as u32).max(2)
    }

    /// The window was reduced (recovery, CWR, a timeout): the increment count starts
    /// over (Linux clears `snd_cwnd_cnt` in tcp_init_cwnd_reduction and tcp_enter_loss).
    pub(super) fn clear_count(&mut self) {
        self.cwnd_cnt = 0;
        self.acked_rem = 0;
    }

    /// Entering the Loss state on a retransmission timeout (`cubictcp_state`): the curve
    /// is reset, W_max forgotten with it (so the next epoch has K = 0 and the 5% floor,
    /// as RFC 9438 4.8 also wants), and HyStart starts a new round with its next sample
    /// (Linux starts it at once, ending at SND.NXT, which the first sample after the
    /// timeout has not passed either).
    ///
    /// Linux's `bictcp_reset` keeps HyStart's round, but with [`ROUND`] cleared the next
    /// sample starts a new one (`hystart_reset` writes every field of the round before
    /// any is read), so the whole curve goes back to zeros and its memory with it.
    pub(super) fn on_timeout(&mut self, curve: &mut Cold<Curve>) {
        *self = Cubic::default();
        curve.reset();
    }

    /// Transmission resumes after `idle` with nothing in flight (`CA_EVENT_TX_START`):
    /// the epoch is shifted so that the idle period does not count as growth time, but
    /// never past `now`.
    pub(super) fn on_idle(&mut self, curve: &mut Cold<Curve>, now: Instant, idle: Duration) {
        let delta = (idle.as_millis().min(u128::from(u32::MAX / 2)) as u32) * (HZ / 1000);
        if let Some(start) = self.epoch(curve) {
            if delta > 0 {
                let now = jiffies(now);
                let shifted = start.wrapping_add(delta);
                let after_now = (shifted.wrapping_sub(now) as i32) > 0;
                self.set_epoch(curve, Some(if after_now { now } else { shifted }));
            }
        }
    }

    /// An ACK that acknowledged data with an RTT sample (`cubictcp_acked`): `delay_min`
    /// follows the least sample, and in slow start HyStart looks at it. Samples in the
    /// first second of an epoch are ignored (they follow a recovery). `cwnd_pkts` and
    /// `in_slow_start` describe the window now; `srtt` sizes the ACK-train allowance.
    /// Returns the test that ended slow start, if one did: the caller sets ssthresh to
    /// cwnd.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_rtt_sample(
        &mut self,
        curve: &mut Cold<Curve>,
        now: Instant,
        rtt: Duration,
        cwnd_pkts: u32,
        mss: u32,
        in_slow_start: bool,
        seq: (u32, u32),
        srtt: Option<Duration>,
        params: &Hystart,
    ) -> Option<HystartExit> {
        if let Some(start) = self.epoch(curve) {
            if (jiffies(now).wrapping_sub(start) as i32) < HZ as i32 {
                return None;
            }
        }
        let delay = micros32(rtt).max(1);
        if self.delay_min == 0 || self.delay_min > delay {
            self.delay_min = delay;
        }
        if self.flags & FOUND != 0
            || !in_slow_start
            || !params.enabled
            || cwnd_pkts < params.low_window
        {
            return None;
        }
        self.hystart_update(curve, now, delay, cwnd_pkts, mss, seq, srtt, params)
    }

    /// Linux's `hystart_update`.
    #[allow(clippy::too_many_arguments)]
    fn hystart_update(
        &mut self,
        curve: &mut Curve,
        now: Instant,
        delay: u32,
        cwnd_pkts: u32,
        mss: u32,
        (snd_una, snd_nxt): (u32, u32),
        srtt: Option<Duration>,
        params: &Hystart,
    ) -> Option<HystartExit> {
        if self.flags & ROUND == 0 || (snd_una.wrapping_sub(curve.end_seq) as i32) > 0 {
            self.hystart_reset(curve, now, snd_nxt);
        }
        let now_us = now.total_micros() as u32;
        if params.detect & Hystart::ACK_TRAIN != 0
            && (now_us.wrapping_sub(curve.last_ack) as i32) <= params.ack_delta_us as i32
        {
            curve.last_ack = now_us;
            // Without pacing (no fq) the train may be half the minimum RTT long, plus
            // the time a GSO burst takes at the pacing rate, at most 1 ms
            // (hystart_ack_delay): Linux's slow-start pacing rate is 2 * cwnd / srtt.
            let ack_delay = srtt.map_or(0, |srtt| {
                let rate = 2 * u64::from(cwnd_pkts) * u64::from(mss) * 1_000_000
                    / (srtt.as_micros().max(1) as u64);
                (GSO_MAX_SIZE * 4 * 1_000_000)
                    .checked_div(rate)
                    .map_or(0, |d| d.min(1000))
            });
            let threshold = (u64::from(self.delay_min) + ack_delay) >> 1;
            if i64::from(now_us.wrapping_sub(curve.round_start) as i32) > threshold as i64 {
                self.flags |= FOUND;
                return Some(HystartExit::AckTrain);
            }
        }
        if params.detect & Hystart::DELAY != 0 {
            curve.curr_rtt = curve.curr_rtt.min(delay);
            if curve.sample_cnt < HYSTART_MIN_SAMPLES {
                curve.sample_cnt += 1;
            } else {
                let thresh =
                    (self.delay_min >> 3).clamp(HYSTART_DELAY_MIN_US, HYSTART_DELAY_MAX_US);
                if u64::from(curve.curr_rtt) > u64::from(self.delay_min) + u64::from(thresh) {
                    self.flags |= FOUND;
                    return Some(HystartExit::Delay);
                }
            }
        }
        None
    }

    /// Linux's `bictcp_update`: recomputes `cnt` for a window of `cwnd` packets after
    /// `acked` packets were acknowledged.
    fn update(&mut self, curve: &mut Curve, now: Instant, cwnd: u32, acked: u32) {
        let c = curve;
        let now_j = jiffies(now);
        c.ack_cnt = c.ack_cnt.wrapping_add(acked);
        if c.last_cwnd == cwnd && (now_j.wrapping_sub(c.last_time) as i32) <= (HZ / 32) as i32 {
            return;
        }
        // The curve is evaluated at most once a jiffy; the friendly estimate each time.
        if !(self.epoch(c).is_some() && now_j == c.last_time) {
            c.last_cwnd = cwnd;
            c.last_time = now_j;
            let start = match self.epoch(c) {
                Some(start) => start,
                None => {
                    self.set_epoch(c, Some(now_j));
                    c.ack_cnt = acked;
                    c.tcp_cwnd = cwnd;
                    if c.last_max_cwnd <= cwnd {
                        c.k = 0;
                        c.origin = cwnd;
                    } else {
                        // K = cbrt((W_max - cwnd) / C), in 1/1024 s.
                        let diff = u128::from(c.last_max_cwnd - cwnd);
                        c.k = icbrt(u128::from(CUBE_FACTOR) * diff) as u32;
                        c.origin = c.last_max_cwnd;
                    }
                    now_j
                }
            };
            // t = time since the epoch began plus the minimum RTT (usecs_to_jiffies
            // rounds up), in 1/1024 s.
            let delay_j = u64::from(self.delay_min).div_ceil(1_000_000 / u64::from(HZ));
            let t_j = u64::from(now_j.wrapping_sub(start) as i32 as u32) + delay_j;
            let t = (t_j << 10) / u64::from(HZ);
            let k = u64::from(c.k);
            let offs = u128::from(t.abs_diff(k));
            let delta = (u128::from(CUBE_RTT_SCALE) * offs * offs * offs) >> 40;
            let delta = u64::try_from(delta).unwrap_or(u64::MAX);
            let origin = u64::from(c.origin);
            let target = if t < k {
                origin.saturating_sub(delta)
            } else {
                origin.saturating_add(delta)
            };
            let cwnd64 = u64::from(cwnd);
            c.cnt = if target > cwnd64 {
                (cwnd64 / (target - cwnd64)) as u32
            } else {
                cwnd.saturating_mul(100)
            };
            // Until a loss is seen the growth is at least 5% per round trip.
            if c.last_max_cwnd == 0 && c.cnt > 20 {
                c.cnt = 20;
            }
        }
        // TCP friendliness: the window Reno with beta 0.7 would have.
        let per = (u64::from(cwnd) * FRIENDLY_SCALE) >> 3;
        if per > 0 {
            while u64::from(c.ack_cnt) > per {
                c.ack_cnt -= per as u32;
                c.tcp_cwnd = c.tcp_cwnd.saturating_add(1);
            }
        }
        if c.tcp_cwnd > cwnd {
            let max_cnt = cwnd / (c.tcp_cwnd - cwnd);
            c.cnt = c.cnt.min(max_cnt);
        }
        // At most one packet per two acknowledged: 1.5x per round trip.
        c.cnt = c.cnt.max(2);
    }

    /// Congestion avoidance for `acked` bytes acknowledged (`cubictcp_cong_avoid` past
    /// slow start, then `tcp_cong_avoid_ai`); returns the new window in bytes. The
    /// window's bytes beyond whole packets are kept as they are.
    pub(super) fn on_ca_ack(
        &mut self,
        curve: &mut Cold<Curve>,
        now: Instant,
        cwnd: u32,
        acked: u32,
        mss: u32,
    ) -> u32 {
        let mss = mss.max(1);
        let total = u64::from(self.acked_rem) + u64::from(acked);
        let acked_pkts = (total / u64::from(mss)).min(u64::from(u32::MAX)) as u32;
        self.acked_rem = (total % u64::from(mss)).min(u64::from(u16::MAX)) as u16;
        if acked_pkts == 0 {
            return cwnd;
        }
        let pkts = (cwnd / mss).max(1);
        let extra = cwnd.saturating_sub(pkts.saturating_mul(mss));
        let curve = &mut **curve;
        self.update(curve, now, pkts, acked_pkts);
        let w = curve.cnt.max(1);
        let mut new = pkts;
        // Credit gathered at a larger cnt is applied gently (tcp_cong_avoid_ai).
        if self.cwnd_cnt >= w {
            self.cwnd_cnt = 0;
            new = new.saturating_add(1);
        }
        self.cwnd_cnt = self.cwnd_cnt.saturating_add(acked_pkts);
        if self.cwnd_cnt >= w {
            let delta = self.cwnd_cnt / w;
            self.cwnd_cnt -= delta * w;
            new = new.saturating_add(delta);
        }
        new.saturating_mul(mss).saturating_add(extra)
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
    fn linux_constants() {
        assert_eq!(FRIENDLY_SCALE, 15);
        assert_eq!(CUBE_FACTOR, 2_681_735_677);
    }

    #[test]
    fn k_matches_rfc_formula() {
        let (mut c, mut curve) = (Cubic::default(), Cold::<Curve>::new());
        assert_eq!(c.on_congestion(&mut curve, 100), 70);
        c.update(&mut curve, Instant::from_secs(10), 70, 1);
        // K = cbrt((100 - 70) / C) s, in 1024ths, with Linux's C = 410 / 1024.
        let k = (30.0 * 1024f64.powi(3) / 0.400_390_625).cbrt();
        assert!((f64::from(curve.k) - k).abs() < 1.0, "{} vs {k}", curve.k);
        assert_eq!(curve.origin, 100);
    }

    #[test]
    fn fast_convergence_lowers_plateau() {
        let (mut c, mut curve) = (Cubic::default(), Cold::<Curve>::new());
        c.on_congestion(&mut curve, 100);
        assert_eq!(curve.last_max_cwnd, 100);
        c.on_congestion(&mut curve, 80);
        assert_eq!(curve.last_max_cwnd, 68); // 80 * 1741 / 2048
        c.on_congestion(&mut curve, 90);
        assert_eq!(curve.last_max_cwnd, 90);
        assert_eq!(c.on_congestion(&mut curve, 1), 2);
    }

    #[test]
    fn timeout_forgets_w_max() {
        let (mut c, mut curve) = (Cubic::default(), Cold::<Curve>::new());
        c.on_congestion(&mut curve, 100);
        c.on_timeout(&mut curve);
        assert_eq!(curve.last_max_cwnd, 0);
        assert!(!curve.is_allocated(), "a reset curve gives its memory back");
        c.update(&mut curve, Instant::from_secs(1), 20, 1);
        assert_eq!((curve.k, curve.origin), (0, 20));
        // The 5% floor: cnt at most 20.
        assert!(curve.cnt <= 20, "{}", curve.cnt);
    }

    #[test]
    fn the_curve_stays_out_of_line_below_hystarts_window() {
        // Slow start's first samples (the window under `hystart_low_window`) write only
        // the inline part: a short connection never allocates the curve.
        let (mut c, mut curve) = (Cubic::default(), Cold::<Curve>::new());
        let params = Hystart::default();
        for i in 0..20u32 {
            let now = Instant::from_millis(u64::from(i) * 10);
            let rtt = Duration::from_millis(10 + u64::from(i));
            let exit = c.on_rtt_sample(
                &mut curve,
                now,
                rtt,
                10,
                1448,
                true,
                (i, i + 10),
                None,
                &params,
            );
            assert_eq!(exit, None);
        }
        assert_eq!(c.delay_min, 10_000);
        assert!(!curve.is_allocated());
        // From the low window HyStart keeps its round there.
        let now = Instant::from_millis(300);
        c.on_rtt_sample(
            &mut curve,
            now,
            Duration::from_millis(10),
            16,
            1448,
            true,
            (30, 40),
            None,
            &params,
        );
        assert!(curve.is_allocated());
        assert_eq!(curve.end_seq, 40);
    }
}
