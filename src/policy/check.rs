//! oslo.policy check strings: parsing and evaluation.
//!
//! Grammar (as oslo.policy reads it): `expr := or`, `or := and ("or" and)*`,
//! `and := not ("and" not)*`, `not := "not" not | "(" expr ")" | check`; a check is `@`
//! (always), `!` (never), `rule:NAME`, `role:NAME`, or `KIND:MATCH` where MATCH may contain
//! `%(target.key)s` substitutions and KIND is either a credential (`project_id`, `user_id`) or a
//! Python literal (`'read'`, `True`, `'False'`) compared with the substituted MATCH.

use std::collections::HashMap;
use std::fmt;

use plugin_api::AuthContext;

/// A parsed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Always,
    Never,
    Rule(String),
    Role(String),
    /// `KIND:MATCH`.
    Generic {
        kind: String,
        matcher: String,
    },
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

/// Why a check string does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut w = word;
        while let Some(rest) = w.strip_prefix('(') {
            out.push("(".to_owned());
            w = rest;
        }
        // A substitution ends in ")s", so a trailing ')' always closes a group.
        let mut closing = 0;
        while let Some(rest) = w.strip_suffix(')') {
            closing += 1;
            w = rest;
        }
        if !w.is_empty() {
            out.push(w.to_owned());
        }
        out.extend(std::iter::repeat_n(")".to_owned(), closing));
    }
    out
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Check::Or(items)
        })
    }

    fn and(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.not()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Check::And(items)
        })
    }

    fn not(&mut self) -> Result<Check, ParseError> {
        match self.next() {
            Some(t) if t.eq_ignore_ascii_case("not") => Ok(Check::Not(Box::new(self.not()?))),
            Some(t) if t == "(" => {
                let inner = self.or()?;
                match self.next() {
                    Some(c) if c == ")" => Ok(inner),
                    _ => Err(ParseError("missing ')'".into())),
                }
            }
            Some(t) => atom(&t),
            None => Err(ParseError("unexpected end of rule".into())),
        }
    }
}

fn atom(token: &str) -> Result<Check, ParseError> {
    match token {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        ")" | "and" | "or" => return Err(ParseError(format!("unexpected '{token}'"))),
        _ => {}
    }
    let (kind, matcher) = token
        .split_once(':')
        .ok_or_else(|| ParseError(format!("'{token}' is not a check (KIND:MATCH)")))?;
    Ok(match kind {
        "rule" => Check::Rule(matcher.to_owned()),
        "role" => Check::Role(matcher.to_owned()),
        _ => Check::Generic {
            kind: kind.to_owned(),
            matcher: matcher.to_owned(),
        },
    })
}

/// Parse a check string; the empty string always passes.
pub fn parse(text: &str) -> Result<Check, ParseError> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut p = Parser { tokens, pos: 0 };
    let check = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(ParseError(format!(
            "unexpected '{}'",
            p.tokens[p.pos.min(p.tokens.len() - 1)]
        )));
    }
    Ok(check)
}

/// The target of a check: flattened keys such as `target.secret.project_id`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    values: HashMap<String, String>,
}

impl Target {
    pub fn new() -> Self {
        Target::default()
    }

    /// Set `key` (e.g. `target.secret.project_id`) to `value` as Python's `str()` prints it.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_owned(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Python's `str()` of an optional string (None prints as `None`).
pub fn py_str(v: Option<&str>) -> String {
    v.unwrap_or("None").to_owned()
}

/// Python's `str()` of a boolean.
pub fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// `MATCH % target`: `None` when a substituted key is missing (oslo's KeyError → false).
fn substitute(matcher: &str, target: &Target) -> Option<String> {
    let mut out = String::new();
    let mut rest = matcher;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(")s")?;
        out.push_str(target.get(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// A Python literal as `str()` prints it, if `kind` is one.
fn literal(kind: &str) -> Option<String> {
    let quoted = |q: char| kind.len() >= 2 && kind.starts_with(q) && kind.ends_with(q);
    if quoted('\'') || quoted('"') {
        return Some(kind[1..kind.len() - 1].to_owned());
    }
    match kind {
        "True" | "False" | "None" => Some(kind.to_owned()),
        _ if kind.parse::<i64>().is_ok() => Some(kind.to_owned()),
        _ => None,
    }
}

fn credential(kind: &str, caller: &AuthContext) -> Option<String> {
    match kind {
        "project_id" | "tenant" | "project" => Some(caller.project_id.clone()),
        "user_id" | "user" => Some(py_str(caller.user_id.as_deref())),
        _ => None,
    }
}

/// Evaluate `check` with `rules` for named rules. `depth` guards against rule cycles.
pub fn eval(
    check: &Check,
    rules: &HashMap<String, Check>,
    caller: &AuthContext,
    target: &Target,
    depth: usize,
) -> bool {
    if depth > 32 {
        tracing::error!("policy rules nest too deeply (a cycle?); denying");
        return false;
    }
    match check {
        Check::Always => true,
        Check::Never => false,
        Check::Rule(name) => rules
            .get(name)
            .is_some_and(|c| eval(c, rules, caller, target, depth + 1)),
        Check::Role(role) => substitute(role, target).is_some_and(|r| caller.has_role(&r)),
        Check::Generic { kind, matcher } => {
            let Some(expected) = substitute(matcher, target) else {
                return false;
            };
            match literal(kind).or_else(|| credential(kind, caller)) {
                Some(actual) => actual == expected,
                None => false,
            }
        }
        Check::Not(inner) => !eval(inner, rules, caller, target, depth + 1),
        Check::And(items) => items
            .iter()
            .all(|c| eval(c, rules, caller, target, depth + 1)),
        Check::Or(items) => items
            .iter()
            .any(|c| eval(c, rules, caller, target, depth + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(project: &str, user: Option<&str>, roles: &[&str]) -> AuthContext {
        AuthContext {
            project_id: project.into(),
            user_id: user.map(Into::into),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn parses_oslo_syntax() {
        assert_eq!(parse("").unwrap(), Check::Always);
        assert_eq!(parse("@").unwrap(), Check::Always);
        assert_eq!(parse("!").unwrap(), Check::Never);
        assert_eq!(
            parse("rule:a or (role:b and not role:c)").unwrap(),
            Check::Or(vec![
                Check::Rule("a".into()),
                Check::And(vec![
                    Check::Role("b".into()),
                    Check::Not(Box::new(Check::Role("c".into())))
                ]),
            ])
        );
        assert_eq!(
            parse("(rule:x and project_id:%(target.secret.project_id)s)").unwrap(),
            Check::And(vec![
                Check::Rule("x".into()),
                Check::Generic {
                    kind: "project_id".into(),
                    matcher: "%(target.secret.project_id)s".into()
                },
            ])
        );
        assert_eq!(
            parse("role:key-manager:service-admin").unwrap(),
            Check::Role("key-manager:service-admin".into())
        );
        for bad in ["rule:a or", "(rule:a", "rule:a rule:b", "justaword", "and"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn evaluates_like_oslo() {
        let mut rules = HashMap::new();
        rules.insert("admin".to_owned(), parse("role:admin").unwrap());
        rules.insert(
            "match".to_owned(),
            parse("project_id:%(target.secret.project_id)s").unwrap(),
        );
        let mut t = Target::new();
        t.set("target.secret.project_id", "p1")
            .set("target.secret.read_project_access", "False")
            .set("target.secret.creator_id", "None");
        let run = |s: &str, c: &AuthContext| eval(&parse(s).unwrap(), &rules, c, &t, 0);
        let admin = caller("p1", None, &["Admin"]);
        assert!(run("rule:admin and rule:match", &admin));
        assert!(!run(
            "rule:admin and rule:match",
            &caller("p2", None, &["admin"])
        ));
        assert!(!run("rule:missing", &admin));
        assert!(run("'False':%(target.secret.read_project_access)s", &admin));
        assert!(!run("True:%(target.secret.read_project_access)s", &admin));
        assert!(
            !run("'read':%(target.secret.read)s", &admin),
            "missing key is false"
        );
        assert!(
            run("user_id:%(target.secret.creator_id)s", &admin),
            "None == None"
        );
        assert!(!run(
            "user_id:%(target.secret.creator_id)s",
            &caller("p1", Some("u"), &[])
        ));
        assert!(!run("bogus_cred:%(target.secret.project_id)s", &admin));
    }

    #[test]
    fn rule_cycles_deny() {
        let mut rules = HashMap::new();
        rules.insert("a".to_owned(), parse("rule:b").unwrap());
        rules.insert("b".to_owned(), parse("rule:a").unwrap());
        assert!(!eval(
            &parse("rule:a").unwrap(),
            &rules,
            &caller("p", None, &[]),
            &Target::new(),
            0
        ));
    }
}
