//! Errors for every stage of the pipeline: one [`Error`] type made from a typed [`Reason`], from
//! which its outcome ([`ErrorKind`], hence [`Error::exit_code`]), [`Category`] (what reports group
//! by), [`Severity`] and retryability follow in one table ([`Reason::traits`]); a hint tells the
//! user what to do next, and [`std::error::Error::source`] leads to a wrapped cause.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What went wrong, in the terms reports use (`docs/architecture.md`, invariants).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// Bad input, a failed check, or bytes that do not match their digest.
    Validation,
    /// Connection refused or reset, short bodies, DNS.
    Network,
    /// Credentials missing or rejected.
    Authentication,
    /// The registry answered with an error that is not about access.
    Registry,
    /// A broken docker `config.json` or a failing `docker-credential-*` helper.
    Docker,
    /// Valid credentials that may not do what was asked (push, pull).
    Permission,
    /// A request or the whole operation ran out of time.
    Timeout,
    /// Anything else.
    Unknown,
}

impl Category {
    /// The upper-case name used in annotations and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "VALIDATION",
            Self::Network => "NETWORK",
            Self::Authentication => "AUTHENTICATION",
            Self::Registry => "REGISTRY",
            Self::Docker => "DOCKER",
            Self::Permission => "PERMISSION",
            Self::Timeout => "TIMEOUT",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad it is. Severity never decides retries; [`Error::retryable`] does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Immediate failure.
    Critical,
    /// Retried where retryable, then a failure.
    High,
    /// Logged; the run continues with a warning.
    Medium,
    /// Logged.
    Low,
}

impl Severity {
    /// The upper-case name used in annotations and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "CRITICAL",
            Self::High => "HIGH",
            Self::Medium => "MEDIUM",
            Self::Low => "LOW",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome class of an error, derived from its [`Reason`]; it decides the exit code
/// ([`Error::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Usage or input error (exit 2): a malformed reference, flag, policy or report.
    Input,
    /// Refused by checks or policy (exit 3).
    Refused,
    /// Registry or network failure after retries (exit 4).
    Registry,
    /// Authentication or permission failure, including DOCKER credential problems (exit 5).
    Access,
    /// Verification failed during or after the copy (exit 6).
    Verification,
    /// Interrupted by a signal (exit 130 or 143).
    Interrupted,
    /// A bug or an unexpected state (exit 1).
    Internal,
}

/// Why it failed, as a type: the one input from which the kind (exit code), category, severity
/// and retryability of an [`Error`] are derived ([`Reason::traits`]). Callers decide on the reason,
/// never on a message text or a raw HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A malformed reference, flag, policy, report or configuration.
    InvalidInput,
    /// Refused by the checks or the policy.
    Refused,
    /// The registry does not know the manifest (or the repository).
    ManifestUnknown,
    /// The registry does not know the blob.
    BlobUnknown,
    /// The registry forgot an upload session (`BLOB_UPLOAD_UNKNOWN`): the transfer restarts.
    UploadUnknown,
    /// The registry refused a monolithic upload: the transfer restarts with chunked uploads.
    MonolithicUploadRefused,
    /// HTTP 429 without a `Retry-After` beyond the maximum delay.
    RateLimited,
    /// The registry asked to wait (`Retry-After`) longer than the maximum delay.
    RetryAfterTooLong,
    /// A transient server failure: a 5xx other than 501, or a manifest PUT answered
    /// `DIGEST_INVALID` (the registry read a concurrent write of the same manifest).
    ServerError,
    /// Any other unexpected answer: a 4xx, a missing header, a body that does not parse.
    BadResponse,
    /// Connection refused or reset, DNS, a body that ended early.
    Connection,
    /// A request ran out of time.
    Timeout,
    /// The registry's TLS certificate is not trusted (never downgraded, never retried).
    CertificateUntrusted,
    /// The attempt budget of a request or a blob transfer is used up; [`Error::source`] is the
    /// last attempt's error, whose kind and category this error keeps.
    RetriesExhausted,
    /// Credentials missing or rejected.
    Unauthorized,
    /// The token stopped working during a streamed upload: the transfer restarts with a new one.
    TokenExpired,
    /// Valid credentials without the right asked for (`DENIED`, `insufficient_scope`, 403).
    Denied,
    /// The registry refused to move an existing tag because the repository's tags are
    /// immutable (ECR `IMMUTABLE`, Harbor immutability rules, …): a policy, never retried.
    TagImmutable,
    /// A broken docker `config.json` or a failing `docker-credential-*` helper.
    CredentialHelper,
    /// Bytes that do not hash to their digest, or a registry naming another digest.
    DigestMismatch,
    /// A blob or manifest of another size than declared.
    SizeMismatch,
    /// Interrupted by a signal (its number).
    Interrupted(i32),
    /// A bug or an unexpected state.
    Internal,
}

/// What a [`Reason`] implies (see [`Reason::traits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// Outcome class (exit code).
    pub kind: ErrorKind,
    /// Category for reports.
    pub category: Category,
    /// Severity for reports.
    pub severity: Severity,
    /// Whether another attempt may help.
    pub retryable: bool,
}

impl Reason {
    /// The one table of what each reason implies. [`Reason::RetriesExhausted`] answers for an
    /// exhaustion without a known cause; [`Error::exhausted`] keeps the cause's kind and category.
    #[must_use]
    pub fn traits(self) -> Traits {
        use Category as C;
        use ErrorKind as K;
        use Severity::{Critical, High};
        let (kind, category, severity, retryable) = match self {
            Self::InvalidInput => (K::Input, C::Validation, Critical, false),
            Self::Refused => (K::Refused, C::Validation, Critical, false),
            Self::ManifestUnknown | Self::BlobUnknown | Self::BadResponse => {
                (K::Registry, C::Registry, High, false)
            }
            Self::RetryAfterTooLong | Self::RetriesExhausted => {
                (K::Registry, C::Registry, High, false)
            }
            Self::UploadUnknown
            | Self::MonolithicUploadRefused
            | Self::RateLimited
            | Self::ServerError => (K::Registry, C::Registry, High, true),
            Self::Connection => (K::Registry, C::Network, High, true),
            Self::Timeout => (K::Registry, C::Timeout, High, true),
            Self::CertificateUntrusted => (K::Registry, C::Network, Critical, false),
            Self::Unauthorized => (K::Access, C::Authentication, Critical, false),
            Self::TokenExpired => (K::Access, C::Authentication, High, true),
            Self::Denied => (K::Access, C::Permission, Critical, false),
            Self::TagImmutable => (K::Refused, C::Registry, High, false),
            Self::CredentialHelper => (K::Access, C::Docker, Critical, false),
            Self::DigestMismatch | Self::SizeMismatch => {
                (K::Verification, C::Validation, Critical, false)
            }
            Self::Interrupted(_) => (K::Interrupted, C::Unknown, High, false),
            Self::Internal => (K::Internal, C::Unknown, High, false),
        };
        Traits {
            kind,
            category,
            severity,
            retryable,
        }
    }
}

/// One classified failure. `kind`, `category`, `severity` and `retryable` are derived from
/// `reason` when the error is made (they are fields so that reports read them directly).
#[derive(Debug, Clone, Serialize)]
pub struct Error {
    /// Why it failed.
    pub reason: Reason,
    /// Outcome class (decides the exit code).
    pub kind: ErrorKind,
    /// Category for reports.
    pub category: Category,
    /// Severity for reports.
    pub severity: Severity,
    /// Whether the retry layer may try again.
    pub retryable: bool,
    /// What happened, naming the reference, digest or (redacted) URL.
    pub message: String,
    /// What to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// HTTP status, when a registry answered (for reports; decide on [`Error::reason`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The registry's OCI error code (`BLOB_UNKNOWN`, `DENIED`, ...), when it sent one (for
    /// reports; decide on [`Error::reason`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_code: Option<String>,
    /// The delay the registry asked for with `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The error this one wraps (the last attempt of an exhausted retry).
    #[serde(skip)]
    cause: Option<Arc<Error>>,
}

/// Result alias for the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error for `reason`; its kind, category, severity and retryability follow from it.
    #[must_use]
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        let t = reason.traits();
        Self {
            reason,
            kind: t.kind,
            category: t.category,
            severity: t.severity,
            retryable: t.retryable,
            message: message.into(),
            hint: None,
            status: None,
            registry_code: None,
            retry_after: None,
            cause: None,
        }
    }

    /// The attempt budget is used up: `last` was attempt number `attempts`. Not retryable (no
    /// outer loop tries again); keeps `last`'s kind, category, status, code and hint, and wraps
    /// it as [`std::error::Error::source`].
    #[must_use]
    pub fn exhausted(attempts: u32, last: Error) -> Self {
        let plural = if attempts == 1 { "" } else { "s" };
        let mut e = Self::new(
            Reason::RetriesExhausted,
            format!("gave up after {attempts} attempt{plural}: {}", last.message),
        );
        e.kind = last.kind;
        e.category = last.category;
        e.hint.clone_from(&last.hint);
        e.status = last.status;
        e.registry_code.clone_from(&last.registry_code);
        e.cause = Some(Arc::new(last));
        e
    }

    /// The wrapped cause, if any (the same as [`std::error::Error::source`], typed).
    #[must_use]
    pub fn cause(&self) -> Option<&Error> {
        self.cause.as_deref()
    }

    /// The process exit code for this error (`docs/architecture.md`, Exit codes): 2 input,
    /// 3 refused, 4 registry/network, 5 access, 6 verification, 128 + signal when interrupted,
    /// 1 internal.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::Refused => 3,
            ErrorKind::Registry => 4,
            ErrorKind::Access => 5,
            ErrorKind::Verification => 6,
            ErrorKind::Interrupted => match self.reason {
                Reason::Interrupted(signal) => u8::try_from(128 + signal).unwrap_or(130),
                _ => 130,
            },
            ErrorKind::Internal => 1,
        }
    }

    /// Bad user input (exit 2).
    #[must_use]
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Reason::InvalidInput, message)
    }

    /// Bytes that do not match their digest (exit 6).
    #[must_use]
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(Reason::DigestMismatch, message)
    }

    /// A blob or manifest of another size than declared (exit 6).
    #[must_use]
    pub fn size_mismatch(message: impl Into<String>) -> Self {
        Self::new(Reason::SizeMismatch, message)
    }

    /// A refusal by checks or policy (exit 3).
    #[must_use]
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Reason::Refused, message)
    }

    /// A network failure; retryable.
    #[must_use]
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Reason::Connection, message)
    }

    /// A timeout; retryable.
    #[must_use]
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(Reason::Timeout, message)
    }

    /// An unexpected registry answer that is not about access; not retryable.
    #[must_use]
    pub fn registry(message: impl Into<String>) -> Self {
        Self::new(Reason::BadResponse, message)
    }

    /// Credentials missing or rejected (exit 5).
    #[must_use]
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(Reason::Unauthorized, message)
    }

    /// Valid credentials without the needed right (exit 5).
    #[must_use]
    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(Reason::Denied, message)
    }

    /// A broken docker config or credential helper (exit 5).
    #[must_use]
    pub fn docker(message: impl Into<String>) -> Self {
        Self::new(Reason::CredentialHelper, message)
    }

    /// Interrupted by `signal` (exit 128 + signal).
    #[must_use]
    pub fn interrupted(signal: i32, message: impl Into<String>) -> Self {
        Self::new(Reason::Interrupted(signal), message)
    }

    /// An unexpected state (exit 1).
    #[must_use]
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Reason::Internal, message)
    }

    /// Sets the hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Lowers or raises the severity for a report (a failure logged as a warning); the kind and
    /// retryability stay those of the reason.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Prefixes the message with context (`while copying blob sha256:…: `).
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.category, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category as C;
    use ErrorKind as K;
    use Severity::{Critical, High};

    #[test]
    fn display_names_category_and_hint() {
        let e =
            Error::permission("push to prod/app denied").hint("check the destination credentials");
        assert_eq!(
            e.to_string(),
            "[PERMISSION] push to prod/app denied\n  hint: check the destination credentials"
        );
        assert_eq!(e.kind, ErrorKind::Access);
        assert!(!e.retryable);
        assert!(Error::network("reset").retryable);
    }

    /// The one table: reason → kind, category, severity, retryability and exit code.
    #[rstest::rstest]
    #[case(Reason::InvalidInput, K::Input, C::Validation, Critical, false, 2)]
    #[case(Reason::Refused, K::Refused, C::Validation, Critical, false, 3)]
    #[case(Reason::ManifestUnknown, K::Registry, C::Registry, High, false, 4)]
    #[case(Reason::BlobUnknown, K::Registry, C::Registry, High, false, 4)]
    #[case(Reason::UploadUnknown, K::Registry, C::Registry, High, true, 4)]
    #[case(
        Reason::MonolithicUploadRefused,
        K::Registry,
        C::Registry,
        High,
        true,
        4
    )]
    #[case(Reason::RateLimited, K::Registry, C::Registry, High, true, 4)]
    #[case(Reason::RetryAfterTooLong, K::Registry, C::Registry, High, false, 4)]
    #[case(Reason::ServerError, K::Registry, C::Registry, High, true, 4)]
    #[case(Reason::BadResponse, K::Registry, C::Registry, High, false, 4)]
    #[case(Reason::Connection, K::Registry, C::Network, High, true, 4)]
    #[case(Reason::Timeout, K::Registry, C::Timeout, High, true, 4)]
    #[case(
        Reason::CertificateUntrusted,
        K::Registry,
        C::Network,
        Critical,
        false,
        4
    )]
    #[case(Reason::RetriesExhausted, K::Registry, C::Registry, High, false, 4)]
    #[case(Reason::Unauthorized, K::Access, C::Authentication, Critical, false, 5)]
    #[case(Reason::TokenExpired, K::Access, C::Authentication, High, true, 5)]
    #[case(Reason::Denied, K::Access, C::Permission, Critical, false, 5)]
    #[case(Reason::CredentialHelper, K::Access, C::Docker, Critical, false, 5)]
    #[case(
        Reason::DigestMismatch,
        K::Verification,
        C::Validation,
        Critical,
        false,
        6
    )]
    #[case(
        Reason::SizeMismatch,
        K::Verification,
        C::Validation,
        Critical,
        false,
        6
    )]
    #[case(Reason::Interrupted(2), K::Interrupted, C::Unknown, High, false, 130)]
    #[case(Reason::Interrupted(15), K::Interrupted, C::Unknown, High, false, 143)]
    #[case(Reason::Internal, K::Internal, C::Unknown, High, false, 1)]
    fn reason_table(
        #[case] reason: Reason,
        #[case] kind: ErrorKind,
        #[case] category: Category,
        #[case] severity: Severity,
        #[case] retryable: bool,
        #[case] exit: u8,
    ) {
        let e = Error::new(reason, "x");
        assert_eq!(
            (e.kind, e.category, e.severity, e.retryable, e.exit_code()),
            (kind, category, severity, retryable, exit),
            "{reason:?}"
        );
    }

    #[rstest::rstest]
    #[case(Error::input("x"), Reason::InvalidInput)]
    #[case(Error::refused("x"), Reason::Refused)]
    #[case(Error::verification("x"), Reason::DigestMismatch)]
    #[case(Error::size_mismatch("x"), Reason::SizeMismatch)]
    #[case(Error::network("x"), Reason::Connection)]
    #[case(Error::timeout("x"), Reason::Timeout)]
    #[case(Error::registry("x"), Reason::BadResponse)]
    #[case(Error::authentication("x"), Reason::Unauthorized)]
    #[case(Error::permission("x"), Reason::Denied)]
    #[case(Error::docker("x"), Reason::CredentialHelper)]
    #[case(Error::interrupted(15, "x"), Reason::Interrupted(15))]
    #[case(Error::internal("x"), Reason::Internal)]
    fn constructors_name_their_reason(#[case] e: Error, #[case] reason: Reason) {
        assert_eq!(e.reason, reason);
    }

    #[test]
    fn exhausted_keeps_the_cause_kind_and_is_final() {
        let last = Error::new(Reason::TokenExpired, "token rejected mid-upload").hint("log in");
        let e = Error::exhausted(3, last);
        assert_eq!(e.reason, Reason::RetriesExhausted);
        assert_eq!((e.kind, e.category), (K::Access, C::Authentication));
        assert_eq!(e.exit_code(), 5);
        assert!(!e.retryable);
        assert_eq!(e.hint.as_deref(), Some("log in"));
        assert_eq!(
            e.message,
            "gave up after 3 attempts: token rejected mid-upload"
        );
        let source = std::error::Error::source(&e).unwrap();
        assert!(source.to_string().contains("token rejected mid-upload"));
        assert!(std::error::Error::source(source).is_none());
    }
}
