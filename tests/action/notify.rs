//! Notifications from the Action against a fake receiver (mockito, loopback) and the real
//! registries: what was posted, that a failure is a warning sent once, the audit's record (kind,
//! outcome, attempts — never the URL), and the URL absent from every output at trace level.

use mockito::Matcher;

use crate::runner::{NOLABELS, Run, SMALL, action_command, assert_no_secret};
use crate::support::harness::{registries, text, unique};

fn run(inputs: &[(&str, &str)]) -> Run {
    let (mut cmd, step) = action_command(inputs);
    cmd.env("RUST_LOG", "trace");
    let out = cmd.output().unwrap();
    step.finish(out)
}

#[test]
fn a_promotion_notifies_slack_and_records_it_without_the_url() {
    let r = registries();
    let mut server = mockito::Server::new();
    let path = "/services/T0001/B0001/XXXXwebhooksecretXXXX";
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-notify"));
    let hook = server
        .mock("POST", path)
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(serde_json::json!({
            "text": format!("✅ image-promote promoted: {src} → {dst}"),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("✅ image-promote promoted: {src} → {dst}")}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Status*\npromoted"},
                    {"type": "mrkdwn", "text": format!("*Digest*\n{SMALL}")}
                ]}
            ]
        })))
        .with_body("ok")
        .expect(1)
        .create();
    let url = format!("{}{path}", server.url());
    let run = run(&[
        ("source", &src),
        ("destination", &dst),
        ("notify-webhook", &url),
        ("notify-format", "slack"),
    ]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    hook.assert();
    let audit = run.audit();
    assert_eq!(
        audit["notifications"],
        serde_json::json!([{"kind": "slack", "sent": true, "http_status": 200, "attempts": 1}])
    );
    assert!(
        run.summary.contains("| **Notified** | slack: sent |"),
        "{}",
        run.summary
    );
    assert_no_secret(&run, &url);
    // Not even the secret path alone (a trace line of the HTTP client, a redacted URL).
    let rest = run.everything().replace(&format!("::add-mask::{url}"), "");
    assert!(!rest.contains("XXXXwebhooksecretXXXX"), "{rest}");
}

/// A refused promotion notifies too (generic JSON, signed); a receiver answering 500 gets it
/// exactly once and the promotion's outcome is unchanged, with one more warning.
#[test]
fn a_refusal_is_notified_and_a_failing_receiver_is_a_warning() {
    let r = registries();
    let mut server = mockito::Server::new();
    let hook = server
        .mock("POST", "/hook")
        .match_header(
            "x-hub-signature-256",
            Matcher::Regex("^sha256=[0-9a-f]{64}$".into()),
        )
        .match_body(Matcher::PartialJson(serde_json::json!({
            "schema": "image-promote.notification/v1",
            "status": "refused",
            "digest": NOLABELS,
            "promoted": []
        })))
        .with_status(500)
        .expect(1)
        .create();
    let src = format!("{}/app/nolabels:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-notify-refused"));
    let url = format!("{}/hook", server.url());
    let secret = "hmac-secret-never-shown-42";
    let run = run(&[
        ("source", &src),
        ("destination", &dst),
        ("notify-webhook", &url),
        ("notify-secret", secret),
    ]);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    hook.assert();
    assert_eq!(run.output("status"), "refused");
    let audit = run.audit();
    assert_eq!(
        audit["notifications"],
        serde_json::json!([{"kind": "json", "sent": false, "http_status": 500, "attempts": 1}])
    );
    assert!(
        run.stdout()
            .contains("::warning title=image-promote REGISTRY (MEDIUM)::the json notification was answered HTTP 500"),
        "{}",
        run.stdout()
    );
    for s in [url.as_str(), secret] {
        let everything = run.everything();
        let masks = everything.matches(&format!("::add-mask::{s}")).count();
        assert_eq!(masks, 1, "{s} is masked once");
        assert!(
            !everything
                .replace(&format!("::add-mask::{s}"), "")
                .contains(s),
            "{s} leaked"
        );
    }
}

#[test]
fn notify_on_limits_the_events_and_a_bad_value_is_an_input_error() {
    let r = registries();
    let mut server = mockito::Server::new();
    let hook = server.mock("POST", "/hook").expect(0).create();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-notify-on"));
    let url = format!("{}/hook", server.url());
    let quiet = run(&[
        ("source", &src),
        ("destination", &dst),
        ("notify-webhook", &url),
        ("notify-on", "refused,failed"),
    ]);
    assert_eq!(quiet.code(), Some(0), "{}", text(&quiet.out));
    assert_eq!(quiet.audit()["notifications"], serde_json::json!([]));
    let bad = run(&[
        ("source", &src),
        ("destination", &dst),
        ("notify-webhook", &url),
        ("notify-on", "shipped"),
    ]);
    assert_eq!(bad.code(), Some(2), "{}", text(&bad.out));
    hook.assert();
}
