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
