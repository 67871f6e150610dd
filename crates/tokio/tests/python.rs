//! synack-tokio against Python's sockets and http.server over a TUN interface, in a
//! private network namespace: a hyper client fetching byte-exact, resets (SO_LINGER 0)
//! from either side surfacing as ECONNRESET.

#![cfg(target_os = "linux")]

#[path = "../../cli/tests/common/proc.rs"]
mod proc;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use proc::{Python, TempDir};
use synack_device::{TunConfig, TunDevice};
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: [u8; 4] = [10, 77, 0, 1];
const SYNACK: [u8; 4] = [10, 77, 0, 2];

/// synack on the TUN interface (inside the namespace and the runtime).
fn start() -> Net {
    let tun = TunDevice::create(&TunConfig::default()).expect("creating the TUN interface");
    Net::builder().address(SYNACK.into()).spawn(tun)
}

const HTTP_SERVER: &str = r#"
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
httpd = http.server.ThreadingHTTPServer(("10.77.0.1", 8000), handler)
print("listening")
httpd.serve_forever()
"#;

#[test]
fn hyper_client_fetches_from_python_http_server() {
    if !proc::have("python3", &["--version"], "python3") {
        return;
    }
    if !proc::enter("hyper_client_fetches_from_python_http_server") {
        return;
    }
    let dir = TempDir::new("hyper-python");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let sizes = [0usize, 1448, 1_000_000, 10_000_000];
    for (i, &n) in sizes.iter().enumerate() {
        std::fs::write(
            root.join(format!("f{n}")),
            proc::random_bytes(n, 70 + i as u64),
        )
        .unwrap();
    }
    synack_device::netns::runtime(2).block_on(async {
        let net = start();
        let mut py = Python::start(dir.path(), HTTP_SERVER, &[root.to_str().unwrap()]);
        assert_eq!(py.line(Duration::from_secs(30)), "listening");
        for (i, &n) in sizes.iter().enumerate() {
            let s = TcpStream::connect(&net, SocketAddr::from((KERNEL, 8000)))
                .await
                .unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                .await
                .unwrap();
            tokio::spawn(conn);
            let req = hyper::Request::get(format!("/f{n}"))
                .header("host", "10.77.0.1:8000")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), n);
            assert!(
                body == proc::random_bytes(n, 70 + i as u64),
                "f{n} byte-exact"
            );
        }
    });
}

/// Python waits for data that never comes; synack resets (linger 0, then drop).
const READ_UNTIL_RESET: &str = r#"
import errno, socket
s = socket.create_connection(("10.77.0.2", 9000), timeout=30)
s.sendall(b"x")
print("connected")
try:
    b = s.recv(10)
    print("read", b)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
"#;

/// Python accepts, reads one byte, resets.
const RESET_SERVER: &str = r#"
import socket, struct
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.1", 9001))
l.listen(1)
print("listening")
c, _ = l.accept()
c.settimeout(30)
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset")
"#;

#[test]
fn resets_from_either_side_are_econnreset() {
    if !proc::have("python3", &["--version"], "python3") {
        return;
    }
    if !proc::enter("resets_from_either_side_are_econnreset") {
        return;
    }
    let dir = TempDir::new("reset-python");
    synack_device::netns::runtime(2).block_on(async {
        let net = start();
        // synack resets Python.
        let listener = TcpListener::bind(&net, SocketAddr::from((SYNACK, 9000)))
            .await
            .unwrap();
        let mut py = Python::start(dir.path(), READ_UNTIL_RESET, &[]);
        let (mut s, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(py.line(Duration::from_secs(30)), "connected");
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        assert_eq!(
            py.finish(Duration::from_secs(30)),
            vec!["ECONNRESET".to_string()]
        );
        assert_eq!(net.stats().OutRsts, 1);

        // Python resets synack.
        let mut py = Python::start(dir.path(), RESET_SERVER, &[]);
        assert_eq!(py.line(Duration::from_secs(30)), "listening");
        let mut c = TcpStream::connect(&net, SocketAddr::from((KERNEL, 9001)))
            .await
            .unwrap();
        c.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 8];
        let e = c.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert_eq!(e.raw_os_error(), Some(104), "ECONNRESET");
        assert_eq!(
            py.finish(Duration::from_secs(30)),
            vec!["reset".to_string()]
        );
    });
}
