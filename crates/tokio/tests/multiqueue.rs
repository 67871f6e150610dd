//! One engine per queue: a two-queue TUN interface with an engine and a driver thread
//! on each queue (`NetBuilder::spawn_queues`), against the kernel's TCP inside a
//! private network namespace the test makes. Connections both ways spread over both
//! engines, each completes byte for byte, and the instance's counters and sockets are
//! the engines' added up.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use synack_device::{netns, Device, TunConfig, TunDevice};
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const CONNS: usize = 24;

/// The queues each connection's segments arrived on, by (synack's port, the kernel's).
type Seen = Arc<Mutex<HashMap<(u16, u16), Vec<usize>>>>;

/// A queue's device that notes which connections' segments it receives.
struct Noting {
    dev: TunDevice,
    queue: usize,
    seen: Seen,
}

impl Device for Noting {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let r = self.dev.poll_recv(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            let d = &buf[..*n];
            if d.len() >= 24 && d[0] >> 4 == 4 && d[9] == 6 {
                let ihl = usize::from(d[0] & 0x0f) * 4;
                let src = u16::from_be_bytes([d[ihl], d[ihl + 1]]);
                let dst = u16::from_be_bytes([d[ihl + 2], d[ihl + 3]]);
                let mut seen = self.seen.lock().unwrap();
                let queues = seen.entry((dst, src)).or_default();
                if !queues.contains(&self.queue) {
                    queues.push(self.queue);
                }
            }
        }
        r
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<std::io::Result<()>> {
        self.dev.poll_send(cx, datagram)
    }

    fn mtu(&self) -> usize {
        self.dev.mtu()
    }
}

/// Inside the namespace: a two-queue interface with the kernel's address, and synack
/// running an engine on each queue, noting where each connection's segments arrive.
fn setup(queues: usize) -> (Net, Seen) {
    netns::ip(&["link", "set", "lo", "up"]);
    let config = TunConfig {
        name: "synack0".into(),
        mtu: 1500,
        kernel_addr: None,
        ..TunConfig::default()
    };
    let queues = TunDevice::create_queues(&config, queues).expect("a multi-queue interface");
    netns::ip(&["addr", "add", "10.77.0.1/24", "dev", "synack0"]);
    netns::ip(&["link", "set", "synack0", "up"]);
    let seen = Seen::default();
    let opens = queues
        .into_iter()
        .map(|q| {
            let seen = seen.clone();
            move || {
                let queue = q.index();
                q.open().map(|dev| Noting { dev, queue, seen })
            }
        })
        .collect();
    let net = Net::builder()
        .address(SYNACK.into())
        .spawn_queues(opens)
        .expect("an engine per queue");
    (net, seen)
}

/// Writes `data`, half-closes, and reads the echo to the end.
async fn echo_through<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
    s: S,
    data: Vec<u8>,
) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    drop(writer.await.unwrap());
    got
}

async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: S) {
    let (mut r, mut w) = tokio::io::split(s);
    tokio::io::copy(&mut r, &mut w).await.unwrap();
    w.shutdown().await.unwrap();
}

fn data(k: usize) -> Vec<u8> {
    (0..20_000 + k * 997)
        .map(|i| (i % 251) as u8 ^ k as u8)
        .collect()
}

/// The engine that holds the connection from local `port`.
fn engine_of(net: &Net, port: u16) -> usize {
    net.engines()
        .iter()
        .position(|e| e.engine_sockets().iter().any(|i| i.local.port() == port))
        .expect("an engine holds the connection")
}

#[test]
fn connections_spread_over_two_queues() {
    if !netns::enter("connections_spread_over_two_queues") {
        return;
    }
    let rt = netns::runtime(2);
    rt.block_on(async {
        let (net, seen) = setup(2);
        assert_eq!(net.queues(), 2);
        // synack's echo server, listening on both engines.
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 7))
            .await
            .unwrap();
        let mut listeners = listener.per_engine();
        assert_eq!(listeners.len(), 2);
        // One engine's listener accepted on its own thread, the other's on the test's
        // runtime.
        let second = listeners.pop().unwrap();
        let first = listeners.pop().unwrap();
        first.net().runtime().clone().spawn(async move {
            while let Ok((s, _)) = first.accept().await {
                tokio::spawn(echo(s));
            }
        });
        tokio::spawn(async move {
            while let Ok((s, _)) = second.accept().await {
                tokio::spawn(echo(s));
            }
        });
        // The kernel's echo server.
        let kernel = tokio::net::TcpListener::bind((KERNEL, 7)).await.unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = kernel.accept().await {
                tokio::spawn(echo(s));
            }
        });
        let mut tasks = Vec::new();
        for k in 0..CONNS {
            // The kernel to synack (the kernel's ephemeral ports pick the queue)...
            tasks.push(tokio::spawn(async move {
                let s = tokio::net::TcpStream::connect((SYNACK, 7)).await.unwrap();
                assert!(
                    echo_through(s, data(k)).await == data(k),
                    "kernel client {k}"
                );
            }));
            // ...and synack to the kernel (the engines in turn, each from a port the
            // device steers back to it).
            let net = net.clone();
            tasks.push(tokio::spawn(async move {
                let to = SocketAddr::new(KERNEL.into(), 7);
                let s = TcpStream::connect(&net, to).await.unwrap();
                let port = s.local_addr().unwrap().port();
                assert_eq!(
                    engine_of(&net, port),
                    synack_device::queue_of(port, 7, 2),
                    "port {port}"
                );
                assert!(
                    echo_through(s, data(k)).await == data(k),
                    "synack client {k}"
                );
            }));
        }
        // A port bound before connect(): the engine whose queue the ports name makes
        // the connection (another would never see the kernel's SYN-ACK).
        for (k, port) in (45000..45008u16).enumerate() {
            let net = net.clone();
            tasks.push(tokio::spawn(async move {
                let sock = synack_tokio::TcpSocket::new(&net).unwrap();
                sock.bind(SocketAddr::new(SYNACK.into(), port)).unwrap();
                let s = sock
                    .connect(SocketAddr::new(KERNEL.into(), 7))
                    .await
                    .unwrap();
                assert_eq!(s.local_addr().unwrap().port(), port);
                assert_eq!(
                    engine_of(&net, port),
                    synack_device::queue_of(port, 7, 2),
                    "port {port}"
                );
                assert!(
                    echo_through(s, data(k)).await == data(k),
                    "bound client {k}"
                );
            }));
        }
        let all = futures_join(tasks);
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("every connection completes");
        let engines = net.engines();
        for (i, e) in engines.iter().enumerate() {
            let name = e
                .runtime()
                .spawn(async { std::thread::current().name().map(str::to_string) })
                .await
                .unwrap();
            assert_eq!(name, Some(format!("synack-q{i}")), "engine {i}'s runtime");
        }
        let per: Vec<_> = engines.iter().map(|e| e.engine_stats()).collect();
        for (i, s) in per.iter().enumerate() {
            assert!(
                s.PassiveOpens > 0 && s.ActiveOpens > 0,
                "engine {i} took no share: {} passive, {} active",
                s.PassiveOpens,
                s.ActiveOpens
            );
        }
        let total = net.stats();
        assert_eq!(total.PassiveOpens, CONNS as u64);
        assert_eq!(total.ActiveOpens, CONNS as u64 + 8);
        assert_eq!(
            total.PassiveOpens,
            per[0].PassiveOpens + per[1].PassiveOpens
        );
        assert_eq!(total.InSegs, per[0].InSegs + per[1].InSegs);
        // Every connection's segments came to one queue, the one its ports name (a
        // segment on another queue would meet no connection there). RSTs are no sign:
        // under load a FIN retransmitted too early draws a second ACK from the kernel's
        // TIME-WAIT after synack's LAST-ACK has closed, which any host resets.
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2 * CONNS + 8, "{seen:?}");
        for (&(ours, theirs), queues) in seen.iter() {
            assert_eq!(
                queues[..],
                [synack_device::queue_of(ours, theirs, 2)],
                "the segments of {ours} <-> {theirs}"
            );
        }
        let sockets = net.sockets();
        let n: usize = engines.iter().map(|e| e.engine_sockets().len()).sum();
        assert_eq!(sockets.len(), n);
        assert!(sockets.iter().any(|s| s.local.port() == 7));
    });
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        t.await.unwrap();
    }
}

/// The engines' threads end as a single driver does: once every handle and socket is
/// gone and the connections have closed, `finish` returns.
#[test]
fn engine_threads_finish() {
    let rt = netns::runtime(2);
    rt.block_on(async {
        let (a, b) = synack_device::MemoryDevice::pair(1500);
        let server = Net::builder()
            .address([10, 0, 0, 1].into())
            .spawn_queues(vec![move || Ok(a)])
            .unwrap();
        let client = Net::builder().address([10, 0, 0, 2].into()).spawn(b);
        let listener = TcpListener::bind(&server, "10.0.0.1:7".parse().unwrap())
            .await
            .unwrap();
        let accept = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            echo(s).await;
        });
        let c = TcpStream::connect(&client, "10.0.0.1:7".parse().unwrap())
            .await
            .unwrap();
        assert!(echo_through(c, data(1)).await == data(1));
        accept.await.unwrap();
        assert_eq!(server.stats().PassiveOpens, 1);
        tokio::time::timeout(Duration::from_secs(10), server.finish())
            .await
            .expect("the engine's thread ends");
        drop(client);
    });
}

#[test]
fn a_queue_that_fails_to_open_starts_nothing() {
    let rt = netns::runtime(0);
    rt.block_on(async {
        let opens: Vec<Box<dyn FnOnce() -> std::io::Result<synack_device::MemoryDevice> + Send>> = vec![
            Box::new(|| Ok(synack_device::MemoryDevice::pair(1500).0)),
            Box::new(|| Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such queue"))),
        ];
        let err = Net::builder().spawn_queues(opens).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("queue 1: no such queue"), "{err}");
    });
}
