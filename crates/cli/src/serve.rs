//! `synack serve`: synack on a TUN interface serving files over HTTP/1.1 (`--http`),
//! echo (`--echo`, RFC 862) and discard (`--discard`, RFC 863), in any combination,
//! until interrupted. With `--any`, each service terminates connections to any
//! destination routed into the interface (its port, or every port), as a VPN client or a
//! tun-to-proxy tool does.

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

use crate::any;
use crate::args;
use crate::httpd::{self, HttpConfig};
use crate::instance::{runtime, Instance, NetArgs};

/// Options of `synack serve`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("service").required(true).multiple(true).args(["http", "echo", "discard"])))]
pub struct ServeArgs {
    /// Serves the files under --root over HTTP/1.1 (GET and HEAD) on PORT (with --any,
    /// PORT may be left out: every port).
    #[arg(long, value_name = "PORT", allow_negative_numbers = true, num_args = 0..=1,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub http: Option<Option<u16>>,

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
    #[arg(long, value_name = "PORT", allow_negative_numbers = true, num_args = 0..=1,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub echo: Option<Option<u16>>,

    /// Reads and drops what each connection sends on PORT (RFC 863).
    #[arg(long, value_name = "PORT", allow_negative_numbers = true, num_args = 0..=1,
          value_parser = args::whole(1u16, 65535, "a port number"))]
    pub discard: Option<Option<u16>>,

    /// Terminates connections to any address of the PREFIXes (comma-separated, e.g.
    /// 198.51.100.0/24,2001:db8::/32), which are routed into the interface, or with no
    /// PREFIX to any address the kernel sends to it: each service takes its port at
    /// every such address (one service may leave its port out and take the rest).
    #[arg(long, value_name = "PREFIX", num_args = 0.., value_delimiter = ',',
          value_parser = any::prefix)]
    pub any: Option<Vec<synack::Prefix>>,

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
            if let (Some(Some(p)), Some(Some(q))) = (pa, pb) {
                if p == q {
                    eprintln!(
                        "synack serve: {a} and {b} both ask for port {p}: the address is in \
                         use; give each service its own port"
                    );
                    return ExitCode::from(2);
                }
            }
        }
    }
    let portless: Vec<&str> = services
        .iter()
        .filter(|(_, p)| matches!(p, Some(None)))
        .map(|(a, _)| *a)
        .collect();
    if args.any.is_none() && !portless.is_empty() {
        eprintln!(
            "synack serve: {} needs a PORT (only with --any may a service take every port)",
            portless[0]
        );
        return ExitCode::from(2);
    }
    if portless.len() > 1 {
        eprintln!(
            "synack serve: {} and {} both ask for every port: give one of them a PORT",
            portless[0], portless[1]
        );
        return ExitCode::from(2);
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

/// A service's listener: on synack's address and `port`, or with `--any` on every
/// address of the prefixes (and `port`, or every port); the banner's name for where.
async fn listen(
    net: &Net,
    args: &ServeArgs,
    port: Option<u16>,
    flag: &str,
) -> Result<(TcpListener, String), String> {
    let ip = std::net::IpAddr::from(args.net.addr);
    match (&args.any, port) {
        (Some(prefixes), port) => {
            let l = synack_tokio::TcpSocket::new(net)
                .and_then(|s| s.listen_any(any::filter(prefixes, port), 1024))
                .map_err(|e| format!("{flag}: cannot listen: {e}"))?;
            Ok((l, any::describe(prefixes, port)))
        }
        (None, Some(port)) => {
            let l = bind(net, SocketAddr::new(ip, port), flag).await?;
            Ok((l, format!("{ip}:{port}")))
        }
        (None, None) => Err(format!("{flag} needs a PORT")),
    }
}

async fn serve(args: &ServeArgs) -> Result<(), String> {
    let inst = Instance::start(&args.net)?;
    if let Some(prefixes) = &args.any {
        any::add_routes(prefixes, &args.net.tun)?;
    }
    let mut services = JoinSet::new();
    let mut lines = Vec::new();
    // Services with a port first: an any-address listener made earlier takes a
    // destination both would take, so the one without a port gets only the rest.
    let mut order = [
        ("--http", args.http),
        ("--echo", args.echo),
        ("--discard", args.discard),
    ];
    order.sort_by_key(|(_, p)| matches!(p, Some(None)));
    for (flag, port) in order {
        let Some(port) = port else { continue };
        let (listener, at) = listen(&inst.net, args, port, flag).await?;
        match flag {
            "--http" => lines.push(http(args, listener, at, &mut services)),
            "--echo" => {
                lines.push(format!("echo     {at}"));
                services.spawn(accept_loop(listener, echo));
            }
            _ => {
                lines.push(format!("discard  {at}"));
                services.spawn(accept_loop(listener, discard));
            }
        }
    }
    // Catch SIGTERM before the banner says we serve: a caller that stops us as soon as
    // it has read the banner must not find the default action (death) still in place.
    let interrupt = Interrupt::register()?;
    print_banner(args, &inst, lines);
    interrupt.wait().await;
    // Every listener and connection closes; their FINs go out before the interface goes.
    services.shutdown().await;
    inst.finish(Duration::from_secs(1)).await;
    Ok(())
}

/// Starts the HTTP service on `listener`; the banner's line.
fn http(args: &ServeArgs, listener: TcpListener, at: String, services: &mut JoinSet<()>) -> String {
    let at = if args.any.is_some() {
        at
    } else {
        format!("http://{at}/")
    };
    {
        let cfg = Arc::new(HttpConfig {
            root: args.root.clone(),
            keepalive_timeout: Duration::from_secs(args.keepalive_timeout),
            keepalive_requests: args.keepalive_requests,
        });
        let line = format!(
            "http     {at} serving {} (keepalive_timeout {} s, keepalive_requests {})",
            args.root.display(),
            args.keepalive_timeout,
            args.keepalive_requests
        );
        services.spawn(accept_loop(listener, move |s| {
            let cfg = cfg.clone();
            async move {
                // As nginx does for keep-alive connections (tcp_nodelay on): the last
                // segment of a response must not wait for the ACK of the one before.
                let _ = s.set_nodelay(true);
                let _ = httpd::serve_connection(s, &cfg).await;
            }
        }));
        line
    }
}

/// Prints what runs where, then the line the tests wait for.
fn print_banner(args: &ServeArgs, inst: &Instance, lines: Vec<String>) {
    let ip = args.net.addr;
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
    if args.any.as_ref().is_some_and(|p| p.is_empty()) {
        println!(
            "--any takes every address the kernel sends to {}: route networks into it \
             (ip route add NET dev {})",
            args.net.tun, args.net.tun
        );
    }
    println!("serving until interrupted (Ctrl-C)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Ctrl-C and SIGTERM, caught from the moment of [`Interrupt::register`].
pub struct Interrupt {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Interrupt {
    /// Installs the handlers (call it before announcing that the program serves).
    pub fn register() -> Result<Interrupt, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let term =
            signal(SignalKind::terminate()).map_err(|e| format!("cannot catch SIGTERM: {e}"))?;
        let int =
            signal(SignalKind::interrupt()).map_err(|e| format!("cannot catch SIGINT: {e}"))?;
        Ok(Interrupt { term, int })
    }

    /// Waits for Ctrl-C or SIGTERM.
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Accepts connections and runs `handler` on each; dropping the loop ends them all.
pub async fn accept_loop<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => {
                    // On the engine's own runtime (its thread, with --queues).
                    let rt = s.net().runtime().clone();
                    conns.spawn_on(handler(s), &rt);
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
