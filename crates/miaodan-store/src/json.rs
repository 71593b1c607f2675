//! Versioned JSON documents in TEXT columns.
//!
//! A JSON column holds a storage type of this crate (`PromiseV1`, `DispatchDecisionV1`, …),
//! never a domain type's own serde form: each is converted to and from its domain type
//! explicitly, so renaming a field or a variant in the domain is a compile error in the
//! conversion, not a silent change of the format on disk.
//!
//! **Versions.** A document says which version it is in a top-level `"v"` member. Version 1 is
//! the layout written before documents were versioned and carries no tag: databases written
//! then load unchanged, and a release that predates versioning can still read what this one
//! writes. A later layout is a new type (`…V2`) written with `"v": 2`, and the column's decode
//! function gains an arm for it; the `…V1` types are frozen. A document of a version this build
//! does not know is refused as corrupt rather than misread.

use crate::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version of a document without a `"v"` member.
const UNTAGGED_VERSION: u32 = 1;

fn untagged() -> u32 {
    UNTAGGED_VERSION
}

/// Reads only the top-level `"v"` member; every other member is skipped.
#[derive(serde::Deserialize)]
struct VersionProbe {
    #[serde(default = "untagged")]
    v: u32,
}

/// The document as its column's text. Storage types are plain data (no maps with non-string
/// keys, no failing `Serialize`), so a failure here is a broken invariant, not an operating error.
pub(crate) fn encode<T: Serialize>(document: &T) -> String {
    serde_json::to_string(document).expect("storage types serialise to JSON")
}

/// The version a stored document declares.
pub(crate) fn version(raw: &str, what: &str) -> Result<u32, StoreError> {
    serde_json::from_str::<VersionProbe>(raw)
        .map(|probe| probe.v)
        .map_err(|e| StoreError::corrupt(format!("bad {what} json: {e}")))
}

/// Parses a document of a known version into its storage type.
pub(crate) fn parse<T: DeserializeOwned>(raw: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::corrupt(format!("bad {what} json: {e}")))
}

/// Decodes a column whose only version so far is 1: its `V1` storage type, then the checked
/// conversion into the domain type.
pub(crate) fn decode_v1<V1, T>(raw: &str, what: &str) -> Result<T, StoreError>
where
    V1: DeserializeOwned + TryInto<T, Error = StoreError>,
{
    match version(raw, what)? {
        1 => parse::<V1>(raw, what)?.try_into(),
        other => Err(unknown_version(what, other)),
    }
}

pub(crate) fn unknown_version(what: &str, version: u32) -> StoreError {
    StoreError::corrupt(format!(
        "{what} json of version {version}, which this build does not know"
    ))
}

/// A stored id read back: positive, or the document is corrupt.
pub(crate) fn id<T>(raw: i64, make: fn(i64) -> Option<T>, what: &str) -> Result<T, StoreError> {
    make(raw).ok_or_else(|| StoreError::corrupt(format!("bad {what} json: invalid id {raw}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_without_a_tag_is_version_1() {
        assert_eq!(version(r#"{"level":"same_day","price":1}"#, "promise").ok(), Some(1));
        assert_eq!(version(r#"{"nested":{"v":7}}"#, "promise").ok(), Some(1));
    }

    #[test]
    fn a_tagged_document_declares_its_version() {
        assert_eq!(version(r#"{"v":2,"level":"same_day"}"#, "promise").ok(), Some(2));
        assert!(version(r#"{"v":"two"}"#, "promise").is_err());
        assert!(version("not json", "promise").is_err());
    }
}
