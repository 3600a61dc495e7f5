//! Facts of the [`Promotion`](super::record::Promotion) record: the workflow run, the approval
//! context, the request, the image (digests, platforms, per-layer sizes) and what the copy did.
//! Built from the runner's environment, the resolved [`ImageGraph`] and the [`CopyReport`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::copy::{BlobAction, CopyReport, ReferrerRecord};
use crate::media::ManifestView;
use crate::resolve::ImageGraph;
use crate::tags::TagRecord;

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

/// The approval context: the job's environment and what GitHub's record of the run shows about
/// its approvals (`GET …/actions/runs/{run_id}/approvals`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The job's `environment:` name, as the workflow passed it (`environment` input).
    pub environment: Option<String>,
    /// The logins that approved this environment (each once, in GitHub's order).
    pub approvers: Vec<String>,
    /// Whether `require-approval` was set.
    #[serde(default)]
    pub required: bool,
    /// Whether the record was read: `read`, `unavailable` (no token, no permission, API
    /// unreachable: see the warnings), or `not-applicable` (not in a workflow run, or no
    /// environment given).
    #[serde(default)]
    pub lookup: Option<ApprovalLookup>,
    /// Every review of this environment in the run's history (GitHub's order; earlier attempts
    /// included, the API does not say which).
    #[serde(default)]
    pub reviews: Vec<ApprovalReview>,
    /// The latest time the approvals can have been given (the API has no approval timestamp).
    #[serde(default)]
    pub approved_no_later_than: Option<TimeBound>,
}

/// Whether the approvals record was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalLookup {
    /// Read from GitHub.
    Read,
    /// Not readable (see the warnings for the permission to add).
    Unavailable,
    /// Not in a workflow run, or no environment given.
    NotApplicable,
}

/// One review of the environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalReview {
    /// The reviewer's login.
    pub reviewer: String,
    /// `approved`, `rejected` (or what GitHub sent).
    pub state: String,
    /// The reviewer's comment (empty when none was given).
    pub comment: String,
    /// Every environment the review covered.
    pub environments: Vec<String>,
    /// The reviewer is the run's actor or triggering actor (or unknown): it does not count for
    /// `require-approval`.
    pub self_review: bool,
}

/// An upper bound in time, and what it is taken from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeBound {
    /// RFC 3339 time.
    pub at: String,
    /// `job-start` (this job's `started_at`: the job started after its environment was approved)
    /// or `read-time` (when the approvals list was read).
    pub basis: String,
}

/// A notification sent (`notify-webhook`); never the URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRecord {
    /// `slack`, `teams` or `json`.
    pub kind: String,
    /// Whether the receiver accepted it (2xx).
    pub sent: bool,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Attempts made (only a rate-limit answer is retried).
    pub attempts: u32,
}

/// The production deploy triggered after the promotion (`dispatch-event` / `dispatch-workflow`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRecord {
    /// `owner/repo` dispatched to.
    pub repository: String,
    /// The `repository_dispatch` event type.
    pub event: Option<String>,
    /// The `workflow_dispatch` workflow (file name or id).
    pub workflow: Option<String>,
    /// The ref the workflow was dispatched on.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Whether GitHub accepted it.
    pub sent: bool,
    /// GitHub's HTTP status when it refused or failed (a 5xx is never re-sent: it may have
    /// been created).
    pub http_status: Option<u16>,
    /// The run it started, when known.
    pub run_id: Option<u64>,
    /// That run's page.
    pub run_url: Option<String>,
    /// How the run was found: `returned` (`return_run_details`) or `listed-after-dispatch` (the
    /// newest `workflow_dispatch` run since the dispatch, where the API returns none).
    pub run_found: Option<String>,
}

/// The deployment of our own (`deployment: true`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    /// Its environment (`deployment-environment`).
    pub environment: String,
    /// The deployment's id, once created.
    pub id: Option<u64>,
    /// Every status accepted, in order (`in_progress`, then `success` or `failure`).
    pub statuses: Vec<String>,
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
    /// Attempts in all per request (and per blob transfer), the first included.
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

/// A destination tag before and after, as recorded: the engine's own [`TagRecord`].
pub type TagOutcome = TagRecord;

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
    /// The signatures, attestations, SBOMs and referrers carried along (`referrers`).
    #[serde(default)]
    pub referrers: Vec<ReferrerRecord>,
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

impl Image {
    /// Facts of a resolved graph: digests, media type, platforms, per-layer sizes.
    #[must_use]
    pub fn from_graph(graph: &ImageGraph) -> Self {
        let mut platforms_by_digest = BTreeMap::new();
        for m in std::iter::once(&graph.root).chain(&graph.children) {
            if let ManifestView::Index { manifests } = &m.view {
                for d in manifests {
                    if let Some(p) = &d.platform {
                        platforms_by_digest
                            .entry(d.digest.clone())
                            .or_insert_with(|| p.to_string());
                    }
                }
            }
        }
        let mut platforms = Vec::new();
        for m in std::iter::once(&graph.root).chain(&graph.children) {
            if let ManifestView::Image { config, layers } = &m.view {
                platforms.push(PlatformImage {
                    platform: platforms_by_digest.get(&m.digest).cloned(),
                    digest: m.digest.to_string(),
                    media_type: m.media_type.clone(),
                    config: config.digest.to_string(),
                    layers: layers
                        .iter()
                        .map(|l| Layer {
                            digest: l.digest.to_string(),
                            size: l.size,
                            media_type: l.media_type.clone(),
                        })
                        .collect(),
                    size: config.size + layers.iter().map(|l| l.size).sum::<u64>(),
                });
            }
        }
        Self {
            source_digest: graph.root.digest.to_string(),
            destination_digest: None,
            media_type: graph.root.media_type.clone(),
            platforms,
            manifests: graph.children.len() + 1,
            blobs: graph.blobs.len(),
            total_bytes: graph.blob_bytes(),
            foreign_layers: graph.foreign.iter().map(|d| d.digest.to_string()).collect(),
        }
    }
}

impl CopySummary {
    /// What a copy (or a dry run of it) did, over `passes` passes.
    #[must_use]
    pub fn from_report(report: &CopyReport, passes: u32) -> Self {
        Self {
            blobs_copied: report.blobs.copied,
            blobs_mounted: report.blobs.mounted,
            blobs_skipped: report.blobs.skipped,
            blobs_would_transfer: report
                .blob_records
                .iter()
                .filter(|b| b.action == BlobAction::WouldTransfer)
                .count(),
            bytes_copied: report.blobs.bytes_copied,
            manifests_pushed: report.manifests_pushed,
            tags: report.tags.clone(),
            referrers: report.referrers.clone(),
            no_op: report.no_op,
            requests_source: report.requests.0,
            requests_destination: report.requests.1,
            retries: report.retries,
            passes,
        }
    }
}

/// One signature or attestation the promotion wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureFact {
    /// `signature` or `attestation`.
    pub kind: String,
    /// `sigstore-bundle` (a referrer) or `cosign-legacy` (the `.sig` tag).
    pub format: String,
    /// The digest of the manifest written (the referrer, or the `.sig` manifest).
    pub digest: String,
    /// How it was attached: `api`, `fallback-tag` or `tag`.
    pub path: String,
}

/// What `--sign-key` wrote at the destination before the tags moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningFacts {
    /// The signing key's public fingerprint (sha256 of its SPKI, shortened); never the key.
    pub key: String,
    /// The signatures of the promoted digest (one per form written).
    pub signatures: Vec<SignatureFact>,
    /// The promotion attestations (DSSE-signed in-toto statements; one per form written).
    pub attestations: Vec<SignatureFact>,
    /// The attestation's predicate type.
    pub predicate_type: String,
    /// Milliseconds taken.
    pub duration_ms: u64,
}
