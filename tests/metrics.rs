//! `/metrics`: every metric of the catalogue moves under a scripted workload (the ones of the
//! Keystone, HSM and external plugins in their own suites), the Grafana dashboard uses only
//! metrics that exist, and `server.metrics_bind` / `server.metrics = false` do what they say.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coffer::config::EventSettings;
use common::{settings_in, TestServer};
use serde_json::{json, Value};

/// One sample of the text exposition: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse Prometheus' text format (comments skipped; label values unescaped).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value.parse().expect("a numeric value");
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name, parse_labels(body))
            }
        };
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

fn parse_labels(mut body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body.split_once("=\"").expect("key=\"value\"");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => match chars.next().expect("an escaped character").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        body = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The sum of the samples of `name` whose labels include every pair of `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(client: &reqwest::Client, base: &str) -> (u16, String, String) {
    let res = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ctype, res.text().await.unwrap_or_default())
}

fn instance(plugin: &str, settings: Value) -> EventSettings {
    EventSettings {
        plugin: plugin.into(),
        on: vec!["success".into(), "failure".into()],
        events: None,
        settings: Some(settings),
    }
}

/// Metric names a Grafana dashboard's queries use (`coffer_...`, histogram series folded to
/// their metric).
fn dashboard_metrics(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "expr" {
                        let expr = v.as_str().expect("expr is text");
                        let mut rest = expr;
                        while let Some(at) = rest.find("coffer_") {
                            let name: String = rest[at..]
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            rest = &rest[at + name.len()..];
                            let base = ["_bucket", "_sum", "_count"]
                                .iter()
                                .find_map(|s| name.strip_suffix(s))
                                .filter(|b| coffer::metrics::describe(b).is_some())
                                .map(str::to_owned)
                                .unwrap_or(name);
                            out.push(base);
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Metrics only the Keystone, HSM and external plugins report (checked by their suites).
const OTHER_SUITES: &[&str] = &[
    "coffer_keystone_validations_total",
    "coffer_keystone_cache_hits_total",
    "coffer_keystone_failures_total",
    "coffer_external_restarts_total",
    "coffer_hsm_sessions_in_use",
];

#[actix_web::test]
async fn every_metric_moves_under_a_workload_and_the_dashboard_uses_only_real_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.events.insert(
        "audit".into(),
        instance("audit_log", json!({"path": "audit.jsonl"})),
    );
    // Nothing listens on port 1: every delivery is retried once, then given up.
    s.events.insert(
        "hook".into(),
        instance(
            "webhook",
            json!({"url": "http://127.0.0.1:1/hook", "max_attempts": 2, "backoff_ms": 10,
                   "timeout_ms": 500}),
        ),
    );
    let srv = TestServer::start(s).expect("server starts");
    let c = &srv.client;

    let (status, ctype, before) = scrape(c, &srv.base).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let before = parse(&before);

    // The workload: secrets created, read (twice, so the KEK cache hits), listed, deleted; an
    // order; a secret whose store metadata was tampered with (a failing store call).
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            srv.create(
                "metrics-p",
                json!({"name": format!("m{i}"), "payload": "c2VjcmV0", "payload_content_type":
                       "application/octet-stream", "payload_content_encoding": "base64"}),
            )
            .await,
        );
    }
    for id in &ids {
        for _ in 0..2 {
            let r = c
                .get(srv.url(&format!("/v1/secrets/{id}/payload")))
                .header("X-Project-Id", "metrics-p")
                .header("Accept", "application/octet-stream")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let r = c
        .get(srv.url("/v1/secrets?limit=2"))
        .header("X-Project-Id", "metrics-p")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .delete(srv.url(&format!("/v1/secrets/{}", ids[0])))
        .header("X-Project-Id", "metrics-p")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(srv.url("/v1/orders"))
        .header("X-Project-Id", "metrics-p")
        .json(
            &json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256,
                      "mode": "cbc"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    {
        use diesel::RunQueryDsl;
        let mut conn = common::db(dir.path());
        let sql = format!(
            "UPDATE secrets SET store_metadata = '{{}}' WHERE id = '{}'",
            ids[1]
        );
        match &mut conn {
            coffer::db::DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c),
            coffer::db::DbConn::Pg(c) => diesel::sql_query(sql).execute(c),
        }
        .expect("tamper");
    }
    let r = c
        .get(srv.url(&format!("/v1/secrets/{}/payload", ids[1])))
        .header("X-Project-Id", "metrics-p")
        .header("Accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error() || r.status().is_client_error());

    // Deliveries to the webhook happen in the background: wait for its retries and drops.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let (_, _, text) = scrape(c, &srv.base).await;
        let now = parse(&text);
        let settled = total(&now, "coffer_event_dropped_total", &[("instance", "hook")])
            .unwrap_or(0.0)
            >= 5.0
            && total(&now, "coffer_event_pending", &[("instance", "hook")]) == Some(0.0);
        if settled || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let moved = |name: &str, with: &[(&str, &str)]| {
        let a = total(&before, name, with).unwrap_or(0.0);
        let b =
            total(&after, name, with).unwrap_or_else(|| panic!("{name} {with:?} is not exported"));
        assert!(b > a, "{name} {with:?} did not move: {a} -> {b}");
    };
    let exported = |name: &str, with: &[(&str, &str)]| {
        assert!(
            total(&after, name, with).is_some(),
            "{name} {with:?} is not exported"
        );
    };
    let payload = [
        ("route", "/v1/secrets/{secret_id}/payload"),
        ("method", "GET"),
        ("status", "200"),
    ];
    moved("coffer_http_requests_total", &payload);
    moved(
        "coffer_http_requests_total",
        &[
            ("route", "/v1/secrets"),
            ("method", "POST"),
            ("status", "201"),
        ],
    );
    moved(
        "coffer_http_request_duration_seconds_count",
        &[
            ("route", "/v1/secrets/{secret_id}/payload"),
            ("method", "GET"),
        ],
    );
    exported("coffer_db_pool_connections", &[("state", "in_use")]);
    assert!(total(&after, "coffer_db_pool_connections", &[]).is_some_and(|n| n >= 1.0));
    exported("coffer_db_pool_waiting", &[]);
    if !common::on_postgres() {
        moved("coffer_sqlite_commit_batch_size_count", &[]);
        moved("coffer_sqlite_commit_seconds_count", &[]);
    }
    moved(
        "coffer_store_call_duration_seconds_count",
        &[("store", "software"), ("operation", "get_secret")],
    );
    moved(
        "coffer_store_call_duration_seconds_count",
        &[
            ("store", "software"),
            ("operation", "generate_symmetric_key"),
        ],
    );
    moved(
        "coffer_store_call_errors_total",
        &[("store", "software"), ("operation", "get_secret")],
    );
    exported(
        "coffer_store_call_errors_total",
        &[("store", "software"), ("operation", "store_secret")],
    );
    moved(
        "coffer_kek_cache_requests_total",
        &[("store", "software"), ("result", "hit")],
    );
    moved(
        "coffer_kek_cache_requests_total",
        &[("store", "software"), ("result", "miss")],
    );
    exported("coffer_orders_pending", &[]);
    exported("coffer_orders_oldest_pending_age_seconds", &[]);
    moved(
        "coffer_event_deliveries_total",
        &[("instance", "audit"), ("result", "delivered")],
    );
    moved(
        "coffer_event_deliveries_total",
        &[("instance", "hook"), ("result", "delivered")],
    );
    moved("coffer_event_retries_total", &[("instance", "hook")]);
    moved("coffer_event_dropped_total", &[("instance", "hook")]);
    exported("coffer_event_dropped_total", &[("instance", "audit")]);
    exported("coffer_event_pending", &[("instance", "audit")]);

    // Every metric of the catalogue but the other suites' is exported here; none is labelled
    // with anything the catalogue does not declare.
    for m in coffer::metrics::CATALOGUE {
        if OTHER_SUITES.contains(&m.name) {
            continue;
        }
        let series: Vec<&Sample> = after
            .iter()
            .filter(|s| {
                s.name == m.name
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|x| s.name == format!("{}{x}", m.name))
            })
            .collect();
        if common::on_postgres() && m.name.starts_with("coffer_sqlite_") {
            assert!(series.is_empty(), "{} on PostgreSQL", m.name);
            continue;
        }
        assert!(!series.is_empty(), "{} is not exported", m.name);
        for s in series {
            for k in s.labels.keys().filter(|k| *k != "le") {
                assert!(m.labels.contains(&k.as_str()), "{}: label {k}", m.name);
            }
        }
    }
    // No route label holds a path as sent (ids, garbage): only patterns, or "-".
    for s in after
        .iter()
        .filter(|s| s.name == "coffer_http_requests_total")
    {
        let route = &s.labels["route"];
        assert!(
            route == "-" || !route.contains(&ids[1]),
            "a raw path in a route label: {route}"
        );
    }

    // The dashboard queries only metrics of the catalogue, and every one of them that this
    // suite exports is in the scrape.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/coffer.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).unwrap();
    let used = dashboard_metrics(&dashboard);
    assert!(used.len() >= 15, "the dashboard uses only {used:?}");
    for name in &used {
        assert!(
            coffer::metrics::describe(name).is_some(),
            "the dashboard uses {name}, which Coffer does not export"
        );
    }
    for m in coffer::metrics::CATALOGUE {
        assert!(
            used.iter().any(|u| u == m.name),
            "the dashboard does not show {}",
            m.name
        );
    }
    srv.stop().await;
}

#[actix_web::test]
async fn garbage_paths_are_counted_under_one_label() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).expect("server starts");
    let c = &srv.client;
    for i in 0..20 {
        let r = c
            .get(srv.url(&format!("/nowhere-{i}/%ff")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let (_, _, text) = scrape(c, &srv.base).await;
    let samples = parse(&text);
    assert!(
        !samples
            .iter()
            .any(|s| s.labels.get("route").is_some_and(|r| r.contains("nowhere"))),
        "a raw path became a label value"
    );
    assert!(total(
        &samples,
        "coffer_http_requests_total",
        &[("route", "-"), ("status", "404")]
    )
    .is_some_and(|n| n >= 20.0));
    srv.stop().await;
}

#[actix_web::test]
async fn metrics_bind_moves_the_endpoint_to_its_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.server.metrics_bind = Some("127.0.0.1:0".into());
    let srv = TestServer::start(s).expect("server starts");
    let c = &srv.client;
    let (status, _, _) = scrape(c, &srv.base).await;
    assert_eq!(status, 404, "/metrics is still on the API listener");
    let own = srv.metrics_base.clone().expect("a metrics listener");
    let (status, _, text) = scrape(c, &own).await;
    assert_eq!(status, 200);
    assert!(text.contains("coffer_db_pool_connections"), "{text}");
    // The metrics listener serves nothing else.
    let r = c.get(format!("{own}/v1/secrets")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    srv.stop().await;
}

#[actix_web::test]
async fn without_metrics_there_is_no_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.server.metrics = false;
    let srv = TestServer::start(s).expect("server starts");
    let (status, _, _) = scrape(&srv.client, &srv.base).await;
    assert_eq!(status, 404);
    srv.stop().await;
}

#[test]
fn the_parser_reads_escaped_label_values() {
    let s = parse("# HELP x y\nx_total{route=\"/a/{id}\",q=\"say \\\"hi\\\", ok\"} 3\ny 1.5\n");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].labels["route"], "/a/{id}");
    assert_eq!(s[0].labels["q"], "say \"hi\", ok");
    assert_eq!(s[0].value, 3.0);
    assert_eq!(s[1].value, 1.5);
}
