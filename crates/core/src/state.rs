//! The eleven states of RFC 9293 section 3.3.2.

use core::fmt;

/// A TCP connection state (RFC 9293 section 3.3.2). `Listen` belongs to listeners,
/// `TimeWait` to the compact TIME_WAIT records, `Closed` to nothing at all; the others to
/// connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a connection request.
    Listen,
    /// A SYN was sent; waiting for the matching SYN.
    SynSent,
    /// A SYN was received and one sent; waiting for the ACK of ours.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed first and sent a FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN was acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed first; waiting for the local user to close.
    CloseWait,
    /// Both sides closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first and so did we; waiting for the ACK of our FIN.
    LastAck,
    /// We closed first; waiting 2MSL so the last ACK and old duplicates die out.
    TimeWait,
}

impl State {
    /// The name `ss` prints (`ESTAB`, `SYN-SENT`, `TIME-WAIT`, ...).
    pub fn ss_name(self) -> &'static str {
        match self {
            State::Closed => "UNCONN",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECV",
            State::Established => "ESTAB",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// True once the connection is synchronized (RFC 9293 section 3.5: both SYNs seen and
    /// acknowledged or being acknowledged): every state from ESTABLISHED on.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

impl fmt::Display for State {
    /// The RFC's name, as `netstat` prints it: `ESTABLISHED`, `TIME_WAIT`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECV",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT1",
            State::FinWait2 => "FIN_WAIT2",
            State::CloseWait => "CLOSE_WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
        })
    }
}
