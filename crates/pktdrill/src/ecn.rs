//! ip-info (§3.4): what a packet line says of the IP header's TOS byte (IPv6: Traffic
//! Class). `[ect0]`, `(ect1)`, `[ce]`, `[noecn]` name the ECN codepoint (RFC 3168 5),
//! `[ect01]` either ECT codepoint (outbound only), `(tos 0x..)` the whole byte. Inbound
//! packets are built with it; outbound packets must carry it (packetdrill checks TOS
//! only where the script gives it).

use synack_wire::Ecn;

/// What a script's ip-info asks of the TOS byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TosSpec {
    /// `ect0`, `ect1`, `ce` or `noecn`: this ECN codepoint.
    Ecn(Ecn),
    /// `ect01`: ECT(0) or ECT(1).
    EitherEct,
    /// `tos 0xNN`: the whole byte.
    Tos(u8),
}

/// Parses an ip-info (the text between the brackets). `Ok(None)` when it says nothing of
/// the TOS byte; an error for what the runner cannot model (TTL, flow labels).
pub(crate) fn parse(info: &str) -> Result<Option<TosSpec>, String> {
    let words: Vec<&str> = info.split([',', ' ']).filter(|w| !w.is_empty()).collect();
    let mut out = None;
    let mut i = 0;
    while i < words.len() {
        let spec = match words[i] {
            "ect0" => TosSpec::Ecn(Ecn::Ect0),
            "ect1" => TosSpec::Ecn(Ecn::Ect1),
            "ce" => TosSpec::Ecn(Ecn::Ce),
            "noecn" => TosSpec::Ecn(Ecn::NotEct),
            "ect01" => TosSpec::EitherEct,
            "tos" => {
                i += 1;
                let v = words.get(i).copied().unwrap_or("");
                let n = v
                    .strip_prefix("0x")
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("`tos` wants a hex byte like 0x10, not `{v}`"))?;
                TosSpec::Tos(n)
            }
            other => {
                return Err(format!(
                    "needs ip-info `{info}` (`{other}`: TTL and flow labels are not modelled)"
                ))
            }
        };
        out = Some(spec);
        i += 1;
    }
    Ok(out)
}

/// The TOS byte (IPv4) or Traffic Class (IPv6) of a datagram.
fn tos_of(datagram: &[u8]) -> u8 {
    match datagram.first().map(|b| b >> 4) {
        Some(6) if datagram.len() >= 2 => (datagram[0] << 4) | (datagram[1] >> 4),
        _ => datagram.get(1).copied().unwrap_or(0),
    }
}

/// Writes the ip-info into an inbound datagram built with TOS 0.
pub(crate) fn apply_inbound(spec: TosSpec, datagram: &mut [u8]) -> Result<(), String> {
    match spec {
        TosSpec::Ecn(e) => e.set_in(datagram),
        TosSpec::EitherEct => return Err("[ect01] can only be used with outbound packets".into()),
        TosSpec::Tos(t) => {
            // The DSCP bits first, by hand; then the ECN bits, which refresh the IPv4
            // header checksum.
            match datagram.first().map(|b| b >> 4) {
                Some(6) if datagram.len() >= 2 => {
                    datagram[0] = (datagram[0] & 0xf0) | (t >> 4);
                    datagram[1] = (datagram[1] & 0x0f) | (t << 4);
                }
                Some(4) if datagram.len() >= 2 => datagram[1] = t,
                _ => {}
            }
            Ecn::from_bits(t).set_in(datagram);
        }
    }
    Ok(())
}

/// Checks an outbound datagram against the ip-info; the error says what differs.
pub(crate) fn check_outbound(spec: TosSpec, datagram: &[u8]) -> Result<(), String> {
    let got = Ecn::of_datagram(datagram);
    let ok = match spec {
        TosSpec::Ecn(e) => got == e,
        TosSpec::EitherEct => matches!(got, Ecn::Ect0 | Ecn::Ect1),
        TosSpec::Tos(t) => tos_of(datagram) == t,
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "expected {}, got {} (TOS 0x{:02x})",
        describe(spec),
        name(got),
        tos_of(datagram)
    ))
}

fn name(e: Ecn) -> &'static str {
    match e {
        Ecn::NotEct => "noecn",
        Ecn::Ect1 => "ect1",
        Ecn::Ect0 => "ect0",
        Ecn::Ce => "ce",
    }
}

fn describe(spec: TosSpec) -> String {
    match spec {
        TosSpec::Ecn(e) => format!("[{}]", name(e)),
        TosSpec::EitherEct => "[ect01]".into(),
        TosSpec::Tos(t) => format!("(tos 0x{t:02x})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_info_forms() {
        assert_eq!(parse("ect0"), Ok(Some(TosSpec::Ecn(Ecn::Ect0))));
        assert_eq!(parse("noecn"), Ok(Some(TosSpec::Ecn(Ecn::NotEct))));
        assert_eq!(parse("ect01"), Ok(Some(TosSpec::EitherEct)));
        assert_eq!(parse("tos 0x10"), Ok(Some(TosSpec::Tos(0x10))));
        assert!(parse("ttl 32").is_err());
        assert!(parse("tos 16").is_err());
    }

    #[test]
    fn outbound_checks_the_codepoint() {
        let mut d = vec![0x45u8; 20];
        d[1] = 0;
        Ecn::Ect0.set_in(&mut d);
        assert!(check_outbound(TosSpec::Ecn(Ecn::Ect0), &d).is_ok());
        assert!(check_outbound(TosSpec::EitherEct, &d).is_ok());
        let e = check_outbound(TosSpec::Ecn(Ecn::NotEct), &d).unwrap_err();
        assert!(e.contains("expected [noecn], got ect0"), "{e}");
    }
}
