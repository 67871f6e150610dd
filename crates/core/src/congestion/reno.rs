//! The Reno parts of NewReno (RFC 5681, RFC 6582): halving on loss and one segment per
//! round trip in congestion avoidance, counted in bytes (RFC 3465).

/// Reno's congestion-avoidance state: the byte counter of appropriate byte counting,
/// kept in the controller's increment count (Linux's algorithms share `snd_cwnd_cnt`
/// the same way; see `Congestion::ca`).
pub(super) struct Reno<'a> {
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 3465 2.1).
    bytes_acked: &'a mut u32,
}

impl<'a> Reno<'a> {
    /// Reno over the counter `bytes_acked`.
    pub(super) fn new(bytes_acked: &'a mut u32) -> Reno<'a> {
        Reno { bytes_acked }
    }

    /// The slow-start threshold after a loss: RFC 5681 3.1 equation (4),
    /// `ssthresh = max(FlightSize / 2, 2*SMSS)`.
    pub(super) fn loss_ssthresh(&mut self, flight: u32, mss: u32) -> u32 {
        *self.bytes_acked = 0;
        (flight / 2).max(mss.saturating_mul(2))
    }

    /// Forgets partial progress (after a window reduction or an MSS change).
    pub(super) fn reset(&mut self) {
        *self.bytes_acked = 0;
    }

    /// Congestion avoidance for `acked` newly acknowledged bytes; returns the new cwnd.
    ///
    /// RFC 5681 3.1 equation (3) (`cwnd += SMSS*SMSS/cwnd` per ACK) done by byte counting
    /// as RFC 3465 2.1 describes and RFC 5681 3.1 recommends: once a full cwnd of bytes has
    /// been acknowledged, cwnd grows by one SMSS. Linux's `tcp_cong_avoid_ai` does the same
    /// in packets.
    pub(super) fn on_ca_ack(&mut self, cwnd: u32, acked: u32, mss: u32) -> u32 {
        let cwnd = u64::from(cwnd.max(1));
        let total = u64::from(*self.bytes_acked) + u64::from(acked);
        // Whole windows covered by this ACK (normally zero or one; a stretch ACK may cover
        // more), as Linux's `tcp_cong_avoid_ai` computes with one division.
        let windows = total / cwnd;
        *self.bytes_acked = u32::try_from(total - windows * cwnd).unwrap_or(u32::MAX);
        let grown = cwnd.saturating_add(windows.saturating_mul(u64::from(mss)));
        u32::try_from(grown).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counting_grows_one_mss_per_window() {
        let mut n = 0;
        let mut r = Reno::new(&mut n);
        let mut cwnd = 10_000;
        for _ in 0..9 {
            cwnd = r.on_ca_ack(cwnd, 1000, 1000);
        }
        assert_eq!(cwnd, 10_000);
        cwnd = r.on_ca_ack(cwnd, 1000, 1000);
        assert_eq!(cwnd, 11_000);
        // A stretch ACK covering two windows grows twice.
        let cwnd = r.on_ca_ack(cwnd, 23_000, 1000);
        assert_eq!(cwnd, 13_000);
        assert_eq!(r.on_ca_ack(u32::MAX, u32::MAX, u32::MAX), u32::MAX);
    }

    #[test]
    fn loss_halves_flight_with_floor() {
        let mut n = 0;
        let mut r = Reno::new(&mut n);
        assert_eq!(r.loss_ssthresh(40_000, 1000), 20_000);
        assert_eq!(r.loss_ssthresh(3000, 1000), 2000);
        assert_eq!(r.loss_ssthresh(0, u32::MAX), u32::MAX);
    }
}
