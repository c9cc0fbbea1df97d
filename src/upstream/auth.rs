//! How an upstream authenticates: fixed credentials, or a token an adapter obtains at run
//! time and replaces when it expires.

use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};

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
