//! `synack ss`: a running instance's sockets, as `ss -tan` lists the kernel's (`-s` for
//! the summary, `-i`/`-o` for timers and TCP internals as `ss -tanoi`), read through
//! the instance's control socket.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;
use synack::{SocketInfo, State};

use crate::control;

/// Options of `synack ss`.
#[derive(Args, Debug, Clone)]
pub struct SsArgs {
    /// The instance: the TUN interface name it was started with.
    #[arg(long, value_name = "NAME", default_value = "synack0")]
    pub tun: String,

    /// Prints the summary: sockets by state.
    #[arg(short = 's', long)]
    pub summary: bool,

    /// Shows TCP internals (congestion control, RTT, windows, counts) and timers.
    #[arg(short = 'i', long)]
    pub info: bool,

    /// Shows timers (printed with the internals, as `ss -tanoi` does).
    #[arg(short = 'o', long)]
    pub options: bool,

    /// TCP sockets (the only kind synack has; accepted as `ss -tan` takes it).
    #[arg(short = 't', long)]
    pub tcp: bool,

    /// All sockets, listening ones included (always so; accepted as `ss -tan` takes
    /// it).
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Numeric addresses (always so; accepted as `ss -tan` takes it).
    #[arg(short = 'n', long)]
    pub numeric: bool,
}

/// Runs `synack ss`.
pub fn run(args: &SsArgs) -> ExitCode {
    let request = if args.summary {
        "ss -s"
    } else if args.info || args.options {
        "ss -i"
    } else {
        "ss"
    };
    match control::query(&args.tun, request) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synack ss: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Listeners first, then connections by local and peer address.
fn sorted(sockets: &[SocketInfo]) -> Vec<&SocketInfo> {
    let mut v: Vec<&SocketInfo> = sockets.iter().collect();
    v.sort_by_key(|s| (s.state != State::Listen, s.local, s.remote));
    v
}

/// The `ss -tan` listing (with `detail`, `ss -tanoi`'s).
pub fn render(sockets: &[SocketInfo], detail: bool) -> String {
    let mut out = format!(
        "{:<10} {:<6} {:<6} {:<22} {}\n",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for s in sorted(sockets) {
        if detail {
            let text = s.to_string();
            for line in text.lines() {
                let _ = writeln!(out, "{}", line.trim_end());
            }
        } else {
            let peer = s
                .remote
                .map_or_else(|| "*:*".to_string(), |r| r.to_string());
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:<6} {:<22} {}",
                s.state.ss_name(),
                s.recv_q,
                s.send_q,
                s.local.to_string(),
                peer
            );
        }
    }
    out
}

/// The `ss -s` summary: the TCP total with Linux's breakdown, the payload memory
/// charged against `tcp_mem` in pages (`/proc/net/sockstat`'s `TCP: ... mem`), then a
/// count per state.
pub fn summary(sockets: &[SocketInfo], mem_pages: u64) -> String {
    let count = |f: &dyn Fn(&SocketInfo) -> bool| sockets.iter().filter(|s| f(s)).count();
    let mut out = format!("Total: {}\n", sockets.len());
    let _ = writeln!(
        out,
        "TCP:   {} (estab {}, closed {}, orphaned {}, timewait {})",
        sockets.len(),
        count(&|s| s.state == State::Established),
        count(&|s| s.state == State::Closed),
        count(&|s| s.orphan),
        count(&|s| s.state == State::TimeWait),
    );
    let _ = writeln!(out, "TCP mem: {mem_pages} pages (sockstat)");
    out.push('\n');
    let _ = writeln!(out, "{:<11} Count", "State");
    const ORDER: [State; 11] = [
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
        State::Closed,
    ];
    for state in ORDER {
        let n = count(&|s| s.state == state);
        if n > 0 {
            let _ = writeln!(out, "{:<11} {n}", state.ss_name());
        }
    }
    out
}
