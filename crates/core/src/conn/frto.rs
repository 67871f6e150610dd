//! Undoing a retransmission timeout that was spurious, as Linux does (tcp_enter_loss,
//! tcp_process_loss, tcp_try_undo_loss, tcp_undo_cwnd_reduction).
//!
//! A timeout brings cwnd down to one segment and goes back over everything in flight.
//! When the data was only delayed, two rules notice and put cwnd and ssthresh back:
//! - with timestamps, the ACK that first advances SND.UNA echoes a TSval older than the
//!   first retransmission, so it acknowledges the original (the Eifel detection of RFC
//!   3522 section 3.2; Linux's tcp_packet_delayed), whatever `tcp_frto` says;
//! - F-RTO (RFC 5682 section 3, the SACK-enhanced algorithm; `tcp_frto`): the first ACK
//!   after the timeout that advances SND.UNA lets new data go instead of more
//!   retransmissions (step 2b); an ACK that then acknowledges or SACKs data that was
//!   never retransmitted shows the timeout spurious (step 3b), while a duplicate ACK or
//!   a SACK of other data shows the loss real (step 3a), and recovery goes on as after
//!   any timeout.
//!
//! An undo counts TCPLossUndo, and TCPSpuriousRTOs when F-RTO found it. Undoing a fast
//! recovery (Linux's tcp_try_undo_recovery and D-SACK undo outside the Loss state) is
//! not modelled.

use synack_wire::SeqNum;

use super::recovery::CaState;
use super::{Connection, Ctx};
use crate::time::Instant;

/// What an undo restores (Linux's undo_marker, prior_cwnd, prior_ssthresh).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Undo {
    /// SND.UNA when the reduction began.
    pub marker: SeqNum,
    /// cwnd before it.
    pub prior_cwnd: u32,
    /// ssthresh before it (Linux's tcp_current_ssthresh); 0: cwnd is not restored.
    pub prior_ssthresh: u32,
}

/// A Loss episode's undo state, kept out of line (rare.rs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct LossUndo {
    /// What to restore, from the last reduction that may be undone.
    pub undo: Option<Undo>,
    /// F-RTO runs on this timeout (Linux's tp->frto).
    pub frto: bool,
    /// Step 2b: new data goes before any further retransmission (Linux's REXMIT_NEW).
    pub send_new: bool,
    /// When the episode's first retransmission went (Linux's retrans_stamp).
    pub stamp: Option<Instant>,
}

impl LossUndo {
    /// No episode.
    pub const NONE: LossUndo = LossUndo {
        undo: None,
        frto: false,
        send_new: false,
        stamp: None,
    };
}

/// An ACK that arrived in the Loss state, as tcp_process_loss reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossAck {
    /// It advanced SND.UNA (FLAG_SND_UNA_ADVANCED).
    pub una_advanced: bool,
    /// A duplicate ACK.
    pub dupack: bool,
    /// It SACKed data not SACKed before (FLAG_DATA_SACKED).
    pub data_sacked: bool,
    /// It acknowledged or SACKed data below the recovery point that was never
    /// retransmitted (FLAG_ORIG_SACK_ACKED).
    pub orig_acked: bool,
    /// The TSecr it echoed, if it carried a timestamp.
    pub tsecr: Option<u32>,
    /// The right edge of the window it offers.
    pub wnd_end: SeqNum,
}

/// Where a Loss episode stood before an ACK was taken in (process_ack's snapshot).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossMark {
    /// Data at and above this was never retransmitted in this episode.
    pub never_from: SeqNum,
    /// Linux's high_seq: SND.NXT when the episode began.
    pub high: SeqNum,
    /// Bytes of `[never_from, high)` SACKed.
    pub sacked: u32,
}

impl Connection {
    /// Linux's tcp_current_ssthresh: during a reduction ssthresh, else at least three
    /// quarters of cwnd.
    fn current_ssthresh(&self) -> u32 {
        let ssthresh = self.cc.ssthresh();
        if matches!(self.rec.state, CaState::Cwr | CaState::Recovery) {
            ssthresh
        } else {
            let cwnd = self.cc.cwnd();
            ssthresh.max((cwnd >> 1) + (cwnd >> 2))
        }
    }

    /// Linux's tcp_init_undo from tcp_enter_recovery: a timeout during this fast
    /// recovery may still be undone back to before it.
    pub(crate) fn init_undo_for_recovery(&mut self) {
        let from_cwr = self.rec.state == CaState::Cwr;
        let undo = Undo {
            marker: self.snd_una,
            prior_cwnd: self.cc.cwnd(),
            prior_ssthresh: if from_cwr { 0 } else { self.current_ssthresh() },
        };
        self.rare.loss.undo = Some(undo);
        self.rare.loss.stamp = None;
    }

    /// A retransmission timeout, before cwnd falls and the Loss state begins (Linux's
    /// tcp_enter_loss): what an undo would restore, unless this timeout repeats one of
    /// the same episode, and whether F-RTO runs (RFC 5682 3.1 step 1: not when the
    /// timeout interrupts a fast recovery, unless it repeats; section 3.2).
    pub(crate) fn loss_begins(&mut self, ctx: &Ctx) {
        let prev = self.rec.state;
        let fresh = matches!(prev, CaState::Open | CaState::Disorder)
            || !self.recover.after(self.snd_una)
            || (prev == CaState::Loss && self.rto_count == 0);
        let new_recovery = matches!(prev, CaState::Open | CaState::Disorder | CaState::Cwr);
        let frto = ctx.config.tcp_frto != 0 && (new_recovery || self.rto_count > 0);
        let mut l = self.rare.loss;
        if fresh {
            l.undo = Some(Undo {
                marker: self.snd_una,
                prior_cwnd: self.cc.cwnd(),
                prior_ssthresh: self.current_ssthresh(),
            });
            l.stamp = None;
        }
        // The timeout's retransmission goes now: the episode's first, unless an earlier
        // one of it went already.
        l.stamp = l.stamp.or(Some(ctx.now));
        l.frto = frto;
        l.send_new = false;
        if l != self.rare.loss {
            self.rare.loss = l;
        }
    }

    /// The snapshot of the episode an ACK in the Loss state is judged against.
    pub(crate) fn loss_mark(&self) -> LossMark {
        let never_from = self.rec.rexmit_next.max(self.snd_una);
        let high = self.recover;
        LossMark {
            never_from,
            high,
            sacked: self.sacked_in(never_from, high),
        }
    }

    /// Bytes SACKed in `[from, to)`.
    pub(crate) fn sacked_in(&self, from: SeqNum, to: SeqNum) -> u32 {
        if !self.neg.sack || !from.before(to) {
            return 0;
        }
        ((to - from) as u32).saturating_sub(self.rec.sacked.unsacked_between(from, to))
    }

    /// Linux's tcp_process_loss up to its retransmission decision, for one ACK in the
    /// Loss state. Returns whether the timeout was undone.
    pub(crate) fn process_loss(&mut self, ctx: &mut Ctx, ack: &LossAck) -> bool {
        if self.rare.loss.send_new {
            self.rare.loss.send_new = false;
        }
        if ack.una_advanced && self.ack_echoes_original(ack.tsecr) {
            self.undo_loss(ctx, false);
            return true;
        }
        if !self.rare.loss.frto {
            return false;
        }
        // RFC 5682 3.1 step 3b (SACK-enhanced): never-retransmitted data delivered.
        if ack.orig_acked {
            self.undo_loss(ctx, true);
            return true;
        }
        let recovered = self.snd_una.after_eq(self.recover);
        if self.snd_max.after(self.recover) {
            // Step 3a: after the new data went, a duplicate ACK or a SACK means the
            // loss was real.
            if ack.data_sacked || ack.dupack {
                self.rare.loss.frto = false;
            }
        } else if ack.una_advanced && !recovered {
            // Step 2b: new data goes, if there is any and the window takes it; the rest
            // of what was outstanding waits, marked lost, for the next ACK's verdict.
            let unsent = self.send_buf_seq() + self.send_buf.len() as u32;
            if unsent.after(self.snd_max) && ack.wnd_end.after(self.snd_max) {
                self.rec.rexmit_next = self.rec.rexmit_next.max(self.snd_una);
                self.rec.lost_end = self.recover;
                self.snd_nxt = self.snd_max;
                self.rare.loss.send_new = true;
                return false;
            }
            self.rare.loss.frto = false;
        }
        false
    }

    /// Step 2b's new data could not go: F-RTO ends and the lost data is retransmitted
    /// (Linux's tcp_xmit_recovery after REXMIT_NEW sent nothing). Returns whether
    /// anything changed.
    pub(crate) fn frto_nothing_new(&mut self) -> bool {
        if !self.rare.loss.send_new {
            return false;
        }
        self.rare.loss.send_new = false;
        if !self.snd_max.after(self.recover) {
            self.rare.loss.frto = false;
        }
        true
    }

    /// Linux's tcp_packet_delayed with an undo point (tcp_may_undo): the ACK echoes a
    /// TSval from before the episode's first retransmission (RFC 3522 3.2).
    fn ack_echoes_original(&self, tsecr: Option<u32>) -> bool {
        let (Some(ts), Some(tsecr), Some(stamp)) = (self.neg.ts, tsecr, self.rare.loss.stamp)
        else {
            return false;
        };
        self.rare.loss.undo.is_some()
            && tsecr != 0
            && (tsecr.wrapping_sub(ts.now_val(stamp)) as i32) < 0
    }

    /// Linux's tcp_try_undo_loss: cwnd and ssthresh as they were, nothing marked lost any
    /// more (what is outstanding is in flight), the Loss state left (for a connection
    /// without SACK only when F-RTO found it; Linux's tcp_try_undo_loss).
    fn undo_loss(&mut self, ctx: &mut Ctx, frto: bool) {
        if let Some(u) = self.rare.loss.undo {
            if u.prior_ssthresh != 0 {
                self.cc.undo(u.prior_cwnd, u.prior_ssthresh);
            }
        }
        ctx.stats.TCPLossUndo += 1;
        if frto {
            ctx.stats.TCPSpuriousRTOs += 1;
        }
        self.rare.loss = LossUndo::NONE;
        self.rto_count = 0;
        self.rec.lost_end = self.snd_una;
        self.rec.rexmit_next = self.snd_una;
        self.forget_rexmits();
        if self.snd_nxt.before(self.snd_max) {
            self.snd_nxt = self.snd_max;
        }
        if frto || self.neg.sack {
            self.end_prr();
            self.rec.state = CaState::Open;
        }
    }
}
