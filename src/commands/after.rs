//! What `promote` does once the outcome is known: trigger the production deploy
//! (`dispatch-event` / `dispatch-workflow`, after a promotion only) and notify (`notify-webhook`).
//! Both are recorded in the audit; a failure of either is a warning, never a failed promotion.

use crate::cli::PromoteArgs;
use crate::error::{Error, Severity};
use crate::github::dispatch::{self, Carried};
use crate::github::{DEFAULT_API_URL, GitHub};
use crate::report::Promotion;

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
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
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
    let (connection, policy) = match args.registry.api_connection() {
        Ok(c) => c,
        Err(e) => return warn(record, e),
    };
    let token = g
        .dispatch_token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| g.github_token.clone());
    let api = env("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let client = GitHub::new(connection, &api, token, policy);
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
