//! The HTTP seam: a [`Transport`] sends one `http::Request<Body>` and returns an
//! `http::Response<BodyStream>` whose body is a stream of `Bytes`. It knows nothing of registries:
//! scheme decisions (`registry/scheme.rs`), authentication and retries live above it, so every
//! implementation shares them. Natively reqwest implements it ([`reqwest`]); on wasm32-wasip2
//! wasi:http does (`wasi`, through wstd), under [`redirect::Redirecting`] since the WASI host
//! follows no redirects (under the Node action, small requests by the host's one-call exchange,
//! `host_http`); unit tests use an in-memory fake (`fake`). No reqwest or wstd type and no
//! runtime crosses this trait.

#[cfg(any(test, target_family = "wasm"))]
pub mod coalesce;
#[cfg(test)]
pub mod fake;
#[cfg(any(test, target_family = "wasm"))]
pub mod host_http;
#[cfg(any(test, target_family = "wasm"))]
pub mod redirect;
#[cfg(not(target_family = "wasm"))]
pub mod reqwest;
#[cfg(target_family = "wasm")]
pub mod wasi;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
pub use http::{HeaderMap, Method, StatusCode};

use crate::error::{Error, Reason, Result};

/// A body stream.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A boxed future, so that [`Transport`] stays object-safe and runtime-agnostic.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// A body in memory (manifests).
    Bytes(Bytes),
    /// A streamed body of known length (blobs).
    Stream(BodyStream, Option<u64>),
}

impl Body {
    /// The body's length when known (`Content-Length`).
    #[must_use]
    pub fn len(&self) -> Option<u64> {
        match self {
            Self::Empty => Some(0),
            Self::Bytes(b) => Some(b.len() as u64),
            Self::Stream(_, len) => *len,
        }
    }

    /// Whether the body is known to be empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// The response to a request that was sent.
pub type Response = http::Response<BodyStream>;

/// The URL a response finally came from (after redirects), set by every transport as a response
/// extension: upload `Location`s are resolved against it.
#[derive(Debug, Clone)]
pub struct FinalUrl(pub String);

/// Sends HTTP requests. One request, one response: no retries, no authentication, no scheme
/// decisions (those live above, shared by every implementation). HTTP error statuses are
/// responses, not errors.
pub trait Transport: Send + Sync {
    /// Sends `request`; the response body is streamed.
    fn send(&self, request: http::Request<Body>)
    -> BoxFuture<'_, Result<Response, TransportError>>;
}

/// Why a request got no response. Each message names the (redacted) URL and the cause.
#[derive(Debug, Clone)]
pub enum TransportError {
    /// The connection could not be made or broke (DNS, refused, reset, short body).
    Connect(String),
    /// Connecting or reading took too long.
    Timeout(String),
    /// The server's TLS certificate is not trusted (never downgraded to plain HTTP).
    Certificate(String),
    /// A redirect was refused (too many, or HTTPS to HTTP).
    Redirect(String),
    /// The request could not be formed (a URL or header value that HTTP cannot carry).
    Request(String),
    /// An error of our own raised while the request body was read (a digest verifier).
    Body(Error),
    /// The HTTP client could not be set up (an internal failure).
    Setup(String),
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout(m) => Error::timeout(m)
                .hint("the registry is slow or unreachable; it was retried — check its health or raise the timeout"),
            TransportError::Certificate(m) => Error::new(Reason::CertificateUntrusted, m)
                .hint("pass the registry's CA with --ca-cert, or (test registries only) list the host in --insecure-registries"),
            TransportError::Redirect(m) => Error::registry(m),
            TransportError::Request(m) => Error::registry(m),
            TransportError::Body(e) => e,
            TransportError::Setup(m) => Error::internal(m),
            TransportError::Connect(m) => Error::network(m).hint(
                "the connection failed or was reset; it was retried — check that the registry is reachable",
            ),
        }
    }
}

/// A request as the registry layer builds it (infallibly; header names are static), turned into
/// an `http::Request` at the seam by [`Request::into_http`].
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Body,
}

impl Request {
    /// A request without body.
    #[must_use]
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Empty,
        }
    }
    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// The `http::Request`, with `Content-Length` set from the body when known.
    ///
    /// # Errors
    /// [`TransportError::Request`] for a URL or header value HTTP cannot carry.
    pub fn into_http(self) -> Result<http::Request<Body>, TransportError> {
        let shown = redact_url(&self.url);
        // Serialized by `url` first: it percent-encodes what a registry's `Location` may carry
        // and `http::Uri` would refuse.
        let uri = url::Url::parse(&self.url).map_or(self.url, |u| u.to_string());
        let mut builder = http::Request::builder()
            .method(self.method)
            .uri(uri.as_str());
        let has_length = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        if !has_length && !matches!(self.body, Body::Empty) {
            if let Some(len) = self.body.len() {
                builder = builder.header(http::header::CONTENT_LENGTH, len);
            }
        }
        builder
            .body(self.body)
            .map_err(|e| TransportError::Request(format!("{shown}: cannot form the request: {e}")))
    }
}

/// Reading a [`Response`] the way the registry layer needs it.
pub trait ResponseExt: Sized {
    /// A header as a string.
    fn header(&self, name: &str) -> Option<&str>;
    /// The URL the response came from (after redirects); empty when a transport set none.
    fn final_url(&self) -> &str;
    /// The body as a stream of chunks.
    fn into_stream(self) -> BodyStream;
    /// Reads the whole body, refusing more than `limit` bytes.
    ///
    /// # Errors
    /// NETWORK errors, or an input error when the body exceeds the limit.
    fn bytes_limited(self, limit: usize) -> impl Future<Output = Result<Bytes>> + Send;
}

impl ResponseExt for Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    fn final_url(&self) -> &str {
        self.extensions()
            .get::<FinalUrl>()
            .map_or("", |u| u.0.as_str())
    }

    fn into_stream(self) -> BodyStream {
        self.into_body()
    }

    async fn bytes_limited(self, limit: usize) -> Result<Bytes> {
        let url = redact_url(self.final_url());
        if let Some(len) = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(Error::input(format!(
                "{url} sent {len} bytes, over the {limit}-byte limit"
            )));
        }
        let mut out = Vec::new();
        let mut stream = self.into_body();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > limit {
                return Err(Error::input(format!(
                    "{url} sent more than the {limit}-byte limit"
                )));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }
}

/// Removes the query (upload state) and any user info from a URL before it is shown.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "<url>".to_owned(),
    }
}

/// `host[:port]` of a URL (empty when it has none).
#[must_use]
pub fn host_port(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// How the transport reaches registries.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Extra trusted CA certificates (PEM), in addition to the system roots.
    pub ca_certs: Vec<Vec<u8>>,
    /// Hosts (`host[:port]`) that may use plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            ca_certs: Vec::new(),
            insecure_registries: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}
