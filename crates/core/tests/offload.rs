//! Segmentation and checksum offload (issue 11, item 2): what
//! `Stack::poll_transmit_offload` builds is exactly the segments `poll_transmit` sends,
//! once a device cuts it (`synack::wire::gso::segment`), and GSO packets handed to
//! `Stack::handle_packet_offload` are taken whole, counted as the segments they carry.
//!
//! Two stacks joined by a loop on a virtual clock; every datagram either way is kept.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::wire::{self, gso};
use synack::{Config, Instant, RxOffload, SocketHandle, Stack, TxOffload};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const FULL: TxOffload = TxOffload {
    gso_max_size: 65535,
    csum: true,
};

/// How datagrams travel from A to B.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    /// `poll_transmit`, one segment per datagram.
    Plain,
    /// `poll_transmit_offload`, each super-segment cut by `gso::segment` and handed over
    /// segment by segment, with checksums verified.
    Cut(TxOffload),
    /// `poll_transmit_offload`, super-segments handed over whole (the receiver's GRO).
    Whole(TxOffload),
}

struct Run {
    a: Stack,
    b: Stack,
    now: Instant,
    /// Every datagram that reached B from A, segment by segment (the cut ones), and
    /// every datagram from B.
    a_to_b: Vec<Vec<u8>>,
    b_to_a: Vec<Vec<u8>>,
    /// The segment counts of A's datagrams.
    segs: Vec<u16>,
    client: SocketHandle,
    server: Option<SocketHandle>,
    listener: SocketHandle,
}

fn stack(addr: IpAddr, seed: u64) -> Stack {
    let mut s = Stack::new(Config::seeded(seed));
    s.add_address(addr);
    s
}

impl Run {
    fn new() -> Run {
        let mut a = stack(A, 1);
        let mut b = stack(B, 2);
        let listener = b.socket();
        b.bind(listener, SocketAddr::new(B, 80)).unwrap();
        b.listen(listener, 8).unwrap();
        let client = a.socket();
        a.connect(client, SocketAddr::new(B, 80)).unwrap();
        Run {
            a,
            b,
            now: Instant::ZERO,
            a_to_b: Vec::new(),
            b_to_a: Vec::new(),
            segs: Vec::new(),
            client,
            server: None,
            listener,
        }
    }

    /// Moves every datagram each way until both are quiet; returns whether any moved.
    fn exchange(&mut self, path: Path) -> bool {
        let mut moved = false;
        let mut buf = vec![0u8; 65535];
        let mut scratch = Vec::new();
        loop {
            let mut any = false;
            loop {
                let t = match path {
                    Path::Plain => self.a.poll_transmit(self.now, &mut buf).unwrap().map(|n| {
                        synack::Transmit {
                            len: n,
                            gso_size: 0,
                            segs: 1,
                            hdr_len: 0,
                            csum_start: None,
                        }
                    }),
                    Path::Cut(o) | Path::Whole(o) => {
                        self.a.poll_transmit_offload(self.now, &mut buf, o).unwrap()
                    }
                };
                let Some(t) = t else { break };
                any = true;
                self.segs.push(t.segs);
                let d = &buf[..t.len];
                if let Path::Whole(_) = path {
                    let rx = RxOffload {
                        gso_size: t.gso_size,
                        csum_valid: t.csum_start.is_some(),
                    };
                    self.b.handle_packet_offload(self.now, d, rx);
                    self.a_to_b.push(d.to_vec());
                } else {
                    let mut cut = Vec::new();
                    if t.hdr_len > 0 {
                        gso::segment(d, t.gso_size, &mut scratch, |s| cut.push(s.to_vec()))
                            .unwrap();
                    } else {
                        cut.push(d.to_vec());
                    }
                    assert_eq!(cut.len(), usize::from(t.segs));
                    for s in cut {
                        self.b.handle_packet(self.now, &s);
                        self.a_to_b.push(s);
                    }
                }
            }
            while let Some(n) = self.b.poll_transmit(self.now, &mut buf).unwrap() {
                any = true;
                self.a.handle_packet(self.now, &buf[..n]);
                self.b_to_a.push(buf[..n].to_vec());
            }
            if self.server.is_none() {
                if let Ok((h, _)) = self.b.accept(self.listener) {
                    self.server = Some(h);
                    any = true;
                }
            }
            if !any {
                return moved;
            }
            moved = true;
        }
    }

    /// Advances the clock to the next deadline of either stack.
    fn tick(&mut self) {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("a deadline pending");
        self.now = self.now.max(next);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }

    /// A sends `data` to B, which reads it all; returns what B read.
    fn transfer(&mut self, path: Path, data: &[u8]) -> Vec<u8> {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut rbuf = vec![0u8; 1 << 16];
        for _ in 0..1_000_000 {
            if sent < data.len() {
                if let Ok(n) = self.a.send(self.client, &data[sent..]) {
                    sent += n;
                }
            }
            let moved = self.exchange(path);
            if let Some(s) = self.server {
                while let Ok(n) = self.b.recv(s, &mut rbuf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&rbuf[..n]);
                }
            }
            if got.len() == data.len() {
                return got;
            }
            if !moved {
                self.tick();
            }
        }
        panic!(
            "the transfer stalled at {} of {} bytes",
            got.len(),
            data.len()
        );
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// The segments a device cuts from A's super-segments are byte for byte the datagrams A
/// sends without offload (the same run on the same virtual clock), and there were super-
/// segments of many segments among them.
#[test]
fn cut_super_segments_are_the_segments_sent_without_offload() {
    let data = payload(2_000_000);
    let mut plain = Run::new();
    assert_eq!(plain.transfer(Path::Plain, &data), data);
    let mut cut = Run::new();
    assert_eq!(
        cut.transfer(
            Path::Cut(TxOffload {
                gso_max_size: 65535,
                csum: false
            }),
            &data
        ),
        data
    );
    assert_eq!(plain.a_to_b.len(), cut.a_to_b.len());
    for (i, (p, c)) in plain.a_to_b.iter().zip(&cut.a_to_b).enumerate() {
        // The device numbers the segments' IPv4 identifications on from the first
        // (Linux's GSO without FIXEDID); the stack sends 0 in each DF datagram.
        let ident = |d: &[u8]| u16::from_be_bytes([d[4], d[5]]);
        let masked = |d: &[u8]| {
            let mut d = d.to_vec();
            d[4..6].fill(0);
            d[10..12].fill(0);
            d
        };
        assert!(
            masked(p) == masked(c),
            "datagram {i} differs: {:?} / {:?}",
            wire::parse_datagram(p, true).map(|(_, t)| (t.seq, t.payload.len(), t.psh)),
            wire::parse_datagram(c, true).map(|(_, t)| (t.seq, t.payload.len(), t.psh)),
        );
        assert_eq!(ident(p), 0);
    }
    assert_eq!(plain.b_to_a, cut.b_to_a);
    let max = cut.segs.iter().copied().max().unwrap();
    assert!(max >= 2, "no super-segment was built (largest {max})");
    assert!(
        cut.segs.len() < plain.segs.len(),
        "{} datagrams with offload, {} without",
        cut.segs.len(),
        plain.segs.len()
    );
    assert_eq!(plain.a.stats().OutSegs, cut.a.stats().OutSegs);
}

/// With checksum offload the stack leaves the TCP checksum to the device: the field
/// holds the pseudo-header's sum, which a receiver that checks would reject, and which
/// the device's completion (or segmentation) turns into the right checksum.
#[test]
fn checksum_offload_leaves_the_pseudo_header_sum() {
    let mut r = Run::new();
    r.exchange(Path::Plain);
    r.a.send(r.client, &payload(1000)).unwrap();
    let mut buf = vec![0u8; 65535];
    let t =
        r.a.poll_transmit_offload(r.now, &mut buf, FULL)
            .unwrap()
            .expect("the data segment");
    let start = usize::from(t.csum_start.expect("checksum left to the device"));
    assert_eq!(start, 20);
    assert_eq!(usize::from(t.hdr_len), t.len - 1000);
    let d = &mut buf[..t.len];
    assert!(
        wire::parse_datagram(d, true).is_err(),
        "the partial checksum does not verify"
    );
    let before = r.b.stats().InCsumErrors;
    r.b.handle_packet(r.now, d);
    assert_eq!(
        r.b.stats().InCsumErrors,
        before + 1,
        "a checking receiver drops it"
    );
    gso::complete_checksum(d, start, usize::from(synack::Transmit::CSUM_OFFSET)).unwrap();
    let (_, tcp) = wire::parse_datagram(d, true).expect("completed, it verifies");
    assert_eq!(tcp.payload.len(), 1000);
}

/// GSO packets taken whole: the transfer is byte-identical, the receiver counts the
/// segments each carried (tcpi_segs_in, as Linux's tcp_segs_in), sizes rcv_mss from
/// the segment size and not the packet, and skips the checksum the device vouched for.
#[test]
fn whole_gso_packets_are_taken_and_counted_by_their_segments() {
    let data = payload(2_000_000);
    let mut r = Run::new();
    assert_eq!(r.transfer(Path::Whole(FULL), &data), data);
    // TSO autosizing on a path of no delay (tcp_tso_autosize's minimum-RTT term):
    // units as large as the skbs, half of the peer's window, once cwnd allows; they
    // were two segments when synack's units were always `tcp_min_tso_segs`.
    assert!(r.segs.iter().any(|&s| s >= 30), "{:?}", &r.segs[..20]);
    let server = r.server.unwrap();
    let info = r.b.tcp_info(server).unwrap();
    let segments: u64 = r.segs.iter().map(|&s| u64::from(s)).sum();
    // Every datagram A sent reached B: the ACKs are one segment each, the super-
    // segments their count; what the connection does not count itself (the SYN, taken
    // by the listener) is the same as without offload.
    let mut plain = Run::new();
    plain.transfer(Path::Plain, &data);
    let plain_in = plain.b.tcp_info(plain.server.unwrap()).unwrap().segs_in;
    let uncounted = plain.segs.len() as u64 - u64::from(plain_in);
    assert_eq!(u64::from(info.segs_in), segments - uncounted);
    assert!(
        info.segs_in as usize > r.a_to_b.len(),
        "segs_in {} for {} datagrams",
        info.segs_in,
        r.a_to_b.len()
    );
    let mss = r.a.tcp_info(r.client).unwrap().snd_mss;
    assert_eq!(info.rcv_mss, mss, "rcv_mss is the segment size");
    assert_eq!(r.b.stats().InCsumErrors, 0);
}
