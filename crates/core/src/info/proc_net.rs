//! `/proc/net/tcp` and `/proc/net/tcp6` as Linux prints them (tcp4_seq_show,
//! tcp6_seq_show): the table that `netstat` and older tools read, and that scripts grep.

use core::fmt::Write;
use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use super::tcp::linux_state;
use super::SocketInfo;
use crate::stack::Stack;
use crate::state::State;

/// The header line of `/proc/net/tcp`.
const HEADER_V4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                         retrnsmt   uid  timeout inode";

/// The header line of `/proc/net/tcp6`.
const HEADER_V6: &str =
    "  sl  local_address                         remote_address                        \
                         st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

impl Stack {
    /// The stack's sockets as Linux's `/proc/net/tcp` (`v6` false: IPv4 sockets) or
    /// `/proc/net/tcp6` (`v6` true: IPv6 sockets, IPv4-mapped ones included) lists them:
    /// a header, then one line per socket, half-open request and TIME-WAIT entry with
    /// addresses in the kernel's hex (each 32-bit word in host order, as a little-endian
    /// machine prints it), the state number (`0A` for LISTEN), the queues, the timer
    /// (1 retransmit, 2 keepalive or FIN-WAIT-2, 3 TIME-WAIT, 4 zero-window probe, 0
    /// none or delayed ACK) with its time left in clock ticks (1/100 s), and, for full
    /// sockets, the RTO in ticks, the congestion window and the slow-start threshold
    /// (-1 while unset). User ids and inodes are 0: synack has no users or files.
    pub fn proc_net_tcp(&self, v6: bool) -> String {
        let mut out = String::from(if v6 { HEADER_V6 } else { HEADER_V4 });
        out.push('\n');
        let mine = self
            .sockets()
            .into_iter()
            .filter(|s| s.local.is_ipv6() == v6);
        for (sl, s) in mine.enumerate() {
            line(&mut out, sl, &s);
        }
        out
    }
}

/// An address as `%08X:%04X`, or for IPv6 four `%08X` words: each 32-bit word of the
/// address in network order read as a little-endian number.
fn hex_addr(out: &mut String, a: Option<SocketAddr>, v6: bool) {
    let (ip, port) = match a {
        Some(a) => (a.ip(), a.port()),
        None if v6 => (IpAddr::from([0u16; 8]), 0),
        None => (IpAddr::from([0u8; 4]), 0),
    };
    let octets: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    for word in octets.chunks_exact(4) {
        let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let _ = write!(out, "{w:08X}");
    }
    let _ = write!(out, ":{port:04X}");
}

/// Clock ticks (USER_HZ, 1/100 s), as jiffies_delta_to_clock_t prints them.
fn ticks(d: Duration) -> u128 {
    d.as_millis() / 10
}

fn line(out: &mut String, sl: usize, s: &SocketInfo) {
    let v6 = s.local.is_ipv6();
    let _ = write!(out, "{sl:4}: ");
    hex_addr(out, Some(s.local), v6);
    out.push(' ');
    hex_addr(out, s.remote, v6);
    let (tx, rx) = match s.state {
        // A listener's rx_queue is its accept queue; nothing is written on it.
        State::Listen => (0, s.recv_q),
        _ => (s.send_q, s.recv_q),
    };
    let (tr, when, retrans) = match (s.state, s.timer) {
        (State::TimeWait, Some(t)) => (3, ticks(t.remaining), 0),
        (_, Some(t)) => {
            let code = match t.name {
                "on" => 1,
                "keepalive" | "timewait" => 2,
                "persist" => 4,
                _ => 0,
            };
            let when = if code == 0 { 0 } else { ticks(t.remaining) };
            (code, when, t.retrans)
        }
        (_, None) => (0, 0, 0),
    };
    let _ = write!(
        out,
        " {:02X} {tx:08X}:{rx:08X} {tr:02X}:{when:08X} {retrans:08X} {:>5} {:>8} {}",
        linux_state(s.state),
        0,
        0,
        0
    );
    if s.cwnd != 0 || s.state == State::Listen {
        let ssthresh = s.ssthresh.map_or(-1, i64::from);
        let _ = write!(
            out,
            " 1 0000000000000000 {} 0 0 {} {ssthresh}",
            ticks(s.rto),
            s.cwnd
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(a: &str) -> String {
        let a: SocketAddr = a.parse().unwrap();
        let mut s = String::new();
        hex_addr(&mut s, Some(a), a.is_ipv6());
        s
    }

    #[test]
    fn addresses_print_as_a_little_endian_kernel_prints_them() {
        // What Linux on x86 shows for these in /proc/net/tcp and /proc/net/tcp6.
        assert_eq!(addr("127.0.0.1:8080"), "0100007F:1F90");
        assert_eq!(addr("192.168.0.2:22"), "0200A8C0:0016");
        assert_eq!(addr("[::1]:8080"), "00000000000000000000000001000000:1F90");
        assert_eq!(
            addr("[::ffff:192.0.2.1]:443"),
            "0000000000000000FFFF0000010200C0:01BB"
        );
    }

    #[test]
    fn listen_is_0a_as_in_tcp_states_h() {
        assert_eq!(linux_state(State::Listen), 0x0A);
        assert_eq!(linux_state(State::Established), 1);
        assert_eq!(linux_state(State::Closing), 11);
    }
}
