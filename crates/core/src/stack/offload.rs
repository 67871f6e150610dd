//! Segmentation and checksum offload, for devices that have them (a Linux TUN device
//! with a virtio-net header: `IFF_VNET_HDR`, `TUNSETOFFLOAD` with TSO4, TSO6 and CSUM).
//!
//! Receive: a device hands over a GSO packet (the kernel's TCP sent up to 64 KB as one
//! datagram) with its segment size, and says when it vouches for the TCP checksum.
//! [`Stack::handle_packet_offload`] processes the packet as one segment, as Linux
//! processes a GRO packet, counting it as `gso_segs` segments where Linux does
//! (`tcp_segs_in`) and sizing `rcv_mss` from the segment size (`tcp_measure_rcv_mss`).
//!
//! Transmit: [`Stack::poll_transmit_offload`] writes the next datagram as
//! [`Stack::poll_transmit`] does and, when the device segments, appends the segments
//! of the same connection that follow it (contiguous, of the same size, the same
//! headers but for the sequence number, PSH or FIN only on the last) into one GSO
//! super-segment, which the device cuts back into exactly those segments
//! (`synack_wire::gso::segment` shows how). With checksum offload the TCP checksum is
//! left to the device. A driver without offload calls `poll_transmit` (or this with
//! [`TxOffload::NONE`]) and gets one segment per datagram, as the simulated network and
//! the packetdrill runner do.

use synack_wire::gso;

use super::transmit::{datagram_len, Stashed};
use super::{emit_conn_segment, SocketHandle, Stack};
use crate::time::Instant;
use crate::BufferTooSmall;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;
/// The TCP checksum's offset in the TCP header (virtio-net's `csum_offset`).
const TCP_CSUM_OFFSET: u16 = 16;
/// The largest IP datagram (the IPv4 total length, the IPv6 payload length without
/// jumbograms): a super-segment's bound whatever the device allows.
const MAX_DATAGRAM: usize = 65535;

/// What a device does for the datagrams the stack sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxOffload {
    /// The largest super-segment the device segments, in bytes, IP header included
    /// (Linux's `gso_max_size`; at most 65535 is used). 0: no segmentation offload.
    pub gso_max_size: usize,
    /// The device computes TCP checksums: the stack writes only the pseudo-header's sum
    /// into the field ([`Transmit::csum_start`] says where the device starts summing).
    pub csum: bool,
}

impl TxOffload {
    /// No offload: one complete segment per datagram.
    pub const NONE: TxOffload = TxOffload {
        gso_max_size: 0,
        csum: false,
    };
}

/// A datagram [`Stack::poll_transmit_offload`] wrote, with what the device must do
/// with it (the fields of a virtio-net header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The datagram's length in the buffer.
    pub len: usize,
    /// The TCP payload of each segment (virtio-net's `gso_size`) when the datagram is a
    /// super-segment of [`segs`](Self::segs) segments, the last possibly shorter;
    /// 0 for a datagram to send as it is.
    pub gso_size: u16,
    /// The segments it carries (1 unless a super-segment).
    pub segs: u16,
    /// The IP and TCP headers' length (virtio-net's `hdr_len`); 0 if not TCP.
    pub hdr_len: u16,
    /// Where the device starts the TCP checksum (the IP header's length, virtio-net's
    /// `csum_start`; the checksum goes [`Transmit::CSUM_OFFSET`] bytes further) when it is
    /// left to the device; `None` when the datagram's checksums are complete.
    pub csum_start: Option<u16>,
}

impl Transmit {
    /// The checksum field's offset from [`csum_start`](Self::csum_start) (virtio-net's
    /// `csum_offset`): 16, TCP's.
    pub const CSUM_OFFSET: u16 = TCP_CSUM_OFFSET;

    fn single(buf: &[u8], len: usize, partial: bool) -> Transmit {
        let lens = gso::tcp_header_lens(&buf[..len]).ok();
        Transmit {
            len,
            gso_size: 0,
            segs: 1,
            hdr_len: lens.map_or(0, |(ip, tcp)| (ip + tcp) as u16),
            csum_start: lens.filter(|_| partial).map(|(ip, _)| ip as u16),
        }
    }
}

/// What a device did for an arriving datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxOffload {
    /// The segment size of a GSO packet (virtio-net's `gso_size`): its TCP payload is a
    /// run of segments of this size, the last possibly shorter. 0: one segment.
    pub gso_size: u16,
    /// The device vouches for the TCP checksum (virtio-net's `NEEDS_CSUM`, a datagram
    /// the kernel built with its checksum left to the device, or `DATA_VALID`): it is
    /// not verified. Other protocols' checksums are verified as always.
    pub csum_valid: bool,
}

/// The transmit path's offload state.
#[derive(Debug, Default)]
pub(crate) struct TxState {
    /// Leave TCP checksums to the device in the datagrams written now.
    pub partial: bool,
    /// The connection whose segment `poll_transmit` just wrote, if it wrote one.
    pub last: Option<SocketHandle>,
    /// The datagram just written has its TCP checksum left to the device.
    pub last_partial: bool,
}

impl Stack {
    /// Feeds one datagram with what the device did for it (see [`RxOffload`]). With
    /// `RxOffload::default()` this is [`Stack::handle_packet`].
    pub fn handle_packet_offload(&mut self, now: Instant, datagram: &[u8], rx: RxOffload) {
        self.rx_csum_ok = rx.csum_valid;
        self.handle_packet_gso(now, datagram, rx.gso_size);
        self.rx_csum_ok = false;
    }

    /// As [`Stack::poll_transmit`], for a device with the offloads of `offload`: the
    /// datagram may be a super-segment, and its TCP checksum may be left to the device
    /// ([`Transmit`] says which). A buffer of 65535 bytes never gets [`BufferTooSmall`];
    /// super-segments are bounded by the buffer as well as by `gso_max_size`.
    #[must_use = "a datagram written into the buffer must be sent"]
    pub fn poll_transmit_offload(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        offload: TxOffload,
    ) -> Result<Option<Transmit>, BufferTooSmall> {
        self.tx.partial = offload.csum;
        let r = self.poll_transmit(now, buf);
        let out = match r {
            Ok(Some(n)) => {
                let first = Transmit::single(buf, n, self.tx.last_partial);
                match self.tx.last.take() {
                    Some(h) if offload.gso_max_size > n => {
                        let limit = offload.gso_max_size.min(MAX_DATAGRAM).min(buf.len());
                        Ok(Some(self.coalesce(h, buf, first, limit)))
                    }
                    _ => Ok(Some(first)),
                }
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        self.tx.partial = false;
        out
    }

    /// Appends to the segment `first` in `buf` the segments of connection `h` that
    /// continue it, while they fit in `limit` bytes; a segment polled that does not
    /// continue it is stashed as the next datagram.
    fn coalesce(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        mut first: Transmit,
        limit: usize,
    ) -> Transmit {
        let hdr = usize::from(first.hdr_len);
        let n = first.len;
        if hdr == 0 || n <= hdr {
            return first;
        }
        let ip_len = hdr - tcp_len_of(buf, hdr);
        let flags = buf[ip_len + 13];
        if flags & (TCP_SYN | TCP_RST | TCP_FIN | TCP_PSH | TCP_URG | TCP_CWR) != 0 {
            // Only plain data starts a super-segment (CWR would need the ECN GSO type).
            return first;
        }
        let gso = n - hdr;
        let seq0 = u32::from_be_bytes(buf[ip_len + 4..ip_len + 8].try_into().unwrap());
        let ttl = self.config.ip_default_ttl;
        let partial = first.csum_start.is_some();
        let mut end = n;
        let mut segs: u16 = 1;
        // The tail of the previous payload that the next segment's headers overwrite.
        let mut saved = [0u8; 128];
        while end + gso <= limit && hdr <= saved.len() && segs < u16::MAX {
            let at = end - hdr;
            saved[..hdr].copy_from_slice(&buf[at..end]);
            let (out_before, re_before) = (self.stats.OutSegs, self.stats.RetransSegs);
            let placed = self.with_conn(h, |conn, ctx| {
                let seg = conn.poll_segment(ctx)?;
                let dlen = datagram_len(conn, &seg);
                if dlen == hdr + seg.payload_len && seg.payload_len <= gso {
                    let w = emit_conn_segment(conn, &seg, ttl, partial, &mut buf[at..]);
                    Some(Placed::InPlace(w?))
                } else {
                    let mut v = vec![0u8; dlen];
                    emit_conn_segment(conn, &seg, ttl, partial, &mut v)?;
                    Some(Placed::Apart(v))
                }
            });
            let Some(Some(placed)) = placed else { break };
            let stash = match placed {
                Placed::InPlace(w) => {
                    let next = &buf[at..at + w];
                    let seq = u32::from_be_bytes(next[ip_len + 4..ip_len + 8].try_into().unwrap());
                    let continues = seq == seq0.wrapping_add((end - hdr) as u32)
                        && same_headers(&buf[..hdr], next, ip_len);
                    if continues {
                        let last_flags = next[ip_len + 13] & (TCP_PSH | TCP_FIN);
                        let plen = w - hdr;
                        buf[at..end].copy_from_slice(&saved[..hdr]);
                        buf[ip_len + 13] |= last_flags;
                        end += plen;
                        segs += 1;
                        if plen < gso || last_flags != 0 {
                            break;
                        }
                        continue;
                    }
                    let v = buf[at..at + w].to_vec();
                    buf[at..end].copy_from_slice(&saved[..hdr]);
                    v
                }
                Placed::Apart(v) => v,
            };
            // Not sent yet: the counters wait for the datagram to leave.
            let out_segs = self.stats.OutSegs - out_before;
            let retrans_segs = self.stats.RetransSegs - re_before;
            self.stats.OutSegs = out_before;
            self.stats.RetransSegs = re_before;
            self.stashed = Some(Stashed {
                bytes: stash,
                out_segs,
                retrans_segs,
                partial,
            });
            break;
        }
        if segs == 1 {
            return first;
        }
        // Our own headers, under 65535 bytes: this cannot fail.
        let _ = gso::finish(&mut buf[..end], ip_len, partial);
        if buf[0] >> 4 == 4 && self.sends_without_df(&buf[16..20]) {
            // The device gives each segment the next identification (no FIXEDID).
            self.ip_ident = self.ip_ident.wrapping_add(segs - 1);
        }
        first.len = end;
        first.segs = segs;
        first.gso_size = gso as u16;
        first
    }
}

/// Where a connection's next segment went.
enum Placed {
    /// Written in place after the super-segment's payload, this many bytes.
    InPlace(usize),
    /// Written apart (not the same size: it cannot continue the super-segment).
    Apart(Vec<u8>),
}

/// The TCP header's length in a datagram whose headers are `hdr` bytes.
fn tcp_len_of(buf: &[u8], hdr: usize) -> usize {
    let ip_len = if buf[0] >> 4 == 4 {
        usize::from(buf[0] & 0x0f) * 4
    } else {
        40
    };
    hdr - ip_len
}

/// Whether datagram `b` has the headers of `a` but for what segmentation changes (IP
/// length, identification and checksum, DF; the sequence number, PSH and FIN, the TCP
/// checksum): Linux's GSO gives every segment the super-segment's other header bytes.
fn same_headers(a: &[u8], b: &[u8], ip_len: usize) -> bool {
    let hdr = a.len();
    if b.len() < hdr {
        return false;
    }
    let ip_same = if a[0] >> 4 == 4 {
        a[..2] == b[..2]
            && a[6] & 0x1f == b[6] & 0x1f
            && a[7..10] == b[7..10]
            && a[12..ip_len] == b[12..ip_len]
    } else {
        a[..4] == b[..4] && a[6..40] == b[6..40]
    };
    let (ta, tb) = (&a[ip_len..hdr], &b[ip_len..hdr]);
    ip_same
        && ta[..4] == tb[..4]
        && ta[8..13] == tb[8..13]
        && ta[13] & !(TCP_PSH | TCP_FIN) == tb[13] & !(TCP_PSH | TCP_FIN)
        && ta[14..16] == tb[14..16]
        && ta[18..] == tb[18..]
}
