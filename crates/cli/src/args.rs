//! Value parsers shared by every command's flags, so that each one says what it expects
//! and the allowed range, negative numbers included: `--delay-ms -5` gives
//! "invalid value '-5' for '--delay-ms <MS>': -5 is out of range: expected a whole
//! number of milliseconds from 0 to 60000" and `--delay-ms abc` "abc is not a number:
//! expected ...". Numeric flags also set `allow_negative_numbers`, so that clap hands
//! `-5` to the parser instead of taking it for a flag.

use std::fmt::Display;
use std::net::IpAddr;
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
}
