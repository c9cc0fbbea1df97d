//! The playground: GraphiQL served by the binary itself, with no network at build or run time.
//!
//! React, ReactDOM, GraphiQL (script and styles) and graphql-ws are pinned production builds
//! vendored in `assets/graphiql/` (versions, licences and checksums in its README) and embedded
//! here; they are served under `/playground/assets/<name>-<version>…`, so a name never changes
//! meaning and browsers may keep them for a year. The page references no other origin, and its
//! `Content-Security-Policy` forbids any: a proxy, an air gap or a compromised CDN cannot blank
//! or hijack it. It opens with the README's first query ("A first query"), and with the header
//! editor open on `Authorization: Bearer …` when `server.api_keys` are set.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::OnceLock;

/// Where the page is.
pub const PAGE: &str = "/playground";

/// The page may load its own scripts, styles, fonts and images and talk to its own origin
/// (HTTP and WebSocket), nothing else; it may not be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Assets are versioned by name: a year, never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The embedded files: name, media type, content.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    ),
    (
        "graphiql-4.1.2.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.js"),
    ),
    (
        "graphiql-4.1.2.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.css"),
    ),
    (
        "graphql-ws-5.16.2.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphql-ws-5.16.2.min.js"),
    ),
    (
        "chronograph-playground.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/chronograph-playground.js"),
    ),
    (
        "chronograph-playground.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/chronograph-playground.css"),
    ),
];

const TEMPLATE: &str = include_str!("../../assets/graphiql/playground.html");
const README: &str = include_str!("../../README.md");

/// The query of the README's "A first query" section: what the playground opens with.
pub fn first_query() -> &'static str {
    static QUERY: OnceLock<String> = OnceLock::new();
    QUERY.get_or_init(|| {
        README
            .split_once("## A first query")
            .and_then(|(_, rest)| rest.split_once("```graphql\n"))
            .and_then(|(_, rest)| rest.split_once("\n```"))
            .map(|(query, _)| query.to_string())
            .unwrap_or_else(|| "{ sources { source healthy } }".to_string())
    })
}

/// The page's HTML (the same for every request of one configuration).
pub fn page(api_keys: bool) -> String {
    // Inside a <script> element only `</` could end it early.
    let query = first_query().replace("</", "<\\/");
    TEMPLATE
        .replace("{{API_KEYS}}", if api_keys { "true" } else { "false" })
        .replace("{{FIRST_QUERY}}", &query)
}

/// The page, with its security headers; revalidated on every load (it is small).
pub fn page_response(api_keys: bool) -> Response {
    static PAGES: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let html = PAGES[usize::from(api_keys)].get_or_init(|| page(api_keys));
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html.as_str(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /playground/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(known, _, _)| *known == name) {
        Some((_, media_type, body)) => (
            [
                (header::CONTENT_TYPE, *media_type),
                (header::CACHE_CONTROL, IMMUTABLE),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /`: to the playground.
pub async fn root() -> Redirect {
    Redirect::temporary(PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_the_readmes_first_query() {
        let query = first_query();
        assert!(
            query.starts_with("{\n  integrations(source: CELIGO, first: 5)"),
            "{query}"
        );
        assert!(page(false).contains("integrations(source: CELIGO, first: 5)"));
        assert!(page(true).contains("data-api-keys=\"true\""));
    }

    #[test]
    fn the_page_names_no_other_origin() {
        let html = page(true);
        for needle in ["http:", "https:", "//cdn", "unpkg", "jsdelivr"] {
            assert!(!html.contains(needle), "{needle} in the page");
        }
        for src in html
            .split("src=\"")
            .skip(1)
            .chain(html.split("href=\"").skip(1))
        {
            let path = src.split('"').next().unwrap_or_default();
            if path.starts_with("data:") {
                continue;
            }
            let name = path.strip_prefix("/playground/assets/").unwrap_or(path);
            assert!(
                ASSETS.iter().any(|(known, _, _)| *known == name),
                "{path} is not embedded"
            );
        }
    }
}
