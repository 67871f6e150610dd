//! How large a transmission unit (Linux's TSO/GSO packet) is and when one waits to grow:
//! the pacing rate Linux keeps for every connection (tcp_update_pacing_rate), the unit
//! size it gives (tcp_tso_autosize, tcp_tso_segs) and the deferral of a unit that cwnd or
//! the window would cut short (tcp_tso_should_defer, `tcp_tso_win_divisor`).
//!
//! synack sends a unit as consecutive segments, the last one marked PSH (chunks.rs); over
//! a device with segmentation offload the stack joins them into one super-segment
//! (`Stack::poll_transmit_offload`). So a unit's size decides both where PSH falls on the
//! wire and how large the super-segments over a TUN device are.

use crate::conn::flag;
use synack_wire::SeqNum;

use super::recovery::CaState;
use super::{Connection, Ctx};
use crate::config::Config;

/// Linux's `sk_gso_max_size` over a device without a larger limit: 64 KiB less
/// `MAX_TCP_HEADER + 1` (sk_setup_caps).
pub(crate) const GSO_MAX_SIZE: u32 = 65536 - 321;

/// Linux's `sk_pacing_shift`: a unit carries about 2^-10 s (1 ms) of the pacing rate.
const PACING_SHIFT: u32 = 10;

/// Linux's tcp_max_tso_deferred_mss: with `tcp_tso_win_divisor` 0, a unit is deferred
/// only while at most this many segments could go.
const MAX_DEFERRED_MSS: u32 = 3;

impl Connection {
    /// Linux's `sk_pacing_rate` as tcp_update_pacing_rate sets it, in bytes per second:
    /// `tcp_pacing_ss_ratio` (200%) of cwnd per smoothed RTT while cwnd is below half of
    /// ssthresh, else `tcp_pacing_ca_ratio` (120%); unlimited (`None`) before the first
    /// RTT sample. Linux stores it when that sample is taken (the handshake's) and after
    /// every ACK of data in flight, from the cwnd and SRTT that ACK left; synack computes
    /// it from the same values when it needs it (they change only on ACKs, except cwnd
    /// after a timeout or an idle restart, where half of cwnd bounds the units anyway),
    /// which keeps four bytes out of every connection record.
    pub(crate) fn pacing_rate(&self, config: &Config) -> Option<u64> {
        let srtt8 = self.rtt.srtt8_us()?;
        let mss = u64::from(self.mss.max(1));
        let cwnd = self.cc.cwnd();
        let ratio = if u64::from(cwnd) < u64::from(self.cc.ssthresh()) / 2 {
            config.tcp_pacing_ss_ratio
        } else {
            config.tcp_pacing_ca_ratio
        };
        let packets_out = u64::from(self.flight()).div_ceil(mss);
        let segs = (u64::from(cwnd) / mss).max(packets_out);
        // mss * (USEC_PER_SEC / 100) * 8 * ratio * segs / srtt_us, srtt_us being 8 x SRTT.
        Some(
            mss.saturating_mul(80_000)
                .saturating_mul(u64::from(ratio))
                .saturating_mul(segs)
                / srtt8.max(1),
        )
    }

    /// Linux's tcp_tso_segs (tcp_tso_autosize): a millisecond of the pacing rate
    /// (`sk_pacing_rate >> sk_pacing_shift`) plus `GSO_MAX_SIZE >> (min_rtt >>
    /// tcp_tso_rtt_log)` (whole 64 KiB units below 512 µs of minimum RTT, half of it
    /// below 1 ms, ...), at most `GSO_MAX_SIZE`, in segments of `mss`, at least
    /// `tcp_min_tso_segs`.
    pub(crate) fn tso_autosize(&self, config: &Config, mss: u32) -> u32 {
        let min = u32::from(config.tcp_min_tso_segs.max(1));
        let mut extra = 0;
        if let Some(min_rtt) = self.rtt.min_rtt() {
            let r = min_rtt
                .as_micros()
                .checked_shr(u32::from(config.tcp_tso_rtt_log))
                .unwrap_or(0);
            if r < 32 {
                extra = GSO_MAX_SIZE >> r;
            }
        }
        // Below 2^tcp_tso_rtt_log µs of minimum RTT the sum reaches GSO_MAX_SIZE
        // whatever the pacing rate: the rate is not computed.
        let bytes = if extra == GSO_MAX_SIZE {
            GSO_MAX_SIZE
        } else {
            let pacing = self
                .pacing_rate(config)
                .map_or(u64::MAX, |r| r >> PACING_SHIFT);
            pacing
                .saturating_add(u64::from(extra))
                .min(u64::from(GSO_MAX_SIZE)) as u32
        };
        (bytes / mss.max(1)).max(min)
    }

    /// Segments per transmission unit: tcp_tso_segs, and at most half of cwnd
    /// (tcp_cwnd_test's quota keeps at least two units in flight).
    pub(crate) fn tso_segs(&self, config: &Config) -> u32 {
        let mss = self.current_mss();
        let half_cwnd = (self.cc.cwnd() / mss / 2).max(1);
        self.tso_autosize(config, mss).min(half_cwnd)
    }

    /// Linux's tcp_tso_should_defer, for new data at `seq` (SND.NXT) starting a unit:
    /// when cwnd or the window lets less than a full unit go, wait for the next ACK to
    /// make it larger, unless that ACK is not due within min(1 ms, SRTT/2) (the fix of
    /// Linux 6.18), the last transmission is more than a millisecond old, loss recovery
    /// is on, or at least `1/tcp_tso_win_divisor` of the smaller of cwnd and the window
    /// is free anyway. A chunk whose rest fits, or that ends in a FIN or a MSG_EOR
    /// record, goes. `planned` bytes before `seq` are cut into units by a write in
    /// progress and count as sent now.
    pub(crate) fn tso_should_defer(&self, ctx: &Ctx, seq: SeqNum, planned: u32) -> bool {
        self.tso_defer(ctx, seq, planned).is_some()
    }

    /// [`Connection::tso_should_defer`], and when it defers, whether it was for cwnd's
    /// sake (Linux's `*is_cwnd_limited`, which tcp_write_xmit hands to
    /// tcp_cwnd_validate): `Some(true)` then, `Some(false)` for the window or an
    /// application-limited unit, `None` to send now.
    pub(crate) fn tso_defer(&self, ctx: &Ctx, seq: SeqNum, planned: u32) -> Option<bool> {
        let defer = |yes: bool| yes.then_some(false);
        if matches!(self.rec.state, CaState::Recovery | CaState::Loss) {
            return None;
        }
        let chunk = self.inflight.chunks.at(seq)?;
        let mss = self.current_mss();
        let skb_len = (chunk.end - seq).max(0) as u32;
        // A unit of one segment: Nagle's test applies instead (tcp_write_xmit).
        if skb_len <= mss {
            return None;
        }
        // Linux's tcp_wstamp_ns: deferring is allowed only right after a transmission
        // (under fq, the next departure time, which may be still to come).
        let mut last_send = if planned > 0 { ctx.now } else { self.last_send };
        if let Some(w) = self.paced_wstamp(ctx) {
            last_send = last_send.max(w);
        }
        if ctx.now.saturating_duration_since(last_send) > core::time::Duration::from_millis(1) {
            return None;
        }
        let cwnd = self.cc.cwnd();
        let pipe = self.pipe() + planned;
        if pipe >= cwnd {
            return None;
        }
        let send_win = (self.wnd_end() - seq).max(0) as u32;
        let cong_win = (cwnd - pipe) / mss * mss;
        let limit = send_win.min(cong_win);
        if limit >= self.tso_autosize(ctx.config, mss).saturating_mul(mss) {
            return None;
        }
        let tail = self.inflight.chunks.at(chunk.end).is_none();
        if !tail && limit >= skb_len {
            return None;
        }
        let divisor = u32::from(ctx.config.tcp_tso_win_divisor);
        match self.snd_wnd.min(cwnd).checked_div(divisor) {
            Some(fraction) if limit >= fraction => return None,
            None if limit > MAX_DEFERRED_MSS * mss => return None,
            _ => {}
        }
        // When is the ACK of the oldest segment in flight due? Linux times it from that
        // skb's latest transmission; synack keeps the first.
        let head = self.inflight.sent.front().map(|&(_, t)| t);
        let head_sent = head.or((planned > 0).then_some(ctx.now))?;
        let srtt = self.rtt.srtt().unwrap_or_default();
        let due = head_sent + srtt;
        let threshold = (srtt / 2).min(core::time::Duration::from_millis(1));
        if due > ctx.now + threshold {
            return None;
        }
        if cong_win < send_win {
            if cong_win <= skb_len {
                return Some(true);
            }
        } else if send_win <= skb_len {
            return Some(false);
        }
        // Application-limited: a chunk that will take no more data goes.
        let fin = self.flag(flag::FIN_QUEUED) && self.fin_seq() == chunk.end;
        defer(!(fin || chunk.eor))
    }
}
