//! Demultiplexing keys as small as the addresses need: an IPv4 four-tuple packs into 12
//! bytes, an IPv6 one into 36, instead of the 64 of two `SocketAddr`s. [`Demux`] keeps one
//! map per family so that an IPv4 entry never pays for an IPv6 key.
//!
//! A key holds addresses and ports only: an IPv6 socket address's flow label and scope
//! are not part of a TCP connection's identity (RFC 9293 section 3.4: the pair of
//! sockets, each an address and a port).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::hash::FastState;
use crate::stack::FourTuple;

/// A packed four-tuple of one address family.
pub(crate) trait TupleKey: Copy + Eq + Hash {
    /// The key of `t`, if `t` belongs to this family.
    fn pack(t: &FourTuple) -> Option<Self>;
    /// The tuple this key stands for.
    fn unpack(&self) -> FourTuple;
}

/// An IPv4 four-tuple in 12 bytes: both addresses, then both ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key4 {
    local: u32,
    remote: u32,
    /// Local port in the high half, remote port in the low half.
    ports: u32,
}

/// An IPv6 four-tuple in 36 bytes (IPv4 addresses appear as IPv4-mapped ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key6 {
    local: [u8; 16],
    remote: [u8; 16],
    ports: u32,
}

fn ports(t: &FourTuple) -> u32 {
    (u32::from(t.local.port()) << 16) | u32::from(t.remote.port())
}

impl TupleKey for Key4 {
    fn pack(t: &FourTuple) -> Option<Key4> {
        match (t.local.ip(), t.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => Some(Key4 {
                local: u32::from(l),
                remote: u32::from(r),
                ports: ports(t),
            }),
            _ => None,
        }
    }

    fn unpack(&self) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv4Addr::from(self.local).into(), (self.ports >> 16) as u16),
            remote: SocketAddr::new(Ipv4Addr::from(self.remote).into(), self.ports as u16),
        }
    }
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl TupleKey for Key6 {
    fn pack(t: &FourTuple) -> Option<Key6> {
        if t.local.is_ipv4() && t.remote.is_ipv4() {
            return None;
        }
        Some(Key6 {
            local: v6_octets(t.local.ip()),
            remote: v6_octets(t.remote.ip()),
            ports: ports(t),
        })
    }

    fn unpack(&self) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv6Addr::from(self.local).into(), (self.ports >> 16) as u16),
            remote: SocketAddr::new(Ipv6Addr::from(self.remote).into(), self.ports as u16),
        }
    }
}

/// A map from four-tuples to `V`, one table per address family, keyed by the stack's
/// keyed hash.
pub(crate) struct Demux<V> {
    v4: HashMap<Key4, V, FastState>,
    v6: HashMap<Key6, V, FastState>,
}

impl<V> Demux<V> {
    /// An empty map hashing with `hasher`.
    pub fn new(hasher: FastState) -> Demux<V> {
        Demux {
            v4: HashMap::with_hasher(hasher),
            v6: HashMap::with_hasher(hasher),
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// The value of `t`.
    pub fn get(&self, t: &FourTuple) -> Option<&V> {
        match Key4::pack(t) {
            Some(k) => self.v4.get(&k),
            None => self.v6.get(&Key6::pack(t)?),
        }
    }

    /// The value of `t`, to change it.
    pub fn get_mut(&mut self, t: &FourTuple) -> Option<&mut V> {
        match Key4::pack(t) {
            Some(k) => self.v4.get_mut(&k),
            None => self.v6.get_mut(&Key6::pack(t)?),
        }
    }

    /// Whether `t` has an entry.
    pub fn contains_key(&self, t: &FourTuple) -> bool {
        self.get(t).is_some()
    }

    /// Sets the value of `t`, returning the one it replaces.
    pub fn insert(&mut self, t: FourTuple, v: V) -> Option<V> {
        match Key4::pack(&t) {
            Some(k) => self.v4.insert(k, v),
            None => self.v6.insert(Key6::pack(&t)?, v),
        }
    }

    /// Removes the entry of `t`, giving memory back once most entries are gone.
    pub fn remove(&mut self, t: &FourTuple) -> Option<V> {
        match Key4::pack(t) {
            Some(k) => {
                let v = self.v4.remove(&k);
                shrink(&mut self.v4);
                v
            }
            None => {
                let v = self.v6.remove(&Key6::pack(t)?);
                shrink(&mut self.v6);
                v
            }
        }
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.v4.values().chain(self.v6.values())
    }
}

/// Amortized shrinking: a table at most a quarter full is halved.
fn shrink<K: Eq + Hash, V, S: BuildHasher>(m: &mut HashMap<K, V, S>) {
    let cap = m.capacity();
    if cap > 64 && m.len() < cap / 4 {
        m.shrink_to(m.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(l: &str, r: &str) -> FourTuple {
        FourTuple {
            local: l.parse().unwrap(),
            remote: r.parse().unwrap(),
        }
    }

    #[test]
    fn keys_round_trip_and_stay_small() {
        assert_eq!(std::mem::size_of::<Key4>(), 12);
        assert_eq!(std::mem::size_of::<Key6>(), 36);
        let a = t("10.0.0.1:80", "10.0.0.2:40000");
        assert_eq!(Key4::pack(&a).unwrap().unpack(), a);
        assert!(Key6::pack(&a).is_none());
        let b = t("[2001:db8::1]:80", "[2001:db8::2]:40000");
        assert_eq!(Key6::pack(&b).unwrap().unpack(), b);
        assert!(Key4::pack(&b).is_none());
    }

    #[test]
    fn families_and_ports_are_distinct_entries() {
        let mut m = Demux::new(FastState::new([7; 16]));
        let a = t("10.0.0.1:80", "10.0.0.2:40000");
        let a2 = t("10.0.0.1:80", "10.0.0.2:40001");
        let b = t("[::ffff:10.0.0.1]:80", "[2001:db8::2]:40000");
        assert_eq!(m.insert(a, 1), None);
        assert_eq!(m.insert(a2, 2), None);
        assert_eq!(m.insert(b, 3), None);
        assert_eq!(m.insert(a, 4), Some(1));
        assert_eq!(
            (m.get(&a), m.get(&a2), m.get(&b)),
            (Some(&4), Some(&2), Some(&3))
        );
        assert_eq!(m.len(), 3);
        assert_eq!(m.remove(&a2), Some(2));
        assert!(!m.contains_key(&a2));
        assert_eq!(m.values().count(), 2);
    }
}
