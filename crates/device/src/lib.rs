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
pub mod steer;
#[cfg(target_os = "linux")]
mod tun;

use std::io;
use std::task::{Context, Poll};

pub use clock::{Clock, ManualClock, TokioClock};
pub use impair::{Impaired, Impairment, ImpairmentError, LaneStats};
pub use memory::MemoryDevice;
pub use pcap::Pcap;
#[cfg(target_os = "linux")]
pub use steer::queue_of;
#[cfg(target_os = "linux")]
pub use tun::{TunConfig, TunDevice, TunQueue};

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
    /// The offloads the device has (none unless it says so).
    fn offloads(&self) -> Offloads {
        Offloads::default()
    }

    /// As [`poll_recv`](Device::poll_recv), with what the device says of the datagram:
    /// returns where in `buf` the datagram lies (after any header of the device's) and
    /// its [`RxMeta`]. `buf` should hold 65535 bytes and the device's header when the
    /// device has offloads.
    fn poll_recv_meta(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(std::ops::Range<usize>, RxMeta)>> {
        match self.poll_recv(cx, buf) {
            Poll::Ready(Ok(n)) => Poll::Ready(Ok((0..n, RxMeta::default()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// As [`poll_send`](Device::poll_send), for a datagram built for the device's
    /// offloads: `frame` is [`Offloads::headroom`] bytes of room for the device's
    /// header, then the datagram. A device without offloads takes only a `meta` of
    /// `TxMeta::default()` (anything else is `InvalidInput`).
    fn poll_send_meta(
        &mut self,
        cx: &mut Context<'_>,
        frame: &mut [u8],
        meta: TxMeta,
    ) -> Poll<io::Result<()>> {
        if meta != TxMeta::default() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "this device has no segmentation or checksum offload: send whole, \
                 checksummed segments (poll_transmit), or use a device with offloads",
            )));
        }
        let headroom = self.offloads().headroom;
        self.poll_send(cx, &frame[headroom..])
    }
}

/// What a device does for the stack beyond carrying datagrams: segmentation and
/// checksum offload (a TUN interface with a virtio-net header). A driver asks once and
/// uses [`Device::poll_recv_meta`] / [`Device::poll_send_meta`] when any is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    /// The largest datagram the device takes whole and segments itself (TSO), in
    /// bytes; 0: none. Received datagrams may be as large (GRO, or the kernel's TSO).
    pub gso_max_size: usize,
    /// The device completes TCP checksums left to it, and says when it vouches for a
    /// received one.
    pub csum: bool,
    /// Bytes the device writes in front of each datagram it sends (its header), which
    /// the frame given to [`Device::poll_send_meta`] starts with.
    pub headroom: usize,
}

/// What the device says of a datagram it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// The datagram is a GSO packet whose TCP payload is a run of segments of this
    /// many bytes (the last possibly shorter); 0: one segment.
    pub gso_size: u16,
    /// The TCP checksum need not be verified: the kernel left it to the device
    /// (virtio-net's `NEEDS_CSUM`) or checked it (`DATA_VALID`).
    pub csum_valid: bool,
}

/// What the device must do with a datagram it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxMeta {
    /// Cut the TCP payload into segments of this many bytes (TSO); 0: send as it is.
    pub gso_size: u16,
    /// The IP and TCP headers' length.
    pub hdr_len: u16,
    /// Complete the TCP checksum, summing from this offset (the IP header's length);
    /// the field, 16 bytes further, holds the pseudo-header's sum.
    pub csum_start: Option<u16>,
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
    fn offloads(&self) -> Offloads {
        (**self).offloads()
    }

    fn poll_recv_meta(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(std::ops::Range<usize>, RxMeta)>> {
        (**self).poll_recv_meta(cx, buf)
    }

    fn poll_send_meta(
        &mut self,
        cx: &mut Context<'_>,
        frame: &mut [u8],
        meta: TxMeta,
    ) -> Poll<io::Result<()>> {
        (**self).poll_send_meta(cx, frame, meta)
    }
}
