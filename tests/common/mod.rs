//! Starts the real Coffer server on a random loopback port with its own data directory.

#![allow(dead_code)]

use std::path::PathBuf;

use coffer::config::Settings;

pub struct TestServer {
    pub base: String,
    pub handle: actix_web::dev::ServerHandle,
    pub settings: Settings,
    pub client: reqwest::Client,
}

/// Settings for a server bound to 127.0.0.1:0 with its data under `dir`.
pub fn settings_in(dir: &std::path::Path) -> Settings {
    let mut s = Settings::defaults();
    s.server.bind = "127.0.0.1:0".into();
    s.server.data_dir = dir.to_path_buf();
    s.database.url = format!("sqlite://{}/coffer.db", dir.display());
    s.server.workers = Some(2);
    s
}

impl TestServer {
    /// Start a server with these settings (inside an actix runtime).
    pub fn start(settings: Settings) -> anyhow::Result<TestServer> {
        let running = coffer::server::start(&settings)?;
        let handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        Ok(TestServer {
            base: format!("http://{}", running.addr),
            handle,
            settings,
            client: reqwest::Client::new(),
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.settings.server.data_dir.clone()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST a secret as project `project`; returns its id.
    pub async fn create(&self, project: &str, body: serde_json::Value) -> String {
        let res = self
            .client
            .post(self.url("/v1/secrets"))
            .header("X-Project-Id", project)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: serde_json::Value = res.json().await.expect("json");
        v["secret_ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .expect("secret_ref")
            .to_owned()
    }

    /// GET a payload as project `project`: (status, body).
    pub async fn payload(&self, project: &str, id: &str) -> (u16, Vec<u8>) {
        let res = self
            .client
            .get(self.url(&format!("/v1/secrets/{id}/payload")))
            .header("X-Project-Id", project)
            .header("Accept", "application/octet-stream")
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.bytes().await.expect("body").to_vec())
    }
}
