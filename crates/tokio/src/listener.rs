//! [`TcpListener`]: accepts connections, like `tokio::net::TcpListener`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use synack::{Error, SocketHandle};

use crate::net::Net;
use crate::socket::TcpSocket;
use crate::stream::{io_err, TcpStream};

/// A listening socket of a [`Net`]. With the `axum` feature it implements
/// `axum::serve::Listener`, so `axum::serve(listener, app)` serves on synack.
///
/// On a multi-queue instance it listens on every engine and accepts from each in
/// turn (a connection belongs to the engine of the queue its segments arrive on).
pub struct TcpListener {
    /// The listening socket of each engine (at least one).
    socks: Vec<(Net, SocketHandle)>,
    /// The engine to look at first on the next accept, so none is starved.
    next: AtomicUsize,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds and listens on `addr` (SO_REUSEADDR set and a backlog of 1024, as tokio
    /// does). `AddrInUse` when another socket holds the port, `AddrNotAvailable` for an
    /// address that is not the instance's.
    pub async fn bind(net: &Net, addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = TcpSocket::new(net)?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    }

    /// A listener for connections to any destination `filter` takes, whatever the
    /// address (the instance's own or not), with a backlog of 1024: what a VPN client
    /// or a tun-to-proxy tool needs to terminate every flow routed into its device. Each
    /// accepted stream's [`TcpStream::local_addr`] is the destination its peer connected
    /// to. See [`synack::Stack::listen_any`].
    pub async fn bind_any(net: &Net, filter: synack::AnyFilter) -> io::Result<TcpListener> {
        TcpSocket::new(net)?.listen_any(filter, 1024)
    }

    /// The next connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let n = self.socks.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let (net, h) = &self.socks[(first + k) % n];
            let h = *h;
            let r = net.with(|inner| {
                let r = inner.stack.accept(h);
                if r == Err(Error::WouldBlock) {
                    inner.wait_read(h, cx.waker());
                }
                Ok(r)
            });
            match r {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Ok((child, peer))) => {
                    let stream = TcpStream {
                        net: net.clone(),
                        h: child,
                    };
                    return Poll::Ready(Ok((stream, peer)));
                }
                Ok(Err(Error::WouldBlock)) => {}
                Ok(Err(e)) => return Poll::Ready(Err(io_err(e))),
            }
        }
        Poll::Pending
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let (net, h) = &self.socks[0];
        net.shared.lock().stack.local_addr(*h).map_err(io_err)
    }

    /// The instance the listener belongs to.
    pub fn net(&self) -> &Net {
        &self.socks[0].0
    }

    /// The listener as one listener per engine (just itself unless the instance is
    /// multi-queue), so that each engine's connections can be accepted on the engine's
    /// own thread ([`Net::runtime`]): a thread-per-core server accepts and serves there
    /// without a wake-up crossing threads.
    pub fn per_engine(mut self) -> Vec<TcpListener> {
        std::mem::take(&mut self.socks)
            .into_iter()
            .map(|sock| TcpListener::new(vec![sock]))
            .collect()
    }

    pub(crate) fn new(socks: Vec<(Net, SocketHandle)>) -> TcpListener {
        TcpListener {
            socks,
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn socks(&self) -> &[(Net, SocketHandle)] {
        &self.socks
    }
}

impl Drop for TcpListener {
    /// close(): connections not yet accepted are reset, as Linux does.
    fn drop(&mut self) {
        for (net, h) in &self.socks {
            let h = *h;
            let _ = net.with(|inner| {
                inner.waiters.remove(&h);
                inner.stack.close(h).map_err(io_err)
            });
        }
    }
}

#[cfg(feature = "axum")]
impl axum::serve::Listener for TcpListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    /// Accepts the next connection; errors (none but a stopped driver is expected) are
    /// retried after a short pause, as axum asks of listeners.
    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match TcpListener::accept(self).await {
                Ok(c) => return c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}
