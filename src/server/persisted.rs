//! Persisted documents: clients send an id instead of the document's text.
//!
//! - **Trusted documents** (`server.persisted_documents`): a manifest loaded at start, the JSON
//!   object of id → document that Relay and GraphQL Codegen emit (ids as they write them:
//!   plain, or `sha256:<hex>`), or Apollo's `persisted-query-manifest` format. Clients name a
//!   document with `documentId` (the GraphQL-over-HTTP persisted operations proposal) or the
//!   APQ extension with its SHA-256. With `server.persisted_only`, nothing else runs (the text of
//!   a manifest document is accepted too; introspection stays governed by
//!   `server.introspection`).
//! - **Automatic persisted queries** (Apollo's protocol): `extensions.persistedQuery =
//!   {version: 1, sha256Hash}`. An unknown hash answers `PERSISTED_QUERY_NOT_FOUND` (message
//!   `PersistedQueryNotFound`, which Apollo clients look for); the client then sends the text
//!   with the hash, which is checked and kept for next time. Clients can write this store, so it
//!   is bounded: `server.apq_max_entries` documents of at most `server.apq_max_document_bytes`.
//!
//! A persisted document is parsed once: its syntax tree is kept (a small LRU) and handed to
//! async-graphql with `Request::set_parsed_query`, and its validation verdict is reused by
//! [`crate::schema::prepared`]. `/metrics` counts both.

use crate::config::ServerConfig;
use crate::error::ErrorCode;
use crate::metrics::edge::PersistedOutcome;
use crate::metrics::Metrics;
use crate::schema::guard::coded;
use crate::schema::prepared::PreparedKey;
use async_graphql::parser::types::{ExecutableDocument, Selection};
use async_graphql::{Request, ServerError, Value};
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

/// Largest manifest file read (a manifest of thousands of operations is a few MiB).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// Parsed documents kept at once (manifest and APQ together): a syntax tree is some ten times
/// its text, so this bounds the memory they take.
const PARSED_ENTRIES: u64 = 256;

/// What Apollo clients look for in the message to send the document again with its hash.
const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";

/// One persisted document.
#[derive(Debug)]
pub struct Document {
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub hash: String,
}

impl Document {
    fn new(text: String) -> Arc<Document> {
        let hash = sha256_hex(&text);
        Arc::new(Document { text, hash })
    }
}

/// The trusted documents of `server.persisted_documents`.
#[derive(Debug, Default)]
pub struct Manifest {
    by_id: HashMap<String, Arc<Document>>,
    by_hash: HashMap<String, Arc<Document>>,
}

/// Apollo's manifest (`generate-persisted-query-manifest`).
#[derive(Deserialize)]
struct ApolloManifest {
    operations: Vec<ApolloOperation>,
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

impl Manifest {
    /// Read and check a manifest file; the reason names what is wrong (never a document).
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|err| format!("cannot read `{shown}`: {}", err.kind()))?
            .len();
        if size > MAX_MANIFEST_BYTES {
            return Err(format!(
                "`{shown}` is over {} MiB",
                MAX_MANIFEST_BYTES >> 20
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read `{shown}`: {}", err.kind()))?;
        Self::parse(&text).map_err(|reason| format!("`{shown}`: {reason}"))
    }

    /// A manifest from its JSON text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|err| format!("not JSON ({err})"))?;
        let entries: Vec<(String, String)> = match json {
            serde_json::Value::Object(map)
                if map.get("format").and_then(|f| f.as_str())
                    == Some("apollo-persisted-query-manifest") =>
            {
                let apollo: ApolloManifest = serde_json::from_value(serde_json::Value::Object(map))
                    .map_err(|_| {
                        "an Apollo manifest needs `operations`: [{id, body}]".to_string()
                    })?;
                apollo
                    .operations
                    .into_iter()
                    .map(|op| (op.id, op.body))
                    .collect()
            }
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(id, document)| match document {
                    serde_json::Value::String(text) => Ok((id, text)),
                    _ => Err(format!("the document of id `{id}` is not a string")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("expected a JSON object of id → document".into()),
        };
        let mut manifest = Manifest::default();
        for (id, text) in entries {
            if text.trim().is_empty() {
                return Err(format!("the document of id `{id}` is empty"));
            }
            let document = Document::new(text);
            if let Some(hex) = id.strip_prefix("sha256:") {
                if !hex.eq_ignore_ascii_case(&document.hash) {
                    return Err(format!(
                        "id `{id}` is not the SHA-256 of its document (that is sha256:{})",
                        document.hash
                    ));
                }
            }
            manifest
                .by_hash
                .insert(document.hash.clone(), document.clone());
            manifest.by_id.insert(id, document);
        }
        Ok(manifest)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A document by the id a client sent: as written in the manifest, or `sha256:<hex>` / a
    /// bare hex SHA-256 of its text.
    fn find(&self, id: &str) -> Option<&Arc<Document>> {
        self.by_id.get(id).or_else(|| {
            let hex = id.strip_prefix("sha256:").unwrap_or(id);
            self.by_hash.get(&hex.to_ascii_lowercase())
        })
    }
}

/// Why a request naming a persisted document is not run: the error, and the HTTP status when
/// it is not the usual one for a request that never ran.
pub struct Refusal {
    pub status: Option<StatusCode>,
    pub error: Box<ServerError>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            status: None,
            error: Box::new(coded(ServerError::new(message, None), code)),
        }
    }

    fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }
}

/// The manifest, the APQ store and the parsed documents.
pub struct PersistedStore {
    manifest: Manifest,
    /// Client-registered documents by hash; `None` when APQ is off.
    apq: Option<moka::sync::Cache<String, Arc<Document>>>,
    only: bool,
    introspection: bool,
    max_document_bytes: usize,
    parsed: moka::sync::Cache<String, Arc<ExecutableDocument>>,
    /// Keyed hashing for [`PreparedKey`]: clients choose variables, so a fixed hash could be
    /// steered into another request's validation verdict.
    hasher: std::collections::hash_map::RandomState,
    metrics: Arc<Metrics>,
}

impl PersistedStore {
    /// The store `[server]` asks for (the manifest was checked when the config loaded).
    pub fn from_config(server: &ServerConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let manifest = match &server.persisted_documents {
            Some(path) => Manifest::load(Path::new(path))?,
            None => Manifest::default(),
        };
        if server.persisted_documents.is_some() {
            tracing::info!(
                documents = manifest.len(),
                only = server.persisted_only,
                "trusted documents loaded"
            );
        }
        let apq = (server.apq && !server.persisted_only)
            .then(|| moka::sync::Cache::new(server.apq_max_entries as u64));
        Ok(PersistedStore {
            manifest,
            apq,
            only: server.persisted_only,
            introspection: server.introspection,
            max_document_bytes: server.apq_max_document_bytes,
            parsed: moka::sync::Cache::new(PARSED_ENTRIES),
            hasher: Default::default(),
            metrics,
        })
    }

    /// Put the document a request names (`documentId` or the APQ hash) into it, register an APQ
    /// document sent with its hash, and enforce `persisted_only`. A request that names nothing
    /// is left as it is (and costs nothing) unless `persisted_only` is set.
    pub fn resolve(&self, request: &mut Request, document_id: Option<&str>) -> Result<(), Refusal> {
        let apq_hash = apq_hash(request)?;
        let has_text = !request.query.trim().is_empty();
        let found = match (document_id, apq_hash) {
            (Some(_), _) if has_text => {
                return Err(Refusal::new(
                    ErrorCode::BadUserInput,
                    "send either `documentId` or `query`, not both",
                ))
            }
            (Some(id), _) => self.hit(self.lookup(id)).ok_or_else(|| {
                self.not_found(format!(
                    "no persisted document has the id `{}`",
                    crate::error::truncate_message(id, 80)
                ))
            })?,
            (None, Some(hash)) if has_text => self.register(request, &hash)?,
            (None, Some(hash)) => self
                .hit(self.lookup(&hash))
                .ok_or_else(|| self.not_found(NOT_FOUND_MESSAGE.to_string()))?,
            (None, None) if self.only => match self.hit(self.check_trusted(request)?) {
                Some(document) => document,
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        self.prepare(request, &found);
        Ok(())
    }

    /// A document by id or hash: the manifest first, then what clients registered.
    fn lookup(&self, id: &str) -> Option<Arc<Document>> {
        if let Some(document) = self.manifest.find(id) {
            return Some(document.clone());
        }
        let hex = id
            .strip_prefix("sha256:")
            .unwrap_or(id)
            .to_ascii_lowercase();
        self.apq.as_ref()?.get(&hex)
    }

    /// Count a document found in the manifest or the APQ store.
    fn hit(&self, found: Option<Arc<Document>>) -> Option<Arc<Document>> {
        if found.is_some() {
            self.metrics.edge.persisted(PersistedOutcome::Hit);
        }
        found
    }

    fn not_found(&self, message: String) -> Refusal {
        self.metrics.edge.persisted(PersistedOutcome::Miss);
        let refusal = Refusal::new(ErrorCode::PersistedQueryNotFound, message);
        match self.only {
            true => refusal.status(StatusCode::BAD_REQUEST),
            false => refusal,
        }
    }

    /// An APQ request with its text: the hash must be the text's; the document is kept for
    /// next time when APQ is on and it is small enough and parses.
    fn register(&self, request: &mut Request, hash: &str) -> Result<Arc<Document>, Refusal> {
        let actual = sha256_hex(&request.query);
        if actual != hash {
            return Err(Refusal::new(
                ErrorCode::BadUserInput,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of `query` (provided sha does not match query)",
            ));
        }
        if let Some(document) = self.hit(self.manifest.by_hash.get(hash).cloned()) {
            return Ok(document);
        }
        if self.only {
            return Err(self.refuse_untrusted());
        }
        let Some(store) = self
            .apq
            .as_ref()
            .filter(|_| request.query.len() <= self.max_document_bytes)
        else {
            // Not kept (APQ off, or over apq_max_document_bytes): it still runs as sent.
            return Ok(Document::new(std::mem::take(&mut request.query)));
        };
        let document = Document::new(std::mem::take(&mut request.query));
        if self.parse(&document).is_some() {
            store.insert(document.hash.clone(), document.clone());
            self.metrics.edge.persisted(PersistedOutcome::Registered);
        }
        Ok(document)
    }

    /// `persisted_only` and a request without an id: its text must be a manifest document's
    /// (`Some`), or, with `server.introspection` on, an introspection query, which runs like any
    /// request (`None`; parsed once, here).
    fn check_trusted(&self, request: &mut Request) -> Result<Option<Arc<Document>>, Refusal> {
        if let Some(document) = self.manifest.by_hash.get(&sha256_hex(&request.query)) {
            return Ok(Some(document.clone()));
        }
        if self.introspection && request.parsed_query().is_ok_and(only_introspection) {
            return Ok(None);
        }
        Err(self.refuse_untrusted())
    }

    fn refuse_untrusted(&self) -> Refusal {
        self.metrics.edge.persisted(PersistedOutcome::Refused);
        Refusal::new(
            ErrorCode::PersistedQueryNotFound,
            "this gateway runs persisted documents only (server.persisted_only): send the `documentId` of an operation in its manifest",
        )
        .status(StatusCode::BAD_REQUEST)
    }

    /// The document's text and syntax tree in the request, and the key of its validation verdict.
    fn prepare(&self, request: &mut Request, document: &Arc<Document>) {
        if request.query != document.text {
            request.query = document.text.clone();
        }
        if let Some(parsed) = self.parse(document) {
            request.set_parsed_query((*parsed).clone());
        }
        let mut hasher = self.hasher.build_hasher();
        document.hash.hash(&mut hasher);
        request.operation_name.hash(&mut hasher);
        serde_json::to_string(&request.variables)
            .unwrap_or_default()
            .hash(&mut hasher);
        request.data.insert(PreparedKey(hasher.finish()));
    }

    /// The document's syntax tree, parsed on first use; `None` when it does not parse (it then
    /// runs unparsed and fails like any request with a syntax error).
    fn parse(&self, document: &Document) -> Option<Arc<ExecutableDocument>> {
        if let Some(parsed) = self.parsed.get(&document.hash) {
            return Some(parsed);
        }
        let parsed = Arc::new(async_graphql::parser::parse_query(&document.text).ok()?);
        self.parsed.insert(document.hash.clone(), parsed.clone());
        Some(parsed)
    }
}

/// The hash of `extensions.persistedQuery`, if the request has one.
fn apq_hash(request: &Request) -> Result<Option<String>, Refusal> {
    let Some(extension) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(fields) = extension else {
        return Err(Refusal::new(
            ErrorCode::BadUserInput,
            "extensions.persistedQuery must be an object {version: 1, sha256Hash}",
        ));
    };
    if fields.get("version") != Some(&Value::from(1)) {
        return Err(Refusal::new(
            ErrorCode::BadUserInput,
            "extensions.persistedQuery.version must be 1 (PersistedQueryNotSupported)",
        ));
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(Some(hash.to_ascii_lowercase()))
        }
        _ => Err(Refusal::new(
            ErrorCode::BadUserInput,
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
        )),
    }
}

/// Whether every operation selects only `__schema`, `__type` and `__typename` at its root.
fn only_introspection(document: &ExecutableDocument) -> bool {
    document.operations.iter().all(|(_, operation)| {
        operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .all(|selection| match &selection.node {
                Selection::Field(field) => matches!(
                    field.node.name.node.as_str(),
                    "__schema" | "__type" | "__typename"
                ),
                _ => false,
            })
    })
}

/// The `documentId` of each operation of a POST body (one entry for a single request), when
/// the body mentions `documentId` at all: other bodies are not read twice.
pub fn document_ids(body: &[u8]) -> Result<Option<Vec<Option<String>>>, Refusal> {
    const NAME: &[u8] = b"documentId";
    if !body.windows(NAME.len()).any(|window| window == NAME) {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Ids {
        #[serde(rename = "documentId")]
        document_id: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Body {
        One(Ids),
        Many(Vec<Ids>),
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body::One(ids)) => Ok(Some(vec![ids.document_id])),
        Ok(Body::Many(ids)) => Ok(Some(ids.into_iter().map(|i| i.document_id).collect())),
        Err(_) => Err(
            Refusal::new(ErrorCode::BadUserInput, "`documentId` must be a string")
                .status(StatusCode::BAD_REQUEST),
        ),
    }
}

/// The `documentId` parameter of a GET query string.
pub fn document_id_param(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "documentId")
        .map(|(_, value)| value.into_owned())
}

/// Hex SHA-256, as APQ and `sha256:` ids spell it.
pub fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_accept_plain_and_sha256_ids_and_check_the_hashes() {
        let doc = "{ __typename }";
        let hash = sha256_hex(doc);
        let text = serde_json::json!({ "plain": doc, format!("sha256:{hash}"): doc }).to_string();
        let manifest = Manifest::parse(&text).expect("valid");
        assert_eq!(manifest.len(), 2);
        assert!(manifest.find("plain").is_some());
        assert!(manifest.find(&format!("sha256:{hash}")).is_some());
        assert!(manifest.find(&hash).is_some());
        assert!(manifest.find("other").is_none());
        let wrong = serde_json::json!({ format!("sha256:{}", "0".repeat(64)): doc }).to_string();
        let reason = Manifest::parse(&wrong).expect_err("wrong hash");
        assert!(reason.contains("is not the SHA-256"), "{reason}");
        assert!(Manifest::parse("[1]").is_err());
        assert!(Manifest::parse("{\"a\": 3}").is_err());
    }

    #[test]
    fn reads_apollo_manifests() {
        let text = r#"{"format":"apollo-persisted-query-manifest","version":1,
            "operations":[{"id":"abc","name":"Q","type":"query","body":"{ __typename }"}]}"#;
        let manifest = Manifest::parse(text).expect("valid");
        assert!(manifest.find("abc").is_some());
    }

    #[test]
    fn document_ids_are_read_only_when_named() {
        assert!(document_ids(br#"{"query":"{ a }"}"#)
            .ok()
            .flatten()
            .is_none());
        let ids = document_ids(br#"[{"documentId":"a"},{"query":"{ b }"}]"#)
            .ok()
            .flatten()
            .expect("ids");
        assert_eq!(ids, vec![Some("a".to_string()), None]);
        assert!(document_ids(br#"{"documentId":3}"#).is_err());
    }

    #[test]
    fn the_apq_store_keeps_at_most_apq_max_entries() {
        let server = ServerConfig {
            apq_max_entries: 3,
            ..ServerConfig::default()
        };
        let store = PersistedStore::from_config(&server, Arc::new(Metrics::default()))
            .expect("no manifest to load");
        for i in 0..50 {
            let text = format!("{{ a{i}: __typename }}");
            let mut request = Request::new(text.clone());
            request.extensions.insert(
                "persistedQuery".into(),
                Value::from_json(
                    serde_json::json!({"version": 1, "sha256Hash": sha256_hex(&text)}),
                )
                .expect("json"),
            );
            assert!(store.resolve(&mut request, None).is_ok());
        }
        let apq = store.apq.as_ref().expect("APQ on");
        apq.run_pending_tasks();
        assert!(apq.entry_count() <= 3, "{} entries", apq.entry_count());
    }

    #[test]
    fn knows_the_sha256_of_a_text() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }
}
