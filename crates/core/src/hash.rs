//! The hasher of the engine's demultiplexing tables: fast (one 64×64→128-bit multiply per
//! word, the "folded multiply" of wyhash and foldhash) and keyed from the stack's seed, so
//! a peer that does not know the key cannot aim collisions at one bucket.
//!
//! SipHash ([`crate::isn`]) stays where unpredictability is the point (ISNs, SYN cookies);
//! here speed matters, since every segment looks up its 4-tuple.

use core::hash::{BuildHasher, Hasher};

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL2: u64 = 0xbf58_476d_1ce4_e5b9;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Builds [`FastHasher`]s with a fixed key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastState {
    k0: u64,
    k1: u64,
}

impl FastState {
    /// A builder keyed by 16 bytes of key material.
    pub fn new(key: [u8; 16]) -> FastState {
        let (a, b) = key.split_at(8);
        FastState {
            k0: u64::from_le_bytes(a.try_into().unwrap_or([0; 8])) | 1,
            k1: u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) | 1,
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher {
            state: self.k0,
            key: self.k1,
        }
    }
}

/// The hasher; see the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHasher {
    state: u64,
    key: u64,
}

impl FastHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = fold_mul(self.state ^ word, MUL);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.state ^ self.key, MUL2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hash_of(state: &FastState, v: u64) -> u64 {
        let mut h = state.build_hasher();
        h.write_u64(v);
        h.finish()
    }

    #[test]
    fn keyed_and_well_spread() {
        let a = FastState::new([7; 16]);
        let b = FastState::new([8; 16]);
        assert_ne!(hash_of(&a, 1), hash_of(&b, 1), "the key changes the hash");
        assert_eq!(hash_of(&a, 1), hash_of(&a, 1), "deterministic");
        // Sequential keys (ports, addresses) land in distinct low-bit buckets.
        let buckets: HashSet<u64> = (0..4096u64).map(|i| hash_of(&a, i) & 4095).collect();
        assert!(
            buckets.len() > 2400,
            "only {} of 4096 buckets used",
            buckets.len()
        );
    }

    #[test]
    fn byte_writes_depend_on_every_byte_and_length() {
        let s = FastState::new([1; 16]);
        let h = |bytes: &[u8]| {
            let mut x = s.build_hasher();
            x.write(bytes);
            x.finish()
        };
        assert_ne!(h(&[0; 9]), h(&[0; 10]));
        assert_ne!(h(&[1, 2, 3]), h(&[1, 2, 4]));
        assert_ne!(h(b"abcdefgh-1"), h(b"abcdefgh-2"));
    }
}
