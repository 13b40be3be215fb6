//! Operator commands: those plugins declare (`coffer hsm ...` from `p11_crypto`), run on the
//! settings section they name, and moving every project KEK to the current master key
//! (`coffer rewrap-keks`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use plugin_api::registry;
use plugin_api::{
    CommandArgs, CommandGroup, CryptoPlugin, Namespace, OperatorCommand, PluginContext,
    PluginDescriptor,
};
use serde_json::json;

use crate::config::Settings;
use crate::db::keks as kek_db;
use crate::db::Db;
use crate::plugins;
use crate::timefmt;

/// The operator command groups the linked plugins declare, with the plugin of each.
pub fn command_groups() -> Vec<(&'static PluginDescriptor, &'static CommandGroup)> {
    registry::all()
        .into_iter()
        .filter_map(|d| d.capabilities.commands.map(|g| (d, g)))
        .collect()
}

/// The settings section an operator command of plugin `d` works on: for `--store NAME`, that
/// store's section for the plugin (its `crypto` table, else the plugin's global one), else the
/// plugin's global section (`[crypto.NAME]`).
fn command_section(
    settings: &Settings,
    d: &PluginDescriptor,
    store: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let section = match store {
        Some(name) => {
            let stores = settings.effective_stores();
            let cfg = stores
                .get(name)
                .ok_or_else(|| anyhow!("no store named '{name}' is configured"))?;
            match d.namespace() {
                Namespace::Crypto if cfg.crypto_plugin.as_deref() == Some(d.name) => {
                    settings.crypto_section(cfg, d.name).cloned()
                }
                Namespace::Store if cfg.store_plugin == d.name => cfg.store.clone(),
                _ => bail!("store '{name}' does not use {}", d.name),
            }
        }
        None => settings.crypto.get(d.name).cloned(),
    };
    section.ok_or_else(|| anyhow!("no {0} settings: add [crypto.{0}]", d.name))
}

/// Run operator command `command` of plugin `d` with `options` (`--store` chooses the
/// settings); the line to print.
pub fn run_plugin_command(
    settings: &Settings,
    d: &PluginDescriptor,
    command: &OperatorCommand,
    store: Option<&str>,
    options: CommandArgs,
) -> anyhow::Result<String> {
    let section = command_section(settings, d, store)?;
    let ctx = PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: store.unwrap_or(d.name),
        config: &section,
        data_dir: &settings.server.data_dir,
        profile: settings.profile.into(),
    };
    (command.run)(&ctx, &options).map_err(|e| anyhow!("{} {}: {e}", d.name, command.name))
}

/// How `coffer rewrap-keks` runs.
#[derive(Debug, Clone)]
pub struct RewrapOptions {
    /// Only this store (default: every store with a crypto plugin).
    pub store: Option<String>,
    pub batch_size: i64,
    /// Check every KEK and report, change nothing.
    pub dry_run: bool,
    /// Where to append the audit records (default `<data_dir>/audit/rewrap-keks.jsonl`).
    pub audit_file: Option<PathBuf>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What `coffer rewrap-keks` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewrapReport {
    /// Rewrapped under the current master key (or, in a dry run, would be).
    pub rewrapped: u64,
    /// Already under the current master key.
    pub current: u64,
    /// Changed by someone else meanwhile (left as they are).
    pub changed: u64,
    /// Could not be rewrapped (see the audit file and the log).
    pub failed: u64,
    pub audit_file: PathBuf,
}

/// Rewrap every project KEK of the selected stores under its crypto plugin's current master
/// key, in batches, without touching any secret's ciphertext. Safe to interrupt and run again:
/// KEKs already under the current key are skipped. Each KEK's outcome is appended to the audit
/// file as a JSON line.
pub fn rewrap_keks(settings: &Settings, opts: &RewrapOptions) -> anyhow::Result<RewrapReport> {
    if opts.batch_size < 1 {
        bail!("--batch-size must be at least 1");
    }
    let loaded = plugins::load(settings)?;
    let db = Db::open(&settings.database).context("opening the database")?;
    let status = db.schema_status()?;
    if !status.pending.is_empty() || !status.unknown.is_empty() {
        bail!("the database schema is not this coffer's: run `coffer db upgrade` (or a matching coffer)");
    }
    let stores: Vec<_> = match &opts.store {
        Some(name) => vec![loaded
            .stores
            .get(name)
            .ok_or_else(|| anyhow!("no store named '{name}' is configured"))?],
        None => loaded.stores.values().collect(),
    };
    let audit_file = opts.audit_file.clone().unwrap_or_else(|| {
        settings
            .server
            .data_dir
            .join("audit")
            .join("rewrap-keks.jsonl")
    });
    if let Some(dir) = audit_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    // Owner-only, never through a symbolic link; an existing file's wider mode is reported.
    let mut audit = crate::files::open_private_append(&audit_file)
        .with_context(|| format!("opening the audit file {}", audit_file.display()))?;
    crate::files::warn_loose([("rewrap audit file", audit_file.as_path())]);
    let mut report = RewrapReport {
        audit_file: audit_file.clone(),
        ..Default::default()
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut record = |value: serde_json::Value| -> anyhow::Result<()> {
        writeln!(audit, "{value}").context("writing the audit file")
    };
    record(json!({
        "time": timefmt::isoformat(&timefmt::now()), "run": run_id, "event": "start",
        "dry_run": opts.dry_run, "stores": stores.iter().map(|s| &s.name).collect::<Vec<_>>(),
    }))?;
    for store in stores {
        let Some(crypto) = store.crypto.as_ref() else {
            continue; // the store keeps no project KEKs
        };
        let total = {
            let mut conn = db.conn()?;
            kek_db::count_for_store(&mut conn, &store.name)?
        };
        let bar = if opts.progress {
            let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} KEKs ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(format!("store {}", store.name));
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut after: Option<String> = None;
        loop {
            let batch = {
                let mut conn = db.conn()?;
                kek_db::page_of_store(&mut conn, &store.name, after.as_deref(), opts.batch_size)?
            };
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            for row in batch {
                let outcome = rewrap_one(&db, crypto.as_ref(), &row, opts.dry_run);
                let (label, error, to) = match &outcome {
                    Ok(Outcome::Rewrapped(to)) => {
                        report.rewrapped += 1;
                        (
                            if opts.dry_run {
                                "would-rewrap"
                            } else {
                                "rewrapped"
                            },
                            None,
                            Some(to.clone()),
                        )
                    }
                    Ok(Outcome::Current) => {
                        report.current += 1;
                        ("current", None, None)
                    }
                    Ok(Outcome::Changed) => {
                        report.changed += 1;
                        ("changed-meanwhile", None, None)
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::error!(kek = %row.id, store = %store.name, error = %e, "could not rewrap a project KEK");
                        ("failed", Some(e.to_string()), None)
                    }
                };
                record(json!({
                    "time": timefmt::isoformat(&timefmt::now()), "run": run_id,
                    "event": "kek", "store": store.name, "kek_id": row.id,
                    "project_id": row.project_id, "from_master_key": row.master_key_id,
                    "to_master_key": to, "outcome": label, "error": error,
                }))?;
                bar.inc(1);
            }
        }
        bar.finish_and_clear();
    }
    record(json!({
        "time": timefmt::isoformat(&timefmt::now()), "run": run_id, "event": "end",
        "rewrapped": report.rewrapped, "current": report.current,
        "changed": report.changed, "failed": report.failed,
    }))?;
    audit.sync_all().context("syncing the audit file")?;
    Ok(report)
}

enum Outcome {
    /// The master key id it is now (or would be) wrapped under.
    Rewrapped(String),
    Current,
    Changed,
}

fn rewrap_one(
    db: &Db,
    crypto: &dyn CryptoPlugin,
    row: &kek_db::KekRow,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    if row.plugin_name != crypto.name() {
        bail!(
            "the KEK belongs to crypto plugin '{}', the store now uses '{}'",
            row.plugin_name,
            crypto.name()
        );
    }
    let Some(new) = crypto.rewrap_project_kek(&row.to_project_kek())? else {
        return Ok(Outcome::Current);
    };
    let to = new.master_key_id.clone();
    if dry_run {
        return Ok(Outcome::Rewrapped(to));
    }
    let (id, previous) = (row.id.clone(), row.wrapped_kek.clone());
    let stored =
        db.write(move |c| kek_db::replace_wrapped(c, &id, &previous, &new, timefmt::now()))?;
    Ok(if stored {
        Outcome::Rewrapped(to)
    } else {
        Outcome::Changed
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn settings_in(dir: &std::path::Path) -> Settings {
        let mut s = Settings::defaults();
        s.server.data_dir = dir.join("data");
        s.database.url = format!("sqlite://{}/data/coffer.db", dir.display()).into();
        let db = Db::open(&s.database).unwrap();
        db.prepare(true).unwrap();
        s
    }

    fn opts(audit_file: Option<PathBuf>) -> RewrapOptions {
        RewrapOptions {
            store: None,
            batch_size: 10,
            dry_run: true,
            audit_file,
            progress: false,
        }
    }

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn the_rewrap_audit_file_is_owner_only_and_never_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings_in(tmp.path());
        let report = rewrap_keks(&s, &opts(None)).unwrap();
        let default = tmp.path().join("data/audit/rewrap-keks.jsonl");
        assert_eq!(report.audit_file, default);
        assert_eq!(mode(&tmp.path().join("data/audit")), 0o700);
        assert_eq!(mode(&default), 0o600);
        let lines = std::fs::read_to_string(&default).unwrap();
        assert!(lines.contains("\"event\":\"start\"") && lines.contains("\"event\":\"end\""));

        // A link planted where the audit file goes is refused; its target is left alone.
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, b"precious").unwrap();
        let link = tmp.path().join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = rewrap_keks(&s, &opts(Some(link.clone()))).unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("opening the audit file {}", link.display())),
            "{err:#}"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }
}
