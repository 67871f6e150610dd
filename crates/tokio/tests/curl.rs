//! An axum app served by synack-tokio over a TUN interface, fetched by the kernel's curl
//! in a private network namespace: the workload of `synack serve --http`'s test (files
//! from 0 bytes to 10 MB; 1,000 requests over keep-alive connections, 1,000 on fresh
//! ones; every body byte-exact).

#![cfg(target_os = "linux")]

#[path = "../../cli/tests/common/proc.rs"]
mod proc;

#[path = "../../cli/tests/common/curl.rs"]
mod curl;

use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hyper::body::Bytes;
// `curl` draws its files' bytes from here.
use proc::random_bytes;
use synack_device::{TunConfig, TunDevice};
use synack_tokio::{Net, TcpListener};

#[test]
fn curl_fetches_byte_exact_from_axum_on_synack() {
    if !proc::have("curl", &["--version"], "curl") {
        return;
    }
    if !proc::enter("curl_fetches_byte_exact_from_axum_on_synack") {
        return;
    }
    let dir = proc::TempDir::new("axum-curl");
    let files = curl::files();
    let site: Arc<HashMap<String, Bytes>> = Arc::new(
        files
            .iter()
            .map(|(name, bytes)| (name.clone(), Bytes::from(bytes.clone())))
            .collect(),
    );
    let rt = synack_device::netns::runtime(2);
    rt.block_on(async move {
        let tun = TunDevice::create(&TunConfig::default()).expect("creating the TUN interface");
        let net = Net::builder().address([10, 77, 0, 2].into()).spawn(tun);
        let listener = TcpListener::bind(&net, SocketAddr::from(([10, 77, 0, 2], 80)))
            .await
            .unwrap();
        let app = Router::new().route(
            "/{name}",
            get(move |Path(name): Path<String>| {
                let site = site.clone();
                async move { site.get(&name).cloned().ok_or(StatusCode::NOT_FOUND) }
            }),
        );
        tokio::spawn(axum::serve(listener, app).into_future());
        let requests = curl::requests();
        let out = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            // Keep-alive: hyper keeps the one connection for all 1,000.
            let connects = curl::fetch(
                "http://10.77.0.2",
                &files,
                &requests,
                &out.join("ka"),
                false,
            );
            assert_eq!(
                connects.iter().sum::<u32>(),
                1,
                "1,000 requests on one connection"
            );
            // Fresh connections: each request asks for Connection: close.
            let connects = curl::fetch(
                "http://10.77.0.2",
                &files,
                &requests,
                &out.join("fresh"),
                true,
            );
            assert!(connects.iter().all(|&c| c == 1), "a connection per request");
        })
        .await
        .unwrap();
        let stats = net.stats();
        assert_eq!(stats.PassiveOpens, 1001);
        assert_eq!(stats.EstabResets, 0);
    });
}
