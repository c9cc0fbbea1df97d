//! Demo mode and test fixtures: embedded fake upstreams that follow `shared/upstreams/`
//! (shapes, paging, auth, error bodies), generated realistic data, and the gateway in front.

pub mod celigo;
pub mod fake;

use crate::config::{Config, ServerConfig, SourceConfig, SourcesConfig};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::sync::Arc;

/// Number of Celigo integrations the demo generates.
pub const DEMO_CELIGO_INTEGRATIONS: usize = 48;
/// Seed of the demo data (fixed: the same data on every start).
pub const DEMO_SEED: u64 = 20_240_514;

/// The running fake upstreams.
pub struct DemoUpstreams {
    pub celigo: fake::RunningFake,
    pub celigo_fake: Arc<celigo::CeligoFake>,
    pub celigo_token: String,
}

impl DemoUpstreams {
    /// Start every fake with generated data anchored at `now`.
    pub async fn start(now: DateTime<Utc>) -> std::io::Result<Self> {
        Self::start_with(
            celigo::CeligoFakeConfig::default(),
            DEMO_CELIGO_INTEGRATIONS,
            now,
        )
        .await
    }

    /// Start with a specific Celigo fake configuration (tests shrink page sizes, add limits).
    pub async fn start_with(
        celigo_config: celigo::CeligoFakeConfig,
        integrations: usize,
        now: DateTime<Utc>,
    ) -> std::io::Result<Self> {
        let celigo_token = celigo_config.token.clone();
        let data = celigo::CeligoData::generate(DEMO_SEED, integrations, now);
        let celigo_fake = celigo::CeligoFake::new(celigo_config, data);
        let control = fake::FakeControl::new();
        let celigo = fake::spawn(celigo_fake.router(), control).await?;
        Ok(DemoUpstreams {
            celigo,
            celigo_fake,
            celigo_token,
        })
    }

    /// A gateway config pointing every source at its fake.
    pub fn config(&self, listen: &str) -> Config {
        Config {
            server: ServerConfig {
                listen: listen.to_string(),
                ..ServerConfig::default()
            },
            cache: Default::default(),
            sources: SourcesConfig {
                celigo: Some(SourceConfig {
                    base_url: self.celigo.base_url.clone(),
                    token: Some(SecretString::from(self.celigo_token.clone())),
                    ..SourceConfig::default()
                }),
                ..SourcesConfig::default()
            },
        }
    }
}

/// `chronograph demo`: fakes on ephemeral ports, the gateway on `listen`.
pub async fn run(listen: &str) -> anyhow::Result<()> {
    let upstreams = DemoUpstreams::start(Utc::now()).await?;
    let config = upstreams.config(listen);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    tracing::info!(celigo = %upstreams.celigo.base_url, "demo upstreams started");
    println!("Chronograph demo: open http://{listen}/graphql in a browser (GraphiQL)");
    println!("Fake upstreams: CELIGO {}", upstreams.celigo.base_url);
    println!("Try: examples/celigo-integrations.graphql");
    crate::serve(config).await
}
