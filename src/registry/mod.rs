//! The Distribution API client: manifests (raw bytes, by tag or digest), blobs (HEAD, streamed
//! GET, upload sessions, cross-repository mount, monolithic PUT with a streamed-PATCH fallback)
//! and tags. One [`RegistryClient`] per role (source or destination), each with its own
//! credentials; authentication, retries and scheme decisions happen below every call.

pub mod auth;
pub mod challenge;
pub mod credentials;
mod hosts;
mod manifest;
pub mod referrers;
pub mod retry;
pub mod scheme;
#[cfg(test)]
mod tests;
pub mod transport;
mod upload;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::lock::Mutex as AsyncMutex;
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::reference::Reference;
use credentials::CredentialSource;
use hosts::Host;
use retry::{Budget, RetryPolicy};
use scheme::Connection;
use transport::{Method, Request, Response, ResponseExt as _};

/// What happened when an upload was started.
pub enum UploadStart {
    /// The blob was mounted from another repository: nothing to upload.
    Mounted,
    /// An upload session: its absolute URL.
    Session(String),
}

/// What a blob HEAD told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// `Content-Length`.
    pub size: u64,
}

/// HEADs that only ask whether a blob is there, in flight at once (the layers check at the
/// source, a re-run's or dry run's probe of the destination): a HEAD costs a registry little,
/// and the 200 blobs of an image are 7 round trips instead of 25 at 8 (under the Node action
/// each round trip is also a call to the host). Transfers stay bounded by `--concurrency`.
pub const LOOKUP_CONCURRENCY: usize = 32;

/// Counters of requests, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Requests sent (attempts, auth included).
    pub requests: AtomicU64,
    /// Attempts that were retried.
    pub retries: AtomicU64,
    /// Woken at every retry (see [`RequestCounters::wait_retry_beyond`]).
    retried: tokio::sync::Notify,
}

impl RequestCounters {
    /// Counts a retried attempt and wakes whoever waits for one.
    pub fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.retried.notify_waiters();
    }

    /// Waits until more than `baseline` attempts were retried (woken by [`Self::count_retry`],
    /// no timer).
    pub async fn wait_retry_beyond(&self, baseline: u64) {
        crate::runtime::wait_for(&self.retried, || {
            (self.retries.load(Ordering::Relaxed) > baseline).then_some(())
        })
        .await;
    }
}

/// A Distribution API client for one role.
pub struct RegistryClient {
    connection: Arc<Connection>,
    credentials: CredentialSource,
    retry: RetryPolicy,
    hosts: AsyncMutex<HashMap<String, Arc<Host>>>,
    scopes: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Counters.
    pub counters: Arc<RequestCounters>,
    role: &'static str,
}

#[derive(Deserialize)]
struct OciErrors {
    #[serde(default)]
    errors: Vec<OciError>,
}

#[derive(Deserialize)]
struct OciError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl RegistryClient {
    /// A client for one role (`"source"` or `"destination"`; used in messages and hints).
    #[must_use]
    pub fn new(
        connection: Arc<Connection>,
        credentials: CredentialSource,
        retry: RetryPolicy,
        role: &'static str,
    ) -> Self {
        Self {
            connection,
            credentials,
            retry,
            hosts: AsyncMutex::new(HashMap::new()),
            scopes: Mutex::new(HashMap::new()),
            counters: Arc::new(RequestCounters::default()),
            role,
        }
    }

    /// Declares that this client will need `actions` (`pull`, `pull,push`) on `repository` of
    /// `host`; one token then covers every declared scope of the host.
    pub fn add_scope(&self, host: &str, repository: &str, actions: &str) {
        if let Ok(mut scopes) = self.scopes.lock() {
            scopes
                .entry(host.to_owned())
                .or_default()
                .insert(format!("repository:{repository}:{actions}"));
        }
    }

    fn scope_for(&self, host: &str) -> Vec<String> {
        self.scopes
            .lock()
            .map(|s| {
                s.get(host)
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Runs `unit` under the retry policy, counting its retries: a unit is one or more requests,
    /// each sent once ([`Budget::Caller`]), and the reading of their answers, restarted whole
    /// after a transient failure.
    ///
    /// # Errors
    /// The last error, once it is permanent or the attempts are used up (then not retryable).
    pub async fn retried<T, F, Fut>(&self, what: &str, mut unit: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retry::run(&self.retry, what, |attempt| {
            if attempt > 1 {
                self.counters.count_retry();
            }
            unit()
        })
        .await
    }

    /// Sends with authentication and retries; `expect` lists the statuses that are success.
    async fn execute(
        &self,
        host: &str,
        what: &str,
        expect: &[u16],
        build: &(dyn Fn(&str) -> Request + Sync),
    ) -> Result<Response> {
        self.execute_with(Budget::Own, host, what, expect, build)
            .await
    }

    /// [`Self::execute`] under `budget`: retried here ([`Budget::Own`]) or sent once, the
    /// caller's loop owning the attempts ([`Budget::Caller`]).
    async fn execute_with(
        &self,
        budget: Budget,
        host: &str,
        what: &str,
        expect: &[u16],
        build: &(dyn Fn(&str) -> Request + Sync),
    ) -> Result<Response> {
        let once = || async {
            let response = self.send_authed(host, build).await?;
            if expect.contains(&response.status().as_u16()) {
                return Ok(response);
            }
            Err(error_from_response(response, what).await)
        };
        match budget {
            Budget::Caller => once().await,
            Budget::Own => self.retried(what, once).await,
        }
    }

    /// HEADs a blob: `None` if absent; checks `Docker-Content-Digest` when sent. Retried under
    /// the policy, or sent once within a blob transfer ([`Budget`]).
    ///
    /// # Errors
    /// Registry errors other than 404; a VALIDATION error when the registry names another digest.
    pub async fn head_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        budget: Budget,
    ) -> Result<Option<BlobInfo>> {
        let repo = reference.repository().to_owned();
        let d = digest.to_string();
        let build =
            move |base: &str| Request::new(Method::HEAD, format!("{base}/v2/{repo}/blobs/{d}"));
        let response = self
            .execute_with(
                budget,
                reference.api_host(),
                &format!("HEAD blob {digest}"),
                &[200, 404],
                &build,
            )
            .await?;
        if response.status() == 404 {
            return Ok(None);
        }
        if let Some(h) = response.header("docker-content-digest")
            && h != digest.to_string()
        {
            return Err(Error::verification(format!(
                "{}: HEAD of blob {digest} answered with Docker-Content-Digest {}",
                reference.name(),
                crate::reference::shorten(h)
            )));
        }
        let size = response
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::registry(format!(
                    "HEAD of blob {digest} on {} sent no Content-Length",
                    reference.name()
                ))
            })?;
        Ok(Some(BlobInfo { size }))
    }

    /// GETs a blob as a stream (not verified here: the caller wraps it in a verifier). Sent once:
    /// a body can fail midway, so only the caller's loop (a blob transfer, a verified download)
    /// can retry, by restarting its whole unit.
    ///
    /// # Errors
    /// Registry errors (404 BLOB_UNKNOWN, …).
    pub async fn get_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<transport::BodyStream> {
        let repo = reference.repository().to_owned();
        let d = digest.to_string();
        let build =
            move |base: &str| Request::new(Method::GET, format!("{base}/v2/{repo}/blobs/{d}"));
        let response = self
            .execute_with(Budget::Caller, reference.api_host(), &format!("GET blob {digest} from {}", reference.name()), &[200], &build)
            .await
            .map_err(|e| {
                if e.reason == Reason::BlobUnknown {
                    e.hint(format!("the source registry lost blob {digest}: the image in {} is broken; rebuild and push it", reference.name()))
                } else {
                    e
                }
            })?;
        Ok(response.into_stream())
    }

    /// GETs a small blob (a config) into memory and verifies it: the GET and the verification
    /// are one unit under the policy (a short body restarts it), the GET itself sent once per
    /// attempt.
    ///
    /// # Errors
    /// Registry errors; VALIDATION errors for wrong bytes.
    pub async fn get_blob_bytes(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        limit: usize,
    ) -> Result<Bytes> {
        if size > limit as u64 {
            return Err(Error::input(format!(
                "blob {digest} declares {size} bytes, over the {limit}-byte limit for configs"
            )));
        }
        let repo = reference.repository().to_owned();
        let d = digest.to_string();
        let build =
            move |base: &str| Request::new(Method::GET, format!("{base}/v2/{repo}/blobs/{d}"));
        let what = format!("GET blob {digest} from {}", reference.name());
        self.retried(&what, || async {
            let response = self
                .execute_with(Budget::Caller, reference.api_host(), &what, &[200], &build)
                .await?;
            let bytes = response.bytes_limited(limit).await?;
            let mut v = crate::digest::Verifier::new(digest, Some(size));
            v.update(&bytes)?;
            v.finish()?;
            Ok(bytes)
        })
        .await
    }

    /// Lists the tags of a repository (empty when the repository does not exist).
    ///
    /// # Errors
    /// Registry errors.
    pub async fn list_tags(&self, reference: &Reference) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let repo = reference.repository().to_owned();
        let build =
            move |base: &str| Request::new(Method::GET, format!("{base}/v2/{repo}/tags/list"));
        // The GET and the reading of its body are one unit under the policy.
        let what = format!("list tags of {}", reference.name());
        let body = self
            .retried(&what, || async {
                let response = self
                    .execute_with(
                        Budget::Caller,
                        reference.api_host(),
                        &what,
                        &[200, 404],
                        &build,
                    )
                    .await?;
                if response.status() == 404 {
                    return Ok(None);
                }
                response.bytes_limited(16 << 20).await.map(Some)
            })
            .await?;
        let Some(body) = body else {
            return Ok(Vec::new());
        };
        let tags: Tags = serde_json::from_slice(&body).map_err(|e| {
            Error::registry(format!(
                "tags/list of {} is not valid JSON: {e}",
                reference.name()
            ))
        })?;
        Ok(tags.tags.unwrap_or_default())
    }
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// Resolves an upload `Location` (absolute, or relative as some registries send it) against the
/// URL of the response that carried it.
#[must_use]
pub fn resolve_location(response_url: &str, location: &str) -> Option<String> {
    let base = url::Url::parse(response_url).ok()?;
    base.join(location).ok().map(|u| u.to_string())
}

/// Whether `url` has the same scheme, host and port as `base`.
#[must_use]
pub fn same_origin(url: &str, base: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(base)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn not_found_hint(e: Error, what: &str) -> Error {
    if e.reason == Reason::ManifestUnknown {
        e.hint(format!(
            "check that {what} exists and that the reference is spelled right"
        ))
    } else {
        e
    }
}

fn push_hint(e: Error, reference: &Reference) -> Error {
    if e.reason == Reason::Denied && e.hint.is_none() {
        e.hint(format!(
            "check that the destination credentials can push to {}",
            reference.name()
        ))
    } else {
        e
    }
}

/// Turns an unexpected response into a classified error, keeping the registry's OCI error code.
async fn error_from_response(response: Response, what: &str) -> Error {
    let status = response.status().as_u16();
    let response_url = response.final_url().to_owned();
    let retry_after = response
        .header("retry-after")
        .and_then(retry::parse_retry_after);
    let body = response.bytes_limited(64 * 1024).await.unwrap_or_default();
    let parsed: Option<OciErrors> = serde_json::from_slice(&body).ok();
    let first = parsed.as_ref().and_then(|p| p.errors.first());
    let code = first.map(|e| e.code.clone()).filter(|c| !c.is_empty());
    let detail = match first {
        Some(e) if !e.message.is_empty() => {
            format!(": {} ({})", crate::reference::shorten(&e.message), e.code)
        }
        Some(e) => format!(": {}", e.code),
        None => String::new(),
    };
    let mut error = retry::classify_status(
        status,
        code.as_deref(),
        retry::Route::of(&response_url),
        format!("{what}: HTTP {status}{detail}"),
    );
    error.retry_after = retry_after;
    error
}
