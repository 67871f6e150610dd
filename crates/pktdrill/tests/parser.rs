//! Parser tests: every form of §3.1–3.4, and errors with file:line.

use synack_pktdrill::ast::*;
use synack_pktdrill::parser::parse;

const ALL: &str = r#"// header comment
--tolerance_usecs=10000
--ip_version=ipv4
`../common/defaults.sh
 ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0`

/* block
   comment */
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>
* > . 1:1(0) ack 1 <...>
0.2~0.3 > P. 1:1001(1000) ack 1 win 229
+0.1~+0.2 > F. 1001:1001(0) ack 1
+0...0.2 read(3, ..., 1000) = 1000
+0 < 1234>8080 . 1:1(0) ack 1 win 257 <nop,nop,sack 1001:2001 3001:4001>
+0 sendmsg(3, {msg_name(...)=...,
               msg_iov(1)=[{iov_base=..., iov_len=100}],
               msg_flags=0}, 0) = 100
+0 bind(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = 0
+0 write(3, "abc"..., 3) = 3
+0 < [noecn] - 1:1(0) win 0
+0 > udp (100)
+0 `tc qdisc add dev tun0 root pfifo`
+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%
`/tmp/sysctl_restore_${PPID}.sh`
"#;

#[test]
fn every_form_parses() {
    let s = parse("all.pkt", ALL).unwrap();
    assert_eq!(s.options.len(), 2);
    assert_eq!(s.options[0].0, "tolerance_usecs");
    assert_eq!(s.options[0].1.as_deref(), Some("10000"));
    assert!(s.init.as_ref().unwrap().0.contains("set_sysctls.py"));
    assert!(s.cleanup.as_ref().unwrap().0.contains("sysctl_restore"));
    assert_eq!(s.events.len(), 18);
    let e = &s.events;
    assert_eq!(e[0].line, 9);
    assert_eq!(e[0].time, TimeSpec::Abs(0));
    let Action::Syscall(sc) = &e[1].action else {
        panic!()
    };
    assert_eq!(
        sc.args[2],
        Expr::Or(vec![
            Expr::Sym("O_RDWR".into()),
            Expr::Sym("O_NONBLOCK".into())
        ])
    );
    let Action::Syscall(sc) = &e[2].action else {
        panic!()
    };
    assert_eq!(sc.args[3].field("linger"), Some(&Expr::Int(0)));
    let Action::Syscall(sc) = &e[3].action else {
        panic!()
    };
    assert_eq!(sc.result, Expr::Int(-1));
    assert_eq!(sc.errno.as_deref(), Some("EINPROGRESS"));
    let Action::Packet(p) = &e[4].action else {
        panic!()
    };
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!(p.direction, Direction::Outbound);
    assert_eq!(t.flags, 0x02);
    assert_eq!(
        t.options,
        OptionsSpec::List(vec![
            OptSpec::Mss(1460),
            OptSpec::SackOk,
            OptSpec::Ts(100, 0),
            OptSpec::Nop,
            OptSpec::WScale(8)
        ])
    );
    assert_eq!(e[5].time, TimeSpec::Rel(100_000));
    let Action::Packet(p) = &e[5].action else {
        panic!()
    };
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!((t.flags, t.ack, t.win), (0x12, Some(1), Some(5792)));
    assert_eq!(e[6].time, TimeSpec::Any);
    let Action::Packet(p) = &e[6].action else {
        panic!()
    };
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!(t.options, OptionsSpec::Any);
    assert_eq!(e[7].time, TimeSpec::AbsRange(200_000, 300_000));
    let Action::Packet(p) = &e[7].action else {
        panic!()
    };
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!((t.flags_text.as_str(), t.seq, t.len), ("P.", 1, 1000));
    assert_eq!(e[8].time, TimeSpec::RelRange(100_000, 200_000));
    assert_eq!(
        e[9].time,
        TimeSpec::Blocking {
            start: 0,
            end: 200_000,
            relative: true
        }
    );
    let Action::Packet(p) = &e[10].action else {
        panic!()
    };
    assert_eq!(p.ports, Some((1234, 8080)));
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!(
        t.options,
        OptionsSpec::List(vec![
            OptSpec::Nop,
            OptSpec::Nop,
            OptSpec::Sack(vec![(1001, 2001), (3001, 4001)])
        ])
    );
    let Action::Syscall(sc) = &e[11].action else {
        panic!()
    };
    assert_eq!(e[11].line, 20);
    assert!(matches!(sc.args[1].field("msg_iov"), Some(Expr::Array(_))));
    let Action::Syscall(sc) = &e[12].action else {
        panic!()
    };
    assert_eq!(
        sc.args[1].field("sin_port"),
        Some(&Expr::Call("htons".into(), vec![Expr::Int(8080)]))
    );
    let Action::Syscall(sc) = &e[13].action else {
        panic!()
    };
    assert_eq!(sc.args[1], Expr::Str("abc".into(), true));
    let Action::Packet(p) = &e[14].action else {
        panic!()
    };
    assert_eq!(p.ip_info.as_deref(), Some("noecn"));
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!(t.flags, 0);
    let Action::Packet(p) = &e[15].action else {
        panic!()
    };
    assert!(matches!(&p.body, PacketBody::Other(s) if s.starts_with("udp")));
    assert!(matches!(&e[16].action, Action::Shell(s) if s.contains("pfifo")));
    assert!(matches!(&e[17].action, Action::Code(s) if s.contains("tcpi_snd_cwnd")));
}

fn err(src: &str) -> String {
    parse("bad.pkt", src).unwrap_err().to_string()
}

#[test]
fn errors_name_file_line_and_what_was_expected() {
    assert_eq!(
        err("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > S 0:0 <mss 1460>\n"),
        "bad.pkt:2: expected `(` in `start:end(len)`, found `<`"
    );
    assert_eq!(
        err("0 socket(..., SOCK_STREAM\n\n"),
        "bad.pkt:1: expected `,` or `)` in the system call's arguments, found end of file"
    );
    assert_eq!(
        err("0 < S 0:5(0) win 1\n"),
        "bad.pkt:1: inconsistent sequence range 0:5(0): end must be start + len"
    );
    assert_eq!(
        err("0 < Sx 0:0(0) win 1\n"),
        "bad.pkt:1: bad TCP flag `x` in `Sx`: expected letters from .FSRPEWAU, digits 0-7 or `-`"
    );
    assert!(err("0 socket() = 3\n+0 hello\n").starts_with("bad.pkt:2: expected a packet"));
    assert!(err("/* never closed\n0 socket() = 3\n").starts_with("bad.pkt:1: unterminated"));
    assert!(err("").contains("expected at least one timed event"));
    assert!(err("0 < S 0:0(0) win 1 <mss 1460\n").contains("expected `,` or `>`"));
}

#[test]
fn no_panic_on_garbage() {
    // Arbitrary bytes give an error or a script, never a panic.
    let samples = [
        "+",
        "+.",
        "0...",
        "0 <",
        "0 >",
        "0 < S",
        "0 < S 1:",
        "0 foo(",
        "0 foo(,)=",
        "0 foo() = [",
        "0 foo() = {a=",
        "\"",
        "`",
        "%{",
        "0 < S 0:0(0) win 99999999",
        "0 < S 0:0(0) win 1 <wscale 300>",
        "0 < 99999>1 S 0:0(0) win 1",
        "0~ > S",
        "0 > S 0:0(0) <sack 1:>",
        "0 > S 0:0(0) <TS val>",
        "--x\n",
        "\u{0}\u{1}",
        "0 x() = 0 (unterminated note",
    ];
    for s in samples {
        let _ = parse("g.pkt", s);
        let _ = synack_pktdrill::run_str("g.pkt", s, &Default::default());
    }
}

#[test]
fn icmp_lines_parse_as_packetdrill_writes_them() {
    let s = parse(
        "icmp.pkt",
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]\n\
         +0 < icmp unreachable [5000:6000(1000)]\n\
         +0 < icmp packet_too_big mtu 1280\n\
         +0 > icmp echo_reply id 7\n",
    )
    .unwrap();
    let icmp = |i: usize| match &s.events[i].action {
        Action::Packet(Packet {
            body: PacketBody::Icmp(spec),
            ..
        }) => spec.clone(),
        other => panic!("not an ICMP line: {other:?}"),
    };
    let a = icmp(1);
    assert_eq!(a.type_name, "unreachable");
    assert_eq!(a.code_name.as_deref(), Some("frag_needed"));
    assert_eq!(a.mtu, Some(1200));
    assert_eq!(a.echoed, IcmpEchoed::Tcp { seq: 1, len: 1460 });
    let b = icmp(2);
    assert_eq!((b.code_name, b.mtu), (None, None));
    assert_eq!(
        b.echoed,
        IcmpEchoed::Tcp {
            seq: 5000,
            len: 1000
        }
    );
    let c = icmp(3);
    assert_eq!((c.code_name, c.mtu), (None, Some(1280)));
    assert_eq!(c.echoed, IcmpEchoed::Tcp { seq: 0, len: 0 });
    assert_eq!(icmp(4).echo_id, Some(7));
    assert!(
        err("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < icmp unreachable [1:5(3)]\n")
            .contains("inconsistent quoted sequence range")
    );
    assert!(
        err("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < icmp unreachable mtu x\n")
            .contains("expected an MTU")
    );
}
