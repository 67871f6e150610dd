//! Links: the configuration of one direction, its statistics, and the impairment model
//! that decides each packet's fate when it enters.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use synack::Instant;

use crate::rng::Rng;

/// One direction of a link. All probabilities are per packet, in `[0, 1]`.
///
/// A packet entering the link goes through these stages, in order:
/// 1. **MTU**: a packet longer than `mtu` bytes is dropped ([`Fate::TooBig`]).
/// 2. **Queue**: with a `rate`, packets are serialized one after another; a packet that
///    would find `queue_limit` packets already waiting for the transmitter is tail-dropped
///    ([`Fate::QueueFull`]). Without a `rate` there is no queue and no limit applies.
/// 3. **Serialization**: the packet leaves once its last bit is sent, `len * 8 / rate`
///    seconds after the transmitter becomes free (computed in nanoseconds, so back-to-back
///    packets keep their exact spacing).
/// 4. **Loss** ([`Fate::Lost`]): the packet still occupied the transmitter.
/// 5. **Propagation**: `delay` plus a uniform random `0..=jitter`. Jitter never reorders:
///    a packet never arrives before one sent earlier in the same direction (unless that
///    one was deliberately reordered).
/// 6. **Corruption** ([`Fate::Corrupted`]): one uniformly chosen bit is flipped.
/// 7. **Reordering** ([`Fate::Reordered`]): the packet is held back `reorder_delay`
///    longer, and packets behind it may overtake it.
/// 8. **Duplication**: an intact copy arrives too, right behind the packet, and is
///    reported separately as [`Fate::Duplicated`].
///
/// Times have microsecond resolution: sub-microsecond parts of durations are dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Maximum extra random delay, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Serialization rate in bits per second; `None` for infinitely fast.
    pub rate: Option<u64>,
    /// Packets that may wait for serialization; beyond that, tail drop. `None` for an
    /// unbounded queue. Only meaningful with a `rate`.
    pub queue_limit: Option<usize>,
    /// Chance that a packet is lost.
    pub loss: f64,
    /// Chance that a packet is held back by `reorder_delay` extra.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Chance that a packet is delivered twice.
    pub duplicate: f64,
    /// Chance that one random bit of a packet is flipped.
    pub corrupt: f64,
    /// Largest packet, in bytes, that the link carries; larger ones are dropped and counted.
    pub mtu: usize,
    /// ECN marking (RFC 3168 5): an ECN-capable packet that arrives with at least this
    /// many packets waiting for serialization is marked Congestion Experienced (a step
    /// threshold, as DCTCP's K). `None`: no marking. Only meaningful with a `rate`.
    pub ce_threshold: Option<usize>,
}

impl LinkConfig {
    /// A perfect link with a fixed one-way `delay`: no jitter, no rate limit, no loss,
    /// no reordering, duplication or corruption, and an Ethernet MTU of 1500 bytes.
    pub fn ideal(delay: Duration) -> Self {
        LinkConfig {
            delay,
            jitter: Duration::ZERO,
            rate: None,
            queue_limit: None,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            mtu: 1500,
            ce_threshold: None,
        }
    }

    /// Sets the one-way delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the maximum jitter.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the serialization rate in bits per second (0 is treated as no limit).
    pub fn with_rate(mut self, bits_per_second: u64) -> Self {
        self.rate = (bits_per_second > 0).then_some(bits_per_second);
        self
    }

    /// Sets how many packets may wait for serialization.
    pub fn with_queue_limit(mut self, packets: usize) -> Self {
        self.queue_limit = Some(packets);
        self
    }

    /// Sets the loss probability.
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets the reordering probability and how long reordered packets are held back.
    pub fn with_reorder(mut self, p: f64, delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }

    /// Sets the duplication probability.
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the corruption probability.
    pub fn with_corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the MTU in bytes.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Marks ECN-capable packets CE once `packets` wait in the queue.
    pub fn with_ce_threshold(mut self, packets: usize) -> Self {
        self.ce_threshold = Some(packets);
        self
    }
}

impl Default for LinkConfig {
    /// An ideal link with no delay.
    fn default() -> Self {
        LinkConfig::ideal(Duration::ZERO)
    }
}

/// What happened to a packet put on a link (or offered to the network, for
/// [`Fate::NoRoute`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fate {
    /// It will be delivered intact.
    Delivered,
    /// It was lost on the link.
    Lost,
    /// It was tail-dropped: the transmit queue was full.
    QueueFull,
    /// It exceeded the link's MTU.
    TooBig,
    /// No node owns its destination, no link leads there, or its IP header is malformed.
    NoRoute,
    /// It is the extra copy of a duplicated packet, and will be delivered.
    Duplicated,
    /// It will be delivered with one bit flipped.
    Corrupted,
    /// It will be delivered late, after packets sent behind it.
    Reordered,
}

impl Fate {
    /// Whether the packet (or copy) will reach the other end.
    pub fn is_delivered(self) -> bool {
        matches!(
            self,
            Fate::Delivered | Fate::Duplicated | Fate::Corrupted | Fate::Reordered
        )
    }

    /// A short lowercase name, as used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Lost => "lost",
            Fate::QueueFull => "queue-full",
            Fate::TooBig => "too-big",
            Fate::NoRoute => "no-route",
            Fate::Duplicated => "duplicated",
            Fate::Corrupted => "corrupted",
            Fate::Reordered => "reordered",
        }
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters for one direction of a link.
///
/// Every packet offered is counted in `sent` and `bytes`, then in at most one of
/// `too_big`, `queue_drops` and `lost`, or else delivered when it arrives. `duplicated`,
/// `corrupted` and `reordered` count impairments of packets that are delivered;
/// `delivered` counts arrivals, duplicate copies included, so that at any time
/// `sent + duplicated == delivered + lost + queue_drops + too_big + in flight`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered to this direction.
    pub sent: u64,
    /// Packets handed to the receiving node (duplicate copies included).
    pub delivered: u64,
    /// Packets lost.
    pub lost: u64,
    /// Packets tail-dropped because the queue was full.
    pub queue_drops: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets delivered with a flipped bit.
    pub corrupted: u64,
    /// Packets held back so that later ones overtake them.
    pub reordered: u64,
    /// Packets dropped for exceeding the MTU.
    pub too_big: u64,
    /// ECN-capable packets marked Congestion Experienced (see
    /// [`LinkConfig::ce_threshold`]).
    pub ce_marked: u64,
    /// Bytes offered to this direction (the sum of the lengths counted in `sent`).
    pub bytes: u64,
}

/// The decision taken for one packet as it enters a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The fate of the packet itself.
    pub fate: Fate,
    /// When it arrives, if it does.
    pub arrival: Option<Instant>,
    /// The byte index and bit mask to flip, if corrupted.
    pub flip: Option<(usize, u8)>,
    /// When the duplicate copy arrives, if there is one.
    pub duplicate: Option<Instant>,
    /// The queue is past the CE threshold: an ECN-capable packet is marked.
    pub mark_ce: bool,
}

impl Admission {
    fn dropped(fate: Fate) -> Self {
        Admission {
            fate,
            arrival: None,
            flip: None,
            duplicate: None,
            mark_ce: false,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The live state of one direction of a link.
#[derive(Debug)]
pub(crate) struct Direction {
    pub config: LinkConfig,
    pub stats: LinkStats,
    rng: Rng,
    /// When the transmitter finishes its last accepted packet, in nanoseconds.
    tx_free_ns: u64,
    /// Serialization start times (ns) of accepted packets that may still be waiting.
    waiting: VecDeque<u64>,
    /// The latest arrival scheduled in FIFO order; jitter never reorders before it.
    fifo_arrival: Instant,
}

impl Direction {
    pub fn new(config: LinkConfig, rng: Rng) -> Self {
        Direction {
            config,
            stats: LinkStats::default(),
            rng,
            tx_free_ns: 0,
            waiting: VecDeque::new(),
            fifo_arrival: Instant::ZERO,
        }
    }

    /// Decides the fate of a packet of `len` bytes entering at `now`, and counts it.
    pub fn admit(&mut self, now: Instant, len: usize) -> Admission {
        self.stats.sent += 1;
        self.stats.bytes += len as u64;
        if len > self.config.mtu {
            self.stats.too_big += 1;
            return Admission::dropped(Fate::TooBig);
        }

        let now_ns = now.total_micros().saturating_mul(1000);
        let mut mark_ce = false;
        let departure = match self.config.rate {
            None => now,
            Some(rate) => {
                while self.waiting.front().is_some_and(|&start| start <= now_ns) {
                    self.waiting.pop_front();
                }
                if self
                    .config
                    .queue_limit
                    .is_some_and(|limit| self.waiting.len() >= limit)
                {
                    self.stats.queue_drops += 1;
                    return Admission::dropped(Fate::QueueFull);
                }
                mark_ce = self
                    .config
                    .ce_threshold
                    .is_some_and(|k| self.waiting.len() >= k);
                let start = self.tx_free_ns.max(now_ns);
                let bits = len as u128 * 8 * 1_000_000_000;
                let serialize = bits.div_ceil(u128::from(rate));
                let finish = start.saturating_add(u64::try_from(serialize).unwrap_or(u64::MAX));
                self.tx_free_ns = finish;
                if start > now_ns {
                    self.waiting.push_back(start);
                }
                Instant::from_micros(finish.div_ceil(1000))
            }
        };

        if self.rng.chance(self.config.loss) {
            self.stats.lost += 1;
            return Admission::dropped(Fate::Lost);
        }

        let jitter = micros(self.config.jitter);
        let extra = if jitter > 0 {
            self.rng.below(jitter.saturating_add(1))
        } else {
            0
        };
        let propagated = Instant::from_micros(departure.total_micros().saturating_add(extra))
            + self.config.delay;
        let base = propagated.max(self.fifo_arrival);

        let mut fate = Fate::Delivered;
        let mut flip = None;
        if len > 0 && self.rng.chance(self.config.corrupt) {
            let bit = self.rng.below(len as u64 * 8);
            flip = Some(((bit / 8) as usize, 1u8 << (bit % 8)));
            self.stats.corrupted += 1;
            fate = Fate::Corrupted;
        }
        let arrival = if self.rng.chance(self.config.reorder) {
            self.stats.reordered += 1;
            if fate == Fate::Delivered {
                fate = Fate::Reordered;
            }
            base + self.config.reorder_delay
        } else {
            self.fifo_arrival = base;
            base
        };
        let duplicate = if self.rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            Some(base)
        } else {
            None
        };
        Admission {
            fate,
            arrival: Some(arrival),
            flip,
            duplicate,
            mark_ce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(config: LinkConfig) -> Direction {
        Direction::new(config, Rng::new(1))
    }

    #[test]
    fn ideal_link_adds_exactly_the_delay() {
        let mut d = dir(LinkConfig::ideal(Duration::from_millis(10)));
        let a = d.admit(Instant::from_millis(5), 100);
        assert_eq!(a.fate, Fate::Delivered);
        assert_eq!(a.arrival, Some(Instant::from_millis(15)));
        assert_eq!(d.stats.sent, 1);
        assert_eq!(d.stats.bytes, 100);
    }

    #[test]
    fn serialization_spaces_packets_and_queue_tail_drops() {
        // 1000 bytes at 8 Mbit/s: exactly 1 ms each.
        let cfg = LinkConfig::ideal(Duration::ZERO)
            .with_rate(8_000_000)
            .with_queue_limit(2);
        let mut d = dir(cfg);
        let now = Instant::ZERO;
        let arrivals: Vec<_> = (0..4).map(|_| d.admit(now, 1000)).collect();
        assert_eq!(arrivals[0].arrival, Some(Instant::from_millis(1)));
        assert_eq!(arrivals[1].arrival, Some(Instant::from_millis(2)));
        assert_eq!(arrivals[2].arrival, Some(Instant::from_millis(3)));
        assert_eq!(arrivals[3].fate, Fate::QueueFull);
        assert_eq!(d.stats.queue_drops, 1);
        // Once the first waiting packet starts, there is room again.
        let later = d.admit(Instant::from_millis(1), 1000);
        assert_eq!(later.arrival, Some(Instant::from_millis(4)));
    }

    #[test]
    fn jitter_never_reorders() {
        let cfg = LinkConfig::ideal(Duration::from_millis(1)).with_jitter(Duration::from_millis(5));
        let mut d = dir(cfg);
        let mut last = Instant::ZERO;
        for i in 0..1000 {
            let a = d.admit(Instant::from_micros(i * 10), 60).arrival.unwrap();
            assert!(a >= last);
            assert!(a >= Instant::from_micros(i * 10 + 1000));
            last = a;
        }
    }

    #[test]
    fn mtu_is_enforced() {
        let mut d = dir(LinkConfig::ideal(Duration::ZERO).with_mtu(576));
        assert_eq!(d.admit(Instant::ZERO, 577).fate, Fate::TooBig);
        assert_eq!(d.admit(Instant::ZERO, 576).fate, Fate::Delivered);
        assert_eq!(d.stats.too_big, 1);
    }
}
