//! Explicit Congestion Notification (RFC 3168) as Linux's `tcp_ecn` does it: the
//! negotiation on the handshake, ECT(0) on new data, ECE echoed from the first CE until
//! the peer's CWR, and a congestion-window reduction once per window of data when an ECE
//! arrives (the CWR state, sized by PRR like fast recovery).

use crate::conn::flag;
use synack_wire::{Ecn, TcpRepr};

use super::output::Outgoing;
use super::{Connection, Ctx};

/// Quick ACKs after a CE mark or a CWR (Linux's `tcp_enter_quickack_mode(sk, 2)`).
const ECN_QUICKACKS: u32 = 2;

impl Connection {
    /// The ECE and CWR flags of our SYN or SYN-ACK (Linux's tcp_ecn_send_syn and
    /// tcp_ecn_make_synack). A first SYN asks for ECN when `tcp_ecn` is 1 (RFC 3168
    /// 6.1.1: ECE and CWR set); a retransmitted one stops asking when
    /// `tcp_ecn_fallback` is on, in case a middlebox drops ECN-setup SYNs. A SYN-ACK
    /// answers with ECE alone when ECN was agreed.
    pub(crate) fn ecn_syn_flags(
        &mut self,
        ctx: &Ctx,
        synack: bool,
        retransmit: bool,
    ) -> (bool, bool) {
        if synack {
            return (self.neg.ecn, false);
        }
        if !retransmit {
            self.neg.ecn = ctx.config.tcp_ecn == 1;
            self.set_flag(flag::ECN_QUEUE_CWR, false);
            self.set_flag(flag::ECN_DEMAND_CWR, false);
            self.set_flag(flag::ECN_SEEN, false);
        }
        let ask = self.neg.ecn && !(retransmit && ctx.config.tcp_ecn_fallback);
        (ask, ask)
    }

    /// Whether the peer's SYN or SYN-ACK `seg` keeps the ECN we asked for (Linux's
    /// tcp_ecn_rcv_synack and tcp_ecn_rcv_syn): a SYN-ACK must carry ECE without CWR,
    /// a SYN (simultaneous open) both.
    pub(crate) fn ecn_agreed(&self, seg: &TcpRepr) -> bool {
        let want_cwr = seg.ack.is_none();
        self.neg.ecn && seg.ece && seg.cwr == want_cwr
    }

    /// Marks a segment about to leave (Linux's tcp_ecn_send): new data goes out ECT(0),
    /// the first after a window reduction with CWR; pure ACKs, retransmissions and
    /// window probes are not ECN-capable (RFC 3168 6.1.4, 6.1.5); ECE rides on every
    /// segment while the peer's CWR is awaited. `new_data` says whether the segment
    /// starts at or past the highest sequence number sent before it.
    pub(crate) fn ecn_mark(&mut self, out: &mut Outgoing, new_data: bool) {
        if !self.neg.ecn || out.repr.control == synack_wire::Control::Syn {
            return;
        }
        if out.payload_len > 0 && new_data {
            out.ect = true;
            if self.flag(flag::ECN_QUEUE_CWR) {
                self.set_flag(flag::ECN_QUEUE_CWR, false);
                out.repr.cwr = true;
            }
        }
        if self.flag(flag::ECN_DEMAND_CWR) {
            out.repr.ece = true;
        }
    }

    /// A window reduction began (CWR, fast recovery or a timeout): the next new data
    /// segment tells the peer with CWR (Linux's tcp_ecn_queue_cwr).
    pub(crate) fn ecn_queue_cwr(&mut self) {
        if self.neg.ecn {
            self.set_flag(flag::ECN_QUEUE_CWR, true);
        }
    }

    /// Whether `seg` echoes congestion: ECE on a segment other than a SYN, with ECN
    /// agreed (Linux's tcp_ecn_rcv_ecn_echo).
    pub(crate) fn ecn_echoed(&self, seg: &TcpRepr) -> bool {
        self.neg.ecn && seg.ece && seg.control != synack_wire::Control::Syn
    }

    /// A data segment arrived: its CWR ends our ECE echo (RFC 3168 6.1.3; Linux's
    /// tcp_ecn_accept_cwr), and the sender, whose window may be one segment, gets its
    /// ACKs at once.
    pub(crate) fn ecn_accept_cwr(&mut self, seg: &TcpRepr) {
        if seg.cwr && !seg.payload.is_empty() {
            self.set_flag(flag::ECN_DEMAND_CWR, false);
            self.enter_quickack_mode(ECN_QUICKACKS);
        }
    }

    /// Data was queued: what its IP header's ECN `field` says (Linux's tcp_ecn_check_ce).
    /// CE starts the ECE echo, with quick ACKs; an unmarked segment after marked ones
    /// is probably a retransmission, which is ACKed at once too.
    pub(crate) fn ecn_check_ce(&mut self, field: Ecn) {
        if !self.neg.ecn {
            return;
        }
        match field {
            Ecn::NotEct => {
                if self.flag(flag::ECN_SEEN) {
                    self.enter_quickack_mode(ECN_QUICKACKS);
                }
            }
            Ecn::Ce => {
                if !self.flag(flag::ECN_DEMAND_CWR) {
                    self.enter_quickack_mode(ECN_QUICKACKS);
                    self.set_flag(flag::ECN_DEMAND_CWR, true);
                }
                self.set_flag(flag::ECN_SEEN, true);
            }
            Ecn::Ect0 | Ecn::Ect1 => self.set_flag(flag::ECN_SEEN, true),
        }
    }
}
