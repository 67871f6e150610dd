//! A counting allocator for tests that measure the whole process's memory: live bytes,
//! their peak, live blocks and allocator calls. Each test binary that uses it declares
//! `#[global_allocator] static ALLOC: Counting = Counting;` and runs its tests one at a
//! time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// [`System`] with counters.
pub struct Counting;

impl Counting {
    fn add(bytes: isize, blocks: isize) {
        let now = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(blocks, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        Counting::add(l.size() as isize, 1);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees are forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        Counting::add(-(l.size() as isize), -1);
        // SAFETY: the caller's guarantees are forwarded.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        Counting::add(n as isize - l.size() as isize, 0);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees are forwarded.
        unsafe { System.realloc(p, l, n) }
    }
}

/// Live bytes and live blocks now.
pub fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

/// Allocator calls so far (allocations and reallocations).
pub fn calls() -> usize {
    CALLS.load(Ordering::Relaxed)
}

/// Starts measuring a peak from the live bytes now; returns them.
pub fn reset_peak() -> isize {
    let now = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}

/// The most bytes live since [`reset_peak`].
pub fn peak() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}
