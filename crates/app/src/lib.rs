//! The `reachkit` binary's library: settings, wiring, command line, server.
//!
//! `main.rs` only parses the command line and calls [`run`]; end-to-end tests drive the same
//! code, in process or through the built binary.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod idle;
pub mod import;
pub mod inbound;
pub mod server;
pub mod settings;
pub mod sync;
pub mod telemetry;
pub mod warmup;
pub mod webhooks;
pub mod wiring;

use std::sync::Arc;

use cli::{Cli, Command};
use settings::{ProcessEnv, Settings};
use wiring::{NoSecretKey, Wiring};

/// Runs one command line.
///
/// # Errors
/// Any failure, with a message meant for the user.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Making a key must work before any configuration (a malformed key included) is read.
    if let Command::Secrets(command) = &cli.command {
        return commands::secrets(command, &mut std::io::stdout().lock());
    }
    let settings = Settings::load(cli.config.as_deref(), &ProcessEnv)?;
    telemetry::init(&settings.log);
    if let Some(file) = &settings.file {
        tracing::debug!(file = %file.display(), "read configuration file");
    }
    for key in &settings.unknown_keys {
        tracing::warn!(setting = %key, "unknown setting ignored");
    }
    match cli.command {
        Command::Serve { api_only } => server::serve(&settings, !api_only).await,
        Command::Worker => server::work(&settings).await,
        Command::Migrate => {
            let applied = reachkit_postgres::run_migrations(settings.database_url()?).await?;
            tracing::info!(count = applied.len(), "migrations applied");
            Ok(())
        }
        Command::Workspace(command) => {
            let wiring = admin_wiring(&settings).await?;
            commands::workspace(&wiring, command, &mut std::io::stdout().lock()).await
        }
        Command::Leads(command) => {
            let wiring = admin_wiring(&settings).await?;
            import::run(&wiring, command, &mut std::io::stdout().lock()).await
        }
        Command::Inbound(command) => inbound::run(command, &mut std::io::stdout().lock()),
        Command::Secrets(command) => commands::secrets(&command, &mut std::io::stdout().lock()),
        Command::ApiKey(command) => {
            let wiring = admin_wiring(&settings).await?;
            commands::api_key(&wiring, command, &mut std::io::stdout().lock()).await
        }
    }
}

/// Administrative commands migrate first, so they work on a fresh database.
async fn admin_wiring(settings: &Settings) -> anyhow::Result<Wiring> {
    let url = settings.database_url()?;
    reachkit_postgres::run_migrations(url).await?;
    Wiring::connect_system(url, settings.pool(), Arc::new(NoSecretKey)).await
}
