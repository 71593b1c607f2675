//! The one error type of simcarrier, shared by the in-process handle, the HTTP server and the HTTP
//! client, so a caller handles both transports with one `match`.

/// Why a request got no result. A troubled parcel (never collected, returned) is not an error: it
/// is a scenario, reported by tracking events.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimCarrierError {
    /// The request was malformed; nothing was recorded.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The reference is taken by a request with different parameters; nothing was recorded.
    #[error("the reference is already used by a request with different parameters")]
    ReferenceConflict,
    #[error("no such waybill")]
    NotFound,
    /// The waybill exists but cannot take the operation (too many extra events).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The simulator holds `WAYBILLS_MAX` waybills and makes no more.
    #[error("the simulator is full: no more waybills")]
    Full,
    /// No answer in time. The request may have been processed: retry with the same reference, or
    /// look the waybill up, to learn the outcome.
    #[error("timed out: the request may or may not have been processed")]
    Timeout,
    /// The HTTP client could not talk to simcarrier (connection refused, bad answer).
    #[error("transport: {0}")]
    Transport(String),
}

impl SimCarrierError {
    /// The stable wire code, as in the HTTP error body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            SimCarrierError::InvalidRequest(_) => "invalid_request",
            SimCarrierError::ReferenceConflict => "reference_conflict",
            SimCarrierError::NotFound => "not_found",
            SimCarrierError::InvalidState(_) => "invalid_state",
            SimCarrierError::Full => "full",
            SimCarrierError::Timeout => "timeout",
            SimCarrierError::Transport(_) => "transport",
        }
    }
}
