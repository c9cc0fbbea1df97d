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

/// What the fakes serve; tests change page sizes, limits and data sizes here. Each vendor
/// adds its own fields.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub celigo: celigo::CeligoFakeConfig,
    pub celigo_integrations: usize,
    /// Anchor of the generated timestamps (all data lies before it).
    pub now: DateTime<Utc>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            celigo: celigo::CeligoFakeConfig::default(),
            celigo_integrations: DEMO_CELIGO_INTEGRATIONS,
            now: Utc::now(),
        }
    }
}

/// The running fake upstreams, one per vendor.
pub struct DemoUpstreams {
    pub celigo: fake::RunningFake,
    pub celigo_fake: Arc<celigo::CeligoFake>,
    pub celigo_token: String,
}

impl DemoUpstreams {
    /// Start every fake with the demo's data.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(DemoOptions::default()).await
    }

    /// Start every fake with specific options.
    pub async fn start_with(options: DemoOptions) -> std::io::Result<Self> {
        let celigo_token = options.celigo.token.clone();
        let data =
            celigo::CeligoData::generate(DEMO_SEED, options.celigo_integrations, options.now);
        let celigo_fake = celigo::CeligoFake::new(options.celigo, data);
        let celigo = fake::spawn(celigo_fake.router(), fake::FakeControl::new()).await?;
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
    let upstreams = DemoUpstreams::start().await?;
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
