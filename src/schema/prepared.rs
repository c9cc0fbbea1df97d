//! Validation skipped for persisted documents after their first use.
//!
//! A persisted document (trusted manifest or APQ) arrives already parsed: the HTTP layer keeps
//! its syntax tree and hands it over with `Request::set_parsed_query`, so async-graphql never
//! parses it again. What is left is validation, which this extension remembers: the verdict of
//! one document, operation and set of variables (validation reads variables: argument types,
//! complexity) is kept, and an identical request later reuses it instead of walking the
//! document again. Only successful verdicts are kept: a document that fails validation runs
//! the rules (and reports its errors) every time.

use crate::metrics::Metrics;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};
use std::sync::Arc;

/// Entries of the validation cache: a verdict is a few words, so this costs well under 1 MiB.
const VALIDATION_ENTRIES: u64 = 10_000;

/// Request data set by the HTTP layer for a persisted document: a hash of the document's id,
/// the operation name and the variables. Requests without it are validated as usual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PreparedKey(pub u64);

/// The validation cache, as a schema extension.
#[derive(Clone)]
pub struct ValidationCache {
    verdicts: moka::sync::Cache<u64, ValidationResult>,
    metrics: Arc<Metrics>,
}

impl ValidationCache {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        ValidationCache {
            verdicts: moka::sync::Cache::new(VALIDATION_ENTRIES),
            metrics,
        }
    }
}

impl ExtensionFactory for ValidationCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for ValidationCache {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let Some(PreparedKey(key)) = ctx.data_opt::<PreparedKey>().copied() else {
            return next.run(ctx).await;
        };
        if let Some(verdict) = self.verdicts.get(&key) {
            self.metrics.edge.validation(true);
            return Ok(verdict);
        }
        let verdict = next.run(ctx).await;
        if let Ok(valid) = &verdict {
            self.metrics.edge.validation(false);
            self.verdicts.insert(key, *valid);
        }
        verdict
    }
}
