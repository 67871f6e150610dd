//! Packetization-layer path MTU discovery (RFC 4821) as Linux does it with
//! `tcp_mtu_probing` (Linux's icsk_mtup: tcp_mtup_init, tcp_mtu_probe,
//! tcp_mtup_probe_success, tcp_mtup_probe_failed, tcp_mtu_check_reprobe), and the
//! connection's view of its route (its cached dst: a route changed under it is seen
//! after the next datagram it sends, __sk_dst_check, and applied by the next
//! tcp_current_mss).
//!
//! The search runs between `search_low` (an MTU known to work: `tcp_base_mss` plus the
//! headers at first) and `search_high` (the peer's MSS plus the headers, lowered by
//! what ICMP and the route say). The MSS is capped at `search_low`'s. While the two are
//! `tcp_probe_threshold` (8) bytes or more apart, a probe of the MTU half-way is built
//! from the head of the unsent data, however many chunks (skbs) that takes, once cwnd
//! is at least 11 segments and enough data waits behind it that a loss of the probe is
//! seen by duplicate ACKs (`size_needed`). An ACK of the probe raises `search_low` to
//! it (TCPMTUPSuccess); a fast retransmission of it lowers `search_high` below it
//! (TCPMTUPFail). Once the range has closed, the search starts again after
//! `tcp_probe_interval` (600 s) from the MSS in use.

use synack_wire::SeqNum;

use super::recovery::CaState;
use super::{Connection, Ctx};
use crate::config::Config;
use crate::time::Instant;

/// A connection's path MTU search and route view, in its rarely used state
/// ([`super::rare::Rare`]: out of line while probing is off and no route changed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mtup {
    /// The search is on (Linux's icsk_mtup.enabled): the MSS is capped by `search_low`
    /// and probes may go.
    pub enabled: bool,
    /// The largest MTU known to work (icsk_mtup.search_low); 0 until the search is
    /// initialized.
    pub search_low: u32,
    /// The smallest MTU known or assumed not to (icsk_mtup.search_high).
    pub search_high: u32,
    /// The MTU of the probe in flight, 0 for none (icsk_mtup.probe_size).
    pub probe_size: u32,
    /// The probe's sequence range (tp->mtu_probe).
    pub probe_start: SeqNum,
    /// The end of the probe's sequence range.
    pub probe_end: SeqNum,
    /// When the search last (re)started (icsk_mtup.probe_timestamp).
    pub probe_stamp: Instant,
    /// The MTU of the route as the connection's cached route now has it, once a route
    /// change has reached the connection; 0: nothing pending.
    pub dst_mtu: u32,
    /// The route changed and the connection has not sent since: its cached route is
    /// still the old one (an obsolete dst, revalidated when the next datagram goes).
    pub dst_stale: bool,
}

/// The search off, no route change pending.
pub(crate) const OFF: Mtup = Mtup {
    enabled: false,
    search_low: 0,
    search_high: 0,
    probe_size: 0,
    probe_start: SeqNum(0),
    probe_end: SeqNum(0),
    probe_stamp: Instant::ZERO,
    dst_mtu: 0,
    dst_stale: false,
};

impl Default for Mtup {
    fn default() -> Mtup {
        OFF
    }
}

/// What the probe step of a transmission pass decided (Linux's tcp_mtu_probe's -1, 0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeStep {
    /// No probe: send as usual.
    None,
    /// A probe should go but cannot yet (the window or cwnd must drain first): send
    /// nothing new now.
    Wait,
    /// A probe ending here was built at SND.NXT: it goes first.
    Built(SeqNum),
}

impl Connection {
    /// The IP header's length toward the peer.
    fn net_header_len(&self) -> u32 {
        if self.remote().is_ipv6() {
            40
        } else {
            20
        }
    }

    /// The TCP header with the options every segment carries (Linux's tcp_header_len).
    fn tcp_header_len(&self) -> u32 {
        20 + if self.neg.ts.is_some() { 12 } else { 0 }
    }

    /// Linux's `rx_opt.mss_clamp`: the peer's MSS, at most TCP_MAXSEG's.
    pub(crate) fn mss_clamp(&self) -> u32 {
        let user = self.opts.user_mss.map_or(u32::MAX, u32::from);
        u32::from(self.neg.peer_mss).min(user)
    }

    /// Linux's tcp_mss_to_mtu: the MTU a segment of `mss` payload bytes fills.
    pub(crate) fn mss_to_mtu(&self, mss: u32) -> u32 {
        mss + self.tcp_header_len() + self.net_header_len()
    }

    /// Linux's tcp_mtu_to_mss: the payload a segment may carry in an MTU of `mtu`,
    /// after the options every segment carries.
    pub(crate) fn mtu_to_payload(&self, config: &Config, mtu: u32) -> u32 {
        let ts = self.tcp_header_len() - 20;
        self.mtu_to_mss(config, mtu, self.mss_clamp())
            .saturating_sub(ts)
    }

    /// Linux's tcp_mtup_init: the search starts (on with `tcp_mtu_probing` 2) between
    /// `tcp_base_mss` and the peer's MSS; the MSS in use is not recomputed here. Run
    /// when a connection is opened (tcp_connect_init) and when it is established
    /// (tcp_init_transfer). With probing off, a connection that never searched keeps
    /// nothing (black-hole detection initializes the range when it first needs it).
    pub(crate) fn mtup_init(&mut self, ctx: &Ctx) {
        if ctx.config.tcp_mtu_probing < 2 && self.rare.mtup.search_low == 0 {
            return;
        }
        self.mtup_range(ctx.config);
        let m = &mut self.rare.mtup;
        m.enabled = ctx.config.tcp_mtu_probing > 1;
        if m.enabled {
            m.probe_stamp = ctx.now;
        }
    }

    /// The search's first range, no probe in flight.
    fn mtup_range(&mut self, config: &Config) {
        let high = self.mss_clamp() + 20 + self.net_header_len();
        let low = self.mss_to_mtu(config.tcp_base_mss);
        let m = &mut self.rare.mtup;
        m.search_high = high;
        m.search_low = low;
        m.probe_size = 0;
    }

    /// `search_low`, the range initialized first if it is not (black-hole detection on
    /// a connection that never searched).
    pub(crate) fn mtup_search_low(&mut self, config: &Config) -> u32 {
        if self.rare.mtup.search_low == 0 {
            self.mtup_range(config);
        }
        self.rare.mtup.search_low
    }

    /// Linux's tcp_mtu_probe, at the start of a transmission pass that may send new
    /// data: whether a probe goes first, and if so, builds it (one chunk of the probe's
    /// size at SND.NXT, merged from as many chunks as it takes) and records it.
    #[inline]
    pub(crate) fn mtu_probe(&mut self, ctx: &Ctx) -> ProbeStep {
        // The search is off unless the rare state is out of line (one pointer test on
        // every transmission pass).
        if !self.rare.is_set() || !self.rare.mtup.enabled {
            return ProbeStep::None;
        }
        self.mtu_probe_now(ctx)
    }

    fn mtu_probe_now(&mut self, ctx: &Ctx) -> ProbeStep {
        let m = &self.rare.mtup;
        let mss = self.mss.max(1);
        let cwnd_segs = self.cc.cwnd() / mss;
        if !m.enabled
            || m.probe_size != 0
            || self.rec.state != CaState::Open
            || cwnd_segs < 11
            || self.sack_option_len() > 0
        {
            return ProbeStep::None;
        }
        let (low, high) = (m.search_low, m.search_high);
        let probe = self.mtu_to_payload(ctx.config, (high + low) >> 1);
        let size_needed = probe + (u32::from(self.rec.reordering) + 1) * mss;
        if probe > self.mtu_to_payload(ctx.config, high)
            || high.saturating_sub(low) < ctx.config.tcp_probe_threshold
        {
            self.mtu_check_reprobe(ctx);
            return ProbeStep::None;
        }
        // The chunks end where the writes do, one still being taken in included.
        let write_seq = self.inflight.chunks.end().unwrap_or(self.snd_nxt);
        if ((write_seq - self.snd_nxt).max(0) as u32) < size_needed || self.snd_wnd < size_needed {
            return ProbeStep::None;
        }
        if (self.snd_nxt + size_needed).after(self.wnd_end()) {
            return ProbeStep::Wait;
        }
        // With the probe and the segment after it, cwnd must not be exceeded; with
        // nothing in flight, waiting would stall.
        let in_flight = self.pipe().div_ceil(mss);
        if in_flight + 2 > cwnd_segs {
            return if in_flight == 0 {
                ProbeStep::None
            } else {
                ProbeStep::Wait
            };
        }
        let start = self.snd_nxt;
        let coalesced = self.inflight.get_mut();
        if !coalesced.is_some_and(|f| f.chunks.coalesce(start, probe)) {
            return ProbeStep::None;
        }
        // Linux counts the probe as one packet in flight and takes one from cwnd ("we
        // are sending effectively two packets"): what may follow it is cwnd less two
        // segments. In bytes, with the probe's own bytes in flight, that is cwnd less
        // two segments plus the probe.
        self.cc
            .set_cwnd((self.cc.cwnd() + probe).saturating_sub(2 * mss));
        let size = self.mss_to_mtu(probe);
        let m = &mut self.rare.mtup;
        m.probe_size = size;
        m.probe_start = start;
        m.probe_end = start + probe;
        ProbeStep::Built(start + probe)
    }

    /// Whether a segment at `seq` is the probe's first transmission, and if so its size.
    #[inline]
    pub(crate) fn probe_at(&self, seq: SeqNum) -> Option<u32> {
        if !self.rare.is_set() {
            return None;
        }
        let m = &self.rare.mtup;
        (m.probe_size != 0 && seq == m.probe_start && seq == self.snd_max)
            .then(|| (m.probe_end - m.probe_start) as u32)
    }

    /// Linux's tcp_mtu_check_reprobe: `tcp_probe_interval` after the search last
    /// started, it starts again from the MSS in use up to the peer's MSS.
    fn mtu_check_reprobe(&mut self, ctx: &Ctx) {
        let interval = ctx.config.tcp_probe_interval;
        if ctx
            .now
            .saturating_duration_since(self.rare.mtup.probe_stamp)
            < interval
        {
            return;
        }
        let high = self.mss_clamp() + 20 + self.net_header_len();
        let low = self.mss_to_mtu(self.current_mss());
        let m = &mut self.rare.mtup;
        m.probe_size = 0;
        m.search_high = high;
        m.search_low = low;
        m.probe_stamp = ctx.now;
    }

    /// An ACK moved SND.UNA: if it covers the probe, the path carries the probe's size
    /// (Linux's tcp_mtup_probe_success): `search_low` rises to it, cwnd keeps its bytes
    /// in the new size, and the MSS is recomputed.
    #[inline]
    pub(crate) fn mtup_on_ack(&mut self, ctx: &mut Ctx) {
        if !self.rare.is_set() {
            return;
        }
        let m = &self.rare.mtup;
        if m.probe_size == 0 || m.probe_end.after(self.snd_una) {
            return;
        }
        let size = m.probe_size;
        let mss = self.mss.max(1);
        // cwnd in packets, times the MTU of a full segment over the probe's.
        let cwnd_segs = u64::from(self.cc.cwnd() / mss);
        let segs = (cwnd_segs * u64::from(self.mss_to_mtu(mss)) / u64::from(size)).max(1);
        self.cc
            .set_cwnd(u32::try_from(segs).unwrap_or(u32::MAX).saturating_mul(mss));
        self.cc.keep_current_ssthresh();
        let m = &mut self.rare.mtup;
        m.search_low = size;
        m.probe_size = 0;
        self.sync_mss(ctx.config);
        ctx.stats.TCPMTUPSuccess += 1;
    }

    /// Linux's tcp_fastretrans_alert before recovery: when the first lost segment is
    /// the probe (SND.UNA at its start, no reduction under way), the probe was too large
    /// (tcp_mtup_probe_failed): `search_high` falls below it, cwnd gets back the segment
    /// the probe took, and what is in flight goes again (tcp_simple_retransmit) instead
    /// of a reduction. Returns whether it was the probe.
    pub(crate) fn mtup_probe_lost(&mut self, ctx: &mut Ctx) -> bool {
        let m = &self.rare.mtup;
        if m.probe_size == 0
            || self.snd_una != m.probe_start
            || !matches!(self.rec.state, CaState::Open | CaState::Disorder)
        {
            return false;
        }
        let m = &mut self.rare.mtup;
        m.search_high = m.probe_size - 1;
        m.probe_size = 0;
        ctx.stats.TCPMTUPFail += 1;
        // The segment the probe took from cwnd comes back (tcp_fastretrans_alert).
        let mss = self.mss.max(1);
        let probe = (self.rare.mtup.probe_end - self.rare.mtup.probe_start) as u32;
        self.cc
            .set_cwnd((self.cc.cwnd() + 2 * mss).saturating_sub(probe).max(mss));
        self.sync_mss(ctx.config);
        self.simple_retransmit();
        true
    }

    /// Something is being retransmitted: a probe in flight no longer tells anything
    /// (Linux's __tcp_retransmit_skb forgets it, neither success nor failure).
    #[inline]
    pub(crate) fn mtup_retransmitting(&mut self) {
        if self.rare.is_set() && self.rare.mtup.probe_size != 0 {
            self.rare.mtup.probe_size = 0;
        }
    }

    /// A route covering the peer changed to an MTU of `mtu`: the connection's cached
    /// route goes stale and is looked up again when it next sends.
    pub(crate) fn route_changed(&mut self, mtu: u32) {
        let m = &mut self.rare.mtup;
        m.dst_mtu = mtu;
        m.dst_stale = true;
    }

    /// A datagram went: a stale route has been looked up again (__sk_dst_check).
    #[inline]
    pub(crate) fn route_revalidated(&mut self) {
        if self.rare.is_set() && self.rare.mtup.dst_stale {
            self.rare.mtup.dst_stale = false;
        }
    }

    /// Linux's tcp_current_mss at the start of a write or after an ACK: when the route
    /// (looked up again since it changed) has another MTU than the one the MSS was
    /// computed for, the MSS is recomputed for it (tcp_sync_mss).
    #[inline]
    pub(crate) fn route_mtu_check(&mut self, config: &Config) {
        if !self.rare.is_set() {
            return;
        }
        let m = &self.rare.mtup;
        if m.dst_mtu == 0 || m.dst_stale {
            return;
        }
        let mtu = m.dst_mtu;
        self.rare.mtup.dst_mtu = 0;
        if mtu != self.pmtu {
            self.pmtu = mtu;
            self.sync_mss(config);
        }
    }
}
