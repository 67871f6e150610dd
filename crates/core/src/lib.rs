//! synack: a sans-IO TCP/IP engine that behaves like Linux.
//!
//! (Work in progress: the engine lands in increments.)

#![warn(missing_docs)]

pub mod time;

pub use time::Instant;

/// Placeholder for the engine's stack; its sans-IO surface is fixed so that drivers can be
/// written against it.
#[derive(Debug, Default)]
pub struct Stack {}

impl Stack {
    /// Feeds one whole IP datagram received at `now`.
    pub fn handle_packet(&mut self, _now: Instant, _packet: &[u8]) {}
    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, _now: Instant) {}
    /// Writes the next datagram to send into `buf` and returns its length.
    pub fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    /// The next instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
