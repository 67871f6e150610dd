//! The offload harness: the whole-stack harness ([`crate::stack`]) run three times on one
//! input, over the three [`Path`]s.
//!
//! - Segmentation (`Stack::poll_transmit_offload`, with a `gso_max_size` and checksum
//!   offload drawn from the input): every super-segment, cut by
//!   `synack::wire::gso::segment` as a device with TSO cuts it, must give exactly the
//!   datagrams the plain path (`poll_transmit`) sends, byte for byte (the IPv4
//!   identification of atomic datagrams aside, which RFC 6864 leaves meaningless and
//!   a device numbers on), in the same order within each flow, and the counters must be
//!   the same: the engine decides the same segments either way, and offload only groups
//!   them (the order between connections is the scheduler's: see `flows`). A super-segment stays within `gso_max_size`, and
//!   a checksum is left to the device only when it has checksum offload.
//! - Receive offload (`Stack::handle_packet_offload`): every crafted TCP datagram with
//!   more payload than a segment size drawn from the input arrives as a GSO packet of
//!   that size, its checksum vouched for or not (as a GRO packet from the kernel): the
//!   stack's invariants hold and everything it sends parses, as in the plain run.
//!
//! The input is 5 bytes of offload parameters ([`Params::decode`]), then a stack input
//! in the format of [`crate::stack::StackInput`].

use arbitrary::{Arbitrary, Unstructured};
use synack::TxOffload;

use crate::stack::{self, Path, Report, StackInput};

/// The offloads an input asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The transmit path's offloads.
    pub tx: TxOffload,
    /// The receive path's GSO segment size (0: none).
    pub gso_size: u16,
    /// The receive path vouches for TCP checksums.
    pub csum_valid: bool,
}

impl Params {
    /// The parameters' length in bytes.
    pub const LEN: usize = 5;

    /// Reads the parameters from the first [`Params::LEN`] bytes (missing bytes are 0):
    /// `gso_max_size` as a big-endian u16 (0: no segmentation offload), a flag byte
    /// (bit 0: checksum offload on transmit, bit 1: checksums vouched for on receive),
    /// the receive GSO segment size as a big-endian u16.
    pub fn decode(data: &[u8]) -> Params {
        let b = |i: usize| data.get(i).copied().unwrap_or(0);
        Params {
            tx: TxOffload {
                gso_max_size: usize::from(u16::from_be_bytes([b(0), b(1)])),
                csum: b(2) & 1 != 0,
            },
            gso_size: u16::from_be_bytes([b(3), b(4)]),
            csum_valid: b(2) & 2 != 0,
        }
    }

    /// The bytes [`Params::decode`] reads back.
    pub fn encode(&self) -> [u8; Params::LEN] {
        let max = u16::try_from(self.tx.gso_max_size)
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let flags = u8::from(self.tx.csum) | u8::from(self.csum_valid) << 1;
        let gso = self.gso_size.to_be_bytes();
        [max[0], max[1], flags, gso[0], gso[1]]
    }
}

/// What the three runs did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The plain run's report.
    pub plain: Report,
    /// The segmentation run's report.
    pub tso: Report,
    /// The receive-offload run's report.
    pub gro: Report,
}

/// Decodes `data` and runs it.
pub fn run(data: &[u8]) -> Outcome {
    let params = Params::decode(data);
    let rest = data.get(Params::LEN..).unwrap_or(&[]);
    match StackInput::arbitrary(&mut Unstructured::new(rest)) {
        Ok(input) => run_input(params, &input),
        Err(_) => Outcome::default(),
    }
}

/// Runs one input over the three paths and compares the plain and segmentation runs.
pub fn run_input(params: Params, input: &StackInput) -> Outcome {
    let (plain, plain_sent, _) = stack::run_input_path(input, Path::Plain, usize::MAX);
    let (tso, tso_sent, _) = stack::run_input_path(input, Path::Tso(params.tx), usize::MAX);
    let (plain_sent, tso_sent) = (flows(atomic(plain_sent)), flows(atomic(tso_sent)));
    for (flow, plain_flow) in &plain_sent {
        let tso_flow = tso_sent.get(flow).map_or(&[][..], Vec::as_slice);
        if let Some(i) = (0..plain_flow.len().max(tso_flow.len()))
            .find(|&i| plain_flow.get(i) != tso_flow.get(i))
        {
            let head = |d: Option<&Vec<u8>>| d.map(|d| d[..d.len().min(80)].to_vec());
            panic!(
                "datagram {i} of {} of flow {flow:02x?} differs with {:?}: plain {:02x?}, cut \
                 from a super-segment {:02x?} (first 80 bytes)",
                plain_flow.len(),
                params.tx,
                head(plain_flow.get(i)),
                head(tso_flow.get(i))
            );
        }
    }
    let extra: Vec<_> = tso_sent
        .keys()
        .filter(|f| !plain_sent.contains_key(*f))
        .collect();
    assert!(
        extra.is_empty(),
        "flows {extra:02x?} only with {:?}",
        params.tx
    );
    assert_eq!(
        plain.stats, tso.stats,
        "the counters differ with {:?}",
        params.tx
    );
    assert_eq!(plain.received, tso.received);
    let gro_path = Path::Gro {
        gso_size: params.gso_size,
        csum_valid: params.csum_valid,
    };
    let (gro, _, _) = stack::run_input_path(input, gro_path, 0);
    Outcome { plain, tso, gro }
}

/// The datagrams grouped by flow (IP version, protocol, addresses and the first four
/// bytes of the transport header: TCP's and UDP's ports), each flow's in the order sent.
/// The order between flows is the scheduler's: the plain path takes connections in turn
/// a segment at a time, where a super-segment carries one connection's consecutive
/// segments together, as Linux's TSO does.
fn flows(datagrams: Vec<Vec<u8>>) -> std::collections::BTreeMap<Vec<u8>, Vec<Vec<u8>>> {
    let mut flows = std::collections::BTreeMap::<_, Vec<_>>::new();
    for d in datagrams {
        let key = match d.first().map(|b| b >> 4) {
            Some(4) if d.len() >= 20 => {
                let ihl = usize::from(d[0] & 0xf) * 4;
                let mut k = vec![4, d[9]];
                k.extend_from_slice(&d[12..20]);
                k.extend_from_slice(d.get(ihl..ihl + 4).unwrap_or(&[]));
                k
            }
            Some(6) if d.len() >= 40 => {
                let mut k = vec![6, d[6]];
                k.extend_from_slice(&d[8..40]);
                k.extend_from_slice(d.get(40..44).unwrap_or(&[]));
                k
            }
            _ => Vec::new(),
        };
        flows.entry(key).or_default().push(d);
    }
    flows
}

/// The datagrams with the identification of atomic IPv4 datagrams (DF set) and the
/// header checksum cleared: RFC 6864 4.1 gives that field no meaning there, and a
/// device cutting a super-segment numbers its segments on (Linux's GSO without
/// `SKB_GSO_TCP_FIXEDID`) where the stack sends each with its own.
fn atomic(mut datagrams: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    for d in &mut datagrams {
        if d.len() >= 20 && d[0] >> 4 == 4 && d[6] & 0x40 != 0 {
            d[4..6].fill(0);
            d[10..12].fill(0);
        }
    }
    datagrams
}
