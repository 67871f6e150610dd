//! State that is live only while data is queued or in flight, a recovery is
//! retransmitting or reducing its window (PRR), a D-SACK waits for the next ACK, or the
//! Persist or Reorder timer is armed: one box, out of line
//! ([`super::cold::Cold`]) while all of it is at rest, so that an idle connection
//! carries one pointer for it (issue 9's memory budget).
//!
//! The box is allocated by the first write of a value that is not at rest (in practice
//! the first write, which queues a chunk) and given back by
//! [`Connection::inflight_clear`] once every part is at rest again: the data and its
//! send times all acknowledged, no loss probe outstanding or due, no retransmission of
//! a recovery remembered, no D-SACK pending. A field reads the same whether the box
//! exists or not (its at-rest value), so no rule of the connection sees the difference.

use std::collections::VecDeque;

use synack_wire::SeqNum;

use super::Connection;
use crate::time::Instant;

/// The parts of a connection that rest while it is idle.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InFlight {
    /// First-transmission times of the segments in flight, as (end sequence, time), in
    /// sequence order (at rest: empty; flight.rs).
    pub sent: super::flight::Flight,
    /// Retransmissions of this recovery in the order they were sent, for RACK's rule
    /// (RFC 8985 section 6.2): a retransmission is lost again once one sent after it
    /// is delivered (at rest: empty).
    pub rexmits: VecDeque<(SeqNum, SeqNum, Instant)>,
    /// SND.NXT when the outstanding tail loss probe was sent (RFC 8985 TLPRxtOut).
    pub tlp_high_seq: Option<SeqNum>,
    /// A tail loss probe is due; if no new data can go, the segment starting here is
    /// sent again.
    pub loss_probe: Option<SeqNum>,
    /// The D-SACK block the next ACK carries (RFC 2883; Linux's duplicate_sack[0]).
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// The send queue cut as Linux cuts it into skbs (segment boundaries, PSH), from
    /// the first byte written until all of it is acknowledged (at rest: empty).
    pub chunks: super::chunks::Chunks,
    /// The zero-window probe timer's deadline (`TimerKind::Persist`): armed only while
    /// data waits to be sent (at rest: unarmed; timers.rs).
    pub persist_at: Option<Instant>,
    /// RACK's reordering timer's deadline (`TimerKind::Reorder`): armed only while a
    /// hole is in flight (at rest: unarmed).
    pub reorder_at: Option<Instant>,
    /// PRR's counts while a reduction (fast recovery or CWR) runs (at rest: zero;
    /// recovery.rs).
    pub prr: super::recovery::Prr,
}

impl InFlight {
    /// Everything at rest: the box may go.
    fn at_rest(&self) -> bool {
        self.sent.is_empty()
            && self.rexmits.is_empty()
            && self.tlp_high_seq.is_none()
            && self.loss_probe.is_none()
            && self.dsack.is_none()
            && self.chunks.is_empty()
            && self.persist_at.is_none()
            && self.reorder_at.is_none()
            && self.prr == super::recovery::Prr::REST
    }
}

static AT_REST: InFlight = InFlight {
    sent: super::flight::Flight::EMPTY,
    rexmits: VecDeque::new(),
    tlp_high_seq: None,
    loss_probe: None,
    dsack: None,
    chunks: super::chunks::Chunks::EMPTY,
    persist_at: None,
    reorder_at: None,
    prr: super::recovery::Prr::REST,
};

impl super::cold::ColdDefault for InFlight {
    fn default_ref() -> &'static InFlight {
        &AT_REST
    }

    #[inline]
    fn fresh() -> InFlight {
        InFlight::default()
    }
}

impl Connection {
    /// Changes the in-flight state toward rest (clearing a field, draining a queue)
    /// without allocating it when it is already at rest, and gives the box back once
    /// all of it rests.
    #[inline]
    pub(crate) fn inflight_clear<R>(&mut self, f: impl FnOnce(&mut InFlight) -> R) -> Option<R> {
        let live = self.inflight.get_mut()?;
        let r = f(live);
        if live.at_rest() {
            self.inflight.reset();
        }
        Some(r)
    }

    /// A new recovery or loss episode (or its undo): the retransmissions remembered for
    /// RACK are forgotten, and their memory given back.
    pub(crate) fn forget_rexmits(&mut self) {
        self.inflight_clear(|f| f.rexmits = VecDeque::new());
    }

    /// Takes the due loss probe's sequence number, if any.
    pub(crate) fn take_loss_probe(&mut self) -> Option<SeqNum> {
        self.inflight_clear(|f| f.loss_probe.take()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_goes_once_everything_rests() {
        let mut c: super::super::cold::Cold<InFlight> = Default::default();
        c.sent.push_back((SeqNum(10), Instant::ZERO));
        c.tlp_high_seq = Some(SeqNum(10));
        assert!(c.is_allocated());
        let live = c.get_mut().unwrap();
        live.sent.pop_acked(SeqNum(10));
        assert!(!live.at_rest(), "a probe is still outstanding");
        live.tlp_high_seq = None;
        assert!(live.at_rest());
        // An armed Persist or Reorder timer keeps the box: its deadline lives there.
        live.persist_at = Some(Instant::from_millis(200));
        assert!(!live.at_rest());
        live.persist_at = None;
        live.reorder_at = Some(Instant::from_millis(5));
        assert!(!live.at_rest());
        live.reorder_at = None;
        // So does a reduction under way (PRR's counts), even with nothing in flight.
        live.prr.prior_cwnd = 10;
        assert!(!live.at_rest());
        live.prr = super::super::recovery::Prr::REST;
        assert!(live.at_rest());
    }
}
