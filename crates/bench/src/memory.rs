//! A counting allocator, and memory per idle connection and per TIME-WAIT entry.
//!
//! The binary installs [`Counting`] as its global allocator; [`live`] is then the bytes
//! allocated and not yet freed in the whole process. Each figure is a difference of two
//! readings around the state it measures, so the fixed costs of the stacks and of the
//! harness cancel out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use smoltcp::iface::SocketSet;
use smoltcp::socket::tcp;

use crate::scale;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting the bytes it holds for the program.
pub struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            CALLS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
}

/// Bytes allocated and not freed, process-wide (0 unless [`Counting`] is installed).
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Whether [`Counting`] is the global allocator (it has seen an allocation).
pub fn installed() -> bool {
    // Make sure at least one allocation happened through the global allocator.
    drop(std::hint::black_box(Box::new(0u64)));
    CALLS.load(Ordering::Relaxed) > 0
}

fn per(delta: isize, n: u64) -> f64 {
    delta as f64 / n as f64
}

/// synack: bytes per idle established connection with `n` of them (`n` on each of the
/// two stacks, handshake only, no payload ring allocated), everything the stacks hold
/// for them: records, slots, demultiplexing entries, timers, port counts. A connection
/// that has moved data keeps more until close (the TCP_INFO chronographs in the rarely
/// used record, the receive autotuning state): `tests/idle_memory.rs` bounds that.
pub fn synack_idle(n: u64) -> Result<f64, String> {
    let before = live() as isize;
    let pair = scale::IdlePair::new(n, crate::Params::FULL.bulk_buf)?;
    let after = live() as isize;
    let r = per(after - before, 2 * n);
    drop(pair);
    Ok(r)
}

/// synack: bytes per TIME-WAIT entry with `n` of them on the client (after `n` full
/// lifecycles with the client closing first), measured as the memory given back when
/// they all expire.
pub fn synack_time_wait(n: u64) -> Result<f64, String> {
    let mut pair = scale::time_wait_pair(n)?;
    let with = live() as isize;
    scale::expire_time_wait(&mut pair)?;
    let without = live() as isize;
    Ok(per(with - without, n))
}

/// The most sockets [`smoltcp_socket`] adds: smoltcp's `SocketSet::add` scans for a free
/// slot (O(n) each), and its cost per socket does not depend on their number.
pub const SMOLTCP_MAX_SOCKETS: u64 = 10_000;

/// smoltcp: bytes per connection with `n` sockets (at most [`SMOLTCP_MAX_SOCKETS`];
/// buffers aside: they are lent empty), each connecting. smoltcp allocates nothing as a
/// socket changes state, and keeps TIME-WAIT in the socket, so this is also its cost per
/// idle connection and per TIME-WAIT entry.
pub fn smoltcp_socket(n: u64) -> Result<f64, String> {
    let n = n.min(SMOLTCP_MAX_SOCKETS);
    let mut host = crate::smoltcp_side::SmolPair::new();
    let before = live() as isize;
    let mut set = SocketSet::new(Vec::with_capacity(n as usize));
    for i in 0..n {
        let rx = tcp::SocketBuffer::new(Vec::new());
        let tx = tcp::SocketBuffer::new(Vec::new());
        let h = set.add(tcp::Socket::new(rx, tx));
        let port = 1024 + (i % 60000) as u16;
        let remote = (
            smoltcp::wire::IpAddress::v4(10, 0, 0, 2),
            1000 + (i / 60000) as u16,
        );
        set.get_mut::<tcp::Socket>(h)
            .connect(host.a.iface.context(), remote, port)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
    }
    let after = live() as isize;
    drop(set);
    Ok(per(after - before, n))
}
