//! `synack get` fetching from the kernel's HTTP server (Python's http.server) over a TUN
//! interface, in a private network namespace: bodies byte-exact to a file and to
//! standard output, a missing file an error that writes nothing.

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Python, TempDir};

/// Python's http.server on all addresses (synack's interface does not exist yet when
/// it starts), saying when it listens.
const HTTP_SERVER: &str = r#"
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
httpd = http.server.ThreadingHTTPServer(("0.0.0.0", 8000), handler)
print("listening")
httpd.serve_forever()
"#;

#[test]
fn synack_get_fetches_from_python_http_server_byte_exact() {
    if !common::have("python3", &["--version"], "python3") {
        return;
    }
    if !common::enter("synack_get_fetches_from_python_http_server_byte_exact") {
        return;
    }
    let dir = TempDir::new("get-python");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let mut py = Python::start(dir.path(), HTTP_SERVER, &[root.to_str().unwrap()]);
    assert_eq!(py.line(Duration::from_secs(30)), "listening");
    for (i, size) in [0usize, 1, 1448, 100_000, 10_000_000]
        .into_iter()
        .enumerate()
    {
        let body = common::random_bytes(size, 50 + i as u64);
        let name = format!("f{size}");
        std::fs::write(root.join(&name), &body).unwrap();
        let out_path = dir.join(&format!("{name}.out"));
        let url = format!("http://10.77.0.1:8000/{name}");
        let out = common::run(
            dir.path(),
            &["get", &url, "-o", out_path.to_str().unwrap()],
            Duration::from_secs(120),
        );
        let (stdout, err) = common::text(&out);
        assert!(out.status.success(), "synack get {url}: {err}");
        assert!(stdout.is_empty(), "the body went to the file");
        let got = std::fs::read(&out_path).unwrap();
        assert_eq!(got.len(), size, "{url}");
        assert!(got == body, "{url}: byte-exact");
        // To standard output.
        if size <= 100_000 {
            let out = common::run(dir.path(), &["get", &url], Duration::from_secs(60));
            assert!(out.status.success());
            assert!(out.stdout == body, "{url} to standard output");
        }
    }
    // A missing file: the status, nothing written.
    let out_path = dir.join("missing.out");
    let out = common::run(
        dir.path(),
        &[
            "get",
            "http://10.77.0.1:8000/missing",
            "-o",
            out_path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let (_, err) = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("answered 404 Not Found: nothing written"),
        "{err}"
    );
    assert!(!out_path.exists());
}
