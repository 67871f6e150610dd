//! Names the segments of the handshake and the close the way the seeds write them.
//!
//! The seeds describe the three-way handshake as `SYN seq=x`, `SYN-ACK seq=y ack=x+1`,
//! `ACK seq=x+1 ack=y+1`, and the four-way close as `FIN seq=u`, `ACK seq=v ack=u+1`,
//! `FIN seq=w`, `ACK seq=u+1 ack=w+1`. [`Annotator`] watches the segments of one
//! connection in both directions, learns x and y from the SYNs and u and w from the FINs,
//! and labels each segment from its actual numbers, so a lost and retransmitted segment
//! is recognised and labelled too.

use synack::wire::{tcp::flags, IpRepr, SeqNum, TcpPacket, IPPROTO_TCP};

/// A direction of the connection: 0 is from the active opener (the client), 1 back.
pub type Dir = usize;

/// The facts of one segment that the annotator and the printer need.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// The TCP flags.
    pub flags: u8,
    /// The sequence number.
    pub seq: SeqNum,
    /// The acknowledgment number (meaningful with ACK only).
    pub ack: SeqNum,
    /// Bytes of payload.
    pub len: u32,
}

impl Segment {
    /// Reads a raw IP datagram; `None` for anything but a well-formed TCP segment.
    pub fn parse(datagram: &[u8]) -> Option<Segment> {
        let (ip, payload) = IpRepr::parse(datagram).ok()?;
        if ip.protocol != IPPROTO_TCP {
            return None;
        }
        let p = TcpPacket::new_checked(payload).ok()?;
        Some(Segment {
            flags: p.flags(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            len: u32::try_from(payload.len() - p.header_len()).ok()?,
        })
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The sequence space the segment occupies: its payload, plus one each for SYN and FIN.
    fn seg_len(&self) -> u32 {
        self.len + u32::from(self.has(flags::SYN)) + u32::from(self.has(flags::FIN))
    }
}

/// Learns the ISNs and FIN numbers of one connection and labels its segments.
#[derive(Debug, Default)]
pub struct Annotator {
    /// Initial sequence number of each direction (x, then y).
    isn: [Option<SeqNum>; 2],
    /// The highest sequence number sent so far in each direction (SND.MAX).
    snd_max: [Option<SeqNum>; 2],
    /// The sequence number of each direction's FIN.
    fin: [Option<SeqNum>; 2],
    /// The direction that sent the first FIN (its FIN is u, the other's w).
    first_fin: Option<Dir>,
    /// Whether the third step of the handshake has been seen.
    handshake_done: bool,
}

impl Annotator {
    /// The ISNs of the sender and the receiver of a segment going `dir`, once both SYNs
    /// have been seen: what [`synack::wire::SegmentDisplay::relative`] needs.
    pub fn isns(&self, dir: Dir) -> Option<(SeqNum, SeqNum)> {
        Some((self.isn[dir]?, self.isn[1 - dir]?))
    }

    /// Whether a segment going `dir` repeats sequence space already sent that way.
    pub fn is_retransmission(&self, dir: Dir, seg: &Segment) -> bool {
        match self.snd_max[dir] {
            Some(max) => seg.seg_len() > 0 && seg.seq.before(max),
            None => false,
        }
    }

    /// Records a segment going `dir` and returns its labels (possibly none), such as
    /// `SYN seq=x` or `ACK ack=u+1`.
    pub fn observe(&mut self, dir: Dir, seg: &Segment) -> Vec<String> {
        let mut labels = Vec::new();
        let other = 1 - dir;
        if seg.has(flags::RST) {
            labels.push("RST".to_string());
        }
        if seg.has(flags::SYN) {
            self.isn[dir] = Some(seg.seq);
            let mut label = if seg.has(flags::ACK) {
                format!("SYN-ACK seq={}", isn_letter(dir))
            } else {
                format!("SYN seq={}", isn_letter(dir))
            };
            if seg.has(flags::ACK) {
                if let Some(x) = self.isn[other] {
                    label += &format!(" ack={}", name(seg.ack, x, isn_letter(other)));
                }
            }
            labels.push(label);
        } else if seg.has(flags::ACK) && !self.handshake_done && dir == 0 {
            if let Some(y) = self.isn[other] {
                if seg.ack == y + 1 {
                    self.handshake_done = true;
                    let x = self.isn[dir].unwrap_or(seg.seq - 1);
                    labels.push(format!(
                        "ACK seq={} ack={}",
                        name(seg.seq, x, isn_letter(dir)),
                        name(seg.ack, y, isn_letter(other))
                    ));
                }
            }
        }
        if seg.has(flags::FIN) {
            let fin_seq = seg.seq + seg.len;
            self.fin[dir] = Some(fin_seq);
            let first = *self.first_fin.get_or_insert(dir);
            let mut label = format!("FIN seq={}", name(fin_seq, fin_seq, fin_letter(first, dir)));
            if let Some(u) = self.fin[other] {
                if seg.has(flags::ACK) && seg.ack == u + 1 {
                    label += &format!(" ack={}", name(seg.ack, u, fin_letter(first, other)));
                }
            }
            labels.push(label);
        } else if let (Some(first), Some(f)) = (self.first_fin, self.fin[other]) {
            if seg.has(flags::ACK) && seg.ack == f + 1 {
                // The seeds number the passive side's ACK seq=v, and the closer's final
                // ACK seq=u+1.
                let seq = if dir == first {
                    name(
                        seg.seq,
                        self.fin[dir].unwrap_or(seg.seq),
                        fin_letter(first, dir),
                    )
                } else {
                    "v".to_string()
                };
                labels.push(format!(
                    "ACK seq={seq} ack={}",
                    name(seg.ack, f, fin_letter(first, other))
                ));
            }
        }
        let end = seg.seq + seg.seg_len();
        self.snd_max[dir] = Some(match self.snd_max[dir] {
            Some(max) => max.max(end),
            None => end,
        });
        labels
    }
}

/// The seeds' letter for the ISN of direction `dir`: x for the client's, y for the server's.
fn isn_letter(dir: Dir) -> &'static str {
    if dir == 0 {
        "x"
    } else {
        "y"
    }
}

/// The seeds' letter for the FIN of direction `dir`: u for the first, w for the second.
fn fin_letter(first: Dir, dir: Dir) -> &'static str {
    if dir == first {
        "u"
    } else {
        "w"
    }
}

/// `value` as an offset from `base` named `letter`: `x`, `x+1`, `x-3`.
fn name(value: SeqNum, base: SeqNum, letter: &str) -> String {
    match value - base {
        0 => letter.to_string(),
        d if d > 0 => format!("{letter}+{d}"),
        d => format!("{letter}{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, ack: u32, len: u32) -> Segment {
        Segment {
            flags,
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            len,
        }
    }

    #[test]
    fn labels_handshake_and_close() {
        let (s, a, f) = (flags::SYN, flags::ACK, flags::FIN);
        let mut an = Annotator::default();
        assert_eq!(an.observe(0, &seg(s, 100, 0, 0)), ["SYN seq=x"]);
        assert_eq!(
            an.observe(1, &seg(s | a, 500, 101, 0)),
            ["SYN-ACK seq=y ack=x+1"]
        );
        assert_eq!(an.observe(0, &seg(a, 101, 501, 0)), ["ACK seq=x+1 ack=y+1"]);
        assert!(an.observe(0, &seg(a, 101, 501, 10)).is_empty());
        assert!(an.is_retransmission(0, &seg(a, 101, 501, 10)));
        assert_eq!(an.observe(0, &seg(f | a, 111, 501, 0)), ["FIN seq=u"]);
        assert_eq!(an.observe(1, &seg(a, 501, 112, 0)), ["ACK seq=v ack=u+1"]);
        assert_eq!(
            an.observe(1, &seg(f | a, 501, 112, 0)),
            ["FIN seq=w ack=u+1"]
        );
        assert_eq!(an.observe(0, &seg(a, 112, 502, 0)), ["ACK seq=u+1 ack=w+1"]);
    }
}
