//! A module restart (every session, login and handle gone) costs no request: each call that
//! meets a dead session starts new sessions and is retried once. A test binary of its own:
//! finalising the module affects the whole process.

mod support;

use std::sync::Arc;

use p11_crypto::token::{finalize_module, Recovery};
use p11_crypto::P11Crypto;
use plugin_api::testkit::MemoryKeks;
use plugin_api::{Binding, CryptoPlugin, KekResolver};
use support::{config, module, softhsm};

fn binding(secret_id: &str) -> Binding<'_> {
    Binding {
        project_id: "restart-project",
        secret_id,
    }
}

#[test]
fn requests_survive_module_restarts() {
    softhsm(&["coffer-restart"]);
    let p = Arc::new(P11Crypto::new(&config("coffer-restart")).unwrap());
    let k = MemoryKeks::new("restart-project")
        .active_kek(p.as_ref())
        .unwrap();
    let enc = p.encrypt(&k, b"before the restart", binding("s")).unwrap();
    // Warm: idle sessions in the pool, the KEK unwrapped and cached.
    for _ in 0..8 {
        p.decrypt(&k, &enc, binding("s")).unwrap();
    }
    let unwraps = p.unwrap_count();

    for reinitialize in [true, false] {
        finalize_module(&module(), reinitialize).unwrap();
        // Many requests at once, each meeting a dead session first.
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let (p, k, enc) = (Arc::clone(&p), k.clone(), enc.clone());
                std::thread::spawn(move || {
                    let dec = p
                        .decrypt(&k, &enc, binding("s"))
                        .map_err(|e| e.to_string())?;
                    if dec.as_slice() != b"before the restart" {
                        return Err("wrong plaintext".to_owned());
                    }
                    let secret = format!("after-{i}");
                    let fresh = p
                        .encrypt(&k, b"after", binding(&secret))
                        .map_err(|e| e.to_string())?;
                    p.decrypt(&k, &fresh, binding(&secret))
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").unwrap_or_else(|e| {
                panic!("a request failed after a restart (reinitialize: {reinitialize}): {e}")
            });
        }
    }
    assert!(
        p.unwrap_count() > unwraps,
        "the KEK was unwrapped again in the new sessions"
    );
    // New project KEKs work too.
    let k2 = MemoryKeks::new("restart-project")
        .active_kek(p.as_ref())
        .unwrap();
    let e2 = p.encrypt(&k2, b"new kek", binding("n")).unwrap();
    assert_eq!(
        p.decrypt(&k2, &e2, binding("n")).unwrap().as_slice(),
        b"new kek"
    );

    // A plugin starting while the module is finalised initialises it again.
    finalize_module(&module(), false).unwrap();
    // Finalising it twice is refused by the module.
    assert!(matches!(
        finalize_module(&module(), false),
        Err(plugin_api::PluginError::Unavailable(m)) if m.contains("CryptokiNotInitialized")
    ));
    let mut cfg = config("coffer-restart");
    cfg.session_pool_size = 2;
    let late = P11Crypto::new(&cfg).expect("starts on a finalised module");
    // So does a request opening a new session on a known slot.
    let held = late.token().session().unwrap();
    finalize_module(&module(), false).unwrap();
    let fresh = late
        .token()
        .session()
        .expect("a new session after a restart");
    drop(fresh);
    drop(held);

    // A module that cannot be initialised again (its configuration is gone): the request
    // fails as unavailable, and so does starting a new epoch; once it can, requests work.
    let conf = std::env::var_os("SOFTHSM2_CONF").expect("set by support::softhsm");
    finalize_module(&module(), false).unwrap();
    std::env::set_var("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf");
    let epoch = late.token().epoch();
    late.token().recover(epoch, Recovery::NewEpoch);
    match late.token().session() {
        Err(plugin_api::PluginError::Unavailable(m)) => {
            assert!(m.contains("cannot initialise the PKCS#11 module"), "{m}")
        }
        other => panic!("a module that cannot start gave {:?}", other.err()),
    }
    let epoch = late.token().epoch();
    late.token().recover(epoch, Recovery::Reinitialize);
    assert_eq!(late.token().epoch(), epoch + 1);
    std::env::set_var("SOFTHSM2_CONF", &conf);

    for plugin in [&late, p.as_ref()] {
        assert_eq!(
            plugin.decrypt(&k2, &e2, binding("n")).unwrap().as_slice(),
            b"new kek"
        );
    }
    // Re-initialising a module that is already initialised is no failure.
    let epoch = late.token().epoch();
    late.token().recover(epoch, Recovery::Reinitialize);
    assert_eq!(late.token().epoch(), epoch + 1);
    assert_eq!(
        late.decrypt(&k2, &e2, binding("n")).unwrap().as_slice(),
        b"new kek"
    );
}
