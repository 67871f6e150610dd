//! Local ports and who holds them (Linux's bind buckets), and when a bind() or listen()
//! conflicts with them (Linux's inet_csk_bind_conflict with inet_rcv_saddr_equal).
//!
//! Bound and listening sockets are kept one by one; connections and TIME-WAIT entries,
//! which can be many on a server's port, are counted by local address and SO_REUSEADDR,
//! which is all a conflict depends on.

use std::collections::HashMap;
use std::net::IpAddr;

use super::SocketHandle;
use crate::hash::FastState;

/// What a socket asks of a port: the address, SO_REUSEADDR and IPV6_V6ONLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    pub addr: IpAddr,
    pub reuse: bool,
    pub v6only: bool,
}

/// A bound or listening socket on a port.
#[derive(Debug, Clone, Copy)]
struct BoundSocket {
    handle: SocketHandle,
    claim: Claim,
    listening: bool,
}

/// The holders of one port.
#[derive(Debug, Default)]
struct PortOwners {
    sockets: Vec<BoundSocket>,
    /// Connections and TIME-WAIT entries: `(local address, SO_REUSEADDR, count)`.
    conns: Vec<(IpAddr, bool, u32)>,
}

impl PortOwners {
    fn is_empty(&self) -> bool {
        self.sockets.is_empty() && self.conns.is_empty()
    }
}

/// Whether two addresses bound to one port overlap (Linux's inet_rcv_saddr_equal with
/// wildcards): equal addresses do, and an unspecified address takes every address of its
/// family; IPv6's also IPv4's unless IPV6_V6ONLY. Different specific addresses never do.
fn overlap(a: &Claim, b: &Claim) -> bool {
    match (a.addr, b.addr) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (IpAddr::V6(x), IpAddr::V6(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (IpAddr::V6(x), IpAddr::V4(_)) => x.is_unspecified() && !a.v6only,
        (IpAddr::V4(_), IpAddr::V6(y)) => y.is_unspecified() && !b.v6only,
    }
}

/// Whether `new` may not share the port with `old` (Linux's inet_bind_conflict): their
/// addresses overlap, unless both set SO_REUSEADDR and `old` is not listening.
fn conflict(new: &Claim, old: &Claim, old_listening: bool) -> bool {
    overlap(new, old) && !(new.reuse && old.reuse && !old_listening)
}

/// Every port in use.
pub(crate) struct Ports {
    map: HashMap<u16, PortOwners, FastState>,
}

impl Ports {
    /// No port in use.
    pub fn new(hasher: FastState) -> Ports {
        Ports {
            map: HashMap::with_hasher(hasher),
        }
    }

    /// Whether anything holds `port`.
    pub fn in_use(&self, port: u16) -> bool {
        self.map.contains_key(&port)
    }

    /// Whether a bound or listening socket holds `port` (connect() then picks another
    /// ephemeral port, as Linux's __inet_hash_connect skips bind()-owned buckets).
    pub fn has_sockets(&self, port: u16) -> bool {
        self.map.get(&port).is_some_and(|o| !o.sockets.is_empty())
    }

    /// Whether `claim` on `port` conflicts with a holder other than `me` (the same test
    /// serves bind() and listen(), as in Linux).
    pub fn conflicts(&self, port: u16, claim: &Claim, me: Option<SocketHandle>) -> bool {
        let Some(o) = self.map.get(&port) else {
            return false;
        };
        o.sockets
            .iter()
            .filter(|s| Some(s.handle) != me)
            .any(|s| conflict(claim, &s.claim, s.listening))
            || o.conns.iter().any(|&(addr, reuse, _)| {
                let old = Claim {
                    addr,
                    reuse,
                    v6only: true,
                };
                conflict(claim, &old, false)
            })
    }

    /// `handle` now holds `port` with `claim`.
    pub fn add_socket(&mut self, port: u16, handle: SocketHandle, claim: Claim) {
        self.map.entry(port).or_default().sockets.push(BoundSocket {
            handle,
            claim,
            listening: false,
        });
    }

    /// `handle` on `port` listens.
    pub fn set_listening(&mut self, port: u16, handle: SocketHandle) {
        if let Some(s) = self
            .map
            .get_mut(&port)
            .and_then(|o| o.sockets.iter_mut().find(|s| s.handle == handle))
        {
            s.listening = true;
        }
    }

    /// `handle` on `port` changed SO_REUSEADDR (Linux reads the flag live).
    pub fn set_reuse(&mut self, port: u16, handle: SocketHandle, reuse: bool) {
        if let Some(s) = self
            .map
            .get_mut(&port)
            .and_then(|o| o.sockets.iter_mut().find(|s| s.handle == handle))
        {
            s.claim.reuse = reuse;
        }
    }

    /// `handle` no longer holds `port`.
    pub fn remove_socket(&mut self, port: u16, handle: SocketHandle) {
        if let Some(o) = self.map.get_mut(&port) {
            o.sockets.retain(|s| s.handle != handle);
            if o.is_empty() {
                self.map.remove(&port);
            }
        }
    }

    /// A connection or TIME-WAIT entry on local `addr`:`port` appears (`up`) or goes.
    pub fn count_conn(&mut self, port: u16, addr: IpAddr, reuse: bool, up: bool) {
        let o = self.map.entry(port).or_default();
        match o.conns.iter().position(|c| c.0 == addr && c.1 == reuse) {
            Some(i) if up => o.conns[i].2 += 1,
            Some(i) => {
                o.conns[i].2 -= 1;
                if o.conns[i].2 == 0 {
                    o.conns.swap_remove(i);
                }
            }
            None if up => o.conns.push((addr, reuse, 1)),
            None => {}
        }
        if o.is_empty() {
            self.map.remove(&port);
        }
    }
}
