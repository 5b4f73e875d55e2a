//! Glob patterns for selecting names (`discover --import --filter`): `*` any run of
//! characters, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one character of (or not of) a
//! set, `{a,b}` either alternative (not nested). A malformed pattern is refused when it is
//! given rather than matching nothing.

use crate::error::{quote, ValidationError};

/// A parsed glob: its alternatives after brace expansion, each a list of tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    alternatives: Vec<Vec<Token>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Set { negated: bool, ranges: Vec<(char, char)> },
}

impl Glob {
    /// Parses `pattern`.
    pub fn new(pattern: &str) -> Result<Self, ValidationError> {
        let bad = |problem: &str| {
            ValidationError::new(
                "glob",
                format!("{}: {problem}", quote(pattern)),
                "use * (any characters), ? (one), [a-z] or [!a-z] (one of a set), {a,b} (either), e.g. \"svc-{ci,cd}-*\"",
            )
        };
        let alternatives = expand(pattern).map_err(bad)?;
        let alternatives = alternatives.iter().map(|a| tokens(a)).collect::<Result<Vec<_>, _>>().map_err(bad)?;
        Ok(Self { alternatives })
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.alternatives.iter().any(|t| match_at(t, &name))
    }
}

/// Expands one `{a,b,…}` group (braces do not nest) into the patterns it stands for.
fn expand(pattern: &str) -> Result<Vec<String>, &'static str> {
    let Some(open) = pattern.find('{') else {
        return if pattern.contains('}') { Err("a } without its {") } else { Ok(vec![pattern.to_owned()]) };
    };
    let close = pattern[open..].find('}').map(|i| open + i).ok_or("a { without its }")?;
    let inner = &pattern[open + 1..close];
    if inner.contains('{') {
        return Err("nested { } groups are not supported");
    }
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut out = Vec::new();
    for alt in inner.split(',') {
        for rest in expand(tail)? {
            out.push(format!("{head}{alt}{rest}"));
        }
    }
    Ok(out)
}

fn tokens(pattern: &str) -> Result<Vec<Token>, &'static str> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::Any,
            ']' => return Err("a ] without its ["),
            '[' => {
                let negated = chars.next_if_eq(&'!').is_some();
                let mut ranges = Vec::new();
                loop {
                    match chars.next() {
                        None => return Err("a [ without its ]"),
                        Some(']') if !ranges.is_empty() => break,
                        Some(lo) => {
                            let hi = if chars.next_if_eq(&'-').is_some() {
                                chars.next().filter(|h| *h != ']').ok_or("a range with no end, e.g. [a-]")?
                            } else {
                                lo
                            };
                            if hi < lo {
                                return Err("a range that runs backwards, e.g. [z-a]");
                            }
                            ranges.push((lo, hi));
                        }
                    }
                }
                Token::Set { negated, ranges }
            }
            c => Token::Char(c),
        });
    }
    Ok(out)
}

fn match_at(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => (0..=name.len()).any(|i| match_at(rest, &name[i..])),
        Some((t, rest)) => name.split_first().is_some_and(|(c, tail)| one(t, *c) && match_at(rest, tail)),
    }
}

fn one(t: &Token, c: char) -> bool {
    match t {
        Token::Char(x) => *x == c,
        Token::Any | Token::Star => true,
        Token::Set { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn every_form_matches_what_it_says() {
        assert!(m("svc-*", "svc-ci") && m("*ci*", "svc-ci-2") && m("alice", "alice"));
        assert!(!m("svc-*", "alice") && !m("a*c", "ab"));
        assert!(m("svc-?", "svc-1") && !m("svc-?", "svc-12"));
        assert!(m("svc-[0-9]", "svc-7") && !m("svc-[0-9]", "svc-x") && m("svc-[!0-9]", "svc-x"));
        assert!(m("[ab]ob", "bob") && !m("[ab]ob", "rob"));
        assert!(m("svc-{ci,cd}-*", "svc-cd-eu") && !m("svc-{ci,cd}-*", "svc-qa-eu"));
        assert!(m("{a,b}{1,2}", "b2") && !m("{a,b}{1,2}", "c1"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["svc-[0-9", "svc-{a,b", "svc-}", "svc-]", "[z-a]", "{a,{b,c}}", "[a-]"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
