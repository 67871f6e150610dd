//! The `synack` command.
//!
//! `synack demo` runs a client and a server, two synack stacks, over a simulated link and
//! prints the whole life of one TCP connection: every segment on the wire, tcpdump-style,
//! and every state transition of both ends, on one virtual-time timeline.

mod annotate;
mod any;
mod args;
mod connect;
mod control;
mod demo;
mod forward;
mod get;
mod httpd;
mod instance;
mod lab;
mod netstat;
mod pktdrill;
mod serve;
mod ss;
mod sysctl;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A user-space TCP/IP stack that behaves like Linux.
#[derive(Parser, Debug)]
#[command(name = "synack", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Run one TCP connection between two synack stacks on a simulated network and print
    /// its segments, state transitions and counters.
    Demo(DemoArgs),
    /// Run packetdrill scripts against the engine on a virtual clock.
    Pktdrill {
        /// What to do.
        #[command(subcommand)]
        command: pktdrill::PktdrillCommand,
    },
    /// Run synack on a TUN interface and serve files over HTTP/1.1, echo and discard to
    /// the kernel's side, until interrupted (needs CAP_NET_ADMIN).
    Serve(serve::ServeArgs),
    /// Run synack on a TUN interface, terminate every connection routed into it
    /// (--any), whatever its destination, and splice each onto a kernel connection to
    /// --to HOST:PORT, half-closes and resets carried through (needs CAP_NET_ADMIN).
    Forward(forward::ForwardArgs),
    /// Fetch a URL over HTTP/1.1 with synack on a TUN interface (needs CAP_NET_ADMIN).
    Get(get::GetArgs),
    /// Connect to HOST:PORT with synack on a TUN interface: standard input to the
    /// connection, the connection to standard output, like nc (needs CAP_NET_ADMIN).
    Connect(connect::ConnectArgs),
    /// List a running instance's sockets, like ss -tan (-s: summary; -i: internals).
    Ss(ss::SsArgs),
    /// Print a running instance's counters (-s), like netstat -s, or its connections.
    Netstat(netstat::NetstatArgs),
    /// List the labs, or run one: a seed article's incident on the simulated network.
    Lab(lab::LabArgs),
    /// Print the engine's knobs with their values, as Linux's sysctl (-a: all of them).
    Sysctl(sysctl::SysctlArgs),
}

/// Options of `synack demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// One-way delay of the simulated link, in milliseconds (0 to 60000).
    #[arg(long, value_name = "MS", default_value_t = 10, allow_negative_numbers = true,
          value_parser = args::whole(0u64, 60_000, "a whole number of milliseconds"))]
    pub delay_ms: u64,

    /// Probability that the link loses a packet, from 0 to 1 (seeded: see --seed).
    #[arg(long, value_name = "P", default_value_t = 0.0, allow_negative_numbers = true,
          value_parser = args::decimal(0.0, 1.0, "a probability"))]
    pub loss: f64,

    /// Seed of the network's and the stacks' randomness, from 0 to 2^64-1; the same seed
    /// gives the same run.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true,
          value_parser = args::whole(0u64, u64::MAX, "a whole number"))]
    pub seed: u64,

    /// Size of the client's request in bytes, up to 100000000 (the first 18 bytes are
    /// "GET / HTTP/1.0\r\n\r\n").
    #[arg(long, value_name = "BYTES", default_value_t = 18, allow_negative_numbers = true,
          value_parser = args::whole(0u32, 100_000_000, "a whole number of bytes"))]
    pub request_bytes: u32,

    /// Size of the server's response in bytes, up to 100000000.
    #[arg(long, value_name = "BYTES", default_value_t = 4000, allow_negative_numbers = true,
          value_parser = args::whole(0u32, 100_000_000, "a whole number of bytes"))]
    pub response_bytes: u32,

    /// Let the server close first (then the server goes through TIME_WAIT).
    #[arg(long)]
    pub server_closes_first: bool,

    /// Also write every packet on the link to FILE as a pcap capture.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Use IPv6 (fd00::1 and fd00::2) instead of IPv4 (10.0.0.1 and 10.0.0.2).
    #[arg(long)]
    pub ipv6: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => match demo::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("synack demo: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Pktdrill { command } => pktdrill::run(&command),
        Command::Serve(args) => serve::run(&args),
        Command::Forward(args) => forward::run(&args),
        Command::Get(args) => get::run(&args),
        Command::Connect(args) => connect::run(&args),
        Command::Ss(args) => ss::run(&args),
        Command::Netstat(args) => netstat::run(&args),
        Command::Lab(args) => lab::run(&args),
        Command::Sysctl(args) => sysctl::run(&args),
    }
}
