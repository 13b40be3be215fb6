use std::path::Path;
use std::sync::Mutex;
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
    build_named("cmd", settings)
}

fn build_named(
    instance: &str,
    settings: serde_json::Value,
) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let dir = std::env::temp_dir();
    build(&PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance,
        config: &settings,
        data_dir: &dir,
        profile: Profile::Dev,
    })
}

/// Every log record of this test binary, from every thread, as `LEVEL name=value ...`.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A subscriber that keeps each event's level and fields in [`LOGS`].
struct Capture;

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut line = Fields(event.metadata().level().to_string());
        event.record(&mut line);
        LOGS.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Wait (up to 10 s) for a log record of `instance` containing every one of `parts`.
fn wait_for_log(instance: &str, parts: &[&str]) -> Option<String> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| tracing::subscriber::set_global_default(Capture).unwrap());
    let tag = format!(" command={instance} ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = LOGS
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&tag) && parts.iter().all(|p| l.contains(p)))
            .cloned();
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Write an executable shell script.
fn script(path: &Path, body: &str) -> String {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path.display().to_string()
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
    let cmd = build_named(
        "cmd-slow",
        serde_json::json!({
            "argv": [script, "{{ secret.id }}"], "timeout_ms": 300,
        }),
    )
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
    let log = wait_for_log("cmd-slow", &["killed after its timeout"]).expect("the kill is logged");
    assert!(log.starts_with("ERROR "), "{log}");
    assert!(log.contains("timeout_ms=300"), "{log}");
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

#[test]
fn bad_settings_are_explained() {
    let err = |settings| build_with(settings).err().unwrap().to_string();
    let e = err(serde_json::json!({}));
    assert!(e.contains("argv"), "{e}");
    let e = err(serde_json::json!({"argv": ["/bin/true"], "shell": true}));
    assert!(e.contains("shell"), "{e}");
    let e = err(serde_json::json!({"argv": ["  "]}));
    assert!(
        e.contains("events.cmd: argv needs at least the program"),
        "{e}"
    );
    let e = err(serde_json::json!({"argv": ["{{ secret.id }}"]}));
    assert!(e.contains("the program itself cannot be templated"), "{e}");
    for zero in ["queue_size", "timeout_ms"] {
        let e = err(serde_json::json!({"argv": ["/bin/true"], zero: 0}));
        assert!(
            e.contains("queue_size and timeout_ms must be positive"),
            "{zero}: {e}"
        );
    }
}

#[test]
fn registered_as_a_stable_event_plugin_named_command() {
    let cmd = build_with(serde_json::json!({"argv": ["/bin/true"]})).unwrap();
    assert_eq!(cmd.name(), "command");
    assert!(!cmd.fail_closed());
    let d = plugin_api::registry::find(plugin_api::Namespace::Event, "command").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
}

#[test]
fn a_full_queue_drops_events_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let out = dir.path().join("out.txt");
    // Each run waits until the test releases it, so the runner stays busy with the first.
    let program = script(
        &dir.path().join("wait.sh"),
        &format!(
            "until [ -e \"$1\" ]; do sleep 0.05; done; echo ran >> {}",
            out.display()
        ),
    );
    let cmd = build_with(serde_json::json!({
        "argv": [program, release], "queue_size": 1, "timeout_ms": 20000,
    }))
    .unwrap();
    // One run at most, one waiting: of three events at least one is dropped.
    let errors: Vec<String> = (0..3)
        .filter_map(|i| cmd.handle(&event(&i.to_string())).err())
        .map(|e| e.to_string())
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors[0].contains("command 'cmd': queue full, event dropped (1 dropped so far)"),
        "{errors:?}"
    );
    let next = cmd.handle(&event("x")).unwrap_err().to_string();
    assert!(
        next.contains(&format!("({} dropped so far)", errors.len() + 1)),
        "{next}"
    );
    // Released, the accepted events run and the dropped ones do not.
    std::fs::write(&release, "").unwrap();
    let accepted = 3 - errors.len();
    assert_eq!(wait_for_lines(&out, "ran", accepted).len(), accepted);
}

#[test]
fn a_gone_runner_thread_is_reported() {
    let (queue, rx) = sync_channel(1);
    drop(rx);
    let cmd = CommandPlugin {
        instance: "cmd".into(),
        args: vec![],
        queue,
        dropped: AtomicU64::new(0),
        metrics: plugin_api::Metrics::discard(),
    };
    assert!(matches!(
        cmd.handle(&event("x")),
        Err(PluginError::Unavailable(m)) if m == "command 'cmd': runner thread gone"
    ));
}

#[test]
fn a_failing_command_is_logged_with_its_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        &dir.path().join("fail.sh"),
        "echo \"no such secret: $1\" >&2; exit 3",
    );
    let cmd = build_named(
        "cmd-fails",
        serde_json::json!({"argv": [program, "{{ secret.id }}"]}),
    )
    .unwrap();
    cmd.handle(&event("s-9")).unwrap();
    let log = wait_for_log("cmd-fails", &["command failed"]);
    let log = log.expect("the failure is logged");
    assert!(log.starts_with("WARN "), "{log}");
    assert!(log.contains("status=exit status: 3"), "{log}");
    assert!(log.contains("stderr=no such secret: s-9"), "{log}");
}

#[test]
fn an_argument_that_cannot_be_passed_skips_that_event_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let program = script(
        &dir.path().join("echo.sh"),
        &format!("echo \"ran $1\" >> {}", out.display()),
    );
    let cmd = build_named(
        "cmd-nul",
        serde_json::json!({"argv": [program, "{{ secret.id }}"]}),
    )
    .unwrap();
    // A NUL byte cannot be part of a program argument: the run cannot start.
    cmd.handle(&event("bad\0id")).unwrap();
    cmd.handle(&event("good")).unwrap();
    let log = wait_for_log("cmd-nul", &["cannot run"]).expect("the failure is logged");
    assert!(log.starts_with("ERROR "), "{log}");
    assert!(log.contains("nul byte"), "{log}");
    assert_eq!(wait_for_lines(&out, "ran good", 1), ["ran good"]);
}

#[test]
fn a_value_that_would_begin_an_argument_with_a_dash_is_never_passed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("args.txt");
    let script = dir.path().join("record.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done >> {}\n",
            out.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = build_with(serde_json::json!({
        "argv": [script, "--secret", "{{ secret.id }}", "id={{ secret.id }}"]
    }))
    .unwrap();
    let err = p.handle(&event("--config=/tmp/evil")).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("argument 2 would begin with '-'")),
        "{err:?}"
    );
    // A value inside the operator's own text is harmless: it cannot start the argument.
    p.handle(&event("s1")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !out.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(got, "--secret\ns1\nid=s1\n");
    assert!(!got.contains("evil"));
    assert!(option_like(&[Piece::Field("x".into())], "-x"));
    assert!(!option_like(&[Piece::Text("-".into())], "-x"));
    assert!(!option_like(&[Piece::Field("x".into())], "x-"));
    assert!(
        option_like(&[], "-"),
        "an empty template cannot render '-', but would be refused"
    );
}
