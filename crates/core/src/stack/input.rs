//! Datagram arrival: parse, demultiplex (connections, then TIME-WAIT, then half-open
//! requests, then listeners, as Linux looks them up), and dispatch.

use crate::conn::flag;
use std::net::{IpAddr, SocketAddr};

use synack_wire::{Control, SeqNum, TcpRepr};

use super::{fastopen, FourTuple, Sock, SocketHandle, Stack, TimerRef, EV_INCOMING};
use crate::conn::{Connection, Ctx, SockOpts};
use crate::listen::RequestSock;
use crate::segment::CtlSegment;
use crate::state::State;
use crate::syncookie::{decode_ts, encode_ts, SynCookies, MSS_TABLE};
use crate::time::Instant;
use crate::time_wait::TwAction;

impl Stack {
    /// Feeds one datagram that a device handed over as a GSO packet: its TCP payload is
    /// a run of segments of `gso_size` bytes (the last possibly shorter), as a Linux
    /// tun device takes it with a virtio-net header (packetdrill's `--mss`). It is
    /// processed as one segment, as Linux processes it, but the receiver's estimate of
    /// the peer's segment size (`rcv_mss`, which ACK decisions and the window use) sees
    /// `gso_size`. A `gso_size` of 0 is [`Stack::handle_packet`].
    pub fn handle_packet_gso(&mut self, now: Instant, datagram: &[u8], gso_size: u16) {
        self.rx_gso = gso_size;
        self.handle_packet(now, datagram);
        self.rx_gso = 0;
    }

    /// Feeds one whole IP datagram received at `now`. Malformed datagrams are counted
    /// (InErrs, InCsumErrors, IpInDiscards) and dropped, and so are datagrams from
    /// martian sources (InMartianSrc, Ip6 InHdrErrors); nothing panics.
    pub fn handle_packet(&mut self, now: Instant, datagram: &[u8]) {
        self.advance(now);
        // IP first (Linux's ip_rcv_core / ip6_rcv_core, then the route lookup), then TCP
        // (tcp_v4_rcv): an error is counted by the layer that finds it.
        let (ip, payload) = match synack_wire::IpRepr::parse(datagram) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.count_ip_error(datagram, e);
                return;
            }
        };
        // RFC 3168 5: the ECN field, for the connection to read (CE marks).
        self.rx_ecn = synack_wire::Ecn::of_datagram(datagram);
        // The route lookup, then delivery to the protocol (ip_route_input / ip6_forward
        // with forwarding off: InAddrErrors; ip_local_deliver_finish /
        // ip6_protocol_deliver_rcu without a handler: InUnknownProtos).
        let v6 = ip.dst.is_ipv6();
        let own = self.addrs.contains(&ip.dst);
        if !own && !self.any_takes_addr(ip.dst) && !self.terminated_here(&ip, payload) {
            *if v6 {
                &mut self.stats.Ip6InAddrErrors
            } else {
                &mut self.stats.IpInAddrErrors
            } += 1;
            return;
        }
        match self.martian_source(ip.src, ip.dst) {
            Some(Martian::Source) => {
                self.stats.InMartianSrc += 1;
                return;
            }
            Some(Martian::Ip6Header) => {
                self.stats.Ip6InHdrErrors += 1;
                return;
            }
            None => {}
        }
        if ip.protocol != synack_wire::IPPROTO_TCP {
            let icmp = if v6 {
                synack_wire::icmp::IPPROTO_ICMPV6
            } else {
                synack_wire::icmp::IPPROTO_ICMP
            };
            // To an address that is not ours, only errors about a terminated connection
            // get this far.
            if ip.protocol == icmp {
                self.on_icmp(&ip, payload);
            } else if own {
                self.unreachable_protocol(&ip, datagram);
            } else {
                *if v6 {
                    &mut self.stats.Ip6InUnknownProtos
                } else {
                    &mut self.stats.IpInUnknownProtos
                } += 1;
            }
            return;
        }
        self.tcp_rcv(now, datagram, &ip, payload);
    }

    /// A TCP segment to us (Linux's tcp_v4_rcv / tcp_v6_rcv): parsed, then given to
    /// its connection, TIME-WAIT entry, request or listener, or answered as CLOSED.
    /// The IP layer's result is read in place, not copied again.
    #[inline(never)]
    fn tcp_rcv(&mut self, now: Instant, datagram: &[u8], ip: &synack_wire::IpRepr, payload: &[u8]) {
        let (seg, syn_fin) =
            match TcpRepr::parse_syn_fin(payload, &ip.src, &ip.dst, !self.rx_csum_ok) {
                Ok(parsed) => parsed,
                Err(e) => {
                    // Counted in InSegs even when in error, as the MIB does. tcp_v4_rcv drops
                    // a segment shorter than its header (20 bytes, or the data offset) with
                    // no error counter (discard_it); a data offset below 5 or a port of 0 is
                    // InErrs (bad_packet), a bad checksum InErrs and InCsumErrors.
                    self.stats.InSegs += 1;
                    if e != synack_wire::Error::Truncated {
                        self.stats.InErrs += 1;
                    }
                    if e == synack_wire::Error::Checksum {
                        self.stats.InCsumErrors += 1;
                    }
                    return;
                }
            };
        self.stats.InSegs += 1;
        let tuple = FourTuple {
            local: SocketAddr::new(ip.dst, seg.dst_port),
            remote: SocketAddr::new(ip.src, seg.src_port),
        };
        if let Some(h) = self.conn_of(&tuple) {
            if self.md5_unexpected(&seg) {
                return;
            }
            let gso = u32::from(self.rx_gso);
            let ecn = self.rx_ecn;
            let rx_len = datagram.len() as u32;
            self.with_conn(h, |conn, ctx| {
                ctx.rx = crate::conn::Rx {
                    gso,
                    len: rx_len,
                    ecn,
                };
                conn.on_segment_syn_fin(ctx, &seg, syn_fin);
            });
            return;
        }
        if syn_fin {
            // Only a connection takes a SYN+FIN (SYN-SENT uses the FIN, the other states
            // challenge the SYN); anywhere else it is dropped, not counted as an error,
            // as Linux's listener discards it (tcp_rcv_state_process).
            return;
        }
        let mut reopen_isn = None;
        if let Some(mut tw) = self.time_wait.get(&tuple) {
            let len = self.config.tcp_timewait_len;
            let (rfc1337, ratelimit) = (self.config.tcp_rfc1337, self.config.tcp_invalid_ratelimit);
            let action = tw.on_segment(&seg, now, len, rfc1337, ratelimit);
            if matches!(
                action,
                TwAction::Drop | TwAction::Ack | TwAction::AckSkipped
            ) {
                self.time_wait.update(&tuple, &tw);
            }
            match action {
                TwAction::Drop => return,
                TwAction::Ack => {
                    self.push_tw_ack(&tuple, &tw);
                    return;
                }
                TwAction::AckSkipped => {
                    self.stats.TCPACKSkippedTimeWait += 1;
                    return;
                }
                TwAction::Kill => {
                    self.tw_remove(&tuple);
                    self.stats.TWKilled += 1;
                    self.trace(tuple.local, tuple.remote, State::TimeWait, State::Closed);
                    return;
                }
                TwAction::Reopen(isn) => {
                    self.tw_remove(&tuple);
                    self.trace(tuple.local, tuple.remote, State::TimeWait, State::Closed);
                    reopen_isn = Some(isn);
                }
            }
        }
        // One lookup: the checks read this copy; the rare branches that change the
        // request look it up again (issue 9: no repeated lookups per segment).
        if let Some(req) = self.requests.get(&tuple).cloned() {
            if !self.md5_unexpected(&seg) {
                self.on_request_segment(&tuple, &seg, req);
            }
            return;
        }
        if let Some(l) = self.find_listener(&tuple.local) {
            if !self.md5_unexpected(&seg) {
                self.on_listen_segment(l, &tuple, &seg, reopen_isn);
            }
            return;
        }
        // CLOSED (RFC 9293 3.10.7.1).
        self.ctl.reset_for(tuple.local, tuple.remote, &seg);
    }

    /// Whether `seg` must be dropped for its MD5 signature (RFC 2385 3.0's option),
    /// counted if so. synack holds no MD5 keys (TCP_MD5SIG), so a signed segment to a
    /// socket is one no key expects: Linux drops it without a reply
    /// (tcp_inbound_md5_hash, TCPMD5Unexpected) for connections, requests and
    /// listeners; TIME-WAIT entries and closed ports do not look.
    fn md5_unexpected(&mut self, seg: &TcpRepr) -> bool {
        if seg.options.md5sig {
            self.stats.TCPMD5Unexpected += 1;
        }
        seg.options.md5sig
    }

    /// Counts a datagram whose IP layer is in error as Linux does, checking in Linux's
    /// order (the wire parser's order differs, so the bytes are looked at again here):
    ///
    /// - IPv4 (ip_rcv_core): fewer than 20 bytes, an IHL below 5 or past the datagram:
    ///   InHdrErrors; a bad header checksum: InHdrErrors and IpExt InCsumErrors (before
    ///   the length is looked at); fewer bytes than the total length: IpExt
    ///   InTruncatedPkts; a total length shorter than the header: InHdrErrors.
    /// - IPv6: fewer than 40 bytes: Ip6 InHdrErrors; fewer bytes than the payload
    ///   length: Ip6 InTruncatedPkts (ip6_rcv_core); an extension header running past the
    ///   payload: Ip6 InHdrErrors (ipv6_parse_hopopts, ipv6_destopt_rcv); a Hop-by-Hop
    ///   header after the first, which has no handler there: Ip6 InUnknownProtos
    ///   (ip6_protocol_deliver_rcu).
    /// - Fragments, which synack does not reassemble, and anything that is neither IPv4
    ///   nor IPv6: Ip InDiscards.
    fn count_ip_error(&mut self, datagram: &[u8], e: synack_wire::Error) {
        use synack_wire::Error;
        let s = &mut self.stats;
        match datagram.first().map(|b| b >> 4) {
            Some(4) => {
                let ihl = usize::from(datagram[0] & 0x0f) * 4;
                if datagram.len() < 20 || ihl < 20 || datagram.len() < ihl {
                    s.IpInHdrErrors += 1;
                    return;
                }
                let header = synack_wire::ipv4::Ipv4Packet::new_unchecked(&datagram[..ihl]);
                let total = usize::from(header.total_len());
                if !header.verify_checksum() {
                    s.IpInHdrErrors += 1;
                    s.IpExtInCsumErrors += 1;
                } else if total > datagram.len() {
                    s.IpExtInTruncatedPkts += 1;
                } else if total < ihl {
                    s.IpInHdrErrors += 1;
                } else if e == Error::Unsupported {
                    s.IpInDiscards += 1;
                } else {
                    s.IpInHdrErrors += 1;
                }
            }
            Some(6) => {
                if datagram.len() < 40 {
                    s.Ip6InHdrErrors += 1;
                    return;
                }
                let payload = usize::from(u16::from_be_bytes([datagram[4], datagram[5]]));
                match e {
                    _ if 40 + payload > datagram.len() => s.Ip6InTruncatedPkts += 1,
                    Error::Unsupported => s.IpInDiscards += 1,
                    // The parser's only Malformed past the length checks: a Hop-by-Hop
                    // header that is not first.
                    Error::Malformed => s.Ip6InUnknownProtos += 1,
                    _ => s.Ip6InHdrErrors += 1,
                }
            }
            _ => s.IpInDiscards += 1,
        }
    }

    /// Whether `src` cannot be the source of a datagram to our address `dst`, and how
    /// Linux counts it. A destination on loopback means the datagram came over the
    /// loopback device, where loopback sources and our own addresses are at home.
    fn martian_source(&self, src: IpAddr, dst: IpAddr) -> Option<Martian> {
        let on_loopback = dst.is_loopback();
        match src {
            // ip_route_input_slow: multicast, limited broadcast, 0.0.0.0/8, loopback from
            // outside; fib_validate_source: a subnet broadcast or a local address.
            IpAddr::V4(v4) => {
                let martian = v4.is_multicast()
                    || v4.is_broadcast()
                    || v4.octets()[0] == 0
                    || self.broadcasts.contains(&v4)
                    || (!on_loopback && (v4.is_loopback() || self.addrs.contains(&src)));
                martian.then_some(Martian::Source)
            }
            // ip6_rcv_core (RFC 4291 2.5.3 and 2.7) and tcp_v6_conn_request.
            IpAddr::V6(v6) => {
                if v6.is_multicast()
                    || (v6.is_loopback() && !on_loopback)
                    || v6.to_ipv4_mapped().is_some()
                {
                    Some(Martian::Ip6Header)
                } else if v6.is_unspecified() || (!on_loopback && self.addrs.contains(&src)) {
                    Some(Martian::Source)
                } else {
                    None
                }
            }
        }
    }

    fn push_tw_ack(&mut self, tuple: &FourTuple, tw: &crate::time_wait::TimeWait) {
        self.ctl.push(CtlSegment {
            local: tuple.local,
            remote: tuple.remote,
            seq: tw.snd_nxt,
            ack: Some(tw.rcv_nxt),
            control: Control::None,
            window: tw.window,
            options: tw.ack_options(self.now),
            retransmit: false,
            ece: false,
        });
    }

    /// Whether an any-address listener takes destination address `dst` (for some
    /// port). Never a broadcast, multicast or unspecified address: TCP is unicast
    /// (RFC 1122 4.2.3.10; Linux's tcp_v4_rcv drops what is not PACKET_HOST).
    fn any_takes_addr(&self, dst: IpAddr) -> bool {
        if self.any_listeners.is_empty() || !unicast(dst) {
            return false;
        }
        self.any_listeners.iter().any(|h| {
            matches!(self.slot(*h).and_then(|s| s.sock.as_ref()),
                Some(Sock::Listener(l)) if l.any.as_ref().is_some_and(|f| f.takes_addr(dst)))
        })
    }

    /// Whether a TCP segment to an address that is not ours belongs to a connection (or
    /// TIME-WAIT entry) an any-address listener took: it stays ours after the listener
    /// closes or its filter stops taking the address.
    fn terminated_here(&self, ip: &synack_wire::IpRepr, payload: &[u8]) -> bool {
        let v6 = ip.dst.is_ipv6();
        let icmp = if v6 {
            synack_wire::icmp::IPPROTO_ICMPV6
        } else {
            synack_wire::icmp::IPPROTO_ICMP
        };
        if ip.protocol == icmp {
            return self.error_about_terminated(v6, ip, payload);
        }
        if ip.protocol != synack_wire::IPPROTO_TCP || payload.len() < 4 {
            return false;
        }
        let port = |at: usize| u16::from_be_bytes([payload[at], payload[at + 1]]);
        let tuple = FourTuple {
            local: SocketAddr::new(ip.dst, port(2)),
            remote: SocketAddr::new(ip.src, port(0)),
        };
        self.conn_of(&tuple).is_some()
            || self.time_wait.get(&tuple).is_some()
            || self.requests.contains_key(&tuple)
    }

    /// Whether an ICMP message to an address that is not ours is an error about a
    /// segment of a connection an any-address listener took (sent from that address):
    /// a router's "fragmentation needed" for it must reach it.
    fn error_about_terminated(&self, v6: bool, ip: &synack_wire::IpRepr, msg: &[u8]) -> bool {
        let error = match msg.first() {
            Some(t) if v6 => (1..=4).contains(t),
            Some(t) => matches!(t, 3 | 11 | 12),
            None => false,
        };
        if !error || msg.len() < 8 {
            return false;
        }
        let Some(q) = synack_wire::icmp::QuotedTcp::parse(v6, &msg[8..]) else {
            return false;
        };
        q.src == ip.dst
            && self
                .conn_of(&FourTuple {
                    local: SocketAddr::new(q.src, q.src_port),
                    remote: SocketAddr::new(q.dst, q.dst_port),
                })
                .is_some()
    }

    /// The listener for a local address. For the stack's own addresses, as in Linux: one
    /// bound to the exact address first, then one bound to the unspecified address of
    /// its family, then (for IPv4) one bound to IPv6's `[::]` without IPV6_V6ONLY, which
    /// takes IPv4 too. Then (and for any other address) the oldest any-address listener
    /// whose filter takes it.
    pub(super) fn find_listener(&self, local: &SocketAddr) -> Option<SocketHandle> {
        let own = if self.addrs.contains(&local.ip()) {
            self.find_own_listener(local)
        } else {
            None
        };
        own.or_else(|| {
            if !unicast(local.ip()) {
                return None;
            }
            self.any_listeners.iter().copied().find(|h| {
                matches!(self.slot(*h).and_then(|s| s.sock.as_ref()),
                    Some(Sock::Listener(l)) if l.any.as_ref().is_some_and(|f| f.takes(local)))
            })
        })
    }

    fn find_own_listener(&self, local: &SocketAddr) -> Option<SocketHandle> {
        let list = self.listeners.get(&local.port())?;
        let find = |pred: &dyn Fn(&crate::listen::Listener) -> bool| {
            list.iter().copied().find(|h| {
                matches!(self.slot(*h).and_then(|s| s.sock.as_ref()),
                    Some(Sock::Listener(l)) if pred(l))
            })
        };
        find(&|l| l.local.ip() == local.ip())
            .or_else(|| {
                find(&|l| l.local.ip().is_unspecified() && l.local.is_ipv4() == local.is_ipv4())
            })
            .or_else(|| {
                find(&|l| {
                    local.is_ipv4()
                        && l.local.is_ipv6()
                        && l.local.ip().is_unspecified()
                        && !l.opts.v6only
                })
            })
    }

    /// LISTEN (RFC 9293 3.10.7.2, Linux's tcp_v4_conn_request / tcp_conn_request).
    fn on_listen_segment(
        &mut self,
        lh: SocketHandle,
        tuple: &FourTuple,
        seg: &TcpRepr,
        isn: Option<SeqNum>,
    ) {
        match seg.control {
            Control::Rst => return,
            Control::None if seg.ack.is_some() && self.try_cookie(lh, tuple, seg) => return,
            _ if seg.ack.is_some() => {
                // An ACK to a listener: <SEQ=SEG.ACK><CTL=RST>.
                self.ctl.reset_for(tuple.local, tuple.remote, seg);
                return;
            }
            Control::Syn => {}
            _ => return,
        }
        let now = self.now;
        let max_syn_backlog = self.config.tcp_max_syn_backlog;
        let Some(Sock::Listener(l)) = self.sock_mut(lh) else {
            return;
        };
        if l.accept_queue_full() {
            self.stats.ListenOverflows += 1;
            self.stats.ListenDrops += 1;
            return;
        }
        let full = l.syn_queue_full(max_syn_backlog);
        if full {
            l.last_overflow = Some(now);
        }
        let cookies = self.config.tcp_syncookies;
        if cookies == 2 || (full && cookies == 1) {
            self.send_cookie(lh, tuple, seg);
            return;
        }
        if full {
            self.stats.ListenDrops += 1;
            return;
        }
        if isn.is_none()
            && !self
                .tw_recycle
                .syn_allowed(&self.config, tuple.remote.ip(), seg, now)
        {
            // tcp_tw_recycle (historical): an older timestamp from this address.
            self.stats.PAWSPassive += 1;
            return;
        }
        let iss = isn.unwrap_or_else(|| SeqNum(self.isn.isn(now, tuple.local, tuple.remote)));
        let mut req = self.new_request(lh, tuple, iss, seg);
        // RFC 7413 4.2: a SYN with a valid Fast Open cookie makes a connection at once.
        match self.try_fastopen(lh, tuple, seg, &req) {
            fastopen::Outcome::Child => return,
            fastopen::Outcome::Request(cookie) => req.tfo_cookie = cookie,
        }
        let Some(Sock::Listener(l)) = self.sock_mut(lh) else {
            return;
        };
        l.syn_queue_len += 1;
        self.ctl.push(req.syn_ack(&self.config, now));
        let id = self.next_request_id;
        self.next_request_id += 1;
        req.id = id;
        req.timer = Some(self.timers.insert(req.deadline, TimerRef::request(id)));
        self.request_ids.insert(id, *tuple);
        self.requests.insert(*tuple, req);
        self.trace(tuple.local, tuple.remote, State::Listen, State::SynReceived);
    }

    /// A request record for the SYN `syn` at listener `lh`, with our ISS `iss`.
    fn new_request(
        &mut self,
        lh: SocketHandle,
        tuple: &FourTuple,
        iss: SeqNum,
        syn: &TcpRepr,
    ) -> RequestSock {
        let opts = match self.sock_mut(lh) {
            Some(Sock::Listener(l)) => l.opts,
            _ => SockOpts::default(),
        };
        let ts_offset = self.ts_offset(tuple.local, tuple.remote);
        let mut req = RequestSock::new(
            &self.config,
            self.now,
            lh,
            tuple.local,
            tuple.remote,
            iss,
            ts_offset,
            &opts,
            syn,
        );
        req.neg.ecn = self.ecn_request_ok(syn);
        req
    }

    /// Answers a SYN with a SYN cookie instead of a request record (RFC 4987 3.6).
    fn send_cookie(&mut self, lh: SocketHandle, tuple: &FourTuple, seg: &TcpRepr) {
        let now = self.now;
        let mss_index = SynCookies::mss_index(
            seg.options
                .mss
                .unwrap_or(crate::conn::default_peer_mss(&tuple.remote)),
        );
        let iss = self
            .cookies
            .make(now, tuple.local, tuple.remote, seg.seq, mss_index);
        let mut req = self.new_request(lh, tuple, iss, seg);
        req.neg.peer_mss = MSS_TABLE[mss_index as usize];
        // Linux keeps a cookie connection's ECN in the echoed timestamp
        // (cookie_ecn_ok); synack's cookie has no room for it: no ECN.
        req.neg.ecn = false;
        if req.neg.ts.is_none() {
            // Without timestamps the cookie cannot carry window scale or SACK, so the
            // SYN-ACK offers neither (Linux's tcp_clear_options for such cookies).
            req.neg.ws_ok = false;
            req.neg.snd_wscale = 0;
            req.neg.rcv_wscale = 0;
            req.neg.sack = false;
        }
        let mut synack = req.syn_ack(&self.config, now);
        if let Some(ts) = synack.options.timestamp.as_mut() {
            let wscale = req.neg.ws_ok.then_some(req.neg.snd_wscale);
            ts.tsval = encode_ts(ts.tsval, wscale, req.neg.sack);
        }
        self.stats.SyncookiesSent += 1;
        self.ctl.push(synack);
    }

    /// A third-step ACK at a listener with no request record: maybe the answer to a SYN
    /// cookie (Linux's cookie_v4_check). Returns true if the segment was consumed.
    fn try_cookie(&mut self, lh: SocketHandle, tuple: &FourTuple, seg: &TcpRepr) -> bool {
        let now = self.now;
        let mode = self.config.tcp_syncookies;
        let recent = match self.sock_mut(lh) {
            Some(Sock::Listener(l)) => l
                .last_overflow
                .is_some_and(|t| now - t <= core::time::Duration::from_secs(120)),
            _ => false,
        };
        if mode == 0 || (mode == 1 && !recent) {
            return false;
        }
        let Some(ack) = seg.ack else {
            return false;
        };
        let Some(mss_index) = self
            .cookies
            .check(now, tuple.local, tuple.remote, seg.seq, ack)
        else {
            self.stats.SyncookiesFailed += 1;
            return false;
        };
        self.stats.SyncookiesRecv += 1;
        let full = matches!(self.sock_mut(lh), Some(Sock::Listener(l)) if l.accept_queue_full());
        if full {
            self.stats.ListenOverflows += 1;
            self.stats.ListenDrops += 1;
            return true;
        }
        // Rebuild the request from the cookie: MSS from the table, window scale and
        // SACK from the echoed timestamp (lost without timestamps, as in Linux).
        let syn = TcpRepr {
            seq: seg.seq - 1,
            ack: None,
            control: Control::Syn,
            payload: &[],
            ..*seg
        };
        let mut req = self.new_request(lh, tuple, ack - 1, &syn);
        req.neg.peer_mss = MSS_TABLE[mss_index as usize];
        req.neg.ecn = false;
        let (wscale, sack) = match seg.options.timestamp {
            Some(ts) if self.config.tcp_timestamps => decode_ts(ts.tsecr),
            _ => (None, false),
        };
        req.neg.ws_ok = wscale.is_some() && self.config.tcp_window_scaling;
        req.neg.snd_wscale = if req.neg.ws_ok {
            wscale.unwrap_or(0)
        } else {
            0
        };
        req.neg.rcv_wscale = if req.neg.ws_ok {
            crate::conn::rcvspace::initial_window(&self.config, req.rcvbuf, u32::from(req.adv_mss))
                .2
        } else {
            0
        };
        req.neg.sack = sack && self.config.tcp_sack;
        req.retransmits = 1; // no RTT sample from a stateless handshake
        self.establish_child(lh, &req, seg);
        true
    }

    /// A segment for a half-open request (SYN-RECEIVED; Linux's tcp_check_req).
    /// `req` is a copy of the request entered for `tuple`.
    fn on_request_segment(&mut self, tuple: &FourTuple, seg: &TcpRepr, req: RequestSock) {
        let now = self.now;
        let id = Some(req.id);
        let rcv_nxt = req.irs + 1;
        // A retransmitted SYN: our SYN-ACK was lost; send it again.
        if seg.control == Control::Syn && seg.ack.is_none() && seg.seq == req.irs {
            let synack = req.syn_ack(&self.config, now);
            self.ctl.push(CtlSegment {
                retransmit: true,
                ..synack
            });
            return;
        }
        if let Some(ack) = seg.ack {
            if ack != req.iss + 1 {
                // Not for our SYN-ACK: the listener answers with a RST.
                if seg.control != Control::Rst {
                    self.ctl.reset_for(tuple.local, tuple.remote, seg);
                }
                return;
            }
        }
        // First, the sequence number, with PAWS (Linux's tcp_check_req), against the
        // window we offered in the SYN-ACK: a segment that fails is answered with an ACK
        // (rate limited) and dropped, and the request stays as it was.
        let wnd = u32::from(req.syn_ack_window(&self.config));
        let end = seg.seq + seg.seg_len();
        let paws_reject = req.paws_reject(seg);
        if paws_reject || end.before(rcv_nxt) || seg.seq.after(rcv_nxt + wnd) {
            if paws_reject {
                self.stats.PAWSEstab += 1;
            }
            if seg.control != Control::Rst {
                self.ack_from_request(tuple, seg);
            }
            return;
        }
        if matches!(seg.control, Control::Rst | Control::Syn) {
            // RST, or a new SYN in the window: the embryonic connection is reset.
            if seg.control == Control::Syn {
                self.ctl.reset_for(tuple.local, tuple.remote, seg);
            }
            self.stats.AttemptFails += 1;
            if let Some(id) = id {
                self.drop_request(tuple, id);
            }
            return;
        }
        if seg.ack.is_none() {
            return;
        }
        // TCP_DEFER_ACCEPT (Linux's tcp_check_req): while the deferral lasts, a bare
        // third ACK only marks the request as ACKed; data completes the handshake.
        if req.retransmits < u32::from(req.defer_accept) && end == rcv_nxt {
            if let Some(r) = self.requests.get_mut(tuple) {
                r.acked = true;
            }
            self.stats.TCPDeferAcceptDrop += 1;
            return;
        }
        // The third step of the handshake.
        let lh = req.listener;
        let full = match self.sock_mut(lh) {
            Some(Sock::Listener(l)) => l.accept_queue_full(),
            _ => return,
        };
        if full {
            self.stats.ListenOverflows += 1;
            self.stats.ListenDrops += 1;
            if self.config.tcp_abort_on_overflow {
                self.ctl.reset_for(tuple.local, tuple.remote, seg);
                if let Some(id) = id {
                    self.drop_request(tuple, id);
                }
            } else if let Some(r) = self.requests.get_mut(tuple) {
                r.acked = true;
            }
            return;
        }
        if !self.establish_child(lh, &req, seg) {
            return;
        }
        // The connection took the request's place (Linux's inet_csk_complete_hashdance);
        // `req` is the record's copy, so the record itself need not be moved out.
        if self.requests.discard(tuple) {
            if let Some(t) = req.timer {
                self.timers.set_item(t, TimerRef::Wake);
            }
        }
        if let Some(id) = id {
            self.request_ids.remove(&id);
        }
        if let Some(Sock::Listener(l)) = self.sock_mut(lh) {
            l.syn_queue_len = l.syn_queue_len.saturating_sub(1);
        }
    }

    /// The ACK a half-open request sends to a segment it cannot accept (Linux's
    /// tcp_v4_reqsk_send_ack): `<SEQ=ISS+1><ACK=RCV.NXT>`, rate limited.
    fn ack_from_request(&mut self, tuple: &FourTuple, seg: &TcpRepr) {
        let now = self.now;
        let Some(req) = self.requests.get_mut(tuple) else {
            return;
        };
        if !req.oow_ack_allowed(seg, &self.config, now) {
            self.stats.TCPACKSkippedSynRecv += 1;
            return;
        }
        let synack = req.syn_ack(&self.config, now);
        self.ctl.push(CtlSegment {
            control: Control::None,
            seq: req.iss + 1,
            ack: Some(req.irs + 1),
            options: synack_wire::TcpOptions {
                timestamp: synack.options.timestamp,
                ..Default::default()
            },
            retransmit: false,
            ece: false,
            ..synack
        });
    }

    /// The third step of a passive handshake in one step (Linux's syn_recv_sock and
    /// inet_csk_complete_hashdance): the connection is built from the request and the
    /// ACK processed on it before anything in the stack changes. A connection that the
    /// ACK made synchronized enters the tables and the accept queue and true is
    /// returned; otherwise it is discarded, the stack is as it was (the caller keeps its
    /// request), and false is returned.
    fn establish_child(&mut self, lh: SocketHandle, req: &RequestSock, seg: &TcpRepr) -> bool {
        let now = self.now;
        let Some(mut conn) = self.child_conn(lh, req) else {
            return false;
        };
        if req.retransmits == 0 {
            conn.rtt_seq = Some(req.sent_at);
        }
        conn.retrans_stamp = None;
        // The ACK (and any data or FIN on it) goes through the ordinary path, which
        // moves SYN-RECEIVED to ESTABLISHED (RFC 9293 3.10.7.4, fifth).
        let mut ctx = Ctx {
            now,
            config: &self.config,
            stats: &mut self.stats,
            ctl: &mut self.ctl,
            challenge: &mut self.challenge,
            orphans: self.orphans.cached(now),
            rx: crate::conn::Rx {
                ecn: self.rx_ecn,
                ..crate::conn::Rx::NONE
            },
            mem: self.budget.view(&self.config.tcp_mem, self.conns.len()),
        };
        conn.on_segment(&mut ctx, seg);
        if matches!(conn.state, State::SynReceived | State::Closed) {
            return false;
        }
        self.stats.TcpPassiveEstab += 1;
        let h = self.queue_child(lh, req, conn);
        self.notify(lh, EV_INCOMING);
        self.after_conn(h, State::SynReceived);
        true
    }

    /// A child built from request `req` enters the connection tables and the accept
    /// queue of listener `lh` (Linux's inet_csk_reqsk_queue_add), counted as a passive
    /// open; the caller tells the listener.
    pub(super) fn queue_child(
        &mut self,
        lh: SocketHandle,
        req: &RequestSock,
        conn: Box<Connection>,
    ) -> SocketHandle {
        self.stats.PassiveOpens += 1;
        let tuple = FourTuple {
            local: req.local,
            remote: req.remote,
        };
        let reuse = conn.opts.reuseaddr;
        let h = self.alloc(Sock::Conn(conn));
        self.conn_insert(tuple, h, reuse);
        if let Some(Sock::Listener(l)) = self.sock_mut(lh) {
            l.accept_queue.push_back(h);
        }
        h
    }
}

impl Stack {
    /// A connection in SYN-RECEIVED built from request `req` of listener `lh` (Linux's
    /// tcp_create_openreq_child), its SYN-ACK counted as sent. Built in its box: the
    /// record is large, and it is not moved again on its way to the slot.
    pub(super) fn child_conn(
        &mut self,
        lh: SocketHandle,
        req: &RequestSock,
    ) -> Option<Box<Connection>> {
        let opts = match self.sock_mut(lh) {
            Some(Sock::Listener(l)) => l.opts,
            _ => return None,
        };
        let mut conn = Box::new(Connection::new(
            &self.config,
            req.local,
            req.remote,
            req.iss,
        ));
        conn.set_flag(flag::PASSIVE, true);
        conn.opts.set(opts);
        conn.apply_buffer_opts();
        conn.adv_mss = req.adv_mss;
        conn.apply_negotiated(&self.config, req.neg);
        conn.irs = req.irs;
        conn.rcv_nxt = req.irs + 1;
        conn.rcv_wup = conn.rcv_nxt;
        // The window our SYN-ACK offered (no need to build the SYN-ACK for it).
        let window = req.syn_ack_window(&self.config);
        let (_, clamp, _) =
            crate::conn::rcvspace::initial_window(&self.config, req.rcvbuf, u32::from(req.adv_mss));
        conn.init_rcv_wnd(u32::from(window), clamp);
        conn.snd_nxt = req.iss + 1;
        conn.snd_max = conn.snd_nxt;
        conn.set_state(State::SynReceived);
        Some(conn)
    }
}

/// Whether `ip` can be the destination of a TCP segment: not broadcast, multicast or
/// unspecified.
pub(super) fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}

/// How a datagram from a source that cannot be is counted (see
/// [`Stack::martian_source`]).
enum Martian {
    /// InMartianSrc.
    Source,
    /// Ip6 InHdrErrors.
    Ip6Header,
}
