//! ECN at the stack: a listener's answer to an ECN-setup SYN (RFC 3168 6.1.1, as
//! Linux's tcp_ecn_create_request).

use synack_wire::TcpRepr;

use super::Stack;

impl Stack {
    /// Whether a listener agrees to ECN for the SYN `syn` that arrived with the ECN
    /// field `self.rx_ecn`: it must ask (ECE and CWR, RFC 3168 6.1.1), `tcp_ecn` must be
    /// on (1 or 2), and the SYN itself must not be ECN-capable (RFC 3168 6.1.1: a SYN is
    /// sent not-ECT; Linux takes an ECT SYN as a sign of a broken path).
    pub(super) fn ecn_request_ok(&self, syn: &TcpRepr) -> bool {
        syn.ece && syn.cwr && self.config.tcp_ecn != 0 && !self.rx_ecn.is_ect()
    }
}
