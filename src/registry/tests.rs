//! Unit tests of the registry client on the in-memory fake transport (no sockets): the token flow,
//! re-auth, basic auth, credentials and upload Locations, the upload fallbacks, scheme probing and
//! retries, each asserting the exact requests sent.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use base64::Engine as _;

use super::*;
use crate::error::Category;
use crate::registry::credentials::{Credential, Secret};
use crate::registry::transport::fake::{Answer, FakeTransport, Recorded, answer};
use crate::registry::transport::{BodyStream, TransportError};

const REG: &str = "https://registry.example.com";
const BEARER: &str =
    r#"Bearer realm="https://auth.example.com/token",service="registry.example.com""#;

fn client(fake: &Arc<FakeTransport>, user: Option<(&str, &str)>, attempts: u32) -> RegistryClient {
    client_for(fake, user, attempts, Vec::new())
}

fn client_for(
    fake: &Arc<FakeTransport>,
    user: Option<(&str, &str)>,
    attempts: u32,
    insecure: Vec<String>,
) -> RegistryClient {
    let credentials = CredentialSource {
        explicit: user.map(|(u, p)| Credential {
            username: u.to_owned(),
            password: Secret::new(p),
        }),
        docker_config_dir: None,
    };
    let retry = RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let connection = Arc::new(Connection::new(fake.clone(), insecure));
    RegistryClient::new(connection, credentials, retry, "destination")
}

fn digest() -> Digest {
    Digest::sha256_of(b"hello")
}

fn reference(repo: &str) -> Reference {
    Reference::parse(&format!("registry.example.com/{repo}:1")).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn auth_of(r: &Recorded) -> Option<&str> {
    r.header("authorization")
}

fn query(r: &Recorded, key: &str) -> Vec<String> {
    url::Url::parse(&r.url)
        .unwrap()
        .query_pairs()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn body(bytes: &'static [u8]) -> BodyStream {
    Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(
        bytes,
    ))]))
}

/// A registry behind the bearer flow: `/v2/` challenges, the token service hands out `tokens`
/// in turn (checking Basic credentials), blob HEADs need `Bearer <accepted>`.
fn bearer_registry(tokens: &'static [&'static str], accepted: &'static str) -> Arc<FakeTransport> {
    let issued = AtomicUsize::new(0);
    FakeTransport::new(move |r| {
        if r.url == format!("{REG}/v2/") {
            return answer(401, &[("WWW-Authenticate", BEARER)], "");
        }
        if r.url.starts_with("https://auth.example.com/token") {
            if auth_of(r) != Some(basic("ci", "s3cret").as_str()) {
                return answer(401, &[], "");
            }
            let n = issued.fetch_add(1, Ordering::SeqCst).min(tokens.len() - 1);
            return answer(200, &[], format!(r#"{{"token":"{}"}}"#, tokens[n]));
        }
        if auth_of(r) == Some(format!("Bearer {accepted}").as_str()) {
            return answer(200, &[("Content-Length", "5")], "");
        }
        answer(401, &[("WWW-Authenticate", BEARER)], "")
    })
}

#[test]
fn upload_locations_absolute_and_relative() {
    let at = "http://127.0.0.1:5000/v2/app/x/blobs/uploads/";
    assert_eq!(
        resolve_location(at, "/v2/app/x/blobs/uploads/abc?_state=s").as_deref(),
        Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
    );
    assert_eq!(
        resolve_location(at, "abc?_state=s").as_deref(),
        Some("http://127.0.0.1:5000/v2/app/x/blobs/uploads/abc?_state=s")
    );
    assert_eq!(
        resolve_location(at, "https://uploads.example.com/u/1").as_deref(),
        Some("https://uploads.example.com/u/1")
    );
    assert!(same_origin(
        "http://127.0.0.1:5000/v2/x",
        "http://127.0.0.1:5000"
    ));
    assert!(!same_origin(
        "https://uploads.example.com/u/1",
        "https://registry.example.com"
    ));
    assert!(!same_origin(
        "http://registry.example.com/u",
        "https://registry.example.com"
    ));
    assert!(!same_origin(
        "https://registry.example.com:444/u",
        "https://registry.example.com"
    ));
}

#[tokio::test]
async fn bearer_flow_one_token_for_every_declared_scope() {
    let fake = bearer_registry(&["T1"], "T1");
    let c = client(&fake, Some(("ci", "s3cret")), 1);
    c.add_scope("registry.example.com", "app/a", "pull");
    c.add_scope("registry.example.com", "app/b", "pull,push");
    let a = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap();
    let b = c
        .head_blob(&reference("app/b"), &digest(), Budget::Own)
        .await
        .unwrap();
    assert_eq!(a, Some(BlobInfo { size: 5 }));
    assert_eq!(b, Some(BlobInfo { size: 5 }));
    let sent = fake.requests();
    assert_eq!(sent.len(), 4, "probe, one token, two HEADs: {sent:?}");
    assert_eq!(auth_of(&sent[0]), None, "the /v2/ probe is anonymous");
    let token = &sent[1];
    assert!(token.url.starts_with("https://auth.example.com/token"));
    assert_eq!(query(token, "service"), ["registry.example.com"]);
    assert_eq!(
        query(token, "scope"),
        ["repository:app/a:pull", "repository:app/b:pull,push"]
    );
    assert_eq!(auth_of(token), Some(basic("ci", "s3cret").as_str()));
    for head in &sent[2..] {
        assert_eq!(head.method, Method::HEAD);
        assert_eq!(auth_of(head), Some("Bearer T1"));
    }
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once_for_a_replayable_request() {
    let fake = bearer_registry(&["T1", "T2"], "T2");
    let c = client(&fake, Some(("ci", "s3cret")), 1);
    c.add_scope("registry.example.com", "app/a", "pull");
    let found = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap();
    assert_eq!(found, Some(BlobInfo { size: 5 }));
    assert_eq!(fake.count(&Method::GET, "auth.example.com/token"), 2);
    let heads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::HEAD)
        .collect();
    assert_eq!(heads.len(), 2);
    assert_eq!(auth_of(&heads[0]), Some("Bearer T1"));
    assert_eq!(auth_of(&heads[1]), Some("Bearer T2"));

    // A registry that rejects every token: one renewal, then an AUTHENTICATION error.
    let fake = bearer_registry(&["T1", "T2", "T3"], "never");
    let c = client(&fake, Some(("ci", "s3cret")), 3);
    let e = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Authentication, "{e}");
    assert_eq!(fake.count(&Method::HEAD, "/blobs/"), 2);
    assert_eq!(fake.count(&Method::GET, "auth.example.com/token"), 2);
}

#[tokio::test]
async fn insufficient_scope_is_a_permission_error_without_reauth() {
    let fake = FakeTransport::new(|r| {
        if r.url == format!("{REG}/v2/") {
            return answer(401, &[("WWW-Authenticate", BEARER)], "");
        }
        if r.url.starts_with("https://auth.example.com/token") {
            return answer(200, &[], r#"{"token":"T1"}"#);
        }
        let scoped =
            format!("{BEARER},error=\"insufficient_scope\",scope=\"repository:app/a:pull,push\"");
        answer(401, &[("WWW-Authenticate", scoped.as_str())], "")
    });
    let c = client(&fake, Some(("ci", "s3cret")), 3);
    let e = c
        .start_upload(&reference("app/a"), None, Budget::Own)
        .await
        .err()
        .unwrap();
    assert_eq!(e.category, Category::Permission, "{e}");
    assert!(e.message.contains("insufficient_scope"), "{e}");
    assert_eq!(fake.count(&Method::POST, "/blobs/uploads/"), 1);
    assert_eq!(fake.count(&Method::GET, "auth.example.com/token"), 1);
}

/// A registry with basic auth (`ci`/`s3cret`) that accepts uploads; the upload Location points at
/// `location`.
fn basic_registry(location: &'static str, put_status: u16) -> Arc<FakeTransport> {
    FakeTransport::new(move |r| {
        if auth_of(r).is_none() && r.url.starts_with(REG) {
            return answer(401, &[("WWW-Authenticate", r#"Basic realm="reg""#)], "");
        }
        if r.url.starts_with(REG) && auth_of(r) != Some(basic("ci", "s3cret").as_str()) {
            return answer(401, &[("WWW-Authenticate", r#"Basic realm="reg""#)], "");
        }
        match r.method.as_str() {
            "POST" => answer(202, &[("Location", location)], ""),
            "PUT" => answer(put_status, &[], ""),
            _ => answer(200, &[("Content-Length", "5")], ""),
        }
    })
}

#[tokio::test]
async fn basic_auth_is_sent_to_the_registry() {
    let fake = basic_registry("/v2/app/a/blobs/uploads/1", 201);
    let c = client(&fake, Some(("ci", "s3cret")), 1);
    let found = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap();
    assert_eq!(found, Some(BlobInfo { size: 5 }));
    let sent = fake.requests();
    assert_eq!(
        sent.len(),
        2,
        "probe, then one authenticated HEAD: {sent:?}"
    );
    assert_eq!(auth_of(&sent[1]), Some(basic("ci", "s3cret").as_str()));

    let c = client(&fake, None, 1);
    let e = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Authentication);
    assert!(e.message.contains("no destination credentials"), "{e}");
}

#[tokio::test]
async fn credentials_never_go_to_an_upload_location_on_another_origin() {
    let fake = basic_registry("https://uploads.example.net/u/1?state=x", 201);
    let c = client(&fake, Some(("ci", "s3cret")), 1);
    let UploadStart::Session(session) = c
        .start_upload(&reference("app/a"), None, Budget::Own)
        .await
        .unwrap()
    else {
        panic!("expected a session");
    };
    assert_eq!(session, "https://uploads.example.net/u/1?state=x");
    c.finish_upload(&reference("app/a"), &session, &digest(), 5, body(b"hello"))
        .await
        .unwrap();
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == Method::PUT)
        .unwrap();
    assert!(
        put.url
            .starts_with("https://uploads.example.net/u/1?state=x&digest=sha256:")
    );
    assert_eq!(auth_of(&put), None, "credentials leaked to another origin");
    assert_eq!(&put.body[..], b"hello");
    let post = fake
        .requests()
        .into_iter()
        .find(|r| r.method == Method::POST)
        .unwrap();
    assert_eq!(auth_of(&post), Some(basic("ci", "s3cret").as_str()));
}

#[tokio::test]
async fn a_refused_monolithic_put_falls_back_to_patch_and_closing_put() {
    let patched = AtomicUsize::new(0);
    let fake = FakeTransport::new(move |r| match r.method.as_str() {
        "GET" => answer(200, &[], ""),
        "POST" => answer(202, &[("Location", "/v2/app/a/blobs/uploads/1?s=1")], ""),
        "PATCH" => {
            patched.fetch_add(1, Ordering::SeqCst);
            answer(202, &[("Location", "/v2/app/a/blobs/uploads/1?s=2")], "")
        }
        "PUT" if r.body.is_empty() && patched.load(Ordering::SeqCst) > 0 => answer(201, &[], ""),
        _ => answer(405, &[], ""),
    });
    let c = client(&fake, None, 1);
    let dst = reference("app/a");
    let session = format!("{REG}/v2/app/a/blobs/uploads/1?s=1");
    let e = c
        .finish_upload(&dst, &session, &digest(), 5, body(b"hello"))
        .await
        .unwrap_err();
    assert!(e.retryable, "the caller retries the blob: {e}");
    assert!(e.message.contains("monolithic upload refused"), "{e}");
    // The retry (the copy engine's) goes straight to PATCH + closing PUT.
    c.finish_upload(&dst, &session, &digest(), 5, body(b"hello"))
        .await
        .unwrap();
    let sent = fake.requests();
    let methods: Vec<_> = sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PUT", "PATCH", "PUT"]);
    assert_eq!(&sent[2].body[..], b"hello");
    assert_eq!(sent[2].header("content-range"), Some("0-4"));
    assert_eq!(sent[2].header("content-length"), Some("5"));
    assert!(sent[3].url.starts_with(&format!(
        "{REG}/v2/app/a/blobs/uploads/1?s=2&digest=sha256:"
    )));
    assert!(sent[3].body.is_empty());
}

#[tokio::test]
async fn blob_upload_unknown_restarts_the_upload_in_a_new_session() {
    let sessions = AtomicUsize::new(0);
    let fake = FakeTransport::new(move |r| match r.method.as_str() {
        "GET" => answer(200, &[], ""),
        "POST" => {
            let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
            let loc = format!("/v2/app/a/blobs/uploads/{n}");
            answer(202, &[("Location", loc.as_str())], "")
        }
        "PUT" if r.url.contains("/uploads/1?") => answer(
            404,
            &[("Content-Type", "application/json")],
            r#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"upload gone"}]}"#,
        ),
        "PUT" => answer(201, &[], ""),
        _ => answer(400, &[], ""),
    });
    let c = client(&fake, None, 3);
    let dst = reference("app/a");
    // What the copy engine does per blob: start a session and upload into it, under the policy.
    c.retried("copy blob", || async {
        let UploadStart::Session(s) = c.start_upload(&dst, None, Budget::Caller).await? else {
            return Err(Error::internal("mounted"));
        };
        c.finish_upload(&dst, &s, &digest(), 5, body(b"hello"))
            .await
    })
    .await
    .unwrap();
    assert_eq!(fake.count(&Method::POST, "/blobs/uploads/"), 2);
    assert_eq!(fake.count(&Method::PUT, "/uploads/1?"), 1);
    assert_eq!(fake.count(&Method::PUT, "/uploads/2?"), 1);

    // The error itself: retryable, with the registry's code.
    let e = c
        .finish_upload(
            &dst,
            &format!("{REG}/v2/app/a/blobs/uploads/1"),
            &digest(),
            5,
            body(b"hello"),
        )
        .await
        .unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.registry_code.as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
}

fn refused(kind: fn(String) -> TransportError) -> impl Fn(&Recorded) -> Answer + Send + Sync {
    move |r| {
        if r.url.starts_with("https://") {
            Err(kind(format!("{}: refused", r.url)))
        } else {
            answer(200, &[("Content-Length", "5")], "")
        }
    }
}

#[tokio::test]
async fn scheme_probe_prefers_https_and_falls_back_only_where_allowed() {
    // HTTPS answers: it is used, nothing else is tried.
    let fake = FakeTransport::new(|_| answer(200, &[], ""));
    let c = client(&fake, None, 1);
    assert_eq!(
        c.base_url("127.0.0.1:5000").await.unwrap(),
        "https://127.0.0.1:5000"
    );
    assert_eq!(fake.requests().len(), 1);

    // Loopback, HTTPS fails to connect: plain HTTP.
    let fake = FakeTransport::new(refused(TransportError::Connect));
    let c = client(&fake, None, 1);
    assert_eq!(
        c.base_url("127.0.0.1:5000").await.unwrap(),
        "http://127.0.0.1:5000"
    );
    let urls: Vec<_> = fake.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        ["https://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/"]
    );
    // Decided once per host.
    c.head_blob(
        &Reference::parse("127.0.0.1:5000/app/a:1").unwrap(),
        &digest(),
        Budget::Own,
    )
    .await
    .unwrap();
    assert_eq!(fake.count(&Method::GET, "/v2/"), 2);

    // Loopback, untrusted certificate: never downgraded.
    let fake = FakeTransport::new(refused(TransportError::Certificate));
    let c = client(&fake, None, 1);
    let e = c.base_url("127.0.0.1:5000").await.unwrap_err();
    assert!(e.message.contains("never downgraded"), "{e}");
    assert!(!e.retryable);
    assert_eq!(fake.requests().len(), 1, "no plain-HTTP attempt");

    // Listed as insecure: a certificate error may use plain HTTP.
    let fake = FakeTransport::new(refused(TransportError::Certificate));
    let c = client_for(&fake, None, 1, vec!["registry.internal:5000".to_owned()]);
    assert_eq!(
        c.base_url("registry.internal:5000").await.unwrap(),
        "http://registry.internal:5000"
    );

    // A public host: HTTPS only, retried under the policy, never plain HTTP.
    let fake = FakeTransport::new(refused(TransportError::Connect));
    let c = client(&fake, None, 3);
    let e = c.base_url("registry.example.com").await.unwrap_err();
    assert_eq!(e.category, Category::Network, "{e}");
    assert_eq!(
        fake.count(&Method::GET, "https://registry.example.com/v2/"),
        3
    );
    assert_eq!(fake.count(&Method::GET, "http://"), 0);
}

#[tokio::test]
async fn an_insecure_listed_host_is_probed_on_both_schemes_at_once_and_https_wins() {
    let listed = || vec!["registry.internal:5000".to_owned()];
    // HTTPS fails: plain HTTP, both probes sent, one each.
    let fake = FakeTransport::new(refused(TransportError::Connect));
    let c = client_for(&fake, None, 1, listed());
    assert_eq!(
        c.base_url("registry.internal:5000").await.unwrap(),
        "http://registry.internal:5000"
    );
    assert_eq!(
        fake.count(&Method::GET, "https://registry.internal:5000/v2/"),
        1
    );
    assert_eq!(
        fake.count(&Method::GET, "http://registry.internal:5000/v2/"),
        1
    );
    // HTTPS answers: it is used even though plain HTTP answered too.
    let fake = FakeTransport::new(|_| answer(200, &[], ""));
    let c = client_for(&fake, None, 1, listed());
    assert_eq!(
        c.base_url("registry.internal:5000").await.unwrap(),
        "https://registry.internal:5000"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_each_attempt_counted() {
    let failures = AtomicUsize::new(0);
    let fake = FakeTransport::new(move |r| {
        if r.method == Method::HEAD && failures.fetch_add(1, Ordering::SeqCst) < 2 {
            return answer(503, &[], "");
        }
        answer(200, &[("Content-Length", "5")], "")
    });
    let c = client(&fake, None, 5);
    let found = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap();
    assert_eq!(found, Some(BlobInfo { size: 5 }));
    assert_eq!(fake.count(&Method::HEAD, "/blobs/"), 3);
    assert_eq!(c.counters.retries.load(Ordering::Relaxed), 2);
    assert_eq!(
        c.counters.requests.load(Ordering::Relaxed),
        4,
        "probe + 3 HEADs"
    );

    // Never healing: exactly `attempts` requests, then a REGISTRY error naming the status.
    let fake = FakeTransport::new(|r| {
        if r.method == Method::HEAD {
            answer(503, &[], "")
        } else {
            answer(200, &[], "")
        }
    });
    let c = client(&fake, None, 4);
    let e = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(503), "{e}");
    assert_eq!(fake.count(&Method::HEAD, "/blobs/"), 4);
}

#[test]
fn requests_carry_content_length_and_refuse_bad_urls() {
    let r = transport::Request::new(Method::PUT, format!("{REG}/v2/x"))
        .body(transport::Body::Bytes(Bytes::from_static(b"abc")))
        .into_http()
        .unwrap();
    assert_eq!(r.headers().get("content-length").unwrap(), "3");
    let odd = transport::Request::new(Method::PATCH, format!("{REG}/u/1?state=a|b c"))
        .into_http()
        .unwrap();
    assert_eq!(odd.uri().to_string(), format!("{REG}/u/1?state=a|b%20c"));
    let bad = transport::Request::new(Method::GET, "not a url").into_http();
    assert!(matches!(bad, Err(TransportError::Request(_))));
}

#[tokio::test]
async fn credentials_never_go_to_a_plain_http_realm_on_another_host() {
    let fake = FakeTransport::new(|r| {
        if r.url == format!("{REG}/v2/") {
            let plain = r#"Bearer realm="http://auth.example.com/token",service="r""#;
            return answer(401, &[("WWW-Authenticate", plain)], "");
        }
        answer(200, &[], r#"{"token":"T1"}"#)
    });
    let c = client(&fake, Some(("ci", "s3cret")), 3);
    let e = c
        .head_blob(&reference("app/a"), &digest(), Budget::Own)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Authentication, "{e}");
    assert!(e.message.contains("plain HTTP"), "{e}");
    assert_eq!(fake.count(&Method::GET, "auth.example.com"), 0);
    assert_eq!(fake.requests().len(), 1, "only the probe was sent");
}

#[tokio::test]
async fn a_retry_wakes_whoever_waits_for_one() {
    let counters = std::sync::Arc::new(RequestCounters::default());
    // Already beyond the baseline: at once.
    counters.count_retry();
    tokio::time::timeout(
        std::time::Duration::from_secs(1),
        counters.wait_retry_beyond(0),
    )
    .await
    .expect("one retry is beyond 0");
    // Woken by the next one, not by a timer.
    let waiter = {
        let counters = counters.clone();
        tokio::spawn(async move { counters.wait_retry_beyond(1).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "no retry beyond 1 yet");
    counters.count_retry();
    tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
        .await
        .expect("the retry wakes the waiter")
        .unwrap();
    assert_eq!(counters.retries.load(Ordering::Relaxed), 2);
}
