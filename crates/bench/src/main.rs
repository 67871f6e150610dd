//! synack-bench: synack beside smoltcp, in one process and one run, as one table.
//!
//! ```text
//! cargo run --release -p synack-bench -- [--quick] [--bytes N] [--conns N]
//!     [--concurrency N] [--bulk-buf N] [--churn-buf N] [--repeat N]
//!     [--cg-bytes N] [--cg-conns N] [--scales N,M] [--seg-bytes N]
//! ```
//!
//! Every row gives synack's figure, smoltcp's, synack's advantage, issue 9's target and
//! DESIGN.md's: wall-clock rates of bulk and churn (medians of interleaved runs),
//! instructions per byte and per lifecycle (callgrind, when valgrind is installed),
//! memory per idle connection and per TIME-WAIT entry at two counts (a counting
//! allocator), and per-segment cost beside one and beside many idle connections.
//!
//! Options (sizes take K, M, G suffixes):
//! - `--bytes N`: bulk transfer size (default 256 MiB);
//! - `--conns N`: churn lifecycles (default 20,000; at most 28,000: synack's client keeps
//!   a TIME-WAIT entry per lifecycle on an ephemeral port);
//! - `--concurrency N`: churn lifecycles in flight (default 1);
//! - `--bulk-buf N`, `--churn-buf N`: socket buffer sizes (defaults 256 KiB and 16 KiB);
//! - `--repeat N`: wall-clock runs of each workload per stack, interleaved (default 3);
//! - `--cg-bytes N`, `--cg-conns N`: sizes under callgrind (defaults 32 MiB, 4,000; 0
//!   skips instruction counts);
//! - `--scales N,M`: connection counts for memory and scaling (default 100k,1M; 0,0
//!   skips them);
//! - `--seg-bytes N`: transfer size for per-segment cost (default 64 MiB);
//! - `--quick`: small sizes, one run, no callgrind, for a smoke run (explicit options
//!   still apply after it).
//!
//! Build with `--release`: a debug build measures the compiler, not the stacks. The
//! process exits non-zero if any workload fails its check.

use std::process::ExitCode;

use synack_bench::{callgrind, run, Params, RunOptions};

#[global_allocator]
static ALLOC: synack_bench::memory::Counting = synack_bench::memory::Counting;

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("not a size: {s}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("too large: {s}"))
}

/// A count: plain digits, or with k (thousands) or M (millions).
fn parse_count(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1000u64),
        Some((i, 'M' | 'm')) => (&s[..i], 1_000_000),
        _ => (s, 1),
    };
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("not a count: {s}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("too large: {s}"))
}

const USAGE: &str = "usage: synack-bench [--quick] [--bytes N] [--conns N] [--concurrency N] \
                     [--bulk-buf N] [--churn-buf N] [--repeat N] [--cg-bytes N] \
                     [--cg-conns N] [--scales N,M] [--seg-bytes N]";

fn parse_args(args: impl Iterator<Item = String>) -> Result<Params, String> {
    let args: Vec<String> = args.collect();
    let mut params = if args.iter().any(|a| a == "--quick") {
        Params::QUICK
    } else {
        Params::FULL
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--quick" => {}
            "--bytes" => params.bytes = parse_size(&value()?)?,
            "--conns" => params.conns = parse_count(&value()?)?,
            "--concurrency" => params.concurrency = parse_count(&value()?)? as usize,
            "--bulk-buf" => params.bulk_buf = parse_size(&value()?)? as usize,
            "--churn-buf" => params.churn_buf = parse_size(&value()?)? as usize,
            "--repeat" => params.repeat = parse_count(&value()?)? as usize,
            "--cg-bytes" => params.cg_bytes = parse_size(&value()?)?,
            "--cg-conns" => params.cg_conns = parse_count(&value()?)?,
            "--seg-bytes" => params.seg_bytes = parse_size(&value()?)?,
            "--scales" => {
                let v = value()?;
                let (a, b) = v
                    .split_once(',')
                    .ok_or_else(|| format!("--scales takes two counts, N,M: {v}"))?;
                params.scales = [parse_count(a)?, parse_count(b)?];
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    params.check()?;
    Ok(params)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--measure") {
        // The child that callgrind runs: one workload, once.
        let r = callgrind::Job::parse(&args[1..]).and_then(|job| job.run(&Params::FULL));
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("FAILED: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let params = match parse_args(args.into_iter()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless (use --release)");
    }
    let opts = RunOptions {
        exe: std::env::current_exe().ok(),
    };
    match run(&params, &opts) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(String::from)
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_args(args("")).unwrap(), Params::FULL);
        let p = parse_args(args("--quick --bytes 8M --conns=100 --scales 10k,2M")).unwrap();
        assert_eq!(p.bytes, 8 << 20);
        assert_eq!(p.conns, 100);
        assert_eq!(p.scales, [10_000, 2_000_000]);
        assert_eq!(p.concurrency, Params::QUICK.concurrency);
        assert!(parse_args(args("--conns 100000")).is_err());
        assert!(parse_args(args("--scales 5,1")).is_err());
        assert!(parse_args(args("--bogus")).is_err());
    }
}
