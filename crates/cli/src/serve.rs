//! `synack serve`: synack on a TUN interface serving files over HTTP/1.1 (`--http`),
//! echo (`--echo`, RFC 862) and discard (`--discard`, RFC 863), in any combination,
//! until interrupted.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args};
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::args;
use crate::httpd::{self, HttpConfig};
use crate::instance::{runtime, Instance, NetArgs};

/// Options of `synack serve`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("service").required(true).multiple(true).args(["http", "echo", "discard"])))]
pub struct ServeArgs {
    /// Serves the files under --root over HTTP/1.1 (GET and HEAD) on PORT.
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub http: Option<u16>,

    /// The directory whose files --http serves.
    #[arg(long, value_name = "DIR", default_value = ".", value_parser = args::existing_dir)]
    pub root: PathBuf,

    /// nginx's keepalive_timeout: seconds an idle HTTP connection waits for its next
    /// request; 0 turns keep-alive off.
    #[arg(long, value_name = "SECS", default_value_t = 75, allow_negative_numbers = true,
          value_parser = args::whole(0u64, 86_400, "a whole number of seconds"))]
    pub keepalive_timeout: u64,

    /// nginx's keepalive_requests: requests one HTTP connection serves before the server
    /// closes it (the last response says `Connection: close`).
    #[arg(long, value_name = "N", default_value_t = 1000, allow_negative_numbers = true,
          value_parser = args::whole(0u64, u64::MAX, "a whole number of requests"))]
    pub keepalive_requests: u64,

    /// Echoes back what each connection sends on PORT (RFC 862), half-closing after the
    /// client's FIN.
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub echo: Option<u16>,

    /// Reads and drops what each connection sends on PORT (RFC 863).
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub discard: Option<u16>,

    #[command(flatten)]
    pub net: NetArgs,
}

/// Runs `synack serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    let services = [
        ("--http", args.http),
        ("--echo", args.echo),
        ("--discard", args.discard),
    ];
    for (i, (a, pa)) in services.iter().enumerate() {
        for (b, pb) in &services[i + 1..] {
            if pa.is_some() && pa == pb {
                eprintln!(
                    "synack serve: {a} and {b} both ask for port {}: the address is in \
                     use; give each service its own port",
                    pa.unwrap_or_default()
                );
                return ExitCode::from(2);
            }
        }
    }
    let result = runtime().and_then(|rt| rt.block_on(serve(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synack serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Listens on `port` of synack's address; an address in use says so.
async fn bind(net: &Net, addr: SocketAddr, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(net, addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "{flag} {}: the address {addr} is in use; give another port",
                addr.port()
            )
        } else {
            format!("{flag} {}: cannot listen on {addr}: {e}", addr.port())
        }
    })
}

async fn serve(args: &ServeArgs) -> Result<(), String> {
    let inst = Instance::start(&args.net)?;
    let ip = std::net::IpAddr::from(args.net.addr);
    let mut services = JoinSet::new();
    let mut lines = Vec::new();
    if let Some(port) = args.http {
        let listener = bind(&inst.net, SocketAddr::new(ip, port), "--http").await?;
        let cfg = Arc::new(HttpConfig {
            root: args.root.clone(),
            keepalive_timeout: Duration::from_secs(args.keepalive_timeout),
            keepalive_requests: args.keepalive_requests,
        });
        lines.push(format!(
            "http     http://{ip}:{port}/ serving {} (keepalive_timeout {} s, keepalive_requests {})",
            args.root.display(),
            args.keepalive_timeout,
            args.keepalive_requests
        ));
        services.spawn(accept_loop(listener, move |s| {
            let cfg = cfg.clone();
            async move {
                // As nginx does for keep-alive connections (tcp_nodelay on): the last
                // segment of a response must not wait for the ACK of the one before.
                let _ = s.set_nodelay(true);
                let _ = httpd::serve_connection(s, &cfg).await;
            }
        }));
    }
    if let Some(port) = args.echo {
        let listener = bind(&inst.net, SocketAddr::new(ip, port), "--echo").await?;
        lines.push(format!("echo     {ip}:{port}"));
        services.spawn(accept_loop(listener, echo));
    }
    if let Some(port) = args.discard {
        let listener = bind(&inst.net, SocketAddr::new(ip, port), "--discard").await?;
        lines.push(format!("discard  {ip}:{port}"));
        services.spawn(accept_loop(listener, discard));
    }
    let (kernel, len) = args.net.kernel_addr;
    println!(
        "synack on {}: synack is {ip}, the kernel {kernel}/{len}; `synack ss --tun {}` \
         reads it through {}",
        args.net.tun,
        args.net.tun,
        inst.control_path().display()
    );
    for l in lines {
        println!("{l}");
    }
    println!("serving until interrupted (Ctrl-C)");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot catch SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    // Every listener and connection closes; their FINs go out before the interface goes.
    services.shutdown().await;
    inst.finish(Duration::from_secs(1)).await;
    Ok(())
}

/// Accepts connections and runs `handler` on each; dropping the loop ends them all.
async fn accept_loop<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => {
                    conns.spawn(handler(s));
                }
                Err(e) => {
                    eprintln!("synack serve: accepting on {:?}: {e}", listener.local_addr());
                    return;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// RFC 862: sends back what arrives; after the client's FIN, a FIN.
async fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = s.shutdown().await;
}

/// RFC 863: reads and drops what arrives; after the client's FIN, closes.
async fn discard(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
