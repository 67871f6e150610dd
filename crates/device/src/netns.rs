//! Test support: run a test's body inside a private network namespace that the test
//! makes itself, so that TUN interfaces, addresses and routes never touch the machine's
//! own network.
//!
//! A test calls [`enter`] first. In the test process, `enter` re-runs the same test
//! binary, filtered to that one test, under `unshare -n` (a new network namespace with
//! only a loopback interface, gone when the process ends), checks that the child ran the
//! test and passed, and returns `false`: the test returns. In the child, `enter` returns
//! `true` and the body runs, as root inside the namespace.
//!
//! When the namespace cannot be made (not root, no `unshare`, no `/dev/net/tun`), the
//! test says why and is skipped, unless the environment variable `CI` is `true`, where
//! that is a failure.

use std::process::Command;

/// Set in the child process that runs inside the namespace.
const CHILD_ENV: &str = "SYNACK_IN_PRIVATE_NETNS";

/// Whether the body of test `test_name` (its full path as the test harness prints it,
/// e.g. `tun_reaches_the_kernel` or `module::test`) should run in this process. See
/// the module documentation.
///
/// # Panics
///
/// In the parent, when the child failed (with its output), or when the namespace
/// cannot be made and `CI=true`.
pub fn enter(test_name: &str) -> bool {
    if std::env::var_os(CHILD_ENV).is_some() {
        return true;
    }
    if let Err(why) = can_unshare() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{test_name}: cannot make a private network namespace ({why}); CI=true \
             requires this test to run: run it as root on Linux with iproute2 and \
             /dev/net/tun"
        );
        eprintln!("skipping {test_name}: cannot make a private network namespace: {why}");
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "{test_name} failed inside its network namespace ({}):\n--- stdout\n{stdout}\n\
         --- stderr\n{stderr}",
        out.status
    );
    // Show the child's own output (with --nocapture, the body's prints).
    eprint!("{stderr}");
    false
}

/// Whether a private network namespace with a TUN device can be made here.
fn can_unshare() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces are a Linux feature".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing (modprobe tun)".into());
    }
    let probe = Command::new("unshare")
        .args(["-n", "--", "ip", "link", "set", "lo", "up"])
        .output()
        .map_err(|e| {
            format!("cannot run `unshare -n ip ...` ({e}); install util-linux and iproute2")
        })?;
    if !probe.status.success() {
        return Err(format!(
            "`unshare -n ip link set lo up` failed: {} (it needs root or CAP_SYS_ADMIN)",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(())
}

/// Runs `ip` with `args` (inside the namespace), panicking with its output on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (install iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Inside the namespace: loopback up and the TUN interface `synack0` (MTU 1500) up with
/// the kernel's address 10.77.0.1/24, the start of every kernel test over TUN.
pub fn kernel_tun() -> crate::TunDevice {
    kernel_tun_with(false)
}

/// [`kernel_tun`], with segmentation and checksum offload on or off
/// ([`TunConfig::offload`](crate::TunConfig::offload)).
pub fn kernel_tun_with(offload: bool) -> crate::TunDevice {
    ip(&["link", "set", "lo", "up"]);
    let dev = crate::TunDevice::create(&crate::TunConfig {
        name: "synack0".into(),
        mtu: 1500,
        kernel_addr: None,
        offload,
        ..crate::TunConfig::default()
    })
    .expect("creating the TUN interface");
    ip(&["addr", "add", "10.77.0.1/24", "dev", "synack0"]);
    ip(&["link", "set", "synack0", "up"]);
    dev
}

/// Whether this process is the child running inside the namespace.
pub fn inside() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The runtime a test body runs on: `worker_threads` threads (a multi-thread runtime), or
/// the calling thread alone when `worker_threads` is 0; I/O and timers enabled.
///
/// # Panics
///
/// When the runtime cannot be built (the process is out of threads or file descriptors).
pub fn runtime(worker_threads: usize) -> tokio::runtime::Runtime {
    let mut builder = if worker_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(worker_threads);
        b
    };
    builder
        .enable_all()
        .build()
        .expect("building the test's runtime")
}
