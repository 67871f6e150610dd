//! The `%{ }%` subset: `assert` statements over `tcpi_*` fields, integers and the
//! `TCP_*` state constants, with comparison chains, `and`/`or`/`not`, `+ - * //` and
//! parentheses; `NAME = expr` assignments; `print(...)` (which checks nothing). Anything
//! else is unsupported.

use std::collections::HashMap;

/// `tcpi_*` fields the engine's [`synack::SocketInfo`] provides.
pub(crate) const FIELDS: &[&str] = &[
    "tcpi_state",
    "tcpi_snd_cwnd",
    "tcpi_snd_ssthresh",
    "tcpi_rto",
    "tcpi_snd_mss",
    "tcpi_rtt",
    "tcpi_rttvar",
    "tcpi_total_retrans",
    "tcpi_snd_wscale",
    "tcpi_rcv_wscale",
    "tcpi_bytes_acked",
    "tcpi_bytes_received",
    "tcpi_segs_out",
    "tcpi_segs_in",
];

/// Linux's TCP state numbers.
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
    const OPS: [&str; 14] = [
        "<=", ">=", "==", "!=", "//", "<", ">", "+", "-", "*", "(", ")", ",", "%",
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

/// Variables: `tcpi_*` fields and the script's own names.
pub(crate) type Vars = HashMap<String, i64>;

/// Parses a code block into its asserts, or says why it is unsupported.
pub(crate) fn parse(code: &str) -> Result<Vec<Assert>, String> {
    let mut out = Vec::new();
    let mut defined: Vec<String> = Vec::new();
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
            let (rest, assign) = match stmt.strip_prefix("assert ") {
                Some(rest) => (rest, None),
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
                        || CONSTS.iter().any(|(c, _)| c == n)
                        || defined.contains(n)
                        || matches!(n.as_str(), "and" | "or" | "not");
                    if !known {
                        return Err(if n.starts_with("tcpi_") {
                            format!("%{{ }}% uses `{n}`, which the engine's SocketInfo lacks")
                        } else {
                            format!("%{{ }}% uses `{n}`, which is not supported")
                        });
                    }
                }
                if *t == T::Op("%") {
                    return Err("%{ }% uses `%` outside an assert message".into());
                }
            }
            let a = Assert {
                cond,
                text: stmt.to_string(),
                assign,
            };
            // Validate the syntax now, with dummy values.
            let mut zeros: Vars = FIELDS.iter().map(|f| (f.to_string(), 0)).collect();
            for d in &defined {
                zeros.insert(d.clone(), 0);
            }
            a.eval(&zeros)?;
            if let Some(n) = &a.assign {
                defined.push(n.clone());
            }
            out.push(a);
        }
    }
    Ok(out)
}

impl Assert {
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
        let mut left = self.sum()?;
        let mut result = true;
        let mut any = false;
        while let Some(T::Op(op @ ("<" | "<=" | ">" | ">=" | "==" | "!="))) = self.t.get(self.i) {
            self.i += 1;
            let right = self.sum()?;
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
        let mut v = self.atom()?;
        while let Some(T::Op(op @ ("*" | "//"))) = self.t.get(self.i) {
            self.i += 1;
            let r = self.atom()?;
            v = if *op == "*" {
                v.wrapping_mul(r)
            } else if r == 0 {
                return Err("division by zero in %{ }%".into());
            } else {
                v.div_euclid(r)
            };
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<i64, String> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(T::Int(v)) => Ok(v),
            Some(T::Op("-")) => Ok(self.atom()?.wrapping_neg()),
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
        let a = parse("assert 990 <= tcpi_snd_cwnd <= 1010, tcpi_snd_cwnd\nassert tcpi_state == TCP_ESTABLISHED, 'x=%d' % tcpi_state").unwrap();
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
        let a =
            parse("INF = 0x7fffffff\nprint(tcpi_foo)\nassert tcpi_snd_ssthresh == INF").unwrap();
        let mut v: Vars = HashMap::new();
        v.insert("tcpi_snd_ssthresh".into(), 0x7fff_ffff);
        assert!(a.iter().all(|s| s.run(&mut v).unwrap()));
        assert!(parse("assert X == 1").is_err());
    }

    #[test]
    fn unsupported() {
        assert!(parse("assert tcpi_ca_state == 1")
            .unwrap_err()
            .contains("tcpi_ca_state"));
        assert!(parse("import os").is_err());
    }
}
