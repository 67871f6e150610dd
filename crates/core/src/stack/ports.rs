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

/// Connections and TIME-WAIT entries on one port, counted by local address and
/// SO_REUSEADDR: one group inline (the common case: every connection of a port on one
/// address), others out of line, so that a port held by connections only costs no
/// allocation of its own.
#[derive(Debug)]
struct ConnGroups {
    first: (IpAddr, bool, u32),
    more: Option<Box<Vec<(IpAddr, bool, u32)>>>,
}

impl ConnGroups {
    fn iter(&self) -> impl Iterator<Item = &(IpAddr, bool, u32)> + '_ {
        std::iter::once(&self.first).chain(self.more.iter().flat_map(|v| v.iter()))
    }

    /// Adds one to the group of `addr`, `reuse`.
    fn up(&mut self, addr: IpAddr, reuse: bool) {
        if self.first.0 == addr && self.first.1 == reuse {
            self.first.2 += 1;
            return;
        }
        let more = self.more.get_or_insert_with(Box::default);
        match more.iter_mut().find(|c| c.0 == addr && c.1 == reuse) {
            Some(c) => c.2 += 1,
            None => more.push((addr, reuse, 1)),
        }
    }

    /// Takes one from the group of `addr`, `reuse`; false once no group is left.
    fn down(&mut self, addr: IpAddr, reuse: bool) -> bool {
        if self.first.0 == addr && self.first.1 == reuse {
            self.first.2 -= 1;
        } else if let Some(more) = self.more.as_mut() {
            if let Some(i) = more.iter().position(|c| c.0 == addr && c.1 == reuse) {
                more[i].2 -= 1;
                if more[i].2 == 0 {
                    more.swap_remove(i);
                }
            }
        }
        if self.first.2 == 0 {
            match self.more.as_mut().and_then(|m| m.pop()) {
                Some(c) => self.first = c,
                None => return false,
            }
        }
        if self.more.as_ref().is_some_and(|m| m.is_empty()) {
            self.more = None;
        }
        true
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

/// Every port in use: bound and listening sockets one by one, connections counted.
pub(crate) struct Ports {
    sockets: HashMap<u16, Vec<BoundSocket>, FastState>,
    conns: HashMap<u16, ConnGroups, FastState>,
}

impl Ports {
    /// No port in use.
    pub fn new(hasher: FastState) -> Ports {
        Ports {
            sockets: HashMap::with_hasher(hasher),
            conns: HashMap::with_hasher(hasher),
        }
    }

    /// Whether anything holds `port`.
    pub fn in_use(&self, port: u16) -> bool {
        self.sockets.contains_key(&port) || self.conns.contains_key(&port)
    }

    /// Whether a bound or listening socket holds `port` (connect() then picks another
    /// ephemeral port, as Linux's __inet_hash_connect skips bind()-owned buckets).
    pub fn has_sockets(&self, port: u16) -> bool {
        self.sockets.contains_key(&port)
    }

    /// Whether `claim` on `port` conflicts with a holder other than `me` (the same test
    /// serves bind() and listen(), as in Linux).
    pub fn conflicts(&self, port: u16, claim: &Claim, me: Option<SocketHandle>) -> bool {
        let sockets = self.sockets.get(&port).map_or(&[][..], |v| &v[..]);
        sockets
            .iter()
            .filter(|s| Some(s.handle) != me)
            .any(|s| conflict(claim, &s.claim, s.listening))
            || self.conns.get(&port).is_some_and(|g| {
                g.iter().any(|&(addr, reuse, _)| {
                    let old = Claim {
                        addr,
                        reuse,
                        v6only: true,
                    };
                    conflict(claim, &old, false)
                })
            })
    }

    /// `handle` now holds `port` with `claim`.
    pub fn add_socket(&mut self, port: u16, handle: SocketHandle, claim: Claim) {
        self.sockets.entry(port).or_default().push(BoundSocket {
            handle,
            claim,
            listening: false,
        });
    }

    /// `handle` on `port` listens.
    pub fn set_listening(&mut self, port: u16, handle: SocketHandle) {
        if let Some(s) = self
            .sockets
            .get_mut(&port)
            .and_then(|v| v.iter_mut().find(|s| s.handle == handle))
        {
            s.listening = true;
        }
    }

    /// `handle` on `port` changed SO_REUSEADDR (Linux reads the flag live).
    pub fn set_reuse(&mut self, port: u16, handle: SocketHandle, reuse: bool) {
        if let Some(s) = self
            .sockets
            .get_mut(&port)
            .and_then(|v| v.iter_mut().find(|s| s.handle == handle))
        {
            s.claim.reuse = reuse;
        }
    }

    /// `handle` no longer holds `port`.
    pub fn remove_socket(&mut self, port: u16, handle: SocketHandle) {
        if let Some(v) = self.sockets.get_mut(&port) {
            v.retain(|s| s.handle != handle);
            if v.is_empty() {
                self.sockets.remove(&port);
            }
        }
    }

    /// A connection or TIME-WAIT entry on local `addr`:`port` appears (`up`) or goes.
    pub fn count_conn(&mut self, port: u16, addr: IpAddr, reuse: bool, up: bool) {
        if up {
            match self.conns.get_mut(&port) {
                Some(g) => g.up(addr, reuse),
                None => {
                    let first = (addr, reuse, 1);
                    self.conns.insert(port, ConnGroups { first, more: None });
                }
            }
        } else if let Some(g) = self.conns.get_mut(&port) {
            if !g.down(addr, reuse) {
                self.conns.remove(&port);
                let cap = self.conns.capacity();
                if cap > 64 && self.conns.len() < cap / 4 {
                    self.conns.shrink_to(self.conns.len() * 2);
                }
            }
        }
    }
}
