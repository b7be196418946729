//! Variants: letters, the last-enabled-variant rule, sendability and even distribution.

use std::fmt;

/// A variant's letter: `A` .. `Z`, then `AA`, `AB`, ... (bijective base 26), assigned in
/// creation order.
///
/// Letters are stable identities: deleting `B` from `A, B, C` leaves `A, C`, and the next new
/// variant is `D` (the successor of the highest letter in use), so stats never move between
/// letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VariantLetter(u32);

impl VariantLetter {
    /// `A`.
    pub const A: Self = Self(0);

    /// The letter at a 0-based index (0 = `A`, 25 = `Z`, 26 = `AA`).
    #[must_use]
    pub const fn from_index(index: u32) -> Self {
        Self(index)
    }

    /// The 0-based index.
    #[must_use]
    pub const fn index(self) -> u32 {
        self.0
    }

    /// The next letter.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// Parses upper-case letters (`A`, `Z`, `AA`, ...).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 6 {
            return None;
        }
        let mut n: u32 = 0;
        for b in s.bytes() {
            if !b.is_ascii_uppercase() {
                return None;
            }
            n = n * 26 + u32::from(b - b'A' + 1);
        }
        Some(Self(n - 1))
    }

    /// The letter after the highest of `existing`, or `A` when there is none.
    #[must_use]
    pub fn next_after(existing: impl IntoIterator<Item = Self>) -> Self {
        existing.into_iter().max().map_or(Self::A, Self::next)
    }
}

impl fmt::Display for VariantLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = u64::from(self.0) + 1;
        let mut out = Vec::new();
        while n > 0 {
            let rem = (n - 1) % 26;
            out.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
            n = (n - 1) / 26;
        }
        out.iter().rev().try_for_each(|c| write!(f, "{c}"))
    }
}

impl fmt::Debug for VariantLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VariantLetter({self})")
    }
}

/// Why a variant change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    /// The change would leave the step without an enabled variant.
    #[error("the last enabled variant of a step cannot be disabled or deleted")]
    LastEnabledVariant,
    /// No variant with that id in the step.
    #[error("variant not found")]
    NotFound,
}

impl VariantError {
    /// Stable code: `cannot_delete_last_variant` (for both delete and disable), `not_found`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::LastEnabledVariant => "cannot_delete_last_variant",
            Self::NotFound => "not_found",
        }
    }
}

/// A variant's id and whether it is enabled, for the last-enabled rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantState<Id> {
    /// The id.
    pub id: Id,
    /// Enabled or not.
    pub enabled: bool,
}

fn other_enabled<Id: PartialEq>(
    variants: &[VariantState<Id>],
    id: &Id,
) -> Result<bool, VariantError> {
    let target = variants
        .iter()
        .find(|v| v.id == *id)
        .ok_or(VariantError::NotFound)?;
    Ok(!target.enabled || variants.iter().any(|v| v.enabled && v.id != *id))
}

/// Checks that `id` may be deleted from its step's `variants`.
///
/// # Errors
/// [`VariantError::LastEnabledVariant`] when it is the step's only enabled variant;
/// [`VariantError::NotFound`] when it is not in `variants`.
pub fn check_delete<Id: PartialEq>(
    variants: &[VariantState<Id>],
    id: &Id,
) -> Result<(), VariantError> {
    if other_enabled(variants, id)? {
        Ok(())
    } else {
        Err(VariantError::LastEnabledVariant)
    }
}

/// Checks that `id` may get `enabled` set to `enabled` (enabling is always allowed).
///
/// # Errors
/// As [`check_delete`], when disabling.
pub fn check_set_enabled<Id: PartialEq>(
    variants: &[VariantState<Id>],
    id: &Id,
    enabled: bool,
) -> Result<(), VariantError> {
    if enabled {
        variants
            .iter()
            .any(|v| v.id == *id)
            .then_some(())
            .ok_or(VariantError::NotFound)
    } else {
        check_delete(variants, id)
    }
}

/// The parts of a variant that decide whether it can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantContent<'a> {
    /// Enabled or not.
    pub enabled: bool,
    /// Subject template.
    pub subject: Option<&'a str>,
    /// Normalised HTML body.
    pub body_html: Option<&'a str>,
}

impl VariantContent<'_> {
    /// Enabled, with a non-blank subject and a body that holds more than white space and the
    /// unsubscribe block (see [`crate::html::has_content`]).
    #[must_use]
    pub fn is_sendable(&self) -> bool {
        self.enabled
            && self.subject.is_some_and(|s| !s.trim().is_empty())
            && self.body_html.is_some_and(crate::html::has_content)
    }
}

/// One variant's share of a step's sends, for distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantLoad {
    /// The letter (tie-breaker).
    pub letter: VariantLetter,
    /// Enabled or not.
    pub enabled: bool,
    /// Emails sent with this variant so far.
    pub sent: u64,
}

/// Even distribution: the index of the enabled variant with the fewest sends, ties going to the
/// earliest letter; `None` when none is enabled.
#[must_use]
pub fn pick_least_sent(variants: &[VariantLoad]) -> Option<usize> {
    variants
        .iter()
        .enumerate()
        .filter(|(_, v)| v.enabled)
        .min_by_key(|(_, v)| (v.sent, v.letter))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_count_like_spreadsheet_columns() {
        let cases = [
            (0, "A"),
            (1, "B"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (51, "AZ"),
            (52, "BA"),
            (701, "ZZ"),
            (702, "AAA"),
        ];
        for (i, s) in cases {
            let l = VariantLetter::from_index(i);
            assert_eq!(l.to_string(), s);
            assert_eq!(VariantLetter::parse(s), Some(l));
        }
        for bad in ["", "a", "A1", "-", "AAAAAAA"] {
            assert_eq!(VariantLetter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn new_letters_follow_the_highest_in_use() {
        let l = |s| VariantLetter::parse(s).unwrap();
        assert_eq!(VariantLetter::next_after([]), l("A"));
        assert_eq!(VariantLetter::next_after([l("A"), l("B")]), l("C"));
        assert_eq!(VariantLetter::next_after([l("A"), l("C")]), l("D"));
        assert_eq!(VariantLetter::next_after([l("Z")]), l("AA"));
    }

    fn states(enabled: &[bool]) -> Vec<VariantState<usize>> {
        enabled
            .iter()
            .enumerate()
            .map(|(id, &enabled)| VariantState { id, enabled })
            .collect()
    }

    #[test]
    fn the_last_enabled_variant_can_be_neither_deleted_nor_disabled() {
        let e = VariantError::LastEnabledVariant;
        type Outcome = Result<(), VariantError>;
        let cases: [(&[bool], usize, Outcome, Outcome); 6] = [
            (&[true], 0, Err(e), Err(e)),
            (&[true, false], 0, Err(e), Err(e)),
            (&[true, false], 1, Ok(()), Ok(())),
            (&[true, true], 0, Ok(()), Ok(())),
            (&[false, true, false], 1, Err(e), Err(e)),
            (
                &[true],
                5,
                Err(VariantError::NotFound),
                Err(VariantError::NotFound),
            ),
        ];
        for (enabled, id, delete, disable) in cases {
            let v = states(enabled);
            assert_eq!(check_delete(&v, &id), delete, "{enabled:?} delete {id}");
            assert_eq!(
                check_set_enabled(&v, &id, false),
                disable,
                "{enabled:?} disable {id}"
            );
        }
        assert_eq!(check_set_enabled(&states(&[true, false]), &1, true), Ok(()));
        assert_eq!(e.code(), "cannot_delete_last_variant");
    }

    #[test]
    fn sendable_needs_enabled_subject_and_body() {
        let ok = VariantContent {
            enabled: true,
            subject: Some("Hi"),
            body_html: Some("<p>Hello</p>"),
        };
        assert!(ok.is_sendable());
        let cases = [
            VariantContent {
                enabled: false,
                ..ok
            },
            VariantContent {
                subject: None,
                ..ok
            },
            VariantContent {
                subject: Some("  "),
                ..ok
            },
            VariantContent {
                body_html: None,
                ..ok
            },
            VariantContent {
                body_html: Some(" <p> </p> "),
                ..ok
            },
            VariantContent {
                body_html: Some(crate::html::UNSUBSCRIBE_BLOCK),
                ..ok
            },
        ];
        for c in cases {
            assert!(!c.is_sendable(), "{c:?}");
        }
    }

    #[test]
    fn distribution_picks_the_least_sent_enabled_variant_by_letter() {
        let v = |i, enabled, sent| VariantLoad {
            letter: VariantLetter::from_index(i),
            enabled,
            sent,
        };
        let cases: [(Vec<VariantLoad>, Option<usize>); 5] = [
            (vec![], None),
            (vec![v(0, false, 0)], None),
            (vec![v(0, true, 3), v(1, true, 2), v(2, true, 2)], Some(1)),
            (vec![v(0, true, 5), v(1, false, 0), v(2, true, 5)], Some(0)),
            (vec![v(2, true, 1), v(0, true, 1)], Some(1)),
        ];
        for (loads, expected) in cases {
            assert_eq!(pick_least_sent(&loads), expected, "{loads:?}");
        }
    }

    #[test]
    fn distribution_is_even_over_many_leads() {
        let mut loads: Vec<VariantLoad> = (0..3)
            .map(|i| VariantLoad {
                letter: VariantLetter::from_index(i),
                enabled: i != 1,
                sent: 0,
            })
            .collect();
        for _ in 0..101 {
            let i = pick_least_sent(&loads).unwrap();
            loads[i].sent += 1;
        }
        let sent: Vec<u64> = loads.iter().map(|l| l.sent).collect();
        assert_eq!(sent, [51, 0, 50]);
    }
}
