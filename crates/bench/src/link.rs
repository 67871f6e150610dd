//! The in-memory link and the one driver loop both stacks run under.
//!
//! The link is lossless and has no latency: a datagram one stack transmits in a round is
//! handed to the other stack at the start of the next round. A round is the same for
//! both stacks: each stack takes every datagram the other sent in the previous round,
//! runs its due timers, and transmits everything it has. Between rounds the application
//! acts on the sockets. The virtual clock advances by [`TICK_US`] per round, and jumps to
//! the earliest deadline of the two stacks when a round moved nothing and the application
//! made no progress.

use std::collections::VecDeque;

/// The link MTU, for both stacks.
pub const MTU: usize = 1500;

/// How far the virtual clock moves per round, in microseconds (so the round-trip time
/// the stacks measure is a few ticks).
pub const TICK_US: u64 = 10;

/// One datagram in flight: a buffer of [`MTU`] bytes and the length used.
pub type Pkt = (Vec<u8>, usize);

/// Datagram buffers to reuse, so the link itself does not allocate per datagram.
#[derive(Default)]
pub struct Pool {
    free: Vec<Vec<u8>>,
}

impl Pool {
    /// A buffer of [`MTU`] bytes (contents unspecified).
    pub fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; MTU])
    }

    /// Returns a buffer for reuse.
    pub fn give(&mut self, buf: Vec<u8>) {
        self.free.push(buf);
    }

    /// Returns many buffers for reuse.
    pub fn give_all(&mut self, bufs: &mut Vec<Vec<u8>>) {
        self.free.append(bufs);
    }
}

/// Datagram queues between two hosts `a` and `b`, with counters.
#[derive(Default)]
pub struct Wire {
    /// Sent by `a` this round, for `b` next round.
    pub a2b: VecDeque<Pkt>,
    /// Sent by `b` this round, for `a` next round.
    pub b2a: VecDeque<Pkt>,
    /// What `a` processes this round.
    pub a_in: VecDeque<Pkt>,
    /// What `b` processes this round.
    pub b_in: VecDeque<Pkt>,
    /// Spare buffers.
    pub pool: Pool,
    /// Datagrams carried from `a` to `b`.
    pub sent_a2b: u64,
    /// Datagrams carried from `b` to `a`.
    pub sent_b2a: u64,
}

impl Wire {
    /// Starts a round: every datagram sent in the previous round is delivered. Returns how
    /// many.
    pub fn deliver(&mut self) -> usize {
        debug_assert!(self.a_in.is_empty() && self.b_in.is_empty());
        std::mem::swap(&mut self.a_in, &mut self.b2a);
        std::mem::swap(&mut self.b_in, &mut self.a2b);
        self.sent_a2b += self.b_in.len() as u64;
        self.sent_b2a += self.a_in.len() as u64;
        self.a_in.len() + self.b_in.len()
    }
}

/// Two stacks joined by a [`Wire`].
pub trait Pair {
    /// One round at `now_us`: deliver, then each stack processes its input, runs its timers
    /// and transmits. Returns how many datagrams were delivered plus transmitted.
    fn round(&mut self, now_us: u64) -> usize;

    /// The earliest deadline of either stack, in microseconds.
    fn next_deadline_us(&mut self, now_us: u64) -> Option<u64>;

    /// The wire, for its counters.
    fn wire(&self) -> &Wire;
}

/// What the application did in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: it waits for the network.
    Idle,
    /// It acted on a socket.
    Progress,
    /// The workload phase is over.
    Done,
}

/// The virtual clock and a round counter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clock {
    /// Virtual time, microseconds.
    pub now_us: u64,
    /// Rounds run.
    pub rounds: u64,
}

/// No phase may take longer than this in virtual time (a stuck transfer fails instead of
/// spinning forever).
const VIRTUAL_LIMIT_US: u64 = 3_600_000_000;

/// Alternates application steps and rounds until `app` says [`Step::Done`]; the same loop
/// for every stack. Fails when nothing can happen any more or virtual time runs too long.
pub fn drive<P: Pair>(
    pair: &mut P,
    clock: &mut Clock,
    what: &str,
    mut app: impl FnMut(&mut P) -> Result<Step, String>,
) -> Result<(), String> {
    let start = clock.now_us;
    loop {
        let step = app(pair)?;
        if step == Step::Done {
            return Ok(());
        }
        let moved = pair.round(clock.now_us);
        clock.rounds += 1;
        if moved == 0 && step == Step::Idle {
            match pair.next_deadline_us(clock.now_us) {
                Some(t) if t > clock.now_us => clock.now_us = t,
                Some(_) => clock.now_us += TICK_US,
                None => {
                    return Err(format!(
                        "{what}: stalled at {} us virtual: no datagram, no timer, \
                         and the application is waiting",
                        clock.now_us
                    ))
                }
            }
        } else {
            clock.now_us += TICK_US;
        }
        if clock.now_us - start > VIRTUAL_LIMIT_US {
            return Err(format!(
                "{what}: no completion after {} s of virtual time",
                VIRTUAL_LIMIT_US / 1_000_000
            ));
        }
    }
}

/// The byte stream of the bulk workload: byte `i` is `i % 251`, so any slip shows.
pub struct Pattern {
    bytes: Vec<u8>,
}

/// The period of [`Pattern`].
const PERIOD: usize = 251;

impl Pattern {
    /// A pattern that serves chunks of up to `max_chunk` bytes.
    pub fn new(max_chunk: usize) -> Pattern {
        Pattern {
            bytes: (0..max_chunk + PERIOD)
                .map(|i| (i % PERIOD) as u8)
                .collect(),
        }
    }

    /// The stream's bytes from `offset`, at most `len` of them (and at most `max_chunk`).
    pub fn chunk(&self, offset: u64, len: u64) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        let len = len.min((self.bytes.len() - PERIOD) as u64) as usize;
        &self.bytes[start..start + len]
    }

    /// Whether `data` is what the stream holds at `offset`.
    pub fn matches(&self, offset: u64, data: &[u8]) -> bool {
        data.len() <= self.bytes.len() - PERIOD && self.chunk(offset, data.len() as u64) == data
    }

    /// Writes the stream's bytes from `offset` into `dst` (any length), as an
    /// application producing data in place does.
    pub fn fill(&self, offset: u64, dst: &mut [u8]) {
        let max = self.bytes.len() - PERIOD;
        let mut at = 0;
        while at < dst.len() {
            let n = (dst.len() - at).min(max);
            dst[at..at + n].copy_from_slice(self.chunk(offset + at as u64, n as u64));
            at += n;
        }
    }

    /// Whether `data` (any length) is what the stream holds at `offset`.
    pub fn check(&self, offset: u64, data: &[u8]) -> bool {
        let max = self.bytes.len() - PERIOD;
        data.chunks(max)
            .enumerate()
            .all(|(i, c)| self.matches(offset + (i * max) as u64, c))
    }
}

/// The request of churn lifecycle `id` (100 bytes that name it).
pub fn request(id: u64) -> [u8; 100] {
    message(b'Q', id)
}

/// The reply to churn lifecycle `id` (100 bytes that name it).
pub fn reply(id: u64) -> [u8; 100] {
    message(b'R', id)
}

/// The lifecycle a request names.
pub fn request_id(msg: &[u8]) -> Option<u64> {
    if msg.len() != 100 || msg[0] != b'Q' {
        return None;
    }
    let id = u64::from_le_bytes(msg[1..9].try_into().ok()?);
    (msg == request(id)).then_some(id)
}

fn message(kind: u8, id: u64) -> [u8; 100] {
    let mut m = [0u8; 100];
    m[0] = kind;
    m[1..9].copy_from_slice(&id.to_le_bytes());
    for (i, b) in m.iter_mut().enumerate().skip(9) {
        *b = (id as u8).wrapping_add(i as u8);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_chunks_line_up() {
        let p = Pattern::new(1000);
        let a = p.chunk(0, 600).to_vec();
        let b = p.chunk(600, 1000).to_vec();
        assert!(p.matches(0, &a));
        assert!(p.matches(600, &b));
        assert!(!p.matches(1, &a));
        assert_eq!(b.len(), 1000);
        let mut big = vec![0u8; 2500];
        p.fill(7, &mut big);
        assert!(p.check(7, &big));
        assert!(!p.check(8, &big));
    }

    #[test]
    fn messages_round_trip() {
        assert_eq!(request_id(&request(12345)), Some(12345));
        assert_eq!(request_id(&reply(12345)), None);
    }
}
