//! Urgent data (RFC 9293 section 3.8.5, RFC 6093) as Linux keeps it: one out-of-band
//! byte at a time.
//!
//! Sending: send() with MSG_OOB points the urgent pointer past the last byte written
//! (the BSD reading RFC 6093 section 3 says every stack uses); every segment that starts
//! before that point carries URG and the offset to it (0xFFFF when it lies further than
//! a 16-bit offset reaches), until the peer acknowledges it (Linux's snd_up,
//! tcp_mark_urg, tcp_transmit_skb).
//!
//! Receiving (Linux's tcp_check_urg and tcp_urg, `tcp_stdurg` = 0): the urgent pointer
//! less one names the urgent byte. A pointer below RCV.NXT, below what the program has
//! read, or not beyond the one already known is ignored (RFC 6093 section 4: urgent
//! indications are not a reliable channel, only the latest counts). The byte is taken
//! out of band when its segment arrives: reads stop before it (the "mark", SIOCATMARK)
//! and step over it, and recv(MSG_OOB) returns it once, unless SO_OOBINLINE leaves it in
//! the stream. While the byte is waiting, POLLPRI is set.

use crate::conn::flag;
use synack_wire::SeqNum;

use super::{events, Connection};
use crate::error::{Error, Result};
use crate::state::State;

/// What is known of the peer's urgent byte (Linux's urg_data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrgData {
    /// No urgent pointer.
    None,
    /// A pointer arrived; the byte it names has not (TCP_URG_NOTYET).
    NotYet,
    /// The byte arrived and can be read with MSG_OOB (TCP_URG_VALID).
    Valid(u8),
    /// The byte was read with MSG_OOB (TCP_URG_READ).
    Read,
}

/// A connection's urgent state, out of line (rare.rs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Urgent {
    /// Our urgent pointer while data written with MSG_OOB is unacknowledged (Linux's
    /// snd_up): the sequence number after the last urgent byte.
    pub snd_up: Option<SeqNum>,
    /// The peer's urgent byte.
    pub data: UrgData,
    /// Its sequence number (Linux's urg_seq).
    pub seq: SeqNum,
}

impl Default for Urgent {
    fn default() -> Urgent {
        Urgent::NONE
    }
}

impl Urgent {
    /// Nothing urgent either way.
    pub const NONE: Urgent = Urgent {
        snd_up: None,
        data: UrgData::None,
        seq: SeqNum(0),
    };
}

impl Connection {
    /// send() with MSG_OOB: the urgent pointer moves past what was written.
    pub(crate) fn mark_urgent(&mut self) {
        let end = self.send_buf_seq() + self.send_buf.len() as u32;
        self.rare.urg.snd_up = Some(end);
    }

    /// The urgent pointer field of a segment starting at `seq`, if it carries URG.
    pub(crate) fn urgent_field(&self, seq: SeqNum) -> Option<u16> {
        let up = self.rare.urg.snd_up?;
        if !seq.before(up) {
            return None;
        }
        let offset = (up - seq) as u32;
        if offset < 0x1_0000 {
            Some(offset as u16)
        } else if (seq + 0xFFFF).after(self.snd_nxt) {
            Some(0xFFFF)
        } else {
            None
        }
    }

    /// SND.UNA moved: urgent mode ends once the urgent data is acknowledged.
    pub(crate) fn urgent_acked(&mut self) {
        if self
            .rare
            .urg
            .snd_up
            .is_some_and(|up| !up.after(self.snd_una))
        {
            self.rare.urg.snd_up = None;
        }
    }

    /// The URG bit of an acceptable segment (RFC 9293 3.10.7.4, sixth; Linux's tcp_urg),
    /// before its text is queued.
    pub(crate) fn on_urgent(&mut self, seq: SeqNum, urgent: Option<u16>, payload: &[u8]) {
        if let Some(ptr) = urgent {
            self.check_urg(seq, ptr);
        }
        if self.rare.urg.data == UrgData::NotYet {
            let off = self.rare.urg.seq - seq;
            if off >= 0 && (off as usize) < payload.len() {
                self.rare.urg.data = UrgData::Valid(payload[off as usize]);
                self.events |= events::READABLE;
            }
        }
    }

    /// Linux's tcp_check_urg: a new urgent pointer.
    fn check_urg(&mut self, seq: SeqNum, ptr: u16) {
        // tcp_stdurg = 0: the pointer is one past the urgent byte (RFC 6093 3).
        let ptr = seq + u32::from(ptr).saturating_sub(1);
        let copied = self.copied_seq();
        if copied.after(ptr) || ptr.before(self.rcv_nxt) {
            return;
        }
        let u = self.rare.urg;
        if u.data != UrgData::None && !ptr.after(u.seq) {
            return;
        }
        // The last byte read was the old urgent byte, still ahead of the read pointer:
        // step over it now, since the new pointer replaces it.
        if u.data != UrgData::None
            && u.seq == copied
            && !self.opts.oobinline
            && copied != self.rcv_nxt
        {
            self.recv_buf.consume(1);
            self.uncharge_read();
        }
        self.rare.urg.data = UrgData::NotYet;
        self.rare.urg.seq = ptr;
    }

    /// Before a read: the bytes it may take before the mark (reads stop there), after
    /// stepping over the urgent byte when the read starts at it (unless SO_OOBINLINE).
    pub(crate) fn urgent_read_limit(&mut self) -> usize {
        if self.rare.urg.data == UrgData::None {
            return usize::MAX;
        }
        let off = self.rare.urg.seq - self.copied_seq();
        if off > 0 {
            return off as usize;
        }
        if off == 0 && !self.opts.oobinline && !self.recv_buf.is_empty() {
            self.recv_buf.consume(1);
            self.uncharge_read();
        }
        self.urgent_after_read();
        usize::MAX
    }

    /// After a read: once past the urgent byte, it is forgotten.
    pub(crate) fn urgent_after_read(&mut self) {
        if self.rare.urg.data != UrgData::None && self.copied_seq().after(self.rare.urg.seq) {
            self.rare.urg.data = UrgData::None;
        }
    }

    /// recv(MSG_OOB) (Linux's tcp_recv_urg): the urgent byte, once (`peek` leaves it);
    /// `Ok(None)` at end of stream while it is still to come. EINVAL with SO_OOBINLINE,
    /// without urgent data or once it was read; EAGAIN while it is to come.
    pub fn recv_oob(&mut self, peek: bool) -> Result<Option<u8>> {
        let u = self.rare.urg;
        if self.opts.oobinline || matches!(u.data, UrgData::None | UrgData::Read) {
            return Err(Error::InvalidInput);
        }
        if self.state == State::Closed && !self.flag(flag::FIN_RECEIVED) {
            return Err(Error::NotConnected);
        }
        if let UrgData::Valid(b) = u.data {
            if !peek {
                self.rare.urg.data = UrgData::Read;
            }
            return Ok(Some(b));
        }
        if self.state == State::Closed
            || self.flag(flag::RD_SHUTDOWN)
            || self.flag(flag::FIN_RECEIVED)
        {
            return Ok(None);
        }
        Err(Error::WouldBlock)
    }

    /// splice() from the socket (Linux's tcp_splice_read over tcp_read_sock): up to
    /// `len` in-order bytes are consumed, stopping at the urgent mark without stepping
    /// over the urgent byte, so a call at the mark returns 0 while data waits (Linux's
    /// fix for splice looping there). With nothing queued, recv()'s results.
    pub fn splice_read(&mut self, ctx: &mut super::Ctx, len: usize) -> Result<usize> {
        let limit = if self.rare.urg.data == UrgData::None {
            usize::MAX
        } else {
            (self.rare.urg.seq - self.copied_seq()).max(0) as usize
        };
        if self.recv_buf.is_empty() {
            return self.recv(ctx, &mut [0u8; 1]);
        }
        let n = self
            .recv_buf
            .consume(self.recv_buf.len().min(len).min(limit));
        if n > 0 {
            self.after_read(ctx, n);
            self.urgent_after_read();
        }
        Ok(n)
    }

    /// SIOCATMARK: the next byte to read is the urgent byte.
    pub fn at_mark(&self) -> bool {
        self.rare.urg.data != UrgData::None && self.rare.urg.seq == self.copied_seq()
    }

    /// The urgent byte is waiting to be read with MSG_OOB (POLLPRI).
    pub fn urgent_pending(&self) -> bool {
        matches!(self.rare.urg.data, UrgData::Valid(_))
    }

    /// The in-order bytes a read would return: all but an urgent byte at the mark that
    /// reads step over (Linux's tcp_poll raises the read target by one there).
    pub(crate) fn readable_bytes(&self) -> usize {
        let n = self.recv_buf.len();
        if self.at_mark() && !self.opts.oobinline {
            n.saturating_sub(1)
        } else {
            n
        }
    }
}
