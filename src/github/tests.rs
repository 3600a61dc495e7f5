//! The client against a fake GitHub API (mockito, loopback): headers and token, GHES base path,
//! classification, rate limits waited for, writes never re-sent blindly, tolerant types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mockito::Matcher;

use super::*;
use crate::registry::transport::TransportOptions;

const TOKEN: &str = "ghs_faketoken0123456789";

fn client(api: &str, attempts: u32) -> GitHub {
    let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
    GitHub::new(
        connection,
        api,
        Some(TOKEN.into()),
        RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        },
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Thing {
    name: String,
    count: Option<u64>,
}

#[tokio::test]
async fn sends_the_token_and_api_headers_under_the_ghes_base_path() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/api/v3/repos/acme/app")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_header("accept", "application/vnd.github+json")
        .match_header("x-github-api-version", "2022-11-28")
        .match_header("user-agent", Matcher::Regex("^image-promote/".into()))
        .with_body(r#"{"name":"app","unknown":{"nested":[1,2]}}"#)
        .create_async()
        .await;
    let gh = client(&format!("{}/api/v3/", server.url()), 3);
    let thing: Thing = gh.get("/repos/acme/app").await.unwrap();
    assert_eq!(thing.name, "app");
    assert_eq!(thing.count, None, "a missing field is tolerated");
    mock.assert_async().await;
}

#[tokio::test]
async fn without_a_token_no_authorization_is_sent() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/x")
        .match_header("authorization", Matcher::Missing)
        .with_body("{}")
        .create_async()
        .await;
    let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
    let gh = GitHub::new(
        connection,
        &server.url(),
        Some(String::new()),
        RetryPolicy::default(),
    );
    assert!(!gh.has_token());
    let _: Thing = gh.get("/x").await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn a_403_without_rate_limit_headers_is_denied_and_not_retried() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/denied")
        .with_status(403)
        .with_header("x-ratelimit-remaining", "4999")
        .with_body(r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}"#)
        .expect(1)
        .create_async()
        .await;
    let e = client(&server.url(), 5)
        .get::<Thing>("/denied")
        .await
        .unwrap_err();
    assert_eq!(e.reason, Reason::Denied);
    assert_eq!(e.status, Some(403));
    assert_eq!(
        e.message,
        "GitHub API GET /denied: HTTP 403: Resource not accessible by integration"
    );
    assert!(!e.to_string().contains(TOKEN));
    mock.assert_async().await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_for() {
    let mut server = mockito::Server::new_async().await;
    let limited = server
        .mock("GET", "/limited")
        .with_status(429)
        .with_header("retry-after", "1")
        .with_body(r#"{"message":"API rate limit exceeded"}"#)
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/limited")
        .with_body(r#"{"name":"after"}"#)
        .expect(1)
        .create_async()
        .await;
    let t = Instant::now();
    let thing: Thing = client(&server.url(), 3).get("/limited").await.unwrap();
    assert_eq!(thing.name, "after");
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        t.elapsed()
    );
    limited.assert_async().await;
    ok.assert_async().await;
}

#[tokio::test]
async fn an_exhausted_primary_limit_waits_until_the_reset() {
    let mut server = mockito::Server::new_async().await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let limited = server
        .mock("GET", "/primary")
        .with_status(403)
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", &reset.to_string())
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/primary")
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let t = Instant::now();
    let _: Thing = client(&server.url(), 3).get("/primary").await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    limited.assert_async().await;
    ok.assert_async().await;
}

#[test]
fn rate_limits_are_classified_with_their_delay() {
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    };
    let secondary = classify(403, &headers(&[("retry-after", "7")]), "m".into());
    assert_eq!(secondary.reason, Reason::RateLimited);
    assert_eq!(secondary.retry_after, Some(Duration::from_secs(7)));
    let no_headers = classify(429, &headers(&[]), "m".into());
    assert_eq!(no_headers.retry_after, Some(SECONDARY_LIMIT_WAIT));
    let denied = classify(403, &headers(&[]), "m".into());
    assert_eq!(denied.reason, Reason::Denied);
    assert_eq!(
        classify(401, &headers(&[]), "m".into()).reason,
        Reason::Unauthorized
    );
    assert_eq!(
        classify(502, &headers(&[]), "m".into()).reason,
        Reason::ServerError
    );
}

#[tokio::test]
async fn a_read_is_retried_on_a_5xx() {
    let mut server = mockito::Server::new_async().await;
    let failing = server
        .mock("GET", "/flaky")
        .with_status(502)
        .expect(2)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/flaky")
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let _: Thing = client(&server.url(), 3).get("/flaky").await.unwrap();
    failing.assert_async().await;
    ok.assert_async().await;
}

/// A 5xx on a creating POST may mean it was created: it is sent exactly once.
#[tokio::test]
async fn a_write_is_not_re_sent_after_a_5xx() {
    let mut server = mockito::Server::new_async().await;
    let post = server
        .mock("POST", "/repos/acme/app/dispatches")
        .match_body(Matcher::Json(serde_json::json!({"event_type": "deploy"})))
        .with_status(502)
        .expect(1)
        .create_async()
        .await;
    let e = client(&server.url(), 5)
        .send(
            Method::POST,
            "/repos/acme/app/dispatches",
            Some(&serde_json::json!({"event_type": "deploy"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.reason, Reason::ServerError);
    assert!(!e.retryable);
    post.assert_async().await;
}

/// A rate-limit answer means GitHub did not process the write: it is sent again after the wait.
#[tokio::test]
async fn a_write_is_re_sent_after_a_rate_limit_answer() {
    let mut server = mockito::Server::new_async().await;
    let limited = server
        .mock("POST", "/w")
        .with_status(403)
        .with_header("retry-after", "0")
        .with_body(r#"{"message":"You have exceeded a secondary rate limit"}"#)
        .expect(1)
        .create_async()
        .await;
    let created = server
        .mock("POST", "/w")
        .with_status(201)
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    client(&server.url(), 3)
        .send(Method::POST, "/w", Some(&serde_json::json!({})))
        .await
        .unwrap();
    limited.assert_async().await;
    created.assert_async().await;
}

#[tokio::test]
async fn an_unreachable_api_is_a_network_error_naming_the_call() {
    // A port nothing listens on (bound, then dropped).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = client(&format!("http://127.0.0.1:{port}"), 2)
        .get::<Thing>("/repos/acme/app")
        .await
        .unwrap_err();
    assert_eq!(e.category, crate::error::Category::Network, "{e}");
    assert!(e.message.contains("GitHub API GET /repos/acme/app"), "{e}");
}
