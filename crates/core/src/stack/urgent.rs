//! Urgent data calls (conn/urgent.rs): recv(MSG_OOB) and SIOCATMARK.

use super::{Sock, SocketHandle, Stack};
use crate::error::{Error, Result};

impl Stack {
    /// recv(MSG_OOB): the peer's urgent byte (RFC 9293 3.8.5; Linux's tcp_recv_urg),
    /// once; `peek` (MSG_PEEK) leaves it. Never blocks: `EAGAIN` while the urgent pointer
    /// has arrived but its byte has not, `Ok(None)` if the stream ended first. `EINVAL`
    /// with SO_OOBINLINE, when there is no urgent data, or once it was read; `ENOTCONN`
    /// on a connection that ended without its FIN. Not a connection: `EINVAL` for a
    /// listener, `ENOTCONN` for a fresh socket, as Linux.
    pub fn recv_oob(&mut self, h: SocketHandle, peek: bool) -> Result<Option<u8>> {
        match self.user_sock(h)? {
            Sock::Conn(_) => {}
            Sock::Listener(_) => return Err(Error::InvalidInput),
            Sock::Fresh(_) => return Err(Error::NotConnected),
        }
        self.with_conn(h, |c, _| c.recv_oob(peek))
            .unwrap_or(Err(Error::BadHandle))
    }

    /// splice(2) from a connection into a pipe, the bytes discarded (the runner's use):
    /// how many were taken, at most `len`, stopping at the urgent mark (0 there while
    /// data waits, as Linux's tcp_splice_read); `EAGAIN` with nothing queued.
    pub fn splice_read(&mut self, h: SocketHandle, len: usize) -> Result<usize> {
        self.user_conn(h)?;
        self.with_conn(h, |c, ctx| c.splice_read(ctx, len))
            .unwrap_or(Err(Error::BadHandle))
    }

    /// ioctl(SIOCATMARK): whether the next byte to read is the peer's urgent byte (a
    /// read stops before it). Always false on a socket that is not a connection.
    pub fn at_mark(&mut self, h: SocketHandle) -> Result<bool> {
        Ok(match self.user_sock(h)? {
            Sock::Conn(c) => c.at_mark(),
            _ => false,
        })
    }
}
