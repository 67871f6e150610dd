//! Per-connection payload buffers: the send ring and the receive ring with reassembly.
//!
//! Both buffers are rings of bytes sized by the connection's configured capacity (Linux
//! `SO_SNDBUF`/`SO_RCVBUF`, `tcp_wmem`/`tcp_rmem`). Their memory is allocated on first use,
//! exactly once (a later [`SendBuffer::set_capacity`] / [`RecvBuffer::set_capacity`] may
//! reallocate), and returned by `release()`, so an idle connection costs only the few words
//! of the structs themselves. Nothing on the per-segment path allocates: writes, reads,
//! acknowledgements and out-of-order inserts only copy bytes and move indices.
//!
//! The memory is not zeroed either. A ring's `Vec` is allocated with its full capacity but
//! starts empty, and grows with the data while it fills for the first time: as long as it is
//! shorter than the capacity nothing has wrapped and every held byte lies inside it, so the
//! views and indices work unchanged on the shorter `Vec`. Only a write that would leave a
//! gap (out-of-order data past the end, or wrapping before the ring has filled) zero-fills
//! the gap.
//!
//! Positions are counted in bytes relative to a moving origin, never in sequence numbers:
//! the connection maps `SND.UNA` to offset 0 of the [`SendBuffer`] and `RCV.NXT` to
//! offset 0 past the in-order data of the [`RecvBuffer`]. No input makes either buffer
//! panic; out-of-range offsets and lengths are clamped.

use core::cmp::{max, min};
use core::fmt;

mod compact;
mod lend;

pub use compact::{RecvBuffer, SendBuffer, MIN_RING};

/// The largest capacity either buffer accepts; larger requests are clamped. Linux keeps
/// `sk_sndbuf`/`sk_rcvbuf` in an `int`, so this is its ceiling too, and it keeps every offset
/// representable in a 32-bit sequence-number distance.
pub const MAX_CAPACITY: usize = i32::MAX as usize;

/// The most out-of-order ranges a [`RecvBuffer`] holds at once.
pub const MAX_OOO_RANGES: usize = 16;

/// `(a + b) mod cap` for `a < cap` and `b <= cap` (no division on the hot path).
fn wrap_add(a: usize, b: usize, cap: usize) -> usize {
    let sum = a + b;
    if sum >= cap {
        sum - cap
    } else {
        sum
    }
}

/// Copies `src` into `buf` at index `at` with `at + src.len() <= cap`, growing `buf` as
/// needed (a gap between its end and `at` is zero-filled).
fn put_linear(buf: &mut Vec<u8>, at: usize, src: &[u8]) {
    if at > buf.len() {
        buf.resize(at, 0);
    }
    let k = min(src.len(), buf.len() - at);
    let (a, b) = src.split_at(k);
    buf[at..at + k].copy_from_slice(a);
    buf.extend_from_slice(b);
}

/// Copies `src` into the ring `buf` of `cap` bytes at the unwrapped position `at`
/// (`at < 2 * cap`), wrapping at `cap`. `buf` may be shorter than `cap` while the ring fills
/// for the first time (see the module docs); it grows to cover what is written, and to all
/// of `cap` once a write wraps. Callers guarantee `src.len() <= cap`, and that the bytes
/// written are ones the ring may overwrite.
fn ring_write(buf: &mut Vec<u8>, cap: usize, at: usize, src: &[u8]) {
    let first = min(src.len(), cap.saturating_sub(at));
    let (a, b) = src.split_at(first);
    if !a.is_empty() {
        put_linear(buf, at, a);
    }
    if !b.is_empty() {
        if buf.len() < cap {
            buf.resize(cap, 0);
        }
        let start = at + first - cap;
        buf[start..start + b.len()].copy_from_slice(b);
    }
}

/// The ring bytes `[pos, pos + len)` as up to two slices, wrapping at `buf.len()` (held
/// bytes never wrap while `buf` is shorter than the capacity). Callers guarantee
/// `len <= buf.len()` and `pos < buf.len()` (or both zero); out-of-range requests yield
/// empty slices rather than panicking.
fn ring_slices(buf: &[u8], pos: usize, len: usize) -> (&[u8], &[u8]) {
    let first = min(len, buf.len().saturating_sub(pos));
    let a = buf.get(pos..pos + first).unwrap_or(&[]);
    let b = buf.get(..len - first).unwrap_or(&[]);
    (a, b)
}

/// Copies the two halves of a ring view into `out`, returning the count copied.
fn copy_out(view: (&[u8], &[u8]), out: &mut [u8]) -> usize {
    let (a, b) = view;
    let n = min(out.len(), a.len() + b.len());
    let na = min(n, a.len());
    out[..na].copy_from_slice(&a[..na]);
    out[na..n].copy_from_slice(&b[..n - na]);
    n
}

/// Allocates an empty ring with room for `cap` bytes, not initialized (nothing to zero; the
/// pages of a large buffer stay untouched until data reaches them).
fn alloc_ring(cap: usize) -> Vec<u8> {
    Vec::with_capacity(cap)
}

/// Whether the ring `buf` is allocated (its length may still be growing).
fn ring_allocated(buf: &Vec<u8>) -> bool {
    buf.capacity() != 0
}

/// The send buffer: a ring of bytes from the oldest unacknowledged byte (SND.UNA) onward,
/// holding unacked and unsent data. Memory is allocated on first write, never before, and
/// freed by release().
///
/// Offset 0 is always `SND.UNA`; the connection keeps `SND.NXT - SND.UNA` itself and asks for
/// views with [`slices_at`](SendBuffer::slices_at) when it builds a segment, then calls
/// [`consume`](SendBuffer::consume) when an ACK advances `SND.UNA`.
pub(crate) struct SendRing {
    /// Unallocated until the first write; afterwards it has room for `capacity` bytes and
    /// is `capacity` bytes long once the ring has filled (see the module docs).
    buf: Vec<u8>,
    capacity: usize,
    /// Physical index of offset 0 (SND.UNA).
    head: usize,
    len: usize,
}

impl fmt::Debug for SendRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendRing")
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .field("allocated", &self.is_allocated())
            .finish()
    }
}

impl SendRing {
    /// An empty send buffer that will hold up to `capacity` bytes (clamped to
    /// [`MAX_CAPACITY`]). Allocates nothing.
    pub fn new(capacity: usize) -> SendRing {
        SendRing {
            buf: Vec::new(),
            capacity: min(capacity, MAX_CAPACITY),
            head: 0,
            len: 0,
        }
    }

    /// The most bytes the buffer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity, never below [`len`](SendBuffer::len) nor above
    /// [`MAX_CAPACITY`]. If memory is already allocated it is reallocated at the new size
    /// with the content preserved; otherwise nothing is allocated.
    pub fn set_capacity(&mut self, capacity: usize) {
        let capacity = capacity.clamp(self.len, MAX_CAPACITY);
        if self.is_allocated() && capacity != self.capacity {
            let mut new = alloc_ring(capacity);
            let (a, b) = self.slices_at(0, self.len);
            new.extend_from_slice(a);
            new.extend_from_slice(b);
            self.buf = new;
            self.head = 0;
        }
        self.capacity = capacity;
    }

    /// Bytes held: unacknowledged plus not yet sent.
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left for [`write`](SendBuffer::write).
    pub fn free(&self) -> usize {
        self.capacity - self.len
    }

    /// Whether the ring's memory is currently allocated.
    pub fn is_allocated(&self) -> bool {
        ring_allocated(&self.buf)
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken. The first
    /// write that stores anything allocates the ring.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = min(data.len(), self.free());
        if n == 0 {
            return 0;
        }
        if !self.is_allocated() {
            self.buf = alloc_ring(self.capacity);
            self.head = 0;
        }
        ring_write(
            &mut self.buf,
            self.capacity,
            self.head + self.len,
            &data[..n],
        );
        self.len += n;
        n
    }

    /// A zero-copy view of the bytes `[offset, offset + len)` counted from the head
    /// (SND.UNA), clamped to [`len`](SendBuffer::len). The second slice is non-empty only
    /// when the range wraps around the end of the ring.
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len || len == 0 {
            return (&[], &[]);
        }
        let len = min(len, self.len - offset);
        let start = wrap_add(self.head, offset, self.capacity);
        ring_slices(&self.buf, start, len)
    }

    /// Copies bytes from `offset` past the head into `out` (as many as `out` holds, clamped
    /// to what is buffered) and returns the count copied.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        copy_out(self.slices_at(offset, out.len()), out)
    }

    /// Drops `n` acknowledged bytes from the head (clamped to [`len`](SendBuffer::len)),
    /// i.e. `SND.UNA` advanced by `n`.
    pub fn consume(&mut self, n: usize) {
        let n = min(n, self.len);
        if n == 0 {
            return;
        }
        self.head = wrap_add(self.head, n, self.capacity);
        self.len -= n;
        if self.len == 0 {
            // Keep the next burst contiguous.
            self.head = 0;
        }
    }

    #[cfg(test)]
    /// Drops all content and returns the memory; the capacity setting is kept, and the next
    /// write allocates again.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
        self.len = 0;
    }
}

/// One held out-of-order range, offsets relative to RCV.NXT.
#[derive(Clone, Copy, Debug)]
struct OooRange {
    start: usize,
    end: usize,
    /// Insertion counter value when a segment last landed in this range (SACK order).
    stamp: u64,
}

/// Why [`RecvBuffer::try_insert`] stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No byte of the data lies inside the window.
    Window,
    /// Out-of-order data that would need more disjoint ranges than the buffer holds.
    Ranges,
}

/// The receive buffer with reassembly (RFC 9293 3.10.7.4 "seventh, process the segment
/// text"; RFC 2018 for SACK). Offsets are relative to RCV.NXT, the first byte not yet
/// received in order: in-order bytes waiting for the application sit before it, out-of-order
/// bytes after it.
///
/// The ring holds `len()` in-order bytes followed by a window of `window()` bytes into which
/// out-of-order segments are copied at their final position, so completing a hole makes the
/// data readable without moving anything. Held out-of-order data is described by up to
/// [`MAX_OOO_RANGES`] disjoint, non-adjacent ranges kept in a small table that, like the
/// ring, is allocated on first use.
pub(crate) struct RecvRing {
    /// Unallocated until the first insert that stores bytes; afterwards it has room for
    /// `capacity` bytes and is `capacity` bytes long once the ring has filled or wrapped.
    buf: Vec<u8>,
    capacity: usize,
    /// Physical index of the first in-order byte the application has not read.
    head: usize,
    /// In-order bytes waiting for the application.
    len: usize,
    /// Out-of-order ranges, out of line while there are any (issue 9's memory budget: an
    /// idle connection pays one pointer).
    ooo: Option<Box<Ooo>>,
}

/// The out-of-order ranges of a [`RecvBuffer`] that holds any.
#[derive(Debug)]
struct Ooo {
    /// Sorted by start; capacity [`MAX_OOO_RANGES`].
    ranges: Vec<OooRange>,
    /// Source of [`OooRange::stamp`] values.
    stamp: u64,
}

impl fmt::Debug for RecvRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvRing")
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .field("ooo", &self.ranges())
            .field("allocated", &self.is_allocated())
            .finish()
    }
}

impl RecvRing {
    /// An empty receive buffer of `capacity` bytes (clamped to [`MAX_CAPACITY`]).
    /// Allocates nothing.
    pub fn new(capacity: usize) -> RecvRing {
        RecvRing {
            buf: Vec::new(),
            capacity: min(capacity, MAX_CAPACITY),
            head: 0,
            len: 0,
            ooo: None,
        }
    }

    /// The held ranges `[i, j)` that `[start, end)` overlaps or touches, and the range
    /// they make together with it; `None` if storing it would need more than
    /// [`MAX_OOO_RANGES`] out-of-order ranges. The ranges are sorted, disjoint and
    /// non-adjacent, so their ends are sorted too and the run is contiguous.
    pub(super) fn run_of(&self, start: usize, end: usize) -> Option<(usize, usize, usize, usize)> {
        let ranges = self.ranges();
        let i = ranges.partition_point(|r| r.end < start);
        let j = max(i, ranges.partition_point(|r| r.start <= end));
        let (merged_start, merged_end) = if j > i {
            (min(start, ranges[i].start), max(end, ranges[j - 1].end))
        } else {
            (start, end)
        };
        let ranges_after = ranges.len() - (j - i) + usize::from(merged_start > 0);
        (ranges_after <= MAX_OOO_RANGES).then_some((i, j, merged_start, merged_end))
    }

    /// The out-of-order ranges held, sorted by start.
    fn ranges(&self) -> &[OooRange] {
        self.ooo.as_ref().map_or(&[], |o| &o.ranges)
    }

    /// The ring's size: in-order data plus the receive window.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity, never below what is held (`len()` plus the end of the last
    /// out-of-order range, so no received byte is ever discarded) nor above
    /// [`MAX_CAPACITY`]. Allocated memory is reallocated with the content preserved.
    ///
    /// Shrinking can make [`window`](RecvBuffer::window) smaller than a window already
    /// advertised; the connection must not shrink its advertised right edge (RFC 9293
    /// 3.8.6.2.1), as Linux never does.
    pub fn set_capacity(&mut self, capacity: usize) {
        let held = self.len + self.ooo_end();
        let capacity = capacity.clamp(held, MAX_CAPACITY);
        if self.is_allocated() && capacity != self.capacity {
            let mut new = alloc_ring(capacity);
            let (a, b) = ring_slices(&self.buf, self.head, held);
            new.extend_from_slice(a);
            new.extend_from_slice(b);
            self.buf = new;
            self.head = 0;
        }
        self.capacity = capacity;
    }

    /// In-order bytes waiting for the application.
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    /// Whether no in-order bytes are waiting (out-of-order data may still be held).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `capacity() - len()`: how many bytes past RCV.NXT the buffer can take, i.e. the
    /// largest receive window the connection may offer. Out-of-order data already held lies
    /// inside this window and does not reduce it. (How much of it to advertise, e.g. Linux's
    /// `tcp_adv_win_scale` overhead share and window rounding, is the connection's choice.)
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }

    /// Whether the ring's memory is currently allocated.
    pub fn is_allocated(&self) -> bool {
        ring_allocated(&self.buf)
    }

    #[cfg(test)]
    /// Stores `data`, whose first byte is `offset` bytes past RCV.NXT. Bytes past window()
    /// are cut off; bytes already held (overlaps, duplicates) are kept once. Returns how many
    /// bytes became newly contiguous (by how much RCV.NXT advances). Out-of-order data is
    /// held in at most MAX_OOO_RANGES (=16) disjoint ranges; a segment that would need a 17th
    /// range is dropped (return 0) (Linux prunes its out-of-order queue under memory
    /// pressure; dropping is always safe for TCP).
    ///
    /// Bytes before RCV.NXT cannot be expressed: the caller trims a segment's already
    /// received prefix (RFC 9293 3.10.7.4) before calling. Where a byte is already held, the
    /// copy received first is kept (Linux likewise keeps queued data and trims the newcomer).
    pub fn insert(&mut self, offset: usize, data: &[u8]) -> usize {
        self.try_insert(offset, data).unwrap_or(0)
    }

    /// [`RecvBuffer::insert`], saying why nothing was stored: [`Refused::Window`] when
    /// no byte of `data` is inside the window, [`Refused::Ranges`] when out-of-order data
    /// would need a 17th range (the segment a receiver counts as TCPOFODrop). Empty
    /// `data` is `Ok(0)`.
    pub fn try_insert(&mut self, offset: usize, data: &[u8]) -> Result<usize, Refused> {
        let window = self.window();
        if data.is_empty() {
            return Ok(0);
        }
        if offset >= window {
            return Err(Refused::Window);
        }
        let start = offset;
        let end = offset + min(data.len(), window - offset);

        // The held ranges that overlap or touch [start, end) form a run [i, j) because the
        // ranges are sorted, disjoint and non-adjacent (so their ends are sorted too).
        let Some((i, j, merged_start, merged_end)) = self.run_of(start, end) else {
            return Err(Refused::Ranges);
        };

        if !self.is_allocated() {
            self.buf = alloc_ring(self.capacity);
            self.head = 0;
        }
        // Copy only the holes of [start, end); held bytes keep their first copy.
        // Unwrapped physical position of RCV.NXT (below 2 * capacity).
        let base = self.head + self.len;
        let mut pos = start;
        let ranges = self.ooo.as_ref().map_or(&[][..], |o| &o.ranges[i..j]);
        for r in ranges {
            if r.start > pos {
                let hole_end = min(r.start, end);
                let hole = &data[pos - offset..hole_end - offset];
                ring_write(&mut self.buf, self.capacity, base + pos, hole);
            }
            pos = max(pos, r.end);
        }
        if pos < end {
            let rest = &data[pos - offset..end - offset];
            ring_write(&mut self.buf, self.capacity, base + pos, rest);
        }

        if merged_start == 0 {
            // The hole at RCV.NXT is filled: everything up to merged_end is now in order.
            // No other range can start at or before merged_end, so i == 0 here.
            self.len += merged_end;
            if let Some(o) = self.ooo.as_mut() {
                o.ranges.drain(i..j);
                if o.ranges.is_empty() {
                    // The last hole closed: the table's memory goes back.
                    self.ooo = None;
                } else {
                    for r in &mut o.ranges {
                        r.start -= merged_end;
                        r.end -= merged_end;
                    }
                }
            }
            return Ok(merged_end);
        }

        let o = self.ooo.get_or_insert_with(|| {
            Box::new(Ooo {
                ranges: Vec::with_capacity(MAX_OOO_RANGES),
                stamp: 0,
            })
        });
        o.stamp = o.stamp.saturating_add(1);
        let merged = OooRange {
            start: merged_start,
            end: merged_end,
            stamp: o.stamp,
        };
        if j > i {
            o.ranges[i] = merged;
            o.ranges.drain(i + 1..j);
        } else {
            o.ranges.insert(i, merged);
        }
        Ok(0)
    }

    /// Hands in-order bytes to the application: copies up to `out.len()` of them into `out`,
    /// removes them, and returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = copy_out(self.peek(out.len()), out);
        if n == 0 {
            return 0;
        }
        self.head = wrap_add(self.head, n, self.capacity);
        self.len -= n;
        if self.len == 0 && self.ooo.is_none() {
            self.head = 0;
        }
        n
    }

    /// A zero-copy view of up to `len` in-order bytes from the front, without removing
    /// them. The second slice is non-empty only when the data wraps around the ring.
    pub fn peek(&self, len: usize) -> (&[u8], &[u8]) {
        let len = min(len, self.len);
        if len == 0 {
            return (&[], &[]);
        }
        ring_slices(&self.buf, self.head, len)
    }

    #[cfg(test)]
    /// Out-of-order ranges held, as (start, end) offsets from RCV.NXT, for SACK blocks: the
    /// range containing the most recently inserted segment first (RFC 2018 section 4), then
    /// the others most recently touched first.
    ///
    /// If the most recent segment completed the in-order data (so its range is gone), the
    /// remaining ranges come most recently touched first. Allocates nothing.
    pub fn ooo_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        OooIter {
            ranges: self.ranges(),
            below: u64::MAX,
        }
    }

    #[cfg(test)]
    /// Out-of-order ranges held, as (start, end) offsets from RCV.NXT, in sequence order.
    pub fn ooo_sorted(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ranges().iter().map(|r| (r.start, r.end))
    }

    /// Whether any out-of-order data is held.
    pub fn has_ooo(&self) -> bool {
        self.ooo.is_some()
    }

    /// The end of the highest out-of-order range, as an offset from RCV.NXT; 0 if none.
    pub fn ooo_end(&self) -> usize {
        self.ranges().last().map_or(0, |r| r.end)
    }

    /// Forgets the highest out-of-order range if it starts at or past `from`; returns
    /// it as (start, end) offsets from RCV.NXT. Its bytes stay in the ring as garbage.
    pub(super) fn drop_last_ooo(&mut self, from: usize) -> Option<(usize, usize)> {
        let ooo = self.ooo.as_mut()?;
        let last = ooo.ranges.last().filter(|r| r.start >= from)?;
        let range = (last.start, last.end);
        ooo.ranges.pop();
        if ooo.ranges.is_empty() {
            self.ooo = None;
        }
        Some(range)
    }

    #[cfg(test)]
    /// Drops all content (in-order and out-of-order) and returns the memory; the capacity
    /// setting is kept.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.ooo = None;
        self.head = 0;
        self.len = 0;
    }
}

/// Iterates ranges by decreasing stamp, by selection (at most 16 entries, no allocation).
struct OooIter<'a> {
    ranges: &'a [OooRange],
    /// Only stamps strictly below this are still to come.
    below: u64,
}

impl Iterator for OooIter<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let best = self
            .ranges
            .iter()
            .filter(|r| r.stamp < self.below)
            .max_by_key(|r| r.stamp)?;
        self.below = best.stamp;
        Some((best.start, best.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// xorshift64* PRNG for deterministic randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Uniform-ish in `0..n` (`n > 0`).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn concat(v: (&[u8], &[u8])) -> Vec<u8> {
        let mut out = v.0.to_vec();
        out.extend_from_slice(v.1);
        out
    }

    #[test]
    fn send_allocates_lazily_and_wraps() {
        let mut b = SendRing::new(8);
        assert!(!b.is_allocated());
        assert_eq!(b.write(&[]), 0);
        assert!(!b.is_allocated());
        assert_eq!(b.write(b"abcdef"), 6);
        assert!(b.is_allocated());
        b.consume(4);
        assert_eq!(b.write(b"ghijklmn"), 6); // only 6 free
        assert_eq!(b.len(), 8);
        assert_eq!(b.free(), 0);
        let (x, y) = b.slices_at(0, 100);
        assert_eq!((x, y), (&b"efgh"[..], &b"ijkl"[..]));
        assert_eq!(concat(b.slices_at(3, 3)), b"hij");
        assert_eq!(b.slices_at(8, 1), (&[][..], &[][..]));
        let mut out = [0u8; 5];
        assert_eq!(b.read_at(6, &mut out), 2);
        assert_eq!(&out[..2], b"kl");
        b.consume(100);
        assert!(b.is_empty());
        b.release();
        assert!(!b.is_allocated());
        assert_eq!(b.capacity(), 8);
    }

    #[test]
    fn send_set_capacity_preserves_wrapped_content() {
        let mut b = SendRing::new(6);
        b.set_capacity(4);
        assert!(!b.is_allocated());
        b.set_capacity(6);
        b.write(b"123456");
        b.consume(3);
        b.write(b"78");
        b.set_capacity(2); // clamped to len 5
        assert_eq!(b.capacity(), 5);
        assert_eq!(concat(b.slices_at(0, 5)), b"45678");
        b.set_capacity(usize::MAX);
        assert_eq!(b.capacity(), MAX_CAPACITY);
        let mut zero = SendRing::new(0);
        assert_eq!(zero.write(b"x"), 0);
        assert!(!zero.is_allocated());
    }

    #[test]
    fn send_matches_model() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let cap = 1 + rng.below(64);
            let mut b = SendRing::new(cap);
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut model_cap = cap;
            for _ in 0..400 {
                match rng.below(10) {
                    0..=3 => {
                        let n = rng.below(cap + cap / 2 + 2);
                        let data = rng.bytes(n);
                        let n = b.write(&data);
                        let want = data.len().min(model_cap - model.len());
                        assert_eq!(n, want, "round {round}");
                        model.extend(&data[..want]);
                    }
                    4..=5 => {
                        let n = rng.below(cap + 2);
                        b.consume(n);
                        model.drain(..n.min(model.len()));
                    }
                    6 => {
                        let c = rng.below(2 * cap + 1);
                        b.set_capacity(c);
                        model_cap = c.max(model.len());
                    }
                    7 if rng.below(20) == 0 => {
                        b.release();
                        model.clear();
                    }
                    _ => {
                        let off = rng.below(model.len() + 2);
                        let len = rng.below(model.len() + 2);
                        let (x, y) = b.slices_at(off, len);
                        assert!(!x.is_empty() || y.is_empty(), "second slice only on wrap");
                        let got = concat((x, y));
                        let want: Vec<u8> = model.iter().skip(off).take(len).copied().collect();
                        assert_eq!(got, want);
                        let mut out = vec![0u8; len];
                        let n = b.read_at(off, &mut out);
                        assert_eq!(&out[..n], &want[..]);
                    }
                }
                assert_eq!(b.len(), model.len());
                assert_eq!(b.capacity(), model_cap);
                assert_eq!(b.free(), model_cap - model.len());
            }
        }
    }

    #[test]
    fn recv_in_order_and_reassembly() {
        let mut r = RecvRing::new(10);
        assert!(!r.is_allocated());
        assert_eq!(r.insert(10, b"x"), 0); // beyond the window
        assert_eq!(r.insert(0, b""), 0);
        assert!(!r.is_allocated());
        assert_eq!(r.insert(4, b"efg"), 0);
        assert_eq!(r.insert(8, b"ijKLMN"), 0); // cut to "ij"
        assert_eq!(r.ooo_ranges().collect::<Vec<_>>(), [(8, 10), (4, 7)]);
        assert_eq!(r.ooo_end(), 10);
        assert_eq!(r.insert(5, b"XYZ"), 0); // overlaps "fg", adds byte 7, joins [8,10)
        assert_eq!(r.ooo_ranges().collect::<Vec<_>>(), [(4, 10)]);
        assert_eq!(r.insert(0, b"abcdE"), 10);
        assert!(!r.has_ooo());
        assert_eq!(r.len(), 10);
        assert_eq!(r.window(), 0);
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(concat(r.peek(100)), b"efgZij");
        assert_eq!(r.window(), 4);
        // Wraps: in-order tail at physical 4..10, new data at 0..4.
        assert_eq!(r.insert(2, b"23"), 0);
        assert_eq!(r.insert(0, b"01"), 4);
        let (x, y) = r.peek(10);
        assert_eq!((x, y), (&b"efgZij"[..], &b"0123"[..]));
        r.release();
        assert!(!r.is_allocated() && r.is_empty() && !r.has_ooo());
        assert_eq!(r.window(), 10);
    }

    #[test]
    fn recv_sack_order_and_range_limit() {
        let mut r = RecvRing::new(1000);
        for k in 0..MAX_OOO_RANGES {
            assert_eq!(r.insert(10 + 10 * k, &[1]), 0);
        }
        // The most recent first, then by recency.
        let got: Vec<_> = r.ooo_ranges().take(3).collect();
        assert_eq!(got, [(160, 161), (150, 151), (140, 141)]);
        // A 17th range is refused, but extending or duplicating an existing one is not.
        assert_eq!(r.insert(500, &[2]), 0);
        assert_eq!(r.ooo_ranges().count(), MAX_OOO_RANGES);
        assert!(r.ooo_ranges().all(|(s, _)| s != 500));
        r.insert(21, &[3, 3]);
        assert_eq!(r.ooo_ranges().next(), Some((20, 23)));
        r.insert(50, &[4]);
        assert_eq!(r.ooo_ranges().next(), Some((50, 51)));
        // Bridging two ranges frees a slot, so the 17th range now fits.
        r.insert(11, &[0; 9]);
        assert_eq!(r.ooo_ranges().next(), Some((10, 23)));
        assert_eq!(r.ooo_ranges().count(), MAX_OOO_RANGES - 1);
        r.insert(500, &[2]);
        assert_eq!(r.ooo_ranges().next(), Some((500, 501)));
        assert_eq!(r.ooo_ranges().count(), MAX_OOO_RANGES);
        // Filling the front delivers 0..23 and shifts the remaining offsets.
        assert_eq!(r.insert(0, &[9; 10]), 23);
        assert_eq!(r.ooo_ranges().next(), Some((477, 478)));
        assert!(r.ooo_ranges().all(|(s, e)| s > 0 && e > s));
    }

    #[test]
    fn recv_set_capacity_keeps_held_data() {
        let mut r = RecvRing::new(8);
        r.insert(0, b"abcdef");
        let mut out = [0u8; 5];
        r.read(&mut out);
        r.insert(4, b"xy"); // physical wrap
        r.set_capacity(1);
        assert_eq!(r.capacity(), 7); // len 1 + ooo end 6
        assert_eq!(r.insert(1, b"23"), 0);
        assert_eq!(r.insert(0, b"1"), 3);
        assert_eq!(r.insert(0, b"4"), 3); // offsets moved with RCV.NXT
        assert_eq!(r.window(), 0);
        assert_eq!(concat(r.peek(10)), b"f1234xy");
        r.set_capacity(100);
        assert_eq!(r.window(), 93);
        assert_eq!(concat(r.peek(10)), b"f1234xy");
    }

    /// Compares RecvBuffer against a model of the stream as `Vec<Option<u8>>`, absolute
    /// positions, first copy wins.
    #[test]
    fn recv_matches_model() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut dropped = 0;
        let mut cut = 0;
        for _ in 0..30 {
            let cap = 1 + rng.below(120);
            // Some runs use tiny segments scattered over the window, to reach the range limit.
            let sparse = rng.below(3) == 0;
            let mut r = RecvRing::new(cap);
            let mut model_cap = cap;
            let mut stream: Vec<Option<u8>> = Vec::new();
            let mut read_pos = 0usize; // absolute position of the next byte to read
            let mut nxt = 0usize; // absolute RCV.NXT
            for _ in 0..600 {
                let len_model = nxt - read_pos;
                let window = model_cap - len_model;
                match rng.below(10) {
                    0..=5 => {
                        let off = rng.below(window + 8);
                        let n = 1 + rng.below(if sparse { 2 } else { 12 });
                        let mut data = rng.bytes(n);
                        if rng.below(4) == 0 {
                            // Retransmission of held bytes with the same content.
                            for (k, byte) in data.iter_mut().enumerate() {
                                if let Some(Some(old)) = stream.get(nxt + off + k) {
                                    *byte = *old;
                                }
                            }
                        }
                        let lim = (nxt + window).min(nxt + off + data.len());
                        if nxt + off + data.len() > lim {
                            cut += 1;
                        }
                        let mut trial = stream.clone();
                        if trial.len() < lim {
                            trial.resize(lim, None);
                        }
                        for p in nxt + off..lim {
                            if trial[p].is_none() {
                                trial[p] = Some(data[p - nxt - off]);
                            }
                        }
                        let mut new_nxt = nxt;
                        while trial.get(new_nxt).is_some_and(|b| b.is_some()) {
                            new_nxt += 1;
                        }
                        let runs = runs_of(&trial, new_nxt);
                        let got = r.insert(off, &data);
                        if runs.len() > MAX_OOO_RANGES {
                            assert_eq!(got, 0);
                            dropped += 1;
                        } else {
                            assert_eq!(got, new_nxt - nxt);
                            stream = trial;
                            nxt = new_nxt;
                            // RFC 2018: the block holding the newest segment comes first.
                            if off < window && got == 0 {
                                let (s, e) = r.ooo_ranges().next().unwrap();
                                assert!(s <= off && off < e);
                            }
                        }
                    }
                    6..=7 if !sparse || rng.below(8) == 0 => {
                        let mut out = vec![0u8; rng.below(cap + 3)];
                        let n = r.read(&mut out);
                        assert_eq!(n, out.len().min(len_model));
                        for (k, byte) in out[..n].iter().enumerate() {
                            assert_eq!(Some(*byte), stream[read_pos + k]);
                        }
                        read_pos += n;
                    }
                    8 => {
                        let c = rng.below(2 * cap + 2);
                        r.set_capacity(c);
                        let held_end = runs_of(&stream, nxt).last().map_or(nxt, |x| x.1);
                        model_cap = c.max(held_end - read_pos);
                    }
                    _ => {
                        let want: Vec<u8> =
                            stream[read_pos..nxt].iter().map(|b| b.unwrap()).collect();
                        let k = rng.below(want.len() + 2);
                        assert_eq!(concat(r.peek(k)), want[..k.min(want.len())]);
                    }
                }
                assert_eq!(r.len(), nxt - read_pos);
                assert_eq!(r.capacity(), model_cap);
                assert_eq!(r.window(), model_cap - (nxt - read_pos));
                let mut got: Vec<_> = r.ooo_ranges().collect();
                got.sort_unstable();
                let want: Vec<_> = runs_of(&stream, nxt)
                    .into_iter()
                    .map(|(s, e)| (s - nxt, e - nxt))
                    .collect();
                assert_eq!(got, want);
                assert_eq!(r.has_ooo(), !want.is_empty());
            }
        }
        assert!(
            dropped > 0 && cut > 0,
            "model run exercised drops ({dropped}) and cuts ({cut})"
        );
    }

    /// The growth-phase invariant (see the module docs): the ring never outgrows its
    /// capacity, and while it is shorter every held byte lies inside it, unwrapped.
    fn send_invariant(b: &SendRing) {
        assert!(b.buf.len() <= b.capacity);
        assert!(b.buf.capacity() >= b.buf.len());
        if b.buf.len() < b.capacity {
            assert!(b.head + b.len <= b.buf.len(), "{b:?} head {}", b.head);
        }
        if !b.is_allocated() {
            assert_eq!((b.head, b.len, b.buf.len()), (0, 0, 0));
        }
    }

    fn recv_invariant(r: &RecvRing) {
        assert!(r.buf.len() <= r.capacity);
        if r.buf.len() < r.capacity {
            assert!(
                r.head + r.len + r.ooo_end() <= r.buf.len(),
                "{r:?} head {}",
                r.head
            );
        }
    }

    #[test]
    fn send_grows_without_reallocating() {
        let mut b = SendRing::new(1000);
        assert_eq!(b.write(b"abc"), 3);
        assert_eq!((b.buf.len(), b.buf.capacity() >= 1000), (3, true));
        let ptr = b.buf.as_ptr();
        for _ in 0..333 {
            b.write(b"xyz");
        }
        assert_eq!(b.buf.len(), 1000);
        assert_eq!(b.len(), 1000);
        assert_eq!(b.buf.as_ptr(), ptr, "growth never reallocates");
        send_invariant(&b);
    }

    #[test]
    fn send_growth_phase_straddles_first_fill() {
        let mut b = SendRing::new(10);
        assert_eq!(b.write(b"abc"), 3);
        b.consume(1);
        send_invariant(&b);
        // Tail at physical 3: fills 3..10 and wraps one byte to 0.
        assert_eq!(b.write(b"defghijkl"), 8);
        send_invariant(&b);
        assert_eq!(b.buf.len(), 10);
        assert_eq!(b.slices_at(0, 100), (&b"bcdefghij"[..], &b"k"[..]));
        assert_eq!(concat(b.slices_at(8, 3)), b"jk");
        b.consume(9);
        assert_eq!(b.write(b"12345678"), 8);
        assert_eq!(concat(b.slices_at(0, 100)), b"k12345678");

        // Consuming everything before the first fill restarts at 0: the write overwrites
        // the grown part, then extends it.
        let mut b = SendRing::new(8);
        b.write(b"abcd");
        b.consume(4);
        assert_eq!(b.write(b"ABCDEF"), 6);
        send_invariant(&b);
        assert_eq!(b.buf.len(), 6);
        assert_eq!(b.slices_at(0, 8), (&b"ABCDEF"[..], &b""[..]));
        let mut out = [0u8; 8];
        assert_eq!(b.read_at(2, &mut out), 4);
        assert_eq!(&out[..4], b"CDEF");
        // Reads past the data never see the unwritten part of the ring.
        assert_eq!(b.slices_at(6, 2), (&[][..], &[][..]));
        b.consume(2);
        assert_eq!(b.write(b"GHIJ"), 4);
        assert_eq!(b.slices_at(0, 8), (&b"CDEFGH"[..], &b"IJ"[..]));
    }

    #[test]
    fn send_set_capacity_and_release_during_growth() {
        let mut b = SendRing::new(16);
        b.write(b"hello");
        b.consume(2);
        b.set_capacity(6); // shrink mid-growth: content moves to the front
        send_invariant(&b);
        assert_eq!((b.capacity(), b.buf.len()), (6, 3));
        assert_eq!(b.write(b"-world"), 3);
        assert_eq!(concat(b.slices_at(0, 10)), b"llo-wo");
        b.consume(4);
        assert_eq!(b.write(b"XYZW"), 4); // wraps in the refilled ring
        assert_eq!(concat(b.slices_at(0, 10)), b"woXYZW");
        b.set_capacity(100); // grow: still the same bytes, now in a growing ring
        send_invariant(&b);
        assert_eq!(b.buf.len(), 6);
        assert_eq!(b.write(b"!"), 1);
        assert_eq!(concat(b.slices_at(0, 10)), b"woXYZW!");
        b.release();
        assert!(!b.is_allocated());
        send_invariant(&b);
        assert_eq!(b.write(b"again"), 5);
        assert_eq!((b.buf.len(), b.capacity()), (5, 100));
        assert_eq!(concat(b.slices_at(0, 10)), b"again");
        // Same capacity: nothing moves.
        b.consume(1);
        b.set_capacity(100);
        assert_eq!((b.head, b.buf.len()), (1, 5));
        // Capacity 0 with nothing held frees the ring.
        b.consume(4);
        b.set_capacity(0);
        assert!(!b.is_allocated());
        assert_eq!(b.write(b"x"), 0);
    }

    #[test]
    fn recv_growth_phase_in_order_and_far_out_of_order() {
        let mut r = RecvRing::new(100);
        assert_eq!(r.insert(0, b"abc"), 3);
        assert_eq!(r.buf.len(), 3);
        // Far beyond the filled length: the gap is filled, the data lands in place.
        assert_eq!(r.insert(50, b"XY"), 0);
        recv_invariant(&r);
        assert_eq!(r.buf.len(), 3 + 52);
        assert_eq!(r.insert(10, b"mn"), 0); // inside the grown part
        assert_eq!(r.buf.len(), 55);
        recv_invariant(&r);
        // Up to the end of the window: fills the ring exactly, no wrap.
        assert_eq!(r.insert(95, b"0123456789"), 0);
        assert_eq!(r.buf.len(), 100);
        let mut filler = vec![b'.'; 97];
        filler[10..12].copy_from_slice(b"mn");
        filler[50..52].copy_from_slice(b"XY");
        filler[95..97].copy_from_slice(b"01");
        assert_eq!(r.insert(0, &filler), 97);
        let mut want = b"abc".to_vec();
        want.extend_from_slice(&filler);
        assert_eq!(concat(r.peek(100)), want);
        let mut out = vec![0u8; 100];
        assert_eq!(r.read(&mut out), 100);
        assert_eq!(out, want);
    }

    #[test]
    fn recv_growth_phase_wraps_before_filling() {
        let mut r = RecvRing::new(10);
        assert_eq!(r.insert(0, b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        // RCV.NXT at physical 6, ring only 6 long; offset 5 is physical 11 = 1 (wrapped).
        assert_eq!(r.insert(5, b"XY"), 0);
        recv_invariant(&r);
        assert_eq!(r.buf.len(), 10);
        // An in-order segment that straddles the end of the ring and joins the range.
        assert_eq!(r.insert(0, b"ghijk"), 7);
        assert_eq!(r.peek(10), (&b"efghij"[..], &b"kXY"[..]));
        assert_eq!(r.window(), 1);

        // In-order data straddling the point where the ring first fills, then wrapping.
        let mut r = RecvRing::new(8);
        r.insert(0, b"12345");
        r.read(&mut [0u8; 3]);
        assert_eq!(r.insert(0, b"6789AB"), 6);
        recv_invariant(&r);
        assert_eq!(r.peek(8), (&b"45678"[..], &b"9AB"[..]));

        // An out-of-order segment straddling the end of a ring that has not filled yet.
        let mut r = RecvRing::new(8);
        r.insert(0, b"123");
        r.read(&mut [0u8; 2]);
        assert_eq!(r.insert(3, b"wxyz"), 0); // physical 6..10: 6, 7, then 0, 1
        recv_invariant(&r);
        assert_eq!(r.insert(0, b"ab"), 2); // offset 2 still missing
        assert_eq!(r.insert(0, b"c"), 5);
        assert_eq!(r.window(), 0);
        assert_eq!(r.peek(8), (&b"3abcwx"[..], &b"yz"[..]));
    }

    #[test]
    fn recv_set_capacity_and_release_during_growth() {
        let mut r = RecvRing::new(64);
        r.insert(0, b"abcdef");
        r.read(&mut [0u8; 2]);
        r.insert(10, b"KL");
        r.set_capacity(20); // mid-growth: held = 4 in order + 12 to the range's end
        recv_invariant(&r);
        assert_eq!((r.capacity(), r.buf.len(), r.head), (20, 16, 0));
        assert_eq!(r.insert(0, b"ghijklmnop"), 12);
        assert_eq!(concat(r.peek(20)), b"cdefghijklmnopKL");
        r.set_capacity(14);
        assert_eq!(r.capacity(), 16); // never below what is held
        r.release();
        assert!(!r.is_allocated());
        recv_invariant(&r);
        assert_eq!(r.insert(3, b"z"), 0);
        assert_eq!(r.buf.len(), 4);
        assert_eq!(r.insert(0, b"xyw"), 4);
        assert_eq!(concat(r.peek(20)), b"xywz");
    }

    /// Small operations on large rings, with frequent releases and capacity changes, so that
    /// most of the run is spent in the growth phase.
    #[test]
    fn growth_phase_matches_models() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..60 {
            let cap = 1 + rng.below(300);
            let step = 1 + rng.below(24);
            let mut b = SendRing::new(cap);
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut model_cap = cap;
            for _ in 0..300 {
                match rng.below(12) {
                    0..=4 => {
                        let n = rng.below(step + 1);
                        let data = rng.bytes(n);
                        let n = b.write(&data);
                        assert_eq!(n, data.len().min(model_cap - model.len()), "round {round}");
                        model.extend(&data[..n]);
                    }
                    5..=6 => {
                        let n = rng.below(step + 1);
                        b.consume(n);
                        model.drain(..n.min(model.len()));
                    }
                    7 if rng.below(4) == 0 => {
                        let c = rng.below(2 * cap + 1);
                        b.set_capacity(c);
                        model_cap = c.max(model.len());
                    }
                    8 if rng.below(6) == 0 => {
                        b.release();
                        model.clear();
                    }
                    _ => {
                        let off = rng.below(model.len() + 2);
                        let want: Vec<u8> = model.iter().skip(off).copied().collect();
                        assert_eq!(concat(b.slices_at(off, usize::MAX)), want);
                    }
                }
                send_invariant(&b);
                assert_eq!(b.len(), model.len());
                assert_eq!(b.capacity(), model_cap);
            }
        }

        for round in 0..60 {
            let cap = 1 + rng.below(300);
            let step = 1 + rng.below(24);
            let mut r = RecvRing::new(cap);
            let mut model_cap = cap;
            // Absolute stream positions, first copy wins; read_pos..nxt is in order.
            let mut stream: Vec<Option<u8>> = Vec::new();
            let (mut read_pos, mut nxt) = (0usize, 0usize);
            for _ in 0..300 {
                let window = model_cap - (nxt - read_pos);
                match rng.below(12) {
                    0..=5 => {
                        // Mostly near RCV.NXT, sometimes anywhere in the window.
                        let off = if rng.below(3) == 0 {
                            rng.below(window + 2)
                        } else {
                            rng.below(step + 1)
                        };
                        let n = 1 + rng.below(step);
                        let data = rng.bytes(n);
                        let lim = (nxt + window).min(nxt + off + data.len());
                        let mut trial = stream.clone();
                        if trial.len() < lim {
                            trial.resize(lim, None);
                        }
                        for p in nxt + off..lim {
                            trial[p].get_or_insert(data[p - nxt - off]);
                        }
                        let mut new_nxt = nxt;
                        while trial.get(new_nxt).is_some_and(|b| b.is_some()) {
                            new_nxt += 1;
                        }
                        let got = r.insert(off, &data);
                        if runs_of(&trial, new_nxt).len() > MAX_OOO_RANGES {
                            assert_eq!(got, 0, "round {round}");
                        } else {
                            assert_eq!(got, new_nxt - nxt, "round {round}");
                            stream = trial;
                            nxt = new_nxt;
                        }
                    }
                    6..=7 => {
                        let mut out = vec![0u8; rng.below(step + 1)];
                        let n = r.read(&mut out);
                        assert_eq!(n, out.len().min(nxt - read_pos));
                        for (k, byte) in out[..n].iter().enumerate() {
                            assert_eq!(Some(*byte), stream[read_pos + k]);
                        }
                        read_pos += n;
                    }
                    8 if rng.below(4) == 0 => {
                        let c = rng.below(2 * cap + 2);
                        r.set_capacity(c);
                        let held_end = runs_of(&stream, nxt).last().map_or(nxt, |x| x.1);
                        model_cap = c.max(held_end - read_pos);
                    }
                    9 if rng.below(6) == 0 => {
                        r.release();
                        stream.clear();
                        (read_pos, nxt) = (0, 0);
                    }
                    _ => {
                        let want: Vec<u8> =
                            stream[read_pos..nxt].iter().map(|b| b.unwrap()).collect();
                        assert_eq!(concat(r.peek(usize::MAX)), want);
                    }
                }
                recv_invariant(&r);
                assert_eq!(r.len(), nxt - read_pos);
                assert_eq!(r.capacity(), model_cap);
                let mut got: Vec<_> = r.ooo_ranges().collect();
                got.sort_unstable();
                let want: Vec<_> = runs_of(&stream, nxt)
                    .into_iter()
                    .map(|(s, e)| (s - nxt, e - nxt))
                    .collect();
                assert_eq!(got, want);
            }
        }
    }

    /// Maximal runs of held bytes at or after `from`, as absolute (start, end).
    fn runs_of(stream: &[Option<u8>], from: usize) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut p = from;
        while p < stream.len() {
            if stream[p].is_some() {
                let s = p;
                while p < stream.len() && stream[p].is_some() {
                    p += 1;
                }
                runs.push((s, p));
            } else {
                p += 1;
            }
        }
        runs
    }
}
