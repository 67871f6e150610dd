//! The event loop on the virtual clock (§3.2): fire inbound packets and calls at their
//! time, run the stack's timers in between, sniff and check outbound packets, complete
//! blocking calls when the engine lets them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use synack::{Config, Error, EventKind, Instant, SocketHandle, Stack};
use synack_wire::tcp::flags;
use synack_wire::SegmentDisplay;

use crate::ast::*;
use crate::compare::{self, Live, TsCheck};
use crate::conns::{self, Track};
use crate::remap::{self, SeqMap};
use crate::report::{secs, Failure};
use crate::shell::{self, ShellAction};
use crate::syscalls::Pending;
use crate::{python, support, IpVersion, Options, Outcome};

/// Why a run stopped early.
pub(crate) enum Stop {
    Fail(Box<Failure>),
    Unsupported(String),
}

pub(crate) type Res<T> = Result<T, Stop>;

/// Effective settings: command line over script options over defaults.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub ip: IpVersion,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub tol_us: i64,
    pub tol_pct: f64,
    pub strict: bool,
    pub ts_tick: u64,
    pub bind_port: u16,
    pub connect_port: u16,
    /// The local subnet's prefix length (`--netmask_ip`), IPv4 only.
    pub prefix_len: Option<u8>,
    /// `--mtu`, if given.
    pub mtu: Option<usize>,
    /// `--mss`: the GSO segment size of inbound packets.
    pub mss: Option<u16>,
}

/// An address, optionally with a `/prefix` (which only routes it in packetdrill).
fn parse_addr(v: &str) -> Option<IpAddr> {
    let a = v.split_once('/').map_or(v, |(a, _)| a);
    a.parse().ok()
}

/// The prefix length of a netmask such as 255.255.0.0, if it is contiguous.
fn netmask_prefix(m: std::net::Ipv4Addr) -> Option<u8> {
    let bits = u32::from(m);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

impl Settings {
    fn new(script: &Script, o: &Options) -> Result<Settings, String> {
        let mut s = Options::default();
        for (name, value, line) in &script.options {
            let v = value.clone().unwrap_or_default();
            let bad = |what: &str| format!("line {line}: bad --{name}={v}: expected {what}");
            match name.as_str() {
                "ip_version" => s.ip_version = Some(v.parse()?),
                "tolerance_usecs" => s.tolerance_usecs = Some(v.parse().map_err(|_| bad("µs"))?),
                "tolerance_percent" => {
                    s.tolerance_percent = Some(v.parse().map_err(|_| bad("a percentage"))?)
                }
                "strict_segments" => s.strict_segments = Some(v != "0" && v != "false"),
                "tcp_ts_tick_usecs" => {
                    s.tcp_ts_tick_usecs = Some(v.parse().map_err(|_| bad("µs"))?)
                }
                "bind_port" => s.bind_port = Some(v.parse().map_err(|_| bad("a port"))?),
                "connect_port" => s.connect_port = Some(v.parse().map_err(|_| bad("a port"))?),
                "local_ip" => s.local_ip = Some(parse_addr(&v).ok_or_else(|| bad("an address"))?),
                "remote_ip" => s.remote_ip = Some(parse_addr(&v).ok_or_else(|| bad("an address"))?),
                "gateway_ip" => {
                    s.gateway_ip = Some(parse_addr(&v).ok_or_else(|| bad("an address"))?)
                }
                "netmask_ip" => s.netmask_ip = Some(v.parse().map_err(|_| bad("an IPv4 netmask"))?),
                "mtu" => {
                    s.mtu = Some(
                        v.parse()
                            .ok()
                            .filter(|m| (1280..=65535).contains(m))
                            .ok_or_else(|| bad("an MTU of 1280 to 65535 bytes"))?,
                    )
                }
                "mss" => {
                    s.mss = Some(
                        v.parse()
                            .ok()
                            .filter(|m| *m > 0)
                            .ok_or_else(|| bad("an MSS of 1 to 65535 bytes"))?,
                    )
                }
                _ => {}
            }
        }
        let ip = o.ip_version.or(s.ip_version).unwrap_or_default();
        let (dl, dr) = remap::default_addrs(ip);
        let pick = |cli: Option<IpAddr>, scr: Option<IpAddr>, d: IpAddr| {
            // A script's address of the wrong family (an IPv4 script run as IPv6) yields.
            [cli, scr]
                .into_iter()
                .flatten()
                .find(|a| a.is_ipv4() == d.is_ipv4())
                .unwrap_or(d)
        };
        Ok(Settings {
            ip,
            local: pick(o.local_ip, s.local_ip, dl),
            remote: pick(o.remote_ip, s.remote_ip, dr),
            tol_us: o.tolerance_usecs.or(s.tolerance_usecs).unwrap_or(4000),
            tol_pct: o.tolerance_percent.or(s.tolerance_percent).unwrap_or(12.5),
            strict: o.strict_segments.or(s.strict_segments).unwrap_or(false),
            ts_tick: o.tcp_ts_tick_usecs.or(s.tcp_ts_tick_usecs).unwrap_or(0),
            bind_port: o.bind_port.or(s.bind_port).unwrap_or(8080),
            connect_port: o.connect_port.or(s.connect_port).unwrap_or(8080),
            prefix_len: match o.netmask_ip.or(s.netmask_ip) {
                Some(m) => Some(netmask_prefix(m).ok_or_else(|| {
                    format!("bad --netmask_ip={m}: expected a contiguous netmask")
                })?),
                None => None,
            },
            mtu: o.mtu.or(s.mtu),
            mss: o.mss.or(s.mss),
        })
    }
}

/// A script fd.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fd {
    pub h: SocketHandle,
    pub nonblocking: bool,
    /// A non-blocking connect() returned EINPROGRESS and was not called again since.
    pub connecting: bool,
    /// getsockopt(SO_ERROR) returned the connection's error: Linux clears it, so later
    /// calls read 0 (the engine's error stays).
    pub so_error_reported: bool,
    /// The IP_TOS set on the socket (the engine always sends TOS 0).
    pub tos: u8,
    /// TCP_INQ: recvmsg() returns a TCP_CM_INQ control message.
    pub inq: bool,
    /// SO_ZEROCOPY: MSG_ZEROCOPY sends are notified on the error queue.
    pub zerocopy: bool,
}

/// What the socket under test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SutKind {
    /// Nothing yet.
    None,
    /// socket() just made a new socket: as packetdrill does, the next packets belong to
    /// it (an inbound SYN after its listen() starts a child from a new remote port).
    New,
    /// A listener on this port: the next inbound packet starts a new connection.
    Listening(u16),
    /// connect() was called; the local port comes from the first SYN.
    Connecting,
    /// A connection with a known 4-tuple.
    Conn,
}

/// The runner's whole state.
pub(crate) struct Runner<'a> {
    lines: Vec<&'a str>,
    pub set: Settings,
    pub stack: Stack,
    /// Virtual time, µs since the start.
    pub now: i64,
    pub fds: BTreeMap<i64, Fd>,
    pub sut: SutKind,
    pub sut_local: SocketAddr,
    pub sut_remote: SocketAddr,
    pub map: SeqMap,
    pub remote_isn_set: bool,
    /// Outbound packets of tracked connections not yet matched, each with its peer.
    sniffed: VecDeque<(SocketAddr, Live)>,
    /// Outbound ICMP messages not yet matched, each with when it was sent.
    pub icmp_sniffed: VecDeque<(i64, Vec<u8>)>,
    /// The socket under test was disconnected (connect(AF_UNSPEC)): `%{ }%` reads its
    /// TCP_INFO (state CLOSE) until it connects again.
    pub disconnected: Option<SocketHandle>,
    /// Multi-connection mode: the script names peer ports (see `conns`).
    pub multi: bool,
    /// In multi mode, the tracked connections other than the one under test.
    pub others: Vec<Track>,
    pub exchange: Vec<String>,
    pub pending: Option<Pending>,
    /// Errors reported by `Closed` events, for SO_ERROR and blocking connect.
    pub errors: HashMap<SocketHandle, Error>,
    next_remote_port: u16,
    /// Line of the event being run.
    pub line: usize,
    /// The next inbound sequence number, script numbering (for the final RST).
    pub next_in_seq: Option<u32>,
    txbuf: Vec<u8>,
    /// Timer deadlines run so far (bounded, so that no script runs forever).
    steps: u64,
    /// The script's directory (files its shell commands name).
    dir: Option<&'a Path>,
    /// The counters as the last `nstat` without `-s` saw them.
    nstat_base: HashMap<String, u64>,
    /// Names `%{ }%` blocks assigned, with their values: packetdrill runs every block in
    /// one Python namespace.
    py_globals: python::Vars,
    /// epoll instances by fd.
    pub epolls: BTreeMap<i64, crate::poll::Epoll>,
    /// MSG_ZEROCOPY bookkeeping by socket.
    pub zc: crate::zerocopy::ZcTable,
    /// Files of zeros the script's shell commands made, by path, with their sizes.
    pub files: HashMap<String, u64>,
    /// Files open()ed by the script: fd to path and read position.
    pub open_files: BTreeMap<i64, (String, u64)>,
}

/// Most timer deadlines one script may run through.
const MAX_STEPS: u64 = 1_000_000;

/// Runs a parsed script.
pub(crate) fn run(
    _name: &str,
    src: &str,
    script: &Script,
    opts: &Options,
    dir: Option<&Path>,
) -> Outcome {
    if let Err(reason) = support::check(script, dir) {
        return Outcome::Unsupported(reason);
    }
    let set = match Settings::new(script, opts) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(Box::new(Failure::script_error(0, String::new(), e))),
    };
    // Scripts replay exactly: the engine's secrets (timestamp offsets, ephemeral ports)
    // come from a fixed seed.
    let mut config = Config::seeded(0x5e1f_ac4b_0000_0001);
    // --init_scripts first, then the script's init command, as packetdrill runs them.
    let mut init_actions = Vec::new();
    for file in &opts.init_scripts {
        match shell::interpret_file(file, &config, shell::Env::script(dir)) {
            Ok(actions) => {
                actions
                    .iter()
                    .for_each(|a| apply(&mut config, a, set.remote));
                init_actions.extend(actions);
            }
            Err(e) => return Outcome::Unsupported(format!("--init_scripts: {e}")),
        }
    }
    if let Some((text, _)) = &script.init {
        match shell::interpret(text, &config, dir) {
            Ok(actions) => {
                actions
                    .iter()
                    .for_each(|a| apply(&mut config, a, set.remote));
                init_actions.extend(actions);
            }
            Err(e) => return Outcome::Unsupported(e),
        }
    }
    match set.mtu {
        Some(mtu) => config.mtu = mtu,
        // run_all.py and ksft_runner.sh give IPv6 runs --mtu=1520 so that the MSS stays
        // 1460; a run without --mtu does the same.
        None if set.ip == IpVersion::Ipv6 => config.mtu += 20,
        None => {}
    }
    let mut stack = Stack::new(config);
    match set.prefix_len {
        Some(p) if set.local.is_ipv4() => stack.add_address_prefix(set.local, p),
        _ => stack.add_address(set.local),
    }
    let any = SocketAddr::new(set.local, 0);
    let mut r = Runner {
        lines: src.lines().collect(),
        sut_local: any,
        sut_remote: SocketAddr::new(set.remote, set.connect_port),
        set,
        stack,
        now: 0,
        fds: BTreeMap::new(),
        sut: SutKind::None,
        map: SeqMap::default(),
        remote_isn_set: false,
        sniffed: VecDeque::new(),
        icmp_sniffed: VecDeque::new(),
        disconnected: None,
        multi: conns::uses_explicit_ports(&script.events),
        others: Vec::new(),
        exchange: Vec::new(),
        pending: None,
        errors: HashMap::new(),
        next_remote_port: 40000,
        line: 0,
        next_in_seq: None,
        txbuf: vec![0u8; 70_000],
        steps: 0,
        dir,
        nstat_base: HashMap::new(),
        py_globals: python::Vars::new(),
        epolls: BTreeMap::new(),
        zc: HashMap::new(),
        files: HashMap::new(),
        open_files: BTreeMap::new(),
    };
    for a in &init_actions {
        r.file_action(a);
    }
    match r.run_events(&script.events) {
        Ok(()) => Outcome::Pass,
        Err(Stop::Fail(f)) => Outcome::Fail(f),
        Err(Stop::Unsupported(s)) => Outcome::Unsupported(s),
    }
}

/// The destination a script's route names: packetdrill's default remote address, of
/// either IP version (192.0.2.1, 2001:db8::1), stands for the script's peer at whatever
/// address this run gives it (`--ip_version`, `--remote_ip`), so that a script routing
/// to its peer runs in every IP version; any other prefix is taken as written.
fn route_prefix(prefix: synack::Prefix, remote: std::net::IpAddr) -> synack::Prefix {
    let defaults = [
        remap::default_addrs(IpVersion::Ipv4).1,
        remap::default_addrs(IpVersion::Ipv6).1,
    ];
    let host = prefix.len == if prefix.addr.is_ipv4() { 32 } else { 128 };
    if host && prefix.addr != remote && defaults.contains(&prefix.addr) {
        let len = if remote.is_ipv4() { 32 } else { 128 };
        synack::Prefix::new(remote, len).unwrap_or(prefix)
    } else {
        prefix
    }
}

fn apply(config: &mut Config, a: &ShellAction, remote: std::net::IpAddr) {
    match a {
        // Files are the runner's (see `Runner::files`), set up once it exists.
        ShellAction::File(..) => {}
        ShellAction::Defaults => shell::apply_profile(config),
        ShellAction::Qdisc(q) => config.qdisc = *q,
        ShellAction::Sysctl(k, v) => {
            // Validated by `shell::interpret`.
            let _ = config.set_sysctl(k, v);
        }
        // Validated by `shell::interpret` too.
        ShellAction::Route(prefix, Some(m)) => {
            let _ = config.routes.set(route_prefix(*prefix, remote), *m);
        }
        ShellAction::Route(prefix, None) => {
            config.routes.remove(route_prefix(*prefix, remote));
        }
        // Counters start at zero: nstat in an init command has nothing to check.
        // A fresh stack has no cached metrics yet.
        ShellAction::Noop
        | ShellAction::Nstat { .. }
        | ShellAction::FlushMetrics
        | ShellAction::ProcGrep { .. } => {}
    }
}

impl Runner<'_> {
    /// A failure at the current line and time.
    pub fn fail(&self, message: impl Into<String>, actual: Option<String>) -> Stop {
        Stop::Fail(Box::new(Failure {
            line: self.line,
            source_line: self
                .lines
                .get(self.line.saturating_sub(1))
                .unwrap_or(&"")
                .to_string(),
            message: message.into(),
            actual,
            time_us: self.now,
            exchange: self.exchange.clone(),
        }))
    }

    fn tolerance(&self, this: i64, prev: i64) -> i64 {
        let pct = (self.set.tol_pct / 100.0 * (this - prev).max(0) as f64) as i64;
        self.set.tol_us.max(pct)
    }

    fn run_events(&mut self, events: &[Event]) -> Res<()> {
        let mut prev_end = 0i64;
        let mut prev_script = 0i64;
        let mut prev_inbound: Option<i64> = None;
        for (idx, ev) in events.iter().enumerate() {
            self.line = ev.line;
            let inbound =
                matches!(&ev.action, Action::Packet(p) if p.direction == Direction::Inbound);
            let base = match prev_inbound {
                Some(t) if inbound => t,
                _ => prev_end,
            };
            let (lo, hi, block_end) = match ev.time {
                TimeSpec::Any => (self.now, i64::MAX, None),
                TimeSpec::Abs(t) => (t, t, None),
                TimeSpec::Rel(d) => (base.saturating_add(d), base.saturating_add(d), None),
                TimeSpec::AbsRange(a, b) => (a, b, None),
                TimeSpec::RelRange(a, b) => (base.saturating_add(a), base.saturating_add(b), None),
                TimeSpec::Blocking {
                    start,
                    end,
                    relative,
                } => {
                    let b = if relative { base } else { 0 };
                    (
                        b.saturating_add(start),
                        b.saturating_add(start),
                        Some(b.saturating_add(end)),
                    )
                }
            };
            if idx == 0 && lo != 0 && ev.time != TimeSpec::Any {
                return Err(self.fail("the first event must be at time 0", None));
            }
            let is_out =
                matches!(&ev.action, Action::Packet(p) if p.direction == Direction::Outbound);
            if !is_out
                && !matches!(
                    ev.time,
                    TimeSpec::Abs(_) | TimeSpec::Rel(_) | TimeSpec::Blocking { .. }
                )
            {
                return Err(self.fail(
                    "`*` and time ranges are only allowed on outbound packets",
                    None,
                ));
            }
            let tol = self.tolerance(lo, prev_script);
            match &ev.action {
                Action::Packet(Packet {
                    direction,
                    body: PacketBody::Icmp(spec),
                    ..
                }) => {
                    if *direction == Direction::Inbound {
                        self.advance_to(lo)?;
                        self.inbound_icmp(spec)?;
                    } else {
                        self.outbound_icmp(spec, (lo, hi, tol), ev.time == TimeSpec::Any)?;
                    }
                }
                Action::Packet(p) => {
                    let PacketBody::Tcp(spec) = &p.body else {
                        return Err(Stop::Unsupported("non-TCP packet".into()));
                    };
                    if p.direction == Direction::Inbound {
                        self.advance_to(lo)?;
                        self.inbound(p, spec)?;
                    } else {
                        let any = ev.time == TimeSpec::Any;
                        let info = p.ip_info.as_deref();
                        self.outbound(spec, p.ports, info, (lo, hi, tol), any)?;
                    }
                }
                Action::Syscall(sc) => {
                    self.advance_to(lo)?;
                    let end_tol = block_end.map(|e| self.tolerance(e, lo));
                    self.syscall(sc, block_end.map(|e| (e, end_tol.unwrap_or(tol))))?;
                }
                Action::Shell(text) => {
                    self.advance_to(lo)?;
                    let cfg = self.stack.config().clone();
                    let actions =
                        shell::interpret(text, &cfg, self.dir).map_err(Stop::Unsupported)?;
                    for a in &actions {
                        if let ShellAction::Nstat { check, update } = a {
                            self.nstat(check.as_ref(), *update)?;
                        } else if let ShellAction::File(..) = a {
                            self.file_action(a);
                        } else if let ShellAction::FlushMetrics = a {
                            self.stack.flush_fastopen_cache();
                        } else if let ShellAction::Route(prefix, m) = a {
                            // The open connections learn of it too (stack/routes.rs).
                            let prefix = &route_prefix(*prefix, self.set.remote);
                            match m {
                                Some(m) => {
                                    let _ = self.stack.set_route(*prefix, *m);
                                }
                                None => {
                                    self.stack.remove_route(*prefix);
                                }
                            }
                        } else if let ShellAction::ProcGrep { files, patterns } = a {
                            self.proc_grep(files, patterns)?;
                        } else {
                            apply(self.stack.config_mut(), a, self.set.remote);
                        }
                    }
                }
                Action::Code(code) => {
                    self.advance_to(lo)?;
                    self.code(code)?;
                }
            }
            // A blocking call's thread runs on: the next event counts from its start.
            prev_end = if block_end.is_some() { lo } else { self.now };
            prev_script = if ev.time == TimeSpec::Any {
                self.now
            } else {
                lo
            };
            prev_inbound = inbound.then_some(lo);
        }
        self.finish()
    }

    /// The end of the script: let a blocking call finish, then reset the connection.
    fn finish(&mut self) -> Res<()> {
        if let Some(p) = &self.pending {
            let limit = p.end.unwrap_or(self.now).saturating_add(2_000_000);
            self.line = p.line;
            self.wait_pending(limit)?;
        }
        if self.sut == SutKind::Conn {
            if let Some(seq) = self.next_in_seq {
                let spec = TcpSpec {
                    flags_text: "R.".into(),
                    flags: flags::RST | flags::ACK,
                    ae: false,
                    seq,
                    len: 0,
                    ack: None,
                    win: Some(0),
                    urg: None,
                    options: OptionsSpec::None,
                };
                if let Ok(live) =
                    remap::build_inbound(&spec, self.sut_remote, self.sut_local, &self.map, true)
                {
                    self.stack
                        .handle_packet(Instant::from_micros(self.now as u64), &live);
                }
            }
        }
        Ok(())
    }

    /// Runs the clock to `t`: timers, transmissions, events and a pending blocking call.
    pub fn advance_to(&mut self, t: i64) -> Res<()> {
        self.flush()?;
        while self.step(t)? {}
        if t > self.now {
            self.now = t;
            // Tell the stack the time, so that the next socket call happens at `t`.
            self.stack.handle_timeout(Instant::from_micros(t as u64));
        }
        Ok(())
    }

    /// Fires the next deadline (the stack's, or a pending poll's timeout) if it is at or
    /// before `limit`; false if none is.
    pub fn step(&mut self, limit: i64) -> Res<bool> {
        let stack_at = self.stack.poll_timeout().map(|d| d.total_micros() as i64);
        let call_at = self.pending_deadline().filter(|d| *d > self.now);
        let next = match (stack_at, call_at) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(x) => x,
                None => return Ok(false),
            },
        };
        if next > limit {
            return Ok(false);
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.fail(
                format!("more than {MAX_STEPS} timer deadlines: giving up"),
                None,
            ));
        }
        if next > self.now {
            self.now = next;
        }
        if stack_at.is_some_and(|a| a <= next) {
            self.stack
                .handle_timeout(Instant::from_micros(self.now as u64));
        }
        self.flush()?;
        Ok(true)
    }

    /// Drains transmissions and events and services the pending call, until quiet.
    pub fn flush(&mut self) -> Res<()> {
        for _ in 0..100_000 {
            let mut progressed = false;
            let at = Instant::from_micros(self.now as u64);
            while let Some(n) = self
                .stack
                .poll_transmit(at, &mut self.txbuf)
                .map_err(|e| Stop::Unsupported(format!("line {}: {e}", self.line)))?
            {
                if let Some(tos) = self.fds.values().map(|f| f.tos).find(|&t| t != 0) {
                    return Err(Stop::Unsupported(format!(
                        "line {}: a packet goes out while IP_TOS is {tos}, but the engine \
                         always sends TOS 0",
                        self.line
                    )));
                }
                let bytes = self.txbuf[..n].to_vec();
                self.on_outbound(bytes);
                progressed = true;
            }
            while let Some(ev) = self.stack.poll_event() {
                if let EventKind::Closed(Some(e)) = ev.kind {
                    self.errors.insert(ev.socket, e);
                }
                self.epoll_wakeup(ev.socket, ev.kind);
            }
            self.zc_poll();
            if self.pending.is_some() && self.service_pending()? {
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        Ok(())
    }

    pub(crate) fn log(&mut self, dir: char, bytes: &[u8], note: &str) {
        let line = match SegmentDisplay::from_datagram(bytes) {
            Ok(d) => format!("{} {dir} {d}{note}", secs(self.now)),
            Err(e) => format!("{} {dir} [{e}]{note}", secs(self.now)),
        };
        self.exchange.push(line);
    }

    fn on_outbound(&mut self, bytes: Vec<u8>) {
        if let Some(text) = crate::icmp::describe(&bytes) {
            self.exchange.push(format!("{} > {text}", secs(self.now)));
            self.icmp_sniffed.push_back((self.now, bytes));
            return;
        }
        let Some(live) = Live::parse(self.now, bytes) else {
            let b = self.txbuf.clone();
            self.log('>', &b, " (not TCP; ignored)");
            return;
        };
        let Ok((ip, _)) = synack_wire::IpRepr::parse(&live.bytes) else {
            return;
        };
        let p = &live.bytes[ip.header_len()..];
        let sport = u16::from_be_bytes([p[0], p[1]]);
        let dport = u16::from_be_bytes([p[2], p[3]]);
        let src = SocketAddr::new(ip.src, sport);
        let dst = SocketAddr::new(ip.dst, dport);
        let syn = live.flags & flags::SYN != 0;
        let mine = if src == self.sut_local && dst == self.sut_remote {
            true
        } else if self.sut == SutKind::Connecting && dst == self.sut_remote && syn {
            self.sut_local = src;
            self.sut = SutKind::Conn;
            true
        } else {
            false
        };
        let map = if mine {
            &mut self.map
        } else if let Some(m) = self.other_owner(src, dst) {
            m
        } else {
            let b = live.bytes.clone();
            self.log('>', &b, " (another connection; ignored)");
            return;
        };
        if syn && map.local_isn.is_none() {
            map.local_isn = Some((live.seq, 0));
        }
        let shown = remap::to_script_space(&live.bytes, map);
        self.log('>', &shown, "");
        let (seq, len) = (live.seq, live.payload_len);
        self.sniffed.push_back((dst, live));
        if mine {
            self.ts_outbound(seq, len);
        }
    }

    /// Starts a new connection under test from the peer's side; `ports` are the script's
    /// explicit `(peer, local)` ports, if any.
    fn new_child(&mut self, ports: Option<(u16, u16)>) {
        let port = match (ports, self.sut) {
            (Some((_, local)), _) => local,
            (None, SutKind::Listening(p)) => p,
            _ => self.set.bind_port,
        };
        let remote_port = match ports {
            Some((peer, _)) => peer,
            None => {
                let p = self.next_remote_port;
                self.next_remote_port = p.wrapping_add(1).max(1024);
                p
            }
        };
        self.park_current();
        self.sut_local = SocketAddr::new(self.set.local, port);
        self.sut_remote = SocketAddr::new(self.set.remote, remote_port);
        self.sut = SutKind::Conn;
        self.map = SeqMap::default();
        self.remote_isn_set = false;
        self.next_in_seq = None;
        if !self.multi {
            self.sniffed.clear();
        }
    }

    /// Resets the maps for a connect().
    pub fn start_connect(&mut self, remote: SocketAddr) {
        self.disconnected = None;
        self.park_current();
        self.sut = SutKind::Connecting;
        self.sut_local = SocketAddr::new(self.set.local, 0);
        self.sut_remote = remote;
        self.map = SeqMap::default();
        self.remote_isn_set = false;
    }

    /// socket() made a new socket: it is the socket under test from now on (packetdrill's
    /// rule), so a connection followed so far stops being followed (in multi mode it
    /// stays tracked).
    pub fn start_socket(&mut self) {
        self.disconnected = None;
        self.park_current();
        self.sut = SutKind::New;
        self.sut_local = SocketAddr::new(self.set.local, 0);
        self.sut_remote = SocketAddr::new(self.set.remote, self.set.connect_port);
        self.map = SeqMap::default();
        self.remote_isn_set = false;
        self.next_in_seq = None;
        if !self.multi {
            // packetdrill sniffs lazily and drops what is not the socket under test's.
            self.sniffed.clear();
        }
    }

    /// A listener became the socket under test (unless a connection already is).
    pub fn start_listen(&mut self, port: u16) {
        if matches!(self.sut, SutKind::None | SutKind::New) {
            self.sut = SutKind::Listening(port);
        }
    }

    fn inbound(&mut self, p: &Packet, spec: &TcpSpec) -> Res<()> {
        let syn = spec.flags & flags::SYN != 0;
        match p.ports.filter(|_| self.multi) {
            Some((peer, local)) => {
                if !self.switch_to(peer) {
                    self.new_child(Some((peer, local)));
                }
            }
            None => {
                if matches!(
                    self.sut,
                    SutKind::None | SutKind::New | SutKind::Listening(_)
                ) {
                    self.new_child(None);
                }
            }
        }
        if syn && !self.remote_isn_set {
            self.map.remote_isn = spec.seq;
            self.remote_isn_set = true;
        }
        let (mut src, mut dst) = (self.sut_remote, self.sut_local);
        if let Some((s, d)) = p.ports {
            src.set_port(s);
            dst.set_port(d);
        }
        if spec.win.is_none() {
            return Err(self.fail("inbound packets need `win N`", None));
        }
        let script = remap::build_inbound(spec, src, dst, &self.map, false)
            .map_err(|e| self.fail(e, None))?;
        let mut live = remap::build_inbound(spec, src, dst, &self.map, true)
            .map_err(|e| self.fail(e, None))?;
        if let Some(info) = &p.ip_info {
            if let Some(tos) = crate::ecn::parse(info).map_err(Stop::Unsupported)? {
                crate::ecn::apply_inbound(tos, &mut live).map_err(|e| self.fail(e, None))?;
            }
        }
        self.log('<', &script, "");
        let fin = u32::from(spec.flags & flags::FIN != 0);
        self.next_in_seq = Some(
            spec.seq
                .wrapping_add(spec.len)
                .wrapping_add(u32::from(syn))
                .wrapping_add(fin),
        );
        let at = Instant::from_micros(self.now as u64);
        match self.set.mss {
            // packetdrill's --mss hands every inbound packet to the tun device with a
            // virtio-net GSO header; Linux keeps it GSO only when it is longer than the
            // segment size ("too small packets are not really GSO ones").
            Some(mss) if live.len() > usize::from(mss) => {
                self.stack.handle_packet_gso(at, &live, mss)
            }
            _ => self.stack.handle_packet(at, &live),
        }
        self.flush()
    }

    /// Waits for the next sniffed packet of a tracked connection, up to `limit`.
    fn next_sniffed(&mut self, limit: i64) -> Res<Option<(SocketAddr, Live)>> {
        loop {
            self.flush()?;
            if let Some(l) = self.sniffed.pop_front() {
                return Ok(Some(l));
            }
            if !self.step(limit)? {
                return Ok(None);
            }
        }
    }

    /// Checks the next packet out against `spec`, due in `[lo, hi]` within `tol`.
    fn outbound(
        &mut self,
        spec: &TcpSpec,
        ports: Option<(u16, u16)>,
        ip_info: Option<&str>,
        (lo, hi, tol): (i64, i64, i64),
        any: bool,
    ) -> Res<()> {
        if let Some((_, peer)) = ports.filter(|_| self.multi) {
            if !self.switch_to(peer) {
                return Err(self.fail(format!("no tracked connection has peer port {peer}"), None));
            }
        }
        let limit = self.outbound_limit(hi, tol, any);
        let Some((owner, mut l)) = self.next_sniffed(limit)? else {
            if limit > self.now {
                self.now = limit;
            }
            return Err(self.fail(
                format!(
                    "expected packet `{}` was not sent (waited until {} s)",
                    self.source_text(),
                    secs(limit)
                ),
                None,
            ));
        };
        if !self.set.strict && spec.len as usize > l.payload_len && l.payload_len > 0 {
            while (l.payload_len as u32) < spec.len {
                let Some((next_owner, next)) = self.next_sniffed(l.time)? else {
                    break;
                };
                if next_owner == owner && l.joins(&next) {
                    l = l.join(&next);
                } else {
                    self.sniffed.push_front((next_owner, next));
                    break;
                }
            }
        }
        if l.time > self.now {
            self.now = l.time;
        }
        if owner != self.sut_remote {
            let map = self
                .others
                .iter()
                .find(|o| o.remote == owner)
                .map(|o| &o.map);
            let actual = compare::script_text(&l, map.unwrap_or(&self.map));
            return Err(self.fail(
                format!(
                    "bad outbound packet: expected a packet to port {}, got one to port {}",
                    self.sut_remote.port(),
                    owner.port()
                ),
                Some(actual),
            ));
        }
        let actual = compare::script_text(&l, &self.map);
        if !any && (l.time < lo.saturating_sub(tol) || l.time > hi.saturating_add(tol)) {
            let want = if lo == hi {
                secs(lo)
            } else {
                format!("{}~{}", secs(lo), secs(hi))
            };
            return Err(self.fail(
                format!(
                    "timing error: expected outbound packet at {want} s but it was sent at {} s \
                     (tolerance {} s)",
                    secs(l.time),
                    secs(tol)
                ),
                Some(actual),
            ));
        }
        if spec.flags & flags::SYN != 0 && !self.map.script_isn_set {
            // The script's ISN is the one on the connection's first SYN or SYN-ACK line
            // only (packetdrill): a later SYN-ACK on the same 4-tuple (a new incarnation
            // from TIME-WAIT, whose ISN is the old one plus 65537) is checked in the same
            // numbering as the rest of the connection.
            if let Some((live, _)) = self.map.local_isn {
                self.map.local_isn = Some((live, spec.seq));
                self.map.script_isn_set = true;
            }
        }
        let ts = TsCheck {
            tick_usecs: self.set.ts_tick,
            tolerance_usecs: tol,
        };
        compare::compare(&l, spec, &mut self.map, &ts)
            .map_err(|m| self.fail(format!("bad outbound packet: {m}"), Some(actual.clone())))?;
        // The TOS byte is checked only where the script gives it (packetdrill).
        let tos = ip_info
            .map(crate::ecn::parse)
            .transpose()
            .map_err(Stop::Unsupported)?
            .flatten();
        if let Some(tos) = tos {
            crate::ecn::check_outbound(tos, &l.bytes)
                .map_err(|m| self.fail(format!("bad outbound packet: {m}"), Some(actual)))?;
        }
        Ok(())
    }

    fn source_text(&self) -> String {
        self.lines
            .get(self.line.saturating_sub(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// `nstat`: the named counter's change since the last saved baseline is checked (a
    /// line is printed only for a non-zero change; `grep -q " N "` wants it to be N),
    /// then the baseline is saved unless `-s`.
    /// How long to wait for an outbound packet due by `hi` within `tol`: two seconds
    /// past its window (so that a late packet is reported as late, not as missing), or
    /// ten minutes for one whose time is `*`.
    pub(crate) fn outbound_limit(&self, hi: i64, tol: i64, any: bool) -> i64 {
        if any {
            self.now.saturating_add(600_000_000)
        } else {
            hi.max(self.now)
                .saturating_add(tol)
                .saturating_add(2_000_000)
        }
    }

    /// A `grep` over `/proc/net/tcp{,6}`: fails the script, as the command's exit status
    /// would, when no line has every pattern.
    fn proc_grep(&mut self, files: &[bool], patterns: &[String]) -> Res<()> {
        let mut lines = Vec::new();
        for &v6 in files {
            let name = if v6 {
                "/proc/net/tcp6"
            } else {
                "/proc/net/tcp"
            };
            for l in self.stack.proc_net_tcp(v6).lines() {
                lines.push(if files.len() > 1 {
                    format!("{name}:{l}")
                } else {
                    l.to_string()
                });
            }
        }
        if lines
            .iter()
            .any(|l| patterns.iter().all(|p| l.contains(p.as_str())))
        {
            return Ok(());
        }
        Err(self.fail(
            format!("grep {patterns:?} found no line in {}", lines.join("\n")),
            None,
        ))
    }

    fn nstat(&mut self, check: Option<&(String, Option<u64>)>, update: bool) -> Res<()> {
        let now: HashMap<String, u64> = self
            .stack
            .stats()
            .iter()
            .map(|(g, n, v)| (format!("{g}{n}"), v))
            .collect();
        if let Some((name, want)) = check {
            let Some(v) = now.get(name) else {
                return Err(Stop::Unsupported(format!(
                    "line {}: nstat counter {name}, which the engine does not keep",
                    self.line
                )));
            };
            let delta = v.saturating_sub(self.nstat_base.get(name).copied().unwrap_or(0));
            let ok = match want {
                Some(n) => delta == *n,
                None => delta != 0,
            };
            if !ok {
                return Err(self.fail(
                    format!(
                        "nstat: {name} changed by {delta} since the last nstat, the script \
                         wants {}",
                        want.map_or("a change".to_string(), |n| n.to_string())
                    ),
                    None,
                ));
            }
        }
        if update {
            self.nstat_base = now;
        }
        Ok(())
    }

    /// Makes or removes a file of zeros.
    fn file_action(&mut self, a: &ShellAction) {
        if let ShellAction::File(path, size) = a {
            match size {
                Some(n) => self.files.insert(path.clone(), *n),
                None => self.files.remove(path),
            };
        }
    }

    /// The handle of the connection under test, if the script holds an fd for it.
    pub(crate) fn sut_handle(&mut self) -> Option<synack::SocketHandle> {
        let handles: Vec<synack::SocketHandle> = self.fds.values().map(|f| f.h).collect();
        handles.into_iter().find(|&h| {
            self.stack.local_addr(h).ok() == Some(self.sut_local)
                && self.stack.peer_addr(h).ok() == Some(self.sut_remote)
        })
    }

    fn code(&mut self, code: &str) -> Res<()> {
        let mut defined: Vec<String> = self.py_globals.keys().cloned().collect();
        let asserts = python::parse(code, &mut defined).map_err(Stop::Unsupported)?;
        let info = self
            .stack
            .tcp_info_by_addr(self.sut_local, self.sut_remote)
            .or_else(|| self.stack.tcp_info(self.disconnected?).ok());
        let Some(info) = info else {
            return Err(self.fail(
                "%{ }% code needs a connection under test, and there is none",
                None,
            ));
        };
        let mut vars = python::tcpi_vars(&info);
        if let Some(h) = self.sut_handle() {
            use synack::{SockOpt, SockOptName};
            if let Ok(SockOpt::RecvBuffer(n)) = self.stack.get_option(h, SockOptName::RecvBuffer) {
                vars.insert("SK_MEMINFO_RCVBUF".into(), n as i64);
            }
            if let Ok(SockOpt::SendBuffer(n)) = self.stack.get_option(h, SockOptName::SendBuffer) {
                vars.insert("SK_MEMINFO_SNDBUF".into(), n as i64);
            }
        }
        vars.extend(self.py_globals.iter().map(|(k, v)| (k.clone(), *v)));
        for a in &asserts {
            match a.run(&mut vars) {
                Ok(true) => {
                    if let Some(n) = a.assigned() {
                        self.py_globals.insert(n.to_string(), vars[n]);
                    }
                }
                Ok(false) => {
                    let mut used: Vec<String> = vars
                        .iter()
                        .filter(|(k, _)| a.text().contains(*k))
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    used.sort();
                    return Err(self.fail(
                        format!("assertion failed: `{}` with {}", a.text(), used.join(", ")),
                        None,
                    ));
                }
                Err(e) => return Err(Stop::Unsupported(e)),
            }
        }
        Ok(())
    }
}
