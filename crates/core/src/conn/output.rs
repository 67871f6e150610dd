//! What a connection sends, and when: SYN and SYN-ACK, data within the send and
//! congestion windows with Nagle and sender-side silly-window avoidance, FIN, pure ACKs
//! with receiver-side silly-window avoidance, window probes.

use crate::conn::flag;
use synack_wire::{Control, SackBlock, SeqNum, TcpOptions, TcpRepr, Timestamp};

use super::chrono::ChronoKind;
use super::{Connection, Ctx, TimerKind};
use crate::config::Qdisc;
use crate::segment::CtlSegment;
use crate::state::State;

/// `max_flight` of a flow marked cwnd-limited for the current window: more than any
/// cwnd, so that [`Congestion::cwnd_limited`](crate::congestion::Congestion::cwnd_limited)
/// holds until the window ends.
const CWND_LIMITED: u32 = u32::MAX;

/// How `data_segment` may choose its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// New data or go-back-N retransmission, within both windows.
    Normal,
    /// A retransmission of at most this many bytes, outside SND.NXT's progress (fast
    /// recovery's lost segments, a loss probe's last segment).
    Retransmit(usize),
    /// The persist timer's override of SWS avoidance: what fits the window.
    Force,
    /// A tail loss probe's new segment: one MSS past cwnd, within the peer's window.
    Probe,
}

/// A segment the connection decided to send. The payload stays in the send buffer: the
/// stack copies it straight into the caller's transmit buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outgoing {
    pub repr: TcpRepr<'static>,
    /// Offset of the payload in the send buffer, and its length.
    pub payload_at: usize,
    pub payload_len: usize,
    /// The datagram goes out ECN-capable, ECT(0) (RFC 3168 6.1.2).
    pub ect: bool,
}

impl Connection {
    /// The next segment to send, if any; the caller must send it (state is updated as if
    /// it was).
    pub fn poll_segment(&mut self, ctx: &mut Ctx) -> Option<Outgoing> {
        if self.pacing_queued() && self.state != State::Closed {
            // Under fq, what waits in the queue leaves first, at its time (pacing.rs).
            if let Some(out) = self.qdisc_dequeue(ctx) {
                return Some(out);
            }
        }
        loop {
            let sent_before = self.snd_max;
            // The segment stays where next_segment put it (a 160-byte record: no moves).
            let mut out = self.next_segment(ctx);
            let seg = out.as_mut()?;
            let new_data = seg.repr.seq.after_eq(sent_before);
            self.ecn_mark(seg, new_data);
            self.route_revalidated();
            if !self.qdisc_enqueue(ctx, &mut out) {
                return out;
            }
        }
    }

    fn next_segment(&mut self, ctx: &mut Ctx) -> Option<Outgoing> {
        match self.state {
            State::Closed => return None,
            State::SynSent => {
                // A Fast Open SYN held back by TCP_FASTOPEN_CONNECT waits for a write.
                let ready = self.snd_nxt == self.iss && !self.tfo.deferred;
                return ready.then(|| self.emit_syn(ctx, false));
            }
            State::SynReceived if self.snd_nxt == self.iss => {
                return Some(self.emit_syn(ctx, true));
            }
            _ => {}
        }
        // RFC 5682 3.1 step 2b: after a timeout, new data before more retransmissions.
        let retransmission = match self.rare.loss.send_new {
            false => self.next_retransmission(),
            true => None,
        };
        if let Some((start, limit)) = retransmission {
            // RFC 6675 section 5 (NextSeg rule 1): lost data first, while pipe < cwnd.
            if self.pipe() < self.cc.cwnd() {
                let out = self.data_segment(ctx, start, Mode::Retransmit(limit as usize));
                if let Some(out) = out {
                    // Past what went out, the FIN included.
                    let fin = u32::from(out.repr.control == Control::Fin);
                    let sent = out.payload_len as u32 + fin;
                    self.rec.rexmit_next = out.repr.seq + sent.max(1);
                    let at = self.departure(ctx);
                    self.on_retransmitted(out.repr.seq, out.repr.seq + sent, at);
                    ctx.stats.TCPFastRetrans += 1;
                    if self.flag(flag::XMIT_PROBE) {
                        // A retransmission replaces a pending loss probe with the RTO
                        // (Linux's tcp_xmit_retransmit_queue rearms it).
                        self.arm_rto(ctx.now + self.rtt.backed_off(self.backoff.into()));
                    }
                    return Some(out);
                }
            }
        }
        self.skip_sacked();
        if let Some(seq) = self.take_loss_probe() {
            if let Some(out) = self.loss_probe_segment(ctx, seq) {
                return Some(out);
            }
        }
        // A path MTU probe goes before new data, or new data waits for it (mtup.rs).
        let probe = if self.snd_nxt == self.snd_max {
            self.mtu_probe(ctx)
        } else {
            super::mtup::ProbeStep::None
        };
        if probe != super::mtup::ProbeStep::Wait {
            if let Some(out) = self.data_segment(ctx, self.snd_nxt, Mode::Normal) {
                return Some(out);
            }
        }
        if self.frto_nothing_new() {
            // Step 2b found no new data to send: the lost data goes instead.
            return self.next_segment(ctx);
        }
        if !self.pacing_queued() {
            // A push that TCP Small Queues held back still applies when the unit goes.
            self.set_flag(flag::PUSH_ONCE, false);
        }
        if self.flag(flag::PROBE_PENDING) {
            self.set_flag(flag::PROBE_PENDING, false);
            if self.snd_wnd > 0 {
                // The window opened but stayed too small for SWS avoidance: the persist
                // timer's expiry forces what fits (RFC 9293 3.8.6.2.1's override).
                if let Some(out) = self.data_segment(ctx, self.snd_nxt, Mode::Force) {
                    return Some(out);
                }
            }
            // Linux's probe (tcp_xmit_probe_skb): an old sequence number, no data, which
            // the peer must answer with an ACK carrying its current window.
            return Some(self.bare(ctx, self.snd_una - 1, Control::None));
        }
        if self.flag(flag::ACK_NOW) {
            // Linux's tcp_acceptable_seq: the highest sequence number sent, which a
            // timeout's rewind of SND.NXT does not move back.
            return Some(self.bare(ctx, self.snd_max, Control::None));
        }
        None
    }

    /// SYN (active open) or SYN-ACK (simultaneous open), RFC 9293 section 3.10.1 and
    /// 3.10.7.3.
    fn emit_syn(&mut self, ctx: &mut Ctx, synack: bool) -> Outgoing {
        let retransmit = self.snd_max != self.iss;
        let mut options = self.syn_options(ctx, synack);
        let (mut window, _, _) =
            super::rcvspace::initial_window(ctx.config, self.opts.rcvbuf, u32::from(self.adv_mss));
        if synack && self.tfo.synack_window > 0 {
            // A Fast Open child's SYN-ACK is its request's (Linux's tcp_make_synack):
            // the request's window, and a cookie on the first one only.
            window = u32::from(self.tfo.synack_window);
            options.fast_open = self.tfo.synack_cookie.take();
        }
        if synack {
            self.rcv_adv = self.rcv_nxt + window;
            self.rcv_wup = self.rcv_nxt;
        }
        let mut syn_data = 0;
        if !synack && !retransmit && (self.tfo.syn_cookie.is_some() || self.tfo.syn_data > 0) {
            // RFC 7413 3: the first SYN carries the cookie (or asks for one) and, with
            // a cookie, the first write's data; retransmissions carry neither (Linux
            // sends them from the plain SYN it keeps).
            options.fast_open = self.tfo.syn_cookie.take();
            self.tfo.syn_fastopen = options.fast_open.is_some();
            self.tfo.syn_exp = options.fast_open.is_some_and(|c| c.exp);
            syn_data = self.tfo.syn_data as usize;
        }
        let (ece, cwr) = self.ecn_syn_flags(ctx, synack, retransmit);
        let repr = TcpRepr {
            src_port: self.local().port(),
            dst_port: self.remote().port(),
            seq: self.iss,
            ack: synack.then_some(self.rcv_nxt),
            control: Control::Syn,
            psh: false,
            ece,
            cwr,
            window: window as u16,
            urgent: None,
            options,
            payload: &[],
        };
        self.snd_nxt = self.iss + 1 + syn_data as u32;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        self.count_sent(ctx, retransmit);
        if self.retrans_stamp.is_none() {
            self.retrans_stamp = Some(ctx.now);
        }
        if self.timer(TimerKind::Retransmit).is_none() {
            let rto = self.rtt.backed_off(self.backoff.into());
            self.arm_rto(ctx.now + rto);
        }
        if !retransmit {
            self.rtt_seq = Some(ctx.now);
        } else {
            self.rtt_seq = None;
        }
        self.ack_sent();
        Outgoing {
            repr,
            payload_at: 0,
            payload_len: syn_data,
            ect: false,
        }
    }

    /// A data (and maybe FIN) segment starting at `seq`, if the windows, Nagle and
    /// silly-window avoidance allow one (RFC 9293 section 3.8.6.2.1, RFC 896 with
    /// Minshall's refinement as in Linux's tcp_nagle_check).
    fn data_segment(&mut self, ctx: &mut Ctx, seq: SeqNum, mode: Mode) -> Option<Outgoing> {
        let tfo_child = self.state == State::SynReceived
            && self.tfo.listener.is_some()
            && self.snd_nxt != self.iss;
        if !tfo_child
            && !matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
        {
            return None;
        }
        let start = self.send_buf_seq();
        let offset = (seq - start).max(0) as usize;
        let buffered = self.send_buf.len();
        let avail = buffered.saturating_sub(offset);
        let fin_here = self.flag(flag::FIN_QUEUED)
            && !self.flag(flag::FIN_ACKED)
            && seq.before_eq(self.fin_seq());
        if avail == 0 && !fin_here {
            if mode == Mode::Normal {
                // The write queue is empty: the pass ends, not for the window.
                self.chrono_stop(ctx.now, ChronoKind::RwndLimited);
            }
            return None;
        }
        // The payload shrinks by the SACK option the segment will carry (Linux's
        // tcp_current_mss), so that the datagram stays within the MTU.
        // A path MTU probe's first transmission is the probe's size (mtup.rs).
        let probe = self.probe_at(seq);
        let mss = probe.unwrap_or_else(|| self.current_mss()) as usize;
        let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
        let pipe = self.pipe() as usize;
        let wnd_end = self.wnd_end();
        let mut send_wnd = (wnd_end - seq).max(0) as usize;
        // Going back over what was sent (after a timeout): Linux's __tcp_retransmit_skb
        // checks only the window, with neither SWS avoidance nor Nagle, and when the
        // peer has closed the window the first unacknowledged segment goes anyway, as
        // the zero-window probe (the persist timer runs only with nothing in flight).
        let resend = mode == Mode::Normal && seq.before(self.snd_max);
        if resend && send_wnd == 0 && seq == self.snd_una {
            send_wnd = mss;
        }
        let mut cwnd_room = (self.cc.cwnd() as usize).saturating_sub(pipe);
        if probe.is_some() {
            // A path MTU probe counts as one packet of cwnd, whatever its size (it took
            // another from cwnd when it was built; mtup.rs).
            cwnd_room = cwnd_room.max(mss);
        }
        // A segment never crosses the end of its chunk (Linux: its skb; chunks.rs).
        let chunk = self.inflight.chunks.at(seq);
        let to_chunk = chunk.map_or(usize::MAX, |c| (c.end - seq) as usize);
        let wanted = avail.min(mss).min(to_chunk);
        let len = match mode {
            Mode::Retransmit(limit) => wanted.min(limit),
            Mode::Force => wanted.min(send_wnd.max(1)),
            Mode::Probe => wanted.min(send_wnd),
            Mode::Normal => wanted.min(send_wnd).min(cwnd_room),
        };
        if mode == Mode::Normal && len < wanted {
            // Limited by the peer's window or by cwnd. Sender SWS avoidance (RFC 9293
            // 3.8.6.2.1): a partial segment goes only if it is at least half the largest
            // window the peer offered; otherwise the persist timer forces one out later.
            let by_window = send_wnd < wanted && send_wnd <= cwnd_room;
            let sws_ok = by_window && len > 0 && (resend || len * 2 >= self.max_snd_wnd as usize);
            if !sws_ok {
                if by_window && in_flight == 0 {
                    self.arm_persist(ctx);
                }
                // Linux's tcp_write_xmit stops on tcp_snd_wnd_test: rwnd-limited time.
                if by_window && cwnd_room > 0 {
                    self.chrono_start(ctx.now, ChronoKind::RwndLimited);
                } else {
                    self.chrono_stop(ctx.now, ChronoKind::RwndLimited);
                }
                return None;
            }
        }
        let with_fin = fin_here && offset + len == buffered;
        if len == 0 && !with_fin {
            return None;
        }
        if mode == Mode::Normal && len < mss && !with_fin && len == avail && !resend {
            // TCP_CORK holds every partial segment; Nagle holds one while a previous
            // small one is unacknowledged.
            let small_outstanding = self.snd_sml.after(self.snd_una);
            let corked =
                (self.opts.cork || self.flag(flag::MORE_PENDING)) && !self.flag(flag::PUSH_ONCE);
            if corked || (!self.opts.nodelay && small_outstanding && in_flight > 0) {
                self.chrono_stop(ctx.now, ChronoKind::RwndLimited);
                if corked && in_flight == 0 {
                    // Linux's 200 ms ceiling on corking: with nothing in flight the
                    // probe timer (tcp_check_probe_timer) sends the partial segment.
                    self.arm_persist(ctx);
                }
                return None;
            }
        }
        let retransmit = seq.before(self.snd_max);
        // Linux's tcp_tso_should_defer: a new unit waits for the ACK due shortly to
        // make it larger (tso.rs). A unit already started, or cut by a write that was
        // appending (sendq.rs decided it), goes.
        let fresh = chunk.is_some_and(|c| !c.started);
        if mode == Mode::Normal && !retransmit && fresh {
            if let Some(cwnd_limited) = self.tso_defer(ctx, seq, 0) {
                if cwnd_limited {
                    self.mark_cwnd_limited();
                }
                return None;
            }
        }
        // Under fq, TCP Small Queues holds a new unit while the qdisc holds enough
        // (pacing.rs); the rest of a unit already going follows it.
        let continuing = chunk.is_some_and(|c| c.started && c.sent_to == seq && seq != c.start);
        if !continuing && mode == Mode::Normal && self.tsq_throttled(ctx, seq, mss as u32) {
            return None;
        }
        // The transmission unit this segment belongs to, and whether its last segment
        // carries PSH (a write ended there, or the unit has several segments); the
        // persist timer's forced send carries PSH too (Linux's tcp_write_wakeup).
        let room = match mode {
            Mode::Retransmit(limit) => limit.min(cwnd_room.max(mss)),
            // Linux's cwnd quota counts whole segments (tcp_cwnd_test), so a unit never
            // ends inside one for cwnd's sake; only the window cuts a partial segment
            // (tcp_mss_split_point).
            Mode::Normal => (cwnd_room / mss * mss).max(len).min(send_wnd),
            Mode::Force | Mode::Probe => len,
        };
        let mut room = u32::try_from(room).unwrap_or(u32::MAX);
        let segs = self.tso_segs(ctx.config);
        if mode == Mode::Normal && !retransmit && fresh {
            room = self.mss_split_point(seq, room, mss as u32, segs);
        }
        let seg_end = seq + len as u32;
        if ctx.config.qdisc == Qdisc::DropAll {
            // The device's queue drops the unit: TCP's transmission fails (pacing.rs).
            let rest = chunk.map_or(len as u32, |c| (c.end - seq).max(0) as u32);
            let unit = rest.min(segs.saturating_mul(mss as u32)).min(room.max(1));
            self.xmit_failed(ctx, retransmit, unit);
            return None;
        }
        let unit = self
            .inflight
            .get_mut()
            .and_then(|f| f.chunks.transmit_to(seq, room, mss as u32, segs, seg_end));
        if !continuing {
            let unit_len = unit.map_or(len as u32, |(end, _)| (end - seq).max(0) as u32);
            self.paced_unit_sent(ctx, unit_len);
        }
        let psh = len > 0
            && (unit.is_some_and(|(end, push)| push && end == seg_end) || mode == Mode::Force);
        if len > 0 && retransmit {
            self.mtup_retransmitting();
        }
        let control = if with_fin {
            Control::Fin
        } else {
            Control::None
        };
        let mut repr = self.header(ctx, seq, control);
        repr.psh = psh;
        let end = seq + len as u32 + u32::from(with_fin);
        if !matches!(mode, Mode::Retransmit(_)) {
            self.snd_nxt = end;
        }
        self.on_sent_in_recovery();
        if end.after(self.snd_max) {
            self.snd_max = end;
        }
        if with_fin {
            self.set_flag(flag::FIN_SENT, true);
        }
        if len < mss && !retransmit {
            // Linux's tcp_minshall_update runs for new data only (tcp_write_xmit).
            self.snd_sml = end;
        }
        if retransmit {
            self.retrans_total += 1;
            self.rtt_seq = None;
            self.rexmit_high = self.rexmit_high.max(end);
            if self.in_loss() {
                // Go-back-N in the Loss state resends what was marked lost: it counts
                // as retransmitted (Linux's retrans_out) until delivered.
                self.rec.rexmit_next = self.rec.rexmit_next.max(end);
                let at = self.departure(ctx);
                self.on_retransmitted(seq, end, at);
            }
        } else {
            let at = self.departure(ctx);
            self.inflight.sent.push_back((end, at));
        }
        self.count_sent(ctx, retransmit);
        // Linux's tcp_event_new_data_sent: the RTO starts with the first segment in
        // flight, and replaces a pending loss probe; then a probe may be scheduled.
        let armed = self.timer(TimerKind::Retransmit).is_some();
        if !armed || (self.flag(flag::XMIT_PROBE) && mode == Mode::Normal) {
            self.arm_rto(ctx.now + self.rtt.backed_off(self.backoff.into()));
        }
        if !retransmit && mode == Mode::Normal {
            self.schedule_loss_probe(ctx, false);
        }
        if !retransmit {
            self.on_data_sent(ctx);
        }
        self.disarm(TimerKind::Persist);
        // Data went: it was the probe a pending one would have been (tcp_write_wakeup).
        self.set_flag(flag::PROBE_PENDING, false);
        self.last_send = ctx.now;
        // Linux's tcp_cwnd_validate: the largest flight of the current window, which
        // decides whether the flow is cwnd-limited.
        let flight = self.flight();
        if self.snd_una.after_eq(self.max_flight_seq) || flight > self.max_flight {
            self.max_flight = flight;
            self.max_flight_seq = self.snd_nxt;
        }
        // tcp_write_xmit's `is_cwnd_limited |= in flight >= cwnd`: a flag for the
        // window, which a cwnd grown since does not clear.
        if self.pipe() >= self.cc.cwnd() {
            self.mark_cwnd_limited();
        }
        if !retransmit && len > 0 {
            self.chrono_on_new_data_sent(ctx.now);
        }
        self.ack_sent();
        Some(Outgoing {
            repr,
            payload_at: offset,
            payload_len: len,
            ect: false,
        })
    }

    /// Linux's tcp_cwnd_validate with `is_cwnd_limited` (tcp_write_xmit found cwnd
    /// full, or tcp_tso_should_defer held a unit for cwnd's sake): the flow counts as
    /// cwnd-limited until SND.UNA passes SND.NXT, whatever it has in flight.
    pub(crate) fn mark_cwnd_limited(&mut self) {
        self.max_flight = CWND_LIMITED;
        self.max_flight_seq = self.snd_nxt;
    }

    /// Linux's tcp_mss_split_point for a new unit at `seq` of at most `room` bytes: a unit
    /// that takes the rest of its chunk or of the window does not end with a partial
    /// segment that Nagle's test or a cork (TCP_CORK, MSG_MORE) would hold back: it is
    /// cut at the last whole segment, and the partial one stays in the chunk, open to
    /// later writes.
    fn mss_split_point(&self, seq: SeqNum, room: u32, mss: u32, segs: u32) -> u32 {
        let Some(c) = self.inflight.chunks.at(seq) else {
            return room;
        };
        let window = (self.wnd_end() - seq).max(0) as u32;
        let max_len = room.min(segs.saturating_mul(mss));
        if max_len <= window && self.inflight.chunks.at(c.end).is_some() {
            // A chunk in the middle of the queue gets no more data.
            return room;
        }
        let needed = ((c.end - seq).max(0) as u32).min(window);
        if max_len <= needed {
            return room;
        }
        let partial = needed % mss;
        if partial != 0 && needed > partial && self.nagle_holds_partial() {
            return needed - partial;
        }
        room
    }

    /// Linux's tcp_nagle_check for a partial segment: corked (TCP_CORK, or MSG_MORE until
    /// the next push), or Nagle's algorithm with a small segment unacknowledged
    /// (Minshall's variant).
    fn nagle_holds_partial(&self) -> bool {
        if self.flag(flag::PUSH_ONCE) {
            return false;
        }
        let in_flight = self.snd_nxt.after(self.snd_una);
        self.opts.cork
            || self.flag(flag::MORE_PENDING)
            || (!self.opts.nodelay && in_flight && self.snd_sml.after(self.snd_una))
    }

    /// The segment of a tail loss probe (RFC 8985 section 7.3, Linux's
    /// tcp_send_loss_probe): new data if the window allows, else the last segment sent
    /// again (`seq` is where that segment starts).
    fn loss_probe_segment(&mut self, ctx: &mut Ctx, seq: SeqNum) -> Option<Outgoing> {
        if let Some(out) = self.data_segment(ctx, self.snd_nxt, Mode::Probe) {
            return Some(out);
        }
        self.data_segment(ctx, seq, Mode::Retransmit(self.mss as usize))
    }

    /// After a timeout's rewind, SND.NXT skips what the peer already SACKed (Linux's
    /// tcp_enter_loss retransmits only what is not SACKed).
    fn skip_sacked(&mut self) {
        if !self.snd_nxt.before(self.snd_max) {
            return;
        }
        for &(s, e) in self.rec.sacked.ranges() {
            if self.snd_nxt.after_eq(s) && self.snd_nxt.before(e) {
                self.snd_nxt = e;
            }
        }
    }

    /// Arms the persist timer (RFC 9293 section 3.8.6.1) if it is not running.
    pub fn arm_persist(&mut self, ctx: &Ctx) {
        if self.timer(TimerKind::Persist).is_none() {
            let at = ctx.now + self.rtt.backed_off(self.backoff.into());
            self.arm(TimerKind::Persist, at);
        }
    }

    /// A segment without payload: an ACK, a window update or a probe.
    fn bare(&mut self, ctx: &mut Ctx, seq: SeqNum, control: Control) -> Outgoing {
        let repr = self.header(ctx, seq, control);
        self.count_sent(ctx, false);
        self.ack_sent();
        self.paced_ack_sent(ctx);
        Outgoing {
            repr,
            payload_at: 0,
            payload_len: 0,
            ect: false,
        }
    }

    /// The header every synchronized segment carries: ACK, window, timestamps, SACK.
    fn header(&mut self, ctx: &mut Ctx, seq: SeqNum, control: Control) -> TcpRepr<'static> {
        let window = self.select_window_field(ctx);
        TcpRepr {
            src_port: self.local().port(),
            dst_port: self.remote().port(),
            seq,
            ack: Some(self.rcv_nxt),
            control,
            psh: false,
            ece: false,
            cwr: false,
            window,
            urgent: self.urgent_field(seq),
            options: self.ack_options(ctx),
            payload: &[],
        }
    }

    /// Bytes of SACK option the next segment carries: `nop,nop,kind,len` and eight per
    /// block (RFC 2018 section 3), at most 3 blocks beside timestamps, else 4.
    pub(super) fn sack_option_len(&self) -> u32 {
        if !self.neg.sack || (!self.recv_buf.has_ooo() && self.inflight.dsack.is_none()) {
            return 0;
        }
        let max = if self.neg.ts.is_some() { 3 } else { 4 };
        let dsack = usize::from(self.inflight.dsack.is_some());
        let blocks = (dsack + self.recv_buf.ooo_ranges().count()).min(max) as u32;
        4 + 8 * blocks
    }

    /// Timestamps (RFC 7323 section 3) and SACK blocks (RFC 2018 section 4) for a
    /// non-SYN segment.
    pub fn ack_options(&self, ctx: &Ctx) -> TcpOptions {
        let mut o = TcpOptions {
            timestamp: self.neg.ts.map(|ts| Timestamp {
                tsval: ts.now_val(ctx.now),
                tsecr: ts.recent,
            }),
            ..TcpOptions::default()
        };
        if self.neg.sack && (self.recv_buf.has_ooo() || self.inflight.dsack.is_some()) {
            // A pending D-SACK goes first (RFC 2883 section 4), then the SACK blocks.
            let max = if o.timestamp.is_some() { 3 } else { 4 };
            let sacks = self.recv_buf.ooo_ranges().map(|(a, b)| SackBlock {
                left: self.rcv_nxt + a as u32,
                right: self.rcv_nxt + b as u32,
            });
            for (slot, block) in o
                .sack_blocks
                .iter_mut()
                .zip(self.dsack_block().into_iter().chain(sacks))
                .take(max)
            {
                *slot = Some(block);
            }
        }
        o
    }

    /// Bookkeeping for any segment carrying our current ACK.
    fn ack_sent(&mut self) {
        self.on_ack_sent();
        // The zero window owed after a memory shortage went (ICSK_ACK_NOMEM clears
        // with the ACK, inet_csk_clear_xmit_timer).
        self.rs.nomem = false;
        self.set_flag(flag::ACK_NOW, false);
        self.set_flag(flag::ACK_PENDING, false);
        // The D-SACK went with this segment's options (Linux's tcp_options_write).
        self.inflight_clear(|f| f.dsack = None);
        self.unacked_bytes = 0;
        self.disarm(TimerKind::DelayedAck);
    }

    fn count_sent(&mut self, ctx: &mut Ctx, retransmit: bool) {
        self.segs_out += 1;
        if retransmit {
            ctx.stats.RetransSegs += 1;
        } else {
            ctx.stats.OutSegs += 1;
        }
    }

    /// The ACK sent while entering TIME-WAIT, which the connection will not be around
    /// to send itself: it goes out through the control queue.
    pub fn final_ack(&mut self, ctx: &mut Ctx) {
        let window = self.select_window_field(ctx);
        let options = self.ack_options(ctx);
        ctx.ctl.push(CtlSegment {
            local: self.local(),
            remote: self.remote(),
            seq: self.snd_max,
            ack: Some(self.rcv_nxt),
            control: Control::None,
            window,
            options,
            retransmit: false,
            ece: false,
        });
        self.ack_sent();
    }

    /// Queues an ACK for an unacceptable segment or a challenge ACK (RFC 5961 sections
    /// 3.2, 4.2, 5.2), rate limited per connection by `tcp_invalid_ratelimit` (Linux's
    /// tcp_oow_rate_limited). Returns whether one will be sent.
    pub fn oow_ack(&mut self, ctx: &mut Ctx, challenge: bool) -> bool {
        if let Some(last) = self.rare.last_oow_ack {
            if ctx.now < last + ctx.config.tcp_invalid_ratelimit {
                return false;
            }
        }
        if challenge {
            if !ctx
                .challenge
                .take(ctx.now, ctx.config.tcp_challenge_ack_limit)
            {
                return false;
            }
            ctx.stats.TCPChallengeACK += 1;
        }
        self.rare.last_oow_ack = Some(ctx.now);
        self.set_flag(flag::ACK_NOW, true);
        true
    }
}
