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
        instance: "audit",
        config: &settings,
        data_dir: dir,
        profile: Profile::Dev,
    })
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
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
