//! What a lab run produces, and its text and JSON forms.

use serde::Serialize;
use synack::{Stack, State};

use crate::ladder::Ladder;
use crate::plot::Plot;
use crate::world::secs;
use crate::Options;

/// One counter, as `nstat` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// `Tcp` or `TcpExt`.
    pub group: String,
    /// The MIB name: `ActiveOpens`, `ListenOverflows`, ...
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// Socket counts by state, as `ss -s` summarizes them (with the states `ss -s` folds
/// into its total spelled out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SsSummary {
    /// Every socket and entry listed.
    pub total: usize,
    /// ESTABLISHED.
    pub estab: usize,
    /// SYN-SENT.
    pub syn_sent: usize,
    /// SYN-RECV (half-open requests).
    pub syn_recv: usize,
    /// FIN-WAIT-1.
    pub fin_wait1: usize,
    /// FIN-WAIT-2.
    pub fin_wait2: usize,
    /// CLOSE-WAIT.
    pub close_wait: usize,
    /// LAST-ACK.
    pub last_ack: usize,
    /// CLOSING.
    pub closing: usize,
    /// TIME-WAIT.
    pub time_wait: usize,
    /// LISTEN.
    pub listen: usize,
    /// Connections the program closed that live on.
    pub orphaned: usize,
}

impl SsSummary {
    /// Counts the sockets of `stack`.
    pub fn of(stack: &Stack) -> SsSummary {
        let mut s = SsSummary::default();
        stack.count_sockets(|state, orphan, n| {
            s.total += n;
            if orphan {
                s.orphaned += n;
            }
            let slot = match state {
                State::Established => &mut s.estab,
                State::SynSent => &mut s.syn_sent,
                State::SynReceived => &mut s.syn_recv,
                State::FinWait1 => &mut s.fin_wait1,
                State::FinWait2 => &mut s.fin_wait2,
                State::CloseWait => &mut s.close_wait,
                State::LastAck => &mut s.last_ack,
                State::Closing => &mut s.closing,
                State::TimeWait => &mut s.time_wait,
                State::Listen => &mut s.listen,
                State::Closed => return,
            };
            *slot += n;
        });
        s
    }

    /// Counts from the full listing (the slow way, for tests of `of`).
    pub fn of_listing(stack: &Stack) -> SsSummary {
        let mut s = SsSummary::default();
        for i in stack.sockets() {
            s.total += 1;
            if i.orphan {
                s.orphaned += 1;
            }
            match i.state {
                State::Established => s.estab += 1,
                State::SynSent => s.syn_sent += 1,
                State::SynReceived => s.syn_recv += 1,
                State::FinWait1 => s.fin_wait1 += 1,
                State::FinWait2 => s.fin_wait2 += 1,
                State::CloseWait => s.close_wait += 1,
                State::LastAck => s.last_ack += 1,
                State::Closing => s.closing += 1,
                State::TimeWait => s.time_wait += 1,
                State::Listen => s.listen += 1,
                State::Closed => {}
            }
        }
        s
    }

    /// `ss -s`'s TCP line, with the other states that are not zero.
    pub fn line(&self) -> String {
        let mut s = format!(
            "TCP: {} (estab {}, closed 0, orphaned {}, timewait {})",
            self.total, self.estab, self.orphaned, self.time_wait
        );
        let others = [
            ("listen", self.listen),
            ("synsent", self.syn_sent),
            ("synrecv", self.syn_recv),
            ("finwait1", self.fin_wait1),
            ("finwait2", self.fin_wait2),
            ("closewait", self.close_wait),
            ("lastack", self.last_ack),
            ("closing", self.closing),
        ];
        let rest: Vec<String> = others
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !rest.is_empty() {
            s += &format!(" [{}]", rest.join(", "));
        }
        s
    }
}

/// A host's counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterSnapshot {
    /// Whose counters, and when: "server at 3.2 s".
    pub host: String,
    /// Virtual time of the snapshot, seconds.
    pub at_s: f64,
    /// The counters that matter for the lab (`netstat -s`).
    pub netstat: Vec<Counter>,
    /// The sockets by state (`ss -s`).
    pub ss: SsSummary,
}

impl CounterSnapshot {
    /// Takes `stack`'s counters named in `names` (every non-zero one if `names` is
    /// empty) and its socket summary.
    pub fn take(host: &str, stack: &Stack, names: &[&str]) -> CounterSnapshot {
        let netstat = stack
            .stats()
            .iter()
            .filter(|(_, n, v)| {
                if names.is_empty() {
                    *v != 0
                } else {
                    names.contains(n)
                }
            })
            .map(|(g, n, v)| Counter {
                group: g.to_string(),
                name: n.to_string(),
                value: v,
            })
            .collect();
        CounterSnapshot {
            host: host.to_string(),
            at_s: secs(stack.now()),
            netstat,
            ss: SsSummary::of(stack),
        }
    }

    /// The value of counter `name` (0 if not taken).
    pub fn get(&self, name: &str) -> u64 {
        self.netstat
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.value)
    }
}

/// What a lab run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The lab's name.
    pub lab: String,
    /// Its title.
    pub title: String,
    /// The seed articles it comes from.
    pub seeds: String,
    /// The run's seed.
    pub seed: u64,
    /// The reader's sysctls.
    pub sysctls: Vec<(String, String)>,
    /// What happened, in a few paragraphs.
    pub narrative: Vec<String>,
    /// The key segments.
    pub ladders: Vec<Ladder>,
    /// The counters that matter.
    pub counters: Vec<CounterSnapshot>,
    /// The lab's figures (its own struct, as JSON).
    pub figures: serde_json::Value,
    /// Time series.
    pub plots: Vec<Plot>,
}

/// A lab's report with its figures still typed, for tests and callers that want them.
#[derive(Debug, Clone)]
pub struct Outcome<F> {
    /// The report (its `figures` already holds `figures` as JSON).
    pub report: Report,
    /// The figures.
    pub figures: F,
}

impl<F: Serialize> Outcome<F> {
    /// Assembles a run's outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        def: &crate::labs::LabDef,
        opts: &Options,
        narrative: Vec<String>,
        ladders: Vec<Ladder>,
        counters: Vec<CounterSnapshot>,
        figures: F,
        plots: Vec<Plot>,
    ) -> Outcome<F> {
        let json = serde_json::to_value(&figures).unwrap_or(serde_json::Value::Null);
        Outcome {
            report: Report {
                lab: def.name.to_string(),
                title: def.title.to_string(),
                seeds: def.seeds.to_string(),
                seed: opts.seed,
                sysctls: opts.sysctls.clone(),
                narrative,
                ladders,
                counters,
                figures: json,
                plots,
            },
            figures,
        }
    }

    /// The report alone.
    pub fn into_report(self) -> Report {
        self.report
    }
}

impl Report {
    /// The whole report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as text: narrative, ladders, counters, figures.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "== lab {}: {} (seeds {})\n   seed {}",
            self.lab, self.title, self.seeds, self.seed
        );
        for (k, v) in &self.sysctls {
            out += &format!(", {k}={v}");
        }
        out += "\n\n";
        for p in &self.narrative {
            out += &wrap(p, 92);
            out += "\n";
        }
        for l in &self.ladders {
            out += "\n-- ";
            out += &l.to_text();
        }
        if !self.counters.is_empty() {
            out += "\n-- counters\n";
        }
        for c in &self.counters {
            out += &format!("{} (at {:.3} s)\n", c.host, c.at_s);
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for k in &c.netstat {
                let item = format!("{} {}", k.name, k.value);
                match groups.iter_mut().find(|(g, _)| *g == k.group) {
                    Some((_, v)) => v.push(item),
                    None => groups.push((&k.group, vec![item])),
                }
            }
            for (g, items) in groups {
                out += &format!("    netstat -s  {g}: {}\n", items.join(", "));
            }
            out += &format!("    ss -s       {}\n", c.ss.line());
        }
        out += "\n-- figures\n";
        flatten(&self.figures, "", &mut out);
        for p in &self.plots {
            out += &format!(
                "\n(plot: {} — {} series; see --html)\n",
                p.title,
                p.series.len()
            );
        }
        out
    }
}

/// Writes `v` as `path: value` lines; arrays of numbers inline, long ones summarized.
fn flatten(v: &serde_json::Value, path: &str, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, &p, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            if items.len() > 24 {
                *out += &format!(
                    "{path}: [{} ... {}] ({} values)\n",
                    items[..8].join(", "),
                    items[items.len() - 4..].join(", "),
                    items.len()
                );
            } else {
                *out += &format!("{path}: [{}]\n", items.join(", "));
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, &format!("{path}[{i}]"), out);
            }
        }
        v => *out += &format!("{path}: {}\n", scalar(v)),
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                let s = format!("{f:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => n.to_string(),
        },
        v => v.to_string(),
    }
}

/// Wraps a paragraph at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + w.len() > width {
            out += &line;
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += w;
    }
    if !line.is_empty() {
        out += &line;
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::{lan, Duo};
    use crate::Options;

    /// The counting summary agrees with the one built from the full `ss` listing, in
    /// every state a short exchange passes through.
    #[test]
    fn counting_matches_the_listing() {
        let opts = Options::new(1);
        let mut d = Duo::new(&opts, |_| {}, &[], &[], lan()).unwrap();
        let l = d.listen(16).unwrap();
        let mut hs = Vec::new();
        for _ in 0..3 {
            hs.push(d.connect(None).unwrap());
        }
        let (c, s) = (d.c, d.s);
        let mut seen = 0;
        let check = |d: &mut Duo| {
            for n in [c, s] {
                let st = &d.w.net.node(n).stack;
                assert_eq!(SsSummary::of(st), SsSummary::of_listing(st));
            }
        };
        while d.w.net.step() {
            check(&mut d);
            seen += 1;
        }
        let _ = d.w.stack(s).accept(l);
        for h in &hs {
            let _ = d.w.stack(c).close(*h);
        }
        while d.w.net.step() {
            check(&mut d);
            seen += 1;
        }
        assert!(seen > 6);
    }
}
