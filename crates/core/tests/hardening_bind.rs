//! bind() and listen() conflicts as Linux decides them (issue 6, bug 8): Linux's
//! inet_csk_bind_conflict and inet_rcv_saddr_equal, checked against the cases of its
//! selftest `bind_wildcard.c`.
//!
//! - Two different specific addresses never conflict, whatever their families.
//! - The unspecified address conflicts with every address of its family; IPv6's `[::]`
//!   also with IPv4's, unless IPV6_V6ONLY is set.
//! - Owners whose addresses overlap conflict unless both sockets set SO_REUSEADDR and the
//!   one already there is not listening (a TIME-WAIT entry keeps the flag of the
//!   connection it came from).

mod common;

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use common::*;
use synack::wire::{Control, SeqNum};
use synack::{Error, SockOpt, SockOptName, SocketHandle, Stack};

const V4: &str = "10.0.0.1";
const V4B: &str = "10.0.0.3";
const V6: &str = "fd00::1";

/// A harness whose stack also owns 10.0.0.3 and fd00::1.
fn harness() -> Harness {
    let mut h = Harness::new();
    for a in [V4B, V6] {
        h.stack.add_address(a.parse().unwrap());
    }
    h
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

/// A socket with `opts` bound to `ip`:`port`.
fn bound(s: &mut Stack, ip: &str, port: u16, opts: &[SockOpt]) -> Result<SocketHandle, Error> {
    let h = s.socket();
    for o in opts {
        s.set_option(h, *o).unwrap();
    }
    s.bind(h, addr(ip, port)).map(|_| h)
}

#[test]
fn specific_addresses_of_both_families_coexist() {
    let mut h = harness();
    let l = bound(&mut h.stack, V4, 80, &[]).unwrap();
    h.stack.listen(l, 8).unwrap();
    let v6 = bound(&mut h.stack, V6, 80, &[]).expect("[fd00::1]:80 beside 10.0.0.1:80");
    h.stack.listen(v6, 8).unwrap();
    bound(&mut h.stack, V4B, 80, &[]).expect("10.0.0.3:80 beside 10.0.0.1:80");
    assert_eq!(bound(&mut h.stack, V4, 80, &[]), Err(Error::AddrInUse));
    assert_eq!(bound(&mut h.stack, V6, 80, &[]), Err(Error::AddrInUse));
}

/// bind_wildcard.c: the second bind() of each pair, in both orders.
#[test]
fn wildcards_conflict_as_in_linux_selftest() {
    for (a, b, conflict) in [
        ("0.0.0.0", "::", true),
        ("0.0.0.0", "::1", false),
        ("127.0.0.1", "::", true),
        ("127.0.0.1", "::1", false),
        ("0.0.0.0", V4, true),
        ("::", V6, true),
        (V4, V4B, false),
        (V4, V6, false),
    ] {
        for (first, second) in [(a, b), (b, a)] {
            let mut s = Stack::default();
            for ip in ["127.0.0.1", "::1", V4, V4B, V6] {
                s.add_address(ip.parse().unwrap());
            }
            bound(&mut s, first, 80, &[]).unwrap();
            let got = bound(&mut s, second, 80, &[]).map(|_| ());
            let want = if conflict {
                Err(Error::AddrInUse)
            } else {
                Ok(())
            };
            assert_eq!(got, want, "bind {second} after {first}");
        }
    }
}

#[test]
fn v6only_separates_ipv6_wildcard_from_ipv4() {
    let mut h = harness();
    bound(&mut h.stack, "0.0.0.0", 80, &[]).unwrap();
    let v6 = bound(&mut h.stack, "::", 80, &[SockOpt::V6Only(true)]).expect("v6only [::]");
    assert_eq!(
        h.stack.get_option(v6, SockOptName::V6Only),
        Ok(SockOpt::V6Only(true))
    );
    // Once bound, IPV6_V6ONLY cannot change (Linux: EINVAL).
    assert_eq!(
        h.stack.set_option(v6, SockOpt::V6Only(false)),
        Err(Error::InvalidInput)
    );
    let mut h = harness();
    bound(&mut h.stack, "::", 80, &[SockOpt::V6Only(true)]).unwrap();
    bound(&mut h.stack, V4, 80, &[]).expect("10.0.0.1 beside v6only [::]");
}

#[test]
fn reuseaddr_needs_both_sockets_and_no_listener() {
    let mut h = harness();
    let r = [SockOpt::ReuseAddr(true)];
    let a = bound(&mut h.stack, V4, 80, &r).unwrap();
    let b = bound(&mut h.stack, V4, 80, &r).expect("both set SO_REUSEADDR");
    assert_eq!(bound(&mut h.stack, V4, 80, &[]), Err(Error::AddrInUse));
    assert_eq!(
        bound(&mut h.stack, "0.0.0.0", 80, &[]),
        Err(Error::AddrInUse)
    );
    h.stack.listen(a, 8).unwrap();
    assert_eq!(h.stack.listen(b, 8), Err(Error::AddrInUse), "one listener");
    assert_eq!(bound(&mut h.stack, V4, 80, &r), Err(Error::AddrInUse));
    // Another address of the port is still free.
    bound(&mut h.stack, V4B, 80, &[]).unwrap();
}

/// A listener on [::] that is not IPV6_V6ONLY takes IPv4 connections too (which is why
/// it holds the IPv4 addresses' ports).
#[test]
fn dual_stack_listener_accepts_ipv4() {
    let mut h = harness();
    let l = bound(&mut h.stack, "::", LISTEN_PORT, &[]).unwrap();
    h.stack.listen(l, 8).unwrap();
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let (_, peer) = h.stack.accept(l).expect("an IPv4 connection on [::]");
    assert_eq!(peer, c.remote());

    let mut h = harness();
    let l = bound(&mut h.stack, "::", LISTEN_PORT, &[SockOpt::V6Only(true)]).unwrap();
    h.stack.listen(l, 8).unwrap();
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)),
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].control, Control::Rst, "IPV6_V6ONLY: no IPv4");
}

/// A server that closed first leaves TIME-WAIT entries holding its port. They carry the
/// server's SO_REUSEADDR: a new socket binds beside them only if both set it.
#[test]
fn time_wait_keeps_the_servers_reuseaddr() {
    for (old_reuse, new_reuse, ok) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
        (false, false, false),
    ] {
        let mut h = Harness::new();
        let l = h.stack.socket();
        h.stack
            .set_option(l, SockOpt::ReuseAddr(old_reuse))
            .unwrap();
        h.stack
            .bind(l, SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT))
            .unwrap();
        h.stack.listen(l, 8).unwrap();
        let c = h.established_passive_on(l, PEER_PORT);
        h.stack.close(c.handle).unwrap();
        assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
        h.send(&c, pkt("F.", c.p(1), c.l(2)));
        h.output();
        assert_eq!(h.states_of(&c), vec![synack::State::TimeWait]);
        h.stack.close(l).unwrap();
        let got = bound(
            &mut h.stack,
            "10.0.0.1",
            LISTEN_PORT,
            &[SockOpt::ReuseAddr(new_reuse)],
        );
        assert_eq!(
            got.is_ok(),
            ok,
            "old SO_REUSEADDR {old_reuse}, new {new_reuse}: {got:?}"
        );
        if !ok {
            assert_eq!(got, Err(Error::AddrInUse));
        }
        if let Ok(s) = got {
            h.stack.close(s).unwrap();
        }
        // When TIME-WAIT ends the port is free for anyone.
        h.advance(Duration::from_secs(61));
        bound(&mut h.stack, "10.0.0.1", LISTEN_PORT, &[]).expect("free after TIME-WAIT");
    }
}

/// A socket bound to a port and then connected holds the port while the connection
/// lives, and gives it back when it ends.
#[test]
fn bound_then_connected_socket_releases_its_port() {
    let mut h = Harness::new();
    let s = bound(&mut h.stack, "10.0.0.1", 5000, &[]).unwrap();
    h.stack
        .connect(s, SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    assert_eq!(h.output().len(), 1);
    assert_eq!(
        bound(&mut h.stack, "10.0.0.1", 5000, &[]),
        Err(Error::AddrInUse)
    );
    h.stack.abort(s).unwrap();
    h.output();
    bound(&mut h.stack, "10.0.0.1", 5000, &[]).expect("the port is free again");
}
