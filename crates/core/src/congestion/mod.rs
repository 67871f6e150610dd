//! Congestion control: the window arithmetic every algorithm shares (slow start, fast
//! recovery, timeouts, restart after idle) with the algorithm-specific parts (the reduction
//! on loss and the growth in congestion avoidance) behind an enum, so that a connection
//! carries its controller inline with no allocation and no dynamic dispatch.
//!
//! All windows are in bytes (`u32`); slow start counts bytes (RFC 3465 and RFC 5681, as
//! Linux's packet count does for full-sized segments), and CUBIC's congestion avoidance
//! counts whole packets as Linux's `tcp_cubic.c` does (`cubic.rs`).
//!
//! The connection drives it:
//! - [`Congestion::on_rtt_sample`] for each ACK that acknowledged data never
//!   retransmitted (Linux's `pkts_acked` with `ca_rtt_us`): CUBIC's minimum RTT and
//!   HyStart;
//! - [`Congestion::on_ack`] for each ACK of new data outside recovery;
//! - at fast retransmit, [`Congestion::enter_recovery`] (the algorithm's reduction of
//!   ssthresh); while recovering, the connection sizes cwnd itself with Proportional
//!   Rate Reduction (RFC 6937, as Linux does; `conn/recovery.rs`) through
//!   [`Congestion::set_cwnd`], and ends with [`Congestion::exit_recovery`] and cwnd =
//!   ssthresh. [`Congestion::on_dup_ack_in_recovery`] and [`Congestion::on_partial_ack`]
//!   keep RFC 6582's NewReno arithmetic for drivers that want it; the engine does not use
//!   them;
//! - [`Congestion::on_rto`] when the retransmission timer fires;
//! - [`Congestion::on_idle_restart`] when a write finds nothing in flight.
//!
//! Every method accepts any input without panicking; arithmetic saturates.

mod cubic;
mod reno;

pub use cubic::HystartExit;

use crate::conn::cold::Cold;
use crate::time::Instant;
use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use cubic::Cubic;
use reno::Reno;

/// A congestion-control algorithm, named as in Linux's `tcp_congestion_control` sysctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// NewReno: RFC 5681 with RFC 6582 fast recovery.
    Reno,
    /// CUBIC (RFC 9438), Linux's default.
    #[default]
    Cubic,
}

impl Algorithm {
    /// Every algorithm, in the order Linux lists them in
    /// `tcp_available_congestion_control`.
    pub const ALL: [Algorithm; 2] = [Algorithm::Reno, Algorithm::Cubic];

    /// The Linux name: `"reno"` or `"cubic"`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Reno => "reno",
            Algorithm::Cubic => "cubic",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error from parsing an unknown algorithm name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAlgorithm {
    name: String,
}

impl UnknownAlgorithm {
    /// The name that was not recognised.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown congestion control algorithm {:?} (available: reno cubic)",
            self.name
        )
    }
}

impl core::error::Error for UnknownAlgorithm {}

/// CUBIC's HyStart, the slow-start exit heuristic, with the module parameters of Linux's
/// `tcp_cubic` (`/sys/module/tcp_cubic/parameters/...`; the engine's knobs
/// `tcp_cubic.hystart`, `tcp_cubic.hystart_detect`, `tcp_cubic.hystart_low_window`,
/// `tcp_cubic.hystart_ack_delta_us`), Linux's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hystart {
    /// `hystart`: HyStart on (Linux: 1).
    pub enabled: bool,
    /// `hystart_detect`: the tests that may end slow start, bits
    /// [`Hystart::ACK_TRAIN`] and [`Hystart::DELAY`] (Linux: 3, both).
    pub detect: u8,
    /// `hystart_low_window`: HyStart acts only from this cwnd, packets (Linux: 16).
    pub low_window: u32,
    /// `hystart_ack_delta_us`: ACKs this close, µs, belong to one train (Linux: 2000).
    pub ack_delta_us: u32,
}

impl Hystart {
    /// `HYSTART_ACK_TRAIN`: the ACK train of a round lasted half the minimum RTT.
    pub const ACK_TRAIN: u8 = 0x1;
    /// `HYSTART_DELAY`: the round's RTT rose by an eighth of the minimum (4..16 ms).
    pub const DELAY: u8 = 0x2;
    /// HyStart off.
    pub const OFF: Hystart = Hystart {
        enabled: false,
        detect: 0,
        low_window: 16,
        ack_delta_us: 2000,
    };
}

impl Default for Hystart {
    fn default() -> Hystart {
        Hystart {
            enabled: true,
            detect: Hystart::ACK_TRAIN | Hystart::DELAY,
            low_window: 16,
            ack_delta_us: 2000,
        }
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses a Linux name, exactly (`"reno"`, `"cubic"`); surrounding whitespace, such as
    /// the newline of `echo cubic > .../tcp_congestion_control`, is ignored.
    fn from_str(s: &str) -> Result<Algorithm, UnknownAlgorithm> {
        let name = s.trim();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| UnknownAlgorithm {
                name: name.to_owned(),
            })
    }
}

/// A connection's congestion controller. All sizes are in bytes.
#[derive(Clone, Debug)]
pub struct Congestion {
    algorithm: Algorithm,
    /// The algorithm's inline state: CUBIC's (`cubic.rs`); Reno uses only its increment
    /// count, as a byte counter (`reno.rs`), as Linux's algorithms share
    /// `snd_cwnd_cnt`. One struct for both, rather than an enum of the two, saves the
    /// tag's eight bytes (issue 9's memory budget).
    ca: Cubic,
    /// CUBIC's curve and HyStart's round, out of line until CUBIC first needs them
    /// (`cubic.rs`; Reno leaves it unset).
    curve: Cold<cubic::Curve>,
    mss: u32,
    initial_cwnd_segments: u32,
    cwnd: u32,
    ssthresh: u32,
    in_recovery: bool,
    /// A retransmission timeout fired and no new data has been acknowledged since.
    timed_out: bool,
}

impl Congestion {
    /// A controller in slow start with cwnd = `initial_cwnd_segments` * `mss` (Linux: 10
    /// segments, RFC 6928) and ssthresh "infinite" (`u32::MAX`; Linux reports ssthresh only
    /// once it has been set). An `mss` of 0 is treated as 1, and an initial window of 0
    /// segments as 1.
    pub fn new(algorithm: Algorithm, mss: u32, initial_cwnd_segments: u32) -> Congestion {
        let mss = mss.max(1);
        let initial_cwnd_segments = initial_cwnd_segments.max(1);
        Congestion {
            algorithm,
            ca: Cubic::default(),
            curve: Cold::new(),
            mss,
            initial_cwnd_segments,
            cwnd: initial_cwnd_segments.saturating_mul(mss),
            ssthresh: u32::MAX,
            in_recovery: false,
            timed_out: false,
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The congestion window, in bytes.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// The slow-start threshold, in bytes; `u32::MAX` until the first loss.
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    /// The MSS the windows are counted in.
    pub fn mss(&self) -> u32 {
        self.mss
    }

    /// Whether cwnd < ssthresh (Linux's `tcp_in_slow_start`; RFC 5681 3.1 lets cwnd ==
    /// ssthresh go either way, and Linux counts it as congestion avoidance).
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Whether fast recovery is in progress (between `enter_recovery` and `exit_recovery`).
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// Changes the segment size (e.g. once the peer's MSS option and the timestamp option
    /// are known, or after a path-MTU change; an `mss` of 0 counts as 1). Linux counts
    /// windows in packets, so a window of N segments stays N segments: cwnd and a finite
    /// ssthresh are scaled by `new / old`, with cwnd kept at least one segment.
    pub fn set_mss(&mut self, mss: u32) {
        let new = mss.max(1);
        let old = self.mss;
        if new == old {
            return;
        }
        let scale = |w: u32| {
            let scaled = u64::from(w) * u64::from(new) / u64::from(old);
            u32::try_from(scaled).unwrap_or(u32::MAX)
        };
        self.cwnd = scale(self.cwnd).max(new);
        if self.ssthresh != u32::MAX {
            self.ssthresh = scale(self.ssthresh).max(new.saturating_mul(2));
        }
        match self.algorithm {
            Algorithm::Reno => Reno::new(self.ca.count_mut()).reset(),
            Algorithm::Cubic => self.ca.mss_changed(),
        }
        self.mss = new;
    }

    /// Whether a sender with `flight` bytes outstanding (the largest flight of the
    /// current window) was using its window, so that
    /// growing cwnd is justified (RFC 7661's spirit; Linux `tcp_is_cwnd_limited`).
    ///
    /// In slow start, like Linux, the window may grow while flight is more than half of it
    /// (so it can reach twice what was in flight). In congestion avoidance the sender must
    /// have been unable to send another full segment: `flight + mss > cwnd` (with a byte
    /// cwnd that is not a multiple of the MSS, `flight < cwnd` would hold forever).
    pub fn cwnd_limited(&self, flight: u32) -> bool {
        if self.in_slow_start() {
            u64::from(flight) * 2 > u64::from(self.cwnd)
        } else {
            u64::from(flight) + u64::from(self.mss) > u64::from(self.cwnd)
        }
    }

    /// An ACK acknowledged data none of which was retransmitted, the newest of it sent
    /// `rtt` ago (Linux's `pkts_acked` with `ca_rtt_us`; call it before
    /// [`on_ack`](Congestion::on_ack), as Linux's tcp_clean_rtx_queue runs before
    /// tcp_cong_control). CUBIC keeps its minimum RTT from these samples and, in slow
    /// start, runs HyStart; when HyStart ends slow start, ssthresh becomes cwnd and the
    /// test that fired is returned (for Linux's TCPHystart* counters). `snd_una` and
    /// `snd_max` are the raw sequence numbers after this ACK (a HyStart round ends when
    /// SND.UNA passes the SND.NXT it began with); `srtt` sizes the ACK-train allowance.
    /// Reno ignores the sample.
    pub fn on_rtt_sample(
        &mut self,
        now: Instant,
        rtt: Duration,
        (snd_una, snd_max): (u32, u32),
        srtt: Option<Duration>,
        hystart: &Hystart,
    ) -> Option<HystartExit> {
        let in_slow_start = self.in_slow_start();
        let (mss, cwnd) = (self.mss, self.cwnd);
        if self.algorithm != Algorithm::Cubic {
            return None;
        }
        let c = &mut self.ca;
        let exit = c.on_rtt_sample(
            &mut self.curve,
            now,
            rtt,
            cwnd / mss,
            mss,
            in_slow_start,
            (snd_una, snd_max),
            srtt,
            hystart,
        );
        if exit.is_some() {
            self.ssthresh = self.cwnd;
        }
        exit
    }

    /// New data cumulatively acknowledged outside recovery: slow start (RFC 5681 3.1, with
    /// byte counting as Linux does it, without RFC 3465's L cap) or congestion avoidance (Reno:
    /// RFC 5681 3.1 eq. 3 via byte counting; Cubic: Linux's packet-counted CUBIC, see
    /// `cubic.rs`). `flight` = bytes in flight before this ACK; if the flow was not
    /// cwnd-limited do not grow (RFC 7661 spirit / Linux tcp_is_cwnd_limited; see
    /// [`Congestion::in_slow_start`] and the rule in the source).
    ///
    /// CUBIC's curve looks ahead by the minimum RTT of the samples given to
    /// [`on_rtt_sample`](Congestion::on_rtt_sample). Does nothing in fast recovery (use
    /// [`on_partial_ack`](Congestion::on_partial_ack) / [`exit_recovery`](Congestion::exit_recovery)
    /// there) or when `acked` is 0.
    pub fn on_ack(&mut self, now: Instant, acked: u32, flight: u32) {
        if self.in_recovery || acked == 0 {
            return;
        }
        self.timed_out = false;
        if !self.cwnd_limited(flight) {
            return;
        }
        let mut acked = acked;
        if self.in_slow_start() {
            // RFC 5681 3.1 with byte counting (RFC 3465), as Linux's tcp_slow_start does
            // it: cwnd grows by everything acknowledged, without RFC 3465's L cap, so a
            // stretch ACK of ten segments adds ten.
            let increase = acked;
            let room = self.ssthresh - self.cwnd; // > 0 in slow start
            if increase < room {
                self.cwnd += increase;
                return;
            }
            // Reaching ssthresh: the rest of the ACK counts toward congestion avoidance
            // (as Linux's tcp_slow_start returns the leftover to tcp_cong_avoid).
            self.cwnd = self.ssthresh;
            acked = increase - room;
            if acked == 0 {
                return;
            }
        }
        let (cwnd, mss) = (self.cwnd, self.mss);
        self.cwnd = match self.algorithm {
            Algorithm::Reno => Reno::new(self.ca.count_mut()).on_ca_ack(cwnd, acked, mss),
            Algorithm::Cubic => self.ca.on_ca_ack(&mut self.curve, now, cwnd, acked, mss),
        };
    }

    /// The algorithm's ssthresh after a congestion event with `flight` bytes outstanding.
    fn reduced_ssthresh(&mut self, flight: u32) -> u32 {
        let (cwnd, mss) = (self.cwnd, self.mss);
        match self.algorithm {
            Algorithm::Reno => Reno::new(self.ca.count_mut()).loss_ssthresh(flight, mss),
            Algorithm::Cubic => self
                .ca
                .on_congestion(&mut self.curve, cwnd / mss)
                .saturating_mul(mss),
        }
    }

    /// Loss detected by the third duplicate ACK (RFC 5681 3.2 steps 2-3, RFC 6582 3.2):
    /// ssthresh = algorithm's reduction of flight (Reno: max(flight/2, 2*mss); Cubic:
    /// max(cwnd*717/1024, 2) packets, RFC 9438 4.6 as Linux computes it), cwnd =
    /// ssthresh plus 3*mss; in_recovery becomes true; CUBIC's increment count starts
    /// over. Ignored if already in recovery (RFC 6582 3.2 step 2: no new reduction until
    /// the recovery point is acknowledged).
    pub fn enter_recovery(&mut self, _now: Instant, flight: u32) {
        if self.in_recovery {
            return;
        }
        self.ssthresh = self.reduced_ssthresh(flight);
        self.cwnd = self.ssthresh.saturating_add(self.mss.saturating_mul(3));
        self.in_recovery = true;
        if self.algorithm == Algorithm::Cubic {
            self.ca.clear_count();
        }
    }

    /// Linux's `snd_ssthresh = tcp_current_ssthresh()` outside a reduction: ssthresh
    /// at least three quarters of cwnd (a path MTU probe's success keeps the window's
    /// knowledge in the new segment size).
    pub fn keep_current_ssthresh(&mut self) {
        if !self.in_recovery && self.ssthresh != u32::MAX {
            self.ssthresh = self.ssthresh.max((self.cwnd >> 1) + (self.cwnd >> 2));
        }
    }

    /// Sets cwnd directly (never below one segment): Proportional Rate Reduction (RFC
    /// 6937) sizes cwnd during recovery, and recovery ends with cwnd = ssthresh.
    pub fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }

    /// RFC 6582 3.2 step 3 (RFC 5681 3.2 step 4): each further duplicate ACK in recovery
    /// inflates cwnd by one SMSS. Ignored outside recovery.
    pub fn on_dup_ack_in_recovery(&mut self) {
        if self.in_recovery {
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    /// RFC 6582 3.2 step 5: a partial ACK of `acked` new bytes deflates cwnd by that
    /// amount, adds back one SMSS if `acked` >= SMSS, and never leaves it below one SMSS.
    /// Ignored outside recovery.
    pub fn on_partial_ack(&mut self, acked: u32) {
        if !self.in_recovery {
            return;
        }
        let mut cwnd = self.cwnd.saturating_sub(acked);
        if acked >= self.mss {
            cwnd = cwnd.saturating_add(self.mss);
        }
        self.cwnd = cwnd.max(self.mss);
    }

    /// The recovery point was acknowledged (RFC 6582 3.2 step 6, option 1): cwnd =
    /// min(ssthresh, max(flight, mss) + mss), where `flight` is what remains outstanding
    /// after this ACK; recovery ends. Ignored outside recovery.
    pub fn exit_recovery(&mut self, flight: u32) {
        if !self.in_recovery {
            return;
        }
        let deflated = flight.max(self.mss).saturating_add(self.mss);
        self.cwnd = self.ssthresh.min(deflated);
        self.in_recovery = false;
    }

    /// Retransmission timeout (RFC 5681 3.1 eq. 4 and the loss window): ssthresh =
    /// reduction of flight, cwnd = 1 mss, recovery ends; CUBIC resets its curve, W_max
    /// included, as Linux's `bictcp_reset` does on entering the Loss state (RFC 9438 4.8),
    /// and starts a HyStart round.
    ///
    /// ssthresh is held, not reduced again, when the previous timeout has not been followed
    /// by any newly acknowledged data (RFC 5681 3.1: a segment retransmitted by the timer
    /// more than once keeps ssthresh constant) and when the timeout interrupts fast
    /// recovery, which already reduced it for this loss (Linux `tcp_enter_loss` only
    /// recomputes ssthresh from the Open/Disorder states).
    pub fn on_rto(&mut self, _now: Instant, flight: u32) {
        if !self.timed_out && !self.in_recovery {
            self.ssthresh = self.reduced_ssthresh(flight);
        }
        match self.algorithm {
            Algorithm::Cubic => self.ca.on_timeout(&mut self.curve),
            Algorithm::Reno => Reno::new(self.ca.count_mut()).reset(),
        }
        self.cwnd = self.mss;
        self.in_recovery = false;
        self.timed_out = true;
    }

    /// Undoes a reduction found spurious (Linux's tcp_undo_cwnd_reduction with the
    /// algorithms' undo_cwnd, RFC 5682 / RFC 4015's response): cwnd back to at least
    /// `prior_cwnd` (CUBIC's loss_cwnd and Reno's prior_cwnd are both the cwnd the
    /// reduction started from), ssthresh to at least `prior_ssthresh`; the reduction's
    /// bookkeeping ends.
    pub fn undo(&mut self, prior_cwnd: u32, prior_ssthresh: u32) {
        self.cwnd = self.cwnd.max(prior_cwnd);
        self.ssthresh = self.ssthresh.max(prior_ssthresh);
        self.in_recovery = false;
        self.timed_out = false;
    }

    /// Transmission resumes after `idle` with nothing in flight; `rto` is the current RTO.
    ///
    /// RFC 5681 4.1 restart after idle (Linux tcp_slow_start_after_idle=1), as Linux's
    /// `tcp_cwnd_restart` does it: if idle for more than one RTO, ssthresh is raised to at
    /// least 3/4 cwnd (`tcp_current_ssthresh`), then cwnd is halved once per RTO of idleness
    /// beyond the first, but not below the restart window RW = min(initial window, cwnd).
    /// (RFC 5681 4.1 would set cwnd to RW outright; after a long idle both agree.)
    /// CUBIC's epoch is shifted by `idle` whatever its length, but not past `now` (RFC
    /// 9438 4.2, Linux `CA_EVENT_TX_START`).
    pub fn on_idle_restart(&mut self, now: Instant, idle: Duration, rto: Duration) {
        if self.algorithm == Algorithm::Cubic {
            self.ca.on_idle(&mut self.curve, now, idle);
        }
        self.cwnd_restart(idle, rto);
    }

    /// The cwnd part of [`on_idle_restart`](Self::on_idle_restart) alone (Linux's
    /// tcp_cwnd_restart): what a window update that lets queued data go after an idle
    /// period does (tcp_ack_update_window's tcp_slow_start_after_idle_check).
    pub fn cwnd_restart(&mut self, idle: Duration, rto: Duration) {
        if idle <= rto || self.in_recovery {
            return;
        }
        let three_quarters = (self.cwnd >> 1) + (self.cwnd >> 2);
        self.ssthresh = self.ssthresh.max(three_quarters);
        let restart = self
            .initial_cwnd_segments
            .saturating_mul(self.mss)
            .min(self.cwnd);
        let mut remaining = idle;
        let mut cwnd = self.cwnd;
        // Terminates: each pass halves cwnd, and restart >= 1.
        loop {
            remaining = remaining.saturating_sub(rto);
            if remaining.is_zero() || cwnd <= restart {
                break;
            }
            cwnd >>= 1;
        }
        self.cwnd = cwnd.max(restart);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Slow start with a full window and one ACK per segment until cwnd reaches `target`.
    fn grow_to(cc: &mut Congestion, target: u32) {
        while cc.cwnd() < target {
            let flight = cc.cwnd();
            cc.on_ack(Instant::ZERO, MSS, flight);
        }
        assert_eq!(cc.cwnd(), target);
    }

    /// One RTT of a window-limited ACK clock starting at `start`: the window at the start
    /// of the round is acknowledged in `per_ack`-byte ACKs spread evenly over the RTT.
    fn round(cc: &mut Congestion, start: Instant, rtt: Duration, per_ack: u32) {
        let acks = (cc.cwnd() / per_ack).max(1);
        for i in 0..acks {
            let at = start + rtt * i / acks;
            let flight = cc.cwnd();
            let seq = (0, 0);
            cc.on_rtt_sample(at, rtt, seq, Some(rtt), &Hystart::OFF);
            cc.on_ack(at, per_ack, flight);
        }
    }

    #[test]
    fn names_parse_and_default_is_cubic() {
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
        assert_eq!("cubic".parse(), Ok(Algorithm::Cubic));
        assert_eq!("reno\n".parse(), Ok(Algorithm::Reno));
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse(), Ok(a));
            assert_eq!(a.to_string(), a.name());
        }
        let err = "bbr".parse::<Algorithm>().unwrap_err();
        assert_eq!(err.name(), "bbr");
        let msg = err.to_string();
        assert!(msg.contains("\"bbr\"") && msg.contains("reno") && msg.contains("cubic"));
        assert!("Cubic".parse::<Algorithm>().is_err());
        let cc = Congestion::new(Algorithm::Reno, MSS, 10);
        assert_eq!(cc.algorithm(), Algorithm::Reno);
        assert_eq!(cc.cwnd(), 10 * MSS);
        assert_eq!(cc.ssthresh(), u32::MAX);
        assert!(cc.in_slow_start() && !cc.in_recovery());
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        for algorithm in Algorithm::ALL {
            for per_ack in [MSS, 2 * MSS] {
                let mut cc = Congestion::new(algorithm, MSS, 10);
                let mut now = Instant::ZERO;
                for _ in 0..6 {
                    let before = cc.cwnd();
                    round(&mut cc, now, ms(50), per_ack);
                    assert_eq!(cc.cwnd(), 2 * before, "{algorithm} per_ack {per_ack}");
                    now += ms(50);
                }
                assert_eq!(cc.cwnd(), 640 * MSS);
            }
        }
    }

    #[test]
    fn stretch_acks_grow_slow_start_fully() {
        // Linux's tcp_slow_start has no RFC 3465 L cap: an ACK for 4 segments adds 4,
        // and one for 10 segments doubles a 10-segment window.
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 8);
        round(&mut cc, Instant::ZERO, ms(50), 4 * MSS);
        assert_eq!(cc.cwnd(), 16 * MSS);
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, 10);
        cc.on_ack(Instant::ZERO, 10 * MSS, 10 * MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
    }

    #[test]
    fn no_growth_when_not_cwnd_limited() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 10);
        cc.on_ack(Instant::ZERO, MSS, 4 * MSS);
        assert_eq!(cc.cwnd(), 10 * MSS);
        cc.on_ack(Instant::ZERO, MSS, 6 * MSS);
        assert_eq!(cc.cwnd(), 11 * MSS);
        cc.on_ack(Instant::ZERO, 0, 11 * MSS);
        assert_eq!(cc.cwnd(), 11 * MSS);
        // Congestion avoidance: limited only if another full segment did not fit.
        cc.on_rto(Instant::ZERO, 20 * MSS);
        grow_to(&mut cc, 10 * MSS);
        assert!(!cc.in_slow_start());
        for _ in 0..50 {
            cc.on_ack(Instant::ZERO, MSS, 9 * MSS);
        }
        assert_eq!(cc.cwnd(), 10 * MSS);
        for _ in 0..10 {
            cc.on_ack(Instant::ZERO, MSS, 9 * MSS + 1);
        }
        assert_eq!(cc.cwnd(), 11 * MSS);
    }

    #[test]
    fn slow_start_hands_leftover_to_avoidance() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 10);
        cc.on_rto(Instant::ZERO, 9 * MSS); // ssthresh 4.5 segments
        assert_eq!((cc.ssthresh(), cc.cwnd()), (4500, MSS));
        cc.on_ack(Instant::ZERO, 2 * MSS, MSS);
        assert_eq!(cc.cwnd(), 3 * MSS);
        cc.on_ack(Instant::ZERO, 2 * MSS, 3 * MSS);
        assert_eq!(cc.cwnd(), 4500); // capped at ssthresh; 500 bytes counted for CA
        assert!(!cc.in_slow_start());
        cc.on_ack(Instant::ZERO, 4000, 4500);
        assert_eq!(cc.cwnd(), 5500); // 500 + 4000 >= 4500: one MSS
    }

    #[test]
    fn reno_avoidance_adds_one_mss_per_rtt() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 40);
        cc.enter_recovery(Instant::ZERO, 40 * MSS);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (20 * MSS, 23 * MSS));
        cc.exit_recovery(20 * MSS);
        assert_eq!(cc.cwnd(), 20 * MSS);
        let mut now = Instant::ZERO;
        for k in 1..=10 {
            round(&mut cc, now, ms(100), MSS);
            now += ms(100);
            assert_eq!(cc.cwnd(), (20 + k) * MSS);
        }
    }

    #[test]
    fn recovery_inflates_and_deflates() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 20);
        cc.enter_recovery(Instant::ZERO, 20 * MSS);
        assert!(cc.in_recovery());
        assert_eq!((cc.ssthresh(), cc.cwnd()), (10 * MSS, 13 * MSS));
        for _ in 0..3 {
            cc.on_dup_ack_in_recovery();
        }
        assert_eq!(cc.cwnd(), 16 * MSS);
        cc.enter_recovery(Instant::ZERO, 2 * MSS); // ignored while recovering
        assert_eq!(cc.ssthresh(), 10 * MSS);
        cc.on_ack(Instant::ZERO, MSS, 16 * MSS); // ignored while recovering
        assert_eq!(cc.cwnd(), 16 * MSS);
        cc.on_partial_ack(3 * MSS);
        assert_eq!(cc.cwnd(), 14 * MSS); // -3 + 1
        cc.on_partial_ack(500);
        assert_eq!(cc.cwnd(), 13 * MSS + 500);
        cc.on_partial_ack(u32::MAX);
        assert_eq!(cc.cwnd(), MSS);
        cc.on_dup_ack_in_recovery();
        cc.exit_recovery(5 * MSS);
        assert_eq!(cc.cwnd(), 6 * MSS);
        assert!(!cc.in_recovery());
        cc.exit_recovery(0);
        cc.on_dup_ack_in_recovery();
        cc.on_partial_ack(MSS);
        assert_eq!(cc.cwnd(), 6 * MSS);
        // Exit with a large flight is capped by ssthresh; a small one floors at 2 MSS.
        cc.enter_recovery(Instant::ZERO, 30 * MSS);
        cc.exit_recovery(40 * MSS);
        assert_eq!(cc.cwnd(), 15 * MSS);
        cc.enter_recovery(Instant::ZERO, 30 * MSS);
        cc.exit_recovery(0);
        assert_eq!(cc.cwnd(), 2 * MSS);
    }

    #[test]
    fn reductions_per_algorithm() {
        let mut reno = Congestion::new(Algorithm::Reno, MSS, 100);
        reno.enter_recovery(Instant::ZERO, 50 * MSS);
        assert_eq!(reno.ssthresh(), 25 * MSS); // half the flight
        let mut reno = Congestion::new(Algorithm::Reno, MSS, 100);
        reno.enter_recovery(Instant::ZERO, MSS);
        assert_eq!(reno.ssthresh(), 2 * MSS);
        let mut cubic = Congestion::new(Algorithm::Cubic, MSS, 100);
        cubic.enter_recovery(Instant::ZERO, 50 * MSS);
        assert_eq!(cubic.ssthresh(), 70 * MSS); // 0.7 cwnd
        assert_eq!(cubic.cwnd(), 73 * MSS);
        let mut cubic = Congestion::new(Algorithm::Cubic, MSS, 2);
        cubic.enter_recovery(Instant::ZERO, 2 * MSS);
        assert_eq!(cubic.ssthresh(), 2 * MSS);
    }

    #[test]
    fn rto_collapses_window_and_holds_ssthresh_on_repeats() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 20);
        cc.on_rto(Instant::ZERO, 20 * MSS);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (10 * MSS, MSS));
        assert!(cc.in_slow_start());
        cc.on_rto(Instant::ZERO, MSS); // backed-off retransmission of the same segment
        assert_eq!(cc.ssthresh(), 10 * MSS);
        cc.on_ack(Instant::ZERO, MSS, MSS);
        assert_eq!(cc.cwnd(), 2 * MSS);
        cc.on_rto(Instant::ZERO, 2 * MSS); // a new loss after progress
        assert_eq!((cc.ssthresh(), cc.cwnd()), (2 * MSS, MSS));

        // A timeout during fast recovery ends it without a second reduction.
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, 100);
        cc.enter_recovery(Instant::ZERO, 100 * MSS);
        cc.on_rto(Instant::ZERO, 100 * MSS);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (70 * MSS, MSS));
        assert!(!cc.in_recovery());
    }

    #[test]
    fn cubic_after_timeout_has_no_plateau() {
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, 10);
        grow_to(&mut cc, 100 * MSS);
        cc.on_rto(Instant::ZERO, 100 * MSS);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (70 * MSS, MSS));
        grow_to(&mut cc, 70 * MSS);
        assert!(!cc.in_slow_start());
        let rtt = ms(100);
        let mut now = Instant::from_secs(1);
        for _ in 0..50 {
            round(&mut cc, now, rtt, MSS);
            now += rtt;
        }
        // Linux's bictcp_reset on entering Loss forgets W_max: K = 0 (RFC 9438 4.8) and,
        // with W_max 0, cnt is at most 20, a growth of 5% per round trip: 70 * 1.05^50 =
        // 802 at most (the curve alone, 70 + 0.4 t^3, would give 120; a plateau kept at
        // W_max would hold near 100).
        let segs = f64::from(cc.cwnd()) / f64::from(MSS);
        let floor = 70.0 * 1.05f64.powi(50);
        assert!(segs <= floor + 1.0 && segs > 0.95 * floor, "{segs}");
    }

    #[test]
    fn cubic_follows_rfc9438_curve() {
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, 10);
        grow_to(&mut cc, 1000 * MSS);
        let t0 = Instant::from_secs(10);
        cc.enter_recovery(t0, 1000 * MSS);
        assert_eq!(cc.cwnd(), 703 * MSS);
        cc.exit_recovery(700 * MSS);
        assert_eq!(cc.cwnd(), 700 * MSS);
        let rtt = ms(100);
        let k = 750f64.cbrt(); // cbrt(W_max (1 - beta) / C), about 9.09 s
        let w = |t: f64| 0.4 * (t - k).powi(3) + 1000.0;
        let mut now = t0;
        let mut checks = 0;
        for r in 1..=130u32 {
            round(&mut cc, now, rtt, MSS);
            now += rtt;
            if r % 10 == 0 {
                let t = f64::from(r) * 0.1;
                let segs = f64::from(cc.cwnd()) / f64::from(MSS);
                let want = w(t);
                assert!(
                    (segs - want).abs() / want < 0.01,
                    "t={t}: cwnd {segs} vs W_cubic {want}"
                );
                checks += 1;
            }
        }
        assert_eq!(checks, 13);
        // Past K the window probes beyond W_max.
        assert!(cc.cwnd() > 1000 * MSS);
    }

    #[test]
    fn cubic_reno_friendly_region_on_short_rtt() {
        let mut cc = Congestion::new(Algorithm::Cubic, MSS, 10);
        grow_to(&mut cc, 20 * MSS);
        cc.enter_recovery(Instant::ZERO, 20 * MSS);
        cc.exit_recovery(14 * MSS);
        assert_eq!(cc.cwnd(), 14 * MSS);
        let rtt = ms(1);
        let mut now = Instant::ZERO;
        for _ in 0..100 {
            round(&mut cc, now, rtt, MSS);
            now += rtt;
        }
        // W_cubic(0.1 s) is still about 14.7 segments; Linux's TCP-friendly estimate
        // grows 8/15 segment per RTT (one per cwnd * 15 / 8 acknowledged), 14 + 53 = 67
        // after 100 RTTs, and cwnd follows it with a lag: with cwnd unchanged the
        // estimate is looked at only every HZ/32 (31 ms, 31 rounds here).
        let segs = cc.cwnd() / MSS;
        assert!((45..=67).contains(&segs), "{segs}");
    }

    #[test]
    fn idle_restart_follows_linux() {
        let mut cc = Congestion::new(Algorithm::Reno, MSS, 10);
        grow_to(&mut cc, 80 * MSS);
        cc.on_idle_restart(Instant::ZERO, ms(500), ms(1000));
        assert_eq!(cc.cwnd(), 80 * MSS);
        cc.on_idle_restart(Instant::ZERO, ms(1500), ms(1000));
        assert_eq!(cc.cwnd(), 40 * MSS); // halved once
        assert_eq!(cc.ssthresh(), u32::MAX);
        cc.on_idle_restart(Instant::ZERO, Duration::from_secs(3600), ms(1000));
        assert_eq!(cc.cwnd(), 10 * MSS); // floored at the initial window

        let mut cc = Congestion::new(Algorithm::Reno, MSS, 10);
        cc.on_rto(Instant::ZERO, 20 * MSS);
        let mut now = Instant::ZERO;
        while cc.cwnd() < 40 * MSS {
            round(&mut cc, now, ms(10), MSS);
            now += ms(10);
        }
        assert_eq!((cc.cwnd(), cc.ssthresh()), (40 * MSS, 10 * MSS));
        cc.on_idle_restart(Instant::ZERO, ms(2500), ms(1000));
        assert_eq!(cc.cwnd(), 10 * MSS); // 40 -> 20 -> 10
        assert_eq!(cc.ssthresh(), 30 * MSS); // max(ssthresh 10, 3/4 * 40)
        cc.on_idle_restart(Instant::ZERO, Duration::from_secs(10), Duration::ZERO);
        assert_eq!(cc.cwnd(), 10 * MSS);
        cc.on_rto(Instant::ZERO, 0);
        cc.on_idle_restart(Instant::ZERO, Duration::from_secs(10), ms(200));
        assert_eq!(cc.cwnd(), MSS); // below the initial window: unchanged
    }

    #[test]
    fn set_mss_keeps_segment_counts() {
        let mut cc = Congestion::new(Algorithm::Cubic, 536, 10);
        cc.set_mss(1448);
        assert_eq!(
            (cc.mss(), cc.cwnd(), cc.ssthresh()),
            (1448, 14_480, u32::MAX)
        );
        cc.enter_recovery(Instant::ZERO, 0);
        cc.exit_recovery(u32::MAX);
        cc.set_mss(1000);
        assert_eq!(cc.cwnd(), cc.ssthresh());
        cc.set_mss(0);
        assert_eq!(cc.mss(), 1);
        assert!(cc.cwnd() >= 1);
    }

    #[test]
    fn random_calls_never_panic_and_keep_invariants() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let extreme = [0u32, 1, 2, 535, 1460, 65_535, u32::MAX / 2, u32::MAX];
        for algorithm in Algorithm::ALL {
            let mut cc = Congestion::new(algorithm, 0, 0);
            let mut now = Instant::ZERO;
            for _ in 0..20_000 {
                let v = if rnd() % 4 == 0 {
                    extreme[(rnd() % 8) as usize]
                } else {
                    (rnd() % 200_000) as u32
                };
                let w = (rnd() % 2_000_000) as u32;
                now += Duration::from_micros(rnd() % 50_000);
                match rnd() % 10 {
                    0..=2 => cc.on_ack(now, v, w),
                    3 => {
                        let rtt = Duration::from_micros(rnd() % 1_000_000);
                        let seq = (rnd() as u32, rnd() as u32);
                        let _ = cc.on_rtt_sample(now, rtt, seq, Some(rtt), &Hystart::default());
                    }
                    4 => cc.enter_recovery(now, v),
                    5 => cc.on_dup_ack_in_recovery(),
                    6 => cc.on_partial_ack(v),
                    7 => cc.exit_recovery(v),
                    8 => cc.on_rto(now, v),
                    _ if rnd() % 8 == 0 => cc.set_mss(v % 70_000),
                    _ => cc.on_idle_restart(
                        now,
                        Duration::from_micros(rnd() % 10_000_000),
                        Duration::from_micros(rnd() % 3_000_000),
                    ),
                }
                assert!(cc.cwnd() >= cc.mss(), "{cc:?}");
                assert!(cc.ssthresh() >= 2 * cc.mss().min(u32::MAX / 2));
            }
        }
    }
}
