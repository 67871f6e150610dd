//! The control socket: a Unix stream socket that every running instance opens, through
//! which `synack ss` and `synack netstat` read its sockets and counters.
//!
//! Its path is `$XDG_RUNTIME_DIR/synack/<tun>.sock` when `XDG_RUNTIME_DIR` is set, else
//! `/run/synack/<tun>.sock`: one per TUN interface name. The directory is made with mode
//! 0700. A client writes one request line (`ss`, `ss -i`, `ss -s`, `netstat`,
//! `netstat -s`) and reads the reply, text as the command prints it, to end of stream.
//! An instance removes its socket when it ends; one left by an instance that was killed
//! is found stale (nothing answers) and replaced by the next instance on that name.

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use synack_tokio::Net;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::{netstat, ss};

/// The control socket's path for TUN interface `tun`.
pub fn path(tun: &str) -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("synack"),
        None => PathBuf::from("/run/synack"),
    };
    dir.join(format!("{tun}.sock"))
}

/// An instance's control socket, answering requests until closed.
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens the control socket of the instance on `tun` (inside a tokio runtime).
    pub fn open(tun: &str, net: Net) -> Result<Server, String> {
        let path = path(tun);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    format!(
                        "cannot make the control socket's directory {}: {e} (set \
                         XDG_RUNTIME_DIR to a directory of yours)",
                        dir.display()
                    )
                })?;
        }
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(format!(
                "another synack instance named {tun} answers on {}: stop it, or give this \
                 one another --tun",
                path.display()
            ));
        }
        // A socket file nothing answers on is a killed instance's: replace it.
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).map_err(|e| {
            format!(
                "cannot open the control socket {}: {e} (set XDG_RUNTIME_DIR to a \
                 directory of yours)",
                path.display()
            )
        })?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, net.clone()));
            }
        });
        Ok(Server { path, task })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops answering, removes the socket and lets go of the instance.
    pub async fn close(mut self) {
        self.task.abort();
        // The task's end drops its handle of the instance; dropping `self` removes the
        // socket.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Answers one client: one request line, one reply.
async fn answer(stream: tokio::net::UnixStream, net: Net) {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    let mut r = BufReader::new(r.take(256));
    let read = r.read_line(&mut line);
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return;
    }
    let reply = reply(&net, line.trim());
    let _ = w.write_all(reply.as_bytes()).await;
    let _ = w.shutdown().await;
}

/// The reply to `request`.
fn reply(net: &Net, request: &str) -> String {
    match request {
        "ss" => ss::render(&net.sockets(), false),
        "ss -i" => ss::render(&net.sockets(), true),
        "ss -s" => ss::summary(&net.sockets(), net.mem_pages()),
        "netstat" => netstat::connections(&net.sockets()),
        "netstat -s" => netstat::counters(&net.stats()),
        other => format!("error: unknown request {other:?}\n"),
    }
}

/// Sends `request` to the instance on `tun` and returns its reply; errors say what to
/// do.
pub fn query(tun: &str, request: &str) -> Result<String, String> {
    let path = path(tun);
    let mut s = std::os::unix::net::UnixStream::connect(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no synack instance named {tun} is running: there is no control socket {} \
             (start one with `synack serve --tun {tun} ...`; an instance started with \
             another XDG_RUNTIME_DIR, e.g. under sudo, has its socket under that one)",
            path.display()
        ),
        std::io::ErrorKind::ConnectionRefused => format!(
            "the synack instance named {tun} has ended: nothing answers on {} (a new \
             instance on {tun} replaces it)",
            path.display()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot reach {}: permission denied (run as the user who started the \
             instance, e.g. with sudo)",
            path.display()
        ),
        _ => format!("cannot reach {}: {e}", path.display()),
    })?;
    let timeout = Some(Duration::from_secs(10));
    let io = |e: std::io::Error| format!("talking to the instance on {}: {e}", path.display());
    s.set_read_timeout(timeout).map_err(io)?;
    s.set_write_timeout(timeout).map_err(io)?;
    s.write_all(format!("{request}\n").as_bytes()).map_err(io)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(io)?;
    match reply.strip_prefix("error: ") {
        Some(e) => Err(format!("the instance on {tun} says: {}", e.trim())),
        None => Ok(reply),
    }
}
