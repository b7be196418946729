//! Sequences: ordered steps, their `delay_days`, and when a follow-up may be sent.
//!
//! Step numbers are positions: `1..=n`, contiguous after any delete. Each step stores a delay;
//! `delay_days` is the gap to the *next* step, so the API shows it as `null` on the last step
//! while the stored value is kept: when a step is added after it, its delay counts again.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::tz::TimeZone;

use crate::schedule::{Schedule, resolve};
use crate::validation::FieldError;

/// `delay_days` of a new step when the request does not give one (the contract's default).
pub const DEFAULT_DELAY_DAYS: u32 = 3;
/// Largest `delay_days` accepted (a year).
pub const MAX_DELAY_DAYS: u32 = 365;

/// Checks a requested `delay_days`: an integer in `0..=MAX_DELAY_DAYS`.
///
/// # Errors
/// A [`FieldError`] on `delay_days` with code `out_of_range`.
pub fn parse_delay_days(value: i64) -> Result<u32, FieldError> {
    u32::try_from(value)
        .ok()
        .filter(|d| *d <= MAX_DELAY_DAYS)
        .ok_or_else(|| {
            FieldError::new(
                "delay_days",
                "out_of_range",
                format!("must be between 0 and {MAX_DELAY_DAYS}"),
            )
        })
}

/// A stored step: its id and its stored delay (meaningful unless it is the last step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<Id> {
    /// The step's id.
    pub id: Id,
    /// The stored gap to the next step, in calendar days.
    pub delay_days: u32,
}

/// A step as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepView<Id> {
    /// The step's id.
    pub id: Id,
    /// 1-based position.
    pub step: u32,
    /// Gap to the next step; `None` on the last step.
    pub delay_days: Option<u32>,
}

/// A campaign's steps in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence<Id> {
    steps: Vec<Step<Id>>,
}

impl<Id> Default for Sequence<Id> {
    fn default() -> Self {
        Self { steps: Vec::new() }
    }
}

impl<Id: PartialEq + Clone> Sequence<Id> {
    /// Steps in step order (as loaded, sorted by step number).
    #[must_use]
    pub fn new(steps: Vec<Step<Id>>) -> Self {
        Self { steps }
    }

    /// Number of steps.
    #[must_use]
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Appends a step (delay defaulting to [`DEFAULT_DELAY_DAYS`]); returns its step number.
    /// The previous last step's stored delay becomes visible again.
    pub fn push(&mut self, id: Id, delay_days: Option<u32>) -> u32 {
        self.steps.push(Step {
            id,
            delay_days: delay_days.unwrap_or(DEFAULT_DELAY_DAYS),
        });
        step_number(self.steps.len() - 1)
    }

    /// Removes a step; returns the `(id, new step number)` of every step that moved up, or
    /// `None` when the id is unknown.
    pub fn remove(&mut self, id: &Id) -> Option<Vec<(Id, u32)>> {
        let at = self.steps.iter().position(|s| s.id == *id)?;
        self.steps.remove(at);
        Some(
            self.steps
                .iter()
                .enumerate()
                .skip(at)
                .map(|(i, s)| (s.id.clone(), step_number(i)))
                .collect(),
        )
    }

    /// Sets a step's stored delay; `false` when the id is unknown.
    pub fn set_delay(&mut self, id: &Id, delay_days: u32) -> bool {
        self.steps
            .iter_mut()
            .find(|s| s.id == *id)
            .map(|s| s.delay_days = delay_days)
            .is_some()
    }

    /// The 1-based step number of an id.
    #[must_use]
    pub fn number_of(&self, id: &Id) -> Option<u32> {
        self.steps.iter().position(|s| s.id == *id).map(step_number)
    }

    /// The delay that applies after step `step` (1-based): `None` for the last or an unknown
    /// step.
    #[must_use]
    pub fn delay_after(&self, step: u32) -> Option<u32> {
        let i = usize::try_from(step).ok()?.checked_sub(1)?;
        (i + 1 < self.steps.len()).then(|| self.steps[i].delay_days)
    }

    /// The steps as the API shows them.
    #[must_use]
    pub fn views(&self) -> Vec<StepView<Id>> {
        let last = self.steps.len().saturating_sub(1);
        self.steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepView {
                id: s.id.clone(),
                step: step_number(i),
                delay_days: (i != last).then_some(s.delay_days),
            })
            .collect()
    }
}

fn step_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// When the next step becomes due: `delay_days` calendar days after `sent_at` in `tz`, at the
/// same local time of day (a time that falls in a DST gap moves past it, a fold uses the
/// earlier instance; never before `sent_at`).
#[must_use]
pub fn next_step_due(sent_at: Timestamp, delay_days: u32, tz: &TimeZone) -> Timestamp {
    let local = tz.to_datetime(sent_at);
    local
        .checked_add(i64::from(delay_days).days())
        .ok()
        .and_then(|dt| resolve(tz, dt))
        .map_or(sent_at, |due| due.max(sent_at))
}

/// The earliest send time of step k+1: [`next_step_due`] in the schedule's zone, then the next
/// moment the schedule's window is open. `None` when no day of the schedule is enabled.
#[must_use]
pub fn earliest_next_send(
    sent_at: Timestamp,
    delay_days: u32,
    schedule: &Schedule,
) -> Option<Timestamp> {
    schedule.next_opening(next_step_due(sent_at, delay_days, schedule.time_zone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn seq(ids: &[&'static str]) -> Sequence<&'static str> {
        let mut s = Sequence::default();
        for id in ids {
            s.push(*id, None);
        }
        s
    }

    #[test]
    fn delay_days_must_be_zero_to_a_year() {
        assert_eq!(parse_delay_days(0), Ok(0));
        assert_eq!(parse_delay_days(365), Ok(365));
        for bad in [-1, 366, i64::MAX] {
            assert_eq!(parse_delay_days(bad).unwrap_err().code, "out_of_range");
        }
    }

    #[test]
    fn the_last_step_shows_no_delay_and_adding_one_restores_it() {
        let mut s = Sequence::default();
        assert_eq!(s.push("a", Some(5)), 1);
        assert_eq!(s.views()[0].delay_days, None);
        assert_eq!(s.push("b", None), 2);
        let v = s.views();
        assert_eq!((v[0].step, v[0].delay_days), (1, Some(5)));
        assert_eq!((v[1].step, v[1].delay_days), (2, None));
        assert_eq!(s.delay_after(1), Some(5));
        assert_eq!(s.delay_after(2), None);
        assert_eq!(s.delay_after(0), None);
        s.push("c", Some(1));
        assert_eq!(s.delay_after(2), Some(DEFAULT_DELAY_DAYS));
    }

    #[test]
    fn deleting_a_step_keeps_numbers_contiguous() {
        let mut s = seq(&["a", "b", "c", "d"]);
        assert_eq!(s.remove(&"b"), Some(vec![("c", 2), ("d", 3)]));
        let numbers: Vec<(&str, u32)> = s.views().iter().map(|v| (v.id, v.step)).collect();
        assert_eq!(numbers, [("a", 1), ("c", 2), ("d", 3)]);
        assert_eq!(s.remove(&"zz"), None);
        assert_eq!(s.remove(&"d"), Some(vec![]));
        assert_eq!(s.views().last().map(|v| v.delay_days), Some(None));
        assert_eq!(s.number_of(&"c"), Some(2));
    }

    #[test]
    fn deleting_the_last_step_hides_the_new_last_delay_but_keeps_it() {
        let mut s = seq(&["a", "b"]);
        s.set_delay(&"a", 7);
        s.remove(&"b");
        assert_eq!(s.views()[0].delay_days, None);
        s.push("c", None);
        assert_eq!(s.views()[0].delay_days, Some(7));
        assert!(!s.set_delay(&"zz", 1));
    }

    #[test]
    fn next_step_is_due_after_calendar_days_in_the_campaign_zone() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let cases = [
            // Monday 10:15 EST + 2 days = Wednesday 10:15 EST.
            ("2026-01-05T15:15:00Z", 2, "2026-01-07T15:15:00Z"),
            // delay 0: right away.
            ("2026-01-05T15:15:00Z", 0, "2026-01-05T15:15:00Z"),
            // Across spring-forward: 10:00 EST Saturday + 1 day = 10:00 EDT Sunday (23 hours).
            ("2026-03-07T15:00:00Z", 1, "2026-03-08T14:00:00Z"),
            // Across fall-back: 10:00 EDT + 1 day = 10:00 EST (25 hours).
            ("2026-10-31T14:00:00Z", 1, "2026-11-01T15:00:00Z"),
            // Landing in the gap (02:30 does not exist on 2026-03-08): first instant after it.
            ("2026-03-07T07:30:00Z", 1, "2026-03-08T07:00:00Z"),
        ];
        for (sent, delay, due) in cases {
            assert_eq!(
                next_step_due(ts(sent), delay, &ny),
                ts(due),
                "{sent} + {delay}"
            );
        }
    }

    #[test]
    fn delay_zero_in_a_fold_is_never_before_the_send() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 01:30 EST, the second pass: resolving 01:30 would give the earlier EDT instance.
        let sent = ts("2026-11-01T06:30:00Z");
        assert_eq!(next_step_due(sent, 0, &ny), sent);
    }

    #[test]
    fn earliest_next_send_waits_for_the_window() {
        let schedule = Schedule::default(); // New York, Mon-Fri 09:00-17:00
        // Sent Thursday 16:30 EST with a 1-day delay: due Friday 16:30 -> open, sent then.
        assert_eq!(
            earliest_next_send(ts("2026-01-08T21:30:00Z"), 1, &schedule),
            Some(ts("2026-01-09T21:30:00Z"))
        );
        // Sent Friday 16:30 with a 1-day delay: due Saturday -> Monday 09:00.
        assert_eq!(
            earliest_next_send(ts("2026-01-09T21:30:00Z"), 1, &schedule),
            Some(ts("2026-01-12T14:00:00Z"))
        );
        // Sent Monday 16:59 with delay 0: the window is still open.
        assert_eq!(
            earliest_next_send(ts("2026-01-05T21:59:00Z"), 0, &schedule),
            Some(ts("2026-01-05T21:59:00Z"))
        );
    }
}
