//! Transmission units of a bulk transfer on a 1 ms path, as Linux's tcp_tso_autosize
//! sizes them: a millisecond of the pacing rate plus `64 KiB >> (min_rtt >>
//! tcp_tso_rtt_log)`, at most half of cwnd and the 64 KiB GSO limit. Each unit ends with
//! PSH (the stack's segments of a unit are what a device with segmentation offload gets
//! as one super-segment), so the runs of segments between PSH marks are the units.

mod harness;

use std::time::Duration;

use synack::{Config, SockOpt, Stack};
use synack_sim::{LinkConfig, Pair};

/// The unit sizes, in segments, of a 16 MB transfer from client to server over a
/// 1 Gbit/s link with `one_way` delay each way, in the order sent.
fn units(one_way: Duration, config: Config) -> (Vec<u32>, u32) {
    let link = LinkConfig::ideal(one_way).with_rate(1_000_000_000);
    let mut pair: Pair<Stack> = harness::pair_with(3, link.clone(), link, config, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(1));
    let log = harness::record(&mut pair, false);
    pair.client()
        .set_option(ch, SockOpt::SendBuffer(4 << 20))
        .unwrap();
    let total = 16 << 20;
    let chunk = vec![0x5a_u8; 256 * 1024];
    let (mut sent, mut read) = (0usize, 0usize);
    let mut buf = vec![0u8; 1 << 16];
    let deadline = pair.now() + Duration::from_secs(30);
    while read < total {
        assert!(pair.now() < deadline, "stalled at {read} of {total}");
        if sent < total {
            if let Ok(n) = pair
                .client()
                .send(ch, &chunk[..chunk.len().min(total - sent)])
            {
                sent += n;
            }
        }
        while let Ok(n) = pair.server().recv(sh, &mut buf) {
            if n == 0 {
                break;
            }
            read += n;
        }
        pair.step();
    }
    let mss = pair.client().tcp_info(ch).unwrap().snd_mss;
    let mut out = Vec::new();
    let mut run = 0;
    for p in log.borrow().iter().filter(|p| p.from_client) {
        let (_, t) = synack::wire::parse_datagram(&p.bytes, false).unwrap();
        if t.payload.is_empty() {
            continue;
        }
        run += 1;
        if t.psh {
            out.push(run);
            run = 0;
        }
    }
    (out, mss)
}

/// On a 1 ms path the minimum-RTT term alone is half of 64 KiB and the pacing rate adds
/// the rest: units are as large as half of cwnd allows, then as the skbs allow (half of
/// the peer's largest window, tcp_bound_to_half_wnd, which grows as the receiver
/// autotunes its buffer), up to the whole GSO limit, 45 segments of 1448 bytes (65215 /
/// 1448), while half of cwnd allows it (CUBIC grows cwnd slowly past HyStart's exit). Without the rate and RTT terms (the model synack had before), every unit was
/// `tcp_min_tso_segs`, 2.
#[test]
fn a_bulk_transfer_on_a_1_ms_path_sends_64_kib_units() {
    let (u, mss) = units(Duration::from_micros(500), Config::default());
    assert_eq!(mss, 1448);
    let segs: u32 = u.iter().sum();
    let mut hist = std::collections::BTreeMap::new();
    for &n in &u {
        *hist.entry(n).or_insert(0u32) += n;
    }
    // The second half of the transfer, by segments.
    let mut seen = 0;
    let (mut late, mut late_full) = (0, 0);
    for &n in &u {
        seen += n;
        if seen > segs / 2 {
            late += n;
            if n >= 30 {
                late_full += n;
            }
        }
    }
    println!(
        "1 ms path, 16 MB: {} units; segments by unit size {hist:?}; second half: {late_full} \
         of {late} segments in units of 30 segments or more",
        u.len()
    );
    assert_eq!(*u.iter().max().unwrap(), 45, "the GSO limit");
    assert!(
        f64::from(late_full) > 0.9 * f64::from(late),
        "{late_full} of {late} segments of the second half in units of 30 or more"
    );
}
