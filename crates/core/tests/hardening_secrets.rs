//! Where the engine's secrets come from (issue 6, bug 10): by default from the operating
//! system's random source, so that peers cannot compute initial sequence numbers (RFC
//! 6528), timestamp offsets or ephemeral ports; only an explicitly seeded configuration
//! is reproducible.

use std::net::SocketAddr;

use synack::wire;
use synack::{Config, Instant, Stack};

/// The first SYN a new stack with `config` sends to the same peer at the same instant:
/// its bytes, and its sequence number and timestamp value.
fn first_syn(config: Config) -> (Vec<u8>, u32, u32) {
    let mut s = Stack::new(config);
    s.add_address("10.0.0.1".parse().unwrap());
    let h = s.socket();
    let peer: SocketAddr = "10.0.0.2:80".parse().unwrap();
    s.handle_timeout(Instant::from_secs(1));
    s.connect(h, peer).unwrap();
    let mut buf = [0u8; 1500];
    let n = s
        .poll_transmit(Instant::from_secs(1), &mut buf)
        .expect("room")
        .expect("a SYN");
    let (_, tcp) = wire::parse_datagram(&buf[..n], true).unwrap();
    let tsval = tcp.options.timestamp.expect("timestamps").tsval;
    (buf[..n].to_vec(), tcp.seq.0, tsval)
}

#[test]
fn default_secrets_are_unpredictable() {
    assert_eq!(Config::default().seed, None);
    let (_, seq_a, ts_a) = first_syn(Config::default());
    let (_, seq_b, ts_b) = first_syn(Config::default());
    // Two stacks that differ only in their OS-drawn secrets: the same ISN and the same
    // timestamp would happen by chance once in 2^64 runs.
    assert!(
        seq_a != seq_b || ts_a != ts_b,
        "two default stacks chose ISN {seq_a} and TSval {ts_a} alike"
    );
}

#[test]
fn seeded_secrets_are_reproducible() {
    assert_eq!(Config::seeded(42).seed, Some(42));
    let (a, ..) = first_syn(Config::seeded(42));
    let (b, ..) = first_syn(Config::seeded(42));
    assert_eq!(a, b, "the same seed gives the same SYN, bit for bit");
    let (c, seq_c, _) = first_syn(Config::seeded(43));
    let (_, seq_a, _) = first_syn(Config::seeded(42));
    assert_ne!(a, c);
    assert_ne!(seq_a, seq_c, "another seed, another ISN");
}
