//! `MSG_ZEROCOPY` (Linux's Documentation/networking/msg_zerocopy.rst) over the engine's
//! copying send: the bytes on the wire are the same, and the completion notifications
//! come from the engine's acknowledgments.
//!
//! - With `SO_ZEROCOPY` set (inherited by accepted sockets, as every socket flag), each
//!   `send*(MSG_ZEROCOPY)` that queues data gets the next notification id (from 0); a
//!   call that fails queues nothing and takes no id. A call whose data joins the previous
//!   zerocopy call's unsent tail (Linux appends to that skb) extends its range instead
//!   (`msg_zerocopy_realloc`).
//! - A range completes when the peer has acknowledged all of its bytes (its last skb is
//!   freed); its notification `{ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_code=
//!   SO_EE_CODE_ZEROCOPY_COPIED, ee_info=lo, ee_data=hi}` joins the error queue, merged
//!   into the queue's last one when the ranges are contiguous, and wakes the socket with
//!   `EPOLLERR` (`sk_error_report`). The code is always COPIED: packetdrill's tun device
//!   copies every packet it reads.
//! - The error queue makes the socket's poll mask carry `EPOLLERR`; `recvmsg(...,
//!   MSG_ERRQUEUE)` takes the first notification (its control message is checked
//!   against the script's), or fails with `EAGAIN`.
//! - Linux puts each iovec element of a zerocopy send in fragments of its own (one per
//!   page it covers; an empty element takes none), at most `MAX_SKB_FRAGS` (17) per skb.
//!   When an skb's fragments are full, `tcp_sendmsg_locked` marks it for PSH
//!   (`tcp_mark_push`) and starts a new one: the runner ends its write to the engine
//!   there as a record (`MSG_EOR`, which gives the chunk PSH and keeps later bytes out
//!   of it), so a send of 18 one-byte elements leaves as 17 bytes and 1, both with PSH.

use std::collections::{HashMap, VecDeque};

use synack::SocketHandle;

use crate::ast::{Expr, Syscall};
use crate::runner::{Res, Runner, Stop};
use crate::syscalls::int_of;
use crate::IpVersion;

/// `SO_EE_ORIGIN_ZEROCOPY`.
const ORIGIN_ZEROCOPY: i64 = 5;
/// `SO_EE_CODE_ZEROCOPY_COPIED`.
const CODE_COPIED: i64 = 1;
/// `MAX_SKB_FRAGS`: zerocopy fragments per skb.
pub(crate) const MAX_SKB_FRAGS: usize = 17;
/// `MSG_ZEROCOPY`.
pub(crate) const MSG_ZEROCOPY: i64 = 0x400_0000;
/// `MSG_ERRQUEUE`.
pub(crate) const MSG_ERRQUEUE: i64 = 0x2000;

/// Linux's values of the zerocopy and error-queue symbols.
pub(crate) fn sym_value(s: &str) -> Option<i64> {
    Some(match s {
        "MSG_ZEROCOPY" => MSG_ZEROCOPY,
        "MSG_ERRQUEUE" => MSG_ERRQUEUE,
        "SO_ZEROCOPY" => 60,
        "SO_EE_ORIGIN_ZEROCOPY" => ORIGIN_ZEROCOPY,
        "SO_EE_CODE_ZEROCOPY_COPIED" => CODE_COPIED,
        "SOL_IPV6" => 41,
        "IP_RECVERR" => 11,
        "IPV6_RECVERR" => 25,
        _ => return None,
    })
}

/// A page: the most bytes one zerocopy fragment holds (the buffers taken as page-aligned).
const PAGE: usize = 4096;

/// The offsets into a zerocopy write of iovec elements `lens` at which an skb ends
/// because it holds `MAX_SKB_FRAGS` fragments (skb_zerocopy_iter_stream's EMSGSIZE in
/// tcp_sendmsg_locked), the write's end excluded.
pub(crate) fn frag_full_ends(lens: &[usize]) -> Vec<usize> {
    let total: usize = lens.iter().sum();
    let mut ends = Vec::new();
    let (mut at, mut frags) = (0usize, 0usize);
    for &len in lens {
        let mut left = len;
        while left > 0 {
            if frags == MAX_SKB_FRAGS {
                ends.push(at);
                frags = 0;
            }
            let take = left.min(PAGE);
            at += take;
            left -= take;
            frags += 1;
        }
    }
    ends.retain(|&e| e < total);
    ends
}

/// One id range waiting for its bytes to be acknowledged.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u32,
    hi: u32,
    /// Stream offset just past its last byte.
    end: u64,
}

/// One entry of a socket's error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// Zerocopy ids `lo..=hi` completed.
    Zerocopy(u32, u32),
    /// A transmit timestamp (see `tstamp`): its kind (`SCM_TSTAMP_*`), key and time (µs).
    Tstamp(u32, u32, i64),
}

/// A socket's zerocopy and timestamping bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) struct Zc {
    next_id: u32,
    /// Bytes the program has written on the socket so far.
    pub written: u64,
    pending: VecDeque<Range>,
    /// The error queue: notifications not yet read.
    pub errq: VecDeque<Note>,
    /// SO_TIMESTAMPING's flags and state.
    pub ts: crate::tstamp::Ts,
}

/// The zerocopy state of every socket, by handle.
pub(crate) type ZcTable = HashMap<SocketHandle, Zc>;

impl Runner<'_> {
    /// `n` bytes of a write on `h` were queued; `zerocopy` when the call asked for
    /// MSG_ZEROCOPY on a socket with SO_ZEROCOPY; `first`: the call's first piece;
    /// `unsent_before`: bytes written and not sent when the piece was queued.
    pub(crate) fn zc_wrote(
        &mut self,
        h: SocketHandle,
        n: usize,
        zerocopy: bool,
        first: bool,
        unsent_before: u32,
    ) {
        let z = self.zc.entry(h).or_default();
        let start = z.written;
        z.written += n as u64;
        if !zerocopy || n == 0 {
            return;
        }
        let end = z.written;
        match z.pending.back_mut() {
            // A later piece of the same call.
            Some(r) if !first && r.end == start => r.end = end,
            // msg_zerocopy_realloc: the previous call's range, still at the unsent tail.
            Some(r) if first && r.end == start && unsent_before > 0 && r.hi + 1 == z.next_id => {
                r.hi = z.next_id;
                r.end = end;
                z.next_id += 1;
            }
            _ if !first => {}
            _ => {
                z.pending.push_back(Range {
                    lo: z.next_id,
                    hi: z.next_id,
                    end,
                });
                z.next_id += 1;
            }
        }
    }

    /// Completes the ranges whose bytes the peer has acknowledged; each wakes its
    /// socket with EPOLLERR.
    pub(crate) fn zc_poll(&mut self) {
        let handles: Vec<SocketHandle> = self
            .zc
            .iter()
            .filter(|(_, z)| !z.pending.is_empty() || z.ts.waiting_ack())
            .map(|(h, _)| *h)
            .collect();
        for h in handles {
            let Ok(info) = self.stack.tcp_info(h) else {
                continue;
            };
            let acked = info.bytes_acked;
            let now = self.now;
            let mut woke = false;
            if let Some(z) = self.zc.get_mut(&h) {
                woke |= z.ts.on_acked(acked, now, &mut z.errq);
                while z.pending.front().is_some_and(|r| r.end <= acked) {
                    let Some(r) = z.pending.pop_front() else {
                        break;
                    };
                    match z.errq.back_mut() {
                        Some(Note::Zerocopy(_, hi)) if hi.wrapping_add(1) == r.lo => *hi = r.hi,
                        _ => z.errq.push_back(Note::Zerocopy(r.lo, r.hi)),
                    }
                    woke = true;
                }
            }
            if woke {
                self.epoll_wakeup_key(h, crate::poll::EPOLLERR);
            }
        }
    }

    /// Whether `h` has a notification waiting (EPOLLERR in its poll mask).
    pub(crate) fn zc_errq_pending(&self, h: SocketHandle) -> bool {
        self.zc.get(&h).is_some_and(|z| !z.errq.is_empty())
    }

    /// `recvmsg(fd, {... msg_control=[...]}, MSG_ERRQUEUE)`: `(return, errno)`; the first
    /// notification's control messages are checked against the script's.
    pub(crate) fn recv_errqueue(&mut self, sc: &Syscall, fd: i64) -> Res<(i64, Option<String>)> {
        let Some(h) = self.fds.get(&fd).map(|f| f.h) else {
            return Ok((-1, Some("EBADF".into())));
        };
        let Some(note) = self.zc.get_mut(&h).and_then(|z| z.errq.pop_front()) else {
            return Ok((-1, Some("EAGAIN".into())));
        };
        let v6_socket = self.set.ip != IpVersion::Ipv4;
        let (level, ty) = if v6_socket { (41, 25) } else { (0, 11) };
        // The RECVERR message's fields, and the timestamp's time if any.
        let (fields, at): ([(&str, i64); 6], Option<i64>) = match note {
            Note::Zerocopy(lo, hi) => (
                [
                    ("ee_errno", 0),
                    ("ee_origin", ORIGIN_ZEROCOPY),
                    ("ee_type", 0),
                    ("ee_code", CODE_COPIED),
                    ("ee_info", i64::from(lo)),
                    ("ee_data", i64::from(hi)),
                ],
                None,
            ),
            Note::Tstamp(kind, key, at) => (
                [
                    ("ee_errno", crate::tstamp::ENOMSG),
                    ("ee_origin", crate::tstamp::ORIGIN_TIMESTAMPING),
                    ("ee_type", 0),
                    ("ee_code", 0),
                    ("ee_info", i64::from(kind)),
                    ("ee_data", i64::from(key)),
                ],
                Some(at),
            ),
        };
        let what = match note {
            Note::Zerocopy(lo, hi) => format!("the notification of ids {lo}..{hi}"),
            Note::Tstamp(kind, key, at) => format!(
                "timestamp {} of key {key} at {} s",
                crate::tstamp::kind_name(kind),
                crate::report::secs(at)
            ),
        };
        let msg = sc.args.get(1);
        let cmsgs = match msg.and_then(|m| m.field("msg_control")) {
            Some(Expr::Array(v)) => v.clone(),
            _ => Vec::new(),
        };
        for c in &cmsgs {
            let lvl = c.field("cmsg_level");
            let is_ts =
                matches!(c.field("cmsg_type"), Some(Expr::Sym(t)) if t == "SCM_TIMESTAMPING");
            if is_ts {
                let Some(at) = at else {
                    return Err(self.fail(
                        format!("recvmsg(MSG_ERRQUEUE): expected a timestamp, got {what}"),
                        None,
                    ));
                };
                self.check_scm_time(c.field("cmsg_data"), at, &what)?;
                continue;
            }
            let data = c.field("cmsg_data");
            let mut checks: Vec<(&str, Option<&Expr>, i64)> = vec![
                ("cmsg_level", lvl, level),
                ("cmsg_type", c.field("cmsg_type"), ty),
            ];
            for (name, value) in fields {
                checks.push((name, data.and_then(|d| d.field(name)), value));
            }
            for (name, want, value) in checks {
                let Some(want) = want else { continue };
                let want = match want {
                    Expr::Sym(s) if s == "CMSG_LEVEL_IP" => Some(level),
                    Expr::Sym(s) if s == "CMSG_TYPE_RECVERR" => Some(ty),
                    e => int_of(e),
                };
                match want {
                    Some(w) if w == value => {}
                    Some(w) => {
                        return Err(self.fail(
                            format!(
                                "recvmsg(MSG_ERRQUEUE): expected {name} {w}, got {value} ({what})"
                            ),
                            None,
                        ))
                    }
                    None => {
                        return Err(Stop::Unsupported(format!(
                            "line {}: recvmsg(MSG_ERRQUEUE): cannot evaluate {name}",
                            self.line
                        )))
                    }
                }
            }
        }
        Ok((0, None))
    }
}

#[cfg(test)]
mod tests {
    use super::frag_full_ends;

    #[test]
    fn an_skb_ends_when_its_seventeen_fragments_are_full() {
        assert!(frag_full_ends(&[1; 17]).is_empty());
        assert_eq!(frag_full_ends(&[1; 18]), vec![17]);
        assert_eq!(frag_full_ends(&[1; 64]), vec![17, 34, 51]);
        // Empty elements take no fragment; a large one takes one per page.
        assert!(frag_full_ends(&[0, 10, 0, 50]).is_empty());
        assert_eq!(frag_full_ends(&[16 * 4096, 8192]), vec![17 * 4096]);
    }
}
