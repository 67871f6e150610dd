//! The driver task: it owns the device, feeds the engine what arrives, sends what the
//! engine emits, wakes the tasks whose sockets changed, and sleeps until the next
//! datagram, socket call or engine deadline. It never polls on a timer of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use synack::{BufferTooSmall, EventKind, RxOffload, State, TxOffload};
use synack_device::{Device, Offloads, TxMeta};

use crate::net::{Inner, Shared};

/// Datagrams received per pass before the engine's output and the events are handled
/// (a batch, so that ACKs coalesce as the engine's call order advises).
const RECV_BATCH: usize = 64;
/// Passes per wake-up before yielding to other tasks.
const PASSES: usize = 16;

pub(crate) struct Driver<D> {
    shared: Arc<Shared>,
    device: D,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// A datagram the device could not take yet (its length in `tx` after the
    /// headroom, and what the device must do with it).
    tx_pending: Option<(usize, TxMeta)>,
    /// The device's offloads; with any, datagrams move with their metadata, GSO
    /// packets whole.
    offloads: Offloads,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// Dropped with the driver: tells [`Net::finish`](crate::Net::finish) it ended.
    _ended: tokio::sync::watch::Sender<()>,
}

// Nothing of the driver is structurally pinned: the device is used through `&mut`.
impl<D> Unpin for Driver<D> {}

impl<D: Device> Driver<D> {
    pub fn new(shared: Arc<Shared>, device: D, ended: tokio::sync::watch::Sender<()>) -> Driver<D> {
        let mtu = device.mtu().max(576);
        let offloads = device.offloads();
        let tx_len = if offloads.gso_max_size > 0 {
            offloads.headroom + offloads.gso_max_size.max(mtu)
        } else {
            offloads.headroom + mtu
        };
        Driver {
            shared,
            device,
            rx: vec![0u8; offloads.headroom + mtu.max(65535)],
            tx: vec![0u8; tx_len],
            tx_pending: None,
            offloads,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            _ended: ended,
        }
    }

    /// Receives up to a batch; returns whether more may be waiting, or the device's
    /// error.
    fn receive(&mut self, cx: &mut Context<'_>, inner: &mut Inner) -> std::io::Result<bool> {
        let offload = self.offloads != Offloads::default();
        for _ in 0..RECV_BATCH {
            if offload {
                match self.device.poll_recv_meta(cx, &mut self.rx) {
                    Poll::Ready(Ok((at, meta))) => {
                        let now = inner.now();
                        let rx = RxOffload {
                            gso_size: meta.gso_size,
                            csum_valid: meta.csum_valid,
                        };
                        inner.stack.handle_packet_offload(now, &self.rx[at], rx);
                    }
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(false),
                }
                continue;
            }
            match self.device.poll_recv(cx, &mut self.rx) {
                Poll::Ready(Ok(n)) => {
                    let now = inner.now();
                    inner.stack.handle_packet(now, &self.rx[..n]);
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Sends what the engine has, until it has nothing or the device is full.
    fn transmit(&mut self, cx: &mut Context<'_>, inner: &mut Inner) {
        let offload = self.offloads != Offloads::default();
        let room = self.offloads.headroom;
        let tx_offload = TxOffload {
            gso_max_size: self.offloads.gso_max_size,
            csum: self.offloads.csum,
        };
        loop {
            if let Some((n, meta)) = self.tx_pending {
                let sent = if offload {
                    self.device
                        .poll_send_meta(cx, &mut self.tx[..room + n], meta)
                } else {
                    self.device.poll_send(cx, &self.tx[..n])
                };
                match sent {
                    Poll::Ready(Ok(())) => self.tx_pending = None,
                    // A datagram the device refuses is lost, as on a wire; the engine
                    // retransmits what matters.
                    Poll::Ready(Err(_)) => self.tx_pending = None,
                    Poll::Pending => return,
                }
            }
            let now = inner.now();
            let out = if offload {
                inner
                    .stack
                    .poll_transmit_offload(now, &mut self.tx[room..], tx_offload)
                    .map(|t| {
                        t.map(|t| {
                            let meta = TxMeta {
                                gso_size: if t.segs > 1 { t.gso_size } else { 0 },
                                hdr_len: t.hdr_len,
                                csum_start: t.csum_start,
                            };
                            (t.len, meta)
                        })
                    })
            } else {
                inner
                    .stack
                    .poll_transmit(now, &mut self.tx)
                    .map(|n| n.map(|n| (n, TxMeta::default())))
            };
            match out {
                Ok(Some(p)) => self.tx_pending = Some(p),
                Ok(None) => return,
                Err(BufferTooSmall { needed }) => self.tx.resize(room + needed, 0),
            }
        }
    }

    /// Wakes the tasks whose sockets had events, as their readiness says.
    fn dispatch(inner: &mut Inner, wake: &mut Vec<Waker>) {
        while let Some(ev) = inner.stack.poll_event() {
            let h = ev.socket;
            let Ok(r) = inner.stack.readiness(h) else {
                inner.waiters.remove(&h);
                continue;
            };
            let Some(w) = inner.waiters.get_mut(&h) else {
                continue;
            };
            let closed = matches!(ev.kind, EventKind::Closed(_));
            if closed || r.readable || r.accept_pending || r.error.is_some() {
                wake.extend(w.read.take());
            }
            // A Writable event wakes the writer even if the room is gone again by now:
            // the engine reports the next one only after a write meets the lack of room
            // (Linux's SOCK_NOSPACE), so the writer must try.
            let wrote = matches!(ev.kind, EventKind::Connected | EventKind::Writable);
            if closed || r.writable || r.error.is_some() || wrote {
                wake.extend(w.write.take());
            }
        }
    }

    /// Whether the driver may end: no handle left and nothing still closing. Called
    /// from `poll`, which holds a second reference to the shared state.
    fn finished(&self, inner: &Inner) -> bool {
        Arc::strong_count(&self.shared) == 2
            && self.tx_pending.is_none()
            && inner
                .stack
                .sockets()
                .iter()
                .all(|s| matches!(s.state, State::TimeWait | State::Closed))
    }

    /// Stops the driver after a device error: every call now reports it, every waiting
    /// task is woken to see it.
    fn fail(inner: &mut Inner, e: std::io::Error, wake: &mut Vec<Waker>) {
        inner.failed = Some((e.kind(), format!("the device failed: {e}")));
        for (_, w) in inner.waiters.drain() {
            wake.extend(w.read);
            wake.extend(w.write);
        }
    }
}

impl<D: Device> Future for Driver<D> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.shared.clone();
        let mut inner = shared.lock();
        inner.driver_polls += 1;
        if !inner
            .driver
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inner.driver = Some(cx.waker().clone());
        }
        let mut wake = Vec::new();
        let mut more = false;
        for pass in 1..=PASSES {
            more = match this.receive(cx, &mut inner) {
                Ok(more) => more,
                Err(e) => {
                    Self::fail(&mut inner, e, &mut wake);
                    drop(inner);
                    wake.into_iter().for_each(Waker::wake);
                    return Poll::Ready(());
                }
            };
            // Timers run once what waits in the device is read (an ACK there cancels
            // a retransmission), or at the last pass, so that input cannot hold them
            // back for ever.
            if !more || pass == PASSES {
                inner.catch_up();
            } else {
                inner.tick();
            }
            this.transmit(cx, &mut inner);
            // A flush error loses the datagrams held; TCP recovers them.
            let _ = this.device.poll_flush(cx);
            Self::dispatch(&mut inner, &mut wake);
            if !more {
                break;
            }
        }
        if more {
            cx.waker().wake_by_ref();
        }
        if let Some(at) = inner.stack.poll_timeout() {
            let at = inner.tokio_instant(at);
            if this.sleep.deadline() != at {
                this.sleep.as_mut().reset(at);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        let done = this.finished(&inner);
        drop(inner);
        wake.into_iter().for_each(Waker::wake);
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
