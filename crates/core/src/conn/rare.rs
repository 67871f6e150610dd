//! A connection's rarely used state, out of line ([`super::cold::Cold`]) while it holds
//! its defaults: one pointer in the record for everything here.

/// State few connections ever need.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rare {
    /// `tcp_max_orphans` was exceeded when the program closed the connection: once what
    /// may go now has gone (the FIN, as Linux's tcp_send_fin pushes it), a RST follows
    /// (Linux's __tcp_close after tcp_check_oom).
    pub reset_after_push: bool,
    /// Last time we sent an ACK for an out-of-window segment or a challenge ACK
    /// (RFC 5961 section 7, Linux's tcp_invalid_ratelimit): only connections that met
    /// such segments have one.
    pub last_oow_ack: Option<crate::time::Instant>,
    /// A retransmission timeout's undo state and F-RTO (frto.rs).
    pub loss: super::frto::LossUndo,
    /// Urgent data, ours and the peer's (urgent.rs).
    pub urg: super::urgent::Urgent,
    /// The send side's chronographs for TCP_INFO (chrono.rs): out of line until the
    /// connection first has data to send.
    pub chrono: super::chrono::Chrono,
    /// Path MTU probing (RFC 4821) and the route as the connection sees it (mtup.rs).
    pub mtup: super::mtup::Mtup,
    /// Pacing under the fq qdisc (pacing.rs).
    pub pacing: super::pacing::Pacing,
    /// When the probe timer first fired in this round of probing (Linux's
    /// `icsk_probes_tstamp`): TCP_USER_TIMEOUT counts from it.
    pub probes_tstamp: Option<crate::time::Instant>,
}

static DEFAULT: Rare = Rare {
    reset_after_push: false,
    last_oow_ack: None,
    loss: super::frto::LossUndo::NONE,
    urg: super::urgent::Urgent::NONE,
    chrono: super::chrono::Chrono::IDLE,
    mtup: super::mtup::OFF,
    pacing: super::pacing::Pacing::NONE,
    probes_tstamp: None,
};

impl super::cold::ColdDefault for Rare {
    fn default_ref() -> &'static Rare {
        &DEFAULT
    }
}
