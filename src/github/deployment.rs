//! A deployment of our own (`deployment: true`), for an environment other than the job's (whose
//! deployment GitHub writes itself and whose statuses it overwrites when the job ends): created
//! before the copy (`POST /repos/{o}/{r}/deployments`, `deployments: write`) with
//! `auto_merge: false` and `required_contexts: []` (no 409 for unmerged branches or failing
//! checks, no 202 auto-merge answer), the image in its payload, then statuses `in_progress` →
//! `success` (with the environment URL) or `failure`. Creating POSTs are sent once: a 5xx is
//! never re-sent, so at most one deployment exists per promotion.

use serde::Deserialize;
use serde_json::json;

use super::GitHub;
use crate::error::{Error, Result};
use crate::registry::transport::Method;

/// What the deployment records.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    /// `owner/repo`.
    pub repository: String,
    /// The commit or ref deployed (`GITHUB_SHA`).
    pub git_ref: String,
    /// The environment name (not the job's own).
    pub environment: String,
    /// The payload: source, destination, the expected digest.
    pub payload: serde_json::Value,
    /// Shown in the deployments list.
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Created {
    id: Option<u64>,
}

/// Creates the deployment and its `in_progress` status; returns its id.
///
/// # Errors
/// The classified error (sent once); a 2xx without an id (a 202 message) is a REGISTRY error.
pub async fn create(client: &GitHub, new: &NewDeployment, log_url: Option<&str>) -> Result<u64> {
    let body = json!({
        "ref": new.git_ref,
        "task": "deploy",
        "environment": new.environment,
        "payload": new.payload,
        "description": new.description,
        "auto_merge": false,
        "required_contexts": [],
        "transient_environment": false,
    });
    let path = format!("/repos/{}/deployments", new.repository);
    let answer = client.send(Method::POST, &path, Some(&body)).await?;
    let id = serde_json::from_slice::<Created>(&answer)
        .ok()
        .and_then(|c| c.id)
        .ok_or_else(|| {
            Error::registry(format!(
                "GitHub API POST {path}: the answer names no deployment"
            ))
        })?;
    status(
        client,
        &new.repository,
        id,
        "in_progress",
        None,
        log_url,
        "promoting",
    )
    .await?;
    Ok(id)
}

/// Posts a status (`in_progress`, `success`, `failure`) of deployment `id`.
///
/// # Errors
/// The classified error (sent once).
pub async fn status(
    client: &GitHub,
    repository: &str,
    id: u64,
    state: &str,
    environment_url: Option<&str>,
    log_url: Option<&str>,
    description: &str,
) -> Result<()> {
    let mut body = json!({"state": state, "description": crate::text::shorten(description)});
    if let Some(url) = environment_url {
        body["environment_url"] = url.into();
    }
    if let Some(url) = log_url {
        body["log_url"] = url.into();
    }
    client
        .send(
            Method::POST,
            &format!("/repos/{repository}/deployments/{id}/statuses"),
            Some(&body),
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use mockito::Matcher;

    use super::*;
    use crate::registry::retry::RetryPolicy;
    use crate::registry::scheme::Connection;
    use crate::registry::transport::TransportOptions;

    fn client(server: &mockito::Server) -> GitHub {
        let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
        GitHub::new(
            connection,
            &server.url(),
            Some("ghs_deploytoken".into()),
            RetryPolicy {
                attempts: 5,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_secs(5),
            },
        )
    }

    fn new() -> NewDeployment {
        NewDeployment {
            repository: "acme/app".into(),
            git_ref: "0123abc".into(),
            environment: "production-images".into(),
            payload: json!({"destination": "prod.example/acme/app:1.0"}),
            description: "image-promote: a → b".into(),
        }
    }

    #[tokio::test]
    async fn created_without_auto_merge_or_required_contexts_then_in_progress() {
        let mut server = mockito::Server::new_async().await;
        let post = server
            .mock("POST", "/repos/acme/app/deployments")
            .match_body(Matcher::Json(json!({
                "ref": "0123abc", "task": "deploy", "environment": "production-images",
                "payload": {"destination": "prod.example/acme/app:1.0"},
                "description": "image-promote: a → b",
                "auto_merge": false, "required_contexts": [], "transient_environment": false
            })))
            .with_status(201)
            .with_body(r#"{"id": 1, "sha": "0123abc", "environment": "production-images", "creator": {"login": "github-actions[bot]"}}"#)
            .expect(1)
            .create_async()
            .await;
        let progress = server
            .mock("POST", "/repos/acme/app/deployments/1/statuses")
            .match_body(Matcher::Json(json!({
                "state": "in_progress", "description": "promoting",
                "log_url": "https://github.com/acme/app/actions/runs/1"
            })))
            .with_status(201)
            .with_body(r#"{"id": 10, "state": "in_progress"}"#)
            .expect(1)
            .create_async()
            .await;
        let id = create(
            &client(&server),
            &new(),
            Some("https://github.com/acme/app/actions/runs/1"),
        )
        .await
        .unwrap();
        assert_eq!(id, 1);
        post.assert_async().await;
        progress.assert_async().await;
    }

    /// A 5xx on the creating POST may have created it: sent exactly once, no status posted.
    #[tokio::test]
    async fn a_5xx_on_create_is_sent_exactly_once() {
        let mut server = mockito::Server::new_async().await;
        let post = server
            .mock("POST", "/repos/acme/app/deployments")
            .with_status(503)
            .expect(1)
            .create_async()
            .await;
        let statuses = server
            .mock("POST", Matcher::Regex("/statuses$".into()))
            .expect(0)
            .create_async()
            .await;
        let e = create(&client(&server), &new(), None).await.unwrap_err();
        assert_eq!(e.status, Some(503));
        post.assert_async().await;
        statuses.assert_async().await;
    }

    /// A 202 ("Auto-merged … into …") names no deployment: an error, not a guess.
    #[tokio::test]
    async fn an_answer_without_an_id_is_an_error() {
        let mut server = mockito::Server::new_async().await;
        server
            .mock("POST", "/repos/acme/app/deployments")
            .with_status(202)
            .with_body(r#"{"message": "Auto-merged master into topic-branch on deployment."}"#)
            .create_async()
            .await;
        let e = create(&client(&server), &new(), None).await.unwrap_err();
        assert!(e.message.contains("names no deployment"), "{e}");
    }
}
