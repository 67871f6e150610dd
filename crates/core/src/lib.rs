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
//! The same configuration, inputs and seed give the same outputs, bit for bit.
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

pub mod buffer;
pub mod config;
pub mod congestion;
mod conn;
pub mod error;
mod hash;
mod info;
pub mod isn;
mod listen;
pub mod rtt;
mod segment;
mod stack;
pub mod state;
pub mod stats;
mod syncookie;
pub mod time;
mod time_wait;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use info::{SocketInfo, TimerInfo};
pub use stack::{BufferTooSmall, Readiness};
pub use stack::{
    Event, EventKind, SendFlags, Shutdown, SockOpt, SockOptName, SocketHandle, Stack, Transition,
};
pub use state::State;
pub use stats::Stats;
pub use synack_wire as wire;
pub use synack_wire::SeqNum;
pub use time::Instant;
