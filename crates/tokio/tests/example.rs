//! The README's example (`examples/axum_on_synack.rs`) is compiled into this test and
//! run inside a private network namespace; the kernel fetches its page over the TUN.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use synack_device::netns;

#[path = "../examples/axum_on_synack.rs"]
mod example;

#[test]
fn readme_example_serves_axum_over_tun() {
    if !netns::enter("readme_example_serves_axum_over_tun") {
        return;
    }
    netns::ip(&["link", "set", "lo", "up"]);
    std::thread::spawn(|| example::main().expect("the example runs"));
    // The example is up once its listener answers.
    let start = Instant::now();
    let mut s = loop {
        match std::net::TcpStream::connect(("10.77.0.2", 80)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "not serving: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
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
