use std::path::Path;
use std::time::SystemTime;

use plugin_api::{Actor, EventKind, Phase, Profile, Subject};

use super::*;

fn event(id: &str) -> Event {
    Event {
        kind: EventKind::SecretCreated,
        phase: Phase::Success,
        time: SystemTime::now(),
        request_id: Some("req-7".into()),
        actor: Actor {
            project_id: Some("proj 1; rm -rf /".into()),
            user_id: None,
            roles: vec![],
        },
        subject: Subject {
            kind: "secret".into(),
            id: Some(id.into()),
        },
        request: None,
        status: Some(201),
        details: BTreeMap::new(),
    }
}

fn build_with(settings: serde_json::Value) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let dir = std::env::temp_dir();
    build(&PluginContext {
        instance: "cmd",
        config: &settings,
        data_dir: &dir,
        profile: Profile::Dev,
    })
}

/// A program that appends one line per argument, then its environment, to `out`.
fn recorder(dir: &Path, out: &Path) -> String {
    let script = dir.join("record.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf 'arg=%s\\n' \"$a\" >> {0}; done\nenv | sort | sed 's/^/env=/' >> {0}\necho done >> {0}\n",
            out.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script.display().to_string()
}

fn wait_for_lines(path: &Path, marker: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.iter().filter(|l| *l == marker).count() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn arguments_are_templated_one_value_one_argument_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let program = recorder(dir.path(), &out);
    let cmd = build_with(serde_json::json!({
        "argv": [program, "{{ event.kind }}", "id={{secret.id}}", "{{ project.id }}",
                 "{{ container.id }}", "{{ status }}"],
    }))
    .unwrap();
    cmd.handle(&event("s-1")).unwrap();
    let lines = wait_for_lines(&out, "done", 1);
    let args: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("arg="))
        .collect();
    assert_eq!(
        args,
        ["secret.created", "id=s-1", "proj 1; rm -rf /", "", "201"]
    );
    // Only the configured environment reaches the child.
    let env: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("env="))
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
        .collect();
    assert_eq!(env, ["PATH=/usr/local/bin:/usr/bin:/bin"]);
}

#[test]
fn a_slow_command_is_killed_at_its_timeout_and_the_next_event_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let script = dir.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = slow ]; then sleep 30; fi\necho \"ran $1\" >> {}\n",
            out.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cmd = build_with(serde_json::json!({
        "argv": [script, "{{ secret.id }}"], "timeout_ms": 300,
    }))
    .unwrap();
    let started = Instant::now();
    cmd.handle(&event("slow")).unwrap();
    cmd.handle(&event("fast")).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "handle never waits"
    );
    let lines = wait_for_lines(&out, "ran fast", 1);
    assert_eq!(lines, ["ran fast"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn templates_are_checked_at_start_up() {
    assert!(build_with(serde_json::json!({"argv": []})).is_err());
    assert!(build_with(serde_json::json!({"argv": ["/bin/true", "{{ payload }}"]})).is_err());
    assert!(build_with(serde_json::json!({"argv": ["/bin/true", "{{ secret.id "]})).is_err());
    assert!(build_with(serde_json::json!({"argv": ["{{ secret.id }}"]})).is_err());
    assert!(build_with(serde_json::json!({"argv": ["/bin/true", "{{ details.reason }}"]})).is_ok());
    assert_eq!(
        parse_template("a{{x.y}}b").unwrap_err(),
        "unknown placeholder {{ x.y }} in \"a{{x.y}}b\""
    );
    assert_eq!(
        parse_template("<{{ secret.id }}>").unwrap(),
        vec![
            Piece::Text("<".into()),
            Piece::Field("secret.id".into()),
            Piece::Text(">".into())
        ]
    );
}
