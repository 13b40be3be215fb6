//! Bad input is a 4xx on both databases (this file runs on SQLite, and on PostgreSQL with
//! `COFFER_TEST_BACKEND=postgres`): NUL characters, oversized ids, out-of-range quotas, paging
//! arithmetic, huge query strings, ACL users that look like JSON, oversized containers; and
//! tampered rows are integrity failures, answered as Barbican answers a failed decryption.

// Helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use common::{settings_in, TestServer};
use diesel::prelude::*;
use serde_json::{json, Value};

struct Srv {
    srv: TestServer,
    _dir: tempfile::TempDir,
}

fn start() -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    Srv { srv, _dir: dir }
}

impl Srv {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        project: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .srv
            .client
            .request(method, self.srv.url(path))
            .header("X-Project-Id", project)
            .header("X-User-Id", "u1");
        // The quota administrators' project acts as Barbican's service admin.
        if project == "admin-project" {
            r = r.header("X-Roles", "key-manager:service-admin");
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn secret(&self, project: &str) -> String {
        let (s, b) = self
            .send(
                reqwest::Method::POST,
                "/v1/secrets",
                project,
                Some(json!({"payload": "p", "payload_content_type": "text/plain"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["secret_ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }
}

#[actix_web::test]
async fn a_nul_character_anywhere_is_a_400_never_a_500() {
    use reqwest::Method as M;
    let s = start();
    let sid = s.secret("p1").await;
    let container = {
        let (st, b) = s
            .send(
                M::POST,
                "/v1/containers",
                "p1",
                Some(json!({"type": "generic", "name": "c"})),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        b["container_ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let nul = "a\u{0}b";
    let secret_ref = s.srv.url(&format!("/v1/secrets/{sid}"));
    let cases: Vec<(M, String, Option<Value>)> = vec![
        (M::POST, "/v1/secrets".into(), Some(json!({"name": nul}))),
        (
            M::POST,
            "/v1/secrets".into(),
            Some(json!({"algorithm": nul})),
        ),
        (M::POST, "/v1/secrets".into(), Some(json!({"mode": nul}))),
        (M::POST, "/v1/secrets".into(), Some(json!({nul: "x"}))),
        (M::GET, "/v1/secrets?name=a%00b".into(), None),
        (M::GET, "/v1/secrets?alg=%00".into(), None),
        (M::GET, "/v1/containers?name=a%00b".into(), None),
        (
            M::PUT,
            format!("/v1/secrets/{sid}/metadata"),
            Some(json!({"metadata": {"k": nul}})),
        ),
        (
            M::POST,
            format!("/v1/secrets/{sid}/metadata"),
            Some(json!({"key": "k", "value": nul})),
        ),
        (
            M::POST,
            "/v1/containers".into(),
            Some(json!({"type": "generic", "name": nul})),
        ),
        (
            M::POST,
            "/v1/containers".into(),
            Some(
                json!({"type": "generic", "secret_refs": [{"name": nul, "secret_ref": secret_ref}]}),
            ),
        ),
        (
            M::POST,
            format!("/v1/containers/{container}/consumers"),
            Some(json!({"name": nul, "URL": "http://x"})),
        ),
        (
            M::POST,
            format!("/v1/containers/{container}/consumers"),
            Some(json!({"name": "n", "URL": nul})),
        ),
        (
            M::POST,
            format!("/v1/secrets/{sid}/consumers"),
            Some(json!({"service": nul, "resource_type": "t", "resource_id": "r"})),
        ),
        (
            M::PUT,
            format!("/v1/secrets/{sid}/acl"),
            Some(json!({"read": {"users": [nul]}})),
        ),
        (
            M::POST,
            "/v1/orders".into(),
            Some(
                json!({"type": "key", "meta": {"name": nul, "algorithm": "aes", "bit_length": 256, "mode": "cbc"}}),
            ),
        ),
    ];
    for (method, path, body) in cases {
        let (status, b) = s.send(method.clone(), &path, "p1", body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body:?}: {b}");
    }
    for (method, path, body) in [(
        M::PUT,
        "/v1/project-quotas/a%00b",
        Some(json!({"project_quotas": {"secrets": 5}})),
    )] {
        let (status, b) = s
            .send(method.clone(), path, "admin-project", body.clone())
            .await;
        assert_eq!(status, 400, "{method} {path} {body:?}: {b}");
    }
    // Ids and keys holding a NUL are refused the same way.
    for (project, path) in [
        ("p1", "/v1/orders/a%00b".to_owned()),
        ("admin-project", "/v1/project-quotas/a%00b".to_owned()),
        ("p1", format!("/v1/secrets/{sid}%00")),
        ("p1", format!("/v1/secrets/{sid}/metadata/a%00b")),
        ("p1", format!("/v1/containers/{container}%00")),
        ("p1", "/v1/secret-stores/a%00b".to_owned()),
        ("p1", "/v1/transport_keys/a%00b".to_owned()),
    ] {
        let (status, b) = s.send(M::GET, &path, project, None).await;
        assert_eq!(status, 400, "{path}: {b}");
    }
    // A payload is bytes: a NUL in it is stored and read back.
    let (st, b) = s
        .send(
            M::POST,
            "/v1/secrets",
            "p1",
            Some(json!({"payload": "x\u{0}y", "payload_content_type": "text/plain"})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let id = b["secret_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(s.srv.payload("p1", &id).await, (200, b"x\0y".to_vec()));
    s.srv.stop().await;
}

#[actix_web::test]
async fn ids_and_strings_are_bounded_where_both_databases_index_them() {
    use reqwest::Method as M;
    let s = start();
    let long = "p".repeat(3000);
    let r = s
        .srv
        .client
        .get(s.srv.url("/v1/secrets"))
        .header("X-Project-Id", long.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .srv
        .client
        .get(s.srv.url("/v1/secrets"))
        .header("X-Project-Id", "p".repeat(255))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "255 characters are a project id");
    let r = s
        .srv
        .client
        .get(s.srv.url("/v1/secrets"))
        .header("X-Project-Id", "p1")
        .header("X-User-Id", "u".repeat(3000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let sid = s.secret("p1").await;
    let (st, b) = s
        .send(
            M::POST,
            &format!("/v1/secrets/{sid}/consumers"),
            "p1",
            Some(json!({"service": "s", "resource_type": "t", "resource_id": "r".repeat(3000)})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    assert!(
        b["description"].as_str().unwrap().contains("is too long"),
        "{b}"
    );
    let (st, _) = s
        .send(
            M::PUT,
            &format!("/v1/project-quotas/{}", "q".repeat(3000)),
            "admin-project",
            Some(json!({"project_quotas": {"secrets": 5}})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, b) = s
        .send(
            M::PUT,
            &format!("/v1/secrets/{sid}/metadata"),
            "p1",
            Some(json!({"metadata": {"k".repeat(3000): "v"}})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    s.srv.stop().await;
}

#[actix_web::test]
async fn out_of_range_quotas_are_refused_and_change_nothing() {
    use reqwest::Method as M;
    let s = start();
    let (st, _) = s
        .send(
            M::PUT,
            "/v1/project-quotas/x",
            "admin-project",
            Some(json!({"project_quotas": {"secrets": 7}})),
        )
        .await;
    assert_eq!(st, 204);
    for bad in [json!(2147483648_i64), json!(-2147483649_i64), json!(1e30)] {
        let (st, b) = s
            .send(
                M::PUT,
                "/v1/project-quotas/x",
                "admin-project",
                Some(json!({"project_quotas": {"secrets": bad}})),
            )
            .await;
        assert_eq!(st, 400, "{bad}: {b}");
    }
    let (st, b) = s
        .send(M::GET, "/v1/project-quotas/x", "admin-project", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(b["project_quotas"]["secrets"], 7, "{b}");
    s.srv.stop().await;
}

#[actix_web::test]
async fn paging_at_the_edge_of_i64_never_overflows() {
    use reqwest::Method as M;
    let s = start();
    s.secret("p1").await;
    for q in [
        "offset=9223372036854775806&limit=100",
        "offset=9223372036854775807&limit=100",
        "offset=9223372036854775808&limit=100",
        "offset=-9223372036854775808&limit=-9223372036854775808",
    ] {
        for collection in ["secrets", "containers", "orders"] {
            let (st, b) = s
                .send(M::GET, &format!("/v1/{collection}?{q}"), "p1", None)
                .await;
            assert_eq!(st, 200, "{collection}?{q}: {b}");
            for link in ["previous", "next"] {
                if let Some(l) = b[link].as_str() {
                    assert!(!l.contains("offset=-"), "{l}");
                }
            }
        }
    }
    s.srv.stop().await;
}

#[actix_web::test]
async fn query_strings_are_bounded() {
    use reqwest::Method as M;
    let s = start();
    let many: Vec<String> = (0..5000).map(|i| format!("p{i}=v")).collect();
    let (st, b) = s
        .send(
            M::GET,
            &format!("/v1/secrets?{}", many.join("&")),
            "p1",
            None,
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let few: Vec<String> = (0..60).map(|i| format!("p{i}=v")).collect();
    let (st, _) = s
        .send(
            M::GET,
            &format!("/v1/secrets?{}", few.join("&")),
            "p1",
            None,
        )
        .await;
    assert_eq!(st, 200);
    s.srv.stop().await;
}

#[actix_web::test]
async fn acl_only_lists_match_users_exactly() {
    use reqwest::Method as M;
    let s = start();
    let sid = s.secret("p1").await;
    let (st, _) = s
        .send(
            M::PUT,
            &format!("/v1/secrets/{sid}/acl"),
            "p1",
            Some(json!({"read": {"users": ["alice", "bob"], "project-access": false}})),
        )
        .await;
    assert_eq!(st, 200);
    let listed = |user: &'static str| {
        let s = &s;
        async move {
            let r = s
                .srv
                .client
                .get(s.srv.url("/v1/secrets?acl_only=true"))
                .header("X-Project-Id", "p2")
                .header("X-User-Id", user)
                .header("X-Roles", "creator")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["total"].as_i64().unwrap()
        }
    };
    assert_eq!(listed("alice").await, 1);
    assert_eq!(listed("bob").await, 1);
    for not_a_user in ["\",\"", "alice\",\"bob", "ali", "\"alice\"", "[", "bob\"]"] {
        assert_eq!(listed(not_a_user).await, 0, "{not_a_user}");
    }
    s.srv.stop().await;
}

#[actix_web::test]
async fn containers_have_a_bounded_number_of_references() {
    use reqwest::Method as M;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.containers.max_secret_refs = 150;
    let s = Srv {
        srv: TestServer::start(settings).unwrap(),
        _dir: dir,
    };
    let mut refs = Vec::new();
    for i in 0..151 {
        let id = s.secret("p1").await;
        refs.push(
            json!({"name": format!("s{i}"), "secret_ref": s.srv.url(&format!("/v1/secrets/{id}"))}),
        );
    }
    let (st, b) = s
        .send(
            M::POST,
            "/v1/containers",
            "p1",
            Some(json!({"type": "generic", "secret_refs": refs})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    assert!(
        b["description"]
            .as_str()
            .unwrap()
            .contains("max_secret_refs"),
        "{b}"
    );
    refs.pop();
    let (st, b) = s
        .send(
            M::POST,
            "/v1/containers",
            "p1",
            Some(json!({"type": "generic", "secret_refs": refs.clone()})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let cid = b["container_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let extra = s.secret("p1").await;
    let (st, b) = s
        .send(
            M::POST,
            &format!("/v1/containers/{cid}/secrets"),
            "p1",
            Some(json!({"name": "one-more", "secret_ref": s.srv.url(&format!("/v1/secrets/{extra}"))})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    // A reference to a secret of another project is still a 404, whatever its position.
    let foreign = s.secret("p2").await;
    refs.truncate(10);
    refs.push(
        json!({"name": "foreign", "secret_ref": s.srv.url(&format!("/v1/secrets/{foreign}"))}),
    );
    let (st, b) = s
        .send(
            M::POST,
            "/v1/containers",
            "p1",
            Some(json!({"type": "generic", "secret_refs": refs})),
        )
        .await;
    assert_eq!(st, 404, "{b}");
    assert!(
        b["description"].as_str().unwrap().contains("'foreign'"),
        "{b}"
    );
    s.srv.stop().await;
}

#[actix_web::test]
async fn concurrent_quota_changes_of_one_project_lose_nothing() {
    use reqwest::Method as M;
    let s = start();
    for round in 0..20 {
        let a = s.send(
            M::PUT,
            "/v1/project-quotas/race",
            "admin-project",
            Some(json!({"project_quotas": {"secrets": round}})),
        );
        let b = s.send(
            M::PUT,
            "/v1/project-quotas/race",
            "admin-project",
            Some(json!({"project_quotas": {"orders": round}})),
        );
        let ((sa, _), (sb, _)) = tokio::join!(a, b);
        assert_eq!((sa, sb), (204, 204));
        let (_, q) = s
            .send(M::GET, "/v1/project-quotas/race", "admin-project", None)
            .await;
        assert_eq!(
            (
                q["project_quotas"]["secrets"].clone(),
                q["project_quotas"]["orders"].clone()
            ),
            (json!(round), json!(round)),
            "round {round}: {q}"
        );
    }
    s.srv.stop().await;
}

#[actix_web::test]
async fn tampered_rows_fail_as_integrity_failures() {
    use coffer::db::schema::secrets::dsl as sec;
    let s = start();
    let dir = s.srv.data_dir();
    let moved = s.secret("p1").await;
    let other_kek = s.secret("p2").await;
    let no_kek = s.secret("p1").await;
    let kek_of = |id: &str| -> String {
        let meta: Option<String> = sec::secrets
            .filter(sec::id.eq(id))
            .select(sec::store_metadata)
            .first(&mut common::db(&dir))
            .unwrap();
        let meta: Value = serde_json::from_str(&meta.unwrap()).unwrap();
        meta["kek_id"].as_str().unwrap().to_owned()
    };
    let set_meta = |id: &str, f: &dyn Fn(&mut Value)| {
        let meta: Option<String> = sec::secrets
            .filter(sec::id.eq(id))
            .select(sec::store_metadata)
            .first(&mut common::db(&dir))
            .unwrap();
        let mut meta: Value = serde_json::from_str(&meta.unwrap()).unwrap();
        f(&mut meta);
        diesel::update(sec::secrets.filter(sec::id.eq(id)))
            .set(sec::store_metadata.eq(meta.to_string()))
            .execute(&mut common::db(&dir))
            .unwrap();
    };
    // A secret row moved to another project.
    diesel::update(sec::secrets.filter(sec::id.eq(&moved)))
        .set(sec::project_id.eq("p2"))
        .execute(&mut common::db(&dir))
        .unwrap();
    // A KEK id pointing at another project's KEK.
    let p2_kek = kek_of(&other_kek);
    let victim = s.secret("p1").await;
    set_meta(&victim, &|m| m["kek_id"] = json!(p2_kek.clone()));
    // kek_id missing.
    set_meta(&no_kek, &|m| {
        m.as_object_mut().unwrap().remove("kek_id");
    });
    for (project, id) in [("p2", &moved), ("p1", &victim), ("p1", &no_kek)] {
        let (status, body) = s.srv.payload(project, id).await;
        assert_eq!(status, 500, "{id}: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["description"],
            "Secret payload retrieval failure seen - please contact site administrator."
        );
    }
    s.srv.stop().await;
}

#[actix_web::test]
async fn a_secret_is_deleted_row_first_even_when_its_store_cannot_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.plugins.allow_experimental = true;
    settings.stores.insert(
        "mem".into(),
        coffer::config::StoreSettings {
            store_plugin: "memory".into(),
            crypto_plugin: None,
            global_default: true,
            store: Some(json!({"fail_deletes": true})),
            crypto: None,
        },
    );
    let s = Srv {
        srv: TestServer::start(settings).unwrap(),
        _dir: dir,
    };
    let id = s.secret("p1").await;
    let (status, b) = s
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/secrets/{id}"),
            "p1",
            None,
        )
        .await;
    // The row is gone (what every reader sees); the store's leftover is logged, not a failure.
    assert_eq!(status, 204, "{b}");
    let (status, _) = s
        .send(
            reqwest::Method::GET,
            &format!("/v1/secrets/{id}"),
            "p1",
            None,
        )
        .await;
    assert_eq!(status, 404);
    s.srv.stop().await;
}
