//! The `coffer` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::Db;
use crate::{admin, openapi, plugins, server};

#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("COFFER_GIT_COMMIT"), ")"),
    about = "A Barbican-compatible secret-management service"
)]
pub struct Cli {
    /// Configuration file (default: ./coffer.toml if present).
    #[arg(long, short, global = true, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service.
    Serve,
    /// The database: migrations, backup and restore, the move to PostgreSQL.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Plugins linked into this binary.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print a shell completion script (`coffer completions bash > /etc/bash_completion.d/coffer`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Probe a running server's readiness (`GET /readyz`): exit 0 when ready, 1 otherwise (for
    /// Docker's HEALTHCHECK without curl in the image).
    Health {
        /// The server's base URL (default: from `server.bind`, on loopback).
        #[arg(long)]
        url: Option<String>,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Audit files.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Rewrap every project KEK under its crypto plugin's current master key (after adding a
    /// new master key and making it the active one). Secret ciphertext is not touched; safe to
    /// interrupt and run again.
    RewrapKeks {
        /// Only this store (default: every store).
        #[arg(long)]
        store: Option<String>,
        /// KEKs read per batch.
        #[arg(long, default_value_t = 100)]
        batch_size: i64,
        /// Check every KEK and report what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Append the audit records here (default: <data_dir>/audit/rewrap-keks.jsonl).
        #[arg(long)]
        audit_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Read the configuration (defaults, file, environment), check it, and print what is in
    /// effect with every secret redacted; exit non-zero when it would not start.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of audit files (give rotated files oldest first): report the first
    /// line that was edited, removed, inserted or reordered, and exit non-zero.
    Verify {
        /// The files, in the order they were written.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The chain key, for logs written with `chain_key_file`.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply pending migrations.
    Upgrade,
    /// Show applied and pending migrations.
    Status,
    /// Write a consistent copy of the SQLite database to FILE while the server runs (SQLite's
    /// VACUUM INTO: one snapshot), checked before it gets its name. PostgreSQL: use pg_dump.
    Backup {
        /// The backup file (created 0600; its directory must exist).
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database by the backup FILE, once it is checked (integrity, a schema
    /// this coffer knows); the current database is kept as <database>.before-restore-<time>.
    /// Refused while a server runs on the database. PostgreSQL: use pg_restore.
    Restore {
        /// A file written by `coffer db backup`.
        file: PathBuf,
    },
    /// Copy the SQLite database (of a stopped deployment) into an empty PostgreSQL database,
    /// migrated first if needed, then check every table's row count and checksum.
    Copy {
        /// The PostgreSQL URL (postgres://user@host:port/database); a password is better in
        /// ~/.pgpass or PGPASSWORD than on the command line.
        #[arg(long, env = "COFFER_DB_COPY_TO", hide_env_values = true, value_parser = secret_arg)]
        to: secrecy::SecretString,
        /// Rows per INSERT (at most 3000).
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
}

/// A command-line value kept as a secret (redacted in `Debug`).
fn secret_arg(value: &str) -> Result<secrecy::SecretString, std::convert::Infallible> {
    Ok(secrecy::SecretString::from(value))
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// Every linked plugin: namespace, name, version, status, and whether the configuration loads it.
    List {
        /// One JSON object per line instead of the table (for scripts).
        #[arg(long)]
        json: bool,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let load_logged = || -> anyhow::Result<(Settings, Option<crate::logging::Logging>)> {
        let settings = Settings::load(cli.config.as_deref())?;
        let logging = crate::logging::init(&settings.logging)?;
        Ok((settings, logging))
    };
    let load = || -> anyhow::Result<Settings> { Ok(load_logged()?.0) };
    match cli.command {
        Command::Openapi => {
            print_out(openapi::json_text().as_bytes());
            Ok(())
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "coffer", &mut out);
            print_out(&out);
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { files, key_file },
        } => verify_audit(&files, key_file.as_deref()),
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let settings = Settings::load(cli.config.as_deref())?;
            println!("{settings:#?}");
            server::check_settings(&settings)?;
            println!("configuration ok");
            Ok(())
        }
        Command::Health { url, timeout_ms } => {
            let url = match url {
                Some(u) => u,
                None => {
                    let addr = Settings::load(cli.config.as_deref())?.bind_addr()?;
                    let ip = match addr.ip() {
                        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
                            std::net::Ipv4Addr::LOCALHOST.into()
                        }
                        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
                            std::net::Ipv6Addr::LOCALHOST.into()
                        }
                        ip => ip,
                    };
                    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
                }
            };
            let (status, body) = probe(&url, std::time::Duration::from_millis(timeout_ms))?;
            println!("{}", body.trim_end());
            if status != 200 {
                anyhow::bail!("{url}/readyz answered {status}");
            }
            Ok(())
        }
        Command::Serve => {
            let (settings, logging) = load_logged()?;
            let config = cli.config.clone();
            actix_web::rt::System::new().block_on(async move {
                reload_on_sighup(logging, config)?;
                let running = server::start(&settings)?;
                if let Some((metrics, _)) = running.metrics_server {
                    actix_web::rt::spawn(metrics);
                }
                let served = running.server.await.context("serving");
                // A clean stop: the pid file goes (the last server's).
                drop(running.pid_file);
                served
            })
        }
        Command::Db {
            command: DbCommand::Backup { file, force },
        } => db_backup(&load()?, &file, force),
        Command::Db {
            command: DbCommand::Restore { file },
        } => db_restore(&load()?, &file),
        Command::Db {
            command: DbCommand::Copy { to, batch_size },
        } => db_copy(&load()?, to, batch_size),
        Command::Db { command } => {
            let settings = load()?;
            // `db status` only looks: a SQLite database that does not exist is not created.
            if matches!(command, DbCommand::Status) {
                let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
                if let Ok(crate::db::Target::Sqlite(path)) = crate::db::Target::parse(&url) {
                    if !path.exists() {
                        println!(
                            "no database at {} yet (coffer serve or coffer db upgrade creates it)",
                            path.display()
                        );
                        println!("applied: ");
                        println!("pending: {}", crate::db::known_sqlite_versions().join(", "));
                        return Ok(());
                    }
                }
            }
            let db = Db::open(&settings.database)?;
            match command {
                DbCommand::Upgrade => {
                    let applied = db.upgrade()?;
                    if applied.is_empty() {
                        println!("database is up to date");
                    } else {
                        println!("applied migrations: {}", applied.join(", "));
                    }
                }
                DbCommand::Status => {
                    let s = db.schema_status()?;
                    println!("applied: {}", s.applied.join(", "));
                    println!("pending: {}", s.pending.join(", "));
                    if !s.unknown.is_empty() {
                        println!("unknown (newer than this binary): {}", s.unknown.join(", "));
                    }
                }
                DbCommand::Backup { .. } | DbCommand::Restore { .. } | DbCommand::Copy { .. } => {}
            }
            Ok(())
        }
        Command::RewrapKeks {
            store,
            batch_size,
            dry_run,
            audit_file,
        } => {
            use std::io::IsTerminal;
            let settings = load()?;
            let report = admin::rewrap_keks(
                &settings,
                &admin::RewrapOptions {
                    store,
                    batch_size,
                    dry_run,
                    audit_file,
                    progress: std::io::stderr().is_terminal(),
                },
            )?;
            println!(
                "{}: {} rewrapped, {} already current, {} changed meanwhile, {} failed (audit: {})",
                if dry_run { "dry run" } else { "done" },
                report.rewrapped,
                report.current,
                report.changed,
                report.failed,
                report.audit_file.display()
            );
            if report.failed > 0 {
                anyhow::bail!("{} project KEK(s) could not be rewrapped", report.failed);
            }
            Ok(())
        }
        Command::Plugins {
            command: PluginsCommand::List { json },
        } => {
            plugin_api::registry::check()?;
            let rows = plugins::list(&load()?);
            let text = if json {
                rows.iter()
                    .map(|r| {
                        serde_json::json!({
                            "namespace": r.namespace.as_str(),
                            "name": r.name,
                            "version": r.version,
                            "status": r.status.as_str(),
                            "crate": r.crate_name,
                            "source": r.source,
                            "state": r.state,
                        })
                        .to_string()
                            + "\n"
                    })
                    .collect()
            } else {
                plugins::format_table(&rows)
            };
            print_out(text.as_bytes());
            Ok(())
        }
    }
}

/// The SQLite database `database.url` names, or the PostgreSQL recipe for `command`.
fn sqlite_database(settings: &Settings, command: &str) -> anyhow::Result<PathBuf> {
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url);
    match crate::db::Target::parse(url)? {
        crate::db::Target::Sqlite(path) => Ok(path),
        crate::db::Target::Postgres(_) => {
            anyhow::bail!(crate::db::backup::postgres_recipe(command))
        }
    }
}

/// `coffer db backup FILE`.
fn db_backup(settings: &Settings, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let database = sqlite_database(settings, "backup")?;
    let report = crate::db::backup::backup(&database, file, force, settings.database.timeout_ms)?;
    println!(
        "backup written: {} ({} bytes; integrity ok; schema {})",
        report.file.display(),
        report.bytes,
        report.content.applied.join(", ")
    );
    println!("rows: {}", report.content.rows_text());
    Ok(())
}

/// `coffer db restore FILE`.
fn db_restore(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let database = sqlite_database(settings, "restore")?;
    let report = crate::db::backup::restore(&database, file, settings.database.timeout_ms)?;
    println!(
        "restored {} into {} (integrity ok; schema {})",
        file.display(),
        report.database.display(),
        report.content.applied.join(", ")
    );
    println!("rows: {}", report.content.rows_text());
    if !report.content.pending.is_empty() {
        println!(
            "pending migrations (coffer serve applies them, or coffer db upgrade): {}",
            report.content.pending.join(", ")
        );
    }
    match &report.kept {
        Some(kept) => println!("the previous database is kept as {}", kept.display()),
        None => println!("there was no database before"),
    }
    Ok(())
}

/// `coffer db copy --to URL`: the copy, then one line per table; non-zero when any differs.
fn db_copy(
    settings: &Settings,
    to: secrecy::SecretString,
    batch_size: usize,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let report = crate::db::copy::copy(
        &settings.database,
        &crate::db::copy::CopyOptions {
            to,
            batch_size,
            progress: std::io::stderr().is_terminal(),
        },
    )?;
    if !report.migrated.is_empty() {
        println!("target migrated: {}", report.migrated.join(", "));
    }
    println!("copied {} to {}", report.source, report.target);
    println!(
        "{:<22} {:>10} {:>10}  {:<16}  sha256 postgres",
        "table", "sqlite", "postgres", "sha256 sqlite"
    );
    for t in &report.tables {
        println!(
            "{:<22} {:>10} {:>10}  {:<16}  {:<16}  {}",
            t.table,
            t.source_rows,
            t.target_rows,
            t.source_sum.get(..16).unwrap_or_default(),
            t.target_sum.get(..16).unwrap_or_default(),
            if t.matches() { "ok" } else { "MISMATCH" }
        );
    }
    let differ: Vec<&str> = report
        .tables
        .iter()
        .filter(|t| !t.matches())
        .map(|t| t.table)
        .collect();
    if !differ.is_empty() {
        anyhow::bail!("the copy differs from the source in: {}", differ.join(", "));
    }
    println!(
        "verified: every table has the same rows and checksum on both sides; point database.url at the target"
    );
    Ok(())
}

/// Write to stdout; a closed pipe (`coffer openapi | head`) ends the output quietly.
fn print_out(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// SIGHUP reopens the log file and reads `logging.level` again (instead of ending the
/// process, the signal's default).
fn reload_on_sighup(
    logging: Option<crate::logging::Logging>,
    config: Option<PathBuf>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let level = match Settings::load(config.as_deref()) {
                Ok(s) => Some(s.logging.level),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "SIGHUP: configuration not read again");
                    None
                }
            };
            if let Some(l) = &logging {
                l.reload(level.as_deref());
            }
            tracing::info!("SIGHUP: log file reopened, log level read again");
        }
    });
    Ok(())
}

/// `GET {base}/readyz` over plain HTTP/1.1: (status, body).
fn probe(base: &str, timeout: std::time::Duration) -> anyhow::Result<(u16, String)> {
    use std::io::{Read, Write};
    let url = url::Url::parse(base).with_context(|| format!("--url {base:?} is not a URL"))?;
    if url.scheme() != "http" {
        anyhow::bail!("--url: only http:// is probed (got {})", url.scheme());
    }
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("--url {base:?} has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    write!(
        stream,
        "GET {}readyz HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n",
        if url.path().ends_with('/') {
            url.path().to_owned()
        } else {
            format!("{}/", url.path())
        }
    )?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow::anyhow!("{addr} did not answer HTTP"))?;
    Ok((status, body.to_owned()))
}

/// `coffer audit verify`: one line per note, then the verdict.
fn verify_audit(files: &[PathBuf], key_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use plugin_api::audit_chain;
    let key = key_file
        .map(audit_chain::read_key)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--key-file: {e}"))?;
    let mut readers = Vec::new();
    for f in files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        readers.push((f.display().to_string(), std::io::BufReader::new(file)));
    }
    let report = audit_chain::verify(readers, key);
    for note in &report.notes {
        println!("note: {note}");
    }
    if let Some(problem) = report.problem {
        anyhow::bail!("audit chain broken at {problem}");
    }
    println!(
        "ok: {} line(s) in {} file(s), chain intact; last hash {}",
        report.lines,
        files.len(),
        report.head.as_deref().unwrap_or("(none)")
    );
    Ok(())
}

/// The whole command line: the built-in commands and the operator command groups the linked
/// plugins declare (`coffer hsm ...`), each command with `--store` and its own options.
pub fn command() -> clap::Command {
    use clap::{Arg, CommandFactory};
    let mut cmd = Cli::command();
    for (d, group) in admin::command_groups() {
        let mut sub = clap::Command::new(group.name)
            .about(group.about)
            .subcommand_required(true)
            .arg_required_else_help(true);
        for c in group.commands {
            let mut one = clap::Command::new(c.name).about(c.about).arg(
                Arg::new("store").long("store").help(format!(
                    "The store whose {0} settings to use (default: [crypto.{0}])",
                    d.name
                )),
            );
            for o in c.options {
                let mut arg = Arg::new(o.name).long(o.name).help(o.help);
                if let Some(v) = o.default {
                    arg = arg.default_value(v);
                }
                one = one.arg(arg);
            }
            sub = sub.subcommand(one);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// An operator command of a plugin, as parsed: run it and print its line.
fn run_plugin_command(
    matches: &clap::ArgMatches,
    d: &plugin_api::PluginDescriptor,
    g: &plugin_api::CommandGroup,
) -> anyhow::Result<()> {
    let group = g.name;
    let Some((name, args)) = matches
        .subcommand_matches(group)
        .and_then(clap::ArgMatches::subcommand)
    else {
        anyhow::bail!("coffer {group}: a command is required");
    };
    let c = g
        .commands
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| anyhow::anyhow!("coffer {group}: no command {name}"))?;
    let options = c
        .options
        .iter()
        .filter_map(|o| Some((o.name.to_owned(), args.get_one::<String>(o.name)?.clone())))
        .collect();
    let settings = Settings::load(matches.get_one::<PathBuf>("config").map(PathBuf::as_path))?;
    crate::logging::init(&settings.logging)?;
    let line = admin::run_plugin_command(
        &settings,
        d,
        c,
        args.get_one::<String>("store").map(String::as_str),
        plugin_api::CommandArgs::new(options),
    )?;
    println!("{line}");
    Ok(())
}

/// The entry point of `coffer` (and of binaries that link extra plugin crates).
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    let plugin_group = matches.subcommand_name().and_then(|name| {
        admin::command_groups()
            .into_iter()
            .find(|(_, g)| g.name == name)
    });
    let outcome = match plugin_group {
        Some((d, g)) => run_plugin_command(&matches, d, g),
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => run(cli),
            Err(e) => e.exit(),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
