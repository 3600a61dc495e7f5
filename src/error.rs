//! Errors for every stage of the pipeline: one [`Error`] type carrying a category, a severity,
//! whether a retry may help, and a hint that tells the user what to do next. `main.rs` maps the
//! [`ErrorKind`] (the outcome) to an exit code; the [`Category`] is what reports group by.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What went wrong, in the terms reports use (DESIGN.md, invariant 6).
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

/// The outcome class of an error; `main.rs` turns it into the exit code (DESIGN.md, Exit codes).
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

/// One classified failure.
#[derive(Debug, Clone, Serialize)]
pub struct Error {
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
    /// HTTP status, when a registry answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The registry's OCI error code (`BLOB_UNKNOWN`, `DENIED`, ...), when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_code: Option<String>,
    /// The delay the registry asked for with `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// Result alias for the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error; prefer the named constructors.
    #[must_use]
    pub fn new(kind: ErrorKind, category: Category, message: impl Into<String>) -> Self {
        let severity = match kind {
            ErrorKind::Input | ErrorKind::Refused | ErrorKind::Verification | ErrorKind::Access => {
                Severity::Critical
            }
            ErrorKind::Registry | ErrorKind::Interrupted | ErrorKind::Internal => Severity::High,
        };
        Self {
            kind,
            category,
            severity,
            retryable: false,
            message: message.into(),
            hint: None,
            status: None,
            registry_code: None,
            retry_after: None,
        }
    }

    /// Bad user input (exit 2).
    #[must_use]
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, Category::Validation, message)
    }

    /// Bytes that do not match their digest or size (exit 6).
    #[must_use]
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Verification, Category::Validation, message)
    }

    /// A refusal by checks or policy (exit 3).
    #[must_use]
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, Category::Validation, message)
    }

    /// A network failure; retryable.
    #[must_use]
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Registry, Category::Network, message).retryable(true)
    }

    /// A timeout; retryable.
    #[must_use]
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Registry, Category::Timeout, message).retryable(true)
    }

    /// A registry error that is not about access.
    #[must_use]
    pub fn registry(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Registry, Category::Registry, message)
    }

    /// Credentials missing or rejected (exit 5).
    #[must_use]
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Access, Category::Authentication, message)
    }

    /// Valid credentials without the needed right (exit 5).
    #[must_use]
    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Access, Category::Permission, message)
    }

    /// A broken docker config or credential helper (exit 5).
    #[must_use]
    pub fn docker(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Access, Category::Docker, message)
    }

    /// Interrupted by a signal.
    #[must_use]
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Interrupted, Category::Unknown, message)
    }

    /// An unexpected state (exit 1).
    #[must_use]
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, Category::Unknown, message)
    }

    /// Sets the hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets whether a retry may help.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Sets the severity.
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

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

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
}
