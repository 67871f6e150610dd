//! Segments the stack sends outside a connection's send queue: RSTs to closed ports and
//! to bad segments, the ACKs of TIME-WAIT, challenge ACKs, SYN-ACKs of half-open
//! requests. They carry no payload, so they are small fixed records in a bounded queue.

use std::collections::VecDeque;
use std::net::SocketAddr;

use synack_wire::{Control, SeqNum, TcpOptions, TcpRepr};

/// A payload-less segment waiting to be sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CtlSegment {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub control: Control,
    pub window: u16,
    pub options: TcpOptions,
    /// Counted as a retransmission (SYN-ACK retransmits).
    pub retransmit: bool,
    /// ECE set: a SYN-ACK agreeing to ECN (RFC 3168 6.1.1).
    pub ece: bool,
}

impl CtlSegment {
    /// The segment as a representation ready to emit.
    pub fn repr(&self) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.seq,
            ack: self.ack,
            control: self.control,
            psh: false,
            ece: self.ece,
            cwr: false,
            window: self.window,
            urgent: None,
            options: self.options,
            payload: &[],
        }
    }
}

/// A bounded FIFO of control segments. When full, new segments are dropped: every one
/// of them is a reply that the peer's retransmission will elicit again.
#[derive(Debug, Default)]
pub(crate) struct CtlQueue {
    queue: VecDeque<CtlSegment>,
}

/// How many control segments may wait at once.
const CTL_QUEUE_LIMIT: usize = 4096;

impl CtlQueue {
    /// Queues a segment; false if the queue was full.
    pub fn push(&mut self, seg: CtlSegment) -> bool {
        if self.queue.len() >= CTL_QUEUE_LIMIT {
            return false;
        }
        self.queue.push_back(seg);
        true
    }

    /// Queues a bare RST (with ACK when `ack` is given).
    pub fn push_reset(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNum,
        ack: Option<SeqNum>,
    ) {
        self.push(CtlSegment {
            local,
            remote,
            seq,
            ack,
            control: Control::Rst,
            window: 0,
            options: TcpOptions::default(),
            retransmit: false,
            ece: false,
        });
    }

    /// Queues the RST that answers `seg` when no connection wants it (RFC 9293 section
    /// 3.10.7.1): `<SEQ=SEG.ACK><CTL=RST>` if it had an ACK, else
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. A RST is never answered. Returns
    /// whether a RST was queued.
    pub fn reset_for(&mut self, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr) -> bool {
        if seg.control == Control::Rst {
            return false;
        }
        match seg.ack {
            Some(ack) => self.push_reset(local, remote, ack, None),
            None => self.push_reset(local, remote, SeqNum(0), Some(seg.seq + seg.seg_len())),
        }
        true
    }

    /// Whether no control segment waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next segment to send, left in the queue.
    pub fn front(&self) -> Option<&CtlSegment> {
        self.queue.front()
    }

    /// The next segment to send.
    pub fn pop(&mut self) -> Option<CtlSegment> {
        self.queue.pop_front()
    }
}
