//! The flag groups of what a promotion records and tells beyond the registry (`promote` only):
//! the GitHub side (approvals, the environment URL, dispatch, our own deployment) and the
//! notifications. Declared once like [`super::groups`], with the same boolean convention.

use clap::Args;

use super::{parse_bool, split_list};
use crate::error::{Error, Result};

/// The GitHub side of a promotion (`promote`): the approval record of the job's environment and
/// the deployment's URL. The API base is `GITHUB_API_URL` (GHES: `https://HOST/api/v3`).
#[derive(Debug, Args, Clone)]
pub struct GitHubArgs {
    /// Token for the GitHub API (the Action passes `${{ github.token }}`), to read the run's environment approvals (needs `actions: read`). Never shown.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GITHUB_TOKEN",
        hide_env_values = true,
        help_heading = "GitHub"
    )]
    pub github_token: Option<String>,
    /// Refuse (exit 3, before anything is written) unless GitHub shows an approval of `environment` by a reviewer other than the run's actor.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_REQUIRE_APPROVAL", help_heading = "GitHub")]
    pub require_approval: bool,
    /// The `environment-url` output: a template with {registry}, {repository}, {digest}, {tag}; without it, `https://{registry}/v2/{repository}/manifests/{digest}` (the registry API host).
    #[arg(
        long,
        value_name = "TEMPLATE",
        env = "IMAGE_PROMOTE_ENVIRONMENT_URL",
        help_heading = "GitHub"
    )]
    pub environment_url: Option<String>,
    /// After a successful promotion, send a `repository_dispatch` with this event type (needs `contents: write`).
    #[arg(
        long,
        value_name = "EVENT",
        env = "IMAGE_PROMOTE_DISPATCH_EVENT",
        help_heading = "GitHub"
    )]
    pub dispatch_event: Option<String>,
    /// After a successful promotion, start this workflow (`deploy.yml`) with `workflow_dispatch` (needs `actions: write`); it must declare the inputs `reference`, `digest`, `environment`, `run_url`.
    #[arg(
        long,
        value_name = "FILE",
        env = "IMAGE_PROMOTE_DISPATCH_WORKFLOW",
        help_heading = "GitHub"
    )]
    pub dispatch_workflow: Option<String>,
    /// The ref `dispatch-workflow` runs on; without it, the repository's default branch.
    #[arg(
        long,
        value_name = "REF",
        env = "IMAGE_PROMOTE_DISPATCH_REF",
        help_heading = "GitHub"
    )]
    pub dispatch_ref: Option<String>,
    /// The repository (`owner/repo`) to dispatch to; without it, this run's repository.
    #[arg(
        long,
        value_name = "OWNER/REPO",
        env = "IMAGE_PROMOTE_DISPATCH_REPOSITORY",
        help_heading = "GitHub"
    )]
    pub dispatch_repository: Option<String>,
    /// Token for the dispatch (another repository needs an App token or a fine-grained PAT); without it, github-token. Never shown.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "IMAGE_PROMOTE_DISPATCH_TOKEN",
        hide_env_values = true,
        help_heading = "GitHub"
    )]
    pub dispatch_token: Option<String>,
    /// Create a deployment of our own in `deployment-environment` (needs `deployments: write`): the image in its payload, statuses in_progress → success/failure.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_DEPLOYMENT", help_heading = "GitHub")]
    pub deployment: bool,
    /// The environment of that deployment; not the job's own `environment` (GitHub writes that one itself).
    #[arg(
        long,
        value_name = "NAME",
        env = "IMAGE_PROMOTE_DEPLOYMENT_ENVIRONMENT",
        help_heading = "GitHub"
    )]
    pub deployment_environment: Option<String>,
}

impl GitHubArgs {
    /// The environment of our own deployment when `deployment` is set, checked.
    ///
    /// # Errors
    /// An input error without `deployment-environment`, or when it is the job's `environment`.
    pub fn deployment_environment(&self, job_environment: Option<&str>) -> Result<Option<String>> {
        let name = self
            .deployment_environment
            .clone()
            .filter(|n| !n.trim().is_empty());
        match (self.deployment, name) {
            (false, _) => Ok(None),
            (true, None) => Err(Error::input("deployment: true needs deployment-environment")
                .hint("name the environment of the deployment record, e.g. `production-images`")),
            (true, Some(n)) if Some(n.as_str()) == job_environment => Err(Error::input(format!(
                "deployment-environment `{n}` is the job's own environment"
            ))
            .hint("GitHub already records a deployment for the job's environment and overwrites statuses written to it; feed it with `environment.url` and the `environment-url` output, or name another environment")),
            (true, Some(n)) => Ok(Some(n)),
        }
    }

    /// The dispatch asked for, checked: `dispatch-event` or `dispatch-workflow` (not both).
    ///
    /// # Errors
    /// An input error for both, or for `dispatch-ref` without `dispatch-workflow`.
    pub fn dispatch_target(&self) -> Result<Option<crate::github::dispatch::Target>> {
        use crate::github::dispatch::Target;
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        match (
            set(&self.dispatch_event),
            set(&self.dispatch_workflow),
            set(&self.dispatch_ref),
        ) {
            (Some(_), Some(_), _) => Err(Error::input(
                "dispatch-event and dispatch-workflow are both given",
            )
            .hint(
                "trigger the deploy one way: a repository_dispatch event or a workflow_dispatch",
            )),
            (None, None, Some(_)) | (Some(_), None, Some(_)) => Err(Error::input(
                "dispatch-ref is given without dispatch-workflow",
            )
            .hint("dispatch-ref names the ref a dispatch-workflow runs on")),
            (Some(event), None, None) => Ok(Some(Target::Event(event))),
            (None, Some(workflow), git_ref) => Ok(Some(Target::Workflow(workflow, git_ref))),
            (None, None, None) => Ok(None),
        }
    }
}

/// Notifications of the outcome (`promote`).
#[derive(Debug, Args, Clone)]
pub struct NotifyArgs {
    /// Webhook URL to notify (a secret: masked, never shown or recorded): Slack incoming webhook, Teams Workflows webhook, or any URL taking JSON.
    #[arg(
        long,
        value_name = "URL",
        env = "IMAGE_PROMOTE_NOTIFY_WEBHOOK",
        hide_env_values = true,
        help_heading = "Notifications"
    )]
    pub notify_webhook: Option<String>,
    /// When to notify: any of promoted, refused, failed, rolled-back (comma-separated).
    #[arg(
        long,
        value_name = "EVENTS",
        default_value = "promoted,refused,failed",
        env = "IMAGE_PROMOTE_NOTIFY_ON",
        help_heading = "Notifications"
    )]
    pub notify_on: Vec<String>,
    /// Payload: slack, teams, json, or auto (from the webhook's host: hooks.slack.com → slack; *.logic.azure.com, *.powerplatform.com → teams; else json).
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "auto",
        env = "IMAGE_PROMOTE_NOTIFY_FORMAT",
        help_heading = "Notifications"
    )]
    pub notify_format: String,
    /// HMAC secret for the json format: the body is signed in `X-Hub-Signature-256: sha256=…`. Never shown.
    #[arg(
        long,
        value_name = "SECRET",
        env = "IMAGE_PROMOTE_NOTIFY_SECRET",
        hide_env_values = true,
        help_heading = "Notifications"
    )]
    pub notify_secret: Option<String>,
}

impl NotifyArgs {
    /// The webhook to notify for `event`, if any.
    ///
    /// # Errors
    /// Input errors for an unknown `notify-on` event or `notify-format`.
    pub fn webhook_for(&self, event: Option<&str>) -> Result<Option<crate::notify::Webhook>> {
        let events = crate::notify::parse_events(&split_list(&self.notify_on))?;
        let Some(url) = self.notify_webhook.clone().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let format = crate::notify::Format::choose(Some(&self.notify_format), &url)?;
        if !event.is_some_and(|e| events.iter().any(|x| x == e)) {
            return Ok(None);
        }
        Ok(Some(crate::notify::Webhook::new(
            url,
            format,
            self.notify_secret.clone(),
        )))
    }
}
