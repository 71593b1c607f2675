//! Webhook signatures: the carrier simulator signs every tracking event in the
//! `Carrier-Signature` header with the workspace's one implementation of the scheme simpay uses
//! too ([`webhook_signature`]: HMAC-SHA256 of `"<time>.<raw body>"` under the shared secret).
//!
//! ```
//! use simcarrier::signature::{sign, verify, SignatureError};
//!
//! let body = br#"{"event_id":"SF104739201385-1"}"#;
//! let header = sign(b"whsec", 1_718_726_400, body);
//! assert_eq!(verify(b"whsec", Some(&header), body, 1_718_726_460, 300), Ok(()));
//! assert_eq!(verify(b"other", Some(&header), body, 1_718_726_460, 300), Err(SignatureError::Mismatch));
//! assert_eq!(verify(b"whsec", Some(&header), body, 1_718_727_000, 300), Err(SignatureError::Stale));
//! ```

pub use webhook_signature::{SignatureError, TOLERANCE_SECONDS_DEFAULT, sign, verify, verify_raw};

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Carrier-Signature";
