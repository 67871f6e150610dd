//! A benchmark, not a test: synack over a TUN interface beside the kernel's TCP over a
//! veth pair, measured in the same run, printed as figures and ratios.
//!
//! ```text
//! cargo bench -p synack-tokio --bench tun -- [--bytes N] [--conns N] [--concurrency N] [--repeat N] [--streams N] [--txqueuelen N] [--no-offload] [--no-queues]
//! ```
//!
//! It needs root: it moves itself into a private network namespace (nothing is
//! configured outside it) holding synack's TUN interface (the kernel 10.77.0.1/24,
//! synack 10.77.0.2) and one end of a veth pair whose other end (10.88.0.2) is in a
//! second namespace, a thread's, where the kernel's reference servers run.
//!
//! - bulk synack -> kernel: synack connects to the kernel's sink and sends `--bytes`
//!   (default 256 MiB), half-closes, and reads the count the sink sends back;
//! - bulk kernel -> synack: the same, the kernel sending to synack's sink;
//! - connections per second: `--conns` (default 5,000) kernel connections to synack's
//!   server, `--concurrency` (default 4) at a time, each sending one request line and
//!   reading the reply to the server's FIN;
//! - the reference: the same bulk transfer and connections between the kernel's two
//!   namespaces over the veth pair.
//!
//! - the offload variant: the same synack workloads over a second TUN interface with
//!   segmentation and checksum offload (`TunConfig::offload`: the kernel 10.79.0.1/24,
//!   synack 10.79.0.2), GSO packets of up to 64 KB each way.
//!
//! - the two-queue variant: a third TUN interface with two queues, an engine and a
//!   driver thread on each (`TunDevice::create_queues`, `NetBuilder::spawn_queues`: the
//!   kernel 10.80.0.1/24, synack 10.80.0.2), beside the first interface (one queue)
//!   on the workloads that many connections share: `--streams` (default 4) bulk
//!   transfers at once, kernel to synack, and the connections per second.
//!
//! Each workload runs `--repeat` times (default 3), interleaved; the median is
//! reported. `--no-offload` leaves the offload variant out, `--no-queues` the
//! two-queue one.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::Instant;

use synack_device::{TunConfig, TunDevice};
use synack_tokio::Net;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const VETH_PEER: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 2);
const KERNEL_OFFLOAD: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const KERNEL_QUEUES: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);
const SYNACK_QUEUES: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 2);
const SYNACK_OFFLOAD: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const KERNEL_QUEUE: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 1);
const SYNACK_QUEUE: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 2);
const SINK: u16 = 9000;
const CPS: u16 = 9002;

#[path = "tun/probe.rs"]
pub(crate) mod probe;

pub use probe::Delta;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Bytes per bulk transfer.
    pub bytes: u64,
    /// Connections per connection-rate run.
    pub conns: usize,
    /// Connections in flight.
    pub concurrency: usize,
    /// Runs of each workload.
    pub repeat: usize,
    /// Also measure synack over a TUN interface with offload.
    pub offload: bool,
    /// Also measure synack over a two-queue TUN interface.
    pub queues: bool,
    /// Bulk transfers at once in the workloads that compare queue counts.
    pub streams: usize,
    /// The TUN interfaces' queue length (`TunConfig::txqueuelen`; 0: the kernel's 500).
    pub txqueuelen: u32,
}

/// One run of a workload: its figure and what happened meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// MiB/s or connections/s.
    pub value: f64,
    /// Retransmissions, drops and CPU time during the run.
    pub probe: Delta,
}

/// Every run of one workload, in the order they ran.
#[derive(Debug, Clone, Default)]
pub struct Figure(pub Vec<Sample>);

impl Figure {
    /// The median run's figure (of an even number, the upper middle one).
    pub fn median(&self) -> f64 {
        self.median_of(|s| s.value)
    }

    /// The median of `f` over the runs.
    pub fn median_of(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        let mut v: Vec<f64> = self.0.iter().map(f).collect();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// The lowest and the highest run's figure.
    pub fn spread(&self) -> (f64, f64) {
        let min = self.0.iter().map(|s| s.value).fold(f64::INFINITY, f64::min);
        let max = self
            .0
            .iter()
            .map(|s| s.value)
            .fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }
}

/// One queue beside two, on the workloads many connections share; each engine on a
/// thread of its own in both, so that its CPU time can be measured.
#[derive(Debug, Clone, Default)]
pub struct QueueFigures {
    /// MiB/s of `streams` kernel-to-synack transfers at once, one queue.
    pub parallel_one: Figure,
    /// The same over two queues.
    pub parallel_two: Figure,
    /// Connections per second, one queue.
    pub cps_one: Figure,
    /// Connections per second over two queues.
    pub cps_two: Figure,
}

/// synack's figures over one interface.
#[derive(Debug, Clone, Default)]
pub struct SynackFigures {
    /// MiB/s, synack to the kernel.
    pub to_kernel: Figure,
    /// MiB/s, the kernel to synack.
    pub from_kernel: Figure,
    /// Connections per second, kernel clients to synack's server.
    pub cps: Figure,
}

/// Every run of each workload.
#[derive(Debug, Clone)]
pub struct Report {
    /// The parameters.
    pub params: Params,
    /// MiB/s, synack to the kernel over the TUN.
    pub synack_to_kernel: Figure,
    /// MiB/s, the kernel to synack over the TUN.
    pub kernel_to_synack: Figure,
    /// MiB/s, the kernel to the kernel over the veth pair.
    pub kernel_to_kernel: Figure,
    /// Connections per second, kernel clients to synack's server.
    pub synack_cps: Figure,
    /// Connections per second, kernel clients to the kernel's server over the veth.
    pub kernel_cps: Figure,
    /// The same over a TUN interface with segmentation and checksum offload.
    pub offload: Option<SynackFigures>,
    /// One queue beside two.
    pub queues: Option<QueueFigures>,
}

/// A row of the tables: median, spread, and the ratio of medians to a reference.
fn row(what: &str, fig: &Figure, reference: &Figure, unit: &str) -> String {
    let (lo, hi) = fig.spread();
    format!(
        "{what:<28} {:>15} {:>17} {:>15} {:>7.3}\n",
        format!("{:.1} {unit}", fig.median()),
        format!("{lo:.0}-{hi:.0}"),
        format!("{:.1} {unit}", reference.median()),
        fig.median() / reference.median()
    )
}

impl Report {
    /// Every workload by name, with its reference.
    fn rows(&self) -> Vec<(String, &Figure, &Figure, &'static str)> {
        let mut rows = vec![
            (
                "bulk synack -> kernel".to_string(),
                &self.synack_to_kernel,
                &self.kernel_to_kernel,
                "MiB/s",
            ),
            (
                "bulk kernel -> synack".to_string(),
                &self.kernel_to_synack,
                &self.kernel_to_kernel,
                "MiB/s",
            ),
            (
                "connections/s (1 request)".to_string(),
                &self.synack_cps,
                &self.kernel_cps,
                "conn/s",
            ),
        ];
        if let Some(o) = &self.offload {
            rows.push((
                "offload: synack -> kernel".into(),
                &o.to_kernel,
                &self.kernel_to_kernel,
                "MiB/s",
            ));
            rows.push((
                "offload: kernel -> synack".into(),
                &o.from_kernel,
                &self.kernel_to_kernel,
                "MiB/s",
            ));
            rows.push((
                "offload: connections/s".into(),
                &o.cps,
                &self.kernel_cps,
                "conn/s",
            ));
        }
        rows
    }

    /// The tables: medians with their spread, ratios of medians, the runs that lost
    /// or retransmitted something, and the CPU time behind the queue comparison.
    pub fn render(&self) -> String {
        let p = self.params;
        let mut out = format!(
            "synack over TUN beside the kernel over veth, same run: {} MiB per transfer, {} \
             connections ({} at a time), median of {} interleaved runs (spread: lowest-highest), \
             TUN txqueuelen {}\n\n",
            p.bytes >> 20,
            p.conns,
            p.concurrency,
            p.repeat,
            if p.txqueuelen == 0 {
                "500 (the kernel's)".to_string()
            } else {
                p.txqueuelen.to_string()
            }
        );
        out += &format!(
            "{:<28} {:>15} {:>17} {:>15} {:>7}\n",
            "workload", "synack (TUN)", "spread", "kernel (veth)", "ratio"
        );
        for (what, fig, reference, unit) in self.rows() {
            out += &row(&what, fig, reference, unit);
        }
        let mut queue_rows = Vec::new();
        if let Some(q) = &self.queues {
            queue_rows.push((
                format!("{} streams kernel -> synack", p.streams),
                &q.parallel_two,
                &q.parallel_one,
                "MiB/s",
            ));
            queue_rows.push((
                "connections/s (1 request)".to_string(),
                &q.cps_two,
                &q.cps_one,
                "conn/s",
            ));
            out += &format!(
                "\n{:<28} {:>15} {:>17} {:>15} {:>7}\n",
                "workload", "two queues", "spread", "one queue", "ratio"
            );
            for (what, two, one, unit) in &queue_rows {
                out += &row(what, two, one, unit);
            }
            out += &self.render_cpu(q);
        }
        let mut troubled = String::new();
        let all =
            self.rows()
                .into_iter()
                .chain(queue_rows.iter().flat_map(|(what, two, one, unit)| {
                    [
                        (format!("{what}, two queues"), *two, *one, *unit),
                        (format!("{what}, one queue"), *one, *one, *unit),
                    ]
                }));
        for (what, fig, _, unit) in all {
            for (i, s) in fig.0.iter().enumerate() {
                if s.probe.troubled() {
                    troubled += &format!(
                        "  {what}, run {}: {:.1} {unit}; {}\n",
                        i + 1,
                        s.value,
                        s.probe.describe()
                    );
                }
            }
        }
        if troubled.is_empty() {
            out += "\nno run lost or retransmitted a segment\n";
        } else {
            out += "\nruns that lost or retransmitted segments:\n";
            out += &troubled;
        }
        out
    }

    /// Where the CPU went in the queue comparison's bulk runs (medians over the runs).
    fn render_cpu(&self, q: &QueueFigures) -> String {
        let n = probe::machine_cores() as f64;
        let mut out = format!(
            "\n{:<24} {:>8} {:>13} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "CPU (cores), parallel",
            "engines",
            "MiB/engine-s",
            "bench",
            "others",
            "idle",
            "in/out",
            "in/poll"
        );
        let engines = |s: &Sample| s.probe.engine_cpu.unwrap_or(f64::NAN) / s.probe.secs;
        let bench = |s: &Sample| s.probe.process_cpu / s.probe.secs;
        let idle = |s: &Sample| (1.0 - s.probe.machine_busy) * n;
        for (what, fig) in [
            ("one queue", &q.parallel_one),
            ("two queues", &q.parallel_two),
        ] {
            let per_cpu =
                |s: &Sample| s.value * s.probe.secs / s.probe.engine_cpu.unwrap_or(f64::NAN);
            out += &format!(
                "{what:<24} {:>8.2} {:>13.1} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>8.1}\n",
                fig.median_of(engines),
                fig.median_of(per_cpu),
                fig.median_of(bench),
                fig.median_of(|s| (s.probe.machine_busy * n - bench(s)).max(0.0)),
                fig.median_of(idle),
                fig.median_of(|s| s.probe.synack_in as f64 / s.probe.synack_out.max(1) as f64),
                fig.median_of(|s| s.probe.synack_in as f64 / s.probe.driver_polls.max(1) as f64),
            );
        }
        let one = &q.parallel_one;
        out += &format!(
            "(engines: CPU time of synack's engine threads, their connections' tasks \
             included; bench: the whole benchmark process, the kernel's sending in its system \
             calls included; others: every other process and unaccounted softirq; idle: of the \
             machine's {n} cores; in/out: segments synack received per segment it sent; \
             in/poll: per run of a driver)\n\
             two queues at 1.6x one need {:.2} cores for the benchmark where one queue used \
             {:.2} and {:.2} were idle; MiB per engine-CPU-second, two queues / one: {:.2}\n",
            1.6 * one.median_of(bench),
            one.median_of(bench),
            one.median_of(idle),
            q.parallel_two
                .median_of(|s| s.value * s.probe.secs / s.probe.engine_cpu.unwrap_or(f64::NAN))
                / one
                    .median_of(|s| s.value * s.probe.secs / s.probe.engine_cpu.unwrap_or(f64::NAN)),
        );
        out
    }
}

/// Moves the calling thread (and the threads it starts later) into a new network
/// namespace.
fn unshare_net() -> Result<(), String> {
    // SAFETY: unshare(2) takes flags only and affects the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "cannot make a private network namespace ({}): run as root",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Runs `ip args` in the calling thread's namespace.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip ({e}): install iproute2"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Reads to the end, then sends back the count and closes (RFC 863's discard, with a
/// receipt).
async fn sink<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf).await? {
            0 => break,
            k => n += k as u64,
        }
    }
    s.write_all(&n.to_be_bytes()).await?;
    s.shutdown().await
}

/// Reads one request line, answers, closes.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> io::Result<()> {
    let mut buf = [0u8; 64];
    let mut got = 0;
    while !buf[..got].contains(&b'\n') {
        match s.read(&mut buf[got..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            k => got += k,
        }
    }
    s.write_all(b"ok\n").await?;
    s.shutdown().await?;
    // The client closes after reading: wait for its FIN so nothing unread resets.
    while s.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Sends `n` bytes, half-closes, and checks the sink's count.
async fn bulk<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, n: u64) -> io::Result<()> {
    let buf: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let mut left = n;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..k]).await?;
        left -= k as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await?;
    if u64::from_be_bytes(count) != n {
        return Err(io::Error::other(format!(
            "the sink counted {} bytes of {n}",
            u64::from_be_bytes(count)
        )));
    }
    Ok(())
}

/// One request on a connection: a line up, the reply to the server's FIN.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> io::Result<()> {
    s.write_all(b"GET\n").await?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await?;
    if reply != b"ok\n" {
        return Err(io::Error::other("a wrong reply"));
    }
    Ok(())
}

/// Serves `sink` and `answer` on a kernel (tokio) address.
async fn kernel_servers(ip: Ipv4Addr) -> io::Result<()> {
    let sinks = tokio::net::TcpListener::bind((ip, SINK)).await?;
    let answers = tokio::net::TcpListener::bind((ip, CPS)).await?;
    tokio::spawn(async move {
        while let Ok((s, _)) = sinks.accept().await {
            tokio::spawn(sink(s));
        }
    });
    tokio::spawn(async move {
        while let Ok((s, _)) = answers.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(answer(s));
        }
    });
    Ok(())
}

/// Serves `sink` and `answer` on synack's address `ip`: each engine accepts and serves
/// its connections on its own runtime (with several queues, the engine's own thread).
async fn synack_servers(net: &Net, ip: Ipv4Addr) -> io::Result<()> {
    let sinks = synack_tokio::TcpListener::bind(net, SocketAddr::from((ip, SINK))).await?;
    let answers = synack_tokio::TcpListener::bind(net, SocketAddr::from((ip, CPS))).await?;
    for sinks in sinks.per_engine() {
        let rt = sinks.net().runtime().clone();
        rt.spawn(async move {
            while let Ok((s, _)) = sinks.accept().await {
                tokio::spawn(sink(s));
            }
        });
    }
    for answers in answers.per_engine() {
        let rt = answers.net().runtime().clone();
        rt.spawn(async move {
            while let Ok((s, _)) = answers.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(answer(s));
            }
        });
    }
    Ok(())
}

/// Starts the veth pair and the kernel's reference servers in a thread of their own
/// namespace; returns once they listen.
fn start_veth_peer() -> Result<(), String> {
    ip(&[
        "link", "add", "sbv0", "type", "veth", "peer", "name", "sbv1",
    ])?;
    let (tid_tx, tid_rx) = mpsc::channel::<Result<i32, String>>();
    let (moved_tx, moved_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        if let Err(e) = unshare_net() {
            let _ = tid_tx.send(Err(e));
            return;
        }
        // SAFETY: gettid(2) has no preconditions.
        let _ = tid_tx.send(Ok(unsafe { libc::gettid() }));
        if moved_rx.recv().is_err() {
            return;
        }
        let configured = ip(&["link", "set", "lo", "up"])
            .and_then(|()| ip(&["addr", "add", "10.88.0.2/24", "dev", "sbv1"]))
            .and_then(|()| ip(&["link", "set", "sbv1", "up"]));
        if let Err(e) = configured {
            let _ = ready_tx.send(Err(e));
            return;
        }
        // Worker threads start from this one, in its namespace.
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        rt.block_on(async {
            let r = kernel_servers(VETH_PEER).await.map_err(|e| e.to_string());
            let failed = r.is_err();
            let _ = ready_tx.send(r);
            if !failed {
                std::future::pending::<()>().await;
            }
        });
    });
    let tid = tid_rx.recv().map_err(|_| "the peer thread ended")??;
    ip(&["link", "set", "sbv1", "netns", &tid.to_string()])?;
    moved_tx.send(()).map_err(|_| "the peer thread ended")?;
    ip(&["addr", "add", "10.88.0.1/24", "dev", "sbv0"])?;
    ip(&["link", "set", "sbv0", "up"])?;
    ready_rx.recv().map_err(|_| "the peer thread ended")?
}

/// MiB/s of one bulk transfer.
async fn time_bulk<S, F>(connect: F, n: u64) -> Result<f64, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = io::Result<S>>,
{
    let start = Instant::now();
    let s = connect.await.map_err(|e| format!("connect: {e}"))?;
    bulk(s, n).await.map_err(|e| format!("bulk: {e}"))?;
    Ok(n as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
}

/// MiB/s of `streams` bulk transfers of `n` bytes in all from the kernel to `addr`, at
/// once.
async fn time_parallel(addr: SocketAddr, n: u64, streams: usize) -> Result<f64, String> {
    let start = Instant::now();
    let each = n / streams as u64;
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            tokio::spawn(async move {
                let s = tokio::net::TcpStream::connect(addr).await?;
                bulk(s, each).await
            })
        })
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("parallel transfers to {addr}: {e}"))?;
    }
    Ok((each * streams as u64) as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
}

/// Connections per second from the kernel to `addr`.
async fn time_cps(addr: SocketAddr, conns: usize, concurrency: usize) -> Result<f64, String> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..concurrency {
        let share = conns / concurrency + usize::from(k < conns % concurrency);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let s = tokio::net::TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                request(s).await?;
            }
            io::Result::Ok(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("connections to {addr}: {e}"))?;
    }
    Ok(conns as f64 / start.elapsed().as_secs_f64())
}

/// An instance of synack under measurement: its handle, its interface and its engines'
/// threads (empty when they share the benchmark's runtime).
struct Target {
    net: Net,
    iface: &'static str,
    threads: Vec<i32>,
}

impl Target {
    /// Runs `work`, recording what happened meanwhile.
    async fn sample<F>(&self, work: F) -> Result<Sample, String>
    where
        F: std::future::Future<Output = Result<f64, String>>,
    {
        let before = probe::Snapshot::take(&self.net, self.iface, &self.threads);
        let value = work.await?;
        let after = probe::Snapshot::take(&self.net, self.iface, &self.threads);
        Ok(Sample {
            value,
            probe: before.delta(&after, !self.threads.is_empty()),
        })
    }
}

/// A TUN interface's configuration for the benchmark.
fn tun_config(name: &str, kernel: Ipv4Addr, offload: bool, txqueuelen: u32) -> TunConfig {
    TunConfig {
        name: name.into(),
        mtu: 1500,
        kernel_addr: Some((kernel, 24)),
        offload,
        txqueuelen,
    }
}

/// Starts synack with `queues` engines, each on a thread of its own, on interface
/// `name`, its servers on `synack`, the kernel's on `kernel`.
async fn start_queues(
    name: &'static str,
    kernel: Ipv4Addr,
    synack: Ipv4Addr,
    queues: usize,
    txqueuelen: u32,
) -> Result<Target, String> {
    let qs = TunDevice::create_queues(&tun_config(name, kernel, false, txqueuelen), queues)
        .map_err(|e| e.to_string())?;
    let net = Net::builder()
        .address(synack.into())
        .spawn_queues(qs.into_iter().map(|q| move || q.open()).collect())
        .map_err(|e| e.to_string())?;
    synack_servers(&net, synack)
        .await
        .map_err(|e| e.to_string())?;
    kernel_servers(kernel).await.map_err(|e| e.to_string())?;
    let threads = probe::engine_threads(&net).await;
    Ok(Target {
        net,
        iface: name,
        threads,
    })
}

/// Runs every workload. The calling process must already be in a private network
/// namespace of its own (root inside it).
pub fn run(p: Params) -> Result<Report, String> {
    ip(&["link", "set", "lo", "up"])?;
    start_veth_peer()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let config = TunConfig {
            txqueuelen: p.txqueuelen,
            ..TunConfig::default()
        };
        let tun = TunDevice::create(&config).map_err(|e| e.to_string())?;
        let net = Net::builder().address(SYNACK.into()).spawn(tun);
        synack_servers(&net, SYNACK)
            .await
            .map_err(|e| e.to_string())?;
        kernel_servers(KERNEL).await.map_err(|e| e.to_string())?;
        let plain = Target {
            net: net.clone(),
            iface: "synack0",
            threads: Vec::new(),
        };
        // The reference: the kernel's counters and the veth's drops.
        let veth = Target {
            net,
            iface: "sbv0",
            threads: Vec::new(),
        };
        let offloaded = if p.offload {
            let tun = TunDevice::create(&tun_config("synack1", KERNEL_OFFLOAD, true, p.txqueuelen))
                .map_err(|e| e.to_string())?;
            let net = Net::builder().address(SYNACK_OFFLOAD.into()).spawn(tun);
            synack_servers(&net, SYNACK_OFFLOAD)
                .await
                .map_err(|e| e.to_string())?;
            kernel_servers(KERNEL_OFFLOAD)
                .await
                .map_err(|e| e.to_string())?;
            Some(Target {
                net,
                iface: "synack1",
                threads: Vec::new(),
            })
        } else {
            None
        };
        let queued = if p.queues {
            let two =
                start_queues("synack2", KERNEL_QUEUES, SYNACK_QUEUES, 2, p.txqueuelen).await?;
            let one = start_queues("synack3", KERNEL_QUEUE, SYNACK_QUEUE, 1, p.txqueuelen).await?;
            Some((one, two))
        } else {
            None
        };
        let mut r = Report {
            params: p,
            synack_to_kernel: Figure::default(),
            kernel_to_synack: Figure::default(),
            kernel_to_kernel: Figure::default(),
            synack_cps: Figure::default(),
            kernel_cps: Figure::default(),
            offload: offloaded.as_ref().map(|_| SynackFigures::default()),
            queues: queued.as_ref().map(|_| QueueFigures::default()),
        };
        for _ in 0..p.repeat {
            let to_kernel = SocketAddr::from((KERNEL, SINK));
            let c = synack_tokio::TcpStream::connect(&plain.net, to_kernel);
            r.synack_to_kernel
                .0
                .push(plain.sample(time_bulk(c, p.bytes)).await?);
            let c = tokio::net::TcpStream::connect(SocketAddr::from((SYNACK, SINK)));
            r.kernel_to_synack
                .0
                .push(plain.sample(time_bulk(c, p.bytes)).await?);
            let c = tokio::net::TcpStream::connect(SocketAddr::from((VETH_PEER, SINK)));
            r.kernel_to_kernel
                .0
                .push(veth.sample(time_bulk(c, p.bytes)).await?);
            let cps = time_cps(SocketAddr::from((SYNACK, CPS)), p.conns, p.concurrency);
            r.synack_cps.0.push(plain.sample(cps).await?);
            let cps = time_cps(SocketAddr::from((VETH_PEER, CPS)), p.conns, p.concurrency);
            r.kernel_cps.0.push(veth.sample(cps).await?);
            if let (Some(o), Some(f)) = (&offloaded, &mut r.offload) {
                let to_kernel = SocketAddr::from((KERNEL_OFFLOAD, SINK));
                let c = synack_tokio::TcpStream::connect(&o.net, to_kernel);
                f.to_kernel.0.push(o.sample(time_bulk(c, p.bytes)).await?);
                let c = tokio::net::TcpStream::connect(SocketAddr::from((SYNACK_OFFLOAD, SINK)));
                f.from_kernel.0.push(o.sample(time_bulk(c, p.bytes)).await?);
                let cps = time_cps(
                    SocketAddr::from((SYNACK_OFFLOAD, CPS)),
                    p.conns,
                    p.concurrency,
                );
                f.cps.0.push(o.sample(cps).await?);
            }
            if let (Some((one, two)), Some(f)) = (&queued, &mut r.queues) {
                let at = SocketAddr::from((SYNACK_QUEUE, SINK));
                f.parallel_one
                    .0
                    .push(one.sample(time_parallel(at, p.bytes, p.streams)).await?);
                let at = SocketAddr::from((SYNACK_QUEUES, SINK));
                f.parallel_two
                    .0
                    .push(two.sample(time_parallel(at, p.bytes, p.streams)).await?);
                let at = SocketAddr::from((SYNACK_QUEUE, CPS));
                f.cps_one
                    .0
                    .push(one.sample(time_cps(at, p.conns, p.concurrency)).await?);
                let at = SocketAddr::from((SYNACK_QUEUES, CPS));
                f.cps_two
                    .0
                    .push(two.sample(time_cps(at, p.conns, p.concurrency)).await?);
            }
        }
        Ok(r)
    })
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s} is not a size above 0 (suffixes K, M, G)"))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Params, String> {
    let mut p = Params {
        bytes: 256 << 20,
        conns: 5000,
        concurrency: 4,
        repeat: 3,
        offload: true,
        queues: true,
        streams: 4,
        txqueuelen: TunConfig::DEFAULT_TXQUEUELEN,
    };
    let mut it = args;
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            // Passed by `cargo bench`.
            "--bench" => {}
            "--bytes" => p.bytes = parse_size(&value()?)?,
            "--conns" => p.conns = parse_size(&value()?)? as usize,
            "--concurrency" => p.concurrency = parse_size(&value()?)? as usize,
            "--repeat" => p.repeat = parse_size(&value()?)? as usize,
            "--no-offload" => p.offload = false,
            "--no-queues" => p.queues = false,
            "--streams" => p.streams = parse_size(&value()?)? as usize,
            "--txqueuelen" => {
                let v = value()?;
                p.txqueuelen = v.parse().map_err(|_| {
                    format!("--txqueuelen {v}: give a number of packets (0: the kernel's 500)")
                })?;
            }
            _ => {
                return Err(format!(
                    "unknown option {arg}; usage: tun [--bytes N] [--conns N] \
                     [--concurrency N] [--repeat N] [--streams N] [--txqueuelen N] [--no-offload] \
                     [--no-queues]"
                ))
            }
        }
    }
    p.concurrency = p.concurrency.min(p.conns);
    Ok(p)
}

#[allow(dead_code)]
fn main() -> ExitCode {
    let p = match parse_args(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless (cargo bench builds optimized)");
    }
    // Before any thread starts, so that every thread is in the namespace.
    if let Err(e) = unshare_net() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    match run(p) {
        Ok(report) => {
            print!("{}", report.render());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
