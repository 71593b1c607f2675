//! The one error type of simpay, shared by the in-process handle, the HTTP server and the HTTP
//! client, so a caller handles both transports with one `match`.

/// Why a request got no result. Business declines and failed refunds are not errors: they are
/// recorded objects with a status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimpayError {
    /// The request was malformed; nothing was recorded.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The reference is taken by a request with different parameters; nothing was recorded.
    #[error("the reference is already used by a request with different parameters")]
    ReferenceConflict,
    #[error("no such charge or refund")]
    NotFound,
    /// The object exists but the operation does not apply to its status (capturing a voided charge).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// No answer in time. The request may have been processed: retry with the same reference, or
    /// look the object up, to learn the outcome.
    #[error("timed out: the request may or may not have been processed")]
    Timeout,
    /// The HTTP client could not talk to simpay (connection refused, bad answer). Retrying with the
    /// same reference is safe.
    #[error("transport: {0}")]
    Transport(String),
}

impl SimpayError {
    /// The stable wire code, as in the HTTP error body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            SimpayError::InvalidRequest(_) => "invalid_request",
            SimpayError::ReferenceConflict => "reference_conflict",
            SimpayError::NotFound => "not_found",
            SimpayError::InvalidState(_) => "invalid_state",
            SimpayError::Timeout => "timeout",
            SimpayError::Transport(_) => "transport",
        }
    }
}
