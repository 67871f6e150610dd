//! The transmit path: [`Stack::poll_transmit`] writes the next datagram into the caller's
//! buffer, control segments (RSTs, TIME-WAIT and challenge ACKs, SYN-ACKs) first, then
//! the connections with something to send, round robin.
//!
//! A datagram that does not fit the caller's buffer is never lost: the call returns
//! [`BufferTooSmall`] with the size needed, and the same datagram is the next one
//! returned. Nothing is counted as sent (OutSegs, RetransSegs, OutRsts) until it is
//! written into a caller's buffer.

use core::fmt;

use synack_wire::{IpRepr, IPPROTO_TCP};

use super::{emit_conn_segment, Stack};
use crate::segment::CtlSegment;
use crate::time::Instant;

/// [`Stack::poll_transmit`] could not write the next datagram: the buffer is shorter
/// than `needed` bytes. The datagram stays queued; call again with a buffer at least
/// this long (the largest datagram the stack sends is its MSS plus 40 to 80 bytes of
/// headers, so a buffer of the device's MTU always suffices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferTooSmall {
    /// The length of the datagram waiting to be sent.
    pub needed: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the transmit buffer is too small for the next datagram: {} bytes needed; \
             call poll_transmit again with a buffer of at least that size",
            self.needed
        )
    }
}

impl std::error::Error for BufferTooSmall {}

/// A connection's datagram that did not fit the caller's buffer: its bytes, and the
/// counters to credit when it finally leaves. A connection's segment is built from its
/// state as it is decided (sequence numbers, timers, the RTT sample), so it is kept whole
/// rather than decided again.
#[derive(Debug)]
pub(crate) struct Stashed {
    pub(super) bytes: Vec<u8>,
    pub(super) out_segs: u64,
    pub(super) retrans_segs: u64,
    /// Its TCP checksum is left to the device (offload.rs).
    pub(super) partial: bool,
}

impl Stack {
    /// Writes the next datagram to send into `buf` and returns its length, `Ok(None)`
    /// when there is nothing to send now, or [`BufferTooSmall`] when `buf` cannot hold
    /// the next datagram, which then stays queued (nothing is lost or counted).
    ///
    /// A buffer of the device's MTU (or 65535 bytes) never gets the error.
    #[must_use = "a datagram written into the buffer must be sent"]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<usize>, BufferTooSmall> {
        if self.stashed.is_none()
            && self.icmp.out.is_empty()
            && self.ctl.is_empty()
            && self.tx_queue.is_empty()
        {
            // Nothing queued (the call that ends a driver's drain, every round): the
            // answer without the whole pass (issue 9: work proportional to what
            // happened).
            self.advance(now);
            self.tx.last = None;
            self.tx.last_partial = false;
            return Ok(None);
        }
        self.poll_transmit_queued(now, buf)
    }

    /// [`Stack::poll_transmit`] when something is queued: out of line, so that the
    /// call that finds nothing (most calls: every drain ends with one) pays for none of
    /// this function's frame.
    #[inline(never)]
    fn poll_transmit_queued(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<usize>, BufferTooSmall> {
        let mut r = self.poll_transmit_any(now, buf);
        // `pfifo limit 0` (Qdisc::DropAll): the device drops every datagram; TCP has
        // already seen its data fail (conn/pacing.rs).
        while self.config.qdisc == crate::config::Qdisc::DropAll && matches!(r, Ok(Some(_))) {
            r = self.poll_transmit_any(now, buf);
        }
        if let Ok(Some(n)) = r {
            if buf[0] >> 4 == 4 && n >= 20 && self.sends_without_df(&buf[16..20]) {
                // Path MTU discovery off (`ip_no_pmtu_disc`, or the route's MTU locked):
                // without DF, routers may fragment, and fragments need an identification
                // unique to the datagram (RFC 791 3.2, RFC 6864 4.1).
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let mut p = synack_wire::ipv4::Ipv4Packet::new_unchecked(&mut buf[..20]);
                p.set_dont_frag(false);
                p.set_ident(self.ip_ident);
                p.fill_checksum();
            }
        }
        r
    }

    fn poll_transmit_any(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<usize>, BufferTooSmall> {
        self.advance(now);
        self.tx.last = None;
        self.tx.last_partial = false;
        if let Some(stashed) = &self.stashed {
            let n = stashed.bytes.len();
            if buf.len() < n {
                return Err(BufferTooSmall { needed: n });
            }
            let stashed = self.stashed.take().expect("checked above");
            buf[..n].copy_from_slice(&stashed.bytes);
            self.stats.OutSegs += stashed.out_segs;
            self.stats.RetransSegs += stashed.retrans_segs;
            self.tx.last_partial = stashed.partial;
            return Ok(Some(n));
        }
        if let Some(d) = self.icmp.out.front() {
            let n = d.len();
            if buf.len() < n {
                return Err(BufferTooSmall { needed: n });
            }
            let d = self.icmp.out.pop_front().expect("checked above");
            buf[..n].copy_from_slice(&d);
            return Ok(Some(n));
        }
        while let Some(seg) = self.ctl.front() {
            let needed = ctl_len(seg, self.config.ip_default_ttl);
            if buf.len() < needed {
                return Err(BufferTooSmall { needed });
            }
            let seg = self.ctl.pop().expect("checked above");
            if let Some(n) = self.emit_ctl(&seg, buf) {
                // Control segments are counted here, once, when they leave.
                if seg.retransmit {
                    self.stats.RetransSegs += 1;
                } else {
                    self.stats.OutSegs += 1;
                }
                if seg.control == synack_wire::Control::Rst {
                    self.stats.OutRsts += 1;
                }
                return Ok(Some(n));
            }
        }
        while let Some(&h) = self.tx_queue.front() {
            #[cfg(not(debug_assertions))]
            if let Some(state) = self.quiet_conn(h) {
                // Nothing to send (conn/quiet.rs): what an empty poll_segment call would
                // have left, without the output pass (and without after_conn on a settled
                // connection, where it would change nothing). Debug builds make the call
                // and check that it was empty.
                if !self.settled(h) {
                    self.after_conn(h, state);
                }
                self.tx_queue.pop_front();
                self.slots[h.index as usize].set(super::Slot::DIRTY, false);
                continue;
            }
            let (out_before, re_before) = (self.stats.OutSegs, self.stats.RetransSegs);
            let ttl = self.config.ip_default_ttl;
            let partial = self.tx.partial;
            // Debug builds check what release builds skip: on a settled connection with
            // nothing to send, the poll and after_conn change nothing.
            #[cfg(debug_assertions)]
            let settled = self
                .quiet_conn(h)
                .filter(|_| self.settled(h))
                .map(|_| self.settle_snapshot(h));
            let out = self.with_conn(h, |conn, ctx| {
                #[cfg(debug_assertions)]
                let quiet = conn.nothing_to_send().then(|| conn.quiet_snapshot());
                let seg = conn.poll_segment(ctx);
                #[cfg(debug_assertions)]
                if let Some(before) = &quiet {
                    conn.check_nothing_sent(before, seg.is_some());
                }
                let Some(seg) = &seg else {
                    // Everything that may go has gone: a reset decided at close()
                    // follows (orphans.rs).
                    conn.pushed(ctx);
                    return None;
                };
                let mut stash = Vec::new();
                // Headers take at most 100 bytes (IPv6 and a TCP header full of options):
                // the exact length is asked only of a buffer that may be too short.
                let fits = buf.len() >= MAX_HEADERS + seg.payload_len
                    || buf.len() >= datagram_len(conn, seg);
                let target: &mut [u8] = if fits {
                    buf
                } else {
                    stash.resize(datagram_len(conn, seg), 0);
                    &mut stash
                };
                let written = emit_conn_segment(conn, seg, ttl, partial, target);
                Some((written, stash))
            });
            #[cfg(debug_assertions)]
            if let Some(was) = settled {
                assert_eq!(
                    was,
                    self.settle_snapshot(h),
                    "Stack::settled: see check_settled"
                );
            }
            match out.flatten() {
                Some((written, stash)) => {
                    // Round robin: the connection goes to the back with more to send,
                    // and out of the queue with nothing more (conn/quiet.rs), where the
                    // next pass would only have found it empty (issue 9, item 1). The
                    // datagrams are the same; one given more to send before the queue
                    // drains (a packet handled between two calls) now goes behind the
                    // connections queued meanwhile instead of keeping its old place.
                    self.tx_queue.pop_front();
                    if self.quiet_conn(h).is_some() {
                        self.slots[h.index as usize].set(super::Slot::DIRTY, false);
                    } else {
                        self.tx_queue.push_back(h);
                    }
                    if stash.is_empty() {
                        if let Some(n) = written {
                            self.tx.last = Some(h);
                            self.tx.last_partial = partial;
                            return Ok(Some(n));
                        }
                        // Emitting into a buffer long enough cannot fail; if it ever
                        // did, the segment is lost as on a wire and retransmitted.
                        continue;
                    }
                    // Not sent yet: the counters wait for the datagram to leave.
                    let out_segs = self.stats.OutSegs - out_before;
                    let retrans_segs = self.stats.RetransSegs - re_before;
                    self.stats.OutSegs = out_before;
                    self.stats.RetransSegs = re_before;
                    let needed = stash.len();
                    self.stashed = Some(Stashed {
                        bytes: stash,
                        out_segs,
                        retrans_segs,
                        partial,
                    });
                    return Err(BufferTooSmall { needed });
                }
                None => {
                    self.tx_queue.pop_front();
                    if let Some(slot) = self
                        .slots
                        .get_mut(h.index as usize)
                        .filter(|s| s.generation == h.generation && s.sock.is_some())
                    {
                        slot.set(super::Slot::DIRTY, false);
                    }
                    // A connection that ended as its sending did (orphans.rs) left a RST.
                    if self.ctl.front().is_some() {
                        return self.poll_transmit_any(now, buf);
                    }
                }
            }
        }
        Ok(None)
    }

    /// The state of the connection behind `h` if it has nothing to send
    /// ([`Connection::nothing_to_send`](crate::conn::Connection::nothing_to_send)).
    fn quiet_conn(&self, h: super::SocketHandle) -> Option<crate::state::State> {
        match &self.slots.get(h.index as usize)?.sock {
            Some(super::Sock::Conn(c))
                if self.slots[h.index as usize].generation == h.generation =>
            {
                c.nothing_to_send().then_some(c.state)
            }
            _ => None,
        }
    }

    fn emit_ctl(&self, seg: &CtlSegment, buf: &mut [u8]) -> Option<usize> {
        synack_wire::emit_datagram(
            buf,
            seg.local.ip(),
            seg.remote.ip(),
            self.config.ip_default_ttl,
            &seg.repr(),
        )
        .ok()
    }
}

/// The length of a control segment's datagram.
fn ctl_len(seg: &CtlSegment, ttl: u8) -> usize {
    IpRepr {
        src: seg.local.ip(),
        dst: seg.remote.ip(),
        protocol: IPPROTO_TCP,
        payload_len: seg.repr().buffer_len(),
        hop_limit: ttl,
    }
    .buffer_len()
}

/// The most header bytes a connection's datagram carries: an IPv6 header and a TCP
/// header of the largest length its data offset can say.
const MAX_HEADERS: usize = 40 + 60;

/// The length of a connection segment's datagram.
pub(super) fn datagram_len(
    conn: &crate::conn::Connection,
    seg: &crate::conn::output::Outgoing,
) -> usize {
    IpRepr {
        src: conn.local().ip(),
        dst: conn.remote().ip(),
        protocol: IPPROTO_TCP,
        payload_len: seg.repr.header_len() + seg.payload_len,
        hop_limit: 0,
    }
    .buffer_len()
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use crate::{Config, Instant, Stack, State};

    /// Moves every datagram between `a` and `b` until both are quiet.
    fn shuttle(a: &mut Stack, b: &mut Stack, now: Instant) {
        let mut buf = vec![0u8; 2048];
        let mut step = |from: &mut Stack, to: &mut Stack| {
            let mut moved = false;
            while let Ok(Some(n)) = from.poll_transmit(now, &mut buf) {
                to.handle_packet(now, &buf[..n]);
                moved = true;
            }
            moved
        };
        while step(a, b) | step(b, a) {}
    }

    /// Issue 9, item 1: the transmit queue holds only connections with something to
    /// send. A connection whose segment was the last it had leaves the queue with it,
    /// rather than going to the back and costing the next call a visit that finds
    /// nothing.
    #[test]
    fn a_connection_leaves_the_transmit_queue_with_its_last_segment() {
        let ip = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let (mut a, mut b) = (Stack::new(Config::seeded(1)), Stack::new(Config::seeded(2)));
        a.add_address(ip(1));
        b.add_address(ip(2));
        let l = b.socket();
        b.bind(l, SocketAddr::new(ip(2), 80)).unwrap();
        b.listen(l, 8).unwrap();
        let c = a.socket();
        a.connect(c, SocketAddr::new(ip(2), 80)).unwrap();
        let now = Instant::from_millis(1);
        shuttle(&mut a, &mut b, now);
        assert_eq!(a.state(c), Ok(State::Established));
        assert!(a.tx_queue.is_empty());

        assert_eq!(a.send(c, &[7u8; 100]), Ok(100));
        assert_eq!(a.tx_queue.len(), 1, "queued with data to send");
        let mut buf = vec![0u8; 2048];
        assert!(matches!(a.poll_transmit(now, &mut buf), Ok(Some(_))));
        assert!(
            a.tx_queue.is_empty(),
            "out of the queue with its last segment"
        );
        assert_eq!(a.poll_transmit(now, &mut buf), Ok(None));
    }
}
