//! The single [`Promotion`] record every pipeline stage adds to (docs/architecture.md, The
//! pipeline), and the document the audit JSON serializes. The types derive `JsonSchema`, so
//! `schemas/audit.schema.json` is generated from them and cannot drift. Where the engine defines
//! a value (check status, gate decision and gate, severity, category, tag record, digest), the
//! record holds the engine's own type; the record's own types are views the engine has no type
//! for (the request, the workflow run, per-platform facts, error records with their state).

use std::time::{Instant, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Error;

pub use super::facts::{
    Approval, ApprovalLookup, ApprovalReview, CopySummary, DeploymentRecord, DispatchRecord, Image,
    Layer, NotificationRecord, PlatformImage, Request, TagOutcome, TimeBound, Workflow,
};
pub use super::results::{
    CategoryName, Check, CheckOutcome, Condition, ConditionStatus, Decision, ErrorRecord, Gate,
    Override, SeverityName,
};
pub use super::state::State;

/// The version of the audit document's shape; bumped on any incompatible change.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

/// The outcome of a promotion, one enum everywhere: output, audit, summary (docs/architecture.md,
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
    /// Carrying the signatures, attestations, SBOMs and referrers.
    #[serde(default)]
    pub referrers_ms: Option<u64>,
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
    /// The promoted digest's address (the `environment-url` output), when promoted or no-op.
    #[serde(default)]
    pub environment_url: Option<String>,
    /// Notifications sent (`notify-webhook`): kind, outcome, attempts; never the URL.
    #[serde(default)]
    pub notifications: Vec<NotificationRecord>,
    /// The production deploy triggered (`dispatch-event` / `dispatch-workflow`).
    #[serde(default)]
    pub dispatch: Option<DispatchRecord>,
    /// The deployment of our own (`deployment: true`).
    #[serde(default)]
    pub deployment: Option<DeploymentRecord>,
    /// Warnings: checks that warned or were overridden, plus MEDIUM/LOW errors.
    pub warnings: usize,
    /// Every error, in order.
    pub errors: Vec<ErrorRecord>,
    /// `promotion` or `rollback`.
    #[serde(default)]
    pub kind: super::lineage::Kind,
    /// The history record pushed before the moving tags moved (absent when none moved).
    #[serde(default)]
    pub history: Option<super::lineage::HistoryFacts>,
    /// A rollback's tags, target, reason and candidates (absent for a promotion).
    #[serde(default)]
    pub rollback: Option<super::lineage::RollbackFacts>,
    /// When the destination refused to move a tag because its tags are immutable: the digest
    /// that is complete there, to deploy by digest instead (the `pin-digest` output).
    #[serde(default)]
    pub pin_digest: Option<String>,
    /// What `--sign-key` signed and attested at the destination (absent without a key).
    #[serde(default)]
    pub signing: Option<super::facts::SigningFacts>,
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
            environment_url: None,
            notifications: Vec::new(),
            dispatch: None,
            deployment: None,
            warnings: 0,
            errors: Vec::new(),
            kind: super::lineage::Kind::Promotion,
            history: None,
            rollback: None,
            pin_digest: None,
            signing: None,
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
            category: error.category,
            severity: error.severity,
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
