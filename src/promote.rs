//! The pipeline of `promote` as one function over the stages (docs/architecture.md, the
//! pipeline): validate conditions (the tag plan among them) → resolve → checks → gate (force) →
//! copy with retries → verify → tag. Input: a [`Plan`] and two registry clients; output: the
//! [`Promotion`] record in a [`Recorder`], which every stage adds to (states with timestamps,
//! results, errors, timings). Reports render it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt as _;
use futures_util::future::{Either, select};

use crate::checks::{CheckInputs, blob_probe, load_context, run_checks};
use crate::copy::{CopyOptions, CopyReport, copy_graph};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::gate::{GateDecision, gate};
use crate::policy::{CheckSettings as _, Policy};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::registry::retry::Budget;
use crate::release::ledger;
use crate::report::record::{
    Check, CopySummary, Image, Override, Promotion, State, Status, millis_since,
};
use crate::resolve::{ImageGraph, resolve_graph_from};
use crate::tags::TagPlan;

mod conditions;
pub mod sign;
use conditions::validate_conditions;

/// What to promote, parsed and validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Source image.
    pub source: Reference,
    /// Destination image (its tag, else the source's, is the first destination tag).
    pub destination: Reference,
    /// Extra destination tags.
    pub extra_tags: Vec<String>,
    /// A matrix leg's compare-and-swap on its moving tags, judged on the tag plan.
    pub compare_and_swap: Option<crate::release::cas::CompareAndSwap>,
    /// Tags that may move: a promotion record is pushed before any of them moves.
    pub moving_tags: Vec<String>,
    /// What that record says: `promotion`, or `rollback` with its reason.
    pub intent: ledger::Intent,
    /// Sign the promoted digest and attest the promotion at the destination (`--sign-key`).
    pub signing: Option<Arc<sign::Signing>>,
    /// The digest the source must have.
    pub expected_digest: Option<Digest>,
    /// The policy (built-in default when no file is given).
    pub policy: Policy,
    /// A scan report to gate on.
    pub scan_report: Option<PathBuf>,
    /// Download every blob and verify its digest during the checks (`--deep`).
    pub deep: bool,
    /// `Some(reason)` when forced.
    pub force_reason: Option<String>,
    /// Resolve, check and gate only; write nothing.
    pub dry_run: bool,
    /// Blobs in flight at once.
    pub concurrency: usize,
    /// Carry the signatures, attestations, SBOMs and referrers along (`--referrers`).
    pub referrers: bool,
    /// Allow moving a version-like destination tag to another digest.
    pub allow_tag_move: bool,
    /// Show a progress line on the terminal while blobs move.
    pub progress: bool,
    /// `GITHUB_SHA`, for the revision label check.
    pub github_sha: Option<String>,
    /// With `require-approval`: the approval GitHub shows (`Ok`, what it shows) or the refusal,
    /// decided from GitHub's record before the pipeline; the first condition.
    pub required_approval: Option<Result<String>>,
}

/// Told about every state entered (the Action opens `::group::`s with it).
pub trait Observer: Sync {
    /// `state` was entered.
    fn entered(&self, state: State) {
        let _ = state;
    }
}

/// An observer that does nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// The record under construction, shared so that it survives an interrupted pipeline.
pub struct Recorder<'a> {
    record: Mutex<Promotion>,
    started: Instant,
    observer: &'a dyn Observer,
}

impl<'a> Recorder<'a> {
    /// Wraps a fresh record; `started` is when the promotion started.
    #[must_use]
    pub fn new(record: Promotion, started: Instant, observer: &'a dyn Observer) -> Self {
        Self {
            record: Mutex::new(record),
            started,
            observer,
        }
    }

    /// When the promotion started.
    #[must_use]
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Changes the record (never held across an await).
    pub fn with<T>(&self, f: impl FnOnce(&mut Promotion) -> T) -> T {
        match self.record.lock() {
            Ok(mut r) => f(&mut r),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Enters `state`.
    pub fn enter(&self, state: State) {
        self.with(|r| r.enter(state, self.started));
        self.observer.entered(state);
    }

    /// Records `error` in the current state.
    pub fn error(&self, error: &Error) {
        self.with(|r| r.record_error(error));
    }

    /// The finished record.
    #[must_use]
    pub fn into_record(self) -> Promotion {
        match self.record.into_inner() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Runs the pipeline. The returned status is `promoted`, `no-op` or `dry-run`; every error (a
/// refusal included) is returned as `Err` after being recorded in its state.
///
/// # Errors
/// The classified error that stopped the promotion.
pub async fn run(
    plan: &Plan,
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let result = stages(plan, source, destination, rec).await;
    if let Err(e) = &result {
        rec.error(e);
    }
    result
}

async fn stages(
    plan: &Plan,
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let result = pipeline(plan, source, &destination, rec).await;
    match result {
        Err(e) if e.reason == crate::error::Reason::TagImmutable => {
            Err(pin_instead(plan, &destination, rec, e).await)
        }
        other => other,
    }
}

/// A tag the destination will not move (immutable tags): when the image is complete there (its
/// top manifest by digest), that digest is the one to deploy by digest (`pin-digest`).
async fn pin_instead(
    plan: &Plan,
    destination: &RegistryClient,
    rec: &Recorder<'_>,
    e: Error,
) -> Error {
    let dst = &plan.destination;
    let digest = rec.with(|r| r.image.as_ref().map(|i| i.source_digest.clone()));
    let complete = match digest.as_deref().map(Digest::parse) {
        Some(Ok(d)) => {
            matches!(destination.head_manifest(dst, &d.to_string()).await, Ok(Some(h)) if h == d)
                .then_some(d)
        }
        _ => None,
    };
    let hint = match &complete {
        Some(d) => {
            rec.with(|r| r.pin_digest = Some(d.to_string()));
            format!(
                "the repository's tags are immutable, so a moving tag cannot move there: deploy {}@{d} by digest (the `pin-digest` output), or promote under a new tag",
                dst.name()
            )
        }
        None => "the repository's tags are immutable, so a moving tag cannot move there (and the image is not complete at the destination): promote under a new version tag without moving tags".to_owned(),
    };
    e.hint(hint)
}

async fn pipeline(
    plan: &Plan,
    source: Arc<RegistryClient>,
    destination: &Arc<RegistryClient>,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let destination = destination.clone();
    let (src, dst) = (&plan.source, &plan.destination);
    source.add_scope(src.api_host(), src.repository(), "pull");
    destination.add_scope(dst.api_host(), dst.repository(), "pull,push");
    if src.api_host() == dst.api_host() && src.repository() != dst.repository() {
        destination.add_scope(dst.api_host(), src.repository(), "pull");
    }

    rec.enter(State::ValidatingConditions);
    let t = Instant::now();
    let conditions = validate_conditions(plan, &source, &destination, rec).await;
    rec.with(|r| r.timings.validate_ms = Some(millis_since(t)));
    let (tags, root) = conditions?;
    crate::runtime::check_interrupted()?;

    rec.enter(State::ValidationRunning);
    let t = Instant::now();
    let graph = resolve_graph_from(&source, src, root).await?;
    rec.with(|r| {
        r.timings.resolve_ms = Some(millis_since(t));
        r.image = Some(Image::from_graph(&graph));
    });
    let t = Instant::now();
    let graph = check_and_gate(plan, &source, &destination, graph, rec).await;
    rec.with(|r| r.timings.checks_ms = Some(millis_since(t)));
    let graph = graph?;
    crate::runtime::check_interrupted()?;

    let options = CopyOptions {
        concurrency: plan.concurrency.max(1),
        dry_run: plan.dry_run,
        progress: plan.progress && !plan.dry_run,
        referrers: plan.referrers,
    };
    if plan.dry_run {
        // What the copy would do: HEAD requests only, nothing written.
        let report = copy_graph(source, destination, &graph, dst, &tags, &options, 0, &()).await?;
        record_copy(rec, &report, 1);
        return Ok(Status::DryRun);
    }

    let record = rec.with(|r| r.clone());
    let history = ledger::before_tags(
        &destination,
        &tags,
        &graph.root,
        &plan.moving_tags,
        &plan.intent,
        &record,
    )
    .await?;
    rec.with(|r| r.history = history);
    rec.enter(State::PromotionRunning);
    let t = Instant::now();
    let report = match &plan.signing {
        Some(signing) => {
            let hook = sign::SignHook {
                destination: &destination,
                dst,
                root: &graph.root,
                signing,
                rec,
                no_op: tags.entries.iter().all(|e| !e.writes()),
            };
            copy_with_retries(
                &graph,
                dst,
                &tags,
                &options,
                (&source, &destination),
                rec,
                &hook,
            )
            .await
        }
        None => {
            copy_with_retries(
                &graph,
                dst,
                &tags,
                &options,
                (&source, &destination),
                rec,
                &(),
            )
            .await
        }
    };
    rec.with(|r| r.timings.copy_ms = Some(millis_since(t)));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            rec.enter(State::PromotionFailed);
            return Err(e);
        }
    };
    // Verify: the destination digest read back equals the source digest.
    if report.destination_digest.as_ref() != Some(&graph.root.digest) {
        rec.enter(State::PromotionFailed);
        return Err(Error::verification(format!(
            "{dst}: the destination digest read back is {}, not the source digest {}",
            report
                .destination_digest
                .as_ref()
                .map_or_else(|| "missing".to_owned(), ToString::to_string),
            graph.root.digest
        )));
    }
    record_copy(rec, &report, 1);
    rec.enter(State::PromotionSucceeded);
    Ok(if report.no_op {
        Status::NoOp
    } else {
        Status::Promoted
    })
}

/// Runs the checks on the resolved graph and applies the gate; returns the graph to copy.
async fn check_and_gate(
    plan: &Plan,
    source: &RegistryClient,
    destination: &RegistryClient,
    graph: ImageGraph,
    rec: &Recorder<'_>,
) -> Result<ImageGraph> {
    let inputs = CheckInputs {
        expected_digest: plan.expected_digest.clone(),
        scan_report: plan.scan_report.clone(),
        github_sha: plan.github_sha.clone(),
        signature: crate::checks::signature_request(&plan.policy)?,
    };
    // `promote` downloads no blob twice: with `--deep`, the blobs the copy will stream (and hash)
    // are not downloaded by the checks too.
    let streamed = if plan.deep && plan.policy.layers.enabled() {
        streamed_by_copy(destination, &graph, &plan.destination).await
    } else {
        BTreeSet::new()
    };
    let probe = blob_probe(&plan.policy, plan.deep, streamed);
    let ctx = load_context(source, graph, &inputs, &probe).await?;
    let mut results = run_checks(&ctx, &plan.policy);
    let g = gate(&mut results, plan.force_reason.as_deref());
    rec.with(|r| {
        r.checks = results.iter().map(Check::from).collect();
        r.overrides = results
            .iter()
            .filter(|c| c.overridden)
            .map(|c| Override {
                check: c.id.clone(),
                platform: c.platform.clone(),
                severity: c.severity,
                message: c.message.clone(),
                reason: c.override_reason.clone().unwrap_or_default(),
            })
            .collect();
        r.forced = !r.overrides.is_empty();
        r.gate = Some(g.clone());
    });
    // The tested digest is the one promoted, even if a policy disabled the `exists` check.
    if let Some(expected) = &plan.expected_digest
        && *expected != ctx.image.graph.root.digest
        && g.decision != GateDecision::Refuse
    {
        rec.enter(State::ValidationFailed);
        return Err(Error::refused(format!(
            "{} resolves to {}, not the expected {expected}",
            plan.source, ctx.image.graph.root.digest
        ))
        .hint("an expected-digest mismatch is never promoted: promote the image that was tested"));
    }
    match g.decision {
        GateDecision::Refuse => {
            rec.enter(State::ValidationFailed);
            // A check that could not ask the registry is a registry or access failure (exit 4/5).
            if let Some(e) = crate::checks::request_failure(&results) {
                return Err(e.hint(
                    "the image could not be checked; fix access to the source registry and re-run",
                ));
            }
            let failing: Vec<_> = results
                .iter()
                .filter(|c| crate::gate::refuses(c) && !c.overridden)
                .collect();
            let unforceable = failing.iter().any(|c| c.unforceable);
            let detail = failing
                .iter()
                .take(5)
                .map(|c| match &c.platform {
                    Some(p) => format!("{} ({p}): {}", c.id, c.message),
                    None => format!("{}: {}", c.id, c.message),
                })
                .collect::<Vec<_>>()
                .join("; ");
            let hint = if unforceable {
                "an expected-digest mismatch or a missing/corrupt blob can never be forced: promote the image you tested, or rebuild and push it again"
            } else if plan.force_reason.is_some() {
                "these checks could not run; fix the cause and re-run"
            } else {
                "fix the image (or the policy), or override with force: true and a force-reason that the audit records"
            };
            Err(Error::refused(format!(
                "refused by {} check(s) [{}]: {detail}",
                g.refusals.len(),
                g.refusals.join(", ")
            ))
            .hint(hint))
        }
        GateDecision::Promote | GateDecision::PromoteWithWarnings if !g.overridden.is_empty() => {
            rec.enter(State::ValidationFailed);
            rec.enter(State::Forced);
            Ok(ctx.image.graph)
        }
        GateDecision::Promote | GateDecision::PromoteWithWarnings => {
            rec.enter(State::ValidationPassed);
            Ok(ctx.image.graph)
        }
    }
}

/// The blobs the copy will stream from the source, hashing and counting them as they flow: those
/// a destination on another registry does not have (HEAD). Within one registry blobs are mounted,
/// not streamed, so none; a HEAD that fails leaves its blob to the checks' own download.
async fn streamed_by_copy(
    destination: &RegistryClient,
    graph: &ImageGraph,
    dst: &Reference,
) -> BTreeSet<Digest> {
    if graph.reference.api_host() == dst.api_host() {
        return BTreeSet::new();
    }
    futures_util::stream::iter(&graph.blobs)
        .map(|blob| async move {
            match destination.head_blob(dst, &blob.digest, Budget::Own).await {
                Ok(None) => Some(blob.digest.clone()),
                Ok(Some(_)) | Err(_) => None,
            }
        })
        .buffer_unordered(8)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// Copies with the engine's retries, watching them to record `promotion-retrying`.
///
/// One pass over the graph, never a second: every request and every blob transfer already
/// spends its whole attempt budget inside the copy, and what fails past it is exhausted (not
/// retryable). A second pass could only send the failed requests again, N more times each,
/// which is the retry storm `--retry-attempts` forbids; re-running the command resumes instead
/// (finished blobs are skipped).
async fn copy_with_retries(
    graph: &ImageGraph,
    dst: &Reference,
    tags: &TagPlan,
    options: &CopyOptions,
    (source, destination): (&Arc<RegistryClient>, &Arc<RegistryClient>),
    rec: &Recorder<'_>,
    hook: &impl crate::copy::BeforeTags,
) -> Result<CopyReport> {
    let baselines = (
        source.counters.retries.load(Ordering::Relaxed),
        destination.counters.retries.load(Ordering::Relaxed),
    );
    let copy = copy_graph(
        source.clone(),
        destination.clone(),
        graph,
        dst,
        tags,
        options,
        rec.with(|r| r.timings.resolve_ms.unwrap_or_default()),
        hook,
    );
    // Woken by the first retry of either client (no timer): the state moves to
    // `promotion-retrying` while the copy goes on.
    let watch = async {
        select(
            Box::pin(source.counters.wait_retry_beyond(baselines.0)),
            Box::pin(destination.counters.wait_retry_beyond(baselines.1)),
        )
        .await;
        rec.enter(State::PromotionRetrying);
        std::future::pending::<()>().await;
    };
    let result = match select(Box::pin(copy), Box::pin(watch)).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(Error::internal("the retry watcher ended")),
    };
    // A retry whose wake-up came with the copy's end is recorded too.
    if retries(source, destination) > baselines.0 + baselines.1
        && rec.with(|r| r.state()) != State::PromotionRetrying
    {
        rec.enter(State::PromotionRetrying);
    }
    result
}

fn retries(source: &RegistryClient, destination: &RegistryClient) -> u64 {
    source.counters.retries.load(Ordering::Relaxed)
        + destination.counters.retries.load(Ordering::Relaxed)
}

fn record_copy(rec: &Recorder<'_>, report: &CopyReport, passes: u32) {
    rec.with(|r| {
        r.copy = Some(CopySummary::from_report(report, passes));
        r.timings.blobs_ms = Some(report.timings.blobs_ms);
        r.timings.manifests_ms = Some(report.timings.manifests_ms);
        r.timings.verify_ms = Some(report.timings.verify_ms);
        r.timings.referrers_ms = Some(report.timings.referrers_ms);
        r.timings.tag_ms = Some(report.timings.tag_ms);
        if let Some(image) = &mut r.image {
            image.destination_digest = report.destination_digest.as_ref().map(ToString::to_string);
        }
        if !report.dry_run
            && let Some(d) = &report.destination_digest
        {
            r.promoted = report
                .tags
                .iter()
                .map(|t| format!("{}@{d}", t.reference))
                .collect();
        }
    });
}
