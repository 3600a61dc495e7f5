//! `image-promote promote`: the whole flow (conditions → checks → gate → copy → verify → tag →
//! report). Turns [`PromoteArgs`] (flags, `INPUT_*` via `action.rs`, `IMAGE_PROMOTE_*`) into a
//! [`Plan`], runs [`crate::promote::run`] and renders the record: audit JSON, errors log, step
//! summary, outputs, annotations, and a short result on stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use futures_util::future::{Either, select};

use crate::action::{self, Groups, Runner};
use crate::cli::{RegistryArgs, split_list};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;
use crate::promote::{Observer, Plan, Recorder, Silent};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::report::record::{
    Approval, CheckOutcome, Request, State, Status, Workflow, millis_since, timestamp,
};
use crate::report::{Promotion, Redactor, Sink, audit, errors, summary};

/// How long an interrupted pipeline may take to stop on its own before it is abandoned and the
/// reports are written (the binary waits 20 s in all).
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// `image-promote promote`. Every Action input is a long flag of exactly the same name.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Source image (same as --source).
    #[arg(value_name = "SRC")]
    pub src: Option<String>,
    /// Destination image (same as --destination).
    #[arg(value_name = "DST")]
    pub dst: Option<String>,
    /// Source image: registry/repository:tag or @sha256:….
    #[arg(long, env = "IMAGE_PROMOTE_SOURCE")]
    pub source: Option<String>,
    /// Destination image: registry/repository[:tag]; without a tag, the source's tag.
    #[arg(long, env = "IMAGE_PROMOTE_DESTINATION")]
    pub destination: Option<String>,
    /// Extra destination tags, comma- or newline-separated.
    #[arg(long, value_name = "TAGS", env = "IMAGE_PROMOTE_TAGS")]
    pub tags: Vec<String>,
    /// One extra destination tag; repeatable.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// The digest the source must have (sha256:…); a mismatch refuses and is never forced.
    #[arg(long, value_name = "DIGEST", env = "IMAGE_PROMOTE_EXPECTED_DIGEST")]
    pub expected_digest: Option<String>,
    /// Policy file (YAML); without it, the built-in default policy.
    #[arg(long, value_name = "PATH", env = "IMAGE_PROMOTE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Vulnerability scan report (Trivy JSON, Grype JSON or SARIF) to gate on.
    #[arg(long, value_name = "PATH", env = "IMAGE_PROMOTE_SCAN_REPORT")]
    pub scan_report: Option<PathBuf>,
    /// Promote despite failed checks (except an expected-digest mismatch and integrity failures); needs force-reason.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = action::parse_bool, env = "IMAGE_PROMOTE_FORCE")]
    pub force: bool,
    /// Why the failed checks are overridden; recorded in the audit.
    #[arg(long, value_name = "TEXT", env = "IMAGE_PROMOTE_FORCE_REASON")]
    pub force_reason: Option<String>,
    /// Resolve, check and gate; report what the copy would do; write nothing to any registry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = action::parse_bool, env = "IMAGE_PROMOTE_DRY_RUN")]
    pub dry_run: bool,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64), env = "IMAGE_PROMOTE_CONCURRENCY")]
    pub concurrency: u32,
    /// Directory for the audit JSON and errors.jsonl (relative to the working directory).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "image-promote-audit",
        env = "IMAGE_PROMOTE_AUDIT_DIR"
    )]
    pub audit_dir: PathBuf,
    /// Write the Markdown step summary to $GITHUB_STEP_SUMMARY.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = action::parse_bool, env = "IMAGE_PROMOTE_SUMMARY")]
    pub summary: bool,
    /// The name of the job's `environment:` (a step cannot read it, so the workflow passes it); recorded as the approval context.
    #[arg(long, value_name = "NAME", env = "IMAGE_PROMOTE_ENVIRONMENT")]
    pub environment: Option<String>,
    /// Allow moving a version-like destination tag (1.2.3, v1.2) that points at another digest.
    #[arg(long)]
    pub allow_tag_move: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PromoteArgs {
    fn source_text(&self) -> Option<&String> {
        self.src.as_ref().or(self.source.as_ref())
    }

    fn destination_text(&self) -> Option<&String> {
        self.dst.as_ref().or(self.destination.as_ref())
    }

    /// Every extra tag from `--tags` and `--tag`.
    #[must_use]
    pub fn extra_tags(&self) -> Vec<String> {
        let mut tags = split_list(&self.tags);
        tags.extend(split_list(&self.tag));
        tags
    }

    /// The secrets to keep out of every output (passwords, and the `Basic` header forms).
    #[must_use]
    pub fn redactor(&self) -> Redactor {
        let r = &self.registry;
        let mut redactor = Redactor::default();
        for (user, password) in [
            (&r.source_username, &r.source_password),
            (&r.destination_username, &r.destination_password),
        ] {
            if let Some(p) = password {
                redactor.add(p, user.as_deref());
            }
        }
        for pair in [&r.src_creds, &r.dest_creds].into_iter().flatten() {
            if let Some((user, password)) = pair.split_once(':') {
                redactor.add(password, Some(user));
            }
        }
        redactor
    }

    fn request(&self) -> Request {
        let mut insecure = split_list(&self.registry.insecure_registries);
        insecure.extend(split_list(&self.registry.insecure_registry));
        Request {
            source: self.source_text().cloned().unwrap_or_default(),
            destination: self.destination_text().cloned().unwrap_or_default(),
            tags: self.extra_tags(),
            expected_digest: self.expected_digest.clone().filter(|d| !d.is_empty()),
            policy: self.policy.as_ref().map(|p| p.display().to_string()),
            scan_report: self.scan_report.as_ref().map(|p| p.display().to_string()),
            force: self.force,
            force_reason: self.force_reason.clone().filter(|r| !r.trim().is_empty()),
            dry_run: self.dry_run,
            concurrency: self.concurrency,
            retry_attempts: self.registry.retry_attempts,
            retry_max_delay: humantime::format_duration(self.registry.retry_max_delay).to_string(),
            insecure_registries: insecure,
        }
    }

    /// The plan: references, digest, policy and force checked.
    ///
    /// # Errors
    /// Input errors naming the flag (input) and what was expected.
    pub fn plan(&self, github_sha: Option<String>) -> Result<Plan> {
        let source = self.source_text().ok_or_else(|| {
            Error::input("no source image given").hint("pass SRC, --source, or the `source` input")
        })?;
        let destination = self.destination_text().ok_or_else(|| {
            Error::input("no destination image given")
                .hint("pass DST, --destination, or the `destination` input")
        })?;
        let source = Reference::parse(source).map_err(|e| e.context("source"))?;
        let destination = Reference::parse(destination).map_err(|e| e.context("destination"))?;
        let expected_digest = self
            .expected_digest
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| Digest::parse(d).map_err(|e| e.context("expected-digest")))
            .transpose()?;
        let policy = match &self.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        };
        let reason = self
            .force_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let force_reason = match (self.force, reason) {
            (true, None) => {
                return Err(Error::input("force is set without a force-reason")
                    .hint("say why the failed checks may be overridden: --force-reason (input `force-reason`); the audit records it"));
            }
            (true, Some(_)) if !policy.allow_force => {
                return Err(Error::input(
                    "force is set, but the policy forbids it (allow-force: false)",
                )
                .hint("fix what the checks found, or change the policy file"));
            }
            (true, Some(r)) => Some(r.to_owned()),
            (false, _) => None,
        };
        Ok(Plan {
            source,
            destination,
            extra_tags: self.extra_tags(),
            expected_digest,
            policy,
            scan_report: self.scan_report.clone(),
            force_reason,
            dry_run: self.dry_run,
            concurrency: self.concurrency as usize,
            allow_tag_move: self.allow_tag_move,
            progress: std::env::var_os("GITHUB_ACTIONS").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            github_sha,
        })
    }
}

/// Runs `promote`.
///
/// # Errors
/// The classified error that stopped the promotion (a refusal is [`ErrorKind::Refused`]).
pub async fn run(args: PromoteArgs) -> Result<(), Error> {
    let env = |k: &str| std::env::var(k).ok();
    let runner = Runner::from_env(&env);
    let sink = Sink::fs(args.redactor());
    if runner.is_some() {
        // Before anything else is printed.
        sink.mask_secrets();
    }
    let groups = Groups::new(&sink);
    let observer: &dyn Observer = if runner.is_some() { &groups } else { &Silent };
    if args.force_reason.is_some() && !args.force {
        tracing::warn!("force-reason is set but force is not: the reason is ignored");
    }
    let started = Instant::now();
    let record = Promotion::new(
        args.request(),
        Workflow::from_env(&env),
        Approval {
            environment: args.environment.clone().filter(|e| !e.is_empty()),
            approvers: Vec::new(),
        },
    );
    let rec = Recorder::new(record, started, observer);
    let result = execute(&args, env("GITHUB_SHA"), &rec).await;
    finish(&args, rec, result, &sink, runner.as_ref(), &groups)
}

async fn execute(
    args: &PromoteArgs,
    github_sha: Option<String>,
    rec: &Recorder<'_>,
) -> Result<Status> {
    let prepared = args
        .plan(github_sha)
        .and_then(|plan| args.registry.clients().map(|c| (plan, c)));
    let (plan, (source, destination)) = match prepared {
        Ok(p) => p,
        Err(e) => {
            rec.error(&e);
            return Err(e);
        }
    };
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
        let signal = loop {
            if let Some(s) = crate::runtime::interrupted() {
                break s;
            }
            crate::runtime::sleep(Duration::from_millis(100)).await;
        };
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

fn finish(
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
    record.count_warnings();
    record.finished_at = Some(timestamp(SystemTime::now()));

    let mut report_error = None;
    let audit_path = match audit::write(sink, &args.audit_dir, &record) {
        Ok(p) => Some(p),
        Err(e) => {
            report_error = Some(e);
            None
        }
    };
    if let Err(e) = errors::append(sink, &args.audit_dir, &record) {
        report_error.get_or_insert(e);
    }
    if runner.is_none()
        && args.summary
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        // Outside Actions (GitLab CI, a laptop): the summary still goes where the variable points.
        if let Err(e) = sink.append(std::path::Path::new(&path), &summary::render(&record)) {
            report_error.get_or_insert(e);
        }
    }
    if let Some(runner) = runner {
        let markdown = args.summary.then(|| summary::render(&record));
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
    if let Some(p) = audit_path {
        sink.line(&format!("  audit               {}", p.display()));
    }
}
