//! Receive-buffer autotuning (`tcp_moderate_rcvbuf`, Linux's dynamic right-sizing) on a
//! long, fast path: 40 Mbit/s with an 80 ms round trip holds 400 kB in flight, three
//! times what the default buffer (`tcp_rmem[1]` = 128 KiB, about 80 kB of window) can
//! offer. With autotuning the receiver's buffer grows with what the application reads
//! per round trip and the path fills; with it off the window stays where the default
//! buffer puts it and the transfer runs at a fifth of the link.

mod harness;

use std::time::Duration;

use synack::{Config, SockOpt, SockOptName, Stack};
use synack_sim::{LinkConfig, Pair};

const RATE: u64 = 40_000_000;
const ONE_WAY: Duration = Duration::from_millis(40);

/// What one bulk transfer achieved: payload bytes the server's application read between
/// the second and the fourth second, and the server socket's SO_RCVBUF at the end.
struct Run {
    read_in_window: usize,
    rcvbuf: usize,
}

fn bulk(moderate: bool) -> Run {
    let config = Config {
        tcp_moderate_rcvbuf: moderate,
        ..Config::default()
    };
    let link = LinkConfig::ideal(ONE_WAY).with_rate(RATE);
    let mut pair: Pair<Stack> = harness::pair_with(7, link.clone(), link, config, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(2));
    // The sender's buffer is not the limit under test.
    pair.client()
        .set_option(ch, SockOpt::SendBuffer(4 << 20))
        .unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let start = pair.now();
    let (from, to) = (
        start + Duration::from_secs(2),
        start + Duration::from_secs(4),
    );
    let mut read_in_window = 0;
    let mut buf = vec![0u8; 64 * 1024];
    pair.run_until(to, |p| {
        while p.client().send(ch, &chunk).is_ok() {}
        loop {
            match p.server().recv(sh, &mut buf) {
                Ok(n) if n > 0 => {
                    let now = p.now();
                    if now >= from && now < to {
                        read_in_window += n;
                    }
                }
                _ => break,
            }
        }
        false
    });
    let rcvbuf = match pair.server().get_option(sh, SockOptName::RecvBuffer) {
        Ok(SockOpt::RecvBuffer(n)) => n,
        other => panic!("SO_RCVBUF: {other:?}"),
    };
    Run {
        read_in_window,
        rcvbuf,
    }
}

#[test]
fn long_fast_path_fills_with_autotuning_and_not_without() {
    let link_bytes = (RATE / 8 * 2) as usize; // two seconds of the link
    let tuned = bulk(true);
    let fixed = bulk(false);
    let default_rcvbuf = Config::default().tcp_rmem[1];
    eprintln!(
        "2 s of a {RATE} bit/s link carry {link_bytes} bytes: autotuned {} (SO_RCVBUF {}), \
         fixed {} (SO_RCVBUF {})",
        tuned.read_in_window, tuned.rcvbuf, fixed.read_in_window, fixed.rcvbuf
    );
    assert!(
        tuned.read_in_window * 100 >= link_bytes * 80,
        "autotuned: {} of {} bytes in 2 s (SO_RCVBUF {})",
        tuned.read_in_window,
        link_bytes,
        tuned.rcvbuf
    );
    assert!(
        tuned.rcvbuf > 2 * default_rcvbuf,
        "autotuning grew SO_RCVBUF only to {}",
        tuned.rcvbuf
    );
    assert!(
        fixed.read_in_window * 100 <= link_bytes * 30,
        "without autotuning: {} of {} bytes in 2 s",
        fixed.read_in_window,
        link_bytes
    );
    assert_eq!(fixed.rcvbuf, default_rcvbuf);
}
