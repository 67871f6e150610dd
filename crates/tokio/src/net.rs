//! The shared state between the driver task and the sockets, and [`Net`], the handle a
//! program creates sockets with.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use synack::{Config, ConfigError, Instant, PortSteering, SocketHandle, SocketInfo, Stack, Stats};
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

    /// Brings the engine's clock to now and runs the timers that are due: the driver,
    /// once it has read what waits in the device.
    pub fn catch_up(&mut self) {
        let now = self.now();
        self.stack.handle_timeout(now);
    }

    /// Brings the engine's clock to now without running timers, so that a socket call
    /// happens at the time it is made: a timer due meanwhile runs when the driver next
    /// passes, after the datagrams that wait in the device (an ACK there cancels a
    /// retransmission that running the timer here would send).
    pub fn tick(&mut self) {
        let now = self.now();
        self.stack.advance_clock(now);
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
/// together with its device; or, from [`NetBuilder::spawn_queues`], several engines,
/// one per queue of a multi-queue device, each driven by a thread of its own. Cloning
/// gives another handle to the same instance.
///
/// Sockets are made from it ([`TcpListener::bind`](crate::TcpListener::bind),
/// [`TcpStream::connect`](crate::TcpStream::connect), [`TcpSocket`](crate::TcpSocket)).
/// The driver sleeps until a datagram arrives, a socket call needs it or the engine's
/// next deadline comes. When every handle and socket is gone, it runs until the
/// connections still closing have finished (TIME-WAIT aside), then ends.
///
/// With several engines, the instance is used as one: a listener listens on every
/// engine and accepts from all, a connection is made by one engine (in turn) from an
/// ephemeral port whose segments the device steers to that engine's queue
/// ([`synack::PortSteering`]), and [`stats`](Net::stats) and [`sockets`](Net::sockets)
/// add up every engine's.
#[derive(Clone)]
pub struct Net {
    pub(crate) shared: Arc<Shared>,
    /// Closed (its sender dropped) when the driver task ends.
    ended: tokio::sync::watch::Receiver<()>,
    /// Every engine of a multi-queue instance (`shared` is one of them).
    group: Option<Arc<Group>>,
    /// The runtime the engine's driver runs on.
    runtime: tokio::runtime::Handle,
}

/// The engines of a multi-queue instance. It holds each engine, so that no driver
/// ends while any handle of the instance lives; its drop wakes them all.
struct Group {
    engines: Vec<Engine>,
    /// The engine of the next connect() without a bound port.
    next: AtomicUsize,
}

/// One engine of a group: its state, its end, its thread's runtime.
type Engine = (
    Arc<Shared>,
    tokio::sync::watch::Receiver<()>,
    tokio::runtime::Handle,
);

impl Drop for Group {
    fn drop(&mut self) {
        let engines = std::mem::take(&mut self.engines);
        let drivers: Vec<Waker> = engines
            .iter()
            .filter_map(|(s, _, _)| s.lock().driver.clone())
            .collect();
        // The drivers see themselves alone once these references are gone.
        drop(engines);
        drivers.into_iter().for_each(Waker::wake);
    }
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
        let shared = self.engine(None);
        let (ended_tx, ended) = tokio::sync::watch::channel(());
        tokio::spawn(Driver::new(shared.clone(), device, ended_tx));
        Net {
            shared,
            ended,
            group: None,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Starts one engine per queue of a multi-queue device, each with its driver on a
    /// thread of its own (a current-thread tokio runtime, named `synack-qN`): `opens`
    /// opens queue *i*'s device on its thread (a [`TunQueue`]'s
    /// [`open`](synack_device::TunQueue::open)). Engine *i* of *n* picks ephemeral
    /// ports the device steers to queue *i* ([`synack::PortSteering`]), so the device
    /// must hand a segment between ports *a* and *b* to queue
    /// [`PortSteering::queue_of`]`(a, b)`, as
    /// [`TunDevice::create_queues`](synack_device::TunDevice::create_queues) sets it
    /// up. The error of the first queue that fails to open, or of a thread that cannot
    /// start; no engine runs then.
    ///
    /// [`TunQueue`]: synack_device::TunQueue
    pub fn spawn_queues<D, F>(self, opens: Vec<F>) -> io::Result<Net>
    where
        D: Device + 'static,
        F: FnOnce() -> io::Result<D> + Send + 'static,
    {
        let n = opens.len();
        let queues = u16::try_from(n)
            .ok()
            .filter(|&q| q > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "give 1 to 65535 queues"))?;
        let mut engines = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(n);
        let mut opened = Vec::with_capacity(n);
        for (i, open) in opens.into_iter().enumerate() {
            let steering = PortSteering::new(queues, i as u16).filter(|_| queues > 1);
            let shared = self.engine(steering);
            let (ended_tx, ended) = tokio::sync::watch::channel(());
            let (opened_tx, opened_rx) =
                std::sync::mpsc::channel::<io::Result<tokio::runtime::Handle>>();
            let (start_tx, start_rx) = std::sync::mpsc::channel::<bool>();
            let driver_shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("synack-q{i}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    let device = match rt.block_on(async { open() }) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = opened_tx.send(Ok(rt.handle().clone()));
                    if start_rx.recv() == Ok(true) {
                        rt.block_on(async move {
                            Driver::new(driver_shared, device, ended_tx).await;
                        });
                    }
                });
            if let Err(e) = thread {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot start the thread of queue {i}: {e}"),
                ));
            }
            engines.push((shared, ended));
            starts.push(start_tx);
            opened.push(opened_rx);
        }
        let mut handles = Vec::with_capacity(n);
        for (i, rx) in opened.into_iter().enumerate() {
            let r = rx.recv().unwrap_or_else(|_| {
                Err(io::Error::other(format!("the thread of queue {i} ended")))
            });
            match r {
                Ok(h) => handles.push(h),
                // Dropping `starts` stops every thread that opened its queue.
                Err(e) => return Err(io::Error::new(e.kind(), format!("queue {i}: {e}"))),
            }
        }
        let engines: Vec<Engine> = engines
            .into_iter()
            .zip(handles)
            .map(|((s, e), h)| (s, e, h))
            .collect();
        for s in starts {
            let _ = s.send(true);
        }
        let (shared, ended, runtime) = engines[0].clone();
        Ok(Net {
            shared,
            ended,
            runtime,
            group: Some(Arc::new(Group {
                engines,
                next: AtomicUsize::new(0),
            })),
        })
    }

    /// A new engine's shared state.
    fn engine(&self, steering: Option<PortSteering>) -> Arc<Shared> {
        let mut stack = Stack::new(self.config.clone());
        for &a in &self.addresses {
            stack.add_address(a);
        }
        stack.set_port_steering(steering);
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                stack,
                start: tokio::time::Instant::now(),
                driver: None,
                waiters: HashMap::new(),
                failed: None,
                driver_polls: 0,
            }),
        })
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
        inner.tick();
        let r = f(&mut inner);
        let driver = inner.driver.clone();
        drop(inner);
        if let Some(d) = driver {
            d.wake();
        }
        r
    }

    /// The counters (`netstat -s`), every engine's added up.
    pub fn stats(&self) -> Stats {
        let mut engines = self.engines().into_iter();
        let mut total = engines.next().map(|n| n.engine_stats()).unwrap_or_default();
        for n in engines {
            total.add(&n.engine_stats());
        }
        total
    }

    /// This engine's own counters (of a multi-queue instance: the one of
    /// [`engines`](Net::engines) this handle is).
    pub fn engine_stats(&self) -> Stats {
        self.shared.lock().stack.stats().clone()
    }

    /// The pages of payload ring memory charged against `tcp_mem`, summed over the
    /// engines (each engine keeps its own budget; `/proc/net/sockstat`'s `mem`).
    pub fn mem_pages(&self) -> u64 {
        self.engines()
            .iter()
            .map(|n| n.shared.lock().stack.mem_pages())
            .sum()
    }

    /// Every socket, connection, half-open request and TIME-WAIT entry (`ss -tan`), of
    /// every engine.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        self.engines()
            .iter()
            .flat_map(|n| n.engine_sockets())
            .collect()
    }

    /// This engine's own sockets (of a multi-queue instance: the one of
    /// [`engines`](Net::engines) this handle is).
    pub fn engine_sockets(&self) -> Vec<SocketInfo> {
        self.shared.lock().stack.sockets()
    }

    /// Changes a knob at run time by its sysctl name, as `sysctl -w` does (on every
    /// engine).
    pub fn sysctl(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        for n in self.engines() {
            n.shared.lock().stack.config_mut().set_sysctl(name, value)?;
        }
        Ok(())
    }

    /// Adds or replaces the route metrics for destinations in `prefix` on every engine
    /// (`ip route replace PREFIX ... advmss N mtu [lock] N initcwnd N`; see
    /// [`synack::Stack::set_route`]): connections opened to them start from the metrics,
    /// open ones take a new MTU once they have sent again. Impossible metrics are an
    /// `InvalidInput` error (EINVAL).
    pub fn set_route(
        &self,
        prefix: synack::Prefix,
        metrics: synack::RouteMetrics,
    ) -> io::Result<()> {
        for n in self.engines() {
            n.shared
                .lock()
                .stack
                .set_route(prefix, metrics)
                .map_err(io::Error::from)?;
        }
        Ok(())
    }

    /// Removes the route for exactly `prefix` on every engine (`ip route del`);
    /// whether there was one.
    pub fn remove_route(&self, prefix: synack::Prefix) -> bool {
        let mut removed = false;
        for n in self.engines() {
            removed |= n.shared.lock().stack.remove_route(prefix);
        }
        removed
    }

    /// How many times the driver task has run so far (a diagnostic: it runs when a
    /// datagram arrives, a socket call needs it or a deadline comes, never on its own);
    /// with several engines, their sum.
    pub fn driver_polls(&self) -> u64 {
        self.engines()
            .iter()
            .map(|n| n.shared.lock().driver_polls)
            .sum()
    }

    /// The tokio runtime that drives this engine: with
    /// [`NetBuilder::spawn_queues`], the current-thread runtime of the engine's own
    /// thread, where a task spawned runs beside the engine's driver (a connection's
    /// work and its engine's on one core, with no wake-up crossing threads); otherwise
    /// the runtime [`NetBuilder::spawn`] was called on. A stream's
    /// [`TcpStream::net`](crate::TcpStream::net) is its engine's handle.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// How many engines the instance has (one per queue of its device).
    pub fn queues(&self) -> usize {
        self.group.as_ref().map_or(1, |g| g.engines.len())
    }

    /// Every engine of the instance as a handle of its own (just this one unless
    /// multi-queue), for [`engine_stats`](Net::engine_stats) and
    /// [`engine_sockets`](Net::engine_sockets); otherwise each is a handle of the
    /// whole instance.
    pub fn engines(&self) -> Vec<Net> {
        match &self.group {
            None => vec![self.clone()],
            Some(g) => g
                .engines
                .iter()
                .map(|(shared, ended, runtime)| Net {
                    shared: shared.clone(),
                    ended: ended.clone(),
                    group: Some(g.clone()),
                    runtime: runtime.clone(),
                })
                .collect(),
        }
    }

    /// The engine for a connection from local port `local` (0: not chosen yet) to
    /// remote port `remote`: the one whose queue the device steers the connection to,
    /// or, for an ephemeral port, the next in turn (it picks a port of its own queue).
    pub(crate) fn engine_for(&self, local: u16, remote: u16) -> usize {
        let Some(g) = &self.group else {
            return 0;
        };
        let n = g.engines.len();
        if local != 0 {
            let q = PortSteering::new(n as u16, 0).map_or(0, |s| s.queue_of(local, remote));
            return usize::from(q);
        }
        g.next.fetch_add(1, Ordering::Relaxed) % n
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
        let ended: Vec<_> = match &self.group {
            None => vec![self.ended.clone()],
            Some(g) => g.engines.iter().map(|(_, e, _)| e.clone()).collect(),
        };
        drop(self);
        // The driver never sends: `changed` fails when it drops the sender, at its end.
        for mut e in ended {
            while e.changed().await.is_ok() {}
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The last handle: the driver finishes what is closing, then ends. (A
        // multi-queue instance's group wakes its drivers when it goes.)
        if self.group.is_none() && Arc::strong_count(&self.shared) <= 2 {
            let driver = self.shared.lock().driver.clone();
            if let Some(d) = driver {
                d.wake();
            }
        }
    }
}
