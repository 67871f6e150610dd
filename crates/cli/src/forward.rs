//! `synack forward --any --to HOST:PORT`: synack on a TUN interface terminates every
//! connection routed into it, whatever its destination, and splices each onto a new
//! kernel connection to HOST:PORT, carrying a half-close (FIN) through in each
//! direction on its own and a reset as a reset: the core of a tun-to-proxy tool.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use synack_tokio::TcpStream;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::any;
use crate::instance::{runtime, Instance, NetArgs};

/// Options of `synack forward`.
#[derive(Args, Debug, Clone)]
pub struct ForwardArgs {
    /// Terminates connections to any address of the PREFIXes (comma-separated, e.g.
    /// 198.51.100.0/24,2001:db8::/32), which are routed into the interface, or with no
    /// PREFIX to any address the kernel sends to it.
    #[arg(long, value_name = "PREFIX", num_args = 0.., value_delimiter = ',',
          required = true, value_parser = any::prefix)]
    pub any: Option<Vec<synack::Prefix>>,

    /// Where each terminated connection goes: a kernel TCP connection to HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", required = true)]
    pub to: String,

    /// Takes only connections to this destination port (default: every port).
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = crate::args::whole(1u16, 65535, "a port number"))]
    pub port: Option<u16>,

    #[command(flatten)]
    pub net: NetArgs,
}

/// Runs `synack forward`.
pub fn run(args: &ForwardArgs) -> ExitCode {
    let result = runtime().and_then(|rt| rt.block_on(forward(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synack forward: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn forward(args: &ForwardArgs) -> Result<(), String> {
    let to = tokio::net::lookup_host(&args.to)
        .await
        .map_err(|e| {
            format!(
                "--to {}: cannot resolve it ({e}): give HOST:PORT, e.g. 127.0.0.1:1080",
                args.to
            )
        })?
        .next()
        .ok_or_else(|| format!("--to {}: the name has no address", args.to))?;
    let prefixes = args.any.clone().unwrap_or_default();
    let inst = Instance::start(&args.net)?;
    any::add_routes(&prefixes, &args.net.tun)?;
    let listener = synack_tokio::TcpSocket::new(&inst.net)
        .and_then(|s| s.listen_any(any::filter(&prefixes, args.port), 1024))
        .map_err(|e| format!("cannot listen: {e}"))?;
    println!(
        "synack on {}: terminating {} and forwarding each connection to {to}; \
         `synack ss --tun {}` reads it through {}",
        args.net.tun,
        any::describe(&prefixes, args.port),
        args.net.tun,
        inst.control_path().display()
    );
    // Caught before the banner announces us (see serve.rs).
    let interrupt = crate::serve::Interrupt::register()?;
    println!("serving until interrupted (Ctrl-C)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut flows = JoinSet::new();
    let accept = async {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => {
                        // On the engine's own runtime (its thread, with --queues).
                        let rt = s.net().runtime().clone();
                        flows.spawn_on(splice(s, to), &rt);
                    }
                    Err(e) => return format!("accepting: {e}"),
                },
                Some(_) = flows.join_next(), if !flows.is_empty() => {}
            }
        }
    };
    let failed = tokio::select! {
        why = accept => Some(why),
        () = interrupt.wait() => None,
    };
    drop(listener);
    flows.shutdown().await;
    inst.finish(Duration::from_secs(1)).await;
    failed.map_or(Ok(()), Err)
}

/// Carries one terminated connection to a new kernel connection to `to` and back. Each
/// direction ends with its own FIN (a half-close carried through, the other direction
/// going on); an error on either side (a reset, a failed connect) resets both.
async fn splice(s: TcpStream, to: SocketAddr) {
    let _ = s.set_nodelay(true);
    let k = match tokio::net::TcpStream::connect(to).await {
        Ok(k) => k,
        Err(_) => {
            // As a proxy refuses: the client sees a reset.
            let _ = s.set_linger(Some(Duration::ZERO));
            return;
        }
    };
    let _ = k.set_nodelay(true);
    let (mut sr, mut sw) = tokio::io::split(s);
    let (mut kr, mut kw) = k.into_split();
    let up = async {
        tokio::io::copy(&mut sr, &mut kw).await?;
        kw.shutdown().await
    };
    let down = async {
        tokio::io::copy(&mut kr, &mut sw).await?;
        sw.shutdown().await
    };
    if tokio::try_join!(up, down).is_err() {
        let s = sr.unsplit(sw);
        let _ = s.set_linger(Some(Duration::ZERO));
        if let Ok(k) = kr.reunite(kw) {
            let _ = k.set_zero_linger();
        }
    }
}
