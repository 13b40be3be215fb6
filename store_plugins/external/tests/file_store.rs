//! The external store driving the real Python example plugin
//! (`examples/python_file_store/file_store.py`) through the `SecretStore` trait.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use plugin_api::testkit::{store_conformance, MemoryKeks};
use plugin_api::{KeySpec, PluginError, SecretDto, SecretStore, SecretType, StoreMetadata};
use serde_json::json;
use zeroize::Zeroizing;

fn dto(t: SecretType, payload: &[u8], ct: &str) -> SecretDto {
    SecretDto {
        secret_type: t,
        payload: Zeroizing::new(payload.to_vec()),
        content_type: ct.to_owned(),
        key_spec: KeySpec::default(),
    }
}

#[test]
fn passes_the_store_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({}));
    store_conformance(&store);
    assert_eq!(store.plugin().as_deref(), Some("python_file_store 1.0.0"));
    assert_eq!(store.name(), "external");
}

#[test]
fn every_secret_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({}));
    let keks = MemoryKeks::new("project-a");
    let binary: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    for (i, t) in SecretType::ALL.into_iter().enumerate() {
        for (payload, ct) in [
            (&b"text payload \xc3\xa9"[..], "text/plain"),
            (&binary[..], "application/octet-stream"),
            (&b"\x00"[..], "application/pkcs8"),
        ] {
            let id = format!("secret-{i}-{}", payload.len());
            let meta = store
                .store_secret(ctx(&keks, &id), &dto(t, payload, ct))
                .unwrap();
            let back = store.get_secret(ctx(&keks, &id), t, &meta).unwrap();
            assert_eq!(back.payload.as_slice(), payload, "{t}");
            assert_eq!(back.secret_type, t);
            assert_eq!(back.content_type, ct);
            store.delete_secret(ctx(&keks, &id), &meta).unwrap();
            let gone = store.get_secret(ctx(&keks, &id), t, &meta).unwrap_err();
            assert!(matches!(gone, PluginError::NotFound(_)), "{gone:?}");
            store.delete_secret(ctx(&keks, &id), &meta).unwrap();
        }
    }
}

#[test]
fn metadata_is_checked_and_bound_to_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({}));
    let keks = MemoryKeks::new("project-a");
    let meta = store
        .store_secret(
            ctx(&keks, "s1"),
            &dto(SecretType::Opaque, b"x", "text/plain"),
        )
        .unwrap();
    assert_eq!(meta.keys().collect::<Vec<_>>(), ["file_id"]);
    let err = store
        .get_secret(ctx(&keks, "s2"), SecretType::Opaque, &meta)
        .unwrap_err();
    assert!(matches!(err, PluginError::Integrity(_)), "{err:?}");
    for bad in [
        StoreMetadata::new(),
        StoreMetadata::from([("file_id".into(), "../../etc/passwd".into())]),
    ] {
        let err = store
            .get_secret(ctx(&keks, "s1"), SecretType::Opaque, &bad)
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)), "{err:?}");
    }
}

#[test]
fn supports_and_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({}));
    let keks = MemoryKeks::new("project-a");
    assert!(store.store_secret_supports(&KeySpec::new("aes", 256)));
    assert!(store.store_secret_supports(&KeySpec::default()));
    for (alg, bits, mode, yes) in [
        ("AES", 256, None, true),
        ("aes", 512, Some("XTS"), true),
        ("aes", 128, Some("xts"), false),
        ("aes", 100, None, false),
        ("hmacsha256", 256, None, true),
        ("des", 64, None, false),
        ("rsa", 2048, None, true),
        ("rsa", 1024, None, false),
    ] {
        let spec = KeySpec {
            mode: mode.map(str::to_owned),
            ..KeySpec::new(alg, bits)
        };
        assert_eq!(store.generate_supports(&spec), yes, "{spec:?}");
        // asked twice: the second answer comes from the cache, and agrees
        assert_eq!(store.generate_supports(&spec), yes, "{spec:?}");
    }

    let meta = store
        .generate_symmetric_key(ctx(&keks, "k1"), &KeySpec::new("aes", 192))
        .unwrap();
    let key = store
        .get_secret(ctx(&keks, "k1"), SecretType::Symmetric, &meta)
        .unwrap();
    assert_eq!(key.payload.len(), 24);
    let err = store
        .generate_symmetric_key(ctx(&keks, "k2"), &KeySpec::new("des", 64))
        .unwrap_err();
    assert!(matches!(err, PluginError::Unsupported(_)), "{err:?}");

    let spec = KeySpec {
        passphrase: Some(Zeroizing::new("pw-4711".into())),
        ..KeySpec::new("rsa", 2048)
    };
    let targets = plugin_api::KeyPairTargets {
        private_key: ctx(&keks, "priv"),
        public_key: ctx(&keks, "pub"),
        passphrase: Some(ctx(&keks, "pass")),
    };
    let pair = store.generate_asymmetric_key(targets, &spec).unwrap();
    let get = |id: &str, t, m: &StoreMetadata| {
        let d = store.get_secret(ctx(&keks, id), t, m).unwrap();
        String::from_utf8(d.payload.to_vec()).unwrap()
    };
    let private = get("priv", SecretType::Private, &pair.private_key);
    assert!(private.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert!(!private.contains("pw-4711"));
    let public = get("pub", SecretType::Public, &pair.public_key);
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let pass = pair.passphrase.expect("passphrase stored");
    assert_eq!(get("pass", SecretType::Passphrase, &pass), "pw-4711");

    // Without a passphrase: an unencrypted PKCS#8 key, and no third secret.
    let targets = plugin_api::KeyPairTargets {
        private_key: ctx(&keks, "priv2"),
        public_key: ctx(&keks, "pub2"),
        passphrase: None,
    };
    let pair = store
        .generate_asymmetric_key(targets, &KeySpec::new("RSA", 2048))
        .unwrap();
    assert!(pair.passphrase.is_none());
    assert!(get("priv2", SecretType::Private, &pair.private_key)
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
}

#[test]
fn without_openssl_there_is_no_rsa_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(
        dir.path(),
        json!({"settings": {"directory": dir.path().join("s")}}),
    );
    assert!(!store.generate_supports(&KeySpec::new("rsa", 2048)));
    assert!(store.generate_supports(&KeySpec::new("aes", 256)));
    let keks = MemoryKeks::new("project-a");
    let targets = plugin_api::KeyPairTargets {
        private_key: ctx(&keks, "a"),
        public_key: ctx(&keks, "b"),
        passphrase: None,
    };
    let err = store
        .generate_asymmetric_key(targets, &KeySpec::new("rsa", 2048))
        .unwrap_err();
    assert!(matches!(err, PluginError::Unsupported(_)), "{err:?}");
}

#[test]
fn thirty_two_concurrent_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(file_store(dir.path(), json!({})));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            thread::spawn(move || {
                let keks = MemoryKeks::new("project-a");
                let id = format!("c{i}");
                let payload = format!("payload number {i}").into_bytes();
                let meta = store
                    .store_secret(
                        ctx(&keks, &id),
                        &dto(SecretType::Opaque, &payload, "text/plain"),
                    )
                    .unwrap();
                let back = store
                    .get_secret(ctx(&keks, &id), SecretType::Opaque, &meta)
                    .unwrap();
                assert_eq!(back.payload.as_slice(), payload.as_slice());
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// What a writer thread saw: acknowledged secrets, and every failure with its duration.
#[derive(Default)]
struct Seen {
    acked: Vec<(String, StoreMetadata, Vec<u8>)>,
    failures: Vec<(PluginError, Duration)>,
    acked_after_kill: usize,
}

#[test]
fn killing_the_child_loses_no_acknowledged_secret_and_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(file_store(dir.path(), json!({"call_timeout_ms": 3000})));
    let first_pid = store.child_pid().expect("running");
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, killed, seen) = (store.clone(), killed.clone(), seen.clone());
            thread::spawn(move || {
                let keks = MemoryKeks::new("project-a");
                for n in 0.. {
                    let id = format!("w{w}-{n}");
                    let payload = format!("secret {w}/{n}").into_bytes();
                    let after_kill = killed.load(std::sync::atomic::Ordering::SeqCst);
                    let t = Instant::now();
                    let result = store.store_secret(
                        ctx(&keks, &id),
                        &dto(SecretType::Opaque, &payload, "text/plain"),
                    );
                    let mut s = seen.lock().unwrap();
                    match result {
                        Ok(meta) => {
                            s.acked.push((id, meta, payload));
                            if after_kill {
                                s.acked_after_kill += 1;
                            }
                        }
                        Err(e) => s.failures.push((e, t.elapsed())),
                    }
                    if s.acked_after_kill >= 40 {
                        return;
                    }
                }
            })
        })
        .collect();
    assert!(wait_for(Duration::from_secs(20), || seen
        .lock()
        .unwrap()
        .acked
        .len()
        >= 100));
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    kill9(first_pid);
    for w in writers {
        w.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    // Calls in flight at the kill (eight writers were busy) failed promptly with Unavailable;
    // none hung.
    assert!(
        !seen.failures.is_empty(),
        "no call was in flight at the kill"
    );
    for (e, took) in &seen.failures {
        assert!(matches!(e, PluginError::Unavailable(_)), "{e:?}");
        assert!(*took < Duration::from_millis(3500), "{e} took {took:?}");
    }
    // It restarted by itself, as a new process.
    let second_pid = store.child_pid().expect("restarted");
    assert_ne!(first_pid, second_pid);
    assert!(!alive(first_pid), "the killed child was reaped");
    // Everything acknowledged, before or after the kill, is readable.
    let keks = MemoryKeks::new("project-a");
    for (id, meta, payload) in &seen.acked {
        let back = store
            .get_secret(ctx(&keks, id), SecretType::Opaque, meta)
            .unwrap_or_else(|e| panic!("acknowledged secret {id} lost: {e}"));
        assert_eq!(back.payload.as_slice(), payload.as_slice());
    }
    eprintln!(
        "{} acknowledged, {} failed at the kill",
        seen.acked.len(),
        seen.failures.len()
    );
}

#[test]
fn a_plugin_restarted_from_scratch_reads_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let keks = MemoryKeks::new("project-a");
    let meta = {
        let store = file_store(dir.path(), json!({}));
        let meta = store
            .store_secret(
                ctx(&keks, "s"),
                &dto(SecretType::Opaque, b"kept", "text/plain"),
            )
            .unwrap();
        kill9(store.child_pid().unwrap());
        meta
    };
    // A leftover temporary file (a write that was never acknowledged) is cleaned up.
    let leftover = dir.path().join("secrets/.tmp-unfinished");
    std::fs::write(&leftover, b"half").unwrap();
    let store = file_store(dir.path(), json!({}));
    let back = store
        .get_secret(ctx(&keks, "s"), SecretType::Opaque, &meta)
        .unwrap();
    assert_eq!(back.payload.as_slice(), b"kept");
    assert!(!leftover.exists());
}

#[test]
fn payloads_never_reach_the_childs_argv_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({"env": {"LC_ALL": "C.UTF-8"}}));
    let keks = MemoryKeks::new("project-a");
    let marker = b"TOP-SECRET-MARKER-8c1f";
    let meta = store
        .store_secret(
            ctx(&keks, "s"),
            &dto(SecretType::Opaque, marker, "text/plain"),
        )
        .unwrap();
    store
        .get_secret(ctx(&keks, "s"), SecretType::Opaque, &meta)
        .unwrap();
    let pid = store.child_pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(marker);
    for (what, bytes) in [("cmdline", &cmdline), ("environ", &environ)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("TOP-SECRET"), "{what}: {text}");
        assert!(!text.contains(&b64), "{what}: {text}");
    }
    // The environment is PATH plus what the configuration adds, nothing inherited.
    let mut names: Vec<String> = String::from_utf8_lossy(&environ)
        .split('\0')
        .filter(|v| !v.is_empty())
        .map(|v| v.split('=').next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["LC_ALL", "PATH"]);
}

#[test]
fn dropping_the_store_stops_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path(), json!({}));
    let pid = store.child_pid().unwrap();
    assert!(alive(pid));
    let t = Instant::now();
    drop(store);
    assert!(
        !alive(pid),
        "child {pid} still there after the store was dropped"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn bad_plugin_settings_fail_the_start_with_the_plugins_reason() {
    let dir = tempfile::tempdir().unwrap();
    let section = json!({
        "command": python(),
        "args": [file_store_script()],
        "settings": {},
    });
    let Err(err) = external_store::ExternalStore::start("files", settings(section), dir.path())
    else {
        panic!("started without a directory");
    };
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Config(_)), "{msg}");
    assert!(msg.contains("settings.directory"), "{msg}");
    assert!(msg.contains("file_store.py"), "{msg}");
}
