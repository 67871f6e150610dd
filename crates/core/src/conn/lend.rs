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
    /// to `fill`, which returns how many bytes it wrote there. At most what send() would
    /// take now is lent, and the bytes written are taken as send() takes them (Linux's
    /// tcp_sendmsg_locked, `queue_write`): laid into the chunks Linux's skbs would be,
    /// each charged its overhead, so that the buffer fills and the writer wakes
    /// (sk_stream_write_space: a third of the buffer free) as for any write. Bytes
    /// written beyond what that takes are given back (`fill` may write them; they are not
    /// sent), and the count taken is returned.
    pub fn send_lend(
        &mut self,
        ctx: &mut Ctx,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        self.send_allowed()?;
        if max == 0 {
            return Ok(0);
        }
        self.events |= super::events::SEND_CALL;
        // Lend what the write will take, no more, so that a program that fills all it
        // is lent writes each byte once (issue 9, item 6).
        let lowat = ctx.config.tcp_notsent_lowat;
        let lend = self.write_take(max.min(self.write_room(lowat)), lowat);
        let lend = self.wmem_admit(ctx, 0, lend);
        if lend == 0 {
            self.chrono_on_write(ctx.now, self.notsent_bytes(), 0, max);
            return Err(Error::WouldBlock);
        }
        self.reserve_ring(lend);
        let wrote = self.send_buf.write_with(lend, fill);
        if wrote == 0 {
            return Ok(0);
        }
        // queue_write takes bytes not yet in the ring: give them back, let it lay them
        // into chunks, and keep what it took (the bytes stay in place meanwhile).
        self.send_buf.unwrite(wrote);
        self.restart_after_idle(ctx);
        let unsent = self.notsent_bytes();
        let n = self.queue_write(ctx, wrote, SendFlags::default(), false);
        self.send_buf.rewrite(n);
        self.chrono_on_write(ctx.now, unsent, n, max);
        if n == 0 {
            return Err(Error::WouldBlock);
        }
        self.more_pending = false;
        Ok(n)
    }

    /// How many bytes of an `n`-byte write queue_write (sendq.rs) would take now: its
    /// loop run dry, without the write's own pushes. The open chunk's room first, then
    /// a chunk of up to a size goal each while the memory check that opens one passes,
    /// each new chunk charged its overhead. A push during the write may cut a unit that
    /// leaves part of a chunk open (a copying write then goes on into it) or splits one
    /// (charging more): the lent write is then short, or gives back what it was lent
    /// beyond what it took, as send_lend allows; neither loses a byte.
    fn write_take(&self, n: usize, default_lowat: u32) -> usize {
        let goal = self.size_goal() as usize;
        let start = self.send_buf_seq() + self.send_buf.len() as u32;
        let mut taken = self
            .chunks
            .open_tail(start)
            .map_or(0, |c| goal.saturating_sub((c.end - c.start) as usize))
            .min(n);
        let mut opened = 0;
        while taken < n {
            let unsent = ((start + taken as u32) - self.snd_nxt).max(0) as usize;
            let unsent = unsent.saturating_sub(self.notsent_bytes());
            let charged = taken + opened * super::sendq::SKB_OVERHEAD;
            if goal == 0 || !self.memory_free(default_lowat, charged, unsent, 0) {
                break;
            }
            opened += 1;
            taken += goal.min(n - taken);
        }
        taken
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
