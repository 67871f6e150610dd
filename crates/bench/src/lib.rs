//! Benchmarks of synack beside smoltcp, measured in the same run over the same in-memory
//! link (see [`link`] for the loop both stacks run under, and the binary's documentation
//! for how to run it).
//!
//! Two workloads:
//! - bulk: one connection moves `bytes` from client to server; wall-clock time around the
//!   transfer only (after the handshake, up to the server reading end of stream);
//! - churn: `conns` full lifecycles (connect, 100-byte request, 100-byte reply, both
//!   close, wait until both sides are done), `concurrency` at a time; wall-clock time
//!   around all of them.
//!
//! Each workload checks its result (every byte, in order; every lifecycle, with the right
//! reply) and fails otherwise.

pub mod link;
pub mod smoltcp_side;
pub mod synack_side;

use std::fmt::Write as _;
use std::time::Duration;

/// The client's address.
pub const CLIENT_IP: [u8; 4] = [10, 0, 0, 1];
/// The server's address.
pub const SERVER_IP: [u8; 4] = [10, 0, 0, 2];
/// The server's port.
pub const PORT: u16 = 80;

/// The largest churn run synack can do with the client as active closer: every finished
/// lifecycle leaves a TIME-WAIT entry (60 s) that holds a client port of the default
/// 32768..=60999 range, and virtual time stays far below 60 s.
pub const SYNACK_MAX_CONNS: u64 = 28_000;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Bytes of the bulk transfer.
    pub bytes: u64,
    /// Socket buffer size for bulk, both directions, both stacks.
    pub bulk_buf: usize,
    /// Lifecycles of the churn workload.
    pub conns: u64,
    /// Lifecycles in flight at once.
    pub concurrency: usize,
    /// Socket buffer size for churn, both directions, both stacks.
    pub churn_buf: usize,
    /// Runs of each workload on each stack (interleaved); the median is reported.
    pub repeat: usize,
}

impl Params {
    /// The full run.
    pub const FULL: Params = Params {
        bytes: 256 << 20,
        bulk_buf: 256 << 10,
        conns: 20_000,
        concurrency: 1,
        churn_buf: 16 << 10,
        repeat: 3,
    };

    /// A smoke run: small sizes.
    pub const QUICK: Params = Params {
        bytes: 4 << 20,
        bulk_buf: 256 << 10,
        conns: 500,
        concurrency: 4,
        churn_buf: 16 << 10,
        repeat: 1,
    };

    /// Whether the parameters can run.
    pub fn check(&self) -> Result<(), String> {
        if self.bytes == 0 || self.conns == 0 || self.concurrency == 0 || self.repeat == 0 {
            return Err("--bytes, --conns, --concurrency and --repeat must be positive".into());
        }
        if self.conns > SYNACK_MAX_CONNS {
            return Err(format!(
                "--conns {} is above {SYNACK_MAX_CONNS}: synack's client would run out of \
                 ephemeral ports, held by its TIME-WAIT entries",
                self.conns
            ));
        }
        if self.bulk_buf < 4096 || self.churn_buf < 4096 {
            return Err("buffers must be at least 4096 bytes".into());
        }
        Ok(())
    }
}

/// The result of one bulk run.
#[derive(Debug, Clone, Copy)]
pub struct BulkOutcome {
    /// Bytes the server read (checked equal to those sent).
    pub bytes: u64,
    /// Wall-clock time of the transfer.
    pub elapsed: Duration,
    /// Rounds of the loop (handshake included).
    pub rounds: u64,
    /// Virtual time at the end of the transfer, microseconds.
    pub virtual_us: u64,
    /// Datagrams client to server.
    pub datagrams_a2b: u64,
    /// Datagrams server to client.
    pub datagrams_b2a: u64,
    /// Segments retransmitted by either side, if the stack counts them.
    pub retransmits: Option<u64>,
}

impl BulkOutcome {
    /// MiB per second of wall-clock time.
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1u64 << 20) as f64 / self.elapsed.as_secs_f64()
    }
}

/// The result of one churn run.
#[derive(Debug, Clone, Copy)]
pub struct ChurnOutcome {
    /// Lifecycles that completed on both sides (checked equal to those started).
    pub completed: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Rounds of the loop.
    pub rounds: u64,
    /// Virtual time at the end, microseconds.
    pub virtual_us: u64,
    /// Datagrams client to server.
    pub datagrams_a2b: u64,
    /// Datagrams server to client.
    pub datagrams_b2a: u64,
    /// TIME-WAIT entries created (synack's compact records), if the stack keeps them.
    pub time_wait: Option<u64>,
    /// Segments retransmitted by either side, if the stack counts them.
    pub retransmits: Option<u64>,
}

impl ChurnOutcome {
    /// Lifecycles per second of wall-clock time.
    pub fn per_sec(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
}

/// Everything measured in one run: `params.repeat` outcomes of each workload on each
/// stack, in the order they ran.
#[derive(Debug, Clone)]
pub struct Report {
    /// The parameters.
    pub params: Params,
    /// synack's bulk runs.
    pub synack_bulk: Vec<BulkOutcome>,
    /// smoltcp's bulk runs.
    pub smoltcp_bulk: Vec<BulkOutcome>,
    /// synack's churn runs.
    pub synack_churn: Vec<ChurnOutcome>,
    /// smoltcp's churn runs.
    pub smoltcp_churn: Vec<ChurnOutcome>,
}

/// The run with the median rate (the upper median for an even count).
fn median<T: Copy>(runs: &[T], rate: impl Fn(&T) -> f64) -> T {
    let mut v: Vec<T> = runs.to_vec();
    v.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    v[v.len() / 2]
}

/// Runs both workloads on both stacks, checking each result.
pub fn run(params: &Params) -> Result<Report, String> {
    params.check()?;
    let (mut synack_bulk, mut smoltcp_bulk) = (Vec::new(), Vec::new());
    let (mut synack_churn, mut smoltcp_churn) = (Vec::new(), Vec::new());
    for _ in 0..params.repeat {
        synack_bulk.push(synack_side::bulk(params.bytes, params.bulk_buf)?);
        smoltcp_bulk.push(smoltcp_side::bulk(params.bytes, params.bulk_buf)?);
    }
    for _ in 0..params.repeat {
        let (n, k, buf) = (params.conns, params.concurrency, params.churn_buf);
        synack_churn.push(synack_side::churn(n, k, buf)?);
        smoltcp_churn.push(smoltcp_side::churn(n, k, buf)?);
    }
    for (name, runs) in [("synack", &synack_bulk), ("smoltcp", &smoltcp_bulk)] {
        if let Some(b) = runs.iter().find(|b| b.bytes != params.bytes) {
            return Err(format!(
                "{name} bulk moved {} of {} bytes",
                b.bytes, params.bytes
            ));
        }
    }
    for (name, runs) in [("synack", &synack_churn), ("smoltcp", &smoltcp_churn)] {
        if let Some(c) = runs.iter().find(|c| c.completed != params.conns) {
            return Err(format!(
                "{name} churn completed {} of {} lifecycles",
                c.completed, params.conns
            ));
        }
    }
    Ok(Report {
        params: *params,
        synack_bulk,
        smoltcp_bulk,
        synack_churn,
        smoltcp_churn,
    })
}

fn retrans(n: Option<u64>) -> String {
    n.map_or(String::new(), |n| format!(", {n} retransmitted"))
}

fn kib(n: usize) -> String {
    format!("{} KiB", n >> 10)
}

impl Report {
    /// The table and the parameters, as printed by the binary.
    pub fn render(&self) -> String {
        let p = &self.params;
        let rate = |b: &BulkOutcome| b.mib_per_sec();
        let per_sec = |c: &ChurnOutcome| c.per_sec();
        let sb = &median(&self.synack_bulk, rate);
        let mb = &median(&self.smoltcp_bulk, rate);
        let sc = &median(&self.synack_churn, per_sec);
        let mc = &median(&self.smoltcp_churn, per_sec);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10}{:>18}{:>18}{:>10}",
            "workload", "synack", "smoltcp", "ratio"
        );
        let _ = writeln!(
            out,
            "{:<10}{:>18}{:>18}{:>9.2}x",
            "bulk",
            format!("{:.1} MiB/s", sb.mib_per_sec()),
            format!("{:.1} MiB/s", mb.mib_per_sec()),
            sb.mib_per_sec() / mb.mib_per_sec()
        );
        let _ = writeln!(
            out,
            "{:<10}{:>18}{:>18}{:>9.2}x",
            "churn",
            format!("{:.0} conn/s", sc.per_sec()),
            format!("{:.0} conn/s", mc.per_sec()),
            sc.per_sec() / mc.per_sec()
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "parameters (the same for both stacks):");
        let _ = writeln!(
            out,
            "  link: in-memory, lossless, zero latency, MTU {}; a round delivers every pending \
             datagram, then each stack processes input, timers and output; virtual clock \
             +{} us per round, jumping to the next deadline when idle",
            link::MTU,
            link::TICK_US
        );
        let _ = writeln!(
            out,
            "  bulk: {} bytes ({} MiB) client -> server, one connection; socket buffers {} \
             send / {} receive (synack: tcp_wmem = tcp_rmem = [4096, {b}, {b}], window \
             scaling on; smoltcp: tx/rx SocketBuffer of {b} bytes, window shift from its \
             buffer); wall clock from the first send to end of stream at the server",
            p.bytes,
            p.bytes >> 20,
            kib(p.bulk_buf),
            kib(p.bulk_buf),
            b = p.bulk_buf
        );
        let _ = writeln!(
            out,
            "  churn: {} lifecycles, {} in flight; each: connect, 100-byte request, 100-byte \
             reply, client closes first, server closes on end of stream, done when both \
             sockets are finished; socket buffers {} each way, fresh sockets per connection \
             on both sides",
            p.conns,
            p.concurrency,
            kib(p.churn_buf)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "(median of {} interleaved runs per stack; all runs, in order:",
            p.repeat
        );
        let list = |v: Vec<f64>, unit: &str| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
                + " "
                + unit
        };
        let _ = writeln!(
            out,
            " bulk synack {}; smoltcp {}",
            list(self.synack_bulk.iter().map(rate).collect(), "MiB/s"),
            list(self.smoltcp_bulk.iter().map(rate).collect(), "MiB/s")
        );
        let _ = writeln!(
            out,
            " churn synack {}; smoltcp {})",
            list(self.synack_churn.iter().map(per_sec).collect(), "conn/s"),
            list(self.smoltcp_churn.iter().map(per_sec).collect(), "conn/s")
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "details (median runs):");
        for (name, b) in [("synack", sb), ("smoltcp", mb)] {
            let _ = writeln!(
                out,
                "  bulk  {name:<8} {:>8.3} s wall, {} rounds, {:.3} s virtual, datagrams \
                 {} c->s / {} s->c{}",
                b.elapsed.as_secs_f64(),
                b.rounds,
                b.virtual_us as f64 / 1e6,
                b.datagrams_a2b,
                b.datagrams_b2a,
                retrans(b.retransmits)
            );
        }
        for (name, c) in [("synack", sc), ("smoltcp", mc)] {
            let _ = writeln!(
                out,
                "  churn {name:<8} {:>8.3} s wall, {} rounds, {:.3} s virtual, datagrams \
                 {} c->s / {} s->c ({:.1} per lifecycle){}",
                c.elapsed.as_secs_f64(),
                c.rounds,
                c.virtual_us as f64 / 1e6,
                c.datagrams_a2b,
                c.datagrams_b2a,
                (c.datagrams_a2b + c.datagrams_b2a) as f64 / c.completed as f64,
                match c.time_wait {
                    Some(n) => format!(", {n} TIME-WAIT entries kept on the client"),
                    None => String::new(),
                } + &retrans(c.retransmits)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "notes:");
        let _ = writeln!(
            out,
            "  - smoltcp keeps TIME-WAIT inside the socket (10 s); the benchmark removes a \
             client socket as soon as it reaches TIME-WAIT, so smoltcp holds no TIME-WAIT \
             state, while synack keeps a compact TIME-WAIT record per lifecycle (60 s)."
        );
        let _ = writeln!(
            out,
            "  - smoltcp is built without congestion control (features socket-tcp-cubic/reno \
             off), synack runs CUBIC; on a lossless link both end up limited by the window."
        );
        let _ = writeln!(
            out,
            "  - both compute and verify IPv4 and TCP checksums; payload is checked by the \
             application (memcmp) in the timed region for both."
        );
        out
    }
}
