//! The administrative commands: workspaces and API keys.

use std::io::Write;

use anyhow::{Context, bail};
use reachkit_core::api_keys::{ApiKey, CreateKeyError, RevokeKeyError};
use reachkit_core::ids::{ApiKeyId, WorkspaceId};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{ApiKeyCommand, SecretsCommand, WorkspaceCommand};
use crate::wiring::Wiring;

fn parse_workspace(raw: &str) -> anyhow::Result<WorkspaceId> {
    raw.trim()
        .parse()
        .with_context(|| format!("--workspace {raw:?} is not a workspace id (a UUID)"))
}

fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn key_json(key: &ApiKey) -> serde_json::Value {
    json!({
        "id": key.id.to_string(),
        "workspace_id": key.workspace_id.to_string(),
        "name": key.name,
        "prefix": key.prefix,
        "created_at": timestamp(key.created_at),
        "last_used_at": key.last_used_at.map(timestamp),
        "revoked_at": key.revoked_at.map(timestamp),
    })
}

/// Runs a `workspace` command, writing its result to `out`.
///
/// # Errors
/// Invalid arguments or a database failure, with a message for the user.
pub async fn workspace(
    wiring: &Wiring,
    command: WorkspaceCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create { name, output } => {
            let workspace = wiring
                .workspaces
                .create(&name)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the workspace: {e}"))?;
            if output.json {
                writeln!(
                    out,
                    "{}",
                    json!({"id": workspace.id.to_string(), "name": workspace.name})
                )?;
            } else {
                writeln!(out, "Created workspace {:?}", workspace.name)?;
                writeln!(out, "  id: {}", workspace.id)?;
                writeln!(
                    out,
                    "Next: reachkit api-key create --workspace {} --name NAME",
                    workspace.id
                )?;
            }
        }
    }
    Ok(())
}

/// Runs an `api-key` command, writing its result to `out`.
///
/// # Errors
/// Invalid arguments or a database failure, with a message for the user.
pub async fn api_key(
    wiring: &Wiring,
    command: ApiKeyCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            workspace,
            name,
            output,
        } => {
            let workspace_id = parse_workspace(&workspace)?;
            let issued = match wiring.api_keys.create(workspace_id, &name).await {
                Ok(issued) => issued,
                Err(CreateKeyError::UnknownWorkspace) => {
                    bail!("no workspace with id {workspace_id}")
                }
                Err(e) => bail!("cannot create the API key: {e}"),
            };
            if output.json {
                writeln!(
                    out,
                    "{}",
                    json!({"id": issued.key.id.to_string(), "key": issued.secret})
                )?;
            } else {
                writeln!(
                    out,
                    "API key {:?} created. Store it now: it is shown only once.",
                    issued.key.name
                )?;
                writeln!(out)?;
                writeln!(out, "  {}", issued.secret)?;
                writeln!(out)?;
                writeln!(out, "  id: {}", issued.key.id)?;
            }
        }
        ApiKeyCommand::List { workspace, output } => {
            let workspace_id = parse_workspace(&workspace)?;
            let keys = wiring.api_keys.list(workspace_id).await?;
            if output.json {
                let list: Vec<_> = keys.iter().map(key_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(list))?;
            } else if keys.is_empty() {
                writeln!(out, "No API keys in workspace {workspace_id}.")?;
            } else {
                writeln!(
                    out,
                    "{:<36}  {:<11}  {:<8}  {:<20}  NAME",
                    "ID", "PREFIX", "STATUS", "LAST USED"
                )?;
                for key in &keys {
                    let status = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let used = key
                        .last_used_at
                        .map_or_else(|| "never".to_owned(), timestamp);
                    writeln!(
                        out,
                        "{:<36}  {:<11}  {:<8}  {:<20}  {}",
                        key.id, key.prefix, status, used, key.name
                    )?;
                }
            }
        }
        ApiKeyCommand::Revoke {
            workspace,
            id,
            output,
        } => {
            let workspace_id = parse_workspace(&workspace)?;
            let key_id: ApiKeyId = id
                .trim()
                .parse()
                .with_context(|| format!("{id:?} is not an API key id (a UUID)"))?;
            let key = match wiring.api_keys.revoke(workspace_id, key_id).await {
                Ok(key) => key,
                Err(RevokeKeyError::NotFound) => {
                    bail!("workspace {workspace_id} has no API key with id {key_id}")
                }
                Err(RevokeKeyError::Store(e)) => return Err(e.into()),
            };
            if output.json {
                writeln!(out, "{}", key_json(&key))?;
            } else {
                writeln!(out, "Revoked API key {} ({}).", key.id, key.prefix)?;
            }
        }
    }
    Ok(())
}

/// Runs a `secrets` command, writing its result to `out`.
///
/// # Errors
/// When `out` cannot be written.
pub fn secrets(command: &SecretsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        SecretsCommand::GenerateKey => {
            writeln!(
                out,
                "{}",
                reachkit_core::secrets::AesGcmSecretBox::generate_key_base64()
            )?;
        }
    }
    Ok(())
}
