//! `synack get URL [-o FILE]`: an HTTP/1.1 client (hyper) on synack over a TUN
//! interface. The body goes to FILE or to standard output as it arrives.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use synack_tokio::TcpStream;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::instance::{runtime, Instance, NetArgs};

/// Options of `synack get`.
#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    /// What to fetch: http://IP[:PORT]/PATH (an address, not a name: synack resolves
    /// none).
    #[arg(value_name = "URL", value_parser = parse_url)]
    pub url: Target,

    /// Writes the body to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub net: NetArgs,
}

/// A URL's address and request target.
#[derive(Debug, Clone)]
pub struct Target {
    addr: SocketAddr,
    /// The Host field.
    host: String,
    /// The request target (`/path?query`).
    path: String,
}

/// Parses an `http://` URL whose host is an IP address.
fn parse_url(s: &str) -> Result<Target, String> {
    let uri: Uri = s
        .parse()
        .map_err(|e| format!("not a URL ({e}): give one such as http://10.77.0.1:8000/file"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https is not supported (synack get speaks plain HTTP/1.1): use http://".into(),
            )
        }
        _ => return Err("give an http:// URL, such as http://10.77.0.1:8000/file".into()),
    }
    let authority = uri.authority().ok_or("the URL has no host")?;
    let host = authority.host();
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| {
        format!("{host} is not an IP address: synack resolves no names; give the address, such as http://10.77.0.1/")
    })?;
    let port = authority.port_u16().unwrap_or(80);
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: authority.as_str().to_string(),
        path: uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string()),
    })
}

/// Runs `synack get`.
pub fn run(args: &GetArgs) -> ExitCode {
    let result = runtime().and_then(|rt| rt.block_on(get(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synack get: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn get(args: &GetArgs) -> Result<(), String> {
    let t = &args.url;
    let inst = Instance::start(&args.net)?;
    let stream = TcpStream::connect(&inst.net, t.addr)
        .await
        .map_err(|e| crate::connect::explain(e, t.addr))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP with {}: {e}", t.addr))?;
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get(t.path.as_str())
        .header(hyper::header::HOST, t.host.as_str())
        .header(
            hyper::header::USER_AGENT,
            concat!("synack/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::ACCEPT, "*/*")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("GET http://{}{}: {e}", t.host, t.path))?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!(
            "http://{}{} answered {status}: nothing written",
            t.host, t.path
        ));
    }
    let mut out: Box<dyn AsyncWrite + Unpin + Send> = match &args.output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let mut body = res.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body from {}: {e}", t.addr))?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)
                .await
                .map_err(|e| format!("writing the body: {e}"))?;
        }
    }
    out.flush()
        .await
        .map_err(|e| format!("writing the body: {e}"))?;
    drop(sender);
    // The connection ends once the sender is gone; then synack closes it.
    let _ = conn.await;
    inst.finish(Duration::from_secs(2)).await;
    Ok(())
}
