//! Port steering (`Stack::set_port_steering`): an engine that is one of several on a
//! multi-queue device picks only ephemeral ports whose segments the device hands to its
//! own queue (`PortSteering::queue_of`), and runs out of ports (EADDRNOTAVAIL)
//! when its share of the range is used up.

use std::net::SocketAddr;

use synack::{Config, Error, PortSteering, Stack};

fn stack(range: &str, steering: Option<PortSteering>) -> Stack {
    let mut c = Config::default();
    c.set_sysctl("ip_local_port_range", range).unwrap();
    let mut s = Stack::new(c);
    s.add_address([10, 0, 0, 1].into());
    s.set_port_steering(steering);
    s
}

#[test]
fn ephemeral_ports_land_on_the_engines_queue() {
    for queue in 0..3 {
        let steer = PortSteering::new(3, queue).unwrap();
        let mut s = stack("32768 60999", Some(steer));
        assert_eq!(s.port_steering(), Some(steer));
        for k in 0..300u16 {
            let remote: SocketAddr = ([10, 0, 0, 2 + (k % 3) as u8], 80 + k % 7).into();
            let h = s.socket();
            s.connect(h, remote).unwrap();
            let local = s.local_addr(h).unwrap();
            assert_eq!(
                steer.queue_of(local.port(), remote.port()),
                queue,
                "engine {queue} picked {local} for {remote}"
            );
        }
    }
}

#[test]
fn an_engines_share_of_the_range_runs_out() {
    // Ports 40000..=40007 to port 80, split between two queues.
    let steer = PortSteering::new(2, 1).unwrap();
    let mut s = stack("40000 40007", Some(steer));
    let remote: SocketAddr = ([10, 0, 0, 2], 80).into();
    let mut ports = Vec::new();
    for _ in 0..(40000..=40007)
        .filter(|&p| steer.queue_of(p, 80) == 1)
        .count()
    {
        let h = s.socket();
        s.connect(h, remote).unwrap();
        ports.push(s.local_addr(h).unwrap().port());
    }
    ports.sort();
    let expected: Vec<u16> = (40000..=40007)
        .filter(|&p| steer.queue_of(p, 80) == 1)
        .collect();
    assert!(!expected.is_empty() && expected.len() < 8, "{expected:?}");
    assert_eq!(ports, expected);
    let h = s.socket();
    assert_eq!(s.connect(h, remote), Err(Error::AddrNotAvailable));
    // Without steering the other four are still there.
    s.set_port_steering(None);
    assert_eq!(s.connect(h, remote), Ok(()));
}

#[test]
fn steering_needs_a_queue_below_the_count() {
    assert!(PortSteering::new(2, 2).is_none());
    assert!(PortSteering::new(0, 0).is_none());
    assert_eq!(
        PortSteering::new(4, 3).map(|s| (s.queues(), s.queue())),
        Some((4, 3))
    );
}
