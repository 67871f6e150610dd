//! A Linux TUN interface through `tun-rs`: synack's datagrams go to the kernel as if
//! from a host on the interface's link, and the kernel's come back.

use std::io;
use std::net::Ipv4Addr;
use std::task::{Context, Poll};

use crate::{Device, Offloads, RxMeta, TxMeta};

/// How to create a TUN interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// The interface name (at most 15 bytes), e.g. `synack0`.
    pub name: String,
    /// The MTU, in bytes.
    pub mtu: u16,
    /// The kernel's own address on the interface and its prefix length (`10.77.0.1/24`),
    /// set and the interface brought up; `None` leaves the interface down and without
    /// address, for the caller to configure (with `ip`).
    pub kernel_addr: Option<(Ipv4Addr, u8)>,
    /// Segmentation and checksum offload (`IFF_VNET_HDR`, `TUNSETOFFLOAD` with CSUM,
    /// TSO4 and TSO6): the kernel sends TCP in GSO packets of up to 64 KB and takes
    /// them, and leaves TCP checksums to the device. See [`TunDevice`].
    pub offload: bool,
    /// The length of each queue's ring of packets the kernel sends to synack
    /// (`txqueuelen`, as `ip link set NAME txqueuelen N` sets it; 0 leaves the kernel's
    /// default of 500). When the ring is full the kernel drops what it sends (counted
    /// as the interface's TX drops), and a TCP sender must recover each loss, after a
    /// retransmission timeout if it was at the end of a flight. synack reads in
    /// batches and acknowledges each batch at once, as Linux acknowledges a GRO packet,
    /// so a sender answers with a burst of that size; several connections, or a driver
    /// thread kept off its core for a moment, overflow 500. The default,
    /// [`TunConfig::DEFAULT_TXQUEUELEN`], holds the largest window synack advertises
    /// by default.
    pub txqueuelen: u32,
}

impl TunConfig {
    /// The default [`txqueuelen`](TunConfig::txqueuelen): 8192 packets, more than
    /// the segments of one connection's largest default receive window (`tcp_rmem`'s
    /// 6 MiB in 1448-byte segments is 4345). The ring holds pointers; what waits in it
    /// is bounded by the connections' windows, not by its length.
    pub const DEFAULT_TXQUEUELEN: u32 = 8192;
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            name: "synack0".into(),
            mtu: 1500,
            kernel_addr: Some((Ipv4Addr::new(10, 77, 0, 1), 24)),
            offload: false,
            txqueuelen: TunConfig::DEFAULT_TXQUEUELEN,
        }
    }
}

/// A TUN interface (no packet-information header). Needs a tokio runtime with I/O
/// enabled.
///
/// Without offload each read and write is one IP datagram. With
/// [`TunConfig::offload`], each carries a virtio-net header: the device reports
/// [`Offloads`] (GSO packets up to 65535 bytes, TCP checksums), and
/// [`poll_recv_meta`](Device::poll_recv_meta) / [`poll_send_meta`](Device::poll_send_meta)
/// move GSO packets whole. The plain [`poll_recv`](Device::poll_recv) and
/// [`poll_send`](Device::poll_send) still move single, checksummed datagrams (a GSO
/// packet read is cut into its segments by tun-rs), so middleware over an offloading
/// device works unchanged.
pub struct TunDevice {
    dev: tun_rs::AsyncDevice,
    name: String,
    mtu: usize,
    /// The virtio-net header is on (offload mode): the state of the plain calls.
    vnet: Option<Box<Plain>>,
}

/// The plain calls' buffers in offload mode.
struct Plain {
    /// A raw read (header and datagram).
    raw: Vec<u8>,
    /// The segments cut from the last GSO packet read, their lengths, how many there
    /// are and the next to hand over.
    segs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
    next: usize,
    /// A plain send: a zero header, then the datagram.
    tx: Vec<u8>,
}

/// One queue of a multi-queue TUN interface ([`TunDevice::create_queues`]), not yet
/// registered with a runtime: it can move to the thread that will drive it.
pub struct TunQueue {
    dev: tun_rs::SyncDevice,
    config: TunConfig,
    index: usize,
}

impl std::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunQueue")
            .field("name", &self.config.name)
            .field("index", &self.index)
            .finish()
    }
}

impl TunQueue {
    /// The queue's number (the kernel's `queue_index`: the order the queues were
    /// attached in, from 0).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The queue as a device of its own. Needs a tokio runtime with I/O enabled (the
    /// one that will drive it).
    pub fn open(self) -> io::Result<TunDevice> {
        TunDevice::from_sync(self.dev, &self.config)
    }
}

/// The virtio-net header's length.
const VNET_LEN: usize = tun_rs::VIRTIO_NET_HDR_LEN;
/// The largest GSO packet, the IPv4 total length's limit.
const GSO_MAX: usize = 65535;

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .finish()
    }
}

impl TunDevice {
    /// Creates the interface. Errors keep their kind and say what to do: no
    /// `CAP_NET_ADMIN` (`PermissionDenied`), no `/dev/net/tun` (`NotFound`), the name
    /// taken by another interface (`AddrInUse`), a name too long (`InvalidInput`).
    pub fn create(config: &TunConfig) -> io::Result<TunDevice> {
        let dev = Self::build(config, false)?;
        Self::from_sync(dev, config)
    }

    /// Creates the interface with `queues` queues (`IFF_MULTI_QUEUE`; 1 to 64), each
    /// to be opened as a [`TunDevice`] of its own with [`TunQueue::open`], typically
    /// on a thread of its own. With more than one queue the interface gets a steering
    /// program: the kernel hands each TCP segment to queue
    /// [`queue_of`](crate::queue_of)`(source port, destination port, queues)`, the
    /// same queue for both directions of a connection and for ICMP errors about it
    /// (see the [`steer`](crate::steer) module for why the kernel's own flow table is
    /// not enough). Errors as [`TunDevice::create`]'s, and `InvalidInput` for a number
    /// of queues out of range.
    pub fn create_queues(config: &TunConfig, queues: usize) -> io::Result<Vec<TunQueue>> {
        if !(1..=64).contains(&queues) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{queues} queues: give 1 to 64"),
            ));
        }
        let first = Self::build(config, queues > 1)?;
        let mut devs = Vec::with_capacity(queues);
        for _ in 1..queues {
            let more = first.try_clone().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("opening another queue of {}: {e}", config.name),
                )
            })?;
            devs.push(more);
        }
        devs.insert(0, first);
        if queues > 1 {
            use std::os::fd::AsRawFd;
            crate::steer::attach(devs[0].as_raw_fd())?;
        }
        Ok(devs
            .into_iter()
            .enumerate()
            .map(|(index, dev)| TunQueue {
                dev,
                config: config.clone(),
                index,
            })
            .collect())
    }

    /// Creates the interface (its first queue), not yet registered with a runtime.
    fn build(config: &TunConfig, multi_queue: bool) -> io::Result<tun_rs::SyncDevice> {
        if config.name.is_empty() || config.name.len() > 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "TUN interface name {:?}: give a name of 1 to 15 bytes, such as synack0",
                    config.name
                ),
            ));
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "/dev/net/tun is missing: load the tun module (modprobe tun) or, in a \
                 container, pass the device in (--device /dev/net/tun)",
            ));
        }
        let mut builder = tun_rs::DeviceBuilder::new()
            .name(config.name.clone())
            .mtu(config.mtu)
            .offload(config.offload)
            .multi_queue(multi_queue);
        if config.txqueuelen > 0 {
            builder = builder.tx_queue_len(config.txqueuelen);
        }
        if let Some((addr, prefix)) = config.kernel_addr {
            builder = builder.ipv4(addr, prefix, None).enable(true);
        }
        builder.build_sync().map_err(|e| explain(e, &config.name))
    }

    /// Registers a queue with the current tokio runtime.
    fn from_sync(dev: tun_rs::SyncDevice, config: &TunConfig) -> io::Result<TunDevice> {
        let dev = tun_rs::AsyncDevice::new(dev)?;
        let mtu = usize::from(config.mtu);
        let vnet = dev.tcp_gso().then(|| {
            // A GSO packet holds at most 65535 / 88 segments of the smallest MSS.
            let most = GSO_MAX / 88 + 1;
            Box::new(Plain {
                raw: vec![0; VNET_LEN + GSO_MAX],
                segs: vec![vec![0; mtu.max(1280)]; most],
                sizes: vec![0; most],
                count: 0,
                next: 0,
                tx: Vec::with_capacity(VNET_LEN + mtu),
            })
        });
        if config.offload && vnet.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "TUN interface {}: the kernel refused the virtio-net header \
                     (IFF_VNET_HDR); create it without offload",
                    config.name
                ),
            ));
        }
        Ok(TunDevice {
            dev,
            name: config.name.clone(),
            mtu,
            vnet,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The error of creating interface `name`, with what to do about it.
fn explain(e: io::Error, name: &str) -> io::Error {
    let hint = match e.raw_os_error() {
        // EPERM, EACCES
        Some(1) | Some(13) => Some((
            io::ErrorKind::PermissionDenied,
            "creating a TUN interface needs CAP_NET_ADMIN: run as root, or grant it \
             (setcap cap_net_admin+ep on the binary)"
                .to_string(),
        )),
        // EBUSY
        Some(16) => Some((
            io::ErrorKind::AddrInUse,
            format!(
                "the interface name {name} is taken: choose another with --tun, or remove \
                 the old one (ip link delete {name})"
            ),
        )),
        _ => None,
    };
    match hint {
        Some((kind, msg)) => io::Error::new(kind, format!("{msg} ({e})")),
        None => io::Error::new(e.kind(), format!("creating TUN interface {name}: {e}")),
    }
}

impl TunDevice {
    /// A raw read in offload mode: the header decoded and the datagram's range in `buf`.
    fn poll_raw(
        dev: &tun_rs::AsyncDevice,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(tun_rs::VirtioNetHdr, usize)>> {
        loop {
            let n = match dev.poll_recv(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n <= VNET_LEN {
                // Nothing after the header: nothing to hand over.
                continue;
            }
            let hdr = tun_rs::VirtioNetHdr::decode(&buf[..VNET_LEN])?;
            return Poll::Ready(Ok((hdr, n)));
        }
    }

    /// Finishes what the kernel left to the device in a datagram handed over plainly:
    /// a checksum (`NEEDS_CSUM`) anywhere but in TCP when `tcp_too` is false.
    fn complete_checksum(hdr: &tun_rs::VirtioNetHdr, datagram: &mut [u8], tcp_too: bool) {
        if hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM == 0 {
            return;
        }
        let at = usize::from(hdr.csum_start) + usize::from(hdr.csum_offset);
        if at + 2 > datagram.len() {
            return;
        }
        let tcp = hdr.csum_offset == 16 && is_tcp(datagram);
        if tcp_too || !tcp {
            let _ = synack_wire::gso::complete_checksum(
                datagram,
                usize::from(hdr.csum_start),
                usize::from(hdr.csum_offset),
            );
        }
    }
}

/// Whether an IP datagram carries TCP (directly after a fixed IPv6 header).
fn is_tcp(d: &[u8]) -> bool {
    match d.first().map(|b| b >> 4) {
        Some(4) => d.get(9) == Some(&6),
        Some(6) => d.get(6) == Some(&6),
        _ => false,
    }
}

impl Device for TunDevice {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let Some(p) = self.vnet.as_deref_mut() else {
            return self.dev.poll_recv(cx, buf);
        };
        loop {
            if p.next < p.count {
                let seg = &p.segs[p.next][..p.sizes[p.next]];
                p.next += 1;
                let n = seg.len().min(buf.len());
                buf[..n].copy_from_slice(&seg[..n]);
                return Poll::Ready(Ok(n));
            }
            let (mut hdr, n) = match Self::poll_raw(&self.dev, cx, &mut p.raw) {
                Poll::Ready(Ok(r)) => r,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let datagram = &mut p.raw[VNET_LEN..n];
            if hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE {
                Self::complete_checksum(&hdr, datagram, true);
                let n = datagram.len().min(buf.len());
                buf[..n].copy_from_slice(&datagram[..n]);
                return Poll::Ready(Ok(n));
            }
            // A GSO packet: tun-rs cuts it into checksummed segments. The kernel's
            // hdr_len may cover more than the headers (a forwarded packet's): it is the
            // checksum start plus the TCP header's length, as tun-rs's own reader sets it.
            let v6 = datagram[0] >> 4 == 6;
            let at = usize::from(hdr.csum_start) + 12;
            let Some(&off) = datagram.get(at) else {
                continue;
            };
            hdr.hdr_len = hdr.csum_start + u16::from(off >> 4) * 4;
            match tun_rs::gso_split(datagram, hdr, &mut p.segs, &mut p.sizes, 0, v6) {
                Ok(count) => {
                    p.count = count;
                    p.next = 0;
                }
                // A packet tun-rs cannot cut is dropped, as a malformed frame on a wire.
                Err(_) => continue,
            }
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        let frame = match self.vnet.as_deref_mut() {
            Some(p) => {
                p.tx.clear();
                p.tx.resize(VNET_LEN, 0);
                p.tx.extend_from_slice(datagram);
                &p.tx[..]
            }
            None => datagram,
        };
        match self.dev.poll_send(cx, frame) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn offloads(&self) -> Offloads {
        if self.vnet.is_none() {
            return Offloads::default();
        }
        Offloads {
            gso_max_size: GSO_MAX,
            csum: true,
            headroom: VNET_LEN,
        }
    }

    fn poll_recv_meta(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(std::ops::Range<usize>, RxMeta)>> {
        if self.vnet.is_none() {
            return match self.dev.poll_recv(cx, buf) {
                Poll::Ready(Ok(n)) => Poll::Ready(Ok((0..n, RxMeta::default()))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        let (hdr, n) = match Self::poll_raw(&self.dev, cx, buf) {
            Poll::Ready(Ok(r)) => r,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let datagram = &mut buf[VNET_LEN..n];
        // TCP's checksum is left as the kernel wrote it when the header vouches for it;
        // anything else's is completed here, for the stack to check.
        Self::complete_checksum(&hdr, datagram, false);
        let vouched = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
        let meta = RxMeta {
            gso_size: if hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE {
                0
            } else {
                hdr.gso_size
            },
            csum_valid: hdr.flags & vouched != 0 && is_tcp(datagram),
        };
        Poll::Ready(Ok((VNET_LEN..n, meta)))
    }

    fn poll_send_meta(
        &mut self,
        cx: &mut Context<'_>,
        frame: &mut [u8],
        meta: TxMeta,
    ) -> Poll<io::Result<()>> {
        if self.vnet.is_none() {
            if meta != TxMeta::default() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "this TUN interface was created without offload: send whole, \
                     checksummed segments, or create it with TunConfig::offload",
                )));
            }
            return self.poll_send(cx, frame);
        }
        let v6 = frame.get(VNET_LEN).is_some_and(|b| b >> 4 == 6);
        let hdr = tun_rs::VirtioNetHdr {
            flags: if meta.csum_start.is_some() {
                VIRTIO_NET_HDR_F_NEEDS_CSUM
            } else {
                0
            },
            gso_type: match (meta.gso_size, v6) {
                (0, _) => VIRTIO_NET_HDR_GSO_NONE,
                (_, false) => tun_rs::VIRTIO_NET_HDR_GSO_TCPV4,
                (_, true) => tun_rs::VIRTIO_NET_HDR_GSO_TCPV6,
            },
            hdr_len: meta.hdr_len,
            gso_size: meta.gso_size,
            csum_start: meta.csum_start.unwrap_or(0),
            csum_offset: if meta.csum_start.is_some() { 16 } else { 0 },
        };
        hdr.encode(frame)?;
        match self.dev.poll_send(cx, frame) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

// virtio-net's header (include/uapi/linux/virtio_net.h) values tun-rs does not export.
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum is left to the device.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was checked.
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`: not a GSO packet.
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
