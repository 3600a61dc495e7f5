//! `image-promote promote`: the whole flow (conditions → checks → gate → copy → verify → tag →
//! report). Turns [`PromoteArgs`] (flags, `INPUT_*` via `action.rs`, `IMAGE_PROMOTE_*`) into a
//! [`Plan`], runs [`crate::promote::run`] and renders the record: audit JSON, errors log, step
//! summary, outputs, annotations, and a short result on stdout.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::{Either, select};

use super::{after, approval};
use crate::action::{self, Groups, Runner};
use crate::cli::PromoteArgs;
use crate::error::{Error, ErrorKind, Result};
use crate::promote::{Observer, Plan, Recorder, Silent};
use crate::registry::RegistryClient;
use crate::report::record::{
    CheckOutcome, Request, State, Status, Workflow, millis_since, timestamp,
};
use crate::report::{Promotion, Redactor, Sink, audit, errors, summary};

/// How long an interrupted pipeline may take to stop on its own before it is abandoned and the
/// reports are written (the binary waits 20 s in all).
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// The secrets to keep out of every output (passwords, and the `Basic` header forms).
fn redactor(args: &PromoteArgs) -> Redactor {
    let mut redactor = super::credential_redactor(&args.registry);
    let n = &args.notify;
    for secret in [
        &args.github.github_token,
        &args.github.dispatch_token,
        &n.notify_webhook,
        &n.notify_secret,
    ]
    .into_iter()
    .flatten()
    {
        redactor.add(secret, None);
    }
    if let Some(password) = args.sign.password() {
        redactor.add(&password, None);
    }
    if let Some(pem) = args.sign.secret_text() {
        // The whole text, and each line of its body (a log may wrap or split it).
        redactor.add(pem.trim(), None);
        for line in pem
            .lines()
            .map(str::trim)
            .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
        {
            redactor.add(line, None);
        }
    }
    redactor
}

fn request(args: &PromoteArgs) -> Request {
    let (checks, transport) = (&args.checks, &args.registry.transport);
    Request {
        source: args.source.text().cloned().unwrap_or_default(),
        destination: args.destination.text().cloned().unwrap_or_default(),
        tags: args.tags.extra_tags(),
        expected_digest: checks.expected_digest.clone().filter(|d| !d.is_empty()),
        policy: checks.policy.as_ref().map(|p| p.display().to_string()),
        scan_report: checks.scan_report.as_ref().map(|p| p.display().to_string()),
        force: args.gate.force,
        force_reason: args.gate.given_reason(),
        dry_run: args.transfer.dry_run,
        concurrency: args.transfer.concurrency,
        retry_attempts: transport.retry_attempts,
        retry_max_delay: humantime::format_duration(transport.retry_max_delay).to_string(),
        insecure_registries: transport.insecure_registries(),
    }
}

/// The plan: references, digest, the policy (file, then the same check flags as `check`) and
/// force checked.
///
/// # Errors
/// Input errors naming the flag (input) and what was expected.
pub fn plan(args: &PromoteArgs, github_sha: Option<String>) -> Result<Plan> {
    let source = args.source.reference()?;
    let destination = args.destination.reference()?;
    let policy = args.checks.resolve_policy()?;
    let force_reason = args.gate.reason(&policy)?;
    let inputs = args.checks.inputs(github_sha)?;
    // notify-on and notify-format are checked now, not after the promotion.
    args.notify.webhook_for(None)?;
    args.github.dispatch_target()?;
    args.github
        .deployment_environment(args.report.environment.as_deref())?;
    Ok(Plan {
        source,
        destination,
        extra_tags: [args.tags.extra_tags(), args.leg.moving_tags()].concat(),
        compare_and_swap: args.leg.compare_and_swap()?,
        moving_tags: args.leg.moving_tags(),
        intent: crate::release::ledger::Intent::default(),
        signing: args.sign.signing()?.map(Arc::new),
        expected_digest: inputs.expected_digest,
        policy,
        scan_report: inputs.scan_report,
        deep: args.checks.deep,
        force_reason,
        dry_run: args.transfer.dry_run,
        concurrency: args.transfer.concurrency as usize,
        referrers: args.transfer.carry_referrers(),
        allow_tag_move: args.tags.allow_tag_move,
        progress: std::env::var_os("GITHUB_ACTIONS").is_none()
            && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        github_sha: inputs.github_sha,
        required_approval: None,
    })
}

/// What a rollback adds to a promotion: the history record's kind and reason, the rollback's
/// facts for the record, and a refusal decided before the pipeline (no digest to go back to),
/// which is then recorded and reported like any refused promotion.
#[derive(Debug, Default)]
pub struct Lineage {
    /// What the history record says.
    pub intent: crate::release::ledger::Intent,
    /// The rollback's facts (absent for a promotion).
    pub rollback: Option<crate::report::lineage::RollbackFacts>,
    /// Refused before the pipeline.
    pub refusal: Option<Error>,
}

/// Runs `promote`.
///
/// # Errors
/// The classified error that stopped the promotion (a refusal is [`ErrorKind::Refused`]).
pub async fn run(args: PromoteArgs) -> Result<(), Error> {
    run_as(args, Lineage::default()).await
}

/// Runs `promote` as a promotion or a rollback (`lineage`).
///
/// # Errors
/// The classified error that stopped the promotion (a refusal is [`ErrorKind::Refused`]).
pub async fn run_as(args: PromoteArgs, lineage: Lineage) -> Result<(), Error> {
    let env = |k: &str| std::env::var(k).ok();
    let runner = Runner::from_env(&env);
    let sink = crate::report::journal::sink_for_this_process(redactor(&args));
    if runner.is_some() {
        // Before anything else is printed.
        sink.mask_secrets();
    }
    let groups = Groups::new(&sink);
    let observer: &dyn Observer = if runner.is_some() { &groups } else { &Silent };
    let started = Instant::now();
    // GitHub's approval record, read before anything else happens (a verdict for the conditions).
    let gathered = approval::gather(&args, &env, || args.registry.api_connection()).await;
    let mut record = Promotion::new(request(&args), Workflow::from_env(&env), gathered.approval);
    record.kind = lineage.intent.kind;
    record.rollback = lineage.rollback;
    let rec = Recorder::new(record, started, observer);
    for warning in &gathered.warnings {
        rec.error(warning);
    }
    let refused = matches!(gathered.verdict, Some(Err(_))) || lineage.refusal.is_some();
    if !args.transfer.dry_run && !refused && plan(&args, None).is_ok() {
        after::start_deployment(&args, &rec).await;
    }
    let result = match lineage.refusal {
        Some(e) => {
            rec.error(&e);
            Err(e)
        }
        None => {
            execute(
                &args,
                env("GITHUB_SHA"),
                gathered.verdict,
                lineage.intent,
                &rec,
            )
            .await
        }
    };
    finish(&args, rec, result, &sink, runner.as_ref(), &groups).await
}

async fn execute(
    args: &PromoteArgs,
    github_sha: Option<String>,
    approval: Option<Result<String>>,
    intent: crate::release::ledger::Intent,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let prepared =
        plan(args, github_sha).and_then(|plan| args.registry.clients().map(|c| (plan, c)));
    let (mut plan, (source, destination)) = match prepared {
        Ok(p) => p,
        Err(e) => {
            rec.error(&e);
            return Err(e);
        }
    };
    plan.required_approval = approval;
    plan.intent = intent;
    run_interruptible(&plan, source, destination, rec).await
}

async fn run_interruptible(
    plan: &Plan,
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let pipeline = crate::promote::run(plan, source, destination, rec);
    let watch = async {
        let signal = crate::runtime::wait_interrupted().await;
        crate::runtime::sleep(INTERRUPT_GRACE).await;
        signal
    };
    match select(Box::pin(pipeline), Box::pin(watch)).await {
        Either::Left((result, _)) => result,
        Either::Right((signal, _)) => {
            let e = crate::runtime::interrupted_error(signal);
            rec.error(&e);
            Err(e)
        }
    }
}

fn status_of(result: &Result<Status>) -> Status {
    match result {
        Ok(s) => *s,
        Err(e) => match e.kind {
            ErrorKind::Refused => Status::Refused,
            ErrorKind::Interrupted => Status::Interrupted,
            _ => Status::Failed,
        },
    }
}

async fn finish(
    args: &PromoteArgs,
    rec: Recorder<'_>,
    result: Result<Status>,
    sink: &Sink,
    runner: Option<&Runner>,
    groups: &Groups<'_>,
) -> Result<(), Error> {
    let status = status_of(&result);
    rec.with(|r| r.timings.total_ms = Some(millis_since(rec.started())));
    rec.enter(State::GeneratingReports);
    rec.enter(match status {
        Status::Promoted | Status::NoOp | Status::DryRun => State::Completed,
        Status::Refused | Status::Failed | Status::Interrupted => State::Failed,
    });
    let mut record = rec.into_record();
    record.status = status;
    if matches!(status, Status::Promoted | Status::NoOp) {
        record.environment_url = environment_url(args, &record);
    }
    record.count_warnings();
    after::finish_deployment(args, &mut record).await;
    if matches!(status, Status::Promoted | Status::NoOp) {
        after::dispatch(args, &mut record).await;
    }
    after::notify(args, &mut record).await;
    record.finished_at = Some(timestamp(SystemTime::now()));

    let mut report_error = None;
    let audit_path = match audit::write(sink, &args.report.audit_dir, &record) {
        Ok(p) => Some(p),
        Err(e) => {
            report_error = Some(e);
            None
        }
    };
    if let Err(e) = errors::append(sink, &args.report.audit_dir, &record) {
        report_error.get_or_insert(e);
    }
    if runner.is_none()
        && args.report.summary
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        // Outside Actions (GitLab CI, a laptop): the summary still goes where the variable points.
        if let Err(e) = sink.append(std::path::Path::new(&path), &summary::render(&record)) {
            report_error.get_or_insert(e);
        }
    }
    if let Some(runner) = runner {
        let markdown = args.report.summary.then(|| summary::render(&record));
        if let Err(e) = action::report(
            sink,
            runner,
            &record,
            audit_path.as_deref(),
            markdown.as_deref(),
        ) {
            report_error.get_or_insert(e);
        }
    }
    groups.close();
    print_result(sink, &record, audit_path.as_deref());
    match (result, report_error) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(e)) => {
            Err(e.context("the promotion finished but its report could not be written"))
        }
        (Ok(_), None) => Ok(()),
    }
}

/// The promoted digest's address: the `environment-url` template filled in (`{registry}`,
/// `{repository}`, `{digest}`, `{tag}`), else the manifest's URL in the destination registry's
/// API (`registry-1.docker.io` for Docker Hub).
fn environment_url(args: &PromoteArgs, record: &Promotion) -> Option<String> {
    let destination = args.destination.reference().ok()?;
    let digest = record.image.as_ref()?.destination_digest.clone()?;
    let Some(template) = args
        .github
        .environment_url
        .clone()
        .filter(|t| !t.trim().is_empty())
    else {
        return Some(format!(
            "https://{}/v2/{}/manifests/{digest}",
            destination.api_host(),
            destination.repository()
        ));
    };
    let tag = record.request.tags.first().cloned().unwrap_or_default();
    Some(
        template
            .replace("{registry}", destination.registry())
            .replace("{repository}", destination.repository())
            .replace("{digest}", &digest)
            .replace("{tag}", &tag),
    )
}

fn print_result(sink: &Sink, record: &Promotion, audit_path: Option<&std::path::Path>) {
    let r = &record.request;
    let forced = if record.forced { " (forced)" } else { "" };
    sink.line(&format!(
        "{}{forced}: {} -> {}",
        record.status.as_str(),
        r.source,
        r.destination
    ));
    if let Some(image) = &record.image {
        sink.line(&format!("  source digest       {}", image.source_digest));
        if let Some(d) = &image.destination_digest {
            sink.line(&format!("  destination digest  {d}"));
        }
    }
    let count = |s: CheckOutcome| record.checks.iter().filter(|c| c.status == s).count();
    if !record.checks.is_empty() {
        sink.line(&format!(
            "  checks              {} passed, {} warnings, {} failed ({} overridden)",
            count(CheckOutcome::Pass),
            count(CheckOutcome::Warn),
            count(CheckOutcome::Fail),
            record.overrides.len()
        ));
    }
    for p in &record.promoted {
        sink.line(&format!("  promoted            {p}"));
    }
    if let Some(rollback) = &record.rollback {
        if let Some(from) = &rollback.from_digest {
            sink.line(&format!("  rolled back from    {from} (held)"));
        }
        for c in &rollback.candidates {
            let mark = if c.taken { "taken" } else { "skipped" };
            sink.line(&format!("  candidate {mark:<9} {}: {}", c.digest, c.why));
        }
    }
    if let Some(p) = audit_path {
        sink.line(&format!("  audit               {}", p.display()));
    }
}
