//! Stack-wide counters, named as `netstat -s` and `nstat` name them (the MIB-II `Tcp:`
//! group of RFC 4022 plus Linux's `TcpExt:` extensions).

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $group:literal $name:ident $(as $shown:literal)?,)*) => {
        /// Stack-wide counters. Field names are the MIB names (`ActiveOpens`, ...), so
        /// `nstat`-style output matches Linux; where two groups share a MIB name, the
        /// field carries the group as a prefix (`IpInHdrErrors`, shown as `Ip:
        /// InHdrErrors`).
        #[allow(non_snake_case)]
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Every counter as `(group, name, value)`, in a stable order; the group is
            /// `Ip`, `IpExt`, `Ip6`, `Icmp`, `IcmpMsg`, `Icmp6`, `Tcp`, `TcpExt`, `Udp` or `Udp6`, and the name the MIB's, as in
            /// `netstat -s`.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
                [$(($group, counters!(@name $name $($shown)?), self.$name),)*].into_iter()
            }

            /// Adds `other`'s counters to these (several engines' counters as one
            /// host's: gauges such as `CurrEstab` add up too).
            pub fn add(&mut self, other: &Stats) {
                $(self.$name = self.$name.wrapping_add(other.$name);)*
            }
        }
    };
    (@name $name:ident) => { stringify!($name) };
    (@name $name:ident $shown:literal) => { $shown };
}

counters! {
    /// Connections that went from CLOSED to SYN-SENT (connect()).
    "Tcp" ActiveOpens,
    /// Connections that went from LISTEN to SYN-RECV (a SYN accepted by a listener).
    "Tcp" PassiveOpens,
    /// Connection attempts that failed: SYN-SENT or SYN-RECV to CLOSED, or SYN-RECV
    /// back to LISTEN.
    "Tcp" AttemptFails,
    /// Resets of ESTABLISHED or CLOSE-WAIT connections.
    "Tcp" EstabResets,
    /// Connections now in ESTABLISHED or CLOSE-WAIT (a gauge in the MIB; kept current).
    "Tcp" CurrEstab,
    /// Segments received, including those in error.
    "Tcp" InSegs,
    /// Segments sent, retransmissions excluded.
    "Tcp" OutSegs,
    /// Segments retransmitted.
    "Tcp" RetransSegs,
    /// TCP segments received in error (bad TCP checksum, malformed TCP header); errors in
    /// the IP header are IP counters.
    "Tcp" InErrs,
    /// Segments sent with RST set.
    "Tcp" OutRsts,
    /// TCP segments with a bad TCP checksum.
    "Tcp" InCsumErrors,
    /// IPv4 datagrams from a martian source, dropped: broadcast (limited, or the subnet's
    /// when [`crate::Stack::add_address_prefix`] gave it), multicast, 0.0.0.0/8,
    /// loopback from outside, or one of our own addresses (Linux drops them in
    /// ip_route_input_slow and counts them as `in_martian_src` in
    /// `/proc/net/stat/rt_cache`); also IPv6 datagrams from the unspecified address or
    /// our own.
    "IpExt" InMartianSrc,
    /// IPv6 datagrams with a header error, dropped: a multicast source, ::1 from outside
    /// (Linux's ip6_rcv_core), a v4-mapped source (tcp_v6_conn_request), a malformed
    /// header or extension-header chain, fewer bytes than a header.
    "Ip6" Ip6InHdrErrors as "InHdrErrors",
    /// IP datagrams that synack does not handle (fragments, which it does not
    /// reassemble, or neither IPv4 nor IPv6), dropped.
    "Ip" IpInDiscards as "InDiscards",
    /// IP datagrams with a header error, dropped: bad IPv4 header checksum, header
    /// length, version, or fewer bytes than a header (Linux's ip_rcv_core).
    "Ip" IpInHdrErrors as "InHdrErrors",
    /// IPv4 datagrams with a bad header checksum (also in Ip InHdrErrors, as Linux counts
    /// them).
    "IpExt" IpExtInCsumErrors as "InCsumErrors",
    /// Segments newly delivered to the peer by ACKs that echoed congestion (ECE):
    /// Linux's TCPDeliveredCE.
    "TcpExt" TCPDeliveredCE,
    /// Writes whose partial skb was left open for the next write because an earlier
    /// one still waited for the device (`tcp_autocorking`; Linux's TCPAutoCorking).
    "TcpExt" TCPAutoCorking,
    /// CUBIC's HyStart ended slow start on an ACK train (Linux's TCPHystartTrainDetect).
    "TcpExt" TCPHystartTrainDetect,
    /// The cwnd, in packets, at those exits, summed (Linux's TCPHystartTrainCwnd).
    "TcpExt" TCPHystartTrainCwnd,
    /// CUBIC's HyStart ended slow start on a rise in delay (TCPHystartDelayDetect).
    "TcpExt" TCPHystartDelayDetect,
    /// The cwnd, in packets, at those exits, summed (Linux's TCPHystartDelayCwnd).
    "TcpExt" TCPHystartDelayCwnd,
    /// IPv4 datagrams shorter than their total length, dropped.
    "IpExt" IpExtInTruncatedPkts as "InTruncatedPkts",
    /// IPv6 datagrams shorter than their payload length or extension headers, dropped.
    "Ip6" Ip6InTruncatedPkts as "InTruncatedPkts",
    /// IPv4 datagrams to an address that is not ours, dropped (Linux without forwarding:
    /// ip_error, EHOSTUNREACH).
    "Ip" IpInAddrErrors as "InAddrErrors",
    /// IPv4 datagrams of a protocol other than TCP, dropped (ip_local_deliver_finish).
    "Ip" IpInUnknownProtos as "InUnknownProtos",
    /// IPv6 datagrams to an address that is not ours, dropped (ip6_forward with
    /// forwarding off).
    "Ip6" Ip6InAddrErrors as "InAddrErrors",
    /// IPv6 datagrams whose next header is not TCP, or that carry a Hop-by-Hop header
    /// anywhere but first, dropped (ip6_protocol_deliver_rcu).
    "Ip6" Ip6InUnknownProtos as "InUnknownProtos",
    /// ICMP messages received, including those in error.
    "Icmp" IcmpInMsgs as "InMsgs",
    /// ICMP messages received in error (bad checksum, too short, an error quoting
    /// nothing of ours).
    "Icmp" IcmpInErrors as "InErrors",
    /// ICMP messages with a bad checksum (also in InErrors).
    "Icmp" IcmpInCsumErrors as "InCsumErrors",
    /// ICMP destination unreachable messages received.
    "Icmp" IcmpInDestUnreachs as "InDestUnreachs",
    /// ICMP time exceeded messages received.
    "Icmp" IcmpInTimeExcds as "InTimeExcds",
    /// ICMP parameter problems received.
    "Icmp" IcmpInParmProbs as "InParmProbs",
    /// ICMP echo requests received.
    "Icmp" IcmpInEchos as "InEchos",
    /// ICMP echo replies received.
    "Icmp" IcmpInEchoReps as "InEchoReps",
    /// ICMP messages sent.
    "Icmp" IcmpOutMsgs as "OutMsgs",
    /// ICMP errors not sent: the destination's rate limit (`icmp_ratelimit`).
    "Icmp" IcmpOutRateLimitHost as "OutRateLimitHost",
    /// ICMP destination unreachable messages sent.
    "Icmp" IcmpOutDestUnreachs as "OutDestUnreachs",
    /// ICMP echo replies sent.
    "Icmp" IcmpOutEchoReps as "OutEchoReps",
    /// ICMP messages received by type: echo reply.
    "IcmpMsg" IcmpMsgInType0 as "InType0",
    /// Destination unreachable received.
    "IcmpMsg" IcmpMsgInType3 as "InType3",
    /// Echo request received.
    "IcmpMsg" IcmpMsgInType8 as "InType8",
    /// Time exceeded received.
    "IcmpMsg" IcmpMsgInType11 as "InType11",
    /// Parameter problem received.
    "IcmpMsg" IcmpMsgInType12 as "InType12",
    /// Echo reply sent.
    "IcmpMsg" IcmpMsgOutType0 as "OutType0",
    /// Destination unreachable sent.
    "IcmpMsg" IcmpMsgOutType3 as "OutType3",
    /// ICMPv6 messages received, including those in error.
    "Icmp6" Icmp6InMsgs as "InMsgs",
    /// ICMPv6 messages received in error.
    "Icmp6" Icmp6InErrors as "InErrors",
    /// ICMPv6 messages with a bad checksum.
    "Icmp6" Icmp6InCsumErrors as "InCsumErrors",
    /// ICMPv6 destination unreachable messages received.
    "Icmp6" Icmp6InDestUnreachs as "InDestUnreachs",
    /// ICMPv6 packet too big messages received.
    "Icmp6" Icmp6InPktTooBigs as "InPktTooBigs",
    /// ICMPv6 time exceeded messages received.
    "Icmp6" Icmp6InTimeExcds as "InTimeExcds",
    /// ICMPv6 parameter problems received.
    "Icmp6" Icmp6InParmProblems as "InParmProblems",
    /// ICMPv6 echo requests received.
    "Icmp6" Icmp6InEchos as "InEchos",
    /// ICMPv6 echo replies received.
    "Icmp6" Icmp6InEchoReplies as "InEchoReplies",
    /// ICMPv6 messages sent.
    "Icmp6" Icmp6OutMsgs as "OutMsgs",
    /// ICMPv6 errors not sent: the destination's rate limit.
    "Icmp6" Icmp6OutRateLimitHost as "OutRateLimitHost",
    /// ICMPv6 destination unreachable messages sent.
    "Icmp6" Icmp6OutDestUnreachs as "OutDestUnreachs",
    /// ICMPv6 parameter problems sent.
    "Icmp6" Icmp6OutParmProblems as "OutParmProblems",
    /// ICMPv6 echo replies sent.
    "Icmp6" Icmp6OutEchoReplies as "OutEchoReplies",
    /// ICMPv6 received by type: destination unreachable.
    "Icmp6" Icmp6InType1 as "InType1",
    /// ICMPv6 received: packet too big.
    "Icmp6" Icmp6InType2 as "InType2",
    /// ICMPv6 received: time exceeded.
    "Icmp6" Icmp6InType3 as "InType3",
    /// ICMPv6 received: parameter problem.
    "Icmp6" Icmp6InType4 as "InType4",
    /// ICMPv6 received: echo request.
    "Icmp6" Icmp6InType128 as "InType128",
    /// ICMPv6 received: echo reply.
    "Icmp6" Icmp6InType129 as "InType129",
    /// ICMPv6 sent: destination unreachable.
    "Icmp6" Icmp6OutType1 as "OutType1",
    /// ICMPv6 sent: parameter problem.
    "Icmp6" Icmp6OutType4 as "OutType4",
    /// ICMPv6 sent: echo reply.
    "Icmp6" Icmp6OutType129 as "OutType129",
    /// UDP datagrams to a port nobody listens on (all of them: synack has no UDP),
    /// answered with ICMP port unreachable.
    "Udp" UdpNoPorts as "NoPorts",
    /// UDP datagrams over IPv6 to a port nobody listens on.
    "Udp6" Udp6NoPorts as "NoPorts",
    /// UDP datagrams in error (shorter than their length field, or a bad checksum),
    /// dropped unanswered (Linux's __udp4_lib_rcv).
    "Udp" UdpInErrors as "InErrors",
    /// UDP datagrams with a bad checksum (also in InErrors).
    "Udp" UdpInCsumErrors as "InCsumErrors",
    /// UDP datagrams over IPv6 in error.
    "Udp6" Udp6InErrors as "InErrors",
    /// UDP datagrams over IPv6 with a bad checksum.
    "Udp6" Udp6InCsumErrors as "InCsumErrors",
    /// ICMP errors whose quoted sequence number is outside SND.UNA..SND.NXT, ignored
    /// (RFC 5927 4.1).
    "TcpExt" OutOfWindowIcmps,
    /// Connections that went from SYN-RECV to ESTABLISHED via the accept queue.
    "TcpExt" TcpPassiveEstab,
    /// Times the accept queue of a listener overflowed.
    "TcpExt" ListenOverflows,
    /// SYNs and third-step ACKs dropped by a listener.
    "TcpExt" ListenDrops,
    /// SYN cookies sent.
    "TcpExt" SyncookiesSent,
    /// Valid SYN cookies received.
    "TcpExt" SyncookiesRecv,
    /// Invalid SYN cookies received.
    "TcpExt" SyncookiesFailed,
    /// Fast Open connections made actively whose SYN data the peer acknowledged (RFC
    /// 7413).
    "TcpExt" TCPFastOpenActive,
    /// Active Fast Open attempts whose SYN data the peer did not acknowledge, or whose
    /// SYN with data timed out.
    "TcpExt" TCPFastOpenActiveFail,
    /// Fast Open children a listener created from a SYN with a valid cookie (or none,
    /// where none is required).
    "TcpExt" TCPFastOpenPassive,
    /// SYNs with a Fast Open cookie a listener did not accept (wrong cookie).
    "TcpExt" TCPFastOpenPassiveFail,
    /// Fast Open cookies accepted because the listener's backup key made them.
    "TcpExt" TCPFastOpenPassiveAltKey,
    /// Fast Open SYNs refused because the listener's Fast Open queue was full.
    "TcpExt" TCPFastOpenListenOverflow,
    /// SYNs that asked for a Fast Open cookie.
    "TcpExt" TCPFastOpenCookieReqd,
    /// Fast Open turned off after SYN-data timeouts suggested a middlebox dropping it.
    "TcpExt" TCPFastOpenBlackhole,
    /// Segments dropped by PAWS (RFC 7323 section 5).
    "TcpExt" PAWSEstab,
    /// SYNs dropped by the historical `tcp_tw_recycle` per-peer timestamp check.
    "TcpExt" PAWSPassive,
    /// SYN-ACKs refused (with a RST) because their timestamp echo is not one of ours
    /// (Linux's PAWSActive, tcp_rcv_synsent_state_process).
    "TcpExt" PAWSActive,
    /// Connections that entered TIME_WAIT.
    "TcpExt" TW,
    /// TIME_WAIT entries that were killed by a RST (RFC 1337's hazard).
    "TcpExt" TWKilled,
    /// ACKs that TIME-WAIT did not send to segments it could not accept, because one
    /// went less than `tcp_invalid_ratelimit` ago (Linux's tcp_timewait_check_oow_rate_limit).
    "TcpExt" TCPACKSkippedTimeWait,
    /// ACKs that SYN-RECEIVED did not send to segments it could not accept, because one
    /// went less than `tcp_invalid_ratelimit` ago (Linux's tcp_check_req).
    "TcpExt" TCPACKSkippedSynRecv,
    /// TIME_WAIT entries reused for a new connection.
    "TcpExt" TWRecycled,
    /// Connections that skipped TIME_WAIT because `tcp_max_tw_buckets` was reached.
    "TcpExt" TCPTimeWaitOverflow,
    /// Connections reset because data arrived after the user closed.
    "TcpExt" TCPAbortOnData,
    /// Connections reset by close() with unread data.
    "TcpExt" TCPAbortOnClose,
    /// Connections dropped after retransmissions timed out.
    "TcpExt" TCPAbortOnTimeout,
    /// Connections dropped by abort() (SO_LINGER with zero timeout).
    "TcpExt" TCPAbortOnLinger,
    /// Orphans reset or dropped because there were more than `tcp_max_orphans` (Linux's
    /// tcp_check_oom, "too many orphaned sockets").
    "TcpExt" TCPAbortOnMemory,
    /// Challenge ACKs sent (RFC 5961).
    "TcpExt" TCPChallengeACK,
    /// SYNs received in a synchronized state (RFC 5961 section 4).
    "TcpExt" TCPSYNChallenge,
    /// Fast retransmissions (RFC 5681 section 3.2).
    "TcpExt" TCPFastRetrans,
    /// Retransmission timeouts undone (Linux's tcp_try_undo_loss): an ACK showed the
    /// data only delayed, by its timestamp (RFC 3522) or by F-RTO (RFC 5682).
    "TcpExt" TCPLossUndo,
    /// Retransmission timeouts F-RTO found spurious (RFC 5682 3.1 step 3b).
    "TcpExt" TCPSpuriousRTOs,
    /// Retransmissions after a timeout.
    "TcpExt" TCPTimeouts,
    /// Path MTU probes acknowledged: the MSS may grow (RFC 4821; Linux's
    /// tcp_mtup_probe_success).
    "TcpExt" TCPMTUPSuccess,
    /// Path MTU probes lost: the search's upper bound falls (Linux's
    /// tcp_mtup_probe_failed).
    "TcpExt" TCPMTUPFail,
    /// Tail loss probes sent (RFC 8985 section 7).
    "TcpExt" TCPLossProbes,
    /// Zero-window probes sent.
    "TcpExt" TCPWinProbe,
    /// Delayed ACKs sent.
    "TcpExt" DelayedACKs,
    /// Duplicate ACKs sent for out-of-window or duplicate segments.
    "TcpExt" TCPDupAckOut,
    /// Segments queued out of order.
    "TcpExt" TCPOFOQueue,
    /// Out-of-order segments dropped because the reassembly queue was full.
    "TcpExt" TCPOFODrop,
    /// Segments dropped because they end beyond the window (Linux's tcp_sequence:
    /// starting beyond it, or ending beyond it while the receive queue is not empty).
    "TcpExt" BeyondWindow,
    /// In-order segments dropped because the receive memory was used up.
    "TcpExt" TCPRcvQDrop,
    /// Times the receive queues were over their memory and had to be pruned (Linux's
    /// tcp_prune_queue).
    "TcpExt" PruneCalled,
    /// Times pruning did not free enough and the segment was dropped (RcvPruned).
    "TcpExt" RcvPruned,
    /// Times out-of-order data was dropped to free memory (tcp_prune_ofo_queue).
    "TcpExt" OfoPruned,
    /// Times the stack entered memory pressure (`tcp_mem`'s second value crossed).
    "TcpExt" TCPMemoryPressures,
    /// Milliseconds spent under memory pressure, added when it ends.
    "TcpExt" TCPMemoryPressuresChrono,
    /// In-order segments dropped because the window offered was zero.
    "TcpExt" TCPZeroWindowDrop,
    /// Times the window computed was zero but the offered one could not shrink to it.
    "TcpExt" TCPWantZeroWindowAdv,
    /// Times a zero window was offered after a non-zero one.
    "TcpExt" TCPToZeroWindowAdv,
    /// Times a non-zero window was offered after a zero one.
    "TcpExt" TCPFromZeroWindowAdv,
    /// SACK blocks received.
    "TcpExt" TCPSACKRecv,
    /// Retransmission timeouts that found the data at SND.UNA SACKed: the receiver
    /// dropped what it had SACKed, and the SACKs were forgotten (tcp_timeout_mark_lost).
    "TcpExt" TCPSACKReneging,
    /// SACKs that filled a hole below SACKed data never retransmitted: the network
    /// reordered (Linux's tcp_check_sack_reordering).
    "TcpExt" TCPSACKReorder,
    /// Segments received that carried only already-received data.
    "TcpExt" TCPDupData,
    /// Duplicate data received, whose ACK had gone (Linux's DelayedACKLost: the
    /// sender retransmitted, perhaps because our delayed ACK came too late).
    "TcpExt" DelayedACKLost,
    /// D-SACKs sent for data below RCV.NXT (RFC 2883).
    "TcpExt" TCPDSACKOldSent,
    /// D-SACKs sent for out-of-order data received twice.
    "TcpExt" TCPDSACKOfoSent,
    /// D-SACKs received for data below the ACK field.
    "TcpExt" TCPDSACKRecv,
    /// D-SACKs received for out-of-order data (inside the second SACK block).
    "TcpExt" TCPDSACKOfoRecv,
    /// Segments the D-SACKs received reported as duplicates.
    "TcpExt" TCPDSACKRecvSegs,
    /// D-SACKs received that were not believed (larger than the window, or more
    /// duplicates than retransmissions).
    "TcpExt" TCPDSACKIgnoredDubious,
    /// Bare third ACKs dropped while TCP_DEFER_ACCEPT waits for data.
    "TcpExt" TCPDeferAcceptDrop,
    /// Segments dropped for carrying an MD5 signature (RFC 2385) that no key expects;
    /// synack holds no MD5 keys.
    "TcpExt" TCPMD5Unexpected,
    /// Keepalive probes sent.
    "TcpExt" TCPKeepAlive,
    /// Segments arriving out of window that were answered by an ACK.
    "TcpExt" TCPOutOfWindow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_listed_by_mib_name() {
        let s = Stats {
            ActiveOpens: 3,
            ..Stats::default()
        };
        let found: Vec<_> = s.iter().filter(|(_, _, v)| *v != 0).collect();
        assert_eq!(found, vec![("Tcp", "ActiveOpens", 3)]);
        assert!(s
            .iter()
            .any(|(g, n, _)| g == "TcpExt" && n == "ListenOverflows"));
    }
}
