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

#[test]
fn syn_flood_turns_clients_away_without_cookies_and_serves_them_with() {
    use synack_lab::labs::syn_flood;
    let f = syn_flood::run(&Options::new(1)).unwrap().figures;
    let off = &f.cookies_off;
    let on = &f.cookies_on;
    assert_eq!(off.clients, 300);
    assert_eq!(
        off.max_syn_queue, 1024,
        "the SYN queue fills (tcp_max_syn_backlog)"
    );
    assert!(off.served_ratio < 0.05, "{off:?}");
    assert!(
        off.failures.get("ETIMEDOUT").copied().unwrap_or(0) > 250,
        "{off:?}"
    );
    assert!(on.served_ratio >= 0.99, "{on:?}");
    assert!(on.served_at_once as f64 >= 0.99 * on.clients as f64);
}

#[test]
fn accept_overflow_drops_the_third_ack_or_resets_and_somaxconn_caps() {
    use synack_lab::labs::accept_overflow;
    let f = accept_overflow::run(&Options::new(1)).unwrap().figures;
    let off = &f.abort_off;
    assert_eq!(off.backlog, 8);
    // The second burst's clients believe they are connected while the server has only
    // a half-open request; it retransmits SYN-ACKs; everyone is served in the end.
    assert_eq!(off.max_phantom_connections, 7, "{off:?}");
    assert!(off.listen_overflows >= 7);
    assert!(off.synack_retransmits >= 7);
    assert_eq!(off.resets_sent, 0);
    assert_eq!(off.served, 16);
    assert!(off.failures.is_empty());
    let on = &f.abort_on;
    assert_eq!(on.resets_sent, 7);
    assert_eq!(on.failures.get("ECONNRESET"), Some(&7));
    assert_eq!(on.served, 9);
    assert_eq!(f.listen_4096_somaxconn_128, 128);
}

#[test]
fn tw_recycle_behind_nat_drops_the_slow_clocks_syns_and_off_all_connect() {
    use synack_lab::labs::tw_recycle_nat;
    for seed in [1, 2, 3] {
        let f = tw_recycle_nat::run(&Options::new(seed)).unwrap().figures;
        for c in &f.recycle_off.clients {
            assert_eq!(c.served, c.attempts, "seed {seed}: {c:?}");
            assert!(c.failures.is_empty());
        }
        assert_eq!(f.recycle_off.syns_dropped, 0);
        let on = &f.recycle_on;
        assert!(on.syns_dropped > 0, "seed {seed}: {on:?}");
        // One client's clock is behind the other's: it is the one that fails.
        let failed: Vec<_> = on
            .clients
            .iter()
            .filter(|c| !c.failures.is_empty())
            .collect();
        let fine: Vec<_> = on
            .clients
            .iter()
            .filter(|c| c.served == c.attempts)
            .collect();
        assert_eq!((failed.len(), fine.len()), (1, 1), "seed {seed}: {on:?}");
        assert!(failed[0].failures.get("ETIMEDOUT").copied().unwrap_or(0) > 0);
    }
}
