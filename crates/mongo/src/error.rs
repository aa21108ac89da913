//! How driver errors become domain errors.
//!
//! The services react to the *kind* of failure (retry later, tell the client about a
//! conflict, report a bug), so the mapping is by kind:
//!
//! | driver error | domain error |
//! | --- | --- |
//! | duplicate key (11000) | `Conflict`, worded by the caller, who knows which key |
//! | no server selectable, I/O, pool cleared, DNS, a node shutting down or stepping down | `Unavailable("mongodb")` |
//! | document validation failure (121) | `Internal`: the domain validates first, so the store refusing a document is a bug |
//! | anything else | `Internal` |

use emporium_domain::Error;
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

/// MongoDB's `DuplicateKey`.
pub const DUPLICATE_KEY: i32 = 11000;
/// MongoDB's `DocumentValidationFailure`.
pub const DOCUMENT_VALIDATION_FAILURE: i32 = 121;

/// Server codes that mean "this node cannot serve right now", not "your request is wrong":
/// host unreachable / not found, network timeout, shutdown in progress, primary stepped
/// down, exceeded time limit, socket exception, not writable primary, interrupted at
/// shutdown, interrupted by a replica-set state change, not primary (no secondary ok / or
/// secondary), max time expired.
const TRANSIENT_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50,
];

/// The domain error for "the catalog store cannot be reached".
pub fn unavailable() -> Error {
    Error::Unavailable("mongodb".into())
}

/// The server's error code, when the server answered with one.
pub fn server_code(e: &DriverError) -> Option<i32> {
    match &*e.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        // `insert_many`: the first write error stopped the (ordered) batch.
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|w| w.first())
            .map(|w| w.code),
        _ => None,
    }
}

/// True when a write broke a unique index.
pub fn is_duplicate_key(e: &DriverError) -> bool {
    server_code(e) == Some(DUPLICATE_KEY)
}

/// The index a duplicate-key error names (`E11000 ... index: sku_unique dup key: ...`,
/// the wording of MongoDB and compatible servers alike), or `None` for other errors.
pub fn duplicate_key_index(e: &DriverError) -> Option<String> {
    let message = match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => &w.message,
        ErrorKind::Command(c) if c.code == DUPLICATE_KEY => &c.message,
        _ => return None,
    };
    let (_, after) = message.split_once("index: ")?;
    after.split_whitespace().next().map(str::to_owned)
}

/// True when the failure says nothing about the request, only about reaching the server.
pub fn is_unavailable(e: &DriverError) -> bool {
    match &*e.kind {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        _ => server_code(e).is_some_and(|code| TRANSIENT_CODES.contains(&code)),
    }
}

/// Maps any driver error that the caller has no more specific meaning for.
pub fn from_driver(e: DriverError) -> Error {
    if is_unavailable(&e) {
        tracing::warn!(error = %e, "mongodb is unavailable");
        return unavailable();
    }
    match server_code(&e) {
        Some(DOCUMENT_VALIDATION_FAILURE) => {
            Error::Internal(format!("mongodb refused a document as invalid: {e}"))
        }
        _ => Error::Internal(format!("mongodb: {e}")),
    }
}

/// Maps a write error, turning a duplicate key into `Conflict(conflict())`.
pub fn from_write(e: DriverError, conflict: impl FnOnce(&DriverError) -> String) -> Error {
    if is_duplicate_key(&e) {
        Error::Conflict(conflict(&e))
    } else {
        from_driver(e)
    }
}

/// A document read from the store that does not decode: data written by something other
/// than this adapter, or by an older version of it.
pub fn malformed(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Internal(format!("malformed {what} document in mongodb: {detail}"))
}
