//! TCP_QUICKACK, as Linux's `__tcp_sock_set_quickack` has it.
//!
//! Setting it enters quick-ACK mode: an ACK the delayed-ACK timer is holding goes out
//! now, and the next ACKs (up to TCP_MAX_QUICKACKS) are sent as soon as data arrives.
//! Clearing it ends quick-ACK mode, so ACKs wait for the timer. The option does not
//! stick: once the quick ACKs are spent the connection delays its ACKs again, which is
//! why programs set it after every read.

use super::input::MAX_QUICKACKS;
use super::Connection;

impl Connection {
    /// setsockopt(TCP_QUICKACK, on).
    pub(crate) fn set_quickack(&mut self, on: bool) {
        if on {
            self.quickacks = MAX_QUICKACKS;
            if self.ack_pending {
                self.ack_now = true;
            }
        } else {
            self.quickacks = 0;
        }
    }
}
