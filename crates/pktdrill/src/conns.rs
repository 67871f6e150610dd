//! Several connections in one script, told apart by the peer's explicit port.
//!
//! packetdrill follows one connection at a time: a new inbound SYN to the listener
//! replaces the socket under test, and packets of other connections are ignored. Scripts
//! that need several connections at once (a backlog that overflows, say) name the peer's
//! port on their packet lines, `< 40001>8080 S 0:0(0) ...` and `> 8080>40001 S. ...`.
//! When a script does (any inbound line with explicit ports puts it in *multi* mode):
//! - an inbound line with explicit ports goes to the connection whose peer port is the
//!   source port written, or starts a new one (its own ISN and timestamp maps) if there
//!   is none; that connection becomes the one under test (syscall-less checks such as
//!   `%{ }%` use it);
//! - an outbound line with explicit ports first makes the connection whose peer port is
//!   the destination port written the one under test, then takes the next packet the
//!   stack sent on *any* tracked connection: one to another port is a mismatch, so an
//!   unexpected packet (a retransmission on another connection, say) makes the next `>`
//!   line fail, as packetdrill does for its single connection;
//! - connections no longer under test stay tracked, so their packets keep being checked.
//!
//! Without explicit ports the runner behaves exactly as packetdrill.

use std::net::SocketAddr;

use crate::ast::{Action, Direction, Event};
use crate::remap::SeqMap;
use crate::runner::{Runner, SutKind};

/// One connection the script follows: its 4-tuple and its sequence and timestamp maps.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    /// The stack's side.
    pub local: SocketAddr,
    /// The peer's side.
    pub remote: SocketAddr,
    /// Script ↔ live numbering.
    pub map: SeqMap,
    /// Whether the peer's ISN was taken from an inbound SYN yet.
    pub remote_isn_set: bool,
    /// The next inbound sequence number, script numbering.
    pub next_in_seq: Option<u32>,
}

/// Whether any inbound packet line names its ports (multi-connection mode).
pub(crate) fn uses_explicit_ports(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(&e.action, Action::Packet(p)
            if p.direction == Direction::Inbound && p.ports.is_some())
    })
}

impl Runner<'_> {
    /// The connection under test, taken out of the runner's fields.
    fn current_track(&mut self) -> Track {
        Track {
            local: self.sut_local,
            remote: self.sut_remote,
            map: std::mem::take(&mut self.map),
            remote_isn_set: self.remote_isn_set,
            next_in_seq: self.next_in_seq,
        }
    }

    /// Makes `t` the connection under test.
    fn load_track(&mut self, t: Track) {
        self.sut_local = t.local;
        self.sut_remote = t.remote;
        self.map = t.map;
        self.remote_isn_set = t.remote_isn_set;
        self.next_in_seq = t.next_in_seq;
        self.sut = SutKind::Conn;
    }

    /// In multi mode, keeps the connection under test tracked before another one
    /// replaces it.
    pub(crate) fn park_current(&mut self) {
        if self.multi && self.sut == SutKind::Conn {
            let t = self.current_track();
            self.others.retain(|o| o.remote != t.remote);
            self.others.push(t);
        }
    }

    /// Makes the tracked connection whose peer port is `port` the one under test; false
    /// if there is none.
    pub(crate) fn switch_to(&mut self, port: u16) -> bool {
        if self.sut == SutKind::Conn && self.sut_remote.port() == port {
            return true;
        }
        let Some(i) = self.others.iter().position(|o| o.remote.port() == port) else {
            return false;
        };
        let t = self.others.swap_remove(i);
        self.park_current();
        self.load_track(t);
        true
    }

    /// The peer address of the tracked connection a live outbound packet `src → dst`
    /// belongs to (other than the one under test), with its maps.
    pub(crate) fn other_owner(&mut self, src: SocketAddr, dst: SocketAddr) -> Option<&mut SeqMap> {
        self.others
            .iter_mut()
            .find(|o| o.local == src && o.remote == dst)
            .map(|o| &mut o.map)
    }
}
