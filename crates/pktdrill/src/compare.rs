//! Checking an outbound packet against its script line (§3.4), after TSO-style joining.

use synack_wire::tcp::{flags, TcpPacket};
use synack_wire::{IpRepr, TcpOption};

use crate::ast::{OptSpec, OptionsSpec, TcpSpec};
use crate::remap::SeqMap;

/// One sniffed outbound segment, parsed, live numbering.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// When the stack emitted it (µs).
    pub time: i64,
    /// The datagram.
    pub bytes: Vec<u8>,
    pub flags: u8,
    pub ae: bool,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub urg: u16,
    pub opts: Vec<u8>,
    pub payload_len: usize,
    pub payload_zero: bool,
    pub checksum_ok: bool,
}

impl Live {
    /// Parses an emitted datagram; `None` if it is not a TCP datagram.
    pub fn parse(time: i64, bytes: Vec<u8>) -> Option<Live> {
        let (ip, payload) = IpRepr::parse(&bytes).ok()?;
        let p = TcpPacket::new_checked(payload).ok()?;
        let hlen = p.header_len();
        let data = &payload[hlen..];
        Some(Live {
            time,
            flags: p.flags(),
            ae: payload[12] & 1 != 0,
            seq: p.seq_number().0,
            ack: p.ack_number().0,
            win: p.window_len(),
            urg: p.urgent_at(),
            opts: p.options().to_vec(),
            payload_len: data.len(),
            payload_zero: data.iter().all(|b| *b == 0),
            checksum_ok: p.verify_checksum(&ip.src, &ip.dst),
            bytes: bytes.clone(),
        })
    }

    /// Whether `next` continues this segment's data with the same headers (TSO joining).
    pub fn joins(&self, next: &Live) -> bool {
        self.payload_len > 0
            && next.payload_len > 0
            && next.seq == self.seq.wrapping_add(self.payload_len as u32)
            && next.ack == self.ack
            && self.flags & (flags::SYN | flags::FIN | flags::RST) == 0
    }

    /// `self` followed by `next`: seq (and CWR) from the first, the rest from the last.
    pub fn join(&self, next: &Live) -> Live {
        let cwr = self.flags & flags::CWR;
        Live {
            time: self.time,
            bytes: next.bytes.clone(),
            flags: (next.flags & !flags::CWR) | cwr,
            ae: next.ae,
            seq: self.seq,
            ack: next.ack,
            win: next.win,
            urg: next.urg,
            opts: next.opts.clone(),
            payload_len: self.payload_len + next.payload_len,
            payload_zero: self.payload_zero && next.payload_zero,
            checksum_ok: self.checksum_ok && next.checksum_ok,
        }
    }
}

/// Flag letters in the script's notation (`S.`, `FP.`, `R`, `-` for none).
pub(crate) fn flag_text(f: u8, ae: bool) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (flags::FIN, 'F'),
        (flags::SYN, 'S'),
        (flags::RST, 'R'),
        (flags::PSH, 'P'),
        (flags::URG, 'U'),
        (flags::ECE, 'E'),
        (flags::CWR, 'W'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if ae {
        s.push('A');
    }
    if f & flags::ACK != 0 {
        s.push('.');
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// One live option in the script's notation (SACK edges in script numbering).
fn opt_text(o: &Result<TcpOption<'_>, synack_wire::Error>, map: &SeqMap) -> String {
    match o {
        Ok(TcpOption::EndOfList) => "eol".into(),
        Ok(TcpOption::Nop) => "nop".into(),
        Ok(TcpOption::Mss(m)) => format!("mss {m}"),
        Ok(TcpOption::WindowScale(w)) => format!("wscale {w}"),
        Ok(TcpOption::SackPermitted) => "sackOK".into(),
        Ok(TcpOption::Sack(b)) => {
            let mut s = "sack".to_string();
            for blk in b.iter() {
                s.push_str(&format!(
                    " {}:{}",
                    map.out_ack(blk.left.0),
                    map.out_ack(blk.right.0)
                ));
            }
            s
        }
        Ok(TcpOption::Timestamp(t)) => format!("TS val {} ecr {}", t.tsval, t.tsecr),
        Ok(TcpOption::Unknown { kind: 34, data }) => fo_text("FO", data),
        Ok(TcpOption::Unknown { kind: 254, data }) if data.starts_with(&[0xf9, 0x89]) => {
            fo_text("FOEXP", &data[2..])
        }
        Ok(TcpOption::Unknown { kind: 19, data }) => fo_text("md5", data),
        Ok(TcpOption::Unknown { kind, data }) => format!("unknown-{kind}({} bytes)", data.len()),
        Err(_) => "[bad option]".into(),
    }
}

/// An option of bytes as a script writes it: `FO`, `FOEXP 0011...`, `md5 0001...`.
fn fo_text(name: &str, cookie: &[u8]) -> String {
    let mut s = name.to_string();
    if !cookie.is_empty() {
        s.push(' ');
        for b in cookie {
            s.push_str(&format!("{b:02x}"));
        }
    }
    s
}

fn spec_opt_text(o: &OptSpec) -> String {
    match o {
        OptSpec::Nop => "nop".into(),
        OptSpec::Eol => "eol".into(),
        OptSpec::Mss(m) => format!("mss {m}"),
        OptSpec::WScale(w) => format!("wscale {w}"),
        OptSpec::SackOk => "sackOK".into(),
        OptSpec::Sack(b) => {
            let mut s = "sack".to_string();
            for (a, z) in b {
                s.push_str(&format!(" {a}:{z}"));
            }
            s
        }
        OptSpec::Ts(v, e) => format!("TS val {v} ecr {e}"),
        OptSpec::FastOpen { exp, cookie } => fo_text(if *exp { "FOEXP" } else { "FO" }, cookie),
        OptSpec::Md5(digest) => fo_text("md5", digest),
        OptSpec::Other(t) => t.clone(),
    }
}

/// The live option list as the script would write it.
pub(crate) fn options_text(opts: &[u8], map: &SeqMap) -> String {
    let v: Vec<String> = TcpOption::parse_all(opts)
        .map(|o| opt_text(&o, map))
        .collect();
    format!("<{}>", v.join(","))
}

/// The live packet as a script line would write it, in script numbering.
pub(crate) fn script_text(l: &Live, map: &SeqMap) -> String {
    let syn = l.flags & flags::SYN != 0;
    let seq = map.out_seq(l.seq, syn);
    let mut s = format!(
        "{} {}:{}({})",
        flag_text(l.flags, l.ae),
        seq,
        seq.wrapping_add(l.payload_len as u32),
        l.payload_len
    );
    if l.flags & flags::ACK != 0 {
        s.push_str(&format!(" ack {}", map.out_ack_field(l.ack, syn)));
    } else if l.ack != 0 {
        s.push_str(&format!(" ack {} (raw, no ACK flag)", l.ack));
    }
    s.push_str(&format!(" win {}", l.win));
    if l.urg != 0 {
        s.push_str(&format!(" urg {}", l.urg));
    }
    if !l.opts.is_empty() {
        s.push(' ');
        s.push_str(&options_text(&l.opts, map));
    }
    s
}

/// How TS val is checked: the script's TS clock tick (0: not checked) and tolerance.
pub(crate) struct TsCheck {
    pub tick_usecs: u64,
    pub tolerance_usecs: i64,
}

/// Compares `l` with `spec`; the first difference as a message. On success, records the
/// TS val map.
pub(crate) fn compare(
    l: &Live,
    spec: &TcpSpec,
    map: &mut SeqMap,
    ts: &TsCheck,
) -> Result<(), String> {
    if !l.checksum_ok {
        return Err("bad TCP checksum on the live packet".into());
    }
    if l.flags != spec.flags || l.ae != spec.ae {
        return Err(format!(
            "expected flags {}, got {}",
            flag_text(spec.flags, spec.ae),
            flag_text(l.flags, l.ae)
        ));
    }
    let syn = l.flags & flags::SYN != 0;
    let seq = map.out_seq(l.seq, syn);
    if seq != spec.seq {
        return Err(format!("expected seq {}, got seq {seq}", spec.seq));
    }
    if l.payload_len != spec.len as usize {
        return Err(format!(
            "expected {} bytes of data ({}:{}), got {} bytes ({}:{})",
            spec.len,
            spec.seq,
            spec.seq.wrapping_add(spec.len),
            l.payload_len,
            seq,
            seq.wrapping_add(l.payload_len as u32)
        ));
    }
    let ack = if l.flags & flags::ACK != 0 {
        map.out_ack_field(l.ack, syn)
    } else {
        l.ack
    };
    let want_ack = spec.ack.unwrap_or(0);
    if ack != want_ack {
        return Err(format!("expected ack {want_ack}, got ack {ack}"));
    }
    if let Some(w) = spec.win {
        if w != l.win {
            return Err(format!("expected win {w}, got win {}", l.win));
        }
    }
    let urg = spec.urg.unwrap_or(0);
    if urg != l.urg {
        return Err(format!("expected urg {urg}, got urg {}", l.urg));
    }
    if !l.payload_zero {
        return Err("payload bytes differ: expected zeros (what write() sent)".into());
    }
    let actual: Vec<_> = TcpOption::parse_all(&l.opts).collect();
    let mut ts_pairs = Vec::new();
    match &spec.options {
        OptionsSpec::Any => {}
        OptionsSpec::None => {
            if !l.opts.is_empty() {
                return Err(format!(
                    "expected no TCP options, got {}",
                    options_text(&l.opts, map)
                ));
            }
        }
        OptionsSpec::List(want) => {
            let whole = || {
                format!(
                    "(expected <{}>, got {})",
                    want.iter().map(spec_opt_text).collect::<Vec<_>>().join(","),
                    options_text(&l.opts, map)
                )
            };
            for (i, w) in want.iter().enumerate() {
                let Some(a) = actual.get(i) else {
                    return Err(format!(
                        "expected option {} `{}`, got no more options {}",
                        i + 1,
                        spec_opt_text(w),
                        whole()
                    ));
                };
                let ok = match (w, a) {
                    (OptSpec::Nop, Ok(TcpOption::Nop))
                    | (OptSpec::Eol, Ok(TcpOption::EndOfList))
                    | (OptSpec::SackOk, Ok(TcpOption::SackPermitted)) => true,
                    (OptSpec::Mss(m), Ok(TcpOption::Mss(x))) => m == x,
                    (OptSpec::WScale(m), Ok(TcpOption::WindowScale(x))) => m == x,
                    (OptSpec::Sack(b), Ok(TcpOption::Sack(x))) => {
                        b.len() == x.len()
                            && b.iter().zip(x.iter()).all(|((s, e), blk)| {
                                map.out_ack(blk.left.0) == *s && map.out_ack(blk.right.0) == *e
                            })
                    }
                    (
                        OptSpec::FastOpen { exp: false, cookie },
                        Ok(TcpOption::Unknown { kind: 34, data }),
                    ) => cookie == data,
                    (
                        OptSpec::FastOpen { exp: true, cookie },
                        Ok(TcpOption::Unknown { kind: 254, data }),
                    ) => data.len() >= 2 && data[..2] == [0xf9, 0x89] && cookie[..] == data[2..],
                    (OptSpec::Ts(val, _), Ok(TcpOption::Timestamp(t))) => {
                        ts_pairs.push((*val, t.tsval));
                        true
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "expected {}, got {} {}",
                        spec_opt_text(w),
                        opt_text(a, map),
                        whole()
                    ));
                }
            }
            if actual.len() > want.len() {
                return Err(format!(
                    "unexpected extra option {} {}",
                    opt_text(&actual[want.len()], map),
                    whole()
                ));
            }
        }
    }
    for (script, live) in ts_pairs {
        if ts.tick_usecs > 0 {
            if let Some((s0, l0)) = map.first_ts {
                // The engine's TS clock ticks once a millisecond.
                let want = i64::from(script.wrapping_sub(s0) as i32) * ts.tick_usecs as i64 / 1000;
                let got = i64::from(live.wrapping_sub(l0) as i32);
                let slack = (ts.tolerance_usecs / 1000).max(1);
                if (want - got).abs() > slack {
                    return Err(format!(
                        "expected TS val {script} (live {} ticks after the first), got {} ticks after",
                        want, got
                    ));
                }
            }
        }
        map.record_ts(script, live);
    }
    Ok(())
}
