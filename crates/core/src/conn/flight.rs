//! The first-transmission record of the segments in flight, `(end sequence, time sent)`
//! in sequence order (Linux keeps the time in each skb of the retransmit queue,
//! `skb_mstamp_ns`): one pointer in the connection record while nothing is in flight,
//! and one block while a few segments are.
//!
//! A flight of up to [`INLINE`] segments (a request, a reply, a FIN: most connections'
//! whole life) lives in the block itself; a larger one moves to a deque in the same
//! block, which then grows with the flight. The acknowledgement that empties the record
//! gives the block back (issue 9: an idle connection keeps no flight state; a short
//! exchange costs one allocation per flight, not two).

use std::collections::VecDeque;

use synack_wire::SeqNum;

use crate::time::Instant;

/// One segment of the flight: where it ends, when it was first sent.
pub(crate) type Sent = (SeqNum, Instant);

/// Segments held in the block before the record moves to a deque.
pub(crate) const INLINE: usize = 8;

/// The record: see the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flight(Option<Box<Block>>);

/// The out-of-line part.
#[derive(Debug, Clone)]
enum Block {
    /// `items[head..head + len]`, in order.
    Small {
        head: u8,
        len: u8,
        items: [Sent; INLINE],
    },
    /// Past [`INLINE`] segments at once.
    Large(VecDeque<Sent>),
}

/// The entries as two slices, in order (the second one non-empty only for a deque that
/// wraps).
fn slices(b: &Block) -> (&[Sent], &[Sent]) {
    match b {
        Block::Small { head, len, items } => (&items[*head as usize..(*head + *len) as usize], &[]),
        Block::Large(q) => q.as_slices(),
    }
}

impl Flight {
    /// An empty record: nothing allocated.
    pub const fn new() -> Flight {
        Flight(None)
    }

    /// The oldest segment.
    #[inline]
    pub fn front(&self) -> Option<&Sent> {
        self.0.as_deref().and_then(|b| slices(b).0.first())
    }

    /// Records a segment sent after every segment recorded.
    pub fn push_back(&mut self, s: Sent) {
        let block = self.0.get_or_insert_with(|| {
            Box::new(Block::Small {
                head: 0,
                len: 0,
                items: [s; INLINE],
            })
        });
        match &mut **block {
            Block::Small { head, len, items } => {
                let n = *len as usize;
                if n == INLINE {
                    let mut q = VecDeque::with_capacity(2 * INLINE);
                    q.extend(items.iter().copied());
                    q.push_back(s);
                    **block = Block::Large(q);
                    return;
                }
                if *head as usize + n == INLINE {
                    // Room only before the entries: move them to the front.
                    items.copy_within(*head as usize..INLINE, 0);
                    *head = 0;
                }
                items[*head as usize + n] = s;
                *len += 1;
            }
            Block::Large(q) => q.push_back(s),
        }
    }

    /// Removes the segments that end at or before `ack` (a cumulative acknowledgement)
    /// and returns how many went and when the newest of them was sent. The block goes
    /// back once the record is empty.
    pub fn pop_acked(&mut self, ack: SeqNum) -> (u32, Option<Instant>) {
        let Some(block) = self.0.as_deref_mut() else {
            return (0, None);
        };
        let (n, newest, empty) = match block {
            Block::Small { head, len, items } => {
                let held = &items[*head as usize..(*head + *len) as usize];
                let n = held
                    .iter()
                    .take_while(|(end, _)| end.before_eq(ack))
                    .count();
                let newest = n.checked_sub(1).map(|i| held[i].1);
                *head += n as u8;
                *len -= n as u8;
                (n, newest, *len == 0)
            }
            Block::Large(q) => {
                let n = q.partition_point(|(end, _)| end.before_eq(ack));
                let newest = n.checked_sub(1).map(|i| q[i].1);
                q.drain(..n);
                (n, newest, q.is_empty())
            }
        };
        if empty {
            self.0 = None;
        }
        (n as u32, newest)
    }

    /// The segments, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Sent> + '_ {
        let (a, b) = self.0.as_deref().map_or((&[][..], &[][..]), slices);
        a.iter().chain(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(i: u32) -> Sent {
        (SeqNum(i * 100), Instant::from_micros(u64::from(i)))
    }

    /// The record answers every call as a deque does, through the move to the deque and
    /// the compaction of the inline entries.
    #[test]
    fn behaves_as_a_deque() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut f, mut q) = (Flight::new(), VecDeque::new());
        let mut i = 0;
        for _ in 0..20_000 {
            match next(7) {
                0..=2 => {
                    f.push_back(at(i));
                    q.push_back(at(i));
                    i += 1;
                }
                3..=5 => {
                    // Acknowledge up to some segment at or a little past the oldest.
                    let ack = SeqNum(q.front().map_or(0, |s: &Sent| s.0 .0) + next(350) as u32);
                    let mut expect = (0, None);
                    while q.front().is_some_and(|s| s.0.before_eq(ack)) {
                        expect = (expect.0 + 1, q.pop_front().map(|s| s.1));
                    }
                    assert_eq!(f.pop_acked(ack), expect);
                    assert_eq!(f.0.is_some(), !q.is_empty(), "the block goes with the last");
                }
                _ => {
                    f = Flight::new();
                    q.clear();
                }
            }
            assert_eq!(f.front(), q.front());
            assert!(f.iter().eq(q.iter()));
            assert!(f.iter().rev().eq(q.iter().rev()));
        }
    }

    #[test]
    fn a_short_flight_is_one_block_freed_with_its_last_ack() {
        let mut f = Flight::new();
        assert!(f.0.is_none() && f.front().is_none());
        assert_eq!(f.pop_acked(SeqNum(1 << 20)), (0, None));
        for i in 0..INLINE as u32 {
            f.push_back(at(i));
        }
        assert!(matches!(f.0.as_deref(), Some(Block::Small { .. })));
        // Draining and refilling compacts the inline entries rather than moving them.
        for i in 0..INLINE as u32 - 1 {
            assert_eq!(f.pop_acked(at(i).0), (1, Some(at(i).1)));
            f.push_back(at(i + INLINE as u32));
        }
        assert!(matches!(f.0.as_deref(), Some(Block::Small { .. })));
        f.push_back(at(99));
        assert!(matches!(f.0.as_deref(), Some(Block::Large(_))));
        assert_eq!(f.iter().count(), INLINE + 1);
        assert_eq!(f.iter().rev().nth(1), Some(&at(2 * INLINE as u32 - 2)));
        assert_eq!(f.pop_acked(at(99).0), (INLINE as u32 + 1, Some(at(99).1)));
        assert!(f.0.is_none() && f.iter().next().is_none());
    }
}
