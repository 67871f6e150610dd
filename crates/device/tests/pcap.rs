//! The capture middleware: a real synack session (handshake, data both ways, close)
//! captured between two engines over the in-memory pair, read back with `pcap-file`,
//! and, where tshark is installed (always under CI=true), dissected by Wireshark's
//! engine with checksum validation on, with no malformed packet and no warning.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;
use synack::{Config, Instant, Stack};
use synack_device::{Clock, Device, ManualClock, MemoryDevice, Pcap};

const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// Moves datagrams between the stacks and their devices, and time forward to the next
/// deadline when nothing moves, until `done` or 60 s of virtual time.
fn run(
    stacks: &mut [Stack; 2],
    devs: &mut [&mut dyn Device; 2],
    clock: &ManualClock,
    mut step: impl FnMut(&mut [Stack; 2]) -> bool,
) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = vec![0u8; 1500];
    for _ in 0..100_000 {
        let now = Instant::from_micros(clock.now().as_micros() as u64);
        let mut moved = false;
        for i in 0..2 {
            while let Ok(Some(n)) = stacks[i].poll_transmit(now, &mut buf) {
                assert!(devs[i].poll_send(&mut cx, &buf[..n]).is_ready());
                moved = true;
            }
            while let Poll::Ready(r) = devs[i].poll_recv(&mut cx, &mut buf) {
                let n = r.expect("recv");
                stacks[i].handle_packet(now, &buf[..n]);
                moved = true;
            }
        }
        if step(stacks) {
            return;
        }
        if !moved {
            let next = stacks.iter().filter_map(|s| s.poll_timeout()).min();
            let next = next.expect("something to wait for");
            let at = Duration::from_micros(next.total_micros());
            clock.advance(at.saturating_sub(clock.now()).max(Duration::from_micros(1)));
            let now = Instant::from_micros(clock.now().as_micros() as u64);
            for s in stacks.iter_mut() {
                s.handle_timeout(now);
            }
        }
    }
    panic!("the session did not end");
}

/// A session from A to B captured on A's device: the datagrams in the file.
fn capture_session() -> (Vec<u8>, usize) {
    let clock = ManualClock::new();
    let (a, mut b) = MemoryDevice::pair(1500);
    let origin = Duration::from_secs(1_700_000_000);
    let mut a = Pcap::with_origin(a, Vec::new(), clock.clone(), origin).unwrap();
    let config = Config {
        seed: Some(1),
        ..Config::default()
    };
    let mut stacks = [Stack::new(config.clone()), Stack::new(config)];
    stacks[0].add_address(IpAddr::V4(A));
    stacks[1].add_address(IpAddr::V4(B));
    let l = stacks[1].socket();
    stacks[1].bind(l, SocketAddr::new(B.into(), 80)).unwrap();
    stacks[1].listen(l, 8).unwrap();
    let c = stacks[0].socket();
    stacks[0].connect(c, SocketAddr::new(B.into(), 80)).unwrap();
    let request = vec![b'q'; 3000];
    let mut sent = 0;
    let mut server = None;
    let mut got = Vec::new();
    let mut phase = 0;
    run(&mut stacks, &mut [&mut a, &mut b], &clock, |s| {
        if server.is_none() {
            server = s[1].accept(l).ok().map(|x| x.0);
        }
        if sent < request.len() {
            if let Ok(n) = s[0].send(c, &request[sent..]) {
                sent += n;
            }
        }
        if let Some(h) = server {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s[1].recv(h, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if phase == 0 && got.len() == request.len() {
                s[1].send(h, b"reply").unwrap();
                s[0].shutdown(c, synack::Shutdown::Write).unwrap();
                phase = 1;
            }
            if phase == 1 && s[1].state(h) == Ok(synack::State::CloseWait) {
                s[1].close(h).unwrap();
                phase = 2;
            }
        }
        phase == 2
            && matches!(
                s[0].state(c),
                Ok(synack::State::TimeWait | synack::State::Closed)
            )
    });
    let records = a.records() as usize;
    let (_, bytes) = a.into_parts().unwrap();
    (bytes, records)
}

#[test]
fn capture_reads_back_with_pcap_file() {
    let (bytes, records) = capture_session();
    assert!(records >= 8, "handshake, data, FINs: {records} records");
    let mut reader = PcapReader::new(&bytes[..]).expect("a pcap header");
    assert_eq!(reader.header().datalink, DataLink::RAW);
    assert_eq!(reader.header().snaplen, 65535);
    let mut n = 0;
    let mut last = Duration::ZERO;
    let mut syns = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.expect("a whole record");
        assert_eq!(p.orig_len as usize, p.data.len());
        assert!(p.timestamp >= Duration::from_secs(1_700_000_000) && p.timestamp >= last);
        last = p.timestamp;
        let (ip, tcp) = synack::wire::parse_datagram(&p.data, true).expect("valid TCP/IP");
        assert!(ip.src == IpAddr::V4(A) || ip.src == IpAddr::V4(B));
        syns += usize::from(tcp.control == synack::wire::Control::Syn);
        n += 1;
    }
    assert_eq!(n, records);
    assert_eq!(syns, 2, "SYN and SYN-ACK");
    // Same inputs, same file.
    assert_eq!(capture_session().0, bytes);
}

#[test]
fn tshark_reads_the_capture_cleanly() {
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is not installed; CI=true requires it (apt-get install tshark)"
        );
        eprintln!("skipping: tshark is not installed (apt-get install tshark)");
        return;
    }
    let (bytes, records) = capture_session();
    let path = std::env::temp_dir().join(format!("synack-device-{}.pcap", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-z",
            "expert,warn",
            "-q",
        ])
        .output()
        .expect("running tshark");
    let count = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .output()
        .expect("running tshark");
    let _ = std::fs::remove_file(&path);
    let report = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    assert!(
        !report.contains("Malformed") && !report.contains("Warning") && !report.contains("Error"),
        "tshark's expert report:\n{report}"
    );
    let listing = String::from_utf8_lossy(&count.stdout);
    assert_eq!(listing.lines().count(), records, "{listing}");
    assert!(
        listing.contains("[SYN]") && listing.contains("[FIN, ACK]"),
        "{listing}"
    );
}
