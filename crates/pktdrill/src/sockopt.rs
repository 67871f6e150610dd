//! `setsockopt()` / `getsockopt()`: Linux's option names, argument checks and reported
//! values over the engine's [`SockOpt`] / [`SockOptName`].
//!
//! Where Linux accounts differently from the engine, the Linux value is computed here
//! (SO_ERROR clears the pending error once reported); the engine sizes SO_SNDBUF /
//! SO_RCVBUF as Linux does (capped by `net.core.wmem_max` / `rmem_max`, doubled, floored
//! at SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF). A value the engine cannot hold exactly makes
//! the script unsupported.

use std::time::Duration;

use synack::{SockOpt, SockOptName};

use crate::ast::{Expr, Syscall};
use crate::runner::{Fd, Res, Runner, Stop};
use crate::syscalls::int_of;

/// The accepted TCP_MAXSEG range is `TCP_MIN_MSS` to `MAX_TCP_WINDOW` (0 clears the
/// user MSS).
const TCP_MIN_MSS: i64 = 88;
/// See [`TCP_MIN_MSS`].
const MAX_TCP_WINDOW: i64 = 32767;
/// `MAX_TCP_SYNCNT` and `MAX_TCP_KEEPCNT`.
const MAX_TCP_COUNT: i64 = 127;
/// `MAX_TCP_KEEPIDLE` and `MAX_TCP_KEEPINTVL`, seconds.
const MAX_TCP_KEEP_SECS: i64 = 32767;
/// `TCP_FIN_TIMEOUT_MAX`, seconds: TCP_LINGER2 values above it are capped.
const TCP_FIN_TIMEOUT_MAX: i64 = 120;

/// `setsockopt` options the runner maps onto the engine.
pub(crate) const SET_OPTS: &[&str] = &[
    "SO_REUSEADDR",
    "SO_OOBINLINE",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_SNDBUF",
    "SO_RCVBUF",
    "TCP_NODELAY",
    "TCP_QUICKACK",
    "TCP_DEFER_ACCEPT",
    "TCP_NOTSENT_LOWAT",
    "TCP_MAXSEG",
    "TCP_CORK",
    "TCP_USER_TIMEOUT",
    "TCP_SYNCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "TCP_LINGER2",
    "IPV6_V6ONLY",
    "IP_TOS",
    "IP_MTU_DISCOVER",
    "TCP_INQ",
    "SO_ZEROCOPY",
    "SO_MARK",
    "IP_FREEBIND",
    "SO_TIMESTAMPING",
    "TCP_FASTOPEN",
    "TCP_FASTOPEN_KEY",
    "TCP_FASTOPEN_NO_COOKIE",
    "TCP_FASTOPEN_CONNECT",
];

/// `getsockopt` options the runner can answer.
pub(crate) const GET_OPTS: &[&str] = &[
    "SO_ERROR",
    "SO_OOBINLINE",
    "SO_REUSEADDR",
    "SO_KEEPALIVE",
    "SO_SNDBUF",
    "SO_RCVBUF",
    "TCP_NODELAY",
    "TCP_QUICKACK",
    "TCP_DEFER_ACCEPT",
    "TCP_NOTSENT_LOWAT",
    "TCP_MAXSEG",
    "TCP_CORK",
    "TCP_USER_TIMEOUT",
    "TCP_SYNCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "TCP_LINGER2",
    "IPV6_V6ONLY",
    "TCP_INQ",
    "SO_ZEROCOPY",
    "TCP_FASTOPEN",
    "TCP_FASTOPEN_NO_COOKIE",
    "TCP_FASTOPEN_CONNECT",
];

/// The option name of a `(get|set)sockopt` line.
fn opt_name(sc: &Syscall) -> String {
    match sc.args.get(2) {
        Some(Expr::Sym(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn errno(e: &str) -> (i64, Option<String>) {
    (-1, Some(e.into()))
}

impl Runner<'_> {
    /// setsockopt(): `(return value, errno)`.
    pub(crate) fn setsockopt(
        &mut self,
        sc: &Syscall,
        fd: i64,
        f: Fd,
    ) -> Res<(i64, Option<String>)> {
        let opt = opt_name(sc);
        let unsupported =
            |line: usize, why: String| Stop::Unsupported(format!("line {line}: {opt}: {why}"));
        match opt.as_str() {
            // The engine does no path-MTU discovery and keeps no route to refresh: the
            // mode changes only the DF bit, which packetdrill never compares.
            "IP_MTU_DISCOVER" => {
                let v = self.int_arg(sc, 3)?;
                return Ok(if (0..=5).contains(&v) {
                    (0, None)
                } else {
                    errno("EINVAL")
                });
            }
            // A flag of the socket that only shapes what recvmsg() returns (a control
            // message with the bytes left to read), which the runner computes.
            "TCP_INQ" => {
                let v = self.int_arg(sc, 3)?;
                if let Some(x) = self.fds.get_mut(&fd) {
                    x.inq = v != 0;
                }
                return Ok((0, None));
            }
            // A socket flag: MSG_ZEROCOPY sends are notified on the error queue (see
            // `zerocopy`).
            "SO_ZEROCOPY" => {
                let v = self.int_arg(sc, 3)?;
                if let Some(x) = self.fds.get_mut(&fd) {
                    x.zerocopy = v != 0;
                }
                return Ok((0, None));
            }
            "SO_TIMESTAMPING" => {
                let v = self.int_arg(sc, 3)?;
                return Ok(self.set_timestamping(fd, v));
            }
            // The packet mark selects routes and firewall rules; synack has neither, so
            // it changes nothing on the wire.
            "SO_MARK" => {
                let _ = self.int_arg(sc, 3)?;
                return Ok((0, None));
            }
            // IP_FREEBIND lets bind() take an address the host does not have; the runner
            // binds the stack's own address, so it changes nothing.
            "IP_FREEBIND" => {
                let _ = self.int_arg(sc, 3)?;
                return Ok((0, None));
            }
            // Linux keeps a TCP socket's ECN bits; the DSCP part is not modelled, so a
            // packet sent while it is non-zero makes the script unsupported (see `flush`).
            "IP_TOS" => {
                let v = self.int_arg(sc, 3)?;
                if let Some(x) = self.fds.get_mut(&fd) {
                    x.tos = (v as u8) & !0x03;
                }
                return Ok((0, None));
            }
            _ => {}
        }
        let o = if opt == "TCP_FASTOPEN_KEY" {
            // The key bytes, 16 (primary) or 32 (primary and backup); Linux: EINVAL for
            // any other length.
            let len = self.int_arg(sc, 4)?;
            let bytes: Vec<u8> = match self.arg(sc, 3)? {
                Expr::Str(s, _) => s.chars().map(|c| c as u32 as u8).collect(),
                other => {
                    return Err(unsupported(
                        self.line,
                        format!("the key must be a string, found {other:?}"),
                    ))
                }
            };
            let keys = usize::try_from(len)
                .ok()
                .and_then(|n| bytes.get(..n))
                .and_then(synack::fastopen::FastOpenKeys::from_bytes);
            match keys {
                Some(k) => SockOpt::FastOpenKey(k),
                None => return Ok(errno("EINVAL")),
            }
        } else if opt == "SO_LINGER" {
            let val = self.arg(sc, 3)?;
            let on = val.field("onoff").and_then(int_of).unwrap_or(0);
            let secs = val.field("linger").and_then(int_of).unwrap_or(0);
            SockOpt::Linger((on != 0).then(|| Duration::from_secs(secs.max(0) as u64)))
        } else {
            // Linux reads an int.
            let v = i64::from(self.int_arg(sc, 3)? as i32);
            let in_range = |lo: i64, hi: i64| (lo..=hi).contains(&v);
            match opt.as_str() {
                "SO_REUSEADDR" => SockOpt::ReuseAddr(v != 0),
                "SO_OOBINLINE" => SockOpt::OobInline(v != 0),
                "SO_KEEPALIVE" => SockOpt::KeepAlive(v != 0),
                "TCP_NODELAY" => SockOpt::NoDelay(v != 0),
                "TCP_QUICKACK" => SockOpt::QuickAck(v != 0),
                // Linux's secs_to_retrans takes a negative value as 0.
                "TCP_DEFER_ACCEPT" => SockOpt::DeferAccept(v.max(0) as u32),
                "TCP_NOTSENT_LOWAT" => SockOpt::NotSentLowat(v as i32 as u32),
                "TCP_CORK" => SockOpt::Cork(v != 0),
                "IPV6_V6ONLY" => SockOpt::V6Only(v != 0),
                "TCP_FASTOPEN" => {
                    if v < 0 {
                        return Ok(errno("EINVAL"));
                    }
                    SockOpt::FastOpen(v as u32)
                }
                "TCP_FASTOPEN_NO_COOKIE" | "TCP_FASTOPEN_CONNECT" => {
                    if !in_range(0, 1) {
                        return Ok(errno("EINVAL"));
                    }
                    if opt == "TCP_FASTOPEN_CONNECT" {
                        SockOpt::FastOpenConnect(v == 1)
                    } else {
                        SockOpt::FastOpenNoCookie(v == 1)
                    }
                }
                "SO_SNDBUF" | "SO_RCVBUF" => {
                    // Linux reads the int as unsigned before capping it at [wr]mem_max;
                    // the engine caps, doubles and floors as Linux does.
                    let v = v as i32 as u32 as usize;
                    if opt == "SO_SNDBUF" {
                        SockOpt::SendBuffer(v)
                    } else {
                        SockOpt::RecvBuffer(v)
                    }
                }
                "TCP_MAXSEG" => {
                    if v != 0 && !in_range(TCP_MIN_MSS, MAX_TCP_WINDOW) {
                        return Ok(errno("EINVAL"));
                    }
                    SockOpt::MaxSegment(v as u16)
                }
                "TCP_USER_TIMEOUT" => {
                    if v < 0 {
                        return Ok(errno("EINVAL"));
                    }
                    SockOpt::UserTimeout(Duration::from_millis(v as u64))
                }
                "TCP_SYNCNT" | "TCP_KEEPCNT" => {
                    if !in_range(1, MAX_TCP_COUNT) {
                        return Ok(errno("EINVAL"));
                    }
                    if opt == "TCP_SYNCNT" {
                        SockOpt::SynCount(v as u32)
                    } else {
                        SockOpt::KeepCount(v as u32)
                    }
                }
                "TCP_KEEPIDLE" | "TCP_KEEPINTVL" => {
                    if !in_range(1, MAX_TCP_KEEP_SECS) {
                        return Ok(errno("EINVAL"));
                    }
                    let d = Duration::from_secs(v as u64);
                    if opt == "TCP_KEEPIDLE" {
                        SockOpt::KeepIdle(d)
                    } else {
                        SockOpt::KeepInterval(d)
                    }
                }
                "TCP_LINGER2" => {
                    if v < 0 {
                        return Err(unsupported(
                            self.line,
                            format!(
                                "a negative value ({v}) makes Linux reset instead of waiting \
                                 in FIN-WAIT-2, which the engine's Linger2 cannot express"
                            ),
                        ));
                    }
                    // 0 restores tcp_fin_timeout; larger values are capped.
                    SockOpt::Linger2(if v == 0 {
                        self.stack.config().tcp_fin_timeout
                    } else {
                        Duration::from_secs(v.min(TCP_FIN_TIMEOUT_MAX) as u64)
                    })
                }
                _ => {
                    return Err(Stop::Unsupported(format!(
                        "line {}: setsockopt({opt})",
                        self.line
                    )))
                }
            }
        };
        let res = self.stack.set_option(f.h, o);
        self.flush()?;
        Ok(match res {
            Ok(()) => (0, None),
            Err(e) => errno(e.name()),
        })
    }

    /// getsockopt(): `(return value, errno)`; the value is checked against argument 4.
    pub(crate) fn getsockopt(
        &mut self,
        sc: &Syscall,
        fd: i64,
        f: Fd,
    ) -> Res<(i64, Option<String>)> {
        let opt = opt_name(sc);
        let name = match opt.as_str() {
            "SO_ERROR" => {
                let v = self.so_error(fd, f);
                self.check_out_value(sc, 3, v)?;
                return Ok((0, None));
            }
            "TCP_INQ" => {
                self.check_out_value(sc, 3, i64::from(f.inq))?;
                return Ok((0, None));
            }
            "SO_ZEROCOPY" => {
                self.check_out_value(sc, 3, i64::from(f.zerocopy))?;
                return Ok((0, None));
            }
            "SO_REUSEADDR" => SockOptName::ReuseAddr,
            "SO_OOBINLINE" => SockOptName::OobInline,
            "SO_KEEPALIVE" => SockOptName::KeepAlive,
            "SO_SNDBUF" => SockOptName::SendBuffer,
            "SO_RCVBUF" => SockOptName::RecvBuffer,
            "TCP_NODELAY" => SockOptName::NoDelay,
            "TCP_QUICKACK" => SockOptName::QuickAck,
            "TCP_DEFER_ACCEPT" => SockOptName::DeferAccept,
            "TCP_NOTSENT_LOWAT" => SockOptName::NotSentLowat,
            "TCP_MAXSEG" => SockOptName::MaxSegment,
            "TCP_CORK" => SockOptName::Cork,
            "TCP_USER_TIMEOUT" => SockOptName::UserTimeout,
            "TCP_SYNCNT" => SockOptName::SynCount,
            "TCP_KEEPIDLE" => SockOptName::KeepIdle,
            "TCP_KEEPINTVL" => SockOptName::KeepInterval,
            "TCP_KEEPCNT" => SockOptName::KeepCount,
            "TCP_LINGER2" => SockOptName::Linger2,
            "IPV6_V6ONLY" => SockOptName::V6Only,
            "TCP_FASTOPEN" => SockOptName::FastOpen,
            "TCP_FASTOPEN_NO_COOKIE" => SockOptName::FastOpenNoCookie,
            "TCP_FASTOPEN_CONNECT" => SockOptName::FastOpenConnect,
            _ => {
                return Err(Stop::Unsupported(format!(
                    "line {}: getsockopt({opt})",
                    self.line
                )))
            }
        };
        let v = match self.stack.get_option(f.h, name) {
            Ok(o) => match o {
                SockOpt::NoDelay(b)
                | SockOpt::KeepAlive(b)
                | SockOpt::ReuseAddr(b)
                | SockOpt::Cork(b)
                | SockOpt::QuickAck(b)
                | SockOpt::FastOpenNoCookie(b)
                | SockOpt::FastOpenConnect(b)
                | SockOpt::OobInline(b)
                | SockOpt::V6Only(b) => i64::from(b),
                SockOpt::FastOpen(n) | SockOpt::DeferAccept(n) | SockOpt::NotSentLowat(n) => {
                    i64::from(n)
                }
                SockOpt::SendBuffer(n) | SockOpt::RecvBuffer(n) => n as i64,
                SockOpt::MaxSegment(m) => i64::from(m),
                SockOpt::UserTimeout(d) => d.as_millis() as i64,
                SockOpt::SynCount(n) | SockOpt::KeepCount(n) => i64::from(n),
                SockOpt::KeepIdle(d) | SockOpt::KeepInterval(d) | SockOpt::Linger2(d) => {
                    d.as_secs() as i64
                }
                SockOpt::Linger(_) | SockOpt::FastOpenKey(_) => {
                    return Err(Stop::Unsupported(format!(
                        "line {}: getsockopt({opt}) (a struct value)",
                        self.line
                    )))
                }
            },
            Err(e) => return Ok(errno(e.name())),
        };
        self.check_out_value(sc, 3, v)?;
        Ok((0, None))
    }

    /// SO_ERROR: the connection's error the first time it is asked (Linux clears the
    /// pending error on read; the engine's error is sticky), else 0.
    fn so_error(&mut self, fd: i64, f: Fd) -> i64 {
        if f.so_error_reported {
            return 0;
        }
        let err = match self.stack.socket_error(f.h) {
            Ok(e) => e,
            // The engine no longer knows the socket: the error its Closed event carried.
            Err(_) => self.errors.get(&f.h).copied(),
        };
        match err {
            Some(e) => {
                if let Some(x) = self.fds.get_mut(&fd) {
                    x.so_error_reported = true;
                }
                i64::from(e.errno())
            }
            None => 0,
        }
    }
}
