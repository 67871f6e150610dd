//! `synack pktdrill run FILE_OR_DIR...`: runs packetdrill scripts against the engine on a
//! virtual clock and prints `PASS`, `FAIL` (with the first mismatch and the exchange so
//! far) or `UNSUPPORTED` (with the reason) for each, then the totals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use synack_pktdrill::{IpVersion, Options, Outcome};

/// The `pktdrill` subcommands.
#[derive(Subcommand, Debug)]
pub enum PktdrillCommand {
    /// Run scripts (files, or directories walked recursively for *.pkt, in sorted order).
    Run(RunArgs),
}

/// Options of `synack pktdrill run`; each overrides the scripts' own `--option` lines.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Script files or directories.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub paths: Vec<PathBuf>,

    /// ipv4, ipv6 or ipv4-mapped-ipv6.
    #[arg(long = "ip_version", alias = "ip-version", value_name = "VERSION")]
    pub ip_version: Option<IpVersion>,

    /// Timing tolerance in microseconds (scripts default to 4000).
    #[arg(
        long = "tolerance_usecs",
        alias = "tolerance-usecs",
        value_name = "USECS"
    )]
    pub tolerance_usecs: Option<i64>,

    /// Timing tolerance as a percentage of the gap since the previous event (12.5).
    #[arg(
        long = "tolerance_percent",
        alias = "tolerance-percent",
        value_name = "PCT"
    )]
    pub tolerance_percent: Option<f64>,

    /// Do not join outbound segments TSO-style.
    #[arg(long = "strict_segments", alias = "strict-segments")]
    pub strict_segments: bool,

    /// Check outbound TS val against a clock of this tick (0: unchecked).
    #[arg(
        long = "tcp_ts_tick_usecs",
        alias = "tcp-ts-tick-usecs",
        value_name = "USECS"
    )]
    pub tcp_ts_tick_usecs: Option<u64>,

    /// Print only failures and the totals.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the command; the exit status is failure if any script failed.
pub fn run(cmd: &PktdrillCommand) -> ExitCode {
    let PktdrillCommand::Run(args) = cmd;
    let scripts = match synack_pktdrill::collect_scripts(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synack pktdrill: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        ip_version: args.ip_version,
        tolerance_usecs: args.tolerance_usecs,
        tolerance_percent: args.tolerance_percent,
        strict_segments: args.strict_segments.then_some(true),
        tcp_ts_tick_usecs: args.tcp_ts_tick_usecs,
        ..Options::default()
    };
    let (mut pass, mut fail, mut unsupported) = (0, 0, 0);
    for path in &scripts {
        let shown = path.display();
        match synack_pktdrill::run_file(path, &opts) {
            Outcome::Pass => {
                pass += 1;
                if !args.quiet {
                    println!("PASS {shown}");
                }
            }
            Outcome::Fail(f) => {
                fail += 1;
                println!("FAIL {shown}");
                print!("{f}");
            }
            Outcome::Unsupported(reason) => {
                unsupported += 1;
                if !args.quiet {
                    println!("UNSUPPORTED {shown}: {reason}");
                }
            }
        }
    }
    println!("{pass} passed, {fail} failed, {unsupported} unsupported");
    if fail > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
