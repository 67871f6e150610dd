//! The shared state between the driver task and the sockets, and [`Net`], the handle a
//! program creates sockets with.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use synack::{Config, ConfigError, Instant, SocketHandle, SocketInfo, Stack, Stats};
use synack_device::Device;

use crate::driver::Driver;

/// The tasks waiting on one socket: a reader (or an accept), a writer (or a connect).
#[derive(Default)]
pub(crate) struct Waiters {
    pub read: Option<Waker>,
    pub write: Option<Waker>,
}

/// What the driver and the sockets share, behind one lock held only for engine calls.
pub(crate) struct Inner {
    pub stack: Stack,
    /// The origin of the engine's clock.
    pub start: tokio::time::Instant,
    /// The driver task, to wake after a socket call.
    pub driver: Option<Waker>,
    pub waiters: HashMap<SocketHandle, Waiters>,
    /// Why the driver stopped (a device error), reported to every later call.
    pub failed: Option<(io::ErrorKind, String)>,
    /// How many times the driver task has run.
    pub driver_polls: u64,
}

impl Inner {
    /// The engine's time now.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// The tokio instant of an engine instant.
    pub fn tokio_instant(&self, at: Instant) -> tokio::time::Instant {
        self.start + Duration::from_micros(at.total_micros())
    }

    /// Brings the engine's clock to now (running timers that are due), so that a socket
    /// call happens at the time it is made.
    pub fn catch_up(&mut self) {
        let now = self.now();
        self.stack.handle_timeout(now);
    }

    /// The error for calls once the driver has stopped.
    pub fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, why)) => Err(io::Error::new(
                *kind,
                format!("synack's driver task stopped: {why}"),
            )),
        }
    }

    /// Registers `waker` as socket `h`'s reader.
    pub fn wait_read(&mut self, h: SocketHandle, waker: &Waker) {
        let w = self.waiters.entry(h).or_default();
        if !w.read.as_ref().is_some_and(|x| x.will_wake(waker)) {
            w.read = Some(waker.clone());
        }
    }

    /// Registers `waker` as socket `h`'s writer.
    pub fn wait_write(&mut self, h: SocketHandle, waker: &Waker) {
        let w = self.waiters.entry(h).or_default();
        if !w.write.as_ref().is_some_and(|x| x.will_wake(waker)) {
            w.write = Some(waker.clone());
        }
    }
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the engine as it was between two calls.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running synack instance: the engine, owned by a driver task on the tokio runtime
/// together with its device. Cloning gives another handle to the same instance.
///
/// Sockets are made from it ([`TcpListener::bind`](crate::TcpListener::bind),
/// [`TcpStream::connect`](crate::TcpStream::connect), [`TcpSocket`](crate::TcpSocket)).
/// The driver sleeps until a datagram arrives, a socket call needs it or the engine's
/// next deadline comes. When every handle and socket is gone, it runs until the
/// connections still closing have finished (TIME-WAIT aside), then ends.
#[derive(Clone)]
pub struct Net {
    pub(crate) shared: Arc<Shared>,
    /// Closed (its sender dropped) when the driver task ends.
    ended: tokio::sync::watch::Receiver<()>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("Net")
            .field("addresses", &inner.stack.addresses())
            .finish_non_exhaustive()
    }
}

/// Configures and starts a [`Net`].
#[derive(Debug, Clone, Default)]
pub struct NetBuilder {
    config: Config,
    addresses: Vec<IpAddr>,
}

impl NetBuilder {
    /// Adds one of synack's own addresses (those it answers for and binds to).
    pub fn address(mut self, addr: IpAddr) -> NetBuilder {
        self.addresses.push(addr);
        self
    }

    /// Sets a knob by its Linux sysctl name (`net.ipv4.tcp_syncookies`, or just
    /// `tcp_syncookies`) from the text `sysctl -w` takes; an unknown name or a bad value
    /// is an error that says what is expected.
    pub fn sysctl(mut self, name: &str, value: &str) -> Result<NetBuilder, ConfigError> {
        self.config.set_sysctl(name, value)?;
        Ok(self)
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> NetBuilder {
        self.config = config;
        self
    }

    /// Starts the driver task on the current tokio runtime (which needs its time driver
    /// enabled, and its I/O driver for a TUN device) with `device`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<D: Device + 'static>(self, device: D) -> Net {
        let mut stack = Stack::new(self.config);
        for a in self.addresses {
            stack.add_address(a);
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                stack,
                start: tokio::time::Instant::now(),
                driver: None,
                waiters: HashMap::new(),
                failed: None,
                driver_polls: 0,
            }),
        });
        let (ended_tx, ended) = tokio::sync::watch::channel(());
        tokio::spawn(Driver::new(shared.clone(), device, ended_tx));
        Net { shared, ended }
    }
}

impl Net {
    /// A builder with Linux's defaults and no address.
    pub fn builder() -> NetBuilder {
        NetBuilder::default()
    }

    /// Runs `f` on the engine at the current time, then wakes the driver so that what
    /// the call queued is sent.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> io::Result<R>) -> io::Result<R> {
        let mut inner = self.shared.lock();
        inner.check()?;
        inner.catch_up();
        let r = f(&mut inner);
        let driver = inner.driver.clone();
        drop(inner);
        if let Some(d) = driver {
            d.wake();
        }
        r
    }

    /// The counters (`netstat -s`).
    pub fn stats(&self) -> Stats {
        self.shared.lock().stack.stats().clone()
    }

    /// Every socket, connection, half-open request and TIME-WAIT entry (`ss -tan`).
    pub fn sockets(&self) -> Vec<SocketInfo> {
        self.shared.lock().stack.sockets()
    }

    /// Changes a knob at run time by its sysctl name, as `sysctl -w` does.
    pub fn sysctl(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        self.shared
            .lock()
            .stack
            .config_mut()
            .set_sysctl(name, value)
    }

    /// How many times the driver task has run so far (a diagnostic: it runs when a
    /// datagram arrives, a socket call needs it or a deadline comes, never on its own).
    pub fn driver_polls(&self) -> u64 {
        self.shared.lock().driver_polls
    }

    /// synack's own addresses.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared.lock().stack.addresses().to_vec()
    }

    /// Drops this handle and waits until the driver task has ended: once every handle
    /// and socket of the instance is gone and every connection has finished closing
    /// (TIME-WAIT aside), or the driver stopped on a device error. A program calls it
    /// before it exits, so that its last FINs and ACKs reach the peer. It waits as long
    /// as other handles or sockets live, and as long as a peer leaves a close
    /// unanswered (up to `tcp_orphan_retries`): bound it with `tokio::time::timeout`.
    pub async fn finish(self) {
        let mut ended = self.ended.clone();
        drop(self);
        // The driver never sends: `changed` fails when it drops the sender, at its end.
        while ended.changed().await.is_ok() {}
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The last handle: the driver finishes what is closing, then ends.
        if Arc::strong_count(&self.shared) <= 2 {
            let driver = self.shared.lock().driver.clone();
            if let Some(d) = driver {
                d.wake();
            }
        }
    }
}
