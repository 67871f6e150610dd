//! ICMP errors on a connection (Linux's tcp_v4_err / tcp_v6_err): the quoted sequence
//! number checked against the window (RFC 5927 4.1), soft errors kept for a later
//! timeout (RFC 1122 4.2.3.9), hard errors ending a connection being opened, and path
//! MTU discovery (RFC 1191, RFC 8201) lowering the MSS and sending again at once.

use synack_wire::SeqNum;

use super::{Connection, Ctx};
use crate::config::Config;
use crate::error::Error;
use crate::state::State;

/// IPv4's smallest path MTU Linux believes (`net.ipv4.route.min_pmtu`, 512 + 20 + 20).
pub(crate) const MIN_PMTU_V4: u32 = 552;
/// IPv6's minimum link MTU (RFC 8200 5): no Packet Too Big lowers the path MTU below it
/// (RFC 8201 4).
pub(crate) const MIN_PMTU_V6: u32 = 1280;

/// What an ICMP error tells a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IcmpError {
    /// "Fragmentation needed and DF set" (RFC 1191) or ICMPv6 "Packet Too Big" (RFC
    /// 8201): the next hop's MTU.
    PacketTooBig(u32),
    /// Any other error: the errno it maps to, whether it is hard (fatal to a connection
    /// being opened), and whether it drops a half-open request (Linux's tcp_req_err).
    Error {
        /// The errno (Linux's icmp_err_convert).
        errno: Error,
        /// Hard (fatal) rather than soft.
        hard: bool,
        /// Drops a half-open request.
        drops_request: bool,
    },
}

impl IcmpError {
    /// Whether the error drops a half-open request quoting its SYN-ACK.
    pub(crate) fn drops_request(&self) -> bool {
        matches!(
            self,
            IcmpError::Error {
                drops_request: true,
                ..
            }
        )
    }
}

impl Connection {
    /// An ICMP error quoting a segment of this connection with sequence number `seq`.
    pub(crate) fn on_icmp_error(&mut self, ctx: &mut Ctx, err: IcmpError, seq: SeqNum) {
        if self.state == State::Closed {
            return;
        }
        // RFC 5927 4.1: the quoted segment must be one we sent and that is not yet
        // acknowledged, SND.UNA <= seq <= SND.NXT (Linux's snd_nxt is our snd_max: it
        // does not go back on a timeout).
        if seq.before(self.snd_una) || seq.after(self.snd_max) {
            ctx.stats.OutOfWindowIcmps += 1;
            return;
        }
        match err {
            IcmpError::PacketTooBig(mtu) => self.on_packet_too_big(ctx, mtu),
            IcmpError::Error { errno, hard, .. } => {
                // Linux's tcp_v4_err: a hard error ends a connection being opened
                // (tcp_done), the program sees its errno; in SYN-RECEIVED (a
                // simultaneous open, or a Fast Open child) any error does.
                let fatal = match self.state {
                    State::SynSent => hard,
                    State::SynReceived => true,
                    _ => false,
                };
                if fatal {
                    ctx.stats.AttemptFails += 1;
                    self.close_with(Some(errno));
                } else {
                    // RFC 1122 4.2.3.9: TCP must not abort on a soft error (nor, without
                    // IP_RECVERR, Linux on a hard one once synchronized); it is kept
                    // (Linux's sk_err_soft) and reported if the connection times out.
                    self.soft_error = Some(errno);
                }
            }
        }
    }

    /// The largest segment a path MTU of `pmtu` carries for a peer whose MSS is
    /// `clamp` (Linux's __tcp_mtu_to_mss): less the IP and TCP headers, at most the
    /// peer's MSS, at least `tcp_min_snd_mss`; options are taken out by the caller.
    pub(crate) fn mtu_to_mss(&self, config: &Config, pmtu: u32, clamp: u32) -> u32 {
        let ip = if self.remote().is_ipv6() { 40 } else { 20 };
        pmtu.saturating_sub(ip + 20)
            .min(clamp)
            .max(config.tcp_min_snd_mss)
    }

    /// RFC 1191 / RFC 8201 (Linux's tcp_v4_mtu_reduced and tcp_v6_mtu_reduced): a
    /// smaller path MTU lowers the MSS, and what is in flight is sent again at once in
    /// the new size without touching the congestion window (tcp_simple_retransmit).
    fn on_packet_too_big(&mut self, ctx: &mut Ctx, mtu: u32) {
        let v6 = self.remote().is_ipv6();
        if !v6 && ctx.config.ip_no_pmtu_disc != 0 {
            // Path MTU discovery is off: datagrams leave without DF, and routers
            // fragment them.
            return;
        }
        if ctx.config.routes.mtu_locked(self.remote().ip()) {
            // The route's MTU is locked (`mtu lock N`; Linux's __ip_rt_update_pmtu and
            // rt6_do_update_pmtu check dst_metric_locked): nothing lowers it.
            return;
        }
        // A path MTU below the minimum is raised to it (Linux's __ip_rt_update_pmtu;
        // RFC 8201 4); 0 (an RFC 792 router that does not say) is the minimum too.
        let floor = if v6 { MIN_PMTU_V6 } else { MIN_PMTU_V4 };
        let mtu = mtu.max(floor);
        if mtu >= self.pmtu {
            // RFC 1191 3 / RFC 8201 4: a Packet Too Big never raises the estimate.
            return;
        }
        self.pmtu = mtu;
        let before = self.mss;
        self.sync_mss(ctx.config);
        if self.state == State::SynSent {
            // Linux's tcp_advertise_mss: the SYN offers no more than the path carries.
            let path = self
                .mtu_to_mss(ctx.config, mtu, u32::MAX)
                .min(u32::from(u16::MAX)) as u16;
            self.adv_mss = self.adv_mss.min(path);
            if self.snd_max.after(self.iss + 1) {
                // A Fast Open SYN with data that did not fit (Linux's
                // tcp_simple_retransmit on a SYN with data): a plain SYN goes again at
                // once, and the data waits for the handshake.
                self.snd_nxt = self.iss;
            }
            return;
        }
        if self.mss < before && self.state.is_synchronized() && self.snd_max.after(self.snd_una) {
            self.simple_retransmit();
        }
    }

    /// Recomputes the MSS from the negotiated options and the path MTU (Linux's
    /// tcp_sync_mss): the path's MSS at most the peer's (and TCP_MAXSEG's), at least
    /// `tcp_min_snd_mss`, less the timestamp option; while the path MTU search is on,
    /// capped by what it knows to work (mtup.rs), whose upper bound the path MTU
    /// lowers.
    pub(crate) fn sync_mss(&mut self, config: &Config) {
        let search = self.rare.is_set();
        if search && self.rare.mtup.search_high > self.pmtu {
            self.rare.mtup.search_high = self.pmtu;
        }
        let mut mss = self.mtu_to_payload(config, self.pmtu);
        if search && self.rare.mtup.enabled {
            mss = mss.min(self.mtu_to_payload(config, self.rare.mtup.search_low));
        }
        self.mss = mss.max(1);
        self.cc.set_mss(self.mss);
        self.rcv_mss = self.rcv_mss.min(self.mss).max(1);
    }

    /// RFC 4821's black-hole detection as Linux does it (tcp_mtu_probing in
    /// tcp_timer.c), run on a retransmission timeout once the connection has been
    /// retransmitting for `tcp_retries1` timeouts and `tcp_mtu_probing` is on: the
    /// first time turns the path MTU search on (the MSS capped at `tcp_base_mss`), each
    /// later time halves the MSS it knows to work (never below `tcp_mtu_probe_floor`),
    /// for when the ICMP that would say so never comes.
    pub(crate) fn black_hole_detected(&mut self, ctx: &Ctx) {
        let config = ctx.config;
        let low = self.mtup_search_low(config);
        if !self.rare.mtup.enabled {
            self.rare.mtup.enabled = true;
            self.rare.mtup.probe_stamp = ctx.now;
        } else {
            let mss = (self.mtu_to_payload(config, low) >> 1)
                .min(config.tcp_base_mss)
                .max(config.tcp_mtu_probe_floor)
                .max(config.tcp_min_snd_mss);
            self.rare.mtup.search_low = self.mss_to_mtu(mss);
        }
        self.sync_mss(config);
    }

    /// Linux's tcp_simple_retransmit: everything in flight is lost in the old size;
    /// the Loss state (cwnd and ssthresh untouched: the data in the network did not
    /// grow, only its units shrank) and sending again from SND.UNA.
    pub(super) fn simple_retransmit(&mut self) {
        if !self.in_loss() {
            self.recover = self.snd_max;
        }
        self.enter_loss();
        self.snd_nxt = self.snd_una;
        self.rtt_seq = None;
    }
}
