//! Benchmarks of synack beside smoltcp, measured in the same run over the same in-memory
//! link (see [`link`] for the loop both stacks run under, and the binary's documentation
//! for how to run it).
//!
//! Each stack is used as its best users would use it: socket buffers reused rather than
//! allocated and zeroed per connection (smoltcp's sockets borrow buffers that the
//! benchmark lends again; synack's rings are its own, allocated lazily and never zeroed),
//! and zero-copy paths where both have them (synack's `send_into`/`recv_with`, smoltcp's
//! `send`/`recv` closures). One run measures, for the same workloads on both stacks:
//! - wall-clock rates: medians over interleaved runs;
//! - instructions per byte and per lifecycle, counted by callgrind ([`callgrind`]);
//! - memory per idle connection and per TIME-WAIT entry at two counts, with a counting
//!   allocator ([`memory`]);
//! - per-segment cost of a transfer beside one connection and beside many idle ones
//!   ([`scale`]).
//!
//! The workloads:
//! - bulk: one connection moves `bytes` from client to server, the server checking every
//!   byte; timed from the first send to end of stream at the server;
//! - churn: `conns` full lifecycles (connect, 100-byte request, 100-byte reply, both
//!   close, wait until both sides are done), `concurrency` at a time.

pub mod callgrind;
pub mod link;
pub mod memory;
pub mod scale;
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

/// How a workload uses the stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Zero-copy socket calls (synack's `send_into`/`recv_with`, smoltcp's closures)
    /// instead of copies through the application's buffers.
    pub zero_copy: bool,
    /// RFC 7323 timestamps on synack (its default, as Linux's); smoltcp sends none
    /// either way, so `false` runs both stacks with the same options.
    pub timestamps: bool,
}

/// The bulk variants in the table, with their names.
pub const BULK_VARIANTS: [(&str, Variant); 3] = [
    (
        "copy API",
        Variant {
            zero_copy: false,
            timestamps: true,
        },
    ),
    (
        "zero-copy",
        Variant {
            zero_copy: true,
            timestamps: true,
        },
    ),
    (
        "zero-copy, no TS",
        Variant {
            zero_copy: true,
            timestamps: false,
        },
    ),
];

/// The churn variants in the table, with their names.
pub const CHURN_VARIANTS: [(&str, Variant); 2] = [
    (
        "default",
        Variant {
            zero_copy: false,
            timestamps: true,
        },
    ),
    (
        "no TS",
        Variant {
            zero_copy: false,
            timestamps: false,
        },
    ),
];

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Bytes of the bulk transfer (wall clock).
    pub bytes: u64,
    /// Socket buffer size for bulk, both directions, both stacks.
    pub bulk_buf: usize,
    /// Lifecycles of the churn workload (wall clock).
    pub conns: u64,
    /// Lifecycles in flight at once.
    pub concurrency: usize,
    /// Socket buffer size for churn, both directions, both stacks.
    pub churn_buf: usize,
    /// Runs of each workload on each stack (interleaved); the median is reported.
    pub repeat: usize,
    /// Instruction counts: bytes of bulk and lifecycles of churn under callgrind (0: no
    /// instruction counts).
    pub cg_bytes: u64,
    /// See `cg_bytes`.
    pub cg_conns: u64,
    /// Memory and scaling: the two connection counts (0: not measured).
    pub scales: [u64; 2],
    /// Bytes of the transfer that measures per-segment cost.
    pub seg_bytes: u64,
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
        cg_bytes: 32 << 20,
        cg_conns: 4_000,
        scales: [100_000, 1_000_000],
        seg_bytes: 64 << 20,
    };

    /// A smoke run: small sizes.
    pub const QUICK: Params = Params {
        bytes: 4 << 20,
        bulk_buf: 256 << 10,
        conns: 500,
        concurrency: 4,
        churn_buf: 16 << 10,
        repeat: 1,
        cg_bytes: 0,
        cg_conns: 0,
        scales: [1_000, 5_000],
        seg_bytes: 2 << 20,
    };

    /// Whether the parameters can run.
    pub fn check(&self) -> Result<(), String> {
        if self.bytes == 0 || self.conns == 0 || self.concurrency == 0 || self.repeat == 0 {
            return Err("--bytes, --conns, --concurrency and --repeat must be positive".into());
        }
        if self.conns > SYNACK_MAX_CONNS || self.cg_conns > SYNACK_MAX_CONNS {
            return Err(format!(
                "--conns {} is above {SYNACK_MAX_CONNS}: synack's client would run out of \
                 ephemeral ports, held by its TIME-WAIT entries",
                self.conns.max(self.cg_conns)
            ));
        }
        if self.bulk_buf < 4096 || self.churn_buf < 4096 {
            return Err("buffers must be at least 4096 bytes".into());
        }
        if self.scales[0] > self.scales[1] {
            return Err("--scales: the smaller count first".into());
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
    /// Rounds of the loop during the transfer.
    pub rounds: u64,
    /// Virtual time the transfer took, microseconds.
    pub virtual_us: u64,
    /// Datagrams client to server during the transfer.
    pub datagrams_a2b: u64,
    /// Datagrams server to client during the transfer.
    pub datagrams_b2a: u64,
    /// Segments retransmitted by either side, if the stack counts them.
    pub retransmits: Option<u64>,
}

impl BulkOutcome {
    /// MiB per second of wall-clock time.
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1u64 << 20) as f64 / self.elapsed.as_secs_f64()
    }

    /// Wall-clock nanoseconds per datagram of the transfer (both directions).
    pub fn ns_per_segment(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / (self.datagrams_a2b + self.datagrams_b2a).max(1) as f64
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

/// Which way a row's figures are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Rates.
    Higher,
    /// Costs.
    Lower,
}

/// What a row must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// synack's advantage over smoltcp (see [`Row::advantage`]) at least this.
    Advantage(f64),
    /// synack's figure at most this.
    AtMost(f64),
    /// Nothing (context).
    None,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured.
    pub name: String,
    /// The unit of the figures.
    pub unit: &'static str,
    /// synack's figure.
    pub synack: Option<f64>,
    /// smoltcp's figure.
    pub smoltcp: Option<f64>,
    /// Which way is better.
    pub better: Better,
    /// Issue 9's target.
    pub target: Target,
    /// DESIGN.md's target, as text.
    pub design: &'static str,
}

impl Row {
    /// synack's advantage: synack / smoltcp for rates, smoltcp / synack for costs (above
    /// 1 means synack is ahead).
    pub fn advantage(&self) -> Option<f64> {
        let (s, m) = (self.synack?, self.smoltcp?);
        Some(match self.better {
            Better::Higher => s / m,
            Better::Lower => m / s,
        })
    }

    /// Whether the target is met (`None` without a target or a figure).
    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::Advantage(x) => Some(self.advantage()? >= x),
            Target::AtMost(x) => Some(self.synack? <= x),
            Target::None => None,
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The parameters.
    pub params: Params,
    /// Wall-clock bulk runs per variant: (synack runs, smoltcp runs), in order.
    pub bulk: Vec<(Vec<BulkOutcome>, Vec<BulkOutcome>)>,
    /// Wall-clock churn runs per variant.
    pub churn: Vec<(Vec<ChurnOutcome>, Vec<ChurnOutcome>)>,
    /// The table.
    pub rows: Vec<Row>,
    /// What could not be measured, and why.
    pub skipped: Vec<String>,
}

/// The median of `runs` by `rate` (the upper median for an even count).
fn median<T: Copy>(runs: &[T], rate: impl Fn(&T) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(rate).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Options for [`run`] beyond the parameters.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// This binary, to run under callgrind (no instruction counts without it).
    pub exe: Option<std::path::PathBuf>,
}

/// Runs everything `params` asks for on both stacks, checking each result.
pub fn run(params: &Params, opts: &RunOptions) -> Result<Report, String> {
    params.check()?;
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    // Wall clock, interleaved: every variant on both stacks, then again.
    let mut bulk = vec![(Vec::new(), Vec::new()); BULK_VARIANTS.len()];
    let mut churn = vec![(Vec::new(), Vec::new()); CHURN_VARIANTS.len()];
    for _ in 0..params.repeat {
        for (i, (_, v)) in BULK_VARIANTS.iter().enumerate() {
            bulk[i]
                .0
                .push(synack_side::bulk(params.bytes, params.bulk_buf, *v)?);
            bulk[i]
                .1
                .push(smoltcp_side::bulk(params.bytes, params.bulk_buf, *v)?);
        }
        for (i, (_, v)) in CHURN_VARIANTS.iter().enumerate() {
            let (n, k, buf) = (params.conns, params.concurrency, params.churn_buf);
            churn[i].0.push(synack_side::churn(n, k, buf, *v)?);
            churn[i].1.push(smoltcp_side::churn(n, k, buf, *v)?);
        }
    }
    for (name, runs) in bulk
        .iter()
        .flat_map(|(s, m)| [("synack", s), ("smoltcp", m)])
    {
        if let Some(b) = runs.iter().find(|b| b.bytes != params.bytes) {
            return Err(format!(
                "{name} bulk moved {} of {} bytes",
                b.bytes, params.bytes
            ));
        }
    }
    for (i, (name, _)) in BULK_VARIANTS.iter().enumerate() {
        let rate = |b: &BulkOutcome| b.mib_per_sec();
        rows.push(Row {
            name: format!("bulk, {name}"),
            unit: "MiB/s",
            synack: Some(median(&bulk[i].0, rate)),
            smoltcp: Some(median(&bulk[i].1, rate)),
            better: Better::Higher,
            target: Target::Advantage(1.3),
            design: ">= 2x",
        });
    }
    for (i, (name, _)) in CHURN_VARIANTS.iter().enumerate() {
        let rate = |c: &ChurnOutcome| c.per_sec();
        rows.push(Row {
            name: format!("churn, {name}"),
            unit: "conn/s",
            synack: Some(median(&churn[i].0, rate)),
            smoltcp: Some(median(&churn[i].1, rate)),
            better: Better::Higher,
            target: Target::Advantage(1.2),
            design: "100,000s/s",
        });
    }
    instruction_rows(params, opts, &mut rows, &mut skipped)?;
    memory_rows(params, &mut rows, &mut skipped)?;
    scaling_rows(params, &mut rows, &mut skipped)?;
    Ok(Report {
        params: *params,
        bulk,
        churn,
        rows,
        skipped,
    })
}

fn instruction_rows(
    params: &Params,
    opts: &RunOptions,
    rows: &mut Vec<Row>,
    skipped: &mut Vec<String>,
) -> Result<(), String> {
    if params.cg_bytes == 0 || params.cg_conns == 0 {
        skipped.push("instruction counts: not asked for".into());
        return Ok(());
    }
    let Some(exe) = &opts.exe else {
        skipped.push("instruction counts: no binary to run under callgrind".into());
        return Ok(());
    };
    if !callgrind::available() {
        skipped.push("instruction counts: valgrind not found (apt-get install valgrind)".into());
        return Ok(());
    }
    let jobs = BULK_VARIANTS
        .iter()
        .map(|(name, v)| {
            (
                format!("bulk, {name}"),
                "instr/byte",
                true,
                *v,
                params.cg_bytes,
            )
        })
        .chain(CHURN_VARIANTS.iter().map(|(name, v)| {
            (
                format!("churn, {name}"),
                "instr/conn",
                false,
                *v,
                params.cg_conns,
            )
        }));
    for (name, unit, is_bulk, variant, n) in jobs {
        let figure = |synack| -> Result<f64, String> {
            let job = callgrind::Job {
                synack,
                bulk: is_bulk,
                variant,
                n,
            };
            Ok(callgrind::count(exe, &job)? as f64 / n as f64)
        };
        let (s, m) = (figure(true)?, figure(false)?);
        rows.push(Row {
            name,
            unit,
            synack: Some(s),
            smoltcp: Some(m),
            better: Better::Lower,
            target: Target::Advantage(if is_bulk { 1.3 } else { 1.2 }),
            design: if is_bulk { ">= 2x" } else { "" },
        });
    }
    Ok(())
}

fn memory_rows(
    params: &Params,
    rows: &mut Vec<Row>,
    skipped: &mut Vec<String>,
) -> Result<(), String> {
    if params.scales[1] == 0 {
        skipped.push("memory: not asked for".into());
        return Ok(());
    }
    if !memory::installed() {
        skipped.push("memory: the counting allocator is not installed".into());
        return Ok(());
    }
    for n in params.scales {
        rows.push(Row {
            name: format!("idle connection @{}", count(n)),
            unit: "bytes",
            synack: Some(memory::synack_idle(n)?),
            smoltcp: Some(memory::smoltcp_socket(n)?),
            better: Better::Lower,
            target: Target::AtMost(512.0),
            design: "< 512",
        });
    }
    for n in params.scales {
        rows.push(Row {
            name: format!("TIME-WAIT entry @{}", count(n)),
            unit: "bytes",
            synack: Some(memory::synack_time_wait(n)?),
            smoltcp: Some(memory::smoltcp_socket(n)?),
            better: Better::Lower,
            target: Target::AtMost(64.0),
            design: "< 64",
        });
    }
    Ok(())
}

fn scaling_rows(
    params: &Params,
    rows: &mut Vec<Row>,
    skipped: &mut Vec<String>,
) -> Result<(), String> {
    let n = params.scales[1];
    if n == 0 {
        skipped.push("per-segment cost: not asked for".into());
        return Ok(());
    }
    let bytes = params.seg_bytes;
    let mut crowded = scale::IdlePair::new(n, params.bulk_buf)?;
    let zc = BULK_VARIANTS[1].1;
    let (mut alone, mut beside, mut smol) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..params.repeat {
        alone.push(synack_side::bulk(bytes, params.bulk_buf, zc)?);
        beside.push(crowded.transfer(bytes)?);
        smol.push(smoltcp_side::bulk(bytes, params.bulk_buf, zc)?);
    }
    drop(crowded);
    let ns = |b: &BulkOutcome| b.ns_per_segment();
    let (one, many) = (median(&alone, ns), median(&beside, ns));
    rows.push(Row {
        name: "per segment, 1 connection".into(),
        unit: "ns",
        synack: Some(one),
        smoltcp: Some(median(&smol, ns)),
        better: Better::Lower,
        target: Target::None,
        design: "",
    });
    rows.push(Row {
        name: format!("per segment, {} idle beside", count(n)),
        unit: "ns",
        synack: Some(many),
        smoltcp: None,
        better: Better::Lower,
        target: Target::None,
        design: "",
    });
    rows.push(Row {
        name: format!("per segment, {} / 1", count(n)),
        unit: "x",
        synack: Some(many / one),
        smoltcp: None,
        better: Better::Lower,
        target: Target::AtMost(1.1),
        design: "<= 1.5",
    });
    Ok(())
}

/// 100000 as "100k", 1000000 as "1M".
fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn figure(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(x) if x >= 1000.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

fn kib(n: usize) -> String {
    format!("{} KiB", n >> 10)
}

impl Report {
    /// The table, the parameters and every run, as printed by the binary.
    pub fn render(&self) -> String {
        let p = &self.params;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<34}{:>11}{:>12}{:>12}{:>9}{:>11}{:>12}{:>6}",
            "measure", "unit", "synack", "smoltcp", "synack+", "target", "DESIGN", "met"
        );
        for r in &self.rows {
            let target = match r.target {
                Target::Advantage(x) => format!(">= {x}x"),
                Target::AtMost(x) => format!("<= {x}"),
                Target::None => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<34}{:>11}{:>12}{:>12}{:>9}{:>11}{:>12}{:>6}",
                r.name,
                r.unit,
                figure(r.synack),
                figure(r.smoltcp),
                r.advantage().map_or("-".into(), |a| format!("{a:.2}x")),
                target,
                r.design,
                match r.met() {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                }
            );
        }
        for s in &self.skipped {
            let _ = writeln!(out, "(not measured: {s})");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "synack+: synack's advantage (synack/smoltcp for rates, smoltcp/synack for \
             costs); target: issue 9's; DESIGN: ../shared/DESIGN.md's."
        );
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
            "  bulk: {} MiB client -> server (callgrind: {} MiB), one connection; socket \
             buffers {b} each way (synack: tcp_wmem = tcp_rmem = [4096, {b}, {b}]; smoltcp: \
             SocketBuffers of {b}); copy API: send/recv vs send_slice/recv_slice; \
             zero-copy: send_into/recv_with vs send/recv closures; no TS: synack without \
             timestamps (smoltcp sends none)",
            p.bytes >> 20,
            p.cg_bytes >> 20,
            b = kib(p.bulk_buf)
        );
        let _ = writeln!(
            out,
            "  churn: {} lifecycles (callgrind: {}), {} in flight; each: connect, 100-byte \
             request, 100-byte reply, client closes first, server closes on end of stream; \
             socket buffers {} each way; smoltcp's buffers lent again to each new socket, \
             its client sockets removed on reaching TIME-WAIT (synack keeps a compact \
             TIME-WAIT record per lifecycle, 60 s)",
            p.conns,
            p.cg_conns,
            p.concurrency,
            kib(p.churn_buf)
        );
        let _ = writeln!(
            out,
            "  memory: live bytes of a counting allocator; idle = handshake done, no \
             payload ring (synack: both stacks' records, slots, tables, timers / 2n; a \
             connection that has moved data also keeps, until close, its TCP_INFO \
             chronographs in the rarely used record and its receive autotuning state, \
             which this row does not count: see tests/idle_memory.rs; smoltcp: a socket \
             with empty buffers, the same in every state, TIME-WAIT included; measured \
             with at most {} sockets, as smoltcp adds a socket by scanning for a free \
             slot); TIME-WAIT: bytes synack gives back when n entries expire",
            memory::SMOLTCP_MAX_SOCKETS
        );
        let _ = writeln!(
            out,
            "  per segment: wall-clock ns per datagram of a {} MiB zero-copy transfer, on a \
             fresh pair and beside {} idle connections on both stacks (smoltcp looks up \
             sockets by scanning them all, so it is measured with one)",
            p.seg_bytes >> 20,
            count(p.scales[1])
        );
        let _ = writeln!(
            out,
            "  wall clock: median of {} interleaved runs per stack; all runs, in order:",
            p.repeat
        );
        let list = |v: Vec<f64>| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, (name, _)) in BULK_VARIANTS.iter().enumerate() {
            let (s, m) = &self.bulk[i];
            let _ = writeln!(
                out,
                "    bulk, {name}: synack {}; smoltcp {} MiB/s ({} / {} datagrams c->s / s->c)",
                list(s.iter().map(BulkOutcome::mib_per_sec).collect()),
                list(m.iter().map(BulkOutcome::mib_per_sec).collect()),
                s[0].datagrams_a2b,
                s[0].datagrams_b2a,
            );
        }
        for (i, (name, _)) in CHURN_VARIANTS.iter().enumerate() {
            let (s, m) = &self.churn[i];
            let _ = writeln!(
                out,
                "    churn, {name}: synack {}; smoltcp {} conn/s ({:.1} / {:.1} datagrams per \
                 lifecycle)",
                list(s.iter().map(ChurnOutcome::per_sec).collect()),
                list(m.iter().map(ChurnOutcome::per_sec).collect()),
                (s[0].datagrams_a2b + s[0].datagrams_b2a) as f64 / s[0].completed as f64,
                (m[0].datagrams_a2b + m[0].datagrams_b2a) as f64 / m[0].completed as f64,
            );
        }
        let _ = writeln!(
            out,
            "  smoltcp is built without congestion control; synack runs CUBIC; on this \
             lossless link both are limited by the window. Both compute and verify IPv4 and \
             TCP checksums; the application checks every byte on both."
        );
        out
    }
}
