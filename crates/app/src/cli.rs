//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Reachkit: self-hosted cold-email outreach.
///
/// Configuration comes from built-in defaults, then an optional TOML file (--config,
/// REACHKIT_CONFIG, or ./reachkit.toml), then REACHKIT__SECTION__KEY environment variables;
/// DATABASE_URL and REACHKIT_LISTEN always win. See docs/OPERATIONS.md for every setting.
#[derive(Debug, Parser)]
#[command(name = "reachkit", version, about, long_about)]
pub struct Cli {
    /// Path of a TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API (applies pending migrations first).
    ///
    /// Listens on http.listen (REACHKIT_LISTEN, default 127.0.0.1:8080) and prints
    /// "reachkit listening on http://ADDRESS" on standard output once it accepts connections.
    /// Also runs the background workers (connection checks and the sending engine) unless
    /// --api-only is given.
    Serve {
        /// Serve the API only; run the workers elsewhere with `reachkit worker`.
        #[arg(long)]
        api_only: bool,
    },
    /// Run the background workers only (connection checks and the sending engine), no API.
    ///
    /// Any number of workers (and `serve` processes) may run against one database: they share
    /// the work without sending anything twice. SIGINT/SIGTERM: stop claiming, finish the
    /// sends in flight, exit.
    Worker,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate,
    /// Manage workspaces (tenants).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage a workspace's API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage a campaign's leads from files.
    #[command(subcommand)]
    Leads(LeadsCommand),
    /// Inspect inbound mail the way inbox sync reads it.
    #[command(subcommand)]
    Inbound(InboundCommand),
    /// Manage the keys that protect data at rest.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Import leads from a CSV file (any size) into a campaign, like the bulk API.
    ///
    /// The first row is the header. Columns map by name (case, spaces, "-" and "_" ignored):
    /// email (also "E-mail", "Email Address", "Work Email"), first_name ("First Name",
    /// "First", "Given Name"), last_name ("Last Name", "Surname"), company ("Company Name",
    /// "Organization") becomes the variable "company"; every other column becomes a variable
    /// named as its header. Empty cells are left out. Rows go in batches of 1,000, each in one
    /// transaction; blocklisted addresses are not imported. Prints the counts (created,
    /// updated, skipped, invalid, blocklisted, duplicates) and the rows not imported with their
    /// line; a progress bar goes to standard error when it is a terminal. Exits 0 when the file
    /// was read through, whatever the rows' outcomes.
    Import {
        /// The workspace that owns the campaign.
        #[arg(long, value_name = "ID")]
        workspace: String,
        /// The campaign to add the leads to.
        #[arg(long, value_name = "ID")]
        campaign: String,
        /// What to do with an address the campaign has: fail (report the row), skip, update.
        #[arg(long, value_name = "MODE", default_value = "fail")]
        if_exists: String,
        /// Map a column: COLUMN=email|first_name|last_name|variables.NAME|NAME|- (ignore).
        #[arg(long = "map", value_name = "COLUMN=FIELD")]
        map: Vec<String>,
        /// The field separator (one ASCII character, e.g. ";" or "\t" for tab).
        #[arg(long, value_name = "CHAR", default_value = ",")]
        delimiter: String,
        /// The CSV file ("-" reads standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print a new random key for secrets.key (base64 of 32 bytes) on standard output.
    ///
    /// Set it as REACHKIT__SECRETS__KEY (or secrets.key in reachkit.toml) before `reachkit
    /// serve`. Keep it safe and keep it: inbox passwords stored under one key cannot be read with
    /// another. Needs no database.
    #[command(name = "generate-key")]
    GenerateKey,
}

#[derive(Debug, Subcommand)]
pub enum InboundCommand {
    /// Classify message files (raw RFC 5322, e.g. .eml) as bounce, auto_reply, reply or other.
    ///
    /// With --json, prints one JSON object per file, one per line, in the order given:
    /// {"kind": "bounce"|"auto_reply"|"reply"|"other",
    ///  "bounce": {"recipient": "...", "status": "5.1.1"|null, "hard": true|false}|null}.
    /// Needs no database.
    Classify {
        /// The message files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace and print it.
    Create {
        /// The workspace's name (1 to 150 characters).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a workspace. The key is printed once and never stored in clear.
    Create {
        /// The workspace the key acts for.
        #[arg(long, value_name = "ID")]
        workspace: String,
        /// A name to tell the key apart (e.g. "crm-sync").
        #[arg(long)]
        name: String,
        #[command(flatten)]
        output: Output,
    },
    /// List a workspace's API keys (prefixes only; secrets are never shown again).
    List {
        /// The workspace whose keys to list.
        #[arg(long, value_name = "ID")]
        workspace: String,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke an API key: requests with it get 401 from then on.
    Revoke {
        /// The workspace the key belongs to.
        #[arg(long, value_name = "ID")]
        workspace: String,
        /// The key's id (from `api-key list`), not the secret.
        #[arg(value_name = "KEY_ID")]
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Output {
    /// Print exactly one JSON value on standard output instead of text.
    #[arg(long)]
    pub json: bool,
}
