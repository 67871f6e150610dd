//! The send buffer's accounting is the same whichever call writes: send() and the
//! zero-copy send_into() lay the bytes into the chunks Linux's tcp_sendmsg would make
//! skbs of (each charged its overhead), so lent writes fill the buffer with as much
//! payload as large ones, and a writer blocks at the same point.

mod common;

use common::*;
use synack::{Error, SockOpt};

/// A fresh established connection whose SO_SNDBUF is 16384 (a 32768-byte buffer),
/// written in `piece`-byte writes by `lend` (send_into) or send() until the buffer
/// refuses more; returns the bytes taken.
fn fill(piece: usize, lend: bool) -> usize {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack
        .set_option(c.handle, SockOpt::SendBuffer(16384))
        .unwrap();
    let data = vec![0x5au8; piece];
    let mut total = 0;
    for _ in 0..100_000 {
        let r = if lend {
            h.stack.send_into(c.handle, piece, |a, b| {
                let ka = a.len().min(piece);
                a[..ka].copy_from_slice(&data[..ka]);
                let kb = b.len().min(piece - ka);
                b[..kb].copy_from_slice(&data[ka..ka + kb]);
                ka + kb
            })
        } else {
            h.stack.send(c.handle, &data)
        };
        match r {
            Ok(n) => total += n,
            Err(Error::WouldBlock) => return total,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the buffer never filled")
}

#[test]
fn lent_writes_are_charged_as_copied_ones() {
    let copied_small = fill(100, false);
    let copied_large = fill(1 << 20, false);
    let lent_small = fill(100, true);
    let lent_large = fill(1 << 20, true);
    // Linux's accounting: a write appends to the open skb up to the size goal, each
    // skb charged its overhead, and the payload stays below the 32768-byte buffer plus
    // one size goal of overshoot. (How many skbs small writes make also depends on
    // what each write's push sends, so the two sizes need not take the same.)
    assert_eq!(lent_small, copied_small, "100-byte lent writes");
    assert_eq!(lent_large, copied_large, "1 MiB lent writes");
    for n in [copied_small, copied_large] {
        assert!((16384..32768 + 65536).contains(&n), "{n}");
    }
}

/// A lent write is offered what the write will take, not more: a program that fills all
/// it is lent (as a zero-copy writer producing data in place does) writes each byte
/// once, and the bytes it takes are those a copying write of the same size takes.
#[test]
fn lent_space_is_what_the_write_takes() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack
        .set_option(c.handle, SockOpt::SendBuffer(16384))
        .unwrap();
    let (mut lent, mut taken) = (0usize, 0usize);
    loop {
        let r = h.stack.send_into(c.handle, 1 << 20, |a, b| {
            a.fill(0x5a);
            b.fill(0x5a);
            lent += a.len() + b.len();
            a.len() + b.len()
        });
        match r {
            Ok(n) => taken += n,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        taken,
        fill(1 << 20, false),
        "taken as a copying write takes"
    );
    // Every byte lent is taken. Before, each call lent the buffer's room, one size goal
    // of overshoot and one more size goal, all written and partly given back (98,160
    // bytes lent for 38,056 taken).
    assert_eq!(lent, taken);
}
