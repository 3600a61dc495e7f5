//! The one retry policy (`docs/architecture.md`, invariants): exponential backoff with jitter,
//! `Retry-After` honored up to the maximum delay, and the single place that turns HTTP statuses
//! into typed reasons. One attempt budget per request: `--retry-attempts N` means no request and
//! no blob transfer is sent more than N times in the whole process. A request retries itself
//! ([`Budget::Own`]) unless it is one step of a unit whose loop owns the budget
//! ([`Budget::Caller`]: a blob transfer, a verified download), and an exhausted error is not
//! retryable, so loops never multiply.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Reason, Result};

/// How many times to try and how long to wait between tries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Upper bound for one delay; a `Retry-After` above it fails at once.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up with this error.
    Fail(Error),
}

impl RetryPolicy {
    /// The backoff before attempt `next` (2 for the first retry): base × 2^(next−2), capped,
    /// with jitter in [½, 1] of that.
    #[must_use]
    pub fn backoff(&self, next: u32) -> Duration {
        let exp = next.saturating_sub(2).min(16);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Decides after attempt number `attempt` (1-based) failed with `error`. A permanent error
    /// fails as it is; a transient one past the budget fails as [`Error::exhausted`], which is
    /// not retryable, so an outer loop never multiplies the attempts.
    #[must_use]
    pub fn decide(&self, attempt: u32, error: Error) -> Decision {
        if !error.retryable {
            return Decision::Fail(error);
        }
        if attempt >= self.attempts {
            return Decision::Fail(Error::exhausted(attempt, error));
        }
        if let Some(asked) = error.retry_after {
            if asked > self.max_delay {
                let secs = asked.as_secs();
                let mut e = Error::new(
                    Reason::RetryAfterTooLong,
                    format!(
                        "the registry asked to wait {secs} s (Retry-After): {}",
                        error.message
                    ),
                )
                .hint(format!(
                    "the registry is rate limiting; retry later, or raise retry-max-delay to at least {secs}s"
                ));
                e.status = error.status;
                e.registry_code = error.registry_code;
                return Decision::Fail(e);
            }
            return Decision::RetryAfter(asked.max(self.backoff(attempt + 1) / 4));
        }
        Decision::RetryAfter(self.backoff(attempt + 1))
    }
}

/// Who spends the attempt budget (`--retry-attempts`) of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The request retries itself under the client's policy.
    Own,
    /// The request is sent once: it is one step of a larger unit (a blob transfer, a verified
    /// download) whose own loop owns the budget and restarts the whole unit.
    Caller,
}

/// Whether an HTTP status is transient.
#[must_use]
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status) && status != 501
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date.
#[must_use]
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// What a Distribution API request was about, for a 404 without an OCI error code (a HEAD has
/// no body): the route of the request URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/v2/<name>/manifests/<ref>` or `/v2/<name>/tags/list`.
    Manifest,
    /// `/v2/<name>/blobs/<digest>`.
    Blob,
    /// `/v2/<name>/blobs/uploads/…`.
    Upload,
    /// Anything else (the token service, `/v2/`).
    Other,
}

impl Route {
    /// The route of a request URL.
    #[must_use]
    pub fn of(url: &str) -> Self {
        let path = url::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        if path.contains("/blobs/uploads") {
            Self::Upload
        } else if path.contains("/blobs/") {
            Self::Blob
        } else if path.contains("/manifests/") || path.ends_with("/tags/list") {
            Self::Manifest
        } else {
            Self::Other
        }
    }
}

/// Classifies an HTTP error status (with the registry's OCI error code, and the route for a 404
/// without one) into an [`Error`] with its [`Reason`].
#[must_use]
pub fn classify_status(
    status: u16,
    registry_code: Option<&str>,
    route: Route,
    message: String,
) -> Error {
    let reason = match (status, registry_code, route) {
        // A tag the repository will not let move: the registries say so only in their message
        // (ECR: 400 `TAG_INVALID` "… cannot be overwritten because the repository is
        // immutable"; Harbor: 412 `PRECONDITION` "… configured as immutable …").
        (400 | 403 | 409 | 412, _, Route::Manifest) if says_immutable(&message) => {
            Reason::TagImmutable
        }
        (401, ..) => Reason::Unauthorized,
        (403, ..) => Reason::Denied,
        (408, ..) => Reason::Timeout,
        (429, ..) => Reason::RateLimited,
        // The registry forgot the upload session: the transfer restarts.
        (404, Some("BLOB_UPLOAD_UNKNOWN"), _) | (404, None, Route::Upload) => Reason::UploadUnknown,
        (404, Some("BLOB_UNKNOWN"), _) | (404, None, Route::Blob) => Reason::BlobUnknown,
        (404, Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN"), _) | (404, None, Route::Manifest) => {
            Reason::ManifestUnknown
        }
        (s, ..) if status_is_retryable(s) => Reason::ServerError,
        // We push manifests by the digest we computed over the very bytes we send, so a
        // registry that answers DIGEST_INVALID read something else: distribution's filesystem
        // storage does so while another client writes the same manifest (two promotions of one
        // image at once, tests/reliability.rs). Transient, retried under the budget.
        (400, Some("DIGEST_INVALID"), Route::Manifest) => Reason::ServerError,
        _ => Reason::BadResponse,
    };
    let mut error = Error::new(reason, message);
    error.status = Some(status);
    error.registry_code = registry_code.map(str::to_owned);
    error
}

/// Whether a registry's error message says that a tag is immutable.
fn says_immutable(message: &str) -> bool {
    message.to_ascii_lowercase().contains("immutable")
}

/// The retry rule of a request that creates something (a deployment, a dispatch, a message): it
/// may have arrived even when it failed, so it is re-sent only when the server refused it
/// unprocessed (a rate limit); any other failure is final.
#[must_use]
pub fn for_a_write(mut error: Error) -> Error {
    if error.reason != Reason::RateLimited {
        error.retryable = false;
    }
    error
}

/// Runs `operation` under `policy`: retries what is retryable, sleeping through the runtime seam.
///
/// # Errors
/// The last error, once it is permanent or the attempts are used up.
pub async fn run<T, F, Fut>(policy: &RetryPolicy, what: &str, mut operation: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match operation(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => match policy.decide(attempt, e) {
                Decision::Fail(e) => return Err(e),
                Decision::RetryAfter(delay) => {
                    tracing::debug!(%what, attempt, delay_ms = delay.as_millis() as u64, "transient failure, retrying");
                    crate::runtime::sleep(delay).await;
                    attempt += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Category, ErrorKind};

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(2),
        }
    }

    #[test]
    fn an_immutable_tag_is_a_refusal_not_a_retry() {
        let ecr = classify_status(
            400,
            Some("TAG_INVALID"),
            Route::Manifest,
            "PUT manifest r/a:prod: The image tag 'prod' already exists in the 'a' repository and cannot be overwritten because the repository is immutable. (TAG_INVALID)".into(),
        );
        assert_eq!(ecr.reason, Reason::TagImmutable);
        assert_eq!(ecr.kind, ErrorKind::Refused);
        assert!(!ecr.retryable);
        let harbor = classify_status(
            412,
            Some("PRECONDITION"),
            Route::Manifest,
            "PUT manifest r/a:prod: configured as immutable, cannot be updated (PRECONDITION)"
                .into(),
        );
        assert_eq!(harbor.reason, Reason::TagImmutable);
        let other = classify_status(400, Some("TAG_INVALID"), Route::Manifest, "bad tag".into());
        assert_eq!(other.reason, Reason::BadResponse);
        let blob = classify_status(403, None, Route::Blob, "immutable".into());
        assert_eq!(blob.reason, Reason::Denied, "only manifests and tags");
    }

    #[rstest::rstest]
    #[case(408, None, Route::Blob, Reason::Timeout)]
    #[case(429, None, Route::Manifest, Reason::RateLimited)]
    #[case(500, None, Route::Blob, Reason::ServerError)]
    #[case(502, None, Route::Upload, Reason::ServerError)]
    #[case(503, None, Route::Blob, Reason::ServerError)]
    #[case(504, None, Route::Manifest, Reason::ServerError)]
    #[case(501, None, Route::Upload, Reason::BadResponse)]
    #[case(400, Some("MANIFEST_INVALID"), Route::Manifest, Reason::BadResponse)]
    #[case(401, None, Route::Blob, Reason::Unauthorized)]
    #[case(403, Some("DENIED"), Route::Upload, Reason::Denied)]
    #[case(404, Some("BLOB_UPLOAD_UNKNOWN"), Route::Upload, Reason::UploadUnknown)]
    #[case(404, None, Route::Upload, Reason::UploadUnknown)]
    #[case(404, None, Route::Blob, Reason::BlobUnknown)]
    #[case(404, Some("BLOB_UNKNOWN"), Route::Other, Reason::BlobUnknown)]
    #[case(404, None, Route::Manifest, Reason::ManifestUnknown)]
    #[case(404, Some("NAME_UNKNOWN"), Route::Blob, Reason::ManifestUnknown)]
    #[case(404, None, Route::Other, Reason::BadResponse)]
    #[case(409, None, Route::Manifest, Reason::BadResponse)]
    #[case(400, Some("DIGEST_INVALID"), Route::Manifest, Reason::ServerError)]
    #[case(400, Some("DIGEST_INVALID"), Route::Upload, Reason::BadResponse)]
    fn classifies(
        #[case] status: u16,
        #[case] code: Option<&str>,
        #[case] route: Route,
        #[case] reason: Reason,
    ) {
        let e = classify_status(status, code, route, "x".into());
        assert_eq!(e.reason, reason, "{status} {code:?}");
        assert_eq!(e.retryable, reason.traits().retryable);
        assert_eq!(e.status, Some(status));
        assert_eq!(e.registry_code.as_deref(), code);
    }

    #[test]
    fn a_write_is_retried_only_after_a_rate_limit() {
        let rate_limited = classify_status(429, None, Route::Other, "x".into());
        assert!(for_a_write(rate_limited).retryable);
        for status in [500, 502, 503, 504, 408] {
            let e = classify_status(status, None, Route::Other, "x".into());
            assert!(e.retryable, "{status} is transient for a read");
            assert!(
                !for_a_write(e).retryable,
                "{status} may have arrived: final for a write"
            );
        }
        assert!(!for_a_write(Error::network("reset")).retryable);
    }

    #[test]
    fn routes_of_urls() {
        let r = |p: &str| Route::of(&format!("http://127.0.0.1:5000{p}"));
        assert_eq!(r("/v2/a/b/blobs/sha256:ab"), Route::Blob);
        assert_eq!(r("/v2/a/blobs/uploads/u?_state=x"), Route::Upload);
        assert_eq!(r("/v2/a/manifests/1.0"), Route::Manifest);
        assert_eq!(r("/v2/a/tags/list"), Route::Manifest);
        assert_eq!(r("/v2/"), Route::Other);
        assert_eq!(Route::of("not a url"), Route::Other);
    }

    #[test]
    fn parses_retry_after_both_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(100);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            d > Duration::from_secs(95) && d <= Duration::from_secs(100),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let b2 = p.backoff(2);
        assert!(b2 >= Duration::from_millis(50) && b2 <= Duration::from_millis(100));
        let b4 = p.backoff(4);
        assert!(b4 >= Duration::from_millis(200) && b4 <= Duration::from_millis(400));
        assert!(p.backoff(30) <= Duration::from_secs(1));
    }

    #[test]
    fn long_retry_after_fails_at_once() {
        let p = policy(5);
        let mut e = classify_status(429, None, Route::Manifest, "rate limited".into());
        e.retry_after = Some(Duration::from_secs(120));
        match p.decide(1, e) {
            Decision::Fail(e) => {
                assert_eq!(e.reason, Reason::RetryAfterTooLong);
                assert!(!e.retryable);
                assert_eq!(e.status, Some(429));
                assert!(e.hint.unwrap().contains("120s"));
            }
            Decision::RetryAfter(_) => panic!("must not wait 120 s"),
        }
    }

    #[test]
    fn exhausted_is_not_retryable_and_keeps_the_cause() {
        let p = policy(5);
        let last = classify_status(503, None, Route::Blob, "GET blob: HTTP 503".into());
        assert!(matches!(p.decide(4, last.clone()), Decision::RetryAfter(_)));
        let Decision::Fail(e) = p.decide(5, last) else {
            panic!("attempt 5 of 5 must fail");
        };
        assert_eq!(e.reason, Reason::RetriesExhausted);
        assert!(
            !e.retryable,
            "an exhausted error is not retried by any outer loop"
        );
        assert_eq!(e.message, "gave up after 5 attempts: GET blob: HTTP 503");
        assert_eq!(
            (e.kind, e.category),
            (ErrorKind::Registry, Category::Registry)
        );
        assert_eq!(e.status, Some(503));
        assert_eq!(e.exit_code(), 4);
        assert_eq!(e.cause().map(|c| c.reason), Some(Reason::ServerError));
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(source, "[REGISTRY] GET blob: HTTP 503");
        // An outer loop gets it back unchanged: no second "gave up", no retry.
        let Decision::Fail(again) = p.decide(1, e) else {
            panic!("an exhausted error must not be retried");
        };
        assert_eq!(again.message.matches("gave up after").count(), 1);
        // A network cause keeps its category.
        let Decision::Fail(n) = policy(1).decide(1, Error::network("reset")) else {
            panic!("one attempt in all");
        };
        assert_eq!(n.category, Category::Network);
        assert_eq!(n.message, "gave up after 1 attempt: reset");
    }

    #[test]
    fn permanent_errors_fail_unwrapped() {
        let e = classify_status(403, Some("DENIED"), Route::Upload, "denied".into());
        let Decision::Fail(e) = policy(5).decide(1, e) else {
            panic!("403 is permanent");
        };
        assert_eq!(e.reason, Reason::Denied);
        assert!(std::error::Error::source(&e).is_none());
    }

    /// Nested loops (a transfer around a request) cannot multiply: the inner loop's exhausted
    /// error stops the outer one, so a never-healing fault is attempted N times, not N × N.
    #[tokio::test]
    async fn nested_runs_do_not_multiply() {
        let p = policy(3);
        let sent = std::sync::atomic::AtomicU32::new(0);
        let outer: Result<()> = run(&p, "outer", |_| {
            run(&p, "inner", |_| async {
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(Error::network("reset"))
            })
        })
        .await;
        let e = outer.unwrap_err();
        assert_eq!(sent.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert_eq!(e.message, "gave up after 3 attempts: reset");
    }
}
