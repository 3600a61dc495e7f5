//! The one retry policy (DESIGN.md, invariant 5): exponential backoff with jitter, `Retry-After`
//! honored up to the maximum delay, and the single place that decides which failures are
//! transient. Every request goes through [`RetryPolicy`], uploads included.

use std::time::{Duration, SystemTime};

use crate::error::{Category, Error, ErrorKind, Result};

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

    /// Decides after attempt number `attempt` (1-based) failed with `error`.
    #[must_use]
    pub fn decide(&self, attempt: u32, error: Error) -> Decision {
        if !error.retryable || attempt >= self.attempts {
            return Decision::Fail(if error.retryable && attempt > 1 {
                error.context(format_args!("gave up after {attempt} attempts"))
            } else {
                error
            });
        }
        if let Some(asked) = error.retry_after {
            if asked > self.max_delay {
                let secs = asked.as_secs();
                return Decision::Fail(
                    error
                        .retryable(false)
                        .context(format_args!("the registry asked to wait {secs} s (Retry-After)"))
                        .hint(format!(
                            "the registry is rate limiting; retry later, or raise retry-max-delay to at least {secs}s"
                        )),
                );
            }
            return Decision::RetryAfter(asked.max(self.backoff(attempt + 1) / 4));
        }
        Decision::RetryAfter(self.backoff(attempt + 1))
    }
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

/// Classifies an HTTP error status into an [`Error`] with category and retryability.
#[must_use]
pub fn classify_status(status: u16, registry_code: Option<&str>, message: String) -> Error {
    let mut error = match status {
        401 => Error::authentication(message),
        403 => Error::permission(message),
        408 => Error::timeout(message),
        429 => Error::registry(message).retryable(true),
        s if status_is_retryable(s) => Error::registry(message).retryable(true),
        _ => Error::registry(message),
    };
    if status == 404 && registry_code == Some("BLOB_UPLOAD_UNKNOWN") {
        // The registry forgot the upload session: the caller restarts that upload.
        error = error.retryable(true);
    }
    if matches!(error.kind, ErrorKind::Registry)
        && error.category == Category::Registry
        && !error.retryable
    {
        error.severity = crate::error::Severity::High;
    }
    error.status = Some(status);
    error.registry_code = registry_code.map(str::to_owned);
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

    #[test]
    fn classifies() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(classify_status(s, None, String::new()).retryable, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412, 501] {
            assert!(!classify_status(s, None, String::new()).retryable, "{s}");
        }
        assert!(classify_status(404, Some("BLOB_UPLOAD_UNKNOWN"), String::new()).retryable);
        assert_eq!(
            classify_status(403, None, String::new()).category,
            Category::Permission
        );
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
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
        };
        let mut e = classify_status(429, None, "rate limited".into());
        e.retry_after = Some(Duration::from_secs(120));
        match p.decide(1, e) {
            Decision::Fail(e) => assert!(e.hint.unwrap().contains("120s")),
            Decision::RetryAfter(_) => panic!("must not wait 120 s"),
        }
        let e = classify_status(503, None, "x".into());
        assert!(matches!(p.decide(5, e), Decision::Fail(_)));
    }
}
