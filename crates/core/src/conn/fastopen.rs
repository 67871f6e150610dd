//! A connection's part in TCP Fast Open (RFC 7413).

use super::{events, Connection};

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
