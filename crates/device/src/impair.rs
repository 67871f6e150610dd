//! Seeded impairments on any device: loss, delay, jitter, reordering, duplication and
//! a rate limit, in each direction, on a clock passed in.
//!
//! Each direction (a *lane*) decides the fate of every datagram as it enters, from its
//! own seeded generator, in this order: lost (`loss`); otherwise duplicated
//! (`duplicate`: one extra copy); each copy is released at `delay` plus a uniform extra
//! of up to `jitter`, never before the copy before it (a lane keeps order), except that
//! a `reorder` fraction is held back by `reorder_delay` so that later datagrams pass it;
//! then the rate limit serializes copies at `rate_bps`, dropping at the tail when
//! `queue_limit` datagrams already wait. The same seed and the same inputs at the same
//! clock times give the same fates.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::clock::Clock;
use crate::rng::Rng;
use crate::Device;

/// What one direction does to datagrams. The default passes everything untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Probability that a datagram is lost, in `[0, 1]`.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Up to this much extra delay, uniformly drawn per datagram (order is kept; see
    /// `reorder` for reordering).
    pub jitter: Duration,
    /// Probability that a datagram is held back by `reorder_delay`, letting those sent
    /// after it overtake it, in `[0, 1]`.
    pub reorder: f64,
    /// How long a reordered datagram is held back beyond its normal release.
    pub reorder_delay: Duration,
    /// Probability that a datagram is delivered twice, in `[0, 1]`.
    pub duplicate: f64,
    /// Rate limit in bits per second (`None`: unlimited).
    pub rate_bps: Option<u64>,
    /// With a rate limit: datagrams that may wait for the link before new ones are
    /// dropped (netem's `limit`, 1000 by default).
    pub queue_limit: usize,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            duplicate: 0.0,
            rate_bps: None,
            queue_limit: 1000,
        }
    }
}

/// An [`Impairment`] that cannot be applied, with what to change.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpairmentError(String);

impl fmt::Display for ImpairmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImpairmentError {}

impl Impairment {
    /// Checks every field: probabilities within `[0, 1]`, a rate above zero, a queue
    /// limit above zero.
    pub fn validate(&self) -> Result<(), ImpairmentError> {
        for (name, p) in [
            ("loss", self.loss),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ImpairmentError(format!(
                    "{name} is a probability: give a value from 0 to 1 (0.01 is 1%), not {p}"
                )));
            }
        }
        if self.rate_bps == Some(0) {
            return Err(ImpairmentError(
                "the rate limit must be above 0 bits per second (leave it unset for no limit)"
                    .into(),
            ));
        }
        if self.queue_limit == 0 {
            return Err(ImpairmentError(
                "the queue limit must hold at least one datagram".into(),
            ));
        }
        Ok(())
    }

    /// Whether this changes nothing.
    fn is_transparent(&self) -> bool {
        self.loss == 0.0
            && self.delay.is_zero()
            && self.jitter.is_zero()
            && self.reorder == 0.0
            && self.duplicate == 0.0
            && self.rate_bps.is_none()
    }
}

/// What a lane did, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// Datagrams that entered.
    pub entered: u64,
    /// Datagrams released (duplicates included).
    pub released: u64,
    /// Datagrams lost (`loss`).
    pub lost: u64,
    /// Extra copies made (`duplicate`).
    pub duplicated: u64,
    /// Datagrams held back to be overtaken (`reorder`).
    pub reordered: u64,
    /// Datagrams dropped because the rate limiter's queue was full.
    pub overflowed: u64,
}

/// One direction: decisions as datagrams enter, a heap of copies by release time.
struct Lane<C: Clock> {
    cfg: Impairment,
    rng: Rng,
    clock: C,
    /// (release time, entry order, bytes), earliest first.
    queue: BinaryHeap<Reverse<(Duration, u64, Vec<u8>)>>,
    order: u64,
    /// Release time of the last in-order copy (a lane keeps order).
    last_release: Duration,
    /// When the rate-limited link is free again.
    link_free_at: Duration,
    stats: LaneStats,
}

impl<C: Clock> Lane<C> {
    fn new(cfg: Impairment, seed: u64, clock: C) -> Lane<C> {
        Lane {
            cfg,
            rng: Rng::new(seed),
            clock,
            queue: BinaryHeap::new(),
            order: 0,
            last_release: Duration::ZERO,
            link_free_at: Duration::ZERO,
            stats: LaneStats::default(),
        }
    }

    /// Decides the fate of `datagram` entering now.
    fn admit(&mut self, datagram: &[u8]) {
        let now = self.clock.now();
        self.stats.entered += 1;
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if self.cfg.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.cfg.jitter.mul_f64(self.rng.unit())
            };
            let mut at = now + self.cfg.delay + jitter;
            if self.rng.chance(self.cfg.reorder) {
                self.stats.reordered += 1;
                at += self.cfg.reorder_delay;
            } else {
                at = at.max(self.last_release);
                self.last_release = at;
            }
            if let Some(rate) = self.cfg.rate_bps {
                if self.queue.len() >= self.cfg.queue_limit {
                    self.stats.overflowed += 1;
                    continue;
                }
                let bits = datagram.len() as u64 * 8;
                let start = at.max(self.link_free_at);
                self.link_free_at = start + Duration::from_nanos(bits * 1_000_000_000 / rate);
                at = self.link_free_at;
            }
            self.order += 1;
            self.queue
                .push(Reverse((at, self.order, datagram.to_vec())));
        }
    }

    /// The next copy if it is due now.
    fn pop_due(&mut self) -> Option<Vec<u8>> {
        let now = self.clock.now();
        if self.queue.peek().is_some_and(|Reverse(e)| e.0 <= now) {
            self.stats.released += 1;
            return self.queue.pop().map(|Reverse(e)| e.2);
        }
        None
    }

    /// Whether a copy is due now.
    fn has_due(&self) -> bool {
        let now = self.clock.now();
        self.queue.peek().is_some_and(|Reverse(e)| e.0 <= now)
    }

    /// Arranges a wake-up for the next release: `Ready` if one is already due, `Pending`
    /// (with the wake-up set) if one waits, `Ready` too if nothing waits.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.queue.peek() {
            Some(Reverse(e)) => {
                let at = e.0;
                self.clock.poll_at(cx, at)
            }
            None => Poll::Ready(()),
        }
    }
}

/// Middleware applying [`Impairment`]s to a device: one for what it receives
/// (ingress), one for what it sends (egress), each lane with its own seeded generator.
pub struct Impaired<D, C: Clock> {
    inner: D,
    ingress: Lane<C>,
    egress: Lane<C>,
    scratch: Vec<u8>,
}

impl<D: Device, C: Clock> fmt::Debug for Impaired<D, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Impaired")
            .field("ingress", &self.ingress.cfg)
            .field("egress", &self.egress.cfg)
            .finish_non_exhaustive()
    }
}

/// Datagrams taken from the inner device per `poll_recv` before yielding.
const RECV_BATCH: usize = 256;

impl<D: Device, C: Clock> Impaired<D, C> {
    /// Applies `both` to each direction of `inner`, drawing from `seed` (the two lanes
    /// use independent streams derived from it).
    pub fn new(inner: D, clock: C, both: Impairment, seed: u64) -> Result<Self, ImpairmentError> {
        Impaired::with_lanes(inner, clock, both.clone(), both, seed)
    }

    /// Applies `ingress` to what `inner` receives and `egress` to what it sends.
    pub fn with_lanes(
        inner: D,
        clock: C,
        ingress: Impairment,
        egress: Impairment,
        seed: u64,
    ) -> Result<Self, ImpairmentError> {
        ingress.validate()?;
        egress.validate()?;
        let mtu = inner.mtu();
        Ok(Impaired {
            inner,
            ingress: Lane::new(ingress, seed ^ 0x1e55_0001, clock.clone()),
            egress: Lane::new(egress, seed ^ 0xe6e5_0002, clock),
            scratch: vec![0u8; mtu.max(1)],
        })
    }

    /// What the receiving lane did so far.
    pub fn ingress_stats(&self) -> LaneStats {
        self.ingress.stats
    }

    /// What the sending lane did so far.
    pub fn egress_stats(&self) -> LaneStats {
        self.egress.stats
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Device, C: Clock> Device for Impaired<D, C> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut taken = 0;
        loop {
            if taken == RECV_BATCH {
                // Come back for the rest after others had a turn.
                cx.waker().wake_by_ref();
                break;
            }
            match self.inner.poll_recv(cx, &mut self.scratch) {
                Poll::Ready(Ok(n)) => {
                    taken += 1;
                    if self.ingress.cfg.is_transparent() && self.ingress.queue.is_empty() {
                        self.ingress.stats.entered += 1;
                        self.ingress.stats.released += 1;
                        let n = n.min(buf.len());
                        buf[..n].copy_from_slice(&self.scratch[..n]);
                        return Poll::Ready(Ok(n));
                    }
                    self.ingress.admit(&self.scratch[..n]);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        loop {
            if let Some(d) = self.ingress.pop_due() {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                return Poll::Ready(Ok(n));
            }
            if self.ingress.queue.is_empty() {
                return Poll::Pending;
            }
            if self.ingress.poll_next(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        if self.egress.cfg.is_transparent() && self.egress.queue.is_empty() {
            let r = self.inner.poll_send(cx, datagram);
            if matches!(r, Poll::Ready(Ok(()))) {
                self.egress.stats.entered += 1;
                self.egress.stats.released += 1;
            }
            return r;
        }
        self.egress.admit(datagram);
        if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.egress.has_due() {
                let Some(Reverse(head)) = self.egress.queue.peek() else {
                    break;
                };
                match self.inner.poll_send(cx, &head.2) {
                    Poll::Ready(Ok(())) => {
                        self.egress.pop_due();
                    }
                    Poll::Ready(Err(e)) => {
                        // The datagram is dropped, as a failed transmission loses it.
                        self.egress.pop_due();
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.egress.queue.is_empty() {
                return self.inner.poll_flush(cx);
            }
            if self.egress.poll_next(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
}
