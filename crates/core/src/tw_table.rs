//! The TIME-WAIT table: every entry in about 60 bytes in all (an IPv4 one: a 56-byte
//! record and a share of the hash index), a million of them in one process.
//!
//! Each family keeps its entries packed in one dense array of fixed-size chunks (no
//! spare capacity beyond the last chunk; a removal moves the last entry into the hole,
//! and an emptied chunk is freed). The same record threads three things with 32-bit
//! indices, so that nothing else is allocated per entry:
//! - a chained hash index (one 32-bit head per two entries, the chain in the record);
//! - the expiry order: a doubly linked list sorted by deadline. TIME-WAIT lasts the same
//!   time for every entry, so a new or restarted entry goes at the tail and arming,
//!   restarting, cancelling and expiring take constant time (a shorter, recycled
//!   TIME-WAIT walks back past the entries that end later).
//!
//! Instants other than the deadline are kept as 32-bit offsets from it, saturated: they
//! serve comparisons against one second (`tcp_tw_reuse`) and `tcp_invalid_ratelimit`,
//! which an offset of half an hour answers the same way as the exact instant. The
//! timestamp offset is not kept at all: it is a keyed function of the two addresses
//! ([`crate::isn::ts_offset`]), computed again when an entry is read.

use std::hash::BuildHasher;

use synack_wire::SeqNum;

use crate::demux::{Key4, Key6, TupleKey};
use crate::hash::FastState;
use crate::stack::FourTuple;
use crate::time::Instant;
use crate::time_wait::TimeWait;

const NIL: u32 = u32::MAX;
/// Entries per chunk of the dense array.
const CHUNK: usize = 1024;
/// `last_oow_ack` offset meaning "never".
const NEVER: i32 = i32::MIN;

/// One packed entry.
#[derive(Clone, Copy)]
struct Packed<K> {
    key: K,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
    /// The deadline in microseconds, as two halves (keeps the record 4-aligned).
    expires: [u32; 2],
    /// `ts_stamp - expires` in microseconds, saturated.
    ts_stamp: i32,
    /// `last_oow_ack - expires` in microseconds, saturated; [`NEVER`] for none.
    last_oow: i32,
    window: u16,
    /// Bit 0: SO_REUSEADDR; bit 1: timestamps in use.
    flags: u8,
    /// Previous and next entry in deadline order.
    prev: u32,
    next: u32,
    /// Next entry in the same hash chain.
    chain: u32,
}

fn offset(at: Instant, base: Instant) -> i32 {
    let d = i128::from(at.total_micros()) - i128::from(base.total_micros());
    d.clamp(i128::from(i32::MIN + 1), i128::from(i32::MAX)) as i32
}

fn at_offset(base: Instant, off: i32) -> Instant {
    Instant::from_micros(base.total_micros().saturating_add_signed(i64::from(off)))
}

impl<K: TupleKey> Packed<K> {
    fn pack(key: K, tw: &TimeWait) -> Packed<K> {
        let e = tw.expires.total_micros();
        Packed {
            key,
            snd_nxt: tw.snd_nxt.0,
            rcv_nxt: tw.rcv_nxt.0,
            ts_recent: tw.ts_recent,
            expires: [(e >> 32) as u32, e as u32],
            ts_stamp: offset(tw.ts_stamp, tw.expires),
            last_oow: tw.last_oow_ack.map_or(NEVER, |t| offset(t, tw.expires)),
            window: tw.window,
            flags: u8::from(tw.reuse) | (u8::from(tw.ts_offset.is_some()) << 1),
            prev: NIL,
            next: NIL,
            chain: NIL,
        }
    }

    fn expires(&self) -> Instant {
        Instant::from_micros((u64::from(self.expires[0]) << 32) | u64::from(self.expires[1]))
    }

    /// The entry, with the timestamp offset of its addresses under `secret`.
    fn unpack(&self, secret: &[u8; 16]) -> TimeWait {
        let expires = self.expires();
        let ts_offset = || {
            let t = self.key.unpack();
            crate::isn::ts_offset(secret, t.local.ip(), t.remote.ip())
        };
        let mut tw = TimeWait::new(
            SeqNum(self.snd_nxt),
            SeqNum(self.rcv_nxt),
            self.window,
            (self.flags & 2 != 0).then(|| {
                (
                    self.ts_recent,
                    ts_offset(),
                    at_offset(expires, self.ts_stamp),
                )
            }),
            expires,
            self.flags & 1 != 0,
        );
        tw.ts_recent = self.ts_recent;
        tw.last_oow_ack = (self.last_oow != NEVER).then(|| at_offset(expires, self.last_oow));
        tw
    }
}

/// The entries of one address family.
struct Family<K> {
    chunks: Vec<Vec<Packed<K>>>,
    len: u32,
    /// Heads of the hash chains; a power of two, about half the number of entries.
    buckets: Vec<u32>,
    /// Earliest and latest deadline.
    head: u32,
    tail: u32,
    hasher: FastState,
    /// The key of the timestamp offsets (the stack's).
    secret: [u8; 16],
}

impl<K: TupleKey> Family<K> {
    fn new(hasher: FastState, secret: [u8; 16]) -> Family<K> {
        Family {
            chunks: Vec::new(),
            len: 0,
            buckets: vec![NIL; 16],
            head: NIL,
            tail: NIL,
            hasher,
            secret,
        }
    }

    /// Entry `i` as a [`TimeWait`].
    fn get(&self, i: u32) -> TimeWait {
        self.at(i).unpack(&self.secret)
    }

    /// The record of `tw` under `key`. Only the offset the addresses give is kept.
    fn pack(&self, key: K, tw: &TimeWait) -> Packed<K> {
        debug_assert!(
            tw.ts_offset.is_none_or(|off| {
                let t = key.unpack();
                off == crate::isn::ts_offset(&self.secret, t.local.ip(), t.remote.ip())
            }),
            "a TIME-WAIT entry's timestamp offset is the one its addresses give"
        );
        Packed::pack(key, tw)
    }

    fn at(&self, i: u32) -> &Packed<K> {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn at_mut(&mut self, i: u32) -> &mut Packed<K> {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn bucket(&self, key: &K) -> usize {
        self.hasher.hash_one(key) as usize & (self.buckets.len() - 1)
    }

    fn find(&self, key: &K) -> Option<u32> {
        let mut i = self.buckets[self.bucket(key)];
        while i != NIL {
            let e = self.at(i);
            if e.key == *key {
                return Some(i);
            }
            i = e.chain;
        }
        None
    }

    /// Rebuilds the chains over `n` buckets.
    fn rehash(&mut self, n: usize) {
        self.buckets = vec![NIL; n];
        for i in 0..self.len {
            let b = self.bucket(&self.at(i).key);
            let head = self.buckets[b];
            self.at_mut(i).chain = head;
            self.buckets[b] = i;
        }
    }

    /// Keeps about two entries per bucket, halving or doubling with hysteresis.
    fn resize(&mut self) {
        let (len, n) = (self.len as usize, self.buckets.len());
        if len > 2 * n {
            self.rehash(n * 2);
        } else if n > 16 && len < n / 4 {
            self.rehash(n / 2);
        }
    }

    /// Deadline order: `(expires, tuple)`.
    fn before(&self, a: u32, b: &Packed<K>) -> bool {
        let a = self.at(a);
        (a.expires(), a.key.unpack()) < (b.expires(), b.key.unpack())
    }

    /// Links `i` into the deadline list, walking back from the latest deadline.
    fn link(&mut self, i: u32) {
        let e = *self.at(i);
        let mut after = self.tail;
        while after != NIL && !self.before(after, &e) {
            after = self.at(after).prev;
        }
        let next = if after == NIL {
            std::mem::replace(&mut self.head, i)
        } else {
            std::mem::replace(&mut self.at_mut(after).next, i)
        };
        if next == NIL {
            self.tail = i;
        } else {
            self.at_mut(next).prev = i;
        }
        let r = self.at_mut(i);
        r.prev = after;
        r.next = next;
    }

    fn unlink(&mut self, i: u32) {
        let Packed { prev, next, .. } = *self.at(i);
        if prev == NIL {
            self.head = next;
        } else {
            self.at_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.at_mut(next).prev = prev;
        }
    }

    fn insert(&mut self, key: K, tw: &TimeWait) -> bool {
        if let Some(i) = self.find(&key) {
            self.update(i, tw);
            return false;
        }
        let i = self.len;
        if self.chunks.len() == i as usize / CHUNK {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let mut e = self.pack(key, tw);
        let b = self.bucket(&key);
        e.chain = self.buckets[b];
        self.buckets[b] = i;
        self.chunks[i as usize / CHUNK].push(e);
        self.len += 1;
        self.link(i);
        self.resize();
        true
    }

    fn update(&mut self, i: u32, tw: &TimeWait) {
        let moved = self.at(i).expires() != tw.expires;
        let links = {
            let e = self.at(i);
            (e.prev, e.next, e.chain)
        };
        let e = self.pack(self.at(i).key, tw);
        let r = self.at_mut(i);
        *r = e;
        (r.prev, r.next, r.chain) = links;
        if moved {
            self.unlink(i);
            self.link(i);
        }
    }

    /// The pointer to `i` in its hash chain.
    fn chain_slot(&mut self, i: u32) -> &mut u32 {
        let b = self.bucket(&self.at(i).key);
        if self.buckets[b] == i {
            return &mut self.buckets[b];
        }
        let mut j = self.buckets[b];
        while self.at(j).chain != i {
            j = self.at(j).chain;
        }
        &mut self.at_mut(j).chain
    }

    fn remove_at(&mut self, i: u32) -> TimeWait {
        self.unlink(i);
        let chain = self.at(i).chain;
        *self.chain_slot(i) = chain;
        let tw = self.get(i);
        // Move the last entry into the hole, and repoint what pointed at it.
        let last = self.len - 1;
        if i != last {
            let Packed { prev, next, .. } = *self.at(last);
            *self.chain_slot(last) = i;
            if prev == NIL {
                self.head = i;
            } else {
                self.at_mut(prev).next = i;
            }
            if next == NIL {
                self.tail = i;
            } else {
                self.at_mut(next).prev = i;
            }
            *self.at_mut(i) = *self.at(last);
        }
        let chunk = last as usize / CHUNK;
        self.chunks[chunk].pop();
        if self.chunks[chunk].is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        self.resize();
        tw
    }

    /// When the first entry expires (what [`Family::first`] says, without the tuple).
    #[inline]
    fn first_expiry(&self) -> Option<Instant> {
        (self.head != NIL).then(|| self.at(self.head).expires())
    }

    fn first(&self) -> Option<(Instant, FourTuple)> {
        (self.head != NIL).then(|| {
            let e = self.at(self.head);
            (e.expires(), e.key.unpack())
        })
    }
}

/// The TIME-WAIT records of a stack, with one expiry each.
pub(crate) struct TimeWaitTable {
    v4: Family<Key4>,
    v6: Family<Key6>,
}

impl TimeWaitTable {
    /// An empty table whose index is keyed by `hasher`, for a stack whose timestamp
    /// offsets are keyed by `secret` ([`crate::isn::ts_offset`]).
    pub fn new(hasher: FastState, secret: [u8; 16]) -> TimeWaitTable {
        TimeWaitTable {
            v4: Family::new(hasher, secret),
            v6: Family::new(hasher, secret),
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        (self.v4.len + self.v6.len) as usize
    }

    /// How many timers are filed (one per entry: its place in the deadline order).
    pub fn timers(&self) -> usize {
        self.len()
    }

    /// The entry of `tuple`.
    pub fn get(&self, tuple: &FourTuple) -> Option<TimeWait> {
        match Key4::pack(tuple) {
            Some(k) => self.v4.find(&k).map(|i| self.v4.get(i)),
            None => {
                let k = Key6::pack(tuple)?;
                self.v6.find(&k).map(|i| self.v6.get(i))
            }
        }
    }

    /// Stores `tw` as the entry of `tuple` if there is one (its deadline may have moved).
    pub fn update(&mut self, tuple: &FourTuple, tw: &TimeWait) {
        match Key4::pack(tuple) {
            Some(k) => {
                if let Some(i) = self.v4.find(&k) {
                    self.v4.update(i, tw);
                }
            }
            None => {
                if let Some(i) = Key6::pack(tuple).and_then(|k| self.v6.find(&k)) {
                    self.v6.update(i, tw);
                }
            }
        }
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (FourTuple, TimeWait)> + '_ {
        let v4 = (0..self.v4.len).map(|i| (self.v4.at(i).key.unpack(), self.v4.get(i)));
        let v6 = (0..self.v6.len).map(|i| (self.v6.at(i).key.unpack(), self.v6.get(i)));
        v4.chain(v6)
    }

    /// Adds (or replaces) the entry of `tuple`; true if it is new.
    pub fn insert(&mut self, tuple: FourTuple, tw: TimeWait) -> bool {
        match Key4::pack(&tuple) {
            Some(k) => self.v4.insert(k, &tw),
            None => match Key6::pack(&tuple) {
                Some(k) => self.v6.insert(k, &tw),
                None => false,
            },
        }
    }

    /// Removes the entry of `tuple` and its timer.
    pub fn remove(&mut self, tuple: &FourTuple) -> Option<TimeWait> {
        match Key4::pack(tuple) {
            Some(k) => {
                let i = self.v4.find(&k)?;
                Some(self.v4.remove_at(i))
            }
            None => {
                let i = self.v6.find(&Key6::pack(tuple)?)?;
                Some(self.v6.remove_at(i))
            }
        }
    }

    /// The earliest deadline.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.v4.first_expiry(), self.v6.first_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns an entry whose TIME-WAIT has ended by `now`, the earliest
    /// first (ties in tuple order).
    pub fn pop_expired(&mut self, now: Instant) -> Option<(FourTuple, TimeWait)> {
        let first = match (self.v4.first(), self.v6.first()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        if first.0 > now {
            return None;
        }
        let tw = self.remove(&first.1)?;
        Some((first.1, tw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(i: u32) -> FourTuple {
        FourTuple {
            local: SocketAddrFrom::v4(0x0a00_0001, 80),
            remote: SocketAddrFrom::v4(0x0a00_0000 + (i >> 16), i as u16),
        }
    }

    struct SocketAddrFrom;
    impl SocketAddrFrom {
        fn v4(ip: u32, port: u16) -> std::net::SocketAddr {
            std::net::SocketAddr::new(std::net::Ipv4Addr::from(ip).into(), port)
        }
    }

    /// The stack secret of the tests' tables.
    const SECRET: [u8; 16] = [9; 16];

    fn table(hash_key: u8) -> TimeWaitTable {
        TimeWaitTable::new(FastState::new([hash_key; 16]), SECRET)
    }

    /// An entry of `tuple`, with the timestamp offset its addresses give.
    fn tw(tuple: &FourTuple, expires: u64, oow: Option<u64>) -> TimeWait {
        let off = crate::isn::ts_offset(&SECRET, tuple.local.ip(), tuple.remote.ip());
        let mut t = TimeWait::new(
            SeqNum(1),
            SeqNum(2),
            3,
            Some((4, off, Instant::from_micros(expires.saturating_sub(7)))),
            Instant::from_micros(expires),
            true,
        );
        t.last_oow_ack = oow.map(Instant::from_micros);
        t
    }

    #[test]
    fn entry_is_small() {
        // 56: the timestamp offset is computed, not stored.
        assert!(std::mem::size_of::<Packed<Key4>>() <= 56);
    }

    #[test]
    fn fields_round_trip() {
        let mut t = table(1);
        let a = tw(&tuple(1), 60_000_000, Some(59_000_000));
        assert!(t.insert(tuple(1), a));
        let b = t.get(&tuple(1)).unwrap();
        assert_eq!(
            (
                b.snd_nxt,
                b.rcv_nxt,
                b.window,
                b.ts_recent,
                b.ts_offset,
                b.reuse
            ),
            (
                a.snd_nxt,
                a.rcv_nxt,
                a.window,
                a.ts_recent,
                a.ts_offset,
                a.reuse
            )
        );
        assert_eq!(
            (b.ts_stamp, b.expires, b.last_oow_ack),
            (a.ts_stamp, a.expires, a.last_oow_ack)
        );
        assert!(!t.insert(tuple(1), tw(&tuple(1), 1, None)));
        assert_eq!(t.get(&tuple(1)).unwrap().last_oow_ack, None);
    }

    #[test]
    fn expires_in_deadline_then_tuple_order_through_removals() {
        let mut t = table(2);
        let n = 5000u32;
        for i in 0..n {
            // Deadlines in a scrambled order, many equal.
            let at = u64::from((i * 7919) % 97) * 1000;
            t.insert(tuple(i), tw(&tuple(i), at, None));
        }
        // Cancel every third, restart every fifth at a later deadline.
        for i in (0..n).step_by(3) {
            assert!(t.remove(&tuple(i)).is_some());
        }
        for i in (1..n).step_by(5) {
            if let Some(mut e) = t.get(&tuple(i)) {
                e.expires = Instant::from_micros(200_000 + u64::from(i % 13));
                t.update(&tuple(i), &e);
            }
        }
        let mut want: Vec<(Instant, FourTuple)> = t.iter().map(|(k, e)| (e.expires, k)).collect();
        want.sort();
        assert_eq!(t.timers(), want.len());
        let mut got = Vec::new();
        while let Some((k, e)) = t.pop_expired(Instant::from_micros(1_000_000)) {
            got.push((e.expires, k));
        }
        assert_eq!(got, want);
        assert_eq!(t.len(), 0);
        assert!(t.v4.chunks.is_empty());
        assert_eq!(t.v4.buckets.len(), 16);
    }

    #[test]
    fn nothing_before_its_deadline() {
        let mut t = table(3);
        t.insert(tuple(1), tw(&tuple(1), 10, None));
        t.insert(tuple(2), tw(&tuple(2), 20, None));
        assert_eq!(t.next_deadline(), Some(Instant::from_micros(10)));
        assert!(t.pop_expired(Instant::from_micros(9)).is_none());
        assert_eq!(
            t.pop_expired(Instant::from_micros(15)).map(|x| x.0),
            Some(tuple(1))
        );
        assert!(t.pop_expired(Instant::from_micros(15)).is_none());
        assert_eq!(t.next_deadline(), Some(Instant::from_micros(20)));
    }
}
