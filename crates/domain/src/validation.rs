//! Field-level validation errors shared by every change set.
//!
//! A change set (campaign options, schedule) is validated whole: every field is checked and every
//! failure is returned, so the API can name all offending fields in one 422 response.

use std::fmt;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path as the API names it, e.g. `"name"` or `"days.monday.start"`.
    pub field: String,
    /// A stable machine-readable code, e.g. `"too_long"`.
    pub code: &'static str,
    /// A human-readable message, e.g. `"must be at most 150 characters"`.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    #[must_use]
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Every field error of a rejected change set, in field order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual field errors.
    #[must_use]
    pub fn fields(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether `field` is among the failed fields.
    #[must_use]
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}
