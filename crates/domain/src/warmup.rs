//! Warmup: the daily ramp-up and the health score.
//!
//! Ramp-up: on its first day of warming an inbox sends [`RAMP_START`] warmup emails, then
//! [`RAMP_STEP`] more each day, capped at its `daily_warmup_limit`. `ramp_up_progress` is how far
//! today's target is towards that limit.

/// Warmup emails on the first day.
pub const RAMP_START: u32 = 2;
/// Additional warmup emails per day.
pub const RAMP_STEP: u32 = 2;

/// Today's warmup target for an inbox on its `day`-th day of warming (1 = the first day;
/// 0 = not warming, target 0), capped at `daily_warmup_limit`.
#[must_use]
pub fn daily_target(day: u32, daily_warmup_limit: u32) -> u32 {
    if day == 0 {
        return 0;
    }
    RAMP_START
        .saturating_add(RAMP_STEP.saturating_mul(day - 1))
        .min(daily_warmup_limit)
}

/// Ramp-up progress, 0-100: today's target as a share of the limit, rounded down; 100 once the
/// target has reached the limit (and for a limit of 0).
#[must_use]
pub fn ramp_up_progress(day: u32, daily_warmup_limit: u32) -> u8 {
    if daily_warmup_limit == 0 {
        return 100;
    }
    let pct =
        u64::from(daily_target(day, daily_warmup_limit)) * 100 / u64::from(daily_warmup_limit);
    u8::try_from(pct).unwrap_or(100)
}

/// Health score, 0-100, from the last 7 days: 100 when nothing landed in spam (including when
/// nothing was sent), else `100 * (1 - spam / sent)` rounded half up. `spam` above `sent` counts
/// as `sent`.
#[must_use]
pub fn health_score(sent: u64, spam: u64) -> u8 {
    if sent == 0 {
        return 100;
    }
    let inbox = u128::from(sent - spam.min(sent));
    let score = (inbox * 200 + u128::from(sent)) / (2 * u128::from(sent));
    u8::try_from(score).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_starts_at_two_and_adds_two_a_day_up_to_the_limit() {
        let cases = [
            (0, 10, 0),
            (1, 10, 2),
            (2, 10, 4),
            (3, 10, 6),
            (5, 10, 10),
            (6, 10, 10),
            (100, 10, 10),
            (1, 1, 1),
            (u32::MAX, 100, 100),
        ];
        for (day, limit, expected) in cases {
            assert_eq!(
                daily_target(day, limit),
                expected,
                "day {day} limit {limit}"
            );
        }
    }

    #[test]
    fn ramp_progress_is_the_share_of_the_limit() {
        let cases = [
            (0, 10, 0),
            (1, 10, 20),
            (2, 10, 40),
            (5, 10, 100),
            (9, 10, 100),
            (1, 3, 66),
            (2, 3, 100),
            (1, 0, 100),
        ];
        for (day, limit, expected) in cases {
            assert_eq!(
                ramp_up_progress(day, limit),
                expected,
                "day {day} limit {limit}"
            );
        }
    }

    #[test]
    fn health_is_the_share_not_in_spam() {
        let cases = [
            (0, 0, 100),
            (0, 5, 100),
            (10, 0, 100),
            (10, 1, 90),
            (3, 1, 67),
            (3, 2, 33),
            (200, 1, 100),
            (8, 1, 88),
            (10, 10, 0),
            (10, 20, 0),
        ];
        for (sent, spam, expected) in cases {
            assert_eq!(health_score(sent, spam), expected, "{spam}/{sent}");
        }
    }
}
