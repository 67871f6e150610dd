//! A Linux TUN interface through `tun-rs`: synack's datagrams go to the kernel as if
//! from a host on the interface's link, and the kernel's come back.

use std::io;
use std::net::Ipv4Addr;
use std::task::{Context, Poll};

use crate::Device;

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
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            name: "synack0".into(),
            mtu: 1500,
            kernel_addr: Some((Ipv4Addr::new(10, 77, 0, 1), 24)),
        }
    }
}

/// A TUN interface (no packet-information header, no offloads: each read and write is
/// one IP datagram). Needs a tokio runtime with I/O enabled.
pub struct TunDevice {
    dev: tun_rs::AsyncDevice,
    name: String,
    mtu: usize,
}

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
            .mtu(config.mtu);
        if let Some((addr, prefix)) = config.kernel_addr {
            builder = builder.ipv4(addr, prefix, None).enable(true);
        }
        let dev = builder
            .build_async()
            .map_err(|e| explain(e, &config.name))?;
        Ok(TunDevice {
            dev,
            name: config.name.clone(),
            mtu: usize::from(config.mtu),
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

impl Device for TunDevice {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.dev.poll_recv(cx, buf)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        match self.dev.poll_send(cx, datagram) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
