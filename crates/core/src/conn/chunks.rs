//! The send queue cut into chunks the way Linux cuts it into skbs, because segment
//! boundaries and the PSH flag follow them.
//!
//! A write appends to the last chunk while that chunk is unsent, not a MSG_EOR record
//! and shorter than the size goal (sendq.rs decides how a write fills chunks, and
//! charges them against the send buffer); a write that ends without MSG_MORE marks the
//! chunk it ends in for PSH (Linux's tcp_mark_push), and a later write appending to it
//! clears that mark. Data leaves in transmission units of at most the TSO autosizing
//! segment count (sendq.rs) and within what cwnd and the window allow; a unit is cut
//! off its chunk (Linux's tso_fragment: the first part loses the PSH mark, the rest
//! keeps it) and stays a chunk of its own for retransmission. A unit of more than one
//! segment gets PSH on its last segment for that transmission only (Linux's
//! __tcp_transmit_skb forces PSH on GSO packets).

use std::collections::VecDeque;

use synack_wire::SeqNum;

/// One chunk of the send queue (Linux's skb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub start: SeqNum,
    pub end: SeqNum,
    /// A write ended here: the last segment carries PSH.
    pub push: bool,
    /// It ends a MSG_EOR record: nothing is appended to it.
    pub eor: bool,
    /// It has been sent (as a unit of its own): nothing is appended to it.
    pub started: bool,
    /// Its latest transmission was a unit of several segments: its last segment carries
    /// PSH on that transmission.
    pub burst: bool,
    /// How far its latest transmission has got.
    pub sent_to: SeqNum,
}

/// The chunks of the data not yet acknowledged, in sequence order. It lives in the
/// connection's in-flight box (inflight.rs): an idle connection has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Chunks {
    q: VecDeque<Chunk>,
}

impl Chunks {
    /// No chunk.
    pub const EMPTY: Chunks = Chunks { q: VecDeque::new() };

    /// No data is queued.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Appends `n` bytes written at `at` (the end of the queued data). `push`: the write
    /// ended without MSG_MORE; `eor`: MSG_EOR.
    pub fn append(&mut self, at: SeqNum, n: u32, push: bool, eor: bool) {
        if n == 0 {
            return;
        }
        match self.q.back_mut() {
            Some(last) if !last.started && !last.eor && last.end == at => {
                last.end += n;
                last.push = push || eor;
                last.eor = eor;
            }
            _ => self.q.push_back(Chunk {
                start: at,
                end: at + n,
                push: push || eor,
                eor,
                started: false,
                burst: false,
                sent_to: at,
            }),
        }
    }

    /// Where the queued data ends (Linux's `write_seq`), counting a write still being
    /// taken in.
    pub fn end(&self) -> Option<SeqNum> {
        self.q.back().map(|c| c.end)
    }

    /// How many chunks there are (Linux's skbs in the write and retransmit queues).
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// The last chunk, if it ends at `at` and a write may still append to it: unsent
    /// and not the end of a record.
    pub fn open_tail(&self, at: SeqNum) -> Option<Chunk> {
        self.q
            .back()
            .filter(|c| !c.started && !c.eor && c.end == at)
            .copied()
    }

    /// Starts an empty chunk at `at` (Linux's tcp_stream_alloc_skb + tcp_skb_entail).
    pub fn open(&mut self, at: SeqNum) {
        self.q.push_back(Chunk {
            start: at,
            end: at,
            push: false,
            eor: false,
            started: false,
            burst: false,
            sent_to: at,
        });
    }

    /// Appends `n` bytes to the last chunk; `first`: the first bytes of a write, which
    /// clear a PSH mark an earlier write left there (tcp_sendmsg_locked).
    pub fn extend(&mut self, n: u32, first: bool) {
        if let Some(c) = self.q.back_mut() {
            c.end += n;
            if first {
                c.push = false;
            }
        }
    }

    /// Marks the last chunk for PSH (Linux's tcp_mark_push) and, with `eor`, as the end
    /// of a record.
    pub fn mark_tail(&mut self, push: bool, eor: bool) {
        if let Some(c) = self.q.back_mut() {
            c.push |= push;
            c.eor |= eor;
        }
    }

    /// Closes the last chunk to later writes: it went out already (the data of a Fast
    /// Open SYN, whose skb Linux keeps apart from what follows).
    pub fn close_tail(&mut self) {
        if let Some(c) = self.q.back_mut() {
            c.started = true;
        }
    }

    /// Drops an empty last chunk (Linux's tcp_remove_empty_skb).
    pub fn drop_empty_tail(&mut self) {
        if self.q.back().is_some_and(|c| c.start == c.end) {
            self.q.pop_back();
        }
    }

    /// Drops the chunks SND.UNA has passed.
    pub fn ack(&mut self, una: SeqNum) {
        while self.q.front().is_some_and(|c| c.end.before_eq(una)) {
            self.q.pop_front();
        }
    }

    fn index(&self, seq: SeqNum) -> Option<usize> {
        let i = self.q.partition_point(|c| c.end.before_eq(seq));
        self.q.get(i).filter(|c| seq.after_eq(c.start)).map(|_| i)
    }

    /// The chunk holding `seq`.
    pub fn at(&self, seq: SeqNum) -> Option<Chunk> {
        self.index(seq).map(|i| self.q[i])
    }

    /// Cuts chunk `i`, which holds `at`, in two there (Linux's tcp_fragment): the first
    /// part loses the PSH and EOR marks, the second keeps them.
    fn split_index(&mut self, i: usize, at: SeqNum) {
        let c = self.q[i];
        if c.start == at {
            return;
        }
        self.q[i] = Chunk {
            end: at,
            push: false,
            eor: false,
            ..c
        };
        self.q.insert(
            i + 1,
            Chunk {
                start: at,
                sent_to: at,
                ..c
            },
        );
    }

    /// Where a segment starting at `seq` must end at the latest and whether that end
    /// carries PSH. `room` is how much may go in this transmission (cwnd, window,
    /// retransmission hole). A segment that does not continue the chunk's current
    /// transmission starts a new unit of at most `segs` segments, cut off the chunk.
    /// Nothing is sent yet (see [`Chunks::transmit_to`]).
    pub fn transmit(
        &mut self,
        seq: SeqNum,
        room: u32,
        mss: u32,
        segs: u32,
    ) -> Option<(SeqNum, bool)> {
        self.transmit_to(seq, room, mss, segs, seq)
    }

    /// [`Chunks::transmit`] for a segment that goes out up to `end`, which the chunk
    /// records: one search per segment (issue 9).
    pub fn transmit_to(
        &mut self,
        seq: SeqNum,
        room: u32,
        mss: u32,
        segs: u32,
        end: SeqNum,
    ) -> Option<(SeqNum, bool)> {
        let mut i = self.index(seq)?;
        let c = self.q[i];
        let continuing = c.started && c.sent_to == seq && seq != c.start;
        if continuing {
            self.q[i].sent_to = end;
            return Some((c.end, c.push || c.burst));
        }
        // One search: the cuts below keep `seq`'s chunk at a known index.
        if c.start != seq {
            self.split_index(i, seq);
            i += 1;
        }
        let len = (c.end - seq) as u32;
        let unit = len.min(segs.saturating_mul(mss)).min(room.max(1));
        if unit < len {
            self.split_index(i, seq + unit);
        }
        let c = &mut self.q[i];
        c.started = true;
        c.burst = unit > mss;
        c.sent_to = end;
        Some((c.end, c.push || c.burst))
    }

    /// Makes `[start, start + len)` one chunk, sent now as a path MTU probe (Linux's
    /// tcp_mtu_probe building its skb from the head of the unsent skbs): the chunks
    /// it covers whole give it their PSH mark (and the last one its EOR), one it covers
    /// in part keeps its marks for the rest. Fails, changing nothing, when the range is
    /// not all queued or would join a MSG_EOR record to what follows
    /// (tcp_can_coalesce_send_queue_head).
    pub fn coalesce(&mut self, start: SeqNum, len: u32) -> bool {
        let Some(first) = self.index(start) else {
            return false;
        };
        let mut left = len;
        let mut i = first;
        loop {
            let Some(c) = self.q.get(i) else {
                return false;
            };
            let here = (c.end - start.max(c.start)) as u32;
            if left <= here {
                break;
            }
            if c.eor {
                return false;
            }
            left -= here;
            i += 1;
        }
        let end = start + len;
        let mut i = first;
        if self.q[i].start != start {
            self.split_index(i, start);
            i += 1;
        }
        let mut last = i;
        while self.q[last].end.before(end) {
            last += 1;
        }
        if self.q[last].end != end {
            self.split_index(last, end);
        }
        let covered = self.q.range(i..=last);
        let push = covered.clone().any(|c| c.push);
        let eor = self.q[last].eor;
        self.q.drain(i + 1..=last);
        self.q[i] = Chunk {
            start,
            end,
            push,
            eor,
            started: true,
            burst: false,
            sent_to: start,
        };
        true
    }

    /// Forgets everything (the send buffer was released).
    pub fn clear(&mut self) {
        self.q.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_append_to_unsent_chunks_and_move_the_push_mark() {
        let mut c = Chunks::default();
        c.append(SeqNum(1), 400, true, false);
        c.append(SeqNum(401), 600, true, false);
        let a = c.at(SeqNum(1)).unwrap();
        assert_eq!((a.start, a.end, a.push), (SeqNum(1), SeqNum(1001), true));
        c.append(SeqNum(1001), 100, false, false);
        assert!(!c.at(SeqNum(1)).unwrap().push, "MSG_MORE clears the mark");
    }

    #[test]
    fn writes_fill_the_open_tail_and_marks_follow_linux() {
        let mut c = Chunks::default();
        c.open(SeqNum(1));
        c.extend(600, true);
        c.mark_tail(true, false);
        assert_eq!(c.open_tail(SeqNum(601)).map(|t| t.push), Some(true));
        // The next write's first bytes clear the mark; its end sets it again.
        c.extend(400, true);
        assert_eq!(c.open_tail(SeqNum(1001)).map(|t| t.push), Some(false));
        c.mark_tail(false, true);
        assert!(
            c.open_tail(SeqNum(1001)).is_none(),
            "an EOR record is closed"
        );
        c.open(SeqNum(1001));
        assert_eq!(c.len(), 2);
        c.drop_empty_tail();
        assert_eq!(c.len(), 1, "an skb that took nothing is dropped");
        // Once a unit of it is sent, the rest is a chunk of its own, open again.
        c.open(SeqNum(1001));
        c.extend(3000, true);
        c.transmit_to(SeqNum(1001), 10_000, 1000, 2, SeqNum(1001));
        assert_eq!(c.len(), 3);
        assert_eq!(
            c.open_tail(SeqNum(4001)).map(|t| t.start),
            Some(SeqNum(3001))
        );
    }

    #[test]
    fn eor_records_stay_apart() {
        let mut c = Chunks::default();
        c.append(SeqNum(1), 400, true, true);
        c.append(SeqNum(401), 400, true, false);
        assert_eq!(c.at(SeqNum(1)).unwrap().end, SeqNum(401));
        assert_eq!(c.at(SeqNum(401)).unwrap().start, SeqNum(401));
    }

    #[test]
    fn units_are_cut_off_and_only_multi_segment_units_push() {
        let mut c = Chunks::default();
        c.append(SeqNum(1), 5000, true, false);
        // Two-segment unit: PSH at its end for this transmission.
        assert_eq!(
            c.transmit_to(SeqNum(1), 10_000, 1000, 2, SeqNum(1001)),
            Some((SeqNum(2001), true))
        );
        assert_eq!(
            c.transmit_to(SeqNum(1001), 10_000, 1000, 2, SeqNum(2001)),
            Some((SeqNum(2001), true))
        );
        // A one-segment unit (cwnd room 1000) from a chunk without the write's mark.
        assert_eq!(
            c.transmit_to(SeqNum(2001), 1000, 1000, 2, SeqNum(3001)),
            Some((SeqNum(3001), false))
        );
        // The tail keeps the write's PSH mark.
        assert_eq!(
            c.transmit_to(SeqNum(3001), 1000, 1000, 2, SeqNum(4001)),
            Some((SeqNum(4001), false))
        );
        assert_eq!(
            c.transmit_to(SeqNum(4001), 1000, 1000, 2, SeqNum(4001)),
            Some((SeqNum(5001), true))
        );
        // Retransmitting the second half of the first unit alone: no PSH.
        assert_eq!(
            c.transmit_to(SeqNum(1001), 1000, 1000, 2, SeqNum(1001)),
            Some((SeqNum(2001), false))
        );
        c.ack(SeqNum(2001));
        assert!(c.at(SeqNum(1500)).is_none());
    }
}
