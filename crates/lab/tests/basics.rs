//! The first labs' figures, determinism, knobs and errors.

use synack_lab::labs::{close, handshake, lost_final_ack, simultaneous};
use synack_lab::{LabError, Options, LABS};

/// Options with a small port range, so the labs that scale with it run quickly in
/// debug builds.
fn small(seed: u64) -> Options {
    Options::new(seed).sysctl("net.ipv4.ip_local_port_range", "40000 40499")
}

#[test]
fn handshake_three_segments_random_isns_and_the_old_duplicate_is_reset() {
    let f = handshake::run(&Options::new(1)).unwrap().figures;
    assert_eq!(f.handshake_segments, 3);
    assert_eq!(f.client_states, ["CLOSED", "SYN-SENT", "ESTABLISHED"]);
    assert_eq!(f.server_states, ["LISTEN", "SYN-RECV", "ESTABLISHED"]);
    // 10 ms each way: the client is connected after one round trip, the server after 1.5.
    assert_eq!(f.client_connected_ms, 20.0);
    assert_eq!(f.server_established_ms, 30.0);
    let other = handshake::run(&Options::new(2)).unwrap().figures;
    assert_ne!(f.client_isn, other.client_isn, "ISNs depend on the secret");
    assert_ne!(f.server_isn, other.server_isn);
    let od = &f.old_duplicate;
    assert!(od.server_answered_old_syn, "{od:?}");
    assert!(od.client_reset_it, "{od:?}");
    assert!(od.server_dropped_it, "{od:?}");
    assert_eq!(od.accepted, 1);
    assert!(od.accepted_is_current);
    assert_ne!(od.old_isn, od.client_isn);
}

#[test]
fn close_the_first_closer_waits_sixty_seconds() {
    let f = close::run(&Options::new(1)).unwrap().figures;
    assert_eq!(f.client_first.time_wait_side, "client");
    assert_eq!(f.server_first.time_wait_side, "server");
    for r in [&f.client_first, &f.server_first] {
        assert_eq!(r.time_wait_s, 60.0, "{r:?}");
        assert_eq!(
            r.closer_states,
            [
                "ESTABLISHED",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "TIME-WAIT",
                "CLOSED"
            ]
        );
        assert_eq!(
            r.peer_states,
            ["ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"]
        );
        assert_eq!(r.segments.len(), 4, "{:?}", r.segments);
    }
}

#[test]
fn simultaneous_open_and_close_go_through_syn_recv_and_closing() {
    let f = simultaneous::run(&Options::new(1)).unwrap().figures;
    assert!(
        f.both_syn_recv && f.both_closing && f.both_time_wait,
        "{f:?}"
    );
    assert_eq!(f.open_segments, 4);
    assert_eq!(f.close_segments, 4);
    let expected = [
        "SYN-SENT",
        "SYN-RECV",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "CLOSING",
        "TIME-WAIT",
        "CLOSED",
    ];
    assert_eq!(f.a_states, expected);
    assert_eq!(f.b_states, expected);
}

#[test]
fn lost_final_ack_time_wait_answers_the_fin_and_without_it_the_peer_gets_a_rst() {
    let f = lost_final_ack::run(&Options::new(1)).unwrap().figures;
    let w = &f.with_time_wait;
    assert!(w.final_ack_lost);
    assert_eq!(w.server_fins, 2);
    assert_eq!(w.client_answer, "ACK");
    assert!(w.server_closed_cleanly && !w.server_got_rst);
    assert!(w.client_time_wait_s > 60.0, "the FIN restarts 2MSL: {w:?}");
    let wo = &f.without_time_wait;
    assert!(wo.final_ack_lost);
    assert_eq!(wo.client_answer, "RST");
    assert!(wo.server_got_rst && !wo.server_closed_cleanly);
    assert_eq!(wo.client_time_wait_s, 0.0);
}

#[test]
fn same_seed_same_json_for_every_lab() {
    for lab in LABS {
        let a = (lab.run)(&small(7)).unwrap().to_json();
        let b = (lab.run)(&small(7)).unwrap().to_json();
        assert!(a == b, "lab {} is not deterministic", lab.name);
    }
}

#[test]
fn every_lab_takes_a_knob_and_it_reaches_the_stacks() {
    for lab in LABS {
        let opts = small(3).sysctl("net.ipv4.tcp_timestamps", "0");
        let r = synack_lab::run(lab.name, &opts)
            .unwrap_or_else(|e| panic!("lab {} with tcp_timestamps=0: {e}", lab.name));
        assert_eq!(r.sysctls, opts.sysctls);
        for l in &r.ladders {
            if l.title.contains("timestamps on") {
                // A variant that sets timestamps itself (old-duplicate's PAWS).
                continue;
            }
            assert!(
                l.segments().all(|s| s.tsval.is_none()),
                "lab {}: a segment carries timestamps with tcp_timestamps=0",
                lab.name
            );
        }
    }
    // And by default they do.
    let r = synack_lab::run("handshake", &Options::new(3)).unwrap();
    assert!(r.ladders[0].segments().all(|s| s.tsval.is_some()));
}

#[test]
fn errors_say_what_is_wrong() {
    let e = synack_lab::run("no-such-lab", &Options::new(1)).unwrap_err();
    assert!(matches!(e, LabError::UnknownLab(_)));
    assert!(e.to_string().contains("handshake"), "{e}");
    let e = synack_lab::run("handshake", &Options::new(1).sysctl("tcp_nonsense", "1")).unwrap_err();
    assert!(
        e.to_string().contains("unknown sysctl `tcp_nonsense`"),
        "{e}"
    );
    let e = synack_lab::run("handshake", &Options::new(1).sysctl("tcp_sack", "yes")).unwrap_err();
    assert!(e.to_string().contains("expected 0 or 1"), "{e}");
    let e = Options::parse_sysctl("tcp_sack").unwrap_err();
    assert!(e.to_string().contains("name=value"), "{e}");
    assert_eq!(
        Options::parse_sysctl("net.ipv4.tcp_tw_reuse=1").unwrap(),
        ("net.ipv4.tcp_tw_reuse".to_string(), "1".to_string())
    );
}

#[test]
fn text_report_has_narrative_ladder_counters_and_figures() {
    let r = synack_lab::run("close", &Options::new(1)).unwrap();
    let t = r.to_text();
    for needle in [
        "== lab close",
        "-- the client closes first",
        "FIN-WAIT-2",
        "netstat -s",
        "ss -s",
        "timewait 1",
        "-- figures",
        "client_first.time_wait_s: 60",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
}

#[test]
fn old_duplicate_corrupts_only_when_both_protections_are_off() {
    use synack_lab::labs::old_duplicate;
    for seed in [1, 2] {
        let f = old_duplicate::run(&Options::new(seed)).unwrap().figures;
        let n = &f.neither;
        assert!(n.corrupted_bytes > 0, "seed {seed}: {n:?}");
        assert_eq!(n.expected.as_deref().map(|s| s.len()), Some(16));
        assert_ne!(n.expected, n.got, "shown byte for byte");
        // The bytes shown are the old connection's, wherever in its pattern the
        // duplicate's accepted part begins.
        let old = "old-connection#1|".repeat(3);
        assert!(old.contains(n.got.as_deref().unwrap()), "{n:?}");
        for v in [&f.time_wait_only, &f.paws_only, &f.both] {
            assert_eq!(v.corrupted_bytes, 0, "seed {seed}: {v:?}");
        }
        assert!(f.paws_only.paws_rejected > 0);
        assert!(f
            .time_wait_only
            .outcome
            .starts_with("rejected by TIME-WAIT"));
        assert!(f.time_wait_only.reopened_after_s >= 60.0);
    }
}
