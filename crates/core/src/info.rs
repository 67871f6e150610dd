//! Per-socket snapshots, as `ss -tanoi` shows them, and `getsockopt(TCP_INFO)`.

mod proc_net;
mod tcp;

pub use tcp::{options as tcpi_options, TcpInfo, INFINITE_SSTHRESH};

use crate::conn::flag;
use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;

use crate::conn::{Connection, TimerKind};
use crate::stack::{Sock, SocketHandle, Stack};
use crate::state::State;
use crate::time::Instant;

/// A running timer, as `ss -o` prints it: `timer:(on,1.2s,3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerInfo {
    /// `on` (retransmission), `delack`, `persist`, `keepalive` or `timewait`.
    pub name: &'static str,
    /// Time left.
    pub remaining: Duration,
    /// Retransmissions or probes so far.
    pub retrans: u32,
}

/// A snapshot of one socket, connection, half-open request or TIME-WAIT entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// The handle, for sockets a program holds (None for TIME-WAIT entries, half-open
    /// requests and orphaned connections).
    pub handle: Option<SocketHandle>,
    /// The state.
    pub state: State,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (None for listeners).
    pub remote: Option<SocketAddr>,
    /// Recv-Q: unread bytes; for a listener, connections waiting in the accept queue.
    pub recv_q: usize,
    /// Send-Q: unacknowledged and unsent bytes; for a listener, the backlog.
    pub send_q: usize,
    /// The earliest running timer.
    pub timer: Option<TimerInfo>,
    /// Congestion control algorithm.
    pub congestion: &'static str,
    /// Congestion window, segments.
    pub cwnd: u32,
    /// Slow-start threshold, segments (None until set).
    pub ssthresh: Option<u32>,
    /// Smoothed RTT and its variation.
    pub rtt: Option<(Duration, Duration)>,
    /// Retransmission timeout.
    pub rto: Duration,
    /// Effective send MSS.
    pub mss: u32,
    /// Window scales (send, receive), when negotiated.
    pub wscale: Option<(u8, u8)>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Bytes received in order.
    pub bytes_received: u64,
    /// Segments sent and received.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments retransmitted.
    pub retrans: u64,
    /// The user closed it; it finishes on its own.
    pub orphan: bool,
    /// Busy time, and of it the time limited by the peer's receive window and by the
    /// send buffer (TCP_INFO's `tcpi_busy_time`, `tcpi_rwnd_limited`,
    /// `tcpi_sndbuf_limited`; `ss -i`'s `busy:`, `rwnd_limited:`, `sndbuf_limited:`).
    pub busy: Duration,
    /// Time limited by the peer's receive window.
    pub rwnd_limited: Duration,
    /// Time limited by the send buffer.
    pub sndbuf_limited: Duration,
    /// The pacing rate, bytes per second (`ss -i`'s `pacing_rate`, TCP_INFO's
    /// `tcpi_pacing_rate`), once an RTT sample gives one.
    pub pacing_rate: Option<u64>,
}

impl SocketInfo {
    fn empty(handle: Option<SocketHandle>, state: State, local: SocketAddr) -> SocketInfo {
        SocketInfo {
            handle,
            state,
            local,
            remote: None,
            recv_q: 0,
            send_q: 0,
            timer: None,
            congestion: "",
            cwnd: 0,
            ssthresh: None,
            rtt: None,
            rto: Duration::ZERO,
            mss: 0,
            wscale: None,
            bytes_acked: 0,
            bytes_received: 0,
            segs_out: 0,
            segs_in: 0,
            retrans: 0,
            orphan: false,
            busy: Duration::ZERO,
            rwnd_limited: Duration::ZERO,
            sndbuf_limited: Duration::ZERO,
            pacing_rate: None,
        }
    }

    fn from_conn(
        handle: Option<SocketHandle>,
        c: &Connection,
        now: Instant,
        config: &crate::Config,
    ) -> SocketInfo {
        let mss = c.mss.max(1);
        let (busy, rwnd_limited, sndbuf_limited) = c.rare.chrono.times(now);
        let timer = c
            .timers_armed()
            .min_by_key(|(_, at)| *at)
            .map(|(kind, at)| TimerInfo {
                name: kind.ss_name(),
                remaining: at - now,
                retrans: u32::from(if kind == TimerKind::Retransmit {
                    c.backoff
                } else {
                    c.probes
                }),
            });
        SocketInfo {
            remote: Some(c.remote()),
            recv_q: c.recv_buf.len(),
            send_q: c.send_buf.len(),
            timer,
            congestion: c.cc.algorithm().name(),
            cwnd: c.cc.cwnd() / mss,
            ssthresh: (c.cc.ssthresh() != u32::MAX).then(|| c.cc.ssthresh() / mss),
            rtt: c.rtt.srtt().map(|s| (s, c.rtt.rttvar())),
            rto: c.rtt.backed_off(c.backoff.into()),
            mss,
            wscale: c.neg.ws_ok.then_some((c.neg.snd_wscale, c.neg.rcv_wscale)),
            bytes_acked: c.bytes_acked,
            bytes_received: c.bytes_received,
            segs_out: u64::from(c.segs_out),
            segs_in: u64::from(c.segs_in),
            retrans: u64::from(c.retrans_total),
            orphan: c.flag(flag::ORPHAN),
            busy: Duration::from_micros(busy),
            rwnd_limited: Duration::from_micros(rwnd_limited),
            sndbuf_limited: Duration::from_micros(sndbuf_limited),
            pacing_rate: c.pacing_rate_now(config),
            ..SocketInfo::empty(handle, c.state, c.local())
        }
    }
}

fn ms(d: Duration) -> String {
    let micros = d.as_micros();
    if micros.is_multiple_of(1000) {
        format!("{}", micros / 1000)
    } else {
        format!("{:.3}", micros as f64 / 1000.0)
    }
}

/// A rate of `bytes` per second in bits per second as `ss` prints it (sprint_bw):
/// `2.4Mbps`.
fn bits_per_second(bytes: u64) -> String {
    let bits = bytes as f64 * 8.0;
    if bits > 1e9 {
        format!("{:.1}Gbps", bits / 1e9)
    } else if bits > 1e6 {
        format!("{:.1}Mbps", bits / 1e6)
    } else if bits > 1e3 {
        format!("{:.1}Kbps", bits / 1e3)
    } else {
        format!("{bits}bps")
    }
}

impl fmt::Display for SocketInfo {
    /// One `ss -tanoi` entry: `ESTAB 0 0 10.0.0.1:80 10.0.0.2:40000 timer:(on,200ms,0)`
    /// followed by the `-i` details when the socket is a connection.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = self
            .remote
            .map_or_else(|| "*:*".to_string(), |r| r.to_string());
        write!(
            f,
            "{:<10} {:<6} {:<6} {:<22} {:<22}",
            self.state.ss_name(),
            self.recv_q,
            self.send_q,
            self.local,
            peer
        )?;
        if let Some(t) = self.timer {
            write!(f, " timer:({},{}ms,{})", t.name, ms(t.remaining), t.retrans)?;
        }
        if self.orphan {
            write!(f, " orphan")?;
        }
        if self.mss > 0 && self.state != State::TimeWait {
            write!(f, "\n\t {}", self.congestion)?;
            if let Some((s, r)) = self.wscale {
                write!(f, " wscale:{s},{r}")?;
            }
            write!(f, " rto:{}", ms(self.rto))?;
            if let Some((srtt, var)) = self.rtt {
                write!(f, " rtt:{}/{}", ms(srtt), ms(var))?;
            }
            write!(f, " mss:{} cwnd:{}", self.mss, self.cwnd)?;
            if let Some(s) = self.ssthresh {
                write!(f, " ssthresh:{s}")?;
            }
            write!(
                f,
                " bytes_acked:{} bytes_received:{} segs_out:{} segs_in:{}",
                self.bytes_acked, self.bytes_received, self.segs_out, self.segs_in
            )?;
            if self.retrans > 0 {
                write!(f, " retrans:0/{}", self.retrans)?;
            }
            if let Some(rate) = self.pacing_rate {
                write!(f, " pacing_rate {}", bits_per_second(rate))?;
            }
            // As ss prints them: whole milliseconds, the limited times with their share.
            let busy = self.busy.as_micros();
            if busy > 0 {
                write!(f, " busy:{}ms", busy / 1000)?;
                for (name, t) in [
                    ("rwnd_limited", self.rwnd_limited),
                    ("sndbuf_limited", self.sndbuf_limited),
                ] {
                    let t = t.as_micros();
                    if t > 0 {
                        let share = 100.0 * t as f64 / busy as f64;
                        write!(f, " {name}:{}ms({share:.1}%)", t / 1000)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Stack {
    /// The snapshot of one socket a program holds.
    pub fn socket_info(&self, h: SocketHandle) -> Option<SocketInfo> {
        self.snapshot_of(h, false)
    }

    fn snapshot_of(&self, h: SocketHandle, include_orphans: bool) -> Option<SocketInfo> {
        let (sock, user_closed) = self.sock_and_flag(h)?;
        if user_closed && !include_orphans {
            return None;
        }
        let handle = (!user_closed).then_some(h);
        Some(match sock {
            Sock::Fresh(fresh) => {
                let local = fresh.bound?;
                SocketInfo::empty(handle, State::Closed, local)
            }
            Sock::Listener(l) => SocketInfo {
                recv_q: l.accept_queue.len(),
                send_q: l.backlog as usize,
                ..SocketInfo::empty(handle, State::Listen, l.local)
            },
            Sock::Conn(c) => SocketInfo::from_conn(handle, c, self.now(), self.config()),
        })
    }

    /// Counts what [`Stack::sockets`] would list, by state, without building the list
    /// (for `ss -s`-style summaries of stacks with many thousands of sockets): calls
    /// `f(state, orphaned, count)` for groups of entries; bound but unconnected sockets
    /// count as CLOSED.
    pub fn count_sockets(&self, mut f: impl FnMut(State, bool, usize)) {
        for h in self.handles() {
            let Some((sock, _)) = self.sock_and_flag(h) else {
                continue;
            };
            match sock {
                Sock::Fresh(s) if s.bound.is_some() => f(State::Closed, false, 1),
                Sock::Fresh(_) => {}
                Sock::Listener(_) => f(State::Listen, false, 1),
                Sock::Conn(c) if c.state != State::Closed => f(c.state, c.flag(flag::ORPHAN), 1),
                Sock::Conn(_) => {}
            }
        }
        f(State::SynReceived, false, self.requests_iter().count());
        f(State::TimeWait, false, self.time_wait_iter().count());
    }

    /// Every socket, as `ss -tanoi` lists them: bound and listening sockets,
    /// connections (orphans included), half-open requests (SYN-RECV) and TIME-WAIT
    /// entries, in a stable order.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        let now = self.now();
        let mut out: Vec<SocketInfo> = self
            .handles()
            .filter_map(|h| self.snapshot_of(h, true))
            .filter(|i| i.state != State::Closed || i.remote.is_none())
            .collect();
        let mut reqs: Vec<SocketInfo> = self
            .requests_iter()
            .map(|(local, remote, deadline, retrans)| SocketInfo {
                remote: Some(remote),
                timer: Some(TimerInfo {
                    name: "on",
                    remaining: deadline - now,
                    retrans,
                }),
                ..SocketInfo::empty(None, State::SynReceived, local)
            })
            .collect();
        reqs.sort_by_key(|i| (i.local, i.remote));
        let mut tws: Vec<SocketInfo> = self
            .time_wait_iter()
            .map(|(local, remote, expires)| SocketInfo {
                remote: Some(remote),
                timer: Some(TimerInfo {
                    name: "timewait",
                    remaining: expires - now,
                    retrans: 0,
                }),
                ..SocketInfo::empty(None, State::TimeWait, local)
            })
            .collect();
        tws.sort_by_key(|i| (i.local, i.remote));
        out.extend(reqs);
        out.extend(tws);
        out
    }
}
