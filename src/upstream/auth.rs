//! How an upstream authenticates: fixed credentials, or a token an adapter obtains at run
//! time and replaces when it expires.

use super::{Fetched, RequestScope, Upstream};
use crate::error::SourceResult;
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How an adapter authenticates.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// Fixed headers (Rocket.Chat's `X-Auth-Token` + `X-User-Id`).
    Headers(Vec<(http::HeaderName, SecretString)>),
    /// `Authorization: Bearer <token>` with a token the adapter obtains and replaces at run
    /// time (Hexabase login, DealCloud OAuth2); no header until it has one.
    Dynamic(Arc<DynamicToken>),
}

/// A bearer token an adapter obtains at run time and may replace (a Hexabase login, a
/// DealCloud OAuth2 token). The generation counts replacements, so a caller that saw a token
/// rejected can tell whether someone else already replaced it, and calls made with different
/// tokens are never de-duplicated into one.
#[derive(Default)]
pub struct DynamicToken {
    pub(crate) state: Mutex<(u64, Option<SecretString>)>,
}

impl DynamicToken {
    /// A slot holding a configured token, or nothing until the adapter obtains one.
    pub fn new(initial: Option<SecretString>) -> Arc<Self> {
        Arc::new(DynamicToken {
            state: Mutex::new((0, initial)),
        })
    }

    /// How many times the token was replaced.
    pub fn generation(&self) -> u64 {
        self.state.lock().map(|s| s.0).unwrap_or(0)
    }

    /// Whether there is a token to send.
    pub fn is_set(&self) -> bool {
        self.state.lock().map(|s| s.1.is_some()).unwrap_or(false)
    }

    /// Install a new token and return its generation.
    pub fn replace(&self, token: SecretString) -> u64 {
        crate::redact::remember(token.expose_secret());
        match self.state.lock() {
            Ok(mut state) => {
                state.0 += 1;
                state.1 = Some(token);
                state.0
            }
            Err(_) => 0,
        }
    }

    pub(crate) fn bearer(&self) -> Option<SecretString> {
        self.state.lock().ok().and_then(|s| s.1.clone())
    }
}

/// How a run-time token is obtained (a login, an OAuth2 grant): the token and, when the vendor
/// says, how long it lives.
#[async_trait::async_trait]
pub trait TokenGrant: Send + Sync {
    async fn obtain(&self, up: &Upstream) -> SourceResult<(SecretString, Option<Duration>)>;
}

/// The most a token with a lifetime is replaced before it expires (a tenth of its lifetime,
/// at most this), so no call goes out with a token about to lapse.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A run-time token and the refresh-on-401 flow every vendor with one shares. The token is
/// obtained at first use and before it expires, and replaced once when a call is answered 401
/// (unless another request already replaced it); obtaining is single flight. A caller's own
/// credential is used as it is: a 401 then is the caller's to fix.
pub struct TokenProvider {
    token: Arc<DynamicToken>,
    grant: Option<Box<dyn TokenGrant>>,
    /// When the current token is to be replaced (`None`: only once rejected).
    refresh_at: Mutex<Option<Instant>>,
    single_flight: tokio::sync::Mutex<()>,
}

impl TokenProvider {
    /// A provider starting from a configured token (if any) that obtains new ones with `grant`
    /// (if any; without one a rejected token stays rejected).
    pub fn new(initial: Option<SecretString>, grant: Option<Box<dyn TokenGrant>>) -> Arc<Self> {
        Arc::new(TokenProvider {
            token: DynamicToken::new(initial),
            grant,
            refresh_at: Mutex::new(None),
            single_flight: tokio::sync::Mutex::new(()),
        })
    }

    /// The [`Auth`] of the upstream this provider's tokens are for.
    pub fn auth(&self) -> Auth {
        Auth::Dynamic(self.token.clone())
    }

    /// One call made by `send`, with a valid token, repeated once with a new token if the
    /// vendor answers 401. The answer is returned as it came (the adapter checks its status).
    pub async fn call<F, Fut>(
        &self,
        up: &Upstream,
        scope: &RequestScope,
        send: F,
    ) -> SourceResult<Arc<Fetched>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = SourceResult<Arc<Fetched>>>,
    {
        if up.caller_credential(scope).map_err(Arc::new)?.is_some() {
            return send().await;
        }
        let seen = self.ensure(up).await?;
        let fetched = send().await?;
        if !fetched.is_unauthorized() || self.grant.is_none() {
            return Ok(fetched);
        }
        self.replace_rejected(up, seen).await?;
        send().await
    }

    fn fresh(&self) -> bool {
        let due = self.refresh_at.lock().ok().and_then(|at| *at);
        self.token.is_set() && due.is_none_or(|at| Instant::now() < at)
    }

    /// A usable token's generation, obtaining one when there is none or it is due.
    async fn ensure(&self, up: &Upstream) -> SourceResult<u64> {
        if self.grant.is_none() || self.fresh() {
            return Ok(self.token.generation());
        }
        let _one = self.single_flight.lock().await;
        if !self.fresh() {
            self.obtain(up).await?;
        }
        Ok(self.token.generation())
    }

    /// Replace the token rejected with a 401, unless another request already has since.
    async fn replace_rejected(&self, up: &Upstream, seen: u64) -> SourceResult<()> {
        let _one = self.single_flight.lock().await;
        if self.token.generation() == seen {
            self.obtain(up).await?;
        }
        Ok(())
    }

    async fn obtain(&self, up: &Upstream) -> SourceResult<()> {
        let Some(grant) = &self.grant else {
            return Ok(());
        };
        let (token, lifetime) = grant.obtain(up).await?;
        let due = lifetime.map(|lifetime| {
            let margin = (lifetime / 10).min(MAX_REFRESH_MARGIN);
            Instant::now() + lifetime.saturating_sub(margin)
        });
        if let Ok(mut at) = self.refresh_at.lock() {
            *at = due;
        }
        self.token.replace(token);
        Ok(())
    }
}
