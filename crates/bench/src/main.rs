//! synack-bench: synack beside smoltcp, in one process and one run.
//!
//! ```text
//! cargo run --release -p synack-bench -- [--bytes N] [--conns N] [--concurrency N] [--repeat N] [--quick]
//! ```
//!
//! Two workloads run on each stack over the same in-memory link (lossless, zero latency,
//! MTU 1500, both stacks exchanging raw IPv4 datagrams; a virtual clock driven by the
//! loop):
//! - `bulk`: one connection, the client sends `--bytes` bytes (default 256 MiB), the
//!   server reads and checks them; reported in MiB/s of wall-clock time;
//! - `churn`: `--conns` full lifecycles (default 20,000; at most 28,000 because synack's
//!   client keeps a TIME-WAIT entry per lifecycle on an ephemeral port), `--concurrency`
//!   at a time (default 1); reported in lifecycles per second.
//!
//! Options:
//! - `--bytes N`: bulk transfer size (suffixes K, M, G for KiB, MiB, GiB);
//! - `--conns N`: churn lifecycles;
//! - `--concurrency N`: churn lifecycles in flight;
//! - `--bulk-buf N`, `--churn-buf N`: socket buffer sizes (defaults 256 KiB and 16 KiB);
//! - `--repeat N`: runs of each workload per stack, interleaved (default 3); the median is
//!   reported, with every run listed;
//! - `--quick`: small sizes (and one run), for a smoke run (explicit options still apply after it).
//!
//! Build with `--release`: a debug build measures the compiler, not the stacks. The
//! process exits non-zero if any workload fails its check.

use std::process::ExitCode;

use synack_bench::{run, Params};

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
            "--conns" => params.conns = parse_size(&value()?)?,
            "--concurrency" => params.concurrency = parse_size(&value()?)? as usize,
            "--bulk-buf" => params.bulk_buf = parse_size(&value()?)? as usize,
            "--churn-buf" => params.churn_buf = parse_size(&value()?)? as usize,
            "--repeat" => params.repeat = parse_size(&value()?)? as usize,
            "-h" | "--help" => {
                return Err("usage: synack-bench [--quick] [--bytes N] [--conns N] \
                            [--concurrency N] [--bulk-buf N] [--churn-buf N] [--repeat N]"
                    .into())
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    params.check()?;
    Ok(params)
}

fn main() -> ExitCode {
    let params = match parse_args(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless (use --release)");
    }
    match run(&params) {
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
        let p = parse_args(args("--quick --bytes 8M --conns=100")).unwrap();
        assert_eq!(p.bytes, 8 << 20);
        assert_eq!(p.conns, 100);
        assert_eq!(p.concurrency, Params::QUICK.concurrency);
        assert!(parse_args(args("--conns 100000")).is_err());
        assert!(parse_args(args("--bogus")).is_err());
    }
}
