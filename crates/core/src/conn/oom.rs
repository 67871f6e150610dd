//! What an orphan does when there are too many (`tcp_max_orphans`) or the stack is out
//! of memory (`tcp_mem`'s limit passed while it holds more than the minimum send
//! buffer): Linux's tcp_check_oom at close() and tcp_out_of_resources on the orphan's
//! timers. The count itself is the stack's (stack/orphans.rs), handed over in
//! [`Ctx::orphans`]; the memory in [`Ctx::mem`] (stack/budget.rs).

use super::{Connection, Ctx};
use crate::stack::orphans::{long_silence, too_many};

impl Connection {
    /// close() found too many orphans (tcp_check_oom with shift 0): what may go now goes
    /// (the FIN), then a RST ends the connection.
    pub(crate) fn reset_after_push(&mut self) {
        self.rare.reset_after_push = true;
    }

    /// The transmit path has nothing more to send now: a reset decided at close() goes.
    pub(crate) fn pushed(&mut self, ctx: &mut Ctx) {
        if self.rare.reset_after_push {
            self.rare.reset_after_push = false;
            ctx.stats.TCPAbortOnMemory += 1;
            self.reset(ctx, None);
        }
    }

    /// Linux's tcp_out_of_resources, run by an orphan's retransmission and probe timers
    /// before they retransmit: with more orphans than `tcp_max_orphans` (the count
    /// doubled when the orphan has sent nothing for twice the RTO ceiling or would not
    /// be reset, and again after an ICMP error), the orphan ends now, with a RST unless
    /// it has been silent longer than TIME-WAIT with data or a window outstanding.
    /// Returns whether it ended.
    pub(crate) fn out_of_resources(&mut self, ctx: &mut Ctx, mut do_reset: bool) -> bool {
        let silent = ctx.now - self.last_send;
        let mut shift = 0;
        if silent > long_silence(ctx.config) || !do_reset {
            shift += 1;
        }
        if self.soft_error.is_some() {
            shift += 1;
        }
        // tcp_check_oom: too many orphans, or out of memory ("out of memory --
        // consider tuning tcp_mem").
        if !too_many(ctx.orphans, shift, ctx.config.tcp_max_orphans) && !self.out_of_memory(ctx) {
            return false;
        }
        if silent <= ctx.config.tcp_timewait_len || (self.snd_wnd == 0 && self.flight() == 0) {
            do_reset = true;
        }
        ctx.stats.TCPAbortOnMemory += 1;
        if do_reset {
            self.reset(ctx, None);
        } else {
            self.close_with(None);
        }
        true
    }
}
