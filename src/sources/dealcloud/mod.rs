//! Intapp DealCloud adapter: modified, deleted and merged entries per entry type
//! (upstreams/dealcloud.md).
//!
//! - **Auth**: OAuth2 client credentials (`POST /api/rest/v1/oauth/token`, scope `data`). One
//!   token is fetched and reused until shortly before `expires_in` runs out (a tenth of its
//!   life, at most 60 s, early); the fetch is single flight, so concurrent requests wait for one
//!   token instead of each asking. A data call answered 401 refreshes the token once (unless
//!   another request already did) and is repeated once.
//! - **Entry types**: a subject names an entry type by `apiName` (`interaction`) or numeric id
//!   (`2013`). The Schema API (`GET /api/rest/v4/schema/entrytypes`, read once per hour and
//!   credential, single flight: it allows 5 calls a second) maps names to ids, and a name
//!   becomes its id before anything else happens, so both spellings give the same entries, ids,
//!   cursors and cached walks. `sources.dealcloud.entry_types` may list either spelling; a type
//!   it does not list is `BAD_USER_INPUT` (without the list every type is accepted). The
//!   Schema API is asked only when the answer matters: a name the list does not contain, when
//!   the list holds names only, is refused without a call.
//! - **The 180-day rule**: a `since` at least an hour inside the last 180 days is sent as
//!   `modifiedSince` (modified and deleted entries since then). An older or absent `since`
//!   asks twice — without `modifiedSince` (every entry ever modified, no deletions) and with
//!   now − 180 days + 1 hour (deletions) — merges them by entry id and adds a response warning
//!   that older deletions are not available. The hour keeps a clock behind DealCloud's from
//!   earning the 400; should one come anyway, the deletions are dropped with a warning, never
//!   returned as a raw 400.
//! - **Paging**: DealCloud answers one whole array. It is parsed once per walk and kept in a
//!   bounded cache keyed by (client id, entry type, `since` plan, snapshot), so later pages of
//!   the same walk (the cursor carries the snapshot) make no upstream call. Entries carry no
//!   timestamp: `occurredAt` is null and `at` is the walk's `observedAt`, so within a walk the
//!   order is by entry id (compared byte-wise as a string, DESIGN.md §10).

pub mod wire;

use super::decode_item;
use super::{HistorySource, SourceSet};
use crate::domain::datetime::format_utc_ms;
use crate::domain::{CompactString, HistoryEntry, HistoryFilter, HistoryKind, Source, SubjectRef};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::stream::{sort_timeline, Direction, StreamPage, StreamWindow, TimelineKey};
use crate::sources::SourceConfig;
use crate::upstream::{Fetched, RequestScope, TokenGrant, TokenProvider, Upstream, Wiring};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use wire::{WireEntry, WireEntryType, WireToken};

/// How far back DealCloud accepts `modifiedSince` and keeps deletions (exactly 180 × 24 h).
pub const HISTORY_WINDOW: chrono::Duration = chrono::Duration::days(180);
/// Safety margin inside the 180 days, for a clock behind DealCloud's.
const CLOCK_MARGIN: chrono::Duration = chrono::Duration::hours(1);
/// Token lifetime assumed when the answer has no `expires_in` (the documented 900 s).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Cached entries across every walk (weight = entries), and their default life.
const CACHE_MAX_ENTRIES: u64 = 250_000;
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(600);

/// The kinds a DealCloud stream produces.
const KINDS: [HistoryKind; 3] = [
    HistoryKind::RecordChanged,
    HistoryKind::RecordDeleted,
    HistoryKind::RecordMerged,
];

/// Every route this adapter calls, as `/metrics` labels them.
pub const ROUTES: &[&str] = &[
    "/api/rest/v4/data/entrydata/:id/entries/allHistory",
    "/api/rest/v4/data/entrydata/:id/entries/history",
    "/api/rest/v1/oauth/token",
    "/api/rest/v4/schema/entrytypes",
];

/// How long the site's entry types (the Schema API's answer) are kept: they change when an
/// administrator adds a list, and the Schema API allows 5 calls a second.
const ENTRY_TYPES_TTL: Duration = Duration::from_secs(3600);

/// The DealCloud adapter.
pub struct Dealcloud {
    up: Arc<Upstream>,
    /// OAuth2 client-credentials tokens.
    token: Arc<TokenProvider>,
    /// Whose changes the cache holds when no caller sends their own credential.
    client_id: String,
    entry_types: Option<Vec<String>>,
    /// The site's entry types, `apiName` (lower case) → numeric id, per identity (configured
    /// client or caller credential): read once from the Schema API, single flight.
    ids: moka::future::Cache<String, Arc<HashMap<String, String>>>,
    all_history: bool,
    changes: moka::future::Cache<ChangesKey, Arc<Changes>>,
}

/// Which calls answer a `since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Plan {
    /// One call with `modifiedSince` (epoch ms).
    Since(i64),
    /// All modified entries, plus deletions of the last 180 days.
    Split,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChangesKey {
    /// Whose changes: the configured client, or a caller's own credential.
    identity: String,
    entry_type: String,
    plan: Plan,
    snapshot_ms: i64,
}

/// One entry type's changes as of one snapshot, in timeline order, with the warnings every
/// page served from them repeats.
struct Changes {
    entries: Vec<HistoryEntry>,
    warnings: Vec<String>,
}

/// A data call's answer: entries, or the 180-day rejection of its `modifiedSince`.
enum Answer {
    Entries(Vec<HistoryEntry>),
    TooOld,
}

/// DealCloud's OAuth2 client-credentials grant.
struct ClientCredentials {
    client_id: String,
    client_secret: SecretString,
}

#[async_trait]
impl TokenGrant for ClientCredentials {
    async fn obtain(&self, up: &Upstream) -> SourceResult<(SecretString, Option<Duration>)> {
        let url = up.url(&["api", "rest", "v1", "oauth", "token"], &[]);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("scope", "data"),
        ];
        let fetched = up.check(up.post_form(url, &form).await?)?;
        let answer: WireToken = up.decode(&fetched).map_err(Arc::new)?;
        let token = answer
            .access_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad_response("DEALCLOUD token answer carries no access_token"))?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        tracing::info!(
            source = "DEALCLOUD",
            lifetime_s = lifetime.as_secs(),
            "obtained an access token"
        );
        Ok((SecretString::from(token), Some(lifetime)))
    }
}

/// What this adapter knows about its vendor (config keys, credentials, capabilities).
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &[
        "client_id",
        "client_secret",
        "entry_types",
        "include_calculated",
    ],
    credentials: &[&["client_id", "client_secret"]],
    user_id_header: false,
    paths: &["api/rest/v1", "api/rest/v4"],
    teams: false,
    writes: false,
    build: Dealcloud::source_set,
};

impl Dealcloud {
    /// Build the adapter (config validation guarantees `client_id` and `client_secret`).
    pub fn source_set(wiring: &Wiring, cfg: &SourceConfig) -> Result<SourceSet, SourceError> {
        let grant = ClientCredentials {
            client_id: cfg.client_id.clone().unwrap_or_default(),
            client_secret: cfg
                .client_secret
                .clone()
                .unwrap_or_else(|| SecretString::from("")),
        };
        let token = TokenProvider::new(None, Some(Box::new(grant)));
        let up = Arc::new(Upstream::new(
            Source::Dealcloud,
            ROUTES,
            wiring,
            cfg.base(),
            token.auth(),
            cfg.timeout(),
        )?);
        let ttl = cfg
            .cache_ttl_s
            .map_or(DEFAULT_CACHE_TTL, Duration::from_secs);
        let dealcloud = Arc::new(Dealcloud {
            up: up.clone(),
            token,
            client_id: cfg.client_id.clone().unwrap_or_default(),
            entry_types: cfg.entry_types.clone(),
            ids: moka::future::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(ENTRY_TYPES_TTL)
                .build(),
            all_history: cfg.include_calculated.unwrap_or(false),
            changes: moka::future::Cache::builder()
                .max_capacity(CACHE_MAX_ENTRIES)
                .weigher(|_, changes: &Arc<Changes>| {
                    u32::try_from(changes.entries.len() + 1).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build(),
        });
        Ok(SourceSet {
            history: Some(dealcloud),
            upstream: Some(up),
            writes: None,
            ..SourceSet::default()
        })
    }

    /// Whose answers these are: the configured client, or a caller's own credential.
    fn identity(&self, scope: &RequestScope) -> SourceResult<String> {
        Ok(match self.up.caller_credential(scope).map_err(Arc::new)? {
            Some(credential) => credential.identity().to_string(),
            None => self.client_id.clone(),
        })
    }

    /// The site's entry types, `apiName` (lower case) → numeric id.
    async fn entry_type_ids(
        &self,
        scope: &RequestScope,
    ) -> SourceResult<Arc<HashMap<String, String>>> {
        let identity = self.identity(scope)?;
        self.ids
            .try_get_with(identity, async {
                let url = self
                    .up
                    .url(&["api", "rest", "v4", "schema", "entrytypes"], &[]);
                let fetched = self.call(scope, url).await?;
                if fetched.status == 404 {
                    // A site without the Schema API: subjects keep their spelling.
                    return Ok(Arc::new(HashMap::new()));
                }
                let fetched = self.up.check_for(scope, fetched)?;
                let values: Vec<Value> = self.up.decode(&fetched).map_err(Arc::new)?;
                let ids = values
                    .iter()
                    .filter_map(|v| {
                        decode_item::<WireEntryType>(Source::Dealcloud, v, "entry type")
                    })
                    .filter_map(|t| Some((t.api_name?.to_lowercase(), t.id)))
                    .collect();
                Ok(Arc::new(ids))
            })
            .await
            .map_err(|shared: Arc<Arc<SourceError>>| shared.as_ref().clone())
    }

    /// Whether `entry_type` (as given, or the numeric id it was resolved to) is one the config
    /// lists in either spelling; without `entry_types` every type is. Asks the Schema API only
    /// when the list names a type differently from the subject.
    async fn admits(&self, scope: &RequestScope, entry_type: &str) -> SourceResult<bool> {
        let Some(list) = &self.entry_types else {
            return Ok(true);
        };
        if list.iter().any(|t| t.eq_ignore_ascii_case(entry_type)) {
            return Ok(true);
        }
        let names = || list.iter().filter(|t| !is_numeric(t));
        if !is_numeric(entry_type) || names().next().is_none() {
            return Ok(false);
        }
        let ids = self.entry_type_ids(scope).await?;
        Ok(names().any(|name| {
            ids.get(&name.to_lowercase())
                .is_some_and(|id| id == entry_type)
        }))
    }

    /// `BAD_USER_INPUT` unless [`Dealcloud::admits`] the entry type.
    async fn check_entry_type(&self, scope: &RequestScope, entry_type: &str) -> SourceResult<()> {
        if self.admits(scope, entry_type).await? {
            return Ok(());
        }
        let list = self.entry_types.clone().unwrap_or_default();
        Err(Arc::new(SourceError::bad_input(format!(
            "DEALCLOUD entry type `{}` is not in sources.dealcloud.entry_types ({})",
            crate::error::truncate_message(entry_type, 60),
            list.join(", ")
        ))))
    }

    fn history_url(&self, entry_type: &str, modified_since: Option<&str>) -> Url {
        let route = if self.all_history {
            "allHistory"
        } else {
            "history"
        };
        let query: Vec<(&str, &str)> = modified_since
            .map(|since| vec![("modifiedSince", since)])
            .unwrap_or_default();
        self.up.url(
            &[
                "api",
                "rest",
                "v4",
                "data",
                "entrydata",
                entry_type,
                "entries",
                route,
            ],
            &query,
        )
    }

    /// One data call; a 401 refreshes the token once and repeats the call once.
    async fn call(&self, scope: &RequestScope, url: Url) -> SourceResult<Arc<Fetched>> {
        self.token
            .call(&self.up, scope, || {
                self.up.get_any_status(scope, url.clone())
            })
            .await
    }

    /// The entries of one entry type modified (and, with `modified_since`, deleted) since.
    async fn entries(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_type: &str,
        modified_since: Option<DateTime<Utc>>,
    ) -> SourceResult<Answer> {
        let since_text = modified_since.map(format_utc_ms);
        let url = self.history_url(entry_type, since_text.as_deref());
        let fetched = self.call(scope, url).await?;
        if fetched.status == 400 && modified_since.is_some() {
            tracing::warn!(
                source = "DEALCLOUD",
                "modifiedSince rejected as older than 180 days"
            );
            return Ok(Answer::TooOld);
        }
        let fetched = self.up.check_for(scope, fetched)?;
        let values: Vec<Value> = self.up.decode(&fetched).map_err(Arc::new)?;
        let entries = super::decode_page(Source::Dealcloud, scope, values.iter().collect(), |v| {
            decode_item::<WireEntry>(Source::Dealcloud, v, "history entry")
                .map(|w| w.into_domain(v, subject))
        })
        .map_err(Arc::new)?;
        Ok(Answer::Entries(entries))
    }

    /// Every change of one entry type for `plan`, as of `snapshot`, in timeline order.
    async fn load(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_type: &str,
        plan: Plan,
        snapshot: DateTime<Utc>,
    ) -> SourceResult<Changes> {
        let now = Utc::now();
        let boundary = now - HISTORY_WINDOW + CLOCK_MARGIN;
        let mut warnings = Vec::new();
        if let Plan::Since(ms) = plan {
            let since = crate::domain::datetime::from_millis(ms);
            if since >= boundary {
                if let Answer::Entries(mut entries) = self
                    .entries(scope, subject, entry_type, Some(since))
                    .await?
                {
                    sort_timeline(&mut entries, snapshot);
                    return Ok(Changes { entries, warnings });
                }
            }
        }
        let (all_modified, recent) = futures::try_join!(
            self.entries(scope, subject, entry_type, None),
            self.entries(scope, subject, entry_type, Some(boundary)),
        )?;
        let mut by_id: BTreeMap<CompactString, HistoryEntry> = BTreeMap::new();
        if let Answer::Entries(entries) = all_modified {
            by_id.extend(entries.into_iter().map(|e| (e.source_id.clone(), e)));
        }
        match recent {
            Answer::Entries(entries) => {
                by_id.extend(entries.into_iter().map(|e| (e.source_id.clone(), e)));
                warnings.push(format!(
                    "DEALCLOUD keeps deletions for 180 days only: entries of `{}` deleted or merged before {} are not listed",
                    entry_type,
                    format_utc_ms(boundary)
                ));
            }
            Answer::TooOld => warnings.push(format!(
                "DEALCLOUD refused to list recent deletions of `{entry_type}`: deleted and merged entries are not listed"
            )),
        }
        let mut entries: Vec<HistoryEntry> = by_id.into_values().collect();
        sort_timeline(&mut entries, snapshot);
        Ok(Changes { entries, warnings })
    }

    /// The changes for one walk, from the cache when an earlier page of it loaded them.
    async fn changes(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_type: &str,
        since: Option<DateTime<Utc>>,
        snapshot: DateTime<Utc>,
    ) -> SourceResult<Arc<Changes>> {
        let plan = match since {
            Some(since) if since >= snapshot - HISTORY_WINDOW + CLOCK_MARGIN => {
                Plan::Since(since.timestamp_millis())
            }
            _ => Plan::Split,
        };
        let identity = self.identity(scope)?;
        let key = ChangesKey {
            identity,
            entry_type: entry_type.to_string(),
            plan,
            snapshot_ms: snapshot.timestamp_millis(),
        };
        self.changes
            .try_get_with(key, async {
                self.load(scope, subject, entry_type, plan, snapshot)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|shared: Arc<Arc<SourceError>>| shared.as_ref().clone())
    }
}

fn bad_response(message: &str) -> Arc<SourceError> {
    Arc::new(SourceError::upstream(
        Source::Dealcloud,
        ErrorCode::UpstreamBadResponse,
        message,
    ))
}

/// An entry type spelled as its numeric id.
fn is_numeric(entry_type: &str) -> bool {
    !entry_type.is_empty() && entry_type.bytes().all(|b| b.is_ascii_digit())
}

#[async_trait]
impl HistorySource for Dealcloud {
    /// An entry type's `apiName` becomes its numeric id (what DealCloud echoes as
    /// `entryListId`), so both spellings give the same ids, cursors and cached walks. The
    /// Schema API is asked only when the answer could admit the subject.
    async fn canonical_subject(&self, scope: &RequestScope, subject: &SubjectRef) -> SubjectRef {
        let SubjectRef::DealcloudEntryType { entry_type } = subject else {
            return subject.clone();
        };
        let listed = |list: &Vec<String>| {
            list.iter().any(|t| t.eq_ignore_ascii_case(entry_type))
                || list.iter().any(|t| is_numeric(t))
        };
        if is_numeric(entry_type) || !self.entry_types.as_ref().is_none_or(listed) {
            return subject.clone();
        }
        match self.entry_type_ids(scope).await {
            Ok(ids) => match ids.get(&entry_type.to_lowercase()) {
                Some(id) => SubjectRef::DealcloudEntryType {
                    entry_type: id.clone(),
                },
                None => subject.clone(),
            },
            Err(err) => {
                tracing::warn!(source = "DEALCLOUD", code = ?err.code, "entry types unavailable; the subject keeps its spelling");
                subject.clone()
            }
        }
    }

    async fn history(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        filter: &HistoryFilter,
        window: &StreamWindow,
    ) -> SourceResult<StreamPage> {
        let SubjectRef::DealcloudEntryType { entry_type } = subject else {
            return Ok(StreamPage::default());
        };
        self.check_entry_type(scope, entry_type).await?;
        let snapshot = window.snapshot;
        // Entries have no actor and no time of their own: these filters need no call.
        let no_kind = !KINDS.iter().any(|k| filter.admits_kind(*k));
        let beyond = filter.since.is_some_and(|s| s > snapshot);
        if no_kind || filter.actor_id.is_some() || beyond {
            return Ok(StreamPage::default());
        }
        if filter.until.is_some_and(|u| u <= snapshot) {
            scope.warn(
                "DEALCLOUD entries carry no timestamp (`at` is the walk's observedAt): a `filter.until` in the past excludes them",
            );
            return Ok(StreamPage::default());
        }
        let changes = self
            .changes(scope, subject, entry_type, filter.since, snapshot)
            .await?;
        for warning in &changes.warnings {
            scope.warn(warning.clone());
        }
        let matching = changes.entries.iter().filter(|e| {
            filter.matches(e, snapshot) && window.admits(&TimelineKey::of(e, snapshot))
        });
        let wanted = window.limit + 1;
        let page: Vec<HistoryEntry> = match window.direction {
            Direction::Forward => matching.take(wanted).cloned().collect(),
            Direction::Backward => {
                let mut tail: Vec<HistoryEntry> = matching.rev().take(wanted).cloned().collect();
                tail.reverse();
                tail
            }
        };
        Ok(window.take(page, false))
    }

    async fn history_entry(
        &self,
        scope: &RequestScope,
        subject: &SubjectRef,
        entry_id: &str,
        observed_at: DateTime<Utc>,
    ) -> SourceResult<Option<HistoryEntry>> {
        let SubjectRef::DealcloudEntryType { entry_type } = subject else {
            return Ok(None);
        };
        if !self.admits(scope, entry_type).await? {
            return Ok(None);
        }
        let changes = self
            .changes(scope, subject, entry_type, None, observed_at)
            .await?;
        Ok(changes
            .entries
            .iter()
            .find(|e| e.source_id == entry_id)
            .cloned())
    }
}
