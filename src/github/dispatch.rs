//! Triggering the production deploy after a successful promotion: a `repository_dispatch`
//! (`POST /repos/{o}/{r}/dispatches`, `contents: write`) with the event type `dispatch-event`, or
//! a `workflow_dispatch` (`POST /repos/{o}/{r}/actions/workflows/{file}/dispatches`,
//! `actions: write`) of `dispatch-workflow` on `dispatch-ref` (default: the repository's default
//! branch). Both carry the destination reference, the digest, the environment and the run URL
//! within the API's limits (`client_payload` ≤ 10 top-level keys; `inputs` ≤ 10, GHES's limit).
//! A dispatch is a creating POST: sent once ([`GitHub::send`] never re-sends a write after a 5xx).
//!
//! The run started is recorded where the API says it: `return_run_details` on github.com and
//! GHE.com; elsewhere (GHES rejects the field) the newest `workflow_dispatch` run of that
//! workflow created since the dispatch is looked up, and recorded as such.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::GitHub;
use crate::error::{Error, Result};
use crate::registry::transport::Method;
use crate::report::record::DispatchRecord;

/// What to dispatch.
#[derive(Debug, Clone)]
pub enum Target {
    /// `repository_dispatch` with this event type.
    Event(String),
    /// `workflow_dispatch` of this workflow file (or id), on this ref (`None`: the default branch).
    Workflow(String, Option<String>),
}

/// What the dispatch carries.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// The promoted destination reference (`registry/repo:tag`).
    pub reference: String,
    /// The verified digest.
    pub digest: String,
    /// The job's environment.
    pub environment: Option<String>,
    /// The promoting run's URL.
    pub run_url: Option<String>,
}

impl Carried {
    /// The fields as a JSON object of strings (at most 4 keys: within both APIs' limits).
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("reference".into(), self.reference.clone().into());
        m.insert("digest".into(), self.digest.clone().into());
        if let Some(e) = &self.environment {
            m.insert("environment".into(), e.clone().into());
        }
        if let Some(u) = &self.run_url {
            m.insert("run_url".into(), u.clone().into());
        }
        m
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RunDetails {
    workflow_run_id: Option<u64>,
    html_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Repository {
    default_branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Runs {
    workflow_runs: Vec<Run>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Run {
    id: Option<u64>,
    html_url: Option<String>,
}

/// Whether the API takes `return_run_details` (github.com and GHE.com; not GHES ≤ 3.20, which
/// answers the unknown field with 400).
#[must_use]
pub fn returns_run_details(api_url: &str) -> bool {
    let host = url::Url::parse(api_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    host == "api.github.com" || host.ends_with(".ghe.com")
}

/// Dispatches `target` in `repository` (`owner/repo`) carrying `carried`, asking for the run's
/// details when `run_details` ([`returns_run_details`] of the API URL): the audit's record of it,
/// and the error when it was not sent (or may not have been: a 5xx is not re-sent).
pub async fn dispatch(
    client: &GitHub,
    repository: &str,
    target: &Target,
    carried: &Carried,
    run_details: bool,
) -> (DispatchRecord, Option<Error>) {
    let mut record = DispatchRecord {
        repository: repository.to_owned(),
        ..DispatchRecord::default()
    };
    let result = send(
        client,
        repository,
        target,
        carried,
        run_details,
        &mut record,
    )
    .await;
    if let Err(e) = &result {
        record.http_status = e.status;
    }
    (record, result.err())
}

async fn send(
    client: &GitHub,
    repository: &str,
    target: &Target,
    carried: &Carried,
    run_details: bool,
    record: &mut DispatchRecord,
) -> Result<()> {
    match target {
        Target::Event(event) => {
            if event.is_empty() || event.chars().count() > 100 {
                return Err(Error::input(
                    "dispatch-event: the event type must be 1 to 100 characters",
                ));
            }
            record.event = Some(event.clone());
            let body = json!({"event_type": event, "client_payload": carried.fields()});
            client
                .send(
                    Method::POST,
                    &format!("/repos/{repository}/dispatches"),
                    Some(&body),
                )
                .await?;
            record.sent = true;
        }
        Target::Workflow(workflow, git_ref) => {
            let git_ref = match git_ref {
                Some(r) => r.clone(),
                None => client
                    .get::<Repository>(&format!("/repos/{repository}"))
                    .await?
                    .default_branch
                    .ok_or_else(|| {
                        Error::registry(format!(
                            "GitHub API GET /repos/{repository}: no default_branch"
                        ))
                        .hint("pass dispatch-ref")
                    })?,
            };
            record.workflow = Some(workflow.clone());
            record.git_ref = Some(git_ref.clone());
            let mut body = json!({"ref": git_ref, "inputs": carried.fields()});
            if run_details {
                body["return_run_details"] = true.into();
            }
            let since = SystemTime::now() - Duration::from_secs(2);
            let answer = client
                .send(
                    Method::POST,
                    &format!("/repos/{repository}/actions/workflows/{workflow}/dispatches"),
                    Some(&body),
                )
                .await?;
            record.sent = true;
            let returned: RunDetails = serde_json::from_slice(&answer).unwrap_or_default();
            if let Some(id) = returned.workflow_run_id {
                record.run_id = Some(id);
                record.run_url = returned.html_url;
                record.run_found = Some("returned".into());
            } else if let Some(run) =
                newest_run(client, repository, workflow, &git_ref, since).await
            {
                record.run_id = run.id;
                record.run_url = run.html_url;
                record.run_found = Some("listed-after-dispatch".into());
            }
        }
    }
    Ok(())
}

/// The newest `workflow_dispatch` run of `workflow` on `git_ref` created since `since` (best
/// effort: another dispatch at the same moment would look the same).
async fn newest_run(
    client: &GitHub,
    repository: &str,
    workflow: &str,
    git_ref: &str,
    since: SystemTime,
) -> Option<Run> {
    let created = humantime::format_rfc3339_seconds(since).to_string();
    let path = format!(
        "/repos/{repository}/actions/workflows/{workflow}/runs?event=workflow_dispatch&branch={}&created=%3E%3D{created}&per_page=1",
        url::form_urlencoded::byte_serialize(git_ref.as_bytes()).collect::<String>()
    );
    // The run appears a moment after the dispatch.
    for _ in 0..3 {
        crate::runtime::sleep(Duration::from_secs(1)).await;
        match client.get::<Runs>(&path).await {
            Ok(runs) => {
                if let Some(run) = runs.workflow_runs.into_iter().next() {
                    return Some(run);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "the dispatched run could not be listed");
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mockito::Matcher;

    use super::*;
    use crate::registry::retry::RetryPolicy;
    use crate::registry::scheme::Connection;
    use crate::registry::transport::TransportOptions;

    const TOKEN: &str = "ghs_dispatchtoken77";

    fn client(server: &mockito::Server) -> GitHub {
        let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
        GitHub::new(
            connection,
            &format!("{}/api/v3", server.url()),
            Some(TOKEN.into()),
            RetryPolicy {
                attempts: 5,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_secs(5),
            },
        )
    }

    fn carried() -> Carried {
        Carried {
            reference: "prod.example/acme/app:1.0".into(),
            digest: "sha256:abc".into(),
            environment: Some("production".into()),
            run_url: Some("https://github.com/acme/app/actions/runs/4242".into()),
        }
    }

    fn fields() -> Value {
        json!({"reference": "prod.example/acme/app:1.0", "digest": "sha256:abc",
               "environment": "production", "run_url": "https://github.com/acme/app/actions/runs/4242"})
    }

    #[test]
    fn run_details_only_where_the_api_takes_them() {
        assert!(returns_run_details("https://api.github.com"));
        assert!(returns_run_details("https://api.acme.ghe.com"));
        assert!(!returns_run_details("https://github.acme.internal/api/v3"));
    }

    #[tokio::test]
    async fn a_repository_dispatch_carries_the_digest() {
        let mut server = mockito::Server::new_async().await;
        let post = server
            .mock("POST", "/api/v3/repos/acme/deploy/dispatches")
            .match_header("authorization", format!("Bearer {TOKEN}").as_str())
            .match_body(Matcher::Json(
                json!({"event_type": "deploy-production", "client_payload": fields()}),
            ))
            .with_status(204)
            .expect(1)
            .create_async()
            .await;
        let target = Target::Event("deploy-production".into());
        let (r, e) = dispatch(&client(&server), "acme/deploy", &target, &carried(), false).await;
        post.assert_async().await;
        assert!(e.is_none(), "{e:?}");
        assert!(r.sent);
        assert_eq!(r.event.as_deref(), Some("deploy-production"));
        assert_eq!(r.run_id, None, "repository_dispatch returns no run");
    }

    #[tokio::test]
    async fn a_workflow_dispatch_records_the_returned_run() {
        let mut server = mockito::Server::new_async().await;
        let post = server
            .mock("POST", "/api/v3/repos/acme/app/actions/workflows/deploy.yml/dispatches")
            .match_body(Matcher::Json(
                json!({"ref": "release", "inputs": fields(), "return_run_details": true}),
            ))
            .with_status(200)
            .with_body(r#"{"workflow_run_id": 9001, "run_url": "https://api.github.com/repos/acme/app/actions/runs/9001", "html_url": "https://github.com/acme/app/actions/runs/9001"}"#)
            .expect(1)
            .create_async()
            .await;
        let target = Target::Workflow("deploy.yml".into(), Some("release".into()));
        let (r, e) = dispatch(&client(&server), "acme/app", &target, &carried(), true).await;
        post.assert_async().await;
        assert!(e.is_none(), "{e:?}");
        assert_eq!(r.run_id, Some(9001));
        assert_eq!(
            r.run_url.as_deref(),
            Some("https://github.com/acme/app/actions/runs/9001")
        );
        assert_eq!(r.run_found.as_deref(), Some("returned"));
        assert_eq!(r.git_ref.as_deref(), Some("release"));
    }

    /// GHES: no `return_run_details`, the default branch looked up, the run listed afterwards.
    #[tokio::test]
    async fn on_ghes_the_run_is_listed_after_the_dispatch() {
        let mut server = mockito::Server::new_async().await;
        server
            .mock("GET", "/api/v3/repos/acme/app")
            .with_body(r#"{"id": 1, "full_name": "acme/app", "default_branch": "trunk"}"#)
            .create_async()
            .await;
        let post = server
            .mock(
                "POST",
                "/api/v3/repos/acme/app/actions/workflows/deploy.yml/dispatches",
            )
            .match_body(Matcher::Json(json!({"ref": "trunk", "inputs": fields()})))
            .with_status(204)
            .expect(1)
            .create_async()
            .await;
        server
            .mock("GET", "/api/v3/repos/acme/app/actions/workflows/deploy.yml/runs")
            .match_query(Matcher::AllOf(vec![
                Matcher::UrlEncoded("event".into(), "workflow_dispatch".into()),
                Matcher::UrlEncoded("branch".into(), "trunk".into()),
                Matcher::Regex("created=%3E%3D".into()),
            ]))
            .with_body(r#"{"total_count": 1, "workflow_runs": [{"id": 77, "html_url": "https://ghes.example/acme/app/actions/runs/77", "status": "queued"}]}"#)
            .create_async()
            .await;
        let target = Target::Workflow("deploy.yml".into(), None);
        let (r, e) = dispatch(&client(&server), "acme/app", &target, &carried(), false).await;
        post.assert_async().await;
        assert!(e.is_none(), "{e:?}");
        assert_eq!(r.git_ref.as_deref(), Some("trunk"));
        assert_eq!(r.run_id, Some(77));
        assert_eq!(r.run_found.as_deref(), Some("listed-after-dispatch"));
    }

    /// A 5xx on the creating POST may have created the dispatch: sent exactly once.
    #[tokio::test]
    async fn a_5xx_on_a_dispatch_is_sent_exactly_once() {
        let mut server = mockito::Server::new_async().await;
        let post = server
            .mock("POST", "/api/v3/repos/acme/app/dispatches")
            .with_status(502)
            .expect(1)
            .create_async()
            .await;
        let target = Target::Event("deploy".into());
        let (r, e) = dispatch(&client(&server), "acme/app", &target, &carried(), false).await;
        post.assert_async().await;
        assert!(!r.sent);
        assert_eq!(r.http_status, Some(502));
        let e = e.unwrap();
        assert!(!e.to_string().contains(TOKEN));
    }
}
