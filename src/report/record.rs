//! The single [`Promotion`] record every pipeline stage adds to (DESIGN.md, The pipeline), and
//! the document the audit JSON serializes. The types derive `JsonSchema`, so
//! `schemas/audit.schema.json` is generated from them and cannot drift. Digests, categories and
//! severities are plain strings or mirror enums here: the record is a view, not the engine.

use std::time::{Instant, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, CheckStatus};
use crate::error::{Category, Error, Severity};

/// The version of the audit document's shape; bumped on any incompatible change.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

/// The outcome of a promotion, one enum everywhere: output, audit, summary (DESIGN.md,
/// Conventions). A forced promotion is `promoted` with `forced: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The destination now holds the source digest under every destination tag.
    Promoted,
    /// The destination already held everything; nothing was written (verified all the same).
    NoOp,
    /// A dry run that would promote; nothing was written.
    DryRun,
    /// Checks or policy refused the image (exit 3).
    Refused,
    /// An error stopped the promotion.
    Failed,
    /// Interrupted by a signal.
    Interrupted,
}

impl Status {
    /// The kebab-case name (`no-op`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promoted => "promoted",
            Self::NoOp => "no-op",
            Self::DryRun => "dry-run",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The named states a promotion moves through (issue 5); the audit records each transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Reading inputs, building the plan.
    Initializing,
    /// Registries reachable, pull and push allowed, tags writable.
    ValidatingConditions,
    /// Resolving the source and running the checks.
    ValidationRunning,
    /// The gate lets the image through.
    ValidationPassed,
    /// The gate found failures (refused unless forced).
    ValidationFailed,
    /// Failures overridden by `force` with a reason.
    Forced,
    /// Copying blobs and manifests, verifying, tagging.
    PromotionRunning,
    /// A transient failure is being retried.
    PromotionRetrying,
    /// Copied, verified, tagged.
    PromotionSucceeded,
    /// The copy failed.
    PromotionFailed,
    /// Writing the audit, errors log, summary and outputs.
    GeneratingReports,
    /// Done; the status says how it went.
    Completed,
    /// Done after an error.
    Failed,
}

impl State {
    /// The kebab-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::ValidatingConditions => "validating-conditions",
            Self::ValidationRunning => "validation-running",
            Self::ValidationPassed => "validation-passed",
            Self::ValidationFailed => "validation-failed",
            Self::Forced => "forced",
            Self::PromotionRunning => "promotion-running",
            Self::PromotionRetrying => "promotion-retrying",
            Self::PromotionSucceeded => "promotion-succeeded",
            Self::PromotionFailed => "promotion-failed",
            Self::GeneratingReports => "generating-reports",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// One state change.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// The state entered.
    pub state: State,
    /// When (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// Milliseconds since the promotion started.
    pub elapsed_ms: u64,
}

/// The workflow run that promoted, from the runner's `GITHUB_*` variables.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`.
    pub run_attempt: Option<String>,
    /// `GITHUB_RUN_NUMBER`.
    pub run_number: Option<String>,
    /// `GITHUB_WORKFLOW`.
    pub workflow: Option<String>,
    /// `GITHUB_WORKFLOW_REF`.
    pub workflow_ref: Option<String>,
    /// `GITHUB_JOB`.
    pub job: Option<String>,
    /// `GITHUB_ACTOR`.
    pub actor: Option<String>,
    /// `GITHUB_TRIGGERING_ACTOR`.
    pub triggering_actor: Option<String>,
    /// `GITHUB_REPOSITORY`.
    pub repository: Option<String>,
    /// `GITHUB_REF`.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_SERVER_URL`.
    pub server_url: Option<String>,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// Link to the run: server/repository/actions/runs/id[/attempts/n].
    pub run_url: Option<String>,
}

impl Workflow {
    /// Reads the metadata through `env`; `None` outside GitHub Actions.
    #[must_use]
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        if env("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let mut w = Self {
            run_id: get("GITHUB_RUN_ID"),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            run_number: get("GITHUB_RUN_NUMBER"),
            workflow: get("GITHUB_WORKFLOW"),
            workflow_ref: get("GITHUB_WORKFLOW_REF"),
            job: get("GITHUB_JOB"),
            actor: get("GITHUB_ACTOR"),
            triggering_actor: get("GITHUB_TRIGGERING_ACTOR"),
            repository: get("GITHUB_REPOSITORY"),
            git_ref: get("GITHUB_REF"),
            sha: get("GITHUB_SHA"),
            server_url: get("GITHUB_SERVER_URL"),
            event_name: get("GITHUB_EVENT_NAME"),
            run_url: None,
        };
        if let (Some(server), Some(repo), Some(id)) = (&w.server_url, &w.repository, &w.run_id) {
            let mut url = format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/'));
            if let Some(attempt) = &w.run_attempt {
                url.push_str("/attempts/");
                url.push_str(attempt);
            }
            w.run_url = Some(url);
        }
        Some(w)
    }
}

/// The approval context available to the job.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The job's `environment:` name, as the workflow passed it (`environment` input).
    pub environment: Option<String>,
    /// Who approved the deployment (filled by a later version; empty now).
    pub approvers: Vec<String>,
}

/// What was asked for: the plan (no secrets).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Source reference as given.
    pub source: String,
    /// Destination reference as given.
    pub destination: String,
    /// Every destination tag that will be written.
    pub tags: Vec<String>,
    /// The digest the source must have.
    pub expected_digest: Option<String>,
    /// The policy file, or `null` for the built-in default.
    pub policy: Option<String>,
    /// The scan report file.
    pub scan_report: Option<String>,
    /// Whether `force` was set.
    pub force: bool,
    /// The reason given with `force`.
    pub force_reason: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Blobs in flight at once.
    pub concurrency: u32,
    /// Attempts per request, the first included.
    pub retry_attempts: u32,
    /// Longest wait between attempts (humantime).
    pub retry_max_delay: String,
    /// Registries allowed plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
}

/// One layer (or config) of a platform image.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Digest.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// One image manifest of the graph (the only one, or one platform of an index).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformImage {
    /// `os/arch[/variant]`, when the index names it.
    pub platform: Option<String>,
    /// Manifest digest.
    pub digest: String,
    /// Manifest media type.
    pub media_type: String,
    /// Config blob digest.
    pub config: String,
    /// Layers in order, with sizes.
    pub layers: Vec<Layer>,
    /// Config plus layers, in bytes.
    pub size: u64,
}

/// Facts about the image being promoted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The source manifest digest.
    pub source_digest: String,
    /// The destination digest read back after the copy (absent on refusals and dry runs).
    pub destination_digest: Option<String>,
    /// Top manifest media type.
    pub media_type: String,
    /// Every image manifest (one per platform for an index).
    pub platforms: Vec<PlatformImage>,
    /// Manifests in the graph, the top one included.
    pub manifests: usize,
    /// Distributable blobs (each once).
    pub blobs: usize,
    /// Bytes of the distributable blobs.
    pub total_bytes: u64,
    /// Non-distributable layers (not copied).
    pub foreign_layers: Vec<String>,
}

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

/// A check outcome, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckOutcome {
    /// The check held.
    Pass,
    /// Worth a warning; promotion proceeds.
    Warn,
    /// Failed.
    Fail,
    /// Did not run.
    Skipped,
}

impl From<CheckStatus> for CheckOutcome {
    fn from(s: CheckStatus) -> Self {
        match s {
            CheckStatus::Pass => Self::Pass,
            CheckStatus::Warn => Self::Warn,
            CheckStatus::Fail => Self::Fail,
            CheckStatus::Skipped => Self::Skipped,
        }
    }
}

/// Severity names (mirror of `error::Severity`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityName {
    /// Immediate failure.
    Critical,
    /// Retried, then alerted.
    High,
    /// Logged; continue with a warning.
    Medium,
    /// Logged.
    Low,
}

impl From<Severity> for SeverityName {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Critical => Self::Critical,
            Severity::High => Self::High,
            Severity::Medium => Self::Medium,
            Severity::Low => Self::Low,
        }
    }
}

impl SeverityName {
    /// Upper-case name.
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

/// Category names (mirror of `error::Category`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CategoryName {
    /// Bad input, failed check, digest mismatch.
    Validation,
    /// Connection problems.
    Network,
    /// Credentials missing or rejected.
    Authentication,
    /// Registry errors not about access.
    Registry,
    /// Docker config or credential helper problems.
    Docker,
    /// Credentials lacking a right.
    Permission,
    /// Ran out of time.
    Timeout,
    /// Anything else.
    Unknown,
}

impl From<Category> for CategoryName {
    fn from(c: Category) -> Self {
        match c {
            Category::Validation => Self::Validation,
            Category::Network => Self::Network,
            Category::Authentication => Self::Authentication,
            Category::Registry => Self::Registry,
            Category::Docker => Self::Docker,
            Category::Permission => Self::Permission,
            Category::Timeout => Self::Timeout,
            Category::Unknown => Self::Unknown,
        }
    }
}

impl CategoryName {
    /// Upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Category::from(self).as_str()
    }
}

impl From<CategoryName> for Category {
    fn from(c: CategoryName) -> Self {
        match c {
            CategoryName::Validation => Self::Validation,
            CategoryName::Network => Self::Network,
            CategoryName::Authentication => Self::Authentication,
            CategoryName::Registry => Self::Registry,
            CategoryName::Docker => Self::Docker,
            CategoryName::Permission => Self::Permission,
            CategoryName::Timeout => Self::Timeout,
            CategoryName::Unknown => Self::Unknown,
        }
    }
}

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
            status: r.status.into(),
            severity: r.severity.into(),
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

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Every check passed.
    Promote,
    /// Warnings (or forced failures) only.
    PromoteWithWarnings,
    /// A failure refuses the image.
    Refuse,
}

/// The gate's decision and why.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Decision.
    pub decision: Decision,
    /// Failures that refuse.
    pub refusals: Vec<String>,
    /// Failures overridden by force.
    pub overridden: Vec<String>,
    /// Warnings counted by the gate.
    pub warnings: usize,
}

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

/// A destination tag before and after.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagOutcome {
    /// `registry/repo:tag`.
    pub reference: String,
    /// The digest it pointed at before, if any.
    pub previous: Option<String>,
    /// Whether this run wrote it.
    pub written: bool,
}

/// What the copy did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopySummary {
    /// Blobs streamed and verified.
    pub blobs_copied: usize,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs already at the destination (confirmed by HEAD).
    pub blobs_skipped: usize,
    /// Blobs a dry run would transfer.
    pub blobs_would_transfer: usize,
    /// Bytes streamed.
    pub bytes_copied: u64,
    /// Manifests pushed (or that a dry run would push).
    pub manifests_pushed: usize,
    /// Destination tags.
    pub tags: Vec<TagOutcome>,
    /// Whether the destination already held everything.
    pub no_op: bool,
    /// Requests sent to the source registry.
    pub requests_source: u64,
    /// Requests sent to the destination registry.
    pub requests_destination: u64,
    /// Request attempts that were retries.
    pub retries: u64,
    /// Passes over the whole graph (more than 1 after a transient failure).
    pub passes: u32,
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

/// Milliseconds per operation (absent when the operation did not run).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Validating conditions.
    pub validate_ms: Option<u64>,
    /// Resolving the source graph.
    pub resolve_ms: Option<u64>,
    /// Running the checks and the gate.
    pub checks_ms: Option<u64>,
    /// Blob transfers.
    pub blobs_ms: Option<u64>,
    /// Manifest pushes.
    pub manifests_ms: Option<u64>,
    /// Read-back verification.
    pub verify_ms: Option<u64>,
    /// Tagging.
    pub tag_ms: Option<u64>,
    /// The whole copy stage, retries included.
    pub copy_ms: Option<u64>,
    /// Start to the report stage.
    pub total_ms: Option<u64>,
}

/// The tool that wrote the record.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `image-promote`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// The record of one promotion: what the audit JSON holds and every report renders.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "image-promote audit record")]
pub struct Promotion {
    /// Shape version of this document.
    pub schema_version: u32,
    /// Unique id of this promotion (also in the audit file name and the errors log).
    pub id: String,
    /// The tool.
    pub tool: Tool,
    /// Outcome.
    pub status: Status,
    /// Whether failed checks were overridden by `force`.
    pub forced: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// When the promotion started (RFC 3339).
    pub started_at: String,
    /// When the report stage finished the record (RFC 3339).
    pub finished_at: Option<String>,
    /// The workflow run (absent outside GitHub Actions).
    pub workflow: Option<Workflow>,
    /// Approval context.
    pub approval: Approval,
    /// What was asked for.
    pub request: Request,
    /// The image (absent if the source could not be resolved).
    pub image: Option<Image>,
    /// Conditions checked before anything else.
    pub conditions: Vec<Condition>,
    /// Every check result.
    pub checks: Vec<Check>,
    /// The gate (absent if the checks did not run).
    pub gate: Option<Gate>,
    /// Overridden failures with their reasons.
    pub overrides: Vec<Override>,
    /// The copy (absent if it did not run).
    pub copy: Option<CopySummary>,
    /// Promoted references, `registry/repo:tag@digest`.
    pub promoted: Vec<String>,
    /// Warnings: checks that warned or were overridden, plus MEDIUM/LOW errors.
    pub warnings: usize,
    /// Every error, in order.
    pub errors: Vec<ErrorRecord>,
    /// State transitions with timestamps.
    pub transitions: Vec<Transition>,
    /// Timings per operation.
    pub timings: Timings,
}

/// RFC 3339 UTC with milliseconds.
#[must_use]
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Milliseconds since `since`, saturating.
#[must_use]
pub fn millis_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Promotion {
    /// A fresh record in state `initializing`.
    #[must_use]
    pub fn new(request: Request, workflow: Option<Workflow>, approval: Approval) -> Self {
        let now = SystemTime::now();
        let compact: String = humantime::format_rfc3339_seconds(now)
            .to_string()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let id = format!("{compact}-{:08x}", fastrand::u32(..));
        let dry_run = request.dry_run;
        Self {
            schema_version: AUDIT_SCHEMA_VERSION,
            id,
            tool: Tool {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            status: Status::Failed,
            forced: false,
            dry_run,
            started_at: timestamp(now),
            finished_at: None,
            workflow,
            approval,
            request,
            image: None,
            conditions: Vec::new(),
            checks: Vec::new(),
            gate: None,
            overrides: Vec::new(),
            copy: None,
            promoted: Vec::new(),
            warnings: 0,
            errors: Vec::new(),
            transitions: vec![Transition {
                state: State::Initializing,
                at: timestamp(now),
                elapsed_ms: 0,
            }],
            timings: Timings::default(),
        }
    }

    /// The state last entered.
    #[must_use]
    pub fn state(&self) -> State {
        self.transitions
            .last()
            .map_or(State::Initializing, |t| t.state)
    }

    /// Records entering `state`; `started` is when the promotion started.
    pub fn enter(&mut self, state: State, started: Instant) {
        self.transitions.push(Transition {
            state,
            at: timestamp(SystemTime::now()),
            elapsed_ms: millis_since(started),
        });
    }

    /// Records an error in the current state.
    pub fn record_error(&mut self, error: &Error) {
        self.errors.push(ErrorRecord {
            category: error.category.into(),
            severity: error.severity.into(),
            retryable: error.retryable,
            message: error.message.clone(),
            hint: error.hint.clone(),
            status: error.status,
            registry_code: error.registry_code.clone(),
            state: self.state(),
            at: timestamp(SystemTime::now()),
        });
    }

    /// Recounts [`Promotion::warnings`].
    pub fn count_warnings(&mut self) {
        let checks = self
            .checks
            .iter()
            .filter(|c| c.status == CheckOutcome::Warn || c.overridden)
            .count();
        let errors = self
            .errors
            .iter()
            .filter(|e| matches!(e.severity, SeverityName::Medium | SeverityName::Low))
            .count();
        self.warnings = checks + errors;
    }
}
