//! The socket calls: what a program does with a [`Stack`], with the errno a Linux program
//! would see for each misuse.

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use synack_wire::SeqNum;

use super::{ports, FourTuple, PortSteering, Sock, SocketHandle, Stack};
use crate::conn::{Connection, SendFlags, SockOpts};
use crate::error::{Error, Result};
use crate::listen::Listener;
use crate::state::State;

/// Linux's SOCK_MIN_SNDBUF (twice the truesize of a 2 KiB skb on x86-64).
const SOCK_MIN_SNDBUF: usize = 4608;
/// Linux's SOCK_MIN_RCVBUF.
const SOCK_MIN_RCVBUF: usize = 2304;

/// Which directions `shutdown()` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// SHUT_RD: reads return 0 once the queued data is read (as on Linux, data that
    /// still arrives is queued and can be read).
    Read,
    /// SHUT_WR: send a FIN after the queued data (half-close).
    Write,
    /// SHUT_RDWR: both.
    Both,
}

/// A socket option, named after its Linux counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    /// TCP_NODELAY: disable Nagle's algorithm.
    NoDelay(bool),
    /// SO_KEEPALIVE: probe idle connections (`tcp_keepalive_*`).
    KeepAlive(bool),
    /// SO_LINGER: `Some(Duration::ZERO)` makes close() abort with a RST.
    Linger(Option<Duration>),
    /// SO_SNDBUF, bytes: at most `wmem_max`, doubled as Linux does (reads back doubled),
    /// at least 4608. The send buffer takes that many bytes. Set before connect() or on
    /// a listener (whose connections inherit it) it applies from the start.
    SendBuffer(usize),
    /// SO_RCVBUF, bytes: at most `rmem_max`, doubled as Linux does (reads back doubled),
    /// at least 2304. Half of it is the room for data, which bounds the window; set
    /// before connect() or on a listener (whose connections inherit it), it also sizes
    /// the SYN's or SYN-ACK's window and window scale (Linux's
    /// tcp_select_initial_window), so it must be set before then to shape them.
    RecvBuffer(usize),
    /// SO_REUSEADDR: let bind() share a port with holders that set it too and are not
    /// listening, such as the TIME-WAIT entries of a previous server that set it (see
    /// [`Stack::bind`]).
    ReuseAddr(bool),
    /// TCP_MAXSEG: cap the MSS (set before connect() or listen()).
    MaxSegment(u16),
    /// TCP_CORK: send only full segments until uncorked.
    Cork(bool),
    /// SO_OOBINLINE: the peer's urgent byte stays in the stream, read in order, and
    /// recv(MSG_OOB) fails with EINVAL ([`Stack::recv_oob`]).
    OobInline(bool),
    /// TCP_USER_TIMEOUT (RFC 5482): how long data may stay unacknowledged before the
    /// connection fails with ETIMEDOUT; zero restores the default budget.
    UserTimeout(Duration),
    /// TCP_SYNCNT: SYN retransmissions before connect() fails.
    SynCount(u32),
    /// TCP_KEEPIDLE: idle time before keepalive probes.
    KeepIdle(Duration),
    /// TCP_KEEPINTVL: time between keepalive probes.
    KeepInterval(Duration),
    /// TCP_KEEPCNT: unanswered probes before the connection is dropped.
    KeepCount(u32),
    /// TCP_LINGER2: how long an orphaned connection stays in FIN-WAIT-2.
    Linger2(Duration),
    /// TCP_QUICKACK: on, the connection leaves interactive ("pingpong") mode and an
    /// ACK held back goes out now if the receive queue is empty; off, it enters
    /// interactive mode (ACKs wait to ride on replies). Not sticky: a reply sent soon
    /// after data arrived makes the connection interactive again, as on Linux. Reads
    /// back as "not interactive".
    QuickAck(bool),
    /// TCP_DEFER_ACCEPT, seconds: a listener keeps a handshake whose third ACK carries
    /// no data in SYN-RECEIVED (the ACK is dropped) for about this long, then resends
    /// the SYN-ACK once to draw data or another ACK. Linux stores the seconds as a count
    /// of SYN-ACK timeouts (1 s, 2 s, 4 s ...) and reads back the time that count
    /// covers (5 reads back as 7).
    DeferAccept(u32),
    /// TCP_NOTSENT_LOWAT, bytes: the connection is writable (and send() takes data)
    /// only while fewer bytes than this wait unsent; 0 restores `tcp_notsent_lowat`
    /// (and reads back while unset, as on Linux).
    /// Linux stops a write at the first new skb once the limit is reached; the engine
    /// refuses a write that starts at or above the limit, and takes a write that starts
    /// below it whole (up to the send buffer's room).
    NotSentLowat(u32),
    /// IPV6_V6ONLY: a socket bound to `[::]` takes IPv6 only, and no longer holds the
    /// port for IPv4 (set before bind(); afterwards `EINVAL`, as on Linux). Off by default
    /// (Linux's `net.ipv6.bindv6only = 0`).
    V6Only(bool),
    /// TCP_FASTOPEN: on a listener (or a socket about to listen), the most Fast Open
    /// connections it keeps in SYN-RECEIVED (RFC 7413 5.1), capped by `somaxconn`; 0
    /// turns Fast Open off on it. `EINVAL` on a connection.
    FastOpen(u32),
    /// TCP_FASTOPEN_KEY: the listener's own cookie key and optional backup key, in
    /// place of `tcp_fastopen_key`.
    FastOpenKey(crate::fastopen::FastOpenKeys),
    /// TCP_FASTOPEN_NO_COOKIE: send (client) or accept (listener) SYN data without a
    /// cookie. `EINVAL` on a connection.
    FastOpenNoCookie(bool),
    /// TCP_FASTOPEN_CONNECT: connect() returns at once and the first write goes in
    /// the SYN (RFC 7413 with a cookie cached; a cookie request otherwise). Set before
    /// connect(): `EINVAL` after, `EOPNOTSUPP` when `tcp_fastopen` lacks the client
    /// bit.
    FastOpenConnect(bool),
}

/// The name of a socket option, for [`Stack::get_option`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOptName {
    /// TCP_NODELAY.
    NoDelay,
    /// SO_KEEPALIVE.
    KeepAlive,
    /// SO_LINGER.
    Linger,
    /// SO_SNDBUF.
    SendBuffer,
    /// SO_RCVBUF.
    RecvBuffer,
    /// SO_REUSEADDR.
    ReuseAddr,
    /// TCP_MAXSEG.
    MaxSegment,
    /// TCP_CORK.
    Cork,
    /// SO_OOBINLINE.
    OobInline,
    /// TCP_USER_TIMEOUT.
    UserTimeout,
    /// TCP_SYNCNT.
    SynCount,
    /// TCP_KEEPIDLE.
    KeepIdle,
    /// TCP_KEEPINTVL.
    KeepInterval,
    /// TCP_KEEPCNT.
    KeepCount,
    /// TCP_LINGER2.
    Linger2,
    /// TCP_QUICKACK.
    QuickAck,
    /// TCP_DEFER_ACCEPT.
    DeferAccept,
    /// TCP_NOTSENT_LOWAT.
    NotSentLowat,
    /// IPV6_V6ONLY.
    V6Only,
    /// TCP_FASTOPEN.
    FastOpen,
    /// TCP_FASTOPEN_KEY.
    FastOpenKey,
    /// TCP_FASTOPEN_NO_COOKIE.
    FastOpenNoCookie,
    /// TCP_FASTOPEN_CONNECT.
    FastOpenConnect,
}

impl Stack {
    /// socket(): a new, unbound TCP socket.
    pub fn socket(&mut self) -> SocketHandle {
        self.alloc(Sock::Fresh(Box::default()))
    }

    pub(super) fn user_sock(&mut self, h: SocketHandle) -> Result<&mut Sock> {
        let slot = self.slot_mut(h).ok_or(Error::BadHandle)?;
        if slot.has(super::Slot::USER_CLOSED) {
            return Err(Error::BadHandle);
        }
        slot.sock.as_mut().ok_or(Error::BadHandle)
    }

    pub(super) fn user_conn(&mut self, h: SocketHandle) -> Result<&mut Connection> {
        match self.user_sock(h)? {
            Sock::Conn(c) => Ok(c),
            _ => Err(Error::NotConnected),
        }
    }

    /// Makes this stack one of several engines on one multi-queue device: connect()
    /// then picks only ephemeral ports whose segments the device steers to this
    /// engine's queue ([`PortSteering`]); `None` (the default) takes any port.
    pub fn set_port_steering(&mut self, steering: Option<PortSteering>) {
        self.port_steering = steering;
    }

    /// The port steering set by [`Stack::set_port_steering`].
    pub fn port_steering(&self) -> Option<PortSteering> {
        self.port_steering
    }

    /// bind(). Port 0 picks a free ephemeral port. `EADDRNOTAVAIL` for an address that
    /// is not ours, `EINVAL` if already bound, `EADDRINUSE` when a socket, connection or
    /// TIME-WAIT entry holds the port on an overlapping address, as Linux decides it
    /// (inet_csk_bind_conflict): different specific addresses never overlap; an
    /// unspecified address overlaps every address of its family, and IPv6's `[::]` IPv4's
    /// too unless IPV6_V6ONLY; overlapping holders may share the port only when both set
    /// SO_REUSEADDR and the one already there is not listening (TIME-WAIT entries keep the
    /// flag of their connection).
    pub fn bind(&mut self, h: SocketHandle, addr: SocketAddr) -> Result<()> {
        let (reuse, v6only) = match self.user_sock(h)? {
            Sock::Fresh(f) if f.bound.is_none() => (f.opts.reuseaddr, f.opts.v6only),
            _ => return Err(Error::InvalidInput),
        };
        if !addr.ip().is_unspecified() && !self.addrs.contains(&addr.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        let claim = ports::Claim {
            addr: addr.ip(),
            reuse,
            v6only: v6only && addr.is_ipv6(),
        };
        let port = if addr.port() == 0 {
            self.free_port().ok_or(Error::AddrInUse)?
        } else if self.ports.conflicts(addr.port(), &claim, Some(h)) {
            return Err(Error::AddrInUse);
        } else {
            addr.port()
        };
        self.ports.add_socket(port, h, claim);
        if let Sock::Fresh(f) = self.user_sock(h)? {
            f.bound = Some(SocketAddr::new(addr.ip(), port));
        }
        Ok(())
    }

    fn free_port(&mut self) -> Option<u16> {
        let (lo, hi) = self.config.ip_local_port_range;
        let n = u32::from(hi - lo) + 1;
        for i in 0..n {
            let port = lo + ((self.port_counter + i) % n) as u16;
            if self.config.ip_local_reserved_ports.contains(&port) || self.ports.in_use(port) {
                continue;
            }
            self.port_counter = self.port_counter.wrapping_add(i + 1);
            return Some(port);
        }
        None
    }

    /// listen(): `backlog` is capped by `somaxconn`. An unbound socket is bound to an
    /// ephemeral port first, as Linux does.
    pub fn listen(&mut self, h: SocketHandle, backlog: u32) -> Result<()> {
        let backlog = backlog.min(self.config.somaxconn);
        let (bound, opts) = match self.user_sock(h)? {
            Sock::Fresh(f) => (f.bound, f.opts),
            Sock::Listener(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            Sock::Conn(_) => return Err(Error::InvalidInput),
        };
        let local = match bound {
            Some(a) => a,
            None => {
                let family = self
                    .addrs
                    .first()
                    .copied()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                let any = if family.is_ipv4() {
                    IpAddr::from([0u8; 4])
                } else {
                    IpAddr::from([0u8; 16])
                };
                self.bind(h, SocketAddr::new(any, 0))?;
                match self.user_sock(h)? {
                    Sock::Fresh(f) => f.bound.ok_or(Error::InvalidInput)?,
                    _ => return Err(Error::InvalidInput),
                }
            }
        };
        let claim = ports::Claim {
            addr: local.ip(),
            reuse: opts.reuseaddr,
            v6only: opts.v6only && local.is_ipv6(),
        };
        if self.ports.conflicts(local.port(), &claim, Some(h)) {
            return Err(Error::AddrInUse);
        }
        self.ports.set_listening(local.port(), h);
        let mut opts = opts;
        let tfo = self.config.tcp_fastopen;
        if tfo & crate::fastopen::TFO_SERVER_WO_SOCKOPT1 != 0
            && tfo & crate::fastopen::TFO_SERVER_ENABLE != 0
            && opts.fastopen.max_qlen == 0
        {
            // Linux's inet_listen: Fast Open without TCP_FASTOPEN, the backlog as the
            // queue length.
            opts.fastopen.max_qlen = backlog;
        }
        *self.user_sock(h)? = Sock::Listener(Box::new(Listener {
            local,
            backlog,
            accept_queue: Default::default(),
            syn_queue_len: 0,
            opts,
            last_overflow: None,
            tfo: Default::default(),
            any: None,
        }));
        self.listeners.entry(local.port()).or_default().push(h);
        self.trace(local, unspecified_like(local), State::Closed, State::Listen);
        Ok(())
    }

    /// Listens for connections to any destination `filter` takes, whether or not the
    /// address is the stack's: the full listen machinery (SYN queue, accept queue,
    /// `backlog` capped by `somaxconn`, SYN cookies) with the connection's local address
    /// being the destination the peer connected to, as behind Linux's `TPROXY` with an
    /// `IP_TRANSPARENT` listener. The socket must be fresh and unbound (`EINVAL`
    /// otherwise); its own local address reads as the unspecified address, port 0.
    ///
    /// For the stack's own addresses, ordinary listeners come first; a destination that
    /// no listener takes but whose address a filter takes is answered as a closed port
    /// (RST), and one whose address no filter takes is dropped as not ours. Broadcast,
    /// multicast and unspecified destinations are never taken. When two any-address
    /// listeners take a destination, the older one gets it.
    pub fn listen_any(
        &mut self,
        h: SocketHandle,
        filter: crate::any::AnyFilter,
        backlog: u32,
    ) -> Result<()> {
        let backlog = backlog.min(self.config.somaxconn);
        let opts = match self.user_sock(h)? {
            Sock::Fresh(f) if f.bound.is_none() => f.opts,
            _ => return Err(Error::InvalidInput),
        };
        let v4 = filter.prefixes.iter().all(|p| p.addr.is_ipv4());
        let local = SocketAddr::new(
            if v4 {
                IpAddr::from([0u8; 4])
            } else {
                IpAddr::from([0u8; 16])
            },
            0,
        );
        *self.user_sock(h)? = Sock::Listener(Box::new(Listener {
            local,
            backlog,
            accept_queue: Default::default(),
            syn_queue_len: 0,
            opts,
            last_overflow: None,
            tfo: Default::default(),
            any: Some(filter),
        }));
        self.any_listeners.push(h);
        self.trace(local, unspecified_like(local), State::Closed, State::Listen);
        Ok(())
    }

    /// accept(): the next established connection and its peer, or `EAGAIN`.
    pub fn accept(&mut self, h: SocketHandle) -> Result<(SocketHandle, SocketAddr)> {
        let Sock::Listener(l) = self.user_sock(h)? else {
            return Err(Error::InvalidInput);
        };
        let child = l.accept_queue.pop_front().ok_or(Error::WouldBlock)?;
        let peer = match self.sock_mut(child) {
            Some(Sock::Conn(c)) => c.remote(),
            _ => return Err(Error::ConnectionAborted),
        };
        self.release_held_events(child);
        Ok((child, peer))
    }

    /// connect(): starts the handshake; [`EventKind::Connected`](super::EventKind) or
    /// `Closed` follows. `EISCONN` if connected or listening, `EALREADY` while
    /// connecting, `EADDRNOTAVAIL` when no local address or ephemeral port is free.
    pub fn connect(&mut self, h: SocketHandle, remote: SocketAddr) -> Result<()> {
        let fastopen = match self.user_sock(h)? {
            Sock::Fresh(f) => f.opts.fastopen.connect,
            _ => false,
        };
        self.connect_with(h, remote, fastopen)
    }

    /// connect(), with Fast Open (`tfo`: TCP_FASTOPEN_CONNECT or MSG_FASTOPEN).
    pub(super) fn connect_with(
        &mut self,
        h: SocketHandle,
        remote: SocketAddr,
        tfo: bool,
    ) -> Result<()> {
        let (bound, opts) = match self.user_sock(h)? {
            Sock::Fresh(f) => (f.bound, f.opts),
            Sock::Listener(_) => return Err(Error::AlreadyConnected),
            // A Fast Open connect held back for the first write counts as connected
            // (Linux's __inet_stream_connect with defer_connect).
            Sock::Conn(c) if c.state == State::SynSent && c.tfo.deferred => {
                return Err(Error::AlreadyConnected)
            }
            Sock::Conn(c) if c.state == State::SynSent => return Err(Error::AlreadyInProgress),
            Sock::Conn(_) => return Err(Error::AlreadyConnected),
        };
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Error::InvalidInput);
        }
        let local_ip = match bound {
            Some(a) if !a.ip().is_unspecified() => a.ip(),
            _ => self
                .addrs
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(Error::AddrNotAvailable)?,
        };
        let (local, tw_seed) = match bound {
            Some(a) if a.port() != 0 => {
                let local = SocketAddr::new(local_ip, a.port());
                let tuple = FourTuple { local, remote };
                let seed = self.tuple_usable(&tuple).ok_or(Error::AddrInUse)?;
                (local, seed)
            }
            _ => self
                .pick_ephemeral(local_ip, remote)
                .ok_or(Error::AddrNotAvailable)?,
        };
        let now = self.now;
        let tuple = FourTuple { local, remote };
        if let Some(b) = bound {
            // The connection holds the port from now on (counted with the others).
            self.ports.remove_socket(b.port(), h);
        }
        if let Some((iss, ts)) = tw_seed {
            self.tw_remove(&tuple);
            self.stats.TWRecycled += 1;
            self.trace(local, remote, State::TimeWait, State::Closed);
            let _ = (iss, ts);
        }
        let iss = match tw_seed {
            Some((iss, _)) => iss,
            None => SeqNum(self.isn.isn(now, local, remote)),
        };
        let ts_offset = self.ts_offset(local, remote);
        let conn = self.with_ctx(|ctx| {
            let mut c = Connection::connect(ctx, local, remote, iss, ts_offset, opts);
            if let (Some((_, Some(recent))), Some(ts)) = (tw_seed, c.neg.ts.as_mut()) {
                ts.recent = recent;
            }
            c
        });
        *self.user_sock(h)? = Sock::Conn(conn);
        if tfo {
            self.fastopen_active(h, remote);
        }
        self.conn_insert(tuple, h, opts.reuseaddr);
        self.trace(local, remote, State::Closed, State::SynSent);
        self.with_conn(h, |_, _| ());
        Ok(())
    }

    fn with_ctx<R>(&mut self, f: impl FnOnce(&mut crate::conn::Ctx) -> R) -> R {
        let mut ctx = crate::conn::Ctx {
            now: self.now,
            config: &self.config,
            stats: &mut self.stats,
            ctl: &mut self.ctl,
            challenge: &mut self.challenge,
            orphans: self.orphans.cached(self.now),
            mem: self.budget.view(&self.config.tcp_mem, self.conns.len()),
        };
        f(&mut ctx)
    }

    /// Whether a new connection may use `tuple`: `Some(None)` if it is free,
    /// `Some(Some((isn, ts_recent)))` if a TIME-WAIT entry holds it and `tcp_tw_reuse`
    /// lets us take it over (timestamps on, entry older than one second; Linux's
    /// tcp_twsk_unique), `None` if it is taken.
    #[allow(clippy::type_complexity)]
    fn tuple_usable(&self, tuple: &FourTuple) -> Option<Option<(SeqNum, Option<u32>)>> {
        if self.conn_of(tuple).is_some() || self.requests.contains_key(tuple) {
            return None;
        }
        let Some(tw) = self.time_wait.get(tuple) else {
            return Some(None);
        };
        let reuse = match self.config.tcp_tw_reuse {
            1 => true,
            2 => tuple.remote.ip().is_loopback(),
            _ => false,
        };
        if reuse && tw.ts_offset.is_some() && self.now - tw.ts_stamp >= Duration::from_secs(1) {
            let mut isn = tw.snd_nxt + 65535 + 2;
            if isn == SeqNum(0) {
                isn += 1;
            }
            return Some(Some((isn, Some(tw.ts_recent))));
        }
        None
    }

    /// Linux's __inet_hash_connect: start at a keyed offset for the destination, walk the
    /// range, skip reserved and bound ports and 4-tuples in use (and, among several
    /// engines on one device, ports whose replies would reach another engine:
    /// [`PortSteering`]).
    #[allow(clippy::type_complexity)]
    fn pick_ephemeral(
        &mut self,
        local_ip: IpAddr,
        remote: SocketAddr,
    ) -> Option<(SocketAddr, Option<(SeqNum, Option<u32>)>)> {
        let (lo, hi) = self.config.ip_local_port_range;
        let n = u32::from(hi - lo) + 1;
        let unspecified = SocketAddr::new(local_ip, 0);
        let offset = self
            .keyed_u32(2, unspecified, remote)
            .wrapping_add(self.port_counter);
        for i in 0..n {
            let port = lo + (offset.wrapping_add(i) % n) as u16;
            if self.config.ip_local_reserved_ports.contains(&port) || self.ports.has_sockets(port) {
                continue;
            }
            if self
                .port_steering
                .is_some_and(|s| !s.takes(port, remote.port()))
            {
                continue;
            }
            let local = SocketAddr::new(local_ip, port);
            if let Some(seed) = self.tuple_usable(&FourTuple { local, remote }) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Some((local, seed));
            }
        }
        None
    }

    /// send(): queues bytes; returns how many were taken (`EAGAIN` when the buffer is
    /// full, `EPIPE` after shutdown(SHUT_WR) or on an unconnected socket).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize> {
        self.send_with(h, data, SendFlags::default())
    }

    /// send() with flags: MSG_MORE (`more`) and MSG_EOR (`eor`), as Linux honours them.
    pub fn send_with(&mut self, h: SocketHandle, data: &[u8], flags: SendFlags) -> Result<usize> {
        match self.user_sock(h)? {
            Sock::Conn(_) => {}
            _ => return Err(Error::BrokenPipe),
        }
        self.with_conn(h, |c, ctx| c.send(ctx, data, flags))
            .unwrap_or(Err(Error::BadHandle))
    }

    /// recv(): reads in-order bytes; `Ok(0)` is end of stream, `EAGAIN` means none yet.
    pub fn recv(&mut self, h: SocketHandle, out: &mut [u8]) -> Result<usize> {
        let settled = self.settled(h);
        self.user_conn(h)?;
        // A recv that finds nothing changes nothing (Connection::recv).
        let nothing = |r: &Result<usize>| matches!(r, Err(Error::WouldBlock));
        self.with_conn_lazy(h, settled, |c, ctx| c.recv(ctx, out), nothing)
            .unwrap_or(Err(Error::BadHandle))
    }

    /// shutdown(): half-close (SHUT_WR sends a FIN), stop reading, or both.
    pub fn shutdown(&mut self, h: SocketHandle, how: Shutdown) -> Result<()> {
        let c = self.user_conn(h)?;
        if matches!(c.state, State::Closed) && c.error.is_none() && !c.fin_received {
            return Err(Error::NotConnected);
        }
        self.with_conn(h, |c, ctx| {
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                c.rd_shutdown = true;
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                c.shutdown_write(ctx);
            }
        });
        Ok(())
    }

    /// close(): releases the handle. A connection finishes on its own (FIN, or RST when
    /// unread data is discarded or SO_LINGER is zero); unaccepted connections of a
    /// listener are reset.
    pub fn close(&mut self, h: SocketHandle) -> Result<()> {
        match self.user_sock(h)? {
            Sock::Fresh(f) => {
                if let Some(b) = f.bound {
                    self.ports.remove_socket(b.port(), h);
                }
                self.release(h);
            }
            Sock::Listener(_) => {
                self.stop_listening(h);
                self.release(h);
            }
            Sock::Conn(_) => {
                if let Some(slot) = self.slot_mut(h) {
                    slot.set(super::Slot::USER_CLOSED, true);
                    slot.pending = 0;
                }
                let gone = self
                    .with_conn(h, |c, ctx| {
                        c.close(ctx);
                        c.state == State::Closed
                    })
                    .unwrap_or(false);
                if gone {
                    self.release(h);
                } else {
                    self.check_orphans_on_close(h);
                }
            }
        }
        Ok(())
    }

    /// Aborts a connection with a RST (or closes any other socket), releasing the handle.
    pub fn abort(&mut self, h: SocketHandle) -> Result<()> {
        if let Sock::Conn(c) = self.user_sock(h)? {
            c.opts.linger = Some(Duration::ZERO);
        }
        self.close(h)
    }

    /// setsockopt(). Options set on a listener are inherited by accepted connections.
    pub fn set_option(&mut self, h: SocketHandle, opt: SockOpt) -> Result<()> {
        let (wmem_max, rmem_max) = (self.config.wmem_max, self.config.rmem_max);
        let somaxconn = self.config.somaxconn;
        // Linux's sock_setsockopt: at most [wr]mem_max, doubled (the kernel's bookkeeping
        // overhead), at least SOCK_MIN_[SND|RCV]BUF.
        let linux_size = |v: usize, max: usize, min: usize| v.min(max).saturating_mul(2).max(min);
        let apply = move |o: &mut SockOpts| match opt {
            SockOpt::NoDelay(v) => o.nodelay = v,
            SockOpt::KeepAlive(v) => o.keepalive = v,
            SockOpt::Linger(v) => o.linger = v,
            SockOpt::SendBuffer(v) => o.sndbuf = Some(linux_size(v, wmem_max, SOCK_MIN_SNDBUF)),
            SockOpt::RecvBuffer(v) => o.rcvbuf = Some(linux_size(v, rmem_max, SOCK_MIN_RCVBUF)),
            SockOpt::ReuseAddr(v) => o.reuseaddr = v,
            SockOpt::MaxSegment(v) => o.user_mss = (v > 0).then_some(v),
            SockOpt::Cork(v) => o.cork = v,
            SockOpt::OobInline(v) => o.oobinline = v,
            SockOpt::UserTimeout(v) => o.user_timeout = (!v.is_zero()).then_some(v),
            SockOpt::SynCount(v) => o.syn_retries = Some(v),
            SockOpt::KeepIdle(v) => o.keepidle = Some(v),
            SockOpt::KeepInterval(v) => o.keepintvl = Some(v),
            SockOpt::KeepCount(v) => o.keepcnt = Some(v),
            SockOpt::Linger2(v) => o.linger2 = Some(v),
            // A mode of the connection's ACKs, not a stored option.
            SockOpt::QuickAck(_) => {}
            SockOpt::NotSentLowat(v) => o.notsent_lowat = (v > 0).then_some(v),
            SockOpt::DeferAccept(secs) => {
                o.defer_accept = crate::listen::defer_secs_to_retrans(secs)
            }
            SockOpt::V6Only(v) => o.v6only = v,
            SockOpt::FastOpen(v) => o.fastopen.max_qlen = v.min(somaxconn),
            SockOpt::FastOpenKey(k) => o.fastopen.keys = Some(k),
            SockOpt::FastOpenNoCookie(v) => o.fastopen.no_cookie = v,
            SockOpt::FastOpenConnect(v) => o.fastopen.connect = v,
        };
        let keepalive_time = self.config.tcp_keepalive_time;
        if let SockOpt::FastOpenConnect(_) = opt {
            // Linux's do_tcp_setsockopt: only with the client bit of tcp_fastopen.
            if self.config.tcp_fastopen & crate::fastopen::TFO_CLIENT_ENABLE == 0 {
                return Err(Error::NotSupported);
            }
        }
        let slot = self.slot_mut(h).ok_or(Error::BadHandle)?;
        if slot.has(super::Slot::USER_CLOSED) {
            return Err(Error::BadHandle);
        }
        let sock = slot.sock.as_mut().ok_or(Error::BadHandle)?;
        if let SockOpt::V6Only(_) = opt {
            // Linux: only before bind().
            return match sock {
                Sock::Fresh(f) if f.bound.is_none() => {
                    apply(&mut f.opts);
                    Ok(())
                }
                _ => Err(Error::InvalidInput),
            };
        }
        if let SockOpt::ReuseAddr(v) = opt {
            // The port's holders see the flag as it is now (Linux reads it live).
            let held = match &*sock {
                Sock::Fresh(f) if f.bound.is_some() => f.bound.map(|b| (b.port(), None)),
                Sock::Listener(l) => Some((l.local.port(), None)),
                Sock::Conn(c) if c.opts.reuseaddr != v => {
                    let tuple = FourTuple {
                        local: c.local(),
                        remote: c.remote(),
                    };
                    Some((c.local().port(), Some((tuple, c.opts.reuseaddr))))
                }
                _ => None,
            };
            match held {
                Some((port, None)) => self.ports.set_reuse(port, h, v),
                Some((port, Some((tuple, old)))) if self.conn_of(&tuple).is_some() => {
                    self.ports.count_conn(port, tuple.local.ip(), old, false);
                    self.ports.count_conn(port, tuple.local.ip(), v, true);
                }
                _ => {}
            }
        }
        let slot = self.slot_mut(h).ok_or(Error::BadHandle)?;
        let sock = slot.sock.as_mut().ok_or(Error::BadHandle)?;
        if matches!(sock, Sock::Conn(_))
            && matches!(
                opt,
                SockOpt::FastOpen(_) | SockOpt::FastOpenNoCookie(_) | SockOpt::FastOpenConnect(_)
            )
        {
            // Linux: only in CLOSE (or LISTEN, but for TCP_FASTOPEN_CONNECT).
            return Err(Error::InvalidInput);
        }
        match sock {
            Sock::Fresh(f) => apply(&mut f.opts),
            Sock::Listener(l) => apply(&mut l.opts),
            Sock::Conn(_) => {
                self.with_conn(h, |c, ctx| {
                    apply(&mut c.opts);
                    if let SockOpt::QuickAck(on) = opt {
                        c.set_quickack(ctx, i32::from(on));
                    }
                    if matches!(opt, SockOpt::NoDelay(true) | SockOpt::Cork(false)) {
                        // Linux's TCP_NAGLE_PUSH: send what is queued now.
                        c.push_once = true;
                    }
                    if matches!(opt, SockOpt::SendBuffer(_) | SockOpt::RecvBuffer(_)) {
                        c.apply_buffer_opts();
                    }
                    c.events |= crate::conn::events::SEND_CALL;
                    if c.opts.keepalive && c.state.is_synchronized() {
                        // TCP_KEEPIDLE when set, else tcp_keepalive_time.
                        let idle = c.opts.keepidle.unwrap_or(keepalive_time);
                        c.arm(
                            crate::conn::TimerKind::Keepalive,
                            c.last_recv.max(ctx.now) + idle,
                        );
                    } else if !c.opts.keepalive {
                        c.disarm(crate::conn::TimerKind::Keepalive);
                    }
                });
            }
        }
        Ok(())
    }

    /// getsockopt(): the current value of an option. TCP_MAXSEG reads the MSS in use on
    /// a connection, else the value set or 536 (Linux's TCP_MSS_DEFAULT); the buffer
    /// sizes read what the socket has now.
    pub fn get_option(&mut self, h: SocketHandle, name: SockOptName) -> Result<SockOpt> {
        let (wmem, rmem) = (self.config.tcp_wmem[1], self.config.tcp_rmem[1]);
        let config = self.config.clone();
        let (o, conn_info) = match self.user_sock(h)? {
            Sock::Fresh(f) => (f.opts, None),
            Sock::Listener(l) => (l.opts, None),
            Sock::Conn(c) => (
                *c.opts,
                Some((
                    c.mss,
                    c.state.is_synchronized() || c.state == State::SynReceived,
                    c.sndbuf(),
                    c.rs.rcvbuf as usize,
                    c.quickack_opt(config.tcp_pingpong_thresh),
                )),
            ),
        };
        Ok(match name {
            SockOptName::NoDelay => SockOpt::NoDelay(o.nodelay),
            SockOptName::KeepAlive => SockOpt::KeepAlive(o.keepalive),
            SockOptName::Linger => SockOpt::Linger(o.linger),
            SockOptName::SendBuffer => {
                SockOpt::SendBuffer(o.sndbuf.or(conn_info.map(|c| c.2)).unwrap_or(wmem))
            }
            SockOptName::RecvBuffer => {
                SockOpt::RecvBuffer(o.rcvbuf.or(conn_info.map(|c| c.3)).unwrap_or(rmem))
            }
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(o.reuseaddr),
            SockOptName::MaxSegment => SockOpt::MaxSegment(match conn_info {
                Some((mss, true, _, _, _)) => mss as u16,
                _ => o.user_mss.unwrap_or(536),
            }),
            SockOptName::Cork => SockOpt::Cork(o.cork),
            SockOptName::OobInline => SockOpt::OobInline(o.oobinline),
            SockOptName::UserTimeout => {
                SockOpt::UserTimeout(o.user_timeout.unwrap_or(Duration::ZERO))
            }
            SockOptName::SynCount => SockOpt::SynCount(o.syn_retries(&config)),
            SockOptName::KeepIdle => SockOpt::KeepIdle(o.keepalive_time(&config)),
            SockOptName::KeepInterval => SockOpt::KeepInterval(o.keepalive_intvl(&config)),
            SockOptName::KeepCount => SockOpt::KeepCount(o.keepalive_probes(&config)),
            SockOptName::Linger2 => SockOpt::Linger2(o.fin_timeout(&config)),
            SockOptName::QuickAck => SockOpt::QuickAck(conn_info.is_some_and(|c| c.4)),
            SockOptName::NotSentLowat => SockOpt::NotSentLowat(o.notsent_lowat.unwrap_or(0)),
            SockOptName::DeferAccept => {
                SockOpt::DeferAccept(crate::listen::defer_retrans_to_secs(o.defer_accept))
            }
            SockOptName::V6Only => SockOpt::V6Only(o.v6only),
            SockOptName::FastOpen => SockOpt::FastOpen(o.fastopen.max_qlen),
            SockOptName::FastOpenKey => SockOpt::FastOpenKey(self.fastopen_keys(&o)),
            SockOptName::FastOpenNoCookie => SockOpt::FastOpenNoCookie(o.fastopen.no_cookie),
            SockOptName::FastOpenConnect => SockOpt::FastOpenConnect(o.fastopen.connect),
        })
    }

    /// getsockopt(SO_ERROR): the pending error of a failed connection, which this
    /// reports once and clears, as Linux does.
    pub fn socket_error(&mut self, h: SocketHandle) -> Result<Option<Error>> {
        Ok(match self.user_sock(h)? {
            // Linux's SO_ERROR: the error, or else the soft error, each read once.
            Sock::Conn(c) => c.pending_error.take().or_else(|| c.soft_error.take()),
            _ => None,
        })
    }

    /// The local address of a bound, listening or connected socket.
    pub fn local_addr(&mut self, h: SocketHandle) -> Result<SocketAddr> {
        match self.user_sock(h)? {
            Sock::Fresh(f) => f.bound.ok_or(Error::InvalidInput),
            Sock::Listener(l) => Ok(l.local),
            Sock::Conn(c) => Ok(c.local()),
        }
    }

    /// The peer of a connected socket (`ENOTCONN` otherwise).
    pub fn peer_addr(&mut self, h: SocketHandle) -> Result<SocketAddr> {
        Ok(self.user_conn(h)?.remote())
    }

    /// The state of a socket: LISTEN, a connection's state, CLOSED for fresh sockets.
    pub fn state(&self, h: SocketHandle) -> Result<State> {
        let slot = self.slot(h).ok_or(Error::BadHandle)?;
        Ok(match slot.sock.as_ref() {
            Some(Sock::Conn(c)) => c.state,
            Some(Sock::Listener(_)) => State::Listen,
            _ => State::Closed,
        })
    }

    /// Bytes that send() would take now.
    pub fn send_capacity(&mut self, h: SocketHandle) -> Result<usize> {
        let lowat = self.config.tcp_notsent_lowat;
        Ok(self.user_conn(h)?.send_space(lowat))
    }

    /// Bytes waiting to be read.
    pub fn recv_queue(&mut self, h: SocketHandle) -> Result<usize> {
        Ok(self.user_conn(h)?.recv_buf.len())
    }
}

/// The `*:*` peer of a listener, in the listener's address family.
pub(super) fn unspecified_like(local: SocketAddr) -> SocketAddr {
    let ip = if local.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u8; 16])
    };
    SocketAddr::new(ip, 0)
}
