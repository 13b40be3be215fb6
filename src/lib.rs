//! Coffer: a secret-management service speaking the OpenStack Key Manager (Barbican) v1 API.
//!
//! See ARCHITECTURE.md for the map. In short: [`api`] (HTTP) → [`service`] (what each request
//! does, blocking) → [`db`] (SQLite through diesel) and the plugins ([`plugins`] loads them from
//! the link-time registry in `plugin_api`).

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod health;
pub mod json;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod pidfile;
pub mod plugins;
pub mod policy;
pub mod server;
pub mod service;
pub mod timefmt;

// The in-tree plugins register themselves with the registry; naming them links them in.
extern crate audit_log;
extern crate command;
extern crate external_store;
extern crate keystone;
extern crate p11_crypto;
extern crate simple_crypto;
extern crate store_crypto;
extern crate trusted_headers;
extern crate webhook;
