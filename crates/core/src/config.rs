//! The engine's configuration, with Linux's sysctl names and defaults.
//!
//! Every knob carries the name of the sysctl it mirrors (`net.ipv4.tcp_syn_retries` is
//! [`Config::tcp_syn_retries`]), so advice written for Linux applies as written.
//! [`Config::set_sysctl`] sets a knob from its name and the text `sysctl -w` would take.

use core::fmt;
use core::time::Duration;

use crate::congestion::{Algorithm, Hystart};

/// Engine configuration. `Config::default()` is Linux's defaults (DESIGN.md's table) with
/// secrets from the operating system's random source; [`Config::seeded`] is the same with
/// reproducible secrets, for simulations and tests (see [`Config::seed`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// `tcp_syn_retries`: SYN retransmissions before connect() fails with ETIMEDOUT.
    pub tcp_syn_retries: u32,
    /// `tcp_synack_retries`: SYN-ACK retransmissions before a half-open request is dropped.
    pub tcp_synack_retries: u32,
    /// `tcp_retries1`: retransmissions before the path is suspected (no effect here yet
    /// beyond the snapshot).
    pub tcp_retries1: u32,
    /// `tcp_retries2`: the retransmission budget of an established connection, counted as
    /// Linux counts it (a time bound computed from doubling RTOs), then ETIMEDOUT.
    pub tcp_retries2: u32,
    /// `tcp_orphan_retries`: the budget for orphaned connections (0 means 8, as in Linux).
    pub tcp_orphan_retries: u32,
    /// `tcp_max_orphans`: at most this many orphans (connections the program closed that
    /// are still finishing: FIN-WAIT-1, CLOSING, LAST-ACK, and FIN-WAIT-2 when
    /// `tcp_fin_timeout` exceeds TIME-WAIT's length). Beyond it, Linux's tcp_check_oom
    /// ("too many orphaned sockets"): close() resets the connection after its FIN, and an
    /// orphan's retransmission or probe timer resets it instead of retransmitting, each
    /// counted in TCPAbortOnMemory. The count compared is the one Linux's
    /// tcp_orphan_cache holds, refreshed every 100 ms. Linux sizes it from memory, as
    /// `tcp_max_tw_buckets`: half the established hash's entries (tcp_init), 262144 for
    /// the hash size that gives `tcp_max_tw_buckets` its default here.
    pub tcp_max_orphans: usize,
    /// `tcp_mem`: the stack-wide budget of payload-ring memory, in pages of 4096 bytes
    /// (low, pressure, high), as Linux's (stack/budget.rs): above `pressure` the stack is
    /// under memory pressure until usage falls below `low` (receive windows and send
    /// buffers stop growing, out-of-order data is pruned); above `high` rings may not
    /// grow (incoming data that needs memory is dropped, `send` takes only what the
    /// ring holds, orphans are reset). The default is Linux's tcp_init_mem for this
    /// machine's memory: see [`tcp_mem_for`].
    pub tcp_mem: [u64; 3],
    /// `tcp_fin_timeout`: how long an orphaned connection waits in FIN_WAIT_2.
    pub tcp_fin_timeout: Duration,
    /// TCP_TIMEWAIT_LEN: how long TIME_WAIT lasts (2MSL). Linux hard-codes 60 s.
    pub tcp_timewait_len: Duration,
    /// `tcp_max_tw_buckets`: at most this many TIME_WAIT entries; beyond it a closing
    /// connection skips TIME_WAIT (counted as TCPTimeWaitOverflow).
    pub tcp_max_tw_buckets: usize,
    /// `tcp_tw_reuse`: 0 off, 1 on, 2 loopback only (Linux's default).
    pub tcp_tw_reuse: u8,
    /// `tcp_tw_recycle` (historical, removed in Linux 4.12; off by default): remember
    /// each peer's last timestamp when its connection enters TIME-WAIT, cut that
    /// TIME-WAIT to 3.5 RTO, and drop SYNs from the address with an older timestamp for
    /// 60 s. Breaks clients behind NAT; kept to reproduce that (see `tw_recycle.rs`).
    pub tcp_tw_recycle: bool,
    /// `tcp_syncookies`: 0 off, 1 when the SYN queue overflows, 2 always.
    pub tcp_syncookies: u8,
    /// `tcp_max_syn_backlog`: the SYN queue's limit.
    pub tcp_max_syn_backlog: usize,
    /// `net.core.somaxconn`: the cap on `listen()`'s backlog.
    pub somaxconn: u32,
    /// `tcp_abort_on_overflow`: when the accept queue is full, reset the third-step ACK's
    /// connection instead of dropping the ACK.
    pub tcp_abort_on_overflow: bool,
    /// `tcp_fastopen`: the TCP Fast Open bits (RFC 7413), as Linux reads them: 0x1
    /// clients may use it, 0x2 listeners may, 0x4 clients send SYN data without a
    /// cookie, 0x200 listeners take SYN data without one, 0x400 every listener takes
    /// Fast Open without the `TCP_FASTOPEN` option ([`crate::fastopen`]). Linux's
    /// default is 0x1.
    pub tcp_fastopen: u32,
    /// `tcp_fastopen_key`: the key (and backup key) behind server cookies; `None`, the
    /// default, is a key drawn from the stack's secrets, as Linux draws one at random.
    pub tcp_fastopen_key: Option<crate::fastopen::FastOpenKeys>,
    /// `tcp_fastopen_blackhole_timeout_sec`: Linux's active Fast Open blackhole
    /// detection, off (0) by default; the engine does not model it, so only 0 is taken.
    pub tcp_fastopen_blackhole_timeout_sec: u32,
    /// `tcp_keepalive_time`: idle time before the first keepalive probe.
    pub tcp_keepalive_time: Duration,
    /// `tcp_keepalive_intvl`: time between keepalive probes.
    pub tcp_keepalive_intvl: Duration,
    /// `tcp_keepalive_probes`: unanswered probes before the connection is dropped.
    pub tcp_keepalive_probes: u32,
    /// `ip_local_port_range`: the ephemeral ports, inclusive.
    pub ip_local_port_range: (u16, u16),
    /// `ip_local_reserved_ports`: ports never chosen as ephemeral.
    pub ip_local_reserved_ports: Vec<u16>,
    /// `tcp_timestamps`: send and accept RFC 7323 timestamps.
    pub tcp_timestamps: bool,
    /// `tcp_sack`: offer and accept SACK (RFC 2018).
    pub tcp_sack: bool,
    /// `tcp_window_scaling`: offer and accept window scaling (RFC 7323).
    pub tcp_window_scaling: bool,
    /// `tcp_rmem`: min, default and max receive buffer, bytes.
    pub tcp_rmem: [usize; 3],
    /// `tcp_moderate_rcvbuf`: receive-buffer autotuning (Linux's dynamic right-sizing:
    /// a buffer the user did not fix grows with what the application reads per round
    /// trip, up to `tcp_rmem[2]`).
    pub tcp_moderate_rcvbuf: bool,
    /// `tcp_app_win`: keep `window / 2^tcp_app_win` of the buffer out of the window for
    /// the application (31, Linux's default, keeps one segment; 0 keeps nothing).
    pub tcp_app_win: u8,
    /// `tcp_adv_win_scale`: obsolete since Linux 6.6, which measures the payload share
    /// of the buffer per socket (`scaling_ratio`); accepted (-31..=31) and, as in Linux,
    /// without effect.
    pub tcp_adv_win_scale: i8,
    /// `tcp_shrink_window`: with window scaling on, the offered window may shrink when
    /// memory runs short (the right edge moves left, which RFC 7323 section 2.4 allows);
    /// off (Linux's default), it never does (RFC 9293 section 3.8.6).
    pub tcp_shrink_window: bool,
    /// `tcp_thin_linear_timeouts`: a thin stream (fewer than four segments in flight)
    /// keeps its RTO instead of doubling it for its first six timeouts (Linux's
    /// TCP_THIN_LINEAR_RETRIES), so that a lost segment of an interactive flow is resent
    /// sooner.
    pub tcp_thin_linear_timeouts: bool,
    /// `tcp_wmem`: min, default and max send buffer, bytes.
    pub tcp_wmem: [usize; 3],
    /// `net.core.rmem_max`: the largest SO_RCVBUF a program may ask for (before Linux
    /// doubles it); also counts when choosing the window scale. 4 MiB, Linux's default
    /// since upstream commit a6d4f25888b8 (212992 before).
    pub rmem_max: usize,
    /// `net.core.wmem_max`: the largest SO_SNDBUF a program may ask for (before Linux
    /// doubles it). 4 MiB, as `rmem_max`.
    pub wmem_max: usize,
    /// Initial congestion window in segments (RFC 6928; Linux TCP_INIT_CWND).
    pub initial_cwnd: u32,
    /// Initial retransmission timeout (RFC 6298 2.1; Linux TCP_TIMEOUT_INIT).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (Linux TCP_RTO_MIN).
    pub rto_min: Duration,
    /// Upper bound of the RTO (Linux TCP_RTO_MAX; the sysctl `tcp_rto_max_ms`). The RTO
    /// and its bounds are kept in 32-bit microseconds as Linux keeps them, so values past
    /// about 71 minutes act as 71 minutes.
    pub rto_max: Duration,
    /// Minimum delayed-ACK timeout (Linux TCP_DELACK_MIN).
    pub delack_min: Duration,
    /// Maximum delayed-ACK timeout (Linux TCP_DELACK_MAX).
    pub delack_max: Duration,
    /// `tcp_congestion_control`: the congestion control algorithm.
    pub tcp_congestion_control: Algorithm,
    /// `tcp_invalid_ratelimit`: minimum spacing of challenge ACKs and of the ACKs sent
    /// for out-of-window segments, per connection (RFC 5961 section 7).
    pub tcp_invalid_ratelimit: Duration,
    /// `tcp_challenge_ack_limit`: challenge ACKs per second, stack-wide (RFC 5961 7).
    pub tcp_challenge_ack_limit: u32,
    /// `tcp_rfc1337`: when set, a RST in TIME_WAIT is ignored (RFC 1337) instead of
    /// ending TIME_WAIT early as Linux does by default.
    pub tcp_rfc1337: bool,
    /// `tcp_slow_start_after_idle`: shrink cwnd after an idle period (RFC 5681 4.1).
    pub tcp_slow_start_after_idle: bool,
    /// `tcp_early_retrans`: 3 or 4 enable tail loss probes (RFC 8985 section 7) on SACK
    /// connections, as Linux does by default (3); other values turn them off.
    pub tcp_early_retrans: u8,
    /// `tcp_dsack`: send D-SACKs (RFC 2883) for duplicate data received.
    pub tcp_dsack: bool,
    /// `tcp_reordering`: the reordering a connection starts by assuming, in packets
    /// (RFC 5681's DupThresh; Linux's tp->reordering starts here and grows when a SACK
    /// shows the network reordered more).
    pub tcp_reordering: u32,
    /// `tcp_max_reordering`: the most reordering a connection comes to assume.
    pub tcp_max_reordering: u32,
    /// `tcp_frto`: F-RTO (RFC 5682), the detection of spurious retransmission timeouts:
    /// after a timeout, the first ACK that advances SND.UNA lets new data go, and an ACK
    /// of data never retransmitted then undoes the timeout (cwnd and ssthresh restored;
    /// see `conn/frto.rs`). Linux's default 2, the SACK-enhanced algorithm of RFC 5682
    /// section 3, which Linux also runs for 1; 0 turns it off.
    pub tcp_frto: u8,
    /// `tcp_recovery`: loss-recovery bits, as Linux's. 0x1: RACK loss detection (RFC
    /// 8985; off, a hole is lost only once `reordering` segments are SACKed above it);
    /// 0x4: no DupThresh shortcut for RACK (its reordering window applies even when
    /// that many are SACKed). 0x2 (a static reordering window) is what the engine
    /// always does. Linux's default 1.
    pub tcp_recovery: u8,
    /// CUBIC's HyStart module parameters (`/sys/module/tcp_cubic/parameters/hystart`,
    /// `hystart_detect`, `hystart_low_window`, `hystart_ack_delta_us`; knobs
    /// `tcp_cubic.hystart` and so on), Linux's defaults: on, both tests, from 16 packets,
    /// 2 ms ACK spacing.
    pub hystart: Hystart,
    /// `tcp_notsent_lowat`: a connection is writable only while fewer bytes than this
    /// wait unsent (TCP_NOTSENT_LOWAT's default; Linux's is UINT_MAX, no limit).
    pub tcp_notsent_lowat: u32,
    /// `tcp_min_tso_segs`: the fewest segments a transmission unit (Linux's TSO/GSO
    /// packet) is cut to when the pacing rate would allow fewer (tcp_tso_autosize).
    pub tcp_min_tso_segs: u8,
    /// `tcp_tso_win_divisor`: while cwnd and the window allow less than a full
    /// transmission unit, sending is deferred in the hope of a larger one unless at
    /// least this fraction (1/n) of the smaller of cwnd and the window is free
    /// (Linux's tcp_tso_should_defer); 0: unless more than three segments are.
    /// Linux's default 3.
    pub tcp_tso_win_divisor: u8,
    /// `tcp_autocorking`: a write that would push a partial skb while an earlier one of
    /// the connection still waits for the device leaves it open for the next write
    /// (Linux's tcp_should_autocork; counted in `TCPAutoCorking`). Linux's default 1.
    pub tcp_autocorking: bool,
    /// `tcp_tso_rtt_log`: transmission units grow on paths of small minimum RTT by
    /// `64 KiB >> (min_rtt_us >> tcp_tso_rtt_log)` on top of the pacing rate's share
    /// (tcp_tso_autosize). Linux's default 9 (512 µs).
    pub tcp_tso_rtt_log: u8,
    /// `tcp_pacing_ss_ratio`: the pacing rate in slow start (cwnd below half of
    /// ssthresh), percent of cwnd per smoothed RTT (tcp_update_pacing_rate). Linux's
    /// default 200.
    pub tcp_pacing_ss_ratio: u16,
    /// `tcp_pacing_ca_ratio`: the pacing rate otherwise, percent of cwnd per smoothed
    /// RTT. Linux's default 120.
    pub tcp_pacing_ca_ratio: u16,
    /// The queueing discipline of the device the stack sends through, as `tc qdisc`
    /// sets it on Linux: [`Qdisc::Fifo`] (the default) sends each datagram as soon as
    /// the engine decides it; [`Qdisc::Fq`] paces every connection at its pacing rate,
    /// as Linux's fq qdisc does (conn/pacing.rs); [`Qdisc::DropAll`] drops everything.
    pub qdisc: Qdisc,
    /// `tcp_pingpong_thresh`: replies sent within the delayed-ACK timeout of a request
    /// that make a connection interactive (its ACKs wait to ride on replies).
    pub tcp_pingpong_thresh: u8,
    /// Link MTU, bytes: the MSS we advertise is derived from it.
    pub mtu: usize,
    /// IP TTL / hop limit of the packets we send (`ip_default_ttl`).
    pub ip_default_ttl: u8,
    /// `icmp_echo_ignore_all`: echo requests go unanswered.
    pub icmp_echo_ignore_all: bool,
    /// `icmp_ratelimit`: a destination receives at most one rate-limited ICMP error per
    /// this interval, after a burst of six (Linux's inet_peer_xrlim_allow); 0 turns the
    /// limit off. It applies to ICMPv6 errors too (Linux's `net.ipv6.icmp.ratelimit`,
    /// also 1 s).
    pub icmp_ratelimit: Duration,
    /// `icmp_ratemask`: the ICMP types `icmp_ratelimit` applies to, one bit per type
    /// (Linux's default 6168: destination unreachable, source quench, time exceeded,
    /// parameter problem).
    pub icmp_ratemask: u32,
    /// `ip_no_pmtu_disc`: 0 does path MTU discovery (RFC 1191: DF set, "fragmentation
    /// needed" lowers the MSS); 1 turns it off (DF clear, those messages ignored).
    pub ip_no_pmtu_disc: u8,
    /// `tcp_mtu_probing`: 0 never lowers the MSS without an ICMP; 1 does when
    /// retransmissions suggest an ICMP black hole (RFC 4821 black-hole detection, after
    /// `tcp_retries1` timeouts), and from then on probes upward as 2 does; 2 searches
    /// the path MTU on every connection (RFC 4821 probing, Linux's tcp_mtu_probe): the
    /// MSS capped at `tcp_base_mss` until a probe of a larger size is acknowledged.
    pub tcp_mtu_probing: u8,
    /// `tcp_ecn`: Explicit Congestion Notification (RFC 3168). 0: off; 1: asked for on
    /// connections we open and accepted on those we are asked on; 2 (Linux's default):
    /// accepted only. AccECN (3 and up) is not supported.
    pub tcp_ecn: u8,
    /// `tcp_ecn_fallback`: a retransmitted SYN stops asking for ECN (1, Linux's
    /// default), in case a middlebox drops ECN-setup SYNs.
    pub tcp_ecn_fallback: bool,
    /// `tcp_min_snd_mss`: the smallest MSS this stack sends with (Linux's default 48,
    /// TCP_MIN_SND_MSS, also the least it takes): a peer's MSS option below it is raised
    /// to it, and neither a path MTU (ICMP) nor black-hole detection brings the MSS
    /// lower (Linux's __tcp_mtu_to_mss and tcp_mtu_probing). Options are taken out of
    /// it afterwards, as Linux's tcp_mtu_to_mss does.
    pub tcp_min_snd_mss: u32,
    /// `tcp_base_mss`: the MSS black-hole detection and probing start from (1024).
    pub tcp_base_mss: u32,
    /// `tcp_probe_threshold`: path MTU probing stops when the MTUs it searches between
    /// are less than this many bytes apart (8).
    pub tcp_probe_threshold: u32,
    /// `tcp_probe_interval`: how long after the last search path MTU probing searches
    /// again, from the MSS in use (600 s).
    pub tcp_probe_interval: Duration,
    /// `tcp_mtu_probe_floor`: the MSS black-hole detection never goes below (48).
    pub tcp_mtu_probe_floor: u32,
    /// Per-destination route metrics (`ip route ... advmss N mtu [lock] N initcwnd N`):
    /// read when a connection opens (route.rs). Change them on a running stack with
    /// [`Stack::set_route`](crate::Stack::set_route), which also tells the open
    /// connections.
    pub routes: crate::route::Routes,
    /// Where the engine's secrets come from: the RFC 6528 ISN key, the SYN-cookie
    /// secrets, the demultiplexing tables' hash key, and the keys behind timestamp offsets
    /// and ephemeral-port choice.
    ///
    /// - `None` (the default, [`Config::default`]): drawn from the operating system's
    ///   random source when the [`Stack`](crate::Stack) is made. Peers cannot predict
    ///   sequence numbers (the blind-spoofing attack RFC 6528 exists to stop), forge SYN
    ///   cookies, or aim 4-tuples at one hash bucket. This is the setting for a real
    ///   network.
    /// - `Some(seed)` ([`Config::seeded`]): expanded from `seed`, so the same seed and
    ///   inputs give the same outputs, bit for bit. This is for the simulated network,
    ///   tests, replays and demos; anyone who knows or guesses the seed can compute every
    ///   secret, so never use it where an attacker can reach the stack.
    pub seed: Option<u64>,
}

/// Linux's tcp_init_mem: `tcp_mem` for a machine with `free_pages` pages of 4096 bytes
/// to give to buffers (Linux's nr_free_buffer_pages at boot): a sixteenth of them (at
/// least 128) is the pressure threshold, three quarters of that the low mark, twice
/// the low mark the limit (4.68 %, 6.25 % and 9.37 % of memory).
pub fn tcp_mem_for(free_pages: u64) -> [u64; 3] {
    let limit = (free_pages / 16).max(128);
    let low = limit / 4 * 3;
    [low, limit, low * 2]
}

/// This machine's memory in pages of 4096 bytes, as `tcp_mem`'s default is computed
/// from it: `MemTotal` of `/proc/meminfo` (nearly all of it is free when Linux computes
/// nr_free_buffer_pages at boot), read once per process. Where that file cannot be
/// read (not Linux), 4 GiB is assumed.
pub fn machine_pages() -> u64 {
    static PAGES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGES.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib / 4)
            })
            .unwrap_or(1 << 20)
    })
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tcp_syn_retries: 6,
            tcp_synack_retries: 5,
            tcp_retries1: 3,
            tcp_retries2: 15,
            tcp_orphan_retries: 0,
            tcp_max_orphans: 262_144,
            tcp_mem: tcp_mem_for(machine_pages()),
            tcp_fin_timeout: Duration::from_secs(60),
            tcp_timewait_len: Duration::from_secs(60),
            tcp_max_tw_buckets: 262_144,
            tcp_tw_reuse: 2,
            tcp_tw_recycle: false,
            tcp_syncookies: 1,
            tcp_max_syn_backlog: 1024,
            somaxconn: 4096,
            tcp_abort_on_overflow: false,
            tcp_fastopen: crate::fastopen::TFO_CLIENT_ENABLE,
            tcp_fastopen_key: None,
            tcp_fastopen_blackhole_timeout_sec: 0,
            tcp_keepalive_time: Duration::from_secs(7200),
            tcp_keepalive_intvl: Duration::from_secs(75),
            tcp_keepalive_probes: 9,
            ip_local_port_range: (32768, 60999),
            ip_local_reserved_ports: Vec::new(),
            tcp_timestamps: true,
            tcp_sack: true,
            tcp_window_scaling: true,
            tcp_rmem: [4096, 131_072, 6_291_456],
            tcp_moderate_rcvbuf: true,
            tcp_app_win: 31,
            tcp_adv_win_scale: 1,
            tcp_shrink_window: false,
            tcp_thin_linear_timeouts: false,
            tcp_wmem: [4096, 16_384, 4_194_304],
            rmem_max: 4_194_304,
            wmem_max: 4_194_304,
            initial_cwnd: 10,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            delack_min: Duration::from_millis(40),
            delack_max: Duration::from_millis(200),
            tcp_congestion_control: Algorithm::Cubic,
            tcp_invalid_ratelimit: Duration::from_millis(500),
            tcp_challenge_ack_limit: i32::MAX as u32,
            tcp_rfc1337: false,
            tcp_slow_start_after_idle: true,
            tcp_early_retrans: 3,
            tcp_reordering: 3,
            tcp_max_reordering: 300,
            tcp_recovery: 1,
            hystart: Hystart::default(),
            tcp_frto: 2,
            tcp_dsack: true,
            tcp_pingpong_thresh: 1,
            qdisc: Qdisc::Fifo,
            tcp_notsent_lowat: u32::MAX,
            tcp_min_tso_segs: 2,
            tcp_tso_win_divisor: 3,
            tcp_autocorking: true,
            tcp_tso_rtt_log: 9,
            tcp_pacing_ss_ratio: 200,
            tcp_pacing_ca_ratio: 120,
            mtu: 1500,
            ip_default_ttl: 64,
            icmp_echo_ignore_all: false,
            icmp_ratelimit: Duration::from_millis(1000),
            icmp_ratemask: 6168,
            ip_no_pmtu_disc: 0,
            tcp_mtu_probing: 0,
            tcp_ecn: 2,
            tcp_ecn_fallback: true,
            tcp_base_mss: 1024,
            tcp_probe_threshold: 8,
            tcp_probe_interval: Duration::from_secs(600),
            tcp_min_snd_mss: 48,
            tcp_mtu_probe_floor: 48,
            routes: crate::route::Routes::default(),
            seed: None,
        }
    }
}

/// A device's queueing discipline (Linux's `tc qdisc ... root KIND`), as far as it
/// changes what TCP puts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Qdisc {
    /// `pfifo_fast`, `pfifo`, `noqueue` (Linux's default qdiscs): a datagram leaves
    /// when the engine emits it.
    #[default]
    Fifo,
    /// `fq`, the Fair Queue packet scheduler: each connection's data leaves no earlier
    /// than its earliest departure time, which advances by every transmission unit's
    /// length at the connection's pacing rate (Linux's tcp_update_skb_after_send, EDT;
    /// `tcpi_pacing_rate`). The engine holds a unit until its time and reports that
    /// time in [`Stack::poll_timeout`](crate::Stack::poll_timeout); pure ACKs are not
    /// held.
    Fq,
    /// `pfifo limit 0`, a queue of no packets: every datagram the stack sends is dropped
    /// at the device, local congestion. TCP sees each transmission fail as Linux's
    /// tcp_transmit_skb sees NET_XMIT_DROP: the data is not sent (nothing goes in
    /// flight, a retransmission does not count as one), the connection enters CWR, and
    /// with nothing in flight the probe timer retries every 500 ms
    /// (TCP_RESOURCE_PROBE_INTERVAL) without backing off, until the retry budget or
    /// TCP_USER_TIMEOUT ends the connection.
    DropAll,
}

/// Why a sysctl could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The engine has no knob by that name.
    UnknownKnob(String),
    /// The value does not parse or is out of range for the knob.
    BadValue {
        /// The knob.
        knob: String,
        /// The value given.
        value: String,
        /// What the knob takes.
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKnob(k) => write!(
                f,
                "unknown sysctl `{k}`; known: {}",
                Config::KNOBS.join(", ")
            ),
            ConfigError::BadValue {
                knob,
                value,
                expected,
            } => write!(f, "bad value `{value}` for {knob}: expected {expected}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A knob's short name: the sysctl without `net.ipv4.` or `net.core.` (dots or slashes,
/// `/proc/sys/` or not), or a module parameter as `tcp_cubic.NAME`
/// (`/sys/module/tcp_cubic/parameters/NAME`).
pub fn knob_name(name: &str) -> String {
    let n = name.trim().replace('/', ".");
    let n = n.trim_start_matches('.');
    let n = n.strip_prefix("proc.sys.").unwrap_or(n);
    if let Some(module) = n.strip_prefix("sys.module.") {
        return module.replacen(".parameters.", ".", 1);
    }
    n.trim_start_matches("net.ipv4.")
        .trim_start_matches("net.core.")
        .to_string()
}

impl Config {
    /// Linux's defaults with secrets expanded from `seed` instead of drawn from the
    /// operating system: reproducible, for simulations, tests and demos only (see
    /// [`Config::seed`]).
    pub fn seeded(seed: u64) -> Config {
        Config {
            seed: Some(seed),
            ..Config::default()
        }
    }

    /// The sysctl names [`Config::set_sysctl`] accepts.
    pub const KNOBS: &'static [&'static str] = &[
        "tcp_syn_retries",
        "tcp_synack_retries",
        "tcp_retries1",
        "tcp_retries2",
        "tcp_orphan_retries",
        "tcp_max_orphans",
        "tcp_mem",
        "tcp_fin_timeout",
        "tcp_max_tw_buckets",
        "tcp_tw_reuse",
        "tcp_tw_recycle",
        "tcp_syncookies",
        "tcp_max_syn_backlog",
        "somaxconn",
        "tcp_abort_on_overflow",
        "tcp_fastopen",
        "tcp_fastopen_key",
        "tcp_fastopen_blackhole_timeout_sec",
        "tcp_keepalive_time",
        "tcp_keepalive_intvl",
        "tcp_keepalive_probes",
        "ip_local_port_range",
        "ip_local_reserved_ports",
        "tcp_timestamps",
        "tcp_sack",
        "tcp_window_scaling",
        "tcp_rmem",
        "tcp_moderate_rcvbuf",
        "tcp_app_win",
        "tcp_adv_win_scale",
        "tcp_shrink_window",
        "tcp_thin_linear_timeouts",
        "tcp_rto_max_ms",
        "tcp_wmem",
        "rmem_max",
        "wmem_max",
        "tcp_congestion_control",
        "tcp_invalid_ratelimit",
        "tcp_challenge_ack_limit",
        "tcp_rfc1337",
        "tcp_slow_start_after_idle",
        "tcp_early_retrans",
        "tcp_dsack",
        "tcp_reordering",
        "tcp_max_reordering",
        "tcp_recovery",
        "tcp_frto",
        "tcp_pingpong_thresh",
        "tcp_notsent_lowat",
        "tcp_min_tso_segs",
        "tcp_tso_win_divisor",
        "tcp_autocorking",
        "tcp_tso_rtt_log",
        "tcp_pacing_ss_ratio",
        "tcp_pacing_ca_ratio",
        "ip_default_ttl",
        "icmp_echo_ignore_all",
        "icmp_ratelimit",
        "icmp_ratemask",
        "ip_no_pmtu_disc",
        "tcp_mtu_probing",
        "tcp_ecn",
        "tcp_ecn_fallback",
        "tcp_base_mss",
        "tcp_probe_threshold",
        "tcp_probe_interval",
        "tcp_min_snd_mss",
        "tcp_mtu_probe_floor",
        "tcp_cubic.hystart",
        "tcp_cubic.hystart_detect",
        "tcp_cubic.hystart_low_window",
        "tcp_cubic.hystart_ack_delta_us",
    ];

    /// Sets a knob by its sysctl name (with or without the `net.ipv4.` / `net.core.`
    /// prefix, with dots or slashes) from the text `sysctl -w` takes: seconds for the
    /// time knobs, milliseconds for `tcp_invalid_ratelimit`, space-separated triples for
    /// `tcp_rmem`/`tcp_wmem`, `lo hi` for `ip_local_port_range`. CUBIC's module
    /// parameters go by their boot-parameter names (`tcp_cubic.hystart_detect`) or their
    /// paths (`/sys/module/tcp_cubic/parameters/hystart_detect`).
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let knob = knob_name(name);
        let v = value.trim();
        let bad = |expected: &'static str| ConfigError::BadValue {
            knob: knob.clone(),
            value: v.to_string(),
            expected,
        };
        let num = |expected| v.parse::<u64>().map_err(|_| bad(expected));
        let secs = || num("whole seconds").map(Duration::from_secs);
        let flag = || match v {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(bad("0 or 1")),
        };
        let small = |max: u64, expected| match num(expected)? {
            n if n <= max => Ok(n),
            _ => Err(bad(expected)),
        };
        match knob.as_str() {
            "tcp_syn_retries" => self.tcp_syn_retries = small(127, "0..=127")? as u32,
            "tcp_synack_retries" => self.tcp_synack_retries = small(255, "0..=255")? as u32,
            "tcp_retries1" => self.tcp_retries1 = small(255, "0..=255")? as u32,
            "tcp_retries2" => self.tcp_retries2 = small(255, "0..=255")? as u32,
            "tcp_orphan_retries" => self.tcp_orphan_retries = small(255, "0..=255")? as u32,
            "tcp_max_orphans" => {
                self.tcp_max_orphans = small(i32::MAX as u64, "a count below 2^31")? as usize
            }
            "tcp_mem" => {
                // Linux takes any three numbers (proc_doulongvec_minmax).
                let vals: Vec<u64> = v
                    .split_whitespace()
                    .map(|p| p.parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("three page counts `low pressure high`"))?;
                self.tcp_mem = match vals[..] {
                    [a, b, c] => [a, b, c],
                    _ => return Err(bad("three page counts `low pressure high`")),
                };
            }
            "tcp_fin_timeout" => self.tcp_fin_timeout = secs()?,
            "tcp_max_tw_buckets" => self.tcp_max_tw_buckets = num("a count")? as usize,
            "tcp_tw_reuse" => self.tcp_tw_reuse = small(2, "0, 1 or 2")? as u8,
            "tcp_tw_recycle" => self.tcp_tw_recycle = flag()?,
            "tcp_syncookies" => self.tcp_syncookies = small(2, "0, 1 or 2")? as u8,
            "tcp_max_syn_backlog" => self.tcp_max_syn_backlog = num("a count")? as usize,
            "somaxconn" => self.somaxconn = small(u32::MAX as u64, "a count below 2^32")? as u32,
            "tcp_abort_on_overflow" => self.tcp_abort_on_overflow = flag()?,
            "tcp_fastopen" => {
                // Linux's proc_dointvec takes decimal or 0x-prefixed hex.
                let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => v.parse::<u32>().ok(),
                };
                self.tcp_fastopen = n.ok_or_else(|| bad("a bit mask such as 0x3"))?;
            }
            "tcp_fastopen_blackhole_timeout_sec" => {
                self.tcp_fastopen_blackhole_timeout_sec =
                    small(0, "0 (blackhole detection is not modelled)")? as u32;
            }
            "tcp_fastopen_key" => {
                self.tcp_fastopen_key = Some(
                    crate::fastopen::FastOpenKeys::parse_sysctl(v).ok_or_else(|| {
                        bad("a key `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx` (hex words), \
                             optionally `,` and a backup key")
                    })?,
                );
            }
            "tcp_keepalive_time" => self.tcp_keepalive_time = secs()?,
            "tcp_keepalive_intvl" => self.tcp_keepalive_intvl = secs()?,
            "tcp_keepalive_probes" => self.tcp_keepalive_probes = small(127, "0..=127")? as u32,
            "ip_local_port_range" => {
                let mut it = v.split_whitespace().map(|p| p.parse::<u16>());
                match (it.next(), it.next(), it.next()) {
                    (Some(Ok(lo)), Some(Ok(hi)), None) if 0 < lo && lo <= hi => {
                        self.ip_local_port_range = (lo, hi)
                    }
                    _ => return Err(bad("two ports `lo hi` with 0 < lo <= hi")),
                }
            }
            "ip_local_reserved_ports" => {
                let mut ports = Vec::new();
                for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let range = |s: &str| s.trim().parse::<u16>();
                    match part.split_once('-') {
                        Some((a, b)) => match (range(a), range(b)) {
                            (Ok(a), Ok(b)) if a <= b => ports.extend(a..=b),
                            _ => return Err(bad("ports and ranges like `8080,9000-9010`")),
                        },
                        None => ports.push(
                            range(part)
                                .map_err(|_| bad("ports and ranges like `8080,9000-9010`"))?,
                        ),
                    }
                }
                self.ip_local_reserved_ports = ports;
            }
            "tcp_timestamps" => self.tcp_timestamps = small(2, "0, 1 or 2")? != 0,
            "tcp_sack" => self.tcp_sack = flag()?,
            "tcp_window_scaling" => self.tcp_window_scaling = flag()?,
            "tcp_rmem" | "tcp_wmem" => {
                let vals: Vec<usize> = v
                    .split_whitespace()
                    .map(|p| p.parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("three sizes `min default max`"))?;
                let triple = match vals[..] {
                    [a, b, c] if a <= b && b <= c && a > 0 => [a, b, c],
                    _ => return Err(bad("three sizes `min default max`, ascending")),
                };
                if knob == "tcp_rmem" {
                    self.tcp_rmem = triple;
                } else {
                    self.tcp_wmem = triple;
                }
            }
            "tcp_moderate_rcvbuf" => self.tcp_moderate_rcvbuf = flag()?,
            "tcp_app_win" => self.tcp_app_win = small(31, "0..=31")? as u8,
            "tcp_adv_win_scale" => match v.parse::<i8>() {
                Ok(n @ -31..=31) => self.tcp_adv_win_scale = n,
                _ => return Err(bad("-31..=31")),
            },
            "tcp_shrink_window" => self.tcp_shrink_window = flag()?,
            "tcp_thin_linear_timeouts" => self.tcp_thin_linear_timeouts = flag()?,
            // Linux 6.15's tcp_rto_max_ms: the RTO's ceiling, 1 s to 120 s.
            "tcp_rto_max_ms" => match num("1000..=120000 milliseconds")? {
                n @ 1000..=120_000 => self.rto_max = Duration::from_millis(n),
                _ => return Err(bad("1000..=120000 milliseconds")),
            },
            "rmem_max" => self.rmem_max = small(i32::MAX as u64, "bytes below 2^31")? as usize,
            "wmem_max" => self.wmem_max = small(i32::MAX as u64, "bytes below 2^31")? as usize,
            "tcp_congestion_control" => {
                self.tcp_congestion_control = v.parse().map_err(|_| bad("reno or cubic"))?
            }
            "tcp_invalid_ratelimit" => {
                self.tcp_invalid_ratelimit = Duration::from_millis(num("milliseconds")?)
            }
            "tcp_challenge_ack_limit" => {
                self.tcp_challenge_ack_limit = small(u32::MAX as u64, "a count")? as u32
            }
            "tcp_rfc1337" => self.tcp_rfc1337 = flag()?,
            "tcp_slow_start_after_idle" => self.tcp_slow_start_after_idle = flag()?,
            "tcp_early_retrans" => self.tcp_early_retrans = small(4, "0..=4")? as u8,
            "tcp_dsack" => self.tcp_dsack = flag()?,
            "tcp_autocorking" => self.tcp_autocorking = flag()?,
            "tcp_reordering" => match num("1..=300")? {
                n @ 1..=300 => self.tcp_reordering = n as u32,
                _ => return Err(bad("1..=300")),
            },
            "tcp_frto" => self.tcp_frto = small(2, "0, 1 or 2")? as u8,
            "tcp_recovery" => self.tcp_recovery = small(7, "bits 0x1, 0x2, 0x4: 0..=7")? as u8,
            "tcp_max_reordering" => match num("1..=65535")? {
                n @ 1..=65535 => self.tcp_max_reordering = n as u32,
                _ => return Err(bad("1..=65535")),
            },
            "tcp_notsent_lowat" => {
                self.tcp_notsent_lowat = small(u32::MAX as u64, "bytes below 2^32")? as u32
            }
            "tcp_min_tso_segs" => match num("1..=255")? {
                n @ 1..=255 => self.tcp_min_tso_segs = n as u8,
                _ => return Err(bad("1..=255")),
            },
            "tcp_tso_win_divisor" => self.tcp_tso_win_divisor = small(255, "0..=255")? as u8,
            "tcp_tso_rtt_log" => self.tcp_tso_rtt_log = small(255, "0..=255")? as u8,
            "tcp_pacing_ss_ratio" => self.tcp_pacing_ss_ratio = small(1000, "0..=1000")? as u16,
            "tcp_pacing_ca_ratio" => self.tcp_pacing_ca_ratio = small(1000, "0..=1000")? as u16,
            "tcp_pingpong_thresh" => match num("1..=255")? {
                n @ 1..=255 => self.tcp_pingpong_thresh = n as u8,
                _ => return Err(bad("1..=255")),
            },
            "ip_default_ttl" => match num("1..=255")? {
                n @ 1..=255 => self.ip_default_ttl = n as u8,
                _ => return Err(bad("1..=255")),
            },
            "icmp_echo_ignore_all" => self.icmp_echo_ignore_all = flag()?,
            "icmp_ratelimit" => self.icmp_ratelimit = Duration::from_millis(num("milliseconds")?),
            "icmp_ratemask" => self.icmp_ratemask = small(u32::MAX as u64, "a bit mask")? as u32,
            "ip_no_pmtu_disc" => self.ip_no_pmtu_disc = small(1, "0 or 1")? as u8,
            "tcp_mtu_probing" => self.tcp_mtu_probing = small(2, "0, 1 or 2")? as u8,
            "tcp_ecn" => {
                self.tcp_ecn = small(2, "0, 1 or 2 (AccECN, 3 and up, is not supported)")? as u8
            }
            "tcp_ecn_fallback" => self.tcp_ecn_fallback = flag()?,
            "tcp_min_snd_mss" => match num("48..=65535")? {
                n @ 48..=65535 => self.tcp_min_snd_mss = n as u32,
                _ => return Err(bad("48..=65535")),
            },
            "tcp_base_mss" => self.tcp_base_mss = small(65535, "48..=65535")?.max(48) as u32,
            "tcp_probe_threshold" => self.tcp_probe_threshold = small(65535, "0..=65535")? as u32,
            "tcp_probe_interval" => self.tcp_probe_interval = secs()?,
            "tcp_mtu_probe_floor" => {
                self.tcp_mtu_probe_floor = small(65535, "48..=65535")?.max(48) as u32
            }
            "tcp_cubic.hystart" => self.hystart.enabled = flag()?,
            "tcp_cubic.hystart_detect" => {
                self.hystart.detect = small(3, "bits 0x1 (ACK train), 0x2 (delay): 0..=3")? as u8
            }
            "tcp_cubic.hystart_low_window" => {
                self.hystart.low_window = small(u32::MAX as u64, "packets")? as u32
            }
            "tcp_cubic.hystart_ack_delta_us" => {
                self.hystart.ack_delta_us = small(u32::MAX as u64, "microseconds")? as u32
            }
            _ => return Err(ConfigError::UnknownKnob(knob)),
        }
        Ok(())
    }

    /// The retransmission budget of orphaned connections (`tcp_orphan_retries`, where 0
    /// means 8 as in Linux's tcp_orphan_retries()).
    pub fn orphan_retries(&self) -> u32 {
        if self.tcp_orphan_retries == 0 {
            8
        } else {
            self.tcp_orphan_retries
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_set_by_linux_names() {
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.tcp_syn_retries", "2").unwrap();
        c.set_sysctl("net/ipv4/tcp_fin_timeout", "30").unwrap();
        c.set_sysctl("net.core.somaxconn", "128").unwrap();
        c.set_sysctl("tcp_rmem", "4096 87380 6291456").unwrap();
        c.set_sysctl("ip_local_port_range", "40000 40010").unwrap();
        c.set_sysctl("ip_local_reserved_ports", "40001,40003-40004")
            .unwrap();
        c.set_sysctl("tcp_congestion_control", "reno").unwrap();
        assert_eq!(c.tcp_syn_retries, 2);
        assert_eq!(c.tcp_fin_timeout, Duration::from_secs(30));
        assert_eq!(c.somaxconn, 128);
        assert_eq!(c.tcp_rmem, [4096, 87380, 6291456]);
        assert_eq!(c.ip_local_port_range, (40000, 40010));
        assert_eq!(c.ip_local_reserved_ports, vec![40001, 40003, 40004]);
        assert_eq!(c.tcp_congestion_control, Algorithm::Reno);
    }

    /// tcp_init_mem's fractions, checked against the Linux machine this was written on
    /// (24,683,568 kB of MemTotal): its `/proc/sys/net/ipv4/tcp_mem` reads `287889
    /// 383855 575778`, a sixteenth of 6,141,680 free buffer pages (MemTotal's pages
    /// give 289260 385680 578520, 0.5 % more).
    #[test]
    fn tcp_mem_defaults_as_linux_computes_them() {
        assert_eq!(tcp_mem_for(6_141_680), [287_889, 383_855, 575_778]);
        assert_eq!(tcp_mem_for(0), [96, 128, 192], "at least 128 pages");
        let c = Config::default();
        assert_eq!(c.tcp_mem, tcp_mem_for(machine_pages()));
        assert!(machine_pages() > 0);
        let mut c = Config::default();
        c.set_sysctl("net.ipv4.tcp_mem", "10 20 30").unwrap();
        assert_eq!(c.tcp_mem, [10, 20, 30]);
        assert_eq!(c.sysctl("tcp_mem").unwrap(), "10\t20\t30");
        let e = c.set_sysctl("tcp_mem", "10 20").unwrap_err();
        assert!(e.to_string().contains("low pressure high"), "{e}");
        assert!(c.set_sysctl("tcp_mem", "a b c").is_err());
        assert_eq!(c.tcp_mem, [10, 20, 30], "a bad value changes nothing");
    }

    #[test]
    fn fast_open_sysctls_as_linux_takes_them() {
        let mut c = Config::default();
        assert_eq!(c.tcp_fastopen, 0x1, "Linux's default: client only");
        c.set_sysctl("net.ipv4.tcp_fastopen", "0x403").unwrap();
        assert_eq!(c.tcp_fastopen, 0x403);
        c.set_sysctl("tcp_fastopen", "3").unwrap();
        assert_eq!(c.tcp_fastopen, 3);
        assert!(c.set_sysctl("tcp_fastopen", "lots").is_err());
        c.set_sysctl(
            "tcp_fastopen_key",
            "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4,00000001-00000002-00000003-00000004",
        )
        .unwrap();
        let k = c.tcp_fastopen_key.unwrap();
        assert_eq!(&k.primary[..4], &[0xa1; 4]);
        assert_eq!(k.backup.map(|b| b[0]), Some(1));
        let e = c.set_sysctl("tcp_fastopen_key", "a1a1").unwrap_err();
        assert!(e.to_string().contains("xxxxxxxx-xxxxxxxx"), "{e}");
        c.set_sysctl("tcp_fastopen_blackhole_timeout_sec", "0")
            .unwrap();
        assert!(c
            .set_sysctl("tcp_fastopen_blackhole_timeout_sec", "3600")
            .is_err());
    }

    #[test]
    fn bad_sysctls_say_what_is_wrong() {
        let mut c = Config::default();
        let e = c.set_sysctl("tcp_fack", "1").unwrap_err();
        assert!(e.to_string().contains("unknown sysctl `tcp_fack`"));
        let e = c.set_sysctl("tcp_sack", "yes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value `yes` for tcp_sack: expected 0 or 1"
        );
        assert!(c.set_sysctl("ip_local_port_range", "5000 4000").is_err());
        assert!(c.set_sysctl("tcp_rmem", "1 2").is_err());
        assert_eq!(
            c.tcp_rmem,
            Config::default().tcp_rmem,
            "nothing lost on error"
        );
    }
}
