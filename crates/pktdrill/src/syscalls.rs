//! System call lines over the engine's socket API, with the results and errno values a
//! Linux program sees, and blocking calls that complete in virtual time.

use std::net::{IpAddr, SocketAddr};

use synack::{Error, Shutdown, State};

use crate::ast::{Expr, Syscall};
use crate::report::secs;
use crate::runner::{Fd, Res, Runner, Stop};

/// A call that may have to wait.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Accept {
        fd: i64,
        want_fd: i64,
    },
    Read {
        fd: i64,
        len: usize,
        /// The buffer is NULL: with data to copy, EFAULT.
        null: bool,
        /// The TCP_CM_INQ value a recvmsg's msg_control expects.
        inq: Option<i64>,
    },
    Write {
        fd: i64,
        total: usize,
        left: usize,
        flags: synack::SendFlags,
        /// The buffer is NULL: what would be sent faults (EFAULT).
        null: bool,
        /// MSG_ZEROCOPY was asked for (it counts with SO_ZEROCOPY set).
        zerocopy: bool,
        /// With zerocopy: offsets into the write where an skb ends because its
        /// fragments are full (`zerocopy::frag_full_ends`).
        frag_ends: Vec<usize>,
        /// A Fast Open write whose first bytes went in the SYN: it waits for the
        /// handshake, whose failure is its error (Linux's tcp_sendmsg_fastopen).
        tfo: bool,
    },
    Connect {
        fd: i64,
    },
    /// `poll()` or `epoll_wait()`.
    Poll(Box<crate::poll::PollCall>),
}

/// A blocking call waiting for the engine.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Its script line.
    pub line: usize,
    pub op: Op,
    /// When it must return (`+a...b`), with the tolerance; `None` for a call on a
    /// blocking socket written without `...`.
    pub end: Option<i64>,
    pub tol: i64,
    pub sc: Syscall,
}

enum Attempt {
    Done(i64, Option<String>),
    /// Returned, with an out-value other than the script's (the message says which).
    Mismatch(String),
    Block,
}

const O_NONBLOCK: i64 = 0x800;
/// `TCP_INQ`, also the type of its control message (`TCP_CM_INQ`).
pub(crate) const TCP_INQ: i64 = 36;
/// `SIOCINQ` (`FIONREAD`): bytes ready to read.
const SIOCINQ: i64 = 0x541b;
/// `SIOCOUTQ` (`TIOCOUTQ`): bytes written and not acknowledged.
const SIOCOUTQ: i64 = 0x5411;
/// `SIOCOUTQNSD`: bytes written and not sent.
const SIOCOUTQNSD: i64 = 0x894b;
/// `SIOCATMARK`: whether the next byte to read is the urgent byte.
const SIOCATMARK: i64 = 0x8905;
/// `MSG_OOB`: urgent data (send: mark it; recv: read the urgent byte).
const MSG_OOB: i64 = 0x1;
const MSG_DONTWAIT: i64 = 0x40;
const MSG_EOR: i64 = 0x80;
const MSG_MORE: i64 = 0x8000;
/// `MSG_FASTOPEN`: connect with Fast Open, the data in the SYN (RFC 7413).
const MSG_FASTOPEN: i64 = 0x2000_0000;

/// Linux's values for the symbols scripts use.
fn sym_value(s: &str) -> Option<i64> {
    Some(match s {
        "AF_UNSPEC" | "IPPROTO_IP" | "SOL_IP" | "O_RDONLY" | "SHUT_RD" | "INADDR_ANY"
        | "IP_PMTUDISC_DONT" => 0,
        "IP_PMTUDISC_WANT" => 1,
        "IP_PMTUDISC_DO" => 2,
        "IP_PMTUDISC_PROBE" => 3,
        "IP_PMTUDISC_INTERFACE" => 4,
        "IP_PMTUDISC_OMIT" => 5,
        "AF_INET" | "O_WRONLY" | "SHUT_WR" | "SOCK_STREAM" | "SOL_SOCKET" => match s {
            "AF_INET" => 2,
            _ => 1,
        },
        "O_RDWR" | "SHUT_RDWR" => 2,
        "AF_INET6" => 10,
        "IPPROTO_TCP" | "SOL_TCP" => 6,
        "SOCK_NONBLOCK" | "O_NONBLOCK" => O_NONBLOCK,
        "SOCK_CLOEXEC" => 0x80000,
        "F_GETFL" => 3,
        "F_SETFL" => 4,
        "MSG_DONTWAIT" => MSG_DONTWAIT,
        "MSG_EOR" => MSG_EOR,
        "MSG_MORE" => MSG_MORE,
        "MSG_FASTOPEN" => MSG_FASTOPEN,
        "MSG_NOSIGNAL" => 0x4000,
        "MSG_OOB" => MSG_OOB,
        "SIOCATMARK" => SIOCATMARK,
        "SIOCINQ" | "FIONREAD" => SIOCINQ,
        "SIOCOUTQ" => SIOCOUTQ,
        "SIOCOUTQNSD" => SIOCOUTQNSD,
        "TCP_INQ" | "TCP_CM_INQ" => TCP_INQ,
        _ => {
            return crate::poll::sym_value(s)
                .or_else(|| crate::zerocopy::sym_value(s))
                .or_else(|| crate::tstamp::sym_value(s))
        }
    })
}

/// The integer value of an argument: numbers, symbols, `A|B`, `[n]`, `htons(n)`.
pub(crate) fn int_of(e: &Expr) -> Option<i64> {
    match e {
        Expr::Int(v) => Some(*v),
        Expr::Sym(s) => sym_value(s),
        Expr::Or(v) => v.iter().try_fold(0, |acc, x| Some(acc | int_of(x)?)),
        Expr::Array(v) if v.len() == 1 => int_of(&v[0]),
        Expr::Call(f, a) if (f == "htons" || f == "htonl") && a.len() == 1 => int_of(&a[0]),
        _ => None,
    }
}

fn normalize(errno: &str) -> &str {
    match errno {
        "EWOULDBLOCK" => "EAGAIN",
        "ENOTSUP" => "EOPNOTSUPP",
        e => e,
    }
}

/// Whether a buffer argument is `NULL`.
fn is_null(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Sym(s)) if s == "NULL")
}

/// Total length of an iovec array.
fn iov_len(e: &Expr) -> Option<usize> {
    iov_lens(e).map(|v| v.iter().sum())
}

/// The length of each element of an iovec array.
fn iov_lens(e: &Expr) -> Option<Vec<usize>> {
    let Expr::Array(items) = e else {
        return None;
    };
    let mut lens = Vec::with_capacity(items.len());
    for it in items {
        let len = match it {
            Expr::Struct(f) => f
                .iter()
                .find(|(k, _)| k.as_deref() == Some("iov_len"))
                .or_else(|| f.iter().rev().find(|(k, _)| k.is_none()))
                .and_then(|(_, v)| int_of(v))?,
            _ => return None,
        };
        lens.push(usize::try_from(len).ok()?);
    }
    Some(lens)
}

impl Runner<'_> {
    pub(crate) fn arg<'s>(&self, sc: &'s Syscall, i: usize) -> Res<&'s Expr> {
        sc.args.get(i).ok_or_else(|| {
            self.fail(
                format!("{}() needs at least {} arguments", sc.name, i + 1),
                None,
            )
        })
    }

    pub(crate) fn int_arg(&self, sc: &Syscall, i: usize) -> Res<i64> {
        let e = self.arg(sc, i)?;
        int_of(e).ok_or_else(|| {
            Stop::Unsupported(format!(
                "line {}: argument {} of {}(): cannot evaluate {e:?}",
                self.line,
                i + 1,
                sc.name
            ))
        })
    }

    fn fd(&self, sc: &Syscall) -> Res<(i64, Option<Fd>)> {
        let fd = self.int_arg(sc, 0)?;
        Ok((fd, self.fds.get(&fd).copied()))
    }

    fn sockaddr(&self, e: &Expr, default: SocketAddr) -> Res<SocketAddr> {
        match e {
            Expr::Ellipsis => Ok(default),
            Expr::Struct(_) => {
                let port = e
                    .field("sin_port")
                    .or_else(|| e.field("sin6_port"))
                    .and_then(int_of)
                    .map_or(default.port(), |p| p as u16);
                let ip = match e.field("sin_addr").or_else(|| e.field("sin6_addr")) {
                    Some(Expr::Call(_, a)) => match a.first() {
                        Some(Expr::Str(s, _)) => s
                            .parse::<IpAddr>()
                            .map_err(|_| self.fail(format!("bad address \"{s}\""), None))?,
                        _ => default.ip(),
                    },
                    Some(Expr::Sym(s)) if s == "INADDR_ANY" || s == "in6addr_any" => {
                        if default.is_ipv4() {
                            IpAddr::from([0u8; 4])
                        } else {
                            IpAddr::from([0u16; 8])
                        }
                    }
                    _ => default.ip(),
                };
                Ok(SocketAddr::new(ip, port))
            }
            other => Err(Stop::Unsupported(format!(
                "line {}: socket address {other:?}",
                self.line
            ))),
        }
    }

    /// Runs a syscall line; `blocking` is `(end, tolerance)` for `+a...b` lines.
    pub(crate) fn syscall(&mut self, sc: &Syscall, blocking: Option<(i64, i64)>) -> Res<()> {
        if blocking.is_some() && self.pending.is_some() {
            return Err(self.fail(
                "blocking system call while another blocking system call is already in progress",
                None,
            ));
        }
        let name = sc.name.as_str();
        let op = match name {
            "accept" => {
                let (fd, _) = self.fd(sc)?;
                Some(Op::Accept {
                    fd,
                    want_fd: sc.result.as_int().unwrap_or(-1),
                })
            }
            "recvmsg"
                if sc.args.get(2).and_then(int_of).unwrap_or(0) & crate::zerocopy::MSG_ERRQUEUE
                    != 0 =>
            {
                let (fd, _) = self.fd(sc)?;
                let (ret, errno) = self.recv_errqueue(sc, fd)?;
                return self.check_result(sc, ret, errno.as_deref());
            }
            "recv" | "recvfrom" if sc.args.get(3).and_then(int_of).unwrap_or(0) & MSG_OOB != 0 => {
                // recv(MSG_OOB) never blocks (Linux's tcp_recv_urg).
                let (fd, _) = self.fd(sc)?;
                let f = self
                    .fds
                    .get(&fd)
                    .copied()
                    .ok_or_else(|| self.fail("bad fd", None))?;
                let (ret, errno) = match self.stack.recv_oob(f.h, false) {
                    Ok(Some(_)) => (1, None),
                    Ok(None) => (0, None),
                    Err(e) => (-1, Some(e.name().to_string())),
                };
                return self.check_result(sc, ret, errno.as_deref());
            }
            "read" | "recv" | "recvfrom" | "readv" | "recvmsg" => {
                let (fd, _) = self.fd(sc)?;
                let len = match name {
                    "readv" => iov_len(self.arg(sc, 1)?),
                    "recvmsg" => self.arg(sc, 1)?.field("msg_iov").and_then(iov_len),
                    _ => usize::try_from(self.int_arg(sc, 2)?).ok(),
                };
                let len =
                    len.ok_or_else(|| self.fail("cannot work out the buffer length", None))?;
                let inq = match name {
                    "recvmsg" => self.inq_expected(self.arg(sc, 1)?)?,
                    _ => None,
                };
                Some(Op::Read {
                    fd,
                    len: len.min(1 << 24),
                    null: is_null(sc.args.get(1)),
                    inq,
                })
            }
            "write" | "send" | "sendto" | "writev" | "sendmsg" => {
                let (fd, _) = self.fd(sc)?;
                if let Some(Expr::Str(..)) = sc.args.get(1) {
                    return Err(Stop::Unsupported(format!(
                        "line {}: writing non-zero bytes (a string buffer)",
                        self.line
                    )));
                }
                let len = match name {
                    "writev" => iov_len(self.arg(sc, 1)?),
                    "sendmsg" => self.arg(sc, 1)?.field("msg_iov").and_then(iov_len),
                    _ => usize::try_from(self.int_arg(sc, 2)?).ok(),
                };
                let len =
                    len.ok_or_else(|| self.fail("cannot work out the buffer length", None))?;
                let len = len.min(1 << 26);
                let msg_flags = match name {
                    "send" | "sendto" => sc.args.get(3).and_then(int_of).unwrap_or(0),
                    "sendmsg" => sc.args.get(2).and_then(int_of).unwrap_or(0),
                    _ => 0,
                };
                if let Some(f) = self.fds.get(&fd).copied() {
                    let fastopen = msg_flags & MSG_FASTOPEN != 0;
                    let state = self.stack.state(f.h);
                    let connecting = matches!(state, Ok(State::Closed | State::SynSent));
                    if self.stack.fastopen_deferred(f.h) || (fastopen && connecting) {
                        let null = is_null(sc.args.get(1));
                        return self.fastopen_write(sc, fd, len, msg_flags, null, blocking);
                    }
                }
                let zerocopy = msg_flags & crate::zerocopy::MSG_ZEROCOPY != 0;
                let frag_ends = match self.arg(sc, 1)?.field("msg_iov").and_then(iov_lens) {
                    Some(lens) if zerocopy && name == "sendmsg" => {
                        crate::zerocopy::frag_full_ends(&lens)
                    }
                    _ => Vec::new(),
                };
                Some(Op::Write {
                    fd,
                    zerocopy,
                    frag_ends,
                    null: is_null(sc.args.get(1)),
                    total: len,
                    left: len,
                    flags: synack::SendFlags {
                        more: msg_flags & MSG_MORE != 0,
                        eor: msg_flags & MSG_EOR != 0,
                        oob: msg_flags & MSG_OOB != 0,
                    },
                    tfo: false,
                })
            }
            "connect" => return self.connect(sc, blocking),
            "poll" | "epoll_wait" => Some(Op::Poll(Box::new(self.poll_call(sc)?))),
            "sendfile" => match self.sendfile_op(sc)? {
                Ok(op) => Some(op),
                Err(errno) => return self.check_result(sc, -1, Some(errno)),
            },
            _ => None,
        };
        let Some(op) = op else {
            let (ret, errno) = self.simple(sc)?;
            return self.check_result(sc, ret, errno.as_deref());
        };
        let flags_arg = match name {
            "recv" | "recvfrom" | "send" | "sendto" => sc.args.get(3).and_then(int_of),
            "recvmsg" | "sendmsg" => sc.args.get(2).and_then(int_of),
            _ => None,
        };
        let dontwait = flags_arg.is_some_and(|f| f & MSG_DONTWAIT != 0);
        let fd = match op {
            Op::Accept { fd, .. } | Op::Read { fd, .. } | Op::Write { fd, .. } => fd,
            Op::Connect { fd } => fd,
            Op::Poll(_) => -1,
        };
        let nonblocking = dontwait || self.fds.get(&fd).is_some_and(|f| f.nonblocking);
        self.run_op(sc, op, nonblocking, blocking)
    }

    /// Runs `op`: checks its result now, or leaves it pending until the engine
    /// completes it (a blocking call; without `...` the script waits for it here).
    fn run_op(
        &mut self,
        sc: &Syscall,
        mut op: Op,
        nonblocking: bool,
        blocking: Option<(i64, i64)>,
    ) -> Res<()> {
        match self.attempt(&mut op, nonblocking) {
            Attempt::Done(ret, errno) => {
                if let Some((end, tol)) = blocking {
                    self.check_return_time(end, tol)?;
                }
                self.check_result(sc, ret, errno.as_deref())
            }
            Attempt::Mismatch(m) => {
                if let Some((end, tol)) = blocking {
                    self.check_return_time(end, tol)?;
                }
                Err(self.fail(m, None))
            }
            Attempt::Block => {
                self.pending = Some(Pending {
                    line: self.line,
                    op,
                    end: blocking.map(|b| b.0),
                    tol: blocking.map_or(0, |b| b.1),
                    sc: sc.clone(),
                });
                if blocking.is_none() {
                    // The script's main thread waits: only the stack's timers run.
                    self.wait_pending(self.now.saturating_add(600_000_000))?;
                }
                Ok(())
            }
        }
    }

    fn check_return_time(&self, end: i64, tol: i64) -> Res<()> {
        if (self.now - end).abs() > tol {
            return Err(self.fail(
                format!(
                    "timing error: expected the blocking call to return at {} s but it \
                     returned at {} s (tolerance {} s)",
                    secs(end),
                    secs(self.now),
                    secs(tol)
                ),
                None,
            ));
        }
        Ok(())
    }

    /// Lets the pending call finish by running timers up to `limit`.
    pub(crate) fn wait_pending(&mut self, limit: i64) -> Res<()> {
        loop {
            self.flush()?;
            let Some(p) = &self.pending else {
                return Ok(());
            };
            let (line, name) = (p.line, p.sc.name.clone());
            if !self.step(limit)? {
                self.line = line;
                return Err(self.fail(
                    format!(
                        "call would block: `{}` did not return (waited until {} s)",
                        name,
                        secs(self.now)
                    ),
                    None,
                ));
            }
        }
    }

    /// Retries the pending call; true if anything changed.
    pub(crate) fn service_pending(&mut self) -> Res<bool> {
        let Some(mut p) = self.pending.take() else {
            return Ok(false);
        };
        let before = match p.op {
            Op::Write { left, .. } => left,
            _ => 0,
        };
        if let Op::Write { fd, tfo: false, .. } = p.op {
            // A writer asleep in sk_stream_wait_memory runs again only when the socket
            // turns writable (sk_stream_write_space: a third of the buffer free).
            let h = self.fds.get(&fd).map(|f| f.h);
            if h.and_then(|h| self.stack.readiness(h).ok())
                .is_some_and(|r| !r.writable && r.error.is_none() && !r.hup)
            {
                self.pending = Some(p);
                return Ok(false);
            }
        }
        match self.attempt(&mut p.op, false) {
            Attempt::Done(ret, errno) => {
                let line = std::mem::replace(&mut self.line, p.line);
                if let Some(end) = p.end {
                    self.check_return_time(end, p.tol)?;
                }
                self.check_result(&p.sc, ret, errno.as_deref())?;
                self.line = line;
                Ok(true)
            }
            Attempt::Mismatch(m) => {
                self.line = p.line;
                if let Some(end) = p.end {
                    self.check_return_time(end, p.tol)?;
                }
                Err(self.fail(m, None))
            }
            Attempt::Block => {
                let progressed = matches!(p.op, Op::Write { left, .. } if left != before);
                self.pending = Some(p);
                Ok(progressed)
            }
        }
    }

    fn attempt(&mut self, op: &mut Op, nonblocking: bool) -> Attempt {
        let bad = || Attempt::Done(-1, Some("EBADF".into()));
        match op {
            Op::Poll(call) => match self.poll_attempt(call) {
                crate::poll::Polled::Done(Ok(n), errno) => Attempt::Done(n, errno.map(Into::into)),
                crate::poll::Polled::Done(Err(m), _) => Attempt::Mismatch(m),
                crate::poll::Polled::Block => Attempt::Block,
            },
            Op::Accept { fd, want_fd } => {
                let Some(f) = self.fds.get(fd).copied() else {
                    return bad();
                };
                match self.stack.accept(f.h) {
                    Ok((child, _)) => {
                        let n = if *want_fd >= 0 {
                            *want_fd
                        } else {
                            self.free_fd()
                        };
                        self.fds.insert(
                            n,
                            Fd {
                                h: child,
                                nonblocking: false,
                                connecting: false,
                                so_error_reported: false,
                                tos: 0,
                                // The child is a copy of the listener's tcp_sock.
                                inq: f.inq,
                                zerocopy: f.zerocopy,
                            },
                        );
                        Attempt::Done(n, None)
                    }
                    Err(Error::WouldBlock) if !nonblocking => Attempt::Block,
                    Err(e) => Attempt::Done(-1, Some(e.name().into())),
                }
            }
            Op::Read { fd, len, null, inq } => {
                let Some(f) = self.fds.get(fd).copied() else {
                    return bad();
                };
                // No more than is queued: one read() returns at most that much.
                let queued = self.stack.recv_queue(f.h).unwrap_or(0);
                if *null && queued > 0 && *len > 0 {
                    // tcp_recvmsg fails to copy to a bad address: the data stays.
                    return Attempt::Done(-1, Some("EFAULT".into()));
                }
                let mut buf = vec![0u8; (*len).min(queued.max(1))];
                match self.stack.recv(f.h, &mut buf) {
                    Ok(n) => match self.check_inq(f, *inq) {
                        Some(m) => Attempt::Mismatch(m),
                        None => Attempt::Done(n as i64, None),
                    },
                    Err(Error::WouldBlock) if !nonblocking && *len > 0 => Attempt::Block,
                    Err(e) => Attempt::Done(-1, Some(e.name().into())),
                }
            }
            Op::Write {
                fd,
                total,
                left,
                flags,
                null,
                zerocopy,
                frag_ends,
                tfo,
            } => {
                let Some(f) = self.fds.get(fd).copied() else {
                    return bad();
                };
                if *tfo {
                    match self.stack.state(f.h) {
                        Ok(State::SynSent) if nonblocking => {
                            return Attempt::Done((*total - *left) as i64, None)
                        }
                        Ok(State::SynSent) => {
                            // Linux counts the writer as pending only while data is
                            // left over for after the handshake (inet_wait_for_connect's
                            // writebias).
                            self.stack.set_write_pending(f.h, *left > 0);
                            return Attempt::Block;
                        }
                        Ok(State::Closed) | Err(_) => {
                            let e = self
                                .stack
                                .socket_error(f.h)
                                .ok()
                                .flatten()
                                .or_else(|| self.errors.remove(&f.h));
                            return Attempt::Done(
                                -1,
                                Some(e.map_or("ECONNREFUSED", |e| e.name()).into()),
                            );
                        }
                        _ => {
                            self.stack.set_write_pending(f.h, false);
                            *tfo = false;
                        }
                    }
                }
                if *null && *total > 0 {
                    // tcp_sendmsg reports the state's error first (EPIPE, ...), else the
                    // copy from the bad address faults before anything is queued.
                    let connected = matches!(
                        self.stack.state(f.h),
                        Ok(State::Established | State::CloseWait)
                    );
                    let room = self.stack.send_capacity(f.h).unwrap_or(0);
                    if connected && room > 0 {
                        return Attempt::Done(-1, Some("EFAULT".into()));
                    }
                    if !connected {
                        return match self.stack.send_with(f.h, &[], *flags) {
                            Err(Error::WouldBlock) if !nonblocking => Attempt::Block,
                            Err(e) => Attempt::Done(-1, Some(e.name().into())),
                            Ok(_) => Attempt::Done(-1, Some("EFAULT".into())),
                        };
                    }
                }
                // No more than the buffer takes now, so a huge write does not allocate;
                // a blocking write goes on until the buffer refuses more, so that the
                // engine knows the writer waits for room (Linux's SOCK_NOSPACE, which
                // tcp_sendmsg sets when it has to wait for memory).
                loop {
                    let room = self.stack.send_capacity(f.h).unwrap_or(*left);
                    let sent = *total - *left;
                    // A zerocopy skb whose fragments are full takes no more bytes
                    // (tcp_sendmsg_locked: skb_zerocopy_iter_stream's EMSGSIZE marks it
                    // for PSH and starts a new one): the piece ends there, as a record.
                    let frag_end = match (
                        *zerocopy && f.zerocopy,
                        frag_ends.iter().find(|&&e| e > sent),
                    ) {
                        (true, Some(&e)) => Some(e - sent),
                        _ => None,
                    };
                    let mut piece = (*left).min(room.max(1));
                    if let Some(e) = frag_end {
                        piece = piece.min(e);
                    }
                    let zeros = vec![0u8; piece];
                    // MSG_EOR applies to the last piece of the data only.
                    let mut piece_flags = *flags;
                    piece_flags.eor &= zeros.len() >= *left;
                    piece_flags.eor |= frag_end == Some(zeros.len());
                    let unsent_before = self.stack.tcp_info(f.h).map_or(0, |i| i.notsent_bytes);
                    return match self.stack.send_with(f.h, &zeros, piece_flags) {
                        Ok(n) => {
                            let first = *left == *total;
                            self.zc_wrote(f.h, n, *zerocopy && f.zerocopy, first, unsent_before);
                            *left -= n.min(*left);
                            if *left == 0 || nonblocking {
                                self.ts_wrote(f.h);
                                Attempt::Done((*total - *left) as i64, None)
                            } else if n > 0 {
                                continue;
                            } else {
                                Attempt::Block
                            }
                        }
                        Err(Error::WouldBlock) if !nonblocking => Attempt::Block,
                        Err(_) if sent > 0 => {
                            self.ts_wrote(f.h);
                            Attempt::Done(sent as i64, None)
                        }
                        Err(e) => Attempt::Done(-1, Some(e.name().into())),
                    };
                }
            }
            Op::Connect { fd } => {
                let Some(f) = self.fds.get(fd).copied() else {
                    return bad();
                };
                match self.stack.state(f.h) {
                    Ok(State::SynSent) => {
                        if nonblocking {
                            Attempt::Done(-1, Some("EALREADY".into()))
                        } else {
                            Attempt::Block
                        }
                    }
                    Ok(State::Closed) | Err(_) => {
                        let e = self
                            .errors
                            .remove(&f.h)
                            .map_or("ECONNREFUSED", |e| e.name());
                        Attempt::Done(-1, Some(e.into()))
                    }
                    Ok(_) => Attempt::Done(0, None),
                }
            }
        }
    }

    pub(crate) fn free_fd(&self) -> i64 {
        (3..).find(|n| !self.fd_in_use(*n)).unwrap_or(3)
    }

    /// A write that opens a connection with Fast Open: sendto() or sendmsg() with
    /// MSG_FASTOPEN on an unconnected socket, or the first write after a
    /// TCP_FASTOPEN_CONNECT connect() that held the SYN back. The bytes the SYN carries
    /// count; with none (no cookie yet), a non-blocking call fails with EINPROGRESS. A
    /// blocking call waits for the handshake, then writes the rest.
    fn fastopen_write(
        &mut self,
        sc: &Syscall,
        fd: i64,
        len: usize,
        msg_flags: i64,
        null: bool,
        blocking: Option<(i64, i64)>,
    ) -> Res<()> {
        let Some(f) = self.fds.get(&fd).copied() else {
            return self.check_result(sc, -1, Some("EBADF"));
        };
        let fresh = matches!(self.stack.state(f.h), Ok(State::Closed));
        let default = SocketAddr::new(self.set.remote, self.set.connect_port);
        let addr = match (sc.name.as_str(), sc.args.get(4)) {
            // Linux's tcp_sendmsg_fastopen: an AF_UNSPEC address (a disconnect) is not
            // a destination to open a connection to.
            ("sendto", Some(Expr::Sym(s))) if s == "AF_UNSPEC" => {
                return self.check_result(sc, -1, Some("EOPNOTSUPP"))
            }
            ("sendto", Some(a)) => self.sockaddr(a, default)?,
            _ => default,
        };
        // A buffer that cannot be read gives the SYN no data (Linux's tcp_send_syn_data
        // falls back to a SYN without it when the copy fails).
        let zeros = vec![0u8; if null { 0 } else { len.min(1 << 16) }];
        let n = match self.stack.sendto_fastopen(f.h, addr, &zeros) {
            Ok(n) => n,
            Err(e) => return self.check_result(sc, -1, Some(e.name())),
        };
        let zerocopy = msg_flags & crate::zerocopy::MSG_ZEROCOPY != 0 && f.zerocopy;
        self.zc_wrote(f.h, n, zerocopy, true, 0);
        if fresh {
            self.start_connect(addr);
        }
        self.flush()?;
        let nonblocking = f.nonblocking || msg_flags & MSG_DONTWAIT != 0;
        if nonblocking {
            if fresh {
                if let Some(x) = self.fds.get_mut(&fd) {
                    x.connecting = true;
                }
            }
            if n == 0 {
                return self.check_result(sc, -1, Some("EINPROGRESS"));
            }
            return self.check_result(sc, n as i64, None);
        }
        let op = Op::Write {
            fd,
            total: len,
            left: len - n.min(len),
            flags: synack::SendFlags::default(),
            null: false,
            zerocopy: false,
            frag_ends: Vec::new(),
            tfo: true,
        };
        self.run_op(sc, op, false, blocking)
    }

    fn connect(&mut self, sc: &Syscall, blocking: Option<(i64, i64)>) -> Res<()> {
        let (fd, f) = self.fd(sc)?;
        let Some(f) = f else {
            return self.check_result(sc, -1, Some("EBADF"));
        };
        if matches!(self.arg(sc, 1)?, Expr::Sym(s) if s == "AF_UNSPEC") {
            // connect(fd, AF_UNSPEC): disconnect (Linux's tcp_disconnect).
            if let Some(x) = self.fds.get_mut(&fd) {
                x.connecting = false;
            }
            let r = self.stack.disconnect(f.h);
            if r.is_ok() {
                self.disconnected = Some(f.h);
            }
            self.flush()?;
            return match r {
                Ok(()) => self.check_result(sc, 0, None),
                Err(e) => self.check_result(sc, -1, Some(e.name())),
            };
        }
        let default = SocketAddr::new(self.set.remote, self.set.connect_port);
        let addr = self.sockaddr(self.arg(sc, 1)?, default)?;
        if f.connecting {
            // Linux: a repeated connect() after EINPROGRESS reports how it went.
            let mut op = Op::Connect { fd };
            let r = self.attempt(&mut op, true);
            if let Attempt::Done(ret, errno) = r {
                if errno.as_deref() != Some("EALREADY") {
                    if let Some(x) = self.fds.get_mut(&fd) {
                        x.connecting = false;
                    }
                }
                return self.check_result(sc, ret, errno.as_deref());
            }
        }
        match self.stack.connect(f.h, addr) {
            Ok(()) => {
                self.start_connect(addr);
                self.flush()?;
                if self.stack.fastopen_deferred(f.h) {
                    // TCP_FASTOPEN_CONNECT with a cookie: the SYN waits for the first
                    // write, and connect() reports success at once (Linux).
                    return self.check_result(sc, 0, None);
                }
                if f.nonblocking {
                    if let Some(x) = self.fds.get_mut(&fd) {
                        x.connecting = true;
                    }
                    return self.check_result(sc, -1, Some("EINPROGRESS"));
                }
                self.run_op(sc, Op::Connect { fd }, false, blocking)
            }
            Err(e) => self.check_result(sc, -1, Some(e.name())),
        }
    }

    /// Calls that never block: `(return value, errno)`.
    fn simple(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let name = sc.name.as_str();
        if name == "socket" {
            let ty = self.int_arg(sc, 1)?;
            if ty & 0xf != 1 {
                return Err(Stop::Unsupported(format!(
                    "line {}: only SOCK_STREAM sockets",
                    self.line
                )));
            }
            let h = self.stack.socket();
            let want = sc.result.as_int().unwrap_or(-1);
            let n = if want >= 0 && !self.fd_in_use(want) {
                want
            } else {
                self.free_fd()
            };
            self.fds.insert(
                n,
                Fd {
                    h,
                    nonblocking: ty & O_NONBLOCK != 0,
                    connecting: false,
                    so_error_reported: false,
                    tos: 0,
                    inq: false,
                    zerocopy: false,
                },
            );
            self.start_socket();
            return Ok((n, None));
        }
        match name {
            "pipe" => return self.pipe(sc),
            "splice" => return self.splice(sc),
            "epoll_create" | "epoll_create1" => return self.epoll_create(sc),
            "epoll_ctl" => return self.epoll_ctl(sc),
            "open" => return self.open_file(sc),
            _ => {}
        }
        let (fd, f) = self.fd(sc)?;
        if name == "close" {
            if let Some(r) = self.close_epoll(fd) {
                return Ok(r);
            }
            if self.open_files.remove(&fd).is_some() {
                return Ok((0, None));
            }
        }
        let Some(f) = f else {
            return Ok((-1, Some("EBADF".into())));
        };
        let r = |res: Result<(), Error>| match res {
            Ok(()) => (0, None),
            Err(e) => (-1, Some(e.name().to_string())),
        };
        Ok(match name {
            "bind" => {
                let default = SocketAddr::new(self.set.local, self.set.bind_port);
                let addr = self.sockaddr(self.arg(sc, 1)?, default)?;
                r(self.stack.bind(f.h, addr))
            }
            "listen" => {
                let backlog = self.int_arg(sc, 1)?.clamp(0, i64::from(u32::MAX)) as u32;
                let res = self.stack.listen(f.h, backlog);
                if res.is_ok() {
                    if let Ok(a) = self.stack.local_addr(f.h) {
                        self.start_listen(a.port());
                    }
                }
                r(res)
            }
            "close" => {
                self.fds.remove(&fd);
                self.epoll_forget(fd);
                let res = self.stack.close(f.h);
                self.flush()?;
                r(res)
            }
            "shutdown" => {
                let how = match self.int_arg(sc, 1)? {
                    0 => Shutdown::Read,
                    1 => Shutdown::Write,
                    2 => Shutdown::Both,
                    _ => return Ok((-1, Some("EINVAL".into()))),
                };
                let res = self.stack.shutdown(f.h, how);
                self.flush()?;
                r(res)
            }
            "fcntl" => match self.int_arg(sc, 1)? {
                3 => (2 | if f.nonblocking { O_NONBLOCK } else { 0 }, None),
                4 => {
                    let v = self.int_arg(sc, 2)?;
                    if let Some(x) = self.fds.get_mut(&fd) {
                        x.nonblocking = v & O_NONBLOCK != 0;
                    }
                    (0, None)
                }
                other => {
                    return Err(Stop::Unsupported(format!(
                        "line {}: fcntl command {other}",
                        self.line
                    )))
                }
            },
            "ioctl" if self.int_arg(sc, 1)? == SIOCATMARK => {
                let at = self
                    .stack
                    .at_mark(f.h)
                    .map_err(|e| self.fail(e.name(), None))?;
                self.check_out_value(sc, 2, i64::from(at))?;
                (0, None)
            }
            "ioctl" => {
                let req = self.int_arg(sc, 1)?;
                match self.ioctl_queue(f, req) {
                    Ok(n) => {
                        self.check_out_value(sc, 2, n)?;
                        (0, None)
                    }
                    Err(e) => (-1, Some(e.into())),
                }
            }
            "setsockopt" => self.setsockopt(sc, fd, f)?,
            "getsockopt" => self.getsockopt(sc, fd, f)?,
            other => {
                return Err(Stop::Unsupported(format!(
                    "line {}: system call {other}()",
                    self.line
                )))
            }
        })
    }

    /// The queue ioctls as Linux's `tcp_ioctl` answers them: `EINVAL` on a listener, 0
    /// during the handshake; SIOCINQ the unread bytes, SIOCOUTQ the bytes written and
    /// not acknowledged (Linux's `write_seq - snd_una`, a queued FIN counting one),
    /// SIOCOUTQNSD those not sent yet (`write_seq - snd_nxt`).
    fn ioctl_queue(&mut self, f: Fd, req: i64) -> Result<i64, &'static str> {
        let state = self.stack.state(f.h).map_err(|e| e.name())?;
        if state == State::Listen {
            return Err("EINVAL");
        }
        if matches!(state, State::SynSent | State::SynReceived) {
            return Ok(0);
        }
        Ok(match req {
            SIOCINQ => self.stack.recv_queue(f.h).map_err(|e| e.name())? as i64,
            SIOCOUTQ => {
                let queued = self.stack.socket_info(f.h).map_or(0, |i| i.send_q);
                let fin = matches!(state, State::FinWait1 | State::Closing | State::LastAck);
                queued as i64 + i64::from(fin)
            }
            SIOCOUTQNSD => {
                let info = self.stack.tcp_info(f.h).map_err(|e| e.name())?;
                i64::from(info.notsent_bytes)
            }
            _ => return Err("ENOTTY"),
        })
    }

    /// `open(path, flags)` of a file of zeros a shell command made.
    fn open_file(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let Some(Expr::Str(path, _)) = sc.args.first() else {
            return Err(Stop::Unsupported(format!(
                "line {}: open() without a path string",
                self.line
            )));
        };
        if !self.files.contains_key(path) {
            return Ok((-1, Some("ENOENT".into())));
        }
        let want = sc.result.as_int().unwrap_or(-1);
        let n = if want >= 0 && !self.fd_in_use(want) {
            want
        } else {
            self.free_fd()
        };
        self.open_files.insert(n, (path.clone(), 0));
        Ok((n, None))
    }

    /// `pipe([r, w])`: two descriptors that splice() may write into (what goes into the
    /// pipe is not kept; the scripts check counts only).
    fn pipe(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = self.free_fd();
            self.open_files.insert(n, ("<pipe>".to_string(), 0));
            got.push(n);
        }
        if let Some(Expr::Array(want)) = sc.args.first() {
            let want: Vec<Option<i64>> = want.iter().map(int_of).collect();
            if want
                .iter()
                .zip(&got)
                .any(|(w, g)| w.is_some_and(|w| w != *g))
            {
                return Err(self.fail(format!("pipe(): expected {want:?}, got {got:?}"), None));
            }
        }
        Ok((0, None))
    }

    /// `splice(sock, NULL, pipe, NULL, len, flags)`: the connection's bytes into a pipe
    /// (Linux's tcp_splice_read: it stops at the urgent mark).
    fn splice(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let input = self.int_arg(sc, 0)?;
        let output = self.int_arg(sc, 2)?;
        let len = usize::try_from(self.int_arg(sc, 4)?).unwrap_or(0);
        let Some(f) = self.fds.get(&input).copied() else {
            return Ok((-1, Some("EINVAL".into())));
        };
        if self
            .open_files
            .get(&output)
            .is_none_or(|(p, _)| p != "<pipe>")
        {
            return Ok((-1, Some("EINVAL".into())));
        }
        Ok(match self.stack.splice_read(f.h, len) {
            Ok(n) => (n as i64, None),
            Err(Error::WouldBlock) if !f.nonblocking => {
                return Err(Stop::Unsupported(format!(
                    "line {}: a blocking splice() with nothing to read",
                    self.line
                )))
            }
            Err(e) => (-1, Some(e.name().to_string())),
        })
    }

    /// `sendfile(out_fd, in_fd, offset, count)` from a file of zeros: a write of what
    /// the file holds from the offset (`[n]`, or the file's position for NULL, which
    /// advances), at most `count`; or the errno.
    fn sendfile_op(&mut self, sc: &Syscall) -> Res<Result<Op, &'static str>> {
        let out = self.int_arg(sc, 0)?;
        let input = self.int_arg(sc, 1)?;
        let count = usize::try_from(self.int_arg(sc, 3)?).unwrap_or(0);
        if !self.fds.contains_key(&out) {
            return Ok(Err("EBADF"));
        }
        let Some((path, pos)) = self.open_files.get(&input).cloned() else {
            return Ok(Err("EBADF"));
        };
        let size = self.files.get(&path).copied().unwrap_or(0);
        let explicit = match self.arg(sc, 2)? {
            Expr::Sym(s) if s == "NULL" => None,
            e => int_of(e).map(|v| v.max(0) as u64),
        };
        let from = explicit.unwrap_or(pos);
        let n = size.saturating_sub(from).min(count as u64) as usize;
        if explicit.is_none() {
            if let Some(f) = self.open_files.get_mut(&input) {
                f.1 = from + n as u64;
            }
        }
        Ok(Ok(Op::Write {
            fd: out,
            total: n,
            left: n,
            flags: synack::SendFlags::default(),
            null: false,
            zerocopy: false,
            frag_ends: Vec::new(),
            tfo: false,
        }))
    }

    /// The TCP_CM_INQ value a recvmsg's `msg_control` expects, if it names one; any
    /// other control message is unsupported.
    fn inq_expected(&self, msg: &Expr) -> Res<Option<i64>> {
        let Some(Expr::Array(cmsgs)) = msg.field("msg_control") else {
            return Ok(None);
        };
        let mut want = None;
        for c in cmsgs {
            let level = c.field("cmsg_level").and_then(int_of);
            let ty = c.field("cmsg_type").and_then(int_of);
            let data = c.field("cmsg_data").and_then(int_of);
            match (level, ty, data) {
                (Some(6), Some(TCP_INQ), Some(v)) => want = Some(v),
                _ => {
                    return Err(Stop::Unsupported(format!(
                        "line {}: needs cmsg (msg_control) other than TCP_CM_INQ",
                        self.line
                    )))
                }
            }
        }
        Ok(want)
    }

    /// After a read: the TCP_CM_INQ check (Linux's tcp_inq_hint: the bytes left to
    /// read, 1 when none are and the stream has ended so that the reader reads on), or
    /// what is wrong.
    fn check_inq(&mut self, f: Fd, want: Option<i64>) -> Option<String> {
        let want = want?;
        if !f.inq {
            return Some(format!(
                "recvmsg(): expected a TCP_CM_INQ control message ({want}), but TCP_INQ is \
                 off so none comes"
            ));
        }
        let left = self.stack.recv_queue(f.h).unwrap_or(0) as i64;
        let ended = self.stack.readiness(f.h).is_ok_and(|r| r.read_closed);
        let got = if left == 0 && ended { 1 } else { left };
        (got != want).then(|| format!("recvmsg(): expected TCP_CM_INQ {want}, got {got}"))
    }

    /// Compares an out-parameter (`[n]` at argument `i`) with `got`.
    pub(crate) fn check_out_value(&self, sc: &Syscall, i: usize, got: i64) -> Res<()> {
        match sc.args.get(i) {
            Some(Expr::Ellipsis) | None => Ok(()),
            Some(e) => match int_of(e) {
                Some(want) if want == got => Ok(()),
                Some(want) => Err(self.fail(
                    format!(
                        "{}(): expected value {want} in argument {}, got {got}",
                        sc.name,
                        i + 1
                    ),
                    None,
                )),
                None => Ok(()),
            },
        }
    }

    /// Compares a call's result and errno with the script's.
    pub(crate) fn check_result(&self, sc: &Syscall, got: i64, errno: Option<&str>) -> Res<()> {
        let want = match &sc.result {
            Expr::Ellipsis => return Ok(()),
            e => int_of(e).ok_or_else(|| {
                Stop::Unsupported(format!(
                    "line {}: cannot evaluate the expected result {e:?}",
                    self.line
                ))
            })?,
        };
        let fd_call = matches!(sc.name.as_str(), "socket" | "accept");
        let ok = if fd_call && want >= 0 {
            got >= 0
        } else {
            got == want
        };
        let errno_ok = match (&sc.errno, errno) {
            (Some(w), Some(g)) if got < 0 => normalize(w) == normalize(g),
            (Some(_), None) if got < 0 => false,
            _ => true,
        };
        if ok && errno_ok {
            return Ok(());
        }
        let show = |v: i64, e: Option<&str>| match e {
            Some(e) if v < 0 => format!("{v} {e}"),
            _ => v.to_string(),
        };
        Err(self.fail(
            format!(
                "{}() returned {}, expected {}",
                sc.name,
                show(got, errno),
                show(want, sc.errno.as_deref())
            ),
            None,
        ))
    }
}
