//! Application events and the reuse of socket slots.

mod common;

use common::*;
use synack::EventKind;

/// A socket released with events still unread frees its slot; the next socket that
/// takes the slot gets its own events. (The stale queue entry of the old socket must
/// not leave the slot marked as queued, which swallowed every later event of the new
/// socket: a connection whose Connected never came.)
#[test]
fn a_reused_slot_gets_its_own_events() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("S.", c.p(0), c.l(1)));
    h.output();
    // Connected is pending, unread; the program aborts the socket.
    h.stack.abort(c.handle).unwrap();
    h.output();
    let c2 = h.syn_sent();
    assert_eq!(
        c2.handle.id() & 0xffff_ffff,
        c.handle.id() & 0xffff_ffff,
        "the new socket takes the freed slot"
    );
    assert_ne!(c2.handle, c.handle);
    h.send(&c2, pkt("S.", c2.p(0), c2.l(1)));
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| e.socket == c2.handle && e.kind == EventKind::Connected),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.socket != c.handle), "{events:?}");
}
