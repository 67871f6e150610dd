//! Zero-copy access to the rings: the free space of the send ring lent for writing, and
//! in-order bytes of the receive ring consumed after a caller has read them in place
//! ([`RecvBuffer::peek`] lends them).

use core::cmp::min;

use super::{alloc_ring, wrap_add, RecvRing, SendBuffer, SendRing};

impl SendRing {
    /// Lends up to `max` bytes of free space, as one or two slices (two when the space
    /// wraps around the end of the ring), to `fill`, which writes the bytes to send at
    /// the start of the first slice and on into the second, and returns how many it
    /// wrote; those bytes are appended as [`write`](SendBuffer::write) would. Returns the
    /// count taken (clamped to the space lent). The first call that lends anything
    /// allocates the ring; the space lent is initialized memory (zeroes or old bytes).
    pub fn write_with(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> usize {
        let n = min(max, self.free());
        if n == 0 {
            return 0;
        }
        if !self.is_allocated() {
            self.buf = alloc_ring(self.capacity);
            self.head = 0;
        }
        let start = wrap_add(self.head, self.len, self.capacity);
        let first = min(n, self.capacity - start);
        let second = n - first;
        // Held bytes never wrap while the ring is shorter than its capacity, so `start`
        // is within it; grow it (once per ring) to cover what is lent.
        let end = if second > 0 {
            self.capacity
        } else {
            start + first
        };
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let (low, high) = self.buf.split_at_mut(start);
        let a = &mut high[..first];
        let b = &mut low[..second];
        let wrote = fill(a, b).min(n);
        self.len += wrote;
        wrote
    }

    /// Forgets the last `n` bytes written (clamped to [`len`](SendBuffer::len)); they
    /// stay in place in the ring, so [`rewrite`](SendBuffer::rewrite) can take them
    /// back. Used when a lent write is taken only in part.
    pub fn unwrite(&mut self, n: usize) {
        self.len -= min(n, self.len);
    }

    /// Takes back `n` bytes forgotten by [`unwrite`](SendBuffer::unwrite) (clamped to
    /// the free room); the caller guarantees nothing was written since.
    pub fn rewrite(&mut self, n: usize) {
        self.len += min(n, self.free());
    }
}

impl RecvRing {
    /// Removes `n` in-order bytes from the front (clamped to [`len`](RecvBuffer::len))
    /// after the caller read them in place through [`peek`](RecvBuffer::peek).
    pub fn consume(&mut self, n: usize) -> usize {
        let n = min(n, self.len);
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
}

impl SendBuffer {
    /// Lends up to `max` bytes of free space to `fill` (see [`SendRing::write_with`]);
    /// the first call that lends anything allocates the ring.
    pub fn write_with(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> usize {
        let n = min(max, self.free());
        if n == 0 {
            return 0;
        }
        self.ring_for(n).write_with(n, fill)
    }

    /// Forgets the last `n` bytes written (clamped to [`len`](SendBuffer::len)); they
    /// stay in place in the ring, so [`rewrite`](SendBuffer::rewrite) can take them
    /// back. Used when a lent write is taken only in part.
    pub fn unwrite(&mut self, n: usize) {
        if let Some(r) = self.ring.as_mut() {
            r.unwrite(n);
        }
    }

    /// Takes back `n` bytes forgotten by [`unwrite`](SendBuffer::unwrite) (clamped to
    /// the free room); the caller guarantees nothing was written since.
    pub fn rewrite(&mut self, n: usize) {
        if let Some(r) = self.ring.as_mut() {
            r.rewrite(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::RecvBuffer;

    #[test]
    fn write_with_lends_wrapped_space_and_appends() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"abcdef"), 6);
        b.consume(4); // head at 4, "ef" held, 6 free: 2 at the end, 4 at the start
        let took = b.write_with(usize::MAX, |a, c| {
            assert_eq!((a.len(), c.len()), (2, 4));
            a.copy_from_slice(b"gh");
            c[..3].copy_from_slice(b"ijk");
            5
        });
        assert_eq!(took, 5);
        let mut out = [0u8; 8];
        let n = b.read_at(0, &mut out);
        assert_eq!(&out[..n], b"efghijk");
    }

    #[test]
    fn write_with_clamps_to_max_and_to_the_space_lent() {
        let mut b = SendBuffer::new(16);
        assert_eq!(b.write_with(3, |a, c| a.len() + c.len() + 100), 3);
        assert_eq!(b.len(), 3);
        assert_eq!(b.write(&[7u8; 20]), 13);
        assert_eq!(b.write_with(10, |a, c| a.len() + c.len()), 0);
    }

    #[test]
    fn consume_drops_what_peek_lent() {
        let mut r = RecvBuffer::new(8);
        assert_eq!(r.insert(0, b"hello"), 5);
        let (a, _) = r.peek(3);
        assert_eq!(a, b"hel");
        assert_eq!(r.consume(3), 3);
        let mut out = [0u8; 8];
        let n = r.read(&mut out);
        assert_eq!(&out[..n], b"lo");
        assert_eq!(r.consume(9), 0);
    }
}
