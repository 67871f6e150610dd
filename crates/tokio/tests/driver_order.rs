//! The driver's order of work (issue 11, the TUN path's early retransmissions): what
//! waits in the device is read before the timers that are due run. A datagram that
//! arrived before a retransmission timer's deadline, but that the driver (starved of
//! CPU) has not read yet, must cancel the retransmission, as it would in Linux, where
//! it is processed when it arrives. A socket call made meanwhile (by any task, on any
//! connection of the engine) tells the engine the time without running the timers:
//! it cannot see the device.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use synack::Config;
use synack_device::{Device, MemoryDevice};
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// A device whose sends are held back while `held` is set, and go out, in order, when
/// it is cleared (see [`Gate::release`]).
struct Gate {
    inner: MemoryDevice,
    held: Arc<AtomicBool>,
    queue: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Device for Gate {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        self.inner.poll_recv(cx, buf)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<std::io::Result<()>> {
        let mut q = self.queue.lock().unwrap();
        if self.held.load(Ordering::SeqCst) {
            q.push(datagram.to_vec());
            return Poll::Ready(Ok(()));
        }
        for d in q.drain(..) {
            let _ = self.inner.poll_send(cx, &d);
        }
        self.inner.poll_send(cx, datagram)
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
}

/// A UDP datagram from B to a third host, which A counts and drops.
fn junk_datagram() -> Vec<u8> {
    let repr = synack::wire::IpRepr {
        src: IpAddr::from(B),
        dst: IpAddr::from([10, 0, 0, 99]),
        protocol: 17,
        payload_len: 8,
        hop_limit: 64,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    buf
}

#[test]
fn an_ack_waiting_in_the_device_cancels_the_retransmission() {
    let (dev_a, dev_b) = MemoryDevice::pair(1500);
    let held = Arc::new(AtomicBool::new(false));
    let queue = Arc::new(Mutex::new(Vec::new()));
    let gate_b = Gate {
        inner: dev_b,
        held: held.clone(),
        queue: queue.clone(),
    };
    // A: its own single-threaded runtime on its own thread, which the test can stall;
    // a short minimum RTO, so that the retransmission timer is due within milliseconds.
    let rt_a = synack_device::netns::runtime(0);
    let handle_a = rt_a.handle().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread_a = std::thread::spawn(move || {
        rt_a.block_on(async {
            let _ = stop_rx.await;
        });
    });
    let mut config = Config::seeded(1);
    config.rto_min = Duration::from_millis(2);
    let net_a = {
        let _enter = handle_a.enter();
        Net::builder().address(A.into()).config(config).spawn(dev_a)
    };
    let rt = synack_device::netns::runtime(0);
    rt.block_on(async {
        let net_b = Net::builder().address(B.into()).spawn(gate_b);
        let to_b = SocketAddr::new(IpAddr::from(B), 7);
        let listener = TcpListener::bind(&net_b, to_b).await.unwrap();
        let mut a = TcpStream::connect(&net_a, to_b).await.unwrap();
        let (mut b, _) = listener.accept().await.unwrap();
        // A few round trips, for an RTT estimate.
        let mut byte = [0u8; 1];
        for _ in 0..4 {
            a.write_all(b"x").await.unwrap();
            b.read_exact(&mut byte).await.unwrap();
        }
        // B's ACK of the next byte is held back...
        held.store(true, Ordering::SeqCst);
        a.write_all(b"y").await.unwrap();
        b.read_exact(&mut byte).await.unwrap();
        while queue.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        // Ahead of it, more datagrams than the driver reads in one batch (for another
        // host: A drops them), as a busy device has.
        {
            let junk = junk_datagram();
            let mut q = queue.lock().unwrap();
            for _ in 0..200 {
                q.insert(0, junk.clone());
            }
        }
        // ...and A's driver is stalled (its runtime's only thread blocked) before it
        // goes out: the ACK reaches A's device, unread, well before A's retransmission
        // timer (the loss probe's or the RTO's) is due.
        let (stalled_tx, stalled_rx) = std::sync::mpsc::channel::<()>();
        let (resume_tx, resume_rx) = std::sync::mpsc::channel::<()>();
        handle_a.spawn(async move {
            stalled_tx.send(()).unwrap();
            resume_rx.recv().unwrap();
        });
        stalled_rx.recv().unwrap();
        let sent_at = Instant::now();
        held.store(false, Ordering::SeqCst);
        // B sends again (a write of its own pushes the held ACK out first).
        b.write_all(b"z").await.unwrap();
        while !queue.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        // Past A's retransmission deadline, a socket call on A.
        let rto = a.info().unwrap().rto;
        while sent_at.elapsed() < rto * 3 {
            std::thread::yield_now();
        }
        a.set_nodelay(true).unwrap();
        // The driver runs again: it reads the ACK first.
        resume_tx.send(()).unwrap();
        a.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"z");
        let st = net_a.stats();
        assert_eq!(
            st.IpInAddrErrors, 200,
            "the other host's datagrams were read"
        );
        assert_eq!(st.TCPTimeouts, 0, "no timeout: the ACK came first: {st:?}");
        assert_eq!(st.RetransSegs, 0, "nothing was sent again: {st:?}");
        assert_eq!(a.info().unwrap().send_q, 0);
    });
    stop_tx.send(()).unwrap();
    thread_a.join().unwrap();
}
