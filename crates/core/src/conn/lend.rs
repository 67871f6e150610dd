//! send() and recv() with the rings lent to a closure instead of copying through a
//! caller's buffer, and the checks and bookkeeping they share with the copying calls.

use super::{Connection, Ctx, SendFlags};
use crate::error::{Error, Result};
use crate::state::State;

impl Connection {
    /// The checks of send() before any byte is taken: Linux's sk_stream_error (the
    /// pending error once, then EPIPE), a handshake in progress (EAGAIN), a socket shut
    /// for writing (EPIPE).
    pub(super) fn send_allowed(&mut self) -> Result<()> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if self.error.is_some() {
            return Err(Error::BrokenPipe);
        }
        match self.state {
            // A Fast Open child may write before the handshake completes (Linux's
            // tcp_passive_fastopen; RFC 7413 4.2).
            State::SynReceived if self.tfo.listener.is_some() => {}
            // The first write of a Fast Open connect goes in the SYN.
            State::SynSent if self.tfo.deferred => {}
            State::SynSent | State::SynReceived => return Err(Error::WouldBlock),
            State::Established | State::CloseWait => {}
            _ => return Err(Error::BrokenPipe),
        }
        if self.fin_queued {
            return Err(Error::BrokenPipe);
        }
        Ok(())
    }

    /// Bookkeeping after `n` bytes (of a write of `asked`) went into the send buffer
    /// as a chunk of their own (the data of a Fast Open SYN).
    pub(super) fn after_write(&mut self, n: usize, asked: usize, flags: SendFlags) {
        // MSG_MORE holds a partial segment until a send without it (Linux's
        // TCP_NAGLE_CORK for one push); MSG_EOR ends a record that later data may not
        // share a segment with (Linux's TCP_SKB_CB(skb)->eor).
        self.more_pending = flags.more;
        let at = self.send_buf_seq() + (self.send_buf.len() - n) as u32;
        let eor = flags.eor && n == asked;
        self.chunks.append(at, n as u32, !flags.more, eor);
    }

    /// send() writing in place: up to `max` bytes of the send ring's free space are lent
    /// to `fill`, which returns how many bytes it wrote there.
    pub fn send_lend(
        &mut self,
        ctx: &Ctx,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        self.send_allowed()?;
        if max == 0 {
            return Ok(0);
        }
        self.events |= super::events::SEND_CALL;
        if !self.memory_free(ctx.config.tcp_notsent_lowat, 0, 0, 0) {
            return Err(Error::WouldBlock);
        }
        // The ring lends the room the buffer leaves (grown to it first, so that a
        // writable connection always takes something); this path keeps the payload
        // accounting of one chunk per write (the copying send() is the one that builds
        // Linux's skbs, sendq.rs).
        let room = self.sndbuf().saturating_sub(self.wmem_queued()).max(1);
        self.reserve_ring(room);
        let n = self.send_buf.write_with(max.min(room), fill);
        if n > 0 {
            self.restart_after_idle(ctx);
            self.after_write(n, n, SendFlags::default());
        }
        Ok(n)
    }

    /// recv() reading in place: the in-order bytes are lent to `read` as one or two
    /// slices, and as many as it returns are consumed. With nothing to read, the same
    /// results as recv(): `Ok(0)` at end of stream, the pending error, or `EAGAIN`.
    pub fn recv_lend(
        &mut self,
        ctx: &mut Ctx,
        read: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize> {
        let limit = self.urgent_read_limit();
        if self.recv_buf.is_empty() {
            // Nothing buffered: recv() decides between EOF, the error and EAGAIN.
            return self.recv(ctx, &mut [0u8; 1]);
        }
        let (a, b) = self.recv_buf.peek(limit);
        let n = read(a, b).min(a.len() + b.len());
        let n = self.recv_buf.consume(n);
        if n > 0 {
            self.after_read(ctx, n);
            self.urgent_after_read();
        }
        Ok(n)
    }
}
