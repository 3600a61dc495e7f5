//! The approval record of `promote`, gathered before the pipeline starts: GitHub's review history
//! of the job's environment (`github::approvals`) becomes the audit's `approval`, a warning when it
//! cannot be read (naming the permission to add), and — with `require-approval` — the verdict
//! the pipeline's conditions decide on before anything is written.

use std::sync::Arc;

use crate::cli::PromoteArgs;
use crate::error::{Error, Result, Severity};
use crate::github::approvals::{self, RunContext};
use crate::github::{DEFAULT_API_URL, GitHub};
use crate::registry::retry::RetryPolicy;
use crate::registry::scheme::Connection;
use crate::report::record::{Approval, ApprovalLookup};

/// What was gathered.
#[derive(Debug)]
pub struct Gathered {
    /// The audit's approval context.
    pub approval: Approval,
    /// Non-fatal problems (recorded as warnings).
    pub warnings: Vec<Error>,
    /// With `require-approval`: what was shown (`Ok`) or the refusal (`Err`).
    pub verdict: Option<Result<String>>,
}

const PERMISSION_HINT: &str = "give the job `permissions: { actions: read }` and pass `github-token` (the Action's default is `${{ github.token }}`)";

/// Reads the approvals of the job's environment, when in a workflow run with an environment.
/// `api` makes the GitHub API connection, called only then (not on every run of the CLI); when it
/// fails, the same flags fail the registry clients right after, with that error.
pub async fn gather(
    args: &PromoteArgs,
    env: &dyn Fn(&str) -> Option<String>,
    api: impl FnOnce() -> Result<(Arc<Connection>, RetryPolicy)>,
) -> Gathered {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let environment = args
        .report
        .environment
        .clone()
        .filter(|e| !e.trim().is_empty());
    let required = args.github.require_approval;
    let mut gathered = Gathered {
        approval: Approval {
            environment: environment.clone(),
            required,
            ..Approval::default()
        },
        warnings: Vec::new(),
        verdict: None,
    };
    let refuse = |message: String, hint: &str| Some(Err(Error::refused(message).hint(hint)));
    let in_run = crate::action::in_actions(env);
    let (Some(environment), Some(repository), Some(run_id), true) = (
        environment,
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
        in_run,
    ) else {
        gathered.approval.lookup = Some(ApprovalLookup::NotApplicable);
        if required {
            gathered.verdict = if in_run {
                refuse(
                    "require-approval: no `environment` was given, so no approval can be shown"
                        .into(),
                    "run the job in an environment with required reviewers (`environment: production`) and pass the same name as input `environment`",
                )
            } else {
                refuse(
                    "require-approval: not in a GitHub Actions workflow run, so no approval can be shown".into(),
                    "run the promotion from a job with `environment:` and required reviewers, or drop require-approval",
                )
            };
        }
        return gathered;
    };
    let Ok((connection, policy)) = api() else {
        return gathered;
    };
    let client = GitHub::new(
        connection,
        &get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        args.github.github_token.clone(),
        policy,
    );
    let unreadable = |e: Error| {
        e.context(format_args!(
            "the approvals of environment `{environment}` could not be read"
        ))
        .hint(PERMISSION_HINT)
        .severity(Severity::Medium)
    };
    let shown = if client.has_token() {
        let context = RunContext {
            repository,
            run_id,
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            environment: environment.clone(),
            actors: ["GITHUB_ACTOR", "GITHUB_TRIGGERING_ACTOR"]
                .iter()
                .filter_map(|k| get(k))
                .collect(),
            runner_name: get("RUNNER_NAME"),
        };
        approvals::read(&client, &context).await.map_err(unreadable)
    } else {
        Err(unreadable(Error::authentication(
            "no github-token was given",
        )))
    };
    let shown = match shown {
        Ok(s) => s,
        Err(e) => {
            gathered.approval.lookup = Some(ApprovalLookup::Unavailable);
            if required {
                gathered.verdict = refuse(
                    format!(
                        "require-approval: no approval of environment `{environment}` can be shown ({})",
                        e.message
                    ),
                    PERMISSION_HINT,
                );
            }
            gathered.warnings.push(e);
            return gathered;
        }
    };
    let approval = &mut gathered.approval;
    approval.lookup = Some(ApprovalLookup::Read);
    for review in shown.reviews.iter().filter(|r| r.state == "approved") {
        if !approval.approvers.contains(&review.reviewer) && !review.reviewer.is_empty() {
            approval.approvers.push(review.reviewer.clone());
        }
    }
    let independent: Vec<String> = shown
        .independent_approvals()
        .map(|r| format!("@{}", r.reviewer))
        .collect();
    approval.reviews = shown.reviews;
    approval.approved_no_later_than = shown.bound;
    if required {
        gathered.verdict = Some(if independent.is_empty() {
            Err(Error::refused(format!(
                "require-approval: GitHub shows no approval of environment `{environment}` by a reviewer other than the run's actor"
            ))
            .hint("add required reviewers to the environment (Settings → Environments) and approve the run; a self-approval does not count"))
        } else {
            Ok(format!(
                "environment `{environment}` approved by {}",
                independent.join(", ")
            ))
        });
    }
    gathered
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::error::{Category, Reason};
    use crate::registry::transport::TransportOptions;

    const TOKEN: &str = "ghs_approvaltoken42";
    const APPROVALS: &str = "/api/v3/repos/acme/app/actions/runs/4242/approvals";
    const JOBS: &str = "/api/v3/repos/acme/app/actions/runs/4242/attempts/1/jobs";

    /// Shaped like the REST docs' example of `environment-approvals` (extra fields kept).
    fn review(state: &str, login: &str, comment: &str, environment: &str) -> serde_json::Value {
        serde_json::json!({
            "state": state,
            "comment": comment,
            "user": {"login": login, "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false},
            "environments": [{
                "id": 161_088_068, "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4", "name": environment,
                "url": format!("https://api.github.com/repos/acme/app/environments/{environment}"),
                "html_url": "https://github.com/acme/app/deployments/activity_log?environments_filter=x",
                "created_at": "2020-11-23T22:00:40Z", "updated_at": "2020-11-23T22:00:40Z"
            }]
        })
    }

    fn args(extra: &[&str]) -> PromoteArgs {
        let mut argv = vec![
            "image-promote",
            "promote",
            "127.0.0.1:5100/a:1",
            "127.0.0.1:5101/a:1",
            "--environment=production",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Promote(p) => p,
            _ => unreachable!(),
        }
    }

    async fn gather_with(server: &mockito::Server, args: &PromoteArgs) -> Gathered {
        let api = format!("{}/api/v3", server.url());
        let env: HashMap<&str, String> = [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_REPOSITORY", "acme/app".to_owned()),
            ("GITHUB_RUN_ID", "4242".to_owned()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            ("GITHUB_ACTOR", "octocat".to_owned()),
            ("RUNNER_NAME", "runner-7".to_owned()),
            ("GITHUB_API_URL", api),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).cloned();
        let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        };
        gather(args, &lookup, || Ok((connection, policy))).await
    }

    async fn server_with(reviews: &serde_json::Value) -> (mockito::ServerGuard, mockito::Mock) {
        let mut server = mockito::Server::new_async().await;
        let mock = server
            .mock("GET", APPROVALS)
            .match_header("authorization", format!("Bearer {TOKEN}").as_str())
            .with_body(reviews.to_string())
            .create_async()
            .await;
        server
            .mock("GET", JOBS)
            .match_query(mockito::Matcher::Any)
            .with_body(
                serde_json::json!({"total_count": 2, "jobs": [
                    {"id": 1, "status": "completed", "started_at": "2026-12-01T10:00:00Z", "runner_name": "runner-7"},
                    {"id": 2, "status": "in_progress", "started_at": "2026-12-01T10:05:00Z", "runner_name": "runner-7", "steps": []}
                ]})
                .to_string(),
            )
            .create_async()
            .await;
        (server, mock)
    }

    #[tokio::test]
    async fn an_approval_is_recorded_with_the_job_start_bound() {
        let (server, mock) = server_with(&serde_json::json!([
            review("approved", "alice", "ship it", "production"),
            review("approved", "bob", "", "staging"),
        ]))
        .await;
        let token = format!("--github-token={TOKEN}");
        let g = gather_with(&server, &args(&[&token, "--require-approval"])).await;
        mock.assert_async().await;
        assert!(g.warnings.is_empty(), "{:?}", g.warnings);
        let a = &g.approval;
        assert_eq!(a.lookup, Some(ApprovalLookup::Read));
        assert_eq!(a.approvers, ["alice"], "only this environment's reviews");
        assert_eq!(a.reviews.len(), 1);
        assert_eq!(a.reviews[0].comment, "ship it");
        assert_eq!(a.reviews[0].environments, ["production"]);
        assert!(!a.reviews[0].self_review);
        let bound = a.approved_no_later_than.as_ref().unwrap();
        assert_eq!(
            (bound.at.as_str(), bound.basis.as_str()),
            ("2026-12-01T10:05:00Z", "job-start")
        );
        assert_eq!(
            g.verdict.unwrap().unwrap(),
            "environment `production` approved by @alice"
        );
    }

    #[tokio::test]
    async fn a_rejection_or_a_self_approval_does_not_satisfy_require_approval() {
        let (server, _) = server_with(&serde_json::json!([
            review("rejected", "alice", "not today", "production"),
            review("approved", "octocat", "lgtm (mine)", "production"),
        ]))
        .await;
        let token = format!("--github-token={TOKEN}");
        let g = gather_with(&server, &args(&[&token, "--require-approval=true"])).await;
        assert_eq!(g.approval.reviews.len(), 2);
        assert!(g.approval.reviews[1].self_review);
        assert_eq!(g.approval.approvers, ["octocat"]);
        let e = g.verdict.unwrap().unwrap_err();
        assert_eq!((e.reason, e.exit_code()), (Reason::Refused, 3));
        assert!(e.message.contains("other than the run's actor"), "{e}");
    }

    #[tokio::test]
    async fn no_review_at_all_is_read_and_refused_only_when_required() {
        let (server, _) = server_with(&serde_json::json!([])).await;
        let token = format!("--github-token={TOKEN}");
        let g = gather_with(&server, &args(&[&token])).await;
        assert_eq!(g.approval.lookup, Some(ApprovalLookup::Read));
        assert!(g.approval.reviews.is_empty() && g.verdict.is_none());
        let g = gather_with(&server, &args(&[&token, "--require-approval"])).await;
        assert_eq!(g.verdict.unwrap().unwrap_err().exit_code(), 3);
    }

    #[tokio::test]
    async fn a_403_is_a_warning_naming_the_permission_unless_required() {
        let mut server = mockito::Server::new_async().await;
        server
            .mock("GET", APPROVALS)
            .with_status(403)
            .with_body(r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run","status":"403"}"#)
            .expect(2)
            .create_async()
            .await;
        let token = format!("--github-token={TOKEN}");
        let g = gather_with(&server, &args(&[&token])).await;
        assert_eq!(g.approval.lookup, Some(ApprovalLookup::Unavailable));
        assert!(g.verdict.is_none(), "the promotion proceeds");
        let w = &g.warnings[0];
        assert_eq!(
            (w.severity, w.category),
            (Severity::Medium, Category::Permission)
        );
        assert!(
            w.message.contains("Resource not accessible by integration"),
            "{w}"
        );
        assert!(w.hint.as_deref().unwrap().contains("actions: read"));
        assert!(!format!("{w:?}").contains(TOKEN));
        let g = gather_with(&server, &args(&[&token, "--require-approval"])).await;
        let e = g.verdict.unwrap().unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.hint.unwrap().contains("actions: read"));
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_asked_and_a_warning_says_so() {
        let server = mockito::Server::new_async().await;
        let mut a = args(&[]);
        // Not even from a GITHUB_TOKEN the test process may have.
        a.github.github_token = None;
        let g = gather_with(&server, &a).await;
        assert_eq!(g.approval.lookup, Some(ApprovalLookup::Unavailable));
        assert!(g.warnings[0].message.contains("no github-token"));
    }

    #[tokio::test]
    async fn require_approval_without_an_environment_refuses() {
        let server = mockito::Server::new_async().await;
        let mut a = args(&["--require-approval"]);
        a.report.environment = None;
        let g = gather_with(&server, &a).await;
        assert_eq!(g.approval.lookup, Some(ApprovalLookup::NotApplicable));
        let e = g.verdict.unwrap().unwrap_err();
        assert!(e.message.contains("no `environment`"), "{e}");
    }
}
