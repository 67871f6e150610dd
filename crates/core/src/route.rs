//! Per-destination route metrics, as Linux keeps them on a route (`ip route ... advmss
//! N mtu [lock] N initcwnd N`: the dst's `RTAX_ADVMSS`, `RTAX_MTU` with its lock bit,
//! `RTAX_INITCWND`).
//!
//! A connection reads the metrics of the longest prefix holding its peer when it is
//! opened (Linux's tcp_connect_init and tcp_v4_syn_recv_sock): the MSS it advertises
//! (`advmss`, else the route's MTU less the headers), its path MTU (`mtu`, else the
//! link's), its initial congestion window (`initcwnd`, tcp_init_cwnd). A locked MTU
//! turns path MTU discovery off for the route (dst_metric_locked): ICMP "fragmentation
//! needed" and "packet too big" are ignored and IPv4 datagrams leave without DF
//! (ip_dont_fragment). A route changed under an open connection reaches it as Linux's
//! cached route does: the next datagram it sends looks the route up again
//! (__sk_dst_check), and the write after that sizes its segments by the new MTU
//! (tcp_current_mss).

use std::net::IpAddr;

use crate::any::Prefix;
use crate::error::{Error, Result};

/// The metrics of one route (Linux's `RTAX_*`); `None` is the default (the link's).
///
/// ```
/// use synack::RouteMetrics;
/// let m = RouteMetrics::new().mtu(1400).lock_mtu().advmss(1360).initcwnd(20);
/// assert_eq!((m.mtu, m.mtu_locked, m.advmss, m.initcwnd), (Some(1400), true, Some(1360), Some(20)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteMetrics {
    /// `mtu N` (`RTAX_MTU`): the path MTU connections start from, instead of the link's.
    pub mtu: Option<u32>,
    /// `mtu lock N`: no ICMP lowers the MTU, and IPv4 datagrams go without DF.
    pub mtu_locked: bool,
    /// `advmss N` (`RTAX_ADVMSS`): the MSS our SYN and SYN-ACK offer.
    pub advmss: Option<u16>,
    /// `initcwnd N` (`RTAX_INITCWND`): the initial congestion window, in segments.
    pub initcwnd: Option<u32>,
}

impl RouteMetrics {
    /// No metric set: everything as the link and the knobs say.
    pub const fn new() -> RouteMetrics {
        RouteMetrics {
            mtu: None,
            mtu_locked: false,
            advmss: None,
            initcwnd: None,
        }
    }

    /// Sets `mtu N`.
    pub const fn mtu(mut self, mtu: u32) -> RouteMetrics {
        self.mtu = Some(mtu);
        self
    }

    /// Locks the MTU (`mtu lock N`): path MTU discovery off for the route.
    pub const fn lock_mtu(mut self) -> RouteMetrics {
        self.mtu_locked = true;
        self
    }

    /// Sets `advmss N`.
    pub const fn advmss(mut self, mss: u16) -> RouteMetrics {
        self.advmss = Some(mss);
        self
    }

    /// Sets `initcwnd N`.
    pub const fn initcwnd(mut self, segments: u32) -> RouteMetrics {
        self.initcwnd = Some(segments);
        self
    }
}

/// One route: the destinations of a prefix and their metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destinations.
    pub prefix: Prefix,
    /// Their metrics.
    pub metrics: RouteMetrics,
}

/// The route table: metrics by destination prefix, the longest prefix winning (a host
/// route over a network's). Empty by default: every destination gets the link's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
}

/// The smallest MTU a route may have: IPv4's minimum, 68 (RFC 791). Linux takes an
/// IPv6 route's below IPv6's 1280 too (`ip -6 route ... mtu 660`).
const MIN_MTU: u32 = 68;

impl Routes {
    /// Adds the route for `prefix`, or replaces its metrics (`ip route replace`).
    /// Fails with `EINVAL` ([`Error::InvalidInput`]) for an MTU below 68 or above
    /// 65535, an `advmss` below 88 (TCP_MIN_MSS), or an `initcwnd` of 0.
    pub fn set(&mut self, prefix: Prefix, metrics: RouteMetrics) -> Result<()> {
        let mtu_ok = metrics.mtu.is_none_or(|m| (MIN_MTU..=65535).contains(&m));
        let mss_ok = metrics.advmss.is_none_or(|m| m >= 88);
        if !mtu_ok || !mss_ok || metrics.initcwnd == Some(0) {
            return Err(Error::InvalidInput);
        }
        let prefix = Prefix::new(prefix.addr, prefix.len).ok_or(Error::InvalidInput)?;
        match self.routes.iter_mut().find(|r| r.prefix == prefix) {
            Some(r) => r.metrics = metrics,
            None => self.routes.push(Route { prefix, metrics }),
        }
        Ok(())
    }

    /// Removes the route for exactly `prefix`; whether there was one.
    pub fn remove(&mut self, prefix: Prefix) -> bool {
        let before = self.routes.len();
        self.routes.retain(|r| r.prefix != prefix);
        self.routes.len() != before
    }

    /// The metrics for destination `ip`: the longest prefix holding it, if any.
    pub fn lookup(&self, ip: IpAddr) -> Option<&RouteMetrics> {
        if self.routes.is_empty() {
            return None;
        }
        self.routes
            .iter()
            .filter(|r| r.prefix.contains(ip))
            .max_by_key(|r| r.prefix.len)
            .map(|r| &r.metrics)
    }

    /// Whether the route to `ip` has a locked MTU (Linux's dst_metric_locked).
    pub fn mtu_locked(&self, ip: IpAddr) -> bool {
        self.lookup(ip).is_some_and(|m| m.mtu_locked)
    }

    /// Whether some route has a locked MTU (to skip looking up each datagram's).
    pub fn any_locked(&self) -> bool {
        self.routes.iter().any(|r| r.metrics.mtu_locked)
    }

    /// Every route.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_prefix_wins_and_replace_keeps_one_entry() {
        let mut t = Routes::default();
        t.set(p("10.0.0.0/8"), RouteMetrics::new().mtu(1400))
            .unwrap();
        t.set(p("10.1.2.3"), RouteMetrics::new().advmss(600))
            .unwrap();
        assert_eq!(
            t.lookup("10.1.2.3".parse().unwrap()).unwrap().advmss,
            Some(600)
        );
        assert_eq!(
            t.lookup("10.9.9.9".parse().unwrap()).unwrap().mtu,
            Some(1400)
        );
        assert!(t.lookup("192.0.2.1".parse().unwrap()).is_none());
        assert!(t.lookup("::1".parse().unwrap()).is_none());
        t.set(p("10.1.2.3"), RouteMetrics::new().mtu(640).lock_mtu())
            .unwrap();
        assert_eq!(t.iter().count(), 2);
        assert!(t.mtu_locked("10.1.2.3".parse().unwrap()));
        assert!(t.remove(p("10.1.2.3/32")));
        assert!(!t.mtu_locked("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn impossible_metrics_are_einval() {
        let mut t = Routes::default();
        let e = Err(Error::InvalidInput);
        assert_eq!(t.set(p("10.0.0.0/8"), RouteMetrics::new().mtu(67)), e);
        assert_eq!(t.set(p("2001:db8::/32"), RouteMetrics::new().mtu(65536)), e);
        assert_eq!(t.set(p("10.0.0.0/8"), RouteMetrics::new().advmss(87)), e);
        assert_eq!(t.set(p("10.0.0.0/8"), RouteMetrics::new().initcwnd(0)), e);
        assert!(t.is_empty());
    }
}
