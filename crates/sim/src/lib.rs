//! synack-sim: a deterministic simulated network for sans-IO stacks.
//!
//! synack's engine never does I/O and never reads a clock; this crate is the world it
//! runs in for tests, the demo and benchmarks. A [`Network`] holds nodes (anything that
//! implements [`Endpoint`], `synack::Stack` among them) joined by links whose two
//! directions each have a [`LinkConfig`]: delay, jitter, a serialization rate with a
//! bounded queue, loss, reordering, duplication, corruption and an MTU. A virtual clock
//! jumps from one event (a packet arrival, a node's timer) to the next, so an hour of
//! TCP runs in milliseconds.
//!
//! # Design
//!
//! - **Deterministic.** The same seed and the same calls give bit-identical results. All
//!   randomness comes from [`Rng`] (xoshiro256**, written here so it never changes with a
//!   dependency); each link direction has its own stream forked from the seed when the
//!   link is made. Maps are `BTreeMap`s, events sit in a heap keyed by (time, sequence
//!   number), so ties are FIFO. Nothing reads the wall clock or a thread-local RNG.
//! - **Sans-IO driving.** [`Network::step`] drains every node's `poll_transmit`, jumps the
//!   clock to the earliest event, delivers every packet due (all of a node's arrivals
//!   before it transmits again, so ACKs coalesce as on Linux), then runs due timers.
//! - **Routing by address.** Nodes own IP addresses; a datagram goes over the link to the
//!   node owning its destination address (read from the raw IPv4/IPv6 header). Anything
//!   else, malformed bytes included, is counted as [`Fate::NoRoute`]. No packet bytes can
//!   make the simulator panic.
//! - **Observable.** [`LinkStats`] per direction, a tap reporting every packet and its
//!   [`Fate`] ([`Network::set_tap`]), and pcap capture per link ([`Network::capture`]).
//!
//! # Example
//!
//! A node that sends one IPv4 datagram to its peer, over a 10 ms link:
//!
//! ```
//! use std::time::Duration;
//! use synack::Instant;
//! use synack_sim::{Endpoint, LinkConfig, Network};
//!
//! #[derive(Default)]
//! struct Node { outbox: Vec<Vec<u8>>, received: Vec<(Instant, usize)> }
//!
//! impl Endpoint for Node {
//!     fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
//!         self.received.push((now, packet.len()));
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
//!         let p = self.outbox.pop()?;
//!         buf[..p.len()].copy_from_slice(&p);
//!         Some(p.len())
//!     }
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//! }
//!
//! let mut net = Network::new(42);
//! let a = net.add_node(Node::default(), &["10.0.0.1".parse().unwrap()]);
//! let b = net.add_node(Node::default(), &["10.0.0.2".parse().unwrap()]);
//! let ms10 = LinkConfig::ideal(Duration::from_millis(10));
//! let link = net.link(a, b, ms10.clone(), ms10);
//!
//! // A bare 20-byte IPv4 header from 10.0.0.1 to 10.0.0.2.
//! let mut packet = vec![0u8; 20];
//! packet[0] = 0x45;
//! packet[12..16].copy_from_slice(&[10, 0, 0, 1]);
//! packet[16..20].copy_from_slice(&[10, 0, 0, 2]);
//! net.node_mut(a).outbox.push(packet);
//!
//! while net.step() {}
//! assert_eq!(net.node(b).received, vec![(Instant::from_millis(10), 20)]);
//! assert_eq!(net.link_stats(link, a).delivered, 1);
//! ```

#![warn(missing_docs)]

mod link;
mod network;
mod pair;
pub mod pcap;
mod rng;
mod route;

pub use link::{Fate, LinkConfig, LinkStats};
pub use network::{LinkId, Network, NodeId, MAX_PACKET};
pub use pair::Pair;
pub use pcap::SharedBuffer;
pub use rng::Rng;

pub use synack::Instant;

/// The driver contract of a sans-IO stack: what a [`Network`] calls on each node.
///
/// Implemented here for `synack::Stack` (by forwarding) and for boxes of endpoints, and
/// by test mocks. The network calls these in a fixed order each step: `poll_transmit`
/// until it returns `None`, `poll_timeout`, then `handle_packet` for each arrival and
/// `handle_timeout` when the timeout is due.
pub trait Endpoint {
    /// Receives one whole IP datagram at `now`.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// Runs whatever timers are due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Writes the next datagram to send into `buf` (65535 bytes long) and returns its
    /// length, or returns `None` when there is nothing to send now.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// The next instant at which `handle_timeout` must be called, if any. After
    /// `handle_timeout(now)` it should be later than `now`.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

impl Endpoint for synack::Stack {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        synack::Stack::handle_packet(self, now, packet);
    }

    fn handle_timeout(&mut self, now: Instant) {
        synack::Stack::handle_timeout(self, now);
    }

    /// The network lends a buffer of [`MAX_PACKET`] bytes, the largest IP datagram, so
    /// the engine's [`synack::BufferTooSmall`] would be an engine bug: it is reported as
    /// the network reports a broken contract, with a panic that says so.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        synack::Stack::poll_transmit(self, now, buf).unwrap_or_else(|e| {
            panic!(
                "synack-sim: the engine refused a {}-byte transmit buffer: {e}",
                buf.len()
            )
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        synack::Stack::poll_timeout(self)
    }
}

impl<E: Endpoint + ?Sized> Endpoint for Box<E> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        (**self).handle_packet(now, packet);
    }

    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        (**self).poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        (**self).poll_timeout()
    }
}
