//! Capture middleware: every datagram a device receives or sends, written to a pcap
//! stream as it passes.
//!
//! The stream is classic pcap (microsecond timestamps), link type `LINKTYPE_RAW` (101:
//! each record is a bare IPv4 or IPv6 datagram), snap length 65535, written with the
//! `pcap-file` crate; Wireshark, tshark and tcpdump read it. Timestamps are the wall
//! clock at the [`Clock`]'s origin plus the clock's time, so a capture on a
//! [`ManualClock`](crate::ManualClock) is reproducible with
//! [`Pcap::with_origin`].

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::clock::Clock;
use crate::Device;

/// The snap length of the capture: no datagram is cut.
const SNAPLEN: u32 = 65535;

/// The output, shared between the pcap writer (which owns what it writes to) and the
/// middleware (which flushes it).
struct Shared<W>(Arc<Mutex<W>>);

impl<W: Write> Write for Shared<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("pcap output lock").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().expect("pcap output lock").flush()
    }
}

/// Middleware writing every datagram that passes through `inner` to a pcap stream.
pub struct Pcap<D, W: Write, C: Clock> {
    inner: D,
    writer: PcapWriter<Shared<W>>,
    out: Arc<Mutex<W>>,
    clock: C,
    origin: Duration,
    records: u64,
}

impl<D, W: Write, C: Clock> fmt::Debug for Pcap<D, W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pcap")
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

fn pcap_err(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(format!("pcap capture: {other}")),
    }
}

impl<D: Device, W: Write + Send, C: Clock> Pcap<D, W, C> {
    /// Captures `inner` to `out` (the pcap header is written now), timestamps from the
    /// wall clock now, advanced by `clock`.
    pub fn new(inner: D, out: W, clock: C) -> io::Result<Self> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let origin = wall.saturating_sub(clock.now());
        Pcap::with_origin(inner, out, clock, origin)
    }

    /// Captures `inner` to `out` with timestamps `origin + clock.now()` (`origin` since
    /// the Unix epoch): the same inputs give the same file.
    pub fn with_origin(inner: D, out: W, clock: C, origin: Duration) -> io::Result<Self> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SNAPLEN,
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
        };
        let out = Arc::new(Mutex::new(out));
        let writer = PcapWriter::with_header(Shared(out.clone()), header).map_err(pcap_err)?;
        Ok(Pcap {
            inner,
            writer,
            out,
            clock,
            origin,
            records: 0,
        })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Flushes the stream and returns it (with the device).
    pub fn into_parts(self) -> io::Result<(D, W)> {
        drop(self.writer);
        let out =
            Arc::try_unwrap(self.out).map_err(|_| io::Error::other("pcap output still shared"))?;
        let mut w = out
            .into_inner()
            .map_err(|_| io::Error::other("pcap output lock poisoned"))?;
        w.flush()?;
        Ok((self.inner, w))
    }

    fn record(&mut self, datagram: &[u8]) -> io::Result<()> {
        // Microsecond resolution: drop the nanoseconds so the file says what it holds.
        let t = self.origin + self.clock.now();
        let t = Duration::new(t.as_secs(), t.subsec_micros() * 1000);
        let packet = PcapPacket::new(t, datagram.len() as u32, datagram);
        self.writer.write_packet(&packet).map_err(pcap_err)?;
        self.records += 1;
        Ok(())
    }
}

impl<D: Device, W: Write + Send, C: Clock> Device for Pcap<D, W, C> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.inner.poll_recv(cx, buf) {
            Poll::Ready(Ok(n)) => Poll::Ready(self.record(&buf[..n]).map(|()| n)),
            other => other,
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        match self.inner.poll_send(cx, datagram) {
            Poll::Ready(Ok(())) => Poll::Ready(self.record(datagram)),
            other => other,
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = self.inner.poll_flush(cx);
        if r.is_ready() {
            self.out.lock().expect("pcap output lock").flush()?;
        }
        r
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
}
