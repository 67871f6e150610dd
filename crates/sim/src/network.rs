//! The network: nodes, links, the event queue and the virtual clock.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use synack::Instant;

use crate::link::{Direction, Fate, LinkConfig, LinkStats};
use crate::pcap::PcapWriter;
use crate::rng::Rng;
use crate::route::destination;
use crate::Endpoint;

/// The size of the buffer lent to `poll_transmit`: the largest IP datagram.
pub const MAX_PACKET: usize = 65535;

/// More packets than this from one node in one step is taken for an endpoint that never
/// stops transmitting.
const MAX_BURST: usize = 1 << 20;
/// More consecutive `handle_timeout` calls than this on one node at one instant is taken
/// for an endpoint whose timer never moves.
const MAX_TIMEOUT_SPINS: u32 = 10_000;
/// More steps than this without the clock advancing is taken for a zero-delay loop.
const MAX_STEPS_PER_INSTANT: u64 = 100_000;
/// Recycled packet buffers kept for reuse.
const POOL_LIMIT: usize = 1024;

/// A node of a [`Network`], in the order of [`Network::add_node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

impl NodeId {
    /// The node's position in the order of creation, from 0.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A link of a [`Network`], in the order of [`Network::link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(usize);

impl LinkId {
    /// The link's position in the order of creation, from 0.
    pub fn index(self) -> usize {
        self.0
    }
}

type Tap = Box<dyn FnMut(Instant, NodeId, NodeId, &[u8], Fate)>;

struct Node<E> {
    endpoint: E,
    addrs: Vec<IpAddr>,
    /// The instant of the last `handle_timeout` call and how many were made at it in a row.
    spin_at: Instant,
    spins: u32,
}

struct Link {
    /// `ends[0]` sends on `dirs[0]`, `ends[1]` on `dirs[1]`.
    ends: [NodeId; 2],
    dirs: [Direction; 2],
    capture: Option<PcapWriter<Box<dyn Write>>>,
}

/// A packet in flight, ordered so that the heap pops the earliest first and, among equal
/// times, the one scheduled first.
struct Event {
    at: Instant,
    seq: u64,
    to: NodeId,
    link: usize,
    dir: usize,
    data: Vec<u8>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The outcome of one attempt to step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The clock jumped to the next event and it was processed.
    Stepped,
    /// Nothing is pending.
    Idle,
    /// The next event lies past the deadline; the clock now stands at the deadline.
    Deadline,
}

/// A deterministic simulated network of sans-IO endpoints joined by impaired links,
/// driven by a virtual clock that starts at [`Instant::ZERO`] and jumps from event to
/// event.
///
/// Each node owns one or more IP addresses. A datagram that a node transmits is routed by
/// its destination address to the node that owns it, over the link joining the two; if
/// there is none, or the header is malformed, it is dropped and counted
/// ([`Network::no_route_drops`]). All randomness comes from the seed: each link direction
/// draws from its own generator forked from it when the link is made.
pub struct Network<E: Endpoint> {
    now: Instant,
    rng: Rng,
    nodes: Vec<Node<E>>,
    links: Vec<Link>,
    owners: BTreeMap<IpAddr, NodeId>,
    /// (from, to) to (link index, direction index).
    routes: BTreeMap<(NodeId, NodeId), (usize, usize)>,
    events: BinaryHeap<Event>,
    seq: u64,
    buf: Vec<u8>,
    pool: Vec<Vec<u8>>,
    tap: Option<Tap>,
    no_route: u64,
    capture_errors: u64,
    steps_at_now: u64,
}

impl<E: Endpoint> Network<E> {
    /// An empty network whose random choices all derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Network {
            now: Instant::ZERO,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            links: Vec::new(),
            owners: BTreeMap::new(),
            routes: BTreeMap::new(),
            events: BinaryHeap::new(),
            seq: 0,
            buf: vec![0; MAX_PACKET],
            pool: Vec::new(),
            tap: None,
            no_route: 0,
            capture_errors: 0,
            steps_at_now: 0,
        }
    }

    /// Adds a node that owns `addrs`.
    ///
    /// # Panics
    /// If another node already owns one of the addresses.
    pub fn add_node(&mut self, endpoint: E, addrs: &[IpAddr]) -> NodeId {
        let id = NodeId(self.nodes.len());
        for addr in addrs {
            if let Some(owner) = self.owners.insert(*addr, id) {
                panic!("synack-sim: address {addr} is already owned by node {owner:?}");
            }
        }
        self.nodes.push(Node {
            endpoint,
            addrs: addrs.to_vec(),
            spin_at: Instant::ZERO,
            spins: 0,
        });
        id
    }

    /// A bidirectional link between `a` and `b`: packets that `a` sends to one of `b`'s
    /// addresses go over it with the impairments of `a_to_b`, and vice versa.
    ///
    /// # Panics
    /// If `a == b`, either node does not exist, or the two are already linked.
    pub fn link(&mut self, a: NodeId, b: NodeId, a_to_b: LinkConfig, b_to_a: LinkConfig) -> LinkId {
        assert!(a != b, "synack-sim: cannot link node {a:?} to itself");
        assert!(
            a.0 < self.nodes.len() && b.0 < self.nodes.len(),
            "synack-sim: no such node"
        );
        let id = self.links.len();
        let dir_ab = Direction::new(a_to_b, self.rng.fork());
        let dir_ba = Direction::new(b_to_a, self.rng.fork());
        if self.routes.insert((a, b), (id, 0)).is_some()
            || self.routes.insert((b, a), (id, 1)).is_some()
        {
            panic!("synack-sim: nodes {a:?} and {b:?} are already linked");
        }
        self.links.push(Link {
            ends: [a, b],
            dirs: [dir_ab, dir_ba],
            capture: None,
        });
        LinkId(id)
    }

    /// The endpoint of node `id`.
    pub fn node(&self, id: NodeId) -> &E {
        &self.nodes[id.0].endpoint
    }

    /// The endpoint of node `id`, to issue commands to it between steps.
    pub fn node_mut(&mut self, id: NodeId) -> &mut E {
        &mut self.nodes[id.0].endpoint
    }

    /// The addresses that node `id` owns.
    pub fn node_addrs(&self, id: NodeId) -> &[IpAddr] {
        &self.nodes[id.0].addrs
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The two nodes that `link` joins, in the order given to [`Network::link`].
    pub fn link_ends(&self, link: LinkId) -> (NodeId, NodeId) {
        let ends = self.links[link.0].ends;
        (ends[0], ends[1])
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many packets are on links, not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.events.len()
    }

    /// Packets dropped because no link leads to their destination or their IP header is
    /// malformed.
    pub fn no_route_drops(&self) -> u64 {
        self.no_route
    }

    /// Captures stopped because their writer failed.
    pub fn capture_errors(&self) -> u64 {
        self.capture_errors
    }

    fn direction_index(&self, link: LinkId, from: NodeId) -> usize {
        let ends = self.links[link.0].ends;
        match ends.iter().position(|&n| n == from) {
            Some(i) => i,
            None => panic!("synack-sim: node {from:?} is not an end of link {link:?}"),
        }
    }

    /// The counters of the direction of `link` that `from` sends on.
    ///
    /// # Panics
    /// If `from` is not one of the link's ends.
    pub fn link_stats(&self, link: LinkId, from: NodeId) -> &LinkStats {
        let dir = self.direction_index(link, from);
        &self.links[link.0].dirs[dir].stats
    }

    /// The configuration of the direction of `link` that `from` sends on, to change the
    /// conditions mid-run (a partition is `loss = 1.0`). Packets already in flight keep
    /// the fate they were given.
    ///
    /// # Panics
    /// If `from` is not one of the link's ends.
    pub fn link_config_mut(&mut self, link: LinkId, from: NodeId) -> &mut LinkConfig {
        let dir = self.direction_index(link, from);
        &mut self.links[link.0].dirs[dir].config
    }

    /// Writes every packet that enters `link`, in both directions, to `out` as a classic
    /// pcap stream (`LINKTYPE_RAW`, microsecond timestamps from the virtual clock).
    ///
    /// Packets are recorded as the sender's tcpdump would see them: all that are offered
    /// to the link, at the time they are sent, before any impairment (so lost ones are
    /// there, a duplicate copy is not, and corruption is not visible). A capture that
    /// already exists on the link is replaced. If `out` fails, the capture stops and
    /// [`Network::capture_errors`] counts it.
    pub fn capture(&mut self, link: LinkId, out: Box<dyn Write>) {
        match PcapWriter::new(out) {
            Ok(writer) => self.links[link.0].capture = Some(writer),
            Err(_) => {
                self.links[link.0].capture = None;
                self.capture_errors += 1;
            }
        }
    }

    /// Stops capturing on `link`, flushes the writer and returns it.
    pub fn stop_capture(&mut self, link: LinkId) -> Option<Box<dyn Write>> {
        self.links[link.0]
            .capture
            .take()
            .and_then(|w| w.into_inner().ok())
    }

    /// Calls `f(time, from, to, packet, fate)` for every packet that a node transmits, when
    /// it is transmitted, with the fate the network decided for it. A duplicated packet is
    /// reported twice: once with its own fate and once with [`Fate::Duplicated`] for the
    /// copy. For [`Fate::NoRoute`], `to` is the owner of the destination address if any
    /// node owns it, and otherwise the sender itself.
    pub fn set_tap(&mut self, f: impl FnMut(Instant, NodeId, NodeId, &[u8], Fate) + 'static) {
        self.tap = Some(Box::new(f));
    }

    /// Removes the tap.
    pub fn clear_tap(&mut self) {
        self.tap = None;
    }

    /// Puts `packet` on the network as if node `from` had transmitted it now, bypassing
    /// its endpoint. Any bytes are accepted; unroutable ones are counted as such.
    pub fn send_from(&mut self, from: NodeId, packet: &[u8]) {
        assert!(
            from.0 < self.nodes.len(),
            "synack-sim: no such node {from:?}"
        );
        self.route(from, packet);
    }

    /// One step of the virtual clock:
    /// 1. every node, in order of creation, is drained of what `poll_transmit` yields,
    ///    onto its links;
    /// 2. the clock jumps to the earliest event: a packet's arrival or a node's
    ///    `poll_timeout` (never backwards: a timeout in the past counts as now);
    /// 3. every packet due by then is delivered with `handle_packet`, in order of arrival
    ///    (ties in order of sending), so a node receives all its due arrivals before it
    ///    transmits again and can coalesce its ACKs;
    /// 4. `handle_timeout` is called on every node whose `poll_timeout` is due.
    ///
    /// Returns false, without moving the clock, when nothing is pending: no packet in
    /// flight and no node timeout.
    ///
    /// # Panics
    /// With a message naming the node, when an endpoint misbehaves in a way that would
    /// otherwise hang the simulation: it yields packets without end, returns a length
    /// longer than the buffer, or keeps returning a timeout that is not after `now` after
    /// its `handle_timeout` ran.
    pub fn step(&mut self) -> bool {
        self.advance(None) == Progress::Stepped
    }

    /// Steps until `cond(self)` returns true (checked before the first step and after
    /// each), the network goes idle, or the next event lies past `deadline`, in which case
    /// the clock is moved to `deadline`. Events at exactly `deadline` are processed.
    /// Returns whether `cond` became true.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        if cond(self) {
            return true;
        }
        loop {
            match self.advance(Some(deadline)) {
                Progress::Stepped => {
                    if cond(self) {
                        return true;
                    }
                }
                Progress::Idle | Progress::Deadline => return cond(self),
            }
        }
    }

    /// Advances the clock to `now + d`, processing every event on the way (and those at
    /// `now + d` itself). The clock ends at `now + d` even if the network went idle.
    pub fn run_for(&mut self, d: Duration) {
        let target = self.now + d;
        self.run_until(target, |_| false);
        self.now = self.now.max(target);
    }

    /// One step, unless the next event lies past `deadline`.
    pub(crate) fn advance(&mut self, deadline: Option<Instant>) -> Progress {
        self.flush_transmits();
        let Some(next) = self.next_event() else {
            return Progress::Idle;
        };
        let next = next.max(self.now);
        if let Some(deadline) = deadline {
            if next > deadline {
                self.now = self.now.max(deadline);
                self.steps_at_now = 0;
                return Progress::Deadline;
            }
        }
        if next == self.now {
            self.steps_at_now += 1;
            assert!(
                self.steps_at_now <= MAX_STEPS_PER_INSTANT,
                "synack-sim: {MAX_STEPS_PER_INSTANT} steps at {} without the clock advancing: \
                 packets are looping between nodes over zero-delay links",
                self.now
            );
        } else {
            self.now = next;
            self.steps_at_now = 0;
        }
        self.deliver_due();
        self.fire_timeouts();
        Progress::Stepped
    }

    /// Phase 1: drains every node's transmissions onto the links.
    fn flush_transmits(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        for i in 0..self.nodes.len() {
            let mut count = 0usize;
            while let Some(n) = self.nodes[i].endpoint.poll_transmit(self.now, &mut buf) {
                assert!(
                    n <= buf.len(),
                    "synack-sim: node {i} returned a packet of {n} bytes from poll_transmit \
                     but the buffer holds {}",
                    buf.len()
                );
                count += 1;
                assert!(
                    count <= MAX_BURST,
                    "synack-sim: node {i} transmitted more than {MAX_BURST} packets at {} \
                     without pause; poll_transmit never returns None",
                    self.now
                );
                self.route(NodeId(i), &buf[..n]);
            }
        }
        self.buf = buf;
    }

    /// The earliest pending event: a packet arrival or a node timeout.
    fn next_event(&mut self) -> Option<Instant> {
        let mut next = self.events.peek().map(|e| e.at);
        for node in &mut self.nodes {
            if let Some(t) = node.endpoint.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Phase 3: hands every packet due by now to its node.
    fn deliver_due(&mut self) {
        while self.events.peek().is_some_and(|e| e.at <= self.now) {
            let Some(event) = self.events.pop() else {
                break;
            };
            self.links[event.link].dirs[event.dir].stats.delivered += 1;
            self.nodes[event.to.0]
                .endpoint
                .handle_packet(self.now, &event.data);
            if self.pool.len() < POOL_LIMIT {
                self.pool.push(event.data);
            }
        }
    }

    /// Phase 4: runs the timers of every node that is due.
    fn fire_timeouts(&mut self) {
        let now = self.now;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let Some(t) = node.endpoint.poll_timeout() else {
                continue;
            };
            if t > now {
                continue;
            }
            if node.spin_at == now {
                node.spins += 1;
                assert!(
                    node.spins <= MAX_TIMEOUT_SPINS,
                    "synack-sim: node {i} keeps returning poll_timeout {t} <= now {now} \
                     after handle_timeout ({MAX_TIMEOUT_SPINS} calls without the clock \
                     advancing); the endpoint's timer never moves"
                );
            } else {
                node.spin_at = now;
                node.spins = 1;
            }
            node.endpoint.handle_timeout(now);
        }
    }

    /// Puts a packet from `from` on the link toward its destination, or drops it.
    fn route(&mut self, from: NodeId, packet: &[u8]) {
        let now = self.now;
        let owner = destination(packet).and_then(|addr| self.owners.get(&addr).copied());
        let hop = owner.and_then(|to| self.routes.get(&(from, to)).map(|&r| (to, r)));
        let Some((to, (link, dir))) = hop else {
            self.no_route += 1;
            if let Some(tap) = &mut self.tap {
                tap(now, from, owner.unwrap_or(from), packet, Fate::NoRoute);
            }
            return;
        };
        let l = &mut self.links[link];
        if let Some(writer) = &mut l.capture {
            if writer.write_packet(now, packet).is_err() {
                l.capture = None;
                self.capture_errors += 1;
            }
        }
        let admission = l.dirs[dir].admit(now, packet.len());
        if let Some(tap) = &mut self.tap {
            tap(now, from, to, packet, admission.fate);
            if admission.duplicate.is_some() {
                tap(now, from, to, packet, Fate::Duplicated);
            }
        }
        if let Some(at) = admission.arrival {
            let mut data = self.packet_buf(packet);
            if admission.mark_ce && synack::wire::Ecn::of_datagram(&data).is_ect() {
                synack::wire::Ecn::Ce.set_in(&mut data);
                self.links[link].dirs[dir].stats.ce_marked += 1;
            }
            if let Some((index, mask)) = admission.flip {
                if let Some(byte) = data.get_mut(index) {
                    *byte ^= mask;
                }
            }
            self.schedule(at, to, link, dir, data);
        }
        if let Some(at) = admission.duplicate {
            let data = self.packet_buf(packet);
            self.schedule(at, to, link, dir, data);
        }
    }

    fn packet_buf(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(packet);
        data
    }

    fn schedule(&mut self, at: Instant, to: NodeId, link: usize, dir: usize, data: Vec<u8>) {
        let seq = self.seq;
        self.seq += 1;
        self.events.push(Event {
            at,
            seq,
            to,
            link,
            dir,
            data,
        });
    }
}
