//! Path MTU discovery against the kernel (issue 11). Inside a private network namespace
//! the kernel routes between synack's TUN interface (MTU 1500) and a veth pair whose
//! near end has an MTU of 1280, the other end in a second namespace where a kernel
//! server runs.
//! synack's full-sized segments cannot cross the veth link: the kernel, as the router,
//! answers with ICMP "fragmentation needed" (RFC 1191), synack lowers its MSS and the
//! transfer completes. With `ip_no_pmtu_disc=1` synack sends without DF and the router
//! fragments instead. With the ICMP lost (a black hole), `tcp_mtu_probing=1` lowers the
//! MSS after `tcp_retries1` timeouts, and `tcp_mtu_probing=2` probes up from
//! `tcp_base_mss` to the link's MTU (RFC 4821). Under CI=true a namespace, `python3` or `nsenter`
//! that is missing is a failure.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll};

use synack_device::{netns, Device, TunDevice};
use synack_tokio::{Net, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const SERVER: &str = "10.88.0.2";

/// The server in the far namespace: reads to the end, answers with the length and the
/// Adler-32 of what it got (a short answer: the way back has no low-MTU link to
/// discover, only the way there), closes.
const SERVER_PY: &str = r#"
import socket, zlib
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.88.0.2", 9000))
s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    data = bytearray()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        data += b
    c.sendall(b"%d %d" % (len(data), zlib.adler32(bytes(data))))
    c.close()
"#;

/// A TUN device that loses every ICMP message on its way to synack: an ICMP black
/// hole (RFC 2923 2.1).
struct DropIcmp(TunDevice);

impl Device for DropIcmp {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        loop {
            match self.0.poll_recv(cx, buf) {
                Poll::Ready(Ok(n)) if n >= 20 && buf[0] >> 4 == 4 && buf[9] == 1 => continue,
                other => return other,
            }
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<std::io::Result<()>> {
        self.0.poll_send(cx, datagram)
    }

    fn mtu(&self) -> usize {
        self.0.mtu()
    }
}

/// The far namespace (a process holding it) with the server in it.
struct Far {
    holder: Child,
    server: Child,
}

impl Drop for Far {
    fn drop(&mut self) {
        for c in [&mut self.server, &mut self.holder] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn have(tool: &str, package: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true needs `{tool}` for this test: install {package}"
    );
    eprintln!("skipping: `{tool}` is not installed ({package})");
    false
}

fn nsenter(pid: u32, args: &[&str]) {
    let pid = pid.to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", "--"])
        .args(args)
        .output()
        .expect("running nsenter");
    assert!(
        out.status.success(),
        "nsenter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The TUN interface, the veth link to the far namespace whose near end has an MTU of
/// 1280 (the far end keeps 1500, so the far server's MSS does not give the path away),
/// forwarding on, and the server listening there.
fn topology() -> (TunDevice, Far) {
    let dev = netns::kernel_tun();
    let holder = Command::new("unshare")
        .args(["-n", "sleep", "600"])
        .spawn()
        .expect("running unshare");
    let pid = holder.id();
    // Wait until the holder is in its own namespace (unshare execs sleep then).
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    while std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n == own)
        || std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map_or(true, |c| c.trim() != "sleep")
    {
        std::thread::yield_now();
    }
    netns::ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    netns::ip(&["link", "set", "veth1", "netns", &pid.to_string()]);
    netns::ip(&["addr", "add", "10.88.0.1/24", "dev", "veth0"]);
    netns::ip(&["link", "set", "veth0", "mtu", "1280", "up"]);
    nsenter(pid, &["ip", "link", "set", "lo", "up"]);
    nsenter(pid, &["ip", "addr", "add", "10.88.0.2/24", "dev", "veth1"]);
    nsenter(pid, &["ip", "link", "set", "veth1", "up"]);
    nsenter(pid, &["ip", "route", "add", "default", "via", "10.88.0.1"]);
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("turning forwarding on");
    let mut server = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "--",
            "python3",
            "-c",
            SERVER_PY,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("running the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    (dev, Far { holder, server })
}

/// Adler-32 (RFC 1950 8.2), to compare with the server's.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// 1 MB to the far server, which says how much it got and its Adler-32; returns the
/// MSS the connection ended with.
async fn transfer(net: &Net) -> u32 {
    transfer_len(net, 1_000_000).await
}

/// `len` bytes to the far server, as [`transfer`].
async fn transfer_len(net: &Net, len: u32) -> u32 {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(net, SocketAddr::new(SERVER.parse().unwrap(), 9000))
        .await
        .unwrap();
    s.write_all(&data).await.unwrap();
    s.shutdown().await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert_eq!(
        answer,
        format!("{} {}", data.len(), adler32(&data)),
        "the server got every byte"
    );
    s.info().map_or(0, |i| i.mss)
}

#[test]
fn path_mtu_is_discovered_through_icmp() {
    if !have("python3", "python3")
        || !have("nsenter", "util-linux")
        || !netns::enter("path_mtu_is_discovered_through_icmp")
    {
        return;
    }
    netns::runtime(2).block_on(async {
        let (dev, _far) = topology();
        let net = Net::builder().address(SYNACK.into()).spawn(dev);
        let mss = transfer(&net).await;
        assert!(mss <= 1280 - 40, "the MSS fits the 1280-byte link: {mss}");
        let s = net.stats();
        assert!(s.IcmpInDestUnreachs >= 1, "the router's ICMP arrived");
        assert_eq!(
            s.TCPTimeouts, 0,
            "no timeout: the ICMP made synack resend at once"
        );
    });
}

#[test]
fn no_pmtu_disc_lets_the_router_fragment() {
    if !have("python3", "python3")
        || !have("nsenter", "util-linux")
        || !netns::enter("no_pmtu_disc_lets_the_router_fragment")
    {
        return;
    }
    netns::runtime(2).block_on(async {
        let (dev, _far) = topology();
        let net = Net::builder()
            .address(SYNACK.into())
            .sysctl("net.ipv4.ip_no_pmtu_disc", "1")
            .unwrap()
            .spawn(dev);
        let mss = transfer(&net).await;
        assert!(
            mss > 1280 - 40,
            "full-sized segments, fragmented on the way: {mss}"
        );
        assert_eq!(net.stats().IcmpInDestUnreachs, 0);
    });
}

#[test]
fn mtu_probing_gets_through_an_icmp_black_hole() {
    if !have("python3", "python3")
        || !have("nsenter", "util-linux")
        || !netns::enter("mtu_probing_gets_through_an_icmp_black_hole")
    {
        return;
    }
    netns::runtime(2).block_on(async {
        let (dev, _far) = topology();
        let net = Net::builder()
            .address(SYNACK.into())
            .sysctl("net.ipv4.tcp_mtu_probing", "1")
            .unwrap()
            .spawn(DropIcmp(dev));
        let mss = transfer(&net).await;
        // Black-hole detection capped the MSS at tcp_base_mss (1024); from then on the
        // search may have probed it up again, never past the 1280-byte link.
        assert!(
            mss <= 1280 - 52,
            "black-hole detection lowered the MSS: {mss}"
        );
        let s = net.stats();
        assert_eq!(s.IcmpInMsgs, 0, "no ICMP reached synack");
        assert!(s.TCPTimeouts >= 3, "detected after tcp_retries1 timeouts");
    });
}

/// RFC 4821 probing (`tcp_mtu_probing=2`) through the same black hole: the connection
/// starts at `tcp_base_mss` (1024) and probes its way up to what the 1280-byte link
/// carries without a single ICMP and without a timeout; the probes the link drops
/// (TCPMTUPFail) cost no congestion response. With probing off (0) this transfer
/// never completes (the engine test `without_mtu_probing_a_black_hole_stalls_the_transfer`
/// shows the stall on the simulated path).
#[test]
fn mtu_probing_climbs_to_the_path_mtu_without_icmp() {
    if !have("python3", "python3")
        || !have("nsenter", "util-linux")
        || !netns::enter("mtu_probing_climbs_to_the_path_mtu_without_icmp")
    {
        return;
    }
    netns::runtime(2).block_on(async {
        let (dev, _far) = topology();
        let net = Net::builder()
            .address(SYNACK.into())
            .sysctl("net.ipv4.tcp_mtu_probing", "2")
            .unwrap()
            .spawn(DropIcmp(dev));
        let mss = transfer_len(&net, 8_000_000).await;
        let s = net.stats();
        assert_eq!(s.IcmpInMsgs, 0, "no ICMP reached synack");
        assert!(s.TCPMTUPSuccess >= 2, "probes got through: {s:?}");
        assert!(
            s.TCPMTUPFail >= 1,
            "probes over 1280 bytes were lost: {s:?}"
        );
        // Timestamps on: 52 bytes of headers. The search stops within 8 bytes.
        assert!(
            (1280 - 52 - 8..=1280 - 52).contains(&mss),
            "the MSS climbed from 1024 to fill the 1280-byte link: {mss}"
        );
        assert_eq!(s.TCPTimeouts, 0, "no timeout: {s:?}");
    });
}

/// A route's MTU (`Net::set_route`, as `ip route add 10.88.0.0/24 ... mtu 1280`) gets
/// through the same black hole from the first segment: what a VPN that knows its
/// tunnel's MTU sets. Without the route the transfer stalls (probing is off).
#[test]
fn a_route_mtu_gets_through_a_black_hole_at_once() {
    if !have("python3", "python3")
        || !have("nsenter", "util-linux")
        || !netns::enter("a_route_mtu_gets_through_a_black_hole_at_once")
    {
        return;
    }
    netns::runtime(2).block_on(async {
        let (dev, _far) = topology();
        let net = Net::builder().address(SYNACK.into()).spawn(DropIcmp(dev));
        let route = synack::RouteMetrics::new().mtu(1280);
        net.set_route("10.88.0.0/24".parse().unwrap(), route)
            .unwrap();
        let bad = synack::RouteMetrics::new().mtu(20);
        let e = net
            .set_route("10.88.0.0/24".parse().unwrap(), bad)
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let mss = transfer(&net).await;
        assert_eq!(mss, 1280 - 52, "the route's MTU less the headers");
        let s = net.stats();
        assert_eq!(s.IcmpInMsgs, 0, "no ICMP reached synack");
        assert_eq!(s.TCPTimeouts, 0, "nothing was lost: {s:?}");
    });
}
