//! Demo mode and test fixtures: embedded fake upstreams that follow the vendors' documented APIs
//! (shapes, paging, auth, error bodies; see `contract/`), generated realistic data, and the
//! gateway in front.

pub mod celigo;
pub mod dealcloud;
pub mod fake;
pub mod github;
pub mod hexabase;
pub mod rocketchat;
pub mod truto;

use crate::config::{Config, ServerConfig, SourceConfig, SourcesConfig};
use crate::domain::Source;
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
    pub hexabase: hexabase::HexabaseFakeConfig,
    /// Point the gateway at Hexabase with the fake's API token instead of email + password.
    pub hexabase_use_token: bool,
    pub dealcloud: dealcloud::DealcloudFakeConfig,
    pub github: github::GithubFakeConfig,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            celigo: celigo::CeligoFakeConfig::default(),
            celigo_integrations: DEMO_CELIGO_INTEGRATIONS,
            rocketchat: rocketchat::RocketChatFakeConfig::default(),
            truto: truto::TrutoFakeConfig::default(),
            now: Utc::now(),
            hexabase: hexabase::HexabaseFakeConfig::default(),
            hexabase_use_token: false,
            dealcloud: dealcloud::DealcloudFakeConfig::default(),
            github: github::GithubFakeConfig::default(),
        }
    }
}

/// The running fake upstreams, one per vendor.
pub struct DemoUpstreams {
    pub celigo: fake::RunningFake,
    pub celigo_fake: Arc<celigo::CeligoFake>,
    pub celigo_token: String,
    pub hexabase: fake::RunningFake,
    pub hexabase_fake: Arc<hexabase::HexabaseFake>,
    pub hexabase_config: hexabase::HexabaseFakeConfig,
    pub hexabase_use_token: bool,
    pub dealcloud: fake::RunningFake,
    pub dealcloud_fake: Arc<dealcloud::DealcloudFake>,
    pub dealcloud_config: dealcloud::DealcloudFakeConfig,
    pub rocketchat: fake::RunningFake,
    pub rocketchat_fake: Arc<rocketchat::RocketChatFake>,
    pub truto: fake::RunningFake,
    pub truto_fake: Arc<truto::TrutoFake>,
    /// GitHub webhooks, read through a declared source (`examples/github-deliveries.toml`).
    pub github: fake::RunningFake,
    pub github_fake: Arc<github::GithubFake>,
}

/// The declared source of the demo, as shipped in `examples/`.
pub const GITHUB_EXAMPLE: &str = include_str!("../../examples/github-deliveries.toml");
/// Its name.
pub const GITHUB_SOURCE: &str = "github_deliveries";

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
        let hexabase_data = hexabase::HexabaseData::generate(DEMO_SEED, options.now);
        let hexabase_fake = hexabase::HexabaseFake::new(options.hexabase.clone(), hexabase_data);
        let hexabase = fake::spawn(hexabase_fake.router(), fake::FakeControl::new()).await?;
        let dealcloud_data = dealcloud::DealcloudData::generate(
            DEMO_SEED,
            options.now,
            options.dealcloud.bulk_interactions,
        );
        let dealcloud_fake =
            dealcloud::DealcloudFake::new(options.dealcloud.clone(), dealcloud_data);
        let dealcloud = fake::spawn(dealcloud_fake.router(), fake::FakeControl::new()).await?;
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
        let github_fake = github::GithubFake::new(
            options.github,
            github::GithubData::generate(DEMO_SEED, options.now),
        );
        let github = fake::spawn(github_fake.router(), fake::FakeControl::new()).await?;
        Ok(DemoUpstreams {
            celigo,
            celigo_fake,
            celigo_token,
            hexabase,
            hexabase_fake,
            hexabase_config: options.hexabase,
            hexabase_use_token: options.hexabase_use_token,
            dealcloud,
            dealcloud_fake,
            dealcloud_config: options.dealcloud,
            rocketchat,
            rocketchat_fake,
            truto,
            truto_fake,
            github,
            github_fake,
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
            telemetry: Default::default(),
            sources: {
                let mut sources = SourcesConfig::default();
                for source in Source::ALL {
                    if let Some(slot) = sources.slot(source) {
                        *slot = Some(self.source_config(source));
                    }
                }
                if let Some(declared) = self.github_source() {
                    sources.declared.insert(GITHUB_SOURCE.to_string(), declared);
                }
                sources
            },
        }
    }

    /// The shipped GitHub example pointed at the fake, with the fake's token.
    pub fn github_source(&self) -> Option<crate::sources::declared::settings::HttpSourceConfig> {
        let config = Config::from_toml_str(GITHUB_EXAMPLE).ok()?;
        let mut declared = config.sources.declared.get(GITHUB_SOURCE)?.clone();
        declared.base_url = self.github.base_url.clone();
        if let Some(auth) = declared.auth.as_mut() {
            auth.token = Some(SecretString::from(self.github_fake.config().token.clone()));
        }
        Some(declared)
    }

    /// The fake serving `source`.
    pub fn fake(&self, source: Source) -> &fake::RunningFake {
        match source {
            Source::Celigo => &self.celigo,
            Source::Dealcloud => &self.dealcloud,
            Source::Hexabase => &self.hexabase,
            Source::Rocketchat => &self.rocketchat,
            Source::Truto => &self.truto,
            Source::Declared(_) => &self.github,
        }
    }

    /// `[sources.<name>]` pointing at the source's fake, with the fake's credentials.
    fn source_config(&self, source: Source) -> SourceConfig {
        let base_url = self.fake(source).base_url.clone();
        match source {
            Source::Celigo => SourceConfig {
                base_url,
                token: Some(SecretString::from(self.celigo_token.clone())),
                ..SourceConfig::default()
            },
            Source::Hexabase => self.hexabase_source(),
            Source::Dealcloud => SourceConfig {
                base_url,
                client_id: Some(self.dealcloud_config.client_id.clone()),
                client_secret: Some(SecretString::from(
                    self.dealcloud_config.client_secret.clone(),
                )),
                // Names only: subjects may still use the ids (the Schema API maps them).
                entry_types: Some(
                    dealcloud::ENTRY_TYPES
                        .iter()
                        .map(|(_, name)| name.to_string())
                        .collect(),
                ),
                ..SourceConfig::default()
            },
            Source::Rocketchat => SourceConfig {
                base_url,
                user_id: Some(self.rocketchat_fake.config().user_id.clone()),
                auth_token: Some(SecretString::from(
                    self.rocketchat_fake.config().auth_token.clone(),
                )),
                ..SourceConfig::default()
            },
            Source::Truto => SourceConfig {
                base_url,
                token: Some(SecretString::from(self.truto_fake.config().token.clone())),
                ..SourceConfig::default()
            },
            Source::Declared(_) => SourceConfig {
                base_url,
                ..SourceConfig::default()
            },
        }
    }
}

impl DemoUpstreams {
    /// Hexabase pointed at its fake: log in with email + password, or the issued API token.
    fn hexabase_source(&self) -> SourceConfig {
        let credentials = &self.hexabase_config;
        let base = SourceConfig {
            base_url: self.hexabase.base_url.clone(),
            ..SourceConfig::default()
        };
        if self.hexabase_use_token {
            SourceConfig {
                token: Some(SecretString::from(credentials.api_token.clone())),
                ..base
            }
        } else {
            SourceConfig {
                email: Some(credentials.email.clone()),
                password: Some(SecretString::from(credentials.password.clone())),
                ..base
            }
        }
    }
}

/// `chronograph demo`: the gateway on `listen` (bound first, so a taken port fails before the
/// banner says where to connect), fakes on ephemeral ports.
pub async fn run(listen: &str) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        anyhow::anyhow!("--listen: `{listen}` is not an address like 127.0.0.1:8000")
    })?;
    let listener = crate::bind(addr, "--listen").await?;
    let upstreams = DemoUpstreams::start().await?;
    let config = upstreams.config(listen);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let mut open = listener.local_addr()?;
    if open.ip().is_unspecified() {
        open.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!("Chronograph demo: open http://{open}/graphql in a browser (GraphiQL)");
    println!("Fake upstreams (in-process, following the vendors' documented APIs):");
    for source in config.sources.configured() {
        let (name, fake) = (source.as_str(), upstreams.fake(source));
        println!("  {name:<17} {}", fake.base_url);
        tracing::info!(source = name, url = %fake.base_url, "demo upstream started");
    }
    println!("Try the queries in examples/ (celigo-integrations.graphql, rocketchat-webhook-history.graphql,");
    println!("truto-integrations-teams.graphql, hexabase-item-history.graphql, dealcloud-changes.graphql,");
    println!("declared-source-timeline.graphql: GITHUB_DELIVERIES is declared in examples/github-deliveries.toml).");
    crate::serve(config, listener).await
}
