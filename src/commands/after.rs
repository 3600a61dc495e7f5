//! What `promote` does on GitHub and webhooks around the pipeline: the deployment of our own
//! (`deployment: true`: created before, its final status after), and once the outcome is known the
//! production deploy trigger (`dispatch-event` / `dispatch-workflow`, after a promotion only) and
//! the notification (`notify-webhook`). All are recorded in the audit; a failure of any is a
//! warning, never a failed promotion.

use serde_json::json;

use crate::cli::PromoteArgs;
use crate::error::{Error, Result, Severity};
use crate::github::deployment::{self, NewDeployment};
use crate::github::dispatch::{self, Carried};
use crate::github::{DEFAULT_API_URL, GitHub};
use crate::promote::Recorder;
use crate::report::Promotion;
use crate::report::record::{DeploymentRecord, Status};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A GitHub client with `token` at `GITHUB_API_URL`, and that URL.
fn client(args: &PromoteArgs, token: Option<String>) -> Result<(GitHub, String)> {
    let (connection, policy) = args.registry.api_connection()?;
    let api = env("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    Ok((GitHub::new(connection, &api, token, policy), api))
}

/// Creates the deployment of our own (`deployment: true`) before the pipeline runs, with the
/// image in its payload and an `in_progress` status.
pub async fn start_deployment(args: &PromoteArgs, rec: &Recorder<'_>) {
    let Ok(Some(environment)) = args
        .github
        .deployment_environment(args.report.environment.as_deref())
    else {
        return;
    };
    let (Some(repository), Some(sha)) = (env("GITHUB_REPOSITORY"), env("GITHUB_SHA")) else {
        return rec.error(
            &Error::input("deployment: true outside a GitHub Actions run: no deployment created")
                .severity(Severity::Medium),
        );
    };
    let request = rec.with(|r| r.request.clone());
    let new = NewDeployment {
        repository,
        git_ref: sha,
        environment: environment.clone(),
        payload: json!({
            "source": request.source,
            "destination": request.destination,
            "expected_digest": request.expected_digest,
            "tool": "image-promote",
        }),
        description: format!(
            "image-promote: {} → {}",
            request.source, request.destination
        ),
    };
    let log_url = rec.with(|r| r.workflow.as_ref().and_then(|w| w.run_url.clone()));
    let created = match client(args, args.github.github_token.clone()) {
        Ok((client, _)) => deployment::create(&client, &new, log_url.as_deref()).await,
        Err(e) => Err(e),
    };
    let mut record = DeploymentRecord {
        environment,
        ..DeploymentRecord::default()
    };
    match created {
        Ok(id) => {
            record.id = Some(id);
            record.statuses.push("in_progress".into());
        }
        Err(e) => rec.error(
            &e.context("the deployment was not created (or its status not set)")
                .hint(DEPLOYMENT_HINT)
                .severity(Severity::Medium),
        ),
    }
    rec.with(|r| r.deployment = Some(record));
}

const DEPLOYMENT_HINT: &str = "give the job `permissions: { deployments: write }`; a 5xx is not re-sent, as the deployment may have been created";

/// The final status of our own deployment: `success` with the environment URL, or `failure`.
pub async fn finish_deployment(args: &PromoteArgs, record: &mut Promotion) {
    let Some(id) = record.deployment.as_ref().and_then(|d| d.id) else {
        return;
    };
    let Some(repository) = env("GITHUB_REPOSITORY") else {
        return;
    };
    let promoted = matches!(record.status, Status::Promoted | Status::NoOp);
    let state = if promoted { "success" } else { "failure" };
    let digest = record
        .image
        .as_ref()
        .and_then(|i| i.destination_digest.clone())
        .unwrap_or_default();
    let description = if promoted {
        format!("{} {digest}", record.status.as_str())
    } else {
        record.status.as_str().to_owned()
    };
    let log_url = record.workflow.as_ref().and_then(|w| w.run_url.clone());
    let result = match client(args, args.github.github_token.clone()) {
        Ok((client, _)) => {
            deployment::status(
                &client,
                &repository,
                id,
                state,
                record.environment_url.as_deref().filter(|_| promoted),
                log_url.as_deref(),
                &description,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            if let Some(d) = record.deployment.as_mut() {
                d.statuses.push(state.into());
            }
        }
        Err(e) => warn(
            record,
            e.context(format_args!(
                "the deployment's `{state}` status was not set"
            ))
            .hint(DEPLOYMENT_HINT),
        ),
    }
}

fn warn(record: &mut Promotion, e: Error) {
    record.record_error(&e.severity(Severity::Medium));
    record.count_warnings();
}

/// Dispatches the deploy of the promoted digest, when asked for.
pub async fn dispatch(args: &PromoteArgs, record: &mut Promotion) {
    let g = &args.github;
    let target = match g.dispatch_target() {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => return warn(record, e),
    };
    let Some(repository) = g
        .dispatch_repository
        .clone()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| env("GITHUB_REPOSITORY"))
    else {
        return warn(
            record,
            Error::input("the deploy was not dispatched: no repository")
                .hint("pass dispatch-repository (owner/repo)"),
        );
    };
    let token = g
        .dispatch_token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| g.github_token.clone());
    let (client, api) = match client(args, token) {
        Ok(c) => c,
        Err(e) => return warn(record, e),
    };
    let carried = Carried {
        reference: record
            .promoted
            .first()
            .and_then(|p| p.split_once('@'))
            .map(|(r, _)| r.to_owned())
            .unwrap_or_else(|| record.request.destination.clone()),
        digest: record
            .image
            .as_ref()
            .and_then(|i| i.destination_digest.clone())
            .unwrap_or_default(),
        environment: record.approval.environment.clone(),
        run_url: record.workflow.as_ref().and_then(|w| w.run_url.clone()),
    };
    let (sent, error) = dispatch::dispatch(
        &client,
        &repository,
        &target,
        &carried,
        dispatch::returns_run_details(&api),
    )
    .await;
    record.dispatch = Some(sent);
    if let Some(e) = error {
        warn(
            record,
            e.context("the deploy was not dispatched").hint(
                "repository_dispatch needs `contents: write`, workflow_dispatch `actions: write` (another repository: an App token or a fine-grained PAT as dispatch-token); a 5xx is not re-sent, as it may have been created",
            ),
        );
    }
}

/// Sends the notification of the finished `record` when `notify-on` asks for its event; its
/// outcome goes into the record, a failure as a warning.
pub async fn notify(args: &PromoteArgs, record: &mut Promotion) {
    let webhook = match args.notify.webhook_for(crate::notify::event(record.status)) {
        Ok(Some(w)) => w,
        Ok(None) => return,
        Err(e) => return warn(record, e),
    };
    let (connection, policy) = match args.registry.api_connection() {
        Ok(c) => c,
        Err(e) => return warn(record, e),
    };
    let (sent, warning) = webhook.send(&connection, &policy, record).await;
    record.notifications.push(sent);
    if let Some(w) = warning {
        record.record_error(&w);
        record.count_warnings();
    }
}
