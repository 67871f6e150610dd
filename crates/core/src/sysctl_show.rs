//! Reading the knobs back, as `sysctl NAME` and `sysctl -a` print them: every knob of
//! [`Config::KNOBS`] with its full name (`net.ipv4.` or `net.core.`) and its value in
//! the text [`Config::set_sysctl`] takes, so that a listing can be fed back.

use crate::config::{Config, ConfigError};

/// The knobs Linux keeps under `net.core.`; the others are `net.ipv4.`.
const CORE: &[&str] = &["somaxconn", "rmem_max", "wmem_max"];

/// A list of ports as Linux prints `ip_local_reserved_ports`: ascending, runs as
/// `a-b`, comma-separated.
fn port_ranges(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

impl Config {
    /// The full sysctl name of a knob (`tcp_sack` → `net.ipv4.tcp_sack`, `somaxconn` →
    /// `net.core.somaxconn`), accepting the forms [`Config::set_sysctl`] accepts;
    /// `None` for a name the engine has no knob for.
    pub fn sysctl_name(name: &str) -> Option<String> {
        let short = short(name);
        let known = Config::KNOBS.iter().find(|k| **k == short)?;
        let prefix = if CORE.contains(known) {
            "net.core."
        } else if known.starts_with("tcp_cubic.") {
            ""
        } else {
            "net.ipv4."
        };
        Some(format!("{prefix}{known}"))
    }

    /// A knob's value as `sysctl NAME` prints it, in the text [`Config::set_sysctl`]
    /// takes (seconds, milliseconds for the rate limits, tab-separated triples and
    /// pairs). `tcp_fastopen_key` left unset reads `(random per stack)`: each stack
    /// draws its own key from its secrets.
    pub fn sysctl(&self, name: &str) -> Result<String, ConfigError> {
        let b = |v: bool| u8::from(v).to_string();
        let s = short(name);
        Ok(match s.as_str() {
            "tcp_syn_retries" => self.tcp_syn_retries.to_string(),
            "tcp_synack_retries" => self.tcp_synack_retries.to_string(),
            "tcp_retries1" => self.tcp_retries1.to_string(),
            "tcp_retries2" => self.tcp_retries2.to_string(),
            "tcp_orphan_retries" => self.tcp_orphan_retries.to_string(),
            "tcp_max_orphans" => self.tcp_max_orphans.to_string(),
            "tcp_mem" => format!(
                "{}\t{}\t{}",
                self.tcp_mem[0], self.tcp_mem[1], self.tcp_mem[2]
            ),
            "tcp_fin_timeout" => self.tcp_fin_timeout.as_secs().to_string(),
            "tcp_max_tw_buckets" => self.tcp_max_tw_buckets.to_string(),
            "tcp_tw_reuse" => self.tcp_tw_reuse.to_string(),
            "tcp_tw_recycle" => b(self.tcp_tw_recycle),
            "tcp_syncookies" => self.tcp_syncookies.to_string(),
            "tcp_max_syn_backlog" => self.tcp_max_syn_backlog.to_string(),
            "somaxconn" => self.somaxconn.to_string(),
            "tcp_abort_on_overflow" => b(self.tcp_abort_on_overflow),
            "tcp_fastopen" => self.tcp_fastopen.to_string(),
            "tcp_fastopen_blackhole_timeout_sec" => {
                self.tcp_fastopen_blackhole_timeout_sec.to_string()
            }
            "tcp_fastopen_key" => match &self.tcp_fastopen_key {
                Some(k) => k.to_sysctl(),
                None => "(random per stack)".to_string(),
            },
            "tcp_keepalive_time" => self.tcp_keepalive_time.as_secs().to_string(),
            "tcp_keepalive_intvl" => self.tcp_keepalive_intvl.as_secs().to_string(),
            "tcp_keepalive_probes" => self.tcp_keepalive_probes.to_string(),
            "ip_local_port_range" => {
                format!(
                    "{}\t{}",
                    self.ip_local_port_range.0, self.ip_local_port_range.1
                )
            }
            "ip_local_reserved_ports" => port_ranges(&self.ip_local_reserved_ports),
            "tcp_timestamps" => b(self.tcp_timestamps),
            "tcp_sack" => b(self.tcp_sack),
            "tcp_window_scaling" => b(self.tcp_window_scaling),
            "tcp_rmem" => format!(
                "{}\t{}\t{}",
                self.tcp_rmem[0], self.tcp_rmem[1], self.tcp_rmem[2]
            ),
            "tcp_moderate_rcvbuf" => b(self.tcp_moderate_rcvbuf),
            "tcp_app_win" => self.tcp_app_win.to_string(),
            "tcp_adv_win_scale" => self.tcp_adv_win_scale.to_string(),
            "tcp_shrink_window" => b(self.tcp_shrink_window),
            "tcp_thin_linear_timeouts" => b(self.tcp_thin_linear_timeouts),
            "tcp_rto_max_ms" => self.rto_max.as_millis().to_string(),
            "tcp_wmem" => format!(
                "{}\t{}\t{}",
                self.tcp_wmem[0], self.tcp_wmem[1], self.tcp_wmem[2]
            ),
            "rmem_max" => self.rmem_max.to_string(),
            "wmem_max" => self.wmem_max.to_string(),
            "tcp_congestion_control" => self.tcp_congestion_control.to_string(),
            "tcp_invalid_ratelimit" => self.tcp_invalid_ratelimit.as_millis().to_string(),
            "tcp_challenge_ack_limit" => self.tcp_challenge_ack_limit.to_string(),
            "tcp_rfc1337" => b(self.tcp_rfc1337),
            "tcp_slow_start_after_idle" => b(self.tcp_slow_start_after_idle),
            "tcp_early_retrans" => self.tcp_early_retrans.to_string(),
            "tcp_dsack" => b(self.tcp_dsack),
            "tcp_reordering" => self.tcp_reordering.to_string(),
            "tcp_max_reordering" => self.tcp_max_reordering.to_string(),
            "tcp_frto" => self.tcp_frto.to_string(),
            "tcp_recovery" => self.tcp_recovery.to_string(),
            "tcp_cubic.hystart" => b(self.hystart.enabled),
            "tcp_cubic.hystart_detect" => self.hystart.detect.to_string(),
            "tcp_cubic.hystart_low_window" => self.hystart.low_window.to_string(),
            "tcp_cubic.hystart_ack_delta_us" => self.hystart.ack_delta_us.to_string(),
            "tcp_pingpong_thresh" => self.tcp_pingpong_thresh.to_string(),
            "tcp_notsent_lowat" => self.tcp_notsent_lowat.to_string(),
            "tcp_min_tso_segs" => self.tcp_min_tso_segs.to_string(),
            "tcp_tso_win_divisor" => self.tcp_tso_win_divisor.to_string(),
            "tcp_autocorking" => b(self.tcp_autocorking),
            "tcp_tso_rtt_log" => self.tcp_tso_rtt_log.to_string(),
            "tcp_pacing_ss_ratio" => self.tcp_pacing_ss_ratio.to_string(),
            "tcp_pacing_ca_ratio" => self.tcp_pacing_ca_ratio.to_string(),
            "ip_default_ttl" => self.ip_default_ttl.to_string(),
            "icmp_echo_ignore_all" => b(self.icmp_echo_ignore_all),
            "icmp_ratelimit" => self.icmp_ratelimit.as_millis().to_string(),
            "icmp_ratemask" => self.icmp_ratemask.to_string(),
            "ip_no_pmtu_disc" => self.ip_no_pmtu_disc.to_string(),
            "tcp_mtu_probing" => self.tcp_mtu_probing.to_string(),
            "tcp_ecn" => self.tcp_ecn.to_string(),
            "tcp_ecn_fallback" => b(self.tcp_ecn_fallback),
            "tcp_min_snd_mss" => self.tcp_min_snd_mss.to_string(),
            "tcp_base_mss" => self.tcp_base_mss.to_string(),
            "tcp_probe_threshold" => self.tcp_probe_threshold.to_string(),
            "tcp_probe_interval" => self.tcp_probe_interval.as_secs().to_string(),
            "tcp_mtu_probe_floor" => self.tcp_mtu_probe_floor.to_string(),
            _ => return Err(ConfigError::UnknownKnob(s)),
        })
    }

    /// Every knob as `sysctl -a` lists it: `(full name, value)`, sorted by name.
    pub fn sysctls(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = Config::KNOBS
            .iter()
            .filter_map(|k| Some((Config::sysctl_name(k)?, self.sysctl(k).ok()?)))
            .collect();
        all.sort();
        all
    }
}

/// The short name of a knob as given to `set_sysctl` (prefix and slashes off).
fn short(name: &str) -> String {
    crate::config::knob_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every knob reads back, and what it reads sets the same configuration again: a
    /// knob added to `set_sysctl` without a reader here fails this test.
    #[test]
    fn every_knob_reads_back_and_round_trips() {
        let mut c = Config::seeded(1);
        c.set_sysctl("ip_local_reserved_ports", "8080,9000-9002")
            .unwrap();
        c.set_sysctl("tcp_rmem", "4096 87380 6291456").unwrap();
        c.set_sysctl("tcp_fastopen_key", "00000001-00000002-00000003-00000004")
            .unwrap();
        assert_eq!(c.sysctls().len(), Config::KNOBS.len());
        for k in Config::KNOBS {
            let v = c.sysctl(k).unwrap_or_else(|e| panic!("{k}: {e}"));
            let mut again = Config::seeded(1);
            again
                .set_sysctl(k, &v)
                .unwrap_or_else(|e| panic!("{k} = {v}: {e}"));
            assert_eq!(again.sysctl(k).unwrap(), v, "{k}");
        }
        assert_eq!(
            c.sysctl("ip_local_reserved_ports").unwrap(),
            "8080,9000-9002"
        );
        assert_eq!(
            c.sysctl("net.ipv4.tcp_rmem").unwrap(),
            "4096\t87380\t6291456"
        );
        assert_eq!(
            Config::sysctl_name("somaxconn").as_deref(),
            Some("net.core.somaxconn")
        );
        assert_eq!(
            Config::sysctl_name("net/ipv4/tcp_sack").as_deref(),
            Some("net.ipv4.tcp_sack")
        );
        assert!(matches!(
            c.sysctl("tcp_nope"),
            Err(ConfigError::UnknownKnob(_))
        ));
    }
}
