//! synack's fuzz harnesses, shared by the cargo-fuzz targets in `fuzz_targets/` and by the
//! corpus tests in `tests/` (which replay the committed seed corpus on stable Rust and can
//! regenerate it).
//!
//! - [`wire`]: a datagram is parsed, emitted and parsed again; every header field and
//!   option must survive (in the canonical form the emitter writes), and the same input
//!   read as a structured description must emit a datagram that parses back to it.
//! - [`stack`]: a whole [`synack::Stack`] with listeners and established connections is
//!   driven by a sequence of operations ([`stack::Op`]): raw datagrams, segments crafted
//!   from the live sequence numbers, time jumps and socket calls. Every datagram the stack
//!   sends must parse, every loop of the driver is bounded, and nothing may panic.
//!
//! - [`offload`]: the stack harness over segmentation offload, whose super-segments
//!   cut as a device cuts them must equal the plain path's datagrams byte for byte, and
//!   over receive offload, GSO packets of a drawn segment size.
//!
//! The stack input has a byte format of its own, read through [`arbitrary::Unstructured`]
//! and written back by [`stack::StackInput::encode`], so seeds can be built from readable
//! operation lists (see [`corpus`]).

#![warn(missing_docs)]

pub mod corpus;
pub mod offload;
pub mod stack;
pub mod wire;
