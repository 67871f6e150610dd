//! Expected results (`synack pktdrill run --expect FILE`): a list of the scripts of a
//! corpus that are known not to pass, so that a run reports only what is unexpected.
//!
//! The file is Markdown (`crates/pktdrill/CORPUS.md` is one): every table row whose first
//! cell names a `.pkt` script is an expectation, `| path | result | why |`, where result
//! is `fail` or `unsupported` and why says what Linux does that synack does not. Other
//! lines are prose and ignored. A row's path matches a script whose path ends with the
//! same components (`google-packetdrill/blocking/blocking-write.pkt` matches
//! `../shared/conformance/google-packetdrill/blocking/blocking-write.pkt`); the longest
//! matching row wins.
//!
//! A row may be for one IP version only: its first cell is the path followed by
//! `(IPv6)` or `(IPv4-mapped IPv6)`, as in `| google/a/x.pkt (IPv6) | fail | why |`.
//! Such a row is read only for a run in that version ([`Expectations::load_for`]),
//! where it replaces the plain row of the same script, if any; every other run ignores
//! it.
//!
//! A script that is not listed is expected to pass, or to be unsupported (an unsupported
//! script is never counted as passed; it names what the interpreter lacks). Anything else
//! is unexpected: a failure that is not listed, and a listed script that passes or gives
//! another result than its row says (the list is stale: remove or correct its row).

use std::fmt;
use std::path::Path;

use crate::{IpVersion, Outcome, ParseError};

/// What a row expects of its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The script fails.
    Fail,
    /// The script is unsupported.
    Unsupported,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Fail => "fail",
            Expected::Unsupported => "unsupported",
        })
    }
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The script's path as the row gives it, `/`-separated.
    pub path: String,
    /// The expected result.
    pub result: Expected,
    /// Why (the row's third cell; empty when none).
    pub why: String,
    /// 1-based line of the row in the file.
    pub line: usize,
}

/// How one script's outcome compares with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// As expected: a pass or an unsupported script that is not listed, or the listed
    /// result.
    AsExpected(Option<&'a Expectation>),
    /// A failure that is not listed.
    UnlistedFailure,
    /// A listed script whose result is not the row's.
    Differs(&'a Expectation),
}

impl Verdict<'_> {
    /// Whether this is [`Verdict::AsExpected`].
    pub fn is_expected(&self) -> bool {
        matches!(self, Verdict::AsExpected(_))
    }
}

/// The expectations of one file.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// The file's name, for messages.
    pub file: String,
    rows: Vec<Expectation>,
}

impl Expectations {
    /// Reads and parses the file at `path`; the error says what is wrong, with the line.
    pub fn load(path: &Path) -> Result<Expectations, String> {
        Expectations::load_for(path, IpVersion::Ipv4)
    }

    /// As [`Expectations::load`], for a run in `version`: the rows marked for that
    /// version replace the plain rows of their scripts.
    pub fn load_for(path: &Path, version: IpVersion) -> Result<Expectations, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Expectations::parse_for(&path.display().to_string(), &text, version)
            .map_err(|e| e.to_string())
    }

    /// Parses the text of a file named `file` (for an IPv4 run).
    pub fn parse(file: &str, text: &str) -> Result<Expectations, ParseError> {
        Expectations::parse_for(file, text, IpVersion::Ipv4)
    }

    /// Parses the text of a file named `file` for a run in `version`.
    pub fn parse_for(
        file: &str,
        text: &str,
        version: IpVersion,
    ) -> Result<Expectations, ParseError> {
        let tag = match version {
            IpVersion::Ipv4 => None,
            IpVersion::Ipv6 => Some("(IPv6)"),
            IpVersion::Ipv4MappedIpv6 => Some("(IPv4-mapped IPv6)"),
        };
        // Rows of this version's own, which replace plain rows of the same script.
        let mut own: Vec<Expectation> = Vec::new();
        let mut rows: Vec<Expectation> = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let line = i + 1;
            let l = l.trim();
            if !l.starts_with('|') {
                continue;
            }
            let cells: Vec<&str> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let mut path = cells[0];
            let mut mine = false;
            if let Some((p, v)) = path.split_once(" (") {
                if !p.ends_with(".pkt") {
                    continue;
                }
                // A row for one IP version: this run's, or none of its business.
                if tag != Some(&path[p.len() + 1..]) {
                    let known = ["(IPv6)", "(IPv4-mapped IPv6)"];
                    if !known.contains(&&path[p.len() + 1..]) {
                        return Err(ParseError {
                            file: file.to_string(),
                            line,
                            message: format!(
                                "{p}: `({v}` is no IP version: write `(IPv6)` or `(IPv4-mapped IPv6)`"
                            ),
                        });
                    }
                    continue;
                }
                path = p;
                mine = true;
            }
            if !path.ends_with(".pkt") {
                continue; // a header, a separator or another table
            }
            let err = |message: String| ParseError {
                file: file.to_string(),
                line,
                message,
            };
            let result = match cells.get(1).map(|c| c.to_ascii_lowercase()).as_deref() {
                Some("fail") => Expected::Fail,
                Some("unsupported") => Expected::Unsupported,
                other => {
                    return Err(err(format!(
                        "the result of {path} must be `fail` or `unsupported`, not `{}`",
                        other.unwrap_or("")
                    )))
                }
            };
            let path = path.replace('\\', "/");
            let list = if mine { &mut own } else { &mut rows };
            if let Some(first) = list.iter().find(|r| r.path == path) {
                return Err(err(format!(
                    "{path} is listed twice (first on line {})",
                    first.line
                )));
            }
            list.push(Expectation {
                path,
                result,
                why: cells.get(2).unwrap_or(&"").to_string(),
                line,
            });
        }
        rows.retain(|r| !own.iter().any(|o| o.path == r.path));
        rows.extend(own);
        Ok(Expectations {
            file: file.to_string(),
            rows,
        })
    }

    /// Every row, in the file's order.
    pub fn rows(&self) -> &[Expectation] {
        &self.rows
    }

    /// The row for `script`: the longest row path that ends `script`'s path.
    pub fn lookup(&self, script: &Path) -> Option<&Expectation> {
        let parts: Vec<String> = script
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        self.rows
            .iter()
            .filter(|r| {
                let want: Vec<&str> = r.path.split('/').filter(|p| !p.is_empty()).collect();
                want.len() <= parts.len()
                    && parts[parts.len() - want.len()..]
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a == b)
            })
            .max_by_key(|r| r.path.len())
    }

    /// How `outcome`, the result of `script`, compares with the file.
    pub fn judge(&self, script: &Path, outcome: &Outcome) -> Verdict<'_> {
        let row = self.lookup(script);
        match (row, outcome) {
            (None, Outcome::Pass | Outcome::Unsupported(_)) => Verdict::AsExpected(None),
            (None, Outcome::Fail(_)) => Verdict::UnlistedFailure,
            (Some(r), Outcome::Fail(_)) if r.result == Expected::Fail => {
                Verdict::AsExpected(Some(r))
            }
            (Some(r), Outcome::Unsupported(_)) if r.result == Expected::Unsupported => {
                Verdict::AsExpected(Some(r))
            }
            (Some(r), _) => Verdict::Differs(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;

    const FILE: &str = "\
# Corpus

| script | result | why |
|---|---|---|
| google/a/x.pkt | fail | timing |
| `google/b/y.pkt` | Unsupported | needs poll() |
| x.pkt | fail | any x.pkt |

Prose | with a bar, not a row.
";

    fn fail() -> Outcome {
        Outcome::Fail(Box::new(Failure::script_error(
            1,
            String::new(),
            "no".into(),
        )))
    }

    #[test]
    fn rows_are_the_table_lines_naming_scripts() {
        let e = Expectations::parse("C.md", FILE).unwrap();
        let rows: Vec<(&str, Expected, &str, usize)> = e
            .rows()
            .iter()
            .map(|r| (r.path.as_str(), r.result, r.why.as_str(), r.line))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("google/a/x.pkt", Expected::Fail, "timing", 5),
                ("google/b/y.pkt", Expected::Unsupported, "needs poll()", 6),
                ("x.pkt", Expected::Fail, "any x.pkt", 7),
            ]
        );
    }

    #[test]
    fn bad_rows_are_errors_with_their_line() {
        let e = Expectations::parse("C.md", "| a.pkt | flaky | |\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "C.md:1: the result of a.pkt must be `fail` or `unsupported`, not `flaky`"
        );
        let e = Expectations::parse("C.md", "| a.pkt | fail |\n\n| a.pkt | fail |").unwrap_err();
        assert_eq!(
            e.to_string(),
            "C.md:3: a.pkt is listed twice (first on line 1)"
        );
    }

    #[test]
    fn rows_match_path_suffixes_longest_first() {
        let e = Expectations::parse("C.md", FILE).unwrap();
        let path = |p: &str| e.lookup(Path::new(p)).map(|r| r.path.as_str());
        assert_eq!(path("../corpus/google/a/x.pkt"), Some("google/a/x.pkt"));
        assert_eq!(path("other/x.pkt"), Some("x.pkt"));
        assert_eq!(path("../corpus/google/b/y.pkt"), Some("google/b/y.pkt"));
        assert_eq!(path("corpus/google/c/y.pkt"), None);
        assert_eq!(path("google/a/xx.pkt"), None);
    }

    #[test]
    fn verdicts() {
        let e = Expectations::parse("C.md", FILE).unwrap();
        let unsupported = Outcome::Unsupported("poll".into());
        let x = Path::new("google/a/x.pkt");
        let y = Path::new("google/b/y.pkt");
        let z = Path::new("google/c/z.pkt");
        assert!(e.judge(x, &fail()).is_expected());
        assert_eq!(e.judge(x, &Outcome::Pass), Verdict::Differs(&e.rows()[0]));
        assert_eq!(e.judge(x, &unsupported), Verdict::Differs(&e.rows()[0]));
        assert!(e.judge(y, &unsupported).is_expected());
        assert_eq!(e.judge(y, &fail()), Verdict::Differs(&e.rows()[1]));
        assert_eq!(e.judge(z, &Outcome::Pass), Verdict::AsExpected(None));
        assert_eq!(e.judge(z, &unsupported), Verdict::AsExpected(None));
        assert_eq!(e.judge(z, &fail()), Verdict::UnlistedFailure);
    }

    #[test]
    fn rows_for_one_ip_version() {
        let text = "\
| google/a/x.pkt | fail | timing |
| google/a/x.pkt (IPv6) | unsupported | needs ICMPv4 |
| google/c/z.pkt (IPv6) | fail | names IPv4 addresses |
| google/d/w.pkt (IPv4-mapped IPv6) | fail | mapped only |
";
        let v4 = Expectations::parse("f", text).unwrap();
        assert_eq!(v4.rows().len(), 1, "IPv4 reads only the plain row");
        assert_eq!(v4.rows()[0].result, Expected::Fail);
        let v6 = Expectations::parse_for("f", text, IpVersion::Ipv6).unwrap();
        let paths: Vec<(&str, Expected)> = v6
            .rows()
            .iter()
            .map(|r| (r.path.as_str(), r.result))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("google/a/x.pkt", Expected::Unsupported),
                ("google/c/z.pkt", Expected::Fail)
            ]
        );
        let mapped = Expectations::parse_for("f", text, IpVersion::Ipv4MappedIpv6).unwrap();
        assert_eq!(mapped.rows().len(), 2);
        assert!(mapped.rows().iter().any(|r| r.path == "google/d/w.pkt"));
        let bad = Expectations::parse_for("f", "| a.pkt (IPv5) | fail | x |\n", IpVersion::Ipv6);
        assert!(
            bad.unwrap_err().message.contains("no IP version"),
            "an unknown tag is an error"
        );
    }
}
