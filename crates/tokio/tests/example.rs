//! The README's example (`examples/axum_on_synack.rs`) is compiled into this test and
//! run inside a private network namespace; the kernel fetches its page over the TUN
//! once the example says it listens.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use synack_device::netns;

// The example's `main` is its command-line entry point, unused here.
#[allow(dead_code)]
#[path = "../examples/axum_on_synack.rs"]
mod example;

#[test]
fn readme_example_serves_axum_over_tun() {
    if !netns::enter("readme_example_serves_axum_over_tun") {
        return;
    }
    netns::ip(&["link", "set", "lo", "up"]);
    let (ready_tx, ready) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(example::serve(move || ready_tx.send(()).unwrap()));
        let _ = done_tx.send(r);
    });
    // The example is up once it says so (or it ended with an error).
    if ready.recv_timeout(Duration::from_secs(30)).is_err() {
        panic!("the example did not come up: {:?}", done.try_recv());
    }
    let mut s = std::net::TcpStream::connect(("10.77.0.2", 80)).expect("connect to the example");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: 10.77.0.2\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.ends_with("Hello from axum on synack\n"),
        "{response}"
    );
}
