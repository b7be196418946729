//! Sequences and variants: the steps of a campaign and their A/B variants.
//!
//! Content rules come from the domain: merge tags are checked with
//! [`reachkit_domain::template::Template::parse`] and bodies normalised with
//! [`reachkit_domain::html::prepare_body`]. The unsubscribe block depends on the campaign's
//! option at the moment of writing, so the adapter applies `prepare_body` inside the transaction
//! that locks the campaign; the service checks the input first so errors name the field.

use std::sync::Arc;

use async_trait::async_trait;
use reachkit_domain::html::prepare_body;
use reachkit_domain::sequence::{self, Sequence, parse_delay_days};
use reachkit_domain::template::{Template, TemplateError};
use reachkit_domain::validation::{FieldError, ValidationErrors};
use reachkit_domain::variant::VariantLetter;
use time::OffsetDateTime;

use crate::StoreError;
use crate::clock::Clock;
use crate::ids::{CampaignId, SequenceId, VariantId, WorkspaceId};

/// A stored variant with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRecord {
    pub id: VariantId,
    pub sequence_id: SequenceId,
    pub letter: VariantLetter,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub enabled: bool,
    pub sent: u64,
    pub replies: u64,
    pub positive_replies: u64,
}

/// A stored step with its variants in letter order. `delay_days` is the stored gap to the next
/// step, kept even on the last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub id: SequenceId,
    pub step: u32,
    pub delay_days: u32,
    pub variants: Vec<VariantRecord>,
}

/// A step as the API shows it: `delay_days` is `None` on the last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceStep {
    pub id: SequenceId,
    pub step: u32,
    pub delay_days: Option<u32>,
    pub variants: Vec<VariantRecord>,
}

/// The API view of a campaign's steps (ordered by step), using the domain's sequence rules.
#[must_use]
pub fn step_views(mut steps: Vec<StepRecord>) -> Vec<SequenceStep> {
    steps.sort_by_key(|s| s.step);
    let seq = Sequence::new(
        steps
            .iter()
            .map(|s| sequence::Step {
                id: s.id,
                delay_days: s.delay_days,
            })
            .collect(),
    );
    seq.views()
        .into_iter()
        .zip(steps)
        .map(|(view, record)| SequenceStep {
            id: view.id,
            step: view.step,
            delay_days: view.delay_days,
            variants: record.variants,
        })
        .collect()
}

/// A new step (added last) and the id of its default variant A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewStep {
    pub id: SequenceId,
    pub delay_days: u32,
    pub variant_id: VariantId,
}

/// A new variant as submitted (the body raw; checked by the service already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariant {
    pub id: VariantId,
    pub subject: String,
    pub body_html: Option<String>,
    pub enabled: bool,
}

/// A PATCH of a variant (the body raw; checked by the service already).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantPatch {
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub enabled: Option<bool>,
}

/// What a variant change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantOutcome<T> {
    /// No such variant (or step) in the workspace's campaign.
    NotFound,
    /// Refused: it would leave its step without an enabled variant. Nothing changed.
    LastEnabledVariant,
    Done(T),
}

/// Where steps and variants are kept. Every method is scoped to one workspace and campaign,
/// and every change is one transaction that locks the campaign row first (so changes of one
/// campaign, including its unsubscribe toggle, are serialised).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SequenceRepository: Send + Sync {
    /// Every step of the campaign with its variants, `None` when the campaign is not the
    /// workspace's.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn steps(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
    ) -> Result<Option<Vec<StepRecord>>, StoreError>;

    /// Adds a step after the last one, with variant A (subject null; body null, or the
    /// unsubscribe block when the campaign's option is on). Returns every step after it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn add_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step: &NewStep,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<StepRecord>>, StoreError>;

    /// Sets a step's delay; every step after it, `None` when the step is not the campaign's.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn set_delay(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        delay_days: u32,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<StepRecord>>, StoreError>;

    /// Deletes a step with its variants and shifts the following steps up by one, in one
    /// transaction; MUST return whether the step existed.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
    ) -> Result<bool, StoreError>;

    /// Adds a variant to a step with the next letter, its body through
    /// [`prepare_body`] with the campaign's unsubscribe option read in the same transaction.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails (a body that does not parse is a store error: the
    /// service checks it first).
    async fn add_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        variant: &NewVariant,
        now: OffsetDateTime,
    ) -> Result<Option<VariantRecord>, StoreError>;

    /// Applies a patch: the last-enabled rule checked against the step's variants under lock,
    /// the body through [`prepare_body`] with the campaign's option.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn update_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
        patch: &VariantPatch,
        now: OffsetDateTime,
    ) -> Result<VariantOutcome<VariantRecord>, StoreError>;

    /// Deletes a variant unless it is its step's last enabled one.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    async fn delete_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
    ) -> Result<VariantOutcome<()>, StoreError>;
}

/// Why a sequence or variant operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error("campaign not found")]
    CampaignNotFound,
    #[error("sequence not found")]
    StepNotFound,
    #[error("variant not found")]
    VariantNotFound,
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The last enabled variant of a step can be neither disabled nor deleted.
    #[error("the last enabled variant of a step cannot be disabled or deleted")]
    LastEnabledVariant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sequence and variant use cases.
#[derive(Clone)]
pub struct SequenceService {
    repo: Arc<dyn SequenceRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SequenceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceService").finish_non_exhaustive()
    }
}

fn template_error(field: &str, e: TemplateError) -> FieldError {
    FieldError::new(field, e.code(), e.to_string())
}

fn check_subject(subject: &str, errors: &mut Vec<FieldError>) {
    if let Err(e) = Template::parse(subject) {
        errors.push(template_error("subject", e));
    }
}

fn check_body(body: &str, errors: &mut Vec<FieldError>) {
    // The unsubscribe flag changes only the appended block, never whether the body parses.
    if let Err(e) = prepare_body(body, false) {
        errors.push(template_error("body_html", e));
    }
}

fn done(errors: Vec<FieldError>) -> Result<(), SequenceError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SequenceError::Invalid(ValidationErrors(errors)))
    }
}

fn delay(value: i64) -> Result<u32, SequenceError> {
    parse_delay_days(value).map_err(|e| SequenceError::Invalid(ValidationErrors(vec![e])))
}

fn pick(steps: Vec<StepRecord>, id: SequenceId) -> Result<SequenceStep, SequenceError> {
    step_views(steps)
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(SequenceError::StepNotFound)
}

impl SequenceService {
    #[must_use]
    pub fn new(repo: Arc<dyn SequenceRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Every step of the campaign, ordered, `delay_days` null on the last.
    ///
    /// # Errors
    /// [`SequenceError::CampaignNotFound`], or the store's failure.
    pub async fn list(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
    ) -> Result<Vec<SequenceStep>, SequenceError> {
        let steps = self
            .repo
            .steps(workspace_id, campaign_id)
            .await?
            .ok_or(SequenceError::CampaignNotFound)?;
        Ok(step_views(steps))
    }

    /// Adds a step at the end (default delay 3) with its default variant A.
    ///
    /// # Errors
    /// [`SequenceError::Invalid`] naming `delay_days` (outside 0..=365),
    /// [`SequenceError::CampaignNotFound`], or the store's failure.
    pub async fn add_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        delay_days: Option<i64>,
    ) -> Result<SequenceStep, SequenceError> {
        let delay_days = match delay_days {
            Some(d) => delay(d)?,
            None => sequence::DEFAULT_DELAY_DAYS,
        };
        let step = NewStep {
            id: SequenceId::new(),
            delay_days,
            variant_id: VariantId::new(),
        };
        let steps = self
            .repo
            .add_step(workspace_id, campaign_id, &step, self.clock.now())
            .await?
            .ok_or(SequenceError::CampaignNotFound)?;
        pick(steps, step.id)
    }

    /// Sets a step's delay.
    ///
    /// # Errors
    /// [`SequenceError::Invalid`] naming `delay_days`, [`SequenceError::StepNotFound`], or the
    /// store's failure.
    pub async fn set_delay(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        delay_days: i64,
    ) -> Result<SequenceStep, SequenceError> {
        let delay_days = delay(delay_days)?;
        let steps = self
            .repo
            .set_delay(
                workspace_id,
                campaign_id,
                step_id,
                delay_days,
                self.clock.now(),
            )
            .await?
            .ok_or(SequenceError::StepNotFound)?;
        pick(steps, step_id)
    }

    /// Deletes a step and its variants; the following steps move up.
    ///
    /// # Errors
    /// [`SequenceError::StepNotFound`], or the store's failure.
    pub async fn delete_step(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
    ) -> Result<(), SequenceError> {
        if self
            .repo
            .delete_step(workspace_id, campaign_id, step_id)
            .await?
        {
            Ok(())
        } else {
            Err(SequenceError::StepNotFound)
        }
    }

    /// Adds a variant: subject required and non-empty; merge tags checked in subject and body.
    ///
    /// # Errors
    /// [`SequenceError::Invalid`] naming each bad field, [`SequenceError::StepNotFound`], or
    /// the store's failure.
    pub async fn add_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        step_id: SequenceId,
        subject: Option<String>,
        body_html: Option<String>,
        enabled: Option<bool>,
    ) -> Result<VariantRecord, SequenceError> {
        let mut errors = Vec::new();
        let subject = subject.unwrap_or_default();
        if subject.trim().is_empty() {
            errors.push(FieldError::new("subject", "required", "is required"));
        } else {
            check_subject(&subject, &mut errors);
        }
        if let Some(body) = &body_html {
            check_body(body, &mut errors);
        }
        done(errors)?;
        let variant = NewVariant {
            id: VariantId::new(),
            subject,
            body_html,
            enabled: enabled.unwrap_or(true),
        };
        self.repo
            .add_variant(
                workspace_id,
                campaign_id,
                step_id,
                &variant,
                self.clock.now(),
            )
            .await?
            .ok_or(SequenceError::StepNotFound)
    }

    /// Updates a variant's subject, body and/or enabled flag.
    ///
    /// # Errors
    /// [`SequenceError::Invalid`] naming each bad field, [`SequenceError::VariantNotFound`],
    /// [`SequenceError::LastEnabledVariant`] when disabling the step's last enabled variant, or
    /// the store's failure.
    pub async fn update_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
        patch: &VariantPatch,
    ) -> Result<VariantRecord, SequenceError> {
        let mut errors = Vec::new();
        if let Some(subject) = &patch.subject {
            check_subject(subject, &mut errors);
        }
        if let Some(body) = &patch.body_html {
            check_body(body, &mut errors);
        }
        done(errors)?;
        match self
            .repo
            .update_variant(
                workspace_id,
                campaign_id,
                variant_id,
                patch,
                self.clock.now(),
            )
            .await?
        {
            VariantOutcome::NotFound => Err(SequenceError::VariantNotFound),
            VariantOutcome::LastEnabledVariant => Err(SequenceError::LastEnabledVariant),
            VariantOutcome::Done(v) => Ok(v),
        }
    }

    /// Deletes a variant unless it is its step's last enabled one.
    ///
    /// # Errors
    /// [`SequenceError::VariantNotFound`], [`SequenceError::LastEnabledVariant`], or the
    /// store's failure.
    pub async fn delete_variant(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
        variant_id: VariantId,
    ) -> Result<(), SequenceError> {
        match self
            .repo
            .delete_variant(workspace_id, campaign_id, variant_id)
            .await?
        {
            VariantOutcome::NotFound => Err(SequenceError::VariantNotFound),
            VariantOutcome::LastEnabledVariant => Err(SequenceError::LastEnabledVariant),
            VariantOutcome::Done(()) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service(repo: MockSequenceRepository) -> SequenceService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        SequenceService::new(Arc::new(repo), Arc::new(clock))
    }

    fn step(step: u32, delay_days: u32) -> StepRecord {
        StepRecord {
            id: SequenceId::new(),
            step,
            delay_days,
            variants: vec![],
        }
    }

    #[test]
    fn views_order_steps_and_hide_the_last_delay() {
        let views = step_views(vec![step(2, 5), step(1, 4)]);
        let got: Vec<(u32, Option<u32>)> = views.iter().map(|v| (v.step, v.delay_days)).collect();
        assert_eq!(got, [(1, Some(4)), (2, None)]);
    }

    #[tokio::test]
    async fn a_new_step_gets_the_default_delay_and_shows_none_as_the_last() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_add_step()
            .withf(|_, _, s, now| s.delay_days == 3 && *now == NOW)
            .returning(|_, _, s, _| {
                Ok(Some(vec![
                    step(1, 3),
                    StepRecord {
                        id: s.id,
                        step: 2,
                        delay_days: s.delay_days,
                        variants: vec![],
                    },
                ]))
            });
        let created = service(repo)
            .add_step(WorkspaceId::new(), CampaignId::new(), None)
            .await
            .expect("added");
        assert_eq!((created.step, created.delay_days), (2, None));
    }

    #[tokio::test]
    async fn delays_outside_a_year_are_refused_without_storing() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_add_step().never();
        repo.expect_set_delay().never();
        let svc = service(repo);
        let (ws, c) = (WorkspaceId::new(), CampaignId::new());
        let r = svc.add_step(ws, c, Some(-1)).await;
        assert!(matches!(r, Err(SequenceError::Invalid(e)) if e.has("delay_days")));
        let r = svc.set_delay(ws, c, SequenceId::new(), 366).await;
        assert!(matches!(r, Err(SequenceError::Invalid(e)) if e.has("delay_days")));
    }

    #[tokio::test]
    async fn a_variant_needs_a_subject_and_well_formed_merge_tags() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_add_variant().never();
        let r = service(repo)
            .add_variant(
                WorkspaceId::new(),
                CampaignId::new(),
                SequenceId::new(),
                Some("  ".into()),
                Some("Hi {{first_name".into()),
                None,
            )
            .await;
        let Err(SequenceError::Invalid(e)) = r else {
            panic!("expected invalid: {r:?}");
        };
        let got: Vec<(&str, &str)> = e
            .fields()
            .iter()
            .map(|f| (f.field.as_str(), f.code))
            .collect();
        assert_eq!(
            got,
            [("subject", "required"), ("body_html", "unbalanced_braces")]
        );
        assert!(e.fields()[1].message.contains("byte 3"), "{e}");
    }

    #[tokio::test]
    async fn disabling_the_last_enabled_variant_is_refused() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_update_variant()
            .returning(|_, _, _, _, _| Ok(VariantOutcome::LastEnabledVariant));
        let r = service(repo)
            .update_variant(
                WorkspaceId::new(),
                CampaignId::new(),
                VariantId::new(),
                &VariantPatch {
                    enabled: Some(false),
                    ..VariantPatch::default()
                },
            )
            .await;
        assert!(matches!(r, Err(SequenceError::LastEnabledVariant)));
    }

    #[tokio::test]
    async fn a_subject_with_an_unclosed_tag_is_refused_on_update() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_update_variant().never();
        let r = service(repo)
            .update_variant(
                WorkspaceId::new(),
                CampaignId::new(),
                VariantId::new(),
                &VariantPatch {
                    subject: Some("Hello {{name".into()),
                    ..VariantPatch::default()
                },
            )
            .await;
        assert!(matches!(r, Err(SequenceError::Invalid(e)) if e.has("subject")));
    }

    #[tokio::test]
    async fn deleting_an_unknown_step_or_variant_is_not_found() {
        let mut repo = MockSequenceRepository::new();
        repo.expect_delete_step().returning(|_, _, _| Ok(false));
        repo.expect_delete_variant()
            .returning(|_, _, _| Ok(VariantOutcome::NotFound));
        let svc = service(repo);
        let (ws, c) = (WorkspaceId::new(), CampaignId::new());
        assert!(matches!(
            svc.delete_step(ws, c, SequenceId::new()).await,
            Err(SequenceError::StepNotFound)
        ));
        assert!(matches!(
            svc.delete_variant(ws, c, VariantId::new()).await,
            Err(SequenceError::VariantNotFound)
        ));
    }
}
