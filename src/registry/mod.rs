//! The Distribution API client: manifests (raw bytes, by tag or digest), blobs (HEAD, streamed
//! GET, upload sessions, cross-repository mount, monolithic PUT with a streamed-PATCH fallback)
//! and tags. One [`RegistryClient`] per role (source or destination), each with its own
//! credentials; authentication, retries and scheme decisions happen below every call.

pub mod auth;
pub mod credentials;
mod manifest;
pub mod retry;
pub mod transport;
mod upload;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::reference::Reference;
use auth::{Challenge, Token};
use credentials::{Credential, CredentialSource};
use retry::{Budget, RetryPolicy};
use transport::{Body, Method, Request, Response, Transport};

/// The state of one registry host for one role.
struct Host {
    base: String,
    challenge: Mutex<Challenge>,
    credential: Option<Credential>,
    token: tokio::sync::Mutex<Option<Token>>,
    /// Set once monolithic PUT was refused: later uploads go straight to PATCH.
    prefer_patch: AtomicBool,
}

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

/// Counters of requests, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Requests sent (attempts, auth included).
    pub requests: AtomicU64,
    /// Attempts that were retried.
    pub retries: AtomicU64,
}

/// A Distribution API client for one role.
pub struct RegistryClient {
    transport: Arc<Transport>,
    credentials: CredentialSource,
    retry: RetryPolicy,
    hosts: tokio::sync::Mutex<HashMap<String, Arc<Host>>>,
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
        transport: Arc<Transport>,
        credentials: CredentialSource,
        retry: RetryPolicy,
        role: &'static str,
    ) -> Self {
        Self {
            transport,
            credentials,
            retry,
            hosts: tokio::sync::Mutex::new(HashMap::new()),
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

    async fn host(&self, host: &str) -> Result<Arc<Host>> {
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(host) {
            return Ok(h.clone());
        }
        let credential = self.credentials.lookup(host).await?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        // One attempt: every caller is inside a retry loop (its own request's, or its unit's).
        let (base, probe) = self.transport.resolve_base(host).await.map_err(|e| {
            e.context(format_args!(
                "cannot reach the {} registry {host}",
                self.role
            ))
        })?;
        let challenge = match probe
            .as_ref()
            .filter(|r| r.status == 401)
            .and_then(|r| r.header("www-authenticate"))
        {
            Some(h) => auth::parse_challenge(h)?,
            None => Challenge::None,
        };
        let h = Arc::new(Host {
            base,
            challenge: Mutex::new(challenge),
            credential,
            token: tokio::sync::Mutex::new(None),
            prefer_patch: AtomicBool::new(false),
        });
        hosts.insert(host.to_owned(), h.clone());
        Ok(h)
    }

    /// The base URL of a host (`http://127.0.0.1:5000`), probing it once.
    ///
    /// # Errors
    /// When the host cannot be reached.
    pub async fn base_url(&self, host: &str) -> Result<String> {
        let host = self.retried("ping", || self.host(host)).await?;
        Ok(host.base.clone())
    }

    async fn fetch_token(
        &self,
        host_name: &str,
        host: &Host,
        force: bool,
    ) -> Result<Option<String>> {
        let challenge = host
            .challenge
            .lock()
            .map_err(|_| Error::internal("auth state poisoned"))?
            .clone();
        let (realm, service) = match challenge {
            Challenge::None => return Ok(None),
            Challenge::Basic => {
                let Some(c) = &host.credential else {
                    return Err(self.no_credentials(host_name));
                };
                let raw = format!("{}:{}", c.username, c.password.expose());
                return Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )));
            }
            Challenge::Bearer { realm, service, .. } => (realm, service),
        };
        let mut slot = host.token.lock().await;
        if !force
            && let Some(t) = slot.as_ref()
            && t.expires > Instant::now()
        {
            return Ok(Some(format!("Bearer {}", t.value.expose())));
        }
        let scopes = self.scope_for(host_name);
        let realm_url = url::Url::parse(&realm).map_err(|_| {
            Error::registry(format!(
                "{host_name} named an invalid token realm `{}`",
                crate::reference::shorten(&realm)
            ))
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default();
        let registry_host = url::Url::parse(&host.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if realm_url.scheme() != "https" && realm_host != registry_host {
            return Err(Error::authentication(format!(
                "{host_name} sends credentials to a token realm on another host over plain HTTP ({})",
                transport::redact_url(&realm)
            ))
            .hint("refused so that credentials are not exposed; the registry's token realm must use HTTPS"));
        }
        let mut url = realm_url.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &service {
                q.append_pair("service", s);
            }
            for s in &scopes {
                q.append_pair("scope", s);
            }
        }
        let mut request = Request::new(Method::GET, url.to_string());
        if let Some(c) = &host.credential {
            let raw = format!("{}:{}", c.username, c.password.expose());
            request = request.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ),
            );
        }
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.transport.send(request).await?;
        if response.status == 401 || response.status == 403 {
            return Err(if host.credential.is_some() {
                Error::authentication(format!(
                    "the token service for {host_name} rejected the {} credentials",
                    self.role
                ))
                .hint(format!(
                    "check the {} username and password (or token) for {host_name}",
                    self.role
                ))
            } else {
                self.no_credentials(host_name)
            });
        }
        if !response.status.is_success() {
            let status = response.status.as_u16();
            return Err(retry::classify_status(
                status,
                None,
                retry::Route::Other,
                format!(
                    "token request to {} failed with HTTP {status}",
                    transport::redact_url(&realm)
                ),
            ));
        }
        let body = response.bytes_limited(1 << 20).await?;
        let token = auth::parse_token_reply(&body, &scopes.join(" "))?;
        let header = format!("Bearer {}", token.value.expose());
        *slot = Some(token);
        Ok(Some(header))
    }

    fn no_credentials(&self, host: &str) -> Error {
        Error::authentication(format!(
            "{host} requires authentication and no {} credentials were given",
            self.role
        ))
        .hint(format!(
            "pass --{}-username/--{}-password (or log in so that docker's config.json has {host})",
            self.role, self.role
        ))
    }

    /// Sends a request built by `build` with authentication, handling one re-auth on 401.
    /// The request is not retried here (see [`Self::execute`]).
    async fn send_authed(
        &self,
        host_name: &str,
        build: &(dyn Fn(&str) -> Request + Sync),
    ) -> Result<Response> {
        let host = self.host(host_name).await?;
        let mut auth = self.fetch_token(host_name, &host, false).await?;
        let mut reauthed = false;
        loop {
            let mut request = build(&host.base);
            // Credentials only ever go to the registry's own origin: an upload Location on
            // another host gets none (like redirects, which reqwest strips).
            if let Some(a) = &auth
                && same_origin(&request.url, &host.base)
            {
                request = request.header("Authorization", a.clone());
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            // A streamed body (a blob upload) cannot be sent twice.
            let replayable = !matches!(request.body, Body::Stream(..));
            let response = self.transport.send(request).await?;
            if response.status != 401 {
                return Ok(response);
            }
            let header = response.header("www-authenticate").map(str::to_owned);
            let challenge = match &header {
                Some(h) => auth::parse_challenge(h)?,
                None => Challenge::None,
            };
            if let Challenge::Bearer { error: Some(e), .. } = &challenge
                && e == "insufficient_scope"
            {
                return Err(Error::permission(format!(
                    "the {} credentials may not do this on {host_name} (insufficient_scope)",
                    self.role
                ))
                .hint(format!(
                    "check that the {} credentials can {} the repository",
                    self.role,
                    if self.role == "destination" {
                        "push to"
                    } else {
                        "pull from"
                    }
                )));
            }
            if reauthed || matches!(challenge, Challenge::None) {
                return Err(if host.credential.is_some() {
                    Error::authentication(format!(
                        "{host_name} rejected the {} credentials",
                        self.role
                    ))
                    .hint(format!(
                        "check the {} username and password (or token) for {host_name}",
                        self.role
                    ))
                } else {
                    self.no_credentials(host_name)
                });
            }
            if let Ok(mut c) = host.challenge.lock() {
                *c = challenge;
            }
            if !replayable {
                // The token stopped working during an upload: drop it, and let the caller's retry
                // restart the whole blob transfer with a new one.
                *host.token.lock().await = None;
                return Err(Error::new(
                    Reason::TokenExpired,
                    format!(
                        "{host_name} stopped accepting the {} token during an upload",
                        self.role
                    ),
                ));
            }
            reauthed = true;
            auth = self.fetch_token(host_name, &host, true).await?;
        }
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
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
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
            if expect.contains(&response.status.as_u16()) {
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
        if response.status == 404 {
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
        Ok(response.stream())
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
                if response.status == 404 {
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
    let status = response.status.as_u16();
    let response_url = response.url.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations_absolute_and_relative() {
        let at = "http://127.0.0.1:5000/v2/app/x/blobs/uploads/";
        assert_eq!(
            resolve_location(at, "/v2/app/x/blobs/uploads/abc?_state=s").as_deref(),
            Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
        );
        assert_eq!(
            resolve_location(at, "abc?_state=s").as_deref(),
            Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
        );
        assert_eq!(
            resolve_location(at, "https://uploads.example.com/u/1").as_deref(),
            Some("https://uploads.example.com/u/1")
        );
        assert!(same_origin(
            "http://127.0.0.1:5000/v2/x",
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(
            "https://uploads.example.com/u/1",
            "https://registry.example.com"
        ));
        assert!(!same_origin(
            "http://registry.example.com/u",
            "https://registry.example.com"
        ));
        assert!(!same_origin(
            "https://registry.example.com:444/u",
            "https://registry.example.com"
        ));
    }
}
