//! `synack lab`: lists the labs; `synack lab NAME` runs one and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use synack_lab::{LabError, Options, LABS};

/// Options of `synack lab`.
#[derive(Args, Debug, Clone)]
pub struct LabArgs {
    /// The lab to run; without it, the labs are listed.
    pub name: Option<String>,

    /// A sysctl for every stack of the lab, as `sysctl -w` takes it
    /// (e.g. net.ipv4.tcp_tw_reuse=1); repeat for several.
    #[arg(long = "sysctl", value_name = "NAME=VALUE", value_parser = parse_sysctl)]
    pub sysctls: Vec<(String, String)>,

    /// Seed of the network's and the stacks' randomness; the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Print the report as JSON (figures, counters, ladders, plots) instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as one self-contained HTML page with SVG diagrams.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

fn parse_sysctl(s: &str) -> Result<(String, String), String> {
    Options::parse_sysctl(s).map_err(|e| e.to_string())
}

/// Runs `synack lab`.
pub fn run(args: &LabArgs) -> ExitCode {
    let Some(name) = &args.name else {
        println!("labs (run one with `synack lab NAME [--sysctl k=v ...] [--seed N] [--json] [--html FILE]`):");
        for l in LABS {
            println!("  {:<18} {} (seeds {})", l.name, l.title, l.seeds);
        }
        return ExitCode::SUCCESS;
    };
    let opts = Options {
        seed: args.seed,
        sysctls: args.sysctls.clone(),
    };
    let report = match synack_lab::run(name, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synack lab: {e}");
            return match e {
                LabError::Scenario(_) => ExitCode::FAILURE,
                _ => ExitCode::from(2),
            };
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, report.to_html()) {
            eprintln!("synack lab: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("synack lab: wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
