//! TCP segmentation in software: a GSO super-segment (one IP datagram whose TCP payload
//! is a run of segments of `gso_size` bytes, the last possibly shorter) cut into the
//! datagrams a device with segmentation offload would put on the wire, as Linux's
//! `tcp_gso_segment` with `inet_gso_segment` / `ipv6_gso_segment` cuts it:
//!
//! - each segment's sequence number advances by the payload before it;
//! - FIN and PSH stay on the last segment only, CWR on the first only;
//! - an IPv4 identification grows by one per segment (no `SKB_GSO_TCP_FIXEDID`), the
//!   total length (IPv6 payload length) and the IPv4 header checksum are recomputed;
//! - every TCP checksum is computed in full, whatever the super-segment's field held (a
//!   full checksum or, with checksum offload, only the pseudo-header's sum).
//!
//! A driver whose device has no offload uses this to send what the stack built for one
//! that has; tests use it to compare a super-segment with the segments it stands for.

use crate::checksum;
use crate::{Error, Result, IPPROTO_TCP};

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Where the headers of a TCP datagram end: `(ip_header_len, tcp_header_len)`.
///
/// IPv4 with options is taken (the header length field); IPv6 only with TCP as the
/// first next header, as the stack sends it.
pub fn tcp_header_lens(datagram: &[u8]) -> Result<(usize, usize)> {
    let first = *datagram.first().ok_or(Error::Truncated)?;
    let ip_len = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 || datagram.len() < ihl {
                return Err(Error::Truncated);
            }
            if datagram[9] != IPPROTO_TCP {
                return Err(Error::Malformed);
            }
            ihl
        }
        6 => {
            if datagram.len() < 40 {
                return Err(Error::Truncated);
            }
            if datagram[6] != IPPROTO_TCP {
                return Err(Error::Malformed);
            }
            40
        }
        _ => return Err(Error::Malformed),
    };
    let off = *datagram.get(ip_len + 12).ok_or(Error::Truncated)?;
    let tcp_len = usize::from(off >> 4) * 4;
    if tcp_len < 20 || datagram.len() < ip_len + tcp_len {
        return Err(Error::Truncated);
    }
    Ok((ip_len, tcp_len))
}

/// Cuts `datagram` (IPv4 or IPv6 carrying TCP) into segments of `gso_size` payload
/// bytes and hands each, a whole datagram with correct checksums, to `each`, in order;
/// `scratch` holds the segment being built. Returns the number of segments. A payload
/// no longer than `gso_size` (or a `gso_size` of 0) gives one datagram: the input with
/// its TCP checksum computed.
///
/// Errors: a datagram that is not TCP over IPv4/IPv6, or shorter than its headers.
pub fn segment(
    datagram: &[u8],
    gso_size: u16,
    scratch: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]),
) -> Result<usize> {
    let (ip_len, tcp_len) = tcp_header_lens(datagram)?;
    let hdr = ip_len + tcp_len;
    let payload = &datagram[hdr..];
    let v4 = datagram[0] >> 4 == 4;
    let step = if gso_size == 0 {
        payload.len().max(1)
    } else {
        usize::from(gso_size)
    };
    let count = payload.len().div_ceil(step).max(1);
    let seq0 = u32::from_be_bytes(datagram[ip_len + 4..ip_len + 8].try_into().unwrap());
    let id0 = u16::from_be_bytes([datagram[4], datagram[5]]);
    let flags0 = datagram[ip_len + 13];
    for i in 0..count {
        let start = (i * step).min(payload.len());
        let end = ((i + 1) * step).min(payload.len());
        let part = &payload[start..end];
        scratch.clear();
        scratch.extend_from_slice(&datagram[..hdr]);
        scratch.extend_from_slice(part);
        if v4 {
            scratch[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
        }
        let tcp = &mut scratch[ip_len..];
        tcp[4..8].copy_from_slice(&seq0.wrapping_add(start as u32).to_be_bytes());
        let mut flags = flags0;
        if i + 1 < count {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            flags &= !TCP_CWR;
        }
        tcp[13] = flags;
        finish(scratch, ip_len, false)?;
        each(scratch);
    }
    Ok(count)
}

/// Sets the lengths and checksums of a TCP datagram (IPv4 or IPv6) whose IP header is
/// `ip_len` bytes: the IPv4 total length and header checksum or the IPv6 payload
/// length, and the TCP checksum, complete or, with `partial`, only the pseudo-header's
/// sum over the TCP length (the field a device with checksum offload completes, and
/// that Linux's GSO adjusts per segment).
///
/// Errors: a datagram longer than 65535 bytes, or shorter than its headers.
pub fn finish(d: &mut [u8], ip_len: usize, partial: bool) -> Result<()> {
    let total = d.len();
    if total < ip_len + 20 || ip_len < 20 {
        return Err(Error::Truncated);
    }
    if d[0] >> 4 == 4 {
        let total16 = u16::try_from(total).map_err(|_| Error::Malformed)?;
        d[2..4].copy_from_slice(&total16.to_be_bytes());
        d[10..12].fill(0);
        let c = checksum::checksum(&d[..ip_len]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        let plen = u16::try_from(total - 40).map_err(|_| Error::Malformed)?;
        d[4..6].copy_from_slice(&plen.to_be_bytes());
    }
    let (src, dst) = addresses(&d[..ip_len]);
    let pseudo = checksum::pseudo_header_sum(&src, &dst, IPPROTO_TCP, (total - ip_len) as u32);
    let c = if partial {
        checksum::fold(pseudo)
    } else {
        d[ip_len + 16..ip_len + 18].fill(0);
        !checksum::fold(pseudo + checksum::sum(&d[ip_len..]))
    };
    d[ip_len + 16..ip_len + 18].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// The source and destination addresses of an IP header (version checked by the caller).
fn addresses(ip: &[u8]) -> (std::net::IpAddr, std::net::IpAddr) {
    if ip[0] >> 4 == 4 {
        let s: [u8; 4] = ip[12..16].try_into().unwrap();
        let d: [u8; 4] = ip[16..20].try_into().unwrap();
        (s.into(), d.into())
    } else {
        let s: [u8; 16] = ip[8..24].try_into().unwrap();
        let d: [u8; 16] = ip[24..40].try_into().unwrap();
        (s.into(), d.into())
    }
}

/// Completes a TCP checksum left to the device (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the
/// field at `csum_start + csum_offset` holds the pseudo-header's sum, and the checksum
/// is the complement of the sum from `csum_start` to the end. What a driver without
/// checksum offload does with such a datagram (Linux's skb_checksum_help).
pub fn complete_checksum(datagram: &mut [u8], csum_start: usize, csum_offset: usize) -> Result<()> {
    let at = csum_start + csum_offset;
    if at + 2 > datagram.len() {
        return Err(Error::Truncated);
    }
    let c = !checksum::fold(checksum::sum(&datagram[csum_start..]));
    datagram[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}
