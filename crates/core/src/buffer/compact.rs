//! The buffers as a connection holds them: a capacity and a pointer (16 bytes each), the
//! ring and its positions out of line while it holds memory (issue 9: an idle connection
//! costs at most 512 bytes in all, payload aside). Every operation is the ring's own
//! ([`SendRing`], [`RecvRing`]); these types create the ring on the first byte, drop it
//! on release, and size it to the traffic: the capacity is what the socket may hold (its
//! window), the ring's memory starts at [`MIN_RING`] bytes and doubles as the data needs
//! it, up to the capacity (as Linux's socket memory follows the queued skbs rather than
//! SO_RCVBUF). A short exchange on a socket with large buffers touches a kilobyte, not
//! the whole buffer; a steady transfer reallocates a handful of times, then never.

use core::cmp::min;
use core::fmt;

use super::{OooIter, RecvRing, Refused, SendRing, MAX_CAPACITY};

/// The smallest ring allocated: a kilobyte, enough for a request or a reply, and a size
/// the allocator keeps in its per-thread cache (glibc's tcache holds blocks up to 1032
/// bytes), so that a short exchange's rings cost a cached block each, not a trip into
/// the heap (issue 9: a 4096-byte first ring cost about 1,100 more instructions per
/// connection lifecycle).
pub const MIN_RING: usize = 1024;

/// The ring size that holds `needed` bytes, growing from `current`: at least double
/// (so a transfer reallocates O(log capacity) times), a power of two from [`MIN_RING`],
/// at most `limit`.
fn grown(current: usize, needed: usize, limit: usize) -> usize {
    needed
        .max(MIN_RING)
        .next_power_of_two()
        .max(current.saturating_mul(2))
        .min(limit)
}

/// The send buffer: a ring of bytes from the oldest unacknowledged byte (SND.UNA) onward,
/// holding unacked and unsent data. Memory is allocated on first write, never before, and
/// freed by [`release`](SendBuffer::release).
///
/// Offset 0 is always `SND.UNA`; the connection keeps `SND.NXT - SND.UNA` itself and asks for
/// views with [`slices_at`](SendBuffer::slices_at) when it builds a segment, then calls
/// [`consume`](SendBuffer::consume) when an ACK advances `SND.UNA`.
pub struct SendBuffer {
    pub(super) ring: Option<Box<SendRing>>,
    pub(super) capacity: usize,
}

impl fmt::Debug for SendBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBuffer")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("allocated", &self.is_allocated())
            .finish()
    }
}

impl SendBuffer {
    /// An empty send buffer that will hold up to `capacity` bytes (clamped to
    /// [`MAX_CAPACITY`]). Allocates nothing.
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            ring: None,
            capacity: min(capacity, MAX_CAPACITY),
        }
    }

    /// The ring, created if absent, with room for `n` more bytes (`n` at most
    /// [`free`](SendBuffer::free)).
    pub(super) fn ring_for(&mut self, n: usize) -> &mut SendRing {
        let (cap, needed) = (self.capacity, self.len() + n);
        let ring = self.ring.get_or_insert_with(|| Box::new(SendRing::new(0)));
        if ring.capacity() < needed {
            ring.set_capacity(grown(ring.capacity(), needed, cap));
        }
        ring
    }

    /// The memory the ring has room for now (0 without one): what it allocated or will
    /// allocate at its first byte, at most [`capacity`](SendBuffer::capacity).
    pub fn ring_size(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.capacity())
    }

    /// The ring's size once `n` more bytes are written (its growth is decided here and
    /// in [`ring_for`](SendBuffer::ring_for) alike), for the memory budget to judge
    /// before the write.
    pub fn ring_size_after(&self, n: usize) -> usize {
        let (have, needed) = (self.ring_size(), self.len() + min(n, self.free()));
        if have >= needed {
            have
        } else {
            grown(have, needed, self.capacity)
        }
    }

    /// The most bytes the buffer holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity, never below [`len`](SendBuffer::len) nor above
    /// [`MAX_CAPACITY`]. If memory is already allocated it is reallocated at the new size
    /// with the content preserved; otherwise nothing is allocated.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.clamp(self.len(), MAX_CAPACITY);
        if let Some(r) = self.ring.as_mut().filter(|r| r.capacity() > self.capacity) {
            r.set_capacity(self.capacity);
        }
    }

    /// Bytes held: unacknowledged plus not yet sent.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.len())
    }

    /// Whether the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room left for [`write`](SendBuffer::write).
    #[inline]
    pub fn free(&self) -> usize {
        self.capacity - self.len()
    }

    /// Whether the ring's memory is currently allocated.
    pub fn is_allocated(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.is_allocated())
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken. The first
    /// write that stores anything allocates the ring.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = min(data.len(), self.free());
        if n == 0 {
            return 0;
        }
        self.ring_for(n).write(&data[..n])
    }

    /// A zero-copy view of the bytes `[offset, offset + len)` counted from the head
    /// (SND.UNA), clamped to [`len`](SendBuffer::len). The second slice is non-empty only
    /// when the range wraps around the end of the ring.
    #[inline]
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        match self.ring.as_ref() {
            Some(r) => r.slices_at(offset, len),
            None => (&[], &[]),
        }
    }

    /// Copies bytes from `offset` past the head into `out` (as many as `out` holds, clamped
    /// to what is buffered) and returns the count copied.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        self.ring.as_ref().map_or(0, |r| r.read_at(offset, out))
    }

    /// Drops `n` acknowledged bytes from the head (clamped to [`len`](SendBuffer::len)),
    /// i.e. `SND.UNA` advanced by `n`.
    pub fn consume(&mut self, n: usize) {
        if let Some(r) = self.ring.as_mut() {
            r.consume(n);
        }
    }

    /// Whether the ring exists (it is created by the first byte stored and dropped by
    /// [`release`](SendBuffer::release)).
    #[inline]
    pub fn holds_ring(&self) -> bool {
        self.ring.is_some()
    }

    /// Drops all content and returns the memory; the capacity setting is kept, and the next
    /// write allocates again.
    pub fn release(&mut self) {
        self.ring = None;
    }
}

/// The receive buffer with reassembly (RFC 9293 3.10.7.4 "seventh, process the segment
/// text"; RFC 2018 for SACK): see [`RecvRing`] for how data and out-of-order ranges are
/// held. Memory is allocated by the first insert that stores bytes and freed by
/// [`release`](RecvBuffer::release).
pub struct RecvBuffer {
    pub(super) ring: Option<Box<RecvRing>>,
    pub(super) capacity: usize,
}

impl fmt::Debug for RecvBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ring.as_ref() {
            Some(r) => r.fmt(f),
            None => f
                .debug_struct("RecvBuffer")
                .field("capacity", &self.capacity)
                .field("allocated", &false)
                .finish(),
        }
    }
}

impl RecvBuffer {
    /// An empty receive buffer of `capacity` bytes (clamped to [`MAX_CAPACITY`]).
    /// Allocates nothing.
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ring: None,
            capacity: min(capacity, MAX_CAPACITY),
        }
    }

    /// The ring's size: in-order data plus the receive window.
    #[inline]
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
        let held = self.len() + self.ooo_end();
        self.capacity = capacity.clamp(held, MAX_CAPACITY);
        if let Some(r) = self.ring.as_mut().filter(|r| r.capacity() > self.capacity) {
            r.set_capacity(self.capacity);
        }
    }

    /// The memory the ring has room for now (0 without one); see
    /// [`SendBuffer::ring_size`].
    pub fn ring_size(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.capacity())
    }

    /// The ring's size once `len` bytes at `offset` past RCV.NXT are stored with the
    /// capacity set to `capacity` first, as [`try_insert`](RecvBuffer::try_insert)
    /// would grow it, for the memory budget to judge before the insert.
    pub fn ring_size_after(&self, offset: usize, len: usize, capacity: usize) -> usize {
        let capacity = capacity.clamp(self.len() + self.ooo_end(), MAX_CAPACITY);
        let (have, window) = (self.ring_size(), capacity.saturating_sub(self.len()));
        if len == 0 || offset >= window {
            return have;
        }
        let needed = self.len() + offset + min(len, window - offset);
        if have >= needed {
            have
        } else {
            grown(have, needed, capacity)
        }
    }

    /// Drops the highest out-of-order range if it starts at or past `from` (an offset
    /// from RCV.NXT), as Linux's tcp_prune_ofo_queue drops the last skb, and shrinks the
    /// ring to what is still held (at least [`MIN_RING`], a power of two) so the memory
    /// goes back. Returns the range dropped.
    pub fn prune_ooo_from(&mut self, from: usize) -> Option<(usize, usize)> {
        let ring = self.ring.as_mut()?;
        let dropped = ring.drop_last_ooo(from)?;
        let held = ring.len() + ring.ooo_end();
        let size = grown(0, held, self.capacity);
        if size < ring.capacity() {
            ring.set_capacity(size);
        }
        Some(dropped)
    }

    /// In-order bytes waiting for the application.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.len())
    }

    /// Whether no in-order bytes are waiting (out-of-order data may still be held).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `capacity() - len()`: how many bytes past RCV.NXT the buffer can take, i.e. the
    /// largest receive window the connection may offer (see [`RecvRing::window`]).
    #[inline]
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    /// Whether the ring's memory is currently allocated.
    pub fn is_allocated(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.is_allocated())
    }

    /// Stores `data`, whose first byte is `offset` bytes past RCV.NXT; returns by how much
    /// RCV.NXT advances (see [`RecvRing::insert`]).
    pub fn insert(&mut self, offset: usize, data: &[u8]) -> usize {
        self.try_insert(offset, data).unwrap_or(0)
    }

    /// [`RecvBuffer::insert`], saying why nothing was stored: [`Refused::Window`] when
    /// no byte of `data` is inside the window, [`Refused::Ranges`] when out-of-order data
    /// would need a 17th range (the segment a receiver counts as TCPOFODrop). Empty
    /// `data` is `Ok(0)`.
    pub fn try_insert(&mut self, offset: usize, data: &[u8]) -> Result<usize, Refused> {
        if data.is_empty() {
            return Ok(0);
        }
        let window = self.window();
        if offset >= window {
            return Err(Refused::Window);
        }
        // The ring grows to hold the data up to the window's edge.
        let end = offset + min(data.len(), window - offset);
        let (cap, needed) = (self.capacity, self.len() + end);
        let ring = self.ring.get_or_insert_with(|| Box::new(RecvRing::new(0)));
        if ring.capacity() < needed {
            // A segment refused for want of ranges grows nothing (the reassembly
            // attack of attacks_reassembly.rs allocates no more than it did).
            if ring.run_of(offset, end).is_none() {
                return Err(Refused::Ranges);
            }
            ring.set_capacity(grown(ring.capacity(), needed, cap));
        }
        ring.try_insert(offset, &data[..end - offset])
    }

    /// Hands in-order bytes to the application: copies up to `out.len()` of them into `out`,
    /// removes them, and returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        self.ring.as_mut().map_or(0, |r| r.read(out))
    }

    /// A zero-copy view of up to `len` in-order bytes from the front, without removing
    /// them. The second slice is non-empty only when the data wraps around the ring.
    #[inline]
    pub fn peek(&self, len: usize) -> (&[u8], &[u8]) {
        match self.ring.as_ref() {
            Some(r) => r.peek(len),
            None => (&[], &[]),
        }
    }

    /// Out-of-order ranges held, as (start, end) offsets from RCV.NXT, for SACK blocks: the
    /// range containing the most recently inserted segment first (RFC 2018 section 4), then
    /// the others most recently touched first. Allocates nothing.
    pub fn ooo_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        OooIter {
            ranges: self.ring.as_ref().map_or(&[][..], |r| r.ranges()),
            below: u64::MAX,
        }
    }

    /// Out-of-order ranges held, as (start, end) offsets from RCV.NXT, in sequence order.
    pub fn ooo_sorted(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ring
            .as_ref()
            .map_or(&[][..], |r| r.ranges())
            .iter()
            .map(|r| (r.start, r.end))
    }

    /// Whether any out-of-order data is held.
    #[inline]
    pub fn has_ooo(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.has_ooo())
    }

    /// The end of the highest out-of-order range, as an offset from RCV.NXT; 0 if none.
    pub fn ooo_end(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.ooo_end())
    }

    /// Removes `n` in-order bytes from the front (clamped to [`len`](RecvBuffer::len))
    /// after the caller read them in place through [`peek`](RecvBuffer::peek).
    pub fn consume(&mut self, n: usize) -> usize {
        self.ring.as_mut().map_or(0, |r| r.consume(n))
    }

    /// Whether the ring exists (see [`SendBuffer::holds_ring`]).
    #[inline]
    pub fn holds_ring(&self) -> bool {
        self.ring.is_some()
    }

    /// Drops all content (in-order and out-of-order) and returns the memory; the capacity
    /// setting is kept.
    pub fn release(&mut self) {
        self.ring = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(v: (&[u8], &[u8])) -> Vec<u8> {
        [v.0, v.1].concat()
    }

    #[test]
    fn an_unused_buffer_is_two_words_and_allocates_nothing() {
        assert_eq!(size_of::<SendBuffer>(), 16);
        assert_eq!(size_of::<RecvBuffer>(), 16);
        let mut s = SendBuffer::new(100);
        let mut r = RecvBuffer::new(100);
        // Calls that store nothing leave the ring absent.
        assert_eq!(s.write(&[]), 0);
        assert_eq!(s.write_with(0, |_, _| 0), 0);
        s.consume(5);
        s.set_capacity(200);
        assert_eq!(r.try_insert(200, b"x"), Err(Refused::Window));
        assert_eq!(r.insert(0, &[]), 0);
        assert_eq!(r.read(&mut [0; 4]), 0);
        r.set_capacity(50);
        assert!(s.ring.is_none() && r.ring.is_none());
        assert_eq!(
            (s.capacity(), s.free(), r.capacity(), r.window()),
            (200, 200, 50, 50)
        );
        // The first byte creates the ring; release drops it, keeping the capacity.
        assert_eq!(s.write(b"abc"), 3);
        assert_eq!(r.insert(2, b"cd"), 0);
        assert!(s.is_allocated() && r.is_allocated() && r.has_ooo());
        s.release();
        r.release();
        assert!(s.ring.is_none() && r.ring.is_none());
        assert_eq!((s.capacity(), r.capacity()), (200, 50));
    }

    #[test]
    fn rings_grow_with_the_data_up_to_the_capacity() {
        let mut s = SendBuffer::new(1 << 20);
        assert_eq!(s.write(&[1; 100]), 100);
        assert_eq!((s.ring_size(), s.free()), (MIN_RING, (1 << 20) - 100));
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        assert_eq!(s.write(&data), 20_000);
        assert_eq!(s.ring_size(), 32_768); // 20,100 bytes: doubled to the next power of two
        s.consume(100);
        assert_eq!(
            concat(s.slices_at(0, 20_000)),
            data,
            "content kept across growth"
        );
        let lent = s.write_with(1 << 20, |a, b| a.len() + b.len());
        assert_eq!((lent, s.ring_size()), ((1 << 20) - 20_000, 1 << 20));
        // Never past the capacity, and a smaller capacity shrinks a larger ring.
        s.consume(1 << 20);
        s.set_capacity(10_000);
        assert_eq!((s.ring_size(), s.capacity()), (10_000, 10_000));

        let mut r = RecvBuffer::new(1 << 20);
        assert_eq!(r.insert(0, b"abc"), 3);
        assert_eq!(r.ring_size(), MIN_RING);
        // Out of order, far ahead: the ring covers it at once.
        assert_eq!(r.insert(50_000, b"xyz"), 0);
        assert_eq!(r.ring_size(), 65_536);
        assert_eq!(r.insert(0, &[7u8; 50_000]), 50_003);
        let mut out = vec![0u8; 60_000];
        assert_eq!(r.read(&mut out), 50_006);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(&out[50_003..50_006], b"xyz");
        assert_eq!(
            r.window(),
            1 << 20,
            "the window is the capacity, not the ring"
        );
    }

    #[test]
    fn a_short_message_gets_a_small_ring() {
        // A request of a few hundred bytes on a socket with megabyte buffers: the
        // ring holds a kilobyte, not a page (the allocator caches blocks that small).
        let mut s = SendBuffer::new(4 << 20);
        let mut r = RecvBuffer::new(6 << 20);
        assert_eq!(s.write(&[1; 300]), 300);
        assert_eq!(r.insert(0, &[2; 300]), 300);
        assert_eq!((s.ring_size(), r.ring_size()), (1024, 1024));
        // A full segment's worth grows the ring to the next power of two at once.
        assert_eq!(s.write(&[3; 1448]), 1448);
        assert_eq!(s.ring_size(), 2048);
    }

    /// The compact buffers answer every call as the rings they wrap do.
    #[test]
    fn buffers_behave_as_their_rings() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for cap in [0usize, 1, 7, 64, 1000, MIN_RING + 1, 3 * MIN_RING] {
            let (mut s, mut sr) = (SendBuffer::new(cap), SendRing::new(cap));
            let (mut r, mut rr) = (RecvBuffer::new(cap), RecvRing::new(cap));
            for step in 0..3000u32 {
                let data: Vec<u8> = (0..next(80)).map(|i| (i as u32 + step) as u8).collect();
                match next(9) {
                    0 => assert_eq!(s.write(&data), sr.write(&data)),
                    1 => {
                        let n = next(100);
                        s.consume(n);
                        sr.consume(n);
                    }
                    2 => {
                        let c = next(2000);
                        s.set_capacity(c);
                        sr.set_capacity(c);
                    }
                    3 => {
                        let off = next(cap + 10);
                        assert_eq!(r.try_insert(off, &data), rr.try_insert(off, &data));
                    }
                    4 => {
                        let mut a = vec![0u8; next(90)];
                        let mut b = a.clone();
                        assert_eq!(r.read(&mut a), rr.read(&mut b));
                        assert_eq!(a, b);
                    }
                    5 => {
                        let c = next(2000);
                        r.set_capacity(c);
                        rr.set_capacity(c);
                    }
                    6 => {
                        let n = next(50);
                        assert_eq!(r.consume(n), rr.consume(n));
                    }
                    7 => {
                        let m = next(60);
                        // The lent bytes are written: what lent space holds before is unspecified.
                        let fill = |a: &mut [u8], _: &mut [u8]| {
                            let k = a.len().min(3);
                            a[..k].fill(0xab);
                            k
                        };
                        assert_eq!(s.write_with(m, fill), sr.write_with(m, fill));
                    }
                    _ => {
                        s.release();
                        sr = SendRing::new(s.capacity());
                        r.release();
                        rr = RecvRing::new(r.capacity());
                    }
                }
                assert_eq!(
                    (s.len(), s.free(), s.capacity()),
                    (sr.len(), sr.free(), sr.capacity())
                );
                let (off, len) = (next(50), next(100));
                assert_eq!(
                    concat(s.slices_at(off, len)),
                    concat(sr.slices_at(off, len))
                );
                assert_eq!(
                    (r.len(), r.window(), r.capacity()),
                    (rr.len(), rr.window(), rr.capacity())
                );
                assert_eq!(concat(r.peek(len)), concat(rr.peek(len)));
                assert!(r.ooo_ranges().eq(rr.ooo_ranges()));
                assert!(r.ooo_sorted().eq(rr.ooo_sorted()));
                assert_eq!((r.has_ooo(), r.ooo_end()), (rr.has_ooo(), rr.ooo_end()));
            }
        }
    }
}
