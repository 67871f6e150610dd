//! TCP Fast Open (RFC 7413) as Linux has it: the `tcp_fastopen` bits, the keys behind
//! server cookies, and how a cookie is made from the SYN's addresses.
//!
//! A server cookie is a MAC of the client's and the server's addresses under a secret
//! key (RFC 7413 4.1.2): Linux uses SipHash-2-4 of the SYN's source and destination
//! addresses (as they stand in the IP header, source first) over the 128-bit key, and
//! sends the 64-bit result in little-endian order as an 8-byte cookie. A listener checks
//! a cookie against its primary key and then its backup key (key rotation), so cookies
//! made with either are accepted, and a client holding a backup-key cookie is given the
//! primary one.

use std::net::IpAddr;

use synack_wire::FastOpenCookie;

/// `tcp_fastopen` bit: clients may use Fast Open (Linux's TFO_CLIENT_ENABLE).
pub const TFO_CLIENT_ENABLE: u32 = 0x1;
/// `tcp_fastopen` bit: listeners may accept Fast Open (TFO_SERVER_ENABLE).
pub const TFO_SERVER_ENABLE: u32 = 0x2;
/// `tcp_fastopen` bit: clients send data in the SYN without a cookie
/// (TFO_CLIENT_NO_COOKIE).
pub const TFO_CLIENT_NO_COOKIE: u32 = 0x4;
/// `tcp_fastopen` bit: listeners accept data in a SYN without a cookie
/// (TFO_SERVER_COOKIE_NOT_REQD).
pub const TFO_SERVER_COOKIE_NOT_REQD: u32 = 0x200;
/// `tcp_fastopen` bit: every listener accepts Fast Open without the `TCP_FASTOPEN`
/// option, with its listen backlog as the queue length (TFO_SERVER_WO_SOCKOPT1).
pub const TFO_SERVER_WO_SOCKOPT1: u32 = 0x400;

/// Bytes of a server cookie (Linux's TCP_FASTOPEN_COOKIE_SIZE).
pub const COOKIE_SIZE: usize = 8;

/// The keys that make and check server cookies: a primary key and, during a rotation, a
/// backup key (Linux's tcp_fastopen_context, `TCP_FASTOPEN_KEY`, `tcp_fastopen_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastOpenKeys {
    /// The primary key: new cookies are made with it.
    pub primary: [u8; 16],
    /// The backup key: its cookies are still accepted.
    pub backup: Option<[u8; 16]>,
}

impl FastOpenKeys {
    /// Parses the `tcp_fastopen_key` sysctl's text: a key as four 32-bit hex words
    /// `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`, optionally followed by `,` and the backup
    /// key. Each word is stored little-endian, as Linux stores it, so the key bytes of
    /// `a0bf63f7-...` begin `f7 63 bf a0` (the bytes `TCP_FASTOPEN_KEY` would take).
    pub fn parse_sysctl(text: &str) -> Option<FastOpenKeys> {
        let key = |s: &str| -> Option<[u8; 16]> {
            let words: Vec<&str> = s.trim().split('-').collect();
            if words.len() != 4 {
                return None;
            }
            let mut k = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                if w.is_empty() || w.len() > 8 {
                    return None;
                }
                let v = u32::from_str_radix(w, 16).ok()?;
                k[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
            Some(k)
        };
        let mut parts = text.split(',');
        let primary = key(parts.next()?)?;
        let backup = match parts.next() {
            Some(b) => Some(key(b)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(FastOpenKeys { primary, backup })
    }

    /// The sysctl's text for these keys (the form [`parse_sysctl`](Self::parse_sysctl)
    /// reads, as Linux prints it).
    pub fn to_sysctl(&self) -> String {
        let key = |k: &[u8; 16]| {
            k.chunks(4)
                .map(|w| format!("{:08x}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .collect::<Vec<_>>()
                .join("-")
        };
        match &self.backup {
            Some(b) => format!("{},{}", key(&self.primary), key(b)),
            None => key(&self.primary),
        }
    }

    /// The keys of a `TCP_FASTOPEN_KEY` option value: 16 bytes (primary) or 32 (primary
    /// then backup); `None` for any other length (Linux: EINVAL).
    pub fn from_bytes(bytes: &[u8]) -> Option<FastOpenKeys> {
        let key = |b: &[u8]| -> [u8; 16] { b.try_into().unwrap_or([0; 16]) };
        match bytes.len() {
            16 => Some(FastOpenKeys {
                primary: key(bytes),
                backup: None,
            }),
            32 => Some(FastOpenKeys {
                primary: key(&bytes[..16]),
                backup: Some(key(&bytes[16..])),
            }),
            _ => None,
        }
    }

    /// The option value `getsockopt(TCP_FASTOPEN_KEY)` returns: the primary key, then
    /// the backup key when there is one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.primary.to_vec();
        if let Some(b) = &self.backup {
            v.extend_from_slice(b);
        }
        v
    }

    /// The cookie for a SYN from `src` to `dst` under the primary key.
    pub fn cookie(&self, src: IpAddr, dst: IpAddr) -> [u8; COOKIE_SIZE] {
        cookie(&self.primary, src, dst)
    }

    /// Checks `got` (a cookie in a SYN from `src` to `dst`): 1 when the primary key
    /// made it, 2 when the backup key did, 0 otherwise (Linux's
    /// tcp_fastopen_cookie_gen_check).
    pub fn check(&self, got: &[u8], src: IpAddr, dst: IpAddr) -> u8 {
        if got.len() != COOKIE_SIZE {
            return 0;
        }
        if got == cookie(&self.primary, src, dst) {
            return 1;
        }
        match &self.backup {
            Some(b) if got == cookie(b, src, dst) => 2,
            _ => 0,
        }
    }
}

/// A socket's Fast Open options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FastOpenOpts {
    /// TCP_FASTOPEN on a listener: the most Fast Open children it keeps in SYN-RECEIVED
    /// at once (Linux's fastopenq.max_qlen); 0 disables Fast Open on it.
    pub max_qlen: u32,
    /// TCP_FASTOPEN_KEY: the listener's own keys, instead of `tcp_fastopen_key`.
    pub keys: Option<FastOpenKeys>,
    /// TCP_FASTOPEN_NO_COOKIE: data in the SYN without a cookie (both sides).
    pub no_cookie: bool,
    /// TCP_FASTOPEN_CONNECT: connect() returns at once and the first write goes in the
    /// SYN.
    pub connect: bool,
}

impl FastOpenOpts {
    /// No Fast Open option set.
    pub const NONE: FastOpenOpts = FastOpenOpts {
        max_qlen: 0,
        keys: None,
        no_cookie: false,
        connect: false,
    };
}

/// A listener's count of Fast Open children still in SYN-RECEIVED (Linux's
/// fastopenq.qlen), and the reset ones that still count (Linux keeps a child that was
/// accepted and then reset against the limit for 60 s, against spoofed floods).
#[derive(Debug, Clone, Default)]
pub(crate) struct FastOpenQueue {
    pub qlen: u32,
    /// When each reset child stops counting, oldest first.
    pub reset_until: std::collections::VecDeque<crate::time::Instant>,
}

impl FastOpenQueue {
    /// Linux's tcp_fastopen_queue_check: whether another child fits under `max_qlen`,
    /// dropping an expired reset child to make room. False also when Fast Open is off
    /// on the listener (`max_qlen` 0); the caller counts TCPFastOpenListenOverflow when
    /// this returns `Some(false)`.
    pub fn admit(&mut self, max_qlen: u32, now: crate::time::Instant) -> Option<bool> {
        if max_qlen == 0 {
            return None;
        }
        if self.qlen >= max_qlen {
            match self.reset_until.front() {
                Some(&t) if t <= now => {
                    self.reset_until.pop_front();
                    self.qlen -= 1;
                }
                _ => return Some(false),
            }
        }
        Some(true)
    }
}

/// A connection's Fast Open state (out of line: most connections have none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ConnFastOpen {
    /// A passive child in SYN-RECEIVED: the listener whose queue counts it (Linux's
    /// fastopen_rsk).
    pub listener: Option<crate::stack::SocketHandle>,
    /// A passive child: the window its SYN-ACK offers (the request's) and the cookie
    /// option the first SYN-ACK carries.
    pub synack_window: u16,
    pub synack_cookie: Option<FastOpenCookie>,
    /// The SYN's data was acknowledged (TCPI_OPT_SYN_DATA).
    pub syn_data_acked: bool,
    /// Bytes of data the SYN carried into the receive queue (a passive child).
    pub syn_data_len: u32,
    /// An active open held back until the first write (TCP_FASTOPEN_CONNECT with a
    /// cookie: Linux's defer_connect).
    pub deferred: bool,
    /// The cookie option the first SYN carries (a request or a cached cookie).
    pub syn_cookie: Option<FastOpenCookie>,
    /// The first SYN carried a cookie option (Linux's syn_fastopen), in this form.
    pub syn_fastopen: bool,
    pub syn_exp: bool,
    /// Most bytes the SYN may carry (Linux: the MSS less 40 bytes of option room).
    pub syn_space: u32,
    /// Bytes of data the first SYN carries (an active open; Linux's syn_data).
    pub syn_data: u32,
    /// What the SYN-ACK taught, for the stack's cookie cache.
    pub learned: Option<Learned>,
    /// A blocked writer waits for the handshake (Linux's sk_write_pending): the ACK of
    /// the SYN-ACK waits to ride on its data.
    pub write_pending: bool,
}

/// What a SYN-ACK tells the client's cookie cache (Linux's tcp_fastopen_cache_set).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Learned {
    /// The SYN-ACK's MSS option.
    pub mss: Option<u16>,
    /// The cookie it carried.
    pub cookie: Option<FastOpenCookie>,
    /// 1: a cookie request in kind 34 went unanswered (try the experimental form
    /// next); 2: one in the experimental form did (go back to kind 34).
    pub try_exp: u8,
}

/// A destination's entry in the client's cookie cache (Linux keeps it in tcp_metrics).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CacheEntry {
    pub cookie: Option<FastOpenCookie>,
    /// Ask in the experimental form.
    pub exp: bool,
    pub mss: Option<u16>,
    pub try_exp: u8,
}

impl CacheEntry {
    /// Linux's tcp_fastopen_cache_set.
    pub fn learn(&mut self, l: &Learned) {
        if let Some(m) = l.mss {
            self.mss = Some(m);
        }
        match l.cookie {
            Some(c) if !c.is_request() => {
                self.cookie = Some(c);
                self.exp = c.exp;
            }
            _ => {
                // FO unanswered: ask with FOEXP once (1); that unanswered too: back
                // to FO for good (2).
                if l.try_exp > self.try_exp && self.cookie.is_none() && !self.exp {
                    self.try_exp = l.try_exp;
                }
            }
        }
    }

    /// The option a SYN to this destination carries: the cookie, else a request in the
    /// form the cache says (Linux's tcp_fastopen_cache_get).
    pub fn option(&self) -> FastOpenCookie {
        match self.cookie {
            Some(c) => c,
            None => FastOpenCookie::request(self.exp || self.try_exp == 1),
        }
    }
}

impl crate::conn::cold::ColdDefault for ConnFastOpen {
    fn default_ref() -> &'static ConnFastOpen {
        static NONE: ConnFastOpen = ConnFastOpen {
            listener: None,
            synack_window: 0,
            synack_cookie: None,
            syn_data_acked: false,
            syn_data_len: 0,
            deferred: false,
            syn_cookie: None,
            syn_fastopen: false,
            syn_exp: false,
            syn_space: 0,
            syn_data: 0,
            learned: None,
            write_pending: false,
        };
        &NONE
    }
}

/// A server cookie: SipHash-2-4 under `key` of the source then destination address as
/// the SYN's IP header carries them, little-endian (Linux's
/// __tcp_fastopen_cookie_gen_cipher). An IPv4-mapped IPv6 address is the IPv4 packet's.
pub fn cookie(key: &[u8; 16], src: IpAddr, dst: IpAddr) -> [u8; COOKIE_SIZE] {
    let canon = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let mut buf = [0u8; 32];
    let n = match (canon(src), canon(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            buf[..4].copy_from_slice(&s.octets());
            buf[4..8].copy_from_slice(&d.octets());
            8
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(v) => v.octets(),
                IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
            };
            buf[..16].copy_from_slice(&v6(s));
            buf[16..].copy_from_slice(&v6(d));
            32
        }
    };
    crate::isn::siphash24(key, &buf[..n]).to_le_bytes()
}

/// The cookie option a SYN-ACK carries for `cookie`, in the form (kind 34 or
/// experimental) the SYN used.
pub(crate) fn option(exp: bool, cookie: &[u8; COOKIE_SIZE]) -> FastOpenCookie {
    FastOpenCookie::new(exp, cookie).unwrap_or(FastOpenCookie::request(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn cookies_match_linux() {
        // Google's fastopen/server/simple1.pkt: the key and addresses below give this
        // cookie on Linux.
        let k = FastOpenKeys::parse_sysctl("a0bf63f7-ed803d81-cd641d30-cebc4a90").unwrap();
        assert_eq!(&k.primary[..4], &[0xf7, 0x63, 0xbf, 0xa0]);
        let c = k.cookie(
            "10.248.0.2".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        );
        assert_eq!(c.to_vec(), hex("00abaaabe8e954c2"));
        // The kernel selftests' TFO_COOKIE for their default key and addresses.
        let k = FastOpenKeys::parse_sysctl("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4").unwrap();
        let c = k.cookie("192.0.2.1".parse().unwrap(), "192.168.0.1".parse().unwrap());
        assert_eq!(c.to_vec(), hex("3021b9d889017eeb"));
        let c = k.cookie(
            "fd3d:fa7b:d17d::1".parse().unwrap(),
            "fd3d:a0b:17d6::1".parse().unwrap(),
        );
        assert_eq!(c.to_vec(), hex("c1d1e9742a47a9bc"));
        assert_eq!(k.to_sysctl(), "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
    }

    #[test]
    fn backup_keys_are_checked_second() {
        let k = FastOpenKeys::parse_sysctl(
            "00000001-00000002-00000003-00000004,00000005-00000006-00000007-00000008",
        )
        .unwrap();
        let (s, d): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let backup = FastOpenKeys {
            primary: k.backup.unwrap(),
            backup: None,
        };
        assert_eq!(k.check(&k.cookie(s, d), s, d), 1);
        assert_eq!(k.check(&backup.cookie(s, d), s, d), 2);
        assert_eq!(k.check(&backup.cookie(d, s), s, d), 0);
        assert_eq!(FastOpenKeys::from_bytes(&k.to_bytes()), Some(k));
        assert!(FastOpenKeys::from_bytes(&[0; 3]).is_none());
        assert!(FastOpenKeys::parse_sysctl("1-2-3").is_none());
    }
}
