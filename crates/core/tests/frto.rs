//! Undoing spurious retransmission timeouts, as Linux does: F-RTO (RFC 5682 section 3,
//! `tcp_frto`) without timestamps, the Eifel detection (RFC 3522, Linux's
//! tcp_packet_delayed) with them.

mod common;

use common::*;
use core::time::Duration;
use synack::wire::{SeqNum, Timestamp};

/// An accepted connection whose peer offered SACK (and timestamps with `ts`), MSS 1000.
/// Returns it and the TSval of the stack's SYN-ACK.
fn accepted(h: &mut Harness, ts: bool) -> (Conn, u32) {
    let l = h.listen(16);
    let mut syn = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1000);
    syn.options.sack_permitted = true;
    if ts {
        syn = syn.ts(100, 0);
    }
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn);
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    let tsval = out[0].options.timestamp.map_or(0, |t| t.tsval);
    let mut c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    let mut ack = pkt(".", c.p(1), c.l(1));
    if ts {
        ack = ack.ts(101, tsval);
    }
    h.now += Duration::from_millis(100);
    h.send(&c, ack);
    c.handle = h.stack.accept(l).expect("accept").0;
    (c, tsval)
}

/// Ten segments out (the initial window), 4000 bytes waiting, then the timeout's
/// retransmission of the first.
fn ten_out_then_timeout(h: &mut Harness, c: &Conn) -> Vec<Sent> {
    assert_eq!(h.stack.send(c.handle, &[7u8; 14_000]), Ok(14_000));
    let out = h.output();
    let sent: u32 = out.iter().map(|s| s.payload.len() as u32).sum();
    assert_eq!(sent, 10_000, "cwnd 10 of MSS 1000");
    let rto = h.next_output(Duration::from_secs(3));
    assert_eq!(briefs(&rto), vec![seg(".", c.l(1), c.p(1), 1000)]);
    assert_eq!(h.stack.stats().TCPTimeouts, 1);
    rto
}

fn cwnd_state(h: &Harness, c: &Conn) -> (u32, u8, u32) {
    let i = h.stack.tcp_info(c.handle).unwrap();
    (i.snd_cwnd, i.ca_state, i.snd_ssthresh)
}

#[test]
fn frto_sends_new_data_then_undoes_a_spurious_timeout() {
    let mut h = Harness::with_config(|c| {
        c.tcp_timestamps = false;
        c.tcp_early_retrans = 0;
    });
    let (c, _) = accepted(&mut h, false);
    ten_out_then_timeout(&mut h, &c);
    // The original 1:1001 was only delayed: its ACK comes. RFC 5682 3.1 step 2b: new
    // data (cwnd is 2 after the ACK) instead of retransmitting 1001:2001.
    h.now += Duration::from_millis(10);
    h.send(&c, pkt(".", c.p(1), c.l(1001)));
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(10_001), c.p(1), 1000),
            seg(".", c.l(11_001), c.p(1), 1000)
        ]
    );
    assert_eq!(cwnd_state(&h, &c).1, 4, "still in Loss");
    // Step 3b: 1001:2001, never retransmitted, is acknowledged: the timeout was
    // spurious; cwnd and ssthresh come back, the Loss state ends.
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    let (cwnd, ca_state, ssthresh) = cwnd_state(&h, &c);
    assert_eq!(ca_state, 0, "Open");
    assert!(cwnd >= 10, "cwnd {cwnd} restored");
    assert_eq!(ssthresh, synack::INFINITE_SSTHRESH);
    let s = h.stack.stats();
    assert_eq!((s.TCPSpuriousRTOs, s.TCPLossUndo), (1, 1));
    // Nothing below 12001 is sent again: what was outstanding is in flight.
    let later = h.recv();
    assert!(
        later.iter().all(|s| s.seq >= c.l(12_001).0),
        "no retransmission after the undo: {later:?}"
    );
}

#[test]
fn without_frto_the_timeout_stands() {
    let mut h = Harness::with_config(|c| {
        c.tcp_timestamps = false;
        c.tcp_early_retrans = 0;
        c.tcp_frto = 0;
    });
    let (c, _) = accepted(&mut h, false);
    ten_out_then_timeout(&mut h, &c);
    h.now += Duration::from_millis(10);
    h.send(&c, pkt(".", c.p(1), c.l(1001)));
    // Go back over what was outstanding: 1001:3001 again.
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(1001), c.p(1), 1000),
            seg(".", c.l(2001), c.p(1), 1000)
        ]
    );
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    let (cwnd, ca_state, ssthresh) = cwnd_state(&h, &c);
    assert_eq!(ca_state, 4, "Loss");
    assert!(
        cwnd < 10 && ssthresh < 10,
        "cwnd {cwnd} ssthresh {ssthresh}"
    );
    let s = h.stack.stats();
    assert_eq!((s.TCPSpuriousRTOs, s.TCPLossUndo), (0, 0));
}

#[test]
fn frto_finds_a_real_loss_by_the_sack_of_new_data() {
    let mut h = Harness::with_config(|c| {
        c.tcp_timestamps = false;
        c.tcp_early_retrans = 0;
    });
    let (c, _) = accepted(&mut h, false);
    ten_out_then_timeout(&mut h, &c);
    h.now += Duration::from_millis(10);
    h.send(&c, pkt(".", c.p(1), c.l(1001)));
    assert_eq!(h.recv().len(), 2, "step 2b: two new segments");
    // Step 3a: 1001:2001 was lost after all; the peer SACKs the new data.
    h.send(&c, c.sack_ack(1001, &[(10_001, 11_001)]));
    let out = h.recv();
    assert_eq!(
        out.first(),
        Some(&seg(".", c.l(1001), c.p(1), 1000)),
        "the lost data is retransmitted: {out:?}"
    );
    let (_, ca_state, ssthresh) = cwnd_state(&h, &c);
    assert_ne!(ca_state, 0);
    assert!(ssthresh < 10);
    let s = h.stack.stats();
    assert_eq!((s.TCPSpuriousRTOs, s.TCPLossUndo), (0, 0));
}

#[test]
fn an_ack_echoing_the_original_undoes_the_timeout_even_without_frto() {
    for frto in [0, 2] {
        let mut h = Harness::with_config(|c| {
            c.tcp_frto = frto;
            c.tcp_early_retrans = 0;
        });
        let (c, _) = accepted(&mut h, true);
        let out = {
            assert_eq!(h.stack.send(c.handle, &[7u8; 14_000]), Ok(14_000));
            h.output()
        };
        let first_tsval = out[0].options.timestamp.expect("timestamps").tsval;
        let rto = h.next_output(Duration::from_secs(3));
        assert_eq!(rto.len(), 1);
        assert!(rto[0].options.timestamp.unwrap().tsval > first_tsval);
        // The ACK of the original echoes its TSval, older than the retransmission's.
        h.now += Duration::from_millis(10);
        let mut ack = pkt(".", c.p(1), c.l(1001));
        ack.options.timestamp = Some(Timestamp {
            tsval: 200,
            tsecr: first_tsval,
        });
        h.send(&c, ack);
        let (cwnd, ca_state, _) = cwnd_state(&h, &c);
        assert_eq!(ca_state, 0, "frto {frto}: Open");
        assert!(cwnd >= 10, "frto {frto}: cwnd {cwnd}");
        let s = h.stack.stats();
        assert_eq!((s.TCPSpuriousRTOs, s.TCPLossUndo), (0, 1), "frto {frto}");
    }
}
