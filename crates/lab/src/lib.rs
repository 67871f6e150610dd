//! synack-lab: the incidents of the seed articles, as labs.
//!
//! Each lab is a deterministic scenario on synack's simulated network (`synack-sim`)
//! with synack stacks at both ends. Running one gives a [`Report`]: a short narrative,
//! the key segments as a [`Ladder`] (the seeds' two-column diagrams, with each side's
//! state), the counters that matter ([`CounterSnapshot`], as `netstat -s` and `ss -s`
//! show them), the lab's figures (a struct of its own, serialized to JSON) and its plots
//! ([`Plot`]). A report prints as text ([`Report::to_text`]), JSON ([`Report::to_json`])
//! or one self-contained HTML page with SVG diagrams ([`Report::to_html`]).
//!
//! Every lab takes [`Options`]: a seed and any number of sysctls, applied with
//! `Config::set_sysctl` to every stack of the lab, so a reader can turn a knob and run it
//! again. A lab that compares settings side by side (cookies off against on, Reno against
//! CUBIC) sets its own variable per variant, on top of the reader's knobs; the narrative
//! says which.
//!
//! ```
//! let report = synack_lab::run("handshake", &synack_lab::Options::new(1)).unwrap();
//! assert!(report.to_text().contains("SYN-ACK seq=y ack=x+1"));
//! ```

#![warn(missing_docs)]

pub mod html;
pub mod labs;
pub mod ladder;
pub mod plot;
pub mod report;
pub mod world;

use std::fmt;

use serde::Serialize;
use synack::{Config, ConfigError};

pub use labs::LABS;
pub use ladder::Ladder;
pub use plot::{Plot, Series};
pub use report::{CounterSnapshot, Outcome, Report, SsSummary};

/// What a lab run takes from the reader: a seed and sysctls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    /// The seed of every random choice: the network's and each stack's (ISNs, ports,
    /// timestamp offsets). The same seed gives the same run, bit for bit.
    pub seed: u64,
    /// Sysctls as `(name, value)`, applied in order to every stack of the lab.
    pub sysctls: Vec<(String, String)>,
}

impl Options {
    /// Options with `seed` and no sysctls.
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            sysctls: Vec::new(),
        }
    }

    /// Adds a sysctl (builder style).
    pub fn sysctl(mut self, name: &str, value: &str) -> Options {
        self.sysctls.push((name.to_string(), value.to_string()));
        self
    }

    /// Parses `name=value`, as `sysctl -w` takes it.
    pub fn parse_sysctl(text: &str) -> Result<(String, String), LabError> {
        match text.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(LabError::BadSysctlSyntax(text.to_string())),
        }
    }

    /// Checks that every sysctl names a knob and has a value it takes.
    pub fn validate(&self) -> Result<(), LabError> {
        let mut c = Config::default();
        for (k, v) in &self.sysctls {
            c.set_sysctl(k, v).map_err(LabError::Sysctl)?;
        }
        Ok(())
    }

    /// The configuration of one stack of a lab: Linux's defaults, then the lab's own
    /// settings (`lab`), then the reader's sysctls, then `overrides` (the variable a
    /// variant sets), with a seed derived from the run's seed and `salt`.
    pub fn config(
        &self,
        salt: u64,
        lab: impl FnOnce(&mut Config),
        overrides: &[(&str, &str)],
    ) -> Result<Config, LabError> {
        let mut c = Config::default();
        lab(&mut c);
        for (k, v) in &self.sysctls {
            c.set_sysctl(k, v).map_err(LabError::Sysctl)?;
        }
        for (k, v) in overrides {
            c.set_sysctl(k, v).map_err(LabError::Sysctl)?;
        }
        c.seed = Some(mix(self.seed, salt));
        Ok(c)
    }

    /// Whether the reader set the knob `name` (with or without its prefix).
    pub fn has(&self, name: &str) -> bool {
        self.sysctls
            .iter()
            .any(|(k, _)| k.replace('/', ".").ends_with(name))
    }
}

/// A 64-bit mix of a seed and a salt (splitmix64), for per-stack seeds.
pub(crate) fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why a lab could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabError {
    /// No lab has that name.
    UnknownLab(String),
    /// A `--sysctl` argument is not `name=value`.
    BadSysctlSyntax(String),
    /// A sysctl names no knob or has a bad value.
    Sysctl(ConfigError),
    /// The scenario could not go on (a socket call failed where the lab needs it to
    /// succeed, typically because a knob makes the scenario impossible).
    Scenario(String),
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::UnknownLab(name) => write!(
                f,
                "no lab named `{name}`; `synack lab` lists them: {}",
                LABS.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
            ),
            LabError::BadSysctlSyntax(s) => write!(
                f,
                "`{s}` is not a sysctl setting: write it as name=value, e.g. net.ipv4.tcp_tw_reuse=1"
            ),
            LabError::Sysctl(e) => write!(f, "{e}"),
            LabError::Scenario(s) => write!(f, "the scenario could not go on: {s}"),
        }
    }
}

impl std::error::Error for LabError {}

/// Runs the lab called `name`.
pub fn run(name: &str, opts: &Options) -> Result<Report, LabError> {
    let lab = find(name).ok_or_else(|| LabError::UnknownLab(name.to_string()))?;
    opts.validate()?;
    (lab.run)(opts)
}

/// The lab called `name`, if any.
pub fn find(name: &str) -> Option<&'static labs::LabDef> {
    LABS.iter().find(|l| l.name == name)
}
