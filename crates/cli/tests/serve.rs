//! `synack serve --http` against the kernel's curl over a TUN interface, in a private
//! network namespace: 1,000 requests over keep-alive connections (nginx's
//! keepalive_requests closing each after 100) and 1,000 on fresh connections, files from
//! 0 bytes to 10 MB, every body byte-exact; the instance's counters agree.

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{curl, Serve, TempDir};

#[test]
fn curl_fetches_byte_exact_over_keep_alive_and_fresh_connections() {
    if !common::have("curl", &["--version"], "curl") {
        return;
    }
    if !common::enter("curl_fetches_byte_exact_over_keep_alive_and_fresh_connections") {
        return;
    }
    let dir = TempDir::new("serve-curl");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let files = curl::files();
    for (name, bytes) in &files {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    let serve = Serve::start(
        dir.path(),
        &[
            "--http",
            "80",
            "--root",
            root.to_str().unwrap(),
            "--keepalive-requests",
            "100",
        ],
    );
    assert!(
        serve
            .banner
            .iter()
            .any(|l| l.contains("http://10.77.0.2:80/")),
        "{:?}",
        serve.banner
    );
    let requests = curl::requests();

    // Keep-alive: curl reuses its connection until the server closes it after 100.
    let connects = curl::fetch(
        "http://10.77.0.2",
        &files,
        &requests,
        &dir.join("ka"),
        false,
    );
    assert_eq!(
        connects.iter().sum::<u32>(),
        10,
        "1,000 requests on 10 connections"
    );
    for (i, c) in connects.iter().enumerate() {
        assert_eq!(
            *c,
            u32::from(i % 100 == 0),
            "request {i}: a new connection every 100"
        );
    }

    // Fresh connections: each request asks for Connection: close.
    let connects = curl::fetch(
        "http://10.77.0.2",
        &files,
        &requests,
        &dir.join("fresh"),
        true,
    );
    assert!(connects.iter().all(|&c| c == 1), "a connection per request");

    // synack accepted exactly those connections and reset none.
    let out = common::run(dir.path(), &["netstat", "-s"], Duration::from_secs(30));
    let (stats, err) = common::text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stats.contains("    PassiveOpens: 1010\n"), "{stats}");
    assert!(stats.contains("    EstabResets: 0\n"), "{stats}");
    assert!(stats.contains("    OutRsts: 0\n"), "{stats}");
    serve.stop();
}
