//! The optional remote classifier: asks an OpenAI-compatible chat-completions endpoint
//! (`POST {base_url}/chat/completions`) for one of the eleven labels, and falls back to the
//! offline classifier on any failure (connection, timeout, non-2xx, malformed JSON, an answer
//! that is not exactly one label). Only what the sender wrote (quoted parts removed, at most
//! [`MAX_PROMPT_CHARS`]) is sent. The API key is sent as a bearer token and never logged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reachkit_core::classifier::{AsyncReplyClassifier, ReplyClassifier};
use reachkit_core::secrets::Password;
use reachkit_domain::label::ReplyLabel;

use super::http::{HttpError, Url, post_json};
use super::strip_quoted;

/// The most characters of a reply sent to the model.
pub const MAX_PROMPT_CHARS: usize = 4000;

const INSTRUCTIONS: &str = "You label replies to cold sales emails. Answer with exactly one of \
these labels and nothing else: interested, not_interested, needs_more_info, meeting_requested, \
wrong_person, out_of_office, referral, question, neutral, unsubscribe, left_company.";

/// How to reach the model.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; empty: no header.
    pub api_key: Password,
    pub timeout: Duration,
}

/// Why the remote classifier gave no label (the fallback is used then).
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("status {0}")]
    Status(u16),
    #[error("unexpected response shape")]
    Shape,
    #[error("answer is not a label")]
    Unknown,
}

/// [`AsyncReplyClassifier`] over a chat-completions endpoint with an offline fallback.
#[derive(Clone)]
pub struct LlmClassifier {
    url: Url,
    settings: LlmSettings,
    fallback: Arc<dyn ReplyClassifier>,
}

impl std::fmt::Debug for LlmClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClassifier")
            .field("url", &self.url)
            .field("model", &self.settings.model)
            .finish_non_exhaustive()
    }
}

impl LlmClassifier {
    /// # Errors
    /// [`HttpError::Url`] when `base_url` is not an http(s) URL.
    pub fn new(
        settings: LlmSettings,
        fallback: Arc<dyn ReplyClassifier>,
    ) -> Result<Self, HttpError> {
        let mut url = Url::parse(settings.base_url.trim())?;
        url.path = format!("{}/chat/completions", url.path.trim_end_matches('/'));
        Ok(Self {
            url,
            settings,
            fallback,
        })
    }

    /// Asks the model; `Err` when its answer cannot be used.
    ///
    /// # Errors
    /// [`LlmError`].
    pub async fn ask(&self, own_text: &str) -> Result<ReplyLabel, LlmError> {
        let prompt: String = own_text.chars().take(MAX_PROMPT_CHARS).collect();
        let body = serde_json::json!({
            "model": self.settings.model,
            "temperature": 0,
            "max_tokens": 10,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": prompt},
            ],
        });
        let auth = format!("Bearer {}", self.settings.api_key.expose());
        let headers: Vec<(&str, &str)> = if self.settings.api_key.is_empty() {
            Vec::new()
        } else {
            vec![("Authorization", auth.as_str())]
        };
        let response = post_json(
            &self.url,
            &headers,
            body.to_string().as_bytes(),
            self.settings.timeout,
        )
        .await?;
        if !(200..300).contains(&response.status) {
            return Err(LlmError::Status(response.status));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|_| LlmError::Shape)?;
        let answer = value
            .pointer("/choices/0/message/content")
            .and_then(serde_json::Value::as_str)
            .ok_or(LlmError::Shape)?;
        let answer = answer
            .trim()
            .trim_matches(|c: char| c == '"' || c == '\'' || c == '`' || c == '.')
            .trim()
            .to_ascii_lowercase();
        ReplyLabel::parse(&answer).map_err(|_| LlmError::Unknown)
    }
}

#[async_trait]
impl AsyncReplyClassifier for LlmClassifier {
    async fn classify_reply(&self, text: &str) -> ReplyLabel {
        let own = strip_quoted(text);
        if own.is_empty() {
            return ReplyLabel::Neutral;
        }
        match self.ask(&own).await {
            Ok(label) => label,
            Err(error) => {
                tracing::warn!(error = %error, "remote reply classifier failed; using the built-in one");
                self.fallback.classify(text)
            }
        }
    }
}
