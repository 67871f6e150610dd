//! A two-endpoint harness in the style of quinn-proto's `Pair`.

use std::net::IpAddr;
use std::time::Duration;

use synack::Instant;

use crate::link::{LinkConfig, LinkStats};
use crate::network::{LinkId, Network, NodeId, Progress};
use crate::Endpoint;

/// Two endpoints, a client and a server, joined by one link: the usual shape of a test.
///
/// ```
/// use std::time::Duration;
/// use synack_sim::{LinkConfig, Pair};
///
/// let mut pair = Pair::new(
///     1,
///     synack::Stack::new(synack::Config::seeded(1)),
///     "10.0.0.1".parse().unwrap(),
///     synack::Stack::new(synack::Config::seeded(2)),
///     "10.0.0.2".parse().unwrap(),
///     LinkConfig::ideal(Duration::from_millis(10)),
/// );
/// pair.run_for(Duration::from_secs(1));
/// assert_eq!(pair.net.now(), synack::Instant::from_secs(1));
/// ```
pub struct Pair<E: Endpoint> {
    /// The network holding both endpoints.
    pub net: Network<E>,
    /// The client's node.
    pub client: NodeId,
    /// The server's node.
    pub server: NodeId,
    /// The link between them.
    pub link: LinkId,
}

impl<E: Endpoint> Pair<E> {
    /// A client at `client_addr` and a server at `server_addr`, joined by a link with the
    /// configuration `link` in both directions.
    pub fn new(
        seed: u64,
        client: E,
        client_addr: IpAddr,
        server: E,
        server_addr: IpAddr,
        link: LinkConfig,
    ) -> Self {
        let mut net = Network::new(seed);
        let client = net.add_node(client, &[client_addr]);
        let server = net.add_node(server, &[server_addr]);
        let link = net.link(client, server, link.clone(), link);
        Pair {
            net,
            client,
            server,
            link,
        }
    }

    /// The client endpoint.
    pub fn client(&mut self) -> &mut E {
        self.net.node_mut(self.client)
    }

    /// The server endpoint.
    pub fn server(&mut self) -> &mut E {
        self.net.node_mut(self.server)
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.net.now()
    }

    /// The counters of the client-to-server direction.
    pub fn client_to_server(&self) -> &LinkStats {
        self.net.link_stats(self.link, self.client)
    }

    /// The counters of the server-to-client direction.
    pub fn server_to_client(&self) -> &LinkStats {
        self.net.link_stats(self.link, self.server)
    }

    /// One step of the network; see [`Network::step`].
    pub fn step(&mut self) -> bool {
        self.net.step()
    }

    /// Steps until `cond(self)` is true, the network is idle, or the next event lies past
    /// `deadline`; see [`Network::run_until`]. Returns whether `cond` became true.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        if cond(self) {
            return true;
        }
        loop {
            match self.net.advance(Some(deadline)) {
                Progress::Stepped => {
                    if cond(self) {
                        return true;
                    }
                }
                Progress::Idle | Progress::Deadline => return cond(self),
            }
        }
    }

    /// Steps until the network is idle or the next event lies past `deadline`.
    /// Returns whether it went idle.
    pub fn drive(&mut self, deadline: Instant) -> bool {
        loop {
            match self.net.advance(Some(deadline)) {
                Progress::Stepped => {}
                Progress::Idle => return true,
                Progress::Deadline => return false,
            }
        }
    }

    /// Advances the clock by `d`, processing everything on the way; see
    /// [`Network::run_for`].
    pub fn run_for(&mut self, d: Duration) {
        self.net.run_for(d);
    }
}
