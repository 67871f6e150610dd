//! Reassembly and SACK abuse: a peer that sends tiny out-of-order pieces across the whole
//! receive window, and a peer that advertises a tiny MSS and SACKs every other segment
//! of a large flight. The memory the stack holds and the work it does per segment stay
//! bounded, measured deterministically: heap bytes and allocator calls made inside the
//! stack's calls (a counting allocator), segments sent per segment received, and the
//! reassembly queue's size as the counters show it (never wall time).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;

use common::*;
use synack::buffer::MAX_OOO_RANGES;
use synack::wire::{self, Control, SackBlock, SeqNum, TcpOptions, TcpRepr};
use synack::{SockOpt, Stack};

// ----- counting allocator: bytes and calls inside the stack's calls, per thread -----

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn track(bytes: i64, call: bool) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|l| l.set(l.get() + bytes));
            if call {
                let _ = CALLS.try_with(|c| c.set(c.get() + 1));
            }
        }
    });
}

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as i64, true);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as i64, true);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as i64), false);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as i64 - layout.size() as i64, true);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with its allocations counted.
fn counted<R>(f: impl FnOnce() -> R) -> R {
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    r
}

/// (live bytes, allocator calls) counted so far on this thread.
fn heap() -> (i64, u64) {
    (LIVE.with(|l| l.get()), CALLS.with(|c| c.get()))
}

// ----- driving the stack with counted calls -----

/// The stream's byte at sequence offset `i` (so reassembled data can be checked).
fn byte_at(i: u32) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 8)) as u8
}

struct Peer {
    h: Harness,
    c: Conn,
    buf: Vec<u8>,
    dgram: Vec<u8>,
}

impl Peer {
    /// Sends a segment from the peer; the stack's work is counted.
    fn send(&mut self, seq: SeqNum, ack: SeqNum, payload: &[u8], sack: &[SackBlock]) {
        let mut options = TcpOptions::default();
        for (slot, b) in options.sack_blocks.iter_mut().zip(sack) {
            *slot = Some(*b);
        }
        let repr = TcpRepr {
            src_port: self.c.peer_port,
            dst_port: self.c.local_port,
            seq,
            ack: Some(ack),
            control: Control::None,
            psh: false,
            ece: false,
            cwr: false,
            window: 65535,
            urgent: None,
            options,
            payload,
        };
        let n = wire::emit_datagram(
            &mut self.dgram,
            IpAddr::from(PEER_IP),
            IpAddr::from(LOCAL_IP),
            64,
            &repr,
        )
        .expect("emit");
        let (stack, now, d) = (&mut self.h.stack, self.h.now, &self.dgram[..n]);
        counted(|| stack.handle_packet(now, d));
    }

    /// Every segment the stack sends now (seq, len, ack, SACK blocks); counted.
    fn output(&mut self) -> Vec<(SeqNum, usize, SeqNum, usize)> {
        let mut out = Vec::new();
        loop {
            let (stack, now, buf) = (&mut self.h.stack, self.h.now, &mut self.buf);
            let Some(n) = counted(|| stack.poll_transmit(now, buf)).expect("64 KiB buffer") else {
                break;
            };
            let (_, tcp) = wire::parse_datagram(&self.buf[..n], true).expect("parses");
            out.push((
                tcp.seq,
                tcp.payload.len(),
                tcp.ack.unwrap_or_default(),
                tcp.options.sack().len(),
            ));
        }
        out
    }

    fn stack(&mut self) -> &mut Stack {
        &mut self.h.stack
    }
}

/// An established passive connection whose peer offered SACK, window scale 7 and `mss`.
fn connect(mss: u16) -> Peer {
    let mut h = Harness::new();
    let l = h.listen(16);
    let mut syn = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(mss);
    syn.options.sack_permitted = true;
    syn.options.window_scale = Some(7);
    let mut c = h.passive_syn(l, PEER_PORT, syn);
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    c.handle = h.stack.accept(l).expect("accept").0;
    h.events();
    Peer {
        h,
        c,
        buf: vec![0u8; 65536],
        dgram: vec![0u8; 65536],
    }
}

/// A peer sends one-byte pieces at every other sequence number across the whole receive
/// window (tens of thousands of segments, each needing a new out-of-order range). The
/// reassembly queue keeps at most MAX_OOO_RANGES ranges (Linux prunes its queue under
/// memory pressure; dropping out-of-order data is always safe), the stack's memory grows
/// by the receive buffer at most, no segment costs an allocation, and each is answered by
/// at most one ACK. Afterwards the real data still reassembles correctly.
#[test]
fn tiny_out_of_order_pieces_across_the_window_cost_bounded_memory_and_work() {
    let mut p = connect(1460);
    let c = p.c;
    // Open the window: 70 KB in order, read by the application.
    let mut at = 1u32;
    let chunk_len = 1460u32;
    for _ in 0..48 {
        let data: Vec<u8> = (at..at + chunk_len).map(byte_at).collect();
        p.send(c.p(at), c.l(1), &data, &[]);
        at += chunk_len;
        p.h.read_all(c.handle).expect("read");
        // The ACKs open the window as it goes (Linux drops in-order data past the
        // right edge it offered).
        p.output();
    }
    let acks = p.h.advance(core::time::Duration::from_millis(200));
    let window = acks
        .last()
        .map(|s| u32::from(s.window) << 7)
        .unwrap_or(65535);
    let rcv_nxt = at;
    let stats_before = p.stack().stats().clone();
    let (bytes0, calls0) = heap();
    let mut pieces = 0u32;
    let mut answers = 0usize;
    let mut max_sack_blocks = 0;
    for k in (2..window).step_by(2) {
        let off = rcv_nxt + k;
        p.send(c.p(off), c.l(1), &[byte_at(off)], &[]);
        let out = p.output();
        answers += out.len();
        max_sack_blocks = max_sack_blocks.max(out.iter().map(|o| o.3).max().unwrap_or(0));
        pieces += 1;
    }
    let (bytes1, calls1) = heap();
    let s = p.stack().stats().clone();
    let queued = s.TCPOFOQueue - stats_before.TCPOFOQueue;
    let dropped = s.TCPOFODrop - stats_before.TCPOFODrop;
    eprintln!(
        "{pieces} pieces across a {window}-byte window: {queued} queued, {dropped} dropped, \
         heap +{} bytes in {} allocator calls, {answers} segments sent",
        bytes1 - bytes0,
        calls1 - calls0
    );
    assert!(pieces >= 30_000, "the pieces cover the window: {pieces}");
    assert_eq!(
        queued + dropped,
        u64::from(pieces),
        "each piece counted once"
    );
    assert!(
        queued <= MAX_OOO_RANGES as u64,
        "the reassembly queue holds at most {MAX_OOO_RANGES} ranges: {queued} pieces queued"
    );
    let rcvbuf = match p
        .stack()
        .get_option(c.handle, synack::SockOptName::RecvBuffer)
    {
        Ok(SockOpt::RecvBuffer(n)) => n as i64,
        other => panic!("SO_RCVBUF: {other:?}"),
    };
    assert!(
        bytes1 - bytes0 <= rcvbuf + 4096,
        "the stack's heap grew by {} bytes, more than its {rcvbuf}-byte receive buffer",
        bytes1 - bytes0
    );
    // The connection was quiet for 200 ms, an RTO, so its drained receive ring went
    // back (stack/reclaim.rs): the pieces regrow it from one page to the window, a
    // doubling at a time, beside the few allocations of the reassembly itself.
    let regrowth = (window as usize)
        .div_ceil(4096)
        .next_power_of_two()
        .trailing_zeros()
        + 1;
    assert!(
        calls1 - calls0 <= 4 + u64::from(regrowth),
        "{} allocator calls for {pieces} segments: the per-segment path allocates",
        calls1 - calls0
    );
    assert!(
        answers <= pieces as usize,
        "{answers} segments sent for {pieces} received"
    );
    assert!(max_sack_blocks <= 4);
    // The real data fills the holes; the application reads the stream intact.
    let mut off = rcv_nxt;
    let end = rcv_nxt + window;
    let mut got = Vec::new();
    while off < end {
        let len = chunk_len.min(end - off);
        let data: Vec<u8> = (off..off + len).map(byte_at).collect();
        p.send(c.p(off), c.l(1), &data, &[]);
        off += len;
        p.output();
        got.extend(p.h.read_all(c.handle).unwrap_or_default());
    }
    let want: Vec<u8> = (rcv_nxt..end).map(byte_at).collect();
    assert_eq!(got.len(), want.len(), "every byte of the window is read");
    assert!(got == want, "the reassembled stream is intact");
}

/// A peer that advertises a tiny MSS (48 bytes, `tcp_min_snd_mss`'s default floor, which
/// synack sends no less than, as Linux) holds its
/// cumulative ACK and SACKs every other segment of a flight of thousands of segments,
/// the RFC 2018 way (the newest block first, then the three before it). The SACK
/// scoreboard keeps a bounded number of ranges, so each ACK costs a bounded amount of
/// work: no allocation (amortized), a bounded number of retransmissions, and the stack's
/// memory does not grow with the number of SACKed ranges.
#[test]
fn sacking_every_other_tiny_segment_costs_bounded_work_per_ack() {
    let mut p = connect(48);
    let c = p.c;
    p.stack()
        .set_option(c.handle, SockOpt::SendBuffer(2 << 20))
        .expect("SO_SNDBUF");
    let data = vec![0x42u8; 64 * 1024];
    let mut written = 0;
    while let Ok(n) = p.stack().send(c.handle, &data) {
        written += n;
        if n == 0 || written >= 2 << 20 {
            break;
        }
    }
    // Slow start: the peer acknowledges each round's flight after 10 ms.
    let mut una = c.l(1);
    let mut mss = 0;
    let mut sent_end = una;
    for _ in 0..20 {
        for (seq, len, _, _) in p.output() {
            mss = mss.max(len);
            if (seq + len as u32).after(sent_end) {
                sent_end = seq + len as u32;
            }
        }
        if (sent_end - una) as usize >= 2000 * mss.max(1) {
            break;
        }
        p.h.now += core::time::Duration::from_millis(10);
        una = sent_end;
        p.send(c.p(1), una, &[], &[]);
    }
    let flight = (sent_end - una) as u32;
    let mss = mss as u32;
    assert_eq!(mss, 48, "synack's smallest MSS (tcp_min_snd_mss)");
    let segments = flight / mss;
    assert!(segments >= 2000, "a flight of {segments} segments");
    // The SACK phase: segment 2j+1 is SACKed by ACK j, with the three previous blocks.
    let (bytes0, calls0) = heap();
    let mut max_out = 0;
    let mut total_out = 0;
    let mut blocks: Vec<SackBlock> = Vec::new();
    let acks = segments / 2;
    for j in 0..acks {
        let left = una + (2 * j + 1) * mss;
        blocks.insert(
            0,
            SackBlock {
                left,
                right: left + mss,
            },
        );
        blocks.truncate(4);
        p.h.now += core::time::Duration::from_micros(50);
        p.send(c.p(1), una, &[], &blocks);
        let out = p.output();
        max_out = max_out.max(out.len());
        total_out += out.len();
    }
    let (bytes1, calls1) = heap();
    eprintln!(
        "{acks} ACKs SACKing every other one of {segments} {mss}-byte segments: \
         heap +{} bytes in {} allocator calls, {total_out} segments sent (at most {max_out} \
         per ACK)",
        bytes1 - bytes0,
        calls1 - calls0
    );
    assert!(
        calls1 - calls0 <= u64::from(acks) / 16 + 16,
        "{} allocator calls for {acks} ACKs: the ACK path allocates",
        calls1 - calls0
    );
    // A constant, whatever the flight: a scoreboard that kept one range per SACKed
    // segment would hold 1,280 ranges (16 KB and more) here.
    assert!(
        bytes1 - bytes0 <= 8 * 1024,
        "{} bytes more while {acks} ACKs SACKed a flight of {segments} segments",
        bytes1 - bytes0
    );
    assert!(max_out <= 4, "up to {max_out} segments sent for one ACK");
    assert!(
        total_out <= acks as usize * 2,
        "{total_out} segments sent for {acks} ACKs"
    );
    // The peer finally acknowledges everything: the connection is whole.
    p.h.now += core::time::Duration::from_millis(10);
    p.send(c.p(1), sent_end, &[], &[]);
    p.output();
    assert_eq!(p.h.state(c.handle), synack::State::Established);
}
