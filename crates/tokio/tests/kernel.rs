//! synack-tokio against the Linux kernel's TCP over a TUN interface, each test inside a
//! private network namespace it makes itself (`synack_device::netns`): the kernel has
//! 10.77.0.1/24 on the interface, synack answers for 10.77.0.2. Under CI=true a
//! namespace that cannot be made is a failure; elsewhere the tests say why and skip.

#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::time::Duration;

use synack_device::netns;
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Inside the namespace: the TUN interface up with the kernel's address, and synack
/// running on it.
fn setup() -> Net {
    let dev = netns::kernel_tun();
    Net::builder().address(SYNACK.into()).spawn(dev)
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// The kernel's std::net client against synack's server: 1 MB each way, each side
/// half-closing after its data, byte for byte.
#[test]
fn kernel_client_synack_server_half_close() {
    if !netns::enter("kernel_client_synack_server_half_close") {
        return;
    }
    netns::runtime(2).block_on(async {
        let net = setup();
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 7))
            .await
            .unwrap();
        let up = pattern(1 << 20, 1);
        let down = pattern(1 << 20, 2);
        let (up2, down2) = (up.clone(), down.clone());
        let kernel = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect((SYNACK, 7)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut r = s.try_clone().unwrap();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                got
            });
            s.write_all(&up2).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            assert!(
                reader.join().unwrap() == down2,
                "the kernel got synack's bytes"
            );
        });
        let (s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::from(KERNEL));
        let (mut r, mut w) = tokio::io::split(s);
        let writer = tokio::spawn(async move {
            w.write_all(&down).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert!(got == up, "synack got the kernel's bytes");
        let _w = writer.await.unwrap();
        kernel.await.unwrap();
    });
}

/// synack's client against the kernel's std::net server, the other way round.
#[test]
fn synack_client_kernel_server_half_close() {
    if !netns::enter("synack_client_kernel_server_half_close") {
        return;
    }
    netns::runtime(2).block_on(async {
        let net = setup();
        let listener = std::net::TcpListener::bind((KERNEL, 8000)).unwrap();
        let data = pattern(1 << 20, 3);
        let expect = data.clone();
        let kernel = tokio::task::spawn_blocking(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            // Echo back after synack's half-close, then close.
            s.write_all(&got).unwrap();
        });
        let mut c = TcpStream::connect(&net, SocketAddr::new(KERNEL.into(), 8000))
            .await
            .unwrap();
        assert_eq!(c.peer_addr().unwrap(), SocketAddr::new(KERNEL.into(), 8000));
        let (mut r, mut w) = tokio::io::split(c);
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        assert!(back == expect, "the echo is byte-exact");
        c = r.unsplit(writer.await.unwrap());
        drop(c);
        kernel.await.unwrap();
    });
}

/// Refused connections and resets in both directions surface with Linux's errnos.
#[test]
fn refusals_and_resets_against_the_kernel() {
    if !netns::enter("refusals_and_resets_against_the_kernel") {
        return;
    }
    netns::runtime(2).block_on(async {
        let net = setup();
        // Nothing listens on the kernel's port 9: its RST refuses.
        let e = TcpStream::connect(&net, SocketAddr::new(KERNEL.into(), 9))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // The kernel resets (it closes with data unread, which Linux answers with a RST,
        // RFC 2525 2.17): synack's read fails.
        let listener = std::net::TcpListener::bind((KERNEL, 8001)).unwrap();
        let kernel = tokio::task::spawn_blocking(move || {
            let (s, _) = listener.accept().unwrap();
            let mut b = [0u8; 1];
            // Wait for synack's bytes without reading them, then close.
            s.peek(&mut b).unwrap();
            drop(s);
        });
        let mut c = TcpStream::connect(&net, SocketAddr::new(KERNEL.into(), 8001))
            .await
            .unwrap();
        c.write_all(b"never read").await.unwrap();
        kernel.await.unwrap();
        let mut buf = [0u8; 8];
        let e = c.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        // synack resets (linger 0 and drop): the kernel's read fails.
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 9000))
            .await
            .unwrap();
        let kernel = tokio::task::spawn_blocking(move || {
            // The RST may come before the connecting thread runs again, in which case
            // connect() itself reports it, as Linux's inet_wait_for_connect does.
            let mut s = match std::net::TcpStream::connect((SYNACK, 9000)) {
                Ok(s) => s,
                Err(e) => return e.kind(),
            };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 8];
            s.read(&mut buf).unwrap_err().kind()
        });
        let (s, _) = listener.accept().await.unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        assert_eq!(kernel.await.unwrap(), ErrorKind::ConnectionReset);
    });
}

/// axum served by synack to the kernel's hyper client (a tokio socket), and synack's
/// hyper client fetching from the kernel's axum server.
#[test]
fn axum_and_hyper_across_the_tun() {
    if !netns::enter("axum_and_hyper_across_the_tun") {
        return;
    }
    netns::runtime(2).block_on(async {
        use std::future::IntoFuture;

        use http_body_util::{BodyExt, Empty};
        use hyper::body::Bytes;
        use hyper_util::rt::TokioIo;

        let net = setup();
        let big: &'static [u8] = Box::leak(pattern(2_000_000, 9).into_boxed_slice());
        let app = axum::Router::new().route("/big", axum::routing::get(move || async move { big }));
        let listener = TcpListener::bind(&net, SocketAddr::new(SYNACK.into(), 80))
            .await
            .unwrap();
        tokio::spawn(axum::serve(listener, app.clone()).into_future());
        let kernel_listener = tokio::net::TcpListener::bind((KERNEL, 80)).await.unwrap();
        tokio::spawn(axum::serve(kernel_listener, app).into_future());

        async fn fetch<S>(io: S, host: &str) -> Vec<u8>
        where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .unwrap();
            tokio::spawn(conn);
            let req = hyper::Request::get("/big")
                .header("host", host)
                .body(Empty::<Bytes>::new())
                .unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            res.into_body().collect().await.unwrap().to_bytes().to_vec()
        }
        // The kernel fetches from synack.
        let k = tokio::net::TcpStream::connect((SYNACK, 80)).await.unwrap();
        assert!(
            fetch(k, "10.77.0.2").await == big,
            "kernel <- synack byte-exact"
        );
        // synack fetches from the kernel.
        let s = TcpStream::connect(&net, SocketAddr::new(KERNEL.into(), 80))
            .await
            .unwrap();
        assert!(
            fetch(s, "10.77.0.1").await == big,
            "synack <- kernel byte-exact"
        );
    });
}
