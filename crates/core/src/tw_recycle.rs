//! `net.ipv4.tcp_tw_recycle`, as Linux had it until 4.12. **Historical**: off by default,
//! kept so that the incident it caused can be reproduced (the `tw-recycle-nat` lab).
//!
//! With the knob on, Linux remembered, per peer address (its "inet peer" / TCP metrics
//! entry), the last timestamp seen from that peer when one of its connections entered
//! TIME-WAIT (`tcp_remember_stamp`), and cut that TIME-WAIT to 3.5 RTO instead of 60 s.
//! A SYN to a listener from the same address within 60 s (TCP_PAWS_MSL) whose timestamp
//! is older than the remembered one by more than TCP_PAWS_WINDOW (1), or that carries no
//! timestamp, was taken for an old duplicate and silently dropped
//! (`tcp_peer_is_proven`, counted as PAWSPassive). That is RFC 7323's PAWS applied
//! across connections, and it is sound only if every connection from an address reads
//! one timestamp clock: behind a NAT or a load balancer, several hosts with different
//! clocks share one address, and the ones whose clock is behind see their SYNs vanish.
//! Linux removed the knob in 4.12, when timestamps got per-host-pair random offsets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use synack_wire::TcpRepr;

use crate::config::Config;
use crate::time::Instant;

/// TCP_PAWS_MSL: how long a remembered timestamp is trusted.
const PAWS_MSL: Duration = Duration::from_secs(60);
/// TCP_PAWS_WINDOW: how far back a timestamp may be and still pass.
const PAWS_WINDOW: i32 = 1;

/// The last timestamp seen from each peer address when one of its connections entered
/// TIME-WAIT (Linux's `tcpm_ts` and `tcpm_ts_stamp`).
#[derive(Debug, Default)]
pub(crate) struct PeerStamps {
    peers: HashMap<IpAddr, (u32, Instant)>,
}

impl PeerStamps {
    /// A connection with `peer` enters TIME-WAIT having last seen `ts_recent` at
    /// `stamp` (`None` without timestamps). Returns whether TIME-WAIT may be recycled,
    /// i.e. cut to 3.5 RTO (Linux's `tcp_remember_stamp`).
    pub fn on_time_wait(
        &mut self,
        config: &Config,
        peer: IpAddr,
        ts_recent: Option<u32>,
        stamp: Instant,
        now: Instant,
    ) -> bool {
        let Some(ts) = ts_recent.filter(|_| config.tcp_tw_recycle) else {
            return false;
        };
        let entry = self.peers.entry(peer).or_insert((ts, stamp));
        let (old_ts, old_stamp) = *entry;
        if (old_ts.wrapping_sub(ts) as i32) <= 0 || now >= old_stamp + PAWS_MSL {
            *entry = (ts, stamp);
        }
        true
    }

    /// How long a TIME-WAIT lasts: 3.5 RTO when recycled, else `tcp_timewait_len`.
    pub fn time_wait_len(config: &Config, recycled: bool, rto: Duration) -> Duration {
        if recycled {
            rto.mul_f64(3.5)
        } else {
            config.tcp_timewait_len
        }
    }

    /// Whether a SYN from `peer` to a listener may open a request (`tcp_peer_is_proven`
    /// with its PAWS check); always true with the knob off.
    pub fn syn_allowed(&self, config: &Config, peer: IpAddr, syn: &TcpRepr, now: Instant) -> bool {
        if !config.tcp_tw_recycle {
            return true;
        }
        let Some(&(ts, stamp)) = self.peers.get(&peer) else {
            return true;
        };
        if now >= stamp + PAWS_MSL {
            return true;
        }
        match syn.options.timestamp {
            Some(t) => (ts.wrapping_sub(t.tsval) as i32) <= PAWS_WINDOW,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_wire::{Control, SeqNum, TcpOptions, Timestamp};

    fn syn(tsval: Option<u32>) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1),
            ack: None,
            control: Control::Syn,
            psh: false,
            ece: false,
            cwr: false,
            window: 65535,
            urgent: None,
            options: TcpOptions {
                timestamp: tsval.map(|tsval| Timestamp { tsval, tsecr: 0 }),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    #[test]
    fn off_by_default_and_then_nothing_is_checked() {
        let c = Config::default();
        assert!(!c.tcp_tw_recycle);
        let mut p = PeerStamps::default();
        let peer: IpAddr = [10, 0, 0, 9].into();
        let t = Instant::from_secs(1);
        assert!(!p.on_time_wait(&c, peer, Some(1000), t, t));
        assert!(p.syn_allowed(&c, peer, &syn(Some(1)), t));
        assert_eq!(
            PeerStamps::time_wait_len(&c, false, Duration::from_millis(200)),
            c.tcp_timewait_len
        );
    }

    #[test]
    fn on_an_older_timestamp_within_60_s_is_dropped() {
        let c = Config {
            tcp_tw_recycle: true,
            ..Config::default()
        };
        let mut p = PeerStamps::default();
        let peer: IpAddr = [10, 0, 0, 9].into();
        let t = Instant::from_secs(10);
        assert!(p.on_time_wait(&c, peer, Some(1000), t, t));
        assert!(p.syn_allowed(&c, peer, &syn(Some(1001)), t), "newer passes");
        assert!(
            p.syn_allowed(&c, peer, &syn(Some(999)), t),
            "within PAWS_WINDOW"
        );
        assert!(
            !p.syn_allowed(&c, peer, &syn(Some(500)), t),
            "older is dropped"
        );
        assert!(
            !p.syn_allowed(&c, peer, &syn(None), t),
            "no timestamp is dropped"
        );
        let other: IpAddr = [10, 0, 0, 8].into();
        assert!(
            p.syn_allowed(&c, other, &syn(Some(1)), t),
            "per peer address"
        );
        let later = t + PAWS_MSL;
        assert!(
            p.syn_allowed(&c, peer, &syn(Some(500)), later),
            "trusted 60 s only"
        );
        // The remembered stamp only moves forward within 60 s.
        p.on_time_wait(&c, peer, Some(900), t, t);
        assert!(!p.syn_allowed(&c, peer, &syn(Some(950)), t));
        assert_eq!(
            PeerStamps::time_wait_len(&c, true, Duration::from_millis(200)),
            Duration::from_millis(700)
        );
    }
}
