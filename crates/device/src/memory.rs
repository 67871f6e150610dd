//! Two devices joined back to back in memory: what one sends, the other receives.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::Device;

/// How many datagrams one direction holds before it drops new ones (a full transmit
/// ring drops at its tail, as a NIC's does).
const QUEUE_LIMIT: usize = 4096;

#[derive(Default)]
struct Pipe {
    queue: VecDeque<Vec<u8>>,
    reader: Option<Waker>,
    dropped: u64,
}

/// One end of an in-memory link made by [`MemoryDevice::pair`]. Datagrams arrive in the
/// order they were sent, none is lost unless 4096 are waiting; wrap an end in
/// [`Impaired`](crate::Impaired) for a worse link.
pub struct MemoryDevice {
    rx: Arc<Mutex<Pipe>>,
    tx: Arc<Mutex<Pipe>>,
    mtu: usize,
}

impl std::fmt::Debug for MemoryDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDevice")
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

impl MemoryDevice {
    /// Two devices joined to each other, each carrying datagrams of up to `mtu` bytes.
    pub fn pair(mtu: usize) -> (MemoryDevice, MemoryDevice) {
        let ab = Arc::new(Mutex::new(Pipe::default()));
        let ba = Arc::new(Mutex::new(Pipe::default()));
        (
            MemoryDevice {
                rx: ba.clone(),
                tx: ab.clone(),
                mtu,
            },
            MemoryDevice {
                rx: ab,
                tx: ba,
                mtu,
            },
        )
    }

    /// Datagrams this end sent that were dropped because the other end's queue was full.
    pub fn dropped(&self) -> u64 {
        self.tx.lock().expect("pipe lock").dropped
    }
}

impl Device for MemoryDevice {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut pipe = self.rx.lock().expect("pipe lock");
        match pipe.queue.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Poll::Ready(Ok(n))
            }
            None => {
                pipe.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_send(&mut self, _cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<()>> {
        if datagram.len() > self.mtu {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte datagram is longer than the device's MTU of {} bytes",
                    datagram.len(),
                    self.mtu
                ),
            )));
        }
        let waker = {
            let mut pipe = self.tx.lock().expect("pipe lock");
            if pipe.queue.len() >= QUEUE_LIMIT {
                pipe.dropped += 1;
                return Poll::Ready(Ok(()));
            }
            pipe.queue.push_back(datagram.to_vec());
            pipe.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
