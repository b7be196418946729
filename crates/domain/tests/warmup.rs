//! Properties of the warmup rules: the ramp, the spacing and the health score.

use proptest::prelude::*;
use reachkit_domain::warmup::{
    DAY_SECONDS, daily_target, health_score, next_send_gap, ramp_up_progress, wants_reply,
};

proptest! {
    #[test]
    fn the_ramp_never_goes_down_never_passes_the_limit_and_reaches_it(
        day in 1u32..1000,
        limit in 1u32..=100,
    ) {
        prop_assert!(daily_target(day, limit) <= limit);
        prop_assert!(daily_target(day + 1, limit) >= daily_target(day, limit));
        prop_assert!(daily_target(day + 1, limit) <= daily_target(day, limit) + 2);
        prop_assert_eq!(daily_target(limit.div_ceil(2) + 1, limit), limit);
        prop_assert!(ramp_up_progress(day, limit) <= 100);
    }

    #[test]
    fn health_is_a_percentage_that_falls_as_spam_rises(sent in 0u64..10_000, spam in 0u64..10_000) {
        let score = health_score(sent, spam);
        prop_assert!(score <= 100);
        prop_assert!(health_score(sent, spam + 1) <= score);
        prop_assert_eq!(health_score(sent, 0), 100);
    }

    #[test]
    fn the_gap_respects_the_minimum_and_fits_the_day_when_spread(
        into_day in 0u32..=DAY_SECONDS,
        left in 1u32..=100,
        min in 0u32..3600,
    ) {
        let gap = next_send_gap(into_day, left, min, true);
        prop_assert!(gap >= min);
        if gap > min {
            prop_assert!(u64::from(gap) * u64::from(left) <= u64::from(DAY_SECONDS - into_day));
        }
        prop_assert_eq!(next_send_gap(into_day, left, min, false), min);
        prop_assert!(next_send_gap(into_day, 0, min, true) >= 1);
    }

    #[test]
    fn the_reply_choice_grows_with_the_share(token in "[a-f0-9]{32}", share in 0u8..100) {
        if wants_reply(&token, share) {
            prop_assert!(wants_reply(&token, share + 1));
        }
    }
}
