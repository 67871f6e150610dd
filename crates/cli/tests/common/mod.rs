//! Helpers of the tests that run the `synack` binary against the kernel, each inside a
//! private network namespace the test makes (`synack_device::netns`).

#![allow(dead_code)]

pub mod curl;
mod proc;

pub use proc::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub const SYNACK: &str = env!("CARGO_BIN_EXE_synack");

/// A `synack` command to run with the test's control-socket directory.
pub fn synack(xdg: &Path) -> Command {
    let mut c = Command::new(SYNACK);
    c.env("XDG_RUNTIME_DIR", xdg);
    c
}

/// Runs `synack args` to its end (within `limit`), returning its output.
pub fn run(xdg: &Path, args: &[&str], limit: Duration) -> Output {
    let child = synack(xdg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running synack");
    wait_output(child, limit, &format!("synack {}", args.join(" ")))
}

/// A running `synack serve`, stopped by SIGTERM when dropped.
pub struct Serve {
    child: Option<Child>,
    /// What it printed before it said it serves.
    pub banner: Vec<String>,
    stderr: PathBuf,
}

impl Serve {
    /// Starts `synack serve args` and waits until it says it serves.
    pub fn start(xdg: &Path, args: &[&str]) -> Serve {
        Serve::start_command(xdg, "serve", args)
    }

    /// Starts `synack command args` (a command that serves until interrupted, such as
    /// `serve` or `forward`) and waits until it says it serves.
    pub fn start_command(xdg: &Path, command: &str, args: &[&str]) -> Serve {
        let stderr = xdg.join(format!(
            "{command}-{}.err",
            args.join("_").replace(['/', ':', ','], "_")
        ));
        let mut child = synack(xdg)
            .arg(command)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("running synack serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.starts_with("serving until interrupted") => break,
                Ok(line) => banner.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "synack serve {args:?} did not come up: {banner:?}\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
            }
        }
        Serve {
            child: Some(child),
            banner,
            stderr,
        }
    }

    /// Stops it (SIGTERM) and checks that it ended cleanly.
    pub fn stop(mut self) {
        let child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let out = wait_output(child, Duration::from_secs(30), "synack serve after SIGTERM");
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(
            out.status.success(),
            "synack serve ended with {}: {err}",
            out.status
        );
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
