//! The store's settings: the `store` table of `[stores.NAME]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use plugin_api::{PluginContext, PluginError};
use serde::Deserialize;

/// `[stores.NAME.store]` for a store whose `store_plugin = "external"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExternalSettings {
    /// The plugin executable: an absolute path, a path relative to Coffer's working directory,
    /// or a bare name looked up in `PATH`.
    pub command: PathBuf,
    /// Its arguments. Never put secrets here: argv is readable by every local user.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables. The child otherwise gets only `PATH`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The child's working directory (default: Coffer's).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// How long one call may take before it fails with `Unavailable`.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// How long the child may take to start and answer the handshake.
    #[serde(default = "default_start_timeout_ms")]
    pub start_timeout_ms: u64,
    /// The first delay before restarting a child that keeps failing; doubled on every further
    /// failure up to `restart_backoff_max_ms`.
    #[serde(default = "default_restart_backoff_ms")]
    pub restart_backoff_ms: u64,
    /// The longest delay between two restart attempts.
    #[serde(default = "default_restart_backoff_max_ms")]
    pub restart_backoff_max_ms: u64,
    /// Handed to the child, unchanged, in the handshake.
    #[serde(default = "empty_object")]
    pub settings: serde_json::Value,
}

fn default_call_timeout_ms() -> u64 {
    5000
}

fn default_start_timeout_ms() -> u64 {
    10_000
}

fn default_restart_backoff_ms() -> u64 {
    100
}

fn default_restart_backoff_max_ms() -> u64 {
    30_000
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl ExternalSettings {
    /// Parse and check the store's section.
    pub fn from_context(ctx: &PluginContext<'_>) -> Result<Self, PluginError> {
        if ctx.config.as_object().is_none_or(|o| o.is_empty()) {
            return Err(PluginError::Config(format!(
                "store '{}' uses the external plugin, which needs at least `command` in \
                 [stores.{}.store]",
                ctx.instance, ctx.instance
            )));
        }
        let s: ExternalSettings = ctx.parse_config()?;
        s.check(ctx.instance)?;
        Ok(s)
    }

    /// Check values a section can get wrong (the factory and `ExternalStore::start` call it).
    pub fn check(&self, instance: &str) -> Result<(), PluginError> {
        let bad = |what: &str| {
            Err(PluginError::Config(format!(
                "store '{instance}' (external): {what}"
            )))
        };
        if self.command.as_os_str().is_empty() {
            return bad("`command` is empty");
        }
        if self.call_timeout_ms == 0 || self.start_timeout_ms == 0 {
            return bad("`call_timeout_ms` and `start_timeout_ms` must be at least 1");
        }
        if self.restart_backoff_ms == 0 || self.restart_backoff_max_ms < self.restart_backoff_ms {
            return bad(
                "`restart_backoff_ms` must be at least 1 and at most `restart_backoff_max_ms`",
            );
        }
        if let Some(k) = self
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return bad(&format!("`env` has an invalid variable name {k:?}"));
        }
        Ok(())
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    pub fn start_timeout(&self) -> Duration {
        Duration::from_millis(self.start_timeout_ms)
    }

    /// The delay before restart attempt number `failures` (1 = after the first failure).
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(32);
        let ms = self
            .restart_backoff_ms
            .saturating_mul(1u64 << shift)
            .min(self.restart_backoff_max_ms);
        Duration::from_millis(ms)
    }

    /// The command line, for messages: the executable and its arguments.
    pub fn command_line(&self) -> String {
        let mut out = self.command.display().to_string();
        for a in &self.args {
            out.push(' ');
            out.push_str(a);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Result<ExternalSettings, PluginError> {
        ExternalSettings::from_context(&PluginContext {
            metrics: plugin_api::Metrics::discarding(),
            instance: "files",
            config: &v,
            data_dir: Path::new("/tmp"),
            profile: plugin_api::Profile::Dev,
        })
    }

    #[test]
    fn defaults_fill_everything_but_the_command() {
        let s = parse(json!({"command": "/bin/plugin"})).unwrap();
        assert_eq!(s.call_timeout_ms, 5000);
        assert_eq!(s.start_timeout_ms, 10_000);
        assert_eq!(s.restart_backoff_ms, 100);
        assert_eq!(s.settings, json!({}));
        assert!(s.args.is_empty() && s.env.is_empty() && s.working_dir.is_none());
        assert_eq!(s.command_line(), "/bin/plugin");
    }

    #[test]
    fn every_setting_is_read() {
        let s = parse(json!({
            "command": "/usr/bin/python3", "args": ["plugin.py", "-v"],
            "env": {"LANG": "C.UTF-8"}, "working_dir": "/srv",
            "call_timeout_ms": 10, "start_timeout_ms": 20,
            "restart_backoff_ms": 5, "restart_backoff_max_ms": 50,
            "settings": {"directory": "/srv/secrets", "n": [1, 2]},
        }))
        .unwrap();
        assert_eq!(s.command_line(), "/usr/bin/python3 plugin.py -v");
        assert_eq!(s.env["LANG"], "C.UTF-8");
        assert_eq!(s.settings["n"], json!([1, 2]));
        assert_eq!(s.call_timeout(), Duration::from_millis(10));
    }

    #[test]
    fn bad_sections_are_refused_with_a_reason() {
        for (v, want) in [
            (json!({}), "needs at least `command`"),
            (json!(null), "needs at least `command`"),
            (json!({"command": ""}), "`command` is empty"),
            (json!({"command": "x", "bogus": 1}), "bogus"),
            (json!({"command": "x", "call_timeout_ms": 0}), "at least 1"),
            (
                json!({"command": "x", "restart_backoff_ms": 10, "restart_backoff_max_ms": 5}),
                "restart_backoff_ms",
            ),
            (
                json!({"command": "x", "env": {"A=B": "c"}}),
                "invalid variable",
            ),
            (json!({"command": "x", "args": "not-a-list"}), "files"),
        ] {
            let err = parse(v.clone()).unwrap_err();
            assert!(
                matches!(&err, PluginError::Config(m) if m.contains(want)),
                "{v}: {err}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = parse(json!({"command": "x", "restart_backoff_ms": 100,
                             "restart_backoff_max_ms": 1000}))
        .unwrap();
        let ms: Vec<u128> = (1..=6).map(|n| s.backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(s.backoff(u32::MAX).as_millis(), 1000);
    }
}
