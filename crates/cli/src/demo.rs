//! `synack demo`: one TCP connection from SYN to CLOSED between two synack stacks.
//!
//! A client (10.0.0.1) and a server (10.0.0.2, port 80) run on a simulated link. The
//! client connects, sends a request, the server answers, then one end closes, the other
//! reads end of stream, finishes its work and closes too (whatever the first end's
//! connection is doing, as a program does), and the network runs until both ends are CLOSED,
//! TIME_WAIT included (60 s of virtual time, which passes instantly). Everything is
//! printed on one [`Timeline`]; then both stacks' counters and a summary.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use synack::{Config, Error, SocketHandle, Stack, State};
use synack_sim::{LinkConfig, Pair};

use crate::timeline::{Side, Timeline};
use crate::DemoArgs;

/// The server's port.
const PORT: u16 = 80;

/// The time the second closer takes after reading end of stream before it closes (its
/// work: a log line, say). Longer than the 200 ms delayed-ACK maximum, so the ACK of the
/// first FIN leaves on its own before the second FIN, the four-way close the seeds
/// draw; a program that closed at once would send its FIN with that ACK.
const WRAP_UP: Duration = Duration::from_millis(250);

/// How much virtual time each phase may take before the demo gives up. Longer than any
/// retransmission schedule with Linux's defaults (tcp_syn_retries 6 is about 127 s).
const PHASE_LIMIT: Duration = Duration::from_secs(3600);

/// The simulated network and what the demo prints.
struct Demo {
    pair: Pair<Stack>,
    tl: Timeline,
}

/// Runs the demo; `Err` says what went wrong, for the caller to print.
pub fn run(args: &DemoArgs) -> Result<(), String> {
    let (client_ip, server_ip) = if args.ipv6 {
        let v6 = |n| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n));
        (v6(1), v6(2))
    } else {
        let v4 = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        (v4(1), v4(2))
    };
    let make_stack = |ip, seed| {
        // `--seed`: reproducible secrets, as a demo wants (a stack on a real network
        // uses Config::default(), whose secrets come from the OS).
        let mut s = Stack::new(Config::seeded(seed));
        s.add_address(ip);
        s
    };
    let link = LinkConfig::ideal(Duration::from_millis(args.delay_ms)).with_loss(args.loss);
    let mut pair = Pair::new(
        args.seed,
        make_stack(client_ip, args.seed),
        client_ip,
        make_stack(server_ip, args.seed ^ 0x5eed),
        server_ip,
        link,
    );
    if let Some(path) = &args.pcap {
        let file = File::create(path)
            .map_err(|e| format!("cannot create the pcap file {}: {e}", path.display()))?;
        pair.net.capture(pair.link, Box::new(BufWriter::new(file)));
    }
    let tl = Timeline::attach(&mut pair);
    let mut demo = Demo { pair, tl };
    demo.tl.line(format_args!(
        "synack demo: client {client_ip} -> server {}, link {} ms each way, loss {}, seed {}",
        SocketAddr::new(server_ip, PORT),
        args.delay_ms,
        args.loss,
        args.seed
    ));
    demo.tl.line("");
    let result = demo
        .scenario(args, SocketAddr::new(server_ip, PORT))
        .map_err(|e| {
            if args.loss > 0.0 {
                format!(
                    "{e}\n  The link loses {}% of the packets, which can outlast TCP's \
                     retransmissions: try a lower --loss or another --seed.",
                    args.loss * 100.0
                )
            } else {
                e
            }
        });
    demo.report(result.is_ok());
    let pcap = demo.finish_capture(args);
    result.and(pcap)
}

impl Demo {
    /// The whole scenario: open, exchange, close, wait out TIME_WAIT, report.
    fn scenario(&mut self, args: &DemoArgs, server: SocketAddr) -> Result<(), String> {
        let call = |what: &str, r: Result<(), Error>| r.map_err(|e| format!("{what}: {e}"));
        let l = self.pair.server().socket();
        call("server bind()", self.pair.server().bind(l, server))?;
        call("server listen()", self.pair.server().listen(l, 128))?;
        self.tl.flush(&mut self.pair);
        let c = self.pair.client().socket();
        call("client connect()", self.pair.client().connect(c, server))?;

        let s = self.exchange(args, c, l)?;
        let handles = [c, s];

        let first = if args.server_closes_first {
            Side::Server
        } else {
            Side::Client
        };
        let second = first.peer();
        self.sync_clocks();
        call(
            &format!("{} close()", first.name()),
            self.stack(first).close(handles[first.index()]),
        )?;
        // The other end reads until end of stream, finishes its work and closes, as a
        // program does: what the first closer's connection does meanwhile is not its
        // business.
        let h2 = handles[second.index()];
        self.run_until("the first FIN", |p, tl| {
            read(
                stack(p, second),
                h2,
                &mut Vec::new(),
                &mut tl.failure,
                second,
            )
        })
        .map_err(|e| {
            if self.tl.state(first) != State::Closed {
                return e;
            }
            format!(
                "{e}: the {first}'s FIN was lost, and every retransmission of it, until its \
                 orphaned connection (closed by its program) gave up after \
                 tcp_orphan_retries, as Linux's does, without a RST: the {second} never \
                 reads end of stream",
                first = first.name(),
                second = second.name()
            )
        })?;
        self.wait(WRAP_UP);
        self.sync_clocks();
        call(
            &format!("{} close()", second.name()),
            self.stack(second).close(h2),
        )?;
        self.run_until("both ends CLOSED", |_, tl| {
            tl.state(first) == State::Closed && tl.state(second) == State::Closed
        })?;
        self.sync_clocks();
        call(
            "server close() of the listener",
            self.pair.server().close(l),
        )?;
        self.tl.flush(&mut self.pair);
        Ok(())
    }

    /// The handshake, the request from the client and the response from the server, each
    /// checked byte for byte on arrival. The client sends as soon as it is connected; the
    /// server accepts, reads the whole request, then answers. Returns the accepted socket.
    fn exchange(
        &mut self,
        args: &DemoArgs,
        c: SocketHandle,
        l: SocketHandle,
    ) -> Result<SocketHandle, String> {
        let request = fill(b"GET / HTTP/1.0\r\n\r\n", args.request_bytes);
        let response = fill(b"HTTP/1.0 200 OK\r\n\r\n", args.response_bytes);
        let (mut req_sent, mut resp_sent) = (0, 0);
        let (mut req_got, mut resp_got) = (Vec::new(), Vec::new());
        self.run_until("the handshake", |_, tl| {
            tl.state(Side::Client) == State::Established
        })?;
        // The client's stack acknowledges the SYN-ACK before the client program runs.
        self.sync_clocks();
        let mut accepted = None;
        self.run_until("the exchange", |p, tl| {
            let connected = tl.state(Side::Client).is_synchronized();
            let f = &mut tl.failure;
            if connected {
                write(p.client(), c, &request, &mut req_sent, f, Side::Client);
                read(p.client(), c, &mut resp_got, f, Side::Client);
            }
            if accepted.is_none() {
                accepted = p.server().accept(l).ok().map(|(h, _)| h);
            }
            let Some(s) = accepted else {
                return false;
            };
            read(p.server(), s, &mut req_got, f, Side::Server);
            if req_got.len() >= request.len() {
                write(p.server(), s, &response, &mut resp_sent, f, Side::Server);
            }
            req_got.len() >= request.len() && resp_got.len() >= response.len()
        })?;
        if req_got != request || resp_got != response {
            return Err(format!(
                "data corrupted: the server got {} bytes (expected {}), the client {} (expected {}){}",
                req_got.len(),
                request.len(),
                resp_got.len(),
                response.len(),
                if req_got.len() == request.len() && resp_got.len() == response.len() {
                    ", with different contents"
                } else {
                    ""
                }
            ));
        }
        accepted.ok_or_else(|| "no connection was accepted".to_string())
    }

    /// The stack of `side`.
    fn stack(&mut self, side: Side) -> &mut Stack {
        stack(&mut self.pair, side)
    }

    /// Lets both stacks send what they have queued (the ACK of data just read, as Linux
    /// would have sent before the application woke up), without moving the clock; then
    /// tells both stacks the network's time, so that what the application does next (a
    /// close()) is stamped with the current virtual time.
    fn sync_clocks(&mut self) {
        let now = self.pair.now();
        let tl = &mut self.tl;
        self.pair.run_until(now, |p| {
            tl.flush(p);
            false
        });
        self.tl.flush(&mut self.pair);
        self.pair.client().handle_timeout(now);
        self.pair.server().handle_timeout(now);
    }

    /// Lets `d` of virtual time pass, printing what happens on the way.
    fn wait(&mut self, d: Duration) {
        let until = self.pair.now() + d;
        let tl = &mut self.tl;
        self.pair.run_until(until, |p| {
            tl.flush(p);
            false
        });
        if self.pair.now() < until {
            let rest = until - self.pair.now();
            self.pair.run_for(rest);
        }
        self.tl.flush(&mut self.pair);
    }

    /// Steps the network, printing after every step, until `cond` holds. Fails when an
    /// end reports an error, the network goes idle first, or [`PHASE_LIMIT`] passes.
    fn run_until(
        &mut self,
        phase: &str,
        mut cond: impl FnMut(&mut Pair<Stack>, &mut Timeline) -> bool,
    ) -> Result<(), String> {
        let deadline = self.pair.now() + PHASE_LIMIT;
        let tl = &mut self.tl;
        let done = self.pair.run_until(deadline, |p| {
            tl.flush(p);
            tl.failure.is_some() || cond(p, tl)
        });
        self.tl.flush(&mut self.pair);
        let now = self.pair.now();
        if let Some((side, err)) = self.tl.failure {
            let state = self.tl.state(side);
            return Err(format!(
                "the {}'s connection failed during {phase} at {now} s (virtual), now {state}: {err}",
                side.name()
            ));
        }
        if !done {
            let [c, s] = self.tl.state;
            let why = if now >= deadline {
                format!("{} s of virtual time passed", PHASE_LIMIT.as_secs())
            } else {
                "the network went idle".to_string()
            };
            return Err(format!(
                "{why} without completing {phase} (at {now} s: client {c}, server {s})"
            ));
        }
        Ok(())
    }

    /// Prints both stacks' non-zero counters and a summary.
    fn report(&mut self, completed: bool) {
        let end = self.pair.now();
        for side in Side::BOTH {
            self.tl.line("");
            self.tl
                .line(format_args!("{} counters (netstat -s):", side.name()));
            let stats = self.stack(side).stats().clone();
            let mut nonzero = stats.iter().filter(|c| c.2 != 0).peekable();
            if nonzero.peek().is_none() {
                self.tl.line("    (all zero)");
            }
            for (group, name, value) in nonzero {
                self.tl.line(format_args!("    {group}: {name} {value}"));
            }
        }
        self.tl.line("");
        self.tl.line("summary:");
        for (dir, what) in [(0, "client -> server"), (1, "server -> client")] {
            let d = self.tl.dirs[dir];
            self.tl.line(format_args!(
                "    {what}: {} segments, {} payload bytes, {} retransmitted, {} lost",
                d.segments, d.payload, d.retransmissions, d.lost
            ));
        }
        let [c, s] = self.tl.state;
        self.tl.line(format_args!(
            "    duration: {end} s of virtual time{}; client {c}, server {s}",
            if completed {
                ", TIME_WAIT included"
            } else {
                ""
            },
        ));
    }

    /// Stops the pcap capture, if any, flushing the file.
    fn finish_capture(&mut self, args: &DemoArgs) -> Result<(), String> {
        let Some(path) = &args.pcap else {
            return Ok(());
        };
        let writer = self.pair.net.stop_capture(self.pair.link);
        if writer.is_none() || self.pair.net.capture_errors() > 0 {
            return Err(format!("writing the pcap file {} failed", path.display()));
        }
        eprintln!("synack demo: wrote {}", path.display());
        Ok(())
    }
}

/// The stack of `side` in `pair`.
fn stack(pair: &mut Pair<Stack>, side: Side) -> &mut Stack {
    match side {
        Side::Client => pair.client(),
        Side::Server => pair.server(),
    }
}

/// Sends as much of `data[*sent..]` as the socket takes; errors other than EAGAIN are
/// recorded in `failure`.
fn write(
    stack: &mut Stack,
    h: SocketHandle,
    data: &[u8],
    sent: &mut usize,
    failure: &mut Option<(Side, Error)>,
    side: Side,
) {
    while *sent < data.len() {
        match stack.send(h, &data[*sent..]) {
            Ok(0) | Err(Error::WouldBlock) => break,
            Ok(n) => *sent += n,
            Err(e) => {
                failure.get_or_insert((side, e));
                break;
            }
        }
    }
}

/// Reads everything available into `got`; returns whether end of stream was read.
/// Errors other than EAGAIN are recorded in `failure`.
fn read(
    stack: &mut Stack,
    h: SocketHandle,
    got: &mut Vec<u8>,
    failure: &mut Option<(Side, Error)>,
    side: Side,
) -> bool {
    let mut buf = [0u8; 16384];
    loop {
        match stack.recv(h, &mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return false,
            Err(e) => {
                failure.get_or_insert((side, e));
                return false;
            }
        }
    }
}

/// `n` bytes: `prefix`, cut to `n` if longer, then the alphabet over and over.
fn fill(prefix: &[u8], n: u32) -> Vec<u8> {
    let n = n as usize;
    let mut v: Vec<u8> = prefix.iter().copied().take(n).collect();
    v.extend((v.len()..n).map(|i| b'a' + (i % 26) as u8));
    v
}
