//! The curl workload shared by the file server's test and the axum app's test
//! (`crates/tokio/tests/curl.rs` includes this file): files from 0 bytes to 10 MB, 1,000
//! requests over keep-alive connections and 1,000 on fresh connections, every body
//! compared byte for byte.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// File sizes: empty, around one segment (MSS 1448 with timestamps, 1460 without),
/// around 64 KiB, and large.
pub const SIZES: [usize; 16] = [
    0, 1, 100, 1447, 1448, 1449, 1460, 2896, 4096, 65535, 65536, 65537, 100_000, 250_000,
    1_000_000, 10_000_000,
];

/// The files: name and contents.
pub fn files() -> Vec<(String, Vec<u8>)> {
    SIZES
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("f{n}"), super::random_bytes(n, 1000 + i as u64)))
        .collect()
}

/// 1,000 requests (indexes into `files()`): every file once, large ones first, then the
/// files under 300 KB in turn.
pub fn requests() -> Vec<usize> {
    let mut v: Vec<usize> = (0..SIZES.len()).rev().collect();
    let small: Vec<usize> = (0..SIZES.len()).filter(|&i| SIZES[i] < 300_000).collect();
    let mut k = 0;
    while v.len() < 1000 {
        v.push(small[k % small.len()]);
        k += 1;
    }
    v
}

/// Fetches `requests` from `base` (`http://10.77.0.2:80`) with one curl process (which
/// keeps connections alive between requests unless `fresh`, where each request says
/// `Connection: close`), writes the bodies under `out`, checks every status and body,
/// and returns the connections curl opened for each request.
pub fn fetch(
    base: &str,
    files: &[(String, Vec<u8>)],
    requests: &[usize],
    out: &Path,
    fresh: bool,
) -> Vec<u32> {
    std::fs::create_dir_all(out).unwrap();
    let mut config = String::new();
    for (i, &f) in requests.iter().enumerate() {
        let _ = writeln!(config, "url = \"{base}/{}\"", files[f].0);
        let _ = writeln!(config, "output = \"{}/{i}\"", out.display());
    }
    let config_path = out.join("curl.config");
    std::fs::write(&config_path, config).unwrap();
    let mut curl = Command::new("curl");
    curl.args([
        "--silent",
        "--show-error",
        "--connect-timeout",
        "10",
        "--max-time",
        "120",
    ])
    .args([
        "--write-out",
        "%{num_connects} %{http_code} %{size_download}\\n",
    ])
    .arg("--config")
    .arg(&config_path);
    if fresh {
        curl.args(["--header", "Connection: close"]);
    }
    let result = curl.output().expect("running curl");
    let report = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "curl failed ({}): {}\n{report}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), requests.len(), "one report per request");
    let mut connects = Vec::new();
    for (i, (&f, line)) in requests.iter().zip(&lines).enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1], "200", "request {i} for {}", files[f].0);
        assert_eq!(
            fields[2],
            files[f].1.len().to_string(),
            "request {i} for {}",
            files[f].0
        );
        let body = std::fs::read(out.join(i.to_string())).unwrap_or_default();
        assert!(
            body == files[f].1,
            "request {i}: the body of {} differs",
            files[f].0
        );
        connects.push(fields[0].parse().unwrap());
    }
    connects
}
