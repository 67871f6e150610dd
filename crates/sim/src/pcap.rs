//! Classic pcap output (the libpcap file format), written by hand.
//!
//! Files use the microsecond-resolution magic number `0xa1b2c3d4`, written little-endian,
//! version 2.4, a snap length of 65535 and link type `LINKTYPE_RAW` (101): each record is
//! a bare IPv4 or IPv6 datagram, which is what the simulated links carry. Timestamps come
//! from the virtual clock, so a capture of a seeded run is itself reproducible byte for
//! byte. Wireshark and tcpdump read these files directly.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use synack::Instant;

/// `LINKTYPE_RAW`: packets begin with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// The snap length written in the header; longer packets are truncated in the file (with
/// their original length recorded), though no simulated link carries one.
pub const SNAPLEN: u32 = 65535;

/// Writes a pcap stream: the global header on creation, then one record per packet.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header to `out` and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet seen at virtual time `at`.
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let micros = at.total_micros();
        // pcap seconds are 32 bits: a virtual clock past 2106 wraps, which is harmless.
        let secs = (micros / 1_000_000) as u32;
        let usecs = (micros % 1_000_000) as u32;
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl = packet.len().min(SNAPLEN as usize);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&usecs.to_le_bytes());
        record[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&packet[..incl])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A cloneable in-memory sink: every clone appends to the same buffer. Hand one clone to
/// [`Network::capture`](crate::Network::capture) and keep another to read the bytes back.
///
/// ```
/// use std::io::Write;
/// use synack_sim::SharedBuffer;
/// let buf = SharedBuffer::new();
/// let mut writer = buf.clone();
/// writer.write_all(b"abc").unwrap();
/// assert_eq!(buf.contents(), b"abc");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SharedBuffer(Rc<RefCell<Vec<u8>>>);

impl SharedBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let buf = SharedBuffer::new();
        let mut w = PcapWriter::new(buf.clone()).unwrap();
        w.write_packet(Instant::from_micros(3_000_042), &[0x45, 1, 2])
            .unwrap();
        let bytes = buf.contents();
        assert_eq!(bytes.len(), 24 + 16 + 3);
        assert_eq!(&bytes[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[20..24], &[101, 0, 0, 0]);
        assert_eq!(&bytes[24..28], &3u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &42u32.to_le_bytes());
        assert_eq!(&bytes[32..36], &3u32.to_le_bytes());
        assert_eq!(&bytes[36..40], &3u32.to_le_bytes());
        assert_eq!(&bytes[40..], &[0x45, 1, 2]);
    }
}
