//! [`TcpStream`]: a connection, read and written through tokio's `AsyncRead` and
//! `AsyncWrite`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use synack::{Error, Shutdown, SockOpt, SockOptName, SocketHandle, SocketInfo, State};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::Net;
use crate::socket::TcpSocket;

/// A TCP connection of a [`Net`], like `tokio::net::TcpStream`.
///
/// It is `Send + 'static` and implements [`AsyncRead`] and [`AsyncWrite`], so anything
/// written for tokio's stream runs on it (hyper through `hyper_util::rt::TokioIo`, axum
/// through [`TcpListener`](crate::TcpListener)). `poll_shutdown` is a half-close
/// (`shutdown(SHUT_WR)`: a FIN after the queued data, reading goes on). Dropping the
/// stream closes it as `close()` does on Linux: a FIN after the queued data, or a RST
/// when unread data is discarded or the linger time is zero.
///
/// Errors are `std::io::Error`s with the errno a Linux socket gives
/// (`raw_os_error()`), hence the kinds tokio users expect: `ConnectionRefused`,
/// `ConnectionReset`, `TimedOut`, `BrokenPipe`, `AddrInUse`, `AddrNotAvailable`, ...
/// A connection's error is reported once; then reads see end of stream and writes
/// `BrokenPipe`, as on Linux.
pub struct TcpStream {
    pub(crate) net: Net,
    pub(crate) h: SocketHandle,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// The `std::io::Error` of an engine error: its errno, so its kind is the one a kernel
/// socket would give.
pub(crate) fn io_err(e: Error) -> io::Error {
    io::Error::from(e)
}

impl TcpStream {
    /// Connects to `addr` from one of the `net`'s addresses and an ephemeral port,
    /// resolving when the handshake completes; `ConnectionRefused` on a RST,
    /// `TimedOut` when `tcp_syn_retries` SYNs go unanswered.
    pub async fn connect(net: &Net, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpSocket::new(net)?.connect(addr).await
    }

    /// Waits for the handshake of a socket that called connect().
    pub(crate) async fn established(self) -> io::Result<TcpStream> {
        poll_fn(|cx| self.poll_established(cx)).await?;
        Ok(self)
    }

    fn poll_established(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.net.shared.lock();
        inner.check()?;
        let state = inner.stack.state(self.h).map_err(io_err)?;
        match state {
            State::SynSent | State::SynReceived => {
                inner.wait_write(self.h, cx.waker());
                Poll::Pending
            }
            State::Closed => {
                let e = inner.stack.socket_error(self.h).map_err(io_err)?;
                Poll::Ready(Err(io_err(e.unwrap_or(Error::ConnectionRefused))))
            }
            _ => Poll::Ready(Ok(())),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.net
            .shared
            .lock()
            .stack
            .local_addr(self.h)
            .map_err(io_err)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.net
            .shared
            .lock()
            .stack
            .peer_addr(self.h)
            .map_err(io_err)
    }

    /// Sets an option (the Linux socket option it is named after).
    pub fn set_option(&self, opt: SockOpt) -> io::Result<()> {
        self.net
            .with(|i| i.stack.set_option(self.h, opt).map_err(io_err))
    }

    /// Reads an option.
    pub fn option(&self, name: SockOptName) -> io::Result<SockOpt> {
        self.net
            .shared
            .lock()
            .stack
            .get_option(self.h, name)
            .map_err(io_err)
    }

    /// TCP_NODELAY: sends small writes at once instead of waiting (Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.set_option(SockOpt::NoDelay(nodelay))
    }

    /// Whether TCP_NODELAY is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        match self.option(SockOptName::NoDelay)? {
            SockOpt::NoDelay(v) => Ok(v),
            _ => unreachable!("the engine answers with the option asked for"),
        }
    }

    /// SO_LINGER: `Some(Duration::ZERO)` makes dropping the stream reset the connection.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.set_option(SockOpt::Linger(linger))
    }

    /// The SO_LINGER setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        match self.option(SockOptName::Linger)? {
            SockOpt::Linger(v) => Ok(v),
            _ => unreachable!("the engine answers with the option asked for"),
        }
    }

    /// SO_KEEPALIVE: probe the peer after `tcp_keepalive_time` of silence (or
    /// TCP_KEEPIDLE, see [`set_option`](TcpStream::set_option)).
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::KeepAlive(on))
    }

    /// Whether SO_KEEPALIVE is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        match self.option(SockOptName::KeepAlive)? {
            SockOpt::KeepAlive(v) => Ok(v),
            _ => unreachable!("the engine answers with the option asked for"),
        }
    }

    /// SO_SNDBUF (doubled and clamped to `tcp_wmem`, as Linux does).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.set_option(SockOpt::SendBuffer(size))
    }

    /// The send buffer's size.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        match self.option(SockOptName::SendBuffer)? {
            SockOpt::SendBuffer(v) => Ok(v),
            _ => unreachable!("the engine answers with the option asked for"),
        }
    }

    /// SO_RCVBUF (doubled and clamped to `tcp_rmem`, as Linux does).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.set_option(SockOpt::RecvBuffer(size))
    }

    /// The receive buffer's size.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        match self.option(SockOptName::RecvBuffer)? {
            SockOpt::RecvBuffer(v) => Ok(v),
            _ => unreachable!("the engine answers with the option asked for"),
        }
    }

    /// SO_ERROR: the connection's pending error, reported once.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self
            .net
            .shared
            .lock()
            .stack
            .socket_error(self.h)
            .map_err(io_err)?
            .map(io_err))
    }

    /// The `ss -tanoi` view of the connection.
    pub fn info(&self) -> Option<SocketInfo> {
        self.net.shared.lock().stack.socket_info(self.h)
    }

    /// The instance the stream belongs to.
    pub fn net(&self) -> &Net {
        &self.net
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let h = self.h;
        let r = self.net.with(|inner| {
            // The ring's bytes go straight into the caller's buffer: one copy.
            let r = inner.stack.recv_with(h, |a, b| {
                let ka = a.len().min(buf.remaining());
                buf.put_slice(&a[..ka]);
                let kb = b.len().min(buf.remaining());
                buf.put_slice(&b[..kb]);
                ka + kb
            });
            if r == Err(Error::WouldBlock) {
                inner.wait_read(h, cx.waker());
            }
            Ok(r)
        });
        match r {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Ok(_)) => Poll::Ready(Ok(())),
            Ok(Err(Error::WouldBlock)) => Poll::Pending,
            Ok(Err(e)) => Poll::Ready(Err(io_err(e))),
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let h = self.h;
        let r = self.net.with(|inner| {
            let r = inner.stack.send_into(h, data.len(), |a, b| {
                let ka = a.len().min(data.len());
                a[..ka].copy_from_slice(&data[..ka]);
                let kb = b.len().min(data.len() - ka);
                b[..kb].copy_from_slice(&data[ka..ka + kb]);
                ka + kb
            });
            if r == Err(Error::WouldBlock) {
                inner.wait_write(h, cx.waker());
            }
            Ok(r)
        });
        match r {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Ok(n)) => Poll::Ready(Ok(n)),
            Ok(Err(Error::WouldBlock)) => Poll::Pending,
            Ok(Err(e)) => Poll::Ready(Err(io_err(e))),
        }
    }

    /// Data is queued in the send buffer as soon as it is written, as with a kernel
    /// socket: nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: `shutdown(SHUT_WR)`. A FIN follows the queued data; reading goes on
    /// until the peer's FIN.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let h = self.h;
        Poll::Ready(
            self.net
                .with(|inner| inner.stack.shutdown(h, Shutdown::Write).map_err(io_err)),
        )
    }
}

impl Drop for TcpStream {
    /// close(): a FIN after the queued data (or a RST, as Linux decides).
    fn drop(&mut self) {
        let h = self.h;
        let _ = self.net.with(|inner| {
            inner.waiters.remove(&h);
            inner.stack.close(h).map_err(io_err)
        });
    }
}
