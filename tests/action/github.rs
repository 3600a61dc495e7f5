//! The Action with a fake GitHub API (mockito, loopback, a GHES-shaped base `/api/v3`) and the
//! real registries: the approval line of the summary, the audit's approval record, the
//! `environment-url` output, `require-approval` refusing before any byte moves, a 403 as a
//! warning, a rate limit waited for, and the token absent from every output at trace level.

use std::time::{Duration, Instant};

use mockito::Matcher;

use crate::runner::{Run, SMALL, action_command, assert_no_secret};
use crate::support::harness::{plain, registries, skopeo_digest, text, unique};

pub(crate) const TOKEN: &str = "ghs_ActionFakeToken0123456789abcdef";
pub(crate) const APPROVALS: &str = "/api/v3/repos/acme/app/actions/runs/4242/approvals";
const JOBS: &str = "/api/v3/repos/acme/app/actions/runs/4242/attempts/1/jobs";

/// An entry shaped like the REST docs' `environment-approvals` example.
pub(crate) fn review(state: &str, login: &str, comment: &str) -> serde_json::Value {
    serde_json::json!({
        "state": state,
        "comment": comment,
        "user": {"login": login, "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==", "type": "User",
                 "site_admin": false, "html_url": format!("https://github.com/{login}")},
        "environments": [{"id": 161088068, "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4",
            "name": "production", "url": "https://api.github.com/repos/acme/app/environments/production",
            "html_url": "https://github.com/acme/app/deployments/activity_log?environments_filter=production",
            "created_at": "2020-11-23T22:00:40Z", "updated_at": "2020-11-23T22:00:40Z"}]
    })
}

pub(crate) fn jobs(server: &mut mockito::Server) -> mockito::Mock {
    server
        .mock("GET", JOBS)
        .match_query(Matcher::UrlEncoded("per_page".into(), "100".into()))
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .with_body(
            serde_json::json!({"total_count": 1, "jobs": [{
                "id": 399444496, "run_id": 4242, "status": "in_progress", "conclusion": null,
                "started_at": "2026-12-01T20:15:00Z", "name": "promote", "runner_name": "runner-3",
                "labels": ["ubuntu-latest"], "steps": []}]})
            .to_string(),
        )
        .create()
}

fn run_with_api(server: &mockito::Server, inputs: &[(&str, &str)]) -> Run {
    let (mut cmd, step) = action_command(inputs);
    cmd.env("GITHUB_API_URL", format!("{}/api/v3", server.url()))
        .env("RUNNER_NAME", "runner-3")
        .env("RUST_LOG", "trace");
    let out = cmd.output().unwrap();
    step.finish(out)
}

#[test]
fn an_approved_promotion_records_the_approval_and_the_environment_url() {
    let r = registries();
    let mut server = mockito::Server::new();
    let approvals = server
        .mock("GET", APPROVALS)
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_header("x-github-api-version", "2022-11-28")
        .with_body(serde_json::json!([review("approved", "alice", "ship it")]).to_string())
        .expect(1)
        .create();
    let jobs = jobs(&mut server);
    let src = format!("{}/app/small:1.0", r.staging);
    let repo = unique("action-approved");
    let dst = format!("{}/{repo}:1.0", r.production);
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("environment", "production"),
            ("github-token", TOKEN),
            ("require-approval", "true"),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    approvals.assert();
    jobs.assert();
    assert_eq!(run.output("status"), "promoted");
    assert_eq!(run.output("warnings"), "0");
    assert_eq!(
        run.output("environment-url"),
        format!("https://{}/v2/{repo}/manifests/{SMALL}", r.production)
    );
    assert!(
        run.summary.contains(
            "| **Approval** | approved by @alice: \"ship it\" (no later than 2026-12-01T20:15:00Z, the job's start) |"
        ),
        "{}",
        run.summary
    );
    let audit = run.audit();
    let a = &audit["approval"];
    assert_eq!(a["lookup"], "read");
    assert_eq!(a["required"], true);
    assert_eq!(a["approvers"], serde_json::json!(["alice"]));
    assert_eq!(
        a["reviews"][0],
        serde_json::json!({"reviewer": "alice", "state": "approved", "comment": "ship it",
            "environments": ["production"], "self_review": false})
    );
    assert_eq!(
        a["approved_no_later_than"],
        serde_json::json!({"at": "2026-12-01T20:15:00Z", "basis": "job-start"})
    );
    assert_eq!(audit["conditions"][0]["id"], "approval");
    assert_eq!(audit["conditions"][0]["status"], "passed");
    assert_eq!(audit["environment_url"], run.output("environment-url"));
    assert_no_secret(&run, TOKEN);
}

#[test]
fn a_template_fills_the_environment_url() {
    let r = registries();
    let server = mockito::Server::new();
    let src = format!("{}/app/small:1.0", r.staging);
    let repo = unique("action-url");
    let dst = format!("{}/{repo}:1.0", r.production);
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            (
                "environment-url",
                "https://console.example/{registry}/{repository}:{tag}@{digest}",
            ),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(
        run.output("environment-url"),
        format!(
            "https://console.example/{}/{repo}:1.0@{SMALL}",
            r.production
        )
    );
}

/// Without `actions: read` the approvals cannot be read: a warning naming the permission, and
/// the promotion proceeds; with `require-approval: true` it is refused (exit 3) before anything
/// is written.
#[test]
fn a_403_warns_and_with_require_approval_refuses_before_any_write() {
    let r = registries();
    let mut server = mockito::Server::new();
    server
        .mock("GET", APPROVALS)
        .with_status(403)
        .with_header("x-ratelimit-remaining", "998")
        .with_body(r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run","status":"403"}"#)
        .expect(2)
        .create();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-403"));
    let inputs = [
        ("source", src.as_str()),
        ("destination", dst.as_str()),
        ("environment", "production"),
        ("github-token", TOKEN),
    ];
    let run = run_with_api(&server, &inputs);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("warnings"), "1");
    let stdout = run.stdout();
    assert!(
        stdout.contains("::warning title=image-promote PERMISSION (MEDIUM)::the approvals of environment `production` could not be read: GitHub API GET /repos/acme/app/actions/runs/4242/approvals: HTTP 403: Resource not accessible by integration"),
        "{stdout}"
    );
    assert!(stdout.contains("actions: read"), "{stdout}");
    assert_eq!(run.audit()["approval"]["lookup"], "unavailable");
    assert_no_secret(&run, TOKEN);

    let dst = format!("{}/{}:1.0", r.production, unique("action-403-required"));
    let mut required = inputs.to_vec();
    required[1] = ("destination", &dst);
    required.push(("require-approval", "true"));
    let run = run_with_api(&server, &required);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    assert_eq!(run.output("status"), "refused");
    assert_eq!(run.output("environment-url"), "");
    assert_eq!(
        skopeo_digest(&dst, &plain()),
        None,
        "a refused promotion wrote"
    );
    let audit = run.audit();
    let conditions = audit["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1, "nothing after the approval condition");
    assert_eq!(conditions[0]["id"], "approval");
    assert_eq!(conditions[0]["status"], "failed");
    assert!(audit["copy"].is_null() && audit["image"].is_null());
    assert!(
        run.summary.contains("not readable from GitHub"),
        "{}",
        run.summary
    );
    assert_no_secret(&run, TOKEN);
}

/// A rejection by another reviewer and an approval by the run's actor (`octocat`) show no
/// independent approval: refused.
#[test]
fn a_self_approval_does_not_count() {
    let r = registries();
    let mut server = mockito::Server::new();
    server
        .mock("GET", APPROVALS)
        .with_body(
            serde_json::json!([
                review("rejected", "bob", "not now"),
                review("approved", "octocat", "")
            ])
            .to_string(),
        )
        .create();
    jobs(&mut server);
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-self"));
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("environment", "production"),
            ("github-token", TOKEN),
            ("require-approval", "true"),
        ],
    );
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    assert!(
        run.summary
            .contains("rejected by @bob: \"not now\" · approved by @octocat (the run's actor)"),
        "{}",
        run.summary
    );
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}

/// GitHub's rate limit (429 with `Retry-After: 2`) is waited for, then the record is read.
#[test]
fn a_rate_limit_is_waited_for() {
    let r = registries();
    let mut server = mockito::Server::new();
    let limited = server
        .mock("GET", APPROVALS)
        .with_status(429)
        .with_header("retry-after", "2")
        .with_body(r#"{"message":"API rate limit exceeded for installation ID 1."}"#)
        .expect(1)
        .create();
    let ok = server
        .mock("GET", APPROVALS)
        .with_body(serde_json::json!([review("approved", "alice", "ship it")]).to_string())
        .expect(1)
        .create();
    jobs(&mut server);
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-ratelimit"));
    let t = Instant::now();
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("environment", "production"),
            ("github-token", TOKEN),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    limited.assert();
    ok.assert();
    assert_eq!(
        run.audit()["approval"]["approvers"],
        serde_json::json!(["alice"])
    );
}

/// After the promotion, the deploy workflow is dispatched with the verified digest (GHES: no
/// `return_run_details`, the run listed afterwards); a 502 on the dispatch is sent exactly once
/// and is a warning.
#[test]
fn the_deploy_is_dispatched_with_the_digest_and_a_5xx_is_sent_once() {
    let r = registries();
    let mut server = mockito::Server::new();
    let repo = unique("action-dispatch");
    let reference = format!("{}/{repo}:1.0", r.production);
    server
        .mock("GET", "/api/v3/repos/acme/app")
        .with_body(r#"{"id": 1, "full_name": "acme/app", "default_branch": "main"}"#)
        .create();
    let post = server
        .mock(
            "POST",
            "/api/v3/repos/acme/app/actions/workflows/deploy.yml/dispatches",
        )
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_body(Matcher::Json(serde_json::json!({
            "ref": "main",
            "inputs": {"reference": reference, "digest": SMALL, "environment": "production",
                       "run_url": "https://github.com/acme/app/actions/runs/4242/attempts/1"}
        })))
        .with_status(204)
        .expect(1)
        .create();
    server
        .mock("GET", "/api/v3/repos/acme/app/actions/workflows/deploy.yml/runs")
        .match_query(Matcher::Any)
        .with_body(r#"{"total_count": 1, "workflow_runs": [{"id": 5150, "html_url": "https://ghes.example/acme/app/actions/runs/5150"}]}"#)
        .create();
    server
        .mock("GET", APPROVALS)
        .with_body(serde_json::json!([review("approved", "alice", "ship it")]).to_string())
        .create();
    jobs(&mut server);
    let src = format!("{}/app/small:1.0", r.staging);
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &reference),
            ("environment", "production"),
            ("github-token", TOKEN),
            ("dispatch-workflow", "deploy.yml"),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    post.assert();
    assert_eq!(run.output("warnings"), "0");
    assert_eq!(
        run.audit()["dispatch"],
        serde_json::json!({"repository": "acme/app", "event": null, "workflow": "deploy.yml",
            "ref": "main", "sent": true, "http_status": null, "run_id": 5150,
            "run_url": "https://ghes.example/acme/app/actions/runs/5150",
            "run_found": "listed-after-dispatch"})
    );
    assert!(
        run.summary.contains("| **Deploy** | workflow_dispatch `deploy.yml` in `acme/app`: started https://ghes.example/acme/app/actions/runs/5150 |"),
        "{}",
        run.summary
    );
    assert_no_secret(&run, TOKEN);

    let failing = server
        .mock("POST", "/api/v3/repos/acme/deploys/dispatches")
        .with_status(502)
        .expect(1)
        .create();
    let dst = format!("{}/{}:1.0", r.production, unique("action-dispatch-502"));
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("environment", "production"),
            ("github-token", TOKEN),
            ("dispatch-event", "deploy"),
            ("dispatch-repository", "acme/deploys"),
            ("dispatch-token", "ghp_otherRepoToken0000"),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    failing.assert();
    assert_eq!(run.output("status"), "promoted");
    assert_eq!(run.output("warnings"), "1");
    let audit = run.audit();
    assert_eq!(audit["dispatch"]["sent"], false);
    assert_eq!(audit["dispatch"]["http_status"], 502);
    assert_no_secret(&run, "ghp_otherRepoToken0000");
}

/// `deployment: true`: a deployment of our own in another environment, created before the copy
/// (in_progress) and finished with `success` and the environment URL.
#[test]
fn a_deployment_of_our_own_goes_in_progress_then_success() {
    let r = registries();
    let mut server = mockito::Server::new();
    let repo = unique("action-deployment");
    let dst = format!("{}/{repo}:1.0", r.production);
    let src = format!("{}/app/small:1.0", r.staging);
    let create = server
        .mock("POST", "/api/v3/repos/acme/app/deployments")
        .match_body(Matcher::PartialJson(serde_json::json!({
            "ref": "0123456789abcdef0123456789abcdef01234567",
            "environment": "production-images",
            "auto_merge": false,
            "required_contexts": [],
            "payload": {"source": src, "destination": dst, "expected_digest": SMALL}
        })))
        .with_status(201)
        .with_body(r#"{"id": 4711, "environment": "production-images"}"#)
        .expect(1)
        .create();
    let in_progress = server
        .mock("POST", "/api/v3/repos/acme/app/deployments/4711/statuses")
        .match_body(Matcher::PartialJson(
            serde_json::json!({"state": "in_progress"}),
        ))
        .with_status(201)
        .expect(1)
        .create();
    let success = server
        .mock("POST", "/api/v3/repos/acme/app/deployments/4711/statuses")
        .match_body(Matcher::PartialJson(serde_json::json!({
            "state": "success",
            "environment_url": format!("https://{}/v2/{repo}/manifests/{SMALL}", r.production),
            "log_url": "https://github.com/acme/app/actions/runs/4242/attempts/1"
        })))
        .with_status(201)
        .expect(1)
        .create();
    let run = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("expected-digest", SMALL),
            ("github-token", TOKEN),
            ("deployment", "true"),
            ("deployment-environment", "production-images"),
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    create.assert();
    in_progress.assert();
    success.assert();
    assert_eq!(
        run.audit()["deployment"],
        serde_json::json!({"environment": "production-images", "id": 4711,
            "statuses": ["in_progress", "success"]})
    );
    assert_no_secret(&run, TOKEN);

    // The job's own environment is refused as the deployment's: an input error, nothing sent.
    let bad = run_with_api(
        &server,
        &[
            ("source", &src),
            ("destination", &dst),
            ("environment", "production"),
            ("github-token", TOKEN),
            ("deployment", "true"),
            ("deployment-environment", "production"),
        ],
    );
    assert_eq!(bad.code(), Some(2), "{}", text(&bad.out));
    create.assert();
}
