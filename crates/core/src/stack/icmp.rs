//! ICMP and ICMPv6 as a host does them (RFC 1122 3.2.2, RFC 4443): echo replies,
//! destination-unreachable for protocols and ports nobody serves (rate limited per
//! destination as Linux's `icmp_ratelimit`), and errors from the network delivered to
//! the connection whose segment they quote, after RFC 5927's checks.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use synack_wire::icmp::{self, IcmpRepr, QuotedTcp, IPPROTO_ICMP, IPPROTO_ICMPV6};
use synack_wire::{IpRepr, SeqNum};

use super::{FourTuple, Stack};
use crate::conn::IcmpError;
use crate::error::Error;
use crate::time::Instant;

/// IP protocol number of UDP (RFC 768), answered with port unreachable.
const IPPROTO_UDP: u8 = 17;

/// How much of an offending datagram an error quotes: as much as keeps the error within
/// 576 bytes for ICMP (RFC 1812 4.3.2.3; Linux's icmp_send) and 1280 for ICMPv6 (RFC
/// 4443 2.4 (c)).
const QUOTE_V4: usize = 576 - 20 - 8;
const QUOTE_V6: usize = 1280 - 40 - 8;

/// Linux's XRLIM_BURST_FACTOR: a destination may receive this many rate-limited errors
/// in a burst.
const BURST: u64 = 6;

/// Destinations remembered by the rate limiter at most (the oldest are forgotten).
const MAX_PEERS: usize = 4096;

/// How long a learned path MTU is kept for its destination (Linux's
/// `net.ipv4.route.mtu_expires`, 600 s).
const PMTU_EXPIRES: std::time::Duration = std::time::Duration::from_secs(600);

/// ICMP datagrams waiting to be sent, the per-destination rate limiter, and the path
/// MTUs learned per destination.
#[derive(Debug, Default)]
pub(crate) struct IcmpState {
    pub out: VecDeque<Vec<u8>>,
    /// Per destination: the path MTU an ICMP taught, and until when it holds (Linux's
    /// route exceptions, fib_nh_exception).
    pmtus: HashMap<IpAddr, (u32, Instant)>,
    /// Per destination: tokens (microseconds of credit) and when they were counted
    /// (Linux's inet_peer rate_tokens and rate_last).
    peers: HashMap<IpAddr, (u64, Instant)>,
}

impl IcmpState {
    /// Linux's inet_peer_xrlim_allow: a token bucket of `BURST` messages refilled at one
    /// per `interval`; a destination not seen before starts with a full bucket.
    fn allow(&mut self, dst: IpAddr, interval_us: u64, now: Instant) -> bool {
        if interval_us == 0 {
            return true;
        }
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&dst) {
            if let Some(oldest) = self.peers.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                self.peers.remove(&oldest);
            }
        }
        let cap = BURST * interval_us;
        let (tokens, last) = self.peers.entry(dst).or_insert((cap, now));
        let elapsed = now.saturating_duration_since(*last).as_micros() as u64;
        *tokens = (*tokens + elapsed).min(cap);
        *last = now;
        if *tokens >= interval_us {
            *tokens -= interval_us;
            true
        } else {
            false
        }
    }
}

impl Stack {
    /// Remembers a path MTU lower than the link's for destination `dst`.
    fn remember_pmtu(&mut self, dst: IpAddr, pmtu: u32) {
        if pmtu as usize >= self.config.mtu {
            return;
        }
        let pmtus = &mut self.icmp.pmtus;
        if pmtus.len() >= MAX_PEERS && !pmtus.contains_key(&dst) {
            if let Some(oldest) = pmtus.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) {
                pmtus.remove(&oldest);
            }
        }
        pmtus.insert(dst, (pmtu, self.now + PMTU_EXPIRES));
    }

    /// The path MTU learned for `dst`, if it has not expired.
    pub(super) fn cached_pmtu(&mut self, dst: IpAddr) -> Option<u32> {
        let &(mtu, until) = self.icmp.pmtus.get(&dst)?;
        if until <= self.now {
            self.icmp.pmtus.remove(&dst);
            return None;
        }
        Some(mtu)
    }

    /// An ICMP or ICMPv6 message to one of our addresses.
    pub(super) fn on_icmp(&mut self, ip: &IpRepr, msg: &[u8]) {
        let v6 = ip.dst.is_ipv6();
        let repr = IcmpRepr::parse(v6, &ip.src, &ip.dst, msg);
        let s = &mut self.stats;
        if v6 {
            s.Icmp6InMsgs += 1;
        } else {
            s.IcmpInMsgs += 1;
        }
        let repr = match repr {
            Ok(r) => r,
            Err(e) => {
                if v6 {
                    s.Icmp6InErrors += 1;
                } else {
                    s.IcmpInErrors += 1;
                }
                if e == synack_wire::Error::Checksum {
                    if v6 {
                        s.Icmp6InCsumErrors += 1;
                    } else {
                        s.IcmpInCsumErrors += 1;
                    }
                }
                return;
            }
        };
        self.count_icmp_in(v6, &repr);
        match repr {
            IcmpRepr::EchoRequest { ident, seq, data } => {
                // Echo is answered for the stack's own addresses only, not for those an
                // any-address listener terminates.
                if self.config.icmp_echo_ignore_all || !self.addrs.contains(&ip.dst) {
                    return;
                }
                // RFC 1122 3.2.2.6: the reply carries the request's identifier,
                // sequence number and data, from the address the request was sent to.
                self.send_icmp(ip.dst, ip.src, &IcmpRepr::EchoReply { ident, seq, data });
            }
            IcmpRepr::DstUnreachable { invoking, .. }
            | IcmpRepr::PacketTooBig { invoking, .. }
            | IcmpRepr::TimeExceeded { invoking, .. }
            | IcmpRepr::ParamProblem { invoking, .. } => {
                let Some(err) = classify(v6, &repr) else {
                    return;
                };
                self.icmp_error(v6, err, invoking);
            }
            IcmpRepr::EchoReply { .. } | IcmpRepr::Other { .. } => {}
        }
    }

    fn count_icmp_in(&mut self, v6: bool, repr: &IcmpRepr) {
        let s = &mut self.stats;
        let t = repr.msg_type(v6);
        if v6 {
            match t {
                1 => (s.Icmp6InDestUnreachs += 1, s.Icmp6InType1 += 1),
                2 => (s.Icmp6InPktTooBigs += 1, s.Icmp6InType2 += 1),
                3 => (s.Icmp6InTimeExcds += 1, s.Icmp6InType3 += 1),
                4 => (s.Icmp6InParmProblems += 1, s.Icmp6InType4 += 1),
                128 => (s.Icmp6InEchos += 1, s.Icmp6InType128 += 1),
                129 => (s.Icmp6InEchoReplies += 1, s.Icmp6InType129 += 1),
                _ => ((), ()),
            };
        } else {
            match t {
                0 => (s.IcmpInEchoReps += 1, s.IcmpMsgInType0 += 1),
                3 => (s.IcmpInDestUnreachs += 1, s.IcmpMsgInType3 += 1),
                8 => (s.IcmpInEchos += 1, s.IcmpMsgInType8 += 1),
                11 => (s.IcmpInTimeExcds += 1, s.IcmpMsgInType11 += 1),
                12 => (s.IcmpInParmProbs += 1, s.IcmpMsgInType12 += 1),
                _ => ((), ()),
            };
        }
    }

    /// An ICMP error quoting one of our TCP segments: to its connection, after RFC 5927
    /// 4.1's check of the quoted sequence number (Linux's tcp_v4_err and tcp_v6_err).
    fn icmp_error(&mut self, v6: bool, err: IcmpError, invoking: &[u8]) {
        let Some(q) = QuotedTcp::parse(v6, invoking) else {
            self.count_icmp_in_error(v6);
            return;
        };
        let tuple = FourTuple {
            local: SocketAddr::new(q.src, q.src_port),
            remote: SocketAddr::new(q.dst, q.dst_port),
        };
        let seq = SeqNum(q.seq);
        if let Some(h) = self.conn_of(&tuple) {
            let pmtu = self.with_conn(h, |conn, ctx| {
                let before = conn.pmtu;
                conn.on_icmp_error(ctx, err, seq);
                (conn.pmtu < before).then_some(conn.pmtu)
            });
            if let (IcmpError::PacketTooBig(_), Some(Some(pmtu))) = (err, pmtu) {
                self.remember_pmtu(tuple.remote.ip(), pmtu);
            }
            return;
        }
        if let Some(req) = self.requests.get(&tuple) {
            // Linux's tcp_req_err: the quote must be our SYN-ACK; network and host
            // unreachable, time exceeded and parameter problems drop the request.
            if seq != req.iss {
                self.stats.OutOfWindowIcmps += 1;
            } else if err.drops_request() {
                let id = req.id;
                self.drop_request(&tuple, id);
                self.stats.ListenDrops += 1;
            }
            return;
        }
        if self.time_wait.get(&tuple).is_none() {
            // No socket for the quoted segment (Linux counts it in InErrors).
            self.count_icmp_in_error(v6);
        }
    }

    fn count_icmp_in_error(&mut self, v6: bool) {
        if v6 {
            self.stats.Icmp6InErrors += 1;
        } else {
            self.stats.IcmpInErrors += 1;
        }
    }

    /// A datagram to one of our addresses for a protocol other than TCP and ICMP:
    /// UDP gets port unreachable (nothing listens), any other protocol protocol
    /// unreachable (ICMPv6: parameter problem, unrecognized Next Header at its offset),
    /// as Linux answers (RFC 1122 3.2.2.1, RFC 4443 3.1 and 3.4).
    pub(super) fn unreachable_protocol(&mut self, ip: &IpRepr, datagram: &[u8]) {
        let v6 = ip.dst.is_ipv6();
        let udp = ip.protocol == IPPROTO_UDP;
        let s = &mut self.stats;
        if udp {
            // Linux's __udp4_lib_rcv / __udp6_lib_rcv check the length and the checksum
            // before looking for a socket; a datagram in error is dropped unanswered.
            match udp_check(ip, &datagram[datagram.len() - ip.payload_len..]) {
                Ok(()) => {}
                Err(csum) => {
                    match v6 {
                        false => s.UdpInErrors += 1,
                        true => s.Udp6InErrors += 1,
                    }
                    if csum {
                        match v6 {
                            false => s.UdpInCsumErrors += 1,
                            true => s.Udp6InCsumErrors += 1,
                        }
                    }
                    return;
                }
            }
        }
        match (v6, udp) {
            (false, true) => s.UdpNoPorts += 1,
            (true, true) => s.Udp6NoPorts += 1,
            (false, false) => s.IpInUnknownProtos += 1,
            (true, false) => s.Ip6InUnknownProtos += 1,
        }
        // RFC 1122 3.2.2: never about a datagram to a broadcast or multicast address.
        if !super::input::unicast(ip.dst) || self.is_broadcast(ip.dst) {
            return;
        }
        let quote = &datagram[..datagram.len().min(if v6 { QUOTE_V6 } else { QUOTE_V4 })];
        let repr = match (v6, udp) {
            (false, true) => IcmpRepr::DstUnreachable {
                code: icmp::v4_unreach::PORT,
                mtu: 0,
                invoking: quote,
            },
            (false, false) => IcmpRepr::DstUnreachable {
                code: icmp::v4_unreach::PROTOCOL,
                mtu: 0,
                invoking: quote,
            },
            (true, true) => IcmpRepr::DstUnreachable {
                code: icmp::v6_unreach::PORT,
                mtu: 0,
                invoking: quote,
            },
            (true, false) => IcmpRepr::ParamProblem {
                code: 1,
                pointer: next_header_offset(datagram),
                invoking: quote,
            },
        };
        if !self.icmp_rate_allowed(v6, ip.src, &repr) {
            if v6 {
                self.stats.Icmp6OutRateLimitHost += 1;
            } else {
                self.stats.IcmpOutRateLimitHost += 1;
            }
            return;
        }
        self.send_icmp(ip.dst, ip.src, &repr);
    }

    fn is_broadcast(&self, ip: IpAddr) -> bool {
        matches!(ip, IpAddr::V4(v4) if self.broadcasts.contains(&v4))
    }

    /// Linux's icmpv4_xrlim_allow / icmpv6_xrlim_allow: informational messages and
    /// "fragmentation needed" / "packet too big" are never limited, nor types outside
    /// `icmp_ratemask` (ICMP) or anything to loopback; the rest get a token bucket per
    /// destination refilled every `icmp_ratelimit`.
    fn icmp_rate_allowed(&mut self, v6: bool, dst: IpAddr, repr: &IcmpRepr) -> bool {
        if dst.is_loopback() {
            return true;
        }
        let t = repr.msg_type(v6);
        let limited = if v6 {
            t < 128 && t != icmp::v6_type::PACKET_TOO_BIG
        } else {
            let frag = matches!(repr, IcmpRepr::DstUnreachable { code, .. }
                if *code == icmp::v4_unreach::FRAG_NEEDED);
            t < 32 && !frag && self.config.icmp_ratemask & (1 << t) != 0
        };
        if !limited {
            return true;
        }
        let interval = self.config.icmp_ratelimit.as_micros() as u64;
        let now = self.now;
        self.icmp.allow(dst, interval, now)
    }

    /// Queues an ICMP message from `src` to `dst` as a whole datagram, counted as sent
    /// when queued (ICMP has no retransmission to tell apart).
    fn send_icmp(&mut self, src: IpAddr, dst: IpAddr, repr: &IcmpRepr) {
        let v6 = dst.is_ipv6();
        let ip = IpRepr {
            src,
            dst,
            protocol: if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP },
            payload_len: repr.buffer_len(),
            hop_limit: self.config.ip_default_ttl,
        };
        let mut buf = vec![0u8; ip.buffer_len()];
        let Ok(h) = ip.emit(&mut buf) else {
            return;
        };
        if repr.emit(v6, &src, &dst, &mut buf[h..]).is_err() {
            return;
        }
        let s = &mut self.stats;
        let t = repr.msg_type(v6);
        if v6 {
            s.Icmp6OutMsgs += 1;
            match t {
                1 => (s.Icmp6OutDestUnreachs += 1, s.Icmp6OutType1 += 1),
                4 => (s.Icmp6OutParmProblems += 1, s.Icmp6OutType4 += 1),
                129 => (s.Icmp6OutEchoReplies += 1, s.Icmp6OutType129 += 1),
                _ => ((), ()),
            };
        } else {
            s.IcmpOutMsgs += 1;
            match t {
                0 => (s.IcmpOutEchoReps += 1, s.IcmpMsgOutType0 += 1),
                3 => (s.IcmpOutDestUnreachs += 1, s.IcmpMsgOutType3 += 1),
                _ => ((), ()),
            };
        }
        self.icmp.out.push_back(buf);
    }
}

/// What an ICMP error means to TCP (Linux's icmp_err_convert and icmpv6_err_convert),
/// or `None` for messages TCP ignores (unknown codes).
fn classify(v6: bool, repr: &IcmpRepr) -> Option<IcmpError> {
    // Linux's tcp_v4_err drops a half-open request on network and host unreachable,
    // time exceeded and parameter problems (tcp_req_err's `abort`).
    let drops = matches!(
        repr,
        IcmpRepr::TimeExceeded { .. } | IcmpRepr::ParamProblem { .. }
    ) || (!v6 && matches!(repr, IcmpRepr::DstUnreachable { code, .. } if *code <= 1));
    let err = |errno, hard| {
        Some(IcmpError::Error {
            errno,
            hard,
            drops_request: drops,
        })
    };
    match (*repr, v6) {
        (IcmpRepr::PacketTooBig { mtu, .. }, _) => Some(IcmpError::PacketTooBig(mtu)),
        (IcmpRepr::TimeExceeded { .. }, _) => err(Error::HostUnreachable, false),
        (IcmpRepr::ParamProblem { .. }, _) => err(Error::ProtocolError, true),
        (IcmpRepr::DstUnreachable { code, mtu, .. }, false) => match code {
            // RFC 1191 4: the Next-Hop MTU (0 from an old router that does not say).
            icmp::v4_unreach::FRAG_NEEDED => Some(IcmpError::PacketTooBig(u32::from(mtu))),
            0 | 11 => err(Error::NetUnreachable, false),
            1 | 12 => err(Error::HostUnreachable, false),
            2 => err(Error::NoProtocolOption, true),
            3 => err(Error::ConnectionRefused, true),
            5 => err(Error::NotSupported, false),
            6 | 9 => err(Error::NetUnreachable, true),
            7 => err(Error::HostDown, true),
            8 => err(Error::NoNetwork, true),
            10 | 13..=15 => err(Error::HostUnreachable, true),
            _ => None,
        },
        (IcmpRepr::DstUnreachable { code, .. }, true) => match code {
            0 => err(Error::NetUnreachable, false),
            1 | 5 | 6 => err(Error::PermissionDenied, true),
            2 | 3 => err(Error::HostUnreachable, false),
            4 => err(Error::ConnectionRefused, true),
            _ => None,
        },
        _ => None,
    }
}

/// A UDP datagram's length and checksum (RFC 768; RFC 8200 8.1: mandatory over IPv6):
/// `Err(false)` when it is shorter than its length field says, or that field is below
/// the header's 8 bytes; `Err(true)` for a bad checksum.
fn udp_check(ip: &IpRepr, udp: &[u8]) -> Result<(), bool> {
    if udp.len() < 8 {
        return Err(false);
    }
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 || ulen > udp.len() {
        return Err(false);
    }
    let csum = u16::from_be_bytes([udp[6], udp[7]]);
    if csum == 0 && ip.dst.is_ipv4() {
        return Ok(());
    }
    let acc = synack_wire::checksum::sum(&udp[..ulen])
        + synack_wire::checksum::pseudo_header_sum(&ip.src, &ip.dst, IPPROTO_UDP, ulen as u32);
    if synack_wire::checksum::fold(acc) == 0xffff {
        Ok(())
    } else {
        Err(true)
    }
}

/// The offset of the Next Header field naming the unknown protocol (ICMPv6 Parameter
/// Problem's pointer): the fixed header's, or the last extension header's.
fn next_header_offset(datagram: &[u8]) -> u32 {
    let mut at = 6usize;
    let mut nh = datagram.get(6).copied().unwrap_or(0);
    let mut off = 40usize;
    while matches!(nh, 0 | 43 | 60) && off + 2 <= datagram.len() {
        at = off;
        nh = datagram[off];
        off += (usize::from(datagram[off + 1]) + 1) * 8;
    }
    at as u32
}
