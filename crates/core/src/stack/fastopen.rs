//! The server side of TCP Fast Open (RFC 7413 4.2) at a listener, as Linux's
//! tcp_try_fastopen does it: a SYN whose cookie checks out (or that needs none) becomes
//! a connection in SYN-RECEIVED at once, its data queued for reading and the child in
//! the accept queue before the handshake completes; otherwise the SYN-ACK offers a
//! cookie to a client that asked for one or sent a wrong one, and the handshake is the
//! ordinary one.

use synack_wire::{FastOpenCookie, TcpRepr};

use super::{FourTuple, Sock, SocketHandle, Stack, EV_INCOMING};
use crate::error::Error;
use crate::fastopen::{self as tfo, FastOpenKeys};
use crate::listen::RequestSock;
use crate::state::State;

/// What a listener does with a SYN, Fast Open-wise.
pub(super) enum Outcome {
    /// A Fast Open child was made and its SYN-ACK queued: nothing more to do.
    Child,
    /// An ordinary request, whose first SYN-ACK carries this cookie option.
    Request(Option<FastOpenCookie>),
}

/// How long a Fast Open child that was accepted and then reset still counts against
/// its listener's queue (Linux's reqsk_fastopen_remove: 60 s).
const RESET_HOLD: core::time::Duration = core::time::Duration::from_secs(60);

impl Stack {
    /// The keys that make and check cookies at listener `lh`: its TCP_FASTOPEN_KEY,
    /// else `tcp_fastopen_key`, else the stack's own.
    pub(super) fn fastopen_keys(&self, opts: &crate::conn::SockOpts) -> FastOpenKeys {
        opts.fastopen
            .keys
            .or(self.config.tcp_fastopen_key)
            .unwrap_or(FastOpenKeys {
                primary: self.tfo_key,
                backup: None,
            })
    }

    /// Linux's tcp_try_fastopen for the SYN `seg` at listener `lh`, whose request
    /// record (not yet queued) is `req`.
    pub(super) fn try_fastopen(
        &mut self,
        lh: SocketHandle,
        tuple: &FourTuple,
        seg: &TcpRepr,
        req: &RequestSock,
    ) -> Outcome {
        let now = self.now;
        let foc = seg.options.fast_open;
        let syn_data = !seg.payload.is_empty();
        if foc.is_some_and(|c| c.is_request()) {
            self.stats.TCPFastOpenCookieReqd += 1;
        }
        let bits = self.config.tcp_fastopen;
        let Some(Sock::Listener(l)) = self.sock_mut(lh) else {
            return Outcome::Request(None);
        };
        let opts = l.opts;
        if bits & tfo::TFO_SERVER_ENABLE == 0 || !(syn_data || foc.is_some()) {
            return Outcome::Request(None);
        }
        match l.tfo.admit(opts.fastopen.max_qlen, now) {
            None => return Outcome::Request(None),
            Some(false) => {
                self.stats.TCPFastOpenListenOverflow += 1;
                return Outcome::Request(None);
            }
            Some(true) => {}
        }
        // RFC 7413 4.2.1: the cookie is a MAC of the client's address (Linux: of both
        // addresses as the SYN carries them).
        let (src, dst) = (tuple.remote.ip(), tuple.local.ip());
        let keys = self.fastopen_keys(&opts);
        let valid = || tfo::option(foc.is_some_and(|c| c.exp), &keys.cookie(src, dst));
        if bits & tfo::TFO_SERVER_COOKIE_NOT_REQD != 0 || opts.fastopen.no_cookie {
            return self.fastopen_child(lh, req, seg, None);
        }
        let Some(foc) = foc else {
            return Outcome::Request(None);
        };
        if foc.is_request() {
            return Outcome::Request(Some(valid()));
        }
        match keys.check(foc.bytes(), src, dst) {
            0 => {
                self.stats.TCPFastOpenPassiveFail += 1;
                Outcome::Request(Some(valid()))
            }
            1 => self.fastopen_child(lh, req, seg, None),
            _ => {
                // A backup-key cookie: accepted, and the client is given the primary one.
                self.stats.TCPFastOpenPassiveAltKey += 1;
                self.fastopen_child(lh, req, seg, Some(valid()))
            }
        }
    }

    /// Linux's tcp_fastopen_create_child: the connection in SYN-RECEIVED with the
    /// SYN's data queued, in the accept queue at once, its SYN-ACK (carrying `cookie`)
    /// acknowledging the data.
    fn fastopen_child(
        &mut self,
        lh: SocketHandle,
        req: &RequestSock,
        seg: &TcpRepr,
        cookie: Option<FastOpenCookie>,
    ) -> Outcome {
        let now = self.now;
        let Some(mut conn) = self.child_conn(lh, req) else {
            return Outcome::Request(None);
        };
        let synack = req.syn_ack(&self.config, now);
        // The SYN-ACK goes out from the connection (RFC 9293 3.10.7.2).
        conn.snd_nxt = req.iss;
        conn.snd_max = req.iss;
        // RFC 7323 2.2: the window of a SYN is never scaled.
        conn.snd_wnd = u32::from(seg.window);
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = seg.seq;
        conn.tfo.listener = Some(lh);
        conn.tfo.synack_window = synack.window;
        conn.tfo.synack_cookie = cookie;
        conn.take_syn_data(seg.payload);
        self.stats.TCPFastOpenPassive += 1;
        let h = self.queue_child(lh, req, conn);
        if let Some(Sock::Listener(l)) = self.sock_mut(lh) {
            l.tfo.qlen += 1;
        }
        self.trace(req.local, req.remote, State::Listen, State::SynReceived);
        self.notify(lh, EV_INCOMING);
        self.after_conn(h, State::SynReceived);
        Outcome::Child
    }

    /// A Fast Open child left SYN-RECEIVED: it no longer counts against its listener's
    /// queue, unless a RST ended it after accept() (Linux's reqsk_fastopen_remove).
    pub(super) fn fastopen_child_left(
        &mut self,
        lh: SocketHandle,
        child: SocketHandle,
        error: Option<Error>,
    ) {
        let now = self.now;
        let Some(Sock::Listener(l)) = self.sock_mut(lh) else {
            return;
        };
        l.tfo.qlen = l.tfo.qlen.saturating_sub(1);
        let accepted = !l.accept_queue.contains(&child);
        if accepted && error == Some(Error::ConnectionReset) {
            l.tfo.qlen += 1;
            l.tfo.reset_until.push_back(now + RESET_HOLD);
        }
    }
}

/// Room Linux leaves in a SYN for options a middlebox may add (MAX_TCP_OPTION_SPACE),
/// taken off the MSS to size the SYN's data.
const SYN_OPTION_ROOM: u32 = 40;

impl Stack {
    /// The client side of RFC 7413 3 for a connection `h` just made to `remote` with
    /// Fast Open asked for (Linux's tcp_fastopen_cookie_check and
    /// tcp_fastopen_defer_connect): with a cached cookie (or none needed) the SYN waits
    /// for the first write, whose data it carries; otherwise it goes at once with a
    /// cookie request.
    pub(super) fn fastopen_active(&mut self, h: SocketHandle, remote: std::net::SocketAddr) {
        let bits = self.config.tcp_fastopen;
        let entry = self
            .tfo_cache
            .get(&remote.ip())
            .copied()
            .unwrap_or_default();
        let mtu_mss = u32::from(crate::conn::mss_for_mtu(self.config.mtu, &remote));
        let Some(Sock::Conn(c)) = self.sock_mut(h) else {
            return;
        };
        let no_cookie = bits & tfo::TFO_CLIENT_NO_COOKIE != 0 || c.opts.fastopen.no_cookie;
        let (option, data) = if no_cookie {
            (None, true)
        } else {
            let o = entry.option();
            (Some(o), !o.is_request())
        };
        // Linux's tcp_send_syn_data: the MSS (the cached one, capped by TCP_MAXSEG and
        // the path) less the option room.
        let mut mss = entry.mss.map_or(mtu_mss, |m| u32::from(m).min(mtu_mss));
        if let Some(u) = c.opts.user_mss {
            mss = mss.min(u32::from(u));
        }
        c.tfo.syn_cookie = option;
        c.tfo.syn_space = mss.saturating_sub(SYN_OPTION_ROOM);
        if data {
            c.tfo.deferred = true;
            c.disarm(crate::conn::TimerKind::Retransmit);
        }
    }

    /// sendto() with MSG_FASTOPEN (RFC 7413 3): on a fresh socket, connects to `remote`
    /// with Fast Open and puts as much of `data` in the SYN as it may carry (none
    /// without a cookie: the SYN asks for one), returning that count; on a socket
    /// whose TCP_FASTOPEN_CONNECT held the SYN back, the same without connecting; on a
    /// connected socket, an ordinary send. `EOPNOTSUPP` without the client bit of
    /// `tcp_fastopen`, `EALREADY` while a handshake is in progress.
    pub fn sendto_fastopen(
        &mut self,
        h: SocketHandle,
        remote: std::net::SocketAddr,
        data: &[u8],
    ) -> crate::Result<usize> {
        if self.config.tcp_fastopen & tfo::TFO_CLIENT_ENABLE == 0 {
            return Err(Error::NotSupported);
        }
        match self.user_sock(h)? {
            Sock::Fresh(_) => {
                self.connect_with(h, remote, true)?;
                if !self.fastopen_deferred(h) {
                    return Ok(0);
                }
            }
            Sock::Conn(c) if c.state == State::SynSent && !c.tfo.deferred => {
                return Err(Error::AlreadyInProgress)
            }
            Sock::Conn(_) => {}
            Sock::Listener(_) => return Err(Error::NotConnected),
        }
        self.send_with(h, data, crate::conn::SendFlags::default())
    }

    /// Whether `h`'s SYN waits for its first write (TCP_FASTOPEN_CONNECT with a cookie
    /// at hand: connect() then returns 0 at once, as on Linux).
    pub fn fastopen_deferred(&self, h: SocketHandle) -> bool {
        matches!(self.sock_and_flag(h), Some((Sock::Conn(c), _)) if c.tfo.deferred)
    }

    /// Marks a writer blocked on `h`'s handshake (Linux's sk_write_pending, which a
    /// blocking Fast Open write holds): the ACK of the SYN-ACK then waits for its data.
    pub fn set_write_pending(&mut self, h: SocketHandle, on: bool) {
        if let Some(Sock::Conn(c)) = self.sock_mut(h) {
            if c.tfo.write_pending != on {
                c.tfo.write_pending = on;
            }
        }
    }

    /// Forgets every cached Fast Open cookie (`ip tcp_metrics flush`).
    pub fn flush_fastopen_cache(&mut self) {
        self.tfo_cache.clear();
    }
}
