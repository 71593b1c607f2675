//! Webhook signatures, in the scheme Stripe uses: a header carries the signing time and an
//! HMAC-SHA256 of `"<time>.<raw body>"` under the shared secret. Signing the time with the body
//! lets a receiver refuse a captured request replayed later; signing the raw bytes (not re-encoded
//! JSON) means the receiver must verify before it parses.
//!
//! One implementation for every sender and receiver in the workspace: the payment simulator
//! (`Simpay-Signature`), the carrier simulator (`Carrier-Signature`), the platform that
//! verifies both, and the platform's own outgoing webhooks (`Miaodan-Signature`). Each names its
//! own header.
//!
//! ```
//! use webhook_signature::{sign, verify, SignatureError};
//!
//! let body = br#"{"id":"evt_1"}"#;
//! let header = sign(b"whsec", 1_718_726_400, body);
//! assert_eq!(verify(b"whsec", Some(&header), body, 1_718_726_460, 300), Ok(()));
//! assert_eq!(verify(b"whsec", Some(&header), body, 1_718_727_000, 300), Err(SignatureError::Stale));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signing time may be from the receiver's clock, in either direction, by default.
pub const TOLERANCE_SECONDS_DEFAULT: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused, in the order they are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("no signature matches the body under the secret")]
    Mismatch,
    /// Authentic but signed too long ago (or in the future): possibly a replay.
    #[error("the signing time is outside the tolerance")]
    Stale,
}

/// The header value signing `body` at `timestamp_s` (unix seconds).
pub fn sign(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp_s, body).finalize().into_bytes();
    format!("t={timestamp_s},v1={}", hex::encode(tag))
}

/// Checks a header against the raw body. Any one `v1` matching suffices, so a sender can sign with
/// an old and a new secret while rotating.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (timestamp_s, tags) = parse(header)?;
    // Each candidate is compared in constant time by `verify_slice`, so timing reveals nothing of the tag.
    let authentic = tags
        .iter()
        .any(|tag| mac(secret, timestamp_s, body).verify_slice(tag).is_ok());
    if !authentic {
        return Err(SignatureError::Mismatch);
    }
    let tolerance_s = u64::try_from(tolerance_s).unwrap_or(0);
    if now_s.abs_diff(timestamp_s) > tolerance_s {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// [`verify`] for a header as the request carried it (its raw bytes, if any). A value that is
/// not visible ASCII, as HTTP header text must be, is `Malformed`, not `Missing`.
pub fn verify_raw(
    secret: &[u8],
    header: Option<&[u8]>,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let header = match header {
        None => None,
        Some(raw) if raw.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)) => {
            Some(std::str::from_utf8(raw).map_err(|_| SignatureError::Malformed)?)
        }
        Some(_) => return Err(SignatureError::Malformed),
    };
    verify(secret, header, body, now_s, tolerance_s)
}

fn mac(secret: &[u8], timestamp_s: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts a key of any length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Splits `t=<seconds>,v1=<hex>[,v1=<hex>…]`; unknown keys are skipped for forward compatibility.
fn parse(header: &str) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    let mut timestamp_s = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp_s.is_none() => {
                timestamp_s = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    match timestamp_s {
        Some(timestamp_s) if !tags.is_empty() => Ok((timestamp_s, tags)),
        _ => Err(SignatureError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_header_is_checked_like_its_text_and_one_that_is_not_text_is_malformed() {
        let header = sign(b"whsec", 1_000, b"{}");
        assert_eq!(verify_raw(b"whsec", Some(header.as_bytes()), b"{}", 1_000, 300), Ok(()));
        assert_eq!(
            verify_raw(b"whsec", None, b"{}", 1_000, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_raw(b"whsec", Some("t=1,v1=é".as_bytes()), b"{}", 1_000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_raw(b"whsec", Some(b"t=1\x00"), b"{}", 1_000, 300),
            Err(SignatureError::Malformed)
        );
    }

    const SECRET: &[u8] = b"whsec_test";
    const AT_S: i64 = 1_718_726_400;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"charge.captured"}"#;

    #[test]
    fn a_signed_body_verifies_within_the_tolerance_either_side() {
        let header = sign(SECRET, AT_S, BODY);
        assert!(header.starts_with(&format!("t={AT_S},v1=")));
        for now_s in [AT_S, AT_S + 300, AT_S - 300] {
            assert_eq!(verify(SECRET, Some(&header), BODY, now_s, 300), Ok(()), "at {now_s}");
        }
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_time_dot_body_in_lowercase_hex() {
        // Computed independently: printf '1718726400.{"id":"evt_1","type":"charge.captured"}' |
        // openssl dgst -sha256 -hmac whsec_test
        let expected = "t=1718726400,v1=8e11ed186421f428c384b577fcdf4f77614dea8fc2343a5a3c90469c13912f48";
        assert_eq!(sign(SECRET, AT_S, BODY), expected);
    }

    #[test]
    fn a_second_independent_vector_matches() {
        // printf '%s' '1718726400.{"event_id":"SF104739201385-1","state":"picked_up"}' |
        // openssl dgst -sha256 -hmac whsec_test
        let body = br#"{"event_id":"SF104739201385-1","state":"picked_up"}"#;
        let expected = "t=1718726400,v1=6201df1058a042036109e6026927a404a86b2ffecb76bf9c6f4729f5176d79f5";
        assert_eq!(sign(SECRET, AT_S, body), expected);
    }

    #[test]
    fn a_tampered_body_does_not_verify() {
        let header = sign(SECRET, AT_S, BODY);
        let tampered = br#"{"id":"evt_1","type":"charge.voided"}"#;
        assert_eq!(
            verify(SECRET, Some(&header), tampered, AT_S, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_secret_does_not_verify() {
        let header = sign(b"another secret", AT_S, BODY);
        assert_eq!(
            verify(SECRET, Some(&header), BODY, AT_S, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_does_not_verify() {
        let header = sign(SECRET, AT_S, BODY).replace(&format!("t={AT_S}"), &format!("t={}", AT_S + 1));
        assert_eq!(
            verify(SECRET, Some(&header), BODY, AT_S, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_authentic_signature_outside_the_tolerance_is_stale() {
        let header = sign(SECRET, AT_S, BODY);
        for now_s in [AT_S + 301, AT_S - 301, i64::MAX, i64::MIN] {
            assert_eq!(
                verify(SECRET, Some(&header), BODY, now_s, 300),
                Err(SignatureError::Stale),
                "at {now_s}"
            );
        }
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(verify(SECRET, None, BODY, AT_S, 300), Err(SignatureError::Missing));
    }

    #[test]
    fn a_malformed_header_is_malformed() {
        let good_tag = hex::encode([0u8; 32]);
        let malformed = [
            String::new(),
            "garbage".to_string(),
            format!("v1={good_tag}"),
            format!("t={AT_S}"),
            format!("t=yesterday,v1={good_tag}"),
            format!("t={AT_S},v1=not-hex"),
            format!("t={AT_S},t={AT_S},v1={good_tag}"),
        ];
        for header in malformed {
            assert_eq!(
                verify(SECRET, Some(&header), BODY, AT_S, 300),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn any_one_matching_tag_verifies_so_secrets_can_rotate() {
        let old = sign(b"old secret", AT_S, BODY);
        let new = sign(SECRET, AT_S, BODY);
        let new_tag = new.split_once(",v1=").map(|(_, tag)| tag).unwrap_or_default();
        let both = format!("{old},v1={new_tag}");
        assert_eq!(verify(SECRET, Some(&both), BODY, AT_S, 300), Ok(()));
    }
}
