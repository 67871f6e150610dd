//! The sender's SACK scoreboard (RFC 2018, RFC 6675 section 3): which bytes above
//! SND.UNA the receiver holds, as a short sorted list of disjoint ranges.

use super::cold::{Cold, ColdDefault};
use synack_wire::{SackBlock, SeqNum};

/// At most this many disjoint SACKed ranges are remembered; a block that would need
/// more is ignored (it only delays recovery; nothing is lost by forgetting a SACK).
const MAX_RANGES: usize = 32;

/// SACKed ranges `[start, end)` above SND.UNA, sorted and disjoint. No allocation until
/// the first SACK arrives, and the memory goes back when SND.UNA passes the last range
/// (an idle connection holds one pointer here, the byte count included: issue 9's
/// memory budget).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scoreboard {
    board: Cold<Board>,
}

/// The ranges and the bytes they cover (zero with no range).
#[derive(Debug, Clone, Default, PartialEq)]
struct Board {
    ranges: Vec<(SeqNum, SeqNum)>,
    bytes: u32,
}

impl ColdDefault for Board {
    fn default_ref() -> &'static Self {
        static EMPTY: Board = Board {
            ranges: Vec::new(),
            bytes: 0,
        };
        &EMPTY
    }

    #[inline]
    fn fresh() -> Board {
        Board::default()
    }
}

impl Scoreboard {
    /// Bytes SACKed above SND.UNA.
    #[inline]
    pub fn bytes(&self) -> u32 {
        self.board.bytes
    }

    /// The highest SACKed sequence number (end of the last range).
    pub fn highest(&self) -> Option<SeqNum> {
        self.board.ranges.last().map(|r| r.1)
    }

    /// The ranges, in sequence order.
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        self.board.ranges.as_slice()
    }

    /// Records the SACK blocks of an ACK. Blocks outside `(una, snd_max]` are ignored
    /// (D-SACKs and bogus blocks, RFC 2883 and RFC 2018 section 3). Returns the bytes
    /// newly SACKed.
    pub fn add_blocks(&mut self, una: SeqNum, snd_max: SeqNum, blocks: &[SackBlock]) -> u32 {
        let before = self.bytes();
        for b in blocks {
            let (start, end) = (b.left.max(una), b.right);
            if !start.before(end) || end.after(snd_max) || !b.left.after_eq(una) {
                continue;
            }
            self.insert(start, end);
        }
        self.bytes() - before
    }

    fn insert(&mut self, mut start: SeqNum, mut end: SeqNum) {
        let board = &mut *self.board;
        // Merge with every range that overlaps or touches [start, end).
        let mut i = 0;
        let mut at = board.ranges.len();
        while i < board.ranges.len() {
            let (s, e) = board.ranges[i];
            if e.before(start) {
                i += 1;
                continue;
            }
            if end.before(s) {
                at = at.min(i);
                break;
            }
            start = start.min(s);
            end = end.max(e);
            board.bytes -= (e - s) as u32;
            board.ranges.remove(i);
            at = i;
        }
        at = at.min(board.ranges.len());
        board.ranges.insert(at, (start, end));
        board.bytes += (end - start) as u32;
        if board.ranges.len() > MAX_RANGES {
            // Forget the highest range: that only makes recovery more conservative.
            if let Some((s, e)) = board.ranges.pop() {
                board.bytes -= (e - s) as u32;
            }
        }
    }

    /// Drops what SND.UNA has passed.
    pub fn advance(&mut self, una: SeqNum) {
        let Some(board) = self.board.get_mut() else {
            return;
        };
        while let Some(&(s, e)) = board.ranges.first() {
            if e.before_eq(una) {
                board.bytes -= (e - s) as u32;
                board.ranges.remove(0);
            } else if s.before(una) {
                board.bytes -= (una - s) as u32;
                board.ranges[0].0 = una;
                break;
            } else {
                break;
            }
        }
        if board.ranges.is_empty() {
            self.board.reset();
        }
    }

    /// Forgets every SACK (the receiver reneged: it dropped out-of-order data it had
    /// SACKed).
    pub fn clear(&mut self) {
        self.board.reset();
    }

    /// Whether `seq` is SACKed.
    #[cfg(test)]
    pub fn contains(&self, seq: SeqNum) -> bool {
        self.board
            .ranges
            .iter()
            .any(|(s, e)| seq.after_eq(*s) && seq.before(*e))
    }

    /// The first un-SACKed byte at or after `from`, and the end of that hole (the
    /// start of the next SACKed range), if the hole lies below the highest SACK.
    pub fn next_hole(&self, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut at = from;
        for &(s, e) in self.board.ranges.iter() {
            if at.before(s) {
                return Some((at, s));
            }
            if at.before(e) {
                at = e;
            }
        }
        None
    }

    /// Bytes not SACKed in `[from, to)`.
    pub fn unsacked_between(&self, from: SeqNum, to: SeqNum) -> u32 {
        if !from.before(to) {
            return 0;
        }
        let mut total = (to - from) as u32;
        for &(s, e) in self.board.ranges.iter() {
            let (a, b) = (s.max(from), e.min(to));
            if a.before(b) {
                total -= (b - a) as u32;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(l: u32, r: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        }
    }

    #[test]
    fn blocks_merge_and_count() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNum(1000), SeqNum(11000));
        assert_eq!(sb.add_blocks(una, max, &[blk(4000, 5000)]), 1000);
        assert_eq!(sb.add_blocks(una, max, &[blk(4000, 6000)]), 1000);
        assert_eq!(sb.add_blocks(una, max, &[blk(8000, 9000)]), 1000);
        assert_eq!(
            sb.add_blocks(una, max, &[blk(6000, 8000)]),
            2000,
            "fills the gap"
        );
        assert_eq!(sb.ranges(), &[(SeqNum(4000), SeqNum(9000))]);
        assert_eq!(sb.bytes(), 5000);
        assert_eq!(sb.highest(), Some(SeqNum(9000)));
        assert_eq!(sb.next_hole(una), Some((SeqNum(1000), SeqNum(4000))));
        assert_eq!(sb.next_hole(SeqNum(4500)), None);
        assert_eq!(sb.unsacked_between(una, SeqNum(10000)), 4000);
    }

    #[test]
    fn dsack_and_bogus_blocks_are_ignored() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNum(1000), SeqNum(5000));
        assert_eq!(
            sb.add_blocks(una, max, &[blk(500, 900)]),
            0,
            "below SND.UNA"
        );
        assert_eq!(
            sb.add_blocks(una, max, &[blk(4000, 6000)]),
            0,
            "beyond SND.MAX"
        );
        assert_eq!(sb.add_blocks(una, max, &[blk(3000, 3000)]), 0, "empty");
        assert_eq!(sb.bytes(), 0);
    }

    #[test]
    fn advancing_una_trims() {
        let mut sb = Scoreboard::default();
        sb.add_blocks(
            SeqNum(0),
            SeqNum(10000),
            &[blk(2000, 3000), blk(5000, 7000)],
        );
        sb.advance(SeqNum(2500));
        assert_eq!(sb.bytes(), 2500);
        sb.advance(SeqNum(6000));
        assert_eq!(sb.ranges(), &[(SeqNum(6000), SeqNum(7000))]);
        assert_eq!(sb.bytes(), 1000);
        assert!(sb.contains(SeqNum(6500)));
        assert!(!sb.contains(SeqNum(7000)));
        sb.advance(SeqNum(7000));
        assert_eq!(sb.bytes(), 0);
        assert!(
            !sb.board.is_allocated(),
            "an empty scoreboard gives its memory back"
        );
    }

    #[test]
    fn range_count_is_bounded() {
        let mut sb = Scoreboard::default();
        for i in 0..100u32 {
            sb.add_blocks(
                SeqNum(0),
                SeqNum(1_000_000),
                &[blk(i * 100 + 10, i * 100 + 20)],
            );
        }
        assert!(sb.ranges().len() <= MAX_RANGES);
        let sum: u32 = sb.ranges().iter().map(|(s, e)| (*e - *s) as u32).sum();
        assert_eq!(sum, sb.bytes());
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut sb = Scoreboard::default();
        let una = SeqNum(u32::MAX - 1000);
        sb.add_blocks(una, una + 5000, &[blk(u32::MAX - 500, 1500)]);
        assert_eq!(sb.bytes(), 2001, "2^32 - 1 - 500 .. 2^32 + 1500");
        assert_eq!(sb.next_hole(una), Some((una, SeqNum(u32::MAX - 500))));
    }
}
