//! Campaign analytics arithmetic.
//!
//! Rates are percentages of `contacted` (distinct leads that received at least one email),
//! rounded half up to two decimals; 0 when nothing was contacted. They are not clamped: a
//! count larger than `contacted` gives a rate above 100.

/// `part / contacted` as a percentage with two decimals (half up); `0.0` when `contacted` is 0.
#[must_use]
pub fn rate(part: u64, contacted: u64) -> f64 {
    if contacted == 0 {
        return 0.0;
    }
    // Hundredths of a percent, rounded half up, in integers so 1/3 is exactly 33.33.
    let hundredths =
        (u128::from(part) * 20_000 + u128::from(contacted)) / (2 * u128::from(contacted));
    // Below 2^53 for any realistic count, so the conversion is exact.
    #[expect(
        clippy::cast_precision_loss,
        reason = "hundredths of a percent stay far below 2^53"
    )]
    let value = hundredths as f64 / 100.0;
    value
}

/// Campaign progress: the share of leads that are finished, as an integer percentage rounded
/// down (100 only when every lead is finished); 0 without leads; never above 100.
#[must_use]
pub fn progress(finished: u64, leads: u64) -> u8 {
    if leads == 0 {
        return 0;
    }
    let pct = u128::from(finished.min(leads)) * 100 / u128::from(leads);
    u8::try_from(pct).unwrap_or(100)
}

/// The rate fields of a campaign's stats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// `replies / contacted`.
    pub reply_rate: f64,
    /// `positive_replies / contacted`.
    pub positive_reply_rate: f64,
    /// `bounced / contacted`.
    pub bounce_rate: f64,
}

impl Rates {
    /// Computes every rate from the counts.
    #[must_use]
    pub fn new(contacted: u64, replies: u64, positive_replies: u64, bounced: u64) -> Self {
        Self {
            reply_rate: rate(replies, contacted),
            positive_reply_rate: rate(positive_replies, contacted),
            bounce_rate: rate(bounced, contacted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percentages_of_contacted_with_two_decimals() {
        let cases = [
            (0, 0, 0.0),
            (5, 0, 0.0),
            (0, 10, 0.0),
            (1, 4, 25.0),
            (1, 8, 12.5),
            (1, 3, 33.33),
            (2, 3, 66.67),
            (1, 6, 16.67),
            (1, 1600, 0.06),
            (10, 10, 100.0),
            (12, 10, 120.0),
            (u64::MAX, u64::MAX, 100.0),
        ];
        for (part, contacted, expected) in cases {
            assert!(
                (rate(part, contacted) - expected).abs() < 1e-9,
                "{part}/{contacted}"
            );
        }
    }

    #[test]
    fn ties_round_half_up() {
        // 1/20000 is 0.005%: exactly half a hundredth, rounded up.
        assert!((rate(1, 20_000) - 0.01).abs() < 1e-9);
        // 1/40000 is 0.0025%: below half, rounded down.
        assert!(rate(1, 40_000).abs() < 1e-9);
        // 1/800 is 0.125%: a tie at the third decimal, up to 0.13.
        assert!((rate(1, 800) - 0.13).abs() < 1e-9);
    }

    #[test]
    fn progress_is_a_whole_percentage_rounded_down() {
        let cases = [
            (0, 0, 0),
            (0, 10, 0),
            (5, 10, 50),
            (1, 3, 33),
            (2, 3, 66),
            (999, 1000, 99),
            (10, 10, 100),
            (12, 10, 100),
        ];
        for (finished, leads, expected) in cases {
            assert_eq!(progress(finished, leads), expected, "{finished}/{leads}");
        }
    }

    #[test]
    fn rates_struct_uses_contacted_for_every_rate() {
        let r = Rates::new(200, 20, 5, 3);
        assert_eq!(
            (r.reply_rate, r.positive_reply_rate, r.bounce_rate),
            (10.0, 2.5, 1.5)
        );
        assert_eq!(Rates::new(0, 1, 1, 1).reply_rate, 0.0);
    }
}
