//! A blocked writer under tokio meets Linux's send-buffer accounting: `poll_write`
//! lays its bytes into the chunks Linux's tcp_sendmsg would make skbs of, each charged
//! its overhead, as the engine's send() does (crates/core/tests/write_accounting.rs
//! compares the two calls byte for byte): a write opens an skb while the buffer is not
//! fully charged and fills it to the size goal, so the payload a blocked writer leaves
//! queued passes the buffer's size; and the writer is woken only when a third of the
//! buffer is free (sk_stream_write_space).
//!
//! The runtime is current-thread: the driver task runs only while the test awaits, so
//! what the writes take is decided before anything is sent or acknowledged.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use synack_device::MemoryDevice;
use synack_tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWrite};

const SERVER: [u8; 4] = [10, 0, 0, 1];
const CLIENT: [u8; 4] = [10, 0, 0, 2];

fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from(ip), port)
}

/// Writes `piece`-byte pieces until `poll_write` is pending; returns the bytes taken.
fn fill(s: &mut TcpStream, piece: usize) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let data = vec![0x5au8; piece];
    let mut total = 0;
    for _ in 0..100_000 {
        match Pin::new(&mut *s).poll_write(&mut cx, &data) {
            Poll::Ready(Ok(n)) => total += n,
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending => return total,
        }
    }
    panic!("the send buffer never filled")
}

#[tokio::test]
async fn a_blocked_writer_meets_linux_accounting() {
    let (a, b) = MemoryDevice::pair(1500);
    let server = Net::builder().address(SERVER.into()).spawn(a);
    let client = Net::builder().address(CLIENT.into()).spawn(b);
    let listener = TcpListener::bind(&server, addr(SERVER, 9)).await.unwrap();
    for piece in [100, 1 << 20] {
        let mut s = TcpStream::connect(&client, addr(SERVER, 9)).await.unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        s.set_send_buffer_size(16384).unwrap();
        let n = fill(&mut s, piece);
        // SO_SNDBUF 16384 is a 32768-byte buffer; the size goal here (a GSO unit of up
        // to 64 KiB) is larger, so the skb opened while room remained takes the writes
        // past it. (Charged as one growing chunk per call sequence, the writer would
        // stop at 32768 less one skb's overhead.)
        assert!(
            (32768..32768 + 65536).contains(&n),
            "{piece}-byte writes took {n}"
        );
        // The writer is blocked; the peer reads what it was sent, and the writer is
        // woken once a third of the buffer is free: then a write takes at least that.
        let mut got = vec![0u8; n];
        let writer = async {
            let free =
                std::future::poll_fn(|cx| Pin::new(&mut s).poll_write(cx, &vec![0x5au8; 1 << 16]))
                    .await
                    .unwrap();
            assert!(free >= 32768 / 3 - 4096, "woken with {free} bytes of room");
            free
        };
        let reader = async { peer.read_exact(&mut got).await.unwrap() };
        let (more, _) = tokio::join!(writer, reader);
        assert!(more > 0);
    }
}
