//! The Check stage: each check reads the resolved image (an [`ImageGraph`] plus the configs and
//! the optional scan report in [`CheckContext`]) and returns [`CheckResult`]s. The policy (see
//! `policy.rs`) turns the results into a gate decision. One file per check, all behind [`Check`].

use serde::Serialize;

use crate::error::{Category, Severity};

/// The outcome of one check (on one platform, for per-platform checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The check held.
    Pass,
    /// The check found something worth a warning; promotion proceeds.
    Warn,
    /// The check failed; the policy's severity decides whether that refuses.
    Fail,
    /// The check did not run (disabled, or nothing to check, e.g. no scan report).
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable id: `exists`, `size`, `platform`, `layers`, `metadata`, `labels`, `entrypoint`, `scan`.
    pub id: String,
    /// Outcome.
    pub status: CheckStatus,
    /// Severity a failure carries (from the policy).
    pub severity: Severity,
    /// Always VALIDATION for check failures.
    pub category: Category,
    /// One line for humans: what was found, with figures.
    pub message: String,
    /// The platform it applies to, for per-platform checks on an index (`linux/arm64/v8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Machine-readable figures (sizes, counts, missing labels, …).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// Integrity failures (missing or corrupt blob) and expected-digest mismatches: never forced.
    pub unforceable: bool,
    /// Set when `force` overrode this failure.
    pub overridden: bool,
    /// The force reason, when overridden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    /// Milliseconds taken.
    pub duration_ms: u64,
}
