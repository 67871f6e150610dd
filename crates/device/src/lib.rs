//! Devices for synack: where the engine's datagrams go and come from.
//!
//! The engine ([`synack::Stack`](https://docs.rs/synack)) does no I/O; a driver moves
//! whole IP datagrams between it and a [`Device`]. Everything here implements that one
//! small trait, so a driver runs unchanged over any of them, and middleware stacks:
//!
//! - [`TunDevice`] (Linux): a TUN interface through `tun-rs`; the kernel's side of the
//!   interface talks to synack's addresses as to any host on the link;
//! - [`MemoryDevice::pair`]: two devices joined back to back in memory, for tests and
//!   in-process use;
//! - [`Pcap`]: wraps any device and writes every datagram received and sent to a pcap
//!   file (`LINKTYPE_RAW`) that Wireshark and tcpdump read;
//! - [`Impaired`]: wraps any device and applies loss, delay, jitter, reordering,
//!   duplication and a rate limit, all drawn from a seed, on a [`Clock`] passed in (the
//!   kernels this runs on have no `netem`).
//!
//! ```
//! use synack_device::{Device, Impaired, Impairment, ManualClock, MemoryDevice, Pcap};
//!
//! let (a, _b) = MemoryDevice::pair(1500);
//! let clock = ManualClock::new();
//! let lossy = Impaired::new(a, clock.clone(), Impairment { loss: 0.01, ..Impairment::default() }, 7)
//!     .expect("a valid impairment");
//! let captured = Pcap::new(lossy, Vec::new(), clock).expect("pcap header written");
//! assert_eq!(captured.mtu(), 1500);
//! ```
//!
//! The trait is poll-based on [`std::task::Context`], so it needs no particular runtime;
//! [`TunDevice`] and [`TokioClock`] need a tokio runtime with I/O and time enabled.

#![warn(missing_docs)]

mod clock;
mod impair;
mod memory;
pub mod netns;
mod pcap;
mod rng;
#[cfg(target_os = "linux")]
mod tun;

use std::io;
use std::task::{Context, Poll};

pub use clock::{Clock, ManualClock, TokioClock};
pub use impair::{Impaired, Impairment, ImpairmentError, LaneStats};
pub use memory::MemoryDevice;
pub use pcap::Pcap;
#[cfg(target_os = "linux")]
pub use tun::{TunConfig, TunDevice};

/// A network device carrying whole IP datagrams (IPv4 or IPv6, no link-layer header).
///
/// Every call is non-blocking: `Poll::Pending` means "not now", and the device wakes the
/// task of `cx` when it should be polled again, as a tokio socket does. A driver polls
/// [`poll_recv`](Device::poll_recv) until it is pending, sends with
/// [`poll_send`](Device::poll_send), and polls [`poll_flush`](Device::poll_flush)
/// whenever it is woken, so that datagrams a middleware holds (delayed ones) go out.
pub trait Device: Send {
    /// Receives the next datagram into `buf` and returns its length. `buf` should hold
    /// [`mtu`](Device::mtu) bytes; a longer datagram is truncated, as a socket truncates.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Sends one datagram. `Ready(Ok(()))` once the device has taken it (it may still be
    /// lost on the way, as on any network); `Pending` when the device cannot take it now
    /// (the datagram is not taken; poll again with it when woken).
    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>>;

    /// Moves on the datagrams the device holds (middleware that delays them):
    /// `Ready(Ok(()))` when none is held, `Pending` while some are, with a wake-up
    /// arranged for when the next is due. Devices that hold nothing are always ready.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// The largest datagram the device carries (its MTU), in bytes.
    fn mtu(&self) -> usize;
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        (**self).poll_recv(cx, buf)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        (**self).poll_send(cx, datagram)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_flush(cx)
    }

    fn mtu(&self) -> usize {
        (**self).mtu()
    }
}
