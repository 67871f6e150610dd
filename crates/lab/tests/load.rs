//! Labs with many connections, run with a small port range so that debug builds stay
//! quick (every lab takes every knob; the figures scale with it).

use synack_lab::labs::time_wait_pileup;
use synack_lab::Options;

fn small(seed: u64) -> Options {
    Options::new(seed).sysctl("net.ipv4.ip_local_port_range", "40000 40999")
}

#[test]
fn time_wait_fills_the_port_range_until_eaddrnotavail_and_each_remedy_holds() {
    let f = time_wait_pileup::run(&small(1)).unwrap().figures;
    let b = &f.baseline;
    assert_eq!(b.port_range, (40000, 40999));
    // TIME-WAIT reaches the whole range (sampled once a second, so within one entry)...
    assert!(b.max_time_wait >= 999, "{b:?}");
    // ...and connect() fails with EADDRNOTAVAIL, first after the range is used up.
    assert!(b.eaddrnotavail > 0 && b.failed_requests > 0, "{b:?}");
    let first = b.first_failure_s.unwrap();
    assert!(
        (1000.0 / f.rate_per_s - 1.0..60.0).contains(&first),
        "{first}"
    );
    // tcp_tw_reuse=1 with timestamps: no failure, entries reused.
    assert_eq!(f.tw_reuse.eaddrnotavail, 0);
    assert_eq!(f.tw_reuse.failed_requests, 0);
    assert!(f.tw_reuse.tw_recycled > 0);
    assert_eq!(f.tw_reuse.answered, f.tw_reuse.requests);
    // A wider range holds the same load.
    assert_eq!(f.wide_range.eaddrnotavail, 0);
    assert_eq!(f.wide_range.port_range, (1024, 65535));
    // The reserved port is never taken by an outgoing connection.
    assert_eq!(f.wide_range_reserved.service_port_taken, 0);
    assert!(f.wide_range_reserved.service_bind_ok);
    // Keep-alive: a hundredth of the connections.
    assert_eq!(f.keepalive.failed_requests, 0);
    assert!(f.keepalive.connects * 50 <= b.connects, "{:?}", f.keepalive);
    assert!(f.keepalive.max_time_wait * 20 <= b.max_time_wait);
    // tcp_max_tw_buckets caps the entries; the rest skip TIME-WAIT.
    assert!(f.max_tw_buckets.max_time_wait <= 500);
    assert!(f.max_tw_buckets.tw_overflow > 0);
    assert_eq!(f.max_tw_buckets.eaddrnotavail, 0);
}

#[test]
fn the_readers_tw_reuse_reaches_the_baseline() {
    let f = time_wait_pileup::run(&small(1).sysctl("tcp_tw_reuse", "1"))
        .unwrap()
        .figures;
    assert_eq!(f.baseline.eaddrnotavail, 0);
    assert!(f.baseline.tw_recycled > 0);
}

#[test]
fn close_wait_piles_up_while_fin_wait_2_times_out() {
    use synack_lab::labs::close_wait_leak;
    let f = close_wait_leak::run(&Options::new(1)).unwrap().figures;
    assert_eq!(f.fin_wait2_lifetime_s, 60.0);
    assert_eq!(f.first_connection_server_state, "CLOSE-WAIT");
    // Every connection of the load (60 s at 20/s) and the first one are in CLOSE-WAIT.
    assert_eq!(f.leaky.answered, 1200);
    assert_eq!(f.leaky.close_wait_end, 1201);
    assert!(f.leaky.fin_wait2_max > 1000, "{:?}", f.leaky);
    assert_eq!(f.leaky.fin_wait2_end, 0);
    assert_eq!(f.closing.close_wait_end, 0);
    assert_eq!(f.closing.fin_wait2_max, 0);
    let f30 = close_wait_leak::run(&Options::new(1).sysctl("net.ipv4.tcp_fin_timeout", "30"))
        .unwrap()
        .figures;
    assert_eq!(f30.fin_wait2_lifetime_s, 30.0);
}
