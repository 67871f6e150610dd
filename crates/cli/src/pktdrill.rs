//! `synack pktdrill run FILE_OR_DIR...`: runs packetdrill scripts against the engine on a
//! virtual clock and prints `PASS`, `FAIL` (with the first mismatch and the exchange so
//! far) or `UNSUPPORTED` (with the reason) for each, then the totals.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use std::net::{IpAddr, Ipv4Addr};
use synack_pktdrill::expect::{Expectations, Verdict};

use synack_pktdrill::harness::{self, Harness, HarnessRun};
use synack_pktdrill::{IpVersion, Options, Outcome};

use crate::args;

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
    #[arg(required = true, value_name = "FILE_OR_DIR", value_parser = args::existing_path)]
    pub paths: Vec<PathBuf>,

    /// ipv4, ipv6 or ipv4-mapped-ipv6.
    #[arg(long = "ip_version", alias = "ip-version", value_name = "VERSION")]
    pub ip_version: Option<IpVersion>,

    /// Timing tolerance in microseconds, 0 to 1000000000 (scripts default to 4000).
    #[arg(
        long = "tolerance_usecs",
        alias = "tolerance-usecs",
        value_name = "USECS",
        allow_negative_numbers = true,
        value_parser = args::whole(0i64, 1_000_000_000, "a whole number of microseconds")
    )]
    pub tolerance_usecs: Option<i64>,

    /// Timing tolerance as a percentage of the gap since the previous event, 0 to 100
    /// (12.5).
    #[arg(
        long = "tolerance_percent",
        alias = "tolerance-percent",
        value_name = "PCT",
        allow_negative_numbers = true,
        value_parser = args::decimal(0.0, 100.0, "a percentage")
    )]
    pub tolerance_percent: Option<f64>,

    /// Do not join outbound segments TSO-style.
    #[arg(long = "strict_segments", alias = "strict-segments")]
    pub strict_segments: bool,

    /// Check outbound TS val against a clock of this tick, in microseconds up to 1000000
    /// (0: unchecked).
    #[arg(
        long = "tcp_ts_tick_usecs",
        alias = "tcp-ts-tick-usecs",
        value_name = "USECS",
        allow_negative_numbers = true,
        value_parser = args::whole(0u64, 1_000_000, "a whole number of microseconds")
    )]
    pub tcp_ts_tick_usecs: Option<u64>,

    /// The local address (packetdrill's --local_ip; 192.168.0.1 or fd3d:fa7b:d17d::1).
    #[arg(long = "local_ip", alias = "local-ip", value_name = "ADDR", value_parser = args::address)]
    pub local_ip: Option<IpAddr>,

    /// The peer's address, optionally with a /prefix (192.0.2.1 or 2001:db8::1).
    #[arg(long = "remote_ip", alias = "remote-ip", value_name = "ADDR", value_parser = args::address)]
    pub remote_ip: Option<IpAddr>,

    /// The gateway (accepted for packetdrill's command lines; synack routes every peer
    /// address to the script's peer).
    #[arg(long = "gateway_ip", alias = "gateway-ip", value_name = "ADDR", value_parser = args::address)]
    pub gateway_ip: Option<IpAddr>,

    /// The local IPv4 subnet's netmask, such as 255.255.0.0 (its broadcast address
    /// becomes a martian source).
    #[arg(long = "netmask_ip", alias = "netmask-ip", value_name = "MASK")]
    pub netmask_ip: Option<Ipv4Addr>,

    /// The port bind(..., ...) binds, 1 to 65535 (8080).
    #[arg(
        long = "bind_port",
        alias = "bind-port",
        value_name = "PORT",
        allow_negative_numbers = true,
        value_parser = args::whole(1u16, 65535, "a port")
    )]
    pub bind_port: Option<u16>,

    /// The port connect(..., ...) connects to, 1 to 65535 (8080).
    #[arg(
        long = "connect_port",
        alias = "connect-port",
        value_name = "PORT",
        allow_negative_numbers = true,
        value_parser = args::whole(1u16, 65535, "a port")
    )]
    pub connect_port: Option<u16>,

    /// The interface MTU, 1280 to 65535 (1500; 1520 for IPv6, as packetdrill's runners
    /// pass).
    #[arg(
        long,
        value_name = "BYTES",
        allow_negative_numbers = true,
        value_parser = args::whole(1280u32, 65535, "an MTU in bytes")
    )]
    pub mtu: Option<u32>,

    /// Inbound packets are GSO packets of segments of this size, 1 to 65535.
    #[arg(
        long,
        value_name = "BYTES",
        allow_negative_numbers = true,
        value_parser = args::whole(1u16, 65535, "an MSS in bytes")
    )]
    pub mss: Option<u16>,

    /// A text macro: NAME in the scripts stands for VALUE (repeatable), as packetdrill's
    /// -D, such as -D TFO_COOKIE=3021b9d889017eeb.
    #[arg(short = 'D', long = "define", value_name = "NAME=VALUE", value_parser = args::define)]
    pub defines: Vec<(String, String)>,

    /// Shell files to interpret before each script, comma-separated (sysctl lines and
    /// the like, read as a defaults file: knobs the engine lacks are skipped).
    #[arg(
        long = "init_scripts",
        alias = "init-scripts",
        value_name = "FILES",
        value_delimiter = ',',
        value_parser = args::existing_file
    )]
    pub init_scripts: Vec<PathBuf>,

    /// Accepted for packetdrill's command lines (zerocopy buffer reuse, which synack's
    /// copying API never does).
    #[arg(long = "send_omit_free", alias = "send-omit-free")]
    pub send_omit_free: bool,

    /// Run each script as a corpus's own runner does: `ksft` is the Linux kernel's
    /// ksft_runner.sh (each IP version the script names, IPv4 and IPv6 when none, with
    /// its addresses, MTU and defines); a script passes when every run passes.
    #[arg(long, value_name = "RUNNER")]
    pub harness: Option<Harness>,

    /// Print only failures and the totals.
    #[arg(long, short)]
    pub quiet: bool,

    /// After the run, print a CORPUS.md table row (`| path | unsupported | need |`) for
    /// each unsupported script, the path from the folder that holds the corpus
    /// directories (`google-packetdrill/...`), grouped by need.
    #[arg(long = "unsupported-rows")]
    pub unsupported_rows: bool,

    /// Compare the results with the expected ones listed in FILE (Markdown table rows
    /// `| path.pkt | fail or unsupported | why |`, as in crates/pktdrill/CORPUS.md):
    /// report what is unexpected, and exit 0 when every result is as expected.
    #[arg(long, value_name = "FILE", value_parser = args::existing_path)]
    pub expect: Option<PathBuf>,
}

/// ` [ipv4 ipv6]` after a script run by a harness: its runs; a run whose result is not
/// the script's is marked (`ipv6: FAIL`).
fn runs_note(runs: &[HarnessRun]) -> String {
    let word = |o: &Outcome| match o {
        Outcome::Pass => "PASS",
        Outcome::Fail(_) => "FAIL",
        Outcome::Unsupported(_) => "UNSUPPORTED",
    };
    let all = harness::combined(runs);
    let parts: Vec<String> = runs
        .iter()
        .map(|r| {
            if word(&r.outcome) == word(&all) {
                r.label.to_string()
            } else {
                format!("{}: {}", r.label, word(&r.outcome))
            }
        })
        .collect();
    format!(" [{}]", parts.join(", "))
}

/// A script's path as CORPUS.md rows give it: from the folder holding the corpus
/// directories (the path's part after `conformance/`, else as given), `/`-separated.
fn row_path(path: &std::path::Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let from = parts
        .iter()
        .rposition(|p| p == "conformance")
        .map_or(0, |i| i + 1);
    parts[from..].join("/")
}

/// Prints `| path | unsupported | need |` rows, the most common needs first; the line
/// number a need starts with is dropped, `|` escaped.
fn print_rows(rows: &mut [(String, String)]) {
    let need = |r: &str| {
        let r = match r.split_once(": ") {
            Some((l, rest)) if l.starts_with("line ") => rest,
            _ => r,
        };
        r.replace('|', "\\|")
    };
    let mut count = std::collections::HashMap::new();
    for (_, r) in rows.iter() {
        *count.entry(need(r)).or_insert(0usize) += 1;
    }
    rows.sort_by(|a, b| {
        let (na, nb) = (need(&a.1), need(&b.1));
        count[&nb].cmp(&count[&na]).then(na.cmp(&nb))
    });
    println!("| script | result | why |\n|---|---|---|");
    for (p, r) in rows.iter() {
        println!("| {p} | unsupported | {} |", need(r));
    }
}

/// The exit status of a usage error (clap's).
const USAGE: u8 = 2;

/// Runs the command. The exit status is failure if any script failed, or with
/// `--expect`, if any result was not the expected one; 2 for a usage error (no scripts,
/// an unreadable expectations file).
pub fn run(cmd: &PktdrillCommand) -> ExitCode {
    let PktdrillCommand::Run(args) = cmd;
    let scripts = match synack_pktdrill::collect_scripts(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synack pktdrill: {e}");
            return ExitCode::FAILURE;
        }
    };
    if scripts.is_empty() {
        let given: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "synack pktdrill: no scripts found: no *.pkt file in {} (give packetdrill \
             scripts or directories that hold them)",
            given.join(", ")
        );
        return ExitCode::from(USAGE);
    }
    let version = args.ip_version.unwrap_or_default();
    let expect = match args
        .expect
        .as_deref()
        .map(|p| Expectations::load_for(p, version))
        .transpose()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("synack pktdrill: --expect: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let opts = Options {
        ip_version: args.ip_version,
        tolerance_usecs: args.tolerance_usecs,
        tolerance_percent: args.tolerance_percent,
        strict_segments: args.strict_segments.then_some(true),
        tcp_ts_tick_usecs: args.tcp_ts_tick_usecs,
        local_ip: args.local_ip,
        remote_ip: args.remote_ip,
        gateway_ip: args.gateway_ip,
        netmask_ip: args.netmask_ip,
        bind_port: args.bind_port,
        connect_port: args.connect_port,
        mtu: args.mtu.map(|m| m as usize),
        mss: args.mss,
        defines: args.defines.clone(),
        init_scripts: args.init_scripts.clone(),
    };
    let (mut pass, mut fail, mut unsupported, mut expected_fail) = (0, 0, 0, 0);
    let mut unexpected = Vec::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    for path in &scripts {
        let shown = path.display();
        let (outcome, runs) = match args.harness {
            Some(h) => {
                let runs = harness::run_file_with(path, &opts, h);
                (harness::combined(&runs), runs_note(&runs))
            }
            None => (synack_pktdrill::run_file(path, &opts), String::new()),
        };
        let shown = format!("{shown}{runs}");
        let verdict = expect.as_ref().map(|e| e.judge(path, &outcome));
        // What the expectations say about this result, after it, when anything.
        let note = match verdict {
            Some(Verdict::AsExpected(Some(row))) => format!(
                " (expected: {}, line {})",
                expect.as_ref().map_or("", |e| e.file.as_str()),
                row.line
            ),
            Some(Verdict::UnlistedFailure) => " (UNEXPECTED: not listed as failing)".into(),
            Some(Verdict::Differs(row)) => format!(
                " (UNEXPECTED: line {} of {} says {})",
                row.line,
                expect.as_ref().map_or("", |e| e.file.as_str()),
                row.result
            ),
            _ => String::new(),
        };
        if verdict.is_some_and(|v| !v.is_expected()) {
            let result = match outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail(_) => "FAIL",
                Outcome::Unsupported(_) => "UNSUPPORTED",
            };
            unexpected.push(format!("{result} {shown}{note}"));
        }
        match outcome {
            Outcome::Pass => {
                pass += 1;
                if !args.quiet || !note.is_empty() {
                    println!("PASS {shown}{note}");
                }
            }
            Outcome::Fail(f) if verdict.is_some_and(|v| v.is_expected()) => {
                // A known failure: its first mismatch only.
                fail += 1;
                expected_fail += 1;
                if !args.quiet {
                    println!("FAIL {shown}{note}\n  error: {}", f.message);
                }
            }
            Outcome::Fail(f) => {
                fail += 1;
                println!("FAIL {shown}{note}");
                print!("{f}");
            }
            Outcome::Unsupported(reason) => {
                unsupported += 1;
                rows.push((row_path(path), reason.clone()));
                if !args.quiet || verdict.is_some_and(|v| !v.is_expected()) {
                    println!("UNSUPPORTED {shown}: {reason}{note}");
                }
            }
        }
    }
    if args.unsupported_rows {
        print_rows(&mut rows);
    }
    let Some(expect) = expect else {
        println!("{pass} passed, {fail} failed, {unsupported} unsupported");
        return if fail > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    };
    println!(
        "{pass} passed, {fail} failed ({expected_fail} expected), {unsupported} unsupported; \
         {} unexpected (against {})",
        unexpected.len(),
        expect.file
    );
    for u in &unexpected {
        println!("  {u}");
    }
    if unexpected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
