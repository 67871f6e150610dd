//! Blind in-window attacks on an established connection (RFC 5961): an off-path attacker
//! who knows the 4-tuple but not the sequence numbers sends RSTs, SYNs and data with
//! random sequence and acknowledgment numbers. Each attack's success rate is measured and
//! held to the odds the RFC gives its defences, and the challenge ACKs the attack provokes
//! to `tcp_challenge_ack_limit` and `tcp_invalid_ratelimit`.
//!
//! To give the attacker the best odds, the connection has a large receive window (64 MB
//! buffer, window scale 11, so one random sequence number in 64 lands in the window) and
//! no timestamps (PAWS would add a TSval to guess). Without RFC 5961, a random RST or SYN
//! in the window would reset the connection (RFC 793), and random data in the window with
//! any acknowledgment number at or below SND.NXT would be taken; each test counts how many
//! of its random segments were such hits, so it fails if it stops exercising the defence.

mod common;

use core::time::Duration;

use common::*;
use synack::wire::{Control, SeqNum};
use synack::State;

/// 2^32, the size of the sequence space.
const SPACE: f64 = 4_294_967_296.0;
/// The receive buffer (tcp_rmem max and default): 64 MB, window scale 11.
const RCVBUF: usize = 1 << 26;

/// splitmix64: a fixed-seed generator, so every run sends the same segments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn seq(&mut self) -> SeqNum {
        SeqNum(self.next() as u32)
    }
}

/// The most successes an attack with per-segment odds `p` may have in `n` tries: the mean
/// plus six standard deviations (Poisson), rounded down.
fn allowed(n: u64, p: f64) -> u64 {
    let mean = n as f64 * p;
    (mean + 6.0 * mean.sqrt()).floor() as u64
}

/// What the test knows about the connection under attack.
struct Target {
    c: Conn,
    /// RCV.NXT and the window the stack advertises (scaled).
    rcv_nxt: SeqNum,
    rcv_wnd: u32,
    /// SND.UNA = SND.NXT (nothing in flight) and MAX.SND.WND.
    snd_nxt: SeqNum,
    max_snd_wnd: u32,
}

impl Target {
    fn in_window(&self, seq: SeqNum, len: u32) -> bool {
        // RFC 9293 3.10.7.4: the segment overlaps [RCV.NXT, RCV.NXT + RCV.WND).
        let end = seq + len;
        end.after(self.rcv_nxt) && seq.before(self.rcv_nxt + self.rcv_wnd)
    }
}

/// An established passive connection whose receive window has opened to half its 64 MB
/// buffer: the peer negotiated window scaling with a shift of 0 (so MAX.SND.WND is
/// 65535), then sent 34 MB that the application read.
fn target(config: impl FnOnce(&mut synack::Config)) -> (Harness, Target) {
    let mut h = Harness::with_config(|c| {
        c.tcp_rmem = [4096, RCVBUF, RCVBUF];
        c.tcp_timestamps = false;
        config(c);
    });
    let l = h.listen(16);
    let mut syn = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1460);
    syn.options.window_scale = Some(0);
    let mut c = h.passive_syn(l, PEER_PORT, syn);
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let (handle, _) = h.stack.accept(l).expect("accept");
    c.handle = handle;
    assert_eq!(h.state(handle), State::Established);
    // 60000-byte segments (as a GRO'd burst arrives): each opens the window by twice
    // its size (Linux's tcp_grow_window), so 560 of them open it to the clamp (the buffer's payload share).
    let chunk = vec![0x61u8; 60_000];
    let mut at = 1;
    for _ in 0..560 {
        h.send(&c, pkt(".", c.p(at), c.l(1)).data(&chunk));
        at += 60_000;
        h.read_all(handle).expect("read");
        // The stack's ACKs go out, opening the window the peer sends into (Linux
        // drops in-order data past the right edge it offered).
        h.output();
    }
    h.advance(Duration::from_millis(300));
    // A window update after the reads: the last ACK shows the window.
    h.send(&c, pkt(".", c.p(at), c.l(1)).data(&chunk));
    at += 60_000;
    h.read_all(handle).expect("read");
    let out = h.advance(Duration::from_millis(300));
    let last = out.last().expect("the stack acknowledges the data");
    assert_eq!(last.ack, Some(c.p(at)), "everything is acknowledged");
    let (_, rcv_wscale) = h
        .stack
        .socket_info(handle)
        .and_then(|i| i.wscale)
        .expect("window scaling");
    let rcv_wnd = u32::from(last.window) << rcv_wscale;
    assert!(
        rcv_wnd >= RCVBUF as u32 / 2,
        "the window opened to half the buffer: {rcv_wnd}"
    );
    h.events();
    let t = Target {
        c,
        rcv_nxt: c.p(at),
        rcv_wnd,
        snd_nxt: c.l(1),
        max_snd_wnd: 65535,
    };
    (h, t)
}

/// Blind RSTs (RFC 5961 section 3): only SEG.SEQ = RCV.NXT resets, so a random RST
/// succeeds with odds 1/2^32; one elsewhere in the window earns a challenge ACK.
#[test]
fn blind_rst_succeeds_only_at_the_rfc_5961_odds() {
    let (mut h, t) = target(|_| {});
    let mut rng = Rng(0x5961_0001);
    let n = 20_000u64;
    let mut in_window = 0;
    for _ in 0..n {
        let seq = rng.seq();
        if seq == t.rcv_nxt {
            continue; // the one value that is meant to work
        }
        in_window += u64::from(t.in_window(seq, 1));
        h.now += Duration::from_micros(100);
        h.send(&t.c, pkt("R", seq, SeqNum(0)));
        h.output();
    }
    // Every sequence number around RCV.NXT, and the window's edges, but RCV.NXT itself.
    let edges = [
        t.rcv_nxt + t.rcv_wnd - 1,
        t.rcv_nxt + t.rcv_wnd,
        t.rcv_nxt - 1,
    ];
    for seq in (1..=2000u32)
        .flat_map(|k| [t.rcv_nxt + k, t.rcv_nxt - k])
        .chain(edges)
    {
        in_window += u64::from(t.in_window(seq, 1));
        h.now += Duration::from_micros(100);
        h.send(&t.c, pkt("R", seq, SeqNum(0)));
        h.output();
    }
    let resets = h.stack.stats().EstabResets;
    let odds = 1.0 / SPACE;
    assert!(
        resets <= allowed(n, odds),
        "{resets} resets from {n} blind RSTs; RFC 5961 odds {odds:e} allow {}",
        allowed(n, odds)
    );
    assert_eq!(h.state(t.c.handle), State::Established);
    assert!(
        in_window >= 2000,
        "the attack must put RSTs in the window ({in_window}), where RFC 793 would reset"
    );
    assert!(
        h.stack.stats().TCPChallengeACK > 0,
        "in-window RSTs are challenged"
    );
    // The one RST that is meant to work does: the measurement can see a success.
    h.send(&t.c, pkt("R", t.rcv_nxt, SeqNum(0)));
    assert_eq!(h.stack.stats().EstabResets, 1);
    assert_eq!(h.state(t.c.handle), State::Closed);
}

/// Blind SYNs (RFC 5961 section 4): a SYN in a synchronized state never resets; it is
/// answered by a challenge ACK wherever it lands. The odds are zero.
#[test]
fn blind_syn_never_resets() {
    let (mut h, t) = target(|_| {});
    let mut rng = Rng(0x5961_0002);
    let n = 5_000u64;
    let mut in_window = 0;
    for _ in 0..n {
        let seq = rng.seq();
        in_window += u64::from(t.in_window(seq, 1));
        h.now += Duration::from_micros(100);
        h.send(&t.c, pkt("S", seq, SeqNum(0)));
        h.output();
    }
    for k in 0..100 {
        h.send(&t.c, pkt("S", t.rcv_nxt + k, SeqNum(0)));
        h.output();
    }
    let s = h.stack.stats();
    assert_eq!(s.EstabResets, 0, "a SYN reset the connection");
    assert_eq!(s.TCPSYNChallenge, n + 100, "every SYN is challenged");
    assert_eq!(h.state(t.c.handle), State::Established);
    assert!(
        in_window >= 50,
        "SYNs must land in the window ({in_window})"
    );
}

/// Blind data (RFC 5961 section 5): data is taken only if its sequence number overlaps
/// the window and its ACK lies in [SND.UNA - MAX.SND.WND, SND.NXT], so a random segment
/// with L bytes succeeds with odds (RCV.WND + L - 1)/2^32 * (MAX.SND.WND + 1)/2^32.
#[test]
fn blind_data_injection_succeeds_only_at_the_rfc_5961_odds() {
    let (mut h, t) = target(|_| {});
    let mut rng = Rng(0x5961_0003);
    let n = 40_000u64;
    let payload = [0x41u8; 100];
    let len = payload.len() as u32;
    // Segments an RFC 793 receiver would take: in the window, ACK not beyond SND.NXT.
    let mut rfc793_hits = 0;
    let before = h.stack.stats().clone();
    for _ in 0..n {
        let (seq, ack) = (rng.seq(), rng.seq());
        rfc793_hits += u64::from(t.in_window(seq, len) && ack.before_eq(t.snd_nxt));
        h.now += Duration::from_micros(100);
        h.send(&t.c, pkt(".", seq, ack).data(&payload));
        h.output();
    }
    let s = h.stack.stats();
    // Data that passed the checks goes to the out-of-order queue (or is dropped there when
    // it is full), or in order to the application.
    let taken = (s.TCPOFOQueue - before.TCPOFOQueue)
        + (s.TCPOFODrop - before.TCPOFODrop)
        + h.stack.recv_queue(t.c.handle).expect("recv_queue") as u64;
    let odds = (f64::from(t.rcv_wnd) + f64::from(len) - 1.0) / SPACE
        * (f64::from(t.max_snd_wnd) + 1.0)
        / SPACE;
    assert!(
        taken <= allowed(n, odds),
        "{taken} of {n} blind data segments taken; RFC 5961 odds {odds:e} allow {}",
        allowed(n, odds)
    );
    assert!(
        rfc793_hits >= 200,
        "the attack must put data in the window with old ACKs ({rfc793_hits})"
    );
    assert_eq!(h.state(t.c.handle), State::Established);
    // The defence is the ACK check, not a closed window: data with an acceptable ACK
    // anywhere in the window is taken.
    let before = h.stack.stats().clone();
    for k in 0..10u32 {
        let seq = t.rcv_nxt + 1_000_000 * (k + 1);
        let ack = t.snd_nxt - (t.max_snd_wnd / 10) * k;
        h.send(&t.c, pkt(".", seq, ack).data(&payload));
        h.output();
    }
    let s = h.stack.stats();
    assert_eq!(
        (s.TCPOFOQueue - before.TCPOFOQueue) + (s.TCPOFODrop - before.TCPOFODrop),
        10,
        "segments with an acceptable ACK are taken"
    );
}

/// Challenge ACKs stay within `tcp_challenge_ack_limit` per second, stack-wide, and
/// within one per `tcp_invalid_ratelimit` per connection.
#[test]
fn challenge_acks_stay_within_the_limits() {
    // The stack-wide limit, with the per-connection spacing off.
    let limit = 100;
    let (mut h, t) = target(|c| {
        c.tcp_challenge_ack_limit = limit;
        c.tcp_invalid_ratelimit = Duration::ZERO;
    });
    let start = h.now;
    let mut per_second = std::collections::BTreeMap::new();
    for k in 0..3_000u32 {
        // 1000 in-window RSTs per second, none at RCV.NXT.
        h.now = start + Duration::from_millis(u64::from(k));
        h.send(&t.c, pkt("R", t.rcv_nxt + 1 + k, SeqNum(0)));
        for s in h.output() {
            assert_eq!(s.control, Control::None, "only ACKs answer the RSTs");
            *per_second.entry(s.at.total_millis() / 1000).or_insert(0u32) += 1;
        }
    }
    assert!(!per_second.is_empty(), "challenge ACKs are sent");
    for (second, count) in &per_second {
        assert!(
            *count <= limit,
            "{count} challenge ACKs in second {second}, over the limit of {limit}"
        );
    }
    assert_eq!(
        h.stack.stats().TCPChallengeACK,
        per_second.values().sum::<u32>() as u64
    );
    assert_eq!(h.state(t.c.handle), State::Established);

    // The per-connection spacing (tcp_invalid_ratelimit, 500 ms by default), with the
    // stack-wide limit off (Linux's default).
    let (mut h, t) = target(|_| {});
    let start = h.now;
    let mut times = Vec::new();
    for k in 0..3_000u32 {
        h.now = start + Duration::from_millis(u64::from(k));
        h.send(&t.c, pkt("R", t.rcv_nxt + 1 + k, SeqNum(0)));
        times.extend(h.output().iter().map(|s| s.at));
    }
    assert!(times.len() >= 5, "challenge ACKs are sent: {times:?}");
    assert!(
        times.len() <= 7,
        "at most one per 500 ms over 3 s: {times:?}"
    );
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(500),
            "challenge ACKs {:?} apart",
            pair[1] - pair[0]
        );
    }
}
