//! The internet checksum (RFC 1071), computed a machine word at a time.
//!
//! The checksum is the ones-complement of the ones-complement sum of the data taken as
//! big-endian 16-bit words, an odd final byte padded with a zero byte on the right
//! (RFC 1071 section 1). Because 2^16 = 1 modulo 2^16 - 1, the sum may be taken over wider
//! words and folded down at the end (RFC 1071 section 2 (B), "parallel summation"): [`sum`]
//! adds the data as 32-bit halves of 64-bit words into a `u64` accumulator and folds once.
//!
//! # Accumulator
//!
//! Partial sums are `u64`s holding a value below 2^32. Up to 2^32 of them can therefore be
//! added with plain `+` without overflow, and the total folded with [`fold`]. A partial sum
//! of a slice only composes with others when that slice starts at an even offset of the
//! whole (true of every header and payload boundary in IP and TCP).

use std::net::IpAddr;

/// Bytes summed between folds, so that the accumulator cannot overflow on any input.
const BLOCK: usize = 1 << 20;

/// Folds a 64-bit accumulator to below 2^32 without changing it modulo 2^16 - 1, and
/// without turning a nonzero sum into zero.
#[inline]
fn fold32(acc: u64) -> u64 {
    let a = (acc >> 32) + (acc & 0xffff_ffff);
    (a >> 32) + (a & 0xffff_ffff)
}

/// The ones-complement sum of `data` as big-endian 16-bit words, as a partial accumulator
/// (a `u64` below 2^32; see the module docs). An odd trailing byte counts as the high byte
/// of a final word.
pub fn sum(data: &[u8]) -> u64 {
    let mut total: u64 = 0;
    for block in data.chunks(BLOCK) {
        let mut acc: u64 = 0;
        let mut words = block.chunks_exact(8);
        for w in &mut words {
            let v = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            acc += (v >> 32) + (v & 0xffff_ffff);
        }
        let rest = words.remainder();
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        let v = u64::from_be_bytes(tail);
        acc += (v >> 32) + (v & 0xffff_ffff);
        total = fold32(total + fold32(acc));
    }
    total
}

/// Folds an accumulator to 16 bits with end-around carry. The result is the ones-complement
/// sum, *not* negated: a packet whose checksum field is correct folds to `0xffff`.
pub fn fold(acc: u64) -> u16 {
    let mut a = fold32(acc);
    a = (a >> 16) + (a & 0xffff);
    a = (a >> 16) + (a & 0xffff);
    a as u16
}

/// The internet checksum of `data`: `!fold(sum(data))`.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// The partial sum of the pseudo-header that TCP's checksum covers.
///
/// IPv4 (RFC 9293 section 3.1): source, destination, zero, protocol, TCP length (16 bits).
/// IPv6 (RFC 8200 section 8.1): source, destination, upper-layer length (32 bits), three
/// zero bytes, next header. Both come to the same words modulo 2^16 - 1, so one sum serves.
/// Mixing an IPv4 and an IPv6 address is a programmer error; it does not panic and
/// returns the sum over both addresses as given.
pub fn pseudo_header_sum(src: &IpAddr, dst: &IpAddr, protocol: u8, length: u32) -> u64 {
    let addr_sum = |a: &IpAddr| match a {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    };
    let acc = addr_sum(src)
        + addr_sum(dst)
        + u64::from(protocol)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff);
    fold32(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-at-a-time reference, straight from RFC 1071's description.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]) << 8;
            let lo = data.get(i + 1).map_or(0, |&b| u32::from(b));
            acc += hi | lo;
            acc = (acc & 0xffff) + (acc >> 16);
            i += 2;
        }
        !(acc as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_lengths_match_reference() {
        let mut data = [0u8; 67];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
        }
        for n in 0..=data.len() {
            assert_eq!(checksum(&data[..n]), reference(&data[..n]), "len {n}");
        }
        let ones = [0xffu8; 33];
        for n in 0..=ones.len() {
            assert_eq!(checksum(&ones[..n]), reference(&ones[..n]), "ones len {n}");
        }
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0, 0, 0]), 0xffff);
        assert_eq!(fold(0), 0);
    }

    #[test]
    fn partial_sums_compose_at_even_offsets() {
        let data: [u8; 30] = core::array::from_fn(|i| (i * 11) as u8);
        let whole = fold(sum(&data));
        assert_eq!(fold(sum(&data[..10]) + sum(&data[10..])), whole);
        assert_eq!(fold(sum(&data[..16]) + sum(&data[16..])), whole);
    }
}
