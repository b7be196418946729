//! Reply labels: the [`ReplyClassifier`] port (synchronous, offline) and
//! [`AsyncReplyClassifier`] (the one an adapter that talks to a remote model implements).
//!
//! Why two traits: the built-in classifier is pure code, and the inbox sync wants to call it
//! as a plain function (`classify(&self, text) -> ReplyLabel`). A classifier backed by an
//! OpenAI-compatible endpoint has to do network I/O, which must not block an async runtime, so it
//! implements [`AsyncReplyClassifier`]. Every [`ReplyClassifier`] is an [`AsyncReplyClassifier`]
//! (blanket implementation), so callers that hold an `Arc<dyn AsyncReplyClassifier>` get the
//! configured one (remote with offline fallback, or offline only) without caring which.

use async_trait::async_trait;
use reachkit_domain::label::ReplyLabel;

/// The synchronous port, defined with the inbox sync (`crate::sync`) and re-exported here so
/// there is exactly one trait: `fn classify(&self, text: &str) -> ReplyLabel`. Implementations
/// MUST remove quoted parts before judging and never fail (`neutral` when unsure).
pub use crate::sync::ReplyClassifier;

/// The asynchronous form of [`ReplyClassifier`], for classifiers that do I/O. The inbox sync
/// labels replies through this port (`crate::sync::SyncService`), so it gets whichever classifier
/// the app configured.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AsyncReplyClassifier: Send + Sync {
    /// The label of `text`. MUST NOT fail: on any trouble an implementation falls back to an
    /// offline classifier.
    async fn classify_reply(&self, text: &str) -> ReplyLabel;
}

#[async_trait]
impl<T: ReplyClassifier + ?Sized> AsyncReplyClassifier for T {
    async fn classify_reply(&self, text: &str) -> ReplyLabel {
        self.classify(text)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sync::MockReplyClassifier;

    #[tokio::test]
    async fn every_sync_classifier_is_an_async_one() {
        let mut mock = MockReplyClassifier::new();
        mock.expect_classify()
            .withf(|t| t == "yes please")
            .return_const(ReplyLabel::Interested);
        let classifier: Arc<dyn AsyncReplyClassifier> = Arc::new(mock);
        assert_eq!(
            classifier.classify_reply("yes please").await,
            ReplyLabel::Interested
        );
    }
}
