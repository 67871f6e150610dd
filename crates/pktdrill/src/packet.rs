//! Packet lines (§3.4): `[ip-info] [sport>dport] FLAGS start:end(len) [ack N] [win W]
//! [urg U] [<options>]`, or a non-TCP packet kept as text.

use crate::ast::*;
use crate::lexer::{Tok, Token};
use crate::parser::parse_int;
use crate::ParseError;

type R<T> = Result<T, ParseError>;

/// Parses the tokens of one packet line.
pub(crate) struct LineParser<'p> {
    pub file: &'p str,
    pub toks: &'p [Token],
    pub i: usize,
    pub line: usize,
}

impl LineParser<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(ParseError {
            file: self.file.to_string(),
            line: self.line,
            message: msg.into(),
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn found(&self) -> String {
        match self.toks.get(self.i) {
            Some(t) => format!("`{}`", t.text()),
            None => "end of line".into(),
        }
    }

    fn rest_text(&self, from: usize) -> String {
        self.toks[from..]
            .iter()
            .map(|t| t.text())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn num(&mut self, what: &str) -> R<i64> {
        match self.peek() {
            Some(Tok::Num(n)) => {
                let v = parse_int(n);
                self.i += 1;
                match v {
                    Some(v) => Ok(v),
                    None => self.err(format!("expected {what}, found a non-integer")),
                }
            }
            _ => self.err(format!("expected {what}, found {}", self.found())),
        }
    }

    fn u32_num(&mut self, what: &str) -> R<u32> {
        let v = self.num(what)?;
        u32::try_from(v).or_else(|_| self.err(format!("{what} {v} does not fit in 32 bits")))
    }

    fn u16_num(&mut self, what: &str) -> R<u16> {
        let v = self.num(what)?;
        u16::try_from(v).or_else(|_| self.err(format!("{what} {v} does not fit in 16 bits")))
    }

    fn punct(&mut self, c: char, what: &str) -> R<()> {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            Ok(())
        } else {
            self.err(format!("expected `{c}` {what}, found {}", self.found()))
        }
    }

    /// Parses the packet after its direction token.
    pub fn packet(&mut self, direction: Direction) -> R<Packet> {
        let mut ip_info = None;
        if let Some(Tok::Punct(open @ ('(' | '['))) = self.peek().cloned() {
            let close = if open == '(' { ')' } else { ']' };
            let from = self.i + 1;
            while self.peek().is_some_and(|t| *t != Tok::Punct(close)) {
                self.i += 1;
            }
            if self.peek().is_none() {
                return self.err(format!("expected `{close}` to end the ip-info"));
            }
            ip_info = Some(
                self.toks[from..self.i]
                    .iter()
                    .map(|t| t.text())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            self.i += 1;
        }
        if self.peek() == Some(&Tok::Ident("icmp".into())) {
            self.i += 1;
            return Ok(Packet {
                direction,
                ip_info,
                ports: None,
                body: PacketBody::Icmp(self.icmp()?),
            });
        }
        if let Some(Tok::Ident(w)) = self.peek() {
            if matches!(
                w.as_str(),
                "udp" | "ipv4" | "ipv6" | "gre" | "mpls" | "encap" | "psp"
            ) {
                return Ok(Packet {
                    direction,
                    ip_info,
                    ports: None,
                    body: PacketBody::Other(self.rest_text(self.i)),
                });
            }
        }
        let mut ports = None;
        if matches!(self.peek(), Some(Tok::Num(_)))
            && self.toks.get(self.i + 1).map(|t| &t.tok) == Some(&Tok::Punct('>'))
        {
            let a = self.u16_num("a source port")?;
            self.i += 1;
            let b = self.u16_num("a destination port after `>`")?;
            ports = Some((a, b));
        }
        // Flags: the tokens glued together with no space between them.
        let mut flags_text = String::new();
        while let Some(t) = self.toks.get(self.i) {
            if !flags_text.is_empty() && t.space_before {
                break;
            }
            match &t.tok {
                Tok::Ident(s) | Tok::Num(s) => flags_text.push_str(s),
                Tok::Punct(c @ ('.' | '-')) => flags_text.push(*c),
                _ => break,
            }
            self.i += 1;
        }
        if flags_text.is_empty() {
            return self.err(format!(
                "expected TCP flags (like `S`, `S.`, `P.`, `.` or `-`), found {}",
                self.found()
            ));
        }
        let (flags, ae) = parse_flags(&flags_text).or_else(|c| {
            self.err(format!(
                "bad TCP flag `{c}` in `{flags_text}`: expected letters from .FSRPEWAU, digits \
                 0-7 or `-`"
            ))
        })?;
        let seq = self.u32_num("the sequence range `start:end(len)`")?;
        self.punct(':', "in `start:end(len)`")?;
        let end = self.u32_num("the end of `start:end(len)`")?;
        self.punct('(', "in `start:end(len)`")?;
        let len = self.u32_num("the length in `start:end(len)`")?;
        self.punct(')', "to end `start:end(len)`")?;
        if end != seq.wrapping_add(len) {
            return self.err(format!(
                "inconsistent sequence range {seq}:{end}({len}): end must be start + len"
            ));
        }
        let mut spec = TcpSpec {
            flags_text,
            flags,
            ae,
            seq,
            len,
            ack: None,
            win: None,
            urg: None,
            options: OptionsSpec::None,
        };
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Ident(k) if k == "ack" => {
                    self.i += 1;
                    spec.ack = Some(self.u32_num("a number after `ack`")?);
                }
                Tok::Ident(k) if k == "win" => {
                    self.i += 1;
                    spec.win = Some(self.u16_num("a window after `win`")?);
                }
                Tok::Ident(k) if k == "urg" => {
                    self.i += 1;
                    spec.urg = Some(self.u16_num("an urgent pointer after `urg`")?);
                }
                Tok::Punct('<') => {
                    self.i += 1;
                    spec.options = self.options()?;
                }
                _ => {
                    return self.err(format!(
                        "expected `ack N`, `win N`, `urg N` or `<options>` in the packet, \
                         found {}",
                        self.found()
                    ))
                }
            }
        }
        Ok(Packet {
            direction,
            ip_info,
            ports,
            body: PacketBody::Tcp(spec),
        })
    }

    /// The rest of an ICMP line after `icmp`: `TYPE [CODE] [mtu N] [id N] [ECHOED]`.
    fn icmp(&mut self) -> R<IcmpSpec> {
        let type_name = match self.peek() {
            Some(Tok::Ident(t)) => t.clone(),
            _ => {
                return self.err(format!(
                    "expected an ICMP type (unreachable, packet_too_big, ...) after `icmp`, \
                     found {}",
                    self.found()
                ))
            }
        };
        self.i += 1;
        let mut spec = IcmpSpec {
            type_name,
            code_name: None,
            mtu: None,
            echo_id: None,
            echoed: IcmpEchoed::Tcp { seq: 0, len: 0 },
        };
        if let Some(Tok::Ident(c)) = self.peek() {
            if c != "mtu" && c != "id" {
                spec.code_name = Some(c.clone());
                self.i += 1;
            }
        }
        if self.peek() == Some(&Tok::Ident("mtu".into())) {
            self.i += 1;
            spec.mtu = Some(self.u32_num("an MTU after `mtu`")?);
        }
        if self.peek() == Some(&Tok::Ident("id".into())) {
            self.i += 1;
            spec.echo_id = Some(self.u16_num("an echo id after `id`")?);
        }
        if self.peek() == Some(&Tok::Punct('[')) {
            self.i += 1;
            spec.echoed = match self.peek().cloned() {
                Some(Tok::Ident(k)) if k == "udp" || k == "raw" => {
                    self.i += 1;
                    self.punct('(', "after `[udp` or `[raw`")?;
                    let n = self.u32_num("a length in `[udp (N)]` or `[raw (N)]`")?;
                    self.punct(')', "to end the length")?;
                    if k == "udp" {
                        IcmpEchoed::Udp(n)
                    } else {
                        IcmpEchoed::Raw(n)
                    }
                }
                _ => {
                    let seq = self.u32_num("the quoted `start:end(len)`")?;
                    self.punct(':', "in `start:end(len)`")?;
                    let end = self.u32_num("the end of `start:end(len)`")?;
                    self.punct('(', "in `start:end(len)`")?;
                    let len = self.u32_num("the length in `start:end(len)`")?;
                    self.punct(')', "to end `start:end(len)`")?;
                    if end != seq.wrapping_add(len) || len > 65535 {
                        return self.err(format!(
                            "inconsistent quoted sequence range {seq}:{end}({len}): end must \
                             be start + len, len at most 65535"
                        ));
                    }
                    IcmpEchoed::Tcp { seq, len }
                }
            };
            self.punct(']', "to end the quoted packet")?;
        }
        if self.i < self.toks.len() {
            return self.err(format!(
                "expected the end of the ICMP line, found {} (the form is `icmp TYPE [CODE] \
                 [mtu N] [id N] [start:end(len)]`)",
                self.found()
            ));
        }
        Ok(spec)
    }

    fn options(&mut self) -> R<OptionsSpec> {
        if self.peek() == Some(&Tok::Ellipsis) {
            self.i += 1;
            self.punct('>', "after `<...`")?;
            return Ok(OptionsSpec::Any);
        }
        let mut list = Vec::new();
        loop {
            let name = match self.peek().cloned() {
                Some(Tok::Ident(n)) => n,
                Some(Tok::Punct('>')) if list.is_empty() => {
                    self.i += 1;
                    return Ok(OptionsSpec::List(list));
                }
                _ => {
                    return self.err(format!(
                        "expected a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, ...), \
                         found {}",
                        self.found()
                    ))
                }
            };
            self.i += 1;
            let opt = match name.as_str() {
                "nop" => OptSpec::Nop,
                "eol" => OptSpec::Eol,
                "mss" => OptSpec::Mss(self.u16_num("a value after `mss`")?),
                "wscale" => {
                    let v = self.num("a value after `wscale`")?;
                    OptSpec::WScale(
                        u8::try_from(v).or_else(|_| self.err("wscale must fit in a byte"))?,
                    )
                }
                "sackOK" => OptSpec::SackOk,
                "FO" | "FOEXP" => {
                    // The cookie in hex, which the lexer may have cut into a number
                    // and a word (`00ab...`): glue the tokens up to `,` or `>`.
                    let mut hex = String::new();
                    while self
                        .peek()
                        .is_some_and(|t| *t != Tok::Punct(',') && *t != Tok::Punct('>'))
                    {
                        hex.push_str(&self.toks[self.i].text());
                        self.i += 1;
                    }
                    let bytes: Option<Vec<u8>> = hex
                        .len()
                        .is_multiple_of(2)
                        .then(|| {
                            (0..hex.len())
                                .step_by(2)
                                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                                .collect()
                        })
                        .flatten();
                    match bytes {
                        Some(cookie) if cookie.len() <= 36 => OptSpec::FastOpen {
                            exp: name == "FOEXP",
                            cookie,
                        },
                        _ => {
                            return self.err(format!(
                            "expected a Fast Open cookie in hex (an even number of digits) after \
                                 `{name}`, found `{hex}`"
                        ))
                        }
                    }
                }
                "sack" => {
                    let mut blocks = Vec::new();
                    while matches!(self.peek(), Some(Tok::Num(_))) {
                        let a = self.u32_num("a SACK block start")?;
                        self.punct(':', "in a SACK block `a:b`")?;
                        let b = self.u32_num("a SACK block end")?;
                        blocks.push((a, b));
                    }
                    OptSpec::Sack(blocks)
                }
                "TS" => {
                    match self.peek() {
                        Some(Tok::Ident(v)) if v == "val" => self.i += 1,
                        _ => {
                            return self
                                .err(format!("expected `val` after `TS`, found {}", self.found()))
                        }
                    }
                    let val = self.u32_num("the TS val")?;
                    match self.peek() {
                        Some(Tok::Ident(v)) if v == "ecr" => self.i += 1,
                        _ => {
                            return self.err(format!(
                                "expected `ecr` in `TS val V ecr E`, found {}",
                                self.found()
                            ))
                        }
                    }
                    let ecr = self.u32_num("the TS ecr")?;
                    OptSpec::Ts(val, ecr)
                }
                _ => {
                    let from = self.i - 1;
                    while self
                        .peek()
                        .is_some_and(|t| *t != Tok::Punct(',') && *t != Tok::Punct('>'))
                    {
                        self.i += 1;
                    }
                    OptSpec::Other(
                        self.toks[from..self.i]
                            .iter()
                            .map(|t| t.text())
                            .collect::<Vec<_>>()
                            .join(" "),
                    )
                }
            };
            list.push(opt);
            match self.peek() {
                Some(Tok::Punct(',')) => self.i += 1,
                Some(Tok::Punct('>')) => {
                    self.i += 1;
                    if self.i < self.toks.len() {
                        // Something after the options: let the caller complain about it.
                    }
                    return Ok(OptionsSpec::List(list));
                }
                _ => {
                    return self.err(format!(
                        "expected `,` or `>` in the option list, found {}",
                        self.found()
                    ))
                }
            }
        }
    }
}

/// Flag letters to the flags byte and the AE bit; the offending character on error.
fn parse_flags(s: &str) -> Result<(u8, bool), char> {
    use synack_wire::tcp::flags as f;
    let mut out = 0u8;
    let mut ae = false;
    if s == "-" {
        return Ok((0, false));
    }
    for c in s.chars() {
        match c {
            '.' => out |= f::ACK,
            'S' => out |= f::SYN,
            'F' => out |= f::FIN,
            'R' => out |= f::RST,
            'P' => out |= f::PSH,
            'U' => out |= f::URG,
            'E' => out |= f::ECE,
            'W' => out |= f::CWR,
            'A' => ae = true,
            '0'..='7' => {
                // AccECN codepoints: ACE field bits (AE, CWR, ECE).
                let v = c as u8 - b'0';
                if v & 4 != 0 {
                    ae = true;
                }
                if v & 2 != 0 {
                    out |= f::CWR;
                }
                if v & 1 != 0 {
                    out |= f::ECE;
                }
            }
            other => return Err(other),
        }
    }
    Ok((out, ae))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(parse_flags("S.").unwrap().0, 0x12);
        assert_eq!(parse_flags("FP.").unwrap().0, 0x19);
        assert_eq!(parse_flags("-").unwrap().0, 0);
        assert_eq!(parse_flags("Sx"), Err('x'));
    }
}
