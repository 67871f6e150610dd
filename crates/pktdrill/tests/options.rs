//! The command-line options packetdrill's runners pass (`run_all.py`, the kernel's
//! `ksft_runner.sh`): each one changes what the script sees, and a script that depends on
//! it fails without it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use synack_pktdrill::harness::{self, Harness};
use synack_pktdrill::{run_file, run_str, IpVersion, Options, Outcome};

fn expect_pass(o: Outcome) {
    match o {
        Outcome::Pass => {}
        Outcome::Fail(f) => panic!("failed:\n{f}"),
        Outcome::Unsupported(r) => panic!("unsupported: {r}"),
    }
}

fn expect_fail(o: Outcome) -> Box<synack_pktdrill::Failure> {
    match o {
        Outcome::Fail(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A passive open whose SYN window and SYN-ACK MSS are macros.
const DEFINED: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win PEER_WIN <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss OUR_MSS,nop,wscale 8>
";

#[test]
fn defines_stand_for_their_values() {
    let defines = vec![
        ("PEER_WIN".to_string(), "32792".to_string()),
        ("OUR_MSS".to_string(), "1460".to_string()),
    ];
    expect_pass(run_str(
        "d.pkt",
        &format!("`../common/defaults.sh`\n{DEFINED}"),
        &Options {
            defines: defines.clone(),
            ..Options::default()
        },
    ));
    // Without them, the words are not numbers.
    let f = expect_fail(run_str("d.pkt", DEFINED, &Options::default()));
    assert!(f.message.contains("parse error"), "{}", f.message);
    // A script's own --define line works too; the command line's wins over it.
    let src = format!(
        "--define=PEER_WIN=32792\n--define=OUR_MSS=1000\n`../common/defaults.sh`\n{DEFINED}"
    );
    let f = expect_fail(run_str("d.pkt", &src, &Options::default()));
    assert!(f.message.contains("mss"), "{}", f.message);
    expect_pass(run_str(
        "d.pkt",
        &src,
        &Options {
            defines,
            ..Options::default()
        },
    ));
}

const PASSIVE: &str = "\
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1460,nop,wscale 7>
";

#[test]
fn mtu_sets_the_advertised_mss() {
    let src = format!("{PASSIVE}+0 > S. 0:0(0) ack 1 <mss 1360,nop,wscale 8>\n");
    let mtu = |m: Option<usize>, v: IpVersion| Options {
        mtu: m,
        ip_version: Some(v),
        ..Options::default()
    };
    expect_pass(run_str("m.pkt", &src, &mtu(Some(1400), IpVersion::Ipv4)));
    // IPv6 headers are 20 bytes longer.
    expect_pass(run_str("m.pkt", &src, &mtu(Some(1420), IpVersion::Ipv6)));
    let f = expect_fail(run_str("m.pkt", &src, &mtu(None, IpVersion::Ipv4)));
    assert!(f.message.contains("mss"), "{}", f.message);
    // As a script option.
    expect_pass(run_str(
        "m.pkt",
        &format!("--mtu=1400\n{src}"),
        &Options::default(),
    ));
}

#[test]
fn netmask_makes_the_subnet_broadcast_a_martian() {
    let src = format!("{PASSIVE}+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n");
    let opts = |mask: Option<Ipv4Addr>| Options {
        remote_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 255, 255))),
        netmask_ip: mask,
        ..Options::default()
    };
    expect_pass(run_str("n.pkt", &src, &opts(None)));
    let f = expect_fail(run_str(
        "n.pkt",
        &src,
        &opts(Some(Ipv4Addr::new(255, 255, 0, 0))),
    ));
    assert!(f.message.contains("was not sent"), "{}", f.message);
}

#[test]
fn addresses_may_carry_a_prefix_in_scripts() {
    let src = format!(
        "--local_ip=192.168.7.7\n--remote_ip=192.0.2.9/24\n{PASSIVE}\
         +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n"
    );
    expect_pass(run_str("a.pkt", &src, &Options::default()));
    let src = format!("--netmask_ip=255.0.255.0\n{PASSIVE}");
    let f = expect_fail(run_str("a.pkt", &src, &Options::default()));
    assert!(f.message.contains("contiguous"), "{}", f.message);
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("synack-options-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn init_scripts_run_before_the_script() {
    let dir = temp_dir("init");
    let init = dir.join("no-wscale.sh");
    std::fs::write(
        &init,
        "#!/bin/bash\nsysctl -q net.ipv4.tcp_window_scaling=0 > /dev/null 2>&1\n\
         sysctl -q net.ipv4.tcp_fastopen=0x3\n",
    )
    .unwrap();
    // Without window scaling the SYN-ACK carries mss alone.
    let src = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
               +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
               +0 < S 0:0(0) win 32792 <mss 1460,nop,wscale 7>\n\
               +0 > S. 0:0(0) ack 1 <mss 1460>\n";
    let with = Options {
        init_scripts: vec![init],
        ..Options::default()
    };
    expect_pass(run_str("i.pkt", src, &with));
    expect_fail(run_str("i.pkt", src, &Options::default()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shell_file_beside_the_script_is_read() {
    let dir = temp_dir("beside");
    std::fs::write(
        dir.join("defaults.sh"),
        "sysctl -q net.ipv4.tcp_window_scaling=0\nsysctl -q net.ipv4.tcp_pacing_ss_ratio=200\n",
    )
    .unwrap();
    let script = dir.join("s.pkt");
    std::fs::write(
        &script,
        "`./defaults.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
         +0 < S 0:0(0) win 32792 <mss 1460,nop,wscale 7>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n",
    )
    .unwrap();
    expect_pass(run_file(&script, &Options::default()));
    // The same text without its directory gets the built-in profile (window scaling on).
    let src = std::fs::read_to_string(&script).unwrap();
    expect_fail(run_str("s.pkt", &src, &Options::default()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nstat_checks_counter_changes() {
    let base = "`../common/defaults.sh`\n\
                0 `nstat -n`\n\
                +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
                +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
                +0 > S 0:0(0) <...>\n";
    expect_pass(run_str(
        "n.pkt",
        &format!("{base}+0 `nstat | grep TcpActiveOpens | grep -q \" 1 \"`\n"),
        &Options::default(),
    ));
    let f = expect_fail(run_str(
        "n.pkt",
        &format!("{base}+0 `nstat | grep TcpActiveOpens | grep -q \" 2 \"`\n"),
        &Options::default(),
    ));
    assert!(
        f.message
            .contains("TcpActiveOpens changed by 1 since the last nstat, the script wants 2"),
        "{}",
        f.message
    );
    // The first nstat without -s saved the baseline: nothing changed since.
    let f = expect_fail(run_str(
        "n.pkt",
        &format!(
            "{base}+0 `nstat | grep TcpActiveOpens | grep -q \" 1 \"`\n\
             +0 `nstat | grep TcpActiveOpens`\n"
        ),
        &Options::default(),
    ));
    assert!(f.message.contains("wants a change"), "{}", f.message);
}

#[test]
fn ksft_runs_each_named_version() {
    let dir = temp_dir("ksft");
    let both = dir.join("both.pkt");
    let src = format!("{PASSIVE}+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n");
    std::fs::write(&both, &src).unwrap();
    let runs = harness::run_file_with(&both, &Options::default(), Harness::Ksft);
    let labels: Vec<&str> = runs.iter().map(|r| r.label).collect();
    assert_eq!(labels, ["ipv4", "ipv6"]);
    assert!(harness::combined(&runs).is_pass());
    let v6 = dir.join("v6.pkt");
    std::fs::write(&v6, format!("--ip_version=ipv6\n{src}")).unwrap();
    let runs = harness::run_file_with(&v6, &Options::default(), Harness::Ksft);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].label, "ipv6");
    // The IPv6 run (--mtu=1520, its own addresses) keeps the MSS at 1460.
    assert!(runs[0].outcome.is_pass());
    std::fs::remove_dir_all(&dir).unwrap();
}
