//! Opaque, versioned, argument-fingerprinted cursors (DESIGN.md §3, §10).
//!
//! A cursor is URL-safe base64 (no padding) of a small JSON object: version, snapshot time,
//! the fingerprint of the arguments it was issued for, and the key of the edge it points at.
//! Per-source hints are optional and dropped first when the cursor would exceed 512 bytes.

use crate::domain::Source;
use crate::error::SourceError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The cursor format version this build writes and reads.
pub const CURSOR_VERSION: u8 = 1;
/// Upper bound on an encoded cursor (DESIGN.md §3).
pub const MAX_CURSOR_BYTES: usize = 512;
/// Longest vendor id kept verbatim in a key; longer ids are cut so the cursor stays small.
const MAX_KEY_ID_BYTES: usize = 200;

/// Where in a list an edge sits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorKey {
    /// A vendor-ordered list: position and the item's id (used to re-align if items moved).
    #[serde(rename = "p")]
    Position(u64, String),
    /// The history timeline: `at` in epoch ms, the source, the entry's source id.
    #[serde(rename = "t")]
    Timeline(i64, Source, String),
}

/// A decoded cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "v")]
    pub version: u8,
    /// Snapshot time of the walk in epoch ms (`observedAt` on every page).
    #[serde(rename = "s")]
    pub snapshot_ms: i64,
    /// Fingerprint of the arguments the cursor belongs to.
    #[serde(rename = "f")]
    pub fingerprint: String,
    #[serde(rename = "k")]
    pub key: CursorKey,
    /// Optional per-stream hints (upstream positions, failed streams); never required.
    #[serde(rename = "h", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hints: BTreeMap<String, String>,
}

impl Cursor {
    /// A cursor for `key` in the walk identified by `fingerprint` and `snapshot_ms`.
    pub fn new(fingerprint: &str, snapshot_ms: i64, key: CursorKey) -> Self {
        Cursor {
            version: CURSOR_VERSION,
            snapshot_ms,
            fingerprint: fingerprint.to_string(),
            key,
            hints: BTreeMap::new(),
        }
    }

    /// Encode, dropping hints (depth hints first, the cheapest to lose; then shortening an
    /// overlong id) to stay within 512 bytes.
    pub fn encode(&self) -> String {
        let text = encode_raw(self);
        if text.len() <= MAX_CURSOR_BYTES {
            return text;
        }
        let mut slim = self.clone();
        slim.hints.retain(|name, _| !is_depth_hint(name));
        let text = encode_raw(&slim);
        if text.len() <= MAX_CURSOR_BYTES {
            return text;
        }
        slim.hints.clear();
        let text = encode_raw(&slim);
        if text.len() <= MAX_CURSOR_BYTES {
            return text;
        }
        slim.key = match slim.key {
            CursorKey::Position(i, id) => CursorKey::Position(i, cut(&id, 0)),
            CursorKey::Timeline(at, s, id) => {
                CursorKey::Timeline(at, s, cut(&id, MAX_KEY_ID_BYTES))
            }
        };
        encode_raw(&slim)
    }

    /// Decode and check a client-supplied cursor against the arguments it is used with.
    pub fn decode(text: &str, expected_fingerprint: &str) -> Result<Cursor, SourceError> {
        let invalid = || {
            SourceError::bad_input(
                "invalid cursor: pass back a cursor exactly as Chronograph returned it",
            )
        };
        if text.len() > MAX_CURSOR_BYTES * 2 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.version != CURSOR_VERSION {
            return Err(SourceError::bad_input(
                "cursor from an incompatible Chronograph version: start again without a cursor",
            ));
        }
        if cursor.fingerprint != expected_fingerprint {
            return Err(SourceError::bad_input(
                "cursor was issued for different arguments or another field: start again without a cursor",
            ));
        }
        Ok(cursor)
    }
}

/// The prefix of a depth hint's name (`d3`: stream 3's depth).
const DEPTH_HINT: char = 'd';

/// The name of stream `index`'s depth hint.
pub fn depth_hint(index: usize) -> String {
    format!("{DEPTH_HINT}{index}")
}

/// A stream's depth hint ([`depth_hint`]), dropped first from a long cursor.
fn is_depth_hint(name: &str) -> bool {
    name.strip_prefix(DEPTH_HINT)
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

fn encode_raw(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn cut(id: &str, max: usize) -> String {
    let mut end = max.min(id.len());
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].to_string()
}

/// A short stable fingerprint (FNV-1a 64, hex) of the parts that define a list: the field and
/// every argument except the paging ones. Stable across restarts and builds.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0x1f)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_source() -> impl Strategy<Value = Source> {
        prop::sample::select(Source::ALL.to_vec())
    }

    fn any_key() -> impl Strategy<Value = CursorKey> {
        prop_oneof![
            (any::<u64>(), ".{0,40}").prop_map(|(i, id)| CursorKey::Position(i, id)),
            (any::<i64>(), any_source(), ".{0,40}")
                .prop_map(|(at, s, id)| CursorKey::Timeline(at, s, id)),
        ]
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(key in any_key(), snap in any::<i64>(), fp in "[0-9a-f]{16}",
                                     hints in prop::collection::btree_map("[a-z0-9]{1,8}", ".{0,20}", 0..4)) {
            let mut cursor = Cursor::new(&fp, snap, key);
            cursor.hints = hints;
            let text = cursor.encode();
            prop_assert!(text.len() <= MAX_CURSOR_BYTES);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            let back = Cursor::decode(&text, &fp).expect("own cursor decodes");
            // Hints (never required) are dropped when the whole cursor would not fit: then
            // the rest must still come back exactly, as long as the id did not need cutting.
            let mut positions = cursor.clone();
            positions.hints.retain(|name, _| !is_depth_hint(name));
            let mut slim = cursor.clone();
            slim.hints.clear();
            if encode_raw(&cursor).len() <= MAX_CURSOR_BYTES {
                prop_assert_eq!(back, cursor);
            } else if encode_raw(&positions).len() <= MAX_CURSOR_BYTES {
                prop_assert_eq!(back, positions);
            } else if encode_raw(&slim).len() <= MAX_CURSOR_BYTES {
                prop_assert_eq!(back, slim);
            } else {
                prop_assert!(back.hints.is_empty());
                prop_assert_eq!(back.snapshot_ms, cursor.snapshot_ms);
            }
        }

        #[test]
        fn oversized_cursors_drop_hints_and_stay_small(id in ".{150,400}", hint in ".{300,600}") {
            let mut cursor = Cursor::new("00", 1, CursorKey::Timeline(5, Source::Celigo, id));
            cursor.hints.insert("celigo".into(), hint);
            let text = cursor.encode();
            prop_assert!(text.len() <= MAX_CURSOR_BYTES, "{} bytes", text.len());
            let back = Cursor::decode(&text, "00").expect("decodes");
            prop_assert!(back.hints.is_empty());
        }

        #[test]
        fn garbage_never_panics_and_is_bad_input(text in ".{0,600}") {
            if let Err(err) = Cursor::decode(&text, "abc") {
                prop_assert_eq!(err.code, crate::error::ErrorCode::BadUserInput);
            }
        }
    }

    #[test]
    fn depth_hints_are_dropped_before_position_hints() {
        let mut cursor = Cursor::new("00ff", 7, CursorKey::Position(3, "id".into()));
        cursor
            .hints
            .insert("0".into(), "1700000000000:CELIGO:abc".into());
        for index in 0..50 {
            cursor.hints.insert(format!("d{index}"), "12345".into());
        }
        assert!(encode_raw(&cursor).len() > MAX_CURSOR_BYTES);
        let back = Cursor::decode(&cursor.encode(), "00ff").expect("decodes");
        assert_eq!(back.hints.len(), 1, "{:?}", back.hints);
        assert!(back.hints.contains_key("0"));
        assert!(!is_depth_hint("data") && !is_depth_hint("d") && is_depth_hint("d12"));
    }

    #[test]
    fn hints_that_escape_long_are_dropped_and_the_rest_round_trips() {
        // Control characters take six bytes each in JSON: these hints alone overflow 512.
        let mut cursor = Cursor::new("00ff", 7, CursorKey::Position(3, "id".into()));
        for name in ["a", "b", "c", "d"] {
            cursor.hints.insert(name.into(), "\u{1}".repeat(20));
        }
        assert!(encode_raw(&cursor).len() > MAX_CURSOR_BYTES);
        let back = Cursor::decode(&cursor.encode(), "00ff").expect("decodes");
        let mut slim = cursor.clone();
        slim.hints.clear();
        assert_eq!(back, slim);
    }

    #[test]
    fn a_cursor_for_other_arguments_is_rejected() {
        let text = Cursor::new(
            &fingerprint(&["Query.integrations", "CELIGO"]),
            1,
            CursorKey::Position(3, "x".into()),
        )
        .encode();
        let err = Cursor::decode(&text, &fingerprint(&["Query.integrations", "TRUTO"]))
            .expect_err("mismatch");
        assert!(err.message.contains("different arguments"));
        assert!(Cursor::decode(&text, &fingerprint(&["Query.integrations", "CELIGO"])).is_ok());
    }

    #[test]
    fn fingerprint_separates_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["x"]), fingerprint(&["x"]));
    }
}
