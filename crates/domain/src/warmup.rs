//! Warmup: the daily ramp-up, the spacing of sends, the reply share, the content of warmup
//! emails and the health score (docs/WARMUP.md).
//!
//! Ramp-up: on its first day of warming an inbox sends [`RAMP_START`] warmup emails, then
//! [`RAMP_STEP`] more each day, capped at its `daily_warmup_limit`. `ramp_up_progress` is how far
//! today's target is towards that limit.

use crate::template::{Format, MergeData, RenderContext, Template, fnv1a64};

/// Seconds in a day.
pub const DAY_SECONDS: u32 = 86_400;

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

/// The ramp day of an inbox that started warming `days_since_start` days ago (1 on the day it
/// started), or 1 when it has not started yet; 0 for a start in the future.
#[must_use]
pub fn ramp_day(days_since_start: Option<i64>) -> u32 {
    match days_since_start {
        None => 1,
        Some(days) if days < 0 => 0,
        Some(days) => u32::try_from(days.saturating_add(1)).unwrap_or(u32::MAX),
    }
}

/// Seconds to wait before an inbox's next warmup send, after a send at `seconds_into_day`
/// seconds past UTC midnight that left `quota_left` sends for the day.
///
/// With `spread` the rest of the day is shared evenly between the sends left (so the day's
/// quota is spread over the day); the gap is never below `min_interval_seconds`. Without
/// `spread` the gap is `min_interval_seconds`. With no quota left the wait runs to the next
/// UTC midnight (at least `min_interval_seconds`).
#[must_use]
pub fn next_send_gap(
    seconds_into_day: u32,
    quota_left: u32,
    min_interval_seconds: u32,
    spread: bool,
) -> u32 {
    let left_today = DAY_SECONDS.saturating_sub(seconds_into_day.min(DAY_SECONDS));
    if quota_left == 0 {
        return left_today.max(min_interval_seconds).max(1);
    }
    let even = if spread { left_today / quota_left } else { 0 };
    even.max(min_interval_seconds)
}

/// Whether the recipient of the warmup email with this marker `token` answers it: a stable
/// choice (FNV-1a of the token) that picks `share_percent` of all tokens. 0 never, 100 always.
#[must_use]
pub fn wants_reply(token: &str, share_percent: u8) -> bool {
    fnv1a64(token.as_bytes()) % 100 < u64::from(share_percent.min(100))
}

/// Which of `pool_size` other warming inboxes gets an inbox's `sends_total`-th warmup email
/// (0-based): a rotation, so every one gets its turn. `None` with an empty pool.
#[must_use]
pub fn recipient_index(sends_total: u64, pool_size: usize) -> Option<usize> {
    if pool_size == 0 {
        return None;
    }
    let n = u64::try_from(pool_size).unwrap_or(u64::MAX);
    usize::try_from(sends_total % n).ok()
}

/// A warmup email's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WarmupContent {
    pub subject: String,
    pub text: String,
}

const SUBJECTS: &[&str] = &[
    "{{SPINTAX|Quick question|Catching up|Following up|A thought|Checking in}} {{SPINTAX|about next week|on the plan|for you|before Friday|this month}}",
    "{{SPINTAX|Notes|Thoughts|Ideas|A few lines}} {{SPINTAX|from today|on the project|after our call|for the team}}",
    "{{SPINTAX|Lunch|Coffee|A short call|The meeting}} {{SPINTAX|on Thursday|next week|tomorrow|sometime soon}}?",
];

const BODIES: &[&str] = &[
    "{{SPINTAX|Hi|Hello|Hey}} {{first_name|there}},\n\n{{SPINTAX|I hope your week is going well.|Hope all is well on your side.|I trust things are good with you.}} {{SPINTAX|I was going through my notes|I had a moment to think|I was tidying up my list}} and {{SPINTAX|wanted to check in|thought of our last conversation|remembered your question}}. {{SPINTAX|Let me know what you think.|Happy to hear your view.|Tell me when you have a minute.}}\n\n{{SPINTAX|Best|Thanks|Cheers|Kind regards}},\n{{sender}}",
    "{{SPINTAX|Hello|Hi}} {{first_name|there}},\n\n{{SPINTAX|Thanks for the update earlier.|Thank you for your patience.|Good to hear from you again.}} {{SPINTAX|The schedule looks fine to me.|I think we are on the right track.|Most of it is done now.}} {{SPINTAX|Shall we talk it over next week?|We can go through the rest later.|I will send the details soon.}}\n\n{{SPINTAX|All the best|Speak soon|Regards}},\n{{sender}}",
    "{{first_name|Hi}},\n\n{{SPINTAX|Just a short note|A quick one|Only a small thing}}: {{SPINTAX|the document is ready|I moved our meeting|the numbers came in}}. {{SPINTAX|No rush at all.|Whenever suits you.|Take your time.}}\n\n{{SPINTAX|Thanks|Best wishes|Cheers}},\n{{sender}}",
];

const REPLIES: &[&str] = &[
    "{{SPINTAX|Thanks|Thank you|Many thanks}} {{first_name|}}, {{SPINTAX|that sounds good.|noted.|good to know.|will do.}} {{SPINTAX|Talk soon.|Speak later.|Have a good day.}}\n\n{{sender}}",
    "{{SPINTAX|Hi|Hello}} {{first_name|there}}, {{SPINTAX|got it|understood|perfect}}. {{SPINTAX|I will get back to you on that.|Let us keep it that way.|That works for me.}}\n\n{{sender}}",
];

fn render(source: &str, token: &str, ordinal: u32, data: &MergeData) -> String {
    let rendered = Template::parse(source).map(|t| {
        t.render(
            &RenderContext {
                data,
                unsubscribe_url: None,
                lead_key: token,
                step: ordinal,
            },
            Format::Text,
        )
        .text
    });
    rendered.unwrap_or_default()
}

fn pick<'a>(list: &[&'a str], token: &str, salt: u8) -> &'a str {
    let mut bytes = token.as_bytes().to_vec();
    bytes.push(salt);
    let n = u64::try_from(list.len()).unwrap_or(1);
    let i = usize::try_from(fnv1a64(&bytes) % n).unwrap_or(0);
    list[i]
}

/// The natural-looking text of a new warmup email (no links, no tracking), chosen from spintaxed
/// templates by the email's marker `token`: the same token always gives the same email.
#[must_use]
pub fn compose(token: &str, recipient_first_name: &str, sender_name: &str) -> WarmupContent {
    let data = MergeData::new("", recipient_first_name, "", [("sender", sender_name)]);
    WarmupContent {
        subject: render(pick(SUBJECTS, token, 1), token, 1, &data),
        text: render(pick(BODIES, token, 2), token, 2, &data),
    }
}

/// The text of a warmup reply to an email whose subject was `subject` (`Re:` added once).
#[must_use]
pub fn compose_reply(
    token: &str,
    subject: &str,
    recipient_first_name: &str,
    sender_name: &str,
) -> WarmupContent {
    let data = MergeData::new("", recipient_first_name, "", [("sender", sender_name)]);
    let subject = subject.trim();
    let subject = if subject.len() >= 3 && subject[..3].eq_ignore_ascii_case("re:") {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    };
    WarmupContent {
        subject,
        text: render(pick(REPLIES, token, 3), token, 3, &data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_ramp_day_counts_from_the_first_day_of_warming() {
        assert_eq!(ramp_day(None), 1);
        assert_eq!(ramp_day(Some(0)), 1);
        assert_eq!(ramp_day(Some(2)), 3);
        assert_eq!(ramp_day(Some(-1)), 0);
        assert_eq!(ramp_day(Some(i64::MAX)), u32::MAX);
    }

    #[test]
    fn sends_are_spread_over_the_rest_of_the_day_but_never_closer_than_the_minimum() {
        // Noon, 4 left: 43200 / 4.
        assert_eq!(next_send_gap(43_200, 4, 60, true), 10_800);
        // The minimum wins over an even share that is shorter.
        assert_eq!(next_send_gap(86_000, 4, 600, true), 600);
        // Without spreading: the minimum only.
        assert_eq!(next_send_gap(43_200, 4, 5, false), 5);
        // Quota done: wait for the next UTC day.
        assert_eq!(next_send_gap(80_000, 0, 5, false), 6_400);
        assert_eq!(next_send_gap(86_400, 0, 0, false), 1);
    }

    #[test]
    fn the_reply_share_is_stable_and_close_to_the_setting() {
        assert!((0..200).all(|i| !wants_reply(&format!("t{i}"), 0)));
        assert!((0..200).all(|i| wants_reply(&format!("t{i}"), 100)));
        let picked = (0..1000)
            .filter(|i| wants_reply(&format!("t{i}"), 30))
            .count();
        assert!((230..=370).contains(&picked), "{picked}");
        assert_eq!(wants_reply("abc", 30), wants_reply("abc", 30));
    }

    #[test]
    fn recipients_rotate_through_the_pool() {
        assert_eq!(recipient_index(0, 0), None);
        let picks: Vec<_> = (0..4).map(|n| recipient_index(n, 2)).collect();
        assert_eq!(picks, [Some(0), Some(1), Some(0), Some(1)]);
    }

    #[test]
    fn warmup_emails_are_varied_plain_and_stable_per_token() {
        let a = compose("token-a", "Dave", "Erin Smith");
        assert_eq!(a, compose("token-a", "Dave", "Erin Smith"));
        let all: std::collections::HashSet<_> = (0..40)
            .map(|i| compose(&format!("token-{i}"), "Dave", "Erin"))
            .collect();
        assert!(all.len() > 20, "{}", all.len());
        for c in &all {
            assert!(!c.subject.is_empty() && !c.text.is_empty());
            assert!(!c.subject.contains("{{") && !c.text.contains("{{"), "{c:?}");
            assert!(!c.text.contains("http") && !c.text.contains("\\n"), "{c:?}");
            assert!(c.text.contains("Erin"), "{c:?}");
        }
    }

    #[test]
    fn replies_keep_the_subject_with_one_re() {
        assert_eq!(
            compose_reply("t", "Lunch", "Ann", "Bo").subject,
            "Re: Lunch"
        );
        assert_eq!(
            compose_reply("t", "RE: Lunch", "Ann", "Bo").subject,
            "RE: Lunch"
        );
        assert!(compose_reply("t", "Lunch", "Ann", "Bo").text.contains("Bo"));
    }

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
