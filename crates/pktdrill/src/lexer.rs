//! The lexer: script text to tokens, each with its line and whether whitespace precedes it.
//!
//! Comments (`// ...` and `/* ... */`) and whitespace vanish. Backtick blocks, `%{ ... }%`
//! code blocks and `--option` lines (at the start of a line) come out whole. Everything
//! else is a number, a word, a string, `...`, or one punctuation character; a character the
//! language does not use is still a token (the parser decides), so lexing only fails on an
//! unterminated comment, string, backtick or code block.

use crate::ParseError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A number as written: decimal, `0x` hex, or a float such as `0.100` or `.1`.
    Num(String),
    /// A word: `[A-Za-z_][A-Za-z0-9_]*`.
    Ident(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// `...`.
    Ellipsis,
    /// A `` `shell` `` block's text.
    Shell(String),
    /// A `%{ python }%` block's text.
    Code(String),
    /// A `--name[=value]` line at the start of a line.
    Opt(String),
    /// Any other single character.
    Punct(char),
}

/// A token with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based line of its first character.
    pub line: usize,
    /// Whitespace or a comment comes right before it.
    pub space_before: bool,
}

impl Token {
    /// The token's text, for messages and for gluing flag words back together.
    pub fn text(&self) -> String {
        match &self.tok {
            Tok::Num(s) | Tok::Ident(s) => s.clone(),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Ellipsis => "...".into(),
            Tok::Shell(s) => format!("`{s}`"),
            Tok::Code(s) => format!("%{{{s}}}%"),
            Tok::Opt(s) => format!("--{s}"),
            Tok::Punct(c) => c.to_string(),
        }
    }
}

/// Splits `src` into tokens; `file` names it in errors.
pub fn lex(file: &str, src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut space = true;
    let mut line_start = true;
    let err = |line: usize, msg: &str| ParseError {
        file: file.to_string(),
        line,
        message: msg.to_string(),
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            space = true;
            line_start = true;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            space = true;
            continue;
        }
        let at = i;
        let start_line = line;
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        if c == '/' && next == Some('*') {
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err(err(start_line, "unterminated /* comment"));
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            space = true;
            continue;
        }
        let tok = if c == '-' && next == Some('-') && line_start {
            let mut j = i + 2;
            while j < chars.len() && chars[j] != '\n' {
                j += 1;
            }
            let text: String = chars[i + 2..j].iter().collect();
            i = j;
            // A trailing comment on an option line is not part of the value.
            let text = match text.find("//") {
                Some(k) => text[..k].to_string(),
                None => text,
            };
            Tok::Opt(text.trim().to_string())
        } else if c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '`' {
                if chars[j] == '\n' {
                    line += 1;
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(err(start_line, "unterminated ` shell command"));
            }
            let text: String = chars[i + 1..j].iter().collect();
            i = j + 1;
            Tok::Shell(text)
        } else if c == '%' && next == Some('{') {
            let mut j = i + 2;
            while j + 1 < chars.len() && !(chars[j] == '}' && chars[j + 1] == '%') {
                if chars[j] == '\n' {
                    line += 1;
                }
                j += 1;
            }
            if j + 1 >= chars.len() {
                return Err(err(start_line, "unterminated %{ code block (expected }%)"));
            }
            let text: String = chars[i + 2..j].iter().collect();
            i = j + 2;
            Tok::Code(text)
        } else if c == '"' {
            let mut s = String::new();
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None | Some('\n') => return Err(err(start_line, "unterminated string")),
                    Some('"') => break,
                    Some('\\') if chars.get(j + 1) == Some(&'x') => {
                        // `\xNN`: a byte, kept as the char of that code point (the
                        // TCP_FASTOPEN_KEY strings).
                        let hex: String = chars[j + 2..].iter().take(2).collect();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b) if hex.len() == 2 => {
                                s.push(char::from(b));
                                j += 4;
                            }
                            _ => {
                                s.push('x');
                                j += 2;
                            }
                        }
                    }
                    Some('\\') => {
                        let e = chars.get(j + 1).copied().unwrap_or('\\');
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            '0' => '\0',
                            other => other,
                        });
                        j += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            Tok::Str(s)
        } else if c == '.' && next == Some('.') && chars.get(i + 2) == Some(&'.') {
            i += 3;
            Tok::Ellipsis
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|d| d.is_ascii_digit())) {
            let mut j = i;
            if c == '0' && matches!(next, Some('x') | Some('X')) {
                j += 2;
                while j < chars.len() && chars[j].is_ascii_hexdigit() {
                    j += 1;
                }
            } else {
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                if j < chars.len()
                    && chars[j] == '.'
                    && chars.get(j + 1).is_some_and(|d| d.is_ascii_digit())
                {
                    j += 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            let text: String = chars[i..j].iter().collect();
            i = j;
            Tok::Num(text)
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let text: String = chars[i..j].iter().collect();
            i = j;
            Tok::Ident(text)
        } else {
            i += 1;
            Tok::Punct(c)
        };
        debug_assert!(i > at);
        out.push(Token {
            tok,
            line: start_line,
            space_before: space,
        });
        space = false;
        line_start = false;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex("t", s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn blocking_time_and_floats() {
        assert_eq!(
            toks("+0...0.200 +.1"),
            vec![
                Tok::Punct('+'),
                Tok::Num("0".into()),
                Tok::Ellipsis,
                Tok::Num("0.200".into()),
                Tok::Punct('+'),
                Tok::Num(".1".into()),
            ]
        );
    }

    #[test]
    fn comments_and_blocks() {
        let t = toks("--tolerance_usecs=10000\n// c\n/* a\nb */ `x\ny` %{ assert 1 }%");
        assert_eq!(
            t,
            vec![
                Tok::Opt("tolerance_usecs=10000".into()),
                Tok::Shell("x\ny".into()),
                Tok::Code(" assert 1 ".into()),
            ]
        );
    }

    #[test]
    fn unterminated_is_an_error() {
        let e = lex("f.pkt", "0 socket(\n/* oops").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unterminated"));
    }
}
