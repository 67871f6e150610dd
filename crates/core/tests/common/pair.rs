//! Two stacks wired back to back (client 10.0.0.1, server 10.0.0.2) on one virtual
//! clock, for tests that measure both ends (memory, budgets).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::{Config, Instant, SocketHandle, Stack};

/// The client stack's address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The server stack's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Client `a` and server `b`, and the time.
pub struct Pair {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    /// `a` with `config_a` at [`CLIENT`], `b` with `config_b` at [`SERVER`].
    pub fn new(config_a: Config, config_b: Config) -> Pair {
        let mut a = Stack::new(config_a);
        a.add_address(IpAddr::V4(CLIENT));
        let mut b = Stack::new(config_b);
        b.add_address(IpAddr::V4(SERVER));
        Pair {
            a,
            b,
            now: Instant::ZERO,
            buf: vec![0; 65535],
        }
    }

    /// The configuration both tests start from: `seed`, every port usable.
    pub fn config(seed: u64) -> Config {
        Config {
            ip_local_port_range: (1024, 65535),
            ..Config::seeded(seed)
        }
    }

    /// Every datagram each stack has now goes to the other, without time passing.
    /// Whether anything moved.
    pub fn swap(&mut self) -> bool {
        let mut moved = false;
        while let Some(n) = self.a.poll_transmit(self.now, &mut self.buf).unwrap() {
            self.b.handle_packet(self.now, &self.buf[..n]);
            moved = true;
        }
        while let Some(n) = self.b.poll_transmit(self.now, &mut self.buf).unwrap() {
            self.a.handle_packet(self.now, &self.buf[..n]);
            moved = true;
        }
        moved
    }

    /// [`Pair::swap`], then `step` passes and both stacks' timers run. Whether
    /// anything moved.
    pub fn pass(&mut self, step: Duration) -> bool {
        let moved = self.swap();
        self.now += step;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        moved
    }

    /// `n` established connections from `a` to a listener of `b` on `port`, accepted:
    /// (client, server) handles. Connections open in batches of at most 1,000, and
    /// `settle` carries each batch's handshakes through.
    pub fn connect(
        &mut self,
        n: usize,
        port: u16,
        mut settle: impl FnMut(&mut Pair),
    ) -> Vec<(SocketHandle, SocketHandle)> {
        let to = SocketAddr::new(SERVER.into(), port);
        let l = self.b.socket();
        self.b.bind(l, to).unwrap();
        self.b.listen(l, 4096).unwrap();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let batch: Vec<SocketHandle> = (0..(n - out.len()).min(1000))
                .map(|_| {
                    let s = self.a.socket();
                    self.a.connect(s, to).unwrap();
                    s
                })
                .collect();
            settle(self);
            for c in batch {
                let (s, _) = self.b.accept(l).expect("every connection is accepted");
                out.push((c, s));
            }
        }
        out
    }
}
