//! A connection's part in TCP Fast Open (RFC 7413).

use synack_wire::{SeqNum, TcpRepr};

use super::{events, Connection, Ctx};
use crate::fastopen::Learned;

impl Connection {
    /// A passive Fast Open child takes the data of the SYN that made it (RFC 7413 4.2;
    /// Linux's tcp_fastopen_add_skb): queued for reading, RCV.NXT past it, so that the
    /// SYN-ACK acknowledges it.
    pub(crate) fn take_syn_data(&mut self, data: &[u8]) {
        let n = self.recv_buf.try_insert(0, data).unwrap_or(0);
        if n == 0 {
            return;
        }
        self.rcv_nxt += n as u32;
        self.rcv_wup = self.rcv_nxt;
        self.rcv_adv = self.rcv_adv.max(self.rcv_nxt);
        self.bytes_received += n as u64;
        self.tfo.syn_data_len = n as u32;
        self.tfo.syn_data_acked = true;
        self.events |= events::READABLE;
    }
}

impl Connection {
    /// The first write of a Fast Open connect (RFC 7413 3; Linux's
    /// tcp_send_syn_data): as much of `data` as the SYN may carry is queued to go in
    /// it, and the SYN may leave. Returns the bytes taken.
    pub(crate) fn write_syn_data(&mut self, data: &[u8]) -> usize {
        let room = (self.tfo.syn_space as usize).min(data.len());
        let n = self.send_buf.write(&data[..room]);
        self.tfo.syn_data = n as u32;
        self.tfo.deferred = false;
        if n > 0 {
            // The SYN's data is one write: sent again, it ends with PSH (Linux keeps
            // it as an skb flagged ACK|PSH).
            self.after_write(n, n, super::SendFlags::default());
            if let Some(f) = self.inflight.get_mut() {
                f.chunks.close_tail();
            }
        }
        n
    }

    /// The SYN-ACK of a Fast Open connect (Linux's tcp_rcv_fastopen_synack), before
    /// SND.UNA moves to `ack`: what it teaches the cookie cache, and what became of the
    /// SYN's data. Returns whether some of that data went unacknowledged (RFC 7413 3:
    /// the server may have dropped it): see [`Connection::fastopen_data_lost`].
    pub(crate) fn fastopen_synack(&mut self, ctx: &mut Ctx, seg: &TcpRepr, ack: SeqNum) -> bool {
        let cookie = seg.options.fast_open.filter(|c| !c.is_request());
        let timed_out = self.backoff > 0;
        let try_exp =
            if self.tfo.syn_fastopen && !timed_out && cookie.is_none() && self.tfo.syn_data == 0 {
                // A cookie request went unanswered: try the other option form next.
                if self.tfo.syn_exp {
                    2
                } else {
                    1
                }
            } else {
                0
            };
        self.tfo.learned = Some(Learned {
            mss: seg.options.mss,
            cookie: if self.tfo.syn_fastopen { cookie } else { None },
            try_exp,
        });
        let sent = self.tfo.syn_data;
        if sent == 0 {
            return false;
        }
        let acked = ((ack - self.iss) as u32).saturating_sub(1).min(sent);
        self.send_buf.consume(acked as usize);
        self.bytes_acked += u64::from(acked);
        if acked < sent {
            ctx.stats.TCPFastOpenActiveFail += 1;
            true
        } else {
            ctx.stats.TCPFastOpenActive += 1;
            self.tfo.syn_data_acked = true;
            false
        }
    }

    /// The SYN's data the SYN-ACK left unacknowledged, once ESTABLISHED: Linux marks it
    /// lost and retransmits it at once (tcp_mark_skb_lost on each skb, then
    /// tcp_non_congestion_loss_retransmit). The connection enters the Loss state
    /// without a cwnd reduction (ssthresh becomes tcp_current_ssthresh, which is still
    /// the initial infinity) and recovers at the SYN data's end; the data stays in
    /// flight as packets of the current MSS, so that its resending is a retransmission
    /// (counted in tcpi_retrans and tcpi_total_retrans, exempt from Nagle's
    /// small-segment mark) and not new data.
    pub(crate) fn fastopen_data_lost(&mut self, ctx: &Ctx) {
        let end = self.snd_max;
        let mss = self.mss.max(1);
        let mut at = self.snd_una;
        while at.before(end) {
            let next = (at + mss).min(end);
            self.inflight.sent.push_back((next, ctx.now));
            at = next;
        }
        self.snd_nxt = self.snd_una;
        self.retrans_stamp = Some(ctx.now);
        if !self.in_loss() {
            self.recover = end;
            self.enter_loss();
        }
    }
}
