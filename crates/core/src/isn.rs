//! Initial sequence numbers (RFC 6528) and the keyed hash behind them.
//!
//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), from the
//! `siphasher` crate, serves as the pseudo-random function F of RFC 6528; SYN cookies and
//! the engine's other secret-dependent choices use [`siphash24`] the same way. The keys
//! come from the operating system's random source unless the configuration is seeded
//! (see [`crate::Config::seed`]).

use crate::time::Instant;
use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

/// SipHash-2-4 of `data` under `key` (key and message words little-endian, as in the
/// paper and its reference implementation).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    SipHasher24::new_with_key(key).hash(data)
}

/// A keyed pseudo-random 32-bit value of two socket addresses and a `salt` byte under
/// `secret` (timestamp offsets, port offsets).
pub(crate) fn keyed_u32(secret: &[u8; 16], salt: u8, local: SocketAddr, remote: SocketAddr) -> u32 {
    let mut buf = [0u8; 40];
    let mut n = 0;
    for a in [local, remote] {
        match a.ip() {
            IpAddr::V4(v4) => {
                buf[n..n + 4].copy_from_slice(&v4.octets());
                n += 4;
            }
            IpAddr::V6(v6) => {
                buf[n..n + 16].copy_from_slice(&v6.octets());
                n += 16;
            }
        }
        buf[n..n + 2].copy_from_slice(&a.port().to_be_bytes());
        n += 2;
    }
    buf[n] = salt;
    siphash24(secret, &buf[..=n]) as u32
}

/// The timestamp offset of every connection between two addresses under `secret`:
/// keyed by the addresses only, not the ports, as Linux's secure_tcp_ts_off(saddr,
/// daddr) is, so every connection between two hosts reads one clock (what PAWS across
/// connections and tcp_tw_reuse rely on). A function of the tuple, so that TIME-WAIT
/// records need not store it (tw_table.rs).
pub(crate) fn ts_offset(secret: &[u8; 16], local: IpAddr, remote: IpAddr) -> u32 {
    keyed_u32(
        secret,
        1,
        SocketAddr::new(local, 0),
        SocketAddr::new(remote, 0),
    )
}

/// A [`Hasher`] running SipHash-2-4 with a fixed key. Writes are buffered, so the result
/// depends only on the concatenation of everything written (like [`siphash24`] over it),
/// not on how it was split; `finish` does not consume the state.
#[derive(Clone)]
pub struct KeyedHasher {
    inner: SipHasher24,
}

impl fmt::Debug for KeyedHasher {
    /// The key is secret and not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedHasher").finish_non_exhaustive()
    }
}

impl KeyedHasher {
    /// A hasher keyed with `key`, having absorbed nothing.
    pub fn new(key: &[u8; 16]) -> KeyedHasher {
        KeyedHasher {
            inner: SipHasher24::new_with_key(key),
        }
    }
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.inner.write(bytes);
    }

    fn finish(&self) -> u64 {
        self.inner.finish()
    }
}

/// A [`BuildHasher`] for hash maps keyed by 4-tuples and the like: every hasher it builds
/// runs SipHash-2-4 with the same key, so hashing is deterministic given the key yet
/// unpredictable to peers who do not know it.
#[derive(Clone)]
pub struct KeyedState {
    key: [u8; 16],
}

impl KeyedState {
    /// A builder for hashers keyed with `key`.
    pub fn new(key: [u8; 16]) -> Self {
        KeyedState { key }
    }
}

impl fmt::Debug for KeyedState {
    /// The key is secret and not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedState").finish_non_exhaustive()
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher::new(&self.key)
    }
}

/// RFC 6528 section 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
/// 4-microsecond timer (now.total_micros()/4, wrapping), F = SipHash-2-4 over the 4-tuple
/// bytes truncated to 32 bits.
///
/// The 4-tuple is hashed as local address octets (4 or 16), local port (big-endian), remote
/// address octets, remote port. Linux's `secure_tcp_seq` also keys SipHash with a boot-time
/// secret over the 4-tuple but adds a 64-nanosecond clock; this uses the 4-microsecond clock
/// of RFC 9293 3.4.1 and RFC 6528, whose sequence space wraps every ~4.77 hours.
#[derive(Clone)]
pub struct IsnGenerator {
    secret: [u8; 16],
}

impl fmt::Debug for IsnGenerator {
    /// The secret is not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

impl IsnGenerator {
    /// A generator with the given secret key (RFC 6528 section 3: chosen at random at boot,
    /// as the engine does unless its configuration is seeded).
    pub fn new(secret: [u8; 16]) -> Self {
        IsnGenerator { secret }
    }

    /// The initial send sequence number for a connection from `local` to `remote` opened at
    /// `now`.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = KeyedHasher::new(&self.secret);
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write(&addr.port().to_be_bytes());
        }
        // Truncations are the point: F keeps 32 bits and M wraps modulo 2^32.
        let f = h.finish() as u32;
        let m = (now.total_micros() / 4) as u32;
        m.wrapping_add(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn paper_test_vector() {
        // SipHash paper, Appendix A: key 00..0f, message 00..0e.
        assert_eq!(siphash24(&key(), &message(15)), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn reference_vectors_short_messages() {
        // The reference implementation's vectors.h (vectors_sip64), lengths 0..=8, read as
        // little-endian u64s.
        let want: [u64; 9] = [
            0x726f_db47_dd0e_0e31,
            0x74f8_39c5_93dc_67fd,
            0x0d6c_8009_d9a9_4f5a,
            0x8567_6696_d7fb_7e2d,
            0xcf27_94e0_2771_87b7,
            0x1876_5564_cd99_a68d,
            0xcbc9_466e_58fe_e3ce,
            0xab02_00f5_8b01_d137,
            0x93f5_f579_9a93_2462,
        ];
        for (len, &w) in want.iter().enumerate() {
            assert_eq!(siphash24(&key(), &message(len)), w, "length {len}");
        }
    }

    #[test]
    #[allow(deprecated)]
    fn agrees_with_std_siphasher_and_ignores_write_splits() {
        let mut x: u64 = 0x8899_aabb_ccdd_eeff;
        for len in 0..80usize {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let k: [u8; 16] = core::array::from_fn(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8);
            let data: Vec<u8> = (0..len).map(|i| (x >> (i % 57)) as u8).collect();
            let (k0, k1) = (
                u64::from_le_bytes(k[..8].try_into().unwrap()),
                u64::from_le_bytes(k[8..].try_into().unwrap()),
            );
            let mut reference = std::hash::SipHasher::new_with_keys(k0, k1);
            reference.write(&data);
            let whole = siphash24(&k, &data);
            assert_eq!(whole, reference.finish(), "length {len}");
            // Any split into pieces gives the same hash.
            let mut h = KeyedHasher::new(&k);
            let mut rest = &data[..];
            let mut step = 1 + (x % 11) as usize;
            while !rest.is_empty() {
                let n = step.min(rest.len());
                h.write(&rest[..n]);
                rest = &rest[n..];
                step = step % 9 + 1;
            }
            assert_eq!(h.finish(), whole);
            assert_eq!(h.finish(), whole, "finish does not disturb the state");
        }
    }

    #[test]
    fn keyed_state_drives_a_hashmap_deterministically() {
        let a = KeyedState::new(key());
        let b = KeyedState::new(key());
        let tuple: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(a.hash_one(tuple), b.hash_one(tuple));
        assert_ne!(a.hash_one(tuple), KeyedState::new([7; 16]).hash_one(tuple));
        let mut map = HashMap::with_hasher(a);
        map.insert(tuple, 1);
        assert_eq!(map.get(&tuple), Some(&1));
        assert!(!format!("{:?}", KeyedState::new([0xab; 16])).contains("171"));
    }

    #[test]
    fn isn_advances_with_the_four_microsecond_clock() {
        let gen = IsnGenerator::new([0x5a; 16]);
        let local: SocketAddr = "192.0.2.1:43210".parse().unwrap();
        let remote: SocketAddr = "198.51.100.7:443".parse().unwrap();
        let t = Instant::from_secs(1000);
        let isn = gen.isn(t, local, remote);
        assert_eq!(gen.isn(t, local, remote), isn);
        assert_eq!(
            gen.isn(t + core::time::Duration::from_micros(3), local, remote),
            isn
        );
        assert_eq!(
            gen.isn(t + core::time::Duration::from_millis(1), local, remote),
            isn.wrapping_add(250)
        );
        // After 2^32 ticks (~4.77 h) the clock part wraps around to the same value.
        let wrap = core::time::Duration::from_micros(4 << 32);
        assert_eq!(gen.isn(t + wrap, local, remote), isn);
        // Works at the end of time, too.
        let _ = gen.isn(Instant::from_micros(u64::MAX), local, remote);
    }

    #[test]
    fn isn_depends_on_tuple_and_key() {
        let gen = IsnGenerator::new([1; 16]);
        let t = Instant::from_millis(5);
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let base = gen.isn(t, a, b);
        let others = [
            gen.isn(t, b, a),
            gen.isn(t, "10.0.0.1:1001".parse().unwrap(), b),
            gen.isn(t, a, "10.0.0.2:81".parse().unwrap()),
            gen.isn(t, a, "10.0.0.3:80".parse().unwrap()),
            gen.isn(
                t,
                "[2001:db8::1]:1000".parse().unwrap(),
                "[2001:db8::2]:80".parse().unwrap(),
            ),
            IsnGenerator::new([2; 16]).isn(t, a, b),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(*other, base, "case {i}");
        }
        assert!(!format!("{gen:?}").contains('1'));
    }
}
