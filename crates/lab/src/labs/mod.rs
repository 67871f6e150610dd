//! The labs, one module each, and what they share.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::{Config, SocketHandle, State};
use synack_sim::{LinkConfig, LinkId, NodeId};

use crate::report::Report;
use crate::world::{call, sa, v4, World};
use crate::{LabError, Options};

pub mod close;
pub mod close_wait_leak;
pub mod half_close;
pub mod handshake;
pub mod keepalive;
pub mod lost_final_ack;
pub mod nagle_delack;
pub mod retransmission;
pub mod simultaneous;
pub mod time_wait_pileup;
pub(crate) mod traffic;

/// A lab: its name on the command line, what it shows, and how to run it.
pub struct LabDef {
    /// The name `synack lab NAME` takes.
    pub name: &'static str,
    /// One line on what it shows.
    pub title: &'static str,
    /// The seed articles it comes from (numbers of `shared/seeds/`).
    pub seeds: &'static str,
    /// Runs it.
    pub run: fn(&Options) -> Result<Report, LabError>,
}

/// Every lab, in the order of the issue that asked for them.
pub static LABS: &[LabDef] = &[
    handshake::DEF,
    close::DEF,
    simultaneous::DEF,
    lost_final_ack::DEF,
    half_close::DEF,
    retransmission::DEF,
    keepalive::DEF,
    nagle_delack::DEF,
    time_wait_pileup::DEF,
    close_wait_leak::DEF,
];

/// The server's port in the labs.
pub(crate) const PORT: u16 = 80;

/// A client and a server on one link: the shape of most labs.
pub(crate) struct Duo {
    /// The world.
    pub w: World,
    /// The client's node.
    pub c: NodeId,
    /// The server's node.
    pub s: NodeId,
    /// The link between them.
    pub link: LinkId,
    /// The client's address.
    pub caddr: IpAddr,
    /// The server's address and port.
    pub server: SocketAddr,
}

/// The link most labs use: 10 ms each way, nothing lost.
pub(crate) fn lan() -> LinkConfig {
    LinkConfig::ideal(Duration::from_millis(10))
}

impl Duo {
    /// A client 10.0.0.1 and a server 10.0.0.2 joined by `link`, each stack configured
    /// by `lab`, then the reader's sysctls, then its own overrides.
    pub fn new(
        opts: &Options,
        lab: impl Fn(&mut Config),
        client_overrides: &[(&str, &str)],
        server_overrides: &[(&str, &str)],
        link: LinkConfig,
    ) -> Result<Duo, LabError> {
        let caddr = v4(10, 0, 0, 1);
        let saddr = v4(10, 0, 0, 2);
        let mut w = World::new(opts.seed);
        let c = w.add_host(opts.config(1, &lab, client_overrides)?, &[caddr]);
        let s = w.add_host(opts.config(2, &lab, server_overrides)?, &[saddr]);
        let link = w.link(c, s, link);
        Ok(Duo {
            w,
            c,
            s,
            link,
            caddr,
            server: sa(saddr, PORT),
        })
    }

    /// A listener on the server's port.
    pub fn listen(&mut self, backlog: u32) -> Result<SocketHandle, LabError> {
        let server = self.server;
        let st = self.w.stack(self.s);
        let l = st.socket();
        call("server bind()", st.bind(l, server))?;
        call("server listen()", st.listen(l, backlog))?;
        Ok(l)
    }

    /// A client socket connecting to the server (from `port`, or an ephemeral one).
    pub fn connect(&mut self, port: Option<u16>) -> Result<SocketHandle, LabError> {
        let (server, caddr) = (self.server, self.caddr);
        let st = self.w.stack(self.c);
        let h = st.socket();
        if let Some(p) = port {
            call("client bind()", st.bind(h, sa(caddr, p)))?;
        }
        call("client connect()", st.connect(h, server))?;
        Ok(h)
    }

    /// Runs until the client `h` is connected and the server has accepted it from `l`;
    /// returns the server's socket.
    pub fn establish(
        &mut self,
        h: SocketHandle,
        l: SocketHandle,
    ) -> Result<SocketHandle, LabError> {
        let (c, s) = (self.c, self.s);
        let mut accepted = None;
        self.w.until("the handshake", |net| {
            if accepted.is_none() {
                accepted = net.node_mut(s).stack.accept(l).ok().map(|(a, _)| a);
            }
            accepted.is_some() && net.node_mut(c).stack.state(h) == Ok(State::Established)
        })?;
        accepted.ok_or_else(|| LabError::Scenario("no connection accepted".into()))
    }
}

/// The state of a connection from `local` to `remote` in `stack`'s socket list
/// (TIME-WAIT entries and orphans included), or `Closed` when it is gone.
pub(crate) fn conn_state(stack: &synack::Stack, local: SocketAddr, remote: SocketAddr) -> State {
    stack
        .sockets()
        .iter()
        .find(|i| i.local == local && i.remote == Some(remote))
        .map_or(State::Closed, |i| i.state)
}

/// The seconds between a side's entering `from` and its next state in `ladder`, with
/// the instants; `None` if it never left.
pub(crate) fn time_in_state(
    ladder: &crate::Ladder,
    side: crate::ladder::Side,
    state: &str,
) -> Option<(u64, u64)> {
    use crate::ladder::Event;
    let mut entered = None;
    for e in &ladder.events {
        if let Event::State {
            at_us,
            side: s,
            state: st,
        } = e
        {
            if *s != side {
                continue;
            }
            if st == state {
                entered = Some(*at_us);
            } else if let Some(t0) = entered {
                return Some((t0, *at_us));
            }
        }
    }
    None
}

/// One short connection, recorded: connect, a 100-byte request, a 1000-byte response,
/// the client closes first, the server closes on end of stream; until the client is in
/// TIME-WAIT and the server's side is gone. Returns the ladder.
pub(crate) fn short_exchange(
    d: &mut Duo,
    l: SocketHandle,
    title: &str,
) -> Result<crate::Ladder, LabError> {
    use crate::world::{drain, push};
    let (c, s) = (d.c, d.s);
    d.w.record(title, (c, "client 10.0.0.1"), (s, "server 10.0.0.2:80"), 40);
    let h = d.connect(None)?;
    let hs = d.establish(h, l)?;
    let local = call("getsockname()", d.w.stack(c).local_addr(h))?;
    let server = d.server;
    let (mut a, mut b) = (0, 0);
    call("send()", push(d.w.stack(c), h, &[b'q'; 100], &mut a))?;
    let (mut got_req, mut got_resp) = (Vec::new(), Vec::new());
    let mut closed = false;
    d.w.until("the exchange", |net| {
        drain(&mut net.node_mut(s).stack, hs, &mut got_req);
        if got_req.len() >= 100 {
            let _ = push(&mut net.node_mut(s).stack, hs, &[b'r'; 1000], &mut b);
        }
        drain(&mut net.node_mut(c).stack, h, &mut got_resp);
        if got_resp.len() >= 1000 && !closed {
            closed = true;
            let _ = net.node_mut(c).stack.close(h);
        }
        closed
    })?;
    let mut server_closed = false;
    d.w.until("the close", |net| {
        if !server_closed && drain(&mut net.node_mut(s).stack, hs, &mut Vec::new()).0 {
            server_closed = true;
            let _ = net.node_mut(s).stack.close(hs);
        }
        server_closed
            && conn_state(&net.node(c).stack, local, server) == State::TimeWait
            && conn_state(&net.node(s).stack, server, local) == State::Closed
    })?;
    let idx = d.w.stop_recording().unwrap_or(0);
    Ok(d.w.ladders[idx].clone())
}
