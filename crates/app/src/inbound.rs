//! `reachkit inbound classify`: shows how a message would be read by inbox sync.

use std::io::Write;

use anyhow::Context;
use reachkit_mail::{Classification, Kind, classify, cli_json};

use crate::cli::InboundCommand;

fn describe(c: &Classification) -> String {
    match (&c.kind, &c.bounce) {
        (Kind::Bounce, Some(bounce)) => {
            let recipients: Vec<String> = bounce
                .recipients
                .iter()
                .map(|r| {
                    format!(
                        "{} ({}, {})",
                        if r.recipient.is_empty() {
                            "unknown recipient"
                        } else {
                            &r.recipient
                        },
                        r.status.as_deref().unwrap_or("no status"),
                        if r.hard { "hard" } else { "soft" }
                    )
                })
                .collect();
            format!("bounce: {}", recipients.join(", "))
        }
        (kind, _) => kind.as_str().to_owned(),
    }
}

/// Runs an `inbound` command, writing one result per file to `out`.
///
/// # Errors
/// When a file cannot be read (the files before it are already printed).
pub fn run(command: InboundCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        InboundCommand::Classify { files, output } => {
            for file in files {
                let raw = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let classification = classify(&raw);
                if output.json {
                    writeln!(out, "{}", cli_json(&classification))?;
                } else {
                    writeln!(out, "{}: {}", file.display(), describe(&classification))?;
                }
            }
        }
    }
    Ok(())
}
