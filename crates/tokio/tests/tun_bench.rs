//! The TUN benchmark (`benches/tun.rs`) in a small run, so that it keeps working: every
//! workload moves its bytes and completes its connections. No timing is asserted.

#![cfg(target_os = "linux")]

#[allow(dead_code)]
#[path = "../benches/tun.rs"]
mod bench;

use synack_device::netns;

#[test]
fn the_tun_benchmark_runs_small() {
    if !netns::enter("the_tun_benchmark_runs_small") {
        return;
    }
    let report = bench::run(bench::Params {
        bytes: 1 << 20,
        conns: 40,
        concurrency: 2,
        repeat: 1,
        offload: true,
        queues: true,
        streams: 2,
        txqueuelen: synack_device::TunConfig::DEFAULT_TXQUEUELEN,
    })
    .expect("the benchmark runs");
    assert!(report.queues.is_some());
    let text = report.render();
    let mut figures = vec![
        &report.synack_to_kernel,
        &report.kernel_to_synack,
        &report.kernel_to_kernel,
        &report.synack_cps,
        &report.kernel_cps,
    ];
    if let Some(o) = &report.offload {
        figures.extend([&o.to_kernel, &o.from_kernel, &o.cps]);
    }
    if let Some(q) = &report.queues {
        figures.extend([&q.parallel_one, &q.parallel_two, &q.cps_one, &q.cps_two]);
        // Each queue configuration's engines run on threads of their own: their CPU
        // time is measured.
        for s in q.parallel_one.0.iter().chain(&q.parallel_two.0) {
            assert!(s.probe.engine_cpu.is_some_and(|c| c >= 0.0), "{text}");
        }
    }
    for figure in figures {
        assert_eq!(figure.0.len(), 1, "{text}");
        assert!(
            figure.median().is_finite() && figure.median() > 0.0,
            "{text}"
        );
        for s in &figure.0 {
            assert!(s.probe.secs > 0.0 && s.probe.machine_busy <= 1.0, "{text}");
        }
    }
    for row in [
        "bulk synack -> kernel",
        "bulk kernel -> synack",
        "connections/s",
        "offload: synack -> kernel",
        "offload: kernel -> synack",
        "offload: connections/s",
        "two queues",
        "2 streams kernel -> synack",
        "CPU (cores), parallel",
        "MiB/engine-s",
        "two queues at 1.6x one need",
    ] {
        assert!(text.contains(row), "{text}");
    }
    println!("{text}");
}

/// The benchmark's readers of `/proc` find the counters where Linux puts them.
#[test]
fn the_benchmark_parses_proc() {
    use bench::probe::{dev_drops, snmp, stat_cpu};
    let snmp_text = "Tcp: RtoAlgorithm RetransSegs InErrs\nTcp: 1 42 0\n";
    assert_eq!(snmp(snmp_text, "Tcp", "RetransSegs"), 42);
    let dev = "Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame \
               compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n \
               synack0: 100 2 0 7 0 0 0 0 200 3 0 9 0 0 0 0\n";
    assert_eq!(dev_drops(dev, "synack0"), (7, 9));
    let stat = "123 (synack-q0 x) R 1 2 3 4 5 6 7 8 9 10 11 12 0 0 20 0";
    assert_eq!(stat_cpu(stat), 11 + 12);
}
