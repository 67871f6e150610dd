//! The way a corpus's own runner runs its scripts, so that a result here is comparable with
//! the corpus's results on Linux.
//!
//! [`Harness::Ksft`] is the Linux kernel's `tools/testing/selftests/net/packetdrill/
//! ksft_runner.sh`: each script runs once per IP version its own `--ip_version=` lines name
//! (IPv4 and IPv6 when none), each run with the runner's flags for that version (the
//! addresses, `--mtu=1520` for IPv6, the `TFO_COOKIE`, `TFO_COOKIE_ZERO`,
//! `CMSG_LEVEL_IP` and `CMSG_TYPE_RECVERR` defines), and the script passes when every run
//! passes.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::{IpVersion, Options, Outcome};

/// A corpus runner whose way of running scripts can be reproduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harness {
    /// The kernel selftests' `ksft_runner.sh`.
    Ksft,
}

impl std::str::FromStr for Harness {
    type Err = String;
    fn from_str(s: &str) -> Result<Harness, String> {
        match s {
            "ksft" => Ok(Harness::Ksft),
            _ => Err(format!("unknown harness `{s}`: expected ksft")),
        }
    }
}

/// One run of a script under a harness.
#[derive(Debug, Clone)]
pub struct HarnessRun {
    /// The run's name, as the harness reports it (`ipv4`, `ipv6`).
    pub label: &'static str,
    /// Its outcome.
    pub outcome: Outcome,
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn defines(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The options `ksft_runner.sh` passes for `version` (its `ip_args`), over `base` (whose
/// own settings, such as a tolerance, stay unless the runner sets them).
pub fn ksft_options(version: IpVersion, base: &Options) -> Options {
    let mut o = base.clone();
    match version {
        IpVersion::Ipv6 => {
            o.ip_version = Some(IpVersion::Ipv6);
            o.mtu = Some(1520);
            o.local_ip = Some(addr("fd3d:0a0b:17d6::1"));
            o.gateway_ip = Some(addr("fd3d:0a0b:17d6:8888::1"));
            o.remote_ip = Some(addr("fd3d:fa7b:d17d::1"));
            o.defines.extend(defines(&[
                ("TFO_COOKIE", "c1d1e9742a47a9bc"),
                ("TFO_COOKIE_ZERO", "82af1a8f9a205c34"),
                ("CMSG_LEVEL_IP", "SOL_IPV6"),
                ("CMSG_TYPE_RECVERR", "IPV6_RECVERR"),
            ]));
        }
        _ => {
            o.ip_version = Some(IpVersion::Ipv4);
            o.local_ip = Some(addr("192.168.0.1"));
            o.gateway_ip = Some(addr("192.168.0.1"));
            o.netmask_ip = Some(Ipv4Addr::new(255, 255, 0, 0));
            o.remote_ip = Some(addr("192.0.2.1"));
            o.defines.extend(defines(&[
                ("TFO_COOKIE", "3021b9d889017eeb"),
                ("TFO_COOKIE_ZERO", "b7c12350a90dc8f5"),
                ("CMSG_LEVEL_IP", "SOL_IP"),
                ("CMSG_TYPE_RECVERR", "IP_RECVERR"),
            ]));
        }
    }
    o
}

/// The IP versions `ksft_runner.sh` runs a script in: those its lines starting with
/// `--ip_version=` name, IPv4 and IPv6 when none; the runner refuses anything but one
/// `ipv4` or `ipv6` line, and so does this (the error says what it found).
pub fn ksft_versions(src: &str) -> Result<Vec<IpVersion>, String> {
    let named: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix("--ip_version="))
        .map(|v| v.split("//").next().unwrap_or("").trim())
        .collect();
    match named.as_slice() {
        [] => Ok(vec![IpVersion::Ipv4, IpVersion::Ipv6]),
        ["ipv4"] => Ok(vec![IpVersion::Ipv4]),
        ["ipv6"] => Ok(vec![IpVersion::Ipv6]),
        other => Err(format!(
            "too many or unsupported --ip_version lines for ksft_runner.sh: {}",
            other.join(" ")
        )),
    }
}

/// Runs the script at `path` as `harness` does: one [`HarnessRun`] per run.
pub fn run_file_with(path: &Path, opts: &Options, harness: Harness) -> Vec<HarnessRun> {
    let Harness::Ksft = harness;
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        // run_file reports the unreadable file.
        Err(_) => {
            return vec![HarnessRun {
                label: "ipv4",
                outcome: crate::run_file(path, opts),
            }]
        }
    };
    let versions = match ksft_versions(&src) {
        Ok(v) => v,
        Err(e) => {
            return vec![HarnessRun {
                label: "ksft",
                outcome: Outcome::Fail(Box::new(crate::Failure::script_error(0, String::new(), e))),
            }]
        }
    };
    versions
        .into_iter()
        .map(|v| HarnessRun {
            label: if v == IpVersion::Ipv6 { "ipv6" } else { "ipv4" },
            outcome: crate::run_file(path, &ksft_options(v, opts)),
        })
        .collect()
}

/// The script's result over its runs: a failure if any run failed, else unsupported if
/// any was, else a pass.
pub fn combined(runs: &[HarnessRun]) -> Outcome {
    runs.iter()
        .find(|r| matches!(r.outcome, Outcome::Fail(_)))
        .or_else(|| {
            runs.iter()
                .find(|r| matches!(r.outcome, Outcome::Unsupported(_)))
        })
        .map_or(Outcome::Pass, |r| r.outcome.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_the_runner_reads_them() {
        assert_eq!(
            ksft_versions("// x\n`./defaults.sh`\n").unwrap(),
            vec![IpVersion::Ipv4, IpVersion::Ipv6]
        );
        assert_eq!(
            ksft_versions("--ip_version=ipv6\n").unwrap(),
            vec![IpVersion::Ipv6]
        );
        assert!(ksft_versions("--ip_version=ipv4\n--ip_version=ipv6\n").is_err());
        assert!(ksft_versions("--ip_version=ipv4-mapped-ipv6\n").is_err());
    }

    #[test]
    fn options_per_version() {
        let v6 = ksft_options(IpVersion::Ipv6, &Options::default());
        assert_eq!(v6.mtu, Some(1520));
        assert_eq!(v6.remote_ip, Some(addr("fd3d:fa7b:d17d::1")));
        assert!(v6
            .defines
            .contains(&("CMSG_LEVEL_IP".to_string(), "SOL_IPV6".to_string())));
        let v4 = ksft_options(IpVersion::Ipv4, &Options::default());
        assert_eq!(v4.mtu, None);
        assert_eq!(v4.netmask_ip, Some(Ipv4Addr::new(255, 255, 0, 0)));
    }
}
