//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 section 3.4).
//!
//! Sequence space wraps, so "a < b" only makes sense for numbers less than 2^31 apart.
//! [`SeqNum`] therefore has no `PartialOrd`/`Ord`: comparisons are spelled
//! [`before`](SeqNum::before) and [`after`](SeqNum::after), the RFC's `<` and `>` on
//! sequence numbers, which look at the sign of the wrapping difference.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgment) number, with modular arithmetic and comparisons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self < other` in sequence space: the wrapping difference `self - other` is
    /// negative as an `i32` (RFC 9293 3.4, "<" on sequence numbers).
    #[inline]
    pub fn before(self, other: SeqNum) -> bool {
        (self - other) < 0
    }

    /// `self <= other` in sequence space.
    #[inline]
    pub fn before_eq(self, other: SeqNum) -> bool {
        (self - other) <= 0
    }

    /// `self > other` in sequence space.
    #[inline]
    pub fn after(self, other: SeqNum) -> bool {
        (self - other) > 0
    }

    /// `self >= other` in sequence space.
    #[inline]
    pub fn after_eq(self, other: SeqNum) -> bool {
        (self - other) >= 0
    }

    /// The later of the two in sequence order.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.after(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of the two in sequence order.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.before(other) {
            self
        } else {
            other
        }
    }

    /// `start <= self < start + len`, modulo 2^32. Always false when `len` is 0.
    ///
    /// This is the building block of RFC 9293 3.10.7.4's acceptability test
    /// (`RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND`).
    #[inline]
    pub fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u32> for SeqNum {
    #[inline]
    fn sub_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_sub(rhs);
    }
}

/// The signed distance from `rhs` to `self`, wrapping: positive when `self` is after `rhs`.
impl Sub<SeqNum> for SeqNum {
    type Output = i32;
    #[inline]
    fn sub(self, rhs: SeqNum) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20; // wrapped to 9
        assert_eq!(b, SeqNum(9));
        assert!(a.before(b));
        assert!(b.after(a));
        assert!(a.before_eq(b) && a.before_eq(a));
        assert!(b.after_eq(a) && b.after_eq(b));
        assert!(!a.after(b) && !b.before(a));
        assert_eq!(b - a, 20);
        assert_eq!(a - b, -20);
        assert_eq!(b - 20u32, a);
        assert_eq!(a.max(b), b);
        assert_eq!(b.max(a), b);
        assert_eq!(a.min(b), a);
        assert_eq!(b.min(a), a);
        let mut c = a;
        c += 11;
        assert_eq!(c, SeqNum(0));
        c -= 1;
        assert_eq!(c, SeqNum(u32::MAX));
    }

    #[test]
    fn window_across_wrap() {
        let start = SeqNum(u32::MAX - 1);
        assert!(start.in_window(start, 4));
        assert!(SeqNum(u32::MAX).in_window(start, 4));
        assert!(SeqNum(0).in_window(start, 4));
        assert!(SeqNum(1).in_window(start, 4));
        assert!(!SeqNum(2).in_window(start, 4));
        assert!(!SeqNum(u32::MAX - 2).in_window(start, 4));
        assert!(!start.in_window(start, 0));
    }

    #[test]
    fn half_space_boundary() {
        let a = SeqNum(0);
        // 2^31 - 1 ahead is after; exactly 2^31 apart is "before" from both sides'
        // i32 view (the RFC leaves this case undefined; we just must not panic).
        assert!(SeqNum(0x7fff_ffff).after(a));
        assert!(SeqNum(0x8000_0000).before(a));
        assert_eq!(SeqNum(7).to_string(), "7");
    }
}
