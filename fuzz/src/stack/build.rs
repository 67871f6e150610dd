//! Building the bytes of a crafted segment, and damaging them as a [`Mangle`] says.

use std::net::IpAddr;

use synack::wire::ipv4::Ipv4Packet;
use synack::wire::ipv6::Ipv6Packet;
use synack::wire::{IpRepr, SackBlock, SackBlocks, SeqNum, TcpOption, TcpPacket, Timestamp};

use super::input::{Mangle, OptSpec};

/// The fields of a segment after the bases are resolved.
pub struct Fields<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: &'a [u8],
    pub payload_len: usize,
}

/// Option bytes for `spec`, at most 40, padded with EOL to a multiple of 4. `tsval` and
/// `tsecr` are the resolved timestamp values; SACK edges are counted from `ack`.
pub fn options(spec: &OptSpec, tsval: u32, tsecr: u32, ack: SeqNum) -> Vec<u8> {
    if let Some(raw) = &spec.raw {
        let mut v: Vec<u8> = raw.0.iter().copied().take(40).collect();
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        return v;
    }
    let mut list = Vec::new();
    if let Some(m) = spec.mss {
        list.push(TcpOption::Mss(m));
    }
    if spec.sack_ok {
        list.push(TcpOption::SackPermitted);
    }
    if spec.ts.is_some() {
        list.push(TcpOption::Nop);
        list.push(TcpOption::Nop);
        list.push(TcpOption::Timestamp(Timestamp { tsval, tsecr }));
    }
    if let Some(w) = spec.wscale {
        list.push(TcpOption::Nop);
        list.push(TcpOption::WindowScale(w));
    }
    if !spec.sack.is_empty() {
        let mut blocks = SackBlocks::new();
        for &(off, len) in &spec.sack {
            let left = ack + off as u32;
            blocks.push(SackBlock {
                left,
                right: left + u32::from(len),
            });
        }
        list.push(TcpOption::Nop);
        list.push(TcpOption::Nop);
        list.push(TcpOption::Sack(blocks));
    }
    let mut out = [0u8; 40];
    let mut at = 0;
    for o in list {
        let n = o.emit(&mut out[at..]);
        if n == 0 {
            break;
        }
        at += n;
    }
    let len = at.div_ceil(4) * 4;
    out[..len].to_vec()
}

/// A whole datagram with the fields given, checksums filled.
pub fn datagram(f: &Fields<'_>) -> Vec<u8> {
    let hlen = 20 + f.options.len();
    let seg_len = hlen + f.payload_len;
    let ip = IpRepr {
        src: f.src,
        dst: f.dst,
        protocol: synack::wire::IPPROTO_TCP,
        payload_len: seg_len,
        hop_limit: 64,
    };
    let ip_len = ip.header_len();
    let mut buf = vec![0u8; ip_len + seg_len];
    if ip.emit(&mut buf).is_err() {
        // Too long for the length field: send a truncated header instead.
        buf.truncate(ip_len);
        return buf;
    }
    {
        let mut t = TcpPacket::new_unchecked(&mut buf[ip_len..]);
        t.set_src_port(f.src_port);
        t.set_dst_port(f.dst_port);
        t.set_seq_number(f.seq);
        t.set_ack_number(f.ack);
        t.set_header_len(hlen);
        t.set_flags(f.flags);
        t.set_window_len(f.window);
        t.set_urgent_at(f.urgent);
        t.options_mut().copy_from_slice(f.options);
        for (i, b) in t.payload_mut().iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        t.fill_checksum(&f.src, &f.dst);
    }
    buf
}

fn ip_header_len(buf: &[u8]) -> usize {
    match buf.first().map(|b| b >> 4) {
        Some(6) => 40,
        _ => usize::from(buf.first().copied().unwrap_or(0x45) & 0x0f) * 4,
    }
}

fn fix_ipv4(buf: &mut [u8]) {
    if buf.len() >= 20 && buf[0] >> 4 == 4 {
        let hlen = ip_header_len(buf).clamp(20, buf.len());
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..hlen]);
        p.fill_checksum();
    }
}

/// Inserts `ext` (already chained, the last one's Next Header set to TCP) after the IPv6
/// fixed header whose Next Header becomes `first`.
fn insert_v6(buf: &mut Vec<u8>, first: u8, ext: &[u8]) {
    if buf.len() < 40 {
        return;
    }
    let mut p = Ipv6Packet::new_unchecked(&mut buf[..40]);
    let len = p.payload_len().saturating_add(ext.len() as u16);
    p.set_payload_len(len);
    p.set_next_header(first);
    buf.splice(40..40, ext.iter().copied());
}

/// Damages `buf` (an IPv4 or IPv6 datagram carrying TCP) as `m` says.
pub fn mangle(buf: &mut Vec<u8>, m: &Mangle) {
    if buf.is_empty() {
        return;
    }
    let v6 = buf[0] >> 4 == 6;
    match m {
        Mangle::None => {}
        Mangle::Flip { at, mask } => {
            let i = usize::from(*at) % buf.len();
            buf[i] ^= mask;
        }
        Mangle::Truncate { len } => {
            let n = usize::from(*len) % buf.len();
            buf.truncate(n);
        }
        Mangle::SetTcpByte { at, value } => {
            let hlen = ip_header_len(buf);
            if buf.len() <= hlen {
                return;
            }
            let (ip, seg) = buf.split_at_mut(hlen);
            let i = usize::from(*at) % seg.len();
            seg[i] = *value;
            if seg.len() >= 20 {
                let (src, dst) = addrs(ip);
                TcpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
            }
        }
        Mangle::Fragment { more, offset } => {
            if v6 {
                let frag = [
                    synack::wire::IPPROTO_TCP,
                    0,
                    (offset >> 5) as u8,
                    ((offset << 3) as u8) | u8::from(*more),
                    0,
                    0,
                    0x12,
                    0x34,
                ];
                insert_v6(buf, 44, &frag);
            } else if buf.len() >= 20 {
                let mut p = Ipv4Packet::new_unchecked(&mut buf[..20]);
                p.set_more_frags(*more);
                p.set_frag_offset(offset << 3);
                fix_ipv4(buf);
            }
        }
        Mangle::Extensions { headers } => {
            if v6 {
                let mut ext = Vec::new();
                let kinds: Vec<u8> = headers
                    .iter()
                    .map(|(k, _)| match k % 5 {
                        0 => 0,
                        1 => 43,
                        2 => 60,
                        3 => 44,
                        _ => *k,
                    })
                    .collect();
                for (i, (_, units)) in headers.iter().enumerate() {
                    let next = kinds
                        .get(i + 1)
                        .copied()
                        .unwrap_or(synack::wire::IPPROTO_TCP);
                    let units = units % 4;
                    let mut h = vec![0u8; (usize::from(units) + 1) * 8];
                    h[0] = next;
                    h[1] = units;
                    // Pad options: PadN covering the rest.
                    h[2] = 1;
                    h[3] = (h.len() - 4) as u8;
                    ext.extend_from_slice(&h);
                }
                if let Some(&first) = kinds.first() {
                    insert_v6(buf, first, &ext);
                }
            } else if buf.len() >= 20 {
                let words: usize = headers.iter().map(|(_, l)| usize::from(*l % 4)).sum();
                let words = words.min(10);
                if words == 0 {
                    return;
                }
                let hlen = ip_header_len(buf).max(20);
                let opts = vec![1u8; words * 4];
                buf.splice(hlen..hlen, opts);
                let new_hlen = hlen + words * 4;
                if new_hlen > 60 {
                    return;
                }
                let total = buf.len() as u16;
                let mut p = Ipv4Packet::new_unchecked(&mut buf[..new_hlen]);
                p.set_header_len(new_hlen);
                p.set_total_len(total);
                fix_ipv4(buf);
            }
        }
        Mangle::Trailer { len } => {
            buf.extend(std::iter::repeat_n(0u8, usize::from(*len)));
        }
        Mangle::IpLength { len } => {
            if v6 {
                if buf.len() >= 40 {
                    Ipv6Packet::new_unchecked(&mut buf[..40]).set_payload_len(*len);
                }
            } else if buf.len() >= 20 {
                Ipv4Packet::new_unchecked(&mut buf[..20]).set_total_len(*len);
                fix_ipv4(buf);
            }
        }
    }
}

/// Source and destination of an IP header (unspecified when the header is too short).
fn addrs(ip: &[u8]) -> (IpAddr, IpAddr) {
    if ip.len() >= 40 && ip[0] >> 4 == 6 {
        let p = Ipv6Packet::new_unchecked(ip);
        (p.src_addr().into(), p.dst_addr().into())
    } else if ip.len() >= 20 {
        let p = Ipv4Packet::new_unchecked(ip);
        (p.src_addr().into(), p.dst_addr().into())
    } else {
        let z = IpAddr::from([0u8; 4]);
        (z, z)
    }
}
