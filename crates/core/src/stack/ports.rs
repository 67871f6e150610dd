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

/// Connections and TIME-WAIT entries of one local address on a port, with their
/// SO_REUSEADDR: `(address, reuse, count)`.
type ConnGroup = (IpAddr, bool, u32);

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
    /// The first group of connections of each port held by connections: inline, so
    /// that a port held by connections costs 24 bytes and no allocation.
    conns: HashMap<u16, ConnGroup, FastState>,
    /// Further groups of the ports that have more than one (rare: connections of one
    /// port on several local addresses, or with and without SO_REUSEADDR).
    more: HashMap<u16, Vec<ConnGroup>, FastState>,
}

impl Ports {
    /// No port in use.
    pub fn new(hasher: FastState) -> Ports {
        Ports {
            sockets: HashMap::with_hasher(hasher),
            conns: HashMap::with_hasher(hasher),
            more: HashMap::with_hasher(hasher),
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
            || self.conn_groups(port).any(|&(addr, reuse, _)| {
                let old = Claim {
                    addr,
                    reuse,
                    v6only: true,
                };
                conflict(claim, &old, false)
            })
    }

    fn conn_groups(&self, port: u16) -> impl Iterator<Item = &ConnGroup> + '_ {
        let more = self.more.get(&port).map_or(&[][..], |v| &v[..]);
        self.conns.get(&port).into_iter().chain(more)
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
        let Some(first) = self.conns.get_mut(&port) else {
            if up {
                self.conns.insert(port, (addr, reuse, 1));
            }
            return;
        };
        let same = |c: &ConnGroup| c.0 == addr && c.1 == reuse;
        if same(first) {
            if up {
                first.2 += 1;
                return;
            }
            first.2 -= 1;
        } else if up {
            let more = self.more.entry(port).or_default();
            match more.iter_mut().find(|c| same(c)) {
                Some(c) => c.2 += 1,
                None => more.push((addr, reuse, 1)),
            }
            return;
        } else if let Some(more) = self.more.get_mut(&port) {
            if let Some(i) = more.iter().position(same) {
                more[i].2 -= 1;
                if more[i].2 == 0 {
                    more.swap_remove(i);
                }
            }
        }
        if first.2 == 0 {
            match self.more.get_mut(&port).and_then(|m| m.pop()) {
                Some(c) => *first = c,
                None => {
                    self.conns.remove(&port);
                    let cap = self.conns.capacity();
                    if cap > 64 && self.conns.len() < cap / 4 {
                        self.conns.shrink_to(self.conns.len() * 2);
                    }
                }
            }
        }
        if self.more.get(&port).is_some_and(|m| m.is_empty()) {
            self.more.remove(&port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_groups_count_up_and_down_per_address_and_reuse() {
        let mut p = Ports::new(FastState::new([9; 16]));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let claim = |addr| Claim {
            addr,
            reuse: true,
            v6only: false,
        };
        p.count_conn(80, a, true, true);
        p.count_conn(80, b, false, true);
        p.count_conn(80, b, false, true);
        // b's connections lack SO_REUSEADDR: a reusing bind on b conflicts, on a not.
        assert!(p.conflicts(80, &claim(b), None));
        assert!(!p.conflicts(80, &claim(a), None));
        p.count_conn(80, a, true, false);
        assert!(p.in_use(80) && p.conflicts(80, &claim(b), None));
        p.count_conn(80, b, false, false);
        assert!(p.conflicts(80, &claim(b), None));
        p.count_conn(80, b, false, false);
        assert!(!p.in_use(80) && !p.conflicts(80, &claim(b), None));
        assert!(p.more.is_empty() && p.conns.is_empty());
    }
}

/// Which local ports the stack may pick for its connections when it is one of several
/// engines sharing a device, each fed by one queue of it (a multi-queue TUN interface
/// with synack-device's steering program): the device hands a segment between ports
/// *a* and *b* to queue [`queue_of`](PortSteering::queue_of)`(a, b)`, the same for
/// both directions, so this engine picks only ephemeral ports whose connection it is
/// the queue of, and its connections' replies come back to it. Set with
/// [`Stack::set_port_steering`](crate::Stack::set_port_steering).
///
/// A port the user binds explicitly is taken as it is: the caller then connects from
/// the engine that the formula names for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSteering {
    queues: u16,
    queue: u16,
}

impl PortSteering {
    /// Engine `queue` of `queues` (`None` unless `queue < queues`).
    pub fn new(queues: u16, queue: u16) -> Option<PortSteering> {
        (queue < queues).then_some(PortSteering { queues, queue })
    }

    /// The queue a segment between ports `a` and `b` (either way) arrives on: the
    /// ports XORed, mixed by Knuth's multiplicative hash (times 0x9E3779B1 modulo
    /// 2^32, the upper 16 bits), modulo the queues. The mixing matters: Linux's
    /// connect() takes even ports only, so the XOR alone would send every connection
    /// from the kernel to one server port to queues of one parity.
    pub fn queue_of(&self, a: u16, b: u16) -> u16 {
        let mixed = (u32::from(a ^ b).wrapping_mul(0x9E37_79B1) >> 16) as u16;
        mixed % self.queues
    }

    /// Whether a connection from local port `local` to `remote` is this engine's.
    pub fn takes(&self, local: u16, remote: u16) -> bool {
        self.queue_of(local, remote) == self.queue
    }

    /// How many queues (engines) there are.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// This engine's queue.
    pub fn queue(&self) -> u16 {
        self.queue
    }
}
