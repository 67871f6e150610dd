//! synack-pktdrill: a packetdrill-compatible script interpreter for the synack engine.
//!
//! # Overview
//!
//! A packetdrill script interleaves socket calls on the stack under test with packets a
//! fake peer injects (`<`) and packets the stack must emit (`>`), on a timeline. This crate
//! runs such scripts against one [`synack::Stack`] on a *virtual clock*: inbound packets and
//! calls fire exactly at their script time, the stack's timers run on the same clock in
//! between, and every outbound packet is checked (fields, options in exact order, time
//! within tolerance) after remapping sequence numbers, ports and timestamps into the
//! script's space. Nothing touches a real network and a script runs in milliseconds.
//!
//! The pipeline, one module each:
//! - [`lexer`], [`parser`] and `packet` (packet lines) turn text into an [`ast::Script`] (the language of
//!   PACKETDRILL.md §3.1–3.4); errors carry `file:line` and what was expected;
//! - `support` scans a parsed script for what the interpreter cannot honour (Fast Open,
//!   epoll, cmsg, unknown sysctls, ...), which makes it *unsupported*, never passed;
//! - `shell` maps init and timed `` `commands` `` onto [`synack::Config`] (the packetdrill
//!   default profile for `defaults.sh`, `sysctl` and `set_sysctls.py` lines);
//! - `python` evaluates the tiny `assert tcpi_X <op> N` subset of `%{ }%` blocks against
//!   the engine's [`synack::SocketInfo`];
//! - `runner` is the event loop and the virtual clock; `remap` the §3.5 sequence, port
//!   and timestamp maps; `conns` several connections told apart by explicit peer ports
//!   (`< 40001>8080 S ...`, an extension for backlog tests); `compare` the outbound
//!   checks with TSO-style joining; `syscalls`
//!   the socket calls over the engine's API with Linux's errno results, `sockopt` the
//!   socket options with Linux's ranges and reported values; `poll` `poll()` and epoll
//!   over the engine's readiness;
//! - `report` renders an [`Outcome`];
//! - [`expect`] reads a corpus's expected results (`CORPUS.md`) and tells what is
//!   unexpected;
//! - [`harness`] runs a script as a corpus's own runner does (the kernel's
//!   `ksft_runner.sh`: each IP version the script names, with the runner's flags).
//!
//! Entry points: [`run_file`], [`run_str`] and [`collect_scripts`].

#![warn(missing_docs)]

pub mod ast;
mod compare;
mod conns;
mod ecn;
pub mod expect;
pub mod harness;
mod icmp;
pub mod lexer;
mod packet;
pub mod parser;
mod poll;
mod python;
mod remap;
mod report;
mod runner;
mod shell;
mod sockopt;
mod support;
mod syscalls;
mod tstamp;
mod zerocopy;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use report::Failure;

/// A script that does not parse: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The script's name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Which addresses the script's connections use (`--ip_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpVersion {
    /// IPv4 sockets and packets.
    #[default]
    Ipv4,
    /// IPv6 sockets and packets.
    Ipv6,
    /// AF_INET6 sockets, IPv4 packets.
    Ipv4MappedIpv6,
}

impl std::str::FromStr for IpVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<IpVersion, String> {
        match s {
            "ipv4" => Ok(IpVersion::Ipv4),
            "ipv6" => Ok(IpVersion::Ipv6),
            "ipv4-mapped-ipv6" => Ok(IpVersion::Ipv4MappedIpv6),
            _ => Err(format!(
                "bad ip version `{s}`: expected ipv4, ipv6 or ipv4-mapped-ipv6"
            )),
        }
    }
}

/// Command-line settings. Each `Some` overrides the script's own `--option` lines.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--ip_version`.
    pub ip_version: Option<IpVersion>,
    /// `--tolerance_usecs` (default 4000).
    pub tolerance_usecs: Option<i64>,
    /// `--tolerance_percent` (default 12.5).
    pub tolerance_percent: Option<f64>,
    /// `--strict_segments`: no TSO-style joining of outbound segments.
    pub strict_segments: Option<bool>,
    /// `--tcp_ts_tick_usecs`: check outbound TS val at this clock rate (0: unchecked).
    pub tcp_ts_tick_usecs: Option<u64>,
    /// `--bind_port` (default 8080).
    pub bind_port: Option<u16>,
    /// `--connect_port` (default 8080).
    pub connect_port: Option<u16>,
    /// `--local_ip`.
    pub local_ip: Option<IpAddr>,
    /// `--remote_ip` (packetdrill also takes a `/prefix`, which only routes it).
    pub remote_ip: Option<IpAddr>,
    /// `--gateway_ip`: checked to be an address; synack routes every remote address to
    /// the script's peer, so it changes nothing.
    pub gateway_ip: Option<IpAddr>,
    /// `--netmask_ip`: the IPv4 subnet of the local address, as packetdrill configures its
    /// tun device (`ip addr add local/prefix`): the subnet's broadcast address becomes a
    /// martian source.
    pub netmask_ip: Option<std::net::Ipv4Addr>,
    /// `--mtu`: the interface MTU (packetdrill's default 1500). When not given, IPv6 runs
    /// use 1520, as `run_all.py` and `ksft_runner.sh` pass, so that the MSS stays 1460.
    pub mtu: Option<usize>,
    /// `--mss`: every inbound TCP packet is handed to the stack as a GSO packet of
    /// segments of this size (packetdrill's virtio-net header), which is what Linux's
    /// receive-MSS estimate sees.
    pub mss: Option<u16>,
    /// `-D NAME=VALUE` / `--define`: `NAME` in the script stands for `VALUE` (a text
    /// macro, expanded where the name stands as a word).
    pub defines: Vec<(String, String)>,
    /// `--init_scripts`: shell files interpreted before the script (as packetdrill runs
    /// them), their lines read like the script's own init command.
    pub init_scripts: Vec<PathBuf>,
}

/// How a script ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every event happened as the script says.
    Pass,
    /// The first mismatch (or a script error), with the exchange so far.
    Fail(Box<Failure>),
    /// The script needs something the interpreter or the engine lacks; the reason.
    Unsupported(String),
}

impl Outcome {
    /// Whether this is [`Outcome::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass)
    }

    /// The outcome as reports phrase it: "passes", "fails" or "is unsupported".
    pub fn verb(&self) -> &'static str {
        match self {
            Outcome::Pass => "passes",
            Outcome::Fail(_) => "fails",
            Outcome::Unsupported(_) => "is unsupported",
        }
    }
}

/// Runs the script in the file at `path`. Shell commands naming a file beside the
/// script (`./defaults.sh`) read that file.
pub fn run_file(path: &Path, opts: &Options) -> Outcome {
    match std::fs::read_to_string(path) {
        Ok(src) => run_in(&path.display().to_string(), &src, opts, path.parent()),
        Err(e) => Outcome::Fail(Box::new(Failure::script_error(
            0,
            String::new(),
            format!("{}: cannot read: {e}", path.display()),
        ))),
    }
}

/// Runs the script text `src`; `name` names it in messages.
pub fn run_str(name: &str, src: &str, opts: &Options) -> Outcome {
    run_in(name, src, opts, None)
}

/// Runs `src`; `dir` is the script's directory, where its shell commands' files are.
fn run_in(name: &str, src: &str, opts: &Options, dir: Option<&Path>) -> Outcome {
    let script = match parser::parse_with_defines(name, src, &opts.defines) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Fail(Box::new(Failure::script_error(
                e.line,
                src.lines()
                    .nth(e.line.saturating_sub(1))
                    .unwrap_or("")
                    .to_string(),
                format!("parse error: {e}"),
            )))
        }
    };
    runner::run(name, src, &script, opts, dir)
}

/// The `*.pkt` files under `paths` (files as given, directories walked recursively), each
/// directory's entries in sorted order.
pub fn collect_scripts(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "pkt") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}
