//! What a failed script reports: the first mismatch and the exchange so far.

use std::fmt;

/// The first mismatch of a failed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Line of the script event that failed (0 when none applies).
    pub line: usize,
    /// That line's text, as written.
    pub source_line: String,
    /// What went wrong, e.g. `expected wscale 8, got wscale 7`.
    pub message: String,
    /// The actual packet, in the script's notation and numbering, when a packet is at fault.
    pub actual: Option<String>,
    /// Virtual time of the failure, microseconds since the start.
    pub time_us: i64,
    /// Every packet so far, tcpdump-style in script numbering, with its time and direction.
    pub exchange: Vec<String>,
}

impl Failure {
    /// A failure that is the script's own fault (parse error, unreadable file).
    pub fn script_error(line: usize, source_line: String, message: String) -> Failure {
        Failure {
            line,
            source_line,
            message,
            actual: None,
            time_us: 0,
            exchange: Vec::new(),
        }
    }
}

/// Formats microseconds as packetdrill prints times: `0.100000`.
pub(crate) fn secs(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let us = us.unsigned_abs();
    format!("{sign}{}.{:06}", us / 1_000_000, us % 1_000_000)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            writeln!(f, "  line {}: {}", self.line, self.source_line.trim())?;
        }
        writeln!(f, "  error: {}", self.message)?;
        if let Some(a) = &self.actual {
            writeln!(f, "  actual: {a}")?;
        }
        writeln!(f, "  at time {} s", secs(self.time_us))?;
        if !self.exchange.is_empty() {
            writeln!(f, "  exchange so far:")?;
            for l in &self.exchange {
                writeln!(f, "    {l}")?;
            }
        }
        Ok(())
    }
}
