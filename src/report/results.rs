//! Results in the [`Promotion`](super::record::Promotion) record: conditions, check results
//! (from [`CheckResult`]), the gate and its overrides, and classified errors. Outcomes, gate
//! decisions, severities and categories are the engine's own types (the schema is derived from
//! them), not copies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::state::State;
use crate::checks::{CheckResult, CheckStatus};
use crate::error::{Category, Severity};
use crate::gate::GateDecision;

/// How a condition turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionStatus {
    /// It holds.
    Passed,
    /// It does not hold; the promotion stops.
    Failed,
    /// Not checked (a dry run opens no upload session).
    NotChecked,
}

/// One condition checked before any check runs or any byte moves.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `source-pull`, `destination-reachable`, `destination-push`, `destination-tags`.
    pub id: String,
    /// Outcome.
    pub status: ConditionStatus,
    /// What was found.
    pub message: String,
    /// Milliseconds taken.
    pub duration_ms: u64,
}

/// A check outcome, as recorded: the engine's own [`CheckStatus`].
pub type CheckOutcome = CheckStatus;

/// Severity as recorded in the audit: the error type itself (one definition, docs/architecture.md).
pub type SeverityName = Severity;

/// Category as recorded in the audit: the error type itself.
pub type CategoryName = Category;

/// One check result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable id (`labels`, `size`, `scan`, …).
    pub id: String,
    /// Outcome.
    pub status: CheckOutcome,
    /// Severity a failure carries.
    pub severity: SeverityName,
    /// One line for humans.
    pub message: String,
    /// Platform, for per-platform checks.
    pub platform: Option<String>,
    /// Machine-readable figures.
    #[serde(default)]
    pub details: serde_json::Value,
    /// Never overridable by `force`.
    pub unforceable: bool,
    /// Overridden by `force`.
    pub overridden: bool,
    /// The force reason, when overridden.
    pub override_reason: Option<String>,
    /// Milliseconds taken.
    pub duration_ms: u64,
}

impl From<&CheckResult> for Check {
    fn from(r: &CheckResult) -> Self {
        Self {
            id: r.id.clone(),
            status: r.status,
            severity: r.severity,
            message: r.message.clone(),
            platform: r.platform.clone(),
            details: r.details.clone(),
            unforceable: r.unforceable,
            overridden: r.overridden,
            override_reason: r.override_reason.clone(),
            duration_ms: r.duration_ms,
        }
    }
}

/// What the gate decided, as recorded: the engine's own [`GateDecision`].
pub type Decision = GateDecision;

/// The gate's decision and why, as recorded: the engine's own [`Gate`].
pub use crate::gate::Gate;

/// A failed check that `force` overrode, with the recorded reason.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Check id.
    pub check: String,
    /// Platform, for per-platform checks.
    pub platform: Option<String>,
    /// Severity of the overridden failure.
    pub severity: SeverityName,
    /// What failed.
    pub message: String,
    /// The `force-reason`.
    pub reason: String,
}

/// One classified error.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRecord {
    /// Category.
    pub category: CategoryName,
    /// Severity.
    pub severity: SeverityName,
    /// Whether a retry could help.
    pub retryable: bool,
    /// What happened.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// HTTP status, when a registry answered.
    pub status: Option<u16>,
    /// The registry's OCI error code.
    pub registry_code: Option<String>,
    /// The state the promotion was in.
    pub state: State,
    /// When (RFC 3339).
    pub at: String,
}
