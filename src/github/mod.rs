//! A small typed GitHub REST client on the project's own HTTP seam ([`Connection`] over a
//! [`crate::registry::transport::Transport`]) and its one retry policy (`registry/retry.rs`).
//! The base URL is `GITHUB_API_URL` (`https://api.github.com`, on GHES `https://HOST/api/v3`);
//! the token (`github-token` / `GITHUB_TOKEN`) goes in `Authorization` only, to that origin only,
//! and is never logged or shown (the client has no `Debug`).
//!
//! Retries: a read (`GET`) is retried like a registry request (5xx, 429, timeouts, resets), and
//! GitHub's rate limits — 429, or 403 with `x-ratelimit-remaining: 0` or `Retry-After` (secondary
//! limits) — wait for `Retry-After`, else `x-ratelimit-reset`, else one minute. A write is never
//! re-sent after the request may have arrived: only a rate-limit answer (GitHub refused it
//! unprocessed) is retried; a 5xx, a reset or a timeout on a write fails at once.
//!
//! Response types are tolerant: every field is `#[serde(default)]`, unknown fields are ignored.

pub mod approvals;
pub mod deployment;
pub mod dispatch;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use crate::error::{Error, Reason, Result};
use crate::registry::retry::{self, RetryPolicy, Route, classify_status, parse_retry_after};
use crate::registry::scheme::Connection;
use crate::registry::transport::{Body, Method, Request, Response, ResponseExt as _};

/// `https://api.github.com`, when `GITHUB_API_URL` is unset.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The REST API version sent with every request.
const API_VERSION: &str = "2022-11-28";

/// The largest JSON body read from GitHub.
const BODY_LIMIT: usize = 4 << 20;

/// Without `Retry-After` or `x-ratelimit-reset`, GitHub asks to wait at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The client: a connection, the API base, the token and the retry policy.
pub struct GitHub {
    connection: Arc<Connection>,
    api: String,
    token: Option<String>,
    policy: RetryPolicy,
}

impl GitHub {
    /// A client for the API at `api_url` (trailing `/` ignored).
    #[must_use]
    pub fn new(
        connection: Arc<Connection>,
        api_url: &str,
        token: Option<String>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            connection,
            api: api_url.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            policy,
        }
    }

    /// Whether a token was given.
    #[must_use]
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The absolute URL of an API path (`/repos/...`).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// Classified errors (see [`classify`]) after the retry policy; a body that is not JSON of
    /// the expected shape is a REGISTRY error naming the path.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self.send(Method::GET, path, None).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::registry(format!(
                "GitHub API GET {path}: unexpected response body: {e}"
            ))
        })
    }

    /// Sends `method path` with an optional JSON body under the retry policy; returns the body
    /// of a 2xx answer. Only `GET`/`HEAD` are replayed after a failure that may have reached
    /// GitHub; any other method is replayed only after a rate-limit answer.
    ///
    /// # Errors
    /// Classified errors, as [`GitHub::get`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes> {
        let replayable = matches!(method, Method::GET | Method::HEAD);
        let what = format!("GitHub API {method} {path}");
        let body = json.map(serde_json::Value::to_string);
        retry::run(&self.policy, &what, |_| {
            let request = self.request(method.clone(), path, body.clone());
            let what = what.clone();
            async move {
                let result = match self.connection.send(request).await {
                    Ok(response) => read(response, &what).await,
                    Err(e) => Err(e.context(&what)),
                };
                if replayable {
                    result
                } else {
                    result.map_err(retry::for_a_write)
                }
            }
        })
        .await
    }

    fn request(&self, method: Method, path: &str, body: Option<String>) -> Request {
        let mut request = Request::new(method, self.url(path))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header(
                "user-agent",
                concat!("image-promote/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(Body::Bytes(body.into()));
        }
        request
    }
}

async fn read(response: Response, what: &str) -> Result<bytes::Bytes> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return response.bytes_limited(BODY_LIMIT).await;
    }
    let headers = response.headers().clone();
    let body = response.bytes_limited(64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|b| b.message)
        .filter(|m| !m.is_empty())
        .map_or_else(String::new, |m| format!(": {}", crate::text::shorten(&m)));
    Err(classify(
        status,
        &headers,
        format!("{what}: HTTP {status}{message}"),
    ))
}

/// GitHub's error body (`{"message": …, "documentation_url": …}`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ErrorBody {
    message: String,
}

/// Classifies a GitHub error answer: a rate limit (429; 403 with `x-ratelimit-remaining: 0` or
/// `Retry-After`) is [`Reason::RateLimited`] with the delay GitHub asks for; anything else as the
/// registry layer classifies it (401 unauthorized, 403 denied, 5xx transient, …).
#[must_use]
pub fn classify(status: u16, headers: &http::HeaderMap, message: String) -> Error {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after").and_then(parse_retry_after);
    let exhausted = header("x-ratelimit-remaining").map(str::trim) == Some("0");
    let reset = header("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|at| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Duration::from_secs(at.saturating_sub(now))
        });
    let rate_limited = status == 429 || (status == 403 && (exhausted || retry_after.is_some()));
    if !rate_limited {
        return classify_status(status, None, Route::Other, message);
    }
    let mut e = Error::new(Reason::RateLimited, message)
        .hint("GitHub's API rate limit was hit; it was waited for where GitHub said how long");
    e.status = Some(status);
    e.retry_after = Some(
        retry_after
            .or(if exhausted { reset } else { None })
            .unwrap_or(SECONDARY_LIMIT_WAIT),
    );
    e
}

#[cfg(test)]
mod tests;
