//! Counters of the production edge: persisted documents, the validation cache they use, and
//! per-client rate limits. Labels come from fixed sets only (never a document id, key or
//! address), so no client can add a time series.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// What happened to a request that named a persisted document (or, with `persisted_only`, any
/// request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistedOutcome {
    /// Found in the manifest or the APQ store: the client sent no text.
    Hit,
    /// Not found: answered `PERSISTED_QUERY_NOT_FOUND`.
    Miss,
    /// An APQ hash sent with its document, stored for the next request.
    Registered,
    /// Refused by `persisted_only` (a document not in the manifest).
    Refused,
}

/// The kind of client a rate limit was counted against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientClass {
    ApiKey,
    Credential,
    Address,
}

impl ClientClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientClass::ApiKey => "api_key",
            ClientClass::Credential => "credential",
            ClientClass::Address => "address",
        }
    }

    const ALL: [ClientClass; 3] = [
        ClientClass::ApiKey,
        ClientClass::Credential,
        ClientClass::Address,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The edge's counters.
#[derive(Default)]
pub struct EdgeMetrics {
    persisted: [AtomicU64; 4],
    validation_hits: AtomicU64,
    validation_misses: AtomicU64,
    allowed: [AtomicU64; 3],
    limited: [AtomicU64; 3],
    /// Rate-limit decisions taken by this replica alone because Redis did not answer.
    pub rate_limit_local_fallbacks: AtomicU64,
}

impl EdgeMetrics {
    pub fn persisted(&self, outcome: PersistedOutcome) {
        self.persisted[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A validation verdict reused (`true`) or computed and kept (`false`).
    pub fn validation(&self, hit: bool) {
        let counter = match hit {
            true => &self.validation_hits,
            false => &self.validation_misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rate_limit(&self, class: ClientClass, allowed: bool) {
        let counters = match allowed {
            true => &self.allowed,
            false => &self.limited,
        };
        counters[class.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP chronograph_persisted_documents_total Requests naming a persisted document (APQ hash or documentId), by outcome.\n");
        out.push_str("# TYPE chronograph_persisted_documents_total counter\n");
        for (outcome, name) in [
            (PersistedOutcome::Hit, "hit"),
            (PersistedOutcome::Miss, "miss"),
            (PersistedOutcome::Registered, "registered"),
            (PersistedOutcome::Refused, "refused"),
        ] {
            let _ = writeln!(
                out,
                "chronograph_persisted_documents_total{{outcome=\"{name}\"}} {}",
                load(&self.persisted[outcome as usize])
            );
        }
        out.push_str("# HELP chronograph_validation_cache_total Validation of persisted documents: reused (hit) or run and kept (miss).\n");
        out.push_str("# TYPE chronograph_validation_cache_total counter\n");
        let _ = writeln!(
            out,
            "chronograph_validation_cache_total{{outcome=\"hit\"}} {}\nchronograph_validation_cache_total{{outcome=\"miss\"}} {}",
            load(&self.validation_hits),
            load(&self.validation_misses)
        );
        out.push_str("# HELP chronograph_rate_limit_total Requests checked against [server.rate_limit], by client class and outcome.\n");
        out.push_str("# TYPE chronograph_rate_limit_total counter\n");
        for class in ClientClass::ALL {
            for (outcome, counters) in [("allowed", &self.allowed), ("limited", &self.limited)] {
                let _ = writeln!(
                    out,
                    "chronograph_rate_limit_total{{client=\"{}\",outcome=\"{outcome}\"}} {}",
                    class.as_str(),
                    load(&counters[class.index()])
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP chronograph_rate_limit_local_fallbacks_total Rate-limit decisions this replica took alone because Redis did not answer.\n# TYPE chronograph_rate_limit_local_fallbacks_total counter\nchronograph_rate_limit_local_fallbacks_total {}",
            load(&self.rate_limit_local_fallbacks)
        );
    }
}
