//! The parser: tokens to a [`Script`]. Errors name the file and line and say what was
//! expected.

use crate::ast::*;
use crate::lexer::{lex, Tok, Token};
use crate::ParseError;

/// Parses a whole script; `file` names it in errors.
pub fn parse(file: &str, src: &str) -> Result<Script, ParseError> {
    parse_with_defines(file, src, &[])
}

/// Parses a whole script with text macros (`-D NAME=VALUE`): a word `NAME` anywhere in
/// the script's events stands for the tokens of `VALUE`. The script's own
/// `--define=NAME=VALUE` lines add to `defines`, which win over them.
pub fn parse_with_defines(
    file: &str,
    src: &str,
    defines: &[(String, String)],
) -> Result<Script, ParseError> {
    let tokens = expand_defines(file, lex(file, src)?, defines)?;
    let mut p = Parser {
        file,
        toks: tokens,
        pos: 0,
    };
    p.script()
}

/// Replaces each word that a define names with the tokens of its value.
fn expand_defines(
    file: &str,
    tokens: Vec<Token>,
    cli: &[(String, String)],
) -> Result<Vec<Token>, ParseError> {
    let mut defs: Vec<(String, String)> = Vec::new();
    for t in &tokens {
        let Tok::Opt(text) = &t.tok else { continue };
        let Some(rest) = text
            .strip_prefix("define=")
            .or_else(|| text.strip_prefix("define "))
        else {
            continue;
        };
        match rest.trim().split_once('=') {
            Some((n, v)) => defs.push((n.trim().to_string(), v.trim().to_string())),
            None => {
                return Err(ParseError {
                    file: file.to_string(),
                    line: t.line,
                    message: format!("--define needs NAME=VALUE, got `{rest}`"),
                })
            }
        }
    }
    defs.extend(cli.iter().cloned());
    if defs.is_empty() {
        return Ok(tokens);
    }
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        let value = match &t.tok {
            Tok::Ident(w) => defs.iter().rev().find(|(n, _)| n == w).map(|(_, v)| v),
            _ => None,
        };
        let Some(value) = value else {
            out.push(t);
            continue;
        };
        let mut first = true;
        for mut v in lex(file, value)? {
            v.line = t.line;
            if first {
                v.space_before = t.space_before;
                first = false;
            }
            out.push(v);
        }
    }
    Ok(out)
}

struct Parser<'a> {
    file: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

type R<T> = Result<T, ParseError>;

/// Parses a number as written (decimal or `0x` hex) into an integer.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Seconds as written (`0.100`, `.1`, `2`) to microseconds.
fn parse_secs(s: &str) -> Option<i64> {
    if s.starts_with("0x") {
        return None;
    }
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    let frac: i64 = frac.parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(frac)
}

impl Parser<'_> {
    fn err<T>(&self, line: usize, msg: impl Into<String>) -> R<T> {
        Err(ParseError {
            file: self.file.to_string(),
            line,
            message: msg.into(),
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, k: usize) -> Option<&Token> {
        self.toks.get(self.pos + k)
    }

    fn line(&self) -> usize {
        self.peek()
            .or_else(|| self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("`{}`", t.text()),
            None => "end of file".into(),
        }
    }

    fn expect_punct(&mut self, c: char, what: &str) -> R<()> {
        if self.is_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(
                self.line(),
                format!("expected `{c}` {what}, found {}", self.found()),
            )
        }
    }

    fn script(&mut self) -> R<Script> {
        let mut s = Script::default();
        while let Some(t) = self.peek().cloned() {
            match t.tok {
                Tok::Opt(text) => {
                    if !s.events.is_empty() {
                        return self.err(t.line, "option lines must come before the first event");
                    }
                    let (name, value) = match text.split_once('=') {
                        Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
                        None => (text.trim().to_string(), None),
                    };
                    s.options.push((name, value, t.line));
                    self.pos += 1;
                }
                Tok::Shell(text) if s.events.is_empty() => {
                    match &mut s.init {
                        Some((prev, _)) => {
                            prev.push('\n');
                            prev.push_str(&text);
                        }
                        None => s.init = Some((text, t.line)),
                    }
                    self.pos += 1;
                }
                Tok::Shell(text) => {
                    self.pos += 1;
                    if self.peek().is_some() {
                        return self.err(
                            t.line,
                            "a `command` without a time is only allowed before the first event \
                             (init) or after the last (cleanup)",
                        );
                    }
                    s.cleanup = Some((text, t.line));
                }
                _ => s.events.push(self.event()?),
            }
        }
        if s.events.is_empty() {
            return self.err(self.line(), "expected at least one timed event");
        }
        Ok(s)
    }

    fn number(&mut self, what: &str) -> R<String> {
        match self.peek() {
            Some(Token {
                tok: Tok::Num(n), ..
            }) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => self.err(
                self.line(),
                format!("expected {what}, found {}", self.found()),
            ),
        }
    }

    fn secs(&mut self, what: &str) -> R<i64> {
        let line = self.line();
        let n = self.number(what)?;
        match parse_secs(&n) {
            Some(v) => Ok(v),
            None => self.err(line, format!("bad time `{n}`: expected seconds like 0.100")),
        }
    }

    fn time(&mut self) -> R<TimeSpec> {
        if self.is_punct('*') {
            self.pos += 1;
            return Ok(TimeSpec::Any);
        }
        let relative = self.is_punct('+');
        if relative {
            self.pos += 1;
        }
        let start = self.secs("a time (like `0`, `+0.1`, `*` or `+0...0.2`) to start an event")?;
        if self.is_punct('~') {
            self.pos += 1;
            let rel_end = self.is_punct('+');
            if rel_end {
                self.pos += 1;
            }
            let end = self.secs("the end of a time range")?;
            if rel_end != relative {
                return self.err(
                    self.line(),
                    "both ends of a time range must be relative (+a~+b) or absolute (a~b)",
                );
            }
            return Ok(if relative {
                TimeSpec::RelRange(start, end)
            } else {
                TimeSpec::AbsRange(start, end)
            });
        }
        if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::Ellipsis,
                ..
            })
        ) {
            self.pos += 1;
            let end = self.secs("the return time of a blocking call after `...`")?;
            return Ok(TimeSpec::Blocking {
                start,
                end,
                relative,
            });
        }
        Ok(if relative {
            TimeSpec::Rel(start)
        } else {
            TimeSpec::Abs(start)
        })
    }

    fn event(&mut self) -> R<Event> {
        let line = self.line();
        let time = self.time()?;
        let Some(t) = self.peek().cloned() else {
            return self.err(line, "expected an action after the time, found end of file");
        };
        let action = match &t.tok {
            Tok::Punct('<') | Tok::Punct('>') => Action::Packet(self.packet()?),
            Tok::Ident(_)
                if matches!(
                    self.peek_at(1),
                    Some(Token {
                        tok: Tok::Punct('('),
                        ..
                    })
                ) =>
            {
                Action::Syscall(self.syscall()?)
            }
            Tok::Shell(s) => {
                self.pos += 1;
                Action::Shell(s.clone())
            }
            Tok::Code(s) => {
                self.pos += 1;
                Action::Code(s.clone())
            }
            _ => {
                return self.err(
                    t.line,
                    format!(
                        "expected a packet (`<` or `>`), a system call, a `command` or \
                         %{{ code }}% after the time, found {}",
                        self.found()
                    ),
                )
            }
        };
        Ok(Event { line, time, action })
    }

    // ----- packets -----

    fn packet(&mut self) -> R<Packet> {
        let dir_tok = self.toks[self.pos].clone();
        self.pos += 1;
        let direction = if dir_tok.tok == Tok::Punct('<') {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let start = self.pos;
        while self.peek().is_some_and(|t| t.line == dir_tok.line) {
            self.pos += 1;
        }
        let toks: Vec<Token> = self.toks[start..self.pos].to_vec();
        let mut lp = crate::packet::LineParser {
            file: self.file,
            toks: &toks,
            i: 0,
            line: dir_tok.line,
        };
        lp.packet(direction)
    }

    // ----- syscalls -----

    fn ident(&mut self, what: &str) -> R<String> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.err(
                self.line(),
                format!("expected {what}, found {}", self.found()),
            ),
        }
    }

    fn syscall(&mut self) -> R<Syscall> {
        let name = self.ident("a system call name")?;
        self.expect_punct('(', "after the system call name")?;
        let args = self.list(')', "the system call's arguments")?;
        self.expect_punct('=', "and the expected result after the system call")?;
        let result = self.expr()?;
        let mut errno = None;
        if let Some(Token {
            tok: Tok::Ident(e), ..
        }) = self.peek()
        {
            if e.starts_with('E') && e.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                errno = Some(e.clone());
                self.pos += 1;
            }
        }
        if self.is_punct('(') {
            // The free-text note: skip it, balanced.
            let line = self.line();
            let mut depth = 0;
            loop {
                match self.peek() {
                    None => return self.err(line, "unterminated `(note)` after the result"),
                    Some(t) if t.tok == Tok::Punct('(') => depth += 1,
                    Some(t) if t.tok == Tok::Punct(')') => {
                        depth -= 1;
                        if depth == 0 {
                            self.pos += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                self.pos += 1;
            }
        }
        Ok(Syscall {
            name,
            args,
            result,
            errno,
        })
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn list(&mut self, close: char, what: &str) -> R<Vec<Expr>> {
        let mut out = Vec::new();
        if self.is_punct(close) {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.is_punct(',') {
                self.pos += 1;
                continue;
            }
            if self.is_punct(close) {
                self.pos += 1;
                return Ok(out);
            }
            return self.err(
                self.line(),
                format!(
                    "expected `,` or `{close}` in {what}, found {}",
                    self.found()
                ),
            );
        }
    }

    fn expr(&mut self) -> R<Expr> {
        let first = self.unary()?;
        if !self.is_punct('|') {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.is_punct('|') {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(Expr::Or(parts))
    }

    fn unary(&mut self) -> R<Expr> {
        let Some(t) = self.peek().cloned() else {
            return self.err(self.line(), "expected an expression, found end of file");
        };
        self.pos += 1;
        match t.tok {
            Tok::Punct('-') => {
                let n = self.number("a number after `-`")?;
                match parse_int(&n) {
                    Some(v) => Ok(Expr::Int(-v)),
                    None => self.err(t.line, format!("bad number `-{n}`")),
                }
            }
            Tok::Num(n) => match parse_int(&n) {
                Some(v) => Ok(Expr::Int(v)),
                None => self.err(t.line, format!("expected an integer, found `{n}`")),
            },
            Tok::Ellipsis => Ok(Expr::Ellipsis),
            Tok::Str(s) => {
                let more = matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::Ellipsis,
                        ..
                    })
                );
                if more {
                    self.pos += 1;
                }
                Ok(Expr::Str(s, more))
            }
            Tok::Ident(name) => {
                if self.is_punct('(') {
                    self.pos += 1;
                    let args = self.list(')', &format!("the arguments of `{name}`"))?;
                    Ok(Expr::Call(name, args))
                } else {
                    Ok(Expr::Sym(name))
                }
            }
            Tok::Punct('[') => Ok(Expr::Array(self.list(']', "an array")?)),
            Tok::Punct('{') => {
                let mut fields = Vec::new();
                if self.is_punct('}') {
                    self.pos += 1;
                    return Ok(Expr::Struct(fields));
                }
                loop {
                    let e = self.expr()?;
                    if self.is_punct('=') {
                        self.pos += 1;
                        let name = match e {
                            Expr::Sym(n) | Expr::Call(n, _) => n,
                            _ => {
                                return self
                                    .err(t.line, "expected a field name before `=` in a struct")
                            }
                        };
                        fields.push((Some(name), self.expr()?));
                    } else {
                        fields.push((None, e));
                    }
                    if self.is_punct(',') {
                        self.pos += 1;
                    } else if self.is_punct('}') {
                        self.pos += 1;
                        return Ok(Expr::Struct(fields));
                    } else {
                        return self.err(
                            self.line(),
                            format!("expected `,` or `}}` in a struct, found {}", self.found()),
                        );
                    }
                }
            }
            _ => self.err(
                t.line,
                format!(
                    "expected an expression (number, symbol, string, `...`, [array] or \
                     {{struct}}), found `{}`",
                    t.text()
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs() {
        assert_eq!(parse_secs("0.100"), Some(100_000));
        assert_eq!(parse_secs(".1"), Some(100_000));
        assert_eq!(parse_secs("2"), Some(2_000_000));
        assert_eq!(parse_secs("0.0000015"), Some(1));
    }
}
