//! A hierarchical timer wheel on the engine's virtual clock (microseconds): arming,
//! cancelling and expiring take constant time (amortized: an entry moves down at most
//! once per level), nothing stale stays behind, and deadlines keep their exact instant.
//!
//! Eleven levels of 64 slots cover every 64-bit instant. An entry sits at the level of the
//! highest bit in which its deadline differs from the wheel's clock (`elapsed`), in the
//! slot of its deadline's six bits at that level, so every entry of a level ends before
//! every entry of the next. When the clock reaches a slot of a higher level, the slot's
//! entries move down ("cascade"). The earliest deadline is the earliest entry of the first
//! occupied slot of the lowest occupied level (remembered until the wheel changes).
//!
//! Entries due at the same instant expire in the order of their items (`T: Ord`), as a
//! heap of `(instant, item)` pairs would return them.

use std::cell::Cell;

use crate::time::Instant;

const LEVELS: usize = 11;
const SLOTS: usize = 64;
const NIL: u32 = u32::MAX;

/// Names an armed entry, for cancelling or moving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId(u32);

#[derive(Debug, Clone, Copy)]
struct Node<T> {
    at: u64,
    item: T,
    prev: u32,
    next: u32,
    /// `level * SLOTS + slot`, or NIL while free.
    slot: u32,
}

/// The wheel.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    nodes: Vec<Node<T>>,
    /// Free nodes, linked through `next`.
    free: u32,
    heads: Vec<u32>,
    occupied: [u64; LEVELS],
    elapsed: u64,
    len: usize,
    earliest: Cell<Option<u64>>,
}

fn level_of(elapsed: u64, at: u64) -> usize {
    let masked = (elapsed ^ at) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    significant / 6
}

impl<T: Copy + Ord> Wheel<T> {
    /// An empty wheel at the epoch.
    pub fn new() -> Wheel<T> {
        Wheel {
            nodes: Vec::new(),
            free: NIL,
            heads: vec![NIL; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
            earliest: Cell::new(None),
        }
    }

    /// How many entries are armed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Arms `item` at `at`.
    pub fn insert(&mut self, at: Instant, item: T) -> TimerId {
        let node = Node {
            at: at.total_micros(),
            item,
            prev: NIL,
            next: NIL,
            slot: NIL,
        };
        let i = if self.free == NIL {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        } else {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        };
        self.len += 1;
        self.link(i);
        if let Some(e) = self.earliest.get() {
            self.earliest.set(Some(e.min(node.at)));
        }
        TimerId(i)
    }

    /// The deadline and item of `id`.
    pub fn get(&self, id: TimerId) -> (Instant, T) {
        let n = &self.nodes[id.0 as usize];
        (Instant::from_micros(n.at), n.item)
    }

    /// Replaces the item of `id`, keeping its deadline.
    pub fn set_item(&mut self, id: TimerId, item: T) {
        self.nodes[id.0 as usize].item = item;
    }

    /// Moves `id` to `at`.
    #[cfg(test)]
    pub fn reschedule(&mut self, id: TimerId, at: Instant) {
        let item = self.remove(id);
        let new = self.insert(at, item);
        debug_assert_eq!(new, id, "a freed node is reused first");
    }

    /// Cancels `id`, returning its item.
    pub fn remove(&mut self, id: TimerId) -> T {
        let i = id.0;
        self.unlink(i);
        let n = &mut self.nodes[i as usize];
        if self.earliest.get() == Some(n.at) {
            self.earliest.set(None);
        }
        n.slot = NIL;
        n.next = self.free;
        self.free = i;
        self.len -= 1;
        n.item
    }

    fn link(&mut self, i: u32) {
        let at = self.nodes[i as usize].at.max(self.elapsed);
        let level = level_of(self.elapsed, at);
        let slot = ((at >> (6 * level)) as usize) & (SLOTS - 1);
        let s = level * SLOTS + slot;
        let head = self.heads[s];
        if head != NIL {
            self.nodes[head as usize].prev = i;
        }
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = head;
        n.slot = s as u32;
        self.heads[s] = i;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, i: u32) {
        let Node {
            prev, next, slot, ..
        } = self.nodes[i as usize];
        if prev == NIL {
            self.heads[slot as usize] = next;
            if next == NIL {
                self.occupied[slot as usize / SLOTS] &= !(1 << (slot as usize % SLOTS));
            }
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// The first occupied slot (as `level * SLOTS + slot`).
    fn first_slot(&self) -> Option<usize> {
        (0..LEVELS).find_map(|level| {
            let bits = self.occupied[level];
            (bits != 0).then(|| level * SLOTS + bits.trailing_zeros() as usize)
        })
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some(e) = self.earliest.get() {
            return Some(Instant::from_micros(e));
        }
        let s = self.first_slot()?;
        let mut i = self.heads[s];
        let mut min = u64::MAX;
        while i != NIL {
            let n = &self.nodes[i as usize];
            min = min.min(n.at);
            i = n.next;
        }
        self.earliest.set(Some(min));
        Some(Instant::from_micros(min))
    }

    /// Moves the clock to `t` (no entry may be due before it): the slots that hold `t`
    /// at the higher levels move their entries down.
    fn advance(&mut self, t: u64) {
        if t <= self.elapsed {
            return;
        }
        self.elapsed = t;
        for level in (1..LEVELS).rev() {
            let slot = ((t >> (6 * level)) as usize) & (SLOTS - 1);
            if self.occupied[level] & (1 << slot) == 0 {
                continue;
            }
            let s = level * SLOTS + slot;
            let mut i = std::mem::replace(&mut self.heads[s], NIL);
            self.occupied[level] &= !(1 << slot);
            while i != NIL {
                let next = self.nodes[i as usize].next;
                self.link(i);
                i = next;
            }
        }
    }

    /// Removes and returns the earliest entry due by `now` (among entries due at the
    /// same instant, the least item), and its deadline.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let at = self.next_deadline()?;
        if at > now {
            return None;
        }
        let at_us = at.total_micros();
        self.advance(at_us);
        // The entries due at `at` are now in the lowest level's first slot.
        let s = self.first_slot()?;
        let mut i = self.heads[s];
        let mut best: Option<(T, u32)> = None;
        while i != NIL {
            let n = &self.nodes[i as usize];
            if n.at == at_us && best.is_none_or(|(b, _)| n.item < b) {
                best = Some((n.item, i));
            }
            i = n.next;
        }
        let (_, i) = best?;
        Some((at, self.remove(TimerId(i))))
    }

    /// Moves the clock to `now` once nothing is due before it.
    pub fn advance_to(&mut self, now: Instant) {
        if self.next_deadline().is_none_or(|d| d > now) {
            self.advance(now.total_micros());
            self.earliest.set(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BinaryHeap;

    /// Against a heap of (instant, item): the same entries expire in the same order,
    /// through arming, moving and cancelling at random, with deadlines near and far.
    #[test]
    fn expires_as_a_heap_would() {
        let mut w: Wheel<u32> = Wheel::new();
        let mut heap = BinaryHeap::new();
        let mut live: Vec<(TimerId, u64, u32)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        let mut item = 0u32;
        for round in 0..4000 {
            for _ in 0..3 {
                let span = [10, 1000, 300_000, 7_200_000_000][(rnd() % 4) as usize];
                // Some deadlines shared by several entries.
                let at = now + if rnd() % 4 == 0 { 500 } else { rnd() % span };
                item += 1;
                let id = w.insert(Instant::from_micros(at), item);
                live.push((id, at, item));
            }
            if round % 3 == 0 && !live.is_empty() {
                let k = (rnd() % live.len() as u64) as usize;
                let (id, _, it) = live.swap_remove(k);
                assert_eq!(w.remove(id), it);
            }
            if round % 5 == 0 && !live.is_empty() {
                let k = (rnd() % live.len() as u64) as usize;
                let at = now + rnd() % 2_000_000;
                w.reschedule(live[k].0, Instant::from_micros(at));
                live[k].1 = at;
            }
            now += rnd() % 400_000;
            heap.clear();
            for &(_, at, it) in &live {
                heap.push(std::cmp::Reverse((at, it)));
            }
            let want_next = heap.peek().map(|r| r.0 .0);
            assert_eq!(w.next_deadline().map(|i| i.total_micros()), want_next);
            while let Some(&std::cmp::Reverse((at, it))) = heap.peek() {
                if at > now {
                    break;
                }
                heap.pop();
                assert_eq!(
                    w.pop_due(Instant::from_micros(now)),
                    Some((Instant::from_micros(at), it))
                );
                live.retain(|l| l.2 != it);
            }
            assert_eq!(w.pop_due(Instant::from_micros(now)), None);
            w.advance_to(Instant::from_micros(now));
            assert_eq!(w.len(), live.len());
        }
    }

    #[test]
    fn freed_nodes_are_reused() {
        let mut w: Wheel<u8> = Wheel::new();
        for _ in 0..1000 {
            let id = w.insert(Instant::from_micros(5), 1);
            w.remove(id);
        }
        assert_eq!(w.nodes.len(), 1);
        assert_eq!(w.next_deadline(), None);
    }
}
