//! The Check stage: each check reads the resolved image (an [`ImageGraph`](crate::copy::ImageGraph)
//! plus the configs and the optional scan report in [`CheckContext`]) and returns
//! [`CheckResult`]s; [`run_checks`] runs every check the [`Policy`] enables. The policy (see
//! `policy.rs`) sets each check's severity; the gate (`gate.rs`) turns the results into a decision. One file per check, all behind [`Check`].

mod context;
pub mod entrypoint;
pub mod exists;
pub mod labels;
pub mod layers;
pub mod metadata;
pub mod platform;
pub mod scan;
pub mod size;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::Instant;

use serde::Serialize;

pub use context::{
    CheckContext, CheckInputs, ConfigProblem, ImageInfo, ImageKind, ScanInput, load_context,
    read_scan_report,
};

use crate::digest::Digest;
use crate::error::{Category, Error, Severity};
use crate::policy::{Action, CheckSettings, Policy};
use crate::registry::RegistryClient;

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

/// What a check reads: the registry (for the `layers` check), the context, the policy and the
/// deep-mode options.
pub struct CheckEnv<'a> {
    /// The source registry client (read-only use).
    pub client: &'a RegistryClient,
    /// The resolved image.
    pub ctx: &'a CheckContext,
    /// The policy.
    pub policy: &'a Policy,
    /// Whether `deep` mode is on: download and hash every blob.
    pub deep: bool,
    /// Blobs deep mode does not download because the copy streams and hashes them anyway.
    pub skip_deep_for: &'a BTreeSet<Digest>,
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

/// A boxed check future (checks are object-safe behind [`Check`]).
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Vec<CheckResult>> + Send + 'a>>;

/// One check: a stable id and a run over the resolved image.
pub trait Check: Send + Sync {
    /// The stable id (`exists`, `size`, …).
    fn id(&self) -> &'static str;
    /// Runs the check; per-platform checks return one result per image of an index.
    fn run<'a>(&'a self, env: &'a CheckEnv<'a>) -> CheckFuture<'a>;
}

/// A check whose work is synchronous.
struct SyncCheck {
    id: &'static str,
    run: fn(&CheckEnv<'_>) -> Vec<CheckResult>,
}

impl Check for SyncCheck {
    fn id(&self) -> &'static str {
        self.id
    }
    fn run<'a>(&'a self, env: &'a CheckEnv<'a>) -> CheckFuture<'a> {
        let results = (self.run)(env);
        Box::pin(std::future::ready(results))
    }
}

/// The `layers` check: asynchronous (HEAD requests, and downloads in deep mode).
struct LayersCheck;

impl Check for LayersCheck {
    fn id(&self) -> &'static str {
        "layers"
    }
    fn run<'a>(&'a self, env: &'a CheckEnv<'a>) -> CheckFuture<'a> {
        Box::pin(layers::check(env))
    }
}

/// Every check, in the order results are shown.
#[must_use]
pub fn all_checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(SyncCheck {
            id: "exists",
            run: exists::check,
        }),
        Box::new(SyncCheck {
            id: "size",
            run: size::check,
        }),
        Box::new(SyncCheck {
            id: "platform",
            run: platform::check,
        }),
        Box::new(LayersCheck),
        Box::new(SyncCheck {
            id: "metadata",
            run: metadata::check,
        }),
        Box::new(SyncCheck {
            id: "labels",
            run: labels::check,
        }),
        Box::new(SyncCheck {
            id: "entrypoint",
            run: entrypoint::check,
        }),
        Box::new(SyncCheck {
            id: "scan",
            run: scan::check,
        }),
    ]
}

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
        _ => return None,
    })
}

/// Runs every check the policy enables (a disabled check gives one `skipped` result that says
/// so). `deep` downloads and hashes every blob. Never fails: a request that fails inside a check
/// becomes a result of that error's category (see [`CheckResult::could_not_run`]).
pub async fn run_checks(
    client: &RegistryClient,
    ctx: &CheckContext,
    policy: &Policy,
    deep: bool,
) -> Vec<CheckResult> {
    run_checks_skipping(client, ctx, policy, deep, &BTreeSet::new()).await
}

/// [`run_checks`] for `promote`, which must not download a blob twice (DESIGN.md, "Verified"):
/// in deep mode the blobs in `skip_deep_for` (those the copy will stream, hashing and counting
/// them) are not downloaded here; the `layers` result counts them as `verified_by_copy`. Every
/// blob is still HEADed.
pub async fn run_checks_skipping(
    client: &RegistryClient,
    ctx: &CheckContext,
    policy: &Policy,
    deep: bool,
    skip_deep_for: &BTreeSet<Digest>,
) -> Vec<CheckResult> {
    let env = CheckEnv {
        client,
        ctx,
        policy,
        deep,
        skip_deep_for,
    };
    let checks = all_checks();
    let runs = checks.iter().map(|check| {
        let env = &env;
        async move {
            let id = check.id();
            if settings(policy, id).is_some_and(|s| !s.enabled()) {
                return vec![env.result(id, CheckStatus::Skipped, "disabled by the policy")];
            }
            let started = Instant::now();
            let mut results = check.run(env).await;
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            for r in &mut results {
                r.duration_ms = ms;
            }
            results
        }
    });
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
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
        Category::Timeout => Error::timeout(message).retryable(false),
        Category::Network => Error::network(message).retryable(false),
        Category::Registry | Category::Validation | Category::Unknown => Error::registry(message),
    })
}
