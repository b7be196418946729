//! Campaigns: the status machine, launch readiness, options and their change set.

use std::fmt;
use std::str::FromStr;

use crate::validation::{FieldError, ValidationErrors};

/// Longest campaign name accepted, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 150;
/// Largest `daily_limit` accepted (it is stored in a 32-bit integer column).
pub const MAX_DAILY_LIMIT: u32 = i32::MAX as u32;
/// `daily_limit` of a new campaign.
pub const DEFAULT_DAILY_LIMIT: u32 = 50;

/// The lifecycle status of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CampaignStatus {
    /// Being prepared; nothing is sent. Every campaign starts here.
    Draft,
    /// Sending inside its schedule.
    Active,
    /// Stopped by the user; can be resumed.
    Paused,
}

/// A string that is not one of `draft`, `active`, `paused`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown campaign status {0:?} (expected draft, active or paused)")]
pub struct UnknownStatus(pub String);

impl CampaignStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Draft, Self::Active, Self::Paused];

    /// The contract's spelling: `draft`, `active`, `paused`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }

    /// Parses the contract's spelling (exact, lower case).
    ///
    /// # Errors
    /// [`UnknownStatus`] for anything else.
    pub fn parse(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }

    /// Moves from `self` to `to`, checking the transition and, for a launch, the readiness.
    ///
    /// Rules: the same status again is a no-op ([`Transition::Unchanged`], no readiness check);
    /// draft -> active and paused -> active need `readiness` (an inbox first, then a sendable
    /// variant in step 1); active -> paused is always allowed; anything else (draft -> paused,
    /// any -> draft) is refused.
    ///
    /// # Errors
    /// [`TransitionError::InvalidTransition`], [`TransitionError::NoInbox`] or
    /// [`TransitionError::NoSendableVariant`], checked in that order.
    pub fn transition(
        self,
        to: Self,
        readiness: &LaunchReadiness,
    ) -> Result<Transition, TransitionError> {
        use CampaignStatus::{Active, Draft, Paused};
        match (self, to) {
            (from, to) if from == to => Ok(Transition::Unchanged),
            (Draft | Paused, Active) => {
                readiness.check()?;
                Ok(Transition::Changed { from: self, to })
            }
            (Active, Paused) => Ok(Transition::Changed { from: self, to }),
            (from, to) => Err(TransitionError::InvalidTransition { from, to }),
        }
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CampaignStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The outcome of an accepted status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The requested status is the current one: nothing to do.
    Unchanged,
    /// The status changes.
    Changed {
        /// The previous status.
        from: CampaignStatus,
        /// The new status.
        to: CampaignStatus,
    },
}

impl Transition {
    /// The status after the transition, given the status before it.
    #[must_use]
    pub fn resulting(self, current: CampaignStatus) -> CampaignStatus {
        match self {
            Self::Unchanged => current,
            Self::Changed { to, .. } => to,
        }
    }
}

/// Why a status change is refused. Each refusal has its own [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The status machine has no such edge (e.g. active -> draft).
    #[error("cannot change status from {from} to {to}")]
    InvalidTransition {
        /// Current status.
        from: CampaignStatus,
        /// Requested status.
        to: CampaignStatus,
    },
    /// A launch needs at least one attached inbox.
    #[error("cannot launch a campaign without at least one inbox")]
    NoInbox,
    /// A launch needs, in step 1, an enabled variant with a non-empty subject and body.
    #[error("cannot launch: step 1 needs an enabled variant with a subject and a body")]
    NoSendableVariant,
}

impl TransitionError {
    /// Stable code: `invalid_transition`, `no_inbox`, `no_sendable_variant`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::NoInbox => "no_inbox",
            Self::NoSendableVariant => "no_sendable_variant",
        }
    }
}

/// What a launch (draft/paused -> active) needs to know about the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LaunchReadiness {
    /// Number of inboxes attached to the campaign.
    pub inbox_count: usize,
    /// Number of enabled variants of step 1 with a non-empty subject and body
    /// (see [`crate::variant::VariantContent::is_sendable`]).
    pub sendable_step_one_variants: usize,
}

impl LaunchReadiness {
    /// Checks readiness: an inbox first, then a sendable variant.
    ///
    /// # Errors
    /// [`TransitionError::NoInbox`] or [`TransitionError::NoSendableVariant`].
    pub fn check(&self) -> Result<(), TransitionError> {
        if self.inbox_count == 0 {
            return Err(TransitionError::NoInbox);
        }
        if self.sendable_step_one_variants == 0 {
            return Err(TransitionError::NoSendableVariant);
        }
        Ok(())
    }
}

/// A campaign name: trimmed, non-empty, at most [`MAX_NAME_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CampaignName(String);

/// Why a campaign name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty or only white space.
    #[error("is required")]
    Blank,
    /// Longer than [`MAX_NAME_CHARS`] characters after trimming.
    #[error("must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
}

impl NameError {
    /// Stable code: `required`, `too_long`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Blank => "required",
            Self::TooLong => "too_long",
        }
    }
}

impl CampaignName {
    /// Trims and checks a name.
    ///
    /// # Errors
    /// [`NameError::Blank`] or [`NameError::TooLong`].
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            Err(NameError::Blank)
        } else if trimmed.chars().count() > MAX_NAME_CHARS {
            Err(NameError::TooLong)
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    /// The trimmed name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CampaignName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A campaign's sending options, with the product's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignOptions {
    /// Emails per calendar day of the campaign's time zone, across all inboxes; 0 sends nothing.
    pub daily_limit: u32,
    /// Stop a lead's sequence when the lead replies.
    pub stop_on_reply: bool,
    /// When a lead replies, stop every other lead of the campaign at the same company domain.
    pub stop_on_company_reply: bool,
    /// Send plain text only (no HTML part).
    pub text_only: bool,
    /// Only send from an inbox whose provider equals the lead's provider.
    pub esp_matching: bool,
    /// Add List-Unsubscribe headers and the unsubscribe link block to every body.
    pub unsubscribe_option: bool,
}

impl Default for CampaignOptions {
    /// daily_limit 50, stop_on_reply on, everything else off.
    fn default() -> Self {
        Self {
            daily_limit: DEFAULT_DAILY_LIMIT,
            stop_on_reply: true,
            stop_on_company_reply: false,
            text_only: false,
            esp_matching: false,
            unsubscribe_option: false,
        }
    }
}

/// Checks a requested `daily_limit`: an integer in `0..=MAX_DAILY_LIMIT`.
///
/// # Errors
/// A [`FieldError`] on field `daily_limit` with code `out_of_range`.
pub fn parse_daily_limit(value: i64) -> Result<u32, FieldError> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= MAX_DAILY_LIMIT)
        .ok_or_else(|| {
            FieldError::new(
                "daily_limit",
                "out_of_range",
                format!("must be between 0 and {MAX_DAILY_LIMIT}"),
            )
        })
}

/// The editable part of a campaign, as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSettings {
    /// The name.
    pub name: CampaignName,
    /// The status.
    pub status: CampaignStatus,
    /// The options.
    pub options: CampaignOptions,
}

impl CampaignSettings {
    /// A new campaign: draft, default options.
    #[must_use]
    pub fn new(name: CampaignName) -> Self {
        Self {
            name,
            status: CampaignStatus::Draft,
            options: CampaignOptions::default(),
        }
    }
}

/// A PATCH of a campaign: every field optional, validated whole, applied all or nothing.
///
/// Raw values (strings, `i64`) are taken so that every problem becomes a [`FieldError`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignChanges {
    /// New name (trimmed, 1..=150 characters).
    pub name: Option<String>,
    /// New status (`active` or `paused`; see [`CampaignStatus::transition`]).
    pub status: Option<String>,
    /// New daily limit (`>= 0`).
    pub daily_limit: Option<i64>,
    /// New `stop_on_reply`.
    pub stop_on_reply: Option<bool>,
    /// New `stop_on_company_reply`.
    pub stop_on_company_reply: Option<bool>,
    /// New `text_only`.
    pub text_only: Option<bool>,
    /// New `esp_matching`.
    pub esp_matching: Option<bool>,
    /// New `unsubscribe_option`.
    pub unsubscribe_option: Option<bool>,
}

/// The result of applying a [`CampaignChanges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignUpdate {
    /// The settings after the change.
    pub settings: CampaignSettings,
    /// The status transition, if a status was requested.
    pub transition: Option<Transition>,
    /// `Some(on)` when `unsubscribe_option` changed value: every variant body must then get
    /// (or lose) the unsubscribe block (see [`crate::html::apply_unsubscribe`]).
    pub unsubscribe_toggled: Option<bool>,
}

impl CampaignChanges {
    /// Validates every field, then produces the new settings. Nothing is applied unless all
    /// fields are valid.
    ///
    /// The status is checked against the *current* status and `readiness`; its errors use the
    /// field `status` and the codes of [`TransitionError::code`] (or `invalid_value` for an
    /// unknown status string).
    ///
    /// # Errors
    /// [`ValidationErrors`] with one [`FieldError`] per failed field, in the order name, status,
    /// daily_limit.
    pub fn apply(
        &self,
        current: &CampaignSettings,
        readiness: &LaunchReadiness,
    ) -> Result<CampaignUpdate, ValidationErrors> {
        let mut errors = Vec::new();
        let mut next = current.clone();

        if let Some(name) = &self.name {
            match CampaignName::parse(name) {
                Ok(n) => next.name = n,
                Err(e) => errors.push(FieldError::new("name", e.code(), e.to_string())),
            }
        }

        let mut transition = None;
        if let Some(status) = &self.status {
            match CampaignStatus::parse(status) {
                Ok(to) => match current.status.transition(to, readiness) {
                    Ok(t) => {
                        next.status = t.resulting(current.status);
                        transition = Some(t);
                    }
                    Err(e) => errors.push(FieldError::new("status", e.code(), e.to_string())),
                },
                Err(e) => errors.push(FieldError::new("status", "invalid_value", e.to_string())),
            }
        }

        if let Some(limit) = self.daily_limit {
            match parse_daily_limit(limit) {
                Ok(v) => next.options.daily_limit = v,
                Err(e) => errors.push(e),
            }
        }

        let o = &mut next.options;
        let flags = [
            (self.stop_on_reply, &mut o.stop_on_reply),
            (self.stop_on_company_reply, &mut o.stop_on_company_reply),
            (self.text_only, &mut o.text_only),
            (self.esp_matching, &mut o.esp_matching),
            (self.unsubscribe_option, &mut o.unsubscribe_option),
        ];
        for (requested, slot) in flags {
            if let Some(v) = requested {
                *slot = v;
            }
        }

        if !errors.is_empty() {
            return Err(ValidationErrors(errors));
        }
        let unsubscribe_toggled = (next.options.unsubscribe_option
            != current.options.unsubscribe_option)
            .then_some(next.options.unsubscribe_option);
        Ok(CampaignUpdate {
            settings: next,
            transition,
            unsubscribe_toggled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::CampaignStatus::{Active, Draft, Paused};
    use super::*;

    const READY: LaunchReadiness = LaunchReadiness {
        inbox_count: 1,
        sendable_step_one_variants: 1,
    };
    const NO_INBOX: LaunchReadiness = LaunchReadiness {
        inbox_count: 0,
        sendable_step_one_variants: 1,
    };
    const NO_VARIANT: LaunchReadiness = LaunchReadiness {
        inbox_count: 2,
        sendable_step_one_variants: 0,
    };
    const NOTHING: LaunchReadiness = LaunchReadiness {
        inbox_count: 0,
        sendable_step_one_variants: 0,
    };

    #[test]
    fn status_round_trips_through_its_spelling() {
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Ok(s));
            assert_eq!(s.as_str().parse::<CampaignStatus>(), Ok(s));
        }
        for bad in ["", "Active", "archived", " draft"] {
            assert_eq!(
                CampaignStatus::parse(bad),
                Err(UnknownStatus(bad.to_owned()))
            );
        }
    }

    #[test]
    fn transitions_follow_the_status_machine() {
        type E = TransitionError;
        let changed = |from, to| Ok(Transition::Changed { from, to });
        let cases: [(
            CampaignStatus,
            CampaignStatus,
            LaunchReadiness,
            Result<Transition, E>,
        ); 16] = [
            (Draft, Draft, NOTHING, Ok(Transition::Unchanged)),
            (Active, Active, NOTHING, Ok(Transition::Unchanged)),
            (Paused, Paused, NOTHING, Ok(Transition::Unchanged)),
            (Draft, Active, READY, changed(Draft, Active)),
            (Paused, Active, READY, changed(Paused, Active)),
            (Active, Paused, NOTHING, changed(Active, Paused)),
            (Draft, Active, NO_INBOX, Err(E::NoInbox)),
            (Draft, Active, NO_VARIANT, Err(E::NoSendableVariant)),
            (Draft, Active, NOTHING, Err(E::NoInbox)),
            (Paused, Active, NO_INBOX, Err(E::NoInbox)),
            (Paused, Active, NO_VARIANT, Err(E::NoSendableVariant)),
            (
                Draft,
                Paused,
                READY,
                Err(E::InvalidTransition {
                    from: Draft,
                    to: Paused,
                }),
            ),
            (
                Active,
                Draft,
                READY,
                Err(E::InvalidTransition {
                    from: Active,
                    to: Draft,
                }),
            ),
            (
                Paused,
                Draft,
                READY,
                Err(E::InvalidTransition {
                    from: Paused,
                    to: Draft,
                }),
            ),
            (
                Draft,
                Paused,
                NOTHING,
                Err(E::InvalidTransition {
                    from: Draft,
                    to: Paused,
                }),
            ),
            (Active, Paused, READY, changed(Active, Paused)),
        ];
        for (from, to, readiness, expected) in cases {
            assert_eq!(from.transition(to, &readiness), expected, "{from} -> {to}");
        }
    }

    #[test]
    fn each_refusal_has_its_own_code() {
        let codes = [
            TransitionError::InvalidTransition {
                from: Active,
                to: Draft,
            }
            .code(),
            TransitionError::NoInbox.code(),
            TransitionError::NoSendableVariant.code(),
        ];
        assert_eq!(
            codes,
            ["invalid_transition", "no_inbox", "no_sendable_variant"]
        );
    }

    #[test]
    fn names_are_trimmed_required_and_bounded() {
        let max = "é".repeat(MAX_NAME_CHARS);
        let over = "x".repeat(MAX_NAME_CHARS + 1);
        let padded_max = format!("  {max}  ");
        let cases: [(&str, Result<&str, NameError>); 6] = [
            ("Q3 outreach", Ok("Q3 outreach")),
            ("  Q3 outreach \n", Ok("Q3 outreach")),
            (&padded_max, Ok(&max)),
            ("", Err(NameError::Blank)),
            (" \t ", Err(NameError::Blank)),
            (&over, Err(NameError::TooLong)),
        ];
        for (input, expected) in cases {
            let got = CampaignName::parse(input);
            assert_eq!(
                got.as_ref().map(CampaignName::as_str),
                expected.as_deref(),
                "{input:?}"
            );
        }
        assert_eq!(NameError::Blank.code(), "required");
        assert_eq!(NameError::TooLong.code(), "too_long");
    }

    #[test]
    fn options_default_to_the_product_defaults() {
        let o = CampaignOptions::default();
        assert_eq!(o.daily_limit, 50);
        assert!(o.stop_on_reply);
        assert!(!o.stop_on_company_reply && !o.text_only && !o.esp_matching);
        assert!(!o.unsubscribe_option);
    }

    #[test]
    fn daily_limit_accepts_zero_and_refuses_negatives() {
        assert_eq!(parse_daily_limit(0), Ok(0));
        assert_eq!(parse_daily_limit(500), Ok(500));
        assert_eq!(
            parse_daily_limit(i64::from(MAX_DAILY_LIMIT)),
            Ok(MAX_DAILY_LIMIT)
        );
        for bad in [-1, i64::MIN, i64::from(MAX_DAILY_LIMIT) + 1] {
            let e = parse_daily_limit(bad).unwrap_err();
            assert_eq!((e.field.as_str(), e.code), ("daily_limit", "out_of_range"));
        }
    }

    fn current() -> CampaignSettings {
        CampaignSettings::new(CampaignName::parse("Launch").unwrap())
    }

    #[test]
    fn a_valid_change_set_applies_every_field() {
        let changes = CampaignChanges {
            name: Some(" Renamed ".into()),
            status: Some("active".into()),
            daily_limit: Some(0),
            stop_on_reply: Some(false),
            stop_on_company_reply: Some(true),
            text_only: Some(true),
            esp_matching: Some(true),
            unsubscribe_option: Some(true),
        };
        let update = changes.apply(&current(), &READY).unwrap();
        let s = &update.settings;
        assert_eq!(s.name.as_str(), "Renamed");
        assert_eq!(s.status, Active);
        assert_eq!(
            s.options,
            CampaignOptions {
                daily_limit: 0,
                stop_on_reply: false,
                stop_on_company_reply: true,
                text_only: true,
                esp_matching: true,
                unsubscribe_option: true,
            }
        );
        assert_eq!(
            update.transition,
            Some(Transition::Changed {
                from: Draft,
                to: Active
            })
        );
        assert_eq!(update.unsubscribe_toggled, Some(true));
    }

    #[test]
    fn an_empty_change_set_changes_nothing() {
        let update = CampaignChanges::default()
            .apply(&current(), &NOTHING)
            .unwrap();
        assert_eq!(update.settings, current());
        assert_eq!(update.transition, None);
        assert_eq!(update.unsubscribe_toggled, None);
    }

    #[test]
    fn an_invalid_change_set_reports_every_field_and_applies_nothing() {
        let changes = CampaignChanges {
            name: Some("   ".into()),
            status: Some("active".into()),
            daily_limit: Some(-5),
            text_only: Some(true),
            ..CampaignChanges::default()
        };
        let errors = changes.apply(&current(), &NO_INBOX).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .fields()
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            got,
            [
                ("name", "required"),
                ("status", "no_inbox"),
                ("daily_limit", "out_of_range")
            ]
        );
    }

    #[test]
    fn one_bad_field_blocks_the_good_ones() {
        let changes = CampaignChanges {
            name: Some("x".repeat(151)),
            daily_limit: Some(10),
            ..CampaignChanges::default()
        };
        let errors = changes.apply(&current(), &READY).unwrap_err();
        assert!(errors.has("name"));
        assert_eq!(errors.fields().len(), 1);
    }

    #[test]
    fn unknown_or_refused_status_is_a_status_field_error() {
        let cases = [
            ("archived", Draft, "invalid_value"),
            ("draft", Active, "invalid_transition"),
            ("paused", Draft, "invalid_transition"),
            ("active", Paused, "no_sendable_variant"),
        ];
        for (status, from, code) in cases {
            let mut cur = current();
            cur.status = from;
            let changes = CampaignChanges {
                status: Some(status.into()),
                ..CampaignChanges::default()
            };
            let errors = changes.apply(&cur, &NO_VARIANT).unwrap_err();
            assert_eq!(errors.fields()[0].field, "status");
            assert_eq!(errors.fields()[0].code, code, "{from} -> {status}");
        }
    }

    #[test]
    fn setting_the_same_status_is_a_no_op_even_when_not_ready() {
        let changes = CampaignChanges {
            status: Some("draft".into()),
            ..CampaignChanges::default()
        };
        let update = changes.apply(&current(), &NOTHING).unwrap();
        assert_eq!(update.transition, Some(Transition::Unchanged));
        assert_eq!(update.settings.status, Draft);
    }

    #[test]
    fn unsubscribe_toggle_is_reported_only_when_it_changes() {
        let mut cur = current();
        cur.options.unsubscribe_option = true;
        let same = CampaignChanges {
            unsubscribe_option: Some(true),
            ..CampaignChanges::default()
        };
        assert_eq!(same.apply(&cur, &READY).unwrap().unsubscribe_toggled, None);
        let off = CampaignChanges {
            unsubscribe_option: Some(false),
            ..CampaignChanges::default()
        };
        assert_eq!(
            off.apply(&cur, &READY).unwrap().unsubscribe_toggled,
            Some(false)
        );
    }
}
