//! [`TcpSocket`]: a socket to set options on before it connects or listens, like
//! `tokio::net::TcpSocket`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use synack::{SockOpt, SocketHandle};

use crate::listener::TcpListener;
use crate::net::Net;
use crate::stream::{io_err, TcpStream};

/// A socket not yet connected or listening. Options set here apply to the connection
/// (buffer sizes size the window offered in the handshake, as on Linux) or are
/// inherited by every connection a listener accepts.
pub struct TcpSocket {
    net: Net,
    /// `None` once connect() or listen() took the socket.
    h: Option<SocketHandle>,
}

impl std::fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpSocket").finish_non_exhaustive()
    }
}

impl TcpSocket {
    /// A new socket of `net`.
    pub fn new(net: &Net) -> io::Result<TcpSocket> {
        let h = net.with(|i| Ok(i.stack.socket()))?;
        Ok(TcpSocket {
            net: net.clone(),
            h: Some(h),
        })
    }

    fn handle(&self) -> io::Result<SocketHandle> {
        self.h.ok_or_else(|| io_err(synack::Error::BadHandle))
    }

    /// Sets an option (the Linux socket option it is named after).
    pub fn set_option(&self, opt: SockOpt) -> io::Result<()> {
        let h = self.handle()?;
        self.net
            .with(|i| i.stack.set_option(h, opt).map_err(io_err))
    }

    /// SO_REUSEADDR: bind to a port that connections in TIME-WAIT still hold.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::ReuseAddr(on))
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::NoDelay(on))
    }

    /// SO_KEEPALIVE.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.set_option(SockOpt::KeepAlive(on))
    }

    /// SO_LINGER.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.set_option(SockOpt::Linger(linger))
    }

    /// SO_SNDBUF.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.set_option(SockOpt::SendBuffer(size))
    }

    /// SO_RCVBUF.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.set_option(SockOpt::RecvBuffer(size))
    }

    /// bind(): `AddrInUse` for a port taken, `AddrNotAvailable` for an address that is
    /// not the instance's.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        let h = self.handle()?;
        self.net.with(|i| i.stack.bind(h, addr).map_err(io_err))
    }

    /// connect(): resolves with the stream when the handshake completes.
    pub async fn connect(mut self, addr: SocketAddr) -> io::Result<TcpStream> {
        let h = self.handle()?;
        // The stream owns the socket from here: dropping the future closes it.
        self.h = None;
        let stream = TcpStream {
            net: self.net.clone(),
            h,
        };
        stream
            .net
            .with(|i| i.stack.connect(h, addr).map_err(io_err))?;
        stream.established().await
    }

    /// listen(): `backlog` is capped by `somaxconn`.
    pub fn listen(mut self, backlog: u32) -> io::Result<TcpListener> {
        let h = self.handle()?;
        self.h = None;
        let listener = TcpListener {
            net: self.net.clone(),
            h,
        };
        listener
            .net
            .with(|i| i.stack.listen(h, backlog).map_err(io_err))?;
        Ok(listener)
    }

    /// Listens for connections to any destination `filter` takes, the stack's own
    /// addresses or not ([`synack::Stack::listen_any`]): each accepted stream's
    /// [`TcpStream::local_addr`] is the destination its peer connected to. The socket
    /// must not be bound (`InvalidInput` otherwise).
    pub fn listen_any(
        mut self,
        filter: synack::AnyFilter,
        backlog: u32,
    ) -> io::Result<TcpListener> {
        let h = self.handle()?;
        self.h = None;
        let listener = TcpListener {
            net: self.net.clone(),
            h,
        };
        listener
            .net
            .with(|i| i.stack.listen_any(h, filter, backlog).map_err(io_err))?;
        Ok(listener)
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        if let Some(h) = self.h {
            let _ = self.net.with(|i| i.stack.close(h).map_err(io_err));
        }
    }
}
