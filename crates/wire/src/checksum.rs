//! The internet checksum (RFC 1071), computed a machine word at a time.
//!
//! The checksum is the ones-complement of the ones-complement sum of the data taken as
//! big-endian 16-bit words, an odd final byte padded with a zero byte on the right
//! (RFC 1071 section 1). Because 2^16 = 1 modulo 2^16 - 1, the sum may be taken over wider
//! words and folded down at the end (RFC 1071 section 2 (B), "parallel summation"), and it
//! may be taken in either byte order and swapped once at the end (section 2 (B), "byte
//! order independence"). [`sum`] therefore adds the data as native-order 64-bit words with
//! end-around carry (an add and an add-with-carry per word), folds to 16 bits and swaps the
//! two bytes on little-endian machines: no per-word byte swap.
//!
//! # Accumulator
//!
//! Partial sums are `u64`s holding a value below 2^32. Up to 2^32 of them can therefore be
//! added with plain `+` without overflow, and the total folded with [`fold`]. A partial sum
//! of a slice only composes with others when that slice starts at an even offset of the
//! whole (true of every header and payload boundary in IP and TCP).

use std::net::IpAddr;

/// Folds a 64-bit accumulator to below 2^32 without changing it modulo 2^16 - 1, and
/// without turning a nonzero sum into zero.
#[inline]
fn fold32(acc: u64) -> u64 {
    let a = (acc >> 32) + (acc & 0xffff_ffff);
    (a >> 32) + (a & 0xffff_ffff)
}

/// `a + b` with end-around carry: congruent to the true sum modulo 2^64 - 1 (and hence
/// modulo 2^16 - 1), and nonzero unless both are zero. Compiles to `add` + `adc`.
#[inline(always)]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // No overflow here: with a carry, `s` is at most 2^64 - 2.
    s + u64::from(carry)
}

/// An 8-byte chunk as a native-order word.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_ne_bytes(w)
}

/// The native-order ones-complement sum of `data` (modulo 2^64 - 1, so modulo 2^16 - 1 as
/// well), added to `acc`. Zero only if `acc` and all of `data` are zero.
#[inline(always)]
fn sum_native(data: &[u8], acc: u64) -> u64 {
    // One carry chain over the words: each word adds with the carry of the one before
    // (2^64 is 1 modulo 2^64 - 1, so a carry out is end-around carry deferred to the
    // next add), which the compiler makes one `adc` with a memory operand per word.
    // 256 bytes a round, so that saving and restoring the carry flag around the loop's
    // own arithmetic costs little; then 32 bytes a round. (Linux's csum_partial is the
    // same chain, written in assembly.)
    let (mut acc, mut rest) = (acc, data);
    if data.len() >= 32 {
        // (Headers of 20 to 31 bytes skip the chain.)
        let mut carry = false;
        let mut add = |w: u64| {
            let (s, c1) = acc.overflowing_add(w);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            acc = s;
            carry = c1 | c2;
        };
        let mut blocks = data.chunks_exact(256);
        for c in &mut blocks {
            c.chunks_exact(8).for_each(|w| add(word(w)));
        }
        let mut chunks = blocks.remainder().chunks_exact(32);
        for c in &mut chunks {
            c.chunks_exact(8).for_each(|w| add(word(w)));
        }
        acc = add_carry(acc, u64::from(carry));
        rest = chunks.remainder();
    }
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        acc = add_carry(acc, word(w));
    }
    // The tail starts at an even offset, so its 4- and 2-byte pieces are whole 16-bit
    // words of the data and add in at any position.
    let mut rest = words.remainder();
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        acc = add_carry(acc, u64::from(u32::from_ne_bytes(*w)));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        acc = add_carry(acc, u64::from(u16::from_ne_bytes(*w)));
        rest = r;
    }
    if let [b] = rest {
        // The odd final byte, padded with a zero byte after it, in native order.
        acc = add_carry(acc, u64::from(u16::from_ne_bytes([*b, 0])));
    }
    acc
}

/// Folds a native-order sum to 16 bits and puts it into big-endian word order, as a
/// partial accumulator. Byte-swapping a 16-bit ones-complement sum is multiplying it by
/// 2^8 modulo 2^16 - 1, so swapping the folded sum of swapped words gives the sum of the
/// words; a nonzero sum stays nonzero.
#[inline(always)]
fn from_native(acc: u64) -> u64 {
    u64::from(fold(acc).to_be())
}

/// The ones-complement sum of `data` as big-endian 16-bit words, as a partial accumulator
/// (a `u64` below 2^32; see the module docs). An odd trailing byte counts as the high byte
/// of a final word.
pub fn sum(data: &[u8]) -> u64 {
    from_native(sum_native(data, 0))
}

/// The ones-complement sum of a header built whole in an array, as [`sum`] gives it: its
/// 32-bit words added as native-order `u64`s (at most 16 of them for the arrays a header
/// is built in, so no carry leaves 64 bits), then an odd 16-bit word and byte. The length
/// is known when compiled, so the adds are unrolled: a 20-byte TCP header is five adds,
/// its `nop,nop,TS` options three.
#[inline(always)]
pub fn sum_array<const N: usize>(data: &[u8; N]) -> u64 {
    const { assert!(N <= 64, "sum_array: headers of at most 64 bytes") };
    let mut words = data.chunks_exact(4);
    let mut acc = 0u64;
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    if rest.len() >= 2 {
        acc += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
    }
    if rest.len() & 1 == 1 {
        acc += u64::from(u16::from_ne_bytes([rest[rest.len() - 1], 0]));
    }
    from_native(acc)
}

/// The internet checksum of an IPv4 header without options (RFC 791 3.1): its five
/// 32-bit words added as native-order `u64`s (no carry can leave 64 bits), folded once.
pub fn ipv4_header_checksum(header: &[u8; 20]) -> u16 {
    let w = |i: usize| {
        u64::from(u32::from_ne_bytes([
            header[i],
            header[i + 1],
            header[i + 2],
            header[i + 3],
        ]))
    };
    !fold(from_native(w(0) + w(4) + w(8) + w(12) + w(16)))
}

/// Folds an accumulator to 16 bits with end-around carry. The result is the ones-complement
/// sum, *not* negated: a packet whose checksum field is correct folds to `0xffff`.
#[inline]
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
    // Native-order sums of the addresses (each a whole number of 16-bit words).
    let addr_sum = |a: &IpAddr| match a {
        IpAddr::V4(a) => u64::from(u32::from_ne_bytes(a.octets())),
        IpAddr::V6(a) => {
            let v = u128::from_ne_bytes(a.octets());
            add_carry((v >> 64) as u64, v as u64)
        }
    };
    let acc = from_native(add_carry(addr_sum(src), addr_sum(dst)))
        + u64::from(protocol)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff);
    fold32(acc)
}

/// Copies `src` into `dst` (of the same length) and returns the ones-complement sum of
/// the bytes copied as [`sum`] would: one pass over the data instead of a copy and a
/// sum (the payload of a segment is summed as it is written into the datagram).
///
/// # Panics
///
/// If the lengths differ (a programmer error, as with `copy_from_slice`).
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    assert_eq!(dst.len(), src.len(), "copy_and_sum: lengths differ");
    // The library's copy moves a cache line in a few vector instructions; the sum then
    // reads the copy while it is in L1. Fewer instructions than one fused scalar pass
    // that loads and stores every word itself.
    dst.copy_from_slice(src);
    sum(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_sum_copies_and_sums_as_sum_does() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(151) >> 3) as u8)
            .collect();
        for len in [0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 255, 300] {
            for start in [0, 1, 5] {
                let src = &data[start..(start + len).min(data.len())];
                let mut dst = vec![0u8; src.len()];
                let s = copy_and_sum(&mut dst, src);
                assert_eq!(dst, src);
                assert_eq!(fold(s), fold(sum(src)), "len {len} start {start}");
            }
        }
        let ones = [0xffu8; 40];
        let mut dst = [0u8; 40];
        assert_eq!(fold(copy_and_sum(&mut dst, &ones)), fold(sum(&ones)));
    }

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
    fn sum_array_is_sum() {
        fn check<const N: usize>(seed: u64) {
            for data in [[0u8; N], [0xff; N], noise(N, seed).try_into().unwrap()] {
                let (a, b) = (sum_array(&data), sum(&data));
                assert_eq!(fold(a), fold(b), "len {N}");
                assert_eq!(a == 0, b == 0, "len {N}: zero iff all zero");
            }
        }
        check::<0>(1);
        check::<1>(2);
        check::<2>(3);
        check::<3>(4);
        check::<12>(5);
        check::<20>(6);
        check::<22>(7);
        check::<23>(8);
        check::<32>(9);
        check::<60>(10);
        check::<64>(11);
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

    /// Deterministic bytes (xorshift) for the edge tests.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Checks `sum`/`checksum` on `data` against the reference, including the partial-sum
    /// contract (below 2^32, zero only for all-zero data).
    fn check(data: &[u8], what: &str) {
        let acc = sum(data);
        assert!(acc < 1 << 32, "{what}: partial sum {acc:#x} too wide");
        assert_eq!(
            acc == 0,
            data.iter().all(|&b| b == 0),
            "{what}: zero iff all zero"
        );
        assert_eq!(checksum(data), reference(data), "{what}");
        assert_eq!(!fold(acc), reference(data), "{what}");
    }

    #[test]
    fn every_length_and_alignment_up_to_64() {
        let buf = noise(64 + 8, 0x5eed);
        let ones = [0xffu8; 64 + 8];
        for start in 0..8 {
            for n in 0..=64 {
                check(
                    &buf[start..start + n],
                    &format!("noise start {start} len {n}"),
                );
                check(
                    &ones[start..start + n],
                    &format!("ones start {start} len {n}"),
                );
            }
        }
    }

    #[test]
    fn all_ones_and_zeros_at_many_lengths() {
        // All-0xff words carry out of every 64-bit add; the sum is 0xffff (never 0), or
        // 0xff00 with an odd byte at the end.
        let ones = vec![0xffu8; 70_000];
        for n in (0..300).chain([1459, 1460, 1461, 1480, 65_535, 65_536, 65_537, 70_000]) {
            check(&ones[..n], &format!("ones len {n}"));
            if n >= 2 {
                let want = if n % 2 == 0 { 0xffff } else { 0xff00 };
                assert_eq!(fold(sum(&ones[..n])), want, "len {n}");
            }
        }
        let zeros = vec![0u8; 1000];
        for n in 0..zeros.len() {
            assert_eq!(sum(&zeros[..n]), 0);
            assert_eq!(checksum(&zeros[..n]), 0xffff);
        }
        // A lone odd 0xff is the high byte of a word: 0xff00.
        assert_eq!(fold(sum(&[0xff])), 0xff00);
        assert_eq!(fold(sum(&[0, 0, 0xff])), 0xff00);
        assert_eq!(fold(sum(&[0xff, 0xff, 0xff])), 0xff00);
    }

    #[test]
    fn repeated_carries() {
        // Words just below and at the top of the range, so the end-around carry fires on
        // almost every add, in every lane of the unrolled loop, and carries chain.
        for pattern in [
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            [0xff, 0xff, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff],
            [0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
            [0xff, 0xfe, 0xff, 0xfe, 0xff, 0xfe, 0xff, 0xfe],
        ] {
            let data: Vec<u8> = pattern.iter().copied().cycle().take(4096 + 7).collect();
            for n in (0..200).chain([1000, 1001, 4095, 4096, 4103]) {
                for start in 0..3 {
                    let end = (start + n).min(data.len());
                    check(
                        &data[start..end],
                        &format!("{pattern:x?} start {start} len {n}"),
                    );
                }
            }
        }
        // Mostly 0xff with scattered zeros: many partial carries, result not all ones.
        let mut data = vec![0xffu8; 3000];
        for i in (0..data.len()).step_by(37) {
            data[i] = 0;
        }
        for n in [1, 2, 37, 64, 65, 1000, 2999, 3000] {
            check(&data[..n], &format!("sparse zeros len {n}"));
        }
    }

    #[test]
    fn ipv4_header_checksum_is_the_checksum_of_the_header() {
        let buf = noise(20 * 500, 0x1234);
        let mut headers: Vec<[u8; 20]> = buf
            .chunks_exact(20)
            .map(|c| c.try_into().unwrap())
            .collect();
        headers.push([0xff; 20]);
        headers.push([0; 20]);
        for h in &headers {
            assert_eq!(ipv4_header_checksum(h), checksum(h), "{h:x?}");
            // With its checksum in place, the header sums to all ones (RFC 1071 4.1).
            let mut filled = *h;
            filled[10..12].fill(0);
            let c = ipv4_header_checksum(&filled);
            filled[10..12].copy_from_slice(&c.to_be_bytes());
            assert_eq!(fold(sum(&filled)), 0xffff);
        }
    }

    #[test]
    fn random_lengths_and_offsets() {
        let buf = noise(5000, 0xdead_beef);
        let mut x: u64 = 0x1234_5678;
        for _ in 0..2000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let start = (x >> 40) as usize % 64;
            let n = (x >> 16) as usize % (buf.len() - start);
            check(&buf[start..start + n], &format!("start {start} len {n}"));
        }
    }

    #[test]
    fn partial_sums_compose_at_every_even_split() {
        let data = noise(200, 77);
        for n in [0, 1, 2, 63, 64, 65, 199, 200] {
            let whole = fold(sum(&data[..n]));
            for cut in (0..=n).step_by(2) {
                let parts = sum(&data[..cut]) + sum(&data[cut..n]);
                assert_eq!(fold(parts), whole, "len {n} cut {cut}");
            }
        }
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        for seed in 1..50u64 {
            let b = noise(32, seed);
            let length = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) >> (seed % 32);
            let proto = b[4];
            let v4 = |o: &[u8]| IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]));
            let (s4, d4) = (v4(&b[0..4]), v4(&b[4..8]));
            let mut ph = b[0..8].to_vec();
            ph.extend_from_slice(&[0, proto]);
            ph.extend_from_slice(&((length & 0xffff) as u16).to_be_bytes());
            ph.extend_from_slice(&((length >> 16) as u16).to_be_bytes());
            let acc = pseudo_header_sum(&s4, &d4, proto, length);
            assert!(acc < 1 << 32);
            assert_eq!(fold(acc), !reference(&ph), "v4 seed {seed}");

            let v6 = |o: &[u8]| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(o).unwrap()));
            let (s6, d6) = (v6(&b[0..16]), v6(&b[16..32]));
            let mut ph = b.clone();
            ph.extend_from_slice(&length.to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, proto]);
            assert_eq!(
                fold(pseudo_header_sum(&s6, &d6, proto, length)),
                !reference(&ph),
                "v6 seed {seed}"
            );
        }
        // All-ones addresses carry everywhere.
        let ones6 = IpAddr::V6(Ipv6Addr::from([0xff; 16]));
        let mut ph = vec![0xff; 32];
        ph.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff]);
        assert_eq!(
            fold(pseudo_header_sum(&ones6, &ones6, 0xff, u32::MAX)),
            !reference(&ph)
        );
    }

    #[test]
    fn partial_sums_compose_at_even_offsets() {
        let data: [u8; 30] = core::array::from_fn(|i| (i * 11) as u8);
        let whole = fold(sum(&data));
        assert_eq!(fold(sum(&data[..10]) + sum(&data[10..])), whole);
        assert_eq!(fold(sum(&data[..16]) + sum(&data[16..])), whole);
    }
}
