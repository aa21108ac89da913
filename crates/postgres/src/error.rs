//! How driver errors become domain errors: in one place, so every port method answers the
//! same way to the same failure.

use emporium_domain::Error;
use std::fmt::Display;

/// The store name carried by [`Error::Unavailable`].
pub(crate) const STORE: &str = "postgres";

/// What the adapter's internals fail with: a driver error not yet classified, or a domain
/// answer (`NotFound`, `InvalidTransition`, ...) decided by the adapter itself.
///
/// Having both lets internal functions use `?` on sqlx calls and on domain checks alike;
/// the port methods turn it into the domain [`Error`] through [`From`], which is where
/// driver errors are classified.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(sqlx::Error),
    Domain(Error),
}

/// Shorthand for the adapter's internal functions.
pub(crate) type PgResult<T> = Result<T, Failure>;

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Store(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Domain(e)
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => classify(e),
            Failure::Domain(e) => e,
        }
    }
}

/// SQLSTATEs that mean "the server cannot serve this now; the same call may work later".
///
/// * `57014` statement timeout (`statement_timeout`) and `55P03` lock timeout
///   (`lock_timeout`): the bounded waits configured in [`crate::PgOptions`];
/// * `40001` serialization failure and `40P01` deadlock: the transaction lost a race and
///   was rolled back whole, so retrying is safe;
/// * `53300` too many connections, `57P01`..`57P03` shutdown / not accepting connections,
///   and class `08` (connection exceptions).
fn is_transient_sqlstate(code: &str) -> bool {
    matches!(
        code,
        "57014" | "55P03" | "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
}

/// Maps a driver error to the domain error the ports promise:
///
/// * the server is down, unreachable, timed out or shut the pool → `Unavailable("postgres")`;
/// * `23505` unique violation and `23503` foreign key violation → `Conflict` (the domain's
///   "a uniqueness or reference rule would be broken");
/// * anything else (a check constraint, a decoding failure, a protocol error) → `Internal`:
///   the domain never asks for such a write, so it is a bug.
///
/// The driver's own message is logged here, because `Unavailable` carries only the store.
pub(crate) fn classify(error: sqlx::Error) -> Error {
    use sqlx::Error as E;
    match &error {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
            unavailable(&error)
        }
        E::Database(db) => match db.code().as_deref() {
            Some(code) if is_transient_sqlstate(code) => unavailable(&error),
            Some("23505" | "23503") => {
                tracing::debug!(error = %error, "constraint refused the write");
                Error::Conflict(db.message().to_owned())
            }
            _ => internal(&error),
        },
        _ => internal(&error),
    }
}

fn unavailable(error: &sqlx::Error) -> Error {
    tracing::warn!(error = %error, "postgres is unavailable");
    Error::Unavailable(STORE.to_owned())
}

fn internal(error: &sqlx::Error) -> Error {
    tracing::error!(error = %error, "unexpected postgres error");
    Error::Internal(format!("postgres: {error}"))
}

/// A stored row that breaks a domain rule (only possible if something else wrote it).
pub(crate) fn corrupt(what: &str, detail: impl Display) -> Failure {
    tracing::error!(%detail, "corrupt {what} row");
    Failure::Domain(Error::Internal(format!("corrupt {what} row: {detail}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(matches!(classify(e), Error::Unavailable(s) if s == STORE));
        }
    }

    #[test]
    fn timeouts_and_lost_races_are_transient() {
        for code in ["57014", "55P03", "40001", "40P01", "08006", "57P01"] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "23514", "42P01", "22003"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn other_errors_are_internal() {
        assert!(matches!(
            classify(sqlx::Error::RowNotFound),
            Error::Internal(_)
        ));
        assert!(matches!(
            classify(sqlx::Error::Protocol("garbled".into())),
            Error::Internal(_)
        ));
    }

    #[test]
    fn domain_answers_pass_through() {
        let e: Error = Failure::from(Error::NotFound("order")).into();
        assert!(matches!(e, Error::NotFound("order")));
    }
}
