//! `synack forward --any` and `synack serve --any` against the kernel, each in a private
//! network namespace: the kernel's connections to networks routed into the TUN
//! interface are terminated by synack whatever their destination; `forward` splices
//! each onto a kernel connection (10 MB each way, byte-exact, a half-close carried
//! through in each direction), `serve --any --echo` echoes at every address and port.

#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::{random_bytes, Serve, TempDir};

#[test]
fn forward_carries_10_mb_each_way_with_half_close() {
    if !common::enter("forward_carries_10_mb_each_way_with_half_close") {
        return;
    }
    let dir = TempDir::new("forward");
    // The kernel's server the flows are forwarded to, on loopback.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = server.local_addr().unwrap().to_string();
    let fwd = Serve::start_command(
        dir.path(),
        "forward",
        &["--any", "198.51.100.0/24", "--to", &to],
    );
    assert!(
        fwd.banner.iter().any(|l| l.contains("198.51.100.0/24")),
        "{:?}",
        fwd.banner
    );
    let up = random_bytes(10 << 20, 1);
    let down = random_bytes(10 << 20, 2);
    let (up2, down2) = (up.clone(), down.clone());
    // The server reads the client's bytes to their end (the client's FIN, carried
    // through), then answers with its own and half-closes in turn.
    let srv = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got == up2, "the server got the client's 10 MB byte-exact");
        s.write_all(&down2).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // The client closes after reading everything: the end of its stream.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
    let mut c = TcpStream::connect_timeout(
        &"198.51.100.7:443".parse().unwrap(),
        Duration::from_secs(10),
    )
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(&up).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert!(
        got.len() == down.len() && got == down,
        "the client got the server's 10 MB byte-exact after its own half-close ({} bytes)",
        got.len()
    );
    drop(c);
    srv.join().unwrap();
    fwd.stop();
}

#[test]
fn serve_any_echoes_at_every_address_and_port() {
    if !common::enter("serve_any_echoes_at_every_address_and_port") {
        return;
    }
    let dir = TempDir::new("serve-any");
    let serve = Serve::start(
        dir.path(),
        &[
            "--any",
            "198.51.100.0/24,203.0.113.0/24",
            "--discard",
            "9",
            "--echo",
        ],
    );
    for dst in ["198.51.100.7:7", "203.0.113.20:5201", "198.51.100.200:80"] {
        let mut c =
            TcpStream::connect_timeout(&dst.parse().unwrap(), Duration::from_secs(10)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(dst.as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, dst, "echo at {dst}");
    }
    // Port 9 is discard's: nothing comes back but the end of the stream.
    let mut c =
        TcpStream::connect_timeout(&"198.51.100.7:9".parse().unwrap(), Duration::from_secs(10))
            .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"dropped").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert!(got.is_empty());
    serve.stop();
}

/// Without --any a service needs its port; with --any only one may leave it out.
#[test]
fn portless_services_need_any_and_only_one() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::SYNACK)
            .args(args)
            .output()
            .expect("running synack");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["serve", "--echo"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--echo needs a PORT"), "{err}");
    let (code, err) = run(&["serve", "--any", "--echo", "--discard"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("both ask for every port"), "{err}");
    let (code, err) = run(&["forward", "--any", "10.0.0.0/33", "--to", "127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the prefix length must be 0 to 32"), "{err}");
}
