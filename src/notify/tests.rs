//! Payloads field by field, and the sending against a fake receiver (mockito, loopback): the body
//! posted, the signature, a 5xx sent exactly once, a 429 waited for, no URL in any message.

use std::time::Duration;

use mockito::Matcher;

use super::*;
use crate::registry::transport::TransportOptions;
use crate::report::record::{Approval, Image, Request, Workflow};

const DIGEST: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const RUN: &str = "https://github.com/acme/app/actions/runs/4242/attempts/1";

fn record() -> Promotion {
    let mut r = Promotion::new(
        Request {
            source: "staging.example/acme/app:1.0".into(),
            destination: "prod.example/acme/app:1.0".into(),
            ..Request::default()
        },
        Some(Workflow {
            run_url: Some(RUN.into()),
            ..Workflow::default()
        }),
        Approval {
            environment: Some("production".into()),
            approvers: vec!["alice".into()],
            ..Approval::default()
        },
    );
    r.status = Status::Promoted;
    r.image = Some(Image {
        source_digest: DIGEST.into(),
        destination_digest: Some(DIGEST.into()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        platforms: Vec::new(),
        manifests: 1,
        blobs: 2,
        total_bytes: 10,
        foreign_layers: Vec::new(),
    });
    r.promoted = vec![format!("prod.example/acme/app:1.0@{DIGEST}")];
    r
}

const HEADLINE: &str =
    "✅ image-promote promoted: staging.example/acme/app:1.0 → prod.example/acme/app:1.0";

#[test]
fn slack_has_text_and_blocks() {
    let r = record();
    let p = Webhook::new(
        "https://hooks.slack.com/services/T/B/X".into(),
        Format::Slack,
        None,
    )
    .payload(&r);
    assert_eq!(p["text"], HEADLINE);
    let blocks = p["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[0]["text"]["text"], HEADLINE);
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        fields,
        [
            "*Status*\npromoted".to_owned(),
            format!("*Digest*\n{DIGEST}"),
            "*Environment*\nproduction".to_owned(),
            "*Approved by*\nalice".to_owned()
        ]
    );
    assert_eq!(blocks[2]["type"], "context");
    assert_eq!(
        blocks[2]["elements"][0]["text"],
        format!("<{RUN}|workflow run> · audit `{}`", r.id)
    );
}

#[test]
fn teams_is_an_adaptive_card_message() {
    let r = record();
    let p = Webhook::new(
        "https://x.westeurope.logic.azure.com/workflows/abc".into(),
        Format::Teams,
        None,
    )
    .payload(&r);
    assert_eq!(p["type"], "message");
    let a = &p["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(a["contentUrl"].is_null());
    let c = &a["content"];
    assert_eq!(c["type"], "AdaptiveCard");
    assert_eq!(c["version"], "1.4");
    assert_eq!(
        c["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(c["body"][0]["type"], "TextBlock");
    assert_eq!(c["body"][0]["text"], HEADLINE);
    assert_eq!(c["body"][0]["weight"], "Bolder");
    assert_eq!(c["body"][1]["type"], "FactSet");
    assert_eq!(
        c["body"][1]["facts"],
        json!([
            {"title": "Status", "value": "promoted"},
            {"title": "Digest", "value": DIGEST},
            {"title": "Environment", "value": "production"},
            {"title": "Approved by", "value": "alice"}
        ])
    );
    assert_eq!(
        c["actions"],
        json!([{"type": "Action.OpenUrl", "title": "Workflow run", "url": RUN}])
    );
}

#[test]
fn generic_json_carries_the_essentials() {
    let r = record();
    let p = Webhook::new("https://hooks.example/x".into(), Format::Json, None).payload(&r);
    assert_eq!(
        p,
        json!({
            "schema": "image-promote.notification/v1",
            "id": r.id,
            "status": "promoted",
            "forced": false,
            "source": "staging.example/acme/app:1.0",
            "destination": "prod.example/acme/app:1.0",
            "digest": DIGEST,
            "promoted": [format!("prod.example/acme/app:1.0@{DIGEST}")],
            "environment": "production",
            "approvers": ["alice"],
            "run_url": RUN,
            "warnings": 0,
            "errors": []
        })
    );
}

#[test]
fn format_is_detected_from_the_host_or_given() {
    let c = |g: Option<&str>, u: &str| Format::choose(g, u).unwrap();
    assert_eq!(
        c(None, "https://hooks.slack.com/services/T/B/X"),
        Format::Slack
    );
    assert_eq!(
        c(
            Some("auto"),
            "https://prod-1.westus.logic.azure.com:443/workflows/1"
        ),
        Format::Teams
    );
    assert_eq!(
        c(None, "https://default1.environment.api.powerplatform.com/x"),
        Format::Teams
    );
    assert_eq!(c(None, "https://hooks.example/x"), Format::Json);
    assert_eq!(c(Some("slack"), "https://hooks.example/x"), Format::Slack);
    let e = Format::choose(Some("discord"), "https://hooks.example/x").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(parse_events(&["promoted".into(), "rolled-back".into()]).is_ok());
    assert_eq!(
        parse_events(&["shipped".into()]).unwrap_err().exit_code(),
        2
    );
    assert_eq!(event(Status::NoOp), Some("promoted"));
    assert_eq!(event(Status::DryRun), None);
}

/// RFC 4231, test cases 2 and 6 (a key longer than the block).
#[test]
fn hmac_matches_rfc_4231() {
    assert_eq!(
        crate::digest::hex_lower(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        crate::digest::hex_lower(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

fn connection() -> Arc<Connection> {
    Arc::new(Connection::native(TransportOptions::default()).unwrap())
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn the_body_is_posted_and_signed() {
    let mut server = mockito::Server::new_async().await;
    let r = record();
    let webhook = Webhook::new(
        format!("{}/hook/s3cr3t-path", server.url()),
        Format::Json,
        Some("shh".into()),
    );
    let body = webhook.payload(&r).to_string();
    let signature = format!(
        "sha256={}",
        crate::digest::hex_lower(&hmac_sha256(b"shh", body.as_bytes()))
    );
    let mock = server
        .mock("POST", "/hook/s3cr3t-path")
        .match_header("content-type", "application/json")
        .match_header("x-hub-signature-256", signature.as_str())
        .match_body(Matcher::Exact(body))
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    let (sent, warning) = webhook.send(&connection(), &policy(), &r).await;
    mock.assert_async().await;
    assert!(warning.is_none());
    assert_eq!(
        (
            sent.kind.as_str(),
            sent.sent,
            sent.http_status,
            sent.attempts
        ),
        ("json", true, Some(200), 1)
    );
}

#[tokio::test]
async fn a_5xx_is_sent_exactly_once_and_is_a_warning_without_the_url() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/services/T/B/s3cr3t")
        .with_status(500)
        .expect(1)
        .create_async()
        .await;
    let url = format!("{}/services/T/B/s3cr3t", server.url());
    let webhook = Webhook::new(url.clone(), Format::Slack, None);
    let (sent, warning) = webhook.send(&connection(), &policy(), &record()).await;
    mock.assert_async().await;
    assert_eq!(
        (sent.sent, sent.http_status, sent.attempts),
        (false, Some(500), 1)
    );
    let w = warning.unwrap();
    assert_eq!(w.severity, Severity::Medium);
    assert_eq!(w.message, "the slack notification was answered HTTP 500");
    let shown = format!("{w} {w:?}");
    assert!(
        !shown.contains("s3cr3t") && !shown.contains(&server.url()),
        "{shown}"
    );
}

#[tokio::test]
async fn a_429_is_waited_for_and_sent_again() {
    let mut server = mockito::Server::new_async().await;
    let limited = server
        .mock("POST", "/w")
        .with_status(429)
        .with_header("retry-after", "1")
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("POST", "/w")
        .with_status(202)
        .expect(1)
        .create_async()
        .await;
    let webhook = Webhook::new(format!("{}/w", server.url()), Format::Teams, None);
    let t = std::time::Instant::now();
    let (sent, warning) = webhook.send(&connection(), &policy(), &record()).await;
    assert!(t.elapsed() >= Duration::from_millis(950));
    limited.assert_async().await;
    ok.assert_async().await;
    assert!(warning.is_none());
    assert_eq!(
        (sent.kind.as_str(), sent.http_status, sent.attempts),
        ("teams", Some(202), 2)
    );
}

#[tokio::test]
async fn an_unreachable_receiver_names_no_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook/s3cr3t");
    let (sent, warning) = Webhook::new(url, Format::Json, None)
        .send(&connection(), &policy(), &record())
        .await;
    assert_eq!(
        (sent.sent, sent.http_status, sent.attempts),
        (false, None, 1)
    );
    let w = warning.unwrap();
    assert!(!format!("{w} {w:?}").contains("s3cr3t"), "{w:?}");
    assert!(
        w.message.starts_with("the json notification got no answer"),
        "{w}"
    );
}
