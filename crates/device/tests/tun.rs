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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut dev = TunDevice::create(&TunConfig {
            name: "synack-t0".into(),
            mtu: 1500,
            kernel_addr: None,
            offload: false,
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
