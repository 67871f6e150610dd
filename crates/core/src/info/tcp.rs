//! `getsockopt(TCP_INFO)`: Linux's `struct tcp_info` (include/uapi/linux/tcp.h), with the
//! fields the engine keeps the data for, in Linux's units.

use crate::conn::flag;
use core::time::Duration;
use std::net::SocketAddr;

use synack_wire::SeqNum;

use crate::config::Config;
use crate::conn::recovery::CaState;
use crate::conn::{Connection, TimerKind};
use crate::error::{Error, Result};
use crate::stack::{Sock, SocketHandle, Stack};
use crate::state::State;
use crate::time::Instant;

/// `tcpi_options` bits (Linux's `TCPI_OPT_*`).
pub mod options {
    /// Timestamps negotiated (RFC 7323).
    pub const TIMESTAMPS: u8 = 1;
    /// SACK negotiated (RFC 2018).
    pub const SACK: u8 = 2;
    /// Window scaling negotiated (RFC 7323).
    pub const WSCALE: u8 = 4;
    /// ECN (RFC 3168) agreed on the handshake.
    pub const ECN: u8 = 8;
    /// An ECN-capable (ECT or CE) data segment arrived.
    pub const ECN_SEEN: u8 = 16;
    /// The SYN's data was acknowledged: Fast Open (RFC 7413) worked for this connection.
    pub const SYN_DATA: u8 = 32;
}

/// Linux's `TCP_INFINITE_SSTHRESH`: what `tcpi_snd_ssthresh` reads before a loss.
pub const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// What `getsockopt(TCP_INFO)` returns on Linux, for the fields whose data the engine
/// keeps. Counts of packets are Linux's (a segment of up to one MSS each, a lone SYN or
/// FIN included); times are in microseconds or milliseconds as Linux gives them.
///
/// Linux fields the engine has no data for are absent: `rcv_rtt`, the delivery rate,
/// `bytes_sent` / `bytes_retrans`, `data_segs_in` / `data_segs_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TcpInfo {
    /// `tcpi_state`: Linux's state number (`TCP_ESTABLISHED` = 1 ... `TCP_CLOSING` = 11).
    pub state: u8,
    /// `tcpi_ca_state`: 0 Open, 1 Disorder (SACKs or duplicate ACKs, no loss yet),
    /// 3 Recovery (fast recovery), 4 Loss (after a retransmission timeout). The engine
    /// has no CWR state (2: no ECN).
    pub ca_state: u8,
    /// `tcpi_retransmits`: retransmission timeouts since the last forward progress (0
    /// while probing a zero window, whose probes back off without counting here).
    pub retransmits: u8,
    /// `tcpi_probes`: zero-window or keepalive probes sent and not answered.
    pub probes: u8,
    /// `tcpi_backoff`: the RTO's exponential backoff count.
    pub backoff: u8,
    /// `tcpi_options`: [`options`] bits negotiated on the handshake.
    pub options: u8,
    /// `tcpi_snd_wscale`: the peer's window scale (0 without window scaling).
    pub snd_wscale: u8,
    /// `tcpi_rcv_wscale`: ours (0 without window scaling).
    pub rcv_wscale: u8,
    /// `tcpi_rto`, µs: the retransmission timeout, doubled by each timeout (not by
    /// zero-window probes, which back off their own timer).
    pub rto: u32,
    /// `tcpi_ato`, µs: the delayed-ACK timeout (0 before any data arrived, as Linux's
    /// `icsk_ack.ato`), following the gaps between data segments (see the delayed-ACK
    /// engine).
    pub ato: u32,
    /// `tcpi_snd_mss`: the sending MSS (options such as timestamps taken off).
    pub snd_mss: u32,
    /// `tcpi_rcv_mss`: the estimate of the peer's segment size (Linux's
    /// `icsk_ack.rcv_mss`), which ACK decisions use.
    pub rcv_mss: u32,
    /// `tcpi_rcv_ssthresh`: the window's slow start (Linux's rcv_ssthresh): the most
    /// the offered window may reach for now.
    pub rcv_ssthresh: u32,
    /// `tcpi_rcv_space`: receive-buffer autotuning's measure, the most the application
    /// read in one round trip (Linux's rcvq_space.space).
    pub rcv_space: u32,
    /// `tcpi_unacked`: packets sent and not cumulatively acknowledged (`packets_out`).
    pub unacked: u32,
    /// `tcpi_sacked`: of those, packets SACKed (without SACK: duplicate ACKs counted).
    pub sacked: u32,
    /// `tcpi_lost`: packets considered lost (in fast recovery the un-SACKed ones below
    /// the loss mark, after a timeout every un-SACKed one).
    pub lost: u32,
    /// `tcpi_retrans`: packets retransmitted and not yet acknowledged or SACKed.
    pub retrans: u32,
    /// `tcpi_last_data_sent`, ms: since the last data segment was sent.
    pub last_data_sent: u32,
    /// `tcpi_last_data_recv`, ms: since the last segment arrived (the engine does not
    /// keep the last *data* segment's time apart).
    pub last_data_recv: u32,
    /// `tcpi_last_ack_recv`, ms: since the last segment (and so ACK) arrived.
    pub last_ack_recv: u32,
    /// `tcpi_pmtu`: the path MTU (the interface's).
    pub pmtu: u32,
    /// `tcpi_rtt`, µs: the smoothed RTT (0 before a sample).
    pub rtt: u32,
    /// `tcpi_rttvar`, µs: its variation.
    pub rttvar: u32,
    /// `tcpi_snd_ssthresh`, packets ([`INFINITE_SSTHRESH`] before a loss).
    pub snd_ssthresh: u32,
    /// `tcpi_snd_cwnd`, packets.
    pub snd_cwnd: u32,
    /// `tcpi_advmss`: the MSS we advertised.
    pub advmss: u32,
    /// `tcpi_reordering`: the reordering the connection assumes, in packets
    /// (`tcp_reordering` at first, raised by SACKs that show more, as Linux's
    /// tp->reordering).
    pub reordering: u32,
    /// `tcpi_reord_seen`: times a SACK showed reordering.
    pub reord_seen: u32,
    /// `tcpi_total_retrans`: segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// `tcpi_bytes_acked`: bytes the peer acknowledged (RFC 4898 tcpEStatsAppHCThruOctetsAcked).
    pub bytes_acked: u64,
    /// `tcpi_bytes_received`: bytes received in order (tcpEStatsAppHCThruOctetsReceived).
    pub bytes_received: u64,
    /// `tcpi_segs_out`: segments sent.
    pub segs_out: u32,
    /// `tcpi_segs_in`: segments received.
    pub segs_in: u32,
    /// `tcpi_notsent_bytes`: bytes written and not sent yet.
    pub notsent_bytes: u32,
    /// `tcpi_min_rtt`, µs: the minimum RTT seen (`u32::MAX` before a sample, as Linux).
    pub min_rtt: u32,
    /// `tcpi_snd_wnd`: the peer's window, scaled.
    pub snd_wnd: u32,
    /// `tcpi_rcv_wnd`: the window we advertised last, scaled (what remains of it).
    pub rcv_wnd: u32,
    /// `tcpi_dsack_dups`: segments the peer reported received twice, by D-SACK (RFC
    /// 2883), one per MSS of each D-SACK block.
    pub dsack_dups: u32,
    /// `tcpi_delivered`: packets delivered (Linux's `tp->delivered`): the SYN or
    /// SYN-ACK once acknowledged (a Fast Open SYN's data with it, not apart), then each
    /// segment (a FIN included) as it is cumulatively acknowledged or SACKed; without
    /// SACK, duplicate ACKs count one each until the cumulative ACK.
    pub delivered: u32,
    /// `tcpi_delivered_ce`: of those, the ones acknowledged with ECE. Always 0: the
    /// engine never negotiates ECN (RFC 3168), so no ACK carries ECE for our data.
    pub delivered_ce: u32,
    /// `tcpi_busy_time`, µs: how long data written waited to be sent or acknowledged
    /// (Linux's chronographs, `tcp_chrono_start`/`tcp_chrono_stop`, in jiffies of 1 ms),
    /// the two limited times below included.
    pub busy_time: u64,
    /// `tcpi_rwnd_limited`, µs: of the busy time, how long the peer's receive window
    /// stopped transmission.
    pub rwnd_limited: u64,
    /// `tcpi_sndbuf_limited`, µs: of the busy time, how long everything written had
    /// gone out, not for lack of cwnd, while the writer waited for send-buffer room.
    pub sndbuf_limited: u64,
    /// `tcpi_pacing_rate`, bytes per second: Linux's `sk_pacing_rate`, which
    /// tcp_update_pacing_rate keeps for every connection (`tcp_pacing_ss_ratio`% of cwnd
    /// per smoothed RTT in slow start, else `tcp_pacing_ca_ratio`%): the rate the fq
    /// qdisc paces at ([`Qdisc::Fq`](crate::Qdisc::Fq)). `u64::MAX` (Linux's `~0`)
    /// before an RTT sample.
    pub pacing_rate: u64,
    /// `tcpi_max_pacing_rate`: Linux's `SO_MAX_PACING_RATE`, which the engine does not
    /// have: always `u64::MAX`, unlimited, Linux's default.
    pub max_pacing_rate: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Linux's state numbers (`include/net/tcp_states.h`).
pub(crate) fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

/// The packets sent and not cumulatively acknowledged, as `[start, end)` ranges: the
/// first-transmission record keeps segment boundaries (a FIN included), so each range is
/// one of Linux's packets.
fn segments(c: &Connection) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
    let una = c.snd_una;
    let mut prev = una;
    c.inflight.sent.iter().filter_map(move |&(end, _)| {
        let start = prev;
        prev = end;
        end.after(una).then_some((start.max(una), end))
    })
}

impl TcpInfo {
    fn from_conn(c: &Connection, now: Instant, config: &Config) -> TcpInfo {
        let mtu = config.mtu;
        let mss = c.mss.max(1);
        let sack = c.neg.sack;
        let sacked_seg = |s: SeqNum, e: SeqNum| sack && c.rec.sacked.unsacked_between(s, e) == 0;
        let handshaking = matches!(c.state, State::SynSent | State::SynReceived);
        // The SYN is a packet of its own until it is acknowledged.
        let syn_out = u32::from(handshaking && c.snd_una == c.iss);
        let unacked = syn_out + segments(c).count() as u32;
        let sacked = if sack {
            segments(c).filter(|&(s, e)| sacked_seg(s, e)).count() as u32
        } else {
            c.rec.reno_sacked
        };
        let (lost_end, rexmit_end) = match c.rec.state {
            CaState::Recovery => (c.rec.lost_end, c.rec.rexmit_next.min(c.rec.lost_end)),
            CaState::Loss => (c.snd_max, c.rec.rexmit_next),
            CaState::Open | CaState::Disorder | CaState::Cwr => (c.snd_una, c.snd_una),
        };
        let below = |end: SeqNum| {
            segments(c)
                .filter(|&(s, e)| s.before(end) && !sacked_seg(s, e))
                .count() as u32
        };
        let (srtt, rttvar) = c
            .rtt
            .srtt()
            .map_or((0, 0), |s| (micros(s), micros(c.rtt.rttvar())));
        let ssthresh = c.cc.ssthresh();
        let in_flight = (c.snd_nxt - c.snd_una).max(0) as usize;
        let probing = c.timer(TimerKind::Persist).is_some();
        let since = |t: Instant| millis(if now > t { now - t } else { Duration::ZERO });
        let (busy_time, rwnd_limited, sndbuf_limited) = c.rare.chrono.times(now);
        TcpInfo {
            state: linux_state(c.state),
            ca_state: match c.rec.state {
                CaState::Open => 0,
                CaState::Disorder => 1,
                CaState::Cwr => 2,
                CaState::Recovery => 3,
                CaState::Loss => 4,
            },
            // Linux's icsk_retransmits counts retransmission timeouts; zero-window probes
            // back the timer off without counting (tcp_probe_timer).
            retransmits: if probing { 0 } else { c.backoff },
            probes: c.probes,
            backoff: c.backoff,
            options: (if c.neg.ts.is_some() {
                options::TIMESTAMPS
            } else {
                0
            }) | (if sack { options::SACK } else { 0 })
                | (if c.neg.ws_ok { options::WSCALE } else { 0 })
                | (if c.neg.ecn { options::ECN } else { 0 })
                | (if c.flag(flag::ECN_SEEN) {
                    options::ECN_SEEN
                } else {
                    0
                })
                | (if c.tfo.syn_data_acked {
                    options::SYN_DATA
                } else {
                    0
                }),
            snd_wscale: if c.neg.ws_ok { c.neg.snd_wscale } else { 0 },
            rcv_wscale: if c.neg.ws_ok { c.neg.rcv_wscale } else { 0 },
            // A timeout doubles Linux's icsk_rto; a zero-window probe backs off its own
            // timer only (tcp_probe0_when), leaving icsk_rto as it was.
            rto: micros(if probing {
                c.rtt.rto()
            } else {
                c.rtt.backed_off(c.backoff.into())
            }),
            ato: micros(c.ack.ato()),
            snd_mss: mss,
            rcv_mss: c.rcv_mss,
            rcv_ssthresh: c.rs.ssthresh,
            rcv_space: c.rs.space(),
            unacked,
            sacked,
            lost: below(lost_end),
            retrans: below(rexmit_end),
            last_data_sent: since(c.last_send),
            last_data_recv: since(c.last_recv),
            last_ack_recv: since(c.last_recv),
            pmtu: c.pmtu.min(u32::try_from(mtu).unwrap_or(u32::MAX)),
            rtt: srtt,
            rttvar,
            snd_ssthresh: if ssthresh == u32::MAX {
                INFINITE_SSTHRESH
            } else {
                ssthresh / mss
            },
            snd_cwnd: c.cc.cwnd() / mss,
            advmss: u32::from(c.adv_mss),
            reordering: c.rec.reordering.into(),
            reord_seen: c.rec.reord_seen.into(),
            total_retrans: c.retrans_total,
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            segs_out: c.segs_out,
            segs_in: c.segs_in,
            notsent_bytes: c.send_buf.len().saturating_sub(in_flight) as u32,
            min_rtt: c.rtt.min_rtt().map_or(u32::MAX, micros),
            snd_wnd: c.snd_wnd,
            rcv_wnd: (c.rcv_adv - c.rcv_nxt).max(0) as u32,
            dsack_dups: c.dsack_dups,
            // Linux counts a segment delivered when SACKed (tcp_sacktag_one) and not
            // again when the cumulative ACK covers it; the engine counts it at the
            // cumulative ACK, so the ones SACKed now are added.
            delivered: c.delivered.saturating_add(sacked),
            delivered_ce: 0,
            busy_time,
            rwnd_limited,
            sndbuf_limited,
            pacing_rate: c.pacing_rate_now(config).unwrap_or(u64::MAX),
            max_pacing_rate: u64::MAX,
        }
    }

    /// A socket that is not a connection: its state only.
    fn state_only(state: State) -> TcpInfo {
        TcpInfo {
            state: linux_state(state),
            min_rtt: u32::MAX,
            snd_ssthresh: INFINITE_SSTHRESH,
            pacing_rate: u64::MAX,
            max_pacing_rate: u64::MAX,
            ..TcpInfo::default()
        }
    }
}

impl Stack {
    /// `getsockopt(TCP_INFO)` on socket `h` (see [`TcpInfo`]); `EBADF` for a handle that
    /// is closed or stale. A socket that is not a connection (fresh or listening) gives
    /// its state and zeros, as Linux does.
    pub fn tcp_info(&self, h: SocketHandle) -> Result<TcpInfo> {
        let (sock, user_closed) = self.sock_and_flag(h).ok_or(Error::BadHandle)?;
        if user_closed {
            return Err(Error::BadHandle);
        }
        Ok(self.tcp_info_of(sock))
    }

    /// The [`TcpInfo`] of the connection `local` ↔ `remote` whatever holds it: a socket,
    /// an orphan the program closed, or a TIME-WAIT entry (its state only; Linux answers
    /// for no TIME-WAIT socket, there being no descriptor left). `None` when there is no
    /// such connection.
    pub fn tcp_info_by_addr(&self, local: SocketAddr, remote: SocketAddr) -> Option<TcpInfo> {
        for h in self.handles() {
            if let Some((sock @ Sock::Conn(c), _)) = self.sock_and_flag(h) {
                if c.local() == local && c.remote() == remote {
                    return Some(self.tcp_info_of(sock));
                }
            }
        }
        if self
            .time_wait_iter()
            .any(|(l, r, _)| l == local && r == remote)
        {
            return Some(TcpInfo::state_only(State::TimeWait));
        }
        self.requests_iter()
            .any(|(l, r, _, _)| l == local && r == remote)
            .then(|| TcpInfo::state_only(State::SynReceived))
    }

    fn tcp_info_of(&self, sock: &Sock) -> TcpInfo {
        match sock {
            Sock::Fresh(_) => TcpInfo::state_only(State::Closed),
            Sock::Listener(_) => TcpInfo::state_only(State::Listen),
            Sock::Conn(c) => TcpInfo::from_conn(c, self.now(), self.config()),
        }
    }
}
