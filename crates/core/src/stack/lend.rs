//! Zero-copy socket calls: the connection's rings lent to a closure.

use super::{Sock, SocketHandle, Stack};
use crate::error::{Error, Result};

impl Stack {
    /// recv() without a copy: the in-order bytes waiting on `h` are lent to `read` as
    /// two slices (the second non-empty when the data wraps around the ring); `read`
    /// returns how many bytes it used, and those are consumed (the count is clamped to
    /// what was lent). With nothing waiting the result is recv()'s: `Ok(0)` at end of
    /// stream, the pending error once, or `EAGAIN` (and `read` is not called).
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        read: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize> {
        self.user_conn(h)?;
        self.with_conn(h, |c, ctx| c.recv_lend(ctx, read))
            .unwrap_or(Err(Error::BadHandle))
    }

    /// send() without a copy: up to `max` bytes of free space in `h`'s send ring are
    /// lent to `fill` as two slices (fill the first, then the second); `fill` returns
    /// how many bytes it wrote, and those are queued as send() queues them (the count is
    /// clamped to what was lent). `EAGAIN` when the buffer is full, the errors of send()
    /// otherwise; `fill` is called only when space is lent.
    ///
    /// (The copying call with flags is [`Stack::send_with`].)
    pub fn send_into(
        &mut self,
        h: SocketHandle,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        match self.user_sock(h)? {
            Sock::Conn(_) => {}
            _ => return Err(Error::BrokenPipe),
        }
        self.with_conn(h, |c, ctx| c.send_lend(ctx, max, fill))
            .unwrap_or(Err(Error::BadHandle))
    }
}
