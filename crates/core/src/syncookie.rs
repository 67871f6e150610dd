//! SYN cookies (RFC 4987 section 3.6), encoded as Linux encodes them
//! (net/ipv4/syncookies.c): when the SYN queue overflows, the listener keeps no state
//! and puts it in the SYN-ACK's sequence number instead; a valid third-step ACK brings
//! it back.
//!
//! The ISS is `H1(tuple) + SEG.SEQ + (count << 24) + ((H2(tuple, count) + mss_index)
//! mod 2^24)`, where `count` is the minute counter and H1, H2 are keyed SipHash-2-4.
//! With timestamps, the low six bits of our TSval carry the peer's window scale and
//! SACK-permitted, which the ACK's TSecr echoes back (Linux's cookie_init_timestamp).

use std::net::SocketAddr;

use synack_wire::SeqNum;

use crate::isn::siphash24;
use crate::time::Instant;

/// The MSS values a cookie can carry (Linux's msstab for IPv4).
pub(crate) const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Cookies older than this many minutes are refused (Linux's MAX_SYNCOOKIE_AGE).
const MAX_AGE_MINUTES: u32 = 2;

/// Low TSval bits that carry options (Linux's TSBITS).
const TS_BITS: u32 = 6;
/// "No window scale" in the TSval encoding.
const TS_WSCALE_NONE: u32 = 0xf;
/// SACK-permitted bit in the TSval encoding.
const TS_SACK: u32 = 1 << 4;

/// Keys for the two hashes.
#[derive(Clone)]
pub(crate) struct SynCookies {
    key1: [u8; 16],
    key2: [u8; 16],
}

impl core::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SynCookies").finish_non_exhaustive()
    }
}

fn minutes(now: Instant) -> u32 {
    (now.total_micros() / 60_000_000) as u32
}

fn tuple_bytes(local: SocketAddr, remote: SocketAddr, count: u32, out: &mut [u8; 44]) -> usize {
    let mut n = 0;
    for a in [local, remote] {
        match a.ip() {
            std::net::IpAddr::V4(v4) => {
                out[n..n + 4].copy_from_slice(&v4.octets());
                n += 4;
            }
            std::net::IpAddr::V6(v6) => {
                out[n..n + 16].copy_from_slice(&v6.octets());
                n += 16;
            }
        }
        out[n..n + 2].copy_from_slice(&a.port().to_be_bytes());
        n += 2;
    }
    out[n..n + 4].copy_from_slice(&count.to_be_bytes());
    n + 4
}

impl SynCookies {
    /// Cookies keyed by `key1` and `key2` (from the stack's seed).
    pub fn new(key1: [u8; 16], key2: [u8; 16]) -> SynCookies {
        SynCookies { key1, key2 }
    }

    fn hash(&self, second: bool, local: SocketAddr, remote: SocketAddr, count: u32) -> u32 {
        let mut buf = [0u8; 44];
        let n = tuple_bytes(local, remote, count, &mut buf);
        let key = if second { &self.key2 } else { &self.key1 };
        siphash24(key, &buf[..n]) as u32
    }

    /// The index into [`MSS_TABLE`] for a peer's MSS: the largest entry not above it.
    pub fn mss_index(peer_mss: u16) -> u32 {
        MSS_TABLE.iter().rposition(|m| *m <= peer_mss).unwrap_or(0) as u32
    }

    /// The ISS that encodes a SYN from `remote` with sequence number `irs`.
    pub fn make(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        irs: SeqNum,
        mss_index: u32,
    ) -> SeqNum {
        let count = minutes(now);
        let h1 = self.hash(false, local, remote, 0);
        let h2 = self.hash(true, local, remote, count);
        SeqNum(
            h1.wrapping_add(irs.0)
                .wrapping_add(count << 24)
                .wrapping_add(h2.wrapping_add(mss_index) & 0x00ff_ffff),
        )
    }

    /// Checks the cookie in a third-step ACK: `ack` is SEG.ACK (our ISS + 1), `seq` is
    /// SEG.SEQ (their ISS + 1). Returns the MSS index if the cookie is valid and fresh.
    pub fn check(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seq: SeqNum,
        ack: SeqNum,
    ) -> Option<u32> {
        let iss = (ack - 1).0;
        let irs = (seq - 1).0;
        let h1 = self.hash(false, local, remote, 0);
        let rest = iss.wrapping_sub(h1).wrapping_sub(irs);
        let count = minutes(now);
        let cookie_count = rest >> 24;
        let age = count.wrapping_sub(cookie_count) & 0xff;
        if age > MAX_AGE_MINUTES {
            return None;
        }
        let full_count = count.wrapping_sub(age);
        let h2 = self.hash(true, local, remote, full_count);
        let mss_index = (rest.wrapping_sub(h2)) & 0x00ff_ffff;
        (mss_index < MSS_TABLE.len() as u32).then_some(mss_index)
    }
}

/// Our TSval in a cookie SYN-ACK: the clock with its low bits replaced by the peer's
/// window scale and SACK-permitted (Linux's cookie_init_timestamp).
pub(crate) fn encode_ts(tsval: u32, wscale: Option<u8>, sack: bool) -> u32 {
    let mut options = wscale.map_or(TS_WSCALE_NONE, |w| u32::from(w.min(14)));
    if sack {
        options |= TS_SACK;
    }
    let mask = (1 << TS_BITS) - 1;
    let mut ts = (tsval & !mask) | options;
    if ts.wrapping_sub(tsval) as i32 > 0 {
        // Never put the clock ahead of now (Linux subtracts one unit of TSBITS).
        ts = ts.wrapping_sub(1 << TS_BITS);
    }
    ts
}

/// The peer's window scale and SACK-permitted from the echoed TSecr of a cookie ACK.
pub(crate) fn decode_ts(tsecr: u32) -> (Option<u8>, bool) {
    let wscale = tsecr & 0xf;
    let sack = tsecr & TS_SACK != 0;
    ((wscale != TS_WSCALE_NONE).then_some(wscale as u8), sack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.2:80".parse().unwrap(),
            "10.0.0.1:40000".parse().unwrap(),
        )
    }

    #[test]
    fn cookie_round_trips_within_two_minutes_and_not_after() {
        let c = SynCookies::new([1; 16], [2; 16]);
        let (l, r) = addrs();
        let t0 = Instant::from_secs(3600);
        let irs = SeqNum(0xdead_beef);
        for idx in 0..4 {
            let iss = c.make(t0, l, r, irs, idx);
            for later in [0u64, 59, 119, 179] {
                let now = t0 + core::time::Duration::from_secs(later);
                assert_eq!(c.check(now, l, r, irs + 1, iss + 1), Some(idx), "{later}");
            }
            let stale = t0 + core::time::Duration::from_secs(240);
            assert_eq!(c.check(stale, l, r, irs + 1, iss + 1), None);
        }
    }

    #[test]
    fn forged_or_misaddressed_cookies_fail() {
        let c = SynCookies::new([1; 16], [2; 16]);
        let (l, r) = addrs();
        let now = Instant::from_secs(100);
        let iss = c.make(now, l, r, SeqNum(5), 3);
        let other: SocketAddr = "10.0.0.9:40000".parse().unwrap();
        assert_eq!(c.check(now, l, other, SeqNum(6), iss + 1), None);
        assert_eq!(c.check(now, l, r, SeqNum(6 + 1000), iss + 1), None);
        let mut rejected = 0;
        for guess in 0..1000u32 {
            if c.check(
                now,
                l,
                r,
                SeqNum(6),
                SeqNum(guess.wrapping_mul(2_654_435_761)),
            )
            .is_none()
            {
                rejected += 1;
            }
        }
        assert!(
            rejected >= 990,
            "random guesses must almost never pass: {rejected}"
        );
    }

    #[test]
    fn mss_index_and_timestamp_encoding() {
        assert_eq!(SynCookies::mss_index(1460), 3);
        assert_eq!(SynCookies::mss_index(1448), 2);
        assert_eq!(SynCookies::mss_index(100), 0);
        let ts = encode_ts(1_000_000, Some(7), true);
        assert!(ts <= 1_000_000);
        assert_eq!(decode_ts(ts), (Some(7), true));
        assert_eq!(decode_ts(encode_ts(5_000, None, false)), (None, false));
    }
}
