//! `synack netstat`: a running instance's counters (`-s`, as `netstat -s` prints the
//! kernel's, by MIB name) or its connections (as `netstat -tan`), read through the
//! instance's control socket.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;
use synack::{SocketInfo, State, Stats};

use crate::control;

/// Options of `synack netstat`.
#[derive(Args, Debug, Clone)]
pub struct NetstatArgs {
    /// The instance: the TUN interface name it was started with.
    #[arg(long, value_name = "NAME", default_value = "synack0")]
    pub tun: String,

    /// Prints the counters (`Tcp:`, `TcpExt:`, `Ip:` ... by their MIB names); without
    /// it, the connections.
    #[arg(short = 's', long)]
    pub statistics: bool,

    /// TCP connections (the only kind synack has; accepted as `netstat -tan` takes it).
    #[arg(short = 't', long)]
    pub tcp: bool,

    /// Listening sockets too (always so; accepted as `netstat -tan` takes it).
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Numeric addresses (always so; accepted as `netstat -tan` takes it).
    #[arg(short = 'n', long)]
    pub numeric: bool,
}

/// Runs `synack netstat`.
pub fn run(args: &NetstatArgs) -> ExitCode {
    let request = if args.statistics {
        "netstat -s"
    } else {
        "netstat"
    };
    match control::query(&args.tun, request) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synack netstat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every counter under its group, as `netstat -s` prints the ones it has no sentence
/// for: `Tcp:` then `    ActiveOpens: 3`.
pub fn counters(stats: &Stats) -> String {
    let mut groups: Vec<(&str, String)> = Vec::new();
    for (g, name, value) in stats.iter() {
        let i = match groups.iter().position(|x| x.0 == g) {
            Some(i) => i,
            None => {
                groups.push((g, String::new()));
                groups.len() - 1
            }
        };
        let _ = writeln!(groups[i].1, "    {name}: {value}");
    }
    // netstat's order: the IP groups, then TCP's, the extensions after each.
    let rank = |g: &str| {
        [
            "Ip", "Ip6", "Icmp", "IcmpMsg", "Icmp6", "Tcp", "Udp", "Udp6", "TcpExt", "IpExt",
        ]
        .iter()
        .position(|x| *x == g)
        .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|(g, _)| rank(g));
    groups
        .into_iter()
        .map(|(g, lines)| format!("{g}:\n{lines}"))
        .collect()
}

/// The state as `netstat` names it.
fn netstat_name(state: State) -> &'static str {
    match state {
        State::Closed => "CLOSE",
        State::Listen => "LISTEN",
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RECV",
        State::Established => "ESTABLISHED",
        State::FinWait1 => "FIN_WAIT1",
        State::FinWait2 => "FIN_WAIT2",
        State::CloseWait => "CLOSE_WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::TimeWait => "TIME_WAIT",
    }
}

/// The `netstat -tan` listing.
pub fn connections(sockets: &[SocketInfo]) -> String {
    let mut out = String::from("Active Internet connections (servers and established)\n");
    let _ = writeln!(
        out,
        "Proto Recv-Q Send-Q {:<23} {:<23} State",
        "Local Address", "Foreign Address"
    );
    let mut v: Vec<&SocketInfo> = sockets.iter().collect();
    v.sort_by_key(|s| (s.state != State::Listen, s.local, s.remote));
    for s in v {
        let foreign = s
            .remote
            .map_or_else(|| "0.0.0.0:*".to_string(), |r| r.to_string());
        let _ = writeln!(
            out,
            "tcp   {:>6} {:>6} {:<23} {:<23} {}",
            s.recv_q,
            s.send_q,
            s.local.to_string(),
            foreign,
            netstat_name(s.state)
        );
    }
    out
}
