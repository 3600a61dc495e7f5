//! The HTTP seam: the only file that touches reqwest. It sends one [`Request`] and returns a
//! [`Response`] whose body is a stream of `Bytes`; it decides each host's scheme (HTTPS with
//! verification first; plain HTTP only for loopback or `insecure-registries` hosts that speak it)
//! and maps transport failures to classified errors. A WASI-HTTP implementation replaces it later.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
pub use reqwest::header::HeaderMap;
pub use reqwest::{Method, StatusCode};

use crate::error::{Error, Reason, Result};

/// A body stream.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// A body in memory (manifests).
    Bytes(Bytes),
    /// A streamed body of known length (blobs).
    Stream(BodyStream, Option<u64>),
}

/// One HTTP request.
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
}

/// One HTTP response with a streamed body.
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The final URL (after redirects).
    pub url: String,
    inner: reqwest::Response,
}

impl Response {
    /// A header as a string.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a stream of chunks.
    pub fn stream(self) -> BodyStream {
        let url = redact_url(&self.url);
        Box::pin(
            self.inner
                .bytes_stream()
                .map_err(move |e| map_reqwest_error(&e, &url)),
        )
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    ///
    /// # Errors
    /// NETWORK errors, or an input error when the body exceeds the limit.
    pub async fn bytes_limited(self, limit: usize) -> Result<Bytes> {
        if let Some(len) = self.inner.content_length()
            && len > limit as u64
        {
            return Err(Error::input(format!(
                "{} sent {len} bytes, over the {limit}-byte limit",
                redact_url(&self.url)
            )));
        }
        let url = redact_url(&self.url);
        let mut out = Vec::new();
        let mut stream = self.stream();
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn is_certificate_error(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    c.contains("certificate") || c.contains("unknownissuer") || c.contains("notvalidforname")
}

fn map_reqwest_error(e: &reqwest::Error, url: &str) -> Error {
    // Our own body-stream errors (verification) travel inside reqwest's error; surface them.
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        if let Some(ours) = c.downcast_ref::<Error>() {
            return ours.clone();
        }
        cur = c.source();
    }
    let chain = redact_chain(&error_chain(e));
    if e.is_timeout() {
        return Error::timeout(format!("{url}: timed out ({chain})"))
            .hint("the registry is slow or unreachable; it was retried — check its health or raise the timeout");
    }
    if is_certificate_error(&chain) {
        return Error::new(Reason::CertificateUntrusted, format!("{url}: TLS certificate not trusted ({chain})"))
            .hint("pass the registry's CA with --ca-cert, or (test registries only) list the host in --insecure-registries");
    }
    if e.is_redirect() {
        return Error::registry(format!("{url}: refused redirect ({chain})"));
    }
    Error::network(format!("{url}: {chain}")).hint(
        "the connection failed or was reset; it was retried — check that the registry is reachable",
    )
}

fn redact_chain(chain: &str) -> String {
    // reqwest includes the URL in its messages: drop query strings.
    chain
        .split(' ')
        .map(|w| {
            let trimmed = w.trim_matches(|c| c == '(' || c == ')');
            if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
                redact_url(trimmed)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// The HTTP client and the per-host scheme decisions.
pub struct Transport {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    options: TransportOptions,
    bases: Mutex<HashMap<String, String>>,
}

fn build_client(options: &TransportOptions, verify: bool) -> Result<reqwest::Client> {
    // One process-wide crypto provider for rustls (ring); a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("image-promote/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .pool_max_idle_per_host(32)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let downgrade = attempt
                .previous()
                .last()
                .is_some_and(|p| p.scheme() == "https")
                && attempt.url().scheme() != "https";
            if downgrade {
                return attempt.error("redirect from https to http refused");
            }
            attempt.follow()
        }));
    if verify {
        for (i, pem) in options.ca_certs.iter().enumerate() {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::input(format!("ca-cert #{}: not a PEM certificate bundle: {e}", i + 1))
                    .hint("pass a path to a PEM file or the PEM text itself (starting with -----BEGIN CERTIFICATE-----)")
            })?;
            if certs.is_empty() {
                return Err(Error::input(format!(
                    "ca-cert #{}: no certificate found in the PEM text",
                    i + 1
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
    } else {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

impl Transport {
    /// Builds the transport.
    ///
    /// # Errors
    /// Input errors for unusable CA certificates.
    pub fn new(options: TransportOptions) -> Result<Self> {
        Ok(Self {
            verified: build_client(&options, true)?,
            unverified: build_client(&options, false)?,
            options,
            bases: Mutex::new(HashMap::new()),
        })
    }

    fn is_insecure(&self, host: &str) -> bool {
        self.options.insecure_registries.iter().any(|h| h == host)
    }

    fn client_for(&self, url: &str) -> &reqwest::Client {
        let host = url::Url::parse(url)
            .ok()
            .map(|u| match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            })
            .unwrap_or_default();
        if url.starts_with("https://") && self.is_insecure(&host) {
            &self.unverified
        } else {
            &self.verified
        }
    }

    /// The base URL (`https://host` or `http://host`) for a registry host, probing `/v2/` once.
    /// Returns the base and the probe's response (status and `WWW-Authenticate`).
    ///
    /// # Errors
    /// NETWORK errors when no allowed scheme answers; a certificate error is never downgraded.
    pub async fn resolve_base(&self, host: &str) -> Result<(String, Option<Response>)> {
        if let Some(b) = self
            .bases
            .lock()
            .map_err(|_| Error::internal("scheme cache poisoned"))?
            .get(host)
        {
            return Ok((b.clone(), None));
        }
        let https = format!("https://{host}");
        let may_use_http = self.is_insecure(host) || crate::reference::is_loopback_host(host);
        let first = self
            .send(Request::new(Method::GET, format!("{https}/v2/")))
            .await;
        let (base, response) = match first {
            Ok(r) => (https, r),
            Err(e) if !may_use_http => return Err(e),
            Err(e) if e.reason == Reason::CertificateUntrusted && !self.is_insecure(host) => {
                return Err(e.context(format_args!("{host} speaks HTTPS with a certificate that is not trusted (never downgraded to HTTP)")));
            }
            Err(https_error) => {
                let http = format!("http://{host}");
                match self
                    .send(Request::new(Method::GET, format!("{http}/v2/")))
                    .await
                {
                    Ok(r) => (http, r),
                    Err(_) => return Err(https_error),
                }
            }
        };
        self.bases
            .lock()
            .map_err(|_| Error::internal("scheme cache poisoned"))?
            .insert(host.to_owned(), base.clone());
        Ok((base, Some(response)))
    }

    /// Sends one request (no retries here: callers go through the retry policy).
    ///
    /// # Errors
    /// Classified NETWORK/TIMEOUT errors; HTTP error statuses are returned as responses.
    pub async fn send(&self, request: Request) -> Result<Response> {
        let shown = redact_url(&request.url);
        let mut builder = self
            .client_for(&request.url)
            .request(request.method, &request.url);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        builder = match request.body {
            Body::Empty => builder,
            Body::Bytes(b) => builder
                .header("Content-Length", b.len().to_string())
                .body(b),
            Body::Stream(s, len) => {
                let b = match len {
                    Some(len) => builder.header("Content-Length", len.to_string()),
                    None => builder,
                };
                b.body(reqwest::Body::wrap_stream(s))
            }
        };
        let inner = builder
            .send()
            .await
            .map_err(|e| map_reqwest_error(&e, &shown))?;
        Ok(Response {
            status: inner.status(),
            headers: inner.headers().clone(),
            url: inner.url().to_string(),
            inner,
        })
    }
}
