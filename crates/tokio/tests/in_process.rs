//! synack-tokio in one process: two instances joined by the in-memory device pair.
//! Echo with half-close, errors with the kinds tokio users expect, options, the driver
//! sleeping while nothing happens, and axum serving a hyper client unchanged.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack_device::{Impaired, Impairment, MemoryDevice, TokioClock};
use synack_tokio::{Net, SockOpt, TcpListener, TcpSocket, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER: [u8; 4] = [10, 0, 0, 1];
const CLIENT: [u8; 4] = [10, 0, 0, 2];

fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from(ip), port)
}

/// A server and a client instance joined back to back.
fn pair() -> (Net, Net) {
    let (a, b) = MemoryDevice::pair(1500);
    (
        Net::builder().address(SERVER.into()).spawn(a),
        Net::builder().address(CLIENT.into()).spawn(b),
    )
}

/// Deterministic bytes, different at every offset modulo a prime.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

#[test]
fn streams_and_listeners_are_send_and_static() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<TcpStream>();
    assert_send::<TcpListener>();
    assert_send::<TcpSocket>();
    assert_send::<Net>();
}

/// 1 MB each way; each side half-closes after writing and reads the other's to EOF.
#[tokio::test]
async fn echo_with_half_close_both_ways() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 7)).await.unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr(SERVER, 7));
    let up = pattern(1 << 20, 0x5a);
    let down = pattern(1 << 20, 0xa5);
    let (up2, down2) = (up.clone(), down.clone());
    let server_task = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), peer);
        assert_eq!(peer.ip(), IpAddr::from(CLIENT));
        // Read everything the client sends (its half-close ends it) while writing ours.
        let (mut r, mut w) = tokio::io::split(s);
        let writer = tokio::spawn(async move {
            w.write_all(&down2).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert!(got == up2, "the server received what the client sent");
        let w = writer.await.unwrap();
        s = r.unsplit(w);
        drop(s);
    });
    let mut c = TcpStream::connect(&client, addr(SERVER, 7)).await.unwrap();
    assert_eq!(c.local_addr().unwrap().ip(), IpAddr::from(CLIENT));
    let (mut r, mut w) = tokio::io::split(c);
    let up3 = up.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&up3).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert!(got == down, "the client received what the server sent");
    let w = writer.await.unwrap();
    c = r.unsplit(w);
    server_task.await.unwrap();
    drop(c);
}

/// The same over a link with 1% loss and reordering: nothing lost, nothing corrupted.
#[tokio::test]
async fn echo_over_a_lossy_reordering_link() {
    let (a, b) = MemoryDevice::pair(1500);
    let bad = Impairment {
        loss: 0.01,
        delay: Duration::from_millis(1),
        reorder: 0.02,
        reorder_delay: Duration::from_millis(2),
        ..Impairment::default()
    };
    let a = Impaired::new(a, TokioClock::new(), bad, 11).unwrap();
    let server = Net::builder().address(SERVER.into()).spawn(a);
    let client = Net::builder().address(CLIENT.into()).spawn(b);
    let listener = TcpListener::bind(&server, addr(SERVER, 9)).await.unwrap();
    let data = pattern(300_000, 7);
    let expect = data.clone();
    let server_task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let mut c = TcpStream::connect(&client, addr(SERVER, 9)).await.unwrap();
    c.write_all(&data).await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert!(back == expect, "byte-exact through loss and reordering");
    server_task.await.unwrap();
    // Losses on the way in are the client's to retransmit, on the way out the server's.
    assert!(
        server.stats().RetransSegs + client.stats().RetransSegs > 0,
        "the link did lose segments"
    );
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_refused() {
    let (_server, client) = pair();
    let e = TcpStream::connect(&client, addr(SERVER, 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(e.raw_os_error(), Some(111));
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_connect_times_out() {
    // The peer's end is never driven: SYNs vanish.
    let (a, _b) = MemoryDevice::pair(1500);
    let net = Net::builder()
        .address(CLIENT.into())
        .sysctl("net.ipv4.tcp_syn_retries", "2")
        .unwrap()
        .spawn(a);
    let start = tokio::time::Instant::now();
    let e = TcpStream::connect(&net, addr(SERVER, 80))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    // 1 + 2 + 4 seconds of backoff (Linux's tcp_syn_retries=2).
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
}

#[tokio::test]
async fn binding_errors_are_linux_errnos() {
    let (server, _client) = pair();
    let _l = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let e = TcpListener::bind(&server, addr(SERVER, 80))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let e = TcpListener::bind(&server, addr([192, 0, 2, 1], 80))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
}

#[test]
fn a_bad_sysctl_says_what_is_expected() {
    let e = Net::builder()
        .sysctl("tcp_syn_retries", "many")
        .unwrap_err();
    assert!(e.to_string().contains("tcp_syn_retries"), "{e}");
    let e = Net::builder().sysctl("tcp_no_such_knob", "1").unwrap_err();
    assert!(e.to_string().contains("tcp_no_such_knob"), "{e}");
}

/// SO_LINGER 0 and a drop: the peer's read fails with ConnectionReset.
#[tokio::test]
async fn linger_zero_resets_the_peer() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let mut c = TcpStream::connect(&client, addr(SERVER, 80)).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    drop(s);
    let mut buf = [0u8; 16];
    let e = c.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    // Reported once, as on Linux: then end of stream, and writes fail with EPIPE.
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    let e = c.write_all(b"late").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
}

/// Dropping a stream closes it like close(): the peer reads what was written, then
/// end of stream.
#[tokio::test]
async fn dropping_a_stream_closes_it() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let mut c = TcpStream::connect(&client, addr(SERVER, 80)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    s.write_all(b"last words").await.unwrap();
    drop(s);
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words");
}

#[tokio::test]
async fn options_read_back() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let socket = TcpSocket::new(&client).unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.set_nodelay(true).unwrap();
    let c = socket.connect(addr(SERVER, 80)).await.unwrap();
    let _s = listener.accept().await.unwrap();
    assert!(c.nodelay().unwrap());
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    assert_eq!(
        c.recv_buffer_size().unwrap(),
        64 * 1024,
        "doubled, as Linux does"
    );
    c.set_send_buffer_size(100_000).unwrap();
    assert_eq!(c.send_buffer_size().unwrap(), 200_000);
    c.set_keepalive(true).unwrap();
    assert!(c.keepalive().unwrap());
    c.set_option(SockOpt::KeepIdle(Duration::from_secs(30)))
        .unwrap();
    assert!(c.take_error().unwrap().is_none());
    assert_eq!(c.info().unwrap().state, synack::State::Established);
}

/// While nothing happens the driver sleeps: an hour of idle connection costs a handful
/// of wake-ups, not a polling loop's thousands.
#[tokio::test(start_paused = true)]
async fn the_driver_sleeps_while_idle() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let mut c = TcpStream::connect(&client, addr(SERVER, 80)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    c.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = client.driver_polls() + server.driver_polls();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let during = client.driver_polls() + server.driver_polls() - before;
    assert!(during <= 4, "{during} driver runs in an idle hour");
    // And it still answers at once.
    s.write_all(b"pong").await.unwrap();
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
}

/// axum serves on synack's listener, hyper's client fetches over synack's stream.
#[tokio::test]
async fn axum_server_and_hyper_client() {
    use axum::routing::{get, post};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 80)).await.unwrap();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from axum on synack" }))
        .route("/echo", post(|body: Bytes| async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let stream = TcpStream::connect(&client, addr(SERVER, 80)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/hello")
        .header("host", "10.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello from axum on synack");
    // A large body both ways on the same keep-alive connection.
    let big = Bytes::from(pattern(500_000, 3));
    let req = hyper::Request::post("/echo")
        .header("host", "10.0.0.1")
        .body(Full::new(big.clone()))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(body == big, "the echoed body is byte-exact");
}

/// `Net::finish` waits for the driver's end: not while a connection is open, and once
/// the last socket is closed it returns when the close handshake is done.
#[tokio::test]
async fn finish_waits_for_the_close_to_complete() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr(SERVER, 7)).await.unwrap();
    let mut c = TcpStream::connect(&client, addr(SERVER, 7)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    c.write_all(b"bye").await.unwrap();
    // With the stream open, the client's driver goes on.
    let held = tokio::time::timeout(Duration::from_millis(200), client.clone().finish()).await;
    assert!(held.is_err(), "finish returned while a stream was open");
    drop(c);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    // The client is in FIN-WAIT-2 until the server closes too.
    let held = tokio::time::timeout(Duration::from_millis(200), client.clone().finish()).await;
    assert!(held.is_err(), "finish returned before the peer's FIN");
    drop(s);
    drop(listener);
    tokio::time::timeout(Duration::from_secs(10), client.finish())
        .await
        .expect("the client's driver ends once its connection is in TIME-WAIT");
    tokio::time::timeout(Duration::from_secs(10), server.finish())
        .await
        .expect("the server's driver ends once its LAST-ACK is answered");
}
