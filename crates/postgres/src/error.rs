//! Translation of driver errors into the core's storage error.

use diesel::result::Error as DieselError;
use reachkit_core::StoreError;

pub(crate) fn from_diesel(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, _)
        | DieselError::BrokenTransactionManager => {
            StoreError::Unavailable(anyhow::Error::new(e).context("database connection lost"))
        }
        other => StoreError::Other(anyhow::Error::new(other)),
    }
}

pub(crate) fn from_pool(e: diesel_async::pooled_connection::deadpool::PoolError) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(e).context("no database connection available"))
}

/// The error of a transaction body: a driver error (which rolls back) or a translated one.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Store(StoreError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => from_diesel(e),
            TxError::Store(e) => e,
        }
    }
}

/// A stored value that no longer satisfies the rules it was written under: corruption.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow::anyhow!("corrupt row: {what}"))
}
