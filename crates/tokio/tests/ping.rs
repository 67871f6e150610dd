//! ICMP against the kernel (issue 11): the kernel's `ping` gets echo replies from synack
//! over a TUN interface, inside a private network namespace the test makes. Under
//! CI=true a missing `ping` or namespace is a failure.

#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;
use std::process::Command;

use synack_device::netns;
use synack_tokio::Net;

const SYNACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Whether `ping` can run here; under CI=true its absence is a failure.
fn have_ping() -> bool {
    if Command::new("ping").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true needs `ping` for this test: install iputils-ping"
    );
    eprintln!("skipping: `ping` is not installed (iputils-ping)");
    false
}

#[test]
fn the_kernels_ping_gets_replies() {
    if !have_ping() || !netns::enter("the_kernels_ping_gets_replies") {
        return;
    }
    let rt = netns::runtime(2);
    rt.block_on(async {
        let dev = netns::kernel_tun();
        let net = Net::builder().address(SYNACK.into()).spawn(dev);
        let out = tokio::task::spawn_blocking(|| {
            Command::new("ping")
                .args([
                    "-n",
                    "-c",
                    "3",
                    "-i",
                    "0.2",
                    "-W",
                    "10",
                    "-s",
                    "300",
                    "10.77.0.2",
                ])
                .output()
                .expect("running ping")
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ping failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("3 received"), "{text}");
        assert!(text.contains("308 bytes from 10.77.0.2"), "{text}");
        let s = net.stats();
        assert_eq!((s.IcmpInEchos, s.IcmpOutEchoReps), (3, 3));
    });
}
