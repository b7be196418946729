//! Reply labels of the unibox and which of them are positive.

use std::fmt;

/// A conversation label (the contract's eleven).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyLabel {
    /// `interested` (positive)
    Interested,
    /// `not_interested`
    NotInterested,
    /// `needs_more_info` (positive)
    NeedsMoreInfo,
    /// `meeting_requested` (positive)
    MeetingRequested,
    /// `wrong_person`
    WrongPerson,
    /// `out_of_office`
    OutOfOffice,
    /// `referral` (positive)
    Referral,
    /// `question`
    Question,
    /// `neutral`
    Neutral,
    /// `unsubscribe`
    Unsubscribe,
    /// `left_company`
    LeftCompany,
}

/// A string that is not one of the eleven labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label {0:?}")]
pub struct UnknownLabel(pub String);

impl ReplyLabel {
    /// All eleven, in the contract's order.
    pub const ALL: [Self; 11] = [
        Self::Interested,
        Self::NotInterested,
        Self::NeedsMoreInfo,
        Self::MeetingRequested,
        Self::WrongPerson,
        Self::OutOfOffice,
        Self::Referral,
        Self::Question,
        Self::Neutral,
        Self::Unsubscribe,
        Self::LeftCompany,
    ];

    /// The contract's spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Interested => "interested",
            Self::NotInterested => "not_interested",
            Self::NeedsMoreInfo => "needs_more_info",
            Self::MeetingRequested => "meeting_requested",
            Self::WrongPerson => "wrong_person",
            Self::OutOfOffice => "out_of_office",
            Self::Referral => "referral",
            Self::Question => "question",
            Self::Neutral => "neutral",
            Self::Unsubscribe => "unsubscribe",
            Self::LeftCompany => "left_company",
        }
    }

    /// Parses the contract's spelling (exact).
    ///
    /// # Errors
    /// [`UnknownLabel`].
    pub fn parse(s: &str) -> Result<Self, UnknownLabel> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLabel(s.to_owned()))
    }

    /// Positive: interested, meeting_requested, needs_more_info, referral.
    #[must_use]
    pub const fn is_positive(self) -> bool {
        matches!(
            self,
            Self::Interested | Self::MeetingRequested | Self::NeedsMoreInfo | Self::Referral
        )
    }
}

impl fmt::Display for ReplyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleven_labels_round_trip_and_four_are_positive() {
        let expected = [
            ("interested", true),
            ("not_interested", false),
            ("needs_more_info", true),
            ("meeting_requested", true),
            ("wrong_person", false),
            ("out_of_office", false),
            ("referral", true),
            ("question", false),
            ("neutral", false),
            ("unsubscribe", false),
            ("left_company", false),
        ];
        for (s, positive) in expected {
            let l = ReplyLabel::parse(s).unwrap();
            assert_eq!(l.as_str(), s);
            assert_eq!(l.is_positive(), positive, "{s}");
        }
        assert_eq!(ReplyLabel::ALL.len(), 11);
        for bad in ["", "Interested", "spam", "positive"] {
            assert!(ReplyLabel::parse(bad).is_err(), "{bad}");
        }
    }
}
