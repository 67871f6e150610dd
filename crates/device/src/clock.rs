//! Clocks for middleware that holds datagrams until a time: the tokio clock for real
//! use, a manual clock for tests that step time themselves.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A source of time, counted from the clock's own origin, that can wake a task at a
/// deadline. Each clone has its own pending wake-up (one per [`poll_at`](Clock::poll_at)
/// caller), on the same time line.
pub trait Clock: Clone + Send + 'static {
    /// The time now, since the clock's origin.
    fn now(&self) -> Duration;

    /// `Ready` once `now() >= deadline`; otherwise `Pending`, with `cx`'s task woken at
    /// the deadline. A later call replaces this clone's earlier deadline.
    fn poll_at(&mut self, cx: &mut Context<'_>, deadline: Duration) -> Poll<()>;
}

/// Tokio's clock (`tokio::time`, so a runtime with paused time steps it too). Needs a
/// tokio runtime with time enabled for [`poll_at`](Clock::poll_at).
pub struct TokioClock {
    origin: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> TokioClock {
        TokioClock {
            origin: tokio::time::Instant::now(),
            sleep: None,
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clone for TokioClock {
    /// The same origin, without the pending wake-up.
    fn clone(&self) -> Self {
        TokioClock {
            origin: self.origin,
            sleep: None,
        }
    }
}

impl fmt::Debug for TokioClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn poll_at(&mut self, cx: &mut Context<'_>, deadline: Duration) -> Poll<()> {
        if self.now() >= deadline {
            return Poll::Ready(());
        }
        let at = self.origin + deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        sleep.as_mut().poll(cx)
    }
}

/// A clock that moves only when told ([`advance`](ManualClock::advance)), waking the
/// tasks whose deadlines it passes. Clones share the time line.
#[derive(Default)]
pub struct ManualClock {
    shared: Arc<Mutex<Manual>>,
    /// Which clone this is (each has its own pending wake-up).
    id: usize,
}

impl Clone for ManualClock {
    /// The same time line, with a wake-up slot of its own.
    fn clone(&self) -> Self {
        let mut m = self.shared.lock().expect("clock lock");
        m.clones += 1;
        ManualClock {
            shared: self.shared.clone(),
            id: m.clones,
        }
    }
}

#[derive(Default)]
struct Manual {
    now: Duration,
    /// Clones made so far (ids of new clones).
    clones: usize,
    /// Pending wake-ups: (deadline, waker, the clone that asked).
    waiters: Vec<(Duration, Waker, usize)>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves time forward by `d`, waking every task whose deadline is reached.
    pub fn advance(&self, d: Duration) {
        let due: Vec<Waker> = {
            let mut m = self.shared.lock().expect("clock lock");
            m.now += d;
            let now = m.now;
            let (due, rest): (Vec<_>, Vec<_>) = m.waiters.drain(..).partition(|w| w.0 <= now);
            m.waiters = rest;
            due.into_iter().map(|w| w.1).collect()
        };
        for w in due {
            w.wake();
        }
    }

    /// The earliest deadline a task waits for, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        let m = self.shared.lock().expect("clock lock");
        m.waiters.iter().map(|w| w.0).min()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.shared.lock().expect("clock lock").now
    }

    fn poll_at(&mut self, cx: &mut Context<'_>, deadline: Duration) -> Poll<()> {
        let key = self.id;
        let mut m = self.shared.lock().expect("clock lock");
        m.waiters.retain(|w| w.2 != key);
        if m.now >= deadline {
            return Poll::Ready(());
        }
        m.waiters.push((deadline, cx.waker().clone(), key));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn manual_clock_wakes_at_the_deadline_and_clones_share_time() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut clock = ManualClock::new();
        let other = clock.clone();
        assert!(clock
            .poll_at(&mut cx, Duration::from_millis(10))
            .is_pending());
        other.advance(Duration::from_millis(9));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        other.advance(Duration::from_millis(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(clock.now(), Duration::from_millis(10));
        assert!(clock.poll_at(&mut cx, Duration::from_millis(10)).is_ready());
    }
}
