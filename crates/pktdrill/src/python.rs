//! The `%{ }%` subset: `assert` statements over `tcpi_*` fields, integers and the
//! constants packetdrill's preamble defines (`TCP_*` states, `TCP_CA_*` states,
//! `TCPI_OPT_*` bits), with comparison chains, `and`/`or`/`not`, `| ^ & << >>`,
//! `+ - * // %`, unary `- ~` and parentheses, at Python's precedences; `NAME = expr`
//! assignments; `print(...)` (which checks nothing). Anything else is unsupported, and
//! so is a `tcpi_*` field the engine does not keep (its [`synack::TcpInfo`] says which).

use std::collections::HashMap;

/// `tcpi_*` fields the engine's [`synack::TcpInfo`] provides.
pub(crate) const FIELDS: &[&str] = &[
    "tcpi_state",
    "tcpi_ca_state",
    "tcpi_retransmits",
    "tcpi_probes",
    "tcpi_backoff",
    "tcpi_options",
    "tcpi_snd_wscale",
    "tcpi_rcv_wscale",
    "tcpi_rto",
    "tcpi_ato",
    "tcpi_snd_mss",
    "tcpi_rcv_mss",
    "tcpi_rcv_ssthresh",
    "tcpi_rcv_space",
    "tcpi_unacked",
    "tcpi_sacked",
    "tcpi_lost",
    "tcpi_retrans",
    "tcpi_last_data_sent",
    "tcpi_last_data_recv",
    "tcpi_last_ack_recv",
    "tcpi_pmtu",
    "tcpi_rtt",
    "tcpi_rttvar",
    "tcpi_snd_ssthresh",
    "tcpi_snd_cwnd",
    "tcpi_advmss",
    "tcpi_reordering",
    "tcpi_total_retrans",
    "tcpi_bytes_acked",
    "tcpi_bytes_received",
    "tcpi_segs_out",
    "tcpi_segs_in",
    "tcpi_notsent_bytes",
    "tcpi_min_rtt",
    "tcpi_snd_wnd",
    "tcpi_rcv_wnd",
    "tcpi_dsack_dups",
    "tcpi_reord_seen",
    "tcpi_delivered",
    "tcpi_delivered_ce",
    "tcpi_busy_time",
    "tcpi_rwnd_limited",
    "tcpi_sndbuf_limited",
    "tcpi_pacing_rate",
    "tcpi_max_pacing_rate",
];

/// The `SO_MEMINFO` values packetdrill also provides, which the runner takes from the
/// socket's buffer sizes (`sk_rcvbuf`, `sk_sndbuf`).
pub(crate) const MEMINFO: &[&str] = &["SK_MEMINFO_RCVBUF", "SK_MEMINFO_SNDBUF"];

/// The `tcpi_*` variables of a [`synack::TcpInfo`], named as Linux's `struct tcp_info`.
pub(crate) fn tcpi_vars(i: &synack::TcpInfo) -> Vars {
    let v: [(&str, i64); 46] = [
        ("tcpi_state", i.state.into()),
        ("tcpi_ca_state", i.ca_state.into()),
        ("tcpi_retransmits", i.retransmits.into()),
        ("tcpi_probes", i.probes.into()),
        ("tcpi_backoff", i.backoff.into()),
        ("tcpi_options", i.options.into()),
        ("tcpi_snd_wscale", i.snd_wscale.into()),
        ("tcpi_rcv_wscale", i.rcv_wscale.into()),
        ("tcpi_rto", i.rto.into()),
        ("tcpi_ato", i.ato.into()),
        ("tcpi_snd_mss", i.snd_mss.into()),
        ("tcpi_rcv_mss", i.rcv_mss.into()),
        ("tcpi_rcv_ssthresh", i.rcv_ssthresh.into()),
        ("tcpi_rcv_space", i.rcv_space.into()),
        ("tcpi_unacked", i.unacked.into()),
        ("tcpi_sacked", i.sacked.into()),
        ("tcpi_lost", i.lost.into()),
        ("tcpi_retrans", i.retrans.into()),
        ("tcpi_last_data_sent", i.last_data_sent.into()),
        ("tcpi_last_data_recv", i.last_data_recv.into()),
        ("tcpi_last_ack_recv", i.last_ack_recv.into()),
        ("tcpi_pmtu", i.pmtu.into()),
        ("tcpi_rtt", i.rtt.into()),
        ("tcpi_rttvar", i.rttvar.into()),
        ("tcpi_snd_ssthresh", i.snd_ssthresh.into()),
        ("tcpi_snd_cwnd", i.snd_cwnd.into()),
        ("tcpi_advmss", i.advmss.into()),
        ("tcpi_reordering", i.reordering.into()),
        ("tcpi_total_retrans", i.total_retrans.into()),
        ("tcpi_bytes_acked", i.bytes_acked as i64),
        ("tcpi_bytes_received", i.bytes_received as i64),
        ("tcpi_segs_out", i.segs_out.into()),
        ("tcpi_segs_in", i.segs_in.into()),
        ("tcpi_notsent_bytes", i.notsent_bytes.into()),
        ("tcpi_min_rtt", i.min_rtt.into()),
        ("tcpi_snd_wnd", i.snd_wnd.into()),
        ("tcpi_rcv_wnd", i.rcv_wnd.into()),
        ("tcpi_dsack_dups", i.dsack_dups.into()),
        ("tcpi_reord_seen", i.reord_seen.into()),
        ("tcpi_delivered", i.delivered.into()),
        ("tcpi_delivered_ce", i.delivered_ce.into()),
        ("tcpi_busy_time", i.busy_time as i64),
        ("tcpi_rwnd_limited", i.rwnd_limited as i64),
        ("tcpi_sndbuf_limited", i.sndbuf_limited as i64),
        // Linux's ~0 ("unlimited") is past i64: the largest value stands for it.
        (
            "tcpi_pacing_rate",
            i64::try_from(i.pacing_rate).unwrap_or(i64::MAX),
        ),
        (
            "tcpi_max_pacing_rate",
            i64::try_from(i.max_pacing_rate).unwrap_or(i64::MAX),
        ),
    ];
    debug_assert_eq!(v.len(), FIELDS.len());
    v.into_iter().map(|(k, x)| (k.to_string(), x)).collect()
}

/// The constants of packetdrill's preamble: Linux's TCP state numbers, congestion
/// states and `tcpi_options` bits.
pub(crate) const CONSTS: &[(&str, i64)] = &[
    ("TCP_ESTABLISHED", 1),
    ("TCP_SYN_SENT", 2),
    ("TCP_SYN_RECV", 3),
    ("TCP_FIN_WAIT1", 4),
    ("TCP_FIN_WAIT2", 5),
    ("TCP_TIME_WAIT", 6),
    ("TCP_CLOSE", 7),
    ("TCP_CLOSE_WAIT", 8),
    ("TCP_LAST_ACK", 9),
    ("TCP_LISTEN", 10),
    ("TCP_CLOSING", 11),
    ("TCP_CA_Open", 0),
    ("TCP_CA_Disorder", 1),
    ("TCP_CA_CWR", 2),
    ("TCP_CA_Recovery", 3),
    ("TCP_CA_Loss", 4),
    ("TCPI_OPT_TIMESTAMPS", 1),
    ("TCPI_OPT_SACK", 2),
    ("TCPI_OPT_WSCALE", 4),
    ("TCPI_OPT_ECN", 8),
    ("TCPI_OPT_ECN_SEEN", 16),
    ("TCPI_OPT_SYN_DATA", 32),
    ("TCPI_OPT_USEC_TS", 64),
    ("TCPI_OPT_TFO_CHILD", 128),
];

#[derive(Debug, Clone, PartialEq)]
enum T {
    Int(i64),
    Name(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<T>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    const OPS: [&str; 20] = [
        "<<", ">>", "<=", ">=", "==", "!=", "//", "<", ">", "+", "-", "*", "(", ")", ",", "%", "&",
        "|", "^", "~",
    ];
    'outer: while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
            continue;
        }
        if c[i].is_ascii_digit() {
            let mut j = i;
            while j < c.len() && (c[j].is_ascii_alphanumeric()) {
                j += 1;
            }
            let t: String = c[i..j].iter().collect();
            let v = crate::parser::parse_int(&t).ok_or(format!("bad number `{t}`"))?;
            out.push(T::Int(v));
            i = j;
            continue;
        }
        if c[i].is_ascii_alphabetic() || c[i] == '_' {
            let mut j = i;
            while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            out.push(T::Name(c[i..j].iter().collect()));
            i = j;
            continue;
        }
        if c[i] == '\'' || c[i] == '"' {
            // A string literal can only be part of an assert message: keep a marker.
            let q = c[i];
            let mut j = i + 1;
            while j < c.len() && c[j] != q {
                j += 1;
            }
            out.push(T::Name("<string>".into()));
            i = j + 1;
            continue;
        }
        for op in OPS {
            let oc: Vec<char> = op.chars().collect();
            if c[i..].starts_with(&oc) {
                out.push(T::Op(op));
                i += oc.len();
                continue 'outer;
            }
        }
        return Err(format!("unsupported character `{}` in %{{ }}% code", c[i]));
    }
    Ok(out)
}

/// One statement: an assert (its condition's tokens) or an assignment.
#[derive(Debug, Clone)]
pub(crate) struct Assert {
    cond: Vec<T>,
    text: String,
    /// `Some(name)` for `name = expr`.
    assign: Option<String>,
}

/// `name OP= expr` (OP one of `+ - *`) as the name and the expression `name OP (expr)`.
fn augmented_assignment(stmt: &str) -> Option<(String, String)> {
    let (lhs, expr) = stmt.split_once("=")?;
    let lhs = lhs.trim_end();
    let op = lhs
        .chars()
        .last()
        .filter(|c| matches!(c, '+' | '-' | '*'))?;
    let name = lhs[..lhs.len() - 1].trim();
    let word = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (word && !expr.starts_with('=')).then(|| (name.to_string(), format!("{name} {op} ({expr})")))
}

/// Variables: `tcpi_*` fields and the script's own names.
pub(crate) type Vars = HashMap<String, i64>;

/// Parses a code block into its asserts, or says why it is unsupported. `defined` holds
/// the names earlier blocks assigned (packetdrill runs every block in one Python
/// namespace, so a constant set in one is seen by the next); this block's are added.
pub(crate) fn parse(code: &str, defined: &mut Vec<String>) -> Result<Vec<Assert>, String> {
    let mut out = Vec::new();
    let joined = code.replace("\\\n", " ");
    for line in joined.lines() {
        let line = match line.find('#') {
            Some(k) => &line[..k],
            None => line,
        };
        for stmt in line.split(';') {
            let stmt = stmt.trim();
            if stmt.is_empty() {
                continue;
            }
            if stmt.starts_with("print(") {
                continue;
            }
            // Python's augmented assignment, `name += expr`: `name = name + (expr)`.
            let augmented = augmented_assignment(stmt);
            let (rest, assign) = match stmt.strip_prefix("assert ") {
                Some(rest) => (rest, None),
                None if augmented.is_some() => {
                    let (name, expr) = augmented.as_ref().expect("checked");
                    (expr.as_str(), Some(name.clone()))
                }
                None => match stmt.split_once('=') {
                    Some((name, rest))
                        if !rest.starts_with('=')
                            && !name.trim().is_empty()
                            && name
                                .trim()
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        (rest, Some(name.trim().to_string()))
                    }
                    _ => {
                        return Err(format!(
                            "%{{ }}% code `{stmt}`: only `assert`, `name = value` and \
                             `print()` statements are supported"
                        ))
                    }
                },
            };
            let toks = tokenize(rest)?;
            // The message after the top-level comma is not evaluated.
            let mut depth = 0;
            let mut end = toks.len();
            for (k, t) in toks.iter().enumerate() {
                match t {
                    T::Op("(") => depth += 1,
                    T::Op(")") => depth -= 1,
                    T::Op(",") if depth == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            let cond = toks[..end].to_vec();
            for t in &cond {
                if let T::Name(n) = t {
                    let known = FIELDS.contains(&n.as_str())
                        || MEMINFO.contains(&n.as_str())
                        || CONSTS.iter().any(|(c, _)| c == n)
                        || defined.contains(n)
                        || matches!(n.as_str(), "and" | "or" | "not");
                    if !known {
                        return Err(if n.starts_with("tcpi_") {
                            format!("%{{ }}% uses `{n}`, which the engine's TcpInfo does not keep")
                        } else {
                            format!("%{{ }}% uses `{n}`, which is not supported")
                        });
                    }
                }
            }
            let a = Assert {
                cond,
                text: stmt.to_string(),
                assign,
            };
            // Validate the syntax now, with dummy values (ones, so that nothing divides by
            // zero).
            let mut ones: Vars = FIELDS
                .iter()
                .chain(MEMINFO)
                .map(|f| (f.to_string(), 1))
                .collect();
            for d in defined.iter() {
                ones.insert(d.clone(), 1);
            }
            a.eval(&ones)?;
            if let Some(n) = &a.assign {
                defined.push(n.clone());
            }
            out.push(a);
        }
    }
    Ok(out)
}

impl Assert {
    /// The name a `name = value` statement assigns.
    pub(crate) fn assigned(&self) -> Option<&str> {
        self.assign.as_deref()
    }

    /// The statement as written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Runs the statement: an assignment updates `vars` and is `Ok(true)`; an assert is
    /// `Ok(false)` when it fails.
    pub(crate) fn run(&self, vars: &mut Vars) -> Result<bool, String> {
        let mut p = Eval {
            t: &self.cond,
            i: 0,
            vars,
        };
        let v = p.or()?;
        if p.i != self.cond.len() {
            return Err(format!("cannot evaluate `{}`", self.text));
        }
        match &self.assign {
            Some(n) => {
                vars.insert(n.clone(), v);
                Ok(true)
            }
            None => Ok(v != 0),
        }
    }

    /// Evaluates the condition with `vars`; `Ok(false)` is a failed assert.
    pub(crate) fn eval(&self, vars: &Vars) -> Result<bool, String> {
        let mut p = Eval {
            t: &self.cond,
            i: 0,
            vars,
        };
        let v = p.or()?;
        if p.i != self.cond.len() {
            return Err(format!("cannot evaluate `{}`", self.text));
        }
        Ok(v != 0)
    }
}

struct Eval<'a> {
    t: &'a [T],
    i: usize,
    vars: &'a Vars,
}

impl Eval<'_> {
    fn is(&self, op: &str) -> bool {
        matches!(self.t.get(self.i), Some(T::Op(o)) if *o == op)
            || matches!(self.t.get(self.i), Some(T::Name(n)) if n == op)
    }

    fn or(&mut self) -> Result<i64, String> {
        let mut v = self.and()?;
        while self.is("or") {
            self.i += 1;
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<i64, String> {
        let mut v = self.not()?;
        while self.is("and") {
            self.i += 1;
            let r = self.not()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<i64, String> {
        if self.is("not") {
            self.i += 1;
            return Ok(i64::from(self.not()? == 0));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<i64, String> {
        let mut left = self.bitor()?;
        let mut result = true;
        let mut any = false;
        while let Some(T::Op(op @ ("<" | "<=" | ">" | ">=" | "==" | "!="))) = self.t.get(self.i) {
            self.i += 1;
            let right = self.bitor()?;
            let ok = match *op {
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                ">=" => left >= right,
                "==" => left == right,
                _ => left != right,
            };
            result &= ok;
            any = true;
            left = right;
        }
        Ok(if any { i64::from(result) } else { left })
    }

    /// A left-associative level of binary operators `ops` over `next`.
    fn level(
        &mut self,
        ops: &[&str],
        next: fn(&mut Self) -> Result<i64, String>,
        apply: fn(&str, i64, i64) -> Result<i64, String>,
    ) -> Result<i64, String> {
        let mut v = next(self)?;
        while let Some(T::Op(op)) = self.t.get(self.i) {
            if !ops.contains(op) {
                break;
            }
            self.i += 1;
            let r = next(self)?;
            v = apply(op, v, r)?;
        }
        Ok(v)
    }

    fn bitor(&mut self) -> Result<i64, String> {
        self.level(&["|"], Self::bitxor, |_, a, b| Ok(a | b))
    }

    fn bitxor(&mut self) -> Result<i64, String> {
        self.level(&["^"], Self::bitand, |_, a, b| Ok(a ^ b))
    }

    fn bitand(&mut self) -> Result<i64, String> {
        self.level(&["&"], Self::shift, |_, a, b| Ok(a & b))
    }

    fn shift(&mut self) -> Result<i64, String> {
        self.level(&["<<", ">>"], Self::sum, |op, a, b| {
            let n = u32::try_from(b).map_err(|_| "negative shift count in %{ }%".to_string())?;
            Ok(if op == "<<" {
                a.checked_shl(n).unwrap_or(0)
            } else {
                a.checked_shr(n).unwrap_or(if a < 0 { -1 } else { 0 })
            })
        })
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.prod()?;
        while let Some(T::Op(op @ ("+" | "-"))) = self.t.get(self.i) {
            self.i += 1;
            let r = self.prod()?;
            v = if *op == "+" {
                v.wrapping_add(r)
            } else {
                v.wrapping_sub(r)
            };
        }
        Ok(v)
    }

    fn prod(&mut self) -> Result<i64, String> {
        self.level(&["*", "//", "%"], Self::atom, |op, a, b| {
            if op == "*" {
                return Ok(a.wrapping_mul(b));
            }
            if b == 0 {
                return Err("division by zero in %{ }%".into());
            }
            // Python floors: the quotient rounds down, the remainder takes the
            // divisor's sign.
            let q = a.div_euclid(b) - i64::from(b < 0 && a.rem_euclid(b) != 0);
            Ok(if op == "//" { q } else { a - b * q })
        })
    }

    fn atom(&mut self) -> Result<i64, String> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(T::Int(v)) => Ok(v),
            Some(T::Op("-")) => Ok(self.atom()?.wrapping_neg()),
            Some(T::Op("+")) => self.atom(),
            Some(T::Op("~")) => Ok(!self.atom()?),
            Some(T::Op("(")) => {
                let v = self.or()?;
                if !self.is(")") {
                    return Err("expected `)` in %{ }%".into());
                }
                self.i += 1;
                Ok(v)
            }
            Some(T::Name(n)) => {
                if let Some((_, v)) = CONSTS.iter().find(|(c, _)| *c == n) {
                    return Ok(*v);
                }
                self.vars
                    .get(n.as_str())
                    .copied()
                    .ok_or(format!("`{n}` has no value"))
            }
            _ => Err("unexpected end of a %{ }% expression".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_and_messages() {
        let a = parse("assert 990 <= tcpi_snd_cwnd <= 1010, tcpi_snd_cwnd\nassert tcpi_state == TCP_ESTABLISHED, 'x=%d' % tcpi_state", &mut Vec::new()).unwrap();
        let mut v: Vars = HashMap::new();
        v.insert("tcpi_snd_cwnd".into(), 1000);
        v.insert("tcpi_state".into(), 1);
        assert!(a[0].eval(&v).unwrap());
        assert!(a[1].eval(&v).unwrap());
        v.insert("tcpi_snd_cwnd".into(), 5);
        assert!(!a[0].eval(&v).unwrap());
    }

    #[test]
    fn assignments_and_print() {
        let a = parse(
            "INF = 0x7fffffff\nprint(tcpi_foo)\nassert tcpi_snd_ssthresh == INF",
            &mut Vec::new(),
        )
        .unwrap();
        let mut v: Vars = HashMap::new();
        v.insert("tcpi_snd_ssthresh".into(), 0x7fff_ffff);
        assert!(a.iter().all(|s| s.run(&mut v).unwrap()));
        assert!(parse("assert X == 1", &mut Vec::new()).is_err());
        // A name one block assigns is known to the next (one Python namespace).
        let mut defined = Vec::new();
        parse("X = 1", &mut defined).unwrap();
        assert!(parse("assert X == 1", &mut defined).is_ok());
    }

    #[test]
    fn augmented_assignment_updates_a_name() {
        let a = parse(
            "cwnd = 58; cwnd += 1; cwnd -= 2 * 3; assert cwnd == 53 and cwnd != 58",
            &mut Vec::new(),
        )
        .unwrap();
        let mut v: Vars = HashMap::new();
        assert!(a.iter().all(|s| s.run(&mut v).unwrap()));
        assert_eq!(v["cwnd"], 53);
        // As in Python, the name must exist first; `==` is no assignment.
        assert!(parse("n += 1", &mut Vec::new()).is_err());
        assert!(parse("assert 1 += 1", &mut Vec::new()).is_err());
    }

    #[test]
    fn bit_operators_and_python_precedence() {
        let a = parse(
            "assert (tcpi_options & TCPI_OPT_SACK) != 0\n\
             assert tcpi_options & TCPI_OPT_SYN_DATA == 0\n\
             assert 1 | 2 ^ 3 & 6 << 1 == 3\n\
             assert -7 // 2 == -4 and -7 % 2 == 1 and 7 % -2 == -1 and ~5 == -6\n\
             assert tcpi_ca_state == TCP_CA_Recovery",
            &mut Vec::new(),
        )
        .unwrap();
        let mut v: Vars = HashMap::new();
        v.insert("tcpi_options".into(), 7);
        v.insert("tcpi_ca_state".into(), 3);
        // In Python (unlike C) `&` binds tighter than `==`: `(7 & 32) == 0`.
        assert_eq!(
            a.iter().map(|s| s.eval(&v).unwrap()).collect::<Vec<_>>(),
            [true, true, true, true, true]
        );
        v.insert("tcpi_options".into(), 32);
        assert!(!a[1].eval(&v).unwrap());
        v.insert("tcpi_ca_state".into(), 0);
        assert!(!a[4].eval(&v).unwrap());
    }

    #[test]
    fn unsupported() {
        assert!(parse("assert tcpi_rcv_rtt == 1", &mut Vec::new())
            .unwrap_err()
            .contains("tcpi_rcv_rtt"));
        assert!(parse("import os", &mut Vec::new()).is_err());
    }
}
