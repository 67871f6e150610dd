//! TIME-WAIT as compact records (Linux's inet_timewait_sock, the "minisock"): what is
//! needed to re-acknowledge a retransmitted FIN, reject old duplicates, and let a new
//! SYN reopen the 4-tuple, and nothing else.
//!
//! The table that keeps them, packed, with one expiry each, is in [`crate::tw_table`].

use synack_wire::{Control, SeqNum, TcpOptions, TcpRepr, Timestamp};

use crate::time::Instant;

/// A connection in TIME-WAIT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeWait {
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    /// The window field of our last segment.
    pub window: u16,
    /// TS.Recent, when timestamps were in use.
    pub ts_recent: u32,
    /// Our timestamp offset; `None` without timestamps.
    pub ts_offset: Option<u32>,
    /// When TS.Recent was stored.
    pub ts_stamp: Instant,
    /// When TIME-WAIT ends (2MSL after the last restart).
    pub expires: Instant,
    /// The connection's SO_REUSEADDR (Linux's tw_reuse): a new socket binds beside this
    /// entry only if both set it.
    pub reuse: bool,
    /// When the last ACK to a segment TIME-WAIT could not accept was sent (Linux's
    /// tw_last_oow_ack_time), for the `tcp_invalid_ratelimit` spacing.
    pub last_oow_ack: Option<Instant>,
}

impl TimeWait {
    /// A record of what TIME-WAIT needs, ending at `expires`.
    pub fn new(
        snd_nxt: SeqNum,
        rcv_nxt: SeqNum,
        window: u16,
        ts: Option<(u32, u32, Instant)>,
        expires: Instant,
        reuse: bool,
    ) -> TimeWait {
        TimeWait {
            snd_nxt,
            rcv_nxt,
            window,
            ts_recent: ts.map_or(0, |t| t.0),
            ts_offset: ts.map(|t| t.1),
            ts_stamp: ts.map_or(Instant::ZERO, |t| t.2),
            expires,
            reuse,
            last_oow_ack: None,
        }
    }
}

/// What a segment arriving in TIME-WAIT leads to (Linux's tcp_timewait_state_process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TwAction {
    /// Nothing to send.
    Drop,
    /// Send an ACK of the current state.
    Ack,
    /// An ACK was due but one went less than `tcp_invalid_ratelimit` ago
    /// (TCPACKSkippedTimeWait).
    AckSkipped,
    /// End TIME-WAIT now (a RST, RFC 1337's hazard that Linux accepts by default).
    Kill,
    /// A new SYN that may reopen the connection, with the ISN to use.
    Reopen(SeqNum),
}

impl TimeWait {
    /// Decides what `seg` does to this TIME-WAIT (RFC 9293 3.10.7.4 for TIME-WAIT, with
    /// RFC 7323 PAWS and RFC 6191's timestamp test for new SYNs, in Linux's order).
    pub fn on_segment(
        &mut self,
        seg: &TcpRepr,
        now: Instant,
        len: core::time::Duration,
        rfc1337: bool,
        ratelimit: core::time::Duration,
    ) -> TwAction {
        let ts = seg.options.timestamp;
        let paws_reject = match (self.ts_offset, ts) {
            (Some(_), Some(t)) => t.is_older_than(self.ts_recent),
            _ => false,
        };
        let end = seg.seq + seg.seg_len();
        if !paws_reject
            && seg.seq == self.rcv_nxt
            && (seg.seq == end || seg.control == Control::Rst)
        {
            // In window: only a RST or a bare ACK can be here.
            if seg.control == Control::Rst {
                return if rfc1337 {
                    TwAction::Drop
                } else {
                    TwAction::Kill
                };
            }
            self.expires = now + len;
            if let (Some(_), Some(t)) = (self.ts_offset, ts) {
                self.ts_recent = t.tsval;
                self.ts_stamp = now;
            }
            return TwAction::Drop;
        }
        if seg.control == Control::Syn && seg.ack.is_none() && !paws_reject {
            let newer_ts = match (self.ts_offset, ts) {
                (Some(_), Some(t)) => (self.ts_recent.wrapping_sub(t.tsval) as i32) < 0,
                _ => false,
            };
            if seg.seq.after(self.rcv_nxt) || newer_ts {
                let mut isn = self.snd_nxt + 65535 + 2;
                if isn == SeqNum(0) {
                    isn += 1;
                }
                return TwAction::Reopen(isn);
            }
        }
        if seg.control == Control::Rst {
            return TwAction::Drop;
        }
        if paws_reject || seg.ack.is_some() {
            // A retransmitted FIN (or any old segment): restart 2MSL and re-ACK.
            self.expires = now + len;
        }
        self.oow_ack(seg, now, ratelimit)
    }

    /// Linux's tcp_timewait_check_oow_rate_limit: a segment that carries sequence space
    /// and no SYN (a retransmitted FIN, data) is not part of an ACK loop and is always
    /// answered; anything else at most once per `ratelimit` (tcp_oow_rate_limited).
    fn oow_ack(
        &mut self,
        seg: &TcpRepr,
        now: Instant,
        ratelimit: core::time::Duration,
    ) -> TwAction {
        if seg.seg_len() > 0 && seg.control != Control::Syn {
            return TwAction::Ack;
        }
        if let Some(last) = self.last_oow_ack {
            if now < last + ratelimit {
                return TwAction::AckSkipped;
            }
        }
        self.last_oow_ack = Some(now);
        TwAction::Ack
    }

    /// The ACK TIME-WAIT sends.
    pub fn ack_options(&self, now: Instant) -> TcpOptions {
        TcpOptions {
            timestamp: self.ts_offset.map(|off| Timestamp {
                tsval: (now.total_millis() as u32).wrapping_add(off),
                tsecr: self.ts_recent,
            }),
            ..TcpOptions::default()
        }
    }
}
