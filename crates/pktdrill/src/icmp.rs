//! ICMP lines (§3.4): `< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]` builds an
//! ICMP or ICMPv6 error quoting a segment of the connection under test, as packetdrill's
//! icmp_packet.c and run_packet.c build it; `> icmp TYPE [CODE] [mtu N]` checks the
//! next ICMP message the stack sends.
//!
//! packetdrill's quote is the IP header of the segment (from the local to the remote
//! address, its length that of a TCP segment with a 20-byte header and the script's
//! payload), then the TCP ports and sequence number (8 bytes, RFC 792's "first 64 bits
//! of the original data datagram"), then as many zero bytes as the script's payload
//! length. The sequence number is the script's, mapped to the live numbering as an
//! outbound non-SYN segment's is (packetdrill's map_inbound_icmp_tcp_packet).

use std::net::SocketAddr;

use synack_wire::checksum;
use synack_wire::icmp::{IPPROTO_ICMP, IPPROTO_ICMPV6};
use synack_wire::{IpRepr, IPPROTO_TCP};

use crate::ast::{IcmpEchoed, IcmpSpec};
use crate::report::secs;
use crate::runner::{Res, Runner, Stop};

/// ICMP types by name (RFC 792 and later; packetdrill's icmpv4_types).
const V4_TYPES: &[(&str, u8)] = &[
    ("echo_reply", 0),
    ("unreachable", 3),
    ("source_quench", 4),
    ("redirect", 5),
    ("echo_request", 8),
    ("time_exceeded", 11),
    ("parameter_problem", 12),
    ("timestamp_request", 13),
    ("timestamp_reply", 14),
    ("information_request", 15),
    ("information_reply", 16),
    ("address_mask_request", 17),
    ("address_mask_reply", 18),
];

/// Destination Unreachable codes of ICMP (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
const V4_UNREACH: &[(&str, u8)] = &[
    ("net_unreachable", 0),
    ("host_unreachable", 1),
    ("protocol_unreachable", 2),
    ("port_unreachable", 3),
    ("frag_needed", 4),
    ("source_route_failed", 5),
    ("net_unknown", 6),
    ("host_unknown", 7),
    ("source_host_isolated", 8),
    ("net_prohibited", 9),
    ("host_prohibited", 10),
    ("net_unreachable_for_tos", 11),
    ("host_unreachable_for_tos", 12),
    ("packet_filtered", 13),
    ("precedence_violation", 14),
    ("precedence_cutoff", 15),
];

/// ICMPv6 types by name (RFC 4443 2.1).
const V6_TYPES: &[(&str, u8)] = &[
    ("unreachable", 1),
    ("packet_too_big", 2),
    ("time_exceeded", 3),
    ("parameter_problem", 4),
    ("echo_request", 128),
    ("echo_reply", 129),
];

/// ICMPv6 Destination Unreachable codes (RFC 4443 3.1; packetdrill also takes
/// `net_unreachable` for 0).
const V6_UNREACH: &[(&str, u8)] = &[
    ("net_unreachable", 0),
    ("no_route", 0),
    ("admin_prohibited", 1),
    ("not_neighbour", 2),
    ("address_unreachable", 3),
    ("port_unreachable", 4),
];

/// ICMPv6 Time Exceeded codes (RFC 4443 3.3).
const V6_TIME_EXCEEDED: &[(&str, u8)] = &[("exceeded_hop_limit", 0), ("exceeded_frag_time", 1)];

/// ICMPv6 Parameter Problem codes (RFC 4443 3.4).
const V6_PARAM_PROBLEM: &[(&str, u8)] = &[
    ("header_field", 0),
    ("unknown_next_header", 1),
    ("unknown_option", 2),
];

fn lookup(table: &[(&str, u8)], name: &str) -> Option<u8> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// `type_N` / `code_N`, tcpdump's notation for a number without a name.
fn numbered(name: &str, prefix: &str) -> Option<u8> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The type and code bytes of `spec` in ICMP (`v6` false) or ICMPv6, as packetdrill
/// resolves the names; an error names what is wrong.
pub(crate) fn type_and_code(spec: &IcmpSpec, v6: bool) -> Result<(u8, u8), String> {
    let family = if v6 { "ICMPv6" } else { "ICMP" };
    let types = if v6 { V6_TYPES } else { V4_TYPES };
    let t = numbered(&spec.type_name, "type_")
        .or_else(|| lookup(types, &spec.type_name))
        .ok_or_else(|| format!("bad {family} type `{}`", spec.type_name))?;
    let codes: &[(&str, u8)] = match (v6, t) {
        (false, 3) => V4_UNREACH,
        (true, 1) => V6_UNREACH,
        (true, 3) => V6_TIME_EXCEEDED,
        (true, 4) => V6_PARAM_PROBLEM,
        _ => &[],
    };
    let c = match &spec.code_name {
        None => 0,
        Some(name) => numbered(name, "code_")
            .or_else(|| lookup(codes, name))
            .ok_or_else(|| format!("bad {family} code `{name}` for type `{}`", spec.type_name))?,
    };
    if spec.mtu.is_some() {
        let ok = if v6 {
            t == 2 && c == 0
        } else {
            t == 3 && c == 4
        };
        if !ok {
            return Err(format!(
                "{family} `mtu` is only valid for {}",
                if v6 {
                    "packet_too_big"
                } else {
                    "unreachable frag_needed"
                }
            ));
        }
        if !v6 && spec.mtu.is_some_and(|m| m > 0xffff) {
            return Err("ICMP MTU out of 16-bit range".into());
        }
    }
    Ok((t, c))
}

/// Builds the inbound ICMP datagram `remote → local` quoting a TCP segment `local →
/// remote` whose live sequence number is `live_seq`.
pub(crate) fn build_inbound(
    spec: &IcmpSpec,
    local: SocketAddr,
    remote: SocketAddr,
    live_seq: u32,
) -> Result<Vec<u8>, String> {
    let v6 = local.is_ipv6();
    let (t, c) = type_and_code(spec, v6)?;
    let IcmpEchoed::Tcp { len, .. } = spec.echoed else {
        return Err("only TCP segments can be quoted here".into());
    };
    let len = len as usize;
    // The quoted datagram: its IP header says it carried a 20-byte TCP header and the
    // payload; what follows is the first 8 bytes of that header, then zeros.
    let quoted_ip = IpRepr {
        src: local.ip(),
        dst: remote.ip(),
        protocol: IPPROTO_TCP,
        payload_len: 20 + len,
        hop_limit: 0,
    };
    let qh = quoted_ip.header_len();
    let mut quote = vec![0u8; qh + 8 + len];
    quoted_ip
        .emit(&mut quote)
        .map_err(|e| format!("cannot build the quoted IP header: {e}"))?;
    quote[qh..qh + 2].copy_from_slice(&local.port().to_be_bytes());
    quote[qh + 2..qh + 4].copy_from_slice(&remote.port().to_be_bytes());
    quote[qh + 4..qh + 8].copy_from_slice(&live_seq.to_be_bytes());
    let mut msg = vec![0u8; 8];
    msg[0] = t;
    msg[1] = c;
    if let Some(mtu) = spec.mtu {
        if v6 {
            // RFC 4443 3.2: the MTU is the 32-bit field after the checksum.
            msg[4..8].copy_from_slice(&mtu.to_be_bytes());
        } else {
            // RFC 1191 4: the Next-Hop MTU is the low 16 bits of that word.
            msg[6..8].copy_from_slice(&(mtu as u16).to_be_bytes());
        }
    }
    if let Some(id) = spec.echo_id {
        msg[4..6].copy_from_slice(&id.to_be_bytes());
    }
    msg.extend_from_slice(&quote);
    let outer = IpRepr {
        src: remote.ip(),
        dst: local.ip(),
        protocol: if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP },
        payload_len: msg.len(),
        hop_limit: 64,
    };
    // RFC 792: the checksum covers the message; RFC 4443 2.3: and the pseudo-header.
    let mut acc = checksum::sum(&msg);
    if v6 {
        acc +=
            checksum::pseudo_header_sum(&outer.src, &outer.dst, IPPROTO_ICMPV6, msg.len() as u32);
    }
    msg[2..4].copy_from_slice(&(!checksum::fold(acc)).to_be_bytes());
    let mut buf = vec![0u8; outer.buffer_len()];
    let h = outer
        .emit(&mut buf)
        .map_err(|e| format!("cannot build the ICMP datagram: {e}"))?;
    buf[h..].copy_from_slice(&msg);
    Ok(buf)
}

/// `Some((type, code, word))` when `datagram` is an ICMP or ICMPv6 message; `word` is
/// the 32 bits after the checksum (where the MTU is).
pub(crate) fn parse_outbound(datagram: &[u8]) -> Option<(bool, u8, u8, u32)> {
    let (ip, payload) = IpRepr::parse(datagram).ok()?;
    let v6 = ip.dst.is_ipv6();
    let want = if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP };
    if ip.protocol != want || payload.len() < 8 {
        return None;
    }
    let word = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
    Some((v6, payload[0], payload[1], word))
}

impl Runner<'_> {
    /// `< icmp ...`: an ICMP error about the connection under test.
    pub(crate) fn inbound_icmp(&mut self, spec: &IcmpSpec) -> Res<()> {
        let IcmpEchoed::Tcp { seq, .. } = spec.echoed else {
            return Err(Stop::Unsupported(format!(
                "line {}: an ICMP message quoting a non-TCP packet",
                self.line
            )));
        };
        let live_seq = self.map.in_ack(seq, false);
        let (local, remote) = (self.sut_local, self.sut_remote);
        let live = build_inbound(spec, local, remote, live_seq).map_err(|e| self.fail(e, None))?;
        let text = format!(
            "{} < {}",
            secs(self.now),
            describe(&live).unwrap_or_default()
        );
        self.exchange
            .push(format!("{text} (quoting script seq {seq})"));
        let at = synack::Instant::from_micros(self.now as u64);
        self.stack.handle_packet(at, &live);
        self.flush()
    }

    /// `> icmp ...`: the stack's next ICMP message must have this type, code and MTU,
    /// due in `[lo, hi]` within `tol`.
    pub(crate) fn outbound_icmp(
        &mut self,
        spec: &IcmpSpec,
        (lo, hi, tol): (i64, i64, i64),
        any: bool,
    ) -> Res<()> {
        let limit = self.outbound_limit(hi, tol, any);
        let (time, bytes) = loop {
            self.flush()?;
            if let Some(x) = self.icmp_sniffed.pop_front() {
                break x;
            }
            if !self.step(limit)? {
                self.now = self.now.max(limit);
                return Err(self.fail(
                    format!(
                        "expected ICMP message `icmp {}` was not sent (waited until {} s)",
                        spec.type_name,
                        secs(limit)
                    ),
                    None,
                ));
            }
        };
        self.now = self.now.max(time);
        let Some((v6, t, c, word)) = parse_outbound(&bytes) else {
            return Err(self.fail("an outbound ICMP message does not parse", None));
        };
        let actual = format!("icmp type {t} code {c}");
        let (want_t, want_c) = type_and_code(spec, v6).map_err(|e| self.fail(e, None))?;
        if !any && (time < lo.saturating_sub(tol) || time > hi.saturating_add(tol)) {
            return Err(self.fail(
                format!(
                    "timing error: expected ICMP message at {} s but it was sent at {} s",
                    secs(lo),
                    secs(time)
                ),
                Some(actual),
            ));
        }
        if (t, c) != (want_t, want_c) {
            return Err(self.fail(
                format!("bad outbound ICMP message: expected type {want_t} code {want_c}"),
                Some(actual),
            ));
        }
        if let Some(mtu) = spec.mtu {
            let got = if v6 { word } else { word & 0xffff };
            if got != mtu {
                return Err(self.fail(
                    format!("bad outbound ICMP message: expected mtu {mtu}, got {got}"),
                    Some(actual),
                ));
            }
        }
        Ok(())
    }
}

/// A one-line description of an ICMP or ICMPv6 datagram for the exchange log, `None`
/// for anything else.
pub(crate) fn describe(datagram: &[u8]) -> Option<String> {
    let (v6, t, c, word) = parse_outbound(datagram)?;
    let (ip, _) = IpRepr::parse(datagram).ok()?;
    let family = if v6 { "icmp6" } else { "icmp" };
    Some(format!(
        "{} > {}: {family} type {t} code {c}, word 0x{word:08x}, length {}",
        ip.src, ip.dst, ip.payload_len
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(t: &str, c: Option<&str>, mtu: Option<u32>) -> IcmpSpec {
        IcmpSpec {
            type_name: t.into(),
            code_name: c.map(Into::into),
            mtu,
            echo_id: None,
            echoed: IcmpEchoed::Tcp { seq: 0, len: 0 },
        }
    }

    #[test]
    fn names_resolve_per_family() {
        let s = spec("unreachable", Some("frag_needed"), Some(1200));
        assert_eq!(type_and_code(&s, false), Ok((3, 4)));
        assert!(
            type_and_code(&s, true).is_err(),
            "frag_needed is not an ICMPv6 code"
        );
        let s = spec("packet_too_big", None, Some(1280));
        assert_eq!(type_and_code(&s, true), Ok((2, 0)));
        assert!(type_and_code(&s, false).is_err());
        assert_eq!(
            type_and_code(&spec("type_42", Some("code_7"), None), false),
            Ok((42, 7))
        );
        assert_eq!(
            type_and_code(&spec("unreachable", None, None), false),
            Ok((3, 0))
        );
        assert!(type_and_code(
            &spec("unreachable", Some("port_unreachable"), Some(9)),
            false
        )
        .is_err());
    }

    #[test]
    fn quote_carries_ports_and_sequence() {
        let local: SocketAddr = "192.168.0.1:8080".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let mut s = spec("unreachable", Some("frag_needed"), Some(1200));
        s.echoed = IcmpEchoed::Tcp { seq: 1, len: 1460 };
        let d = build_inbound(&s, local, remote, 0xdead_beef).unwrap();
        let (ip, msg) = IpRepr::parse(&d).unwrap();
        assert_eq!((ip.src, ip.dst), (remote.ip(), local.ip()));
        assert_eq!(checksum::checksum(msg), 0, "the ICMP checksum verifies");
        let r = synack_wire::icmp::IcmpRepr::parse(false, &ip.src, &ip.dst, msg).unwrap();
        let synack_wire::icmp::IcmpRepr::DstUnreachable {
            code,
            mtu,
            invoking,
        } = r
        else {
            panic!("not an unreachable: {r:?}");
        };
        assert_eq!((code, mtu), (4, 1200));
        assert_eq!(invoking.len(), 20 + 8 + 1460);
        let q = synack_wire::icmp::QuotedTcp::parse(false, invoking).unwrap();
        assert_eq!((q.src_port, q.dst_port, q.seq), (8080, 40000, 0xdead_beef));
        assert_eq!(q.total_len, 20 + 20 + 1460);
    }
}
