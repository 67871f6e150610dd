//! Listeners: the SYN queue of half-open requests and the accept queue of established
//! connections behind `listen(backlog)`, as in Linux (tcp_conn_request, tcp_check_req).
//!
//! A SYN creates a compact [`RequestSock`] (Linux's request_sock), not a connection; the
//! third-step ACK turns it into a full connection in ESTABLISHED, queued for accept().
//! When the accept queue is full, the ACK is dropped (the SYN-ACK's retransmission will
//! bring another) or, with `tcp_abort_on_overflow`, answered with a RST.

use std::collections::VecDeque;
use std::net::SocketAddr;

use synack_wire::{Control, SeqNum, TcpOptions, TcpRepr, Timestamp};

use crate::config::Config;
use crate::conn::{self, Negotiated, SockOpts, Timestamps};
use crate::segment::CtlSegment;
use crate::stack::SocketHandle;
use crate::time::Instant;

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    /// The address listened on (the IP may be unspecified: any local address).
    pub local: SocketAddr,
    /// `min(backlog, somaxconn)`: the accept queue holds at most one more than this, as
    /// in Linux (sk_acceptq_is_full tests `>`).
    pub backlog: u32,
    /// Established connections waiting for accept().
    pub accept_queue: VecDeque<SocketHandle>,
    /// Half-open requests of this listener in the stack's SYN queue.
    pub syn_queue_len: usize,
    /// Options inherited by accepted connections.
    pub opts: SockOpts,
    /// When the SYN queue last overflowed (SYN cookies are accepted for two minutes
    /// after, as Linux's tcp_synq_no_recent_overflow allows).
    pub last_overflow: Option<Instant>,
    /// Fast Open children still in SYN-RECEIVED (RFC 7413; the limit is
    /// `opts.fastopen.max_qlen`).
    pub tfo: crate::fastopen::FastOpenQueue,
    /// For an any-address listener ([`crate::Stack::listen_any`]), the destinations it
    /// takes; `None` for an ordinary listener.
    pub any: Option<crate::any::AnyFilter>,
}

impl Listener {
    /// Whether the accept queue is full (Linux: `sk_ack_backlog > sk_max_ack_backlog`).
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() > self.backlog as usize
    }

    /// Whether the SYN queue is full (Linux's inet_csk_reqsk_queue_is_full compares
    /// against the listen backlog; `tcp_max_syn_backlog` caps it too).
    pub fn syn_queue_full(&self, max_syn_backlog: usize) -> bool {
        self.syn_queue_len >= (self.backlog as usize).max(1).min(max_syn_backlog)
    }
}

/// A half-open passive connection in SYN-RECEIVED (Linux's request_sock).
#[derive(Debug, Clone)]
pub(crate) struct RequestSock {
    pub listener: SocketHandle,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub neg: Negotiated,
    /// SYN-ACK retransmissions so far.
    pub retransmits: u32,
    /// When the SYN-ACK timer fires next.
    pub deadline: Instant,
    /// When the first SYN-ACK was sent, for the RTT sample of the handshake.
    pub sent_at: Instant,
    /// A third-step ACK arrived while the accept queue was full (Linux's `acked`).
    pub acked: bool,
    /// The request's key in the stack's timer wheel.
    pub id: u64,
    /// Its SYN-ACK timer in the stack's wheel.
    pub timer: Option<crate::wheel::TimerId>,
    /// The MSS we advertise (the link's, capped by the listener's TCP_MAXSEG).
    pub adv_mss: u16,
    /// The listener's SO_RCVBUF, which sizes the SYN-ACK's window.
    pub rcvbuf: Option<usize>,
    /// When the last ACK to a segment this request could not accept was sent (Linux's
    /// last_oow_ack_time), for the `tcp_invalid_ratelimit` spacing.
    pub last_oow_ack: Option<Instant>,
    /// The Fast Open cookie option the first SYN-ACK carries (RFC 7413 4.2.1: a
    /// cookie for a client that asked or sent a wrong one); retransmissions carry none,
    /// as in Linux.
    pub tfo_cookie: Option<synack_wire::FastOpenCookie>,
    /// The listener's TCP_DEFER_ACCEPT, in SYN-ACK timeouts.
    pub defer_accept: u8,
}

/// What the SYN-ACK timer does (Linux's syn_ack_recalc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SynAckTimer {
    /// Send the SYN-ACK again.
    Resend,
    /// Keep waiting without a retransmission (a deferred request already ACKed).
    Wait,
    /// Give up: the request goes.
    Expire,
}

/// TCP_DEFER_ACCEPT's seconds as Linux stores them (secs_to_retrans): the number of
/// SYN-ACK timeouts, starting at 1 s and doubling up to 120 s, whose sum first reaches
/// `secs`; 0 stays 0.
pub(crate) fn defer_secs_to_retrans(secs: u32) -> u8 {
    if secs == 0 {
        return 0;
    }
    let (mut timeout, mut period, mut n) = (1u32, 1u32, 1u8);
    while secs > period && n < u8::MAX {
        n += 1;
        timeout = (timeout * 2).min(120);
        period += timeout;
    }
    n
}

/// The seconds a count of SYN-ACK timeouts covers (Linux's retrans_to_secs), which is
/// what getsockopt(TCP_DEFER_ACCEPT) reads.
pub(crate) fn defer_retrans_to_secs(n: u8) -> u32 {
    let (mut timeout, mut period) = (1u32, 0u32);
    for i in 0..n {
        if i > 0 {
            timeout = (timeout * 2).min(120);
        }
        period += timeout;
    }
    period
}

impl RequestSock {
    /// A request for the SYN `seg` (RFC 9293 3.10.7.2), negotiating options as Linux's
    /// tcp_openreq_init does.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &Config,
        now: Instant,
        listener: SocketHandle,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        listener_opts: &SockOpts,
        seg: &TcpRepr,
    ) -> RequestSock {
        let (user_mss, rcvbuf) = (listener_opts.user_mss, listener_opts.rcvbuf);
        let o = &seg.options;
        let ws_ok = config.tcp_window_scaling && o.window_scale.is_some();
        let neg = Negotiated {
            peer_mss: o.mss.unwrap_or(conn::default_peer_mss(&remote)),
            snd_wscale: if ws_ok {
                o.window_scale.unwrap_or(0)
            } else {
                0
            },
            rcv_wscale: if ws_ok {
                conn::rcvspace::initial_window(
                    config,
                    rcvbuf,
                    u32::from(conn::mss_for_mtu(config.mtu, &remote)),
                )
                .2
            } else {
                0
            },
            ws_ok,
            sack: config.tcp_sack && o.sack_permitted,
            ts: match (config.tcp_timestamps, o.timestamp) {
                (true, Some(ts)) => Some(Timestamps {
                    recent: ts.tsval,
                    recent_stamp: now,
                    offset: ts_offset,
                }),
                _ => None,
            },
            ecn: false,
        };
        RequestSock {
            listener,
            local,
            remote,
            iss,
            irs: seg.seq,
            neg,
            retransmits: 0,
            deadline: now + config.rto_initial,
            sent_at: now,
            acked: false,
            id: 0,
            timer: None,
            rcvbuf,
            last_oow_ack: None,
            tfo_cookie: None,
            defer_accept: listener_opts.defer_accept,
            adv_mss: user_mss.map_or(conn::adv_mss_for(config, &remote), |m| {
                conn::adv_mss_for(config, &remote).min(m.max(88))
            }),
        }
    }

    /// The SYN-ACK (RFC 9293 3.10.7.2), in Linux's option layout.
    pub fn syn_ack(&self, config: &Config, now: Instant) -> CtlSegment {
        let adv_mss = self.adv_mss;
        let options = TcpOptions {
            mss: Some(adv_mss),
            window_scale: self.neg.ws_ok.then_some(self.neg.rcv_wscale),
            sack_permitted: self.neg.sack,
            timestamp: self.neg.ts.map(|ts| Timestamp {
                tsval: ts.now_val(now),
                tsecr: ts.recent,
            }),
            sack_blocks: [None; 4],
            fast_open: if self.retransmits == 0 {
                self.tfo_cookie
            } else {
                None
            },
            md5sig: false,
        };
        CtlSegment {
            local: self.local,
            remote: self.remote,
            seq: self.iss,
            ack: Some(self.irs + 1),
            control: Control::Syn,
            window: self.syn_ack_window(config),
            options,
            retransmit: self.retransmits > 0,
            // RFC 3168 6.1.1: ECE alone answers an ECN-setup SYN we accept.
            ece: self.neg.ecn,
        }
    }

    /// The window of our SYN-ACK (tcp_openreq_init_rwin): the initial window for the
    /// MSS less the timestamps option.
    pub fn syn_ack_window(&self, config: &Config) -> u16 {
        let mss_for_window = match self.neg.ts {
            Some(_) => u32::from(self.adv_mss) - 12,
            None => u32::from(self.adv_mss),
        };
        conn::rcvspace::initial_window(config, self.rcvbuf, mss_for_window).0 as u16
    }

    /// Whether PAWS rejects `seg` (RFC 7323 section 5.3 R1 as Linux's tcp_check_req
    /// applies it: a TSval older than the SYN's, unless TS.Recent is zero).
    pub fn paws_reject(&self, seg: &TcpRepr) -> bool {
        match (self.neg.ts, seg.options.timestamp) {
            (Some(ours), Some(t)) => ours.recent != 0 && t.is_older_than(ours.recent),
            _ => false,
        }
    }

    /// Whether an ACK to a segment this request cannot accept may go now (Linux's
    /// tcp_oow_rate_limited: segments with sequence space and no SYN always get one,
    /// others at most one per `tcp_invalid_ratelimit`); records the one that goes.
    pub fn oow_ack_allowed(&mut self, seg: &TcpRepr, config: &Config, now: Instant) -> bool {
        if seg.seg_len() > 0 && seg.control != Control::Syn {
            return true;
        }
        if self
            .last_oow_ack
            .is_some_and(|last| now < last + config.tcp_invalid_ratelimit)
        {
            return false;
        }
        self.last_oow_ack = Some(now);
        true
    }

    /// The SYN-ACK timer (Linux's reqsk_timer_handler and syn_ack_recalc): retransmit
    /// with a doubled timeout, or give up after `tcp_synack_retries`. Under
    /// TCP_DEFER_ACCEPT a request whose bare ACK came is not retransmitted until the
    /// last timeout of the deferral (a last call for data or another ACK), and lives
    /// at least until the deferral ends.
    pub fn on_timeout(&mut self, config: &Config, now: Instant) -> SynAckTimer {
        let (n, defer) = (self.retransmits, u32::from(self.defer_accept));
        let (expire, resend) = if defer == 0 {
            (n >= config.tcp_synack_retries, true)
        } else {
            (
                n >= config.tcp_synack_retries && (!self.acked || n >= defer),
                !self.acked || n + 1 >= defer,
            )
        };
        if expire {
            return SynAckTimer::Expire;
        }
        self.retransmits += 1;
        let rto = (config.rto_initial * (1u32 << self.retransmits.min(16))).min(config.rto_max);
        self.deadline = now + rto;
        if resend {
            SynAckTimer::Resend
        } else {
            SynAckTimer::Wait
        }
    }
}
