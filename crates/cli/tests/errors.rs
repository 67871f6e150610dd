//! The errors of the commands that create a TUN interface say what went wrong and what
//! to do: no CAP_NET_ADMIN, no /dev/net/tun, an interface name taken, an address or a
//! port in use, an address outside the subnet, no instance to ask. Each runs inside a
//! private network namespace.

#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Serve, TempDir};

/// Runs `cmd` (which must end within a minute) and returns its exit code and stderr.
fn failure(cmd: &mut Command) -> (Option<i32>, String) {
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running the command");
    let out = common::wait_output(child, Duration::from_secs(60), &format!("{cmd:?}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tun_errors_say_what_to_do() {
    if !common::have("setpriv", &["--version"], "util-linux") {
        return;
    }
    if !common::enter("tun_errors_say_what_to_do") {
        return;
    }
    let dir = TempDir::new("errors");
    let xdg = dir.path().to_str().unwrap().to_string();
    let other = [
        "--tun",
        "synack1",
        "--kernel-addr",
        "10.78.0.1/24",
        "--addr",
        "10.78.0.2",
    ];

    // Without CAP_NET_ADMIN (root with that capability out of its bounding set, so
    // that the binary stays reachable wherever the checkout is).
    let (code, err) = failure(
        Command::new("setpriv")
            .args(["--bounding-set", "-net_admin", "--"])
            .arg(common::SYNACK)
            .args(["serve", "--echo", "7"])
            .args(other)
            .env("XDG_RUNTIME_DIR", &xdg),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("needs CAP_NET_ADMIN: run as root"), "{err}");

    // Without /dev/net/tun (hidden by a private mount namespace).
    let (code, err) = failure(
        Command::new("unshare")
            .args([
                "-m",
                "--",
                "sh",
                "-c",
                "mount -t tmpfs none /dev/net && exec \"$@\"",
                "sh",
            ])
            .arg(common::SYNACK)
            .args(["get", "http://10.78.0.1/"])
            .args(other)
            .env("XDG_RUNTIME_DIR", &xdg),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/dev/net/tun is missing: load the tun module (modprobe tun)"),
        "{err}"
    );

    // An interface name taken, by a running instance or by another interface.
    let serve = Serve::start(dir.path(), &["--echo", "7"]);
    let (code, err) = failure(common::synack(dir.path()).args(["connect", "10.77.0.1:7"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the interface name synack0 is taken"), "{err}");
    assert!(err.contains("choose another with --tun"), "{err}");
    let (code, err) =
        failure(common::synack(dir.path()).args(["serve", "--echo", "7", "--tun", "lo"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the interface name lo is taken"), "{err}");

    // The kernel's subnet already routed to the running instance's interface.
    let (code, err) =
        failure(common::synack(dir.path()).args(["serve", "--echo", "7", "--tun", "synack1"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "the address 10.77.0.1/24 is in use: the kernel already routes 10.77.0.0/24 to synack0"
        ),
        "{err}"
    );
    assert!(err.contains("give this one another subnet"), "{err}");
    serve.stop();

    // Two services on one port.
    let (code, err) =
        failure(common::synack(dir.path()).args(["serve", "--echo", "80", "--http", "80"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--http and --echo both ask for port 80: the address is in use"),
        "{err}"
    );

    // synack's address outside the kernel's subnet.
    let (code, err) =
        failure(common::synack(dir.path()).args(["serve", "--echo", "7", "--addr", "10.9.0.2"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--addr 10.9.0.2 is outside --kernel-addr 10.77.0.1/24"),
        "{err}"
    );

    // A capture of several queues.
    let (code, err) = failure(common::synack(dir.path()).args([
        "serve",
        "--echo",
        "7",
        "--queues",
        "2",
        "--pcap",
        "/dev/null",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--pcap captures one device, and --queues 2 makes 2"),
        "{err}"
    );

    // Nothing was left behind: no interface of synack's, no control socket.
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("synack"), "{links}");
    assert!(!dir.join("synack/synack0.sock").exists());
}

#[test]
fn usage_errors_say_what_is_expected() {
    let dir = TempDir::new("usage");
    for (args, message) in [
        (
            &["serve"][..],
            "the following required arguments were not provided",
        ),
        (
            &["serve", "--echo", "0"],
            "0 is out of range: expected a port number from 1 to 65535",
        ),
        (
            &["serve", "--http", "80", "--root", "/nonexistent"],
            "no such directory",
        ),
        (
            &["serve", "--echo", "7", "--keepalive-timeout", "-1"],
            "expected a whole number of seconds",
        ),
        (
            &["serve", "--echo", "7", "--loss", "2"],
            "expected a probability from 0 to 1",
        ),
        (
            &["serve", "--echo", "7", "--sysctl", "tcp_nope=1"],
            "unknown sysctl `tcp_nope`",
        ),
        (
            &["serve", "--echo", "7", "--kernel-addr", "10.77.0.1"],
            "no prefix length",
        ),
        (&["get", "https://10.77.0.1/"], "https is not supported"),
        (&["get", "http://example.com/"], "synack resolves no names"),
        (&["connect", "example.com:80"], "is not an address and port"),
    ] {
        let (code, err) = failure(common::synack(dir.path()).args(args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(message),
            "{args:?}: expected `{message}` in {err}"
        );
    }
}
