//! `synack sysctl`: the engine's knobs with their values, as Linux's `sysctl` prints
//! them (`net.ipv4.tcp_syn_retries = 6`): `-a` every knob, or the ones named. The
//! values are the defaults (Linux's), with any `--sysctl NAME=VALUE` applied first, so
//! the command also checks a setting before it is given to another command.

use std::process::ExitCode;

use clap::Args;
use synack::Config;

use crate::args;

/// Options of `synack sysctl`.
#[derive(Args, Debug)]
pub struct SysctlArgs {
    /// List every knob.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Print only the values, not the names (as `sysctl -n`).
    #[arg(short = 'n', long = "values")]
    pub values_only: bool,
    /// Apply a setting first (repeatable), as the other commands' --sysctl takes it.
    #[arg(long, value_name = "NAME=VALUE", value_parser = args::sysctl)]
    pub sysctl: Vec<(String, String)>,
    /// Knobs to print, by their Linux names (net.ipv4.tcp_sack, tcp_sack or
    /// net/ipv4/tcp_sack).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// Runs `synack sysctl`.
pub fn run(args: &SysctlArgs) -> ExitCode {
    let mut config = Config::default();
    for (name, value) in &args.sysctl {
        if let Err(e) = config.set_sysctl(name, value) {
            eprintln!("synack sysctl: --sysctl {name}={value}: {e}");
            return ExitCode::from(2);
        }
    }
    if !args.all && args.names.is_empty() {
        eprintln!(
            "synack sysctl: name a knob (synack sysctl net.ipv4.tcp_sack) or list them all \
             (synack sysctl -a)"
        );
        return ExitCode::from(2);
    }
    let mut rows = Vec::new();
    if args.all {
        rows = config.sysctls();
    }
    let mut failed = false;
    for name in &args.names {
        match (Config::sysctl_name(name), config.sysctl(name)) {
            (Some(full), Ok(value)) => rows.push((full, value)),
            _ => {
                eprintln!(
                    "synack sysctl: no knob `{name}`; `synack sysctl -a` lists the {} the \
                     engine has",
                    Config::KNOBS.len()
                );
                failed = true;
            }
        }
    }
    for (name, value) in rows {
        if args.values_only {
            println!("{value}");
        } else {
            println!("{name} = {value}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
