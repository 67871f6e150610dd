//! `half-close`: `shutdown(SHUT_WR)` against `close()`; and close() with unread data
//! sends a RST (seeds 000, 003; RFC 9293 section 3.6, RFC 2525 section 2.17).

use std::time::Duration;

use serde::Serialize;
use synack::{Error, Shutdown};

use super::{lan, Duo, LabDef};
use crate::ladder::Side;
use crate::report::{CounterSnapshot, Outcome};
use crate::world::{call, drain, push};
use crate::{LabError, Options};

/// The lab.
pub const DEF: LabDef = LabDef {
    name: "half-close",
    title: "shutdown(SHUT_WR) against close(); close() with unread data sends a RST",
    seeds: "000, 003",
    run: |o| run(o).map(Outcome::into_report),
};

/// One way of ending the client's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// What the client does.
    pub name: String,
    /// Response bytes the server sent (or tried to).
    pub response_bytes: usize,
    /// Response bytes the client read.
    pub client_read: usize,
    /// The client sent a RST.
    pub client_sent_rst: bool,
    /// The error the server's calls ended with, if any (errno name).
    pub server_error: Option<String>,
    /// The client's counters that tell the story.
    pub abort_on_data: u64,
    /// close() with unread data.
    pub abort_on_close: u64,
}

/// The lab's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The client sends its request and shutdown(SHUT_WR): it still reads the response.
    pub shutdown_wr: Variant,
    /// The client sends its request and close(): the response meets a closed socket.
    pub close_early: Variant,
    /// The client close()s with the server's data unread: RST at once.
    pub close_unread: Variant,
}

const RESPONSE: usize = 20_000;

/// Runs the lab.
pub fn run(opts: &Options) -> Result<Outcome<Figures>, LabError> {
    let mut counters = Vec::new();
    let mut ladders = Vec::new();
    let shutdown_wr = one(opts, 0, &mut counters, &mut ladders)?;
    let close_early = one(opts, 1, &mut counters, &mut ladders)?;
    let close_unread = one(opts, 2, &mut counters, &mut ladders)?;
    let figures = Figures {
        shutdown_wr,
        close_early,
        close_unread,
    };
    let f = &figures;
    let narrative = vec![
        format!(
            "A client sends its whole request and has nothing more to say. With \
             shutdown(SHUT_WR) it sends a FIN but keeps reading: the server reads end of \
             stream (its request is complete), answers, and the client reads all {} bytes \
             of the response ({} read) before its own end of stream: a half-close, the \
             connection open in one direction only (the seeds' CLOSE-WAIT: the server can \
             still send).",
            f.shutdown_wr.response_bytes, f.shutdown_wr.client_read
        ),
        format!(
            "With close() instead, the client's socket is gone for reading too: when the \
             response arrives the client's TCP answers with a RST (TCPAbortOnData {}), the \
             client read {} bytes, and the server's next call fails with {}.",
            f.close_early.abort_on_data,
            f.close_early.client_read,
            f.close_early.server_error.as_deref().unwrap_or("nothing")
        ),
        format!(
            "And close() while received data is still unread does not even send a FIN: \
             RFC 2525 2.17 and Linux send a RST at once (TCPAbortOnClose {}), so the server \
             sees {}.",
            f.close_unread.abort_on_close,
            f.close_unread.server_error.as_deref().unwrap_or("nothing")
        ),
    ];
    Ok(Outcome::new(
        &DEF,
        opts,
        narrative,
        ladders,
        counters,
        figures,
        Vec::new(),
    ))
}

fn errno(e: Error) -> String {
    e.name().to_string()
}

fn one(
    opts: &Options,
    mode: u8,
    counters: &mut Vec<CounterSnapshot>,
    ladders: &mut Vec<crate::Ladder>,
) -> Result<Variant, LabError> {
    let name = [
        "shutdown(SHUT_WR)",
        "close() after the request",
        "close() with unread data",
    ][mode as usize];
    let mut d = Duo::new(opts, |_| {}, &[], &[], lan())?;
    let l = d.listen(128)?;
    let (c, s) = (d.c, d.s);
    d.w.record(name, (c, "client 10.0.0.1"), (s, "server 10.0.0.2:80"), 40);
    let hc = d.connect(None)?;
    let hs = d.establish(hc, l)?;
    let req = b"GET /big HTTP/1.0\r\n\r\n";
    let mut sent = 0;
    call("client send()", push(d.w.stack(c), hc, req, &mut sent))?;
    let response = vec![b'r'; RESPONSE];
    let mut got_req = Vec::new();
    if mode == 2 {
        // The server speaks first this time; the client never reads it.
        let mut rs = 0;
        call(
            "server send()",
            push(d.w.stack(s), hs, &response[..1000], &mut rs),
        )?;
        d.w.until("the server's data at the client", |net| {
            net.node_mut(c).stack.recv_queue(hc).unwrap_or(0) >= 1000
        })?;
        d.w.note("the client closes with 1000 bytes unread");
        call("client close()", d.w.stack(c).close(hc))?;
    } else {
        if mode == 0 {
            call("shutdown()", d.w.stack(c).shutdown(hc, Shutdown::Write))?;
        } else {
            d.w.note("the client closes right after its request");
            call("client close()", d.w.stack(c).close(hc))?;
        }
        d.w.until("the request at the server", |net| {
            drain(&mut net.node_mut(s).stack, hs, &mut got_req);
            got_req.len() >= req.len()
        })?;
    }
    let mut server_error = None;
    let mut client_read = Vec::new();
    let mut rs = 0;
    let mut client_eof = false;
    let deadline = d.w.now() + Duration::from_secs(5);
    d.w.until_or(deadline, |net| {
        if mode != 2 && server_error.is_none() {
            if let Err(e) = push(&mut net.node_mut(s).stack, hs, &response, &mut rs) {
                server_error = Some(e);
            }
        }
        if mode == 2 && server_error.is_none() {
            if let (_, Some(e)) = drain(&mut net.node_mut(s).stack, hs, &mut Vec::new()) {
                server_error = Some(e);
            }
        }
        if mode == 0 {
            let (eof, _) = drain(&mut net.node_mut(c).stack, hc, &mut client_read);
            client_eof |= eof;
        }
        client_eof || server_error.is_some()
    });
    if server_error.is_none() {
        // One more call tells the server how its connection ended.
        let st = d.w.stack(s);
        if let Err(e) = st.send(hs, b"x") {
            if e != Error::WouldBlock {
                server_error = Some(e);
            }
        }
    }
    d.w.run_for(Duration::from_millis(100));
    let idx = d.w.stop_recording().unwrap_or(0);
    let ladder = d.w.ladders[idx].clone();
    let client_sent_rst = ladder
        .segments()
        .any(|g| g.from == Side::Left && g.kind == "RST");
    let cs = CounterSnapshot::take(
        &format!("client, {name}"),
        &d.w.net.node(c).stack,
        &["TCPAbortOnData", "TCPAbortOnClose", "OutRsts"],
    );
    let v = Variant {
        name: name.to_string(),
        response_bytes: if mode == 2 { 1000 } else { RESPONSE },
        client_read: client_read.len(),
        client_sent_rst,
        server_error: server_error.map(errno),
        abort_on_data: cs.get("TCPAbortOnData"),
        abort_on_close: cs.get("TCPAbortOnClose"),
    };
    counters.push(cs);
    ladders.push(ladder);
    Ok(v)
}
