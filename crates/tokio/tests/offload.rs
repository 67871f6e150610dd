//! Segmentation and checksum offload over a TUN interface against the kernel (issue 11,
//! item 2), inside a private network namespace per test (`synack_device::netns`): 10 MB
//! each way arrive byte for byte with offload off and on, and with offload on the
//! interface carries GSO packets both ways (fewer packets than segments). Under CI=true
//! a namespace that cannot be made is a failure.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_device::netns;
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const LEN: usize = 10 << 20;

fn pattern(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 11) as u8)
        .collect()
}

/// The interface's packet counters from /proc/net/dev (this namespace's): received
/// (from synack to the kernel) and sent (from the kernel to synack).
fn packets() -> (u64, u64) {
    let dev = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    let line = dev
        .lines()
        .find_map(|l| l.trim().strip_prefix("synack0:"))
        .expect("synack0 in /proc/net/dev");
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    (f[1], f[9])
}

/// 10 MB from the kernel to synack and 10 MB from synack to the kernel, each on its own
/// connection, each compared byte for byte; returns the interface's packet counts each
/// way (synack to kernel, kernel to synack).
fn both_ways(offload: bool) -> (u64, u64) {
    netns::runtime(2).block_on(async {
        let dev = netns::kernel_tun_with(offload);
        let net = Net::builder().address(SYNACK.into()).spawn(dev);
        let (rx0, tx0) = packets();

        // Kernel to synack.
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 7))
            .await
            .unwrap();
        let up = pattern(LEN, 1);
        let up2 = up.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect((SYNACK, 7)).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(&up2).unwrap();
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::with_capacity(LEN);
        s.read_to_end(&mut got).await.unwrap();
        kernel.await.unwrap();
        assert!(got == up, "synack got the kernel's 10 MB byte for byte");
        drop(s);

        // Synack to kernel.
        let klistener = std::net::TcpListener::bind((KERNEL, 8000)).unwrap();
        let down = pattern(LEN, 2);
        let down2 = down.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            let (mut s, _) = klistener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut got = Vec::with_capacity(LEN);
            s.read_to_end(&mut got).unwrap();
            assert!(got == down2, "the kernel got synack's 10 MB byte for byte");
        });
        let mut c = TcpStream::connect(&net, SocketAddr::new(KERNEL.into(), 8000))
            .await
            .unwrap();
        c.write_all(&down).await.unwrap();
        c.shutdown().await.unwrap();
        kernel.await.unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        let stats = net.stats();
        assert_eq!(stats.InCsumErrors, 0);
        let (rx, tx) = packets();
        (rx - rx0, tx - tx0)
    })
}

/// At least this many full-sized segments carry 10 MB each way.
fn segments() -> u64 {
    (LEN / 1448) as u64
}

#[test]
fn ten_megabytes_each_way_without_offload() {
    if !netns::enter("ten_megabytes_each_way_without_offload") {
        return;
    }
    let (to_kernel, to_synack) = both_ways(false);
    eprintln!("without offload: {to_kernel} packets to the kernel, {to_synack} to synack");
    // One packet per segment: the data segments, and the ACKs of the other transfer.
    assert!(to_kernel >= segments(), "{to_kernel}");
    assert!(to_synack >= segments(), "{to_synack}");
}

#[test]
fn ten_megabytes_each_way_with_offload() {
    if !netns::enter("ten_megabytes_each_way_with_offload") {
        return;
    }
    let (to_kernel, to_synack) = both_ways(true);
    eprintln!("with offload: {to_kernel} packets to the kernel, {to_synack} to synack");
    // GSO packets carry several segments each way: fewer packets than segments.
    assert!(to_kernel < segments(), "{to_kernel} packets to the kernel");
    assert!(to_synack < segments(), "{to_synack} packets to synack");
}

/// An offloading interface under middleware that knows nothing of offload (a pcap
/// capture): the plain calls cut the kernel's GSO packets into segments and complete
/// the checksums left to the device, so 1 MB still arrives byte for byte and every
/// datagram captured fits the MTU.
#[test]
fn offloading_interface_under_plain_middleware() {
    if !netns::enter("offloading_interface_under_plain_middleware") {
        return;
    }
    netns::runtime(2).block_on(async {
        let dev = netns::kernel_tun_with(true);
        let captured = synack_device::Pcap::new(dev, Vec::new(), synack_device::TokioClock::new())
            .expect("pcap header");
        let net = Net::builder().address(SYNACK.into()).spawn(captured);
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 7))
            .await
            .unwrap();
        let up = pattern(1 << 20, 3);
        let up2 = up.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect((SYNACK, 7)).unwrap();
            s.write_all(&up2).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert!(got == up, "synack got the kernel's bytes");
        drop(s);
        kernel.await.unwrap();
        let stats = net.stats();
        assert_eq!(stats.InCsumErrors, 0, "every checksum completed");
        assert!(stats.InSegs >= (1 << 20) / 1448, "one datagram per segment");
    });
}
