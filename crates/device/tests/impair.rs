//! The in-memory pair and the impairment layer, on a manual clock: every figure checked
//! here follows from the configuration and the seed.

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use synack_device::{Device, Impaired, Impairment, ManualClock, MemoryDevice};

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A datagram carrying its number (not a valid IP datagram: devices do not look).
fn numbered(i: u32, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len.max(4)];
    d[..4].copy_from_slice(&i.to_be_bytes());
    d
}

fn number(d: &[u8]) -> u32 {
    u32::from_be_bytes(d[..4].try_into().unwrap())
}

/// Everything `dev` has for us now.
fn drain(dev: &mut impl Device) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Poll::Ready(r) = dev.poll_recv(&mut cx(), &mut buf) {
        let n = r.expect("recv");
        out.push(buf[..n].to_vec());
    }
    out
}

fn send(dev: &mut impl Device, d: &[u8]) {
    match dev.poll_send(&mut cx(), d) {
        Poll::Ready(r) => r.expect("send"),
        Poll::Pending => panic!("the device did not take the datagram"),
    }
}

/// A pair whose `a` end impairs what it sends, on a manual clock.
fn impaired_pair(
    cfg: Impairment,
    seed: u64,
) -> (
    Impaired<MemoryDevice, ManualClock>,
    MemoryDevice,
    ManualClock,
) {
    let (a, b) = MemoryDevice::pair(1500);
    let clock = ManualClock::new();
    let a = Impaired::with_lanes(a, clock.clone(), Impairment::default(), cfg, seed).unwrap();
    (a, b, clock)
}

#[test]
fn memory_pair_carries_datagrams_in_order_and_refuses_oversize() {
    let (mut a, mut b) = MemoryDevice::pair(100);
    assert!(drain(&mut b).is_empty());
    for i in 0..10 {
        send(&mut a, &numbered(i, 50));
    }
    let got: Vec<u32> = drain(&mut b).iter().map(|d| number(d)).collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    send(&mut b, b"back");
    assert_eq!(drain(&mut a), vec![b"back".to_vec()]);
    match a.poll_send(&mut cx(), &[0u8; 101]) {
        Poll::Ready(Err(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("MTU of 100"), "{e}");
        }
        other => panic!("an oversize datagram was taken: {other:?}"),
    }
}

/// A full queue drops at its tail and counts the drops; nothing already queued is lost.
#[test]
fn memory_pair_drops_at_the_tail_when_full() {
    let (mut a, mut b) = MemoryDevice::pair(100);
    for i in 0..5000 {
        send(&mut a, &numbered(i, 8));
    }
    assert_eq!(a.dropped(), 5000 - 4096);
    let got: Vec<u32> = drain(&mut b).iter().map(|d| number(d)).collect();
    assert_eq!(got, (0..4096).collect::<Vec<_>>());
}

#[test]
fn memory_pair_wakes_the_receiver() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let (mut a, mut b) = MemoryDevice::pair(1500);
    let mut buf = [0u8; 16];
    assert!(b
        .poll_recv(&mut Context::from_waker(&waker), &mut buf)
        .is_pending());
    send(&mut a, b"x");
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
}

#[test]
fn loss_follows_the_probability_and_the_seed() {
    let run = |seed| {
        let (mut a, mut b, _) = impaired_pair(
            Impairment {
                loss: 0.1,
                ..Impairment::default()
            },
            seed,
        );
        let mut got = Vec::new();
        for i in 0..10_000 {
            send(&mut a, &numbered(i, 60));
            if i % 1000 == 999 {
                got.extend(drain(&mut b).iter().map(|d| number(d)));
            }
        }
        assert_eq!(got.len() as u64, 10_000 - a.egress_stats().lost);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order kept");
        got
    };
    let first = run(1);
    let lost = 10_000 - first.len();
    assert!((850..1150).contains(&lost), "10% of 10000 lost, got {lost}");
    assert_eq!(first, run(1), "same seed, same fates");
    assert_ne!(first, run(2), "another seed, other fates");
}

#[test]
fn delay_and_jitter_hold_datagrams_until_due_and_keep_order() {
    let (mut a, mut b, clock) = impaired_pair(
        Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..Impairment::default()
        },
        3,
    );
    for i in 0..100 {
        send(&mut a, &numbered(i, 60));
    }
    clock.advance(Duration::from_millis(19));
    assert!(matches!(a.poll_flush(&mut cx()), Poll::Pending));
    assert!(drain(&mut b).is_empty(), "nothing before the delay");
    let mut got = Vec::new();
    for _ in 0..11 {
        clock.advance(Duration::from_millis(1));
        let _ = a.poll_flush(&mut cx());
        got.extend(drain(&mut b).iter().map(|d| number(d)));
    }
    assert_eq!(
        got,
        (0..100).collect::<Vec<_>>(),
        "all by delay + jitter, in order"
    );
    assert!(matches!(a.poll_flush(&mut cx()), Poll::Ready(Ok(()))));
}

#[test]
fn reordering_lets_later_datagrams_overtake() {
    let (mut a, mut b, clock) = impaired_pair(
        Impairment {
            reorder: 0.2,
            reorder_delay: Duration::from_millis(5),
            ..Impairment::default()
        },
        4,
    );
    let mut got = Vec::new();
    for i in 0..1000 {
        send(&mut a, &numbered(i, 60));
        clock.advance(Duration::from_millis(1));
        let _ = a.poll_flush(&mut cx());
        got.extend(drain(&mut b).iter().map(|d| number(d)));
    }
    clock.advance(Duration::from_millis(10));
    let _ = a.poll_flush(&mut cx());
    got.extend(drain(&mut b).iter().map(|d| number(d)));
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..1000).collect::<Vec<_>>(),
        "nothing lost or added"
    );
    let late = got.windows(2).filter(|w| w[0] > w[1]).count() as u64;
    let reordered = a.egress_stats().reordered;
    assert!((150..250).contains(&reordered), "{reordered}");
    assert!(
        late > 0 && late <= reordered,
        "{late} inversions, {reordered} held back"
    );
}

#[test]
fn duplication_adds_copies() {
    let (mut a, mut b, _) = impaired_pair(
        Impairment {
            duplicate: 0.05,
            ..Impairment::default()
        },
        5,
    );
    for i in 0..2000 {
        send(&mut a, &numbered(i, 60));
    }
    let got = drain(&mut b);
    let dup = a.egress_stats().duplicated;
    assert!((60..140).contains(&dup), "{dup}");
    assert_eq!(got.len() as u64, 2000 + dup);
}

#[test]
fn rate_limit_serializes_and_drops_at_the_tail() {
    // 1 Mbit/s: a 1250-byte datagram takes 10 ms on the link.
    let (mut a, mut b, clock) = impaired_pair(
        Impairment {
            rate_bps: Some(1_000_000),
            queue_limit: 5,
            ..Impairment::default()
        },
        6,
    );
    for i in 0..8 {
        send(&mut a, &numbered(i, 1250));
    }
    assert_eq!(a.egress_stats().overflowed, 3, "five wait, three dropped");
    let mut arrivals = Vec::new();
    for ms in 1..=60 {
        clock.advance(Duration::from_millis(1));
        let _ = a.poll_flush(&mut cx());
        for d in drain(&mut b) {
            arrivals.push((ms, number(&d)));
        }
    }
    assert_eq!(
        arrivals,
        vec![(10, 0), (20, 1), (30, 2), (40, 3), (50, 4)],
        "one datagram per 10 ms"
    );
}

#[test]
fn ingress_lane_impairs_what_is_received() {
    let (a, mut b) = MemoryDevice::pair(1500);
    let clock = ManualClock::new();
    let mut a = Impaired::with_lanes(
        a,
        clock.clone(),
        Impairment {
            delay: Duration::from_millis(3),
            ..Impairment::default()
        },
        Impairment::default(),
        9,
    )
    .unwrap();
    send(&mut b, &numbered(1, 60));
    assert!(drain(&mut a).is_empty());
    clock.advance(Duration::from_millis(3));
    assert_eq!(drain(&mut a).len(), 1);
    assert_eq!(a.ingress_stats().released, 1);
}

#[test]
fn bad_impairments_say_what_to_give() {
    let (a, _) = MemoryDevice::pair(1500);
    let err = Impaired::new(
        a,
        ManualClock::new(),
        Impairment {
            loss: 1.5,
            ..Impairment::default()
        },
        0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("from 0 to 1"), "{err}");
    let zero_rate = Impairment {
        rate_bps: Some(0),
        ..Impairment::default()
    };
    assert!(zero_rate
        .validate()
        .unwrap_err()
        .to_string()
        .contains("above 0"));
}
