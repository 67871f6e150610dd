//! Segment arrival for a connection, in the order of RFC 9293 section 3.10.7: SYN-SENT
//! (3.10.7.3), then every other state (3.10.7.4: sequence check, RST, SYN, ACK, text,
//! FIN), with RFC 5961's protections against blind attacks and RFC 7323's PAWS.

use crate::conn::flag;
use core::time::Duration;

use synack_wire::{Control, SeqNum, TcpRepr};

use super::{events, Connection, Ctx, Negotiated, TimerKind, Timestamps};
use crate::congestion::HystartExit;
use crate::error::Error;
use crate::state::State;

/// PAWS stops trusting TS.Recent after 24 days of idleness (RFC 7323 section 5.5).
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);

impl Connection {
    /// Processes one segment addressed to this connection.
    pub fn on_segment(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        self.on_segment_syn_fin(ctx, seg, false);
    }

    /// Processes one segment addressed to this connection; `syn_fin` when it is a SYN
    /// that also carries FIN (see `TcpRepr::parse_syn_fin`), which only SYN-SENT uses:
    /// a Fast Open SYN-ACK may end the server's answer.
    pub fn on_segment_syn_fin(&mut self, ctx: &mut Ctx, seg: &TcpRepr, syn_fin: bool) {
        // Linux's tcp_segs_in: a GSO packet counts as the segments it carries.
        let segs = if ctx.rx.gso > 0 {
            (seg.payload.len() as u32).div_ceil(ctx.rx.gso).max(1)
        } else {
            1
        };
        self.segs_in = self.segs_in.wrapping_add(segs);
        self.last_recv = ctx.now;
        let syn_sent = self.state == State::SynSent;
        let held = if syn_sent {
            self.on_segment_syn_sent(ctx, seg, syn_fin)
        } else {
            self.on_segment_synchronized(ctx, seg);
            false
        };
        // A SYN-ACK whose ACK is held has it scheduled already (Linux's
        // tcp_rcv_synsent_state_process skips tcp_ack_snd_check then).
        if self.state != State::Closed && !held {
            // Data or a FIN owes an ACK: now or delayed (Linux's tcp_ack_snd_check).
            self.ack_snd_check(ctx);
        }
    }

    /// RFC 9293 section 3.10.7.3, SYN-SENT. Returns whether the ACK of a SYN-ACK is
    /// held back (scheduled on the delayed-ACK timer).
    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx, seg: &TcpRepr, syn_fin: bool) -> bool {
        // First, check the ACK bit.
        if let Some(ack) = seg.ack {
            if ack.before_eq(self.iss) || ack.after(self.snd_max) {
                if seg.control != Control::Rst {
                    ctx.ctl.reset_for(self.local(), self.remote(), seg);
                }
                return false;
            }
        }
        // An acceptable ACK whose timestamp echo is not one we sent since the first SYN
        // (RFC 7323 section 3.2: TSecr echoes our TSval; Linux's
        // tcp_rcv_synsent_state_process checks it lies between the first SYN's and
        // now's) is a stale or forged answer: reset it, keep waiting.
        if let (Some(_), Some(ours), Some(opt)) = (seg.ack, self.neg.ts, seg.options.timestamp) {
            if seg.control != Control::Rst && opt.tsecr != 0 {
                let first = ours.now_val(self.retrans_stamp.unwrap_or(ctx.now));
                let now = ours.now_val(ctx.now);
                if opt.tsecr.wrapping_sub(first) > now.wrapping_sub(first) {
                    ctx.stats.PAWSActive += 1;
                    ctx.ctl.reset_for(self.local(), self.remote(), seg);
                    return false;
                }
            }
        }
        // Second, check the RST bit: only an acceptable ACK makes a RST believable.
        if seg.control == Control::Rst {
            if seg.ack.is_some() {
                ctx.stats.AttemptFails += 1;
                self.close_with(Some(Error::ConnectionRefused));
            }
            return false;
        }
        // Fourth, check the SYN bit.
        if seg.control != Control::Syn {
            return false;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        // The window our SYN offered still stands (Linux keeps rcv_wnd, moving rcv_wup).
        let (wnd, _, _) =
            super::rcvspace::initial_window(ctx.config, self.opts.rcvbuf, u32::from(self.adv_mss));
        self.rcv_wup = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt + wnd;
        let neg = self.negotiate(ctx, seg);
        self.apply_negotiated(ctx.config, neg);
        match seg.ack {
            Some(ack) => {
                // Our SYN is acknowledged: ESTABLISHED (RFC 9293 3.10.7.3).
                let syn_data_lost = (self.tfo.syn_fastopen || self.tfo.syn_data > 0)
                    && self.fastopen_synack(ctx, seg, ack);
                // Linux's tcp_clean_rtx_queue counts the SYN skb as one delivered
                // packet; the data a Fast Open SYN carried rides in it, not apart.
                self.delivered += 1;
                self.snd_una = ack;
                // A retransmitted SYN went without the first one's data, which the
                // SYN-ACK may still acknowledge.
                self.snd_nxt = self.snd_nxt.max(ack);
                self.rcv_tstamp = ctx.now;
                self.snd_wnd = u32::from(seg.window);
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = ack;
                self.rtt_sample(ctx, seg, self.iss, ack);
                self.established(ctx);
                // Linux's tcp_finish_connect: the SYN-ACK counts as the last arrival,
                // so data sent within ato of it answers it (tcp_event_data_sent) and
                // makes the connection interactive.
                self.ack.lrcvtime = ctx.now;
                if syn_data_lost {
                    self.fastopen_data_lost(ctx);
                }
                self.events |= events::CONNECTED | events::WRITABLE;
                if !seg.payload.is_empty() {
                    // Linux queues a SYN-ACK's data without measuring the peer's segment
                    // size from it (tcp_fastopen_add_skb): rcv_mss keeps its initial
                    // estimate, so a read of that data sends the held ACK.
                    let rcv_mss = self.rcv_mss;
                    self.process_text(ctx, seg.seq + 1, seg);
                    self.rcv_mss = rcv_mss;
                }
                // A Fast Open SYN-ACK that ends the server's answer with FIN: Linux's
                // tcp_fastopen_add_skb queues its data and runs tcp_fin (CLOSE-WAIT,
                // interactive mode). Without Fast Open the FIN is left for the peer to
                // send again, as Linux leaves it.
                let fastopen = (self.tfo.syn_fastopen || self.tfo.syn_data > 0) && !syn_data_lost;
                if syn_fin && fastopen {
                    let fin = seg.seq + 1 + seg.payload.len() as u32;
                    if fin == self.rcv_nxt {
                        self.fin_pending = Some(fin);
                        self.check_fin(ctx);
                    }
                }
                let held = self.tfo.write_pending || self.in_pingpong(ctx);
                if held {
                    // Linux's tcp_rcv_synsent_state_process with sk_write_pending or in
                    // interactive mode: the ACK waits (quick-ACK mode, TCP_DELACK_MAX at
                    // most) for the blocked writer's data, or a read, to carry it.
                    self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
                    self.set_flag(flag::ACK_PENDING, true);
                    self.arm(TimerKind::DelayedAck, ctx.now + ctx.config.delack_max);
                } else {
                    self.set_flag(flag::ACK_NOW, true);
                }
                held
            }
            None => {
                // Simultaneous open: SYN-RECEIVED, our SYN goes out again as a SYN-ACK.
                self.snd_nxt = self.iss;
                self.snd_wnd = u32::from(seg.window);
                self.snd_wl1 = seg.seq;
                self.set_state(State::SynReceived);
                self.disarm(TimerKind::Retransmit);
                self.backoff = 0;
                false
            }
        }
    }

    /// What the SYN exchange agreed on (RFC 7323 sections 2.2 and 3.2, RFC 2018
    /// section 2): an option is used only if both sides sent it.
    pub(crate) fn negotiate(&self, ctx: &Ctx, seg: &TcpRepr) -> Negotiated {
        let o = &seg.options;
        let ws_ok = ctx.config.tcp_window_scaling && o.window_scale.is_some();
        Negotiated {
            peer_mss: o.mss.unwrap_or(super::default_peer_mss(&self.remote())),
            snd_wscale: if ws_ok {
                o.window_scale.unwrap_or(0)
            } else {
                0
            },
            rcv_wscale: if ws_ok { self.neg.rcv_wscale } else { 0 },
            ws_ok,
            sack: ctx.config.tcp_sack && o.sack_permitted,
            ts: match (self.neg.ts, o.timestamp) {
                (Some(ours), Some(theirs)) => Some(Timestamps {
                    recent: theirs.tsval,
                    recent_stamp: ctx.now,
                    offset: ours.offset,
                }),
                _ => None,
            },
            ecn: self.ecn_agreed(seg),
        }
    }

    /// Entering ESTABLISHED from either handshake state.
    pub(crate) fn established(&mut self, ctx: &mut Ctx) {
        self.set_state(State::Established);
        // Linux's tcp_init_buffer_space: the send buffer starts with room for the
        // initial window's skbs (tcp_sndbuf_expand).
        if self.opts.sndbuf.is_none() {
            let want = self.sndbuf_expand().min(ctx.config.tcp_wmem[2]);
            if want > self.sndbuf() {
                self.set_sndbuf(want);
            }
        }
        self.init_buffer_space(ctx);
        // Linux's tcp_init_transfer: the path MTU search starts (mtup.rs).
        self.mtup_init(ctx);
        self.disarm(TimerKind::Retransmit);
        self.backoff = 0;
        self.retrans_stamp = None;
        self.recover = self.snd_una;
        self.snd_sml = self.snd_una;
        // A retransmitted SYN leaves the RTO at its fallback until a sample arrives
        // (RFC 6298 5.7; Linux's TCP_TIMEOUT_FALLBACK).
        if self.rtt.samples() == 0 && self.snd_max != self.iss + 1 {
            self.rtt.reset_to(Duration::from_secs(3));
        }
        if self.opts.keepalive {
            self.arm(
                TimerKind::Keepalive,
                ctx.now + self.opts.keepalive_time(ctx.config),
            );
        }
    }

    /// Header prediction (RFC 7323 appendix, after Van Jacobson; Linux's
    /// tcp_rcv_established fast path): the ACK of a segment that an ESTABLISHED
    /// connection expects, `None` if it is not one. Expected: ACK and maybe PSH and no
    /// other flag, the next sequence number, data that fits the window, an ACK
    /// between SND.UNA and SND.MAX, and, with timestamps, a TSval not older than
    /// TS.Recent. Such a segment passes every check of
    /// [`on_segment_synchronized`](Self::on_segment_synchronized) before the ACK is
    /// processed, so [`on_segment_predicted`](Self::on_segment_predicted) does only
    /// what follows them.
    #[inline]
    fn predicted(&self, seg: &TcpRepr) -> Option<SeqNum> {
        if self.state != State::Established
            || seg.control != Control::None
            || seg.seq != self.rcv_nxt
            || seg.urgent.is_some()
            || seg.ece
            || seg.cwr
        {
            return None;
        }
        let ack = seg.ack?;
        if ack.before(self.snd_una)
            || ack.after(self.snd_max)
            || seg.payload.len() as u32 > self.receive_window()
            || self.rcv_nxt.before(self.rcv_wup)
            || self.rare.urg.data == super::urgent::UrgData::NotYet
        {
            return None;
        }
        match (self.neg.ts, seg.options.timestamp) {
            (None, _) => Some(ack),
            (Some(ts), Some(opt)) if !opt.is_older_than(ts.recent) => Some(ack),
            _ => None,
        }
    }

    /// A segment [`predicted`](Self::predicted) to be the next one: what the slow path
    /// does for it once its checks have passed (the timestamp to remember, the ACK,
    /// the data, a FIN that was waiting for it), and nothing else.
    fn on_segment_predicted(&mut self, ctx: &mut Ctx, seg: &TcpRepr, ack: SeqNum) {
        // RFC 7323 section 4.3, as below (the TSval is known not to be older).
        if let (Some(ts), Some(opt)) = (self.neg.ts.as_mut(), seg.options.timestamp) {
            if seg.seq.before_eq(self.rcv_wup) {
                ts.recent = opt.tsval;
                ts.recent_stamp = ctx.now;
            }
        }
        self.process_ack(ctx, seg, ack);
        if self.state == State::Closed {
            return;
        }
        if !seg.payload.is_empty() {
            if self.orphan_data(ctx, seg) {
                return;
            }
            self.process_text(ctx, seg.seq, seg);
        }
        self.check_fin(ctx);
    }

    /// Debug builds: a predicted segment passes every check of the slow path (the
    /// same functions decide), so the fast path skips nothing that would act.
    #[cfg(debug_assertions)]
    fn check_predicted(&self, ctx: &Ctx, seg: &TcpRepr, ack: SeqNum) {
        let passes = !self.paws_rejects(ctx.now, seg)
            && self.outside_window(seg) == (false, false)
            && seg.control == Control::None
            && self.state == State::Established
            && !ack.after(self.snd_max)
            && !ack.before(self.snd_una - self.max_snd_wnd.max(1))
            && seg.urgent.is_none()
            && self.rare.urg.data != super::urgent::UrgData::NotYet;
        assert!(
            passes,
            "Connection::predicted: a segment the slow path would treat otherwise"
        );
    }

    /// RFC 7323 section 5.3, R1-R2: whether PAWS rejects `seg` (Linux's
    /// tcp_paws_check also ignores a TS.Recent of zero, which some stacks send in the
    /// SYN, and one idle for 24 days).
    fn paws_rejects(&self, now: crate::time::Instant, seg: &TcpRepr) -> bool {
        match (self.neg.ts, seg.options.timestamp) {
            (Some(ts), Some(opt)) => {
                seg.control != Control::Rst
                    && opt.is_older_than(ts.recent)
                    && ts.recent != 0
                    && now - ts.recent_stamp <= PAWS_IDLE_LIMIT
            }
            _ => false,
        }
    }

    /// Whether `seg` lies before the window (it ends before RCV.WUP) and whether
    /// beyond it, as Linux's tcp_sequence decides: it must overlap [RCV.WUP,
    /// RCV.ADV]; one that starts inside but ends beyond it is taken only into an empty
    /// receive queue, and a FIN may stick out.
    fn outside_window(&self, seg: &TcpRepr) -> (bool, bool) {
        let end = seg.seq + seg.seg_len();
        let limit = self.rcv_nxt + self.receive_window();
        let fin = u32::from(seg.control == Control::Fin);
        let beyond =
            (end - fin).after(limit) && (seg.seq.after(limit) || !self.recv_buf.is_empty());
        (end.before(self.rcv_wup), beyond)
    }

    /// RFC 9293 section 3.10.7.4, every state after SYN-SENT.
    fn on_segment_synchronized(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        if let Some(ack) = self.predicted(seg) {
            #[cfg(debug_assertions)]
            self.check_predicted(ctx, seg, ack);
            self.on_segment_predicted(ctx, seg, ack);
            return;
        }
        // RFC 7323 section 5.3, R1-R2: PAWS before the sequence check.
        if self.paws_rejects(ctx.now, seg) {
            ctx.stats.PAWSEstab += 1;
            // Linux's tcp_send_dupack, rate limited except for data segments.
            if !seg.payload.is_empty() {
                self.dupack_dsack(ctx, seg);
                self.set_flag(flag::ACK_NOW, true);
            } else {
                self.oow_ack(ctx, false);
            }
            return;
        }
        // First, check the sequence number (Linux's tcp_sequence).
        let (old, beyond) = self.outside_window(seg);
        if beyond && seg.control != Control::Rst && seg.control != Control::Syn {
            ctx.stats.BeyondWindow += 1;
        }
        if old || beyond {
            if seg.control == Control::Syn {
                // RFC 5961 section 4.2: a SYN is challenged "irrespective of the sequence
                // number" (Linux's tcp_validate_incoming jumps to syn_challenge).
                ctx.stats.TCPSYNChallenge += 1;
                self.oow_ack(ctx, true);
                return;
            }
            if seg.control != Control::Rst {
                ctx.stats.TCPOutOfWindow += 1;
                // Linux's tcp_oow_rate_limited spares segments with data: they are not
                // part of an ACK loop.
                if !seg.payload.is_empty() {
                    self.dupack_dsack(ctx, seg);
                    self.set_flag(flag::ACK_NOW, true);
                    ctx.stats.TCPDupAckOut += 1;
                } else if self.oow_ack(ctx, false) {
                    ctx.stats.TCPDupAckOut += 1;
                }
            }
            return;
        }
        // RFC 7323 section 4.3: remember the timestamp of a segment that covers the
        // last ACK we sent.
        if let (Some(ts), Some(opt)) = (self.neg.ts.as_mut(), seg.options.timestamp) {
            if seg.seq.before_eq(self.rcv_wup) && !opt.is_older_than(ts.recent) {
                ts.recent = opt.tsval;
                ts.recent_stamp = ctx.now;
            }
        }
        // Second, check the RST bit (RFC 5961 section 3.2).
        if seg.control == Control::Rst {
            self.on_rst(ctx, seg);
            return;
        }
        // Fourth, check the SYN bit (RFC 5961 section 4.2): challenge, never reset.
        // (Linux compares the ACK with its snd_nxt, which our SYN-ACK did not rewind: the
        // highest sequence number sent, past the data of a Fast Open SYN.)
        let simultaneous_synack = self.state == State::SynReceived
            && seg.ack == Some(self.snd_max)
            && seg.seq + 1 == self.rcv_nxt;
        if seg.control == Control::Syn && !simultaneous_synack {
            if self.state == State::SynReceived && seg.seq == self.irs && seg.ack.is_none() {
                // The peer retransmitted its SYN: our SYN-ACK was lost.
                self.snd_nxt = self.iss;
                return;
            }
            ctx.stats.TCPSYNChallenge += 1;
            self.oow_ack(ctx, true);
            return;
        }
        // Fifth, check the ACK field.
        let Some(ack) = seg.ack else {
            return;
        };
        if self.state == State::SynReceived {
            if ack.after(self.snd_una) && ack.before_eq(self.snd_max) {
                self.snd_wnd = u32::from(seg.window) << self.neg.snd_wscale;
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = ack;
                // The SYN is acknowledged; data a Fast Open child sent is the ordinary
                // ACK processing's below.
                self.snd_una = self.iss + 1;
                // Linux's tcp_rcv_state_process counts the SYN-ACK delivered here, the
                // ACK processing not tracking it.
                self.delivered += 1;
                self.rtt_sample(ctx, seg, self.iss, self.snd_una);
                self.established(ctx);
                self.events |= events::CONNECTED | events::WRITABLE;
            } else {
                ctx.ctl.reset_for(self.local(), self.remote(), seg);
                return;
            }
        }
        // RFC 5961 section 5.2: an ACK for data never sent is answered and dropped; one
        // older than the largest window the peer has seen is challenged and dropped.
        if ack.after(self.snd_max) {
            self.oow_ack(ctx, false);
            return;
        }
        let max_wnd = self.max_snd_wnd.max(1);
        if ack.before(self.snd_una - max_wnd) {
            self.oow_ack(ctx, true);
            return;
        }
        self.process_ack(ctx, seg, ack);
        if self.state == State::Closed {
            return;
        }
        // Sixth, the URG bit (urgent.rs).
        if seg.urgent.is_some() || self.rare.urg.data == super::urgent::UrgData::NotYet {
            self.on_urgent(seg.seq, seg.urgent, seg.payload);
        }
        // Seventh, process the segment text.
        if simultaneous_synack && self.state == State::Established && seg.payload.is_empty() {
            // The SYN-ACK of a simultaneous open repeats the SYN we acknowledged in our
            // own SYN-ACK: Linux's tcp_data_queue takes its sequence number as a
            // duplicate (RFC 2883 4.1.1): a D-SACK of the SYN, and an ACK at once.
            ctx.stats.DelayedACKLost += 1;
            self.dsack_set(ctx, seg.seq, seg.seq + 1);
            self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
            self.set_flag(flag::ACK_NOW, true);
        }
        if !seg.payload.is_empty() {
            if self.orphan_data(ctx, seg) {
                return;
            }
            self.process_text(ctx, seg.seq, seg);
        }
        // Eighth, check the FIN bit.
        if seg.control == Control::Fin {
            let fin = seg.seq + seg.payload.len() as u32;
            if self.flag(flag::FIN_RECEIVED) {
                // A retransmitted FIN: our ACK of it was lost; acknowledge again.
                self.set_flag(flag::ACK_NOW, true);
                return;
            }
            if fin.after(self.rcv_adv.max(self.rcv_nxt)) {
                // Beyond the window: not ours to take yet.
                return;
            }
            self.fin_pending = Some(fin);
        }
        self.check_fin(ctx);
    }

    /// New data on a connection whose user closed it (Linux tcp_rcv_state_process,
    /// FIN-WAIT-1/2 with RCV_SHUTDOWN): reset, because nobody will read it.
    fn orphan_data(&mut self, ctx: &mut Ctx, seg: &TcpRepr) -> bool {
        let new_data = (seg.seq + seg.payload.len() as u32).after(self.rcv_nxt);
        if self.flag(flag::ORPHAN)
            && new_data
            && matches!(self.state, State::FinWait1 | State::FinWait2)
        {
            // Linux's tcp_reset, then a RST answering this segment (<SEQ=SEG.ACK><RST>).
            ctx.stats.TCPAbortOnData += 1;
            ctx.ctl.reset_for(self.local(), self.remote(), seg);
            self.close_with(None);
            return true;
        }
        false
    }

    /// RFC 5961 section 3.2: a RST at exactly RCV.NXT resets; one elsewhere in the
    /// window earns a challenge ACK. Linux also accepts RCV.NXT - 1 after a FIN was
    /// received (tcp_reset_check).
    fn on_rst(&mut self, ctx: &mut Ctx, seg: &TcpRepr) {
        let exact = seg.seq == self.rcv_nxt
            || (self.flag(flag::FIN_RECEIVED)
                && seg.seq == self.rcv_nxt - 1
                && matches!(
                    self.state,
                    State::CloseWait | State::LastAck | State::Closing
                ));
        if !exact {
            self.oow_ack(ctx, true);
            return;
        }
        // Linux's tcp_reset: the errno depends on the state.
        let error = match self.state {
            // A Fast Open child already belongs to the program: reset, not refused.
            State::SynReceived if self.tfo.listener.is_some() => {
                ctx.stats.AttemptFails += 1;
                Error::ConnectionReset
            }
            State::SynReceived => {
                ctx.stats.AttemptFails += 1;
                Error::ConnectionRefused
            }
            State::CloseWait => Error::BrokenPipe,
            _ => Error::ConnectionReset,
        };
        if matches!(self.state, State::Established | State::CloseWait) {
            ctx.stats.EstabResets += 1;
        }
        self.close_with(Some(error));
    }

    /// The ACK of RFC 9293 3.10.7.4 "fifth": advance SND.UNA, take RTT samples, drive
    /// congestion control and loss recovery (RFC 5681, RFC 6582), update the send window,
    /// and make the FIN-acknowledged transitions.
    fn process_ack(&mut self, ctx: &mut Ctx, seg: &TcpRepr, ack: SeqNum) {
        let window = u32::from(seg.window) << self.neg.snd_wscale;
        let flight_before = self.flight();
        self.probes = 0;
        if !ack.before(self.snd_una) {
            self.rcv_tstamp = ctx.now;
        }
        let undelivered_before = self.undelivered();
        let delivered_before = self.delivered;
        // RFC 3168 6.1.2: the peer echoes congestion (Linux's FLAG_ECE); an ACK older
        // than SND.UNA says nothing (tcp_ack's old_ack path).
        let ece = self.ecn_echoed(seg) && !ack.before(self.snd_una);
        let outstanding = self.snd_max.after(self.snd_una);
        let una_advanced = ack.after(self.snd_una);
        // A duplicate ACK (RFC 5681 section 2).
        let dupack = !una_advanced
            && ack == self.snd_una
            && outstanding
            && seg.payload.is_empty()
            && seg.control == Control::None
            && window == self.snd_wnd;
        let loss_mark = self.in_loss().then(|| self.loss_mark());
        let sacked_before = self.rec.sacked.bytes();
        // tcp_ack's prior_fack: the end of the highest SACKed data before this ACK
        // (tcp_highest_sack_seq), SND.UNA when nothing is SACKed.
        let prior_fack = self.rec.sacked.highest().unwrap_or(self.snd_una);
        self.record_sacks(ctx, seg, ack);
        let loss_sack = loss_mark.map(|m| {
            let data_sacked = self.rec.sacked.bytes() > sacked_before;
            let orig_sacked = self.sacked_in(m.never_from, m.high) > m.sacked;
            (data_sacked, orig_sacked)
        });
        let mut fin_acked_now = false;
        let mut data = 0;
        if una_advanced {
            // Something got through: an ICMP soft error is forgotten (Linux's tcp_ack).
            self.soft_error = None;
            let acked = (ack - self.snd_una) as u32;
            let syn_acked = u32::from(self.snd_una == self.iss);
            fin_acked_now = self.flag(flag::FIN_SENT)
                && !self.flag(flag::FIN_ACKED)
                && ack == self.fin_seq() + 1;
            let fin_acked = u32::from(fin_acked_now);
            data = acked.saturating_sub(syn_acked + fin_acked) as usize;
            let prior_una = self.snd_una;
            self.send_buf.consume(data);
            self.bytes_acked += data as u64;
            self.snd_una = ack;
            if self.snd_nxt.before(self.snd_una) {
                self.snd_nxt = self.snd_una;
            }
            self.rtt_sample(ctx, seg, prior_una, ack);
            self.backoff = 0;
            self.rto_count = 0;
            self.retrans_stamp = None;
            self.delivered += syn_acked;
            // The acknowledged segments leave the record; the box goes once all of it rests.
            let (segs, newest_sent) = self
                .inflight_clear(|f| f.sent.pop_acked(ack))
                .unwrap_or((0, None));
            self.delivered += segs;
            if let Some(sent) = newest_sent.filter(|_| prior_una.after_eq(self.rexmit_high)) {
                self.ca_rtt_sample(ctx, ctx.now - sent);
            }
            self.inflight_clear(|f| f.chunks.ack(ack));
            self.mtup_on_ack(ctx);
            self.set_flag(flag::MORE_PENDING, false);
            self.urgent_acked();
            // tcp_clean_rtx_queue: "Non-retransmitted hole got filled? That's
            // reordering", when it lay below data SACKed before this ACK (so only
            // when something was SACKed).
            let hole = if prior_fack.after(prior_una) {
                self.acked_hole(prior_una, ack)
                    .filter(|h| h.before(prior_fack))
            } else {
                None
            };
            self.advance_scoreboard(acked);
            if let Some(low) = hole {
                self.check_sack_reordering(ctx, low);
            }
            if self
                .inflight
                .tlp_high_seq
                .is_some_and(|high| self.snd_una.after_eq(high))
            {
                self.inflight_clear(|f| f.tlp_high_seq = None);
            }
        }
        let delivered = undelivered_before.saturating_sub(self.undelivered());
        if ece {
            // Linux's tcp_newly_delivered: what an ECE ACK delivered.
            ctx.stats.TCPDeliveredCE += u64::from(self.delivered - delivered_before);
        }
        if let (Some(m), Some((data_sacked, orig_sacked))) = (loss_mark, loss_sack) {
            // Linux's tcp_process_loss: was the timeout spurious (frto.rs)?
            let orig_acked = una_advanced && m.never_from.before(ack.min(m.high));
            let loss_ack = super::frto::LossAck {
                una_advanced,
                dupack,
                data_sacked,
                orig_acked: orig_acked || orig_sacked,
                tsecr: seg.options.timestamp.map(|t| t.tsecr),
                wnd_end: ack + window,
            };
            self.process_loss(ctx, &loss_ack);
        }
        if una_advanced || dupack || delivered > 0 || (ece && outstanding) {
            self.on_ack_recovery(ctx, delivered, data > 0, dupack, flight_before, ece);
        }
        if una_advanced {
            // Linux's tcp_set_xmit_timer: a loss probe if one is allowed, else the RTO.
            if self.snd_una == self.snd_max {
                self.disarm(TimerKind::Retransmit);
            } else if !self.schedule_loss_probe(ctx, true) {
                self.arm_rto(ctx.now + self.rtt.rto());
            }
            if data > 0 {
                self.events |= events::WRITABLE;
                self.grow_send_buffer(ctx);
            }
            self.chrono_on_ack(ctx.now, ctx.config);
        }
        // Window update (RFC 9293 3.10.7.4, as Linux's tcp_may_update_window decides
        // it): from an ACK of new data, a newer segment, or the same segment widening
        // the window. An ACK of new data counts whatever its sequence number: the
        // peer's retransmission carries an older one than its pure ACKs did.
        let newer = self.snd_wl1.before(seg.seq);
        if una_advanced || newer || (self.snd_wl1 == seg.seq && window > self.snd_wnd) {
            if window != self.snd_wnd && !outstanding {
                self.restart_on_window_update(ctx);
            }
            self.snd_wnd = window;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            if window > 0 {
                self.disarm(TimerKind::Persist);
                self.probes = 0;
                // Linux's tcp_ack_probe: the window opened, probing is over.
                if self.rare.probes_tstamp.is_some() {
                    self.rare.probes_tstamp = None;
                }
            }
        }
        if !outstanding {
            self.ack_probe(ctx);
        }
        if fin_acked_now {
            self.set_flag(flag::FIN_ACKED, true);
            self.on_fin_acked(ctx);
        }
        // Linux's tcp_data_snd_check sends with tcp_current_mss (mtup.rs).
        self.route_mtu_check(ctx.config);
    }

    /// An ACK that arrived with nothing in flight, while data waits (Linux's
    /// tcp_ack_probe): if the window now takes the next segment, the probing is over
    /// (backoff cleared, the data goes); if not, the probe timer restarts from this
    /// answer with the backed-off interval, so the next probe comes one interval after
    /// the answer rather than after the previous probe.
    fn ack_probe(&mut self, ctx: &Ctx) {
        let unsent = self.send_buf.len();
        if unsent == 0 {
            return;
        }
        let head = self
            .inflight
            .chunks
            .at(self.snd_nxt)
            .map_or(unsent, |c| (c.end - self.snd_nxt).max(0) as usize)
            .min(unsent)
            .min(self.mss as usize);
        if self.snd_wnd as usize >= head {
            self.backoff = 0;
            self.disarm(TimerKind::Persist);
        } else {
            let when = self.rtt.backed_off(self.backoff.into());
            self.arm(TimerKind::Persist, ctx.now + when);
        }
    }

    /// The RTT sample of an ACK that advances SND.UNA from `una_before` to `ack`, as
    /// Linux's tcp_clean_rtx_queue and tcp_ack_update_rtt take it: the handshake's from
    /// the SYN or SYN-ACK it times; for data, from the first transmission of the oldest
    /// segment it fully acknowledges (and the minimum RTT from the newest), unless any
    /// of the acknowledged data was retransmitted (Karn's algorithm, RFC 6298 3); only
    /// then from the echoed timestamp (RFC 7323 section 4.1), which Linux trusts less.
    fn rtt_sample(&mut self, ctx: &Ctx, seg: &TcpRepr, una_before: SeqNum, ack: SeqNum) {
        if let Some(sent) = self.rtt_seq {
            if ack.after(self.iss) {
                self.rtt.on_sample(ctx.now - sent);
                self.rtt_seq = None;
                return;
            }
        }
        if una_before.after_eq(self.rexmit_high) {
            let mut acked = self
                .inflight
                .sent
                .iter()
                .take_while(|(end, _)| end.before_eq(ack));
            if let Some(&(_, first)) = acked.next() {
                let last = acked.last().map_or(first, |&(_, t)| t);
                self.rtt.on_sample(ctx.now - first);
                self.rtt.note_min(ctx.now - last);
                return;
            }
        }
        let echoed = match (self.neg.ts, seg.options.timestamp) {
            (Some(ts), Some(opt)) if opt.tsecr != 0 => {
                Some(ts.now_val(ctx.now).wrapping_sub(opt.tsecr))
            }
            _ => None,
        };
        if let Some(ms) = echoed.filter(|ms| *ms < 0x8000_0000) {
            self.rtt.on_sample(Duration::from_millis(u64::from(ms)));
        }
    }

    /// Congestion control's RTT sample (Linux's pkts_acked with ca_rtt_us: the newest
    /// segment this ACK acknowledged, none of them retransmitted): CUBIC's minimum RTT
    /// and HyStart, whose exits Linux counts.
    fn ca_rtt_sample(&mut self, ctx: &mut Ctx, rtt: Duration) {
        let seq = (self.snd_una.0, self.snd_max.0);
        let exit = self
            .cc
            .on_rtt_sample(ctx.now, rtt, seq, self.rtt.srtt(), &ctx.config.hystart);
        let cwnd = u64::from(self.cc.cwnd() / self.mss.max(1));
        match exit {
            Some(HystartExit::AckTrain) => {
                ctx.stats.TCPHystartTrainDetect += 1;
                ctx.stats.TCPHystartTrainCwnd += cwnd;
            }
            Some(HystartExit::Delay) => {
                ctx.stats.TCPHystartDelayDetect += 1;
                ctx.stats.TCPHystartDelayCwnd += cwnd;
            }
            None => {}
        }
    }

    /// Linux grows the send buffer with cwnd (tcp_sndbuf_expand) unless SO_SNDBUF was
    /// set: room for two windows' worth of skbs (sendq.rs), and at least two windows'
    /// worth of payload, up to `tcp_wmem[2]`.
    fn grow_send_buffer(&mut self, ctx: &Ctx) {
        // tcp_should_expand_sndbuf: not with SO_SNDBUF set, nor under memory pressure,
        // nor with the stack's charge at `tcp_mem`'s low mark or above.
        if self.opts.sndbuf.is_some()
            || ctx.mem.under_pressure(self.mem_unsettled())
            || !ctx.mem.below_low(self.mem_unsettled())
        {
            return;
        }
        let want = (2 * self.cc.cwnd().max(self.snd_wnd) as usize)
            .max(self.sndbuf_expand())
            .min(ctx.config.tcp_wmem[2]);
        if want > self.sndbuf() {
            self.set_sndbuf(want);
            if want > self.send_buf.capacity() {
                self.send_buf.set_capacity(want);
            }
        }
    }

    /// Our FIN is acknowledged (RFC 9293 3.10.7.4, fifth, per state).
    fn on_fin_acked(&mut self, ctx: &mut Ctx) {
        match self.state {
            State::FinWait1 => {
                self.set_state(State::FinWait2);
                if self.flag(flag::ORPHAN) {
                    self.arm(
                        TimerKind::FinWait2,
                        ctx.now + self.opts.fin_timeout(ctx.config),
                    );
                }
            }
            State::Closing => self.enter_time_wait(ctx),
            State::LastAck => self.close_with(None),
            _ => {}
        }
    }

    /// Moves to TIME-WAIT; the stack turns the connection into a compact record.
    fn enter_time_wait(&mut self, ctx: &mut Ctx) {
        self.set_state(State::TimeWait);
        self.disarm_all();
        let _ = ctx;
    }

    /// RFC 9293 3.10.7.4 "seventh": data within the window goes into the receive buffer
    /// (reassembly handles order, overlaps and duplicates) as Linux's tcp_data_queue
    /// admits it: not into a zero window, and not over the receive memory unless the
    /// receive queue is empty (then the ACK offers a zero window at once). The ACK
    /// policy is Linux's: immediate for out-of-order, duplicate or hole-filling data and
    /// in quick-ACK mode, every second full-sized segment, otherwise delayed.
    fn process_text(&mut self, ctx: &mut Ctx, seq: SeqNum, seg: &TcpRepr) {
        let (payload, fin) = (seg.payload, seg.control == Control::Fin);
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            return;
        }
        let len = payload.len() as u32;
        if len > 0 {
            self.ecn_accept_cwr(seg);
        }
        // Linux's tcp_measure_rcv_mss: a GSO packet's segment size, else its length.
        let seg_len = if ctx.rx.gso > 0 { ctx.rx.gso } else { len };
        let datagram = if ctx.rx.len > 0 {
            ctx.rx.len as usize
        } else {
            payload.len() + 40
        };
        let truesize = super::rcvspace::rx_truesize(datagram);
        let skip = (self.rcv_nxt - seq).max(0) as u32;
        if skip >= len && fin && skip == len {
            // Old data with a new FIN (Linux's partial-segment case): the old part is a
            // D-SACK, which the FIN then drops; the ACK is the FIN's to schedule.
            self.dsack_set(ctx, seq, self.rcv_nxt);
            return;
        }
        if skip >= len {
            // Nothing new: a duplicate. Acknowledge at once, with a D-SACK of it (RFC
            // 2883 section 4.1.1), so the sender learns (Linux's tcp_data_queue).
            ctx.stats.TCPDupData += 1;
            ctx.stats.DelayedACKLost += 1;
            self.dsack_set(ctx, seq, seq + len);
            self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        if skip > 0 {
            // The head repeats data we hold (RFC 2883 section 4.1.2).
            self.dsack_set(ctx, seq, self.rcv_nxt);
        }
        let data = &payload[skip as usize..];
        let offset = (seq + skip - self.rcv_nxt).max(0) as usize;
        if offset == 0 && self.receive_window() == 0 {
            // In order into a closed window: dropped, and the ACK goes at once.
            ctx.stats.TCPZeroWindowDrop += 1;
            self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        if offset > 0 && offset as u32 >= self.receive_window() {
            // Out of order and beyond the window (SKB_DROP_REASON_TCP_OVERWINDOW).
            self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        if !self.rmem_schedule(ctx, data.len() as u32)
            || !self.mem_schedule_recv(ctx, offset, data.len())
        {
            if offset > 0 {
                ctx.stats.TCPOFODrop += 1;
                return;
            }
            // Over the memory: the next ACK offers a zero window, at once. The segment
            // is dropped unless nothing waits to be read (then it is taken anyway).
            self.rs.nomem = true;
            self.set_flag(flag::ACK_NOW, true);
            if !self.recv_buf.is_empty() {
                ctx.stats.TCPRcvQDrop += 1;
                return;
            }
        }
        let small = self.measure_rcv_mss(seg_len, len, truesize);
        let capacity = self.recv_capacity_for(offset, data.len());
        if capacity > self.recv_buf.capacity() {
            self.recv_buf.set_capacity(capacity);
        }
        let had_ooo = self.recv_buf.has_ooo();
        let dsack = self.dsack_for_queue(seq + skip, seq + len);
        let advanced = match self.recv_buf.try_insert(offset, data) {
            Ok(n) => n,
            Err(crate::buffer::Refused::Ranges) => {
                // Linux's tcp_data_queue_ofo when it cannot queue: TCPOFODrop, and the
                // segment is gone (its duplicate ACK still goes).
                ctx.stats.TCPOFODrop += 1;
                self.set_flag(flag::ACK_NOW, true);
                return;
            }
            Err(crate::buffer::Refused::Window) => 0,
        };
        if advanced > 0 || offset > 0 {
            self.charge(seq + len, truesize);
        }
        self.bytes_received += advanced as u64;
        self.rcv_nxt += advanced as u32;
        if advanced > 0 || offset > 0 {
            self.ecn_check_ce(ctx.rx.ecn);
            // Queued: what it repeats of the out-of-order data is a D-SACK (RFC 2883
            // section 4.1.3), counted against the new RCV.NXT as Linux's tcp_ofo_queue.
            self.dsack_apply(ctx, &dsack);
        }
        if offset > 0 {
            ctx.stats.TCPOFOQueue += 1;
            self.set_flag(flag::ACK_NOW, true);
            // tcp_data_queue_ofo: the window grows for what could be held (with SACK,
            // so that a sender without it gets its duplicate ACKs), and a program's
            // socket sizes its buffer for the reordering seen.
            if self.neg.sack {
                self.grow_window(ctx, len, truesize);
            }
            if self.rs.owned && !self.flag(flag::ORPHAN) {
                let space = self.rs.space();
                self.rcvbuf_grow(ctx, space);
            }
            return;
        }
        if advanced == 0 {
            // No room (zero window): tell the sender at once (Linux's out_of_window).
            self.enter_quickack_mode(super::delack::MAX_QUICKACKS);
            self.set_flag(flag::ACK_NOW, true);
            return;
        }
        self.events |= events::READABLE;
        self.unacked_bytes += advanced as u32;
        // tcp_event_data_recv: the receiver's round trip, the ACK engine, and the
        // window's growth for a segment that is not tiny.
        self.rcv_rtt_measure(ctx);
        if let Some(ts) = seg.options.timestamp {
            self.rcv_rtt_measure_ts(ctx, ts.tsecr, len);
        }
        self.on_data_recv(ctx, small, seg.psh);
        if len >= 128 {
            self.grow_window(ctx, len, truesize);
        }
        if had_ooo {
            // A hole filled: ACK at once (RFC 5681 section 4.2).
            self.set_flag(flag::ACK_NOW, true);
        }
        // Now or delayed: decided once the segment's FIN is processed too.
    }

    /// The receive buffer's capacity once `len` bytes at `offset` past RCV.NXT are
    /// queued: doubled (at least) when they go past it.
    pub(crate) fn recv_capacity_for(&self, offset: usize, len: usize) -> usize {
        let (need, cap) = (self.recv_buf.len() + offset + len, self.recv_buf.capacity());
        if need > cap {
            need.max(2 * cap).min(crate::buffer::MAX_CAPACITY)
        } else {
            cap
        }
    }

    /// RFC 9293 3.10.7.4 "eighth": a FIN that is next in sequence ends the stream.
    fn check_fin(&mut self, ctx: &mut Ctx) {
        let Some(fin) = self.fin_pending else {
            return;
        };
        if fin != self.rcv_nxt || self.flag(flag::FIN_RECEIVED) {
            return;
        }
        self.fin_pending = None;
        self.set_flag(flag::FIN_RECEIVED, true);
        // Linux's tcp_fin resets the SACK state: a pending D-SACK is dropped.
        self.inflight_clear(|f| f.dsack = None);
        self.rcv_nxt += 1;
        self.events |= events::READABLE;
        match self.state {
            State::SynReceived | State::Established => {
                // Linux's tcp_fin enters pingpong mode: quick ACKs end and the ACK of
                // the FIN waits for the delayed-ACK timer (the application usually
                // answers or closes first), unless two full segments are unacked. With
                // no data ever received ato is still 0 and the ACK goes at once.
                self.set_state(State::CloseWait);
                self.set_flag(flag::ACK_PENDING, true);
                self.enter_pingpong(ctx);
            }
            State::FinWait1 => {
                if self.flag(flag::FIN_ACKED) {
                    self.enter_time_wait(ctx);
                } else {
                    self.set_state(State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(ctx),
            _ => {}
        }
        if self.state != State::CloseWait {
            self.set_flag(flag::ACK_NOW, true);
        }
        if self.state == State::TimeWait {
            self.final_ack(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use synack_wire::{TcpOptions, Timestamp};

    const NOW: Instant = Instant::from_secs(10);

    /// An ESTABLISHED connection with 1,000 bytes in flight (SND.UNA 1001, SND.MAX
    /// 2001) that expects RCV.NXT 5001 within a 10,000-byte window, timestamps on
    /// (TS.Recent 100).
    fn established() -> Connection {
        let config = crate::Config::default();
        let local = "10.0.0.1:80".parse().unwrap();
        let remote = "10.0.0.2:40000".parse().unwrap();
        let mut c = Connection::new(&config, local, remote, SeqNum(1000));
        c.set_state(State::Established);
        (c.snd_una, c.snd_nxt, c.snd_max) = (SeqNum(1001), SeqNum(2001), SeqNum(2001));
        (c.rcv_nxt, c.rcv_wup, c.rcv_adv) = (SeqNum(5001), SeqNum(5001), SeqNum(15001));
        (c.snd_wnd, c.max_snd_wnd) = (65535, 65535);
        c.neg.ts = Some(Timestamps {
            recent: 100,
            recent_stamp: NOW,
            offset: 0,
        });
        c
    }

    /// The segment the connection expects next: ACK of everything, 500 bytes of data,
    /// a TSval newer than TS.Recent.
    fn expected(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(5001),
            ack: Some(SeqNum(2001)),
            control: Control::None,
            psh: true,
            ece: false,
            cwr: false,
            window: 65535,
            urgent: None,
            options: TcpOptions {
                timestamp: Some(Timestamp {
                    tsval: 101,
                    tsecr: 7,
                }),
                ..TcpOptions::default()
            },
            payload,
        }
    }

    /// Header prediction takes the segments an ESTABLISHED connection expects, and
    /// every one it takes passes the checks of the slow path (PAWS, the window, the
    /// ACK's bounds) that the fast path skips; anything else goes the slow way.
    #[test]
    fn prediction_takes_only_what_the_slow_path_would_pass() {
        let c = established();
        let data = [7u8; 500];
        let big = [7u8; 10_001];
        let ok = |seg: &TcpRepr| {
            let ack = c.predicted(seg)?;
            assert!(!c.paws_rejects(NOW, seg), "{seg:?}");
            assert_eq!(c.outside_window(seg), (false, false), "{seg:?}");
            assert!(!ack.before(c.snd_una) && !ack.after(c.snd_max), "{seg:?}");
            Some(ack)
        };
        let base = expected(&data);
        let mut same_ts = base;
        same_ts.options.timestamp = Some(Timestamp {
            tsval: 100,
            tsecr: 7,
        });
        let taken: [(&str, TcpRepr); 5] = [
            ("data", base),
            ("pure ACK", expected(&[])),
            (
                "ACK of part",
                TcpRepr {
                    ack: Some(SeqNum(1500)),
                    ..base
                },
            ),
            (
                "duplicate ACK",
                TcpRepr {
                    ack: Some(SeqNum(1001)),
                    ..base
                },
            ),
            ("same TSval", same_ts),
        ];
        for (what, seg) in taken {
            assert_eq!(ok(&seg), seg.ack, "{what} is predicted");
        }
        let mut old_ts = base;
        old_ts.options.timestamp = Some(Timestamp {
            tsval: 99,
            tsecr: 7,
        });
        let mut no_ts = base;
        no_ts.options.timestamp = None;
        let refused: [(&str, TcpRepr); 11] = [
            (
                "FIN",
                TcpRepr {
                    control: Control::Fin,
                    ..base
                },
            ),
            (
                "SYN",
                TcpRepr {
                    control: Control::Syn,
                    ..base
                },
            ),
            (
                "RST",
                TcpRepr {
                    control: Control::Rst,
                    ..base
                },
            ),
            (
                "URG",
                TcpRepr {
                    urgent: Some(1),
                    ..base
                },
            ),
            ("ECE", TcpRepr { ece: true, ..base }),
            (
                "out of order",
                TcpRepr {
                    seq: SeqNum(5002),
                    ..base
                },
            ),
            ("no ACK", TcpRepr { ack: None, ..base }),
            (
                "ACK of unsent data",
                TcpRepr {
                    ack: Some(SeqNum(2002)),
                    ..base
                },
            ),
            ("beyond the window", expected(&big)),
            ("older TSval", old_ts),
            ("timestamps missing", no_ts),
        ];
        for (what, seg) in refused {
            assert_eq!(c.predicted(&seg), None, "{what} goes the slow way");
        }
        // Only ESTABLISHED predicts.
        let mut closing = established();
        closing.set_state(State::CloseWait);
        assert_eq!(closing.predicted(&base), None);
    }
}
