//! The kernel sending to synack over a TUN interface while synack's driver is kept off
//! its core for moments, as on a loaded machine: what the kernel sends meanwhile waits
//! in the interface's queue ([`TunConfig::txqueuelen`]) instead of being dropped, so
//! the first connection after the interface comes up needs no retransmission to
//! recover a loss at the device. In a private network namespace the test makes.
//!
//! [`TunConfig::txqueuelen`]: synack_device::TunConfig::txqueuelen

#![cfg(target_os = "linux")]

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use synack_device::{netns, Device};
use synack_tokio::{Net, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// A device whose reader stops for `pause` after every `every` datagrams: a driver
/// thread that the scheduler takes off its core.
struct Stalling<D> {
    inner: D,
    every: usize,
    pause: Duration,
    count: usize,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<D: Device> Device for Stalling<D> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Some(s) = &mut self.sleep {
            if s.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        let r = self.inner.poll_recv(cx, buf);
        if let Poll::Ready(Ok(_)) = r {
            self.count += 1;
            if self.count.is_multiple_of(self.every) {
                self.sleep = Some(Box::pin(tokio::time::sleep(self.pause)));
            }
        }
        r
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        self.inner.poll_send(cx, datagram)
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
}

/// `(TX drops of synack0, the kernel's RetransSegs, its TCPTimeouts)` in this namespace.
fn counters() -> (u64, u64, u64) {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let line = dev
        .lines()
        .find(|l| l.trim_start().starts_with("synack0:"))
        .expect("synack0 in /proc/net/dev");
    let f: Vec<&str> = line.split(':').nth(1).unwrap().split_whitespace().collect();
    let drops = f[11].parse().unwrap();
    let value = |file: &str, group: &str, name: &str| -> u64 {
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines = text.lines().filter(|l| l.starts_with(group));
        let names = lines.next().unwrap();
        let values = lines.next().unwrap();
        let at = names.split_whitespace().position(|n| n == name).unwrap();
        values.split_whitespace().nth(at).unwrap().parse().unwrap()
    };
    (
        drops,
        value("/proc/net/snmp", "Tcp:", "RetransSegs"),
        value("/proc/net/netstat", "TcpExt:", "TCPTimeouts"),
    )
}

/// 64 MiB from the kernel to synack, whose reader stops for 30 ms after every 2,000
/// datagrams: the interface drops nothing. With the kernel's 500-packet queue
/// (`txqueuelen: 0`) it drops hundreds, each one a retransmission; a drop at the end of
/// a flight costs a retransmission timeout, the stall seen in the TUN benchmark. The
/// drops are asserted, not the retransmissions: a tail-loss probe during a pause may
/// retransmit with nothing lost.
#[test]
fn a_reader_off_its_core_loses_nothing() {
    if !netns::enter("a_reader_off_its_core_loses_nothing") {
        return;
    }
    let rt = netns::runtime(2);
    rt.block_on(async {
        let dev = Stalling {
            inner: netns::kernel_tun(),
            every: 2000,
            pause: Duration::from_millis(30),
            count: 0,
            sleep: None,
        };
        let net = Net::builder().address(SYNACK.into()).spawn(dev);
        let listener = TcpListener::bind(&net, SocketAddr::from((SYNACK, 9)))
            .await
            .unwrap();
        let sink = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 256 << 10];
            let mut n = 0usize;
            loop {
                match s.read(&mut buf).await.unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        });
        let before = counters();
        let len = 64usize << 20;
        let mut s = tokio::net::TcpStream::connect((SYNACK, 9)).await.unwrap();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..len >> 20 {
            s.write_all(&chunk).await.unwrap();
        }
        s.shutdown().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(60), sink)
            .await
            .expect("the transfer ends")
            .unwrap();
        assert_eq!(got, len);
        let after = counters();
        let (drops, retrans, timeouts) =
            (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        eprintln!("TUN drops {drops}, kernel retransmissions {retrans} (timeouts {timeouts})");
        assert_eq!(
            drops, 0,
            "the interface dropped {drops} packets of the kernel's (retransmitted: {retrans}, \
             after a timeout: {timeouts})"
        );
    });
}
