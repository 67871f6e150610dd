//! Shell lines: `defaults.sh`, `sysctl` and `set_sysctls.py` onto [`Config`]; a few
//! harmless commands as no-ops; anything else unsupported.

use synack::Config;

/// What one shell command does to the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShellAction {
    /// Apply packetdrill's default profile (`defaults.sh`).
    Defaults,
    /// Set a sysctl the engine has.
    Sysctl(String, String),
    /// Nothing to do (restore scripts, metrics flush, pfifo qdisc, a knob already so).
    Noop,
}

/// The sysctls of packetdrill's `defaults.sh` (PACKETDRILL.md §3.8), short names.
pub(crate) const PROFILE: &[(&str, &str)] = &[
    ("tcp_rmem", "4096 540000 15728640"),
    ("tcp_wmem", "4096 262144 4194304"),
    ("tcp_timestamps", "1"),
    ("tcp_syn_retries", "5"),
    ("tcp_synack_retries", "5"),
    ("tcp_frto", "2"),
    ("tcp_sack", "1"),
    ("tcp_dsack", "1"),
    ("tcp_fack", "0"),
    ("tcp_reordering", "3"),
    ("tcp_congestion_control", "cubic"),
    ("tcp_slow_start_after_idle", "0"),
    ("tcp_early_retrans", "4"),
    ("tcp_recovery", "1"),
    ("tcp_tso_win_divisor", "3"),
    ("tcp_ecn", "0"),
    ("tcp_ecn_option", "2"),
    ("tcp_pacing_ss_ratio", "200"),
    ("tcp_pacing_ca_ratio", "120"),
    ("tcp_notsent_lowat", "4294967295"),
    ("tcp_syncookies", "1"),
    ("tcp_window_scaling", "1"),
    ("tcp_min_tso_segs", "2"),
];

/// Applies the default profile's knobs that the engine has on top of `config`.
pub(crate) fn apply_profile(config: &mut Config) {
    for (k, v) in PROFILE {
        // Knobs the engine lacks are skipped: the profile sets them to Linux's behaviour
        // the engine has or does not model.
        let _ = config.set_sysctl(k, v);
    }
}

/// The short name of a sysctl path or dotted name (`/proc/sys/net/ipv4/tcp_sack`,
/// `net.ipv4.tcp_sack` → `tcp_sack`).
fn short_name(name: &str) -> String {
    let n = name
        .trim()
        .trim_start_matches("/proc/sys/")
        .replace('/', ".");
    n.trim_start_matches("net.ipv4.")
        .trim_start_matches("net.core.")
        .to_string()
}

/// Splits a command into words, honouring single and double quotes.
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in cmd.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Commands that change nothing synack models: restoring sysctls, flushing the route
/// metrics cache, a pfifo qdisc or back to the default one, turning offloads off (synack
/// has none).
fn harmless(base: &str, w: &[String]) -> bool {
    let arg = |i: usize| w.get(i).map_or("", String::as_str);
    base.starts_with("sysctl_restore")
        || (base == "ip" && arg(1) == "tcp_metrics")
        || (base == "tc" && w.iter().any(|s| s == "pfifo"))
        || (base == "tc" && arg(1) == "qdisc" && arg(2) == "delete")
        || (base == "ethtool"
            && arg(1) == "-K"
            && w.len() > 3
            && w.get(3..)
                .unwrap_or(&[])
                .chunks(2)
                .all(|c| c.len() == 2 && c[1] == "off"))
}

/// One `name=value` sysctl assignment.
fn sysctl(assign: &str, config: &Config) -> Result<ShellAction, String> {
    let Some((name, value)) = assign.split_once('=') else {
        return Err(format!("sysctl argument `{assign}` is not name=value"));
    };
    let short = short_name(name);
    let value = value.trim().to_string();
    let mut probe = config.clone();
    match probe.set_sysctl(&short, &value) {
        Ok(()) => Ok(ShellAction::Sysctl(short, value)),
        Err(synack::ConfigError::UnknownKnob(_)) => {
            // tcp_min_tso_segs only sizes TSO super-packets, which synack does not build
            // and which the interpreter joins back anyway: no observable effect here.
            if short == "tcp_min_tso_segs"
                || PROFILE.iter().any(|(k, v)| *k == short && *v == value)
            {
                Ok(ShellAction::Noop)
            } else {
                Err(format!(
                    "sysctl {short}={value}: the engine has no `{short}` knob"
                ))
            }
        }
        Err(e) => Err(format!("sysctl {short}={value}: {e}")),
    }
}

/// Interprets a shell block (one command per line, `\` continuations, `;` and `&&`
/// separators). `config` is only consulted to validate sysctls.
pub(crate) fn interpret(text: &str, config: &Config) -> Result<Vec<ShellAction>, String> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        for cmd in line.split("&&").flat_map(|c| c.split(';')) {
            let w = words(cmd);
            let Some(first) = w.first() else { continue };
            let base = first.rsplit('/').next().unwrap_or(first);
            if base == "defaults.sh" {
                out.push(ShellAction::Defaults);
            } else if base == "set_sysctls.py" {
                for a in &w[1..] {
                    out.push(sysctl(a, config)?);
                }
            } else if base == "sysctl" {
                for a in w[1..].iter().filter(|a| !a.starts_with('-')) {
                    out.push(sysctl(a, config)?);
                }
            } else if harmless(base, &w) {
                out.push(ShellAction::Noop);
            } else {
                return Err(format!("shell command `{}` is not supported", cmd.trim()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lines() {
        let c = Config::default();
        let a = interpret(
            "../common/defaults.sh\n ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n /proc/sys/net/ipv4/tcp_wmem=\"4096 50000 4194304\"",
            &c,
        )
        .unwrap();
        assert_eq!(
            a,
            vec![
                ShellAction::Defaults,
                ShellAction::Sysctl("tcp_timestamps".into(), "0".into()),
                ShellAction::Sysctl("tcp_wmem".into(), "4096 50000 4194304".into()),
            ]
        );
        assert_eq!(
            interpret("/tmp/sysctl_restore_${PPID}.sh", &c).unwrap(),
            vec![ShellAction::Noop]
        );
        let e = interpret("sysctl -q net.ipv4.tcp_fastopen=0x3", &c).unwrap_err();
        assert!(e.contains("no `tcp_fastopen` knob"), "{e}");
        assert!(interpret("tc qdisc replace dev tun0 root fq", &c).is_err());
    }

    #[test]
    fn profile_gives_wscale_8_rmem() {
        let mut c = Config::default();
        apply_profile(&mut c);
        assert_eq!(c.tcp_rmem, [4096, 540000, 15728640]);
        assert_eq!(c.tcp_syn_retries, 5);
        assert!(!c.tcp_slow_start_after_idle);
    }
}
