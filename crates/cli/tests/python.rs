//! Python's socket module as the kernel's peer of the `synack` binary over a TUN
//! interface, in a private network namespace: 10 MB of random bytes each way checked
//! byte for byte, half-close in both directions, a reset (SO_LINGER 0) surfacing as
//! ECONNRESET, a refused connection as ECONNREFUSED; the same transfers with 1% loss
//! and reordering from the impairment flags.

#![cfg(target_os = "linux")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Python, Serve, TempDir};

/// 10 MB.
const SIZE: usize = 10_000_000;

/// A client of synack's echo service: sends the file's bytes, half-closes, reads the
/// echo to its end (synack's FIN) while sending, and compares.
const ECHO_CLIENT: &str = r#"
import socket, sys, threading
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
s = socket.create_connection((host, port), timeout=120)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
s.close()
print("echoed", len(got), "equal" if got == data else "DIFFERENT")
"#;

/// A server for `synack connect`: reads to the end (synack's half-close), compares with
/// one file, then sends another on the half-open connection and closes.
const HALF_CLOSE_SERVER: &str = r#"
import socket, sys
port, expect_path, reply_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
expect = open(expect_path, "rb").read()
reply = open(reply_path, "rb").read()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", port))
l.listen(1)
print("listening")
c, peer = l.accept()
c.settimeout(120)
got = bytearray()
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    got += b
c.sendall(reply)
c.close()
print("received", len(got), "equal" if got == expect else "DIFFERENT")
"#;

/// A server that resets the connection once a byte arrives (SO_LINGER 0, then close).
const RESET_SERVER: &str = r#"
import socket, struct, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", int(sys.argv[1])))
l.listen(1)
print("listening")
c, peer = l.accept()
c.settimeout(60)
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset")
"#;

/// Connects to a port and prints the errno name it fails with.
const CONNECT_ERRNO: &str = r#"
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
"#;

fn ready() -> bool {
    common::have("python3", &["--version"], "python3")
}

/// Python's client through synack's echo service: 10 MB up, the same 10 MB back, the
/// kernel half-closing first; with `impair`, through 1% loss and 5% reordering.
fn echo_10mb(dir: &TempDir, impair: &[&str]) {
    let data = common::random_bytes(SIZE, 7);
    let path = dir.join("up.bin");
    std::fs::write(&path, &data).unwrap();
    let mut args = vec!["--echo", "7"];
    args.extend_from_slice(impair);
    let serve = Serve::start(dir.path(), &args);
    let py = Python::start(
        dir.path(),
        ECHO_CLIENT,
        &["10.77.0.2", "7", path.to_str().unwrap()],
    );
    let lines = py.finish(Duration::from_secs(240));
    assert_eq!(lines, vec![format!("echoed {SIZE} equal")]);
    if !impair.is_empty() {
        let out = common::run(dir.path(), &["netstat", "-s"], Duration::from_secs(30));
        let (stats, _) = common::text(&out);
        let retrans: u64 = stats
            .lines()
            .find_map(|l| l.trim().strip_prefix("RetransSegs: "))
            .expect("RetransSegs")
            .parse()
            .unwrap();
        assert!(retrans > 0, "the impairments lost nothing:\n{stats}");
    }
    serve.stop();
}

/// `synack connect` to Python's server: 10 MB of standard input up, synack
/// half-closing at its end, 10 MB back on the half-open connection to standard output.
fn connect_10mb(dir: &TempDir, impair: &[&str]) {
    let up = common::random_bytes(SIZE, 8);
    let down = common::random_bytes(SIZE, 9);
    let (up_path, down_path) = (dir.join("up.bin"), dir.join("down.bin"));
    std::fs::write(&up_path, &up).unwrap();
    std::fs::write(&down_path, &down).unwrap();
    let mut py = Python::start(
        dir.path(),
        HALF_CLOSE_SERVER,
        &[
            "5000",
            up_path.to_str().unwrap(),
            down_path.to_str().unwrap(),
        ],
    );
    assert_eq!(py.line(Duration::from_secs(30)), "listening");
    let out_path = dir.join("got.bin");
    let child = common::synack(dir.path())
        .args(["connect", "10.77.0.1:5000"])
        .args(impair)
        .stdin(std::fs::File::open(&up_path).unwrap())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running synack connect");
    let out = common::wait_output(child, Duration::from_secs(240), "synack connect");
    let (_, err) = common::text(&out);
    assert!(out.status.success(), "synack connect: {err}");
    let lines = py.finish(Duration::from_secs(30));
    assert_eq!(lines, vec![format!("received {SIZE} equal")]);
    let got = std::fs::read(&out_path).unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got == down, "synack got the server's bytes");
}

#[test]
fn python_client_echo_10mb_each_way_with_half_close() {
    if !ready() || !common::enter("python_client_echo_10mb_each_way_with_half_close") {
        return;
    }
    echo_10mb(&TempDir::new("py-echo"), &[]);
}

#[test]
fn synack_connect_10mb_each_way_with_half_close() {
    if !ready() || !common::enter("synack_connect_10mb_each_way_with_half_close") {
        return;
    }
    connect_10mb(&TempDir::new("py-connect"), &[]);
}

const IMPAIR: [&str; 6] = ["--loss", "0.01", "--reorder", "0.05", "--seed", "3"];

#[test]
fn python_client_echo_through_loss_and_reordering() {
    if !ready() || !common::enter("python_client_echo_through_loss_and_reordering") {
        return;
    }
    echo_10mb(&TempDir::new("py-echo-lossy"), &IMPAIR);
}

#[test]
fn synack_connect_through_loss_and_reordering() {
    if !ready() || !common::enter("synack_connect_through_loss_and_reordering") {
        return;
    }
    connect_10mb(&TempDir::new("py-connect-lossy"), &IMPAIR);
}

/// Python resets (SO_LINGER 0): `synack connect` fails with ECONNRESET and says so.
#[test]
fn a_reset_from_python_is_econnreset_in_synack_connect() {
    if !ready() || !common::enter("a_reset_from_python_is_econnreset_in_synack_connect") {
        return;
    }
    let dir = TempDir::new("py-reset");
    let mut py = Python::start(dir.path(), RESET_SERVER, &["5001"]);
    assert_eq!(py.line(Duration::from_secs(30)), "listening");
    let mut child = common::synack(dir.path())
        .args(["connect", "10.77.0.1:5001"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running synack connect");
    // One byte, standard input kept open: the reset, not a half-close, ends it.
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"x").unwrap();
    let out = common::wait_output(child, Duration::from_secs(60), "synack connect");
    drop(stdin);
    let (_, err) = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("10.77.0.1:5001 reset the connection (ECONNRESET)"),
        "{err}"
    );
    assert_eq!(
        py.finish(Duration::from_secs(30)),
        vec!["reset".to_string()]
    );
}

/// Refusals both ways: synack's RST refuses Python, the kernel's refuses synack.
#[test]
fn refusals_are_econnrefused_both_ways() {
    if !ready() || !common::enter("refusals_are_econnrefused_both_ways") {
        return;
    }
    let dir = TempDir::new("py-refused");
    let serve = Serve::start(dir.path(), &["--echo", "7"]);
    let py = Python::start(dir.path(), CONNECT_ERRNO, &["10.77.0.2", "8"]);
    assert_eq!(
        py.finish(Duration::from_secs(60)),
        vec!["ECONNREFUSED".to_string()]
    );
    serve.stop();
    let out = common::run(
        dir.path(),
        &["connect", "10.77.0.1:9"],
        Duration::from_secs(60),
    );
    let (_, err) = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("10.77.0.1:9 refused the connection (ECONNREFUSED)"),
        "{err}"
    );
}
