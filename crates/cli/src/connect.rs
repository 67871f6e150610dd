//! `synack connect HOST:PORT`: like `nc`, over synack on a TUN interface: standard
//! input to the connection, the connection to standard output; at the end of standard
//! input a half-close (a FIN, reading goes on), and the command ends when both
//! directions have ended.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use synack_tokio::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::instance::{runtime, Instance, NetArgs};

/// Options of `synack connect`.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Where to connect: IP:PORT (an address, not a name), such as 10.77.0.1:8000.
    #[arg(id = "target", value_name = "HOST:PORT", value_parser = parse_addr)]
    pub target: SocketAddr,

    #[command(flatten)]
    pub net: NetArgs,
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s} is not an address and port: give one such as 10.77.0.1:8000 (synack resolves no names)")
    })
}

/// What a failed connect or transfer means, and what to do.
pub fn explain(e: std::io::Error, addr: SocketAddr) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            format!("{addr} refused the connection (ECONNREFUSED): nothing listens on that port")
        }
        ErrorKind::TimedOut => format!(
            "{addr} did not answer (ETIMEDOUT after tcp_syn_retries SYNs): is it on the \
             kernel's side of the interface (--kernel-addr)?"
        ),
        ErrorKind::ConnectionReset => {
            format!("{addr} reset the connection (ECONNRESET)")
        }
        ErrorKind::AddrNotAvailable => format!(
            "no local port is free to reach {addr} (EADDRNOTAVAIL): widen \
             --sysctl ip_local_port_range"
        ),
        _ => format!("{addr}: {e}"),
    }
}

/// Runs `synack connect`.
pub fn run(args: &ConnectArgs) -> ExitCode {
    let result = runtime().and_then(|rt| {
        let r = rt.block_on(connect(args));
        // Standard input may still block a thread of the runtime: do not wait for it.
        rt.shutdown_background();
        r
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synack connect: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(args: &ConnectArgs) -> Result<(), String> {
    let addr = args.target;
    let inst = Instance::start(&args.net)?;
    let stream = TcpStream::connect(&inst.net, addr)
        .await
        .map_err(|e| explain(e, addr))?;
    let (mut from_conn, mut to_conn) = tokio::io::split(stream);
    let upload = async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdin
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading standard input: {e}"))?;
            if n == 0 {
                break;
            }
            to_conn
                .write_all(&buf[..n])
                .await
                .map_err(|e| explain(e, addr))?;
        }
        // End of input: half-close, as `nc -N` does.
        to_conn.shutdown().await.map_err(|e| explain(e, addr))?;
        Ok::<_, String>(to_conn)
    };
    let download = async move {
        let mut stdout = tokio::io::stdout();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from_conn
                .read(&mut buf)
                .await
                .map_err(|e| explain(e, addr))?;
            if n == 0 {
                break;
            }
            stdout
                .write_all(&buf[..n])
                .await
                .map_err(|e| format!("writing standard output: {e}"))?;
        }
        stdout
            .flush()
            .await
            .map_err(|e| format!("writing standard output: {e}"))?;
        Ok::<_, String>(from_conn)
    };
    // Both directions must end; the first error ends the command.
    let (to_conn, from_conn) = tokio::try_join!(upload, download)?;
    drop(from_conn.unsplit(to_conn));
    inst.finish(Duration::from_secs(2)).await;
    Ok(())
}
