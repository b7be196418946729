//! Leads of a campaign: create (with `if_exists`), list, show, delete.
//!
//! The campaign's `leads_count` (and `finished_leads`) counters are maintained by the repository
//! in the same transaction as the insert or delete, so reading them never needs a scan.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::email::EmailAddress;
use reachkit_domain::esp::Provider;
use reachkit_domain::lead::{IfExists, LeadStatus, company_domain};
use reachkit_domain::validation::{FieldError, ValidationErrors};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::StoreError;
use crate::blocklist::ListQuery;
use crate::clock::Clock;
use crate::ids::{CampaignId, LeadId, WorkspaceId};
use crate::paging::Page;

pub mod bulk;

use bulk::{EntryOutcome, LeadBatch};

/// Longest first or last name.
pub const MAX_NAME_LEN: usize = 200;
/// Most variables on one lead.
pub const MAX_VARIABLES: usize = 100;
/// Longest variable name.
pub const MAX_VARIABLE_NAME_LEN: usize = 100;
/// Longest string value of a variable.
pub const MAX_VARIABLE_VALUE_LEN: usize = 10_000;

/// Merge-tag values of a lead: names to strings, numbers or booleans.
pub type Variables = Map<String, Value>;

/// A lead as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub id: LeadId,
    pub workspace_id: WorkspaceId,
    pub campaign_id: CampaignId,
    pub email: EmailAddress,
    /// The address's domain.
    pub email_domain: String,
    /// The company's domain; `None` for consumer mail domains.
    pub company_domain: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub variables: Variables,
    pub status: LeadStatus,
    pub is_bounced: bool,
    pub is_unsubscribed: bool,
    /// `None` until ESP detection has run.
    pub provider: Option<Provider>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Lead {
    /// Whether the lead needs nothing more from the campaign (counts towards progress): it
    /// replied, bounced or unsubscribed.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.status == LeadStatus::Replied || self.is_bounced || self.is_unsubscribed
    }
}

/// The fields a lead listing can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeadSort {
    #[default]
    CreatedAt,
    Email,
    FirstName,
    LastName,
    Status,
}

impl LeadSort {
    /// The names accepted in `sort_by`.
    pub const ALLOWED: &'static [&'static str] =
        &["created_at", "email", "first_name", "last_name", "status"];

    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "created_at" => Some(Self::CreatedAt),
            "email" => Some(Self::Email),
            "first_name" => Some(Self::FirstName),
            "last_name" => Some(Self::LastName),
            "status" => Some(Self::Status),
            _ => None,
        }
    }
}

/// A lead as the client sent it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewLeadInput {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub variables: Option<Variables>,
    pub if_exists: Option<String>,
}

/// A validated lead to add. With `if_exists` update, `first_name`/`last_name` replace the
/// existing ones only when given, and `variables` are merged key by key into the existing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLead {
    /// The lead as it is stored when the address is new to the campaign.
    pub lead: Lead,
    pub first_name_given: bool,
    pub last_name_given: bool,
    pub if_exists: IfExists,
}

/// What adding a lead did.
#[derive(Debug, Clone, PartialEq)]
pub enum AddOutcome {
    /// A new lead (201).
    Created(Lead),
    /// The address was in the campaign and `if_exists` was skip: the existing lead, unchanged.
    Skipped(Lead),
    /// The address was in the campaign and `if_exists` was update: the lead after the update.
    Updated(Lead),
    /// The address was in the campaign and `if_exists` was fail: nothing changed.
    Duplicate,
    /// The workspace has no such campaign: nothing changed.
    CampaignNotFound,
}

/// Where leads are kept. Every method is scoped to one workspace and one campaign.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LeadRepository: Send + Sync {
    /// Adds a lead to its campaign, honouring `if_exists` when the campaign has the address.
    /// In one transaction: MUST check that the campaign belongs to the lead's workspace, insert
    /// the lead, and add 1 to the campaign's `leads_count` only when a lead was inserted.
    /// Concurrent adds of one address to one campaign MUST leave exactly one lead.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn add(&self, lead: &NewLead) -> Result<AddOutcome, StoreError>;

    /// Adds a batch of leads to one campaign (bulk import), in ONE transaction with set-based
    /// statements: MUST check that the campaign belongs to the batch's workspace (`None` when it
    /// does not, nothing changed); MUST NOT insert or update an entry whose address is on the
    /// workspace's blocklist ([`EntryOutcome::Blocklisted`]); MUST insert every other entry
    /// whose address the campaign does not have ([`EntryOutcome::Inserted`]) and add exactly
    /// the number inserted to the campaign's `leads_count`; for an address the campaign has
    /// ([`EntryOutcome::Existed`]) MUST apply the entry's `update` when it has one (names given
    /// replace, variables merged key by key, `updated_at` set) and leave it unchanged
    /// otherwise. Entries have distinct addresses, sorted, so concurrent batches lock rows in
    /// one order. Returns one outcome per entry, in order.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails (nothing changed).
    async fn add_many(&self, batch: &LeadBatch) -> Result<Option<Vec<EntryOutcome>>, StoreError>;

    /// One lead of the workspace's campaign.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn get(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<Option<Lead>, StoreError>;

    /// One page of the campaign's leads, or `None` when the workspace has no such campaign.
    /// `search` matches the address, first or last name.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        query: &ListQuery<LeadSort>,
    ) -> Result<Option<Page<Lead>>, StoreError>;

    /// Deletes the lead and, in the same transaction, takes it off the campaign's `leads_count`
    /// (and `finished_leads` when it was finished). MUST return whether one was deleted.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<bool, StoreError>;
}

/// Why a lead operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("campaign not found")]
    CampaignNotFound,
    #[error("lead not found")]
    NotFound,
    #[error("a lead with this email already exists in the campaign")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`LeadService::add`] did, for the status code.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub lead: Lead,
    /// True for a new lead; false when an existing one was returned (skip) or updated.
    pub created: bool,
}

/// The lead use cases.
#[derive(Clone)]
pub struct LeadService {
    repo: Arc<dyn LeadRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LeadService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadService").finish_non_exhaustive()
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>) -> String {
    let value = value.unwrap_or("").trim();
    if value.chars().count() > MAX_NAME_LEN {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    value.to_owned()
}

/// Checks variables: names non-blank (trimmed) and at most [`MAX_VARIABLE_NAME_LEN`]
/// characters; values strings, numbers or booleans (null, arrays and objects are refused).
fn check_variables(errors: &mut Vec<FieldError>, variables: Option<&Variables>) -> Variables {
    let mut out = Map::new();
    let Some(variables) = variables else {
        return out;
    };
    if variables.len() > MAX_VARIABLES {
        errors.push(FieldError::new(
            "variables",
            "too_many",
            format!("must have at most {MAX_VARIABLES} entries"),
        ));
        return out;
    }
    for (name, value) in variables {
        let key = name.trim();
        let field = format!("variables.{name}");
        if key.is_empty() {
            errors.push(FieldError::new(
                "variables",
                "blank_name",
                "variable names must not be blank",
            ));
            continue;
        }
        if key.chars().count() > MAX_VARIABLE_NAME_LEN {
            errors.push(FieldError::new(
                "variables",
                "name_too_long",
                format!("variable names must be at most {MAX_VARIABLE_NAME_LEN} characters"),
            ));
            continue;
        }
        match value {
            Value::String(s) if s.chars().count() > MAX_VARIABLE_VALUE_LEN => {
                errors.push(FieldError::new(
                    field,
                    "too_long",
                    format!("must be at most {MAX_VARIABLE_VALUE_LEN} characters"),
                ));
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                out.insert(key.to_owned(), value.clone());
            }
            Value::Null | Value::Array(_) | Value::Object(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_type",
                    "must be a string, a number or a boolean",
                ));
            }
        }
    }
    out
}

/// Checks a lead as the client sent it and builds the lead to store: the one validation of
/// single and bulk creation. The address is trimmed and lower-cased, names trimmed, variable
/// names trimmed; `if_exists` defaults to fail.
///
/// # Errors
/// Every invalid field, at once.
pub(crate) fn prepare(
    workspace_id: WorkspaceId,
    campaign_id: CampaignId,
    input: &NewLeadInput,
    now: OffsetDateTime,
) -> Result<NewLead, ValidationErrors> {
    let mut errors = Vec::new();
    let email = EmailAddress::parse(&input.email)
        .map_err(|e| errors.push(FieldError::new("email", "invalid_email", e.to_string())))
        .ok();
    let first_name = check_name(&mut errors, "first_name", input.first_name.as_deref());
    let last_name = check_name(&mut errors, "last_name", input.last_name.as_deref());
    let variables = check_variables(&mut errors, input.variables.as_ref());
    let if_exists = match input.if_exists.as_deref() {
        None => IfExists::default(),
        Some(raw) => IfExists::parse(raw).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "if_exists",
                "invalid_value",
                "must be one of: fail, skip, update",
            ));
            IfExists::default()
        }),
    };
    let email = match email {
        Some(email) if errors.is_empty() => email,
        _ => return Err(ValidationErrors(errors)),
    };
    let lead = Lead {
        id: LeadId::new(),
        workspace_id,
        campaign_id,
        email_domain: email.domain().to_owned(),
        company_domain: company_domain(&email).map(str::to_owned),
        email,
        first_name,
        last_name,
        variables,
        status: LeadStatus::Uncontacted,
        is_bounced: false,
        is_unsubscribed: false,
        provider: None,
        created_at: now,
        updated_at: now,
    };
    Ok(NewLead {
        lead,
        first_name_given: input.first_name.is_some(),
        last_name_given: input.last_name.is_some(),
        if_exists,
    })
}

impl LeadService {
    #[must_use]
    pub fn new(repo: Arc<dyn LeadRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Adds a lead to a campaign. The address is trimmed and lower-cased; an address the
    /// campaign has already is refused (`fail`, the default), returned unchanged (`skip`) or
    /// updated (`update`: names given replace the old ones, variables are merged key by key).
    ///
    /// # Errors
    /// [`LeadError::Invalid`] naming every invalid field, [`LeadError::CampaignNotFound`],
    /// [`LeadError::Duplicate`], or the store's failure.
    pub async fn add(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        input: &NewLeadInput,
    ) -> Result<Added, LeadError> {
        let new = prepare(workspace_id, campaign_id, input, self.clock.now())
            .map_err(LeadError::Invalid)?;
        match self.repo.add(&new).await? {
            AddOutcome::Created(lead) => Ok(Added {
                lead,
                created: true,
            }),
            AddOutcome::Skipped(lead) | AddOutcome::Updated(lead) => Ok(Added {
                lead,
                created: false,
            }),
            AddOutcome::Duplicate => Err(LeadError::Duplicate),
            AddOutcome::CampaignNotFound => Err(LeadError::CampaignNotFound),
        }
    }

    /// One page of a campaign's leads.
    ///
    /// # Errors
    /// [`LeadError::CampaignNotFound`] or the store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        query: &ListQuery<LeadSort>,
    ) -> Result<Page<Lead>, LeadError> {
        self.repo
            .list(workspace_id, campaign_id, query)
            .await?
            .ok_or(LeadError::CampaignNotFound)
    }

    /// One lead of a campaign.
    ///
    /// # Errors
    /// [`LeadError::NotFound`] (also for another workspace's campaign) or the store's failure.
    pub async fn get(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<Lead, LeadError> {
        self.repo
            .get(workspace_id, campaign_id, id)
            .await?
            .ok_or(LeadError::NotFound)
    }

    /// Deletes a lead from a campaign.
    ///
    /// # Errors
    /// [`LeadError::NotFound`] or the store's failure.
    pub async fn delete(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        id: LeadId,
    ) -> Result<(), LeadError> {
        if self.repo.delete(workspace_id, campaign_id, id).await? {
            Ok(())
        } else {
            Err(LeadError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service(repo: MockLeadRepository) -> LeadService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        LeadService::new(Arc::new(repo), Arc::new(clock))
    }

    fn vars(value: Value) -> Option<Variables> {
        match value {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    fn fields(result: Result<Added, LeadError>) -> Vec<String> {
        match result {
            Err(LeadError::Invalid(e)) => e.fields().iter().map(|f| f.field.clone()).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn add_stores_the_canonical_address_with_its_domains() {
        let (ws, campaign) = (WorkspaceId::new(), CampaignId::new());
        let mut repo = MockLeadRepository::new();
        repo.expect_add()
            .withf(move |n| {
                let l = &n.lead;
                l.workspace_id == ws
                    && l.campaign_id == campaign
                    && l.email.as_str() == "ann@acme.com"
                    && l.email_domain == "acme.com"
                    && l.company_domain.as_deref() == Some("acme.com")
                    && l.first_name == "Ann"
                    && l.status == LeadStatus::Uncontacted
                    && l.provider.is_none()
                    && l.variables
                        == vars(json!({"company": "Acme", "size": 5, "vip": true}))
                            .unwrap_or_default()
                    && n.if_exists == IfExists::Fail
                    && n.first_name_given
                    && !n.last_name_given
            })
            .returning(|n| Ok(AddOutcome::Created(n.lead.clone())));
        let added = service(repo)
            .add(
                ws,
                campaign,
                &NewLeadInput {
                    email: "  Ann@ACME.com ".into(),
                    first_name: Some(" Ann ".into()),
                    variables: vars(json!({" company ": "Acme", "size": 5, "vip": true})),
                    ..NewLeadInput::default()
                },
            )
            .await
            .expect("added");
        assert!(added.created);
    }

    #[tokio::test]
    async fn consumer_addresses_have_no_company_domain() {
        let mut repo = MockLeadRepository::new();
        repo.expect_add()
            .withf(|n| n.lead.company_domain.is_none() && n.lead.email_domain == "gmail.com")
            .returning(|n| Ok(AddOutcome::Created(n.lead.clone())));
        let input = NewLeadInput {
            email: "bob@gmail.com".into(),
            ..NewLeadInput::default()
        };
        assert!(
            service(repo)
                .add(WorkspaceId::new(), CampaignId::new(), &input)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn add_names_every_invalid_field_and_stores_nothing() {
        let mut repo = MockLeadRepository::new();
        repo.expect_add().never();
        let input = NewLeadInput {
            email: "not-an-address".into(),
            last_name: Some("x".repeat(201)),
            variables: vars(json!({"nested": {"a": 1}, "list": [1], "nothing": null, "ok": "x"})),
            if_exists: Some("replace".into()),
            ..NewLeadInput::default()
        };
        let mut got = fields(
            service(repo)
                .add(WorkspaceId::new(), CampaignId::new(), &input)
                .await,
        );
        got.sort();
        assert_eq!(
            got,
            [
                "email",
                "if_exists",
                "last_name",
                "variables.list",
                "variables.nested",
                "variables.nothing"
            ]
        );
    }

    #[tokio::test]
    async fn outcomes_map_to_created_existing_duplicate_and_not_found() {
        type Outcome = fn(&NewLead) -> AddOutcome;
        let cases: [(IfExists, Outcome); 4] = [
            (IfExists::Skip, |n| AddOutcome::Skipped(n.lead.clone())),
            (IfExists::Update, |n| AddOutcome::Updated(n.lead.clone())),
            (IfExists::Fail, |_| AddOutcome::Duplicate),
            (IfExists::Fail, |_| AddOutcome::CampaignNotFound),
        ];
        for (mode, outcome) in cases {
            let mut repo = MockLeadRepository::new();
            repo.expect_add()
                .withf(move |n| n.if_exists == mode)
                .returning(move |n| Ok(outcome(n)));
            let input = NewLeadInput {
                email: "a@b.co".into(),
                if_exists: Some(mode.as_str().into()),
                ..NewLeadInput::default()
            };
            let result = service(repo)
                .add(WorkspaceId::new(), CampaignId::new(), &input)
                .await;
            match result {
                Ok(added) => assert!(!added.created),
                Err(LeadError::Duplicate | LeadError::CampaignNotFound) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[tokio::test]
    async fn missing_campaigns_and_leads_are_not_found() {
        let mut repo = MockLeadRepository::new();
        repo.expect_list().returning(|_, _, _| Ok(None));
        repo.expect_get().returning(|_, _, _| Ok(None));
        repo.expect_delete().returning(|_, _, _| Ok(false));
        let s = service(repo);
        let (ws, c, l) = (WorkspaceId::new(), CampaignId::new(), LeadId::new());
        assert!(matches!(
            s.list(ws, c, &ListQuery::default()).await,
            Err(LeadError::CampaignNotFound)
        ));
        assert!(matches!(s.get(ws, c, l).await, Err(LeadError::NotFound)));
        assert!(matches!(s.delete(ws, c, l).await, Err(LeadError::NotFound)));
    }

    #[test]
    fn a_lead_is_finished_when_it_replied_bounced_or_unsubscribed() {
        let lead = Lead {
            id: LeadId::new(),
            workspace_id: WorkspaceId::new(),
            campaign_id: CampaignId::new(),
            email: EmailAddress::parse("a@b.co").expect("valid"),
            email_domain: "b.co".into(),
            company_domain: Some("b.co".into()),
            first_name: String::new(),
            last_name: String::new(),
            variables: Map::new(),
            status: LeadStatus::Contacted,
            is_bounced: false,
            is_unsubscribed: false,
            provider: None,
            created_at: NOW,
            updated_at: NOW,
        };
        assert!(!lead.is_finished());
        assert!(
            Lead {
                status: LeadStatus::Replied,
                ..lead.clone()
            }
            .is_finished()
        );
        assert!(
            Lead {
                is_bounced: true,
                ..lead.clone()
            }
            .is_finished()
        );
        assert!(
            Lead {
                is_unsubscribed: true,
                ..lead
            }
            .is_finished()
        );
    }

    #[test]
    fn sort_by_accepts_only_the_allowlist() {
        for name in LeadSort::ALLOWED {
            assert!(LeadSort::parse(name).is_some(), "{name}");
        }
        assert_eq!(LeadSort::parse("variables"), None);
    }
}
