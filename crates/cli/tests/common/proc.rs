//! Generic helpers of the tests against the kernel: tools that must exist, the private
//! network namespace, temporary directories, deterministic bytes, child processes with
//! time limits, Python programs. Shared with `crates/tokio/tests` (included by path).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use synack_device::netns;

/// Whether `tool` runs (`tool args`); when it does not, a failure under CI=true, else
/// a skip with the reason.
pub fn have(tool: &str, args: &[&str], package: &str) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing; CI=true requires it (apt-get install {package})"
        );
        eprintln!("skipping: {tool} is missing (apt-get install {package})");
    }
    ok
}

/// Enters the test's private network namespace (see `netns::enter`) and brings its
/// loopback up; `false` in the parent process, which then returns.
pub fn enter(test: &str) -> bool {
    if !netns::enter(test) {
        return false;
    }
    netns::ip(&["link", "set", "lo", "up"]);
    true
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("making a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic bytes that look random (xorshift64*), different for each seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Waits for `child` to end within `limit` (killing it and failing past that).
pub fn wait_output(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("waiting for the process"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not end within {limit:?}");
        }
    }
}

/// The text of an output's streams.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Python program running in the background, its stdout read line by line.
pub struct Python {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Python {
    /// Runs `python3 -c script args`; its stderr goes to a file beside `dir`.
    pub fn start(dir: &Path, script: &str, args: &[&str]) -> Python {
        let stderr = dir.join(format!("python-{}.err", args.join("_").replace('/', "_")));
        let mut child = Command::new("python3")
            .arg("-u")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("running python3");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Python {
            child: Some(child),
            lines,
            stderr,
        }
    }

    /// The next line it prints (within `limit`).
    pub fn line(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(_) => panic!(
                "python printed nothing within {limit:?}: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
        }
    }

    /// Waits for its end (within `limit`) and returns the lines it printed since the
    /// last `line`; it must exit with status 0.
    pub fn finish(mut self, limit: Duration) -> Vec<String> {
        let child = self.child.take().expect("running");
        let out = wait_output(child, limit, "python3");
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(
            out.status.success(),
            "python3 failed ({}): {err}",
            out.status
        );
        // Its stdout is at its end: the reader forwards the last lines and stops.
        self.lines.iter().collect()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
