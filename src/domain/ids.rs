//! Global ids: opaque, URL-safe and stable across restarts (DESIGN.md §2, §4).
//!
//! An id is URL-safe base64 (no padding) of a small JSON array: the type name, the source and
//! the vendor ids needed to fetch the object again (its own id first, then parents).

use super::Source;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The node types that have global ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    Integration,
    Flow,
    Connection,
    Team,
    HistoryEntry,
}

impl NodeType {
    fn as_str(self) -> &'static str {
        match self {
            NodeType::Integration => "Integration",
            NodeType::Flow => "Flow",
            NodeType::Connection => "Connection",
            NodeType::Team => "Team",
            NodeType::HistoryEntry => "HistoryEntry",
        }
    }

    fn parse(text: &str) -> Option<NodeType> {
        [
            NodeType::Integration,
            NodeType::Flow,
            NodeType::Connection,
            NodeType::Team,
            NodeType::HistoryEntry,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// A decoded global id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalId {
    pub node_type: NodeType,
    pub source: Source,
    /// The vendor id of the object itself, then any parent ids the vendor needs.
    pub parts: Vec<String>,
}

impl GlobalId {
    /// Build an id from the object's vendor id and its parents.
    pub fn new(node_type: NodeType, source: Source, parts: Vec<String>) -> Self {
        GlobalId {
            node_type,
            source,
            parts,
        }
    }

    /// The opaque string form.
    pub fn encode(&self) -> String {
        let mut items: Vec<&str> = vec![self.node_type.as_str(), self.source.as_str()];
        items.extend(self.parts.iter().map(String::as_str));
        let json = serde_json::to_vec(&items).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parse the opaque form; `None` for anything that is not an id Chronograph issued.
    pub fn decode(text: &str) -> Option<GlobalId> {
        if text.len() > 2048 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        let items: Vec<String> = serde_json::from_slice(&bytes).ok()?;
        let (type_name, rest) = items.split_first()?;
        let (source, parts) = rest.split_first()?;
        if parts.is_empty() || parts.iter().any(String::is_empty) {
            return None;
        }
        Some(GlobalId {
            node_type: NodeType::parse(type_name)?,
            source: Source::parse(source)?,
            parts: parts.to_vec(),
        })
    }

    /// The object's own vendor id.
    pub fn source_id(&self) -> &str {
        self.parts.first().map(String::as_str).unwrap_or_default()
    }

    /// The n-th parent id, if the id carries one.
    pub fn parent(&self, n: usize) -> Option<&str> {
        self.parts.get(n + 1).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_any_vendor_id(parts in proptest::collection::vec(".{1,40}", 1..4)) {
            let id = GlobalId::new(NodeType::Flow, Source::Celigo, parts);
            let text = id.encode();
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(GlobalId::decode(&text), Some(id));
        }
    }

    #[test]
    fn rejects_foreign_strings() {
        for text in ["", "abc", "!!!", "WyJYIiwiQ0VMSUdPIiwiYSJd"] {
            assert_eq!(GlobalId::decode(text), None, "{text}");
        }
    }
}
