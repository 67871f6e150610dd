//! What the TUN benchmark records beside each figure, to explain it: retransmissions on
//! both sides, drops at the TUN interface, and the CPU time each party used.
//!
//! Everything is read from `/proc` in the calling thread's network namespace
//! (`/proc/thread-self/net/...`), so the figures are those of the benchmark's private
//! namespace only.

use std::fs;

use synack_tokio::Net;

/// Counters and clocks at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// synack's engines: segments retransmitted (`RetransSegs`).
    synack_retrans: u64,
    /// synack's engines: retransmission timeouts (`TCPTimeouts`).
    synack_timeouts: u64,
    /// synack's engines: segments received and sent (`InSegs`, `OutSegs`).
    synack_in: u64,
    synack_out: u64,
    /// How many times synack's drivers ran.
    driver_polls: u64,
    /// The kernel's TCP in the benchmark's namespace: `Tcp: RetransSegs`.
    kernel_retrans: u64,
    /// The kernel's TCP: `TcpExt: TCPTimeouts`.
    kernel_timeouts: u64,
    /// The TUN interface's drops (`/proc/net/dev`): packets the kernel could not
    /// queue to synack (tx) and packets synack wrote that the kernel dropped (rx).
    tun_tx_drops: u64,
    tun_rx_drops: u64,
    /// Drops in the TUN interface's queueing discipline (`tc -s qdisc`), before the
    /// device's own queue.
    qdisc_drops: u64,
    /// CPU seconds of the engines' threads (with their connections' tasks).
    engine_cpu: f64,
    /// CPU seconds of the whole process (engines, load generator and the kernel's work
    /// done in its system calls).
    process_cpu: f64,
    /// `/proc/stat`'s first line: busy and total jiffies of every core, and softirq.
    machine_busy: u64,
    machine_total: u64,
    machine_softirq: u64,
    at: std::time::Instant,
}

/// What changed between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Delta {
    /// Segments synack retransmitted.
    pub synack_retrans: u64,
    /// synack's retransmission timeouts.
    pub synack_timeouts: u64,
    /// Segments synack received.
    pub synack_in: u64,
    /// Segments synack sent (retransmissions aside).
    pub synack_out: u64,
    /// Times synack's drivers ran.
    pub driver_polls: u64,
    /// Segments the kernel retransmitted.
    pub kernel_retrans: u64,
    /// The kernel's retransmission timeouts.
    pub kernel_timeouts: u64,
    /// Packets the kernel dropped on their way to synack (the TUN's queue full).
    pub tun_tx_drops: u64,
    /// Packets from synack the kernel dropped.
    pub tun_rx_drops: u64,
    /// Packets the TUN interface's queueing discipline dropped.
    pub qdisc_drops: u64,
    /// CPU seconds used by synack's engine threads; `None` when the engines share a
    /// runtime with the load generator (no thread of their own to measure).
    pub engine_cpu: Option<f64>,
    /// CPU seconds used by the whole benchmark process.
    pub process_cpu: f64,
    /// The fraction of all cores' time that was busy, machine-wide.
    pub machine_busy: f64,
    /// The fraction of all cores' time spent in softirq (the TUN's and veth's
    /// delivery), machine-wide.
    pub machine_softirq: f64,
    /// Wall-clock seconds.
    pub secs: f64,
}

impl Delta {
    /// Whether anything was lost or retransmitted.
    pub fn troubled(&self) -> bool {
        self.synack_retrans
            + self.kernel_retrans
            + self.tun_tx_drops
            + self.tun_rx_drops
            + self.qdisc_drops
            > 0
    }

    /// A short account: `retx synack 0/kernel 3 (RTO 1), TUN drops 12`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "retransmitted: synack {} (RTOs {}), kernel {} (RTOs {}); TUN drops: to synack {} (qdisc {}), from synack {}",
            self.synack_retrans,
            self.synack_timeouts,
            self.kernel_retrans,
            self.kernel_timeouts,
            self.tun_tx_drops,
            self.qdisc_drops,
            self.tun_rx_drops
        );
        if let Some(e) = self.engine_cpu {
            s += &format!("; engine CPU {:.2} s", e);
        }
        s += &format!(
            "; process CPU {:.2} s; machine {:.0}% busy over {:.2} s",
            self.process_cpu,
            self.machine_busy * 100.0,
            self.secs
        );
        s
    }
}

/// Clock ticks per second of `/proc`'s CPU times.
fn ticks() -> f64 {
    // SAFETY: sysconf(3) takes a constant and has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `name value` pairs of a `/proc/net/snmp`-style file: a header line and a value line
/// per group; returns the value of `group: name`.
pub(crate) fn snmp(text: &str, group: &str, name: &str) -> u64 {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let at = names.split_whitespace().position(|n| n == name);
        if let Some(v) = at.and_then(|i| values.split_whitespace().nth(i)) {
            return v.parse().unwrap_or(0);
        }
    }
    0
}

/// `(rx_drop, tx_drop)` of interface `iface` in `/proc/net/dev`.
pub(crate) fn dev_drops(text: &str, iface: &str) -> (u64, u64) {
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() != iface {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // rx: bytes packets errs drop ...; tx from the 9th: bytes packets errs drop.
        return (
            f.get(3).copied().unwrap_or(0),
            f.get(11).copied().unwrap_or(0),
        );
    }
    (0, 0)
}

/// Packets dropped by the queueing discipline of `iface` (`tc -s qdisc show dev`).
fn qdisc_drops(iface: &str) -> u64 {
    let Ok(out) = std::process::Command::new("tc")
        .args(["-s", "qdisc", "show", "dev", iface])
        .output()
    else {
        return 0;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "Sent 0 bytes 0 pkt (dropped 3, overlimits 0 requeues 0)", per qdisc.
    text.split("(dropped ")
        .skip(1)
        .filter_map(|rest| rest.split(',').next()?.trim().parse::<u64>().ok())
        .sum()
}

/// utime + stime, in ticks, of a `/proc/.../stat` line (after the command's parentheses).
pub(crate) fn stat_cpu(text: &str) -> u64 {
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0;
    };
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// `(busy, total, softirq)` jiffies of all cores, from `/proc/stat`'s `cpu` line.
fn machine() -> (u64, u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0, 0);
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total, f.get(6).copied().unwrap_or(0))
}

/// The machine's cores, as `/proc/stat` counts them (`cpuN` lines).
pub fn machine_cores() -> usize {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
        .max(1)
}

/// The thread ids of `net`'s engines' threads, when each runs on a thread of its own
/// (a multi-queue instance, [`synack_tokio::NetBuilder::spawn_queues`]).
pub async fn engine_threads(net: &Net) -> Vec<i32> {
    let mut tids = Vec::new();
    for e in net.engines() {
        // SAFETY: gettid(2) has no preconditions.
        let h = e.runtime().spawn(async { unsafe { libc::gettid() } });
        if let Ok(tid) = h.await {
            tids.push(tid);
        }
    }
    tids
}

impl Snapshot {
    /// Reads everything now: `net`'s counters, the kernel's, the drops of interface
    /// `iface`, the CPU time of threads `engines` and of the process.
    pub fn take(net: &Net, iface: &str, engines: &[i32]) -> Snapshot {
        let stats = net.stats();
        let snmp_text = fs::read_to_string("/proc/thread-self/net/snmp").unwrap_or_default();
        let netstat = fs::read_to_string("/proc/thread-self/net/netstat").unwrap_or_default();
        let dev = fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
        let (rx_drops, tx_drops) = dev_drops(&dev, iface);
        let hz = ticks();
        let engine_cpu = engines
            .iter()
            .map(|t| {
                stat_cpu(
                    &fs::read_to_string(format!("/proc/self/task/{t}/stat")).unwrap_or_default(),
                )
            })
            .sum::<u64>() as f64
            / hz;
        let process_cpu =
            stat_cpu(&fs::read_to_string("/proc/self/stat").unwrap_or_default()) as f64 / hz;
        let (busy, total, softirq) = machine();
        Snapshot {
            synack_retrans: stats.RetransSegs,
            synack_timeouts: stats.TCPTimeouts,
            synack_in: stats.InSegs,
            synack_out: stats.OutSegs,
            driver_polls: net.driver_polls(),
            kernel_retrans: snmp(&snmp_text, "Tcp", "RetransSegs"),
            kernel_timeouts: snmp(&netstat, "TcpExt", "TCPTimeouts"),
            tun_tx_drops: tx_drops,
            tun_rx_drops: rx_drops,
            qdisc_drops: qdisc_drops(iface),
            engine_cpu,
            process_cpu,
            machine_busy: busy,
            machine_total: total,
            machine_softirq: softirq,
            at: std::time::Instant::now(),
        }
    }

    /// What changed from `self` to `later`; `own_threads` says whether the engines ran
    /// on threads of their own (so that their CPU time means something).
    pub fn delta(&self, later: &Snapshot, own_threads: bool) -> Delta {
        let total = later
            .machine_total
            .saturating_sub(self.machine_total)
            .max(1) as f64;
        Delta {
            synack_retrans: later.synack_retrans.saturating_sub(self.synack_retrans),
            synack_timeouts: later.synack_timeouts.saturating_sub(self.synack_timeouts),
            synack_in: later.synack_in.saturating_sub(self.synack_in),
            synack_out: later.synack_out.saturating_sub(self.synack_out),
            driver_polls: later.driver_polls.saturating_sub(self.driver_polls),
            kernel_retrans: later.kernel_retrans.saturating_sub(self.kernel_retrans),
            kernel_timeouts: later.kernel_timeouts.saturating_sub(self.kernel_timeouts),
            tun_tx_drops: later.tun_tx_drops.saturating_sub(self.tun_tx_drops),
            tun_rx_drops: later.tun_rx_drops.saturating_sub(self.tun_rx_drops),
            qdisc_drops: later.qdisc_drops.saturating_sub(self.qdisc_drops),
            engine_cpu: own_threads.then_some(later.engine_cpu - self.engine_cpu),
            process_cpu: later.process_cpu - self.process_cpu,
            machine_busy: later.machine_busy.saturating_sub(self.machine_busy) as f64 / total,
            machine_softirq: later.machine_softirq.saturating_sub(self.machine_softirq) as f64
                / total,
            secs: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}
