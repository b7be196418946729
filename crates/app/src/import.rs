//! `reachkit leads import`: a CSV file of any size into a campaign, streamed in batches of
//! [`MAX_BULK_LEADS`] through the same bulk service as the API (each batch one transaction;
//! two batches are written at once when they share no address, so that the outcome is always
//! that of importing the rows one by one, in file order).
//!
//! Columns map to lead fields by their header (case, spaces, `-` and `_` ignored; common
//! aliases such as `E-mail`, `First Name`, `Surname`, `Company`); every other column becomes a
//! variable named as its header. `--map COLUMN=FIELD` overrides a column (`email`,
//! `first_name`, `last_name`, `variables.NAME` or just `NAME` for a variable, `-` to ignore it).
//! Empty cells are left out (an update never blanks a field with an empty cell).

use std::collections::{HashSet, VecDeque};
use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reachkit_core::ids::{CampaignId, WorkspaceId};
use reachkit_core::leads::bulk::{BulkInput, BulkReport, BulkRow, MAX_BULK_LEADS};
use reachkit_core::leads::{LeadError, LeadService, NewLeadInput, Variables};
use reachkit_domain::email::EmailAddress;
use reachkit_domain::validation::{FieldError, ValidationErrors};
use serde_json::{Value, json};

/// Most row errors kept and printed; the counts stay exact beyond it.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// Where a column goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Email,
    FirstName,
    LastName,
    Variable(String),
    Ignore,
}

/// Header spellings compared without case, spaces, `-`, `_` or `.`.
fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a header stands for by its name alone.
fn target_of(header: &str) -> Target {
    match normalise(header).as_str() {
        "email" | "emailaddress" | "mail" | "workemail" | "businessemail" | "emails" => {
            Target::Email
        }
        "firstname" | "first" | "givenname" | "forename" | "fname" => Target::FirstName,
        "lastname" | "last" | "surname" | "familyname" | "lname" => Target::LastName,
        // The contract's variable for the company's name.
        "company" | "companyname" | "organization" | "organisation" | "accountname" => {
            Target::Variable("company".to_owned())
        }
        "" => Target::Ignore,
        _ => Target::Variable(header.trim().to_owned()),
    }
}

/// Parses a `--map COLUMN=FIELD` argument.
///
/// # Errors
/// When it has no `=` or names an empty column or field.
pub fn parse_map(raw: &str) -> anyhow::Result<(String, Target)> {
    let Some((column, field)) = raw.split_once('=') else {
        bail!("--map {raw:?} must look like COLUMN=FIELD");
    };
    let (column, field) = (column.trim(), field.trim());
    if column.is_empty() || field.is_empty() {
        bail!("--map {raw:?} must look like COLUMN=FIELD");
    }
    let target = match field {
        "email" => Target::Email,
        "first_name" => Target::FirstName,
        "last_name" => Target::LastName,
        "-" => Target::Ignore,
        other => Target::Variable(
            other
                .strip_prefix("variables.")
                .unwrap_or(other)
                .trim()
                .to_owned(),
        ),
    };
    if target == Target::Variable(String::new()) {
        bail!("--map {raw:?} names an empty variable");
    }
    Ok((column.to_owned(), target))
}

/// Where each column of a file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub columns: Vec<Target>,
}

impl Mapping {
    /// The mapping of a header row, with `overrides` (column names matched without case).
    ///
    /// # Errors
    /// No column for the email, two columns for one field, or an override naming no column.
    pub fn new(headers: &[&str], overrides: &[(String, Target)]) -> anyhow::Result<Self> {
        let mut columns: Vec<Target> = headers.iter().map(|h| target_of(h)).collect();
        for (column, target) in overrides {
            let found: Vec<usize> = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.trim().eq_ignore_ascii_case(column))
                .map(|(i, _)| i)
                .collect();
            if found.is_empty() {
                bail!("--map names the column {column:?}, which the file does not have");
            }
            for i in found {
                columns[i] = target.clone();
            }
        }
        for (field, target) in [
            ("email", Target::Email),
            ("first_name", Target::FirstName),
            ("last_name", Target::LastName),
        ] {
            let n = columns.iter().filter(|t| **t == target).count();
            if n > 1 {
                bail!(
                    "{n} columns map to {field}; keep one with --map COLUMN={field} and \
                     --map OTHER=- (or map the others to variables)"
                );
            }
        }
        if !columns.contains(&Target::Email) {
            bail!(
                "no column holds the email address (headers: {}); name it with --map COLUMN=email",
                headers.join(", ")
            );
        }
        Ok(Self { columns })
    }

    /// One record as a lead. A record with more cells than the header is an error of its own.
    pub fn row(&self, cells: &[&str]) -> BulkRow {
        if cells.len() > self.columns.len() {
            return Err(ValidationErrors(vec![FieldError::new(
                "row",
                "invalid_format",
                format!(
                    "has {} cells, the header {}",
                    cells.len(),
                    self.columns.len()
                ),
            )]));
        }
        let mut input = NewLeadInput::default();
        let mut variables = Variables::new();
        for (target, cell) in self.columns.iter().zip(cells) {
            if cell.trim().is_empty() {
                continue;
            }
            match target {
                Target::Email => (*cell).clone_into(&mut input.email),
                Target::FirstName => input.first_name = Some((*cell).to_owned()),
                Target::LastName => input.last_name = Some((*cell).to_owned()),
                Target::Variable(name) => {
                    variables.insert(name.clone(), Value::String((*cell).to_owned()));
                }
                Target::Ignore => {}
            }
        }
        if !variables.is_empty() {
            input.variables = Some(variables);
        }
        Ok(input)
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub workspace_id: WorkspaceId,
    pub campaign_id: CampaignId,
    pub if_exists: Option<String>,
    pub overrides: Vec<(String, Target)>,
    pub delimiter: u8,
}

/// The outcome of an import: the counts, and the first [`MAX_REPORTED_ERRORS`] row errors with
/// the line of the file each row started on.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub report: BulkReport,
    /// The file line (from 1, the header being line 1) of each reported error, in order.
    pub lines: Vec<u64>,
}

impl ImportReport {
    /// The report as one JSON value (`--json`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let r = &self.report;
        let errors: Vec<Value> = r
            .errors
            .iter()
            .zip(&self.lines)
            .map(|(e, line)| {
                let details: serde_json::Map<String, Value> = e
                    .errors
                    .fields()
                    .iter()
                    .map(|f| {
                        (
                            f.field.clone(),
                            Value::String(format!("{}: {}", f.code, f.message)),
                        )
                    })
                    .collect();
                json!({"index": e.index, "line": line, "error": e.errors.to_string(),
                       "details": details})
            })
            .collect();
        json!({
            "rows": r.rows(), "created": r.created, "updated": r.updated, "skipped": r.skipped,
            "invalid": r.invalid, "blocklisted": r.blocklisted, "duplicates": r.duplicates,
            "errors": errors,
        })
    }

    /// The report as text.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.report;
        writeln!(out, "Imported {} rows:", r.rows())?;
        for (name, n) in [
            ("created", r.created),
            ("updated", r.updated),
            ("skipped", r.skipped),
            ("invalid", r.invalid),
            ("blocklisted", r.blocklisted),
            ("duplicates", r.duplicates),
        ] {
            writeln!(out, "  {name:<12} {n}")?;
        }
        if !r.errors.is_empty() {
            writeln!(out, "Rows not imported:")?;
            for (e, line) in r.errors.iter().zip(&self.lines) {
                writeln!(out, "  line {line}: {}", e.errors)?;
            }
            let more = (r.invalid + r.duplicates).saturating_sub(r.errors.len() as u64);
            if more > 0 {
                writeln!(out, "  ... and {more} more")?;
            }
        }
        Ok(())
    }
}

/// A progress line on standard error, drawn at most ten times a second.
struct Progress {
    total_bytes: Option<u64>,
    started: Instant,
    last: Option<Instant>,
    enabled: bool,
}

impl Progress {
    fn draw(&mut self, bytes: u64, rows: u64, last: bool) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if !last
            && self
                .last
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let secs = (now - self.started).as_secs_f64().max(1e-3);
        #[expect(
            clippy::cast_precision_loss,
            reason = "a rate on a progress bar needs no precision"
        )]
        let rate = rows as f64 / secs;
        let mut line = String::new();
        if let Some(total) = self.total_bytes.filter(|t| *t > 0) {
            let done = bytes.min(total);
            let width = 30_u64;
            let filled = usize::try_from(done * width / total).unwrap_or(0);
            let percent = done * 100 / total;
            line.push_str(&format!(
                "[{}{}] {percent:>3}%  ",
                "#".repeat(filled),
                ".".repeat(usize::try_from(width).unwrap_or(30) - filled)
            ));
        }
        line.push_str(&format!("{rows} rows  {rate:.0} rows/s"));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        if last {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// Batches written at once (each in its own transaction) when their addresses are disjoint:
/// one transaction's commit overlaps the next one's inserts.
const IN_FLIGHT: usize = 2;

/// A batch being written.
struct InFlight {
    task: tokio::task::JoinHandle<Result<BulkReport, LeadError>>,
    /// Its valid addresses, canonical.
    addresses: HashSet<String>,
    /// The file line of each of its rows.
    lines: Vec<u64>,
    /// How many rows came before it.
    offset: usize,
}

fn addresses_of(batch: &BulkInput) -> HashSet<String> {
    batch
        .rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|r| EmailAddress::parse(&r.email).ok())
        .map(EmailAddress::into_string)
        .collect()
}

/// Waits for a batch and adds its outcome to `result`. On a failure, waits for the batches
/// still in flight too (whatever they stored is counted) and reports how far the import got.
async fn finish(
    batch: InFlight,
    result: &mut ImportReport,
    in_flight: &mut VecDeque<InFlight>,
    options: &ImportOptions,
) -> anyhow::Result<()> {
    let outcome = batch
        .task
        .await
        .unwrap_or_else(|e| Err(LeadError::Store(reachkit_core::StoreError::Other(e.into()))));
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            let stored = result.report.rows();
            while let Some(next) = in_flight.pop_front() {
                if let Ok(Ok(report)) = next.task.await {
                    result.report.absorb(report, next.offset);
                }
            }
            return Err(match e {
                LeadError::CampaignNotFound => anyhow::anyhow!(
                    "workspace {} has no campaign {}",
                    options.workspace_id,
                    options.campaign_id
                ),
                LeadError::Invalid(e) => anyhow::anyhow!("{e}"),
                e => anyhow::Error::new(e).context(format!(
                    "stopped at row {}: {} rows were processed ({} created, {} updated) and stay \
                     imported; re-run with --if-exists skip to resume",
                    batch.offset,
                    result.report.rows().max(stored),
                    result.report.created,
                    result.report.updated
                )),
            });
        }
    };
    let room = MAX_REPORTED_ERRORS.saturating_sub(result.report.errors.len());
    result.lines.extend(
        report
            .errors
            .iter()
            .take(room)
            .map(|e| batch.lines[e.index]),
    );
    result.report.absorb(report, batch.offset);
    result.report.errors.truncate(MAX_REPORTED_ERRORS);
    Ok(())
}

/// Imports a CSV stream into a campaign, batch by batch. A failure of the store stops the
/// import: the batches before it stay imported (re-run with `--if-exists skip` to resume).
///
/// # Errors
/// An unreadable file or header, a mapping problem, an unknown campaign, a store failure.
pub async fn import(
    leads: &LeadService,
    options: &ImportOptions,
    input: Box<dyn Read>,
    total_bytes: Option<u64>,
) -> anyhow::Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .flexible(true)
        .trim(csv::Trim::None)
        .from_reader(input);
    let headers = reader
        .headers()
        .context("cannot read the header row")?
        .clone();
    let header_cells: Vec<&str> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}'))
        .collect();
    let mapping = Mapping::new(&header_cells, &options.overrides)?;
    let mut progress = Progress {
        total_bytes,
        started: Instant::now(),
        last: None,
        enabled: std::io::stderr().is_terminal(),
    };
    let mut result = ImportReport::default();
    let mut rows: Vec<BulkRow> = Vec::with_capacity(MAX_BULK_LEADS);
    let mut lines: Vec<u64> = Vec::with_capacity(MAX_BULK_LEADS);
    let mut record = csv::StringRecord::new();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut queued: usize = 0;
    loop {
        let more = match reader.read_record(&mut record) {
            Ok(more) => {
                if more {
                    let cells: Vec<&str> = record.iter().collect();
                    lines.push(record.position().map_or(0, csv::Position::line));
                    rows.push(mapping.row(&cells));
                }
                more
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                lines.push(e.position().map_or(0, csv::Position::line));
                rows.push(Err(ValidationErrors(vec![FieldError::new(
                    "row",
                    "invalid_format",
                    "is not valid UTF-8",
                )])));
                true
            }
            Err(e) => return Err(e).context("cannot read the CSV file"),
        };
        if rows.len() == MAX_BULK_LEADS || (!more && !rows.is_empty()) {
            let batch = BulkInput {
                if_exists: options.if_exists.clone(),
                rows: std::mem::take(&mut rows),
            };
            let addresses = addresses_of(&batch);
            // Batches sharing an address are written strictly in file order (so the outcome is
            // that of importing the rows one by one); a window of disjoint ones overlaps.
            while in_flight.len() >= IN_FLIGHT
                || in_flight
                    .iter()
                    .any(|f| !f.addresses.is_disjoint(&addresses))
            {
                let Some(front) = in_flight.pop_front() else {
                    break;
                };
                let byte = reader.position().byte();
                finish(front, &mut result, &mut in_flight, options).await?;
                progress.draw(byte, result.report.rows(), false);
            }
            let service = leads.clone();
            let (ws, campaign) = (options.workspace_id, options.campaign_id);
            let offset = queued;
            queued += batch.rows.len();
            in_flight.push_back(InFlight {
                task: tokio::spawn(async move { service.add_bulk(ws, campaign, &batch).await }),
                addresses,
                lines: std::mem::take(&mut lines),
                offset,
            });
        }
        if !more {
            break;
        }
    }
    while let Some(front) = in_flight.pop_front() {
        finish(front, &mut result, &mut in_flight, options).await?;
        progress.draw(reader.position().byte(), result.report.rows(), false);
    }
    progress.draw(reader.position().byte(), result.report.rows(), true);
    Ok(result)
}

/// Runs a `leads` command, writing its result to `out`.
///
/// # Errors
/// Invalid arguments, an unreadable file, an unknown campaign or a database failure, with a
/// message for the user.
pub async fn run(
    wiring: &crate::wiring::Wiring,
    command: crate::cli::LeadsCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let crate::cli::LeadsCommand::Import {
        workspace,
        campaign,
        if_exists,
        map,
        delimiter,
        file,
        output,
    } = command;
    let workspace_id: WorkspaceId = workspace
        .trim()
        .parse()
        .with_context(|| format!("--workspace {workspace:?} is not a workspace id (a UUID)"))?;
    let campaign_id: CampaignId = campaign
        .trim()
        .parse()
        .with_context(|| format!("--campaign {campaign:?} is not a campaign id (a UUID)"))?;
    if reachkit_domain::lead::IfExists::parse(&if_exists).is_none() {
        bail!("--if-exists must be fail, skip or update, not {if_exists:?}");
    }
    let delimiter = match delimiter.as_str() {
        "\\t" | "tab" => b'\t',
        d if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        d => bail!("--delimiter must be one ASCII character, not {d:?}"),
    };
    let overrides = map
        .iter()
        .map(|m| parse_map(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (input, size): (Box<dyn Read>, Option<u64>) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(std::io::BufReader::new(f)), size)
    };
    let options = ImportOptions {
        workspace_id,
        campaign_id,
        if_exists: Some(if_exists),
        overrides,
        delimiter,
    };
    let report = import(&wiring.leads, &options, input, size).await?;
    if output.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        report.write_text(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(headers: &[&str]) -> Mapping {
        Mapping::new(headers, &[]).expect("mapping")
    }

    #[test]
    fn headers_map_to_fields_by_common_names_and_the_rest_to_variables() {
        let m = mapping(&[
            "E-mail",
            "First Name",
            "surname",
            "Company",
            "Job Title",
            "",
        ]);
        assert_eq!(
            m.columns,
            [
                Target::Email,
                Target::FirstName,
                Target::LastName,
                Target::Variable("company".into()),
                Target::Variable("Job Title".into()),
                Target::Ignore,
            ]
        );
        for (header, target) in [
            ("email_address", Target::Email),
            ("EMAIL", Target::Email),
            ("first_name", Target::FirstName),
            ("LastName", Target::LastName),
            ("Company Name", Target::Variable("company".into())),
        ] {
            assert_eq!(target_of(header), target, "{header}");
        }
    }

    #[test]
    fn overrides_win_and_a_file_needs_exactly_one_email_column() {
        let overrides = vec![
            parse_map("Work address=email").expect("map"),
            parse_map("email=variables.personal_email").expect("map"),
            parse_map("notes=-").expect("map"),
        ];
        let m = Mapping::new(&["Email", "work address", "Notes"], &overrides).expect("mapping");
        assert_eq!(
            m.columns,
            [
                Target::Variable("personal_email".into()),
                Target::Email,
                Target::Ignore
            ]
        );
        assert!(Mapping::new(&["name", "company"], &[]).is_err());
        assert!(Mapping::new(&["email", "e-mail"], &[]).is_err());
        assert!(Mapping::new(&["email"], &[parse_map("nope=email").expect("map")]).is_err());
        assert!(parse_map("no-equals").is_err());
        assert!(parse_map("col=variables.").is_err());
    }

    #[test]
    fn empty_cells_are_left_out_and_long_records_are_row_errors() {
        let m = mapping(&["email", "first_name", "last_name", "city"]);
        let row = m.row(&["a@acme.com", "", "Lee", ""]).expect("row");
        assert_eq!(row.email, "a@acme.com");
        assert_eq!(row.first_name, None);
        assert_eq!(row.last_name.as_deref(), Some("Lee"));
        assert_eq!(row.variables, None);
        let short = m.row(&["b@acme.com"]).expect("short row");
        assert_eq!(short.email, "b@acme.com");
        let long = m.row(&["c@acme.com", "", "", "", "extra"]);
        assert!(long.is_err_and(|e| e.has("row")));
    }
}
