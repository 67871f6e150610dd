//! Shell lines: `defaults.sh`, `sysctl` and `set_sysctls.py` onto [`Config`]; `nstat`
//! counter checks; a few harmless commands as no-ops; anything else unsupported.
//!
//! A command naming a shell file that exists beside the script (the kernel's
//! `./defaults.sh`) or given by `--init_scripts` is read and its lines interpreted the
//! same way, as packetdrill runs it. Such a *defaults file* may set knobs the engine does
//! not have (`tcp_limit_output_bytes`, ...): they are skipped, as the
//! built-in profile skips them, because they configure machinery a script only reaches
//! through lines of its own, which are checked. Without the file, `defaults.sh` is
//! packetdrill's default profile ([`PROFILE`]).

use std::path::{Path, PathBuf};

use synack::{Config, Qdisc};

/// What one shell command does to the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShellAction {
    /// Apply packetdrill's default profile (`defaults.sh`).
    Defaults,
    /// Set a sysctl the engine has.
    Sysctl(String, String),
    /// Nothing to do (restore scripts, a knob already so).
    Noop,
    /// `tc qdisc add|replace dev DEV root KIND` (and `tc qdisc delete`, back to the
    /// default): the device's queueing discipline.
    Qdisc(Qdisc),
    /// `ip tcp_metrics flush`: forget the cached per-destination state (the Fast Open
    /// cookies, RFC 7413 3).
    FlushMetrics,
    /// `ip route change|replace|add PREFIX ... [mtu [lock] N] [advmss N] [initcwnd N]`
    /// (`Some`: the route's metrics, those not named back to the link's) or `ip route
    /// del PREFIX` (`None`).
    Route(synack::Prefix, Option<synack::RouteMetrics>),
    /// A file of zeros the script's `open()` and `sendfile()` can use (`dd
    /// if=/dev/zero of=PATH ...`), of this size; `None`: removed (`rm -f PATH`).
    File(String, Option<u64>),
    /// `nstat`: compare (with `check`) and, unless `-s`, reset the counters' baseline.
    Nstat {
        /// `(counter, expected delta)`: `None` for "printed at all" (non-zero).
        check: Option<(String, Option<u64>)>,
        /// Without `-s`, nstat saves the counters as the new baseline.
        update: bool,
    },
    /// `grep PAT /proc/net/tcp [/proc/net/tcp6] [| grep PAT ...]`: succeeds when a line
    /// of the stack's socket table (grep's `FILE:` prefix included when it names more
    /// than one file) contains every pattern, as fixed strings.
    ProcGrep {
        /// The files, in order: false for `/proc/net/tcp`, true for `/proc/net/tcp6`.
        files: Vec<bool>,
        /// Each stage's pattern.
        patterns: Vec<String>,
    },
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
    ("tcp_fastopen", "0x70403"),
    ("tcp_fastopen_key", "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"),
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
    synack::config::knob_name(name)
}

/// Where shell commands run: the script's directory (for the files they name) and how
/// strict unknown knobs are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    /// The script's directory, if it is a file.
    pub dir: Option<&'a Path>,
    /// Inside a defaults file: unknown knobs are skipped.
    pub lenient: bool,
    /// Files entered so far (a file that runs itself stops).
    pub depth: u8,
}

impl<'a> Env<'a> {
    /// A script's own lines.
    pub fn script(dir: Option<&'a Path>) -> Env<'a> {
        Env {
            dir,
            lenient: false,
            depth: 0,
        }
    }
}

/// Evaluates a shell arithmetic expression (`$((15*1024*1024))`): integers, `+ - * / %`
/// and parentheses.
fn arith(expr: &str) -> Result<i64, String> {
    fn term(t: &[char], i: &mut usize) -> Result<i64, String> {
        let mut v = factor(t, i)?;
        while *i < t.len() && matches!(t[*i], '*' | '/' | '%') {
            let op = t[*i];
            *i += 1;
            let r = factor(t, i)?;
            v = match op {
                '*' => v.checked_mul(r),
                '/' => v.checked_div(r),
                _ => v.checked_rem(r),
            }
            .ok_or_else(|| "arithmetic overflow or division by zero".to_string())?;
        }
        Ok(v)
    }
    fn sum(t: &[char], i: &mut usize) -> Result<i64, String> {
        let mut v = term(t, i)?;
        while *i < t.len() && matches!(t[*i], '+' | '-') {
            let op = t[*i];
            *i += 1;
            let r = term(t, i)?;
            v = if op == '+' {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or_else(|| "arithmetic overflow".to_string())?;
        }
        Ok(v)
    }
    fn factor(t: &[char], i: &mut usize) -> Result<i64, String> {
        match t.get(*i) {
            Some('(') => {
                *i += 1;
                let v = sum(t, i)?;
                if t.get(*i) != Some(&')') {
                    return Err("expected `)`".into());
                }
                *i += 1;
                Ok(v)
            }
            Some('-') => {
                *i += 1;
                Ok(-factor(t, i)?)
            }
            Some(c) if c.is_ascii_digit() => {
                let mut j = *i;
                while j < t.len() && t[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                let text: String = t[*i..j].iter().collect();
                *i = j;
                crate::parser::parse_int(&text).ok_or(format!("bad number `{text}`"))
            }
            _ => Err("expected a number".into()),
        }
    }
    let t: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut i = 0;
    let v = sum(&t, &mut i)?;
    if i != t.len() {
        return Err(format!("cannot evaluate `$(({expr}))`"));
    }
    Ok(v)
}

/// Splits a command into words, honouring single and double quotes and expanding
/// `$((arithmetic))` outside single quotes.
/// A line without its comment: sh starts one at a `#` that begins a word, outside
/// quotes (`sysctl -q net.ipv4.tcp_ecn=1  # fully enabled`).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') if prev_blank => return &line[..i],
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line
}

fn words(cmd: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let chars: Vec<char> = cmd.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if quote != Some('\'') && c == '$' && chars[i + 1..].starts_with(&['(', '(']) {
            let rest: String = chars[i + 3..].iter().collect();
            let Some(end) = rest.find("))") else {
                return Err("unterminated `$((`".into());
            };
            let v = arith(&rest[..end]).map_err(|e| format!("shell arithmetic: {e}"))?;
            cur.push_str(&v.to_string());
            i += 3 + end + 2;
            continue;
        }
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
        i += 1;
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Drops output redirections to `/dev/null` and descriptor copies (`> /dev/null 2>&1`);
/// any other redirection is unsupported.
fn strip_redirections(w: Vec<String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut it = w.into_iter();
    while let Some(word) = it.next() {
        let op_len = ["&>", "2>", "1>", ">>", ">"]
            .iter()
            .find(|op| word.starts_with(**op))
            .map(|op| op.len());
        let Some(n) = op_len else {
            out.push(word);
            continue;
        };
        let target = if word.len() > n {
            word[n..].to_string()
        } else {
            it.next().unwrap_or_default()
        };
        if target != "/dev/null" && !target.starts_with('&') {
            return Err(format!("redirection `{word}` to `{target}`"));
        }
    }
    Ok(out)
}

/// `echo VALUE > /proc/sys/...` or `echo VALUE > /sys/module/tcp_cubic/parameters/NAME`
/// (a sysctl or a module parameter written as a file): the `name=value` it sets.
fn echo_to_knob(w: &[String]) -> Option<String> {
    let (first, rest) = w.split_first()?;
    if first != "echo" {
        return None;
    }
    let (value, target) = match rest {
        [v, op, t] if op == ">" => (v, t.as_str()),
        [v, t] => (v, t.strip_prefix('>')?),
        _ => return None,
    };
    let knob_file = target.starts_with("/proc/sys/") || target.starts_with("/sys/module/");
    (knob_file && !value.starts_with('-')).then(|| format!("{target}={value}"))
}

/// `tc qdisc (add|replace|change) dev DEV root KIND [...]` and `tc qdisc del[ete] ...`:
/// the device's queueing discipline, when synack models it. A pfifo (that holds packets,
/// as the default qdisc does) and deleting the root qdisc give the default; fq paces
/// (conn/pacing.rs); a pfifo of `limit 0` drops everything.
fn qdisc(base: &str, w: &[String]) -> Option<Qdisc> {
    let arg = |i: usize| w.get(i).map_or("", String::as_str);
    if base != "tc" || arg(1) != "qdisc" {
        return None;
    }
    if matches!(arg(2), "delete" | "del") {
        return Some(Qdisc::Fifo);
    }
    if !matches!(arg(2), "add" | "replace" | "change") || arg(5) != "root" {
        return None;
    }
    let drops_all = w
        .windows(2)
        .any(|p| p[0] == "limit" && p[1].parse::<u64>() == Ok(0));
    match arg(6) {
        "pfifo" | "pfifo_fast" if !drops_all => Some(Qdisc::Fifo),
        "pfifo" if w.len() == 9 => Some(Qdisc::DropAll),
        "fq" if w.len() == 7 => Some(Qdisc::Fq),
        _ => None,
    }
}

/// Commands that change nothing synack models: restoring sysctls, flushing the route
/// metrics cache, turning offloads off (synack has none).
fn harmless(base: &str, w: &[String]) -> bool {
    let arg = |i: usize| w.get(i).map_or("", String::as_str);
    base.starts_with("sysctl_restore")
        || (base == "ip" && arg(1) == "tcp_metrics")
        || (base == "ethtool"
            && arg(1) == "-K"
            && w.len() > 3
            && w.get(3..)
                .unwrap_or(&[])
                .chunks(2)
                .all(|c| c.len() == 2 && c[1] == "off"))
}

/// One `name=value` sysctl assignment.
fn sysctl(assign: &str, config: &Config, env: Env) -> Result<ShellAction, String> {
    let Some((name, value)) = assign.split_once('=') else {
        return Err(format!("sysctl argument `{assign}` is not name=value"));
    };
    let short = short_name(name);
    let value = value.trim().to_string();
    let mut probe = config.clone();
    match probe.set_sysctl(&short, &value) {
        Ok(()) => Ok(ShellAction::Sysctl(short, value)),
        Err(synack::ConfigError::UnknownKnob(_)) => {
            if env.lenient || PROFILE.iter().any(|(k, v)| *k == short && *v == value) {
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

/// `nstat [-n|-s] [| grep NAME [| grep -q " N "]]`, redirections already gone.
fn nstat(stages: &[Vec<String>]) -> Result<ShellAction, String> {
    let flags = &stages[0][1..];
    if flags
        .iter()
        .any(|f| !matches!(f.as_str(), "-n" | "-s" | "-sn" | "-ns"))
    {
        return Err(format!("nstat {}: only -n and -s", flags.join(" ")));
    }
    let update = !flags.iter().any(|f| f.contains('s'));
    let quiet = flags.iter().any(|f| f.contains('n'));
    let bad = || format!("nstat pipeline `{stages:?}`: only `| grep NAME | grep -q \" N \"`");
    let check = match stages.len() {
        1 => None,
        2 | 3 if !quiet => {
            let g = &stages[1];
            let name = match g.as_slice() {
                [grep, name] if grep == "grep" => name.clone(),
                [grep, q, name] if grep == "grep" && q == "-q" => name.clone(),
                _ => return Err(bad()),
            };
            let value = match stages.get(2).map(Vec::as_slice) {
                None => None,
                Some([grep, q, v]) if grep == "grep" && q == "-q" => {
                    Some(v.trim().parse::<u64>().map_err(|_| bad())?)
                }
                Some(_) => return Err(bad()),
            };
            Some((name, value))
        }
        _ => return Err(bad()),
    };
    Ok(ShellAction::Nstat { check, update })
}

/// The file a command names, if it is a shell file that exists (beside the script when
/// relative).
/// `grep [-q] PAT FILE... [| grep [-q] PAT]...` over `/proc/net/tcp{,6}`, redirections
/// already gone. Patterns are taken as fixed strings, so one with a regular-expression
/// character is refused.
fn proc_grep(stages: &[Vec<String>]) -> Result<ShellAction, String> {
    let bad = |why: &str| format!("grep pipeline `{stages:?}`: {why}");
    let mut files = Vec::new();
    let mut patterns = Vec::new();
    for (i, st) in stages.iter().enumerate() {
        let args: Vec<&String> = st.iter().skip(1).filter(|a| *a != "-q").collect();
        if st.first().map(String::as_str) != Some("grep") || args.is_empty() {
            return Err(bad("only `grep PATTERN` stages are supported"));
        }
        if args[0].starts_with('-') {
            return Err(bad(&format!("grep option `{}` is not supported", args[0])));
        }
        if args[0].contains(['.', '*', '[', ']', '^', '$', '\\']) {
            return Err(bad("only fixed-string patterns are supported"));
        }
        patterns.push(args[0].clone());
        for f in &args[1..] {
            match (i, f.as_str()) {
                (0, "/proc/net/tcp") => files.push(false),
                (0, "/proc/net/tcp6") => files.push(true),
                _ => return Err(bad(&format!("file `{f}` is not supported"))),
            }
        }
    }
    if files.is_empty() {
        return Err(bad(
            "the first grep must name /proc/net/tcp or /proc/net/tcp6",
        ));
    }
    Ok(ShellAction::ProcGrep { files, patterns })
}

fn command_file(first: &str, env: Env) -> Option<PathBuf> {
    if !first.ends_with(".sh") {
        return None;
    }
    let p = Path::new(first);
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        env.dir?.join(p)
    };
    path.is_file().then_some(path)
}

/// Interprets a shell file as a defaults file (see the module's documentation).
pub(crate) fn interpret_file(
    path: &Path,
    config: &Config,
    env: Env,
) -> Result<Vec<ShellAction>, String> {
    if env.depth >= 4 {
        return Err(format!("{}: shell files nest too deep", path.display()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let inner = Env {
        dir: path.parent(),
        lenient: true,
        depth: env.depth + 1,
    };
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    interpret_in(&text, config, inner).map_err(|e| format!("{}: {e}", path.display()))
}

/// Interprets a shell block of the script (one command per line, `\` continuations, `;`,
/// `&&` and `||` separators). `config` is only consulted to validate sysctls.
pub(crate) fn interpret(
    text: &str,
    config: &Config,
    dir: Option<&Path>,
) -> Result<Vec<ShellAction>, String> {
    interpret_in(text, config, Env::script(dir))
}

fn interpret_in(text: &str, config: &Config, env: Env) -> Result<Vec<ShellAction>, String> {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = strip_comment(line);
        for list in line.split(';') {
            if list.contains("||") {
                out.extend(or_list(list, config, env)?);
                continue;
            }
            for cmd in list.split("&&") {
                command(cmd, config, env, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// `A || B || ...`, each an `&&` list: the first that succeeds gives the actions. On
/// this stack, as on a kernel without the knob, a `sysctl` of a knob the engine does
/// not have fails (`sysctl: cannot stat /proc/sys/...`), and the shell goes on to the
/// next list (Google's scripts use this to fall back from an out-of-tree knob to `ip
/// tcp_metrics flush`). Any other command is taken to succeed.
fn or_list(list: &str, config: &Config, env: Env) -> Result<Vec<ShellAction>, String> {
    for alt in list.split("||") {
        let cmds: Vec<&str> = alt.split("&&").collect();
        if cmds.iter().any(|c| names_unknown_knob(c, config)) {
            continue;
        }
        let mut out = Vec::new();
        for cmd in cmds {
            command(cmd, config, env, &mut out)?;
        }
        return Ok(out);
    }
    Err(format!(
        "shell command `{}` fails: every alternative sets a sysctl the engine does not have",
        list.trim()
    ))
}

/// Whether `cmd` is a `sysctl` (or `set_sysctls.py`) that names a knob the engine lacks.
fn names_unknown_knob(cmd: &str, config: &Config) -> bool {
    let Ok(w) = words(cmd) else { return false };
    let Ok(w) = strip_redirections(w) else {
        return false;
    };
    let Some(first) = w.first() else { return false };
    let base = first.rsplit('/').next().unwrap_or(first);
    if !matches!(base, "sysctl" | "set_sysctls.py") {
        return false;
    }
    w[1..]
        .iter()
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.split_once('='))
        .any(|(name, value)| {
            matches!(
                config.clone().set_sysctl(&short_name(name), value.trim()),
                Err(synack::ConfigError::UnknownKnob(_))
            )
        })
}

/// One simple command (or pipeline): its actions go to `out`.
fn command(cmd: &str, config: &Config, env: Env, out: &mut Vec<ShellAction>) -> Result<(), String> {
    if let Some(assign) = echo_to_knob(&words(cmd)?) {
        out.push(sysctl(&assign, config, env)?);
        return Ok(());
    }
    let mut stages = Vec::new();
    for stage in cmd.split('|') {
        stages.push(
            strip_redirections(words(stage)?)
                .map_err(|e| format!("shell command `{}`: {e} is not supported", cmd.trim()))?,
        );
    }
    let w = &stages[0];
    let Some(first) = w.first() else {
        return Ok(());
    };
    let base = first.rsplit('/').next().unwrap_or(first);
    if base == "nstat" {
        out.push(nstat(&stages)?);
        return Ok(());
    }
    if base == "grep" && w.iter().any(|a| a.starts_with("/proc/")) {
        out.push(proc_grep(&stages)?);
        return Ok(());
    }
    if stages.len() > 1 {
        return Err(format!("shell pipeline `{}` is not supported", cmd.trim()));
    }
    if base == "rm" {
        for p in w[1..].iter().filter(|a| !a.starts_with('-')) {
            out.push(ShellAction::File(p.clone(), None));
        }
    } else if base == "dd" {
        out.push(dd(w)?);
    } else if base == "ip" && w.get(1..3) == Some(&["tcp_metrics".into(), "flush".into()]) {
        out.push(ShellAction::FlushMetrics);
    } else if let Some(q) = qdisc(base, w) {
        out.push(ShellAction::Qdisc(q));
    } else if base == "ip"
        && w.iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .is_some_and(|a| a == "route")
    {
        out.push(ip_route(w)?);
    } else if harmless(base, w) {
        out.push(ShellAction::Noop);
    } else if let Some(path) = command_file(first, env) {
        out.extend(interpret_file(&path, config, env)?);
    } else if base == "defaults.sh" {
        out.push(ShellAction::Defaults);
    } else if base == "set_sysctls.py" {
        for a in &w[1..] {
            out.push(sysctl(a, config, env)?);
        }
    } else if base == "sysctl" {
        for a in w[1..].iter().filter(|a| !a.starts_with('-')) {
            out.push(sysctl(a, config, env)?);
        }
    } else {
        return Err(format!(
            "shell command `{}` is not supported{}",
            cmd.trim(),
            why_not(base, w)
        ));
    }
    Ok(())
}

/// `dd if=/dev/zero of=PATH bs=N count=M`: a file of N * M zeros (the only payload
/// packetdrill scripts send is zeros).
fn dd(w: &[String]) -> Result<ShellAction, String> {
    let arg = |k: &str| {
        w.iter()
            .find_map(|a| a.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    let num = |k: &str, d: u64| -> Result<u64, String> {
        arg(k).map_or(Ok(d), |v| {
            v.parse()
                .map_err(|_| format!("dd {k}={v}: expected a number of bytes or blocks"))
        })
    };
    if arg("if") != Some("/dev/zero") {
        return Err(format!(
            "shell command `{}` is not supported: dd copies only /dev/zero here",
            w.join(" ")
        ));
    }
    let Some(of) = arg("of") else {
        return Err("dd without of=FILE".into());
    };
    let size = num("bs", 512)?.saturating_mul(num("count", 0)?);
    Ok(ShellAction::File(of.to_string(), Some(size)))
}

/// `ip [-4|-6] route change|replace|add|del PREFIX [via GW] [dev DEV] [METRIC ...]`:
/// the route metrics synack keeps (synack::route): `mtu [lock] N`, `advmss N`,
/// `initcwnd N`. The gateway, device and the like change nothing synack models (one
/// device, every peer on it); any other metric is unsupported.
fn ip_route(w: &[String]) -> Result<ShellAction, String> {
    let cmd = w.join(" ");
    let unsupported = |why: String| format!("shell command `{cmd}` is not supported: {why}");
    let mut it = w.iter().skip(1).map(String::as_str).peekable();
    let mut v6 = false;
    while let Some(flag) = it.next_if(|a| a.starts_with('-')) {
        match flag {
            "-6" => v6 = true,
            "-4" => v6 = false,
            _ => return Err(unsupported(format!("ip option `{flag}`"))),
        }
    }
    it.next(); // "route"
    let verb = it.next().unwrap_or("");
    let delete = match verb {
        "change" | "replace" | "add" => false,
        "del" | "delete" => true,
        _ => {
            return Err(unsupported(format!(
                "`ip route {verb}` (synack takes change, replace, add and del)"
            )))
        }
    };
    let dest = it
        .next()
        .ok_or_else(|| unsupported("no destination".into()))?;
    let prefix: synack::Prefix = match dest {
        "default" if v6 => "::/0".parse()?,
        "default" => "0.0.0.0/0".parse()?,
        d => d.parse().map_err(|e: String| unsupported(e))?,
    };
    let mut m = synack::RouteMetrics::new();
    let number = |what: &str, v: Option<&str>| -> Result<u32, String> {
        v.and_then(|v| v.parse().ok())
            .ok_or_else(|| unsupported(format!("`{what}` needs a number")))
    };
    while let Some(word) = it.next() {
        match word {
            // Where the route leads and how it was made: synack has one device and no
            // next hops.
            "via" | "dev" | "src" | "proto" | "scope" | "metric" | "table" => {
                it.next();
            }
            "onlink" => {}
            "mtu" | "advmss" | "initcwnd" => {
                let lock = it.next_if_eq(&"lock").is_some();
                let n = number(word, it.next())?;
                m = match word {
                    "mtu" if lock => m.mtu(n).lock_mtu(),
                    "mtu" => m.mtu(n),
                    "advmss" => m.advmss(u16::try_from(n).unwrap_or(u16::MAX)),
                    _ => m.initcwnd(n),
                };
            }
            other => {
                return Err(unsupported(format!(
                    "route attribute `{other}` (synack keeps mtu, advmss and initcwnd per route)"
                )))
            }
        }
    }
    if delete {
        return Ok(ShellAction::Route(prefix, None));
    }
    synack::Routes::default().set(prefix, m).map_err(|e| {
        format!("shell command `{cmd}` failed: {e} (RTNETLINK answers: Invalid argument)")
    })?;
    Ok(ShellAction::Route(prefix, Some(m)))
}

/// What an unsupported command asks of the stack, when it is a known kind.
fn why_not(base: &str, w: &[String]) -> &'static str {
    let has = |s: &str| w.iter().any(|x| x == s);
    match base {
        "tc" if has("pfifo") => ": pfifo's parameters (synack has a pfifo of limit 0)",
        "tc" if has("fq") => ": fq's parameters (synack paces with fq's defaults)",
        "tc" if has("netem") => ": netem impairments",
        "ethtool" => ": device offload settings",
        "echo" | "cat" => ": files under /proc or /sys",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_route_sets_the_metrics_synack_keeps() {
        let c = Config::default();
        let a = interpret(
            "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11",
            &c,
            None,
        )
        .unwrap();
        let m = synack::RouteMetrics::new()
            .advmss(600)
            .mtu(640)
            .lock_mtu()
            .initcwnd(11);
        assert_eq!(
            a,
            vec![ShellAction::Route("192.0.2.1".parse().unwrap(), Some(m))]
        );
        let a = interpret(
            "ip -6 route change 2001:DB8::1 via fd3d:fa7b:d17d:8888::0 dev tun0 advmss 1480 mtu 1520",
            &c,
            None,
        )
        .unwrap();
        let m = synack::RouteMetrics::new().advmss(1480).mtu(1520);
        assert_eq!(
            a,
            vec![ShellAction::Route("2001:db8::1".parse().unwrap(), Some(m))]
        );
        assert_eq!(
            interpret("ip route del 10.0.0.0/8", &c, None).unwrap(),
            vec![ShellAction::Route("10.0.0.0/8".parse().unwrap(), None)]
        );
        let e = interpret("ip route change 192.0.2.1 dev tun0 rtt 10", &c, None).unwrap_err();
        assert!(e.contains("route attribute `rtt`"), "{e}");
        let e = interpret("ip route change 192.0.2.1 dev tun0 mtu 40", &c, None).unwrap_err();
        assert!(e.contains("Invalid argument"), "{e}");
        let e = interpret("ip route show", &c, None).unwrap_err();
        assert!(e.contains("`ip route show`"), "{e}");
    }

    #[test]
    fn an_or_list_falls_back_when_a_sysctl_knob_is_missing() {
        let c = Config::default();
        // The engine, like mainline Linux, has no tcp_fastopen_cookies: sysctl fails and
        // the shell runs the fallback.
        let a = interpret(
            "sysctl -q net.ipv4.tcp_fastopen_cookies=0 &> /dev/null ||\\\n ip tcp_metrics flush all &> /dev/null",
            &c,
            None,
        )
        .unwrap();
        assert_eq!(a, vec![ShellAction::FlushMetrics]);
        // A knob the engine has: the first list succeeds, the fallback does not run.
        let a = interpret(
            "sysctl -q net.ipv4.tcp_ecn=1 || ip tcp_metrics flush all",
            &c,
            None,
        )
        .unwrap();
        assert_eq!(a, vec![ShellAction::Sysctl("tcp_ecn".into(), "1".into())]);
        // Every alternative fails: so does the command.
        let e = interpret(
            "sysctl -q net.ipv4.no_such=1 || sysctl net.ipv4.nor_this=2",
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.contains("fails"), "{e}");
    }

    #[test]
    fn comments_end_a_line() {
        let c = Config::default();
        let a = interpret("sysctl -q net.ipv4.tcp_ecn=1  # fully enabled", &c, None).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(strip_comment("echo 'a # b' # c"), "echo 'a # b' ");
        assert_eq!(strip_comment("a#b"), "a#b");
    }

    #[test]
    fn default_lines() {
        let c = Config::default();
        let a = interpret(
            "../common/defaults.sh\n ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n /proc/sys/net/ipv4/tcp_wmem=\"4096 50000 4194304\"",
            &c,
            None,
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
            interpret("/tmp/sysctl_restore_${PPID}.sh", &c, None).unwrap(),
            vec![ShellAction::Noop]
        );
        let e = interpret("sysctl -q net.ipv4.tcp_limit_output_bytes=150", &c, None).unwrap_err();
        assert!(e.contains("no `tcp_limit_output_bytes` knob"), "{e}");
        assert_eq!(
            interpret("tc qdisc replace dev tun0 root fq", &c, None).unwrap(),
            vec![ShellAction::Qdisc(Qdisc::Fq)]
        );
        // fq with parameters of its own is not modelled.
        let e = interpret("tc qdisc replace dev tun0 root fq quantum 3000", &c, None);
        assert!(e.unwrap_err().contains("fq's parameters"));
        assert_eq!(
            interpret("tc qdisc add dev tun0 root pfifo", &c, None).unwrap(),
            vec![ShellAction::Qdisc(Qdisc::Fifo)]
        );
        // A queue of no packets drops everything the stack sends.
        let a = interpret(
            "tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0",
            &c,
            None,
        )
        .unwrap();
        assert_eq!(
            a,
            vec![
                ShellAction::Qdisc(Qdisc::Fifo),
                ShellAction::Qdisc(Qdisc::DropAll)
            ]
        );
    }

    #[test]
    fn zero_files() {
        let c = Config::default();
        assert_eq!(
            interpret(
                "/bin/rm -f /tmp/testfile\n/bin/dd bs=1 count=5 if=/dev/zero of=/tmp/testfile status=none",
                &c,
                None
            )
            .unwrap(),
            vec![
                ShellAction::File("/tmp/testfile".into(), None),
                ShellAction::File("/tmp/testfile".into(), Some(5)),
            ]
        );
        assert!(interpret("dd if=/dev/urandom of=/tmp/x count=1", &c, None).is_err());
    }

    #[test]
    fn echo_into_a_knob_file() {
        let c = Config::default();
        assert_eq!(
            interpret(
                "echo 3 > /sys/module/tcp_cubic/parameters/hystart_detect\necho 0 >/proc/sys/net/ipv4/tcp_sack",
                &c,
                None
            )
            .unwrap(),
            vec![
                ShellAction::Sysctl("tcp_cubic.hystart_detect".into(), "3".into()),
                ShellAction::Sysctl("tcp_sack".into(), "0".into()),
            ]
        );
        let e = interpret(
            "echo 4 > /sys/module/tcp_cubic/parameters/hystart_detect",
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.contains("0..=3"), "{e}");
        let e = interpret("echo 1 > /sys/module/tcp_bbr/parameters/x", &c, None).unwrap_err();
        assert!(e.contains("no `tcp_bbr.x` knob"), "{e}");
        assert!(interpret("echo hi > /tmp/file", &c, None).is_err());
    }

    #[test]
    fn arithmetic_and_redirections() {
        let c = Config::default();
        assert_eq!(
            interpret(
                "sysctl -q net.ipv4.tcp_rmem=\"4096 131072 $((32*1024*1024))\" > /dev/null 2>&1",
                &c,
                None
            )
            .unwrap(),
            vec![ShellAction::Sysctl(
                "tcp_rmem".into(),
                "4096 131072 33554432".into()
            )]
        );
        assert_eq!(arith("(1+2)*3 - 10/4").unwrap(), 7);
        assert!(arith("1/0").is_err());
        let e = interpret("sysctl -q net.ipv4.tcp_sack=1 > /tmp/x", &c, None).unwrap_err();
        assert!(e.contains("redirection"), "{e}");
    }

    #[test]
    fn proc_net_tcp_greps() {
        let c = Config::default();
        let a = interpret(
            "grep \" 0A \" /proc/net/tcp /proc/net/tcp6 | grep \":1F90\"",
            &c,
            None,
        )
        .unwrap();
        assert_eq!(
            a,
            vec![ShellAction::ProcGrep {
                files: vec![false, true],
                patterns: vec![" 0A ".into(), ":1F90".into()],
            }]
        );
        assert!(interpret("grep 'a.*b' /proc/net/tcp", &c, None).is_err());
        assert!(interpret("grep x /proc/net/udp", &c, None).is_err());
    }

    #[test]
    fn nstat_checks() {
        let c = Config::default();
        assert_eq!(
            interpret("nstat -n", &c, None).unwrap(),
            vec![ShellAction::Nstat {
                check: None,
                update: true
            }]
        );
        assert_eq!(
            interpret(
                "nstat -s | grep TcpExtTCPZeroWindowDrop| grep -q \" 3 \"",
                &c,
                None
            )
            .unwrap(),
            vec![ShellAction::Nstat {
                check: Some(("TcpExtTCPZeroWindowDrop".into(), Some(3))),
                update: false
            }]
        );
        assert_eq!(
            interpret("nstat | grep TcpExtOutOfWindowIcmps > /dev/null", &c, None).unwrap(),
            vec![ShellAction::Nstat {
                check: Some(("TcpExtOutOfWindowIcmps".into(), None)),
                update: true
            }]
        );
        assert!(interpret("nstat | wc -l", &c, None).is_err());
    }

    #[test]
    fn a_defaults_file_is_read_and_skips_unknown_knobs() {
        let dir = std::env::temp_dir().join(format!("synack-shell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("defaults.sh"),
            "#!/bin/bash\n# comment\nip tcp_metrics flush all > /dev/null 2>&1\n\
             sysctl -q net.ipv4.tcp_syn_retries=4\nsysctl -q net.ipv4.tcp_limit_output_bytes=150\n",
        )
        .unwrap();
        let c = Config::default();
        let a = interpret("./defaults.sh", &c, Some(&dir)).unwrap();
        assert_eq!(
            a,
            vec![
                ShellAction::FlushMetrics,
                ShellAction::Sysctl("tcp_syn_retries".into(), "4".into()),
                ShellAction::Noop,
            ]
        );
        // The script's own lines stay strict; without the file, the built-in profile.
        assert!(interpret(
            "sysctl -q net.ipv4.tcp_limit_output_bytes=150",
            &c,
            Some(&dir)
        )
        .is_err());
        assert_eq!(
            interpret("./defaults.sh", &c, None).unwrap(),
            vec![ShellAction::Defaults]
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
