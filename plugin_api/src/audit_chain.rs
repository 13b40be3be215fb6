//! Hash-chained JSON lines: the tamper-evident format of audit files, written by audit plugins
//! and checked by `coffer audit verify`.
//!
//! Every line is one JSON object that begins with `"seq"` (its number, counted across files)
//! and `"prev"` (the hash of the line before it) and ends with `"hash"`: the SHA-256 — or,
//! with a chain key, the HMAC-SHA256 — of the line's text up to (not including) `,"hash":`.
//! Changing, removing, inserting or reordering a line breaks the hash or the link of the line
//! after it. Every file begins with a start record (`"kind": "audit.start"`) whose `prev` is
//! the last hash of the file before it, so a chain runs on across rotated files; lines the
//! writer had to drop are recorded as such (`"kind": "audit.gap"`).
//!
//! Without a key, anyone who can write the file can also recompute every hash after an edit;
//! the chain then proves order and completeness against an anchor kept elsewhere (the last
//! `hash` reported by `coffer audit verify`, or a later file's start record). With a key (kept
//! away from the log's writers) it cannot be recomputed without the key.

use std::fmt::Write as _;
use std::io::BufRead;

use serde_json::Value;
use zeroize::Zeroizing;

/// The `prev` of the very first line of a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = 9 + 64 + 2;

/// Kind of a file's first line.
pub const START: &str = "audit.start";
/// Kind of the record of dropped lines.
pub const GAP: &str = "audit.gap";

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        if !text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// How lines are hashed: SHA-256, or HMAC-SHA256 under a key.
#[derive(Clone)]
pub struct Hasher {
    key: Option<ring::hmac::Key>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Hasher {
    /// Plain SHA-256.
    pub fn sha256() -> Hasher {
        Hasher { key: None }
    }

    /// HMAC-SHA256 under `key`.
    pub fn keyed(key: &[u8]) -> Hasher {
        Hasher {
            key: Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key)),
        }
    }

    /// `sha256` or `hmac-sha256`, as start records name it.
    pub fn name(&self) -> &'static str {
        if self.key.is_some() {
            "hmac-sha256"
        } else {
            "sha256"
        }
    }

    fn hash(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match &self.key {
            Some(k) => out.copy_from_slice(ring::hmac::sign(k, data).as_ref()),
            None => out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref()),
        }
        out
    }
}

/// Read a chain key from a file (its bytes, surrounding whitespace removed; at least 16).
pub fn read_key(path: &std::path::Path) -> Result<Hasher, String> {
    let raw = Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let key = raw.trim_ascii();
    if key.len() < 16 {
        return Err(format!("{} holds fewer than 16 bytes", path.display()));
    }
    Ok(Hasher::keyed(key))
}

/// The writing end of a chain: the next sequence number and the last hash.
#[derive(Debug, Clone)]
pub struct Chain {
    hasher: Hasher,
    next_seq: u64,
    head: [u8; 32],
}

/// A line that is not a sealed chain line, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotChained(pub String);

/// The parts of a sealed line.
struct Sealed {
    seq: u64,
    prev: [u8; 32],
    hash: [u8; 32],
    kind: Option<String>,
    /// The fields, for start records.
    object: serde_json::Map<String, Value>,
}

/// Take a line apart and check its own hash (not its link).
fn unseal(line: &str, hasher: &Hasher) -> Result<Sealed, NotChained> {
    let bad = |m: &str| NotChained(m.to_owned());
    if line.len() < SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - SUFFIX_LEN) {
        return Err(bad("not a chained line"));
    }
    let (prefix, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let Some(hash_hex) = suffix
        .strip_prefix(",\"hash\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
    else {
        return Err(bad("not a chained line (no hash at its end)"));
    };
    let hash = unhex(hash_hex).ok_or_else(|| bad("its hash is not 64 lower-case hex digits"))?;
    let object: serde_json::Map<String, Value> =
        serde_json::from_str(line).map_err(|_| bad("not a JSON object"))?;
    let mut keys = object.keys();
    if keys.next().map(String::as_str) != Some("seq")
        || keys.next().map(String::as_str) != Some("prev")
    {
        return Err(bad("not a chained line (no seq and prev at its start)"));
    }
    let seq = object["seq"]
        .as_u64()
        .ok_or_else(|| bad("its seq is not a number"))?;
    let prev = object["prev"]
        .as_str()
        .and_then(unhex)
        .ok_or_else(|| bad("its prev is not a hash"))?;
    if hasher.hash(prefix.as_bytes()) != hash {
        return Err(bad("its hash does not match its content (edited)"));
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Sealed {
        seq,
        prev,
        hash,
        kind,
        object,
    })
}

impl Chain {
    /// A new chain.
    pub fn new(hasher: Hasher) -> Chain {
        Chain {
            hasher,
            next_seq: 0,
            head: GENESIS,
        }
    }

    /// Continue the chain whose last line is `last_line` (its own hash must hold).
    pub fn resume(hasher: Hasher, last_line: &str) -> Result<Chain, NotChained> {
        let sealed = unseal(last_line, &hasher)?;
        Ok(Chain {
            hasher,
            next_seq: sealed.seq + 1,
            head: sealed.hash,
        })
    }

    /// The hash of the last line sealed (hex).
    pub fn head(&self) -> String {
        hex(&self.head)
    }

    /// Seal a JSON object (`{...}`, as produced by `serde_json`) into one line (without the
    /// newline), advancing the chain.
    pub fn seal(&mut self, object: &str) -> String {
        let inner = object
            .trim()
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or("")
            .trim();
        let mut line = String::with_capacity(inner.len() + 180);
        let _ = write!(line, "{{\"seq\":{},\"prev\":\"", self.next_seq);
        push_hex(&mut line, &self.head);
        line.push('"');
        if !inner.is_empty() {
            line.push(',');
            line.push_str(inner);
        }
        let hash = self.hasher.hash(line.as_bytes());
        line.push_str(",\"hash\":\"");
        push_hex(&mut line, &hash);
        line.push_str("\"}");
        self.next_seq += 1;
        self.head = hash;
        line
    }

    /// A file's first line. `reason`: `new`, `rotated`, `restart`, `unchained-file` ...
    pub fn start_record(&mut self, time: &str, reason: &str) -> String {
        let fields = serde_json::json!({
            "kind": START,
            "time": time,
            "reason": reason,
            "chain": self.hasher.name(),
        });
        self.seal(&fields.to_string())
    }

    /// The record of `dropped` lines that could not be kept.
    pub fn gap_record(&mut self, time: &str, dropped: u64) -> String {
        let fields = serde_json::json!({"kind": GAP, "time": time, "dropped": dropped});
        self.seal(&fields.to_string())
    }
}

/// What verification found wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// The outcome of verifying files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines checked.
    pub lines: u64,
    /// The hash of the last good line (hex): an anchor to keep elsewhere.
    pub head: Option<String>,
    /// Facts worth knowing that are not tampering (dropped lines, a chain that starts in an
    /// earlier file not given, a line left incomplete by a crash).
    pub notes: Vec<String>,
    /// The first line that was edited, removed, inserted or reordered.
    pub problem: Option<Problem>,
}

/// Verify `files` (name, reader) in order, as one chain. Without `hasher`, the chain's own
/// kind is taken from the first start record (a keyed chain then needs its key).
pub fn verify<R: BufRead>(files: Vec<(String, R)>, key: Option<Hasher>) -> Report {
    let mut report = Report::default();
    let mut hasher = key;
    let mut expect: Option<(u64, [u8; 32])> = None;
    for (index, (name, reader)) in files.into_iter().enumerate() {
        let fail = |report: &mut Report, line: u64, what: String| {
            report.problem = Some(Problem {
                file: name.clone(),
                line,
                what,
            });
        };
        let mut torn_at: Option<(u64, String)> = None;
        let mut first_in_file = true;
        let mut n = 0u64;
        for line in reader.split(b'\n') {
            n += 1;
            let bytes = match line {
                Ok(b) => b,
                Err(e) => {
                    fail(&mut report, n, format!("cannot read: {e}"));
                    return report;
                }
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                fail(&mut report, n, "not UTF-8 (edited)".into());
                return report;
            };
            let h = match &hasher {
                Some(h) => h.clone(),
                None => {
                    // The first complete line names the chain's hash.
                    let object = serde_json::from_str::<serde_json::Map<String, Value>>(text).ok();
                    let named = object
                        .as_ref()
                        .and_then(|o| o.get("chain").and_then(Value::as_str));
                    if named == Some("hmac-sha256") {
                        fail(
                            &mut report,
                            n,
                            "this chain is keyed (hmac-sha256): give its key".into(),
                        );
                        return report;
                    }
                    if object.is_some() {
                        hasher = Some(Hasher::sha256());
                    }
                    Hasher::sha256()
                }
            };
            let sealed = match unseal(text, &h) {
                Ok(s) => s,
                Err(NotChained(why)) => {
                    // Perhaps a line a crash left incomplete (never a whole JSON value: an
                    // object's prefix is not one): acceptable only if a restart record follows
                    // and links past it.
                    let whole = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
                    if torn_at.is_none() && !whole {
                        torn_at = Some((n, why));
                        continue;
                    }
                    fail(&mut report, n, why);
                    return report;
                }
            };
            if first_in_file && sealed.kind.as_deref() != Some(START) {
                fail(
                    &mut report,
                    n,
                    "the file does not begin with a start record (lines removed from its start?)"
                        .into(),
                );
                return report;
            }
            if let Some((t, why)) = torn_at.take() {
                let restarted = sealed.kind.as_deref() == Some(START)
                    && sealed.object.get("reason").and_then(Value::as_str) == Some("restart");
                if !restarted {
                    fail(&mut report, t, why);
                    return report;
                }
                report
                    .notes
                    .push(format!("{name}:{t}: an incomplete line left by a crash"));
            }
            match expect {
                Some((seq, prev)) => {
                    if sealed.prev != prev {
                        let what = if first_in_file {
                            format!("the chain does not continue from {}", files_before(index))
                        } else {
                            "its prev is not the hash of the line before it (a line was removed, \
                             inserted or moved here)"
                                .to_owned()
                        };
                        fail(&mut report, n, what);
                        return report;
                    }
                    if sealed.seq != seq {
                        fail(
                            &mut report,
                            n,
                            format!("seq {} where {seq} was expected", sealed.seq),
                        );
                        return report;
                    }
                }
                None => {
                    if sealed.prev != GENESIS {
                        report.notes.push(format!(
                            "{name}: the chain continues from an earlier file (seq {}, prev {})",
                            sealed.seq,
                            hex(&sealed.prev)
                        ));
                    }
                }
            }
            if sealed.kind.as_deref() == Some(GAP) {
                let dropped = sealed.object.get("dropped").and_then(Value::as_u64);
                report.notes.push(format!(
                    "{name}:{n}: the writer dropped {} line(s) it could not write",
                    dropped.unwrap_or(0)
                ));
            }
            first_in_file = false;
            report.lines += 1;
            expect = Some((sealed.seq + 1, sealed.hash));
            report.head = Some(hex(&sealed.hash));
        }
        if let Some((t, why)) = torn_at {
            // An incomplete last line: what a crash mid-write leaves (nothing follows it).
            if t == n {
                report.notes.push(format!(
                    "{name}:{t}: an incomplete last line (a crash while writing?)"
                ));
            } else {
                fail(&mut report, t, why);
                return report;
            }
        }
    }
    report
}

fn files_before(index: usize) -> &'static str {
    if index == 0 {
        "the start of the chain"
    } else {
        "the end of the previous file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_lines(n: usize, hasher: Hasher) -> (Vec<String>, Chain) {
        let mut c = Chain::new(hasher);
        let mut lines = vec![c.start_record("2026-12-02T00:00:00Z", "new")];
        for i in 0..n {
            lines.push(c.seal(&format!("{{\"kind\":\"secret.read\",\"n\":{i}}}")));
        }
        (lines, c)
    }

    fn check(files: &[(&str, Vec<String>)], key: Option<Hasher>) -> Report {
        let files = files
            .iter()
            .map(|(name, lines)| {
                let mut text = lines.join("\n");
                text.push('\n');
                (name.to_string(), std::io::Cursor::new(text.into_bytes()))
            })
            .collect();
        verify(files, key)
    }

    fn problem(r: &Report) -> (u64, String) {
        let p = r.problem.clone().expect("a problem");
        (p.line, p.what)
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let (lines, c) = chain_lines(5, Hasher::sha256());
        let r = check(&[("a", lines.clone())], None);
        assert_eq!(r.problem, None);
        assert_eq!(r.lines, 6);
        assert_eq!(r.head, Some(c.head()));
        let first: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(first["seq"], 1);
        assert_eq!(first["kind"], "secret.read");
        assert!(lines[1].starts_with("{\"seq\":1,\"prev\":\""));
    }

    #[test]
    fn edits_removals_insertions_and_swaps_are_found_at_their_line() {
        let (lines, _) = chain_lines(5, Hasher::sha256());
        let mut edited = lines.clone();
        edited[3] = edited[3].replace("\"n\":2", "\"n\":7");
        assert_eq!(problem(&check(&[("a", edited)], None)).0, 4);

        let mut removed = lines.clone();
        removed.remove(2);
        let (line, what) = problem(&check(&[("a", removed)], None));
        assert_eq!(line, 3);
        assert!(what.contains("removed"), "{what}");

        let mut swapped = lines.clone();
        swapped.swap(2, 3);
        assert_eq!(problem(&check(&[("a", swapped)], None)).0, 3);

        let mut inserted = lines.clone();
        inserted.insert(2, lines[2].clone());
        assert_eq!(problem(&check(&[("a", inserted)], None)).0, 4);

        let head_cut: Vec<_> = lines[2..].to_vec();
        let (line, what) = problem(&check(&[("a", head_cut)], None));
        assert_eq!(line, 1);
        assert!(what.contains("start record"), "{what}");

        let mut junk = lines.clone();
        junk[2] = "{\"kind\":\"secret.read\"}".into();
        assert_eq!(problem(&check(&[("a", junk)], None)).0, 3);
    }

    #[test]
    fn the_chain_runs_on_across_rotated_files() {
        let mut c = Chain::new(Hasher::sha256());
        let a = vec![c.start_record("t", "new"), c.seal("{\"kind\":\"x\"}")];
        let b = vec![c.start_record("t", "rotated"), c.seal("{\"kind\":\"y\"}")];
        let r = check(&[("a", a.clone()), ("b", b.clone())], None);
        assert_eq!((r.problem, r.lines), (None, 4));
        // The later file alone: fine, with a note that it continues an earlier one.
        let r = check(&[("b", b.clone())], None);
        assert_eq!(r.problem, None);
        assert!(
            r.notes[0].contains("continues from an earlier file"),
            "{:?}",
            r.notes
        );
        // Files out of order, or one missing in between.
        let (line, what) = problem(&check(&[("b", b.clone()), ("a", a.clone())], None));
        assert_eq!(line, 1);
        assert!(what.contains("previous file"), "{what}");
        let c2 = vec![c.start_record("t", "rotated")];
        assert!(check(&[("a", a), ("c", c2)], None).problem.is_some());
    }

    #[test]
    fn a_keyed_chain_needs_its_key() {
        let key = Hasher::keyed(b"0123456789abcdef0123");
        let (lines, _) = chain_lines(2, key.clone());
        assert_eq!(check(&[("a", lines.clone())], Some(key)).problem, None);
        let (_, what) = problem(&check(&[("a", lines.clone())], None));
        assert!(what.contains("keyed"), "{what}");
        let other = Hasher::keyed(b"another key of 16+ bytes");
        assert!(check(&[("a", lines.clone())], Some(other))
            .problem
            .is_some());
        // A plain chain checked with a key fails too.
        let (plain, _) = chain_lines(1, Hasher::sha256());
        assert!(
            check(&[("a", plain)], Some(Hasher::keyed(b"0123456789abcdef")))
                .problem
                .is_some()
        );
    }

    #[test]
    fn resumed_chains_gaps_and_crash_torn_lines() {
        let (mut lines, c) = chain_lines(2, Hasher::sha256());
        let mut resumed = Chain::resume(Hasher::sha256(), lines.last().unwrap()).unwrap();
        assert_eq!(resumed.head(), c.head());
        lines.push("{\"seq\":3,\"prev\":\"ab".into()); // torn by a crash
        lines.push(resumed.start_record("t", "restart"));
        lines.push(resumed.gap_record("t", 7));
        let r = check(&[("a", lines.clone())], None);
        assert_eq!(r.problem, None, "{:?}", r.notes);
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("a:4: an incomplete line")));
        assert!(r.notes.iter().any(|n| n.contains("dropped 7")));
        // A broken line not followed by a restart record is an edit.
        let mut edited = lines.clone();
        edited.remove(4);
        assert_eq!(problem(&check(&[("a", edited)], None)).0, 4);
        // An incomplete last line is what a crash leaves.
        let mut tail = lines[..3].to_vec();
        tail.push("{\"seq\":3".into());
        let r = check(&[("a", tail)], None);
        assert_eq!(r.problem, None);
        assert!(r.notes[0].contains("incomplete last line"));
        assert!(Chain::resume(Hasher::sha256(), "{\"kind\":\"x\"}").is_err());
        // A whole JSON line is never a torn one: an unchained line inserted before a restart
        // record is an edit.
        let mut inserted = lines.clone();
        inserted[3] = "{\"kind\":\"secret.read\"}".into();
        assert_eq!(problem(&check(&[("a", inserted)], None)).0, 4);
    }

    #[test]
    fn a_crash_during_the_first_write_leaves_a_torn_first_line() {
        let mut fresh = Chain::new(Hasher::keyed(b"k"));
        let lines = vec![
            "{\"seq\":0,\"prev\":\"00".to_owned(),
            fresh.start_record("t", "restart"),
            fresh.seal("{\"kind\":\"secret.read\"}"),
        ];
        let r = check(&[("a", lines.clone())], Some(Hasher::keyed(b"k")));
        assert_eq!(r.problem, None, "{r:?}");
        assert_eq!(r.lines, 2);
        assert!(r.notes[0].contains("a:1: an incomplete line"));
        // Without the key, the first complete line still names the chain as keyed.
        let r = check(&[("a", lines.clone())], None);
        assert!(problem(&r).1.contains("keyed"), "{r:?}");
        // Only a restart record may follow it.
        let mut not_restart = lines;
        not_restart[1] = Chain::new(Hasher::keyed(b"k")).start_record("t", "new");
        let r = check(&[("a", not_restart)], Some(Hasher::keyed(b"k")));
        assert_eq!(problem(&r).0, 1);
    }

    /// Not a timing assertion: prints what sealing a typical event line costs (run with
    /// `cargo test --release -p plugin_api seal_cost -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn seal_cost() {
        let event = r#"{"kind":"secret.read","phase":"success","time":"2026-12-02T16:39:00.123456Z","request_id":"req-5f0c6a8e-7d0e-4a57-9c55-1a2b3c4d5e6f","actor":{"project_id":"bench-audit","user_id":null,"roles":["admin"]},"subject":{"type":"secret","id":"0b6c1f2e-3d4c-4b5a-8c7d-6e5f4a3b2c1d"},"request":"GET /v1/secrets/0b6c1f2e-3d4c-4b5a-8c7d-6e5f4a3b2c1d/payload","status":200,"details":{}}"#;
        for hasher in [
            Hasher::sha256(),
            Hasher::keyed(b"0123456789abcdef0123456789abcdef"),
        ] {
            let mut c = Chain::new(hasher.clone());
            let n = 200_000;
            let t = std::time::Instant::now();
            let mut total = 0;
            for _ in 0..n {
                total += c.seal(event).len();
            }
            let per = t.elapsed().as_nanos() as f64 / f64::from(n);
            println!("{}: {per:.0} ns per line ({total} bytes)", hasher.name());
        }
    }

    #[test]
    fn keys_come_from_files() {
        let dir = std::env::temp_dir().join(format!("chain-key-{}", std::process::id()));
        std::fs::write(&dir, "  0123456789abcdef\n").unwrap();
        assert_eq!(read_key(&dir).unwrap().name(), "hmac-sha256");
        std::fs::write(&dir, "short").unwrap();
        assert!(read_key(&dir).unwrap_err().contains("fewer than 16"));
        std::fs::remove_file(&dir).unwrap();
        assert!(read_key(&dir).unwrap_err().contains("cannot read"));
        assert_eq!(format!("{:?}", Hasher::sha256()), "sha256");
        assert_eq!(unhex("AB"), None);
        assert_eq!(unhex(&"G".repeat(64)), None);
        assert_eq!(
            unhex(&"AB".repeat(32)),
            None,
            "upper case is not the writer's"
        );
    }
}
