//! p11_crypto's encrypt+decrypt throughput next to the ceiling: the same PKCS#11 module's own
//! AES-GCM encrypt+decrypt with a session key, one session per thread, measured in the same
//! run. Prints both in operations per second (one operation = one encryption and one
//! decryption of the payload) and their ratio. Run through bench/p11.sh, which makes a
//! SoftHSM2 token for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::{AuthPin, Ulong};
use p11_crypto::admin::{self, MasterKey};
use p11_crypto::{P11Config, P11Crypto};
use plugin_api::testkit::MemoryKeks;
use plugin_api::{Binding, CryptoPlugin, KekResolver};

#[derive(Parser, Debug)]
struct Args {
    /// The PKCS#11 module.
    #[arg(long, env = "PKCS11_MODULE")]
    module: String,
    /// The token (initialised, empty) and its user PIN.
    #[arg(long, env = "HSM_TOKEN")]
    token: String,
    #[arg(long, env = "HSM_PIN")]
    pin: String,
    /// Measured seconds per target.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent threads (and sessions).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Payload bytes.
    #[arg(long, default_value_t = 32)]
    payload: usize,
}

/// Run `op` on `threads` threads for `seconds`; operations per second.
fn measure<S: Send + 'static>(
    threads: usize,
    seconds: u64,
    setup: impl Fn(usize) -> S,
    op: impl Fn(&S) + Send + Sync + 'static,
) -> f64 {
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let states: Vec<S> = (0..threads).map(setup).collect();
    let start = Instant::now();
    let handles: Vec<_> = states
        .into_iter()
        .map(|state| {
            let (op, stop) = (Arc::clone(&op), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op(&state);
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args = Args::parse();
    let config = bench_config(&args);
    admin::generate(&config, MasterKey::Mkek, &config.mkek_label, 32).unwrap_or_else(|e| {
        panic!("creating the master KEK: {e}");
    });
    admin::generate(&config, MasterKey::Hmac, &config.hmac_label, 32)
        .unwrap_or_else(|e| panic!("creating the HMAC key: {e}"));
    let payload = vec![0x5au8; args.payload];

    // The ceiling: the module's own AES-GCM, one logged-in session and session key per thread.
    let ctx = p11_crypto::token::module(std::path::Path::new(&args.module))
        .unwrap_or_else(|e| panic!("{e}"));
    let slot = ctx
        .get_slots_with_token()
        .unwrap_or_default()
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|i| i.label().trim_end() == args.token)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("no token labelled {}", args.token));
    let pin = AuthPin::from(args.pin.as_str());
    let raw_payload = payload.clone();
    let raw = measure(
        args.threads,
        args.seconds,
        |_| {
            let s = ctx
                .open_rw_session(slot)
                .unwrap_or_else(|e| panic!("session: {e}"));
            let _ = s.login(UserType::User, Some(&pin));
            let key = s
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(Ulong::from(32u64)),
                        // As p11_crypto's unwrapped project KEKs are.
                        Attribute::Token(false),
                        Attribute::Private(false),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                    ],
                )
                .unwrap_or_else(|e| panic!("session key: {e}"));
            (std::sync::Mutex::new(s), key)
        },
        move |(session, key): &(std::sync::Mutex<Session>, cryptoki::object::ObjectHandle)| {
            let s = session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut iv = [7u8; 12];
            let aad = b"binding";
            let params =
                GcmParams::new(&mut iv, aad, Ulong::from(128u64)).unwrap_or_else(|e| panic!("{e}"));
            let ct = s
                .encrypt(&Mechanism::AesGcm(params), *key, &raw_payload)
                .unwrap_or_else(|e| panic!("encrypt: {e}"));
            let mut iv = [7u8; 12];
            let params =
                GcmParams::new(&mut iv, aad, Ulong::from(128u64)).unwrap_or_else(|e| panic!("{e}"));
            let pt = s
                .decrypt(&Mechanism::AesGcm(params), *key, &ct)
                .unwrap_or_else(|e| panic!("decrypt: {e}"));
            assert_eq!(pt.len(), raw_payload.len());
        },
    );

    // p11_crypto: the same work through the plugin (project KEK cached after the first use).
    let plugin = Arc::new(P11Crypto::new(&config).unwrap_or_else(|e| panic!("{e}")));
    let kek = MemoryKeks::new("bench")
        .active_kek(plugin.as_ref())
        .unwrap_or_else(|e| panic!("{e}"));
    let through = measure(
        args.threads,
        args.seconds,
        |_| (Arc::clone(&plugin), kek.clone(), payload.clone()),
        |(plugin, kek, payload)| {
            let b = Binding {
                project_id: "bench",
                secret_id: "s",
            };
            let enc = plugin
                .encrypt(kek, payload, b)
                .unwrap_or_else(|e| panic!("{e}"));
            let dec = plugin
                .decrypt(kek, &enc, b)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(dec.len(), payload.len());
        },
    );

    println!(
        "p11 bench: {} thread(s), {}-byte payload, {} s each; one op = encrypt + decrypt",
        args.threads, args.payload, args.seconds
    );
    println!("{:<38} {:>12}", "target", "ops/s");
    println!("{:<38} {:>12.0}", "PKCS#11 module AES-GCM (ceiling)", raw);
    println!("{:<38} {:>12.0}", "p11_crypto encrypt+decrypt", through);
    println!("{:<38} {:>11.2}x", "p11_crypto / ceiling", through / raw);
}

fn bench_config(args: &Args) -> P11Config {
    P11Config {
        library: args.module.clone().into(),
        token_label: Some(args.token.clone()),
        slot_id: None,
        pin: Some(args.pin.clone().into()),
        pin_env: None,
        pin_file: None,
        mkek_label: "bench-mkek".into(),
        hmac_label: "bench-hmac".into(),
        key_wrap_mechanism: Default::default(),
        session_pool_size: args.threads,
        session_wait_ms: 5000,
        kek_cache_size: 100,
    }
}
