//! Prometheus metrics (`GET /metrics`): requests, latency histograms, upstream calls by source,
//! route and status, retries, breaker state and cache counters. A small hand-written registry:
//! a handful of counters does not justify a metrics framework.

pub mod edge;

use crate::domain::Source;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A cumulative latency histogram.
#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (count, bound) in self.counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Upstream calls of one source by route, then by outcome.
type CallsByRoute = BTreeMap<String, BTreeMap<String, u64>>;

/// Every metric the gateway exports.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    request_latency: Mutex<Histogram>,
    /// Calls by source, route and outcome (nested so that counting one allocates nothing).
    upstream_calls: Mutex<BTreeMap<Source, CallsByRoute>>,
    upstream_latency: Mutex<BTreeMap<Source, Histogram>>,
    retries: Mutex<BTreeMap<Source, u64>>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub cache_stale_served: AtomicU64,
    pub cache_evictions: AtomicU64,
    /// Requests answered by joining an identical in-flight execution.
    pub deduplicated: AtomicU64,
    /// In-process misses answered fresh from Redis (another replica fetched them).
    pub cache_l2_hits: AtomicU64,
    /// In-process misses that Redis could not answer fresh either.
    pub cache_l2_misses: AtomicU64,
    /// Redis operations that failed or timed out (the replica carried on without Redis).
    pub redis_errors: AtomicU64,
    /// Upstream calls not made because a replica recorded a rate-limit or breaker pause.
    pub shared_pauses: AtomicU64,
    /// Persisted documents, their validation cache and per-client rate limits.
    pub edge: edge::EdgeMetrics,
}

impl Metrics {
    /// One HTTP request to the gateway.
    pub fn request(&self, path: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((path.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut hist) = self.request_latency.lock() {
            hist.observe(elapsed.as_secs_f64());
        }
    }

    /// One upstream attempt; `outcome` is the HTTP status or an error class.
    pub fn upstream(&self, source: Source, route: &str, outcome: &str, elapsed: Duration) {
        if let Ok(mut map) = self.upstream_calls.lock() {
            let routes = map.entry(source).or_default();
            match routes.get_mut(route).and_then(|o| o.get_mut(outcome)) {
                Some(n) => *n += 1,
                None => {
                    *routes
                        .entry(route.to_string())
                        .or_default()
                        .entry(outcome.to_string())
                        .or_default() += 1
                }
            }
        }
        if let Ok(mut map) = self.upstream_latency.lock() {
            map.entry(source)
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    /// One retry of an upstream call.
    pub fn retry(&self, source: Source) {
        if let Ok(mut map) = self.retries.lock() {
            *map.entry(source).or_default() += 1;
        }
    }

    /// The Prometheus text exposition; `breakers` is each configured source's state and
    /// `pollers` the number of running subscription pollers.
    pub fn render(&self, breakers: &[(Source, &'static str)], pollers: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP chronograph_subscription_pollers Running change-feed pollers (one per subject set).\n");
        out.push_str("# TYPE chronograph_subscription_pollers gauge\n");
        let _ = writeln!(out, "chronograph_subscription_pollers {pollers}");
        out.push_str(
            "# HELP chronograph_http_requests_total HTTP requests served, by path and status.\n",
        );
        out.push_str("# TYPE chronograph_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((path, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "chronograph_http_requests_total{{path=\"{path}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP chronograph_http_request_duration_seconds Latency of HTTP requests.\n",
        );
        out.push_str("# TYPE chronograph_http_request_duration_seconds histogram\n");
        if let Ok(hist) = self.request_latency.lock() {
            hist.render(&mut out, "chronograph_http_request_duration_seconds", "");
        }
        out.push_str("# HELP chronograph_upstream_calls_total Upstream attempts, by source, route and outcome.\n");
        out.push_str("# TYPE chronograph_upstream_calls_total counter\n");
        if let Ok(map) = self.upstream_calls.lock() {
            for (source, routes) in map.iter() {
                for (route, outcomes) in routes {
                    for (outcome, n) in outcomes {
                        let _ = writeln!(
                            out,
                            "chronograph_upstream_calls_total{{source=\"{}\",route=\"{route}\",outcome=\"{outcome}\"}} {n}",
                            source.as_str()
                        );
                    }
                }
            }
        }
        out.push_str(
            "# HELP chronograph_upstream_duration_seconds Latency of upstream attempts.\n",
        );
        out.push_str("# TYPE chronograph_upstream_duration_seconds histogram\n");
        if let Ok(map) = self.upstream_latency.lock() {
            for (source, hist) in map.iter() {
                hist.render(
                    &mut out,
                    "chronograph_upstream_duration_seconds",
                    &format!("source=\"{}\"", source.as_str()),
                );
            }
        }
        out.push_str("# HELP chronograph_upstream_retries_total Retried upstream calls.\n");
        out.push_str("# TYPE chronograph_upstream_retries_total counter\n");
        if let Ok(map) = self.retries.lock() {
            for (source, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "chronograph_upstream_retries_total{{source=\"{}\"}} {n}",
                    source.as_str()
                );
            }
        }
        out.push_str("# HELP chronograph_breaker_state Circuit breaker state (0 closed, 1 half-open, 2 open).\n");
        out.push_str("# TYPE chronograph_breaker_state gauge\n");
        for (source, state) in breakers {
            let value = match *state {
                "OPEN" => 2,
                "HALF_OPEN" => 1,
                _ => 0,
            };
            let _ = writeln!(
                out,
                "chronograph_breaker_state{{source=\"{}\"}} {value}",
                source.as_str()
            );
        }
        for (name, help, counter) in [
            (
                "chronograph_cache_hits_total",
                "Upstream answers served from the cache.",
                &self.cache_hits,
            ),
            (
                "chronograph_cache_misses_total",
                "Cache lookups that went upstream.",
                &self.cache_misses,
            ),
            (
                "chronograph_cache_stale_served_total",
                "Stale answers served because the upstream failed.",
                &self.cache_stale_served,
            ),
            (
                "chronograph_cache_evictions_total",
                "Entries evicted from the cache (size or expiry).",
                &self.cache_evictions,
            ),
            (
                "chronograph_requests_deduplicated_total",
                "Queries answered by an identical in-flight execution.",
                &self.deduplicated,
            ),
            (
                "chronograph_cache_l2_hits_total",
                "In-process cache misses answered fresh from Redis.",
                &self.cache_l2_hits,
            ),
            (
                "chronograph_cache_l2_misses_total",
                "In-process cache misses Redis could not answer fresh.",
                &self.cache_l2_misses,
            ),
            (
                "chronograph_redis_errors_total",
                "Redis operations that failed or timed out (served without Redis).",
                &self.redis_errors,
            ),
            (
                "chronograph_upstream_shared_pauses_total",
                "Upstream calls not made because a replica recorded a rate-limit or breaker pause.",
                &self.shared_pauses,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        self.edge.render(&mut out);
        out
    }
}

/// An adapter's route templates, split into segments (last first) once, when its upstream is
/// built: labelling a call then only compares segments (this runs for every upstream call).
pub struct RouteLabels {
    templates: Vec<(&'static str, Vec<&'static str>)>,
}

impl RouteLabels {
    pub fn new(routes: &'static [&'static str]) -> Self {
        RouteLabels {
            templates: routes
                .iter()
                .map(|&template| (template, reversed_segments(template).collect()))
                .collect(),
        }
    }

    /// The route label of an upstream call: the first of the adapter's fixed route templates
    /// (`/v1/integrations/:id/flows`, `:id` standing for one segment) that the path ends with,
    /// or `other`. Labels come only from templates, never from the path itself, so no request,
    /// whatever ids it sends, can add a time series.
    pub fn label(&self, path: &str) -> &'static str {
        // The path's segments, last first; a template matches when its segments, last first,
        // equal them (`:id` matches any).
        let mut segments = [""; 12];
        let mut count = 0;
        for segment in reversed_segments(path) {
            if count == segments.len() {
                break;
            }
            segments[count] = segment;
            count += 1;
        }
        let path_segments = &segments[..count];
        self.templates
            .iter()
            .find(|(_, parts)| {
                parts.len() <= path_segments.len()
                    && parts
                        .iter()
                        .zip(path_segments)
                        .all(|(part, seg)| *part == ":id" || part == seg)
            })
            .map_or("other", |(template, _)| template)
    }
}

/// The non-empty `/`-separated segments of `path`, last first.
fn reversed_segments(path: &str) -> impl Iterator<Item = &str> {
    path.rsplit('/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_never_paths() {
        const ROUTES: &[&str] = &[
            "/v1/integrations/:id/flows",
            "/v1/integrations/:id",
            "/v1/integrations",
        ];
        assert_eq!(
            RouteLabels::new(ROUTES).label("/v1/integrations/65f0c2d1a4b7e9001c3d8e10/flows"),
            "/v1/integrations/:id/flows"
        );
        assert_eq!(
            RouteLabels::new(ROUTES).label("/v1/integrations/rand123"),
            "/v1/integrations/:id"
        );
        assert_eq!(
            RouteLabels::new(ROUTES).label("/v1/integrations"),
            "/v1/integrations"
        );
        // A base URL with a path of its own is a prefix.
        assert_eq!(
            RouteLabels::new(ROUTES).label("/proxy/v1/integrations"),
            "/v1/integrations"
        );
        assert_eq!(RouteLabels::new(ROUTES).label("/v1/unknown/route"), "other");
    }

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.request("/graphql", 200, Duration::from_millis(12));
        metrics.upstream(
            Source::Celigo,
            "/v1/integrations",
            "200",
            Duration::from_millis(3),
        );
        metrics.retry(Source::Celigo);
        let text = metrics.render(&[(Source::Celigo, "OPEN")], 0);
        assert!(
            text.contains("chronograph_http_requests_total{path=\"/graphql\",status=\"200\"} 1")
        );
        assert!(text.contains("chronograph_upstream_calls_total{source=\"CELIGO\",route=\"/v1/integrations\",outcome=\"200\"} 1"));
        assert!(text.contains("chronograph_upstream_retries_total{source=\"CELIGO\"} 1"));
        assert!(text.contains("chronograph_breaker_state{source=\"CELIGO\"} 2"));
        assert!(text.contains("chronograph_http_request_duration_seconds_bucket{le=\"0.025\"} 1"));
    }
}
