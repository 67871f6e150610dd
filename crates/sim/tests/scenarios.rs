//! The connection-teardown scenarios of the seed articles (TIME_WAIT and 2MSL, the lost
//! last ACK, old duplicate SYNs, CLOSE_WAIT left by a peer that never closes), played
//! over the simulated network and checked on the wire (the tap), in `sockets()` (what
//! `ss` shows), in the state-transition trace and in the counters.

mod harness;

use std::time::Duration;

use harness::{Log, Packet};
use synack::{EventKind, Instant, Shutdown, SocketHandle, Stack, State, Transition};
use synack_sim::{Fate, LinkConfig, Pair};

const RTT_HALF: Duration = Duration::from_millis(10);

fn ideal() -> Pair<Stack> {
    harness::pair(1, LinkConfig::ideal(RTT_HALF))
}

fn states(stack: &Stack) -> Vec<State> {
    stack.sockets().iter().map(|i| i.state).collect()
}

fn has(stack: &Stack, state: State) -> bool {
    stack.sockets().iter().any(|i| i.state == state)
}

/// The (from, to) pairs of a trace, for connections only (not the listener, whose peer
/// is `*:*`).
fn path(trace: &[Transition]) -> Vec<(State, State)> {
    trace
        .iter()
        .filter(|t| t.remote.port() != 0)
        .map(|t| (t.from, t.to))
        .collect()
}

/// Reads to end of stream on `h`, running the network; panics after `within`.
fn read_to_eof(pair: &mut Pair<Stack>, server: bool, h: SocketHandle, within: Duration) {
    let deadline = pair.now() + within;
    let mut sink = Vec::new();
    let ok = pair.run_until(deadline, |p| {
        let s = if server { p.server() } else { p.client() };
        harness::read_all(s, h, &mut sink) == Ok(true)
    });
    assert!(ok, "no end of stream by {deadline}");
}

/// A connection with a little data each way, then an orderly close with `client_first`
/// choosing the active closer. Returns when the active closer is in TIME-WAIT and the
/// passive closer has closed its handle (its connection may still be in LAST-ACK).
fn close_orderly(pair: &mut Pair<Stack>, client_first: bool) -> (SocketHandle, SocketHandle) {
    let l = harness::listen(pair);
    let (ch, sh) = harness::connect(pair, l, Duration::from_secs(5));
    pair.client().send(ch, b"hello").unwrap();
    pair.server().send(sh, b"world").unwrap();
    let (first, second) = if client_first { (ch, sh) } else { (sh, ch) };
    if client_first {
        pair.client().shutdown(first, Shutdown::Write).unwrap();
        read_to_eof(pair, true, second, Duration::from_secs(5));
        pair.server().close(second).unwrap();
        read_to_eof(pair, false, first, Duration::from_secs(5));
        pair.client().close(first).unwrap();
    } else {
        pair.server().shutdown(first, Shutdown::Write).unwrap();
        read_to_eof(pair, false, second, Duration::from_secs(5));
        pair.client().close(second).unwrap();
        read_to_eof(pair, true, first, Duration::from_secs(5));
        pair.server().close(first).unwrap();
    }
    pair.server().close(l).unwrap();
    (ch, sh)
}

/// The packets of `log` from one side, with their parsed segments.
fn from(log: &Log, client: bool) -> Vec<(Packet, harness::Seg)> {
    log.borrow()
        .iter()
        .filter(|p| p.from_client == client)
        .filter_map(|p| p.seg().map(|s| (p.clone(), s)))
        .collect()
}

#[test]
fn lost_final_ack_is_answered_from_time_wait() {
    let mut pair = ideal();
    let log = harness::record(&mut pair, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    pair.server().close(l).unwrap();
    // The client closes first; the server reads EOF and closes: LAST-ACK.
    pair.client().shutdown(ch, Shutdown::Write).unwrap();
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.server().close(sh).unwrap();
    // Run until the client has the server's FIN: it is in TIME-WAIT and its last ACK
    // is about to leave. That ACK, and only it, is lost.
    assert!(pair.run_until(Instant::from_secs(10), |p| has(p.client(), State::TimeWait)));
    let cut = pair.now();
    *pair.net.link_config_mut(pair.link, pair.client) = LinkConfig::ideal(RTT_HALF).with_loss(1.0);
    pair.step();
    *pair.net.link_config_mut(pair.link, pair.client) = LinkConfig::ideal(RTT_HALF);
    assert_eq!(
        pair.client_to_server().lost,
        1,
        "exactly the last ACK is lost"
    );

    // The server retransmits its FIN; the client, still in TIME-WAIT, acknowledges it
    // again; the server reaches CLOSED.
    let mut tw_seen_at_retransmit = false;
    let done = pair.run_until(Instant::from_secs(30), |p| {
        let retransmitted = from(&log, false).iter().filter(|(_, s)| s.is_fin()).count() > 1;
        if retransmitted && !tw_seen_at_retransmit {
            tw_seen_at_retransmit = has(p.client(), State::TimeWait);
        }
        p.server().sockets().is_empty()
    });
    assert!(
        done,
        "server still has sockets:\n{}",
        harness::ss(pair.server())
    );
    assert!(tw_seen_at_retransmit, "the client was not in TIME-WAIT");
    assert!(has(pair.client(), State::TimeWait), "TIME-WAIT ends early");

    let server = from(&log, false);
    let client = from(&log, true);
    let fins: Vec<_> = server.iter().filter(|(_, s)| s.is_fin()).collect();
    assert_eq!(fins.len(), 2, "one FIN and one retransmission: {fins:?}");
    assert_eq!(
        fins[0].1.seq, fins[1].1.seq,
        "the retransmission is the same FIN"
    );
    let fin_end = fins[0].1.seq + 1;
    let lost: Vec<_> = client
        .iter()
        .filter(|(p, _)| p.fate == Fate::Lost)
        .collect();
    assert_eq!(lost.len(), 1);
    assert!(lost[0].0.at >= cut);
    assert!(lost[0].1.is_pure_ack() && lost[0].1.ack == Some(fin_end));
    let reack: Vec<_> = client
        .iter()
        .filter(|(p, s)| p.at >= fins[1].0.at && p.delivered() && s.ack == Some(fin_end))
        .collect();
    assert!(
        reack.len() == 1 && reack[0].1.is_pure_ack(),
        "one ACK of the retransmitted FIN from TIME-WAIT: {reack:?}"
    );
    assert!(
        !client.iter().chain(&server).any(|(_, s)| s.is_rst()),
        "no RST anywhere"
    );
    let server_path = path(&harness::transitions(pair.server()));
    assert_eq!(server_path.last(), Some(&(State::LastAck, State::Closed)));
    let client_path = path(&harness::transitions(pair.client()));
    assert_eq!(
        client_path
            .iter()
            .filter(|(_, to)| *to == State::TimeWait)
            .count(),
        1,
        "TIME-WAIT is entered once: {client_path:?}"
    );
}

#[test]
fn retransmitted_fin_restarts_the_time_wait_timer() {
    // Linux's tcp_timewait_state_process reschedules TIME-WAIT for a full
    // TCP_TIMEWAIT_LEN when a retransmitted FIN arrives.
    let mut pair = ideal();
    let log = harness::record(&mut pair, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    pair.server().close(l).unwrap();
    pair.client().shutdown(ch, Shutdown::Write).unwrap();
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.server().close(sh).unwrap();
    assert!(pair.run_until(Instant::from_secs(10), |p| has(p.client(), State::TimeWait)));
    let entered = pair.now();
    *pair.net.link_config_mut(pair.link, pair.client) = LinkConfig::ideal(RTT_HALF).with_loss(1.0);
    pair.step();
    *pair.net.link_config_mut(pair.link, pair.client) = LinkConfig::ideal(RTT_HALF);
    assert!(pair.run_until(Instant::from_secs(30), |p| p.server().sockets().is_empty()));
    let server = from(&log, false);
    let refin = server
        .iter()
        .filter(|(_, s)| s.is_fin())
        .nth(1)
        .expect("a retransmitted FIN")
        .0
        .at;
    let arrived = refin + RTT_HALF;
    assert!(arrived > entered + Duration::from_millis(100));
    pair.run_until(arrived + Duration::from_secs(59), |_| false);
    assert!(
        has(pair.client(), State::TimeWait),
        "TIME-WAIT gone 59 s after the retransmitted FIN (entered at {entered}, FIN at \
         {arrived}, now {})",
        pair.now()
    );
    pair.run_until(arrived + Duration::from_millis(60_100), |_| false);
    assert!(pair.client().sockets().is_empty());
}

#[test]
fn old_duplicate_syn_does_not_open_a_connection() {
    let mut pair = ideal();
    let log = harness::record(&mut pair, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    let syn = log
        .borrow()
        .iter()
        .find(|p| p.from_client && p.seg().is_some_and(|s| s.is_syn()))
        .expect("the client's SYN")
        .clone();
    let old_isn = syn.seg().unwrap().seq;
    // The connection ends; the client is the active closer, and its TIME-WAIT ends too.
    pair.client().shutdown(ch, Shutdown::Write).unwrap();
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.server().close(sh).unwrap();
    read_to_eof(&mut pair, false, ch, Duration::from_secs(5));
    pair.client().close(ch).unwrap();
    pair.run_for(Duration::from_secs(61));
    assert!(pair.client().sockets().is_empty(), "TIME-WAIT over");
    assert_eq!(states(pair.server()), vec![State::Listen]);
    harness::transitions(pair.server());
    while pair.server().poll_event().is_some() {}

    // The old SYN turns up again. RFC 9293 3.5, figure 9: the LISTEN server answers
    // with a SYN-ACK, the client (which has no such connection) resets it, and the
    // server goes back to LISTEN.
    let before = log.borrow().len();
    pair.net.send_from(pair.client, &syn.bytes);
    pair.run_for(Duration::from_millis(500));

    let after: Vec<(Packet, harness::Seg)> = log.borrow()[before..]
        .iter()
        .filter_map(|p| p.seg().map(|s| (p.clone(), s)))
        .collect();
    let kinds: Vec<String> = after
        .iter()
        .map(|(p, s)| {
            format!(
                "{} {:?} {:?}",
                if p.from_client { "C>S" } else { "S>C" },
                s,
                p.fate
            )
        })
        .collect();
    assert_eq!(after.len(), 3, "SYN, SYN-ACK, RST: {kinds:#?}");
    assert!(after[0].0.from_client && after[0].1.is_syn());
    let (synack, reply) = (&after[1], &after[2]);
    assert!(
        !synack.0.from_client && synack.1.is_syn_ack() && synack.1.ack == Some(old_isn + 1),
        "the server answers the old SYN: {kinds:#?}"
    );
    assert!(
        reply.0.from_client && reply.1.is_rst() && reply.1.seq == old_isn + 1,
        "the client resets the SYN-ACK with <SEQ=SEG.ACK><CTL=RST>: {kinds:#?}"
    );
    // No connection for the server's application, and the half-open entry is gone.
    assert_eq!(pair.server().accept(l), Err(synack::Error::WouldBlock));
    let events: Vec<EventKind> = std::iter::from_fn(|| pair.server().poll_event())
        .map(|e| e.kind)
        .collect();
    assert!(!events.contains(&EventKind::Incoming), "events: {events:?}");
    assert_eq!(
        states(pair.server()),
        vec![State::Listen],
        "server sockets:\n{}",
        harness::ss(pair.server())
    );
    assert!(pair.client().sockets().is_empty());
    let server_path = path(&harness::transitions(pair.server()));
    assert_eq!(
        server_path,
        vec![
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Closed)
        ],
        "the half-open connection came and went"
    );
    assert_eq!(
        pair.server().stats().PassiveOpens,
        1,
        "only the real connection"
    );
    assert_eq!(pair.server().stats().CurrEstab, 0);
}

/// The client half-closes (or closes) and the server reads EOF but never closes.
fn never_closes(client_closes: bool) -> (Pair<Stack>, SocketHandle) {
    let mut pair = ideal();
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    if client_closes {
        pair.client().close(ch).unwrap();
    } else {
        pair.client().shutdown(ch, Shutdown::Write).unwrap();
    }
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.server().close(l).unwrap();
    (pair, sh)
}

fn assert_close_wait(server: &Stack, at: Instant) {
    let socks = server.sockets();
    assert_eq!(socks.len(), 1, "at {at}:\n{}", harness::ss(server));
    assert_eq!(socks[0].state, State::CloseWait);
    let line = socks[0].to_string();
    assert!(line.starts_with("CLOSE-WAIT"), "ss line: {line}");
}

#[test]
fn peer_that_never_closes_stays_in_close_wait() {
    let (mut pair, sh) = never_closes(false);
    for minute in 1..=10 {
        pair.run_until(Instant::from_secs(60 * minute), |_| false);
        let now = pair.now();
        assert_close_wait(pair.server(), now);
        assert_eq!(
            states(pair.client()),
            vec![State::FinWait2],
            "the half-closed client waits in FIN-WAIT-2 at {now}"
        );
    }
    assert_eq!(pair.server().state(sh), Ok(State::CloseWait));
    // Nothing on the wire keeps it alive or ends it.
    assert_eq!(pair.client().stats().CurrEstab, 0);
    assert_eq!(
        pair.server().stats().CurrEstab,
        1,
        "CLOSE-WAIT counts in CurrEstab"
    );
}

#[test]
fn close_wait_outlives_an_orphaned_fin_wait_2() {
    // The client close()s: its orphaned FIN-WAIT-2 lasts tcp_fin_timeout (60 s); the
    // server's CLOSE-WAIT lasts as long as its application does not close.
    let (mut pair, _sh) = never_closes(true);
    let closed_at = pair.now();
    pair.run_until(closed_at + Duration::from_secs(30), |_| false);
    assert_eq!(states(pair.client()), vec![State::FinWait2]);
    pair.run_until(closed_at + Duration::from_secs(62), |_| false);
    assert!(
        pair.client().sockets().is_empty(),
        "orphaned FIN-WAIT-2 after tcp_fin_timeout:\n{}",
        harness::ss(pair.client())
    );
    pair.run_until(Instant::from_secs(600), |_| false);
    let now = pair.now();
    assert_close_wait(pair.server(), now);
}

/// Closes a connection with the client or the server first and checks that the active
/// closer, and only it, goes through TIME-WAIT.
fn only_active_closer_time_waits(client_first: bool) {
    let mut pair = ideal();
    close_orderly(&mut pair, client_first);
    // Everything has been said; the passive closer's LAST-ACK is done within an RTT.
    pair.run_for(Duration::from_secs(1));
    let (closer, other) = if client_first {
        (pair.net.node(pair.client), pair.net.node(pair.server))
    } else {
        (pair.net.node(pair.server), pair.net.node(pair.client))
    };
    let tw = closer.sockets();
    assert_eq!(tw.len(), 1, "closer:\n{}", harness::ss(closer));
    assert_eq!(tw[0].state, State::TimeWait);
    assert!(tw[0].to_string().starts_with("TIME-WAIT"));
    assert!(
        other.sockets().is_empty(),
        "passive closer:\n{}",
        harness::ss(other)
    );

    let (closer, other) = if client_first {
        (pair.client, pair.server)
    } else {
        (pair.server, pair.client)
    };
    let closer_path = path(&harness::transitions(pair.net.node_mut(closer)));
    let other_path = path(&harness::transitions(pair.net.node_mut(other)));
    let time_waits =
        |p: &[(State, State)]| p.iter().filter(|(_, to)| *to == State::TimeWait).count();
    assert_eq!(time_waits(&closer_path), 1, "closer: {closer_path:?}");
    assert_eq!(time_waits(&other_path), 0, "passive closer: {other_path:?}");
    assert!(closer_path.contains(&(State::Established, State::FinWait1)));
    assert!(other_path.contains(&(State::Established, State::CloseWait)));
    assert!(other_path.contains(&(State::CloseWait, State::LastAck)));
    assert_eq!(other_path.last(), Some(&(State::LastAck, State::Closed)));
    // And TIME-WAIT ends by itself.
    pair.run_for(Duration::from_secs(61));
    assert!(pair.net.node(closer).sockets().is_empty());
    let closer_path = path(&harness::transitions(pair.net.node_mut(closer)));
    assert_eq!(closer_path, vec![(State::TimeWait, State::Closed)]);
    assert_eq!(pair.net.node(closer).stats().TW, 1);
    assert_eq!(pair.net.node(other).stats().TW, 0);
}

#[test]
fn client_closes_first_and_only_the_client_time_waits() {
    only_active_closer_time_waits(true);
}

#[test]
fn server_closes_first_and_only_the_server_time_waits() {
    only_active_closer_time_waits(false);
}

#[test]
fn simultaneous_close_puts_both_ends_in_time_wait() {
    let mut pair = ideal();
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    pair.server().close(l).unwrap();
    // Both FINs leave in the same instant and cross: FIN-WAIT-1 -> CLOSING -> TIME-WAIT.
    pair.client().shutdown(ch, Shutdown::Write).unwrap();
    pair.server().shutdown(sh, Shutdown::Write).unwrap();
    read_to_eof(&mut pair, false, ch, Duration::from_secs(5));
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.run_for(Duration::from_secs(1));
    for side in [pair.client, pair.server] {
        let stack = pair.net.node_mut(side);
        assert_eq!(
            states(stack),
            vec![State::TimeWait],
            "{}",
            harness::ss(stack)
        );
        let p = path(&harness::transitions(stack));
        assert!(p.contains(&(State::FinWait1, State::Closing)), "{p:?}");
        assert!(p.contains(&(State::Closing, State::TimeWait)), "{p:?}");
    }
    pair.client().close(ch).unwrap();
    pair.server().close(sh).unwrap();
    pair.run_for(Duration::from_secs(61));
    assert!(pair.client().sockets().is_empty());
    assert!(pair.server().sockets().is_empty());
}

#[test]
fn time_wait_lasts_sixty_seconds() {
    let mut pair = ideal();
    close_orderly(&mut pair, true);
    assert!(pair.run_until(Instant::from_secs(10), |p| has(p.client(), State::TimeWait)));
    let entered = harness::transitions(pair.client())
        .into_iter()
        .find(|t| t.to == State::TimeWait)
        .expect("a transition to TIME-WAIT")
        .at;
    assert_eq!(
        pair.client().config().tcp_timewait_len,
        Duration::from_secs(60)
    );
    pair.run_until(entered + Duration::from_secs(59), |_| false);
    let socks = pair.client().sockets();
    assert_eq!(socks.len(), 1);
    assert_eq!(socks[0].state, State::TimeWait);
    pair.run_until(
        entered + Duration::from_secs(60) + Duration::from_millis(1),
        |_| false,
    );
    assert!(
        pair.client().sockets().is_empty(),
        "still there at {}:\n{}",
        pair.now(),
        harness::ss(pair.client())
    );
    let end = harness::transitions(pair.client());
    assert_eq!(end.len(), 1);
    assert_eq!((end[0].from, end[0].to), (State::TimeWait, State::Closed));
    assert_eq!(end[0].at, entered + Duration::from_secs(60));
}

#[test]
fn counters_after_a_normal_connection() {
    let mut pair = ideal();
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    assert_eq!(pair.client().stats().CurrEstab, 1);
    assert_eq!(pair.server().stats().CurrEstab, 1);
    pair.client().shutdown(ch, Shutdown::Write).unwrap();
    read_to_eof(&mut pair, true, sh, Duration::from_secs(5));
    pair.server().close(sh).unwrap();
    read_to_eof(&mut pair, false, ch, Duration::from_secs(5));
    pair.client().close(ch).unwrap();
    pair.server().close(l).unwrap();
    pair.run_for(Duration::from_secs(120));
    assert!(pair.client().sockets().is_empty() && pair.server().sockets().is_empty());
    let (c, s) = (pair.client().stats().clone(), pair.server().stats().clone());
    assert_eq!((c.ActiveOpens, c.PassiveOpens), (1, 0), "client {c:?}");
    assert_eq!((s.ActiveOpens, s.PassiveOpens), (0, 1), "server {s:?}");
    assert_eq!(c.CurrEstab, 0);
    assert_eq!(s.CurrEstab, 0);
    assert_eq!((c.AttemptFails, s.AttemptFails), (0, 0));
    assert_eq!((c.EstabResets, s.EstabResets), (0, 0));
    assert_eq!((c.OutRsts, s.OutRsts), (0, 0));
}
