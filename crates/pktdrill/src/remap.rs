//! §3.5: the socket under test's 4-tuple, and the sequence-number and timestamp maps
//! between the script's space and the live packets; building inbound datagrams.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use synack_wire::tcp::{flags, TcpPacket};
use synack_wire::{IpRepr, IPPROTO_TCP};

use crate::ast::{OptSpec, OptionsSpec, TcpSpec};

/// The ISN and timestamp maps of the connection under test.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqMap {
    /// The peer's ISN: the seq of the script's inbound SYN.
    pub remote_isn: u32,
    /// `(live, script)` ISN of the stack's SYN or SYN-ACK, once seen.
    pub local_isn: Option<(u32, u32)>,
    /// The script's ISN was taken from the connection's first SYN or SYN-ACK line.
    pub script_isn_set: bool,
    /// Script TS val → live TS val of outbound packets.
    ts: HashMap<u32, u32>,
    /// The latest recorded `(script, live)` pair, to extrapolate unrecorded values.
    last_ts: Option<(u32, u32)>,
    /// The first outbound `(script, live)` TS val, to check TS val against a tick.
    pub first_ts: Option<(u32, u32)>,
}

impl SeqMap {
    fn local_off(&self, syn: bool) -> u32 {
        match self.local_isn {
            Some((live, script)) if syn => live.wrapping_sub(script),
            Some((live, _)) => live,
            None => 0,
        }
    }

    /// Inbound seq, script → live.
    pub fn in_seq(&self, script: u32, syn: bool) -> u32 {
        if syn {
            script
        } else {
            script.wrapping_add(self.remote_isn)
        }
    }

    /// Inbound ack or SACK edge, script → live.
    pub fn in_ack(&self, script: u32, syn: bool) -> u32 {
        script.wrapping_add(self.local_off(syn))
    }

    /// Outbound seq, live → script.
    pub fn out_seq(&self, live: u32, syn: bool) -> u32 {
        live.wrapping_sub(self.local_off(syn))
    }

    /// Outbound ack or SACK edge, live → script.
    pub fn out_ack(&self, live: u32) -> u32 {
        live.wrapping_sub(self.remote_isn)
    }

    /// The ack field of an outbound segment, live → script: absolute on a SYN-ACK, as
    /// packetdrill writes SYN lines (the peer's ISN as the script gave it, which the
    /// inbound SYN carried unchanged), relative to the peer's ISN otherwise.
    pub fn out_ack_field(&self, live: u32, syn: bool) -> u32 {
        if syn {
            live
        } else {
            self.out_ack(live)
        }
    }

    /// Records that the script's TS val `script` was live value `live`.
    pub fn record_ts(&mut self, script: u32, live: u32) {
        self.ts.insert(script, live);
        self.last_ts = Some((script, live));
        if self.first_ts.is_none() {
            self.first_ts = Some((script, live));
        }
    }

    /// The live TS ecr for the script's `ecr`: the recorded value, else extrapolated from
    /// the latest record (a 1 ms script clock, as scripts write them), else unchanged.
    pub fn in_ecr(&self, script: u32) -> u32 {
        if script == 0 {
            return 0;
        }
        if let Some(v) = self.ts.get(&script) {
            return *v;
        }
        match self.last_ts {
            Some((s, l)) => l.wrapping_add(script.wrapping_sub(s)),
            None => script,
        }
    }
}

/// Encodes the script's options for an inbound packet, remapping SACK edges and TS ecr.
fn encode_options(opts: &[OptSpec], map: &SeqMap) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for o in opts {
        match o {
            OptSpec::Nop => out.push(1),
            OptSpec::Eol => out.push(0),
            OptSpec::Mss(m) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&m.to_be_bytes());
            }
            OptSpec::WScale(w) => out.extend_from_slice(&[3, 3, *w]),
            OptSpec::SackOk => out.extend_from_slice(&[4, 2]),
            OptSpec::Sack(blocks) => {
                out.extend_from_slice(&[5, (2 + 8 * blocks.len()) as u8]);
                for (a, b) in blocks {
                    out.extend_from_slice(&map.in_ack(*a, false).to_be_bytes());
                    out.extend_from_slice(&map.in_ack(*b, false).to_be_bytes());
                }
            }
            OptSpec::Ts(val, ecr) => {
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&map.in_ecr(*ecr).to_be_bytes());
            }
            OptSpec::FastOpen { exp, cookie } => {
                if *exp {
                    out.extend_from_slice(&[254, (4 + cookie.len()) as u8, 0xf9, 0x89]);
                } else {
                    out.extend_from_slice(&[34, (2 + cookie.len()) as u8]);
                }
                out.extend_from_slice(cookie);
            }
            OptSpec::Md5(digest) => {
                out.extend_from_slice(&[19, 18]);
                out.extend_from_slice(digest);
            }
            OptSpec::Other(t) => return Err(format!("cannot send option `{t}`")),
        }
    }
    if out.len() % 4 != 0 {
        return Err(format!(
            "inbound options take {} bytes, not a multiple of 4 (add nop padding)",
            out.len()
        ));
    }
    if out.len() > 40 {
        return Err(format!("inbound options take {} bytes, over 40", out.len()));
    }
    Ok(out)
}

/// Builds the inbound datagram `src → dst` for `spec`. `map == None` builds it in script
/// numbering (for the exchange log); otherwise live numbering.
pub(crate) fn build_inbound(
    spec: &TcpSpec,
    src: SocketAddr,
    dst: SocketAddr,
    map: &SeqMap,
    live: bool,
) -> Result<Vec<u8>, String> {
    let identity = SeqMap::default();
    let m = if live { map } else { &identity };
    let syn = spec.flags & flags::SYN != 0;
    let OptionsSpec::List(list) = &spec.options else {
        if spec.options == OptionsSpec::Any {
            return Err("`<...>` is only allowed on outbound packets".into());
        }
        return build(spec, src, dst, m, syn, &[]);
    };
    let mut opts = encode_options(list, m)?;
    if !live {
        // Script numbering: keep the script's ecr as written.
        opts = encode_options(list, &SeqMap::default())?;
    }
    build(spec, src, dst, m, syn, &opts)
}

fn build(
    spec: &TcpSpec,
    src: SocketAddr,
    dst: SocketAddr,
    m: &SeqMap,
    syn: bool,
    opts: &[u8],
) -> Result<Vec<u8>, String> {
    let tcp_len = 20 + opts.len() + spec.len as usize;
    let ip = IpRepr {
        src: src.ip(),
        dst: dst.ip(),
        protocol: IPPROTO_TCP,
        payload_len: tcp_len,
        hop_limit: 64,
    };
    let total = ip.buffer_len();
    if total > 65535 + 40 {
        return Err(format!("inbound packet of {} bytes is too large", spec.len));
    }
    let mut buf = vec![0u8; total];
    let hlen = ip
        .emit(&mut buf)
        .map_err(|e| format!("cannot build the IP header: {e}"))?;
    let mut p = TcpPacket::new_unchecked(&mut buf[hlen..]);
    p.set_src_port(src.port());
    p.set_dst_port(dst.port());
    p.set_seq_number(synack_wire::SeqNum(m.in_seq(spec.seq, syn)));
    let ack = spec.ack.map_or(0, |a| m.in_ack(a, syn));
    p.set_ack_number(synack_wire::SeqNum(ack));
    p.set_header_len(20 + opts.len());
    p.set_flags(spec.flags);
    p.set_window_len(spec.win.unwrap_or(0));
    p.set_urgent_at(spec.urg.unwrap_or(0));
    p.options_mut().copy_from_slice(opts);
    if spec.ae {
        // The AE bit is the low bit of the data-offset byte.
        buf[hlen + 12] |= 1;
    }
    TcpPacket::new_unchecked(&mut buf[hlen..]).fill_checksum(&src.ip(), &dst.ip());
    Ok(buf)
}

/// Rewrites a live outbound datagram into script numbering (seq, ack, SACK edges), for
/// display. Returns the datagram unchanged if it does not parse.
pub(crate) fn to_script_space(datagram: &[u8], map: &SeqMap) -> Vec<u8> {
    let mut out = datagram.to_vec();
    let Ok((_, payload)) = IpRepr::parse(datagram) else {
        return out;
    };
    let hlen = datagram.len() - payload.len();
    let Ok(mut p) = TcpPacket::new_checked(&mut out[hlen..]) else {
        return out;
    };
    let syn = p.syn();
    let seq = map.out_seq(p.seq_number().0, syn);
    p.set_seq_number(synack_wire::SeqNum(seq));
    if p.ack() {
        let ack = map.out_ack_field(p.ack_number().0, syn);
        p.set_ack_number(synack_wire::SeqNum(ack));
    }
    let opts = p.options_mut();
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = opts.get(i + 1).map_or(0, |l| usize::from(*l));
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if kind == 5 {
                    let mut j = i + 2;
                    while j + 4 <= i + len {
                        let v =
                            u32::from_be_bytes([opts[j], opts[j + 1], opts[j + 2], opts[j + 3]]);
                        opts[j..j + 4].copy_from_slice(&map.out_ack(v).to_be_bytes());
                        j += 4;
                    }
                }
                i += len;
            }
        }
    }
    out
}

/// The address the script's connections use on each side.
pub(crate) fn default_addrs(v: crate::IpVersion) -> (IpAddr, IpAddr) {
    match v {
        crate::IpVersion::Ipv6 => (
            "fd3d:fa7b:d17d::1"
                .parse()
                .unwrap_or(IpAddr::from([0u16; 8])),
            "2001:db8::1".parse().unwrap_or(IpAddr::from([0u16; 8])),
        ),
        _ => (IpAddr::from([192, 168, 0, 1]), IpAddr::from([192, 0, 2, 1])),
    }
}
