//! Time as the engine sees it: an instant on a caller-supplied clock.
//!
//! The engine never reads a clock. Every input carries `now`, an [`Instant`] counted in
//! microseconds from an arbitrary epoch chosen by the driver (the simulator starts at zero,
//! the tokio driver at the moment it starts). Durations are `core::time::Duration`.

use core::fmt;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in microseconds since the driver's epoch.
///
/// The latest instant is [`Instant::MAX`], one microsecond short of `u64::MAX`: the
/// count is kept plus one in a `NonZeroU64`, so that an `Option<Instant>` takes eight
/// bytes, not sixteen (issue 9's memory budget: connections keep several).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Microseconds since the epoch, plus one.
    plus_one: NonZeroU64,
}

impl Default for Instant {
    /// The epoch.
    fn default() -> Instant {
        Instant::ZERO
    }
}

impl Instant {
    /// The driver's epoch.
    pub const ZERO: Instant = Instant::from_micros(0);

    /// The latest instant (`u64::MAX - 1` microseconds); later ones saturate to it.
    pub const MAX: Instant = Instant::from_micros(u64::MAX);

    /// An instant `micros` microseconds after the epoch (at most [`Instant::MAX`]).
    pub const fn from_micros(micros: u64) -> Instant {
        match NonZeroU64::new(micros.saturating_add(1)) {
            Some(plus_one) => Instant { plus_one },
            None => unreachable!(),
        }
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant::from_micros(millis * 1000)
    }

    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Instant {
        Instant::from_micros(secs * 1_000_000)
    }

    /// Microseconds since the epoch.
    pub const fn total_micros(self) -> u64 {
        self.plus_one.get() - 1
    }

    /// Milliseconds since the epoch, rounded down.
    pub const fn total_millis(self) -> u64 {
        self.total_micros() / 1000
    }

    /// The time elapsed since `earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.total_micros().saturating_sub(earlier.total_micros()))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(self.total_micros().saturating_add(micros))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(self.total_micros().saturating_sub(micros))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// Seconds with microsecond precision, like tcpdump's relative timestamps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.total_micros() / 1_000_000,
            self.total_micros() % 1_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_displays() {
        let t = Instant::from_millis(1500);
        assert_eq!((t + Duration::from_millis(500)).total_millis(), 2000);
        assert_eq!(t - Duration::from_secs(5), Instant::ZERO);
        assert_eq!(Instant::from_secs(1) - t, Duration::ZERO);
        assert_eq!(t.to_string(), "1.500000");
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::ZERO.total_micros(), 0);
        // The far end saturates one microsecond short of u64::MAX.
        assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX.total_micros(), u64::MAX - 1);
        assert_eq!(t + Duration::MAX, Instant::MAX);
        assert!(Instant::from_micros(u64::MAX - 2) < Instant::MAX);
    }

    #[test]
    fn an_optional_instant_is_one_word() {
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
    }
}
