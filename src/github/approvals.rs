//! Who approved this job's environment: the run's review history
//! (`GET /repos/{o}/{r}/actions/runs/{run_id}/approvals`, permission `actions: read`), filtered to
//! the environment the job runs in. The list has no timestamp and no run attempt, so the honest
//! time bound is taken elsewhere: the start of this job (a job behind required reviewers starts
//! only after the approval), found among the jobs of this run attempt as the one in progress on
//! this runner (`RUNNER_NAME`); failing that, the time the list was read.

use std::time::SystemTime;

use serde::Deserialize;

use super::GitHub;
use crate::error::Result;
use crate::report::record::{ApprovalReview, TimeBound, timestamp};

/// What identifies the job's run and environment (from the runner's variables and inputs).
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// `owner/repo` (`GITHUB_REPOSITORY`).
    pub repository: String,
    /// `GITHUB_RUN_ID`.
    pub run_id: String,
    /// `GITHUB_RUN_ATTEMPT`.
    pub run_attempt: Option<String>,
    /// The job's `environment:` name (input `environment`).
    pub environment: String,
    /// `GITHUB_ACTOR` and `GITHUB_TRIGGERING_ACTOR`: their approvals are self-reviews.
    pub actors: Vec<String>,
    /// `RUNNER_NAME`, to find this job among the run's jobs.
    pub runner_name: Option<String>,
}

/// One entry of the approvals list (tolerant: every field may be missing).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Review {
    state: String,
    comment: Option<String>,
    user: Option<User>,
    environments: Vec<NamedEnvironment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct User {
    login: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedEnvironment {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Jobs {
    jobs: Vec<Job>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Job {
    status: String,
    started_at: Option<String>,
    runner_name: Option<String>,
}

/// What GitHub showed about the environment's approvals.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// The reviews of this environment, in GitHub's order.
    pub reviews: Vec<ApprovalReview>,
    /// The latest time the approvals can have been given.
    pub bound: Option<TimeBound>,
}

impl Shown {
    /// The approvals of this environment by a reviewer other than the run's actor.
    pub fn independent_approvals(&self) -> impl Iterator<Item = &ApprovalReview> {
        self.reviews
            .iter()
            .filter(|r| r.state == "approved" && !r.self_review)
    }
}

/// Reads the reviews of `context.environment` and the time bound.
///
/// # Errors
/// The classified error of the approvals request (403 without `actions: read`, unreachable
/// API, …). The job lookup for the time bound is best effort: without it the bound is the read
/// time.
pub async fn read(client: &GitHub, context: &RunContext) -> Result<Shown> {
    let base = format!(
        "/repos/{}/actions/runs/{}",
        context.repository, context.run_id
    );
    let list: Vec<Review> = client.get(&format!("{base}/approvals")).await?;
    let read_at = timestamp(SystemTime::now());
    let reviews = list
        .into_iter()
        .filter(|r| r.environments.iter().any(|e| e.name == context.environment))
        .map(|r| {
            let reviewer = r.user.map(|u| u.login).unwrap_or_default();
            ApprovalReview {
                self_review: reviewer.is_empty() || context.actors.contains(&reviewer),
                reviewer,
                state: r.state,
                comment: r.comment.unwrap_or_default(),
                environments: r.environments.into_iter().map(|e| e.name).collect(),
            }
        })
        .collect();
    let started = match (&context.run_attempt, &context.runner_name) {
        (Some(attempt), Some(runner)) => job_start(client, &base, attempt, runner).await,
        _ => None,
    };
    let bound = Some(match started {
        Some(at) => TimeBound {
            at,
            basis: "job-start".to_owned(),
        },
        None => TimeBound {
            at: read_at,
            basis: "read-time".to_owned(),
        },
    });
    Ok(Shown { reviews, bound })
}

async fn job_start(client: &GitHub, base: &str, attempt: &str, runner: &str) -> Option<String> {
    let jobs: Jobs = match client
        .get(&format!("{base}/attempts/{attempt}/jobs?per_page=100"))
        .await
    {
        Ok(j) => j,
        Err(e) => {
            tracing::debug!(error = %e, "the run's jobs could not be read; the approval time bound is the read time");
            return None;
        }
    };
    let mut ours = jobs
        .jobs
        .into_iter()
        .filter(|j| j.status == "in_progress" && j.runner_name.as_deref() == Some(runner));
    match (ours.next(), ours.next()) {
        (Some(job), None) => job.started_at.filter(|s| !s.is_empty()),
        _ => None,
    }
}
