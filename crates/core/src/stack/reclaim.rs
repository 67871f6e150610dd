//! Rings that give their memory back (issue 9; Linux's sk_mem_reclaim): a connection
//! whose send ring is empty (everything written was acknowledged) or whose receive ring
//! is empty (everything received was read, nothing held out of order) keeps the ring
//! while traffic goes on, so a steady transfer reuses it and allocates nothing per
//! segment, and drops it once the connection has been quiet for a retransmission
//! timeout (RFC 5681 section 4.1's idle connection): the next byte allocates a small
//! ring again, and the ring regrows with the traffic (buffer/compact.rs).
//!
//! `after_conn` queues a connection the first time it sees a ring drained (the slot's
//! [`Slot::RECLAIM`] flag keeps it queued once), with when it was last active; the
//! queue is looked at by every `after_conn` and by `handle_timeout`, a few entries at a
//! time, so the work is proportional to what happened. An entry not yet idle goes to the
//! back with its newer activity time. A stack that receives no call at all keeps the
//! rings until its next call.

use super::{Slot, Sock, SocketHandle, Stack};
use crate::conn::Connection;
use crate::time::Instant;

/// Entries `after_conn` looks at: enough to keep up with the connections queued, since
/// each call queues at most one (`handle_timeout` looks at all that are due).
pub(super) const PER_CALL: usize = 2;

/// Whether `conn` holds a ring with nothing in it.
pub(super) fn drained(conn: &Connection) -> bool {
    (conn.send_buf.holds_ring() && conn.send_buf.is_empty())
        || (conn.recv_buf.holds_ring() && conn.recv_buf.is_empty() && !conn.recv_buf.has_ooo())
}

/// When `conn` last sent or received a segment.
pub(super) fn last_active(conn: &Connection) -> Instant {
    conn.last_recv.max(conn.last_send)
}

impl Stack {
    /// Queues connection `h` (whose slot is `slot`) for reclaim if a ring drained.
    #[inline]
    pub(super) fn queue_reclaim(&mut self, h: SocketHandle, since: Instant) {
        let slot = &mut self.slots[h.index as usize];
        if !slot.has(Slot::RECLAIM) {
            slot.set(Slot::RECLAIM, true);
            self.reclaim.push_back((h, since));
        }
    }

    /// Whether the oldest queued connection may be idle by now: `after_conn` asks this
    /// inline and calls [`Stack::reclaim_idle`] only when it is, so a busy stack pays a
    /// comparison per call.
    #[inline]
    pub(super) fn reclaim_due(&self) -> bool {
        self.reclaim.front().is_some_and(|&(_, since)| {
            self.now.saturating_duration_since(since) >= self.config.rto_min
        })
    }

    /// Looks at up to `limit` of the oldest queued connections: those quiet for an RTO
    /// give their drained rings back.
    #[inline(never)]
    pub(super) fn reclaim_idle(&mut self, limit: usize) {
        let now = self.now;
        for _ in 0..limit {
            let Some(&(h, since)) = self.reclaim.front() else {
                return;
            };
            // Nothing is idle for less than the smallest RTO.
            if now.saturating_duration_since(since) < self.config.rto_min {
                return;
            }
            self.reclaim.pop_front();
            let Some(slot) = self
                .slots
                .get_mut(h.index as usize)
                .filter(|s| s.generation == h.generation)
            else {
                continue;
            };
            let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
                slot.set(Slot::RECLAIM, false);
                continue;
            };
            if !drained(conn) {
                slot.set(Slot::RECLAIM, false);
                continue;
            }
            let active = last_active(conn);
            if now.saturating_duration_since(active) < conn.rtt.rto() {
                // Traffic since: look again an RTO after it.
                self.reclaim.push_back((h, active));
                continue;
            }
            if conn.send_buf.is_empty() {
                conn.send_buf.release();
            }
            if conn.recv_buf.is_empty() && !conn.recv_buf.has_ooo() {
                conn.recv_buf.release();
            }
            // The pages go back to the budget at once.
            self.budget
                .settle(conn, now, &self.config.tcp_mem, &mut self.stats);
            slot.set(Slot::RECLAIM, false);
            // The connection changed (its rings): after_conn runs on it again.
            slot.set(Slot::SETTLED, false);
        }
    }
}
