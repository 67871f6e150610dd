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
///
/// On a multi-queue instance it is one socket on each engine until connect() keeps the
/// one of the engine the connection belongs to, or listen() makes them a listener on
/// every engine.
pub struct TcpSocket {
    /// One socket per engine; empty once connect() or listen() took them.
    socks: Vec<(Net, SocketHandle)>,
}

impl std::fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpSocket").finish_non_exhaustive()
    }
}

impl TcpSocket {
    /// A new socket of `net`.
    pub fn new(net: &Net) -> io::Result<TcpSocket> {
        let mut sock = TcpSocket { socks: Vec::new() };
        for engine in net.engines() {
            let h = engine.with(|i| Ok(i.stack.socket()))?;
            sock.socks.push((engine, h));
        }
        Ok(sock)
    }

    fn check(&self) -> io::Result<()> {
        if self.socks.is_empty() {
            return Err(io_err(synack::Error::BadHandle));
        }
        Ok(())
    }

    /// Sets an option (the Linux socket option it is named after).
    pub fn set_option(&self, opt: SockOpt) -> io::Result<()> {
        self.check()?;
        for (net, h) in &self.socks {
            net.with(|i| i.stack.set_option(*h, opt).map_err(io_err))?;
        }
        Ok(())
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
    /// not the instance's. On a multi-queue instance every engine's socket takes the
    /// port the first one got.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.check()?;
        let (first, h) = &self.socks[0];
        let port = first.with(|i| {
            i.stack.bind(*h, addr).map_err(io_err)?;
            i.stack.local_addr(*h).map(|a| a.port()).map_err(io_err)
        })?;
        let addr = SocketAddr::new(addr.ip(), port);
        for (net, h) in &self.socks[1..] {
            net.with(|i| i.stack.bind(*h, addr).map_err(io_err))?;
        }
        Ok(())
    }

    /// connect(): resolves with the stream when the handshake completes. On a
    /// multi-queue instance the connection is made by the engine whose queue the
    /// device steers it to: for a bound port, the one the ports name; else each engine
    /// in turn, which picks an ephemeral port of its own queue.
    pub async fn connect(mut self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.check()?;
        let (net0, h0) = &self.socks[0];
        let bound = net0.with(|i| Ok(i.stack.local_addr(*h0).map_or(0, |a| a.port())))?;
        let at = net0
            .engine_for(bound, addr.port())
            .min(self.socks.len() - 1);
        // The stream owns its socket from here (dropping the future closes it); the
        // other engines' are closed.
        let mut socks = std::mem::take(&mut self.socks);
        let (net, h) = socks.swap_remove(at);
        for (other, oh) in socks {
            let _ = other.with(|i| i.stack.close(oh).map_err(io_err));
        }
        let stream = TcpStream { net, h };
        stream
            .net
            .with(|i| i.stack.connect(h, addr).map_err(io_err))?;
        stream.established().await
    }

    /// listen(): `backlog` is capped by `somaxconn` (on each engine).
    pub fn listen(mut self, backlog: u32) -> io::Result<TcpListener> {
        self.check()?;
        let listener = TcpListener::new(std::mem::take(&mut self.socks));
        for (net, h) in listener.socks() {
            net.with(|i| i.stack.listen(*h, backlog).map_err(io_err))?;
        }
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
        self.check()?;
        let listener = TcpListener::new(std::mem::take(&mut self.socks));
        for (net, h) in listener.socks() {
            let f = filter.clone();
            net.with(|i| i.stack.listen_any(*h, f, backlog).map_err(io_err))?;
        }
        Ok(listener)
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        for (net, h) in self.socks.drain(..) {
            let _ = net.with(|i| i.stack.close(h).map_err(io_err));
        }
    }
}
