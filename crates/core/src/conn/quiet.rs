//! Whether a connection has nothing to send: the stack's transmit path asks this before
//! [`Connection::poll_segment`], so that a connection that was only looked at (a `recv`
//! that found nothing, an ACK that freed nothing) costs no output pass (issue 9: work
//! proportional to what happened).
//!
//! The contract: when [`Connection::nothing_to_send`] is true, `poll_segment` would
//! return `None` *and change nothing*. The predicate mirrors the early exits of
//! `next_segment` and `data_segment` (output.rs) and is conservative: any flag that
//! makes `next_segment` do something, even without sending (a pending loss probe, a
//! one-time push, a rewound SND.NXT to skip past SACKed data), makes it false. Debug
//! builds check the contract on every call (`check_nothing_sent`), so a new send path in
//! output.rs that this file does not know about fails the tests instead of going quiet.

use super::Connection;
use crate::conn::flag;
use crate::state::State;

impl Connection {
    /// True when [`Connection::poll_segment`] would return `None` without changing the
    /// connection (see the module documentation).
    pub(crate) fn nothing_to_send(&self) -> bool {
        match self.state {
            State::Closed => return true,
            // The SYN goes once SND.NXT is still at the ISS (and no Fast Open connect
            // waits for its first write).
            State::SynSent => return self.snd_nxt != self.iss || self.tfo.deferred,
            State::SynReceived if self.snd_nxt == self.iss => return false,
            _ => {}
        }
        // A reset that waits for the FIN to be pushed (orphans.rs) goes in that pass.
        // Segments waiting in the fq qdisc (pacing.rs) leave in a poll.
        if self.flag(flag::PUSH_ONCE)
            || self.pacing_queued()
            || self.flag(flag::PROBE_PENDING)
            || self.flag(flag::ACK_NOW)
            || self.inflight.loss_probe.is_some()
            || self.rare.reset_after_push
        {
            return false;
        }
        // After a timeout's rewind SND.NXT may skip SACKed data (skip_sacked), and
        // go-back-N resends: both are work.
        if self.snd_nxt.before(self.snd_max) || self.next_retransmission().is_some() {
            return false;
        }
        // data_segment's first exit: no byte of the send buffer at SND.NXT and no FIN to
        // send there.
        let offset = (self.snd_nxt - self.send_buf_seq()).max(0) as usize;
        let avail = self.send_buf.len().saturating_sub(offset);
        let fin_here = self.flag(flag::FIN_QUEUED)
            && !self.flag(flag::FIN_ACKED)
            && self.snd_nxt.before_eq(self.fin_seq());
        avail == 0 && !fin_here
    }
}

/// What `poll_segment` may change when it sends nothing, captured before a call that
/// [`Connection::nothing_to_send`] predicted to be empty (debug builds only).
#[cfg(debug_assertions)]
#[derive(Debug, PartialEq)]
pub(crate) struct QuietSnapshot {
    state: State,
    snd_nxt: synack_wire::SeqNum,
    snd_max: synack_wire::SeqNum,
    flags: [bool; 4],
    loss_probe: Option<synack_wire::SeqNum>,
    timers: Option<crate::time::Instant>,
    segs_out: u32,
    events: u8,
}

#[cfg(debug_assertions)]
impl Connection {
    /// The state [`Connection::check_nothing_sent`] compares.
    pub(crate) fn quiet_snapshot(&self) -> QuietSnapshot {
        QuietSnapshot {
            state: self.state,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            flags: [
                self.flag(flag::PUSH_ONCE),
                self.flag(flag::PROBE_PENDING),
                self.flag(flag::ACK_NOW),
                self.flag(flag::XMIT_PROBE),
            ],
            loss_probe: self.inflight.loss_probe,
            timers: self.next_deadline(),
            segs_out: self.segs_out,
            events: self.events,
        }
    }

    /// Panics unless a `poll_segment` that [`Connection::nothing_to_send`] predicted to
    /// be empty sent nothing and left `before` as it was.
    pub(crate) fn check_nothing_sent(&self, before: &QuietSnapshot, sent: bool) {
        assert!(
            !sent && *before == self.quiet_snapshot(),
            "conn/quiet.rs: nothing_to_send() said {} -> {} had nothing to send, but \
             poll_segment {} (before {before:?}, after {:?}); teach nothing_to_send about \
             the new send path",
            self.local(),
            self.remote(),
            if sent {
                "sent a segment"
            } else {
                "changed state"
            },
            self.quiet_snapshot(),
        );
    }
}
