//! Watching a running instance over a TUN interface, in a private network namespace:
//! `synack ss` and `synack netstat` through its control socket, and a pcap capture of a
//! session that tshark reads with no malformed packet and no checksum warning.

#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Python, Serve, TempDir};

/// Connects to synack's echo service, sends "ping", reads it back, prints its own
/// port, and holds the connection open until the test kills it (two minutes at most).
const HOLD_CLIENT: &str = r#"
import socket, time
s = socket.create_connection(("10.77.0.2", 7), timeout=30)
s.sendall(b"ping")
assert s.recv(4) == b"ping"
print("connected", s.getsockname()[1])
time.sleep(120)
"#;

fn query(dir: &TempDir, args: &[&str]) -> String {
    let out = common::run(dir.path(), args, Duration::from_secs(30));
    let (text, err) = common::text(&out);
    assert!(out.status.success(), "synack {args:?}: {err}");
    text
}

#[test]
fn ss_and_netstat_show_a_running_instance() {
    if !common::have("python3", &["--version"], "python3") {
        return;
    }
    if !common::enter("ss_and_netstat_show_a_running_instance") {
        return;
    }
    let dir = TempDir::new("observe-ss");
    let serve = Serve::start(dir.path(), &["--echo", "7", "--discard", "9"]);
    let mut py = Python::start(dir.path(), HOLD_CLIENT, &[]);
    let line = py.line(Duration::from_secs(30));
    let port = line.strip_prefix("connected ").expect(&line).to_string();
    let peer = format!("10.77.0.1:{port}");

    let ss = query(&dir, &["ss"]);
    let rows: Vec<Vec<&str>> = ss
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        ss.starts_with("State      Recv-Q Send-Q Local Address:Port"),
        "{ss}"
    );
    assert!(
        rows.contains(&vec!["LISTEN", "0", "1024", "10.77.0.2:7", "*:*"]),
        "{ss}"
    );
    assert!(
        rows.contains(&vec!["LISTEN", "0", "1024", "10.77.0.2:9", "*:*"]),
        "{ss}"
    );
    // (Send-Q may still hold the echoed "ping" while the kernel's ACK is on its way.)
    assert!(
        rows.iter().any(|r| r.len() == 5
            && [r[0], r[1], r[3], r[4]] == ["ESTAB", "0", "10.77.0.2:7", peer.as_str()]),
        "{ss}"
    );
    assert_eq!(rows.len(), 3, "{ss}");
    // `ss -tan` as typed for the kernel works too.
    let tan = query(&dir, &["ss", "-tan"]);
    assert_eq!(tan.lines().count(), ss.lines().count(), "{tan}");
    assert!(
        tan.contains(&format!("10.77.0.2:7            {peer}")),
        "{tan}"
    );

    let info = query(&dir, &["ss", "-i"]);
    assert!(
        info.contains("cubic") && info.contains(" rtt:") && info.contains("bytes_received:4"),
        "{info}"
    );

    let summary = query(&dir, &["ss", "-s"]);
    assert!(
        summary.starts_with("Total: 3\nTCP:   3 (estab 1, closed 0, orphaned 0, timewait 0)"),
        "{summary}"
    );
    assert!(
        summary.contains("LISTEN      2\nESTAB       1\n"),
        "{summary}"
    );
    // The pages charged against tcp_mem (sockstat's `mem`).
    let mem_line = summary.lines().nth(2).unwrap_or_default();
    let pages = mem_line
        .strip_prefix("TCP mem: ")
        .and_then(|r| r.strip_suffix(" pages (sockstat)"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(pages.is_some(), "{summary}");

    let stats = query(&dir, &["netstat", "-s"]);
    assert!(stats.starts_with("Ip:\n"), "{stats}");
    let order: Vec<&str> = stats.lines().filter(|l| !l.starts_with(' ')).collect();
    // netstat's order (IPv6's groups beside their IPv4 ones): IP, ICMP, TCP, UDP, then
    // the extensions.
    assert_eq!(
        order,
        [
            "Ip:", "Ip6:", "Icmp:", "IcmpMsg:", "Icmp6:", "Tcp:", "Udp:", "Udp6:", "TcpExt:",
            "IpExt:"
        ]
    );
    for line in [
        "    PassiveOpens: 1\n",
        "    CurrEstab: 1\n",
        "    ActiveOpens: 0\n",
    ] {
        assert!(stats.contains(line), "{line:?} in\n{stats}");
    }
    assert!(
        stats.contains("TcpExt:\n") && stats.contains("Ip:\n"),
        "{stats}"
    );

    let conns = query(&dir, &["netstat", "-tan"]);
    assert!(
        conns.contains(&format!("10.77.0.2:7             {peer:<23} ESTABLISHED")),
        "{conns}"
    );

    // Another name finds no instance, and says what to do.
    let out = common::run(
        dir.path(),
        &["ss", "--tun", "synack9"],
        Duration::from_secs(30),
    );
    let (_, err) = common::text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("no synack instance named synack9 is running"),
        "{err}"
    );
    drop(py);
    serve.stop();
    // The instance removed its control socket as it ended.
    assert!(!dir.join("synack/synack0.sock").exists());
    let out = common::run(dir.path(), &["netstat", "-s"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
}

/// Opens twelve connections to synack's echo service, echoes on each, prints each
/// one's port, and holds them open until the test kills it.
const HOLD_MANY: &str = r#"
import socket, time
conns = []
for i in range(12):
    s = socket.create_connection(("10.77.0.2", 7), timeout=30)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    conns.append(s)
print("connected", " ".join(str(s.getsockname()[1]) for s in conns))
time.sleep(120)
"#;

/// `serve --queues 2`: an engine per queue; `ss` and `netstat -s` show both engines'
/// sockets and counters as one instance's. `--txqueuelen` sets the interface's queue.
#[test]
fn ss_and_netstat_add_up_the_engines_of_every_queue() {
    if !common::have("python3", &["--version"], "python3") {
        return;
    }
    if !common::enter("ss_and_netstat_add_up_the_engines_of_every_queue") {
        return;
    }
    let dir = TempDir::new("observe-queues");
    let serve = Serve::start(
        dir.path(),
        &["--echo", "7", "--queues", "2", "--txqueuelen", "3000"],
    );
    let link = Command::new("ip")
        .args(["link", "show", "synack0"])
        .output()
        .expect("running ip");
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(link.contains("qlen 3000"), "{link}");
    let mut py = Python::start(dir.path(), HOLD_MANY, &[]);
    let line = py.line(Duration::from_secs(30));
    let ports: Vec<&str> = line
        .strip_prefix("connected ")
        .expect(&line)
        .split(' ')
        .collect();
    assert_eq!(ports.len(), 12);
    let ss = query(&dir, &["ss"]);
    for port in &ports {
        let peer = format!("10.77.0.1:{port}");
        assert!(
            ss.lines()
                .any(|l| l.starts_with("ESTAB") && l.contains(&peer)),
            "{peer} in\n{ss}"
        );
    }
    // One listener per engine, as Linux shows SO_REUSEPORT listeners.
    let listening = ss.lines().filter(|l| l.starts_with("LISTEN")).count();
    assert_eq!(listening, 2, "{ss}");
    let stats = query(&dir, &["netstat", "-s"]);
    for line in ["    PassiveOpens: 12\n", "    CurrEstab: 12\n"] {
        assert!(stats.contains(line), "{line:?} in\n{stats}");
    }
    drop(py);
    serve.stop();
}

#[test]
fn a_pcap_of_a_session_reads_cleanly_in_tshark() {
    if !common::have("curl", &["--version"], "curl")
        || !common::have("tshark", &["--version"], "tshark")
    {
        return;
    }
    if !common::enter("a_pcap_of_a_session_reads_cleanly_in_tshark") {
        return;
    }
    let dir = TempDir::new("observe-pcap");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let body = common::random_bytes(300_000, 5);
    std::fs::write(root.join("file.bin"), &body).unwrap();
    let pcap = dir.join("session.pcap");
    let serve = Serve::start(
        dir.path(),
        &[
            "--http",
            "80",
            "--root",
            root.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(["http://10.77.0.2/file.bin", "http://10.77.0.2/missing"])
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(&body), "the body came through");
    serve.stop();

    let expert = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(["-z", "expert,warn", "-q"])
        .output()
        .expect("running tshark");
    let report = String::from_utf8_lossy(&expert.stdout);
    assert!(
        expert.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&expert.stderr)
    );
    assert!(
        !report.contains("Malformed") && !report.contains("Warning") && !report.contains("Error"),
        "tshark's expert report:\n{report}"
    );
    let listing = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .output()
        .expect("running tshark");
    let listing = String::from_utf8_lossy(&listing.stdout);
    for what in [
        "[SYN]",
        "[SYN, ACK]",
        "GET /file.bin HTTP/1.1",
        "HTTP/1.1 404 Not Found",
        "[FIN, ACK]",
    ] {
        assert!(listing.contains(what), "{what} in\n{listing}");
    }
    assert!(!listing.to_lowercase().contains("checksum"), "{listing}");
    assert!(listing.lines().count() > 200, "{listing}");
}

/// Echoes on synack's echo service, prints the kernel's MSS toward synack
/// (`TCP_MAXSEG`), and holds the connection open until the test kills it.
const MSS_CLIENT: &str = r#"
import socket, time
s = socket.create_connection(("10.77.0.2", 7), timeout=30)
s.sendall(b"ping")
assert s.recv(4) == b"ping"
print("mss", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
time.sleep(120)
"#;

/// `--route` sets a route's metrics on synack's connections to its destinations: the
/// advmss synack offers (the kernel's MSS toward it is 1000 less the timestamp option),
/// the MTU that sizes synack's own segments, the initial window (`synack ss -i`).
#[test]
fn route_metrics_reach_the_connections() {
    if !common::have("python3", &["--version"], "python3") {
        return;
    }
    if !common::enter("route_metrics_reach_the_connections") {
        return;
    }
    let dir = TempDir::new("observe-route");
    let serve = Serve::start(
        dir.path(),
        &[
            "--echo",
            "7",
            "--route",
            "10.77.0.1 mtu 1400 advmss 1000 initcwnd 20",
        ],
    );
    let mut py = Python::start(dir.path(), MSS_CLIENT, &[]);
    assert_eq!(py.line(Duration::from_secs(30)), "mss 988");
    let ss = query(&dir, &["ss", "-i"]);
    let field = |name: &str| -> u32 {
        let at = ss.find(name).unwrap_or_else(|| panic!("{name} in\n{ss}"));
        let digits: String = ss[at + name.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    };
    // 1400 less 40 bytes of headers and 12 of timestamps.
    assert_eq!(field(" mss:"), 1348, "{ss}");
    assert!(field(" cwnd:") >= 20, "{ss}");
    drop(py);
    serve.stop();
}
