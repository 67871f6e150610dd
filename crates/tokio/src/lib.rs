//! synack under tokio: the engine and a device driven by one task, with a
//! `TcpListener` and a `TcpStream` shaped like tokio's, so that axum, hyper and
//! anything written for tokio's sockets run on synack unchanged.
//!
//! # Overview
//!
//! [`Net::builder`] configures an instance (its addresses, knobs by their Linux sysctl
//! names) and [`NetBuilder::spawn`] starts it on a [`Device`](synack_device::Device):
//! a TUN interface, an in-memory pair, either wrapped in capture or impairment
//! middleware. A driver task then owns the engine and the device; it sleeps until a
//! datagram arrives, a socket call needs it, or the engine's next deadline comes, and
//! wakes exactly the tasks whose sockets changed (by the engine's per-socket
//! readiness).
//!
//! Socket calls lock the engine for the call's duration only; reads and writes copy
//! once, between the caller's buffer and the connection's ring.
//!
//! ```
//! use synack_device::MemoryDevice;
//! use synack_tokio::{Net, TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let (a, b) = MemoryDevice::pair(1500);
//! let server = Net::builder().address([10, 0, 0, 1].into()).spawn(a);
//! let client = Net::builder().address([10, 0, 0, 2].into()).spawn(b);
//! let listener = TcpListener::bind(&server, "10.0.0.1:7".parse().unwrap()).await?;
//! tokio::spawn(async move {
//!     let (mut s, _) = listener.accept().await?;
//!     let mut buf = Vec::new();
//!     s.read_to_end(&mut buf).await?;
//!     s.write_all(&buf).await?;
//!     std::io::Result::Ok(())
//! });
//! let mut c = TcpStream::connect(&client, "10.0.0.1:7".parse().unwrap()).await?;
//! c.write_all(b"echo").await?;
//! c.shutdown().await?; // half-close: the server sees end of stream
//! let mut back = Vec::new();
//! c.read_to_end(&mut back).await?;
//! assert_eq!(back, b"echo");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod driver;
mod listener;
mod net;
mod socket;
mod stream;

pub use listener::TcpListener;
pub use net::{Net, NetBuilder};
pub use socket::TcpSocket;
pub use stream::TcpStream;
pub use synack::{AnyFilter, Prefix, SockOpt, SockOptName};
