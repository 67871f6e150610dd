//! Any-address termination against the Linux kernel (issue 11): inside a private network
//! namespace, the kernel routes two networks that are nobody's into synack's TUN
//! interface; its connections to three destinations (two addresses, three ports) are all
//! terminated by one `TcpListener::bind_any`, and each stream reports the destination
//! the kernel connected to as its local address. Under CI=true a namespace that cannot
//! be made is a failure.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack_device::netns;
use synack_tokio::{AnyFilter, Net, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

fn setup() -> Net {
    let dev = netns::kernel_tun();
    // Networks that are nobody's, routed into the TUN as a VPN client routes them.
    netns::ip(&["route", "add", "198.51.100.0/24", "dev", "synack0"]);
    netns::ip(&["route", "add", "203.0.113.0/24", "dev", "synack0"]);
    Net::builder().address(SYNACK.into()).spawn(dev)
}

#[test]
fn kernel_connections_to_three_destinations_are_terminated() {
    if !netns::enter("kernel_connections_to_three_destinations_are_terminated") {
        return;
    }
    let rt = netns::runtime(2);
    rt.block_on(async {
        let net = setup();
        let filter = AnyFilter::all()
            .prefix("198.51.100.0/24".parse().unwrap())
            .prefix("203.0.113.0/24".parse().unwrap());
        let listener = TcpListener::bind_any(&net, filter).await.unwrap();
        let dests: Vec<SocketAddr> = ["198.51.100.7:80", "198.51.100.7:443", "203.0.113.20:5201"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        // The server: each stream says where it thinks it is and echoes one line.
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let (mut s, peer) = listener.accept().await.unwrap();
                assert_eq!(peer.ip(), std::net::IpAddr::from([10, 77, 0, 1]));
                let local = s.local_addr().unwrap();
                seen.push(local);
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).await.unwrap();
                    let reply = format!("{local} {}", std::str::from_utf8(&buf[..n]).unwrap());
                    s.write_all(reply.as_bytes()).await.unwrap();
                    s.shutdown().await.unwrap();
                });
            }
            seen
        });
        let d2 = dests.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            let mut replies = Vec::new();
            for d in d2 {
                let mut s = std::net::TcpStream::connect_timeout(&d, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("the kernel's connect to {d}: {e}"));
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                assert_eq!(s.peer_addr().unwrap(), d);
                s.write_all(b"hello").unwrap();
                let mut r = String::new();
                s.read_to_string(&mut r).unwrap();
                replies.push(r);
            }
            replies
        });
        let replies = kernel.await.unwrap();
        for (d, r) in dests.iter().zip(&replies) {
            assert_eq!(r, &format!("{d} hello"), "the stream to {d}");
        }
        let mut seen = server.await.unwrap();
        seen.sort();
        let mut want = dests.clone();
        want.sort();
        assert_eq!(seen, want);
        assert_eq!(net.stats().PassiveOpens, 3);
    });
}
