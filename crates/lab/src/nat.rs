//! A load balancer in NAT mode (LVS "full NAT", seed 000's setting): clients connect
//! to its virtual address; it rewrites each connection's source to its own inside
//! address and a port of its own, and its destination to the real server; replies go
//! back the same way. TCP options, timestamps included, pass untouched: the server sees
//! every client as one address, with as many timestamp clocks as there are clients.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use synack::wire::{emit_datagram, parse_datagram, TcpRepr};
use synack::Instant;

/// The translator's state.
#[derive(Debug)]
pub struct Nat {
    /// The virtual address clients connect to.
    pub vip: IpAddr,
    /// The address the server sees connections come from.
    pub inside: IpAddr,
    /// The real server.
    pub backend: IpAddr,
    out: HashMap<SocketAddr, u16>,
    back: HashMap<u16, SocketAddr>,
    next_port: u16,
    queue: VecDeque<Vec<u8>>,
    /// Datagrams that were not TCP for a known mapping, dropped.
    pub dropped: u64,
}

impl Nat {
    /// A translator for `vip`, speaking to `backend` from `inside`.
    pub fn new(vip: IpAddr, inside: IpAddr, backend: IpAddr) -> Nat {
        Nat {
            vip,
            inside,
            backend,
            out: HashMap::new(),
            back: HashMap::new(),
            next_port: 20_000,
            queue: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Translates one datagram.
    pub fn handle_packet(&mut self, _now: Instant, packet: &[u8]) {
        let Ok((ip, tcp)) = parse_datagram(packet, false) else {
            self.dropped += 1;
            return;
        };
        let (src, dst, sport, dport) = if ip.dst == self.vip {
            let client = SocketAddr::new(ip.src, tcp.src_port);
            let port = match self.out.get(&client) {
                Some(&p) => p,
                None => {
                    let p = self.next_port;
                    self.next_port = self.next_port.wrapping_add(1).max(20_000);
                    self.out.insert(client, p);
                    self.back.insert(p, client);
                    p
                }
            };
            (self.inside, self.backend, port, tcp.dst_port)
        } else if ip.dst == self.inside && ip.src == self.backend {
            let Some(&client) = self.back.get(&tcp.dst_port) else {
                self.dropped += 1;
                return;
            };
            (self.vip, client.ip(), tcp.src_port, client.port())
        } else {
            self.dropped += 1;
            return;
        };
        let repr = TcpRepr {
            src_port: sport,
            dst_port: dport,
            ..tcp
        };
        let mut buf = vec![0u8; packet.len() + 64];
        match emit_datagram(&mut buf, src, dst, ip.hop_limit.saturating_sub(1), &repr) {
            Ok(n) => {
                buf.truncate(n);
                self.queue.push_back(buf);
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// The next translated datagram.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        let p = self.queue.pop_front()?;
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Some(n)
    }
}
