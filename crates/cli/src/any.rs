//! `--any`: terminating connections to any destination routed into the TUN interface
//! (`synack serve --any`, `synack forward --any`), as a VPN client or a tun-to-proxy
//! tool does: the prefixes it takes, the routes that bring them, the listener's filter.

use std::process::Command;

use synack::{AnyFilter, Prefix};

/// Parses one prefix of `--any` (`198.51.100.0/24`, `2001:db8::/32`, or an address).
pub fn prefix(s: &str) -> Result<Prefix, String> {
    s.trim().parse()
}

/// The filter of an any-address listener: `prefixes` (none: every address), and `port`
/// alone if given (otherwise every port).
pub fn filter(prefixes: &[Prefix], port: Option<u16>) -> AnyFilter {
    let mut f = AnyFilter::all();
    f.prefixes = prefixes.to_vec();
    if let Some(p) = port {
        f = f.ports(p, p);
    }
    f
}

/// Routes each prefix into interface `tun` (`ip route add PREFIX dev TUN`), so that the
/// kernel sends connections to those networks to synack. The routes go with the
/// interface.
pub fn add_routes(prefixes: &[Prefix], tun: &str) -> Result<(), String> {
    for p in prefixes {
        let net = p.to_string();
        let out = Command::new("ip")
            .args(["route", "add", &net, "dev", tun])
            .output()
            .map_err(|e| {
                format!(
                    "--any {net}: cannot run `ip` to route it into {tun}: {e} (install iproute2)"
                )
            })?;
        if !out.status.success() {
            return Err(format!(
                "--any {net}: cannot route it into {tun}: {} (is the network already routed elsewhere? see `ip route get {}`)",
                String::from_utf8_lossy(&out.stderr).trim(),
                p.addr
            ));
        }
    }
    Ok(())
}

/// How the banner names what `--any` takes.
pub fn describe(prefixes: &[Prefix], port: Option<u16>) -> String {
    let nets = if prefixes.is_empty() {
        "any address".to_string()
    } else {
        prefixes
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match port {
        Some(p) => format!("{nets}, port {p}"),
        None => format!("{nets}, any port"),
    }
}
