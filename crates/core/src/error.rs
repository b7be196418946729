//! The error every storage port may return, translated from the driver's at the adapter boundary.

/// A failure of the storage behind a port. Use-case errors wrap it; the HTTP layer turns it into
/// a 500 (or a 503 while the store is unreachable) and logs the cause once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or gave no connection in time.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else the store reported: a bug or a broken invariant, never bad input.
    #[error("storage failure")]
    Other(#[source] anyhow::Error),
}
