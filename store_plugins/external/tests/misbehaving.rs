//! The external store against a child that misbehaves (tests/plugins/misbehaving_plugin.py):
//! hangs, ignores a call, crashes, or fails its handshake.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use plugin_api::testkit::MemoryKeks;
use plugin_api::{KeySpec, PluginError, SecretDto, SecretStore, SecretType, StoreMetadata};
use serde_json::json;
use zeroize::Zeroizing;

fn dto(payload: &[u8]) -> SecretDto {
    SecretDto {
        secret_type: SecretType::Opaque,
        payload: Zeroizing::new(payload.to_vec()),
        content_type: "text/plain".into(),
        key_spec: KeySpec::default(),
    }
}

fn key(k: &str) -> StoreMetadata {
    StoreMetadata::from([("key".to_owned(), k.to_owned())])
}

/// How much later than its time-out a call may return (a loaded test machine).
const MARGIN: Duration = Duration::from_millis(1000);

#[test]
fn a_hung_child_times_out_is_killed_and_replaced() {
    let store = misbehaving(
        &["--hang-on", "get_secret"],
        json!({"call_timeout_ms": 1000}),
    )
    .unwrap();
    let keks = MemoryKeks::new("project-a");
    let meta = store.store_secret(ctx(&keks, "s"), &dto(b"x")).unwrap();
    let pid = store.child_pid().unwrap();
    let t = Instant::now();
    let err = store
        .get_secret(ctx(&keks, "s"), SecretType::Opaque, &meta)
        .unwrap_err();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    assert!(took < Duration::from_millis(1000) + MARGIN, "{took:?}");
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Unavailable(_)), "{msg}");
    for want in [
        "external store 'odd'",
        "get_secret",
        "timed out after 1000 ms",
        "killed",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    // The next call runs on a new child; the hung one is gone (killed, and reaped when it
    // was replaced).
    let meta = store.store_secret(ctx(&keks, "t"), &dto(b"y")).unwrap();
    assert_eq!(meta, key("t"));
    assert_ne!(store.child_pid(), Some(pid));
    assert!(wait_for(Duration::from_secs(2), || !alive(pid)));
}

#[test]
fn an_unanswered_call_times_out_while_the_child_keeps_serving() {
    let store = Arc::new(
        misbehaving(
            &["--ignore", "get_secret", "--slow-ms", "50"],
            json!({"call_timeout_ms": 1500}),
        )
        .unwrap(),
    );
    let pid = store.child_pid().unwrap();
    let keks = MemoryKeks::new("project-a");
    let meta = store.store_secret(ctx(&keks, "s"), &dto(b"x")).unwrap();
    // While the ignored call waits, other calls are answered: the child is not hung.
    let busy = {
        let store = store.clone();
        thread::spawn(move || {
            let keks = MemoryKeks::new("project-a");
            let until = Instant::now() + Duration::from_millis(1600);
            while Instant::now() < until {
                store.delete_secret(ctx(&keks, "z"), &key("z")).unwrap();
            }
        })
    };
    let t = Instant::now();
    let err = store
        .get_secret(ctx(&keks, "s"), SecretType::Opaque, &meta)
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(1500) + MARGIN);
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Unavailable(_)), "{msg}");
    assert!(msg.contains("get_secret timed out after 1500 ms"), "{msg}");
    assert!(!msg.contains("killed"), "{msg}");
    busy.join().unwrap();
    assert_eq!(store.child_pid(), Some(pid));
}

#[test]
fn calls_in_flight_fail_at_once_when_the_child_is_killed() {
    let store = Arc::new(
        misbehaving(
            &["--ignore", "get_secret"],
            json!({"call_timeout_ms": 10000}),
        )
        .unwrap(),
    );
    let pid = store.child_pid().unwrap();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || {
                let keks = MemoryKeks::new("project-a");
                let t = Instant::now();
                let r = store.get_secret(ctx(&keks, "s"), SecretType::Opaque, &key("s"));
                (r.map(|_| ()), t.elapsed())
            })
        })
        .collect();
    // Let the four calls reach the child (it ignores them), then kill it.
    thread::sleep(Duration::from_millis(1000));
    kill9(pid);
    for w in waiting {
        let (r, took) = w.join().unwrap();
        let err = r.unwrap_err();
        assert!(matches!(err, PluginError::Unavailable(_)), "{err:?}");
        assert!(err.to_string().contains("in flight"), "{err}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    // And the store recovers by itself.
    let keks = MemoryKeks::new("project-a");
    store.store_secret(ctx(&keks, "n"), &dto(b"n")).unwrap();
    assert_ne!(store.child_pid(), Some(pid));
}

#[test]
fn a_crash_fails_the_call_promptly_and_restarts_with_backoff() {
    let store = misbehaving(
        &["--crash-on", "store_secret"],
        json!({"call_timeout_ms": 1000, "restart_backoff_ms": 2000,
               "restart_backoff_max_ms": 2000}),
    )
    .unwrap();
    let keks = MemoryKeks::new("project-a");
    // The call in flight fails because the child died, not by timing out.
    let err = store.store_secret(ctx(&keks, "s"), &dto(b"x")).unwrap_err();
    assert!(matches!(err, PluginError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("in flight"), "{err}");

    // The child died without serving a call: the next start waits for the backoff (2 s),
    // longer than a call may wait (1 s), so calls fail at once meanwhile.
    let t = Instant::now();
    let err = store.delete_secret(ctx(&keks, "s"), &key("s")).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains("next restart attempt in"), "{msg}");
    assert!(
        msg.contains("the plugin process closed its output"),
        "{msg}"
    );

    // After the backoff, a call restarts it.
    thread::sleep(Duration::from_millis(2100));
    store.delete_secret(ctx(&keks, "s"), &key("s")).unwrap();
    assert!(store.child_pid().is_some());
}

#[test]
fn supports_answers_yes_when_the_child_cannot_be_asked() {
    let store = misbehaving(
        &["--hang-on", "generate_supports"],
        json!({"call_timeout_ms": 300}),
    )
    .unwrap();
    assert!(store.store_secret_supports(&KeySpec::default()));
    // Unanswered: "yes", so that the generation call itself reports the outage.
    assert!(store.generate_supports(&KeySpec::new("aes", 256)));
    // The restarted child answers (and is asked again: the cache was per child).
    assert!(store.store_secret_supports(&KeySpec::default()));
}

#[test]
fn handshake_failures_are_clear_start_up_errors() {
    for (mode, want) in [
        ("error", "settings.directory is required"),
        ("wrong-version", "protocol version 99"),
        ("exit", "RuntimeError: cannot open the backend"),
        ("silent", "timed out after 500 ms"),
        ("garbage", "broke the protocol"),
    ] {
        let t = Instant::now();
        let Err(err) = misbehaving(&["--handshake", mode], json!({"start_timeout_ms": 500})) else {
            panic!("{mode}: started");
        };
        let msg = err.to_string();
        assert!(matches!(err, PluginError::Config(_)), "{mode}: {msg}");
        assert!(
            msg.contains("misbehaving_plugin.py --handshake"),
            "{mode}: {msg}"
        );
        assert!(msg.contains("failed its handshake"), "{mode}: {msg}");
        assert!(msg.contains(want), "{mode}: {want:?} not in {msg}");
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{mode}: {:?}",
            t.elapsed()
        );
    }
    let section = json!({"command": "/nonexistent/plugin", "args": ["a"]});
    let Err(err) =
        external_store::ExternalStore::start("odd", settings(section), std::path::Path::new("/"))
    else {
        panic!("started a missing command");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("cannot start the plugin `/nonexistent/plugin a`"),
        "{msg}"
    );
}

#[test]
fn the_registered_descriptor_is_out_of_tree() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Store, "external").unwrap();
    assert_eq!(d.status, plugin_api::PluginStatus::OutOfTree);
    assert_eq!(d.crate_name, "external_store");
}
