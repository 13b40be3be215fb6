//! Deliveries to a receiver on a loopback port that answers as each test wants.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use plugin_api::{Actor, EventKind, Phase, Profile, Subject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn event(id: &str) -> Event {
    Event {
        kind: EventKind::SecretDeleted,
        phase: Phase::Success,
        time: SystemTime::now(),
        request_id: Some("req-9".into()),
        actor: Actor {
            project_id: Some("p".into()),
            ..Actor::default()
        },
        subject: Subject {
            kind: "secret".into(),
            id: Some(id.into()),
        },
        request: None,
        status: Some(204),
        details: BTreeMap::new(),
    }
}

/// What the receiver got (headers lower-cased, body) and the statuses it will answer.
#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<(String, serde_json::Value)>>,
    answers: Mutex<VecDeque<u16>>,
    hang: std::sync::atomic::AtomicBool,
    /// Requests received (answered or not).
    requests: std::sync::atomic::AtomicUsize,
    /// How many of the next requests get no answer: the connection is closed instead.
    slam: std::sync::atomic::AtomicUsize,
    /// The `Location` sent with a 3xx answer.
    location: Mutex<Option<String>>,
    /// TLS handshakes that failed (the client did not trust the certificate).
    handshakes_failed: std::sync::atomic::AtomicUsize,
}

/// A minimal HTTP/1.1 receiver on its own thread; returns its URL.
fn receiver(state: Arc<Receiver>) -> String {
    listen(state, None)
}

/// Serve plain HTTP, or HTTPS with `tls`, on a loopback port; returns the URL of `/hook`.
fn listen(state: Arc<Receiver>, tls: Option<tokio_rustls::TlsAcceptor>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(sock, state).await,
                        Some(acceptor) => match acceptor.accept(sock).await {
                            Ok(sock) => serve(sock, state).await,
                            Err(_) => {
                                state
                                    .handshakes_failed
                                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                        },
                    }
                });
            }
        });
    });
    format!("{scheme}://{addr}/hook")
}

/// Answer the requests of one connection.
async fn serve<S>(mut sock: S, state: Arc<Receiver>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head, body_start) = loop {
            let n = match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..i]).to_lowercase(), i + 4);
            }
        };
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buf.len() < body_start + len {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        state
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if state
            .slam
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            return;
        }
        if state.hang.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&buf[body_start..body_start + len]).unwrap_or_default();
        let status = state.answers.lock().unwrap().pop_front().unwrap_or(200);
        if status == 200 {
            state.got.lock().unwrap().push((head.clone(), body));
        }
        let location = match (status, state.location.lock().unwrap().as_deref()) {
            (300..=399, Some(l)) => format!("location: {l}\r\n"),
            _ => String::new(),
        };
        let reply = format!("HTTP/1.1 {status} X\r\n{location}content-length: 0\r\n\r\n");
        if sock.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        let _ = sock.flush().await;
    }
}

fn build_with(settings: serde_json::Value) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let dir = std::env::temp_dir();
    build(&PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "hook",
        config: &settings,
        data_dir: &dir,
        profile: Profile::Dev,
    })
}

fn wait_for(state: &Receiver, n: usize) -> Vec<(String, serde_json::Value)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = state.got.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn events_arrive_in_order_as_json_with_headers_and_failures_are_retried() {
    let state = Arc::new(Receiver::default());
    state.answers.lock().unwrap().extend([500, 503]);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({
        "url": url, "backoff_ms": 10, "headers": {"Authorization": "Bearer t"},
    }))
    .unwrap();
    for i in 0..5 {
        hook.handle(&event(&format!("s{i}"))).unwrap();
    }
    let got = wait_for(&state, 5);
    let ids: Vec<_> = got
        .iter()
        .map(|(_, b)| b["subject"]["id"].clone())
        .collect();
    assert_eq!(ids, ["s0", "s1", "s2", "s3", "s4"]);
    let (head, body) = &got[0];
    assert!(head.starts_with("post /hook "), "{head}");
    assert!(head.contains("content-type: application/json"));
    assert!(head.contains("x-coffer-event: secret.deleted"));
    assert!(head.contains("authorization: bearer t"));
    assert_eq!(body["kind"], "secret.deleted");
    assert_eq!(body["request_id"], "req-9");
}

#[test]
fn a_refusal_is_not_retried() {
    let state = Arc::new(Receiver::default());
    state.answers.lock().unwrap().extend([400]);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({"url": url, "backoff_ms": 10})).unwrap();
    hook.handle(&event("refused")).unwrap();
    hook.handle(&event("next")).unwrap();
    let got = wait_for(&state, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["subject"]["id"], "next");
}

#[test]
fn a_slow_receiver_fills_the_bounded_queue_without_blocking_callers() {
    let state = Arc::new(Receiver::default());
    state.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({
        "url": url, "queue_size": 3, "timeout_ms": 5000, "max_attempts": 1,
    }))
    .unwrap();
    let started = Instant::now();
    let results: Vec<bool> = (0..10)
        .map(|i| hook.handle(&event(&i.to_string())).is_ok())
        .collect();
    assert!(started.elapsed() < Duration::from_secs(1));
    // One in flight, three queued, the rest dropped.
    assert!(results.iter().filter(|ok| **ok).count() <= 4, "{results:?}");
    assert!(matches!(
        hook.handle(&event("x")),
        Err(PluginError::Unavailable(m)) if m.contains("queue full")
    ));
}

#[test]
fn settings_are_checked() {
    assert!(build_with(serde_json::json!({})).is_err());
    assert!(build_with(serde_json::json!({"url": "ftp://x"})).is_err());
    assert!(build_with(serde_json::json!({"url": "http://x", "queue_size": 0})).is_err());
    assert!(
        build_with(serde_json::json!({"url": "http://x", "headers": {"bad header": "v"}})).is_err()
    );
}

fn ids(got: &[(String, serde_json::Value)]) -> Vec<serde_json::Value> {
    got.iter()
        .map(|(_, b)| b["subject"]["id"].clone())
        .collect()
}

#[test]
fn timeouts_and_rate_limits_are_retried() {
    let state = Arc::new(Receiver::default());
    state.answers.lock().unwrap().extend([408, 429]);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({"url": url, "backoff_ms": 10})).unwrap();
    hook.handle(&event("retried")).unwrap();
    assert_eq!(ids(&wait_for(&state, 1)), ["retried"]);
    assert_eq!(state.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn no_answer_is_retried() {
    let state = Arc::new(Receiver::default());
    state.slam.store(1, std::sync::atomic::Ordering::SeqCst);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({"url": url, "backoff_ms": 10})).unwrap();
    hook.handle(&event("after-a-dropped-connection")).unwrap();
    assert_eq!(ids(&wait_for(&state, 1)), ["after-a-dropped-connection"]);
    assert_eq!(state.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn an_event_is_given_up_after_max_attempts() {
    let state = Arc::new(Receiver::default());
    state.answers.lock().unwrap().extend([503, 503]);
    let url = receiver(state.clone());
    let hook =
        build_with(serde_json::json!({"url": url, "backoff_ms": 10, "max_attempts": 2})).unwrap();
    hook.handle(&event("given-up")).unwrap();
    hook.handle(&event("next")).unwrap();
    assert_eq!(ids(&wait_for(&state, 1)), ["next"]);
    // Two attempts for the first event, one for the second.
    assert_eq!(state.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn a_gone_delivery_thread_is_reported() {
    let (queue, rx) = sync_channel(1);
    drop(rx);
    let hook = Webhook {
        instance: "hook".into(),
        queue,
        dropped: AtomicU64::new(0),
        metrics: plugin_api::Metrics::discard(),
    };
    assert!(matches!(
        hook.handle(&event("x")),
        Err(PluginError::Unavailable(m)) if m == "webhook 'hook': delivery thread gone"
    ));
}

#[test]
fn registered_as_a_stable_event_plugin_named_webhook() {
    let hook = build_with(serde_json::json!({"url": "http://127.0.0.1:9/"})).unwrap();
    assert_eq!(hook.name(), "webhook");
    assert!(!hook.fail_closed());
    let d = plugin_api::registry::find(plugin_api::Namespace::Event, "webhook").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
}

#[test]
fn bad_settings_are_explained() {
    let err = |settings| build_with(settings).err().unwrap().to_string();
    let e = err(serde_json::json!({"url": "not a url"}));
    assert!(e.contains("events.hook: url \"not a url\""), "{e}");
    let e = err(serde_json::json!({"url": "http://x", "headers": {"X-Token": "a\nb"}}));
    assert!(e.contains("header \"X-Token\""), "{e}");
    for zero in ["max_attempts", "queue_size", "timeout_ms"] {
        let e = err(serde_json::json!({"url": "http://x", zero: 0}));
        assert!(e.contains("must be positive"), "{zero}: {e}");
    }
}

#[test]
fn redirects_are_not_followed_nor_retried() {
    let elsewhere = Arc::new(Receiver::default());
    let elsewhere_url = receiver(elsewhere.clone());
    let state = Arc::new(Receiver::default());
    state.answers.lock().unwrap().extend([307, 302, 308]);
    *state.location.lock().unwrap() = Some(elsewhere_url);
    let url = receiver(state.clone());
    let hook = build_with(serde_json::json!({
        "url": url, "backoff_ms": 10, "headers": {"X-Token": "t0ken"},
    }))
    .unwrap();
    for id in ["r307", "r302", "r308", "next"] {
        hook.handle(&event(id)).unwrap();
    }
    // Events go out in order: once "next" arrived, the redirected ones are done with.
    assert_eq!(ids(&wait_for(&state, 1)), ["next"]);
    assert_eq!(
        state.requests.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "one attempt per event: a redirect is not retried"
    );
    assert_eq!(
        elsewhere.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect's target never saw the event or its headers"
    );
}

#[test]
fn header_values_are_secret_in_debug() {
    let settings: Settings = serde_json::from_value(serde_json::json!({
        "url": "http://x", "headers": {"Authorization": "Bearer s3cret-t0ken"},
    }))
    .unwrap();
    let shown = format!("{settings:?}");
    assert!(!shown.contains("s3cret-t0ken"), "{shown}");
    assert!(shown.contains("Authorization"), "{shown}");
}

/// A test CA and a certificate for 127.0.0.1 signed by it (made with the openssl command):
/// (CA file, server certificate, server key), PEM.
fn test_pki(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (installed with ca-certificates) makes a test CA");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=webhook test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        std::fs::read(dir.join("server.pem")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    )
}

fn tls_acceptor(cert: &[u8], key: &[u8]) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[test]
fn a_cafile_lets_a_private_ca_be_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let state = Arc::new(Receiver::default());
    let url = listen(state.clone(), Some(tls_acceptor(&cert, &key)));

    let trusting = build_with(serde_json::json!({"url": url, "cafile": ca})).unwrap();
    trusting.handle(&event("over-tls")).unwrap();
    let got = wait_for(&state, 1);
    assert_eq!(ids(&got), ["over-tls"]);
    assert!(got[0].0.starts_with("post /hook "), "{}", got[0].0);

    // Without the CA the receiver is not trusted: the handshake fails, nothing is delivered.
    let untrusting = build_with(serde_json::json!({"url": url, "max_attempts": 1})).unwrap();
    untrusting.handle(&event("refused")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state
        .handshakes_failed
        .load(std::sync::atomic::Ordering::SeqCst)
        == 0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        state
            .handshakes_failed
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(ids(&state.got.lock().unwrap()), ["over-tls"]);
}

#[test]
fn a_bad_cafile_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    for path in [&broken, &missing] {
        let err = build_with(serde_json::json!({"url": "https://x", "cafile": path}))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains(&format!("events.hook: cafile {}: ", path.display())),
            "{err}"
        );
    }
    // Well-formed PEM around something that is not a certificate: the HTTP client refuses it.
    let not_a_cert = dir.path().join("not-a-cert.pem");
    std::fs::write(
        &not_a_cert,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = build_with(serde_json::json!({"url": "https://x", "cafile": not_a_cert}))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("events.hook: HTTP client: "),
        "{err}"
    );
}
