//! Demo mode and test fixtures: embedded fake upstreams that follow `shared/upstreams/`
//! (shapes, paging, auth, error bodies), generated realistic data, and the gateway in front.

pub mod celigo;
pub mod fake;
pub mod rocketchat;
pub mod truto;

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
    pub rocketchat: rocketchat::RocketChatFakeConfig,
    pub truto: truto::TrutoFakeConfig,
    /// Anchor of the generated timestamps (all data lies before it).
    pub now: DateTime<Utc>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            celigo: celigo::CeligoFakeConfig::default(),
            celigo_integrations: DEMO_CELIGO_INTEGRATIONS,
            rocketchat: rocketchat::RocketChatFakeConfig::default(),
            truto: truto::TrutoFakeConfig::default(),
            now: Utc::now(),
        }
    }
}

/// The running fake upstreams, one per vendor.
pub struct DemoUpstreams {
    pub celigo: fake::RunningFake,
    pub celigo_fake: Arc<celigo::CeligoFake>,
    pub celigo_token: String,
    pub rocketchat: fake::RunningFake,
    pub rocketchat_fake: Arc<rocketchat::RocketChatFake>,
    pub truto: fake::RunningFake,
    pub truto_fake: Arc<truto::TrutoFake>,
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
        let rocketchat_data = rocketchat::RocketChatData::generate(
            DEMO_SEED,
            &options.rocketchat.user_id,
            options.now,
        );
        let rocketchat_fake = rocketchat::RocketChatFake::new(options.rocketchat, rocketchat_data);
        let rocketchat = fake::spawn(rocketchat_fake.router(), fake::FakeControl::new()).await?;
        let truto_data = truto::TrutoData::generate(DEMO_SEED, options.now);
        let truto_fake = truto::TrutoFake::new(options.truto, truto_data);
        let truto = fake::spawn(truto_fake.router(), fake::FakeControl::new()).await?;
        Ok(DemoUpstreams {
            celigo,
            celigo_fake,
            celigo_token,
            rocketchat,
            rocketchat_fake,
            truto,
            truto_fake,
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
                rocketchat: Some(SourceConfig {
                    base_url: self.rocketchat.base_url.clone(),
                    user_id: Some(self.rocketchat_fake.config().user_id.clone()),
                    auth_token: Some(SecretString::from(
                        self.rocketchat_fake.config().auth_token.clone(),
                    )),
                    ..SourceConfig::default()
                }),
                truto: Some(SourceConfig {
                    base_url: self.truto.base_url.clone(),
                    token: Some(SecretString::from(self.truto_fake.config().token.clone())),
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
    tracing::info!(celigo = %upstreams.celigo.base_url, rocketchat = %upstreams.rocketchat.base_url, truto = %upstreams.truto.base_url, "demo upstreams started");
    println!("Chronograph demo: open http://{listen}/graphql in a browser (GraphiQL)");
    println!(
        "Fake upstreams: ROCKETCHAT {}  CELIGO {}  TRUTO {}",
        upstreams.rocketchat.base_url, upstreams.celigo.base_url, upstreams.truto.base_url
    );
    println!("Try: examples/celigo-integrations.graphql, examples/rocketchat-webhook-history.graphql, examples/truto-integrations-teams.graphql");
    crate::serve(config).await
}
