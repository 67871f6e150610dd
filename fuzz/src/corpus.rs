//! The seed corpus, written as readable operation lists and datagrams.
//!
//! `fuzz/corpus/<target>/seed-<name>` holds the bytes of each seed. The test
//! `tests/corpus.rs` checks that every seed is committed and replays the whole directory;
//! `fuzz/gen-corpus.sh` rewrites the files after a change here.

use std::net::IpAddr;

use crate::stack::{
    self, AckBase, Bytes, Mangle, Op, OptSpec, SegSpec, SeqBase, Setup, StackInput,
};
use synack::wire::SeqNum;

/// Socket indices of the harness's setup: the IPv4 and IPv6 listeners, the accepted IPv4
/// and IPv6 connections, the active IPv4 connection.
pub mod sock {
    /// The IPv4 listener.
    pub const LISTEN4: u8 = 0;
    /// The IPv6 listener.
    pub const LISTEN6: u8 = 1;
    /// The accepted IPv4 connection.
    pub const PASSIVE4: u8 = 2;
    /// The accepted IPv6 connection.
    pub const PASSIVE6: u8 = 3;
    /// The active IPv4 connection.
    pub const ACTIVE4: u8 = 4;
}

/// Tracked 4-tuples of the setup, in the order the peer model learns them.
pub mod tuple {
    /// The accepted IPv4 connection.
    pub const PASSIVE4: u8 = 0;
    /// The accepted IPv6 connection.
    pub const PASSIVE6: u8 = 1;
    /// The active IPv4 connection.
    pub const ACTIVE4: u8 = 2;
    /// A new 4-tuple to the IPv4 listener.
    pub const NEW4: u8 = 0xf0;
    /// A new 4-tuple to the IPv6 listener.
    pub const NEW6: u8 = 0xf1;
}

/// TCP flag bytes.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// An in-sequence segment on `target` with `flags` and `len` payload bytes, acknowledging
/// everything the stack sent, with timestamps.
pub fn seg(target: u8, flags: u8, len: u16) -> SegSpec {
    SegSpec {
        target,
        flags,
        seq_base: SeqBase::StackAck,
        seq_off: 0,
        ack_base: AckBase::StackNext,
        ack_off: 0,
        window: 65535,
        opts: OptSpec {
            ts: Some((0, true, 0)),
            ..OptSpec::default()
        },
        payload_len: len,
        mangle: Mangle::None,
    }
}

fn op(s: SegSpec) -> Op {
    Op::Segment(Box::new(s))
}

fn advance(class: u8, ms: u32) -> Op {
    Op::Advance { class, ms }
}

fn input(setup: Setup, ops: Vec<Op>) -> StackInput {
    StackInput { setup, ops }
}

/// The stack target's seeds, by name.
pub fn stack_seeds() -> Vec<(&'static str, StackInput)> {
    use flags::*;
    let d = Setup::default;
    let mut v = vec![
        ("setup-only", input(d(), vec![])),
        (
            "data-both-ways",
            input(
                d(),
                vec![
                    op(seg(tuple::PASSIVE4, ACK | PSH, 1000)),
                    Op::Recv {
                        sock: sock::PASSIVE4,
                        len: 4096,
                    },
                    Op::Send {
                        sock: sock::PASSIVE4,
                        len: 3000,
                        flags: 0,
                    },
                    op(seg(tuple::PASSIVE4, ACK, 0)),
                    advance(0, 50),
                    op(seg(tuple::ACTIVE4, ACK | PSH, 500)),
                    Op::Recv {
                        sock: sock::ACTIVE4,
                        len: 100,
                    },
                ],
            ),
        ),
        (
            "active-close",
            input(
                d(),
                vec![
                    Op::Close {
                        sock: sock::PASSIVE4,
                    },
                    op(seg(tuple::PASSIVE4, ACK, 0)),
                    op(seg(tuple::PASSIVE4, ACK | FIN, 0)),
                    advance(2, 61_000),
                ],
            ),
        ),
        (
            "passive-close",
            input(
                d(),
                vec![
                    op(seg(tuple::ACTIVE4, ACK | FIN, 0)),
                    Op::Recv {
                        sock: sock::ACTIVE4,
                        len: 10,
                    },
                    Op::Close {
                        sock: sock::ACTIVE4,
                    },
                    op(seg(tuple::ACTIVE4, ACK, 0)),
                ],
            ),
        ),
        (
            "half-close-and-data",
            input(
                d(),
                vec![
                    Op::Shutdown {
                        sock: sock::PASSIVE6,
                        how: 1,
                    },
                    op(seg(tuple::PASSIVE6, ACK | PSH, 700)),
                    op(seg(tuple::PASSIVE6, ACK | FIN, 0)),
                    Op::Recv {
                        sock: sock::PASSIVE6,
                        len: 2000,
                    },
                    advance(3, 0),
                ],
            ),
        ),
        (
            "out-of-order-pieces",
            input(
                d(),
                (1..12)
                    .map(|k| {
                        op(SegSpec {
                            seq_off: k * 300,
                            ..seg(tuple::PASSIVE4, ACK, 10)
                        })
                    })
                    .chain([
                        op(seg(tuple::PASSIVE4, ACK, 300)),
                        Op::Recv {
                            sock: sock::PASSIVE4,
                            len: 60000,
                        },
                    ])
                    .collect(),
            ),
        ),
        (
            "sack-recovery",
            input(
                d(),
                vec![
                    Op::Send {
                        sock: sock::PASSIVE4,
                        len: 14600,
                        flags: 0,
                    },
                    op(SegSpec {
                        ack_base: AckBase::PeerAcked,
                        opts: OptSpec {
                            ts: Some((0, true, 0)),
                            sack: vec![(1460, 1460), (4380, 2920)],
                            ..OptSpec::default()
                        },
                        ..seg(tuple::PASSIVE4, ACK, 0)
                    }),
                    op(SegSpec {
                        ack_base: AckBase::PeerAcked,
                        opts: OptSpec {
                            ts: Some((1, true, 0)),
                            sack: vec![(1460, 5840)],
                            ..OptSpec::default()
                        },
                        ..seg(tuple::PASSIVE4, ACK, 0)
                    }),
                    advance(1, 1500),
                    op(seg(tuple::PASSIVE4, ACK, 0)),
                ],
            ),
        ),
        (
            "blind-rst-syn-data",
            input(
                Setup {
                    challenge_limit: true,
                    ..d()
                },
                vec![
                    op(SegSpec {
                        seq_off: 1000,
                        ..seg(tuple::PASSIVE4, RST, 0)
                    }),
                    op(SegSpec {
                        seq_off: 5,
                        ..seg(tuple::PASSIVE4, SYN, 0)
                    }),
                    op(SegSpec {
                        ack_off: -0x4000_0000,
                        ..seg(tuple::PASSIVE4, ACK | PSH, 100)
                    }),
                    op(SegSpec {
                        seq_base: SeqBase::Absolute,
                        seq_off: 0x1234_5678,
                        ..seg(tuple::PASSIVE4, ACK, 100)
                    }),
                    op(seg(tuple::PASSIVE4, RST, 0)),
                ],
            ),
        ),
        (
            "syn-flood-cookies",
            input(
                Setup {
                    syncookies: 1,
                    ..d()
                },
                vec![
                    Op::Flood { n: 40 },
                    // The third flood tuple completes its handshake with the cookie.
                    op(SegSpec {
                        target: 5,
                        opts: OptSpec::default(),
                        ..seg(5, ACK, 0)
                    }),
                    Op::Accept {
                        sock: sock::LISTEN4,
                    },
                    advance(1, 4000),
                ],
            ),
        ),
        (
            "syn-flood-no-cookies",
            input(
                Setup {
                    syncookies: 3,
                    backlog: 2,
                    ..d()
                },
                vec![
                    Op::Flood { n: 20 },
                    Op::Handshake {
                        v6: false,
                        options: true,
                    },
                    advance(2, 70_000),
                ],
            ),
        ),
        (
            "always-cookies",
            input(
                Setup {
                    syncookies: 2,
                    no_timestamps: true,
                    ..d()
                },
                vec![
                    Op::Handshake {
                        v6: false,
                        options: false,
                    },
                    Op::Handshake {
                        v6: true,
                        options: true,
                    },
                    op(seg(tuple::ACTIVE4 + 1, ACK | PSH, 100)),
                ],
            ),
        ),
        (
            "keepalive-and-timeouts",
            input(
                d(),
                vec![
                    Op::SetOpt {
                        sock: sock::PASSIVE4,
                        which: 1,
                        value: 1,
                    },
                    Op::SetOpt {
                        sock: sock::PASSIVE4,
                        which: 10,
                        value: 1000,
                    },
                    Op::SetOpt {
                        sock: sock::PASSIVE4,
                        which: 11,
                        value: 500,
                    },
                    Op::Send {
                        sock: sock::ACTIVE4,
                        len: 500,
                        flags: 0,
                    },
                    advance(2, 600_000),
                    advance(2, 599_999),
                ],
            ),
        ),
        (
            "zero-window-probes",
            input(
                Setup {
                    small_buffers: true,
                    ..d()
                },
                vec![
                    op(SegSpec {
                        window: 0,
                        ..seg(tuple::PASSIVE4, ACK, 0)
                    }),
                    Op::Send {
                        sock: sock::PASSIVE4,
                        len: 9000,
                        flags: 0,
                    },
                    advance(1, 3000),
                    op(SegSpec {
                        window: 0,
                        ..seg(tuple::PASSIVE4, ACK, 0)
                    }),
                    advance(1, 4000),
                    op(SegSpec {
                        window: 1000,
                        ..seg(tuple::PASSIVE4, ACK, 0)
                    }),
                    op(seg(tuple::PASSIVE4, ACK | PSH, 9000)),
                ],
            ),
        ),
        (
            "socket-misuse",
            input(
                d(),
                vec![
                    Op::Recv {
                        sock: sock::LISTEN4,
                        len: 10,
                    },
                    Op::Accept {
                        sock: sock::PASSIVE4,
                    },
                    Op::Close {
                        sock: sock::PASSIVE4,
                    },
                    Op::Send {
                        sock: sock::PASSIVE4,
                        len: 10,
                        flags: 3,
                    },
                    Op::Shutdown {
                        sock: sock::LISTEN6,
                        how: 2,
                    },
                    Op::Connect { port: 0, v6: true },
                    Op::Connect {
                        port: 9999,
                        v6: true,
                    },
                    Op::Abort {
                        sock: sock::ACTIVE4,
                    },
                    Op::Inspect {
                        sock: sock::ACTIVE4,
                    },
                    Op::Close {
                        sock: sock::LISTEN4,
                    },
                    Op::Inspect {
                        sock: sock::LISTEN4,
                    },
                ],
            ),
        ),
        (
            "every-sockopt",
            input(
                d(),
                (0..14)
                    .map(|which| Op::SetOpt {
                        sock: sock::PASSIVE6,
                        which,
                        value: 0x0001_0203 * u32::from(which),
                    })
                    .chain([
                        Op::Inspect {
                            sock: sock::PASSIVE6,
                        },
                        Op::Send {
                            sock: sock::PASSIVE6,
                            len: 20000,
                            flags: 1,
                        },
                        advance(1, 2000),
                    ])
                    .collect(),
            ),
        ),
        (
            "connect-and-simultaneous-open",
            input(
                d(),
                vec![
                    Op::Connect {
                        port: 443,
                        v6: false,
                    },
                    op(SegSpec {
                        seq_base: SeqBase::Absolute,
                        seq_off: 77,
                        ..seg(tuple::ACTIVE4 + 1, SYN, 0)
                    }),
                    op(seg(tuple::ACTIVE4 + 1, ACK, 0)),
                    Op::Connect {
                        port: 444,
                        v6: true,
                    },
                    advance(2, 200_000),
                ],
            ),
        ),
        (
            "listener-handshakes",
            input(
                d(),
                vec![
                    op(SegSpec {
                        seq_base: SeqBase::Absolute,
                        seq_off: 1000,
                        opts: OptSpec {
                            mss: Some(64),
                            wscale: Some(14),
                            sack_ok: true,
                            ts: Some((0, false, 0)),
                            ..OptSpec::default()
                        },
                        ..seg(tuple::NEW4, SYN, 0)
                    }),
                    op(seg(tuple::ACTIVE4 + 1, ACK, 0)),
                    op(seg(tuple::ACTIVE4 + 1, ACK | PSH, 64)),
                    op(SegSpec {
                        seq_base: SeqBase::Absolute,
                        seq_off: 1,
                        ..seg(tuple::NEW6, SYN | FIN, 0)
                    }),
                    Op::Accept {
                        sock: sock::LISTEN4,
                    },
                ],
            ),
        ),
        (
            "time-wait-traffic",
            input(
                Setup {
                    rfc1337: true,
                    ..d()
                },
                vec![
                    Op::Shutdown {
                        sock: sock::ACTIVE4,
                        how: 1,
                    },
                    op(seg(tuple::ACTIVE4, ACK | FIN, 0)),
                    op(seg(tuple::ACTIVE4, ACK, 0)),
                    op(SegSpec {
                        seq_off: 100,
                        ..seg(tuple::ACTIVE4, ACK, 0)
                    }),
                    op(seg(tuple::ACTIVE4, RST, 0)),
                    op(SegSpec {
                        seq_off: 100_000,
                        ..seg(tuple::ACTIVE4, SYN, 0)
                    }),
                    advance(2, 60_001),
                ],
            ),
        ),
        (
            "urgent-and-ecn-flags",
            input(
                d(),
                vec![
                    op(seg(tuple::PASSIVE4, ACK | URG | PSH | 0xc0, 100)),
                    op(seg(tuple::PASSIVE6, 0xff, 10)),
                    op(seg(tuple::PASSIVE4, 0, 10)),
                ],
            ),
        ),
        (
            "raw-garbage",
            input(
                d(),
                vec![
                    Op::Raw(Bytes(vec![])),
                    Op::Raw(Bytes(vec![0x45; 19])),
                    Op::Raw(Bytes(vec![0x60; 41])),
                    Op::Raw(Bytes((0..200).map(|i| i as u8).collect())),
                ],
            ),
        ),
    ];
    // One seed per kind of damage, on an established connection.
    let mangles: [(&'static str, Mangle); 10] = [
        ("mangle-flip", Mangle::Flip { at: 30, mask: 0x10 }),
        ("mangle-truncate", Mangle::Truncate { len: 30 }),
        (
            "mangle-data-offset",
            Mangle::SetTcpByte {
                at: 12,
                value: 0xf0,
            },
        ),
        (
            "mangle-data-offset-short",
            Mangle::SetTcpByte {
                at: 12,
                value: 0x40,
            },
        ),
        (
            "mangle-fragment",
            Mangle::Fragment {
                more: true,
                offset: 0,
            },
        ),
        (
            "mangle-ip-options",
            Mangle::Extensions {
                headers: vec![(0, 2), (2, 1)],
            },
        ),
        ("mangle-trailer", Mangle::Trailer { len: 6 }),
        ("mangle-ip-length-short", Mangle::IpLength { len: 30 }),
        ("mangle-ip-length-long", Mangle::IpLength { len: 1500 }),
        (
            "mangle-option-length",
            Mangle::SetTcpByte {
                at: 21,
                value: 0xff,
            },
        ),
    ];
    for (name, m) in mangles {
        v.push((
            name,
            input(
                d(),
                vec![
                    op(SegSpec {
                        mangle: m.clone(),
                        ..seg(tuple::PASSIVE4, ACK | PSH, 100)
                    }),
                    op(SegSpec {
                        mangle: m,
                        ..seg(tuple::PASSIVE6, ACK | PSH, 100)
                    }),
                ],
            ),
        ));
    }
    v.push((
        "ipv6-extension-chains",
        input(
            d(),
            vec![
                op(SegSpec {
                    mangle: Mangle::Extensions {
                        headers: vec![(0, 0), (1, 1), (2, 0)],
                    },
                    ..seg(tuple::PASSIVE6, ACK | PSH, 100)
                }),
                op(SegSpec {
                    mangle: Mangle::Extensions {
                        headers: vec![(2, 0), (0, 0)],
                    },
                    ..seg(tuple::PASSIVE6, ACK | PSH, 100)
                }),
                op(SegSpec {
                    mangle: Mangle::Extensions {
                        headers: vec![(3, 0)],
                    },
                    ..seg(tuple::PASSIVE6, ACK, 0)
                }),
                op(SegSpec {
                    mangle: Mangle::Extensions {
                        headers: vec![(4, 3)],
                    },
                    ..seg(tuple::PASSIVE6, ACK, 0)
                }),
            ],
        ),
    ));
    v.push((
        "raw-options",
        input(
            d(),
            vec![
                op(SegSpec {
                    opts: OptSpec {
                        raw: Some(Bytes(vec![
                            2, 4, 0, 0, 3, 3, 200, 8, 10, 1, 2, 3, 4, 5, 6, 7,
                        ])),
                        ..OptSpec::default()
                    },
                    ..seg(tuple::PASSIVE4, ACK | PSH, 10)
                }),
                op(SegSpec {
                    opts: OptSpec {
                        raw: Some(Bytes(vec![5, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0])),
                        ..OptSpec::default()
                    },
                    ..seg(tuple::PASSIVE4, ACK, 0)
                }),
                op(SegSpec {
                    opts: OptSpec {
                        raw: Some(Bytes(vec![8, 0, 1, 1])),
                        ..OptSpec::default()
                    },
                    ..seg(tuple::PASSIVE4, ACK, 0)
                }),
            ],
        ),
    ));
    v
}

/// The offload target's seeds: every stack seed under full offload (64 KB
/// super-segments, checksum offload, GRO packets of 250-byte segments with vouched
/// checksums) and under a small `gso_max_size` with checksums computed (4,096 bytes,
/// GRO packets of 100-byte segments whose checksums are verified).
pub fn offload_seeds() -> Vec<(String, Vec<u8>)> {
    use crate::offload::Params;
    use synack::TxOffload;
    let variants = [
        (
            "full",
            Params {
                tx: TxOffload {
                    gso_max_size: 65535,
                    csum: true,
                },
                gso_size: 250,
                csum_valid: true,
            },
        ),
        (
            "small",
            Params {
                tx: TxOffload {
                    gso_max_size: 4096,
                    csum: false,
                },
                gso_size: 100,
                csum_valid: false,
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, input) in stack_seeds() {
        for (variant, params) in variants {
            let mut bytes = params.encode().to_vec();
            bytes.extend(input.encode());
            out.push((format!("{name}-{variant}"), bytes));
        }
    }
    out
}

/// The wire target's seeds: the datagrams the stack sends while running the stack seeds
/// (SYN-ACKs with every option layout, data, SACKs, FINs, RSTs over IPv4 and IPv6), and
/// the damaged datagrams the stack seeds feed it.
pub fn wire_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (name, input) in stack_seeds() {
        let (_, sent, received) = stack::run_input_capture(&input, 64);
        for (dir, datagrams) in [("out", sent), ("in", received)] {
            for (i, d) in datagrams.into_iter().enumerate() {
                // Keep one datagram per shape (flags, options, IP version, length class).
                let key = shape(&d);
                if seen.insert(key) {
                    out.push((format!("{name}-{dir}-{i}"), d));
                }
            }
        }
    }
    out
}

/// A coarse description of a datagram, to keep the wire seeds few and varied.
fn shape(d: &[u8]) -> (u8, u8, usize, usize, bool) {
    match synack::wire::parse_datagram(d, true) {
        Ok((ip, tcp)) => (
            u8::from(matches!(ip.src, IpAddr::V6(_))),
            tcp.flags(),
            tcp.header_len(),
            tcp.payload.len().min(1) + tcp.payload.len() / 1000,
            tcp.ack.is_some_and(|a| a != SeqNum(0)),
        ),
        Err(e) => (0xff, e as u8, d.len().min(100), 0, false),
    }
}
