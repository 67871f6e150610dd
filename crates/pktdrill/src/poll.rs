//! `poll()`, `epoll_create()`, `epoll_ctl()` and `epoll_wait()` over the engine's
//! readiness ([`synack::Stack::readiness`], Linux's `tcp_poll`).
//!
//! - The mask of a socket is `tcp_poll`'s: `EPOLLHUP` when both directions are shut or
//!   the connection is closed; `EPOLLIN | EPOLLRDNORM | EPOLLRDHUP` once the receiving
//!   side is shut; `EPOLLIN | EPOLLRDNORM` with data to read (or, on a listener, a
//!   connection to accept); `EPOLLOUT | EPOLLWRNORM` when a write would not block;
//!   `EPOLLERR` with an error pending.
//! - `poll()` and level-triggered epoll report the current mask, less the events not
//!   asked for (`EPOLLERR` and `EPOLLHUP` are always reported).
//! - Edge-triggered epoll (`EPOLLET`) reports a socket once per *wakeup*, as Linux's
//!   `ep_poll_callback`: the engine's events stand for the kernel's wakeups (`Readable`
//!   for `sk_data_ready`, `Writable` for `sk_write_space`, a state change wakes every
//!   event). At `epoll_wait` the socket's mask then is what is reported; when none of it
//!   is asked for, nothing is. `EPOLL_CTL_ADD` and `EPOLL_CTL_MOD` report a socket
//!   that is ready at once, as `ep_insert` and `ep_modify` do.
//! - `EPOLLONESHOT` disables the entry after one report until `EPOLL_CTL_MOD`;
//!   `EPOLLEXCLUSIVE` changes nothing with one waiter.
//! - With a timeout, the call blocks in virtual time until something is reported or
//!   the timeout passes (then it returns 0).

use std::collections::VecDeque;

use synack::{EventKind, Readiness, SocketHandle};

use crate::ast::{Expr, Syscall};
use crate::runner::{Res, Runner, Stop};
use crate::syscalls::int_of;

pub(crate) const EPOLLIN: u32 = 0x1;
const EPOLLPRI: u32 = 0x2;
pub(crate) const EPOLLOUT: u32 = 0x4;
pub(crate) const EPOLLERR: u32 = 0x8;
const EPOLLHUP: u32 = 0x10;
const POLLNVAL: u32 = 0x20;
const EPOLLRDNORM: u32 = 0x40;
const EPOLLRDBAND: u32 = 0x80;
const EPOLLWRNORM: u32 = 0x100;
const EPOLLWRBAND: u32 = 0x200;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;

/// Linux's values of the poll and epoll symbols.
pub(crate) fn sym_value(s: &str) -> Option<i64> {
    Some(i64::from(match s {
        "POLLIN" | "EPOLLIN" => EPOLLIN,
        "POLLPRI" | "EPOLLPRI" => EPOLLPRI,
        "POLLOUT" | "EPOLLOUT" => EPOLLOUT,
        "POLLERR" | "EPOLLERR" => EPOLLERR,
        "POLLHUP" | "EPOLLHUP" => EPOLLHUP,
        "POLLNVAL" => POLLNVAL,
        "POLLRDNORM" | "EPOLLRDNORM" => EPOLLRDNORM,
        "POLLRDBAND" | "EPOLLRDBAND" => EPOLLRDBAND,
        "POLLWRNORM" | "EPOLLWRNORM" => EPOLLWRNORM,
        "POLLWRBAND" | "EPOLLWRBAND" => EPOLLWRBAND,
        "POLLRDHUP" | "EPOLLRDHUP" => EPOLLRDHUP,
        "EPOLLEXCLUSIVE" => EPOLLEXCLUSIVE,
        "EPOLLONESHOT" => EPOLLONESHOT,
        "EPOLLET" => EPOLLET,
        "EPOLL_CTL_ADD" => 1,
        "EPOLL_CTL_DEL" => 2,
        "EPOLL_CTL_MOD" => 3,
        "EPOLL_CLOEXEC" => 0x80000,
        _ => return None,
    }))
}

/// `tcp_poll`'s mask for a socket's readiness.
pub(crate) fn mask(r: &Readiness) -> u32 {
    let mut m = 0;
    if r.hup {
        m |= EPOLLHUP;
    }
    if r.read_closed {
        m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
    }
    if r.readable || r.accept_pending {
        m |= EPOLLIN | EPOLLRDNORM;
    }
    if r.writable {
        m |= EPOLLOUT | EPOLLWRNORM;
    }
    if r.error.is_some() {
        m |= EPOLLERR;
    }
    if r.urgent {
        m |= EPOLLPRI;
    }
    m
}

/// The events a wakeup of this kind carries (`ep_poll_callback`'s key; 0: all).
fn wakeup_key(kind: EventKind) -> u32 {
    match kind {
        EventKind::Readable | EventKind::Incoming => EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND,
        EventKind::Writable => EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND,
        EventKind::Connected | EventKind::Closed(_) => 0,
    }
}

/// One socket watched by an epoll instance.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    fd: i64,
    h: SocketHandle,
    events: u32,
    /// `data.fd` or `data.ptr` as given.
    data: i64,
    /// EPOLLONESHOT fired: nothing more until EPOLL_CTL_MOD.
    disabled: bool,
}

/// An epoll instance: its entries and its ready list (fds, in wakeup order).
#[derive(Debug, Clone, Default)]
pub(crate) struct Epoll {
    entries: Vec<Entry>,
    ready: VecDeque<i64>,
}

impl Epoll {
    fn queue(&mut self, fd: i64) {
        if !self.ready.contains(&fd) {
            self.ready.push_back(fd);
        }
    }
}

/// A `poll()` or `epoll_wait()` call, with what the script expects back.
#[derive(Debug, Clone)]
pub(crate) struct PollCall {
    kind: PollKind,
    /// When a blocking call gives up (µs); `None`: never.
    pub deadline: Option<i64>,
}

#[derive(Debug, Clone)]
enum PollKind {
    /// `(fd, events, expected revents)` per pollfd.
    Poll(Vec<(i64, u32, Option<u32>)>),
    /// The instance, how many events fit, and the expected first event
    /// `(events, data)`.
    Epoll {
        epfd: i64,
        max: usize,
        want: Option<(u32, Option<i64>)>,
    },
}

/// What a poll attempt came to.
pub(crate) enum Polled {
    /// Returned this (checked against the script, or a mismatch message).
    Done(Result<i64, String>, Option<&'static str>),
    /// Nothing to report yet.
    Block,
}

fn bits(e: &Expr) -> Option<u32> {
    int_of(e).map(|v| v as u32)
}

impl Runner<'_> {
    fn sock_mask(&self, fd: i64) -> Option<u32> {
        let f = self.fds.get(&fd)?;
        let errq = if self.zc_errq_pending(f.h) {
            EPOLLERR
        } else {
            0
        };
        self.stack.readiness(f.h).ok().map(|r| mask(&r) | errq)
    }

    /// A wakeup of socket `h` (an engine event): edge-triggered entries with an event
    /// the wakeup carries join their instance's ready list.
    pub(crate) fn epoll_wakeup(&mut self, h: SocketHandle, kind: EventKind) {
        self.epoll_wakeup_key(h, wakeup_key(kind));
    }

    /// A wakeup of socket `h` carrying the events `key` (0: every event). Every entry
    /// also waits for EPOLLERR and EPOLLHUP (`epoll_ctl` adds them).
    pub(crate) fn epoll_wakeup_key(&mut self, h: SocketHandle, key: u32) {
        for ep in self.epolls.values_mut() {
            let fds: Vec<i64> = ep
                .entries
                .iter()
                .filter(|e| {
                    e.h == h
                        && !e.disabled
                        && (key == 0 || (e.events | EPOLLERR | EPOLLHUP) & key != 0)
                })
                .map(|e| e.fd)
                .collect();
            for fd in fds {
                ep.queue(fd);
            }
        }
    }

    /// A socket fd was closed: it leaves every epoll instance (its last reference).
    pub(crate) fn epoll_forget(&mut self, fd: i64) {
        for ep in self.epolls.values_mut() {
            ep.entries.retain(|e| e.fd != fd);
            ep.ready.retain(|f| *f != fd);
        }
    }

    /// `epoll_create(size)` / `epoll_create1(flags)`: `(return value, errno)`.
    pub(crate) fn epoll_create(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let arg = self.int_arg(sc, 0)?;
        if sc.name == "epoll_create" && arg <= 0 {
            return Ok((-1, Some("EINVAL".into())));
        }
        let want = sc.result.as_int().unwrap_or(-1);
        let n = if want >= 0 && !self.fd_in_use(want) {
            want
        } else {
            self.free_fd()
        };
        self.epolls.insert(n, Epoll::default());
        Ok((n, None))
    }

    /// `epoll_ctl(epfd, op, fd, {events=..., fd=...})`.
    pub(crate) fn epoll_ctl(&mut self, sc: &Syscall) -> Res<(i64, Option<String>)> {
        let epfd = self.int_arg(sc, 0)?;
        let op = self.int_arg(sc, 1)?;
        let fd = self.int_arg(sc, 2)?;
        let err = |e: &str| Ok((-1, Some(e.to_string())));
        if !self.epolls.contains_key(&epfd) {
            return err("EBADF");
        }
        let Some(h) = self.fds.get(&fd).map(|f| f.h) else {
            return err(if self.epolls.contains_key(&fd) {
                "EINVAL"
            } else {
                "EBADF"
            });
        };
        let ev = sc.args.get(3);
        let events = ev.and_then(|e| e.field("events")).and_then(bits);
        let data = ev
            .and_then(|e| {
                e.field("fd")
                    .or_else(|| e.field("ptr"))
                    .or_else(|| e.field("u64"))
            })
            .and_then(int_of)
            .unwrap_or(fd);
        let ready_now = self.sock_mask(fd).unwrap_or(0);
        let Some(ep) = self.epolls.get_mut(&epfd) else {
            return err("EBADF");
        };
        let pos = ep.entries.iter().position(|e| e.fd == fd);
        match (op, pos) {
            (1, Some(_)) => err("EEXIST"),
            (2 | 3, None) => err("ENOENT"),
            (1 | 3, _) => {
                let Some(events) = events else {
                    return Err(Stop::Unsupported(format!(
                        "line {}: epoll_ctl() without an events value",
                        self.line
                    )));
                };
                if op == 3 && events & EPOLLEXCLUSIVE != 0 {
                    return err("EINVAL");
                }
                let entry = Entry {
                    fd,
                    h,
                    events,
                    data,
                    disabled: false,
                };
                match pos {
                    Some(i) => ep.entries[i] = entry,
                    None => ep.entries.push(entry),
                }
                // ep_insert / ep_modify: ready now means queued now.
                if ready_now & (events | EPOLLERR | EPOLLHUP) != 0 {
                    ep.queue(fd);
                }
                Ok((0, None))
            }
            (2, Some(i)) => {
                ep.entries.remove(i);
                ep.ready.retain(|f| *f != fd);
                Ok((0, None))
            }
            _ => err("EINVAL"),
        }
    }

    /// Parses a `poll()` or `epoll_wait()` line into a call that may block.
    pub(crate) fn poll_call(&self, sc: &Syscall) -> Res<PollCall> {
        let unsupported =
            |what: &str| Stop::Unsupported(format!("line {}: {}(): {what}", self.line, sc.name));
        let (kind, timeout) = if sc.name == "poll" {
            let Expr::Array(items) = self.arg(sc, 0)? else {
                return Err(unsupported("the pollfd argument is not an array"));
            };
            let mut v = Vec::new();
            for it in items {
                let fd = it.field("fd").and_then(int_of);
                let events = it.field("events").and_then(bits);
                let (Some(fd), Some(events)) = (fd, events) else {
                    return Err(unsupported("a pollfd without fd and events"));
                };
                v.push((fd, events, it.field("revents").and_then(bits)));
            }
            (PollKind::Poll(v), self.int_arg(sc, 2)?)
        } else {
            let epfd = self.int_arg(sc, 0)?;
            let want = match self.arg(sc, 1)? {
                Expr::Ellipsis => None,
                e => {
                    let events = e
                        .field("events")
                        .and_then(bits)
                        .ok_or_else(|| unsupported("the expected event has no events value"))?;
                    let data = e
                        .field("fd")
                        .or_else(|| e.field("ptr"))
                        .or_else(|| e.field("u64"))
                        .and_then(int_of);
                    Some((events, data))
                }
            };
            let max = usize::try_from(self.int_arg(sc, 2)?).unwrap_or(0);
            (PollKind::Epoll { epfd, max, want }, self.int_arg(sc, 3)?)
        };
        Ok(PollCall {
            kind,
            deadline: (timeout >= 0).then(|| self.now.saturating_add(timeout * 1000)),
        })
    }

    /// Tries the call now: what it returns, or that it blocks.
    pub(crate) fn poll_attempt(&mut self, call: &PollCall) -> Polled {
        let timed_out = call.deadline.is_some_and(|d| self.now >= d);
        match &call.kind {
            PollKind::Poll(items) => {
                let got: Vec<u32> = items
                    .iter()
                    .map(|&(fd, events, _)| match self.sock_mask(fd) {
                        Some(m) => m & (events | EPOLLERR | EPOLLHUP),
                        None if fd < 0 => 0,
                        None => POLLNVAL,
                    })
                    .collect();
                let n = got.iter().filter(|m| **m != 0).count() as i64;
                if n == 0 && !timed_out {
                    return Polled::Block;
                }
                for (i, (&(fd, _, want), got)) in items.iter().zip(&got).enumerate() {
                    if let Some(w) = want {
                        if w != *got {
                            return Polled::Done(
                                Err(format!(
                                    "poll(): pollfd {i} (fd {fd}): expected revents {}, got {}",
                                    show(w),
                                    show(*got)
                                )),
                                None,
                            );
                        }
                    }
                }
                Polled::Done(Ok(n), None)
            }
            PollKind::Epoll { epfd, max, want } => {
                if !self.epolls.contains_key(epfd) {
                    return Polled::Done(Ok(-1), Some("EBADF"));
                }
                if *max == 0 {
                    return Polled::Done(Ok(-1), Some("EINVAL"));
                }
                let reported = self.epoll_collect(*epfd, *max);
                if reported.is_empty() && !timed_out {
                    return Polled::Block;
                }
                if let (Some((events, data)), Some(&(got_ev, got_data))) = (want, reported.first())
                {
                    if *events != got_ev || data.is_some_and(|d| d != got_data) {
                        return Polled::Done(
                            Err(format!(
                                "epoll_wait(): expected events {} data {}, got events {} data \
                                 {got_data}",
                                show(*events),
                                data.map_or("...".to_string(), |d| d.to_string()),
                                show(got_ev)
                            )),
                            None,
                        );
                    }
                }
                Polled::Done(Ok(reported.len() as i64), None)
            }
        }
    }

    /// `ep_send_events`: the ready list's entries with something to report, `(events,
    /// data)` each; edge-triggered and one-shot entries leave the list, level-triggered
    /// ones are checked again next time.
    fn epoll_collect(&mut self, epfd: i64, max: usize) -> Vec<(u32, i64)> {
        let masks: Vec<(i64, Option<u32>)> = self.epolls[&epfd]
            .entries
            .iter()
            .map(|e| (e.fd, self.sock_mask(e.fd)))
            .collect();
        let Some(ep) = self.epolls.get_mut(&epfd) else {
            return Vec::new();
        };
        // Level-triggered entries are as ready as their sockets.
        for e in &ep.entries {
            if e.events & EPOLLET == 0 && !e.disabled {
                let m = masks.iter().find(|(fd, _)| *fd == e.fd).and_then(|x| x.1);
                if m.is_some_and(|m| m & (e.events | EPOLLERR | EPOLLHUP) != 0)
                    && !ep.ready.contains(&e.fd)
                {
                    ep.ready.push_back(e.fd);
                }
            }
        }
        let mut out = Vec::new();
        let mut keep = VecDeque::new();
        while let Some(fd) = ep.ready.pop_front() {
            if out.len() >= max {
                keep.push_back(fd);
                continue;
            }
            let Some(e) = ep.entries.iter_mut().find(|e| e.fd == fd) else {
                continue;
            };
            if e.disabled {
                continue;
            }
            let m = masks.iter().find(|(f, _)| *f == fd).and_then(|x| x.1);
            let revents = m.unwrap_or(0) & (e.events | EPOLLERR | EPOLLHUP);
            if revents == 0 {
                continue;
            }
            out.push((revents, e.data));
            if e.events & EPOLLONESHOT != 0 {
                e.disabled = true;
            }
        }
        ep.ready = keep;
        out
    }

    /// Whether `fd` names a socket or an epoll instance.
    pub(crate) fn fd_in_use(&self, fd: i64) -> bool {
        self.fds.contains_key(&fd)
            || self.epolls.contains_key(&fd)
            || self.open_files.contains_key(&fd)
    }

    /// `close()` of an epoll instance; `None` if `fd` is not one.
    pub(crate) fn close_epoll(&mut self, fd: i64) -> Option<(i64, Option<String>)> {
        self.epolls.remove(&fd).map(|_| (0, None))
    }

    /// When the pending call gives up, if it is a poll with a timeout.
    pub(crate) fn pending_deadline(&self) -> Option<i64> {
        match &self.pending.as_ref()?.op {
            crate::syscalls::Op::Poll(c) => c.deadline,
            _ => None,
        }
    }
}

/// A mask as the script would write it (`EPOLLIN|EPOLLOUT`), unknown bits in hex.
fn show(m: u32) -> String {
    const NAMES: [(u32, &str); 11] = [
        (EPOLLIN, "IN"),
        (EPOLLPRI, "PRI"),
        (EPOLLOUT, "OUT"),
        (EPOLLERR, "ERR"),
        (EPOLLHUP, "HUP"),
        (POLLNVAL, "NVAL"),
        (EPOLLRDNORM, "RDNORM"),
        (EPOLLRDBAND, "RDBAND"),
        (EPOLLWRNORM, "WRNORM"),
        (EPOLLWRBAND, "WRBAND"),
        (EPOLLRDHUP, "RDHUP"),
    ];
    if m == 0 {
        return "0".into();
    }
    let mut parts: Vec<String> = NAMES
        .iter()
        .filter(|(b, _)| m & b != 0)
        .map(|(_, n)| format!("POLL{n}"))
        .collect();
    let rest = m & !NAMES.iter().fold(0, |a, (b, _)| a | b);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_tcp_poll() {
        let fresh = Readiness::default();
        assert_eq!(mask(&fresh), 0);
        assert_eq!(show(EPOLLIN | EPOLLOUT), "POLLIN|POLLOUT");
        assert_eq!(show(EPOLLET | EPOLLIN), "POLLIN|0x80000000");
        assert_eq!(sym_value("EPOLLET"), Some(0x8000_0000));
    }
}
