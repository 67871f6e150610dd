//! Demultiplexing keys as small as the addresses need: an IPv4 four-tuple packs into 12
//! bytes, an IPv6 one into 36, instead of the 64 of two `SocketAddr`s. [`Demux`] keeps one
//! map per family so that an IPv4 entry never pays for an IPv6 key.
//!
//! Connections, the table that grows with their number, go further: [`ConnTable`] keeps
//! no key at all, only the slot index of the connection and a 32-bit hash, and compares
//! a lookup's tuple with the connection's own addresses (as Linux's established hash
//! chains the sockets themselves).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key4 {
    local: u32,
    remote: u32,
    /// Local port in the high half, remote port in the low half.
    ports: u32,
}

impl Hash for Key4 {
    /// Two words (the addresses, then the ports) instead of the derived three: one
    /// multiply less per lookup of every segment.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64((u64::from(self.local) << 32) | u64::from(self.remote));
        h.write_u32(self.ports);
    }
}

/// A four-tuple as a lookup compares it: packed once, with its IPv4 key when both ends
/// are IPv4 (what [`same_tuple`] compares a connection's addresses with).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    /// The tuple.
    pub tuple: &'a FourTuple,
    /// Its IPv4 key, `None` for any other family.
    pub v4: Option<Key4>,
}

impl<'a> Probe<'a> {
    /// The probe for `tuple`.
    #[inline]
    pub fn new(tuple: &'a FourTuple) -> Probe<'a> {
        Probe {
            tuple,
            v4: Key4::pack(tuple),
        }
    }
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

    /// Removes the entry of `t` without handing its value back (for a caller that
    /// holds a copy); whether there was one.
    pub fn discard(&mut self, t: &FourTuple) -> bool {
        match Key4::pack(t) {
            Some(k) => {
                let found = self.v4.remove(&k).is_some();
                shrink(&mut self.v4);
                found
            }
            None => self.remove(t).is_some(),
        }
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.v4.values().chain(self.v6.values())
    }
}

/// One connection in a [`ConnTable`]: its slot index and its tuple's hash (8 bytes).
#[derive(Debug, Clone, Copy)]
struct ConnEntry {
    index: u32,
    hash: u32,
}

/// Connections by four-tuple, as slot indices: the tuple lives in the connection, which
/// the caller's `holds(index, tuple)` compares (see [`same_tuple`]). An entry is 8
/// bytes, about 18 per connection with the table's free buckets at a million, where a
/// [`Demux`] entry of a `Key4` and a handle took 42 (issue 9's memory budget).
pub(crate) struct ConnTable {
    table: hashbrown::HashTable<ConnEntry>,
    hasher: FastState,
}

/// The table's 64-bit hash of an entry's 32 bits: a bijection that fills the high bits
/// too, which the table uses to tell entries of one bucket group apart.
#[inline]
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl ConnTable {
    /// An empty table hashing with `hasher`.
    pub fn new(hasher: FastState) -> ConnTable {
        ConnTable {
            table: hashbrown::HashTable::new(),
            hasher,
        }
    }

    /// How many connections are entered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The 32-bit hash of `p`'s tuple (the same for every tuple that maps to one key).
    #[inline]
    fn hash(&self, p: &Probe) -> u32 {
        let h = match p.v4 {
            Some(k) => self.hasher.hash_one(k),
            None => self.hash6(p.tuple),
        };
        (h >> 32) as u32
    }

    /// The 64-bit hash of a tuple that is not IPv4's, apart so that the IPv4 lookup
    /// stays small.
    #[inline(never)]
    fn hash6(&self, t: &FourTuple) -> u64 {
        Key6::pack(t).map_or(0, |k| self.hasher.hash_one(k))
    }

    /// The slot index entered for `t`; `holds(index, probe)` says whether the
    /// connection of slot `index` has the probe's tuple (see [`same_tuple`]).
    #[inline]
    pub fn get(&self, t: &FourTuple, holds: impl Fn(u32, &Probe) -> bool) -> Option<u32> {
        let p = Probe::new(t);
        let hash = self.hash(&p);
        self.table
            .find(spread(hash), |e| e.hash == hash && holds(e.index, &p))
            .map(|e| e.index)
    }

    /// Enters slot `index` for `t`, returning the index it replaces (the connection in
    /// slot `index` must have the tuple `t`).
    pub fn insert(
        &mut self,
        t: &FourTuple,
        index: u32,
        holds: impl Fn(u32, &Probe) -> bool,
    ) -> Option<u32> {
        let p = Probe::new(t);
        let hash = self.hash(&p);
        match self.table.entry(
            spread(hash),
            |e| e.hash == hash && holds(e.index, &p),
            |e| spread(e.hash),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().index, index))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(ConnEntry { index, hash });
                None
            }
        }
    }

    /// Removes slot `index`'s entry for `t` (found by its hash and index, without
    /// reading the connection); whether there was one. Memory goes back once most
    /// entries are gone.
    pub fn remove(&mut self, t: &FourTuple, index: u32) -> bool {
        let hash = self.hash(&Probe::new(t));
        let Ok(entry) = self
            .table
            .find_entry(spread(hash), |e| e.hash == hash && e.index == index)
        else {
            return false;
        };
        entry.remove();
        let cap = self.table.capacity();
        if cap > 64 && self.table.len() < cap / 4 {
            self.table
                .shrink_to(self.table.len() * 2, |e| spread(e.hash));
        }
        true
    }
}

/// Whether a connection's addresses `a` are the tuple of `p` as the tables see it: the
/// same key (addresses and ports; an IPv6 flow label or scope does not count).
#[inline]
pub(crate) fn same_tuple(a: &crate::conn::addrs::Addrs, p: &Probe) -> bool {
    use crate::conn::addrs::Addrs;
    match (a, p.v4) {
        (
            Addrs::V4 {
                local,
                remote,
                ports,
            },
            Some(k),
        ) => k.local == *local && k.remote == *remote && k.ports == *ports,
        (Addrs::V4 { .. }, None) => false,
        (Addrs::Other(b), _) => same_tuple_other(b, p),
    }
}

/// [`same_tuple`] for a connection whose addresses are not an IPv4 pair: apart, so that
/// the IPv4 lookup (every segment's) does not load the IPv6 bytes it never reads.
#[inline(never)]
fn same_tuple_other(b: &[SocketAddr; 2], p: &Probe) -> bool {
    let own = FourTuple {
        local: b[0],
        remote: b[1],
    };
    match Key4::pack(&own) {
        Some(k) => p.v4 == Some(k),
        None => Key6::pack(&own).is_some() && Key6::pack(&own) == Key6::pack(p.tuple),
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

    #[test]
    fn the_connection_table_finds_each_tuple_through_its_owner() {
        use crate::conn::addrs::Addrs;
        // The "slots": each index's connection addresses.
        let tuples: Vec<FourTuple> = (0..5000u32)
            .map(|i| {
                if i % 5 == 0 {
                    t(&format!("[2001:db8::1]:{}", 1000 + i), "[2001:db8::2]:80")
                } else {
                    t(
                        &format!("10.0.{}.{}:{}", i >> 8, i & 255, 1000 + i),
                        "10.9.9.9:80",
                    )
                }
            })
            .collect();
        let owners: Vec<Addrs> = tuples
            .iter()
            .map(|t| Addrs::new(t.local, t.remote))
            .collect();
        let holds = |i: u32, p: &Probe| same_tuple(&owners[i as usize], p);
        let mut m = ConnTable::new(FastState::new([9; 16]));
        for (i, tu) in tuples.iter().enumerate() {
            assert_eq!(m.insert(tu, i as u32, holds), None);
        }
        assert_eq!(m.len(), tuples.len());
        for (i, tu) in tuples.iter().enumerate() {
            assert_eq!(m.get(tu, holds), Some(i as u32), "{tu:?}");
        }
        // Same addresses in another family, or another port: not found.
        assert_eq!(
            m.get(&t("[::ffff:10.0.0.1]:1001", "[::ffff:10.9.9.9]:80"), holds),
            None
        );
        assert_eq!(m.get(&t("10.0.0.1:1001", "10.9.9.9:81"), holds), None);
        // An IPv6 flow label or scope is not part of the key.
        let mut scoped = tuples[0];
        if let SocketAddr::V6(a) = &mut scoped.local {
            a.set_scope_id(7);
        }
        assert_eq!(m.get(&scoped, holds), Some(0));
        // Removal needs the owner's index; most gone, the rest still found.
        assert!(!m.remove(&tuples[1], 2));
        for (i, tu) in tuples.iter().enumerate().skip(10) {
            assert!(m.remove(tu, i as u32));
        }
        assert_eq!(m.len(), 10);
        assert!(m.table.capacity() < 1000);
        for (i, tu) in tuples.iter().enumerate().take(10) {
            assert_eq!(m.get(tu, holds), Some(i as u32));
        }
        assert_eq!(m.get(&tuples[10], holds), None);
        assert_eq!(std::mem::size_of::<ConnEntry>(), 8);
    }
}
