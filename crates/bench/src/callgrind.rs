//! Instruction counts from callgrind, which the machine's load does not change.
//!
//! The binary runs itself under `valgrind --tool=callgrind` with a hidden `--measure`
//! command that runs one workload once; collection is on only inside the workload's
//! timed function (`measured_*`, toggled by `--toggle-collect`), so setup and teardown
//! are not counted, and the count is read from the `summary:` line of callgrind's output.

use std::path::Path;
use std::process::Command;

use crate::Variant;

/// What the child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// `true` for synack, `false` for smoltcp.
    pub synack: bool,
    /// `true` for bulk (`n` bytes), `false` for churn (`n` lifecycles).
    pub bulk: bool,
    /// How the stacks are used.
    pub variant: Variant,
    /// Bytes or lifecycles.
    pub n: u64,
}

impl Job {
    /// The arguments of the hidden `--measure` command.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--measure".into(),
            if self.synack { "synack" } else { "smoltcp" }.into(),
            if self.bulk { "bulk" } else { "churn" }.into(),
            if self.variant.zero_copy { "zc" } else { "copy" }.into(),
            if self.variant.timestamps {
                "ts"
            } else {
                "nots"
            }
            .into(),
            self.n.to_string(),
        ]
    }

    /// Parses what [`Job::args`] wrote (after `--measure`).
    pub fn parse(args: &[String]) -> Result<Job, String> {
        let [stack, work, zc, ts, n] = args else {
            return Err("--measure STACK bulk|churn zc|copy ts|nots N".into());
        };
        Ok(Job {
            synack: match stack.as_str() {
                "synack" => true,
                "smoltcp" => false,
                o => return Err(format!("unknown stack {o}")),
            },
            bulk: work == "bulk",
            variant: Variant {
                zero_copy: zc == "zc",
                timestamps: ts == "ts",
            },
            n: n.parse().map_err(|_| format!("not a number: {n}"))?,
        })
    }

    /// Runs the workload once, in this process.
    pub fn run(&self, p: &crate::Params) -> Result<(), String> {
        use crate::{smoltcp_side as m, synack_side as s};
        let v = self.variant;
        match (self.synack, self.bulk) {
            (true, true) => s::bulk(self.n, p.bulk_buf, v).map(drop),
            (false, true) => m::bulk(self.n, p.bulk_buf, v).map(drop),
            (true, false) => s::churn(self.n, p.concurrency, p.churn_buf, v).map(drop),
            (false, false) => m::churn(self.n, p.concurrency, p.churn_buf, v).map(drop),
        }
    }
}

/// Whether valgrind can be run.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The instructions `job` executes inside its timed function, counted by callgrind
/// running `exe` (this binary).
pub fn count(exe: &Path, job: &Job) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!(
        "synack-bench-{}-{}.callgrind",
        std::process::id(),
        job.args().join("-")
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*measured_*")
        .arg(exe)
        .args(job.args())
        .output()
        .map_err(|e| format!("cannot run valgrind: {e} (install it: apt-get install valgrind)"))?;
    if !status.status.success() {
        return Err(format!(
            "valgrind failed on {:?}: {}",
            job.args(),
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    summary(&text).ok_or_else(|| format!("no summary line in {}", out.display()))
}

/// The event total of a callgrind output file (its `summary:` or `totals:` line).
pub fn summary(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_args_round_trip() {
        assert_eq!(summary("events: Ir\nsummary: 12345\n"), Some(12345));
        assert_eq!(summary("totals: 7\n"), Some(7));
        assert_eq!(summary("nothing"), None);
        let job = Job {
            synack: false,
            bulk: true,
            variant: Variant {
                zero_copy: true,
                timestamps: false,
            },
            n: 99,
        };
        assert_eq!(Job::parse(&job.args()[1..]).unwrap(), job);
    }
}
