//! Value parsers shared by every command's flags, so that each one says what it expects
//! and the allowed range, negative numbers included: `--delay-ms -5` gives
//! "invalid value '-5' for '--delay-ms <MS>': -5 is out of range: expected a whole
//! number of milliseconds from 0 to 60000" and `--delay-ms abc` "abc is not a number:
//! expected ...". Numeric flags also set `allow_negative_numbers`, so that clap hands
//! `-5` to the parser instead of taking it for a flag.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// A parser of whole numbers from `min` to `max`; `what` names them in messages ("a
/// whole number of milliseconds").
pub fn whole<T>(
    min: T,
    max: T,
    what: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: Copy + Display + Into<i128> + TryFrom<i128> + Send + Sync + 'static,
{
    move |s: &str| {
        let expected = format!("expected {what} from {min} to {max}");
        let n: i128 = match s.trim().parse() {
            Ok(n) => n,
            Err(_) if is_decimal(s) => {
                return Err(format!("{s} is not a whole number: {expected}"))
            }
            Err(_) if s.trim().is_empty() => return Err(format!("no value: {expected}")),
            Err(_) => return Err(format!("{s} is not a number: {expected}")),
        };
        if n < min.into() || n > max.into() {
            return Err(format!("{s} is out of range: {expected}"));
        }
        T::try_from(n).map_err(|_| format!("{s} is out of range: {expected}"))
    }
}

/// A parser of decimal numbers from `min` to `max`; `what` names them in messages ("a
/// probability").
pub fn decimal(
    min: f64,
    max: f64,
    what: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let expected = format!("expected {what} from {min} to {max}");
        if s.trim().is_empty() {
            return Err(format!("no value: {expected}"));
        }
        let Some(x) = s.trim().parse::<f64>().ok().filter(|x| x.is_finite()) else {
            return Err(format!("{s} is not a number: {expected}"));
        };
        if !(min..=max).contains(&x) {
            return Err(format!("{s} is out of range: {expected}"));
        }
        Ok(x)
    }
}

/// Whether `s` is a finite decimal number (with a fraction or an exponent).
fn is_decimal(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok_and(f64::is_finite)
}

/// A path that must exist (a file or a directory); a missing one is a usage error.
pub fn existing_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file or directory (give packetdrill scripts, *.pkt, or directories that hold them)".to_string())
        }
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// A file that must exist (a directory is refused).
pub fn existing_file(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err("is a directory, not a file".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file (give a shell file of sysctl lines)".to_string())
        }
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// An IP address, optionally with a `/prefix` as packetdrill accepts (`192.0.2.1/24`).
pub fn address(s: &str) -> Result<IpAddr, String> {
    let (a, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = a
        .trim()
        .parse()
        .map_err(|_| format!("{s} is not an address: expected an IPv4 or IPv6 address"))?;
    if let Some(p) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if !p.parse::<u8>().is_ok_and(|n| n <= max) {
            return Err(format!("{s}: bad prefix /{p}: expected 0 to {max}"));
        }
    }
    Ok(ip)
}

/// A `NAME=VALUE` text macro (`-D`); NAME is a word of letters, digits and `_`.
pub fn define(s: &str) -> Result<(String, String), String> {
    let Some((n, v)) = s.split_once('=') else {
        return Err(format!("{s} is not NAME=VALUE"));
    };
    let n = n.trim();
    let word = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !word {
        return Err(format!(
            "`{n}` is not a name: expected letters, digits and _, not starting with a digit"
        ));
    }
    Ok((n.to_string(), v.trim().to_string()))
}

/// A directory that exists (the root of a file server).
pub fn existing_dir(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err("not a directory: give the directory whose files to serve".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such directory: give the directory whose files to serve".to_string())
        }
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// An IPv4 address (`10.77.0.2`).
pub fn ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s} is not an IPv4 address: expected four numbers such as 10.77.0.2"))
}

/// An IPv4 address with a prefix length (`10.77.0.1/24`).
pub fn cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let expected = "expected an IPv4 address and a prefix length such as 10.77.0.1/24";
    let Some((addr, len)) = s.trim().split_once('/') else {
        return Err(format!("{s} has no prefix length: {expected}"));
    };
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr} is not an IPv4 address: {expected}"))?;
    match len.parse::<u8>() {
        Ok(n @ 1..=30) => Ok((addr, n)),
        _ => Err(format!(
            "/{len} is not a prefix length from 1 to 30 (a subnet with room for synack's \
             address): {expected}"
        )),
    }
}

/// A `name=value` sysctl setting, checked against the engine's knobs: an unknown name
/// lists the known ones, a bad value says what the knob takes.
pub fn sysctl(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!(
            "{s} has no value: expected name=value, such as net.ipv4.tcp_syncookies=2"
        ));
    };
    synack::Config::default()
        .set_sysctl(name, value)
        .map_err(|e| e.to_string())?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// The form `--route` takes, for messages.
const ROUTE_FORM: &str = "expected PREFIX [mtu [lock] N] [advmss N] [initcwnd N], as `ip \
                          route` writes them, e.g. \"198.51.100.0/24 mtu lock 1400 advmss 1360 \
                          initcwnd 20\"";

/// What Linux refuses with EINVAL in a route's metrics.
const OUT_OF_RANGE: &str =
    "a metric is out of range: mtu from 68 to 65535, advmss from 88 to 65535, initcwnd from 1";

/// Parses `--route`: a destination prefix (or a bare address, a host route) and the
/// metrics synack keeps per route, in `ip route`'s words: `mtu [lock] N`, `advmss N`,
/// `initcwnd N` (Linux's `RTAX_MTU` with its lock, `RTAX_ADVMSS`, `RTAX_INITCWND`).
/// Values Linux refuses with EINVAL are refused here with the range.
pub fn route(s: &str) -> Result<(synack::Prefix, synack::RouteMetrics), String> {
    let mut words = s.split_whitespace().peekable();
    let dest = words
        .next()
        .ok_or_else(|| format!("no destination: {ROUTE_FORM}"))?;
    let prefix: synack::Prefix = dest.parse().map_err(|e| format!("{e}: {ROUTE_FORM}"))?;
    let mut m = synack::RouteMetrics::new();
    let mut given = false;
    while let Some(word) = words.next() {
        let lock = word == "mtu" && words.next_if_eq(&"lock").is_some();
        let mut number = || -> Result<u32, String> {
            let v = words.next().unwrap_or("");
            v.parse()
                .map_err(|_| format!("{word} needs a whole number, not `{v}`: {ROUTE_FORM}"))
        };
        m = match word {
            "mtu" if lock => m.mtu(number()?).lock_mtu(),
            "mtu" => m.mtu(number()?),
            "advmss" => m.advmss(u16::try_from(number()?).map_err(|_| OUT_OF_RANGE)?),
            "initcwnd" => m.initcwnd(number()?),
            other => {
                return Err(format!(
                    "`{other}` is not a route metric synack keeps: {ROUTE_FORM}"
                ))
            }
        };
        given = true;
    }
    if !given {
        return Err(format!("no metric for {dest}: {ROUTE_FORM}"));
    }
    synack::Routes::default()
        .set(prefix, m)
        .map_err(|_| OUT_OF_RANGE)?;
    Ok((prefix, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_say_what_and_the_range() {
        let p = whole(0u64, 60_000, "a whole number of milliseconds");
        assert_eq!(p("250"), Ok(250));
        assert_eq!(p("60000"), Ok(60_000));
        let range = "expected a whole number of milliseconds from 0 to 60000";
        assert_eq!(p("-5"), Err(format!("-5 is out of range: {range}")));
        assert_eq!(p("60001"), Err(format!("60001 is out of range: {range}")));
        assert_eq!(p("abc"), Err(format!("abc is not a number: {range}")));
        assert_eq!(p("1.5"), Err(format!("1.5 is not a whole number: {range}")));
        assert_eq!(p(""), Err(format!("no value: {range}")));
        let seed = whole(0u64, u64::MAX, "a whole number");
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("18446744073709551616")
            .unwrap_err()
            .starts_with("18446744073709551616 is out of range"));
    }

    #[test]
    fn decimals_say_what_and_the_range() {
        let p = decimal(0.0, 1.0, "a probability");
        assert_eq!(p("0.25"), Ok(0.25));
        assert_eq!(p("1"), Ok(1.0));
        let range = "expected a probability from 0 to 1";
        assert_eq!(p("-0.1"), Err(format!("-0.1 is out of range: {range}")));
        assert_eq!(p("NaN"), Err(format!("NaN is not a number: {range}")));
        assert_eq!(p("inf"), Err(format!("inf is not a number: {range}")));
        assert_eq!(p("half"), Err(format!("half is not a number: {range}")));
    }

    #[test]
    fn addresses_and_sysctls_say_what_they_expect() {
        assert_eq!(ipv4("10.77.0.2"), Ok(Ipv4Addr::new(10, 77, 0, 2)));
        assert!(ipv4("10.77.0").unwrap_err().contains("such as 10.77.0.2"));
        assert_eq!(cidr("10.77.0.1/24"), Ok((Ipv4Addr::new(10, 77, 0, 1), 24)));
        assert!(cidr("10.77.0.1").unwrap_err().contains("no prefix length"));
        assert!(cidr("10.77.0.1/31").unwrap_err().contains("from 1 to 30"));
        assert!(cidr("10.77.0/24")
            .unwrap_err()
            .contains("not an IPv4 address"));
        assert_eq!(
            sysctl("net.ipv4.tcp_syncookies=2"),
            Ok(("net.ipv4.tcp_syncookies".into(), "2".into()))
        );
        assert!(sysctl("tcp_syncookies").unwrap_err().contains("name=value"));
        assert!(sysctl("tcp_nope=1").unwrap_err().contains("unknown sysctl"));
        assert!(sysctl("tcp_syncookies=7")
            .unwrap_err()
            .contains("0, 1 or 2"));
    }
}
