//! Urgent data as Linux keeps it (RFC 9293 3.8.5, RFC 6093): MSG_OOB sends point the
//! urgent pointer past the last urgent byte; on receipt the byte the pointer names (less
//! one) is taken out of band: reads stop at it and step over it, recv(MSG_OOB) returns
//! it once, SIOCATMARK and POLLPRI tell, SO_OOBINLINE leaves it in the stream.

mod common;

use common::*;
use synack::{Error, SendFlags, SockOpt};

fn read(h: &mut Harness, c: &Conn, max: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; max];
    let n = h.stack.recv(c.handle, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn data(n: u8) -> Vec<u8> {
    (1..=n).collect()
}

#[test]
fn the_urgent_byte_is_read_out_of_band() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    assert_eq!(
        h.stack.recv_oob(c.handle, false),
        Err(Error::InvalidInput),
        "none yet"
    );
    // 100 bytes, the urgent pointer 100: byte 100 (the last) is urgent.
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(&data(100)).urg(100));
    h.recv();
    assert!(h.stack.readiness(c.handle).unwrap().urgent, "POLLPRI");
    assert!(!h.stack.at_mark(c.handle).unwrap());
    // The read stops at the mark.
    assert_eq!(read(&mut h, &c, 1000), Ok(data(99)));
    assert!(h.stack.at_mark(c.handle).unwrap());
    assert!(
        !h.stack.readiness(c.handle).unwrap().readable,
        "only the urgent byte left"
    );
    assert_eq!(h.stack.recv_oob(c.handle, true), Ok(Some(100)), "MSG_PEEK");
    assert_eq!(h.stack.recv_oob(c.handle, false), Ok(Some(100)));
    assert_eq!(
        h.stack.recv_oob(c.handle, false),
        Err(Error::InvalidInput),
        "read once"
    );
    assert!(!h.stack.readiness(c.handle).unwrap().urgent);
    // The urgent byte is not in the stream: the next read finds nothing, then what
    // follows.
    assert_eq!(read(&mut h, &c, 1000), Err(Error::WouldBlock));
    h.send(&c, pkt("P.", c.p(101), c.l(1)).data(b"xyz"));
    assert_eq!(read(&mut h, &c, 1000), Ok(b"xyz".to_vec()));
    assert!(!h.stack.at_mark(c.handle).unwrap());
}

#[test]
fn oobinline_keeps_the_byte_in_the_stream() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    h.stack
        .set_option(c.handle, SockOpt::OobInline(true))
        .unwrap();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(&data(10)).urg(5));
    assert_eq!(read(&mut h, &c, 1000), Ok(data(4)), "stops at the mark");
    assert!(h.stack.at_mark(c.handle).unwrap());
    assert_eq!(h.stack.recv_oob(c.handle, false), Err(Error::InvalidInput));
    assert_eq!(read(&mut h, &c, 1000), Ok((5..=10).collect()));
}

#[test]
fn a_pointer_beyond_the_data_waits_for_its_byte() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(&data(10)).urg(20));
    assert_eq!(h.stack.recv_oob(c.handle, false), Err(Error::WouldBlock));
    assert_eq!(read(&mut h, &c, 1000), Ok(data(10)));
    h.send(&c, pkt("P.", c.p(11), c.l(1)).data(&data(20)[10..]));
    assert_eq!(read(&mut h, &c, 1000), Ok((11..=19).collect()));
    assert_eq!(h.stack.recv_oob(c.handle, false), Ok(Some(20)));
    // A pointer to data already delivered (a retransmission's) is ignored (Linux's
    // tcp_check_urg).
    h.send(&c, pkt("P.", c.p(11), c.l(1)).data(&data(20)[10..]).urg(5));
    h.send(&c, pkt("P.", c.p(21), c.l(1)).data(b"ab"));
    assert_eq!(read(&mut h, &c, 1000), Ok(b"ab".to_vec()));
    assert_eq!(h.stack.recv_oob(c.handle, false), Err(Error::InvalidInput));
}

#[test]
fn msg_oob_points_past_the_last_urgent_byte_until_acknowledged() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    let oob = SendFlags {
        oob: true,
        ..SendFlags::default()
    };
    assert_eq!(h.stack.send_with(c.handle, b"hello!", oob), Ok(6));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].payload.len(), out[0].urgent), (6, Some(6)));
    // Data written after it starts at the urgent pointer: no URG on its segment.
    h.stack.send(c.handle, b"more").unwrap();
    h.send(&c, pkt(".", c.p(1), c.l(7)));
    let out = h.output();
    assert!(out.iter().all(|s| s.urgent.is_none()), "{out:?}");
}
