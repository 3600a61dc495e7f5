//! The Check stage: each check is a pure function of the resolved image (a
//! [`ResolvedImage`](crate::resolve::ResolvedImage) plus the scan report and the inputs in
//! [`CheckContext`]) and the [`Policy`], returning [`CheckResult`]s; [`run_checks`] runs every
//! check the policy enables. The one async part, [`load_context`], reads the scan report and has
//! the Resolve stage read configs and probe blobs. The policy (`policy.rs`) sets each check's
//! severity; the gate (`gate.rs`) turns the results into a decision. One file per check.

mod context;
pub mod entrypoint;
pub mod exists;
pub mod labels;
pub mod layers;
pub mod metadata;
pub mod platform;
pub mod scan;
pub mod signature;
pub mod size;
#[cfg(test)]
mod tests;

use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use context::{
    CheckContext, CheckInputs, ScanInput, SignatureInput, SignatureRequest, blob_probe,
    load_context, read_scan_report, signature_request, signed_digests,
};

use crate::error::{Category, Error, Severity};
use crate::policy::{Action, CheckSettings, Policy};

/// The outcome of one check (on one platform, for per-platform checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// Stable id: `exists`, `size`, `platform`, `layers`, `metadata`, `labels`, `entrypoint`, `scan`,
    /// `signature`.
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

impl CheckResult {
    /// A result of check `id` with the severity its failures carry and category VALIDATION.
    #[must_use]
    pub fn new(
        id: &str,
        status: CheckStatus,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            status,
            severity,
            category: Category::Validation,
            message: message.into(),
            platform: None,
            details: serde_json::Value::Null,
            unforceable: false,
            overridden: false,
            override_reason: None,
            duration_ms: 0,
        }
    }

    /// Sets the platform the result applies to.
    #[must_use]
    pub fn platform(mut self, platform: Option<String>) -> Self {
        self.platform = platform;
        self
    }

    /// Sets the machine-readable details.
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Marks an integrity failure (missing or corrupt blob) or an expected-digest mismatch:
    /// CRITICAL and never forced.
    #[must_use]
    pub fn unforceable(mut self) -> Self {
        self.unforceable = true;
        self.severity = Severity::Critical;
        self
    }

    /// A check that could not run because a request failed: the error's category (NETWORK,
    /// AUTHENTICATION, …), status `fail`, never forced. The CLI maps it to the error's exit code.
    #[must_use]
    pub fn could_not_run(id: &str, error: &Error) -> Self {
        let mut r = Self::new(
            id,
            CheckStatus::Fail,
            error.severity,
            format!("could not check: {}", error.message),
        );
        r.category = error.category;
        r.unforceable = true;
        r.details = serde_json::json!({ "error": error });
        r
    }
}

/// Collects the failures and warnings one result reports, then renders its status and message.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    failures: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Outcome {
    /// Records a failure.
    pub(crate) fn fail(&mut self, message: String) {
        self.failures.push(message);
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Records a note shown in the message whatever the status.
    pub(crate) fn note(&mut self, message: String) {
        self.notes.push(message);
    }

    /// Records a finding by what the policy says it leads to.
    pub(crate) fn by_action(&mut self, action: Action, message: String) {
        match action {
            Action::Fail => self.fail(message),
            Action::Warn => self.warn(message),
            Action::Log => self.note(message),
        }
    }

    /// `fail` if anything failed, else `warn` if anything warned, else `pass`.
    pub(crate) fn status(&self) -> CheckStatus {
        if !self.failures.is_empty() {
            CheckStatus::Fail
        } else if !self.warnings.is_empty() {
            CheckStatus::Warn
        } else {
            CheckStatus::Pass
        }
    }

    /// Failures first, then warnings, then `summary` and the notes, joined by `; `.
    pub(crate) fn message(&self, summary: &str) -> String {
        let mut parts: Vec<&str> = self
            .failures
            .iter()
            .chain(&self.warnings)
            .map(String::as_str)
            .collect();
        if !summary.is_empty() {
            parts.push(summary);
        }
        parts.extend(self.notes.iter().map(String::as_str));
        parts.join("; ")
    }
}

/// What a check reads: the context (the resolved image and the inputs) and the policy. No
/// registry: every check is a pure function of these.
pub struct CheckEnv<'a> {
    /// The resolved image and the inputs.
    pub ctx: &'a CheckContext,
    /// The policy.
    pub policy: &'a Policy,
}

impl CheckEnv<'_> {
    /// A result of check `id` carrying the severity the policy gives that check.
    #[must_use]
    pub fn result(&self, id: &str, status: CheckStatus, message: impl Into<String>) -> CheckResult {
        CheckResult::new(id, status, self.severity_of(id), message)
    }

    /// The severity the policy gives check `id`.
    #[must_use]
    pub fn severity_of(&self, id: &str) -> Severity {
        settings(self.policy, id).map_or(Severity::High, |s| s.severity())
    }
}

/// One check: a stable id and a pure function of the resolved image and the policy.
#[derive(Clone, Copy)]
pub struct Check {
    /// The stable id (`exists`, `size`, …).
    pub id: &'static str,
    /// Runs the check; per-platform checks return one result per image of an index.
    pub run: fn(&CheckEnv<'_>) -> Vec<CheckResult>,
}

/// Every check, in the order results are shown.
pub const CHECKS: [Check; 9] = [
    Check {
        id: "exists",
        run: exists::check,
    },
    Check {
        id: "size",
        run: size::check,
    },
    Check {
        id: "platform",
        run: platform::check,
    },
    Check {
        id: "layers",
        run: layers::check,
    },
    Check {
        id: "metadata",
        run: metadata::check,
    },
    Check {
        id: "labels",
        run: labels::check,
    },
    Check {
        id: "entrypoint",
        run: entrypoint::check,
    },
    Check {
        id: "scan",
        run: scan::check,
    },
    Check {
        id: "signature",
        run: signature::check,
    },
];

/// The policy settings of check `id`.
#[must_use]
pub fn settings<'p>(policy: &'p Policy, id: &str) -> Option<&'p dyn CheckSettings> {
    Some(match id {
        "exists" => &policy.exists,
        "size" => &policy.size,
        "platform" => &policy.platform,
        "layers" => &policy.layers,
        "metadata" => &policy.metadata,
        "labels" => &policy.labels,
        "entrypoint" => &policy.entrypoint,
        "scan" => &policy.scan,
        "signature" => &policy.signature,
        _ => return None,
    })
}

/// Runs every check the policy enables (a disabled check gives one `skipped` result that says
/// so) on `ctx`. Pure: the Resolve stage did every request ([`load_context`]); a request that
/// failed there is a result of that error's category (see [`CheckResult::could_not_run`]). The
/// `layers` results carry the time of the blob probe.
#[must_use]
pub fn run_checks(ctx: &CheckContext, policy: &Policy) -> Vec<CheckResult> {
    let env = CheckEnv { ctx, policy };
    let mut out = Vec::new();
    for check in &CHECKS {
        if settings(policy, check.id).is_some_and(|s| !s.enabled()) {
            let why = if check.id == signature::ID && policy.signature.keys.is_empty() {
                "off: no verification key given (--verify-key or `signature.keys`)"
            } else {
                "disabled by the policy"
            };
            out.push(env.result(check.id, CheckStatus::Skipped, why));
            continue;
        }
        let started = Instant::now();
        let mut results = (check.run)(&env);
        let mut ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if check.id == "layers" {
            ms = ms.saturating_add(ctx.image.blobs.millis);
        }
        for r in &mut results {
            r.duration_ms = ms;
        }
        out.extend(results);
    }
    out
}

/// The first result that is a failed request rather than a finding, as the error to exit with
/// (NETWORK/TIMEOUT/REGISTRY → 4, AUTHENTICATION/PERMISSION/DOCKER → 5).
#[must_use]
pub fn request_failure(results: &[CheckResult]) -> Option<Error> {
    let r = results
        .iter()
        .find(|r| r.status == CheckStatus::Fail && r.category != Category::Validation)?;
    let message = format!("check `{}`: {}", r.id, r.message);
    Some(match r.category {
        Category::Authentication => Error::authentication(message),
        Category::Permission => Error::permission(message),
        Category::Docker => Error::docker(message),
        Category::Timeout => Error::timeout(message),
        Category::Network => Error::network(message),
        Category::Registry | Category::Validation | Category::Unknown => Error::registry(message),
    })
}
