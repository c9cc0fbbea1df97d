//! Truto adapter: integrations and the team that owns each (upstreams/truto.md).
//!
//! The list is `GET /integration` paged by the body's `next_cursor` (null on the last page),
//! always with the same `limit`, so a team lookup and a listing in one request share their
//! calls. One integration is `GET /integration/{id}` (the singular form the contract and the
//! vendor SDK use), with `environment_id` when configured.
//!
//! Teams have no route of their own in the contract: `Integration.team` is the embedded team
//! object (no extra call), and `team(id)` walks the integration list until an integration of
//! that team shows up — at most the whole list (one call per 100 integrations), shared with any
//! listing made in the same request. Truto keeps no history: a Truto subject contributes an
//! empty stream (DESIGN.md §10), so no `HistorySource` is registered.

pub mod wire;

use super::decode_item;
use super::{IntegrationSource, Listing, SourceSet, TeamSource};
use crate::domain::{Integration, Source, Team};
use crate::error::{ErrorCode, SourceError, SourceResult};
use crate::sources::SourceConfig;
use crate::upstream::{refused_request, Auth, RequestScope, Upstream, Wiring};
use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use wire::{WireIntegration, WireList};

/// Page size of every list call (the contract advises ≤ 100).
pub const PAGE_SIZE: usize = 100;
/// Stop following `next_cursor` after this many pages of one list.
const MAX_PAGES: usize = 10_000;

/// Every route this adapter calls, as `/metrics` labels them.
pub const ROUTES: &[&str] = &["/integration/:id", "/integration"];

/// The Truto adapter.
pub struct Truto {
    up: Arc<Upstream>,
    environment_id: Option<String>,
}

/// What this adapter knows about its vendor (config keys, credentials, capabilities).
pub const VENDOR: super::Vendor = super::Vendor {
    keys: &["token", "environment_id"],
    credentials: &[&["token"]],
    user_id_header: false,
    paths: &["integration"],
    teams: true,
    writes: false,
    build: Truto::source_set,
};

impl Truto {
    /// Build the adapter and register what it provides (integrations and teams).
    pub fn source_set(wiring: &Wiring, cfg: &SourceConfig) -> Result<SourceSet, SourceError> {
        let token = cfg.token.clone().unwrap_or_else(|| SecretString::from(""));
        let up = Arc::new(Upstream::new(
            Source::Truto,
            ROUTES,
            wiring,
            cfg.base(),
            Auth::Bearer(token),
            cfg.timeout(),
        )?);
        let truto = Arc::new(Truto {
            up: up.clone(),
            environment_id: cfg.environment_id.clone(),
        });
        Ok(SourceSet {
            integrations: Some(truto.clone()),
            history: None,
            flows: None,
            teams: Some(truto),
            upstream: Some(up),
            writes: None,
        })
    }

    fn map(&self, raw: &Value) -> Option<Arc<Integration>> {
        decode_item::<WireIntegration>(Source::Truto, raw, "integration")
            .map(|w| Arc::new(w.into_domain(raw, self.environment_id.as_deref())))
    }

    /// Follow `next_cursor` from the first page until `enough(items so far)` or the last page.
    async fn walk(
        &self,
        scope: &RequestScope,
        mut enough: impl FnMut(&[Arc<Integration>]) -> bool,
    ) -> SourceResult<Listing<Arc<Integration>>> {
        let limit = PAGE_SIZE.to_string();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut visited = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(next) = cursor.as_deref() {
                query.push(("next_cursor", next));
            }
            let url = self.up.url(&["integration"], &query);
            // The list takes no client argument: a 400 refuses Chronograph's own request.
            let (page, _) = self
                .up
                .get_json::<WireList>(scope, url)
                .await
                .map_err(refused_request)?;
            items.extend(
                super::decode_page(Source::Truto, scope, page.result.iter().collect(), |raw| {
                    self.map(raw)
                })
                .map_err(Arc::new)?,
            );
            cursor = page.next_cursor.filter(|c| !c.is_empty());
            let Some(next) = cursor.as_ref() else {
                return Ok(Listing {
                    items,
                    complete: true,
                });
            };
            if !visited.insert(next.clone()) {
                break;
            }
            if enough(&items) {
                return Ok(Listing {
                    items,
                    complete: false,
                });
            }
        }
        Err(Arc::new(SourceError::upstream(
            Source::Truto,
            ErrorCode::UpstreamBadResponse,
            "TRUTO next_cursor loops back to a page already read",
        )))
    }
}

#[async_trait]
impl IntegrationSource for Truto {
    async fn list_integrations(
        &self,
        scope: &RequestScope,
        need: Option<usize>,
    ) -> SourceResult<Listing<Arc<Integration>>> {
        self.walk(scope, |items| need.is_some_and(|n| items.len() >= n))
            .await
    }

    async fn integration(
        &self,
        scope: &RequestScope,
        id: &str,
    ) -> SourceResult<Option<Arc<Integration>>> {
        let query: Vec<(&str, &str)> = self
            .environment_id
            .as_deref()
            .map(|env| ("environment_id", env))
            .into_iter()
            .collect();
        let url = self.up.url(&["integration", id], &query);
        let raw = match self.up.get_json::<Value>(scope, url).await {
            Ok((raw, _)) => raw,
            Err(err) if err.code == ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let wire: WireIntegration = serde::Deserialize::deserialize(&raw).map_err(|_| {
            Arc::new(SourceError::upstream(
                Source::Truto,
                ErrorCode::UpstreamBadResponse,
                "TRUTO integration is not in the documented shape",
            ))
        })?;
        Ok(Some(Arc::new(
            wire.into_domain(&raw, self.environment_id.as_deref()),
        )))
    }
}

#[async_trait]
impl TeamSource for Truto {
    async fn team(&self, scope: &RequestScope, id: &str) -> SourceResult<Option<Arc<Team>>> {
        let owned_by = |i: &Arc<Integration>| i.team.as_ref().is_some_and(|t| t.source_id == id);
        let listing = self.walk(scope, |items| items.iter().any(owned_by)).await?;
        Ok(listing
            .items
            .iter()
            .find(|i| owned_by(i))
            .and_then(|i| i.team.clone()))
    }
}
