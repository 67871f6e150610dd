//! The route table on a running stack (route.rs): `ip route replace` and `ip route
//! del` for the metrics connections read, each open connection to the changed prefix
//! told, as Linux's route change makes every cached dst obsolete (the connection
//! looks its route up again when it next sends, and the MSS follows the new MTU).

use super::{Sock, Stack};
use crate::any::Prefix;
use crate::error::Result;
use crate::route::{RouteMetrics, Routes};

impl Stack {
    /// Adds the route for `prefix` with `metrics`, or replaces its metrics (`ip route
    /// replace PREFIX ... advmss N mtu [lock] N initcwnd N`). New connections to a
    /// destination in the prefix (unless a longer prefix holds it) start from them;
    /// open ones take a new MTU once they have sent again. Fails with `EINVAL`
    /// ([`crate::Error::InvalidInput`]) for impossible metrics ([`Routes::set`]).
    pub fn set_route(&mut self, prefix: Prefix, metrics: RouteMetrics) -> Result<()> {
        self.config.routes.set(prefix, metrics)?;
        self.routes_changed(prefix);
        Ok(())
    }

    /// Removes the route for exactly `prefix` (`ip route del`); whether there was one.
    /// Its destinations fall back to a shorter prefix's metrics or the link's.
    pub fn remove_route(&mut self, prefix: Prefix) -> bool {
        let removed = self.config.routes.remove(prefix);
        if removed {
            self.routes_changed(prefix);
        }
        removed
    }

    /// The route table.
    pub fn routes(&self) -> &Routes {
        &self.config.routes
    }

    /// Whether an IPv4 datagram to `dst` (its 4 address bytes) leaves without DF: path
    /// MTU discovery is off (`ip_no_pmtu_disc`) or the route's MTU is locked (Linux's
    /// ip_dont_fragment).
    #[inline]
    pub(super) fn sends_without_df(&self, dst: &[u8]) -> bool {
        if self.config.ip_no_pmtu_disc != 0 {
            return true;
        }
        let routes = &self.config.routes;
        if routes.is_empty() {
            return false;
        }
        let Ok(dst) = <[u8; 4]>::try_from(dst) else {
            return false;
        };
        routes.any_locked() && routes.mtu_locked(std::net::IpAddr::from(dst))
    }

    /// Every connection to a peer in `prefix` sees its route's MTU anew.
    fn routes_changed(&mut self, prefix: Prefix) {
        let handles: Vec<_> = self.handles().collect();
        let link_mtu = u32::try_from(self.config.mtu).unwrap_or(u32::MAX);
        for h in handles {
            let Some(Sock::Conn(c)) = self.sock_mut(h) else {
                continue;
            };
            let peer = c.remote().ip();
            if !prefix.contains(peer) {
                continue;
            }
            let mtu = self
                .config
                .routes
                .lookup(peer)
                .and_then(|m| m.mtu)
                .unwrap_or(link_mtu);
            // Borrow again: `self.config` was read above.
            if let Some(Sock::Conn(c)) = self.sock_mut(h) {
                c.route_changed(mtu);
            }
        }
    }
}
