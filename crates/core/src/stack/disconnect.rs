//! connect(AF_UNSPEC): Linux's tcp_disconnect, which takes a socket back to CLOSE
//! without closing it, so that it can connect again.

use std::net::{IpAddr, SocketAddr};

use super::{ports, FourTuple, FreshSock, Sock, Stack};
use crate::error::{Error, Result};
use crate::stack::SocketHandle;
use crate::state::State;

impl Stack {
    /// Disconnects `h` as `connect(fd, AF_UNSPEC)` does on Linux (tcp_disconnect): a
    /// connection that the peer knows of (SYN-RECEIVED, ESTABLISHED, the FIN-WAITs,
    /// CLOSE-WAIT, CLOSING, LAST-ACK) is reset with RST (RFC 9293 3.10.5's abort), one
    /// being opened is dropped; what it held is discarded and the socket is as if just
    /// created, keeping its options, and bound to its port when it was bound to one
    /// (an accepted connection keeps its listener's port; a connect()ed one gives its
    /// ephemeral port back). A listener stops listening and stays bound. A socket never
    /// connected is left as it is.
    pub fn disconnect(&mut self, h: SocketHandle) -> Result<()> {
        match self.user_sock(h)? {
            Sock::Fresh(_) => return Ok(()),
            Sock::Listener(l) => {
                let (local, opts) = (l.local, l.opts);
                self.stop_listening(h);
                self.refresh(h, Some(local), opts);
                return Ok(());
            }
            Sock::Conn(_) => {}
        }
        let (local, passive, opts) = self
            .with_conn(h, |c, ctx| {
                if c.state != State::Closed {
                    c.reset(ctx, Some(Error::ConnectionReset));
                }
                (c.local(), c.passive, *c.opts)
            })
            .ok_or(Error::NotConnected)?;
        let unspecified = match local.ip() {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u16; 8]),
        };
        // Linux's tcp_disconnect keeps the port only under SOCK_BINDPORT_LOCK, which an
        // accepted socket inherits from its bound listener, and forgets the address
        // (inet_reset_saddr) unless it was bound to one.
        let bound = passive.then(|| SocketAddr::new(unspecified, local.port()));
        self.refresh(h, bound, opts);
        Ok(())
    }

    /// Stops a listener (Linux's inet_csk_listen_stop): its half-open requests are
    /// dropped, the connections waiting in its accept queue reset, its port given back.
    pub(super) fn stop_listening(&mut self, h: SocketHandle) {
        let Some(Sock::Listener(l)) = self.slot_mut(h).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        let local = l.local;
        let children: Vec<SocketHandle> = l.accept_queue.drain(..).collect();
        if let Some(list) = self.listeners.get_mut(&local.port()) {
            list.retain(|x| *x != h);
        }
        self.any_listeners.retain(|x| *x != h);
        let mut pending: Vec<(FourTuple, u64)> = self
            .requests
            .values()
            .filter(|r| r.listener == h)
            .map(|r| {
                let t = FourTuple {
                    local: r.local,
                    remote: r.remote,
                };
                (t, r.id)
            })
            .collect();
        // In the order they arrived, not the table's.
        pending.sort_by_key(|p| p.1);
        for (t, id) in pending {
            self.drop_request(&t, id);
        }
        for child in children {
            if let Some(slot) = self.slot_mut(child) {
                slot.set(super::Slot::USER_CLOSED, true);
            }
            self.with_conn(child, |c, ctx| {
                c.orphan = true;
                c.reset(ctx, None)
            });
        }
        self.ports.remove_socket(local.port(), h);
        self.trace(
            local,
            super::api::unspecified_like(local),
            State::Listen,
            State::Closed,
        );
    }

    /// Makes `h` a fresh socket with options `opts`, bound to `bound` if given.
    fn refresh(&mut self, h: SocketHandle, bound: Option<SocketAddr>, opts: crate::conn::SockOpts) {
        if let Some(b) = bound {
            let claim = ports::Claim {
                addr: b.ip(),
                reuse: opts.reuseaddr,
                v6only: opts.v6only && b.is_ipv6(),
            };
            self.ports.add_socket(b.port(), h, claim);
        }
        let slot = self.slots.get_mut(h.index as usize);
        if let Some(slot) = slot.filter(|s| s.generation == h.generation) {
            if let Some(Sock::Conn(conn)) = slot.sock.as_mut() {
                self.budget
                    .uncharge(conn, self.now, &self.config.tcp_mem, &mut self.stats);
            }
        }
        if let Some(slot) = self.slot_mut(h) {
            slot.sock = Some(Sock::Fresh(Box::new(FreshSock { bound, opts })));
            slot.set(super::Slot::WRITABLE, false);
            if let Some(t) = slot.timer.take() {
                self.timers.set_item(t, super::TimerRef::Wake);
            }
        }
    }
}
