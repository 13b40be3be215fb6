//! The `coffer` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::Settings;
use crate::db::Db;
use crate::{openapi, plugins, server};

#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
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
    /// Database schema management.
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
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply pending migrations.
    Upgrade,
    /// Show applied and pending migrations.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// Every linked plugin: namespace, name, version, status, and whether the configuration loads it.
    List,
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.logging.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = if settings.logging.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialized (tests): keep the existing subscriber.
    drop(result);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let load = || -> anyhow::Result<Settings> {
        let settings = Settings::load(cli.config.as_deref())?;
        init_logging(&settings);
        Ok(settings)
    };
    match cli.command {
        Command::Openapi => {
            print!("{}", openapi::json_text());
            Ok(())
        }
        Command::Serve => {
            let settings = load()?;
            actix_web::rt::System::new().block_on(async move {
                let running = server::start(&settings)?;
                running.server.await.context("serving")
            })
        }
        Command::Db { command } => {
            let db = Db::open(&load()?.database)?;
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
            }
            Ok(())
        }
        Command::Plugins {
            command: PluginsCommand::List,
        } => {
            plugin_api::registry::check()?;
            print!("{}", plugins::format_table(&plugins::list(&load()?)));
            Ok(())
        }
    }
}

/// The entry point of `coffer` (and of binaries that link extra plugin crates).
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
