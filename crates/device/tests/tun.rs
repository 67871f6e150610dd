//! The TUN device against the kernel, inside a private network namespace the test
//! makes (see `synack_device::netns`): a SYN from synack's address to a port where the
//! kernel listens is answered with a SYN-ACK, to a closed port with a RST.

#![cfg(target_os = "linux")]

use std::future::poll_fn;
use std::net::{Ipv4Addr, SocketAddr};
use std::task::Poll;
use std::time::Duration;

use synack::{Config, Error, EventKind, Instant, Stack, State};
use synack_device::{netns, Device, TunConfig, TunDevice};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Drives `stack` over `dev` until `done` says so (5 s at most).
async fn drive(stack: &mut Stack, dev: &mut TunDevice, mut done: impl FnMut(&mut Stack) -> bool) {
    let start = tokio::time::Instant::now();
    let mut buf = vec![0u8; 1500];
    loop {
        let now = Instant::from_micros(start.elapsed().as_micros() as u64);
        stack.handle_timeout(now);
        while let Ok(Some(n)) = stack.poll_transmit(now, &mut buf) {
            let d = buf[..n].to_vec();
            poll_fn(|cx| dev.poll_send(cx, &d)).await.expect("send");
        }
        if done(stack) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no answer from the kernel"
        );
        let got = tokio::time::timeout(
            Duration::from_millis(50),
            poll_fn(|cx| match dev.poll_recv(cx, &mut buf) {
                Poll::Ready(r) => Poll::Ready(r),
                Poll::Pending => Poll::Pending,
            }),
        )
        .await;
        if let Ok(r) = got {
            let n = r.expect("recv");
            let now = Instant::from_micros(start.elapsed().as_micros() as u64);
            stack.handle_packet(now, &buf[..n]);
        }
    }
}

#[test]
fn tun_reaches_the_kernel() {
    if !netns::enter("tun_reaches_the_kernel") {
        return;
    }
    let rt = netns::runtime(0);
    rt.block_on(async {
        let mut dev = TunDevice::create(&TunConfig {
            name: "synack-t0".into(),
            mtu: 1500,
            kernel_addr: None,
            ..TunConfig::default()
        })
        .expect("creating the TUN device");
        assert_eq!(dev.mtu(), 1500);
        netns::ip(&["addr", "add", "10.77.0.1/24", "dev", "synack-t0"]);
        netns::ip(&["link", "set", "synack-t0", "up"]);
        let listener = std::net::TcpListener::bind((KERNEL, 8080)).unwrap();
        let mut stack = Stack::new(Config::default());
        stack.add_address(SYNACK.into());
        // A closed port: the kernel's RST refuses the connection.
        let refused = stack.socket();
        stack
            .connect(refused, SocketAddr::new(KERNEL.into(), 9))
            .unwrap();
        drive(&mut stack, &mut dev, |s| {
            s.state(refused) == Ok(State::Closed)
        })
        .await;
        assert_eq!(
            stack.socket_error(refused),
            Ok(Some(Error::ConnectionRefused))
        );
        // The kernel's listener: the handshake completes.
        let ok = stack.socket();
        stack
            .connect(ok, SocketAddr::new(KERNEL.into(), 8080))
            .unwrap();
        let mut connected = false;
        drive(&mut stack, &mut dev, |s| {
            while let Some(e) = s.poll_event() {
                connected |= e.socket == ok && e.kind == EventKind::Connected;
            }
            connected
        })
        .await;
        let (_peer, addr) = listener.accept().unwrap();
        assert_eq!(addr, stack.local_addr(ok).unwrap());
    });
}

#[test]
fn tun_errors_say_what_to_do() {
    let err = TunDevice::create(&TunConfig {
        name: "a-name-much-too-long".into(),
        ..TunConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("1 to 15 bytes"), "{err}");
}

/// A multi-queue interface hands each connection's segments to queue
/// `queue_of(source port, destination port)`: the kernel's SYNs from sixteen source
/// ports land each on the queue the steering program says, and both queues get some.
/// Without the program the kernel would spread them by its keyed flow hash, which
/// user space cannot predict.
#[test]
fn multi_queue_steers_by_ports() {
    if !netns::enter("multi_queue_steers_by_ports") {
        return;
    }
    let rt = netns::runtime(0);
    rt.block_on(async {
        netns::ip(&["link", "set", "lo", "up"]);
        let config = TunConfig {
            name: "synack-mq".into(),
            mtu: 1500,
            kernel_addr: None,
            ..TunConfig::default()
        };
        let queues = TunDevice::create_queues(&config, 2).expect("a two-queue interface");
        assert_eq!(queues.len(), 2);
        assert_eq!(queues[1].index(), 1);
        let mut devs: Vec<TunDevice> = queues.into_iter().map(|q| q.open().unwrap()).collect();
        netns::ip(&["addr", "add", "10.77.0.1/24", "dev", "synack-mq"]);
        netns::ip(&["link", "set", "synack-mq", "up"]);
        let ports: Vec<u16> = (40000..40016).collect();
        let mut pending = Vec::new();
        for &p in &ports {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind(SocketAddr::new(KERNEL.into(), p)).unwrap();
            // Nobody answers: the SYN is all we want; the task is dropped at the end.
            pending.push(tokio::spawn(s.connect(SocketAddr::new(SYNACK.into(), 80))));
        }
        let mut seen = std::collections::HashMap::new();
        let mut per_queue = [0usize; 2];
        let mut buf = vec![0u8; 1500];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.len() < ports.len() {
            let got = tokio::time::timeout_at(
                deadline,
                poll_fn(|cx| {
                    for (q, d) in devs.iter_mut().enumerate() {
                        if let Poll::Ready(r) = d.poll_recv(cx, &mut buf) {
                            return Poll::Ready((q, r));
                        }
                    }
                    Poll::Pending
                }),
            )
            .await;
            let (q, n) = match got {
                Ok((q, r)) => (q, r.expect("recv")),
                Err(_) => panic!("only {} of {} SYNs came", seen.len(), ports.len()),
            };
            let d = &buf[..n];
            if d[0] >> 4 != 4 || d[9] != 6 {
                continue; // not TCP over IPv4 (router solicitations and the like)
            }
            let ihl = usize::from(d[0] & 0x0f) * 4;
            let sport = u16::from_be_bytes([d[ihl], d[ihl + 1]]);
            let dport = u16::from_be_bytes([d[ihl + 2], d[ihl + 3]]);
            assert_eq!(
                q,
                synack_device::queue_of(sport, dport, 2),
                "the SYN from port {sport} to {dport} came to queue {q}"
            );
            if seen.insert(sport, q).is_none() {
                per_queue[q] += 1;
            }
        }
        assert!(per_queue[0] > 0 && per_queue[1] > 0, "{per_queue:?}");
        for t in pending {
            t.abort();
        }
    });
}

/// The interface's TX drops (packets the kernel could not queue to the reader), from
/// `/proc/net/dev` of this namespace.
fn tx_drops(iface: &str) -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    let line = dev
        .lines()
        .find(|l| l.split(':').next().is_some_and(|n| n.trim() == iface))
        .unwrap_or_else(|| panic!("{iface} is not in /proc/net/dev:\n{dev}"));
    let fields: Vec<&str> = line.split(':').nth(1).unwrap().split_whitespace().collect();
    fields[11].parse().expect("a count")
}

/// Sends `n` UDP datagrams from the kernel to synack's address through interface
/// `iface` while nobody reads it (a driver thread off its core), and returns the
/// kernel's drops.
fn burst_unread(config: &TunConfig, n: usize) -> u64 {
    let dev = TunDevice::create(config).expect("creating the TUN device");
    let before = tx_drops(&config.name);
    let sock = std::net::UdpSocket::bind((KERNEL, 0)).unwrap();
    for _ in 0..n {
        sock.send_to(&[0u8; 1000], (SYNACK, 9)).unwrap();
    }
    let dropped = tx_drops(&config.name) - before;
    // The interface goes with its last queue.
    drop(dev);
    dropped
}

/// The interface holds a burst that its reader has not read yet: with
/// `TunConfig::txqueuelen`'s default, 2,000 packets arrive with none dropped, where
/// the kernel's own 500 drops what is beyond it. A TCP sender facing synack, which
/// acknowledges a batch of segments at once, sends bursts of that kind; each drop is a
/// retransmission, after a timeout if it ends a flight.
#[test]
fn the_interface_queues_a_burst_unread() {
    if !netns::enter("the_interface_queues_a_burst_unread") {
        return;
    }
    let rt = netns::runtime(0);
    rt.block_on(async {
        netns::ip(&["link", "set", "lo", "up"]);
        let default = TunConfig::default();
        assert!(default.txqueuelen >= 4096, "{default:?}");
        assert_eq!(burst_unread(&default, 2000), 0, "the default queue dropped");
        let kernels = TunConfig {
            txqueuelen: 0,
            ..TunConfig::default()
        };
        let dropped = burst_unread(&kernels, 2000);
        assert!(
            (1400..=1600).contains(&dropped),
            "the kernel's 500-packet queue dropped {dropped} of 2000"
        );
    });
}
