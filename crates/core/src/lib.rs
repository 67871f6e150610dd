//! synack: a sans-IO TCP/IP engine that behaves like Linux.
//!
//! # Overview
//!
//! A [`Stack`] is a whole TCP/IP endpoint with no I/O and no clock of its own. A driver
//! feeds it IP datagrams ([`Stack::handle_packet`]) and the time
//! ([`Stack::handle_timeout`]), and takes datagrams to send ([`Stack::poll_transmit`]),
//! the next deadline ([`Stack::poll_timeout`]) and application events
//! ([`Stack::poll_event`]). Programs use it through socket calls on handles
//! ([`Stack::socket`], [`Stack::bind`], [`Stack::listen`], [`Stack::accept`],
//! [`Stack::connect`], [`Stack::send`], [`Stack::recv`], [`Stack::shutdown`],
//! [`Stack::close`]) that fail with the errno a Linux program would see ([`Error`]).
//! Its secrets (ISN key, SYN-cookie secrets, hash keys) come from the operating system's
//! random source; a [`Config::seeded`] configuration makes them reproducible instead, so
//! that the same configuration and inputs give the same outputs, bit for bit (for
//! simulations and tests, never on a real network).
//!
//! # Example
//!
//! Two stacks in one program, with a driver loop that carries each stack's datagrams to
//! the other: a client connects, the server accepts, and bytes go across.
//!
//! ```
//! use std::net::SocketAddr;
//! use synack::{Config, EventKind, Instant, Stack};
//!
//! /// Carries every datagram `from` has to send to `to`; true if there was one.
//! fn carry(from: &mut Stack, to: &mut Stack, now: Instant) -> bool {
//!     let mut buf = [0u8; 1500]; // the link's MTU
//!     let mut moved = false;
//!     while let Some(n) = from.poll_transmit(now, &mut buf).expect("MTU-sized buffer") {
//!         to.handle_packet(now, &buf[..n]);
//!         moved = true;
//!     }
//!     moved
//! }
//!
//! /// The driver: datagrams go back and forth until both stacks are quiet. (A real
//! /// driver sends them on a device, and calls `handle_timeout` when `poll_timeout`'s
//! /// instant comes.)
//! fn exchange(a: &mut Stack, b: &mut Stack, now: Instant) {
//!     while carry(a, b, now) | carry(b, a, now) {}
//! }
//!
//! let server_addr: SocketAddr = "10.0.0.2:80".parse().unwrap();
//! // Config::default(): Linux's defaults, secrets from the OS.
//! let mut client = Stack::new(Config::default());
//! client.add_address("10.0.0.1".parse().unwrap());
//! let mut server = Stack::new(Config::default());
//! server.add_address(server_addr.ip());
//!
//! let listener = server.socket();
//! server.bind(listener, server_addr)?;
//! server.listen(listener, 128)?;
//!
//! let sock = client.socket();
//! client.connect(sock, server_addr)?;
//! let mut now = Instant::ZERO;
//! exchange(&mut client, &mut server, now); // SYN, SYN-ACK, ACK
//!
//! // The listener says a connection is waiting; accept() hands it over.
//! let ev = server.poll_event().expect("an event");
//! assert_eq!((ev.socket, ev.kind), (listener, EventKind::Incoming));
//! let (conn, peer) = server.accept(listener)?;
//! assert_eq!(peer.ip(), "10.0.0.1".parse::<std::net::IpAddr>().unwrap());
//!
//! now += std::time::Duration::from_millis(1);
//! client.send(sock, b"hello, synack")?;
//! exchange(&mut client, &mut server, now);
//! let mut buf = [0u8; 64];
//! let n = server.recv(conn, &mut buf)?;
//! assert_eq!(&buf[..n], b"hello, synack");
//! # Ok::<(), synack::Error>(())
//! ```
//!
//! Inside, the work is divided as in Linux: segment arrival (`conn/input.rs`, in the order
//! of RFC 9293 section 3.10.7), output (`conn/output.rs`), timers (`conn/timers.rs`),
//! listeners with their SYN and accept queues (`listen.rs`), compact TIME-WAIT records
//! (`time_wait.rs`), RFC 6298 RTT estimation (`rtt.rs`), congestion control
//! (`congestion/`: Reno and CUBIC), send and reassembly buffers (`buffer.rs`), RFC 6528
//! ISNs (`isn.rs`). [`Config`] holds the knobs, with Linux's sysctl names and defaults;
//! [`Stats`] the counters, named as `netstat -s` names them; [`SocketInfo`] the
//! `ss -tanoi` view of a socket.

#![warn(missing_docs)]

pub mod any;
pub mod buffer;
pub mod config;
pub mod congestion;
mod conn;
mod demux;
pub mod error;
pub mod fastopen;
mod hash;
mod info;
pub mod isn;
mod listen;
pub mod route;
pub mod rtt;
mod segment;
mod stack;
pub mod state;
pub mod stats;
mod syncookie;
mod sysctl_show;
pub mod time;
mod time_wait;
mod tw_recycle;
mod tw_table;
mod wheel;

pub use any::{AnyFilter, Prefix};
pub use config::{Config, ConfigError, Qdisc};
pub use error::{Error, Result};
pub use info::{tcpi_options, SocketInfo, TcpInfo, TimerInfo, INFINITE_SSTHRESH};
pub use route::{Route, RouteMetrics, Routes};
pub use stack::{BufferTooSmall, PortSteering, Readiness, RxOffload, Transmit, TxOffload};
pub use stack::{
    Event, EventKind, SendFlags, Shutdown, SockOpt, SockOptName, SocketHandle, Stack, Transition,
};
pub use state::State;
pub use stats::Stats;
pub use synack_wire as wire;
pub use synack_wire::SeqNum;
pub use time::Instant;
