//! What every command that runs synack on a TUN interface shares: the flags (`--tun`,
//! `--addr`, `--kernel-addr`, `--mtu`, `--offload`, `--queues`, `--txqueuelen`,
//! `--sysctl`, `--route`, `--pcap` and the impairments) and [`Instance`], a running
//! stack with its control socket.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use synack_device::{Device, Impaired, Impairment, Pcap, TokioClock, TunConfig, TunDevice};
use synack_tokio::Net;

use crate::args;
use crate::control;

/// The flags of every command that runs synack on a TUN interface.
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// Name of the TUN interface synack creates (1 to 15 bytes); it also names the
    /// instance for `synack ss` and `synack netstat`.
    #[arg(long, value_name = "NAME", default_value = "synack0")]
    pub tun: String,

    /// synack's own IPv4 address, inside the kernel's subnet (--kernel-addr).
    #[arg(long, value_name = "IP", default_value = "10.77.0.2", value_parser = args::ipv4)]
    pub addr: Ipv4Addr,

    /// The kernel's address on the interface and the prefix length of the subnet the
    /// kernel routes to it.
    #[arg(long, value_name = "IP/LEN", default_value = "10.77.0.1/24", value_parser = args::cidr)]
    pub kernel_addr: (Ipv4Addr, u8),

    /// MTU of the interface, in bytes (576 to 65535).
    #[arg(long, value_name = "BYTES", default_value_t = 1500, allow_negative_numbers = true,
          value_parser = args::whole(576u16, 65535, "a whole number of bytes"))]
    pub mtu: u16,

    /// Segmentation and checksum offload on the interface (a virtio-net header): the
    /// kernel and synack exchange TCP in GSO packets of up to 64 KB and leave TCP
    /// checksums to the device. With --pcap or impairments, datagrams are still cut to
    /// single segments on the way through them.
    #[arg(long)]
    pub offload: bool,

    /// Length of the interface's queue of packets from the kernel to synack, per queue
    /// (`ip link set NAME txqueuelen N`; 0 keeps the kernel's 500). When it is full the
    /// kernel drops (the interface's TX drops in `ip -s link`) and its TCP must
    /// retransmit; the default holds one connection's largest window.
    #[arg(long, value_name = "PACKETS", default_value_t = TunConfig::DEFAULT_TXQUEUELEN,
          allow_negative_numbers = true,
          value_parser = args::whole(0u32, 1 << 20, "a number of packets"))]
    pub txqueuelen: u32,

    /// Queues of the interface (IFF_MULTI_QUEUE), each with an engine and a driver
    /// thread of its own (1 to 64): the kernel steers each connection to one queue by
    /// its ports, synack picks its ephemeral ports so that its connections' replies
    /// come back to the engine that made them, and `synack ss` / `netstat -s` show every
    /// engine's sockets and counters added up.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = args::whole(1u8, 64, "a number of queues"))]
    pub queues: u8,

    /// Sets one of synack's knobs by its Linux sysctl name, as `sysctl -w` takes it
    /// (repeatable): --sysctl net.ipv4.tcp_syncookies=2 --sysctl tcp_fin_timeout=30.
    #[arg(long, value_name = "NAME=VALUE", value_parser = args::sysctl)]
    pub sysctl: Vec<(String, String)>,

    /// Route metrics for the peers in a prefix (repeatable), as `ip route replace
    /// PREFIX ...` sets them in Linux: `mtu [lock] N`, `advmss N`, `initcwnd N`, e.g.
    /// --route "10.77.0.1 mtu lock 1400 advmss 1360 initcwnd 20". A connection with a
    /// peer in the prefix (the longest wins), whichever side opened it, offers the
    /// route's advmss (else its MTU less the headers), starts from its MTU and its
    /// initial window; a locked MTU ignores ICMP "fragmentation needed" and sends
    /// without DF.
    #[arg(long, value_name = "PREFIX METRICS", value_parser = args::route)]
    pub route: Vec<(synack::Prefix, synack::RouteMetrics)>,

    /// Writes every datagram synack receives and sends to FILE as a pcap capture (as
    /// synack sees them: after the impairments on the way in, before them on the way
    /// out).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Probability that a datagram is lost, each direction (0.01 is 1%).
    #[arg(long, value_name = "P", default_value_t = 0.0, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::decimal(0.0, 1.0, "a probability"))]
    pub loss: f64,

    /// One-way delay added to every datagram, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::whole(0u64, 60_000, "a whole number of milliseconds"))]
    pub delay_ms: u64,

    /// Up to this much extra delay per datagram, uniformly drawn, in milliseconds
    /// (order is kept).
    #[arg(long, value_name = "MS", default_value_t = 0, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::whole(0u64, 60_000, "a whole number of milliseconds"))]
    pub jitter_ms: u64,

    /// Probability that a datagram is held back 10 ms, letting later ones overtake it.
    #[arg(long, value_name = "P", default_value_t = 0.0, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::decimal(0.0, 1.0, "a probability"))]
    pub reorder: f64,

    /// Probability that a datagram is delivered twice.
    #[arg(long, value_name = "P", default_value_t = 0.0, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::decimal(0.0, 1.0, "a probability"))]
    pub duplicate: f64,

    /// Rate limit in megabits per second (up to 1000 datagrams queue for it).
    #[arg(long, value_name = "MBIT", allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::decimal(0.001, 1_000_000.0, "megabits per second"))]
    pub rate_mbit: Option<f64>,

    /// Seed of the impairments' randomness; the same seed gives the same fates to the
    /// same datagrams in the same order.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true,
          help_heading = "Impairments (each direction, seeded)",
          value_parser = args::whole(0u64, u64::MAX, "a whole number"))]
    pub seed: u64,
}

impl NetArgs {
    /// The impairment the flags ask for, or `None` for a clean link.
    pub fn impairment(&self) -> Option<Impairment> {
        let imp = Impairment {
            loss: self.loss,
            delay: Duration::from_millis(self.delay_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            reorder: self.reorder,
            duplicate: self.duplicate,
            rate_bps: self.rate_mbit.map(|m| ((m * 1e6) as u64).max(1)),
            ..Impairment::default()
        };
        (imp != Impairment::default()).then_some(imp)
    }

    /// Checks that synack's address is one the kernel routes to the interface.
    fn check_addresses(&self) -> Result<(), String> {
        let (kernel, len) = self.kernel_addr;
        let mask = u32::MAX << (32 - u32::from(len));
        let (a, k) = (u32::from(self.addr), u32::from(kernel));
        if a & mask != k & mask {
            return Err(format!(
                "--addr {} is outside --kernel-addr {kernel}/{len}: the kernel sends only \
                 that subnet to the interface; give synack an address inside it",
                self.addr
            ));
        }
        if a == k {
            return Err(format!(
                "--addr {} is the kernel's own address (--kernel-addr): give synack \
                 another address of {kernel}/{len}",
                self.addr
            ));
        }
        let host = a & !mask;
        if host == 0 || host == !mask {
            return Err(format!(
                "--addr {} is the network or broadcast address of {kernel}/{len}: give \
                 synack a host address",
                self.addr
            ));
        }
        Ok(())
    }
}

/// A running synack: its TUN interface, the engine under tokio, the control socket.
pub struct Instance {
    /// The engine's handle.
    pub net: Net,
    control: control::Server,
}

impl Instance {
    /// Creates the TUN interface (with the kernel's address, up), starts synack on it
    /// with the middleware the flags ask for, and opens the control socket. Must run
    /// inside a tokio runtime. Errors say what to do.
    pub fn start(args: &NetArgs) -> Result<Instance, String> {
        args.check_addresses()?;
        if args.queues > 1 && args.pcap.is_some() {
            return Err(format!(
                "--pcap captures one device, and --queues {} makes {0}: capture with \
                 --queues 1, or run tcpdump -i {} on the kernel's side",
                args.queues, args.tun
            ));
        }
        if interface_exists(&args.tun) {
            return Err(format!(
                "the interface name {0} is taken (another synack instance, or another \
                 interface: ip link show {0}): choose another with --tun, or remove the \
                 old one (ip link delete {0})",
                args.tun
            ));
        }
        check_subnet_free(args.kernel_addr)?;
        let config = TunConfig {
            name: args.tun.clone(),
            mtu: args.mtu,
            kernel_addr: Some(args.kernel_addr),
            offload: args.offload,
            txqueuelen: args.txqueuelen,
        };
        let mut builder = Net::builder().address(args.addr.into());
        for (name, value) in &args.sysctl {
            builder = builder
                .sysctl(name, value)
                .map_err(|e| format!("--sysctl {name}={value}: {e}"))?;
        }
        let net = if args.queues > 1 {
            let queues = TunDevice::create_queues(&config, usize::from(args.queues))
                .map_err(|e| e.to_string())?;
            let imp = args.impairment();
            let opens: Vec<_> = queues
                .into_iter()
                .map(|q| {
                    let seed = args.seed.wrapping_add(q.index() as u64);
                    let imp = imp.clone();
                    move || -> std::io::Result<Box<dyn Device>> {
                        let dev: Box<dyn Device> = Box::new(q.open()?);
                        match imp {
                            None => Ok(dev),
                            Some(imp) => Ok(Box::new(
                                Impaired::new(dev, TokioClock::new(), imp, seed)
                                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                            )),
                        }
                    }
                })
                .collect();
            builder
                .spawn_queues(opens)
                .map_err(|e| format!("starting an engine per queue of {}: {e}", args.tun))?
        } else {
            let tun = TunDevice::create(&config).map_err(|e| e.to_string())?;
            let mut dev: Box<dyn Device> = Box::new(tun);
            if let Some(imp) = args.impairment() {
                dev = Box::new(
                    Impaired::new(dev, TokioClock::new(), imp, args.seed)
                        .map_err(|e| e.to_string())?,
                );
            }
            if let Some(path) = &args.pcap {
                let file = File::create(path)
                    .map_err(|e| format!("cannot write the capture {}: {e}", path.display()))?;
                let capture = Pcap::new(dev, BufWriter::new(file), TokioClock::new())
                    .map_err(|e| format!("cannot write the capture {}: {e}", path.display()))?;
                dev = Box::new(capture);
            }
            builder.spawn(dev)
        };
        for (prefix, metrics) in &args.route {
            net.set_route(*prefix, *metrics)
                .map_err(|e| format!("--route {prefix}: {e}"))?;
        }
        let control = control::Server::open(&args.tun, net.clone())?;
        Ok(Instance { net, control })
    }

    /// The control socket's path.
    pub fn control_path(&self) -> &std::path::Path {
        self.control.path()
    }

    /// Closes the control socket and waits up to `within` for synack to finish closing
    /// its connections (their last FINs and ACKs), so that the kernel's side ends
    /// cleanly; returns whether it did.
    pub async fn finish(self, within: Duration) -> bool {
        self.control.close().await;
        tokio::time::timeout(within, self.net.finish())
            .await
            .is_ok()
    }
}

/// Whether this network namespace has an interface named `name` (`/proc/net/dev`,
/// which, unlike `/sys/class/net`, follows the reader's namespace).
fn interface_exists(name: &str) -> bool {
    std::fs::read_to_string("/proc/net/dev").is_ok_and(|t| {
        t.lines()
            .filter_map(|l| l.split_once(':'))
            .any(|(iface, _)| iface.trim() == name)
    })
}

/// Checks that no interface already has the kernel's subnet: two routes to it would send
/// the kernel's packets to whichever came first (reads `/proc/net/route`; where it
/// cannot be read, nothing is checked).
fn check_subnet_free((kernel, len): (Ipv4Addr, u8)) -> Result<(), String> {
    let Ok(table) = std::fs::read_to_string("/proc/net/route") else {
        return Ok(());
    };
    let mask = u32::MAX << (32 - u32::from(len));
    let net = u32::from(kernel) & mask;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [iface, dest, _, _, _, _, _, m, ..] = f[..] else {
            continue;
        };
        // The kernel prints each address as the native-endian number of its bytes.
        let parse = |s: &str| {
            u32::from_str_radix(s, 16).map(|v| u32::from(Ipv4Addr::from(v.to_ne_bytes())))
        };
        if let (Ok(d), Ok(m)) = (parse(dest), parse(m)) {
            if d == net && m == mask {
                return Err(format!(
                    "the address {kernel}/{len} is in use: the kernel already routes \
                     {}/{len} to {iface} (another synack instance?); give this one another \
                     subnet, e.g. --kernel-addr 10.78.0.1/24 --addr 10.78.0.2",
                    Ipv4Addr::from(net)
                ));
            }
        }
    }
    Ok(())
}

/// A multi-threaded tokio runtime for a command.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
