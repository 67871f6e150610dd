//! `close-wait-leak`: a server that never calls close(). Each client closes, the
//! server's TCP acknowledges the FIN, and the connection waits in CLOSE_WAIT for a
//! close() that never comes, holding its socket and buffers; meanwhile the clients'
//! FIN_WAIT_2 entries time out after `tcp_fin_timeout` (seed 000; RFC 9293 3.6).

use std::time::Duration;

use serde::Serialize;
use synack::State;

use super::traffic::{self, Sample, Traffic};
use super::{lan, Duo, LabDef};
use crate::ladder::Side;
use crate::plot::{Plot, Series};
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, drain, push};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "close-wait-leak",
    title:
        "a server that never calls close(): CLOSE_WAIT piles up, the clients' FIN_WAIT_2 times out",
    seeds: "000",
    run: |o| run(o).map(Outcome::into_report),
};

/// One server program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// What the server does on end of stream.
    pub name: String,
    /// Requests answered.
    pub answered: u64,
    /// CLOSE_WAIT sockets at the server at the end.
    pub close_wait_end: usize,
    /// The most FIN_WAIT_2 entries the client had at once.
    pub fin_wait2_max: usize,
    /// FIN_WAIT_2 entries at the end (the load stopped `tcp_fin_timeout` ago or more).
    pub fin_wait2_end: usize,
    /// The samples, for the plot.
    #[serde(skip)]
    samples: Vec<Sample>,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Seconds one client's orphaned FIN_WAIT_2 lasted (tcp_fin_timeout).
    pub fin_wait2_lifetime_s: f64,
    /// The server's side of that connection, still CLOSE_WAIT at the end.
    pub first_connection_server_state: String,
    /// New connections per second.
    pub rate_per_s: f64,
    /// The leaky server.
    pub leaky: Variant,
    /// A server that closes when it reads end of stream.
    pub closing: Variant,
}

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let t = Traffic {
        rate: 20.0,
        duration: Duration::from_secs(60),
        linger: Duration::from_secs(90),
        request: 100,
        response: 1000,
        requests_per_conn: 1,
        server_closes: false,
        sample_every: Duration::from_secs(1),
        watch_port: None,
    };
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let (leaky, life, first_state) = one(opts, "never closes", &t, &mut counters, &mut ladders)?;
    let (closing, _, _) = one(
        opts,
        "closes on end of stream",
        &Traffic {
            server_closes: true,
            ..t.clone()
        },
        &mut counters,
        &mut Vec::new(),
    )?;
    let mut plot = Plot::new("sockets by state", "seconds", "sockets");
    for v in [&leaky, &closing] {
        plot = plot
            .with(Series::new(
                format!("server CLOSE-WAIT ({})", v.name),
                v.samples
                    .iter()
                    .map(|s| (s.t, s.server.close_wait as f64))
                    .collect(),
            ))
            .with(Series::new(
                format!("client FIN-WAIT-2 ({})", v.name),
                v.samples
                    .iter()
                    .map(|s| (s.t, s.client.fin_wait2 as f64))
                    .collect(),
            ));
    }
    let figures = Figures {
        fin_wait2_lifetime_s: life,
        first_connection_server_state: first_state,
        rate_per_s: t.rate,
        leaky,
        closing,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "Clients connect {:.0} times a second, send a request, read the answer and \
             close. The server program reads each request, answers, reads end of stream... \
             and never calls close() (a forgotten close in an error path, seed 000). Its TCP \
             acknowledged the client's FIN, so the client is FIN-WAIT-2, orphaned; the \
             server's side is CLOSE-WAIT, waiting for the program. The client's side gives \
             up after tcp_fin_timeout ({:.0} s here); the server's never does: the first \
             connection is still {} at the end.",
            f.rate_per_s, f.fin_wait2_lifetime_s, f.first_connection_server_state
        ),
        format!(
            "After a minute of load the server holds {} CLOSE-WAIT sockets, each with its \
             file descriptor and buffers, and the count only grows until the process runs \
             out of descriptors; the clients' FIN-WAIT-2 peaked at {} and is back to {}. \
             CLOSE_WAIT is the server's own doing (netstat shows the culprit: the process \
             holding them), unlike TIME_WAIT; a server that closes leaves {}.",
            f.leaky.close_wait_end,
            f.leaky.fin_wait2_max,
            f.leaky.fin_wait2_end,
            f.closing.close_wait_end
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        vec![plot],
    ))
}

fn one(
    opts: &Options,
    name: &str,
    t: &Traffic,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<(Variant, f64, String), LabError> {
    let mut d = Duo::new(opts, |_| {}, &[], &[], lan())?;
    let l = d.listen(4096)?;
    let (c, s) = (d.c, d.s);
    // One connection on its own, recorded, through the client's FIN_WAIT_2 timeout.
    d.w.record(
        &format!("one connection, the server {name}"),
        (c, "client 10.0.0.1"),
        (s, "server 10.0.0.2:80"),
        30,
    );
    let h = d.connect(None)?;
    let hs = d.establish(h, l)?;
    let local = call("getsockname()", d.w.stack(c).local_addr(h))?;
    let server = d.server;
    let (mut a, mut b) = (0, 0);
    call("send()", push(d.w.stack(c), h, &[b'q'; 100], &mut a))?;
    let (mut req, mut resp) = (Vec::new(), Vec::new());
    d.w.until("the answer", |net| {
        drain(&mut net.node_mut(s).stack, hs, &mut req);
        if req.len() >= 100 {
            let _ = push(&mut net.node_mut(s).stack, hs, &[b'r'; 1000], &mut b);
        }
        drain(&mut net.node_mut(c).stack, h, &mut resp);
        resp.len() >= 1000
    })?;
    call("client close()", d.w.stack(c).close(h))?;
    let mut eof = false;
    let closes = t.server_closes;
    d.w.until("the client's side to end", |net| {
        if !eof && drain(&mut net.node_mut(s).stack, hs, &mut Vec::new()).0 {
            eof = true;
            if closes {
                let _ = net.node_mut(s).stack.close(hs);
            }
        }
        eof && super::conn_state(&net.node(c).stack, local, server) == State::Closed
    })?;
    d.w.run_for(Duration::from_millis(100));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let life = super::time_in_state(&ladder, Side::Left, "FIN-WAIT-2")
        .map_or(0.0, |(a, b)| (b - a) as f64 / 1e6);
    ladders.push(ladder);
    let stats = traffic::run(&mut d.w, t, c, s, l, server)?;
    let first_state =
        crate::ladder::state_name(super::conn_state(&d.w.net.node(s).stack, server, local));
    counters.push(CounterSnapshot::take(
        &format!("server that {name}"),
        &d.w.net.node(s).stack,
        &["PassiveOpens", "CurrEstab"],
    ));
    let last = stats.samples.last();
    let v = Variant {
        name: name.to_string(),
        answered: stats.answered,
        close_wait_end: last.map_or(0, |s| s.server.close_wait),
        fin_wait2_max: stats
            .samples
            .iter()
            .map(|s| s.client.fin_wait2)
            .max()
            .unwrap_or(0),
        fin_wait2_end: last.map_or(0, |s| s.client.fin_wait2),
        samples: stats.samples,
    };
    Ok((v, life, first_state))
}
