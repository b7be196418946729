//! Bulk creation of leads: up to [`MAX_BULK_LEADS`] per call, each row validated exactly like a
//! single create ([`super::prepare`]), the valid rows stored in one transaction, and a report
//! with exact counts and the errors of the rows that were not stored.
//!
//! The outcome of a batch is the outcome of creating its rows one by one, in order, with the
//! row's `if_exists` (the row's own, else the request's, else `fail`): a row whose address the
//! campaign (or an earlier row of the batch) has is a duplicate (`fail`), skipped (`skip`) or
//! applied as an update (`update`). The store sees one entry per distinct address: what to
//! insert when the address is new (the first row with the later updates folded in) and what to
//! apply when it exists (every update row folded in order).

use std::collections::BTreeMap;

use reachkit_domain::lead::IfExists;
use reachkit_domain::validation::{FieldError, ValidationErrors};
use time::OffsetDateTime;

use super::{Lead, LeadError, LeadService, NewLead, NewLeadInput, Variables, prepare};
use crate::ids::{CampaignId, WorkspaceId};

/// Most leads in one bulk request.
pub const MAX_BULK_LEADS: usize = 1_000;

/// One row of a bulk request: the lead as sent, or why it could not even be read (a value of
/// the wrong JSON type, a CSV record that does not fit), so that indexes and counts are kept in
/// one place.
pub type BulkRow = Result<NewLeadInput, ValidationErrors>;

/// A bulk request.
#[derive(Debug, Clone, Default)]
pub struct BulkInput {
    /// The default `if_exists` of every row (`fail` when absent); a row's own wins.
    pub if_exists: Option<String>,
    pub rows: Vec<BulkRow>,
}

/// The changes an update row makes to an existing lead.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeadPatch {
    /// Replaces the first name when given.
    pub first_name: Option<String>,
    /// Replaces the last name when given.
    pub last_name: Option<String>,
    /// Merged key by key into the existing variables.
    pub variables: Variables,
}

impl LeadPatch {
    /// This patch followed by `later`: later names win, variables merge in order.
    fn then(&mut self, later: &NewLead) {
        if later.first_name_given {
            self.first_name = Some(later.lead.first_name.clone());
        }
        if later.last_name_given {
            self.last_name = Some(later.lead.last_name.clone());
        }
        for (k, v) in &later.lead.variables {
            self.variables.insert(k.clone(), v.clone());
        }
    }

    fn of(new: &NewLead) -> Self {
        let mut patch = Self::default();
        patch.then(new);
        patch
    }
}

/// One distinct address of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchEntry {
    /// What to insert when the campaign does not have the address.
    pub lead: Lead,
    /// What to apply when it has: `None` leaves the existing lead unchanged.
    pub update: Option<LeadPatch>,
}

/// What the store is asked to write: distinct addresses, sorted by address.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadBatch {
    pub workspace_id: WorkspaceId,
    pub campaign_id: CampaignId,
    pub entries: Vec<BatchEntry>,
    /// `updated_at` of updated leads.
    pub now: OffsetDateTime,
}

/// What the store did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    /// The address was new to the campaign: the lead was inserted.
    Inserted,
    /// The campaign had the address: the update, if any, was applied.
    Existed,
    /// The address is on the workspace's blocklist: nothing was written.
    Blocklisted,
}

/// A row that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The row's position in the request, from 0.
    pub index: usize,
    pub errors: ValidationErrors,
}

/// What a bulk request did. Every row is counted exactly once:
/// `created + updated + skipped + invalid + blocklisted + duplicates == rows`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkReport {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    /// Rows refused by validation (listed in `errors`).
    pub invalid: u64,
    /// Rows whose address is blocklisted: not stored.
    pub blocklisted: u64,
    /// Rows refused because the address was there already with `if_exists` fail (listed in
    /// `errors`).
    pub duplicates: u64,
    /// The invalid and duplicate rows, by index.
    pub errors: Vec<RowError>,
}

impl BulkReport {
    /// Adds another report's counts and errors (the rows of `other` come after this one's
    /// `offset` rows).
    pub fn absorb(&mut self, other: Self, offset: usize) {
        self.created += other.created;
        self.updated += other.updated;
        self.skipped += other.skipped;
        self.invalid += other.invalid;
        self.blocklisted += other.blocklisted;
        self.duplicates += other.duplicates;
        self.errors
            .extend(other.errors.into_iter().map(|e| RowError {
                index: e.index + offset,
                errors: e.errors,
            }));
    }

    /// Every row counted.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.created
            + self.updated
            + self.skipped
            + self.invalid
            + self.blocklisted
            + self.duplicates
    }
}

fn duplicate(index: usize, message: String) -> RowError {
    RowError {
        index,
        errors: ValidationErrors(vec![FieldError::new("email", "duplicate", message)]),
    }
}

impl LeadService {
    /// Adds up to [`MAX_BULK_LEADS`] leads to a campaign in one transaction. Each row is
    /// validated like [`LeadService::add`]; invalid rows are reported and the others stored.
    /// Blocklisted addresses are not stored. The counts are exact.
    ///
    /// # Errors
    /// [`LeadError::Invalid`] on `leads` (none, or more than [`MAX_BULK_LEADS`]) or `if_exists`
    /// (not fail, skip or update), with nothing stored; [`LeadError::CampaignNotFound`]; the
    /// store's failure (nothing stored).
    pub async fn add_bulk(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        input: &BulkInput,
    ) -> Result<BulkReport, LeadError> {
        let mut problems = Vec::new();
        if input.rows.is_empty() || input.rows.len() > MAX_BULK_LEADS {
            problems.push(FieldError::new(
                "leads",
                "out_of_range",
                format!("must hold 1 to {MAX_BULK_LEADS} leads"),
            ));
        }
        if let Some(raw) = input.if_exists.as_deref()
            && IfExists::parse(raw).is_none()
        {
            problems.push(FieldError::new(
                "if_exists",
                "invalid_value",
                "must be one of: fail, skip, update",
            ));
        }
        if !problems.is_empty() {
            return Err(LeadError::Invalid(ValidationErrors(problems)));
        }

        let now = self.clock.now();
        let mut report = BulkReport::default();
        // Valid rows grouped by address (sorted: the store locks rows in this order).
        let mut groups: BTreeMap<String, Vec<(usize, NewLead)>> = BTreeMap::new();
        for (index, row) in input.rows.iter().enumerate() {
            let prepared = row.as_ref().map_err(Clone::clone).and_then(|row| {
                let with_default;
                let row = if row.if_exists.is_none() && input.if_exists.is_some() {
                    with_default = NewLeadInput {
                        if_exists: input.if_exists.clone(),
                        ..row.clone()
                    };
                    &with_default
                } else {
                    row
                };
                prepare(workspace_id, campaign_id, row, now)
            });
            match prepared {
                Ok(new) => groups
                    .entry(new.lead.email.as_str().to_owned())
                    .or_default()
                    .push((index, new)),
                Err(errors) => {
                    report.invalid += 1;
                    report.errors.push(RowError { index, errors });
                }
            }
        }

        let entries = groups
            .values()
            .map(|rows| {
                let (_, first) = &rows[0];
                let mut lead = first.lead.clone();
                let mut update: Option<LeadPatch> = None;
                for (i, (_, row)) in rows.iter().enumerate() {
                    if row.if_exists != IfExists::Update {
                        continue;
                    }
                    match &mut update {
                        Some(patch) => patch.then(row),
                        None => update = Some(LeadPatch::of(row)),
                    }
                    if i > 0 {
                        // After the first row created the lead, later updates apply to it.
                        if row.first_name_given {
                            lead.first_name.clone_from(&row.lead.first_name);
                        }
                        if row.last_name_given {
                            lead.last_name.clone_from(&row.lead.last_name);
                        }
                        for (k, v) in &row.lead.variables {
                            lead.variables.insert(k.clone(), v.clone());
                        }
                    }
                }
                BatchEntry { lead, update }
            })
            .collect();
        let batch = LeadBatch {
            workspace_id,
            campaign_id,
            entries,
            now,
        };
        let outcomes = self
            .repo
            .add_many(&batch)
            .await?
            .ok_or(LeadError::CampaignNotFound)?;
        if outcomes.len() != groups.len() {
            return Err(LeadError::Store(crate::StoreError::Other(anyhow::anyhow!(
                "the store answered {} outcomes for {} entries",
                outcomes.len(),
                groups.len()
            ))));
        }

        for (rows, outcome) in groups.values().zip(outcomes) {
            let first_index = rows[0].0;
            for (i, (index, row)) in rows.iter().enumerate() {
                match (outcome, i) {
                    (EntryOutcome::Blocklisted, _) => report.blocklisted += 1,
                    (EntryOutcome::Inserted, 0) => report.created += 1,
                    _ => match row.if_exists {
                        IfExists::Skip => report.skipped += 1,
                        IfExists::Update => report.updated += 1,
                        IfExists::Fail => {
                            report.duplicates += 1;
                            report
                                .errors
                                .push(if i > 0 && outcome == EntryOutcome::Inserted {
                                    duplicate(
                                        *index,
                                        format!("repeats the email of row {first_index}"),
                                    )
                                } else {
                                    duplicate(
                                        *index,
                                        "a lead with this email already exists in the campaign"
                                            .to_owned(),
                                    )
                                });
                        }
                    },
                }
            }
        }
        report.errors.sort_by_key(|e| e.index);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::leads::MockLeadRepository;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service(repo: MockLeadRepository) -> LeadService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        LeadService::new(Arc::new(repo), Arc::new(clock))
    }

    fn row(email: &str) -> BulkRow {
        Ok(NewLeadInput {
            email: email.into(),
            ..NewLeadInput::default()
        })
    }

    fn vars(value: Value) -> Variables {
        match value {
            Value::Object(map) => map,
            _ => Variables::new(),
        }
    }

    fn input(if_exists: Option<&str>, rows: Vec<BulkRow>) -> BulkInput {
        BulkInput {
            if_exists: if_exists.map(str::to_owned),
            rows,
        }
    }

    /// A repository that answers `outcome(address)` for each entry, after checking `check`.
    fn repo_answering(
        outcome: fn(&str) -> EntryOutcome,
        check: impl Fn(&LeadBatch) -> bool + Send + Sync + 'static,
    ) -> MockLeadRepository {
        let mut repo = MockLeadRepository::new();
        repo.expect_add_many()
            .withf(move |b| check(b))
            .times(1)
            .returning(move |b| {
                Ok(Some(
                    b.entries
                        .iter()
                        .map(|e| outcome(e.lead.email.as_str()))
                        .collect(),
                ))
            });
        repo
    }

    #[tokio::test]
    async fn valid_rows_are_stored_and_invalid_ones_reported_by_index() {
        let (ws, campaign) = (WorkspaceId::new(), CampaignId::new());
        let repo = repo_answering(
            |_| EntryOutcome::Inserted,
            move |b| {
                b.workspace_id == ws
                    && b.campaign_id == campaign
                    && b.entries.len() == 2
                    && b.entries[0].lead.email.as_str() == "a@acme.com"
                    && b.entries[1].lead.email.as_str() == "b@acme.com"
                    && b.entries.iter().all(|e| e.update.is_none())
            },
        );
        let unreadable = Err(ValidationErrors(vec![FieldError::new(
            "email",
            "invalid_type",
            "must be a string",
        )]));
        let report = service(repo)
            .add_bulk(
                ws,
                campaign,
                &input(
                    None,
                    vec![
                        row(" B@Acme.com "),
                        row("nope"),
                        unreadable,
                        row("a@acme.com"),
                    ],
                ),
            )
            .await
            .expect("report");
        assert_eq!((report.created, report.invalid, report.rows()), (2, 2, 4));
        let indexes: Vec<_> = report.errors.iter().map(|e| e.index).collect();
        assert_eq!(indexes, [1, 2]);
        assert!(report.errors[0].errors.has("email"));
    }

    #[tokio::test]
    async fn an_empty_or_oversized_batch_or_an_unknown_mode_is_refused_whole() {
        let cases = [
            (input(None, vec![]), "leads"),
            (
                input(
                    None,
                    (0..=MAX_BULK_LEADS)
                        .map(|i| row(&format!("l{i}@x.io")))
                        .collect(),
                ),
                "leads",
            ),
            (input(Some("replace"), vec![row("a@b.co")]), "if_exists"),
        ];
        for (request, field) in cases {
            let mut repo = MockLeadRepository::new();
            repo.expect_add_many().never();
            match service(repo)
                .add_bulk(WorkspaceId::new(), CampaignId::new(), &request)
                .await
            {
                Err(LeadError::Invalid(e)) => assert!(e.has(field), "{e}"),
                other => panic!("expected a 422 on {field}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn exactly_one_thousand_leads_are_accepted() {
        let repo = repo_answering(|_| EntryOutcome::Inserted, |b| b.entries.len() == 1_000);
        let rows = (0..MAX_BULK_LEADS)
            .map(|i| row(&format!("l{i}@x.io")))
            .collect();
        let report = service(repo)
            .add_bulk(WorkspaceId::new(), CampaignId::new(), &input(None, rows))
            .await
            .expect("report");
        assert_eq!(report.created, 1_000);
    }

    #[tokio::test]
    async fn existing_addresses_follow_if_exists_and_a_rows_own_mode_wins() {
        let repo = repo_answering(
            |_| EntryOutcome::Existed,
            |b| {
                // Only the update row carries a patch.
                b.entries.iter().filter(|e| e.update.is_some()).count() == 1
            },
        );
        let mut own = row("c@x.io").expect("row");
        own.if_exists = Some("update".into());
        let mut fail = row("d@x.io").expect("row");
        fail.if_exists = Some("fail".into());
        let report = service(repo)
            .add_bulk(
                WorkspaceId::new(),
                CampaignId::new(),
                &input(
                    Some("skip"),
                    vec![row("a@x.io"), row("b@x.io"), Ok(own), Ok(fail)],
                ),
            )
            .await
            .expect("report");
        assert_eq!(
            (
                report.skipped,
                report.updated,
                report.duplicates,
                report.created
            ),
            (2, 1, 1, 0)
        );
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].index, 3);
        assert_eq!(report.errors[0].errors.fields()[0].code, "duplicate");
    }

    #[tokio::test]
    async fn repeated_addresses_in_one_batch_behave_as_if_created_one_by_one() {
        let repo = repo_answering(
            |_| EntryOutcome::Inserted,
            |b| {
                let e = &b.entries[0];
                b.entries.len() == 1
                    // The first row is inserted with the later update folded in.
                    && e.lead.first_name == "Ann"
                    && e.lead.last_name == "Lee"
                    && e.lead.variables == vars(json!({"a": 1, "b": 2}))
                    && e.update
                        == Some(LeadPatch {
                            first_name: None,
                            last_name: Some("Lee".into()),
                            variables: vars(json!({"b": 2})),
                        })
            },
        );
        let first = Ok(NewLeadInput {
            email: "ann@x.io".into(),
            first_name: Some("Ann".into()),
            variables: Some(vars(json!({"a": 1}))),
            ..NewLeadInput::default()
        });
        let update = Ok(NewLeadInput {
            email: "ANN@x.io".into(),
            last_name: Some("Lee".into()),
            variables: Some(vars(json!({"b": 2}))),
            if_exists: Some("update".into()),
            ..NewLeadInput::default()
        });
        let report = service(repo)
            .add_bulk(
                WorkspaceId::new(),
                CampaignId::new(),
                &input(None, vec![first, update, row("ann@x.io")]),
            )
            .await
            .expect("report");
        assert_eq!(
            (report.created, report.updated, report.duplicates),
            (1, 1, 1)
        );
        let message = &report.errors[0].errors.fields()[0].message;
        assert_eq!(report.errors[0].index, 2);
        assert_eq!(message, "repeats the email of row 0");
    }

    #[tokio::test]
    async fn blocklisted_addresses_are_counted_not_stored() {
        let repo = repo_answering(
            |email| {
                if email == "blocked@x.io" {
                    EntryOutcome::Blocklisted
                } else {
                    EntryOutcome::Inserted
                }
            },
            |_| true,
        );
        let report = service(repo)
            .add_bulk(
                WorkspaceId::new(),
                CampaignId::new(),
                &input(
                    None,
                    vec![row("blocked@x.io"), row("ok@x.io"), row("blocked@x.io")],
                ),
            )
            .await
            .expect("report");
        assert_eq!((report.blocklisted, report.created), (2, 1));
        assert!(report.errors.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_campaign_is_not_found() {
        let mut repo = MockLeadRepository::new();
        repo.expect_add_many().returning(|_| Ok(None));
        let result = service(repo)
            .add_bulk(
                WorkspaceId::new(),
                CampaignId::new(),
                &input(None, vec![row("a@x.io")]),
            )
            .await;
        assert!(matches!(result, Err(LeadError::CampaignNotFound)));
    }

    #[test]
    fn reports_absorb_counts_and_shift_indexes() {
        let mut total = BulkReport {
            created: 2,
            ..BulkReport::default()
        };
        total.absorb(
            BulkReport {
                invalid: 1,
                errors: vec![RowError {
                    index: 3,
                    errors: ValidationErrors(vec![]),
                }],
                ..BulkReport::default()
            },
            1_000,
        );
        assert_eq!((total.created, total.invalid, total.rows()), (2, 1, 3));
        assert_eq!(total.errors[0].index, 1_003);
    }
}
