//! The HTTP client every source shares: hyper's pooled client (HTTP/1.1, and HTTP/2 where TLS
//! negotiates it) over rustls with the webpki roots. One exchange is one call of
//! [`HttpClient::exchange`]: the request with its headers (and `Accept: application/json`), the whole answer read under a size
//! cap and a deadline, gzip bodies decoded, and same-host redirects of reads followed.
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and `NO_PROXY` (either case) are honoured:
//! a destination they send through a proxy is reached by an HTTP `CONNECT` tunnel (with the
//! proxy URL's user and password as `Proxy-Authorization: Basic`).
//!
//! It replaces `reqwest`, whose layers (URL re-parsing of every answer, redirect and proxy
//! policies, decompression streams) cost about as much per call as hyper itself; Chronograph
//! makes dozens of calls per query (issue 14, `benches/RESULTS.md`).

use super::errors::too_large;
use super::transport::Fetched;
use crate::domain::Source;
use crate::error::{ErrorCode, SourceError};
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, USER_AGENT,
};
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use url::Url;

/// Largest read buffer a pooled HTTP/1 connection keeps.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Redirects of a read followed before the answer is taken as it is.
const MAX_REDIRECTS: usize = 5;

/// The shared client: connection pools per host, cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<Connector>, Full<Bytes>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TCP connections, direct or through the proxy the environment names for the destination.
#[derive(Clone)]
pub struct Connector {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower::Service::<http::Uri>::poll_ready(&mut self.direct, cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        match self.proxies.intercept(&dst) {
            None => Box::pin(async move { direct.call(dst).await.map_err(Into::into) }),
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { tunnel.call(dst).await.map_err(Into::into) })
            }
        }
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

/// One request to send.
pub struct Outgoing<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// For the whole exchange: connecting, sending, and reading the answer to its end.
    pub timeout: Duration,
    pub max_body: usize,
}

impl HttpClient {
    /// The client, with the proxies the environment names.
    pub fn new() -> Result<Self, SourceError> {
        Self::with_proxies(Matcher::from_env())
    }

    /// The client, sending what `proxies` intercepts through them.
    pub fn with_proxies(proxies: Matcher) -> Result<Self, SourceError> {
        let unusable = |_| SourceError::internal("could not build the HTTP client");
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(3)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(Connector {
                direct: http,
                proxies: Arc::new(proxies),
            });
        let client = Client::builder(TokioExecutor::new())
            // A connection's read buffer grows with the bodies it reads and is kept while the
            // connection idles in the pool; bodies are copied out chunk by chunk anyway, so a
            // smaller ceiling only costs more reads of large bodies (hyper's is ~408 KiB).
            .http1_max_buf_size(MAX_READ_BUFFER)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(HttpClient { client })
    }

    /// Send `out` and read its whole answer, whatever the status; transport failures, an
    /// answer over the size cap or cut short, and the deadline passing are errors.
    pub async fn exchange(
        &self,
        source: Source,
        out: Outgoing<'_>,
    ) -> Result<Fetched, SourceError> {
        match tokio::time::timeout(out.timeout, self.follow(source, &out)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(source)),
        }
    }

    async fn follow(&self, source: Source, out: &Outgoing<'_>) -> Result<Fetched, SourceError> {
        let mut fetched = self.once(source, out, out.url).await?;
        if out.method != Method::GET {
            return Ok(fetched);
        }
        let mut at = out.url.clone();
        for _ in 0..MAX_REDIRECTS {
            let Some(next) = redirect_target(&at, &fetched) else {
                break;
            };
            fetched = self.once(source, out, &next).await?;
            at = next;
        }
        Ok(fetched)
    }

    async fn once(
        &self,
        source: Source,
        out: &Outgoing<'_>,
        url: &Url,
    ) -> Result<Fetched, SourceError> {
        let uri: http::Uri = url.as_str().parse().map_err(|_| {
            SourceError::upstream(
                source,
                ErrorCode::BadUserInput,
                format!(
                    "an id or argument for {} makes no valid URL",
                    source.as_str()
                ),
            )
        })?;
        let mut request = http::Request::new(Full::new(out.body.clone().unwrap_or_default()));
        *request.method_mut() = out.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.clone_from(&out.headers);
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| transport_error(source, &err))?;
        let (parts, mut body) = response.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > out.max_body as u64) {
            return Err(too_large(source));
        }
        // Sized from Content-Length where given (already checked against the cap), so a large
        // body is not grown by doubling into twice its size.
        let mut bytes = Vec::with_capacity(declared.map_or(0, |len| len as usize));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| cut_short(source))?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if bytes.len() + chunk.len() > out.max_body {
                return Err(too_large(source));
            }
            // Copied out of hyper's read buffer: a chunk kept as it is would keep that whole
            // buffer alive in the cache, which weighs only the body's length.
            bytes.extend_from_slice(&chunk);
        }
        // Likewise, give back what doubling left unused.
        if bytes.capacity() - bytes.len() > bytes.len() / 8 {
            bytes.shrink_to_fit();
        }
        let mut body = Bytes::from(bytes);
        let mut headers = parts.headers;
        if is_gzip(&headers) {
            body = gunzip(source, &body, out.max_body)?;
            headers.remove(CONTENT_ENCODING);
            headers.remove(CONTENT_LENGTH);
        }
        Ok(Fetched {
            status: parts.status.as_u16(),
            headers,
            body,
        })
    }
}

const AGENT: &str = concat!("chronograph/", env!("CARGO_PKG_VERSION"));

fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

/// A gzip body decoded, under the same size cap as any body.
fn gunzip(source: Source, body: &[u8], max_body: usize) -> Result<Bytes, SourceError> {
    let mut plain = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(body).take(max_body as u64 + 1);
    decoder.read_to_end(&mut plain).map_err(|_| {
        SourceError::upstream(
            source,
            ErrorCode::UpstreamBadResponse,
            format!("{} sent a gzip body that does not decode", source.as_str()),
        )
    })?;
    if plain.len() > max_body {
        return Err(too_large(source));
    }
    Ok(Bytes::from(plain))
}

/// Where a redirect of a read leads, when it is followed: to the same host (and port, or the
/// https of an http origin) only, so credentials never travel to another origin.
fn redirect_target(from: &Url, fetched: &Fetched) -> Option<Url> {
    if !matches!(fetched.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = fetched.headers.get(http::header::LOCATION)?.to_str().ok()?;
    let to = from.join(location).ok()?;
    let same_host = to.host_str() == from.host_str();
    let same_origin = same_host
        && to.scheme() == from.scheme()
        && to.port_or_known_default() == from.port_or_known_default();
    let upgraded = same_host
        && from.scheme() == "http"
        && to.scheme() == "https"
        && to.port_or_known_default() == Some(443);
    (same_origin || upgraded).then_some(to)
}

fn timed_out(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamTimeout,
        format!("{} did not answer in time", source.as_str()),
    )
}

fn cut_short(source: Source) -> SourceError {
    SourceError::upstream(
        source,
        ErrorCode::UpstreamBadResponse,
        format!("{} response body was cut short", source.as_str()),
    )
}

/// A failed exchange: a connection that timed out is a timeout, anything else unreachable.
fn transport_error(source: Source, err: &(dyn std::error::Error + 'static)) -> SourceError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return timed_out(source);
            }
        }
        cause = err.source();
    }
    SourceError::upstream(
        source,
        ErrorCode::UpstreamUnavailable,
        format!(
            "{} is unreachable (connection failed or was closed)",
            source.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, location: &str) -> Fetched {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::LOCATION,
            HeaderValue::from_str(location).expect("header"),
        );
        Fetched {
            status,
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn redirects_are_followed_to_the_same_host_only() {
        let from = Url::parse("http://api.example.test/v1/flows?x=1").expect("url");
        let to = |status, location| redirect_target(&from, &answer(status, location));
        assert_eq!(
            to(302, "/v1/flows?page=2").map(String::from),
            Some("http://api.example.test/v1/flows?page=2".to_string())
        );
        assert_eq!(
            to(301, "https://api.example.test/v1/flows").map(String::from),
            Some("https://api.example.test/v1/flows".to_string())
        );
        assert_eq!(to(307, "http://other.example.test/v1/flows"), None);
        assert_eq!(to(302, "http://api.example.test:8443/v1/flows"), None);
        assert_eq!(to(200, "/elsewhere"), None);
        assert_eq!(to(304, "/elsewhere"), None);
    }

    #[test]
    fn gzip_bodies_decode_under_the_cap() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'a'; 1000]).expect("write");
        let packed = encoder.finish().expect("gzip");
        assert_eq!(
            gunzip(Source::Celigo, &packed, 1000).expect("fits").len(),
            1000
        );
        let err = gunzip(Source::Celigo, &packed, 999).expect_err("over the cap");
        assert_eq!(err.code, ErrorCode::UpstreamBadResponse);
        let err = gunzip(Source::Celigo, b"not gzip", 1000).expect_err("garbage");
        assert!(err.message.contains("does not decode"), "{}", err.message);
    }

    /// A proxy that accepts one `CONNECT`, records its head, and pipes the tunnel.
    async fn connect_proxy() -> (u16, tokio::task::JoinHandle<Option<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.ok()?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                client.read_exact(&mut byte).await.ok()?;
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).ok()?;
            let target = head.split_whitespace().nth(1)?.to_string();
            let mut upstream = tokio::net::TcpStream::connect(target).await.ok()?;
            client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .ok()?;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            Some(head)
        });
        (port, task)
    }

    async fn upstream() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new().route("/v1/x", axum::routing::get(|| async { "[1]" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    async fn get(client: &HttpClient, port: u16) -> Result<Fetched, SourceError> {
        let url = Url::parse(&format!("http://127.0.0.1:{port}/v1/x")).expect("url");
        let out = Outgoing {
            method: Method::GET,
            url: &url,
            headers: HeaderMap::new(),
            body: None,
            timeout: Duration::from_secs(5),
            max_body: 1024,
        };
        client.exchange(Source::Celigo, out).await
    }

    #[tokio::test]
    async fn a_proxy_from_the_environment_is_reached_through_a_connect_tunnel() {
        let up = upstream().await;
        let (proxy, seen) = connect_proxy().await;
        let proxies = Matcher::builder()
            .http(format!("http://chrono:s3cret@127.0.0.1:{proxy}"))
            .build();
        let client = HttpClient::with_proxies(proxies).expect("client");
        let fetched = get(&client, up).await.expect("through the proxy");
        assert_eq!((fetched.status, &fetched.body[..]), (200, &b"[1]"[..]));
        drop(client);
        let head = seen.await.expect("proxy task").expect("a CONNECT");
        assert!(
            head.starts_with(&format!("CONNECT 127.0.0.1:{up} HTTP/1.1")),
            "{head}"
        );
        // base64("chrono:s3cret")
        assert!(
            head.to_ascii_lowercase()
                .contains(&"Proxy-Authorization: Basic Y2hyb25vOnMzY3JldA==".to_ascii_lowercase()),
            "{head}"
        );
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let up = upstream().await;
        let (proxy, seen) = connect_proxy().await;
        let proxies = Matcher::builder()
            .http(format!("http://127.0.0.1:{proxy}"))
            .no("127.0.0.1")
            .build();
        let client = HttpClient::with_proxies(proxies).expect("client");
        let fetched = get(&client, up).await.expect("direct");
        assert_eq!(fetched.status, 200);
        seen.abort();
        assert!(seen.await.is_err(), "the proxy was never asked");
    }
}
