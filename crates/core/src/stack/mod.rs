//! The stack: sockets, demultiplexing, listeners, TIME-WAIT, timers and the sans-IO
//! entry points.
//!
//! # Call order
//!
//! A driver loops:
//! 1. feed every received datagram to [`Stack::handle_packet`] (a batch, so that ACKs
//!    coalesce), and call [`Stack::handle_timeout`] when [`Stack::poll_timeout`]'s instant
//!    has come;
//! 2. drain [`Stack::poll_transmit`] until it returns `Ok(None)`, sending each datagram
//!    (a buffer of the MTU never gets [`BufferTooSmall`]);
//! 3. drain [`Stack::poll_event`] and act on the sockets (send, recv, accept, ...);
//! 4. sleep until the next datagram or [`Stack::poll_timeout`].
//!
//! Any order is harmless: a late call only delays what the stack would have done. Socket
//! calls take effect at the time of the latest `handle_*` or `poll_transmit` call.

mod api;
pub(crate) mod budget;
mod disconnect;
mod ecn;
mod fastopen;
mod icmp;
mod input;
mod lend;
mod offload;
pub(crate) mod orphans;
mod ports;
mod ready;
mod reclaim;
mod routes;
mod transmit;
mod urgent;

pub use offload::{RxOffload, Transmit, TxOffload};
pub use ports::PortSteering;

use crate::conn::flag;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use synack_wire::{checksum, IpRepr, TcpPacket, IPPROTO_TCP};

use crate::config::Config;
use crate::conn::{ChallengeBudget, Connection, Ctx};
use crate::demux::{ConnTable, Demux};
use crate::hash::FastState as KeyedState;
use crate::isn::IsnGenerator;
use crate::listen::{Listener, RequestSock};
use crate::segment::CtlQueue;
use crate::state::State;
use crate::stats::Stats;
use crate::time::Instant;
use crate::time_wait::TimeWait;
use crate::tw_table::TimeWaitTable;
use crate::wheel::{TimerId, Wheel};

pub use crate::conn::SendFlags;
pub use api::{Shutdown, SockOpt, SockOptName};
pub use ready::Readiness;
pub use transmit::BufferTooSmall;

/// Names a socket of a [`Stack`]. Handles are not reused while the socket lives; a stale
/// handle gets `EBADF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl SocketHandle {
    /// A number for display (`ss`-style listings show it as the socket's inode).
    pub fn id(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
}

/// What happened on a socket, for the application to act on.
///
/// # Order
///
/// [`Stack::poll_event`] reports events in an order a program can rely on:
/// - A listener's [`EventKind::Incoming`] comes before any event of the connection it
///   announces: a passive connection's events are held until [`Stack::accept`] returns
///   its handle, then delivered (so data that came with the handshake gives a
///   `Readable` after `accept`, never before `Incoming`).
/// - Sockets are reported in the order they first had something to report; one socket's
///   pending events come together in the order `Connected`, `Incoming`, `Readable`,
///   `Writable`, `Closed`. `Closed` is a connection's last event.
/// - `Readable` is reported each time data, the end of the stream or an error arrives.
/// - `Writable` is reported when the socket *becomes* writable (see
///   [`Readiness::writable`]): when the handshake completes, when acknowledgments free a
///   third of a send buffer that was too full, when the connection ends. It is not
///   repeated while the socket stays writable.
///
/// Events are hints to act on; [`Stack::readiness`] says what each socket is ready for
/// at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The socket.
    pub socket: SocketHandle,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The handshake completed: the socket is connected.
    Connected,
    /// A listener has a connection to accept.
    Incoming,
    /// Data or end of stream can be read.
    Readable,
    /// The socket became writable (edge-triggered; see [`Event`]'s order).
    Writable,
    /// The connection ended; `Some` carries the error the calls now return.
    Closed(Option<crate::error::Error>),
}

/// One state transition of a connection, reported when tracing is on
/// ([`Stack::set_trace_transitions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When it happened.
    pub at: Instant,
    /// Local address of the connection.
    pub local: SocketAddr,
    /// Remote address of the connection.
    pub remote: SocketAddr,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
}

/// The two ends of a connection: the demultiplexing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl std::hash::Hash for FourTuple {
    /// Two or three words instead of std's field-by-field walk of `SocketAddr`.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let ports = (u32::from(self.local.port()) << 16) | u32::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                h.write_u64((u64::from(u32::from(l)) << 32) | u64::from(u32::from(r)));
                h.write_u32(ports);
            }
            (l, r) => {
                for ip in [l, r] {
                    let v = match ip {
                        IpAddr::V4(v4) => u128::from(u32::from(v4)),
                        IpAddr::V6(v6) => u128::from(v6),
                    };
                    h.write_u64(v as u64);
                    h.write_u64((v >> 64) as u64);
                }
                h.write_u32(ports);
            }
        }
    }
}

/// What lives in a socket slot.
pub(crate) enum Sock {
    /// Created, maybe bound, not yet listening or connected.
    Fresh(Box<FreshSock>),
    /// Listening.
    Listener(Box<Listener>),
    /// A connection (in any state from SYN-SENT to CLOSED).
    Conn(Box<Connection>),
}

/// A socket created, maybe bound, not yet listening or connected.
#[derive(Default)]
pub(crate) struct FreshSock {
    /// The address of bind(), if called.
    pub bound: Option<SocketAddr>,
    /// Options set so far.
    pub opts: crate::conn::SockOpts,
}

pub(crate) struct Slot {
    generation: u32,
    sock: Option<Sock>,
    /// Event bits not yet reported (see `EV_*`).
    pending: u8,
    /// The bits of [`Slot::USER_CLOSED`] and the other flags below (two bytes, not nine
    /// booleans: issue 9's memory budget).
    flags: u16,
    /// This socket's entry in the timer wheel: the earliest deadline it asked for since
    /// the entry last fired.
    timer: Option<TimerId>,
}

impl Slot {
    /// The user closed the handle; the socket lives on until its connection ends.
    pub(crate) const USER_CLOSED: u16 = 1;
    /// The handle is in the event queue.
    pub(crate) const QUEUED: u16 = 2;
    /// The handle is in the transmit queue.
    pub(crate) const DIRTY: u16 = 4;
    /// Whether this connection is counted in CurrEstab.
    pub(crate) const COUNTED_ESTAB: u16 = 8;
    /// Whether this connection is counted as an orphan (orphans.rs).
    pub(crate) const COUNTED_ORPHAN: u16 = 16;
    /// accept() returned this passive connection (its events are held until then).
    pub(crate) const ACCEPTED: u16 = 32;
    /// Whether the socket was writable when last looked at (`Writable` is reported on
    /// the change to writable only; ready.rs).
    pub(crate) const WRITABLE: u16 = 64;
    /// Nothing touched the connection since `after_conn` last ran on it, so running it
    /// again would change nothing but the transmit queue (see [`Stack::settled`]).
    pub(crate) const SETTLED: u16 = 128;
    /// The connection is in the queue of drained rings to give back when idle
    /// (reclaim.rs).
    pub(crate) const RECLAIM: u16 = 256;

    /// Whether `flag` is set.
    #[inline]
    pub(crate) fn has(&self, flag: u16) -> bool {
        has_flag(self.flags, flag)
    }

    /// Sets or clears `flag`.
    #[inline]
    pub(crate) fn set(&mut self, flag: u16, on: bool) {
        set_flag(&mut self.flags, flag, on);
    }
}

/// Whether `flag` is set in a slot's `flags` (for a caller that holds its socket too).
#[inline]
fn has_flag(flags: u16, flag: u16) -> bool {
    flags & flag != 0
}

/// Sets or clears `flag` in a slot's `flags` (for a caller that holds its socket too).
#[inline]
fn set_flag(flags: &mut u16, flag: u16, on: bool) {
    if on {
        *flags |= flag;
    } else {
        *flags &= !flag;
    }
}

/// Whether slot `index` holds a connection with the tuple `t` (the connection table's
/// key comparison).
#[inline]
fn holds(slots: &[Slot], index: u32, p: &crate::demux::Probe) -> bool {
    matches!(
        slots.get(index as usize).and_then(|s| s.sock.as_ref()),
        Some(Sock::Conn(c)) if crate::demux::same_tuple(&c.addrs, p)
    )
}

impl TimerRef {
    /// The entry of request record `id`.
    fn request(id: u64) -> TimerRef {
        TimerRef::Request([(id >> 32) as u32, id as u32])
    }
}

const EV_CONNECTED: u8 = 1;
const EV_INCOMING: u8 = 2;
const EV_READABLE: u8 = 4;
const EV_WRITABLE: u8 = 8;
const EV_CLOSED: u8 = 16;

/// Something with a deadline in the timer wheel. Twelve bytes, aligned to four, so that
/// a wheel entry is 32 bytes (issue 9's memory budget): a request id is kept as two
/// halves, high first, which order as the `u64` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Socket(SocketHandle),
    Request([u32; 2]),
    /// A deadline its owner no longer needs (it asked for an earlier one, closed, or
    /// went away). It does nothing when it fires but still wakes the driver at its
    /// instant ([`Stack::poll_timeout`]), as the binary heap of `(instant, owner)` that
    /// the wheel replaced did: drivers that step the application only when the stack
    /// wakes them (the labs) see the same instants, so their outputs stay byte for
    /// byte the same. It leaves the wheel when it fires, like the heap's entry did.
    Wake,
}

/// A user-space TCP/IP stack: the engine. See the module documentation for the call
/// order, and [`Config`] for its knobs.
pub struct Stack {
    config: Config,
    addrs: Vec<IpAddr>,
    /// Directed broadcast addresses of our IPv4 subnets (from address prefixes).
    broadcasts: Vec<std::net::Ipv4Addr>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Connections by four-tuple, as slot indices (the tuple is the connection's own).
    conns: ConnTable,
    requests: Demux<RequestSock>,
    /// Request tuples by id, for the timer heap (ids are never reused).
    request_ids: HashMap<u64, FourTuple, KeyedState>,
    next_request_id: u64,
    time_wait: TimeWaitTable,
    /// Per-peer timestamps for the historical `tcp_tw_recycle`.
    tw_recycle: crate::tw_recycle::PeerStamps,
    listeners: HashMap<u16, Vec<SocketHandle>, KeyedState>,
    /// Any-address listeners ([`Stack::listen_any`]), oldest first.
    any_listeners: Vec<SocketHandle>,
    /// Who holds each local port: bound and listening sockets, connections and
    /// TIME-WAIT entries (Linux's bind buckets, which is why a restarted server needs
    /// SO_REUSEADDR).
    ports: ports::Ports,
    /// Timers of connections and request records (TIME-WAIT keeps its own deadline
    /// order, threaded through its packed records: tw_table.rs).
    timers: Wheel<TimerRef>,
    tx_queue: VecDeque<SocketHandle>,
    /// Connections with a drained ring, and when each was last active (reclaim.rs).
    reclaim: VecDeque<(SocketHandle, Instant)>,
    /// The pages of ring memory charged against `tcp_mem` (budget.rs).
    budget: budget::Budget,
    ctl: CtlQueue,
    events: VecDeque<SocketHandle>,
    transitions: Option<VecDeque<Transition>>,
    stats: Stats,
    isn: IsnGenerator,
    cookies: crate::syncookie::SynCookies,
    secret: [u8; 16],
    /// The Fast Open key used while `tcp_fastopen_key` is unset (Linux draws one at
    /// random on first use).
    tfo_key: [u8; 16],
    /// The client's Fast Open cookie cache, by destination address (Linux's
    /// tcp_metrics).
    tfo_cache: std::collections::HashMap<IpAddr, crate::fastopen::CacheEntry>,
    challenge: ChallengeBudget,
    port_counter: u32,
    /// The ephemeral ports this engine may pick among several on one device.
    port_steering: Option<PortSteering>,
    now: Instant,
    /// A connection's datagram that did not fit the caller's buffer (transmit.rs).
    stashed: Option<transmit::Stashed>,
    /// ICMP datagrams to send and the ICMP rate limiter (icmp.rs).
    icmp: icmp::IcmpState,
    /// The last IPv4 identification used (only without DF: `ip_no_pmtu_disc`).
    ip_ident: u16,
    /// The GSO segment size of the datagram being handled (0: not a GSO packet); see
    /// [`Stack::handle_packet_gso`].
    rx_gso: u16,
    /// The ECN field of the TCP datagram being handled (RFC 3168 5).
    rx_ecn: synack_wire::Ecn,
    /// Orphaned connections, counted for `tcp_max_orphans` (orphans.rs).
    orphans: orphans::Orphans,
    /// The device vouched for the TCP checksum of the datagram being handled (see
    /// [`Stack::handle_packet_offload`]).
    rx_csum_ok: bool,
    /// Checksum offload and segmentation state of the transmit path (offload.rs).
    tx: offload::TxState,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("addrs", &self.addrs)
            .field("connections", &self.conns.len())
            .field("time_wait", &self.time_wait.len())
            .field("requests", &self.requests.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

/// The engine's secrets: key material for the keyed hashes, the demultiplexing tables,
/// ISNs and SYN cookies (five 16-byte keys).
fn secrets(seed: Option<u64>) -> [[u8; 16]; 5] {
    match seed {
        Some(seed) => core::array::from_fn(|i| expand_seed(seed, i as u64 + 1)),
        None => {
            let mut keys = [[0u8; 16]; 5];
            for k in &mut keys {
                // As std's RandomState does, a stack cannot be made without the OS's
                // random source.
                getrandom::fill(k).expect("the operating system's random source failed");
            }
            keys
        }
    }
}

/// Expands a 64-bit seed into key material (splitmix64), for seeded configurations.
fn expand_seed(seed: u64, salt: u64) -> [u8; 16] {
    let mut x = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

impl Default for Stack {
    /// A stack with Linux's defaults and no addresses.
    fn default() -> Stack {
        Stack::new(Config::default())
    }
}

impl Stack {
    /// A stack with `config` and no addresses yet (see [`Stack::add_address`]). Its
    /// secrets come from the operating system's random source, or from the seed of a
    /// [`Config::seeded`] configuration (see [`Config::seed`]).
    ///
    /// # Panics
    ///
    /// If the operating system's random source fails (as std's `RandomState` does).
    pub fn new(config: Config) -> Stack {
        let [secret, hash_key, isn_key, cookie_a, cookie_b] = secrets(config.seed);
        let hasher = KeyedState::new(hash_key);
        Stack {
            isn: IsnGenerator::new(isn_key),
            cookies: crate::syncookie::SynCookies::new(cookie_a, cookie_b),
            config,
            addrs: Vec::new(),
            broadcasts: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            conns: ConnTable::new(hasher),
            requests: Demux::new(hasher),
            request_ids: HashMap::with_hasher(hasher),
            next_request_id: 0,
            time_wait: TimeWaitTable::new(hasher, secret),
            tw_recycle: Default::default(),
            listeners: HashMap::with_hasher(hasher),
            any_listeners: Vec::new(),
            ports: ports::Ports::new(hasher),
            timers: Wheel::new(),
            tx_queue: VecDeque::new(),
            reclaim: VecDeque::new(),
            budget: budget::Budget::default(),
            ctl: CtlQueue::default(),
            events: VecDeque::new(),
            transitions: None,
            stats: Stats::default(),
            tfo_key: {
                let a = crate::isn::siphash24(&secret, b"tcp_fastopen_key 0");
                let b = crate::isn::siphash24(&secret, b"tcp_fastopen_key 1");
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&a.to_le_bytes());
                k[8..].copy_from_slice(&b.to_le_bytes());
                k
            },
            secret,
            tfo_cache: Default::default(),
            challenge: ChallengeBudget::default(),
            port_counter: 0,
            port_steering: None,
            now: Instant::ZERO,
            stashed: None,
            icmp: Default::default(),
            ip_ident: 0,
            rx_gso: 0,
            rx_ecn: synack_wire::Ecn::NotEct,
            orphans: orphans::Orphans::default(),
            rx_csum_ok: false,
            tx: offload::TxState::default(),
        }
    }

    /// Adds a local address: datagrams to it are ours, and it can be bound.
    pub fn add_address(&mut self, addr: IpAddr) {
        if !self.addrs.contains(&addr) {
            self.addrs.push(addr);
        }
    }

    /// Adds a local address with its prefix length, as `ip addr add 10.0.0.1/24` does:
    /// besides what [`Stack::add_address`] does, the subnet's broadcast address (for
    /// IPv4 prefixes shorter than /31) becomes known, and datagrams from it are dropped
    /// as martians.
    pub fn add_address_prefix(&mut self, addr: IpAddr, prefix_len: u8) {
        self.add_address(addr);
        if let IpAddr::V4(v4) = addr {
            if prefix_len < 31 {
                let host_bits = u32::MAX >> prefix_len;
                let bcast = std::net::Ipv4Addr::from(u32::from(v4) | host_bits);
                if !self.broadcasts.contains(&bcast) {
                    self.broadcasts.push(bcast);
                }
            }
        }
    }

    /// The local addresses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration, to change knobs at run time (as `sysctl -w` does); changes
    /// apply to what happens next.
    pub fn config_mut(&mut self) -> &mut Config {
        // A knob may change what after_conn decides (writability, for one).
        for slot in &mut self.slots {
            slot.set(Slot::SETTLED, false);
        }
        &mut self.config
    }

    /// The counters (`netstat -s`).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Turns the state-transition trace on or off (see [`Stack::poll_transition`]).
    pub fn set_trace_transitions(&mut self, on: bool) {
        self.transitions = on.then(VecDeque::new);
    }

    /// The next recorded state transition, oldest first.
    pub fn poll_transition(&mut self) -> Option<Transition> {
        self.transitions.as_mut()?.pop_front()
    }

    /// The latest time the stack has been told about.
    pub fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn sock_and_flag(&self, h: SocketHandle) -> Option<(&Sock, bool)> {
        let slot = self.slot(h)?;
        Some((slot.sock.as_ref()?, slot.has(Slot::USER_CLOSED)))
    }

    pub(crate) fn handles(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.sock.as_ref().map(|_| SocketHandle {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    pub(crate) fn requests_iter(
        &self,
    ) -> impl Iterator<Item = (SocketAddr, SocketAddr, Instant, u32)> + '_ {
        self.requests
            .values()
            .map(|r| (r.local, r.remote, r.deadline, r.retransmits))
    }

    pub(crate) fn time_wait_iter(
        &self,
    ) -> impl Iterator<Item = (SocketAddr, SocketAddr, Instant)> + '_ {
        self.time_wait
            .iter()
            .map(|(t, tw)| (t.local, t.remote, tw.expires))
    }

    /// How many timers the TIME-WAIT expiry structure holds (introspection for tests of
    /// its memory bound: at most one per TIME-WAIT entry).
    #[doc(hidden)]
    pub fn time_wait_timers(&self) -> usize {
        self.time_wait.timers()
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn trace(&mut self, local: SocketAddr, remote: SocketAddr, from: State, to: State) {
        if from == to {
            return;
        }
        if let Some(t) = self.transitions.as_mut() {
            t.push_back(Transition {
                at: self.now,
                local,
                remote,
                from,
                to,
            });
        }
    }

    /// A keyed pseudo-random 32-bit value for `data` (timestamp offsets, port offsets).
    /// The timestamp offset of a connection: keyed by the two addresses only, not the
    /// ports, as Linux's secure_tcp_ts_off(saddr, daddr) is, so every connection between
    /// two hosts reads one clock (what PAWS across connections and tcp_tw_reuse rely on).
    fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        crate::isn::ts_offset(&self.secret, local.ip(), remote.ip())
    }

    fn keyed_u32(&self, salt: u8, local: SocketAddr, remote: SocketAddr) -> u32 {
        crate::isn::keyed_u32(&self.secret, salt, local, remote)
    }

    // ----- sans-IO: time -----

    /// The next instant at which [`Stack::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let heap = self.timers.next_deadline();
        let tw = self.time_wait.next_deadline();
        match (heap, tw) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tells the engine the time without running the timers that are due. A driver
    /// calls it for a socket call made between its passes over the device: the device
    /// may still hold datagrams that arrived before those deadlines (an ACK that
    /// cancels a retransmission), which the driver reads before it runs the timers
    /// with [`Stack::handle_timeout`], as Linux processes a segment when it arrives.
    pub fn advance_clock(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some((at, target)) = self.timers.pop_due(now) {
            match target {
                TimerRef::Socket(h) => self.socket_timer(h, at),
                TimerRef::Request([hi, lo]) => {
                    self.request_timer((u64::from(hi) << 32) | u64::from(lo))
                }
                TimerRef::Wake => {}
            }
        }
        self.timers.advance_to(now);
        while let Some((tuple, tw)) = self.time_wait.pop_expired(now) {
            self.ports
                .count_conn(tuple.local.port(), tuple.local.ip(), tw.reuse, false);
            self.trace(tuple.local, tuple.remote, State::TimeWait, State::Closed);
        }
        self.reclaim_idle(self.reclaim.len());
    }

    fn socket_timer(&mut self, h: SocketHandle, at: Instant) {
        let Some(slot) = self.slot_mut(h) else {
            return;
        };
        slot.timer = None;
        let _ = at;
        self.with_conn(h, |conn, ctx| {
            if conn.next_deadline().is_some_and(|d| d <= ctx.now) {
                conn.on_timeout(ctx);
            }
        });
    }

    fn request_timer(&mut self, id: u64) {
        let Some(&tuple) = self.request_ids.get(&id) else {
            return;
        };
        let now = self.now;
        let Some(req) = self.requests.get_mut(&tuple) else {
            self.request_ids.remove(&id);
            return;
        };
        req.timer = None;
        if req.deadline > now {
            req.timer = Some(self.timers.insert(req.deadline, TimerRef::request(id)));
            return;
        }
        match req.on_timeout(&self.config, now) {
            crate::listen::SynAckTimer::Expire => self.drop_request(&tuple, id),
            resend => {
                let at = req.deadline;
                if resend == crate::listen::SynAckTimer::Resend {
                    let synack = req.syn_ack(&self.config, now);
                    self.ctl.push(synack);
                }
                req.timer = Some(self.timers.insert(at, TimerRef::request(id)));
            }
        }
    }

    fn drop_request(&mut self, tuple: &FourTuple, id: u64) {
        self.request_ids.remove(&id);
        if let Some(req) = self.requests.remove(tuple) {
            if let Some(t) = req.timer {
                self.timers.set_item(t, TimerRef::Wake);
            }
            if let Some(Sock::Listener(l)) = self.sock_mut(req.listener) {
                l.syn_queue_len = l.syn_queue_len.saturating_sub(1);
            }
            self.trace(req.local, req.remote, State::SynReceived, State::Closed);
        }
    }

    // ----- sans-IO: transmit (transmit.rs) -----

    // ----- sans-IO: events -----

    /// The next application event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some(&h) = self.events.front() {
            let Some(slot) = self.slot_mut(h) else {
                self.events.pop_front();
                continue;
            };
            let bit = slot.pending & slot.pending.wrapping_neg();
            if bit == 0 {
                slot.set(Slot::QUEUED, false);
                self.events.pop_front();
                continue;
            }
            slot.pending &= !bit;
            let kind = match bit {
                EV_CONNECTED => EventKind::Connected,
                EV_INCOMING => EventKind::Incoming,
                EV_READABLE => EventKind::Readable,
                EV_WRITABLE => EventKind::Writable,
                _ => EventKind::Closed(match &slot.sock {
                    Some(Sock::Conn(c)) => c.error,
                    _ => None,
                }),
            };
            return Some(Event { socket: h, kind });
        }
        None
    }

    fn notify(&mut self, h: SocketHandle, bits: u8) {
        if bits == 0 {
            return;
        }
        let Some(slot) = self.slot_mut(h) else {
            return;
        };
        if slot.has(Slot::USER_CLOSED) {
            return;
        }
        slot.pending |= bits;
        if ready::held(slot) {
            return;
        }
        if !slot.has(Slot::QUEUED) {
            slot.set(Slot::QUEUED, true);
            self.events.push_back(h);
        }
    }

    // ----- slots -----

    fn slot(&self, h: SocketHandle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation && s.sock.is_some())
    }

    /// The slot behind `h`, to change: its connection is no longer settled.
    fn slot_mut(&mut self, h: SocketHandle) -> Option<&mut Slot> {
        let slot = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation && s.sock.is_some())?;
        slot.set(Slot::SETTLED, false);
        Some(slot)
    }

    /// Whether the connection behind `h` is settled: `after_conn` ran after the last
    /// change to it or to its slot. Every way to change a connection outside
    /// [`Stack::with_conn`] goes through [`Stack::slot_mut`] (or
    /// [`Stack::config_mut`]), which unsettles it. `after_conn` is idempotent: on a
    /// settled connection it would only queue it for transmission, so a call that
    /// changed nothing (a `recv` that found nothing, a transmit pass with nothing to
    /// send) can skip it (issue 9: work proportional to what happened).
    fn settled(&self, h: SocketHandle) -> bool {
        self.slots
            .get(h.index as usize)
            .is_some_and(|s| s.generation == h.generation && s.has(Slot::SETTLED))
    }

    fn sock_mut(&mut self, h: SocketHandle) -> Option<&mut Sock> {
        self.slot_mut(h)?.sock.as_mut()
    }

    fn alloc(&mut self, sock: Sock) -> SocketHandle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    sock: None,
                    pending: 0,
                    flags: 0,
                    timer: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.sock = Some(sock);
        slot.pending = 0;
        // Every flag clear. A stale entry of the slot's previous socket may still sit
        // in the event queue (poll_event skips it); the new socket must queue its own.
        slot.flags = 0;
        slot.timer = None;
        SocketHandle {
            index,
            generation: slot.generation,
        }
    }

    fn release(&mut self, h: SocketHandle) {
        if let Some(slot) = self.slot_mut(h) {
            if let Some(t) = slot.timer.take() {
                self.timers.set_item(t, TimerRef::Wake);
            }
            let slot = &mut self.slots[h.index as usize];
            if let Some(Sock::Conn(conn)) = slot.sock.as_mut() {
                self.budget
                    .uncharge(conn, self.now, &self.config.tcp_mem, &mut self.stats);
            }
            slot.sock = None;
            slot.generation = slot.generation.wrapping_add(1);
            slot.pending = 0;
            self.free.push(h.index);
        }
    }

    /// Runs `f` on the connection behind `h` with a context, then does the stack's
    /// bookkeeping: state transitions, events, timers, transmit queue, TIME-WAIT and
    /// teardown. Returns `None` if `h` is not a connection.
    fn with_conn<R>(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&mut Connection, &mut Ctx) -> R,
    ) -> Option<R> {
        let now = self.now;
        let slot = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)?;
        let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
            return None;
        };
        let before = conn.state;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            stats: &mut self.stats,
            ctl: &mut self.ctl,
            challenge: &mut self.challenge,
            orphans: self.orphans.cached(now),
            rx: crate::conn::Rx::NONE,
            mem: self.budget.view(&self.config.tcp_mem, self.conns.len()),
        };
        let r = f(conn, &mut ctx);
        self.after_conn(h, before);
        Some(r)
    }

    /// [`Stack::with_conn`] for a call that changed nothing when `unchanged` says so of
    /// its result: on a connection that was `settled` before the call, after_conn would
    /// then only queue it for transmission, and that is all that is done.
    fn with_conn_lazy<R>(
        &mut self,
        h: SocketHandle,
        settled: bool,
        f: impl FnOnce(&mut Connection, &mut Ctx) -> R,
        unchanged: impl FnOnce(&R) -> bool,
    ) -> Option<R> {
        let now = self.now;
        let slot = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)?;
        let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
            return None;
        };
        let before = conn.state;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            stats: &mut self.stats,
            ctl: &mut self.ctl,
            challenge: &mut self.challenge,
            orphans: self.orphans.cached(now),
            rx: crate::conn::Rx::NONE,
            mem: self.budget.view(&self.config.tcp_mem, self.conns.len()),
        };
        let r = f(conn, &mut ctx);
        if settled && unchanged(&r) {
            slot.set(Slot::SETTLED, true);
            if !slot.has(Slot::DIRTY) {
                slot.set(Slot::DIRTY, true);
                self.tx_queue.push_back(h);
            }
            #[cfg(debug_assertions)]
            self.check_settled(h, before);
        } else {
            self.after_conn(h, before);
        }
        Some(r)
    }

    /// Debug builds: what after_conn may change, for [`Stack::check_settled`].
    #[cfg(debug_assertions)]
    pub(super) fn settle_snapshot(&self, h: SocketHandle) -> impl PartialEq + std::fmt::Debug {
        let slot = &self.slots[h.index as usize];
        (
            (
                slot.pending,
                slot.has(Slot::QUEUED),
                slot.has(Slot::DIRTY),
                slot.timer,
            ),
            (
                slot.has(Slot::COUNTED_ESTAB),
                slot.has(Slot::COUNTED_ORPHAN),
                slot.has(Slot::WRITABLE),
                slot.has(Slot::USER_CLOSED),
            ),
            (
                self.tx_queue.len(),
                self.events.len(),
                self.timers.len(),
                self.orphans.live(),
            ),
            (
                self.stats.CurrEstab,
                self.stats.TW,
                self.time_wait.len(),
                self.conns.len(),
            ),
        )
    }

    /// Debug builds: runs the after_conn that a settled connection skips, and panics
    /// unless it changed nothing.
    #[cfg(debug_assertions)]
    pub(super) fn check_settled(&mut self, h: SocketHandle, before: State) {
        let was = self.settle_snapshot(h);
        self.after_conn(h, before);
        assert_eq!(
            was,
            self.settle_snapshot(h),
            "Stack::settled: after_conn changed a settled connection; whatever changed it \
             must go through slot_mut or with_conn"
        );
    }

    /// Bookkeeping after anything touched a connection.
    fn after_conn(&mut self, h: SocketHandle, before: State) {
        let slot = &mut self.slots[h.index as usize];
        let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
            return;
        };
        let after = conn.state;
        // Fast Open state is out of line, and its default holds neither link.
        if conn.tfo.is_set() && self.after_conn_fastopen(h, before) {
            return;
        }
        let slot = &mut self.slots[h.index as usize];
        let flags = &mut slot.flags;
        let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
            return;
        };
        let drained = reclaim::drained(conn).then(|| reclaim::last_active(conn));
        self.budget
            .settle(conn, self.now, &self.config.tcp_mem, &mut self.stats);
        let bits = std::mem::take(&mut conn.events);
        let estab = matches!(after, State::Established | State::CloseWait);
        if estab != has_flag(*flags, Slot::COUNTED_ESTAB) {
            set_flag(flags, Slot::COUNTED_ESTAB, estab);
            if estab {
                self.stats.CurrEstab += 1;
            } else {
                self.stats.CurrEstab = self.stats.CurrEstab.saturating_sub(1);
            }
        }
        let orphan =
            has_flag(*flags, Slot::USER_CLOSED) && orphans::counts(conn, after, &self.config);
        if orphan != has_flag(*flags, Slot::COUNTED_ORPHAN) {
            set_flag(flags, Slot::COUNTED_ORPHAN, orphan);
            self.orphans.count(self.now, orphan);
        }
        let mut ev = 0;
        if bits & crate::conn::events::READABLE != 0 {
            ev |= EV_READABLE;
        }
        // Writable is reported on the change to writable only (ready.rs). As Linux's
        // SOCK_NOSPACE, the lack of room counts once the program met it (a call on the
        // send side, or before the handshake): the room the send queue's own chunking
        // takes while data goes out and is acknowledged wakes nobody.
        // An established connection already known writable, with no send-side call,
        // changes nothing here whatever the answer: the question is not asked (issue 9:
        // most calls are of that kind).
        let send_call = bits & crate::conn::events::SEND_CALL != 0;
        if !has_flag(*flags, Slot::WRITABLE) || send_call || !estab {
            let writable = ready::conn_writable(conn, &self.config);
            if writable && !has_flag(*flags, Slot::WRITABLE) {
                ev |= EV_WRITABLE;
            }
            if writable || send_call || !estab {
                set_flag(flags, Slot::WRITABLE, writable);
            }
        }
        if bits & crate::conn::events::CONNECTED != 0 && !conn.flag(flag::PASSIVE) {
            ev |= EV_CONNECTED;
        }
        if bits & crate::conn::events::CLOSED != 0 {
            ev |= EV_CLOSED;
        }
        if after == State::TimeWait {
            return self.enter_time_wait(h, before, ev);
        }
        let deadline = conn.next_wakeup(self.now);
        if before != after && self.transitions.is_some() {
            let (local, remote) = (conn.local(), conn.remote());
            self.trace(local, remote, before, after);
        }
        if after == State::Closed {
            return self.conn_closed(h, ev);
        }
        let slot = &mut self.slots[h.index as usize];
        if let Some(d) = deadline {
            match slot.timer {
                Some(t) if d < self.timers.get(t).0 => {
                    self.timers.set_item(t, TimerRef::Wake);
                    slot.timer = Some(self.timers.insert(d, TimerRef::Socket(h)));
                }
                Some(_) => {}
                None => slot.timer = Some(self.timers.insert(d, TimerRef::Socket(h))),
            }
        }
        if !slot.has(Slot::DIRTY) {
            slot.set(Slot::DIRTY, true);
            self.tx_queue.push_back(h);
        }
        self.notify(h, ev);
        self.slots[h.index as usize].set(Slot::SETTLED, true);
        if let Some(since) = drained {
            self.queue_reclaim(h, since);
        }
        if self.reclaim_due() {
            self.reclaim_idle(reclaim::PER_CALL);
        }
    }

    /// after_conn's Fast Open part: a learned cookie goes to the cache, a child that
    /// left SYN-RECEIVED leaves its listener's queue. Returns true when it ran
    /// after_conn again itself.
    #[inline(never)]
    fn after_conn_fastopen(&mut self, h: SocketHandle, before: State) -> bool {
        let Some(Sock::Conn(conn)) = self.slots[h.index as usize].sock.as_mut() else {
            return true;
        };
        if let Some(l) = conn.tfo.learned.take() {
            let remote = conn.remote().ip();
            self.tfo_cache.entry(remote).or_default().learn(&l);
            self.after_conn(h, before);
            return true;
        }
        if conn.state != State::SynReceived && conn.tfo.listener.is_some() {
            if let Some(lh) = conn.tfo.listener.take() {
                let error = conn.pending_error.or(conn.error);
                self.fastopen_child_left(lh, h, error);
                self.after_conn(h, before);
                return true;
            }
        }
        false
    }

    /// after_conn's end of a connection in CLOSED: out of the table, reported, freed if
    /// nobody holds it.
    #[inline(never)]
    fn conn_closed(&mut self, h: SocketHandle, ev: u8) {
        let slot = &self.slots[h.index as usize];
        let user_closed = slot.has(Slot::USER_CLOSED);
        let Some(Sock::Conn(conn)) = slot.sock.as_ref() else {
            return;
        };
        let (local, remote) = (conn.local(), conn.remote());
        let reuse = conn.opts.reuseaddr;
        self.conn_remove(&FourTuple { local, remote }, h, reuse);
        self.finish_closed(h, user_closed, ev);
    }

    /// after_conn's entry into TIME-WAIT: the connection gives way to a compact record
    /// (time_wait.rs), or to nothing when `tcp_max_tw_buckets` is reached.
    #[inline(never)]
    fn enter_time_wait(&mut self, h: SocketHandle, before: State, mut ev: u8) {
        let now = self.now;
        let slot = &mut self.slots[h.index as usize];
        let user_closed = slot.has(Slot::USER_CLOSED);
        let Some(Sock::Conn(conn)) = slot.sock.as_mut() else {
            return;
        };
        let (local, remote) = (conn.local(), conn.remote());
        let reuse = conn.opts.reuseaddr;
        let recycled = self.tw_recycle.on_time_wait(
            &self.config,
            remote.ip(),
            conn.neg.ts.map(|t| t.recent),
            conn.neg.ts.map_or(now, |t| t.recent_stamp),
            now,
        );
        let tw_len =
            crate::tw_recycle::PeerStamps::time_wait_len(&self.config, recycled, conn.rtt.rto());
        let tw = TimeWait::new(
            conn.snd_max,
            conn.rcv_nxt,
            ((conn.rcv_adv - conn.rcv_nxt).max(0) as u32 >> conn.neg.rcv_wscale).min(65535) as u16,
            conn.neg.ts.map(|t| (t.recent, t.offset, t.recent_stamp)),
            now + tw_len,
            conn.opts.reuseaddr,
        );
        conn.close_with(None);
        conn.events = 0;
        ev |= EV_CLOSED;
        self.trace(local, remote, before, State::TimeWait);
        let tuple = FourTuple { local, remote };
        // The TIME-WAIT entry takes the connection's place on its local port (Linux's
        // inet_twsk_hashdance keeps the bind bucket): the port's count changes only if
        // no entry is made, or if it claims the port otherwise (issue 9: no remove and
        // re-add of the same count per lifecycle).
        let was_conn = self.conns.remove(&tuple, h.index);
        let made = if self.time_wait.len() < self.config.tcp_max_tw_buckets {
            self.stats.TW += 1;
            self.time_wait.insert(tuple, tw)
        } else {
            self.stats.TCPTimeWaitOverflow += 1;
            self.trace(local, remote, State::TimeWait, State::Closed);
            false
        };
        if !(was_conn && made && reuse == tw.reuse) {
            let (port, ip) = (local.port(), local.ip());
            if was_conn {
                self.ports.count_conn(port, ip, reuse, false);
            }
            if made {
                self.ports.count_conn(port, ip, tw.reuse, true);
            }
        }
        self.finish_closed(h, user_closed, ev);
    }

    /// Enters a connection in the demultiplexing table; it holds its local port, with
    /// its SO_REUSEADDR `reuse`.
    pub(crate) fn conn_insert(&mut self, tuple: FourTuple, h: SocketHandle, reuse: bool) {
        let slots = &self.slots;
        if self
            .conns
            .insert(&tuple, h.index, |i, t| holds(slots, i, t))
            .is_none()
        {
            self.ports
                .count_conn(tuple.local.port(), tuple.local.ip(), reuse, true);
        }
        // A path MTU learned for the peer applies from the start (icmp.rs), unless
        // the route's MTU is locked.
        let locked = self.config.routes.mtu_locked(tuple.remote.ip());
        if let Some(mtu) = self.cached_pmtu(tuple.remote.ip()).filter(|_| !locked) {
            let slot = self
                .slots
                .get_mut(h.index as usize)
                .filter(|s| s.generation == h.generation);
            if let Some(Some(Sock::Conn(c))) = slot.map(|s| s.sock.as_mut()) {
                if mtu < c.pmtu {
                    c.pmtu = mtu;
                    c.sync_mss(&self.config);
                }
            }
        }
    }

    /// The connection entered for `tuple`.
    #[inline]
    pub(crate) fn conn_of(&self, tuple: &FourTuple) -> Option<SocketHandle> {
        let slots = &self.slots;
        let index = self.conns.get(tuple, |i, t| holds(slots, i, t))?;
        Some(SocketHandle {
            index,
            generation: slots[index as usize].generation,
        })
    }

    /// Removes connection `h` (entered with SO_REUSEADDR `reuse`) from the table.
    pub(crate) fn conn_remove(&mut self, tuple: &FourTuple, h: SocketHandle, reuse: bool) {
        if self.conns.remove(tuple, h.index) {
            self.ports
                .count_conn(tuple.local.port(), tuple.local.ip(), reuse, false);
        }
    }

    pub(crate) fn tw_remove(&mut self, tuple: &FourTuple) {
        if let Some(tw) = self.time_wait.remove(tuple) {
            self.ports
                .count_conn(tuple.local.port(), tuple.local.ip(), tw.reuse, false);
        }
    }

    /// A connection reached CLOSED: report it, and free the slot if nobody holds it.
    fn finish_closed(&mut self, h: SocketHandle, user_closed: bool, ev: u8) {
        if user_closed {
            self.release(h);
        } else {
            self.notify(h, ev);
            if let Some(t) = self.slots[h.index as usize].timer.take() {
                self.timers.set_item(t, TimerRef::Wake);
            }
        }
    }
}

/// Writes a connection's segment as a datagram into `buf` and returns its length:
/// headers built in place and summed as they are built, the payload copied once from the
/// send buffer and summed as it is copied (RFC 1071's sums compose over pieces that start
/// at even offsets). With `partial`, the TCP checksum field gets only the pseudo-header's
/// sum and the device completes it (checksum offload, Linux's CHECKSUM_PARTIAL), so the
/// payload is copied, not summed. `None`, with nothing to send, if `buf` is too short.
fn emit_conn_segment(
    conn: &Connection,
    seg: &crate::conn::output::Outgoing,
    ttl: u8,
    partial: bool,
    buf: &mut [u8],
) -> Option<usize> {
    let (src, dst) = (conn.local().ip(), conn.remote().ip());
    let mut ip = IpRepr {
        src,
        dst,
        protocol: IPPROTO_TCP,
        payload_len: 0,
        hop_limit: ttl,
    };
    let ip_len = ip.header_len();
    // The TCP header first: its length is known once it is written.
    let (tcp_hdr, header_sum) = seg.repr.emit_header_sum(buf.get_mut(ip_len..)?).ok()?;
    ip.payload_len = tcp_hdr + seg.payload_len;
    let total = ip.buffer_len();
    if buf.len() < total {
        return None;
    }
    ip.emit(buf).ok()?;
    if seg.ect {
        synack_wire::Ecn::Ect0.set_in(&mut buf[..ip_len]);
    }
    let len = u32::try_from(total - ip_len).unwrap_or(u32::MAX);
    let pseudo = checksum::pseudo_header_sum(&src, &dst, IPPROTO_TCP, len);
    let (a, b) = conn.send_buf.slices_at(seg.payload_at, seg.payload_len);
    let at = ip_len + tcp_hdr;
    let mid = at + a.len();
    let payload_sum = if partial {
        buf[at..mid].copy_from_slice(a);
        buf[mid..total].copy_from_slice(b);
        let field = checksum::fold(pseudo);
        TcpPacket::new_unchecked(&mut buf[ip_len..total]).set_checksum(field);
        return Some(total);
    } else if seg.payload_len == 0 {
        0
    } else if a.len() % 2 != 0 {
        // The ring wraps at an odd offset: the second piece's words are not aligned
        // with the segment's, so the payload is summed whole after the copy.
        buf[at..mid].copy_from_slice(a);
        buf[mid..total].copy_from_slice(b);
        checksum::sum(&buf[at..total])
    } else {
        // The second piece is empty unless the ring wraps inside the segment.
        let first = checksum::copy_and_sum(&mut buf[at..mid], a);
        match b {
            [] => first,
            b => first + checksum::copy_and_sum(&mut buf[mid..total], b),
        }
    };
    let acc = pseudo + header_sum + payload_sum;
    TcpPacket::new_unchecked(&mut buf[ip_len..total]).set_checksum(!checksum::fold(acc));
    Some(total)
}

#[cfg(test)]
mod size_tests {
    /// Issue 9's memory budget per connection: the slot stays small (a socket that is
    /// not connected keeps its state out of line), and so does the record's hot part.
    #[test]
    fn per_connection_records_stay_compact() {
        use std::mem::size_of;
        assert!(
            size_of::<super::Slot>() <= 32,
            "Slot {}",
            size_of::<super::Slot>()
        );
        let conn = size_of::<crate::conn::Connection>();
        // 488 bytes today, with nothing else allocated for an idle connection (buffers,
        // scoreboards, the send queue and the in-flight state are out of line while
        // empty or at rest): rare state belongs in a `conn::cold::Cold` field,
        // per-datagram scratch in `Ctx`, booleans in `conn::flag`, not inline (issue 9's
        // target is 512 bytes in all).
        assert!(
            conn <= 488,
            "Connection {conn}: put rarely used state out of line"
        );
        // A timer wheel entry: deadline, owner, links.
        assert_eq!(size_of::<super::TimerRef>(), 12);
    }
}
