//! Which queue of a multi-queue TUN interface the kernel hands a packet to, and the
//! eBPF steering program that makes it a function of the TCP ports.
//!
//! # How the kernel's tun picks a queue
//!
//! For each packet the kernel sends into a multi-queue TUN interface, `tun_select_queue`
//! (drivers/net/tun.c) runs the interface's steering program if one is attached
//! (`TUNSETSTEERINGEBPF`: `tun_ebpf_select_queue`, the program's return value modulo the
//! number of queues), and otherwise `tun_automq_select_queue`: it computes the flow's
//! symmetric hash (`__skb_get_hash_symmetric`, the same for both directions), looks it
//! up in a table of 1,024 buckets that `tun_get_user` updates from every packet the
//! user writes (`tun_flow_update`: this hash was last written on queue *q*), and takes
//! *q* when found, else `reciprocal_scale(hash, queues)`. Entries age out after three
//! seconds without a written packet (`TUN_FLOW_EXPIRE`), and the table holds at most
//! 4,096 flows (`MAX_TAP_FLOWS`).
//!
//! So the table alone keeps a flow on its queue only while the user's side of it
//! writes at least every three seconds and the table has room. A connection the kernel
//! opened falls back to `reciprocal_scale(hash)`, the queue its SYN came to, and stays
//! put; but one that synack opened was placed by synack, and once its entry ages out
//! (an idle keep-alive connection, a long think time) or is crowded out, the kernel's
//! next packet goes to whichever queue the hash picks, where no engine knows the
//! connection and answers with a RST. The hash cannot be predicted from user space:
//! it is keyed by `hashrnd`, a random secret drawn at boot.
//!
//! Hence the steering program here: it returns the source and destination ports of a
//! TCP segment XORed and mixed by a multiplication (of the quoted segment in an ICMP or
//! ICMPv6 error, so that errors reach the connection they are about), 0 for anything
//! else, and the kernel takes it modulo the number of queues ([`queue_of`]). The XOR
//! is symmetric, so a connection's queue is the same whichever side sent the packet,
//! and it is known in advance: the
//! engine of queue *i* of *n* picks only ephemeral ports *p* with
//! `queue_of(p, remote_port, n) == i` (`synack::PortSteering`), and the kernel's replies come
//! back to it however long the connection idles. With a program attached the kernel
//! keeps no flow table at all.

use std::io;
use std::os::fd::RawFd;

/// The queue, of `queues`, that the steering program sends a TCP segment between
/// `port_a` and `port_b` to (either order): the ports XORed, modulo the queues, as
/// `tun_ebpf_select_queue` takes the program's value.
pub fn queue_of(port_a: u16, port_b: u16, queues: usize) -> usize {
    let mixed = u32::from(port_a ^ port_b).wrapping_mul(MIX) >> 16;
    mixed as usize % queues.max(1)
}

/// The multiplier that mixes the XORed ports (2^32 over the golden ratio, Knuth's
/// multiplicative hash): the bits of every port reach the low bits the modulo keeps.
/// Without it, two queues would split by the ports' lowest bits alone, and Linux's
/// connect() takes even ports only (`__inet_hash_connect` keeps odd ones for bind()),
/// so every connection from the kernel to one server port would land on one queue.
const MIX: u32 = 0x9E37_79B1;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Instruction classes and modes (include/uapi/linux/bpf.h, bpf_common.h).
const LD_ABS_B: u8 = 0x30; // BPF_LD | BPF_ABS | BPF_B
const LD_IND_B: u8 = 0x50; // BPF_LD | BPF_IND | BPF_B
const LD_IND_H: u8 = 0x48; // BPF_LD | BPF_IND | BPF_H
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ADD64_K: u8 = 0x07;
const ADD64_X: u8 = 0x0f;
const AND64_K: u8 = 0x57;
const RSH64_K: u8 = 0x77;
const LSH64_K: u8 = 0x67;
const XOR64_X: u8 = 0xaf;
const MUL32_K: u8 = 0x24; // BPF_ALU | BPF_MUL | BPF_K: 32 bits, zero-extended
const RSH32_K: u8 = 0x74;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JGT_K: u8 = 0x25;
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

/// `SKF_NET_OFF`: offsets of packet loads counted from the network header.
const NET: i32 = -0x10_0000;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The steering program. Registers: r6 the packet (as legacy packet loads need), r7
/// the TCP header's offset from the network header, r0 loads and the result. A load
/// past the packet's end ends the program with 0 (queue 0).
fn program() -> Vec<Insn> {
    // Jump offsets are counted in instructions from the next one; the labels are
    // resolved below.
    #[derive(Clone, Copy, PartialEq)]
    enum L {
        V6,
        Zero,
        V4Tcp,
        V4Icmp,
        Inner4,
        Ports,
    }
    let mut code: Vec<(Insn, Option<L>)> = Vec::new();
    let mut labels: Vec<(L, usize)> = Vec::new();
    macro_rules! put {
        ($i:expr, $to:expr) => {
            code.push(($i, $to))
        };
    }
    macro_rules! label {
        ($l:expr) => {
            labels.push(($l, code.len()))
        };
    }
    // r6 = ctx; r0 = version nibble.
    put!(insn(MOV64_X, 6, 1, 0, 0), None);
    put!(insn(LD_ABS_B, 0, 0, 0, NET), None);
    put!(insn(RSH64_K, 0, 0, 0, 4), None);
    put!(insn(JEQ_K, 0, 0, 0, 6), Some(L::V6));
    put!(insn(JNE_K, 0, 0, 0, 4), Some(L::Zero));
    // IPv4: r7 = IHL * 4; protocol decides.
    put!(insn(LD_ABS_B, 0, 0, 0, NET), None);
    put!(insn(AND64_K, 0, 0, 0, 0x0f), None);
    put!(insn(LSH64_K, 0, 0, 0, 2), None);
    put!(insn(MOV64_X, 7, 0, 0, 0), None);
    put!(insn(LD_ABS_B, 0, 0, 0, NET + 9), None);
    put!(insn(JEQ_K, 0, 0, 0, 6), Some(L::V4Tcp));
    put!(insn(JEQ_K, 0, 0, 0, 1), Some(L::V4Icmp));
    put!(insn(JA, 0, 0, 0, 0), Some(L::Zero));
    label!(L::V4Icmp);
    // Destination unreachable (3), time exceeded (11), parameter problem (12) quote
    // the datagram after the 8-byte ICMP header.
    put!(insn(LD_IND_B, 0, 7, 0, NET), None);
    put!(insn(JEQ_K, 0, 0, 0, 3), Some(L::Inner4));
    put!(insn(JEQ_K, 0, 0, 0, 11), Some(L::Inner4));
    put!(insn(JEQ_K, 0, 0, 0, 12), Some(L::Inner4));
    put!(insn(JA, 0, 0, 0, 0), Some(L::Zero));
    label!(L::Inner4);
    put!(insn(ADD64_K, 7, 0, 0, 8), None);
    put!(insn(LD_IND_B, 0, 7, 0, NET + 9), None);
    put!(insn(JNE_K, 0, 0, 0, 6), Some(L::Zero));
    put!(insn(LD_IND_B, 0, 7, 0, NET), None);
    put!(insn(AND64_K, 0, 0, 0, 0x0f), None);
    put!(insn(LSH64_K, 0, 0, 0, 2), None);
    put!(insn(ADD64_X, 7, 0, 0, 0), None);
    label!(L::V4Tcp);
    label!(L::Ports);
    // r0 = ((source port ^ destination port) * MIX mod 2^32) >> 16.
    put!(insn(LD_IND_H, 0, 7, 0, NET), None);
    put!(insn(MOV64_X, 8, 0, 0, 0), None);
    put!(insn(LD_IND_H, 0, 7, 0, NET + 2), None);
    put!(insn(XOR64_X, 0, 8, 0, 0), None);
    put!(insn(MUL32_K, 0, 0, 0, MIX as i32), None);
    put!(insn(RSH32_K, 0, 0, 0, 16), None);
    put!(insn(EXIT, 0, 0, 0, 0), None);
    label!(L::V6);
    // IPv6 without extension headers: TCP at 40, or ICMPv6 errors (types 1 to 4)
    // quoting a fixed header and TCP at 48 + 40.
    put!(insn(LD_ABS_B, 0, 0, 0, NET + 6), None);
    put!(insn(MOV64_K, 7, 0, 0, 40), None);
    put!(insn(JEQ_K, 0, 0, 0, 6), Some(L::Ports));
    put!(insn(JNE_K, 0, 0, 0, 58), Some(L::Zero));
    put!(insn(LD_ABS_B, 0, 0, 0, NET + 40), None);
    put!(insn(JEQ_K, 0, 0, 0, 0), Some(L::Zero));
    put!(insn(JGT_K, 0, 0, 0, 4), Some(L::Zero));
    put!(insn(LD_ABS_B, 0, 0, 0, NET + 48 + 6), None);
    put!(insn(JNE_K, 0, 0, 0, 6), Some(L::Zero));
    put!(insn(MOV64_K, 7, 0, 0, 88), None);
    put!(insn(JA, 0, 0, 0, 0), Some(L::Ports));
    label!(L::Zero);
    put!(insn(MOV64_K, 0, 0, 0, 0), None);
    put!(insn(EXIT, 0, 0, 0, 0), None);
    code.iter()
        .enumerate()
        .map(|(at, &(mut i, to))| {
            if let Some(to) = to {
                let target = labels.iter().find(|(l, _)| *l == to).expect("a label").1;
                i.off = (target as isize - at as isize - 1) as i16;
            }
            i
        })
        .collect()
}

/// `union bpf_attr` as `BPF_PROG_LOAD` reads it (the fields up to `prog_flags`; the
/// kernel takes a shorter attribute and treats the rest as zero).
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// `TUNSETSTEERINGEBPF`: `_IOR('T', 224, int)`.
const TUNSETSTEERINGEBPF: libc::c_ulong = 0x8004_54e0;

/// Loads the steering program and attaches it to the TUN interface of queue `fd`
/// (the program belongs to the interface: any of its queues will do). Needs
/// `CAP_BPF` or `CAP_SYS_ADMIN` besides `CAP_NET_ADMIN`.
pub(crate) fn attach(fd: RawFd) -> io::Result<()> {
    let insns = program();
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
    };
    // SAFETY: bpf(2) reads `attr` (size given) and the instructions, license and log
    // buffer it points to, all alive until the call returns.
    let prog = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if prog < 0 {
        let e = io::Error::last_os_error();
        let verifier = String::from_utf8_lossy(&log);
        let verifier = verifier.trim_end_matches('\0').trim();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "loading the TUN steering program (bpf BPF_PROG_LOAD): {e}; it needs \
                 CAP_BPF or CAP_SYS_ADMIN{}",
                if verifier.is_empty() {
                    String::new()
                } else {
                    format!(" (verifier: {verifier})")
                }
            ),
        ));
    }
    let prog = prog as RawFd;
    // SAFETY: TUNSETSTEERINGEBPF reads one int (the program's fd) from the pointer.
    let r = unsafe { libc::ioctl(fd, TUNSETSTEERINGEBPF, &prog as *const RawFd) };
    let e = io::Error::last_os_error();
    // SAFETY: `prog` is our own descriptor; the interface holds its own reference.
    unsafe { libc::close(prog) };
    if r < 0 {
        return Err(io::Error::new(
            e.kind(),
            format!("attaching the TUN steering program (TUNSETSTEERINGEBPF): {e}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program();
        for (at, i) in p.iter().enumerate() {
            if i.code & 0x07 == 0x05 && i.code != EXIT {
                let to = at as isize + 1 + isize::from(i.off);
                assert!((0..p.len() as isize).contains(&to), "jump at {at} to {to}");
            }
        }
        assert_eq!(p.last().map(|i| i.code), Some(EXIT));
    }

    #[test]
    fn queue_of_is_symmetric() {
        for (a, b) in [(80, 40000), (1, 2), (65535, 0)] {
            assert_eq!(queue_of(a, b, 4), queue_of(b, a, 4));
        }
        assert_eq!(queue_of(80, 40000, 1), 0);
    }

    #[test]
    fn even_ports_to_one_server_spread() {
        // Linux's connect() ports are even: both queues must still get some.
        let mut per = [0; 2];
        for p in (40000..40064).step_by(2) {
            per[queue_of(p, 7, 2)] += 1;
        }
        assert!(per[0] > 8 && per[1] > 8, "{per:?}");
    }

    #[test]
    fn the_engine_steers_as_the_device() {
        for q in [2u16, 3, 4] {
            let s = synack::PortSteering::new(q, 0).unwrap();
            for (a, b) in [(80, 40000), (7, 44066), (443, 60999), (1, 65535)] {
                assert_eq!(
                    usize::from(s.queue_of(a, b)),
                    queue_of(a, b, usize::from(q))
                );
            }
        }
    }
}
