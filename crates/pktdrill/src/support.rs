//! Before running: does the script need anything the interpreter or the engine lacks?
//! The first such need is the script's *unsupported* reason.

use std::path::Path;

use synack::Config;

use crate::ast::*;
use crate::sockopt::{GET_OPTS, SET_OPTS};
use crate::{python, shell};

/// System calls the runner implements.
pub(crate) const CALLS: &[&str] = &[
    "socket",
    "bind",
    "listen",
    "accept",
    "connect",
    "read",
    "recv",
    "recvfrom",
    "readv",
    "write",
    "send",
    "sendto",
    "writev",
    "close",
    "shutdown",
    "fcntl",
    "ioctl",
    "getsockopt",
    "setsockopt",
    "sendmsg",
    "recvmsg",
    "poll",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "open",
    "sendfile",
    "pipe",
    "splice",
];

/// What a feature needs, named for the report.
fn need(what: &str) -> String {
    match what {
        "splice" | "pipe" => format!("{what}() (splice)"),
        _ => format!("{what}()"),
    }
}

fn sym_in(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Sym(s) => out.push(s.clone()),
        Expr::Or(v) | Expr::Array(v) | Expr::Call(_, v) => v.iter().for_each(|x| sym_in(x, out)),
        Expr::Struct(f) => f.iter().for_each(|(_, x)| sym_in(x, out)),
        _ => {}
    }
}

fn syscall(sc: &Syscall) -> Result<(), String> {
    let name = sc.name.as_str();
    if !CALLS.contains(&name) {
        return Err(format!("needs {}", need(name)));
    }
    let mut syms = Vec::new();
    for (i, a) in sc.args.iter().enumerate() {
        match a {
            // recvmsg's msg_flags are output flags (MSG_TRUNC says the data was cut).
            Expr::Struct(fields) if i == 1 && name == "recvmsg" => fields
                .iter()
                .filter(|(n, _)| n.as_deref() != Some("msg_flags"))
                .for_each(|(_, x)| sym_in(x, &mut syms)),
            _ => sym_in(a, &mut syms),
        }
    }
    for s in &syms {
        match s.as_str() {
            "TCP_MD5SIG" => return Err("needs MD5 signatures".into()),
            "MSG_ERRQUEUE" if name != "recvmsg" => {
                return Err(format!("needs {name}() with MSG_ERRQUEUE"))
            }
            "MSG_PEEK" | "MSG_TRUNC" | "MSG_WAITALL" => {
                return Err(format!(
                    "needs the {s} flag, which the engine's send/recv lack"
                ))
            }
            "SOCK_DGRAM" | "IPPROTO_UDP" => return Err("needs UDP sockets".into()),
            _ => {}
        }
    }
    match name {
        "setsockopt" | "getsockopt" => {
            let opt = match sc.args.get(2) {
                Some(Expr::Sym(s)) => s.clone(),
                Some(other) => format!("{other:?}"),
                None => return Err(format!("{name}() without an option name")),
            };
            let list = if name == "setsockopt" {
                SET_OPTS
            } else {
                GET_OPTS
            };
            if !list.contains(&opt.as_str()) {
                return Err(format!("needs {name}({opt}), which the engine's API lacks"));
            }
        }
        "ioctl" => match sc.args.get(1) {
            Some(Expr::Sym(s))
                if matches!(
                    s.as_str(),
                    "SIOCINQ" | "FIONREAD" | "SIOCOUTQ" | "SIOCOUTQNSD" | "SIOCATMARK"
                ) => {}
            other => return Err(format!("needs ioctl({other:?})")),
        },
        "sendmsg" | "recvmsg" => {
            if let Some(m) = sc.args.get(1) {
                let errqueue = sc.args.get(2).is_some_and(|f| {
                    let mut syms = Vec::new();
                    sym_in(f, &mut syms);
                    syms.iter().any(|s| s == "MSG_ERRQUEUE")
                });
                if let Some(c) = m.field("msg_control") {
                    let supported = match c {
                        Expr::Array(v) if name == "recvmsg" && errqueue => {
                            v.iter().all(is_errqueue_cmsg)
                        }
                        Expr::Array(v) => name == "recvmsg" && v.iter().all(is_inq_cmsg),
                        Expr::Ellipsis => true,
                        _ => false,
                    };
                    if !supported {
                        return Err("needs cmsg (msg_control)".into());
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A message of the error queue the runner keeps: a zerocopy or timestamping
/// `{cmsg_data={ee_origin=..., ...}}`, or an `SCM_TIMESTAMPING` time.
fn is_errqueue_cmsg(c: &Expr) -> bool {
    matches!(c.field("cmsg_data").and_then(|d| d.field("ee_origin")),
        Some(Expr::Sym(o)) if o == "SO_EE_ORIGIN_ZEROCOPY" || o == "SO_EE_ORIGIN_TIMESTAMPING")
        || matches!(c.field("cmsg_type"), Some(Expr::Sym(t)) if t == "SCM_TIMESTAMPING")
}

/// A `{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=N}` control message.
fn is_inq_cmsg(c: &Expr) -> bool {
    matches!(c.field("cmsg_level"), Some(Expr::Sym(l)) if l == "SOL_TCP" || l == "IPPROTO_TCP")
        && matches!(c.field("cmsg_type"), Some(Expr::Sym(t)) if t == "TCP_CM_INQ")
        && c.field("cmsg_data").is_some()
}

fn packet(p: &Packet) -> Result<(), String> {
    if let Some(info) = &p.ip_info {
        let spec = crate::ecn::parse(info)?;
        if spec == Some(crate::ecn::TosSpec::EitherEct) && p.direction == Direction::Inbound {
            return Err("[ect01] can only be used with outbound packets".into());
        }
    }
    let spec = match &p.body {
        PacketBody::Tcp(t) => t,
        PacketBody::Icmp(i) => {
            return match i.echoed {
                IcmpEchoed::Tcp { .. } => Ok(()),
                IcmpEchoed::Udp(_) | IcmpEchoed::Raw(_) => {
                    Err("needs ICMP messages quoting UDP or raw packets".into())
                }
            }
        }
        PacketBody::Other(text) => {
            let first = text.split_whitespace().next().unwrap_or("");
            return Err(format!("needs {first} packets"));
        }
    };
    if spec.ae {
        return Err(format!(
            "needs AccECN (flags `{}`: the AE bit)",
            spec.flags_text
        ));
    }
    if let OptionsSpec::List(l) = &spec.options {
        for o in l {
            if matches!(o, OptSpec::Md5(_)) && p.direction == Direction::Outbound {
                // Inbound signatures are sent as written (synack drops them, holding no
                // keys, as Linux does); signing what synack sends needs TCP_MD5SIG keys.
                return Err("needs MD5 signatures (TCP_MD5SIG keys to sign with)".into());
            }
            if let OptSpec::Other(text) = o {
                let kind = text.split_whitespace().next().unwrap_or("");
                return Err(match kind {
                    "FO" | "FOEXP" => format!("needs Fast Open (option `{kind}`)"),
                    "ECN" | "AccECN" => "needs ECN (AccECN option)".into(),
                    _ => format!("needs TCP option `{text}`"),
                });
            }
        }
    }
    Ok(())
}

/// How much a reason says about the script: the machinery outside TCP that the whole
/// script is about (Fast Open, zerocopy, ...) ranks before incidental needs.
fn rank(reason: &str) -> usize {
    const CATEGORIES: [&str; 8] = [
        "Fast Open",
        "fastopen",
        "zerocopy",
        "cmsg",
        "MD5",
        "ECN",
        "splice",
        "timestamping",
    ];
    CATEGORIES
        .iter()
        .position(|c| reason.contains(c))
        .unwrap_or(CATEGORIES.len())
}

/// Why the script cannot run here, if it cannot: the most telling of its needs.
pub(crate) fn check(script: &Script, dir: Option<&Path>) -> Result<(), String> {
    let reasons = needs(script, dir);
    match reasons.iter().min_by_key(|r| rank(r)) {
        Some(r) => Err(r.clone()),
        None => Ok(()),
    }
}

/// Every need of the script that the interpreter or the engine cannot meet, in order.
fn needs(script: &Script, dir: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = check_all(script, dir, &mut out) {
        out.push(e);
    }
    out
}

fn check_all(script: &Script, dir: Option<&Path>, out: &mut Vec<String>) -> Result<(), String> {
    for (name, value, _) in &script.options {
        match name.as_str() {
            "tolerance_usecs" | "tolerance_percent" | "ip_version" | "strict_segments"
            | "tcp_ts_tick_usecs" | "bind_port" | "connect_port" | "local_ip" | "remote_ip"
            | "gateway_ip" | "netmask_ip" | "mtu" | "mss" | "define" | "tcp_ts_ecr_scaled"
            | "verbose" | "v" => {}
            // Zerocopy's buffer reuse, which the engine's copying API never does.
            "send_omit_free" => {}
            _ => out.push(format!(
                "needs option --{name}{}",
                value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
            )),
        }
    }
    let config = Config::default();
    let mut defined = Vec::new();
    for (text, line) in [&script.init, &script.cleanup].into_iter().flatten() {
        if let Err(e) = shell::interpret(text, &config, dir) {
            out.push(format!("line {line}: {e}"));
        }
    }
    for ev in &script.events {
        let r = match &ev.action {
            Action::Packet(p) => packet(p),
            Action::Syscall(sc) => syscall(sc),
            Action::Shell(s) => shell::interpret(s, &config, dir).map(|_| ()),
            Action::Code(c) => python::parse(c, &mut defined).map(|_| ()),
        };
        if let Err(e) = r {
            out.push(format!("line {}: {e}", ev.line));
        }
    }
    Ok(())
}
