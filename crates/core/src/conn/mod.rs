//! A connection: the transmission control block of RFC 9293 section 3.3.1, for every
//! state from SYN-SENT to LAST-ACK.
//!
//! LISTEN lives in [`crate::listen`], half-open passive connections in their compact
//! request records there too, and TIME-WAIT in [`crate::time_wait`], as in Linux. A
//! `Connection` is what an application holds a handle to. Its work is split as Linux
//! splits it: [`input`] (segment arrival, RFC 9293 section 3.10.7), [`output`] (what to
//! send and when), [`timers`] (what a timer's expiry decides), and this file (creation
//! and the user's calls, RFC 9293 section 3.10.1 to 3.10.6).

pub(crate) mod addrs;
pub(crate) mod chrono;
pub(crate) mod chunks;
pub(crate) mod cold;
pub(crate) mod delack;
mod dsack;
mod ecn;
mod fastopen;
pub(crate) mod flight;
mod frto;
mod icmp;
pub(crate) mod inflight;
pub(crate) mod input;
mod lend;
mod memory;
pub(crate) mod mtup;
mod oom;
pub(crate) mod output;
mod pacing;
mod quiet;
pub(crate) mod rare;
pub(crate) mod rcvspace;
pub(crate) mod recovery;
pub(crate) mod sack;
mod sendq;
pub(crate) mod timers;
mod tso;
mod urgent;

use core::time::Duration;
use std::net::SocketAddr;

use synack_wire::{SeqNum, TcpOptions};

use crate::buffer::{RecvBuffer, SendBuffer};
use crate::config::Config;
use crate::congestion::Congestion;
use crate::error::{Error, Result};
use crate::rtt::RttEstimator;
use crate::segment::CtlQueue;
use crate::state::State;
use crate::stats::Stats;
use crate::time::Instant;

pub(crate) use icmp::IcmpError;
pub(crate) use timers::{TimerKind, TimerSlots};

/// Everything a connection's handlers need from the stack besides the connection itself.
pub(crate) struct Ctx<'a> {
    /// The time of the input being processed.
    pub now: Instant,
    /// The stack's configuration.
    pub config: &'a Config,
    /// The stack's counters.
    pub stats: &'a mut Stats,
    /// Segments not tied to a connection's send queue (RSTs, ACKs sent while entering
    /// TIME-WAIT, challenge ACKs).
    pub ctl: &'a mut CtlQueue,
    /// Stack-wide challenge-ACK budget (RFC 5961 section 7).
    pub challenge: &'a mut ChallengeBudget,
    /// The orphan count `tcp_max_orphans` is checked against (Linux's tcp_orphan_cache;
    /// stack/orphans.rs).
    pub orphans: usize,
    /// The datagram whose segment is being processed ([`Rx::NONE`] for any other call).
    pub rx: Rx,
    /// The stack's memory budget as the call began (`tcp_mem`; stack/budget.rs).
    pub mem: crate::stack::budget::MemView<'a>,
}

/// What a segment's handlers need of the datagram that carried it: per-datagram
/// scratch, kept in the call's context rather than in every connection's record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rx {
    /// The GSO segment size (0: none); see `Stack::handle_packet_gso`.
    pub gso: u32,
    /// The datagram's length (IP header included), which sizes its memory charge
    /// (`rcvspace::rx_truesize`); 0 when unknown.
    pub len: u32,
    /// The ECN field of its IP header (RFC 3168 5).
    pub ecn: synack_wire::Ecn,
}

impl Rx {
    /// No datagram: not a segment's call, or one whose datagram is not known.
    pub const NONE: Rx = Rx {
        gso: 0,
        len: 0,
        ecn: synack_wire::Ecn::NotEct,
    };
}

/// Stack-wide rate limit for challenge ACKs (`tcp_challenge_ack_limit` per second).
#[derive(Debug, Default)]
pub(crate) struct ChallengeBudget {
    second: u64,
    sent: u32,
}

impl ChallengeBudget {
    /// Takes one challenge ACK from this second's budget.
    pub fn take(&mut self, now: Instant, limit: u32) -> bool {
        let second = now.total_micros() / 1_000_000;
        if second != self.second {
            self.second = second;
            self.sent = 0;
        }
        if self.sent >= limit {
            return false;
        }
        self.sent += 1;
        true
    }
}

/// Pending application-visible events, collected by the stack after each call.
pub(crate) mod events {
    /// In-order data or EOF can be read.
    pub const READABLE: u8 = 1;
    /// Send buffer space opened up.
    pub const WRITABLE: u8 = 2;
    /// The handshake completed (active open).
    pub const CONNECTED: u8 = 4;
    /// The connection ended (with or without an error).
    pub const CLOSED: u8 = 8;
    /// The program wrote or changed a send-side option: a lack of room it meets now is
    /// one it has seen (Linux's SOCK_NOSPACE), so that room opening again is reported.
    pub const SEND_CALL: u8 = 16;
}

/// RFC 7323 timestamp state of a connection that negotiated timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timestamps {
    /// TS.Recent: the peer's latest valid TSval (RFC 7323 section 4.3).
    pub recent: u32,
    /// When `recent` was stored, for PAWS's 24-day rule (RFC 7323 section 5.5).
    pub recent_stamp: Instant,
    /// Random offset added to our millisecond clock, per connection (Linux's tsoffset).
    pub offset: u32,
}

impl Timestamps {
    /// Our TSval at `now`: milliseconds plus the offset (Linux's TCP clock ticks in ms).
    pub fn now_val(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.offset)
    }
}

/// What the handshake agreed on, from the SYN exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Negotiated {
    /// The peer's MSS option (RFC 9293 3.7.1; 536 or 1220 when absent).
    pub peer_mss: u16,
    /// Shift applied to the peer's windows (0 unless both sides sent window scale).
    pub snd_wscale: u8,
    /// Shift applied to our windows.
    pub rcv_wscale: u8,
    /// Both sides sent the window scale option (RFC 7323 section 2.2).
    pub ws_ok: bool,
    /// Both sides sent SACK-permitted.
    pub sack: bool,
    /// Timestamps, when both sides sent them.
    pub ts: Option<Timestamps>,
    /// ECN (RFC 3168) agreed on the handshake (Linux's TCP_ECN_OK); on an active open,
    /// asked for until the SYN-ACK says.
    pub ecn: bool,
}

/// Socket options a connection honours.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SockOpts {
    /// TCP_NODELAY: disable Nagle's algorithm.
    pub nodelay: bool,
    /// SO_KEEPALIVE.
    pub keepalive: bool,
    /// SO_LINGER: `Some(0)` means close() aborts with a RST.
    pub linger: Option<Duration>,
    /// SO_SNDBUF as set by the user (disables send-buffer autotuning).
    pub sndbuf: Option<usize>,
    /// SO_RCVBUF as set by the user.
    pub rcvbuf: Option<usize>,
    /// SO_REUSEADDR.
    pub reuseaddr: bool,
    /// IPV6_V6ONLY: a socket bound to IPv6's `[::]` takes only IPv6.
    pub v6only: bool,
    /// TCP_MAXSEG: a cap on the MSS we advertise and use.
    pub user_mss: Option<u16>,
    /// TCP_CORK: hold partial segments until uncorked.
    pub cork: bool,
    /// TCP_USER_TIMEOUT: give up when data stays unacknowledged this long.
    pub user_timeout: Option<Duration>,
    /// TCP_SYNCNT: this socket's `tcp_syn_retries`.
    pub syn_retries: Option<u32>,
    /// TCP_KEEPIDLE: this socket's `tcp_keepalive_time`.
    pub keepidle: Option<Duration>,
    /// TCP_KEEPINTVL: this socket's `tcp_keepalive_intvl`.
    pub keepintvl: Option<Duration>,
    /// TCP_KEEPCNT: this socket's `tcp_keepalive_probes`.
    pub keepcnt: Option<u32>,
    /// TCP_LINGER2: this socket's `tcp_fin_timeout`.
    pub linger2: Option<Duration>,
    /// TCP_FASTOPEN, TCP_FASTOPEN_KEY, TCP_FASTOPEN_NO_COOKIE, TCP_FASTOPEN_CONNECT.
    pub fastopen: crate::fastopen::FastOpenOpts,
    /// TCP_DEFER_ACCEPT, as Linux keeps it: SYN-ACK timeouts during which a listener
    /// drops bare third ACKs (see `listen.rs`).
    pub defer_accept: u8,
    /// TCP_NOTSENT_LOWAT: writable only while fewer bytes than this wait unsent
    /// (`None`: `tcp_notsent_lowat`).
    pub notsent_lowat: Option<u32>,
    /// SO_OOBINLINE: the peer's urgent byte stays in the stream (urgent.rs).
    pub oobinline: bool,
}

/// The options of a socket nobody configured.
static DEFAULT_OPTS: SockOpts = SockOpts {
    nodelay: false,
    keepalive: false,
    linger: None,
    sndbuf: None,
    rcvbuf: None,
    reuseaddr: false,
    v6only: false,
    user_mss: None,
    cork: false,
    user_timeout: None,
    syn_retries: None,
    keepidle: None,
    keepintvl: None,
    keepcnt: None,
    linger2: None,
    fastopen: crate::fastopen::FastOpenOpts::NONE,
    defer_accept: 0,
    notsent_lowat: None,
    oobinline: false,
};

impl cold::ColdDefault for SockOpts {
    fn default_ref() -> &'static SockOpts {
        &DEFAULT_OPTS
    }
}

impl SockOpts {
    /// `tcp_syn_retries`, or TCP_SYNCNT when set.
    pub fn syn_retries(&self, config: &Config) -> u32 {
        self.syn_retries.unwrap_or(config.tcp_syn_retries)
    }

    /// `tcp_fin_timeout`, or TCP_LINGER2 when set.
    pub fn fin_timeout(&self, config: &Config) -> Duration {
        self.linger2.unwrap_or(config.tcp_fin_timeout)
    }

    /// `tcp_keepalive_time`, or TCP_KEEPIDLE when set.
    pub fn keepalive_time(&self, config: &Config) -> Duration {
        self.keepidle.unwrap_or(config.tcp_keepalive_time)
    }

    /// `tcp_keepalive_intvl`, or TCP_KEEPINTVL when set.
    pub fn keepalive_intvl(&self, config: &Config) -> Duration {
        self.keepintvl.unwrap_or(config.tcp_keepalive_intvl)
    }

    /// `tcp_keepalive_probes`, or TCP_KEEPCNT when set.
    pub fn keepalive_probes(&self, config: &Config) -> u32 {
        self.keepcnt.unwrap_or(config.tcp_keepalive_probes)
    }
}

/// A connection's boolean state: bits of `Connection::flags`, read and written through
/// [`Connection::flag`] and [`Connection::set_flag`] (two bytes in the record, not one per
/// flag: issue 9's memory budget).
pub(crate) mod flag {
    /// The user asked for a FIN (shutdown(SHUT_WR) or close()).
    pub const FIN_QUEUED: u16 = 1 << 0;

    /// The peer's FIN has been received in order: reads return EOF after the data.
    pub const FIN_RECEIVED: u16 = 1 << 1;

    /// shutdown(SHUT_RD) was called: once the queued data is read, reads return 0
    /// (data that still arrives is queued and readable, as on Linux).
    pub const RD_SHUTDOWN: u16 = 1 << 2;

    /// The user closed the handle; the connection finishes on its own.
    pub const ORPHAN: u16 = 1 << 3;

    /// Send a zero-window probe at the next opportunity.
    pub const PROBE_PENDING: u16 = 1 << 4;

    /// An ACK must go out at the next opportunity.
    pub const ACK_NOW: u16 = 1 << 5;

    /// Data was received and not yet acknowledged.
    pub const ACK_PENDING: u16 = 1 << 6;

    /// True for connections created from a listener's request record.
    pub const PASSIVE: u16 = 1 << 7;

    /// The FIN has been sent at least once (its sequence number is data end).
    pub const FIN_SENT: u16 = 1 << 8;

    /// Our FIN has been acknowledged.
    pub const FIN_ACKED: u16 = 1 << 9;

    /// The retransmission timer is armed as a tail loss probe, not an RTO (Linux's
    /// ICSK_TIME_LOSS_PROBE in the same timer slot).
    pub const XMIT_PROBE: u16 = 1 << 10;

    /// The last send() had MSG_MORE: its partial segment waits for the next send, or
    /// for an ACK to clock it out (the cork lasts one push, as Linux's does).
    pub const MORE_PENDING: u16 = 1 << 11;

    /// Push what is queued once, despite TCP_CORK or MSG_MORE (Linux's
    /// TCP_NAGLE_PUSH, set by TCP_NODELAY and uncorking).
    pub const PUSH_ONCE: u16 = 1 << 12;

    /// ECN (ecn.rs; Linux's `ecn_flags`): `TCP_ECN_QUEUE_CWR`: the window was reduced; the next new data segment carries
    /// CWR (RFC 3168 6.1.2).
    pub const ECN_QUEUE_CWR: u16 = 1 << 13;

    /// ECN (ecn.rs; Linux's `ecn_flags`): `TCP_ECN_DEMAND_CWR`: a CE mark arrived; every segment carries ECE until a data
    /// segment with CWR does (RFC 3168 6.1.3).
    pub const ECN_DEMAND_CWR: u16 = 1 << 14;

    /// ECN (ecn.rs; Linux's `ecn_flags`): `TCP_ECN_SEEN`: an ECT or CE data segment arrived (TCPI_OPT_ECN_SEEN).
    pub const ECN_SEEN: u16 = 1 << 15;
}

/// The transmission control block.
pub(crate) struct Connection {
    pub state: State,
    /// The local and remote socket addresses (see [`Connection::local`]).
    pub addrs: addrs::Addrs,
    /// Socket options, out of line while none is set.
    pub opts: cold::Cold<SockOpts>,
    // Send sequence space (RFC 9293 section 3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// The highest sequence number sent so far (BSD's snd_max): snd_nxt goes back to
    /// snd_una after a timeout, snd_max does not.
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    pub max_snd_wnd: u32,
    // Receive sequence space.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time).
    pub rcv_adv: SeqNum,
    /// RCV.NXT when we last sent a window (Linux's rcv_wup).
    pub rcv_wup: SeqNum,
    pub neg: Negotiated,
    /// Largest payload we put in a segment (effective send MSS, RFC 9293 3.7.1 with
    /// options subtracted).
    pub mss: u32,
    /// The MSS we advertise.
    pub adv_mss: u16,
    /// Estimate of the peer's segment size (Linux's rcv_mss), for ACK decisions.
    pub rcv_mss: u32,
    /// The largest window we may ever offer (Linux's window_clamp; see `rcvspace`).
    pub window_clamp: u32,
    /// The receive buffer's memory accounting and window growth (`rcvspace`).
    pub rs: rcvspace::RcvSpace,
    pub send_buf: SendBuffer,
    pub recv_buf: RecvBuffer,
    /// The pages of ring memory charged for this connection against `tcp_mem`, as the
    /// stack last settled it (stack/budget.rs).
    pub mem_pages: u32,
    /// Sequence number of a FIN that arrived ahead of missing data.
    pub fin_pending: Option<SeqNum>,
    /// The error the connection failed with, if any (kept for snapshots and events).
    pub error: Option<Error>,
    /// The error not yet reported to the program (Linux's sk_err).
    pub pending_error: Option<Error>,
    /// The last soft error from ICMP (Linux's sk_err_soft): reported instead of
    /// ETIMEDOUT when the connection times out, and by SO_ERROR when there is no other.
    pub soft_error: Option<Error>,
    /// The path MTU (RFC 1191, RFC 8201): the route's (or the link's) until an ICMP
    /// says less (Linux's icsk_pmtu_cookie).
    pub pmtu: u32,
    pub rtt: RttEstimator,
    pub cc: Congestion,
    /// Deadlines of the connection's timers but Persist and Reorder (which are in
    /// `inflight`); read them with [`Connection::timer`].
    pub timers: TimerSlots,
    /// Consecutive timeouts of the retransmission (or SYN) timer, saturating: a `u8` as
    /// Linux's icsk_backoff (issue 9's memory budget). Its doubling stops at 64 anyway
    /// (`RttEstimator::backed_off`), and every limit it is compared with is taken at
    /// most 255 (`conn::count_limit`), as Linux's own are (TCP_SYNCNT and
    /// tcp_syn_retries at most 127, tcp_synack_retries a u8).
    pub backoff: u8,
    /// Retransmission timeouts since the last forward progress (Linux's
    /// icsk_retransmits), which `backoff` stops counting under linear timeouts.
    pub rto_count: u8,
    /// Unanswered zero-window or keepalive probes (reset by any acceptable ACK, as
    /// Linux resets icsk_probes_out), saturating: a `u8` as Linux's icsk_probes_out, and
    /// compared with limits taken at most 255 (`conn::count_limit`; TCP_KEEPCNT is at
    /// most 127).
    pub probes: u8,
    /// When the oldest unacknowledged segment was first sent (Linux's retrans_stamp),
    /// the origin of the retransmission budget; set when retransmitting begins.
    pub retrans_stamp: Option<Instant>,
    /// What lives only while data is in flight, a recovery retransmits or a D-SACK
    /// waits: the segments' send times, loss probes, recovery's retransmissions, the
    /// D-SACK block. Out of line while all of it rests (inflight.rs).
    pub inflight: cold::Cold<inflight::InFlight>,
    /// Packets cumulatively acknowledged (Linux's `tp->delivered` less what is SACKed
    /// now): our SYN or SYN-ACK once, data a Fast Open SYN carried not apart from it,
    /// then each segment of the flight record (`inflight.sent`) and the FIN.
    pub delivered: u32,
    /// The end of the highest segment ever retransmitted: an ACK from below it may
    /// acknowledge a retransmission, and gives no RTT sample (Karn's algorithm; Linux's
    /// FLAG_RETRANS_DATA_ACKED).
    pub rexmit_high: SeqNum,
    /// When the SYN or SYN-ACK being timed was sent (a retransmitted one is not);
    /// the ACK of ISS + 1 ends the sample.
    pub rtt_seq: Option<Instant>,
    /// NewReno's recover (RFC 6582 section 3.2).
    pub recover: SeqNum,
    /// Bytes received since we last sent an ACK.
    pub unacked_bytes: u32,
    /// The delayed-ACK engine's state (Linux's icsk_ack): quick ACKs, interactive
    /// mode, ato.
    pub ack: delack::AckState,
    /// Minshall's variant of Nagle: end of the last small segment sent.
    pub snd_sml: SeqNum,
    pub last_send: Instant,
    pub last_recv: Instant,
    /// When the last acceptable ACK arrived (Linux's rcv_tstamp).
    pub rcv_tstamp: Instant,
    /// Pending application events (bits of [`events`]).
    pub events: u8,
    /// Per-connection counters for the snapshot, as wide as Linux keeps them
    /// (tcp_sock's u32 total_retrans, segs_in and segs_out; u64 bytes_acked and
    /// bytes_received).
    pub retrans_total: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_in: u32,
    pub segs_out: u32,
    /// Fast Open state (RFC 7413): a passive child's link to its listener while in
    /// SYN-RECEIVED, its SYN-ACK, what the SYN's data did.
    pub tfo: cold::Cold<crate::fastopen::ConnFastOpen>,
    /// The largest flight of the current window and the sequence number that ends the
    /// window (Linux's max_packets_out and max_packets_seq).
    pub max_flight: u32,
    pub max_flight_seq: SeqNum,
    /// Loss recovery: SACK scoreboard, state, PRR.
    pub rec: recovery::Recovery,
    /// Linux's `sk_sndbuf`: what the send queue's chunks may be charged before a write
    /// stops (sendq.rs).
    pub sndbuf_bytes: u32,
    /// Linux's `pushed_seq`: where the last PSH mark was set by a write.
    pub pushed_seq: SeqNum,
    /// The connection's boolean state, bits of [`flag`].
    flags: u16,
    /// Segments the peer reported as duplicates by D-SACK (`tcpi_dsack_dups`).
    pub dsack_dups: u32,
    /// Rarely used state, out of line while it holds its defaults (rare.rs).
    pub rare: cold::Cold<rare::Rare>,
}

/// Flags of a send() call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// MSG_MORE: more data follows; do not send a partial segment yet.
    pub more: bool,
    /// MSG_EOR: this data ends a record; later data starts a new segment.
    pub eor: bool,
    /// MSG_OOB: this data is urgent; the urgent pointer goes past its last byte (RFC
    /// 9293 3.8.5 as RFC 6093 3 reads it; urgent.rs).
    pub oob: bool,
}

/// A retry limit from the configuration (`tcp_syn_retries`, `tcp_keepalive_probes`,
/// ...) for the `u8` counters `backoff` and `probes`: at most 255, the most Linux's own
/// u8 counters can count to.
pub(crate) fn count_limit(limit: u32) -> u8 {
    u8::try_from(limit).unwrap_or(u8::MAX)
}

/// The MSS a sender assumes when the peer sent none (RFC 9293 3.7.1, RFC 8200 8.3).
pub(crate) fn default_peer_mss(remote: &SocketAddr) -> u16 {
    if remote.is_ipv4() {
        536
    } else {
        1220
    }
}

/// The MSS we advertise for a link MTU: MTU minus the IP and TCP headers.
pub(crate) fn mss_for_mtu(mtu: usize, remote: &SocketAddr) -> u16 {
    let headers = if remote.is_ipv4() { 40 } else { 60 };
    mtu.saturating_sub(headers).clamp(88, u16::MAX as usize) as u16
}

/// The MSS we advertise to `remote`: its route's `advmss`, else the route's MTU (or the
/// link's) less the headers (Linux's dst_metric_advmss).
pub(crate) fn adv_mss_for(config: &Config, remote: &SocketAddr) -> u16 {
    let route = config.routes.lookup(remote.ip());
    route.and_then(|r| r.advmss).unwrap_or_else(|| {
        let mtu = route.and_then(|r| r.mtu).map_or(config.mtu, |m| m as usize);
        mss_for_mtu(mtu, remote)
    })
}

/// Linux's model of the time a retransmission budget of `boundary` doubling timeouts
/// takes (tcp_model_timeout): exponential from `rto_base` up to `rto_max`, then linear.
pub(crate) fn model_timeout(boundary: u32, rto_base: Duration, rto_max: Duration) -> Duration {
    let base = rto_base.as_micros().max(1) as u64;
    let ratio = (rto_max.as_micros() as u64 / base).max(1);
    let thresh = 63 - ratio.leading_zeros();
    if boundary <= thresh {
        rto_base * ((2u32 << boundary) - 1)
    } else {
        rto_base * ((2u32 << thresh) - 1) + rto_max * (boundary - thresh)
    }
}

impl Connection {
    /// Whether `bit` (one of [`flag`]) is set.
    #[inline]
    pub fn flag(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    /// Sets or clears `bit` (one of [`flag`]).
    #[inline]
    pub fn set_flag(&mut self, bit: u16, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// A connection in CLOSED with everything zeroed; callers set it up.
    pub fn new(config: &Config, local: SocketAddr, remote: SocketAddr, iss: SeqNum) -> Self {
        // The route's metrics (route.rs; Linux's tcp_connect_init and
        // tcp_v4_syn_recv_sock read the dst's).
        let route = config.routes.lookup(remote.ip());
        let path_mtu = route.and_then(|r| r.mtu).map_or(config.mtu, |m| m as usize);
        let adv_mss = adv_mss_for(config, &remote);
        let initial_cwnd = route
            .and_then(|r| r.initcwnd)
            .unwrap_or(config.initial_cwnd);
        let mss = u32::from(default_peer_mss(&remote));
        Connection {
            state: State::Closed,
            addrs: addrs::Addrs::new(local, remote),
            opts: cold::Cold::new(),
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_wup: SeqNum(0),
            neg: Negotiated {
                peer_mss: default_peer_mss(&remote),
                snd_wscale: 0,
                rcv_wscale: 0,
                ws_ok: false,
                sack: false,
                ts: None,
                ecn: false,
            },
            mss,
            adv_mss,
            rcv_mss: 536.min(u32::from(adv_mss)),
            window_clamp: 65535,
            rs: rcvspace::RcvSpace::new(config.tcp_rmem[1]),
            send_buf: SendBuffer::new(config.tcp_wmem[1]),
            recv_buf: RecvBuffer::new(config.tcp_rmem[1]),
            mem_pages: 0,
            fin_pending: None,
            error: None,
            pending_error: None,
            soft_error: None,
            pmtu: u32::try_from(path_mtu).unwrap_or(u32::MAX),
            rtt: RttEstimator::new(config.rto_initial, config.rto_min, config.rto_max),
            cc: Congestion::new(config.tcp_congestion_control, mss, initial_cwnd),
            timers: TimerSlots::new(),
            backoff: 0,
            rto_count: 0,
            probes: 0,
            retrans_stamp: None,
            inflight: cold::Cold::new(),
            delivered: 0,
            rexmit_high: iss,
            rtt_seq: None,
            recover: iss,
            unacked_bytes: 0,
            ack: delack::AckState::default(),
            snd_sml: iss,
            last_send: Instant::ZERO,
            last_recv: Instant::ZERO,
            rcv_tstamp: Instant::ZERO,
            events: 0,
            retrans_total: 0,
            bytes_acked: 0,
            bytes_received: 0,
            segs_in: 0,
            segs_out: 0,
            tfo: cold::Cold::new(),
            max_flight: 0,
            max_flight_seq: iss,
            rec: recovery::Recovery::new(iss, config.tcp_reordering.min(300) as u16),
            sndbuf_bytes: u32::try_from(config.tcp_wmem[1]).unwrap_or(u32::MAX),
            pushed_seq: iss + 1,
            flags: 0,
            dsack_dups: 0,
            rare: cold::Cold::new(),
        }
    }

    /// The local socket address.
    #[inline]
    pub fn local(&self) -> SocketAddr {
        self.addrs.local()
    }

    /// The remote socket address.
    #[inline]
    pub fn remote(&self) -> SocketAddr {
        self.addrs.remote()
    }

    /// Active open (RFC 9293 section 3.10.1): the SYN goes out on the next transmit.
    pub fn connect(
        ctx: &mut Ctx,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        opts: SockOpts,
    ) -> Box<Self> {
        // Built in its box: the record is large, and is not moved again.
        let mut c = Box::new(Connection::new(ctx.config, local, remote, iss));
        c.opts.set(opts);
        c.apply_buffer_opts();
        c.apply_user_mss();
        let (wnd, clamp, wscale) =
            rcvspace::initial_window(ctx.config, opts.rcvbuf, u32::from(c.adv_mss));
        c.neg.rcv_wscale = wscale;
        c.init_rcv_wnd(wnd, clamp);
        c.rs.owned = true;
        c.neg.ts = ctx.config.tcp_timestamps.then_some(Timestamps {
            recent: 0,
            recent_stamp: ctx.now,
            offset: ts_offset,
        });
        // Linux's tcp_connect_init: the search starts before the SYN (with the
        // timestamp option counted, as tcp_header_len has it then).
        c.mtup_init(ctx);
        c.set_state(State::SynSent);
        ctx.stats.ActiveOpens += 1;
        c.arm_rto(ctx.now + ctx.config.rto_initial);
        c
    }

    /// Sizes the buffers from SO_SNDBUF and SO_RCVBUF when the user set them: the send
    /// queue is charged against SO_SNDBUF (payload and per-chunk overhead, sendq.rs);
    /// SO_RCVBUF is the receive memory (`sk_rcvbuf`) the window is computed from. Never
    /// below what is held.
    pub fn apply_buffer_opts(&mut self) {
        if let Some(s) = self.opts.sndbuf {
            self.set_sndbuf(s);
            if self.send_buf.capacity() < s {
                self.send_buf.set_capacity(s);
            }
        }
        if let Some(r) = self.opts.rcvbuf {
            // Linux's SO_RCVBUF sets sk_rcvbuf (memory); the ring that holds the bytes
            // starts at the payload share and grows with what memory admits.
            self.rs.rcvbuf = r.min(i32::MAX as usize) as u32;
            if self.recv_buf.is_empty() && !self.recv_buf.has_ooo() {
                self.recv_buf.set_capacity(r / 2);
            }
        }
    }

    /// Applies TCP_MAXSEG to the MSS we advertise (before the SYN goes out).
    pub fn apply_user_mss(&mut self) {
        if let Some(m) = self.opts.user_mss {
            self.adv_mss = self.adv_mss.min(m.max(88));
        }
    }

    /// Sets the negotiated parameters and derives the effective MSS from them.
    pub fn apply_negotiated(&mut self, config: &Config, neg: Negotiated) {
        self.neg = neg;
        self.sync_mss(config);
    }

    /// Records a state change; the stack reports transitions and keeps CurrEstab.
    pub fn set_state(&mut self, state: State) {
        self.state = state;
    }

    /// Arms a timer.
    #[inline]
    pub fn arm(&mut self, kind: TimerKind, at: Instant) {
        self.set_timer(kind, Some(at));
    }

    /// Arms the retransmission timer as an RTO (not a loss probe).
    pub fn arm_rto(&mut self, at: Instant) {
        self.set_flag(flag::XMIT_PROBE, false);
        self.arm(TimerKind::Retransmit, at);
    }

    /// Disarms a timer.
    #[inline]
    pub fn disarm(&mut self, kind: TimerKind) {
        self.set_timer(kind, None);
    }

    /// The earliest armed timer, or the departure time of a unit that pacing holds.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timer = self.timers_earliest();
        // A unit held for its departure time under fq (pacing.rs).
        match self.pacing_deadline() {
            Some(p) => Some(timer.map_or(p, |t| t.min(p))),
            None => timer,
        }
    }

    /// When the stack must next wake the connection, after `now`: its earliest timer,
    /// or the departure time of a segment waiting in the fq qdisc if that is still to
    /// come (one whose time has come leaves with the next poll, not a timer).
    #[inline]
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let timer = self.timers_earliest();
        match self.pacing_deadline().filter(|&p| p > now) {
            Some(p) => Some(timer.map_or(p, |t| t.min(p))),
            None => timer,
        }
    }

    /// Sequence number of the first byte in the send buffer: the byte after the SYN.
    pub fn send_buf_seq(&self) -> SeqNum {
        if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        }
    }

    /// Sequence number of our FIN (valid once `fin_queued`).
    pub fn fin_seq(&self) -> SeqNum {
        self.send_buf_seq() + self.send_buf.len() as u32
    }

    /// Bytes (sequence space) sent and not yet acknowledged.
    pub fn flight(&self) -> u32 {
        (self.snd_nxt - self.snd_una).max(0) as u32
    }

    /// Marks the connection dead with `error` and state CLOSED. The error is reported
    /// once to the program, as Linux's sk_err is (by the next recv, send or SO_ERROR),
    /// and stays recorded for the snapshot and the Closed event.
    pub fn close_with(&mut self, error: Option<Error>) {
        if self.error.is_none() {
            self.error = error;
            self.pending_error = error;
        }
        self.set_state(State::Closed);
        self.disarm_all();
        self.send_buf.release();
        self.inflight_clear(|f| f.chunks.clear());
        if self.flag(flag::ORPHAN) {
            self.recv_buf.release();
            self.uncharge_all();
        }
        self.events |= events::CLOSED | events::READABLE | events::WRITABLE;
    }

    /// send() (RFC 9293 section 3.10.2): queues as much of `data` as the send buffer takes.
    pub fn send(&mut self, ctx: &mut Ctx, data: &[u8], flags: SendFlags) -> Result<usize> {
        self.send_allowed()?;
        if self.tfo.deferred {
            return Ok(self.write_syn_data(data));
        }
        if data.is_empty() {
            return Ok(0);
        }
        self.restart_after_idle(ctx);
        let unsent = self.notsent_bytes();
        let n = self.queue_write(ctx, data.len(), flags, true);
        self.chrono_on_write(ctx.now, unsent, n, data.len());
        if n == 0 {
            return Err(Error::WouldBlock);
        }
        let written = self.send_buf.write(&data[..n]);
        debug_assert_eq!(written, n);
        self.set_flag(flag::MORE_PENDING, flags.more);
        if flags.oob {
            // Linux's tcp_mark_urg.
            self.mark_urgent();
        }
        Ok(n)
    }

    /// Bytes written and not sent yet (`tcpi_notsent_bytes`).
    pub fn notsent_bytes(&self) -> usize {
        let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
        self.send_buf.len().saturating_sub(in_flight)
    }

    /// A write to an idle connection (nothing in flight): CUBIC restarts its epoch, and
    /// with `tcp_slow_start_after_idle` cwnd shrinks after more than an RTO of silence
    /// (RFC 5681 4.1; Linux's tcp_slow_start_after_idle_check at write time).
    fn restart_after_idle(&mut self, ctx: &Ctx) {
        let sent_before = self.snd_max.after(self.iss + 1);
        if !sent_before || self.snd_max.after(self.snd_una) {
            return;
        }
        let idle = ctx.now - self.last_send;
        let rto = if ctx.config.tcp_slow_start_after_idle {
            self.rtt.rto()
        } else {
            // Longer than any idle time: only CUBIC's epoch moves.
            Duration::MAX
        };
        self.cc.on_idle_restart(ctx.now, idle, rto);
    }

    /// A window update while data waits unsent and nothing is in flight (Linux's
    /// tcp_ack_update_window calls tcp_slow_start_after_idle_check when the window
    /// changes and the write queue is not empty): with `tcp_slow_start_after_idle`, cwnd
    /// restarts as after any idle period longer than an RTO (RFC 5681 4.1), since the
    /// queued data is about to go into a path silent since the last data sent.
    pub(crate) fn restart_on_window_update(&mut self, ctx: &Ctx) {
        let sent_before = self.snd_max.after(self.iss + 1);
        if !ctx.config.tcp_slow_start_after_idle || !sent_before || self.notsent_bytes() == 0 {
            return;
        }
        let idle = ctx.now - self.last_send;
        self.cc.cwnd_restart(idle, self.rtt.rto());
    }

    /// At most how many bytes send() would take now (0 when it would block; sendq.rs).
    /// `default_lowat` is `tcp_notsent_lowat`.
    pub fn send_space(&self, default_lowat: u32) -> usize {
        self.write_room(default_lowat)
    }

    /// recv() (RFC 9293 section 3.10.3). `Ok(0)` is end of stream.
    pub fn recv(&mut self, ctx: &mut Ctx, out: &mut [u8]) -> Result<usize> {
        // Reads stop at the urgent mark and step over the urgent byte (urgent.rs).
        let limit = self.urgent_read_limit();
        if !self.recv_buf.is_empty() {
            let len = out.len().min(limit);
            let n = self.recv_buf.read(&mut out[..len]);
            self.after_read(ctx, n);
            self.urgent_after_read();
            return Ok(n);
        }
        // Linux's tcp_recvmsg order: end of stream (SOCK_DONE), then the pending error
        // once, then 0 for a socket shut for reading or closed.
        if self.flag(flag::FIN_RECEIVED) {
            return Ok(0);
        }
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        if self.flag(flag::RD_SHUTDOWN) || self.error.is_some() {
            return Ok(0);
        }
        match self.state {
            State::SynSent | State::SynReceived => Err(Error::WouldBlock),
            State::Closed => Ok(0),
            _ if out.is_empty() => Ok(0),
            _ => Err(Error::WouldBlock),
        }
    }

    /// After a read: the memory of what was read goes back, autotuning measures the
    /// round (tcp_rcv_space_adjust), and a window update goes out when the read opened
    /// the window a lot (Linux's tcp_cleanup_rbuf: the window we could offer is at
    /// least twice what the peer may still send, which was at most half the clamp).
    fn after_read(&mut self, ctx: &mut Ctx, copied: usize) {
        self.uncharge_read();
        self.rcv_space_adjust(ctx);
        if matches!(self.state, State::Established | State::CloseWait) {
            self.ack_after_read(ctx, copied);
        }
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) || self.flag(flag::ACK_NOW)
            || copied == 0
        {
            return;
        }
        let now_wnd = self.receive_window();
        if 2 * u64::from(now_wnd) <= u64::from(self.window_clamp) {
            let (new_wnd, end_quick) = self.raw_window(ctx.config);
            if end_quick {
                self.ack.quick = 0;
            }
            if new_wnd > 0 && u64::from(new_wnd) >= 2 * u64::from(now_wnd) {
                self.set_flag(flag::ACK_NOW, true);
            }
        }
    }

    /// shutdown(SHUT_WR) and the FIN part of close() (RFC 9293 section 3.10.4): queue
    /// a FIN and move to FIN-WAIT-1 or LAST-ACK. Returns false when there is no
    /// connection to close politely (SYN-SENT simply ends).
    pub fn shutdown_write(&mut self, ctx: &mut Ctx) {
        match self.state {
            State::SynSent => {
                ctx.stats.AttemptFails += 1;
                self.close_with(None);
            }
            State::SynReceived | State::Established => {
                self.set_flag(flag::FIN_QUEUED, true);
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.set_flag(flag::FIN_QUEUED, true);
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// Sends a RST now and closes (abort, close() with unread data, SO_LINGER 0):
    /// RFC 9293 section 3.10.5, with Linux's choice of sequence number (snd_nxt).
    pub fn reset(&mut self, ctx: &mut Ctx, error: Option<Error>) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) {
            // Linux's tcp_send_active_reset: <SEQ=SND.NXT><ACK=RCV.NXT><RST,ACK>, with a
            // timestamp when the connection uses them.
            let mut options = self.ack_options(ctx);
            options.sack_blocks = [None; 4];
            // Linux's tcp_transmit_skb: the window we would offer.
            let window = self.select_window_field(ctx);
            ctx.ctl.push(crate::segment::CtlSegment {
                local: self.local(),
                remote: self.remote(),
                seq: self.snd_max,
                ack: Some(self.rcv_nxt),
                control: synack_wire::Control::Rst,
                window,
                options,
                retransmit: false,
                ece: false,
            });
        }
        if matches!(self.state, State::Established | State::CloseWait) {
            ctx.stats.EstabResets += 1;
        }
        self.close_with(error);
    }

    /// close() (RFC 9293 section 3.10.4 and Linux's tcp_close): unread data or
    /// SO_LINGER 0 resets; otherwise a FIN is queued and the connection is orphaned.
    pub fn close(&mut self, ctx: &mut Ctx) {
        self.set_flag(flag::ORPHAN, true);
        if self.state == State::Closed {
            return;
        }
        if !self.recv_buf.is_empty() {
            ctx.stats.TCPAbortOnClose += 1;
            self.reset(ctx, None);
            return;
        }
        if self.opts.linger == Some(Duration::ZERO) {
            ctx.stats.TCPAbortOnLinger += 1;
            self.reset(ctx, None);
            return;
        }
        self.shutdown_write(ctx);
        if self.state == State::FinWait2 {
            self.arm(
                TimerKind::FinWait2,
                ctx.now + self.opts.fin_timeout(ctx.config),
            );
        }
    }

    /// The options our SYN or SYN-ACK carries (Linux's layout is the wire crate's).
    pub fn syn_options(&self, ctx: &Ctx, synack: bool) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(self.adv_mss),
            ..TcpOptions::default()
        };
        let config = ctx.config;
        if synack {
            o.sack_permitted = self.neg.sack;
            o.window_scale = self.neg.ws_ok.then_some(self.neg.rcv_wscale);
            o.timestamp = self.neg.ts.map(|ts| synack_wire::Timestamp {
                tsval: ts.now_val(ctx.now),
                tsecr: ts.recent,
            });
        } else {
            o.sack_permitted = config.tcp_sack;
            o.window_scale = config.tcp_window_scaling.then_some(self.neg.rcv_wscale);
            o.timestamp = self.neg.ts.map(|ts| synack_wire::Timestamp {
                tsval: ts.now_val(ctx.now),
                tsecr: 0,
            });
        }
        o
    }
}
