//! Secrets never leave the process through upstream text. Vendors echo what they were sent:
//! a 401 body may repeat the `Authorization` header, a 400 the query string. Everything an
//! upstream says passes [`scrub`] before it reaches an error message, `Query.sources.lastError`
//! or a log line. Two nets:
//!
//! - the secrets Chronograph knows: every configured credential ([`remember_configured`]),
//!   tokens it obtained at run time and callers' own credentials ([`remember`], a bounded set
//!   of the most recent ones);
//! - the shapes secrets have: `Bearer …`/`Basic …`, `key=value` and `"key": "value"` pairs whose
//!   key names a secret, and long opaque tokens (JWTs, API keys).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, RwLock};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Shorter values are not treated as secrets by value (they would mask ordinary words).
const MIN_SECRET_LEN: usize = 6;

/// A URL fit for logs and `check-config`: its password, if any, replaced by `***` (a Redis URL
/// or a source's `base_url` may carry `user:password@`). Text that is not a URL with a host
/// loses everything before its last `@`, so no spelling of a password gets through.
pub fn url_display(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.cannot_be_a_base() => {
            let Some(password) = url.password() else {
                return text.to_string();
            };
            let written = format!(":{password}@");
            if text.contains(&written) {
                // As written (the parser would add a trailing `/`), but for the password.
                return text.replacen(&written, ":***@", 1);
            }
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => {
            let start = text.find("://").map_or(0, |at| at + 3);
            match text[start..].rfind('@') {
                Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
                None => text.to_string(),
            }
        }
    }
}

/// Run-time secrets remembered at most (the newest win).
const RECENT_CAPACITY: usize = 1_024;

static CONFIGURED: RwLock<Vec<String>> = RwLock::new(Vec::new());

struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

static RECENT: Mutex<Option<Recent>> = Mutex::new(None);

/// Remember a configured secret (token, password, client secret, API key) for the process's
/// lifetime.
pub fn remember_configured(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut known = CONFIGURED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !known.iter().any(|s| s == secret) {
        known.push(secret.to_string());
    }
}

/// Remember a secret met at run time (an obtained token, a caller's credential); only the
/// newest [`RECENT_CAPACITY`] are kept.
pub fn remember(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut guard = RECENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let recent = guard.get_or_insert_with(|| Recent {
        order: VecDeque::new(),
        set: HashSet::new(),
    });
    if recent.set.contains(secret) {
        return;
    }
    if recent.order.len() >= RECENT_CAPACITY {
        if let Some(oldest) = recent.order.pop_front() {
            recent.set.remove(&oldest);
        }
    }
    recent.order.push_back(secret.to_string());
    recent.set.insert(secret.to_string());
}

/// `text` with every known secret and everything shaped like one replaced by [`MASK`].
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    {
        let known = CONFIGURED
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
    }
    {
        let guard = RECENT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(recent) = guard.as_ref() {
            for secret in &recent.order {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), MASK);
                }
            }
        }
    }
    scrub_shapes(&out)
}

/// Key names whose values are secrets.
fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "api-key",
        "authorization",
        "auth",
        "credential",
        "session",
        "signature",
        "cookie",
    ]
    .iter()
    .any(|k| key.contains(k))
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '~')
}

/// Mask what looks like a secret whatever its value: the word after `Bearer`/`Basic`/`Token`,
/// the value of a `key=value`, `key: value` or `"key":"value"` whose key names a secret, and
/// opaque tokens of 32 characters or more that mix letters and digits (UUIDs excepted).
fn scrub_shapes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Whether the next value (after `=`/`:` and optional quotes) is a secret.
    let mut mask_next_value = false;
    while i < chars.len() {
        let c = chars[i];
        if token_char(c) {
            let start = i;
            while i < chars.len() && token_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            // `Authorization: Bearer x`: the scheme stays, the credential after it goes.
            if matches!(lower.as_str(), "bearer" | "basic") && next_is_space(&chars, i) {
                out.push_str(&word);
                mask_next_value = true;
                continue;
            }
            if mask_next_value {
                out.push_str(MASK);
                mask_next_value = false;
                continue;
            }
            if looks_opaque(&word) {
                out.push_str(MASK);
                continue;
            }
            // `key=value`, `key: value`, `"key": "value"`.
            if secret_key(&word) && assignment_follows(&chars, i) {
                mask_next_value = true;
            }
            out.push_str(&word);
            continue;
        }
        if mask_next_value && !(c == ' ' || c == '=' || c == ':' || c == '"' || c == '\'') {
            mask_next_value = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn next_is_space(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(|c| *c == ' ')
}

/// After a key: optional closing quote, optional spaces, then `=` or `:`.
fn assignment_follows(chars: &[char], mut i: usize) -> bool {
    if matches!(chars.get(i), Some('"') | Some('\'')) {
        i += 1;
    }
    while chars.get(i) == Some(&' ') {
        i += 1;
    }
    matches!(chars.get(i), Some('=') | Some(':'))
}

fn looks_opaque(word: &str) -> bool {
    if word.len() < 32 {
        return false;
    }
    let is_uuid = word.len() == 36
        && word.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if is_uuid || word.contains("://") {
        return false;
    }
    word.chars().any(|c| c.is_ascii_digit()) && word.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_wherever_they_appear() {
        remember_configured("celigo-token-abc");
        remember("caller-credential-xyz");
        let text = "bad header celigo-token-abc and caller-credential-xyz!";
        assert_eq!(scrub(text), "bad header *** and ***!");
        // Short values are not masked by value.
        remember_configured("abc");
        assert_eq!(scrub("abc def"), "abc def");
    }

    #[test]
    fn secret_shapes_are_masked() {
        assert_eq!(
            scrub_shapes("Invalid header Authorization: Bearer sk_live_1 given"),
            "Invalid header Authorization: Bearer *** given"
        );
        assert_eq!(
            scrub_shapes("bad request ?token=abc123&page=2"),
            "bad request ?token=***&page=2"
        );
        assert_eq!(
            scrub_shapes(r#"{"password": "hunter2", "user": "ann"}"#),
            r#"{"password": "***", "user": "ann"}"#
        );
        assert_eq!(
            scrub_shapes("X-Auth-Token: s3cr3t rejected"),
            "X-Auth-Token: *** rejected"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N";
        assert_eq!(
            scrub_shapes(&format!("jwt {jwt} expired")),
            "jwt *** expired"
        );
        assert_eq!(
            scrub_shapes("Invalid token provided"),
            "Invalid token provided"
        );
        // Ordinary text, ids and UUIDs stay.
        let plain =
            "integration 65f1a2b3c4d5e6f708192a3b not found (3fa85f64-5717-4562-b3fc-2c963f66afa6)";
        assert_eq!(scrub_shapes(plain), plain);
    }
}
