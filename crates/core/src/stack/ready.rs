//! Readiness: what a socket call would do now without blocking, as Linux's `tcp_poll`
//! reports it, and the rules that keep [`Event`](super::Event)s in an order a driver can
//! rely on (documented on the type).

use super::{Slot, Sock, SocketHandle, Stack};
use crate::conn::flag;
use crate::conn::Connection;
use crate::error::{Error, Result};
use crate::state::State;

/// What a socket is ready for, as `poll()`/`epoll` would report it on Linux (`tcp_poll`):
/// a driver asks after an [`Event`](super::Event) and wakes exactly the tasks whose call
/// would now make progress.
///
/// The flags describe whether a call would *return* rather than block, so an error or
/// the end of a stream makes a socket readable and writable, as on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Readiness {
    /// `recv()` would not block (`EPOLLIN`): in-order data is waiting, the stream ended
    /// (FIN received, or reading shut down), or an error is pending.
    pub readable: bool,
    /// `send()` would not block (`EPOLLOUT`): connected with at least a third of the send
    /// buffer free (Linux's `sk_stream_is_writeable`: free space at least half of what
    /// is queued), or the sending side is shut or failed so that `send()` returns an
    /// error at once. A socket not yet connected is writable, as on Linux.
    pub writable: bool,
    /// A listener has an established connection for `accept()` (`EPOLLIN` on a
    /// listening socket).
    pub accept_pending: bool,
    /// The receiving side is closed (`EPOLLRDHUP`): the peer's FIN arrived, reading was
    /// shut down, or the connection ended.
    pub read_closed: bool,
    /// Both directions are closed, or the socket is not connected (`EPOLLHUP`).
    pub hup: bool,
    /// The error the next call will return (`EPOLLERR`, `SO_ERROR`), not yet reported.
    /// Once a call has returned it, this is `None` and the socket reads end of stream and
    /// writes `EPIPE`.
    pub error: Option<Error>,
    /// The peer's urgent byte waits to be read with [`Stack::recv_oob`] (`EPOLLPRI`).
    pub urgent: bool,
}

impl Stack {
    /// What socket `h` is ready for now (see [`Readiness`]). `EBADF` for a handle that
    /// is closed or stale. Asking changes nothing.
    pub fn readiness(&self, h: SocketHandle) -> Result<Readiness> {
        let slot = self.slot(h).ok_or(Error::BadHandle)?;
        if slot.has(Slot::USER_CLOSED) {
            return Err(Error::BadHandle);
        }
        Ok(match slot.sock.as_ref().ok_or(Error::BadHandle)? {
            // An unconnected socket (Linux's TCP_CLOSE): hang-up and writable.
            Sock::Fresh(_) => Readiness {
                writable: true,
                hup: true,
                ..Readiness::default()
            },
            Sock::Listener(l) => Readiness {
                accept_pending: !l.accept_queue.is_empty(),
                readable: !l.accept_queue.is_empty(),
                ..Readiness::default()
            },
            Sock::Conn(c) => conn_readiness(c, &self.config),
        })
    }

    /// accept() handed out `h`: its held events (see [`held`]) are now delivered, after
    /// the listener's `Incoming` that announced it.
    pub(super) fn release_held_events(&mut self, h: SocketHandle) {
        let Some(slot) = self.slot_mut(h) else {
            return;
        };
        slot.set(Slot::ACCEPTED, true);
        if let Some(Sock::Conn(c)) = slot.sock.as_mut() {
            // The program owns the socket now (Linux grafts it: sk_socket is set).
            c.rs.owned = true;
        }
        if slot.pending != 0 && !slot.has(Slot::QUEUED) {
            slot.set(Slot::QUEUED, true);
            self.events.push_back(h);
        }
    }
}

/// Linux's `tcp_poll` for a connection.
fn conn_readiness(c: &Connection, config: &crate::config::Config) -> Readiness {
    let closed = c.state == State::Closed;
    // sk_shutdown: RCV_SHUTDOWN on a FIN or shutdown(SHUT_RD), SEND_SHUTDOWN on
    // shutdown(SHUT_WR); both once the connection is done.
    let rcv_shutdown = closed || c.flag(flag::FIN_RECEIVED) || c.flag(flag::RD_SHUTDOWN);
    let send_shutdown = closed || c.flag(flag::FIN_QUEUED);
    let mut r = Readiness {
        error: c.pending_error,
        hup: closed || (rcv_shutdown && send_shutdown),
        read_closed: rcv_shutdown,
        readable: rcv_shutdown || c.pending_error.is_some(),
        ..Readiness::default()
    };
    // A handshake in progress reports nothing but errors and hang-ups.
    let tfo_child = c.state == State::SynReceived && c.tfo.listener.is_some();
    if c.state == State::SynSent && c.tfo.deferred {
        // Linux's tcp_poll: a Fast Open connect held back for the first write is
        // writable, so that the program writes and the SYN leaves with the data.
        r.writable = true;
    } else if tfo_child || !matches!(c.state, State::SynSent | State::SynReceived) {
        r.readable |= c.readable_bytes() > 0;
        r.urgent = c.urgent_pending();
        r.writable = conn_writable(c, config);
    } else {
        r.writable = c.pending_error.is_some();
    }
    r
}

/// Whether `send()` would return without blocking: connected with room (Linux's
/// `__sk_stream_is_writeable(sk, 1)`: a third of the send buffer free, and twice the
/// unsent bytes below TCP_NOTSENT_LOWAT; sendq.rs), or shut for
/// sending or failed, so that it returns an error at once.
pub(super) fn conn_writable(c: &Connection, config: &crate::config::Config) -> bool {
    match c.state {
        State::SynSent if c.tfo.deferred => true,
        State::SynReceived if c.tfo.listener.is_some() => c.stream_writeable(config),
        State::SynSent | State::SynReceived => c.pending_error.is_some(),
        State::Established | State::CloseWait if !c.flag(flag::FIN_QUEUED) && c.error.is_none() => {
            c.stream_writeable(config)
        }
        _ => true,
    }
}

/// Whether a socket's events are held back: a passive connection not yet returned by
/// accept(). Its listener's `Incoming` comes first; accept() releases them.
pub(super) fn held(slot: &Slot) -> bool {
    !slot.has(Slot::ACCEPTED) && matches!(&slot.sock, Some(Sock::Conn(c)) if c.flag(flag::PASSIVE))
}
