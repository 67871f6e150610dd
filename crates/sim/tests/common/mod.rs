//! Mock endpoints for the simulator's tests: hosts that send hand-built, numbered IPv4
//! packets on a schedule, record what they receive, and optionally echo it back.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::IpAddr;

use synack::Instant;
use synack_sim::Endpoint;

/// A minimal IPv4 datagram from `src` to `dst`, `len` bytes long (at least 24), carrying
/// `seq` as a big-endian u32 right after the 20-byte header. Protocol 253 (testing).
pub fn ipv4(src: [u8; 4], dst: [u8; 4], seq: u32, len: usize) -> Vec<u8> {
    let len = len.max(24);
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 253;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..24].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[24..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seq as u8);
    }
    p
}

/// The sequence number that [`ipv4`] wrote.
pub fn seq_of(p: &[u8]) -> u32 {
    u32::from_be_bytes(p[20..24].try_into().unwrap())
}

pub fn addr(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

/// What a host saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Packet(Instant, u32),
    Timeout(Instant),
    Transmit(Instant, u32),
}

/// A scripted host.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub addr: [u8; 4],
    /// Packets to send once the clock reaches their time, in time order.
    pub schedule: VecDeque<(Instant, Vec<u8>)>,
    /// Packets ready to go out.
    pub outbox: VecDeque<Vec<u8>>,
    /// Every datagram received, with its arrival time.
    pub received: Vec<(Instant, Vec<u8>)>,
    /// Reply to each packet with the same bytes, source and destination swapped.
    pub echo: bool,
    /// Every call the network made, except empty polls.
    pub log: Vec<Call>,
}

impl Host {
    pub fn new(addr: [u8; 4]) -> Self {
        Host {
            addr,
            ..Host::default()
        }
    }

    pub fn echoing(addr: [u8; 4]) -> Self {
        Host {
            echo: true,
            ..Host::new(addr)
        }
    }

    /// Queues `count` packets of `len` bytes to `dst`, numbered from `first`, the first
    /// at `start` and then every `gap` microseconds.
    pub fn send_series(
        &mut self,
        dst: [u8; 4],
        first: u32,
        count: u32,
        len: usize,
        start: Instant,
        gap_us: u64,
    ) {
        for i in 0..count {
            let at = Instant::from_micros(start.total_micros() + u64::from(i) * gap_us);
            self.schedule
                .push_back((at, ipv4(self.addr, dst, first + i, len)));
        }
    }

    pub fn received_seqs(&self) -> Vec<u32> {
        self.received.iter().map(|(_, p)| seq_of(p)).collect()
    }
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let seq = if packet.len() >= 24 {
            seq_of(packet)
        } else {
            u32::MAX
        };
        self.log.push(Call::Packet(now, seq));
        self.received.push((now, packet.to_vec()));
        if self.echo && packet.len() >= 20 {
            let mut reply = packet.to_vec();
            let (src, dst) = (packet[12..16].to_vec(), packet[16..20].to_vec());
            reply[12..16].copy_from_slice(&dst);
            reply[16..20].copy_from_slice(&src);
            self.outbox.push_back(reply);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.log.push(Call::Timeout(now));
        while self.schedule.front().is_some_and(|(at, _)| *at <= now) {
            let (_, p) = self.schedule.pop_front().unwrap();
            self.outbox.push_back(p);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        let seq = if p.len() >= 24 { seq_of(&p) } else { u32::MAX };
        self.log.push(Call::Transmit(now, seq));
        Some(p.len())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.schedule.front().map(|(at, _)| *at)
    }
}
