use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use plugin_api::{Actor, EventKind, Phase, Profile, Subject};

use super::*;

fn event(kind: EventKind, id: &str) -> Event {
    Event {
        kind,
        phase: Phase::Success,
        time: SystemTime::now(),
        request_id: Some("req-1".into()),
        actor: Actor {
            project_id: Some("p1".into()),
            user_id: Some("u1".into()),
            roles: vec!["creator".into()],
        },
        subject: Subject {
            kind: "secret".into(),
            id: Some(id.into()),
        },
        request: Some("POST /v1/secrets".into()),
        status: Some(201),
        details: BTreeMap::new(),
    }
}

fn build_in(dir: &Path, settings: serde_json::Value) -> Result<Arc<dyn EventPlugin>, PluginError> {
    build(&PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "audit",
        config: &settings,
        data_dir: dir,
        profile: Profile::Dev,
    })
}

/// Every line of the file, chain records included.
fn all_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// The event lines of the file (without start and gap records).
fn lines(path: &Path) -> Vec<serde_json::Value> {
    all_lines(path)
        .into_iter()
        .filter(|l| !l["kind"].as_str().unwrap_or("").starts_with("audit."))
        .collect()
}

/// Verify files as one chain.
fn verify(paths: &[&Path], key: Option<Hasher>) -> plugin_api::audit_chain::Report {
    let files = paths
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::io::BufReader::new(File::open(p).unwrap()),
            )
        })
        .collect();
    plugin_api::audit_chain::verify(files, key)
}

#[test]
fn one_json_line_per_event_with_who_what_when_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "audit.jsonl"})).unwrap();
    log.handle(&event(EventKind::SecretCreated, "s1")).unwrap();
    log.handle(&event(EventKind::SecretDeleted, "s1")).unwrap();
    let path = dir.path().join("audit.jsonl");
    let got = lines(&path);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["kind"], "secret.created");
    assert_eq!(got[1]["kind"], "secret.deleted");
    assert_eq!(got[0]["phase"], "success");
    assert_eq!(got[0]["request_id"], "req-1");
    assert_eq!(got[0]["actor"]["project_id"], "p1");
    assert_eq!(got[0]["actor"]["user_id"], "u1");
    assert_eq!(
        got[0]["subject"],
        serde_json::json!({"type": "secret", "id": "s1"})
    );
    assert_eq!(got[0]["status"], 201);
    assert!(got[0]["time"].as_str().unwrap().ends_with('Z'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_rotated_file_is_followed_by_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "audit.jsonl"})).unwrap();
    let path = dir.path().join("audit.jsonl");
    log.handle(&event(EventKind::SecretCreated, "a")).unwrap();
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).unwrap();
    log.handle(&event(EventKind::SecretCreated, "b")).unwrap();
    assert_eq!(lines(&dir.path().join("audit.jsonl.1")).len(), 1);
    assert_eq!(lines(&path)[0]["subject"]["id"], "b");
}

#[test]
fn fail_closed_refuses_while_the_log_cannot_be_written_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("audit.jsonl");
    let log = build_in(
        dir.path(),
        serde_json::json!({"path": path, "fail_closed": true, "fsync": false}),
    )
    .unwrap();
    assert!(log.fail_closed());
    log.ready().unwrap();
    log.handle(&event(EventKind::SecretCreated, "before-outage"))
        .unwrap();

    std::fs::remove_dir_all(&logs).unwrap();
    assert!(matches!(log.ready(), Err(PluginError::Unavailable(_))));
    assert!(log
        .handle(&event(EventKind::SecretDeleted, "during-outage"))
        .is_err());
    assert!(log.ready().is_err(), "still refusing while a line waits");

    std::fs::create_dir(&logs).unwrap();
    log.ready().unwrap();
    let got = lines(&path);
    assert_eq!(got.len(), 1, "the waiting line was written on recovery");
    assert_eq!(got[0]["subject"]["id"], "during-outage");
}

#[test]
fn settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(build_in(dir.path(), serde_json::json!({})).is_err());
    assert!(build_in(dir.path(), serde_json::json!({"path": "a", "colour": 1})).is_err());
    let err = build_in(
        dir.path(),
        serde_json::json!({"path": "/nonexistent/dir/a.jsonl"}),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("/nonexistent/dir/a.jsonl"),
        "{err}"
    );
}

/// An `AuditLog` built directly (file not yet open), so a test can look at its state.
fn log_at(path: &Path, fsync: bool) -> AuditLog {
    AuditLog {
        instance: "audit".into(),
        metrics: plugin_api::Metrics::discard(),
        path: path.to_owned(),
        fsync,
        fail_closed: false,
        reopen_each_write: false,
        state: Mutex::new(State::new(Chain::new(Hasher::sha256()))),
    }
}

#[test]
fn registered_as_a_stable_event_plugin_named_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "a.jsonl"})).unwrap();
    assert_eq!(log.name(), "audit_log");
    assert!(!log.fail_closed(), "fail_closed defaults to false");
    let d = plugin_api::registry::find(plugin_api::Namespace::Event, "audit_log").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
}

#[test]
fn reopen_each_write_appends_every_line_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(
        dir.path(),
        serde_json::json!({"path": "audit.jsonl", "reopen_each_write": true}),
    )
    .unwrap();
    let path = dir.path().join("audit.jsonl");
    log.handle(&event(EventKind::SecretCreated, "a")).unwrap();
    log.handle(&event(EventKind::SecretCreated, "b")).unwrap();
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).unwrap();
    log.handle(&event(EventKind::SecretCreated, "c")).unwrap();
    let ids = |p: &Path| -> Vec<_> {
        lines(p)
            .iter()
            .map(|l| l["subject"]["id"].clone())
            .collect()
    };
    assert_eq!(ids(&dir.path().join("audit.jsonl.1")), ["a", "b"]);
    assert_eq!(ids(&path), ["c"]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_is_reported_and_the_line_kept_for_the_next_attempt() {
    // Every write to /dev/full fails with "no space left on device".
    let log = log_at(Path::new("/dev/full"), false);
    let err = log
        .handle(&event(EventKind::SecretCreated, "s1"))
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Unavailable(m) if m.contains("write to /dev/full failed")),
        "{err:?}"
    );
    {
        let state = log.state.lock().unwrap();
        assert!(state.file.is_none(), "the failed file is closed");
        assert_eq!(state.pending.len(), 1);
    }
    // The next attempt reopens the file, fails again and still loses nothing.
    assert!(log.ready().is_err());
    assert_eq!(log.state.lock().unwrap().pending.len(), 1);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_sync_is_reported() {
    // /dev/null takes every write but cannot be synced (EINVAL).
    let log = log_at(Path::new("/dev/null"), true);
    let err = log
        .handle(&event(EventKind::SecretCreated, "s1"))
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Unavailable(m) if m.contains("sync of /dev/null failed")),
        "{err:?}"
    );
    assert!(log.state.lock().unwrap().file.is_none());
    // Without fsync the same file is fine.
    let log = log_at(Path::new("/dev/null"), false);
    log.handle(&event(EventKind::SecretCreated, "s1")).unwrap();
}

#[test]
fn beyond_the_pending_limit_the_oldest_lines_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let path = logs.join("audit.jsonl");
    let log = log_at(&path, false);
    // The directory does not exist yet: every line waits.
    for i in 0..=MAX_PENDING {
        assert!(log
            .handle(&event(EventKind::SecretCreated, &i.to_string()))
            .is_err());
    }
    {
        let state = log.state.lock().unwrap();
        assert_eq!(state.pending.len(), MAX_PENDING);
        assert_eq!(state.dropped, 1);
    }
    std::fs::create_dir(&logs).unwrap();
    log.ready().unwrap();
    let all = all_lines(&path);
    assert_eq!(all[0]["kind"], "audit.start");
    assert_eq!(all[1]["kind"], "audit.gap");
    assert_eq!(all[1]["dropped"], 1);
    let report = verify(&[&path], None);
    assert_eq!(report.problem, None);
    assert!(report.notes.iter().any(|n| n.contains("dropped 1")));
    let got = lines(&path);
    assert_eq!(got.len(), MAX_PENDING);
    assert_eq!(got[0]["subject"]["id"], "1", "the oldest line was dropped");
    assert_eq!(
        got[MAX_PENDING - 1]["subject"]["id"],
        MAX_PENDING.to_string()
    );
    let state = log.state.lock().unwrap();
    assert!(state.pending.is_empty());
    assert_eq!(state.dropped, 0, "the drop count is reset once reported");
}

#[test]
fn a_poisoned_lock_makes_the_log_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(&dir.path().join("audit.jsonl"), false);
    std::thread::scope(|s| {
        let holder = s.spawn(|| {
            let _state = log.state.lock().unwrap();
            panic!("a writer panicked while holding the lock");
        });
        assert!(holder.join().is_err());
    });
    assert!(matches!(
        log.handle(&event(EventKind::SecretCreated, "s1")),
        Err(PluginError::Unavailable(m)) if m.contains("lock poisoned")
    ));
    assert!(log.ready().is_err());
}

#[test]
fn every_line_is_chained_and_the_file_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "audit.jsonl"})).unwrap();
    for id in ["a", "b", "c"] {
        log.handle(&event(EventKind::SecretRead, id)).unwrap();
    }
    let path = dir.path().join("audit.jsonl");
    let all = all_lines(&path);
    assert_eq!(all[0]["kind"], "audit.start");
    assert_eq!(all[0]["reason"], "new");
    assert_eq!(all[0]["chain"], "sha256");
    assert_eq!(all[3]["seq"], 3);
    let r = verify(&[&path], None);
    assert_eq!((r.problem.clone(), r.lines), (None, 4), "{r:?}");

    // An edited line is found at its number.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"id\":\"b\"", "\"id\":\"x\"", 1)).unwrap();
    assert_eq!(verify(&[&path], None).problem.unwrap().line, 3);
}

#[test]
fn a_restart_continues_the_chain_even_after_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let settings = serde_json::json!({"path": "audit.jsonl"});
    let log = build_in(dir.path(), settings.clone()).unwrap();
    log.handle(&event(EventKind::SecretRead, "a")).unwrap();
    drop(log);
    let log = build_in(dir.path(), settings.clone()).unwrap();
    log.handle(&event(EventKind::SecretRead, "b")).unwrap();
    drop(log);
    let all = all_lines(&path);
    assert_eq!(all[2]["kind"], "audit.start");
    assert_eq!(all[2]["reason"], "restart");
    assert_eq!(verify(&[&path], None).problem, None);

    // A crash in the middle of a write leaves part of a line.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"seq\":5,\"prev\":\"0a").unwrap();
    drop(f);
    let log = build_in(dir.path(), settings).unwrap();
    log.handle(&event(EventKind::SecretRead, "c")).unwrap();
    let r = verify(&[&path], None);
    assert_eq!(r.problem, None, "{r:?}");
    assert!(
        r.notes.iter().any(|n| n.contains("incomplete line")),
        "{r:?}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\"kind\":\"secret.read\"").count(), 3);
    assert_eq!(text.matches("\"reason\":\"restart\"").count(), 2);

    // A crash during the very first write leaves a file with no complete line at all.
    let first = dir.path().join("first.jsonl");
    std::fs::write(&first, "{\"seq\":0,\"prev\":\"00").unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "first.jsonl"})).unwrap();
    log.handle(&event(EventKind::SecretRead, "e")).unwrap();
    let r = verify(&[&first], None);
    assert_eq!(r.problem, None, "{r:?}");
    let text = std::fs::read_to_string(&first).unwrap();
    let mut rest = text.lines().skip(1);
    let start: serde_json::Value = serde_json::from_str(rest.next().unwrap()).unwrap();
    assert_eq!(start["kind"], "audit.start");
    let line: serde_json::Value = serde_json::from_str(rest.next().unwrap()).unwrap();
    assert_eq!(line["subject"]["id"], "e");

    // A file that was not chained before: a new chain starts after its lines.
    let old = dir.path().join("old.jsonl");
    std::fs::write(&old, "{\"kind\":\"secret.read\"}\n").unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "old.jsonl"})).unwrap();
    log.handle(&event(EventKind::SecretRead, "d")).unwrap();
    let all = all_lines(&old);
    assert_eq!(all[1]["kind"], "audit.start");
    assert_eq!(all[1]["seq"], 0);
}

#[test]
fn rotation_links_the_new_file_to_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_in(dir.path(), serde_json::json!({"path": "audit.jsonl"})).unwrap();
    let path = dir.path().join("audit.jsonl");
    let old = dir.path().join("audit.jsonl.1");
    log.handle(&event(EventKind::SecretCreated, "a")).unwrap();
    std::fs::rename(&path, &old).unwrap();
    log.handle(&event(EventKind::SecretCreated, "b")).unwrap();
    assert_eq!(all_lines(&path)[0]["reason"], "rotated");
    let r = verify(&[&old, &path], None);
    assert_eq!((r.problem, r.lines), (None, 4));
    assert!(verify(&[&path, &old], None).problem.is_some());
    // copytruncate: the file emptied under the open handle begins again with a start record.
    std::fs::copy(&path, dir.path().join("audit.jsonl.2")).unwrap();
    File::create(&path).unwrap();
    log.handle(&event(EventKind::SecretCreated, "c")).unwrap();
    assert_eq!(all_lines(&path)[0]["kind"], "audit.start");
    let r = verify(&[&old, &dir.path().join("audit.jsonl.2"), &path], None);
    assert_eq!(r.problem, None);
}

#[test]
fn a_chain_key_makes_lines_hmac_chained() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chain.key"),
        "a key of at least sixteen bytes",
    )
    .unwrap();
    let log = build_in(
        dir.path(),
        serde_json::json!({"path": "audit.jsonl", "chain_key_file": "chain.key"}),
    )
    .unwrap();
    log.handle(&event(EventKind::SecretRead, "a")).unwrap();
    let path = dir.path().join("audit.jsonl");
    assert_eq!(all_lines(&path)[0]["chain"], "hmac-sha256");
    let key = plugin_api::audit_chain::read_key(&dir.path().join("chain.key")).unwrap();
    assert_eq!(verify(&[&path], Some(key)).problem, None);
    assert!(verify(&[&path], None).problem.is_some());
    let err = build_in(
        dir.path(),
        serde_json::json!({"path": "b.jsonl", "chain_key_file": "missing.key"}),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("chain_key_file"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_log_is_never_opened_through_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("audit.jsonl")).unwrap();
    let err = build_in(dir.path(), serde_json::json!({"path": "audit.jsonl"}))
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot open audit log"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}

#[test]
fn the_log_file_is_declared_private() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Event, "audit_log").unwrap();
    let files = d
        .capabilities
        .private_files
        .expect("declared private files");
    let dir = Path::new("/srv/coffer");
    assert_eq!(
        files(&serde_json::json!({"path": "audit/a.jsonl"}), dir),
        vec![("audit log file", dir.join("audit/a.jsonl"))]
    );
    assert_eq!(
        files(&serde_json::json!({"path": "/var/log/a.jsonl"}), dir),
        vec![(
            "audit log file",
            std::path::PathBuf::from("/var/log/a.jsonl")
        )]
    );
    assert!(files(&serde_json::json!({}), dir).is_empty());
}
