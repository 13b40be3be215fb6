//! The ceiling of Coffer's web stack: the same actix-web and tokio, the same worker count
//! (actix's default, one per core), answering the routes `bench/run.sh` measures with bodies
//! fixed at start-up in the shape and size of Coffer's answers. Whatever Coffer spends beyond
//! this server is its own work: authentication, policy, database, decryption, rendering.
//!
//!   ceiling_bench ADDR            e.g. ceiling_bench 127.0.0.1:9400
//!
//! Routes (any project, any id; no state):
//!   POST /v1/secrets                  201 `{"secret_ref": ".../v1/secrets/<fixed id>"}`
//!   GET  /v1/secrets/{id}/payload     200, the 32 bytes the benchmark stores
//!   GET  /v1/secrets/{id}             200, a secret's metadata (the fixed id)
//!   GET  /v1/secrets                  200, a page of 10 secrets, `"total": 100`

use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};

/// The id every answer names (the benchmark seeds, then reads, this one id).
const ID: &str = "3c7ab6f0-2f5e-4b1a-9c1d-6d3f0e2a8b41";
/// The payload `bench/run.sh` stores: bytes 0 to 31.
const PAYLOAD: [u8; 32] = {
    let mut p = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        p[i] = i as u8;
        i += 1;
    }
    p
};

struct Bodies {
    created: String,
    metadata: String,
    list: String,
}

/// A secret's metadata as Coffer renders it (same keys, same order, similar values).
fn metadata(href: &str) -> String {
    format!(
        concat!(
            r#"{{"algorithm": null, "bit_length": null, "content_types": {{"default": "application/octet-stream"}}, "#,
            r#""created": "2026-12-07T10:00:00.123456", "creator_id": null, "expiration": null, "mode": null, "#,
            r#""name": null, "secret_ref": "{href}/v1/secrets/{id}", "secret_type": "opaque", "status": "ACTIVE", "#,
            r#""updated": "2026-12-07T10:00:00.123456"}}"#
        ),
        href = href,
        id = ID
    )
}

fn bodies(href: &str) -> Bodies {
    let one = metadata(href);
    let page: Vec<&str> = std::iter::repeat_n(one.as_str(), 10).collect();
    Bodies {
        created: format!(r#"{{"secret_ref": "{href}/v1/secrets/{ID}"}}"#),
        list: format!(
            r#"{{"secrets": [{}], "total": 100, "next": "{href}/v1/secrets?limit=10&offset=10"}}"#,
            page.join(", ")
        ),
        metadata: one,
    }
}

async fn create(b: web::Data<Bodies>) -> HttpResponse {
    HttpResponse::Created()
        .content_type(ContentType::json())
        .body(b.created.clone())
}

async fn payload() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::octet_stream())
        .body(&PAYLOAD[..])
}

async fn get(b: web::Data<Bodies>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(b.metadata.clone())
}

async fn list(b: web::Data<Bodies>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(b.list.clone())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: ceiling_bench ADDR (e.g. 127.0.0.1:9400)");
        std::process::exit(2);
    };
    let bodies = web::Data::new(bodies(&format!("http://{addr}")));
    HttpServer::new(move || {
        App::new()
            .app_data(bodies.clone())
            .route("/v1/secrets", web::post().to(create))
            .route("/v1/secrets", web::get().to(list))
            .route("/v1/secrets/{id}", web::get().to(get))
            .route("/v1/secrets/{id}/payload", web::get().to(payload))
    })
    .bind(addr)?
    .run()
    .await
}
