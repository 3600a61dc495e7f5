//! Self-tests of `tests/support`: the fault proxy against the harness registries
//! (staging 127.0.0.1:5000 with `app/small:1.0`, production 127.0.0.1:5001; start them with
//! `start-registries.sh` and `make-fixtures.sh --only small`) and the token-auth registry.

// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use support::oci::{self, MANIFEST_ACCEPT, PRODUCTION, SMALL_DIGEST, STAGING};
use support::proxy::{Fault, FaultProxy, Rule};
use support::token::{KeyRef, SERVICE, TokenRegistry, TokenRegistryOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SMALL: &str = "/v2/app/small/manifests/1.0";

async fn require_harness() {
    tokio::task::spawn_blocking(support::harness::registries)
        .await
        .unwrap();
    let ok = oci::client()
        .get(format!("http://{STAGING}{SMALL}"))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK);
    assert!(
        ok,
        "harness registries not running: run scripts/harness/start-registries.sh --secure and scripts/harness/make-fixtures.sh --only small (REG_HARNESS_DIR=/tmp/image-promote-it, ports 5100-5102)"
    );
}

/// The largest layer of app/small, fetched directly from staging: (path, bytes).
async fn small_layer() -> (String, Vec<u8>) {
    require_harness().await;
    let c = oci::client();
    let resp = c
        .get(format!("http://{STAGING}{SMALL}"))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    let m = oci::json(resp).await.unwrap();
    let layer = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap();
    let path = format!("/v2/app/small/blobs/{}", layer["digest"].as_str().unwrap());
    let bytes = c
        .get(format!("http://{STAGING}{path}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        oci::sha256_digest(&bytes),
        layer["digest"].as_str().unwrap()
    );
    (path, bytes.to_vec())
}

/// Reads a response body chunk by chunk; returns the bytes received and the error, if any.
async fn read_body(resp: reqwest::Response) -> (Vec<u8>, Option<reqwest::Error>) {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[tokio::test]
async fn proxy_forwards_manifest_with_full_accept() {
    require_harness().await;
    let proxy = FaultProxy::start(STAGING, vec![]).await;
    let c = oci::client();
    let resp = c
        .get(format!("{}{SMALL}", proxy.url()))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["docker-content-digest"], SMALL_DIGEST);
    assert_eq!(resp.headers()["content-type"], oci::OCI_MANIFEST);
    let body = resp.bytes().await.unwrap();
    assert_eq!(oci::sha256_digest(&body), SMALL_DIGEST);

    let head = c
        .head(format!("{}{SMALL}", proxy.url()))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert_eq!(head.headers()["docker-content-digest"], SMALL_DIGEST);
    let missing = c
        .get(format!("{}/v2/app/small/manifests/nope", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    missing.bytes().await.unwrap();

    let recs = proxy.requests();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        (
            recs[0].method.as_str(),
            recs[0].status,
            recs[0].fault.as_deref()
        ),
        ("GET", Some(200), None)
    );
    assert_eq!(
        (recs[1].method.as_str(), recs[1].status),
        ("HEAD", Some(200))
    );
    assert_eq!(recs[2].status, Some(404));
    assert_eq!(proxy.count("GET", "/manifests/"), 2);
    assert_eq!(
        proxy.connections(),
        1,
        "keep-alive: one client connection for three requests"
    );
}

#[tokio::test]
async fn proxy_status_faults_honour_skip_and_times() {
    require_harness().await;
    let rule = Rule::new("/v2/", Fault::status(503))
        .method(Method::GET)
        .skip(1)
        .times(2);
    let proxy = FaultProxy::start(STAGING, vec![rule]).await;
    let c = oci::client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = c.get(format!("{}/v2/", proxy.url())).send().await.unwrap();
        statuses.push(r.status().as_u16());
        r.bytes().await.unwrap();
    }
    assert_eq!(statuses, [200, 503, 503, 200]);
    let faults: Vec<_> = proxy.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            None,
            Some("status 503".into()),
            Some("status 503".into()),
            None
        ]
    );
    // HEAD does not match the GET-only rule.
    proxy.set_rules(vec![
        Rule::new("/v2/", Fault::status(500)).method(Method::GET),
    ]);
    assert_eq!(
        c.head(format!("{}/v2/", proxy.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn proxy_status_fault_variants() {
    require_harness().await;
    let proxy = FaultProxy::start(
        STAGING,
        vec![
            Rule::new("/manifests/", Fault::retry_after(429, "1")),
            Rule::new("/manifests/", Fault::retry_after_date(429, 2)).skip(1),
            Rule::new(
                "/manifests/",
                Fault::oci_error(403, "DENIED", "requested access to the resource is denied"),
            )
            .skip(2),
            Rule::new(
                "/blobs/uploads/",
                Fault::oci_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown"),
            )
            .method(Method::PATCH),
        ],
    )
    .await;
    let c = oci::client();
    let url = format!("{}{SMALL}", proxy.url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "1")
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let date = r.headers()["retry-after"].to_str().unwrap().to_string();
    let when = httpdate::parse_http_date(&date).unwrap();
    assert!(
        when > std::time::SystemTime::now(),
        "{date} is in the future"
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body = oci::json(r).await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    // The fourth request passes (its body is read so the connection goes back to the pool).
    let r = c
        .get(&url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(oci::sha256_digest(&r.bytes().await.unwrap()), SMALL_DIGEST);

    // A PATCH with a body gets the 404 after the proxy drained the body; the connection stays usable.
    let r = c
        .patch(format!("{}/v2/app/small/blobs/uploads/0000", proxy.url()))
        .body(vec![7u8; 300_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body = oci::json(r).await.unwrap();
    assert_eq!(body["errors"][0]["code"], "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(proxy.faulted().len(), 4);
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn proxy_reset_before_headers() {
    require_harness().await;
    let proxy = FaultProxy::start(
        STAGING,
        vec![Rule::new("/manifests/", Fault::ResetBeforeHeaders)],
    )
    .await;
    let c = oci::client();
    let url = format!("{}{SMALL}", proxy.url());
    let err = c
        .get(&url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    let r = c
        .get(&url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["docker-content-digest"], SMALL_DIGEST);
    let recs = proxy.requests();
    assert_eq!((recs[0].status, recs[0].upstream_status), (None, Some(200)));
    assert_eq!(recs[0].fault.as_deref(), Some("reset-before-headers"));
    assert_eq!(proxy.connections(), 2);
}

#[tokio::test]
async fn proxy_reset_mid_body_on_download() {
    let (path, blob) = small_layer().await;
    let proxy = FaultProxy::start(
        STAGING,
        vec![Rule::new(&path, Fault::ResetMidBody { after_bytes: 1000 })],
    )
    .await;
    let resp = oci::client()
        .get(format!("{}{path}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (got, err) = read_body(resp).await;
    assert!(err.is_some(), "body must fail");
    assert!(got.len() <= 1000 && got.len() < blob.len());
    assert_eq!(got[..], blob[..got.len()]);
}

#[tokio::test]
async fn proxy_truncate_sends_content_length_then_closes() {
    let (path, blob) = small_layer().await;
    let proxy = FaultProxy::start(
        STAGING,
        vec![Rule::new(&path, Fault::Truncate { after_bytes: 5000 })],
    )
    .await;
    let c = oci::client();
    let resp = c
        .get(format!("{}{path}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.content_length(), Some(blob.len() as u64));
    let (got, err) = read_body(resp).await;
    assert!(err.is_some(), "incomplete body must be an error");
    assert_eq!(got, blob[..5000]);
    // A retry (new connection) gets the whole blob.
    let full = c
        .get(format!("{}{path}", proxy.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(full.len(), blob.len());
}

#[tokio::test]
async fn proxy_stall_delays_body() {
    let (path, blob) = small_layer().await;
    let stall = Fault::Stall {
        after_bytes: 2000,
        duration: Duration::from_millis(1500),
    };
    let proxy = FaultProxy::start(STAGING, vec![Rule::new(&path, stall).times(2)]).await;
    let url = format!("{}{path}", proxy.url());
    let started = Instant::now();
    let body = oci::client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(body, blob);
    // A client with a 300 ms read timeout gives up during the stall.
    oci::install_crypto();
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let resp = impatient.get(&url).send().await.unwrap();
    let (got, err) = read_body(resp).await;
    assert!(err.unwrap().is_timeout());
    assert_eq!(got.len(), 2000);
}

#[tokio::test]
async fn proxy_corrupt_body_flips_one_byte() {
    let (path, blob) = small_layer().await;
    let proxy = FaultProxy::start(
        STAGING,
        vec![Rule::new(&path, Fault::CorruptBody { at_byte: 12_345 })],
    )
    .await;
    let got = oci::client()
        .get(format!("{}{path}", proxy.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), blob.len());
    let diffs: Vec<usize> = (0..got.len()).filter(|&i| got[i] != blob[i]).collect();
    assert_eq!(diffs, [12_345]);
    assert_eq!(got[12_345], !blob[12_345]);
}

#[tokio::test]
async fn proxy_upload_to_production_rewrites_location() {
    require_harness().await;
    let proxy = FaultProxy::start(PRODUCTION, vec![]).await;
    let c = oci::client();
    let repo = "selftest/proxy-upload";
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = oci::sha256_digest(&data);
    let r = c
        .post(format!("{}/v2/{repo}/blobs/uploads/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with(&format!("{}/v2/{repo}/blobs/uploads/", proxy.url())),
        "{loc}"
    );
    // Chunked PATCH (streamed body without a length), then PUT with the digest.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        data.chunks(70_000).map(|c| Ok(c.to_vec())).collect();
    let r = c
        .patch(&loc)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&proxy.url()), "{loc}");
    let r = c
        .put(format!("{loc}&digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&proxy.url())
    );
    let direct = c
        .head(format!("http://{PRODUCTION}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    // Monolithic upload helper through the proxy too.
    assert_eq!(
        oci::upload_blob(&c, &proxy.addr(), repo, data, None)
            .await
            .unwrap(),
        digest
    );
    assert_eq!(proxy.count("PUT", "digest="), 2);
}

#[tokio::test]
async fn proxy_reset_mid_upload_cuts_request_body() {
    require_harness().await;
    let proxy = FaultProxy::start(
        PRODUCTION,
        vec![
            Rule::new(
                "/blobs/uploads/",
                Fault::ResetMidBody {
                    after_bytes: 64 * 1024,
                },
            )
            .method(Method::PUT),
        ],
    )
    .await;
    let c = oci::client();
    let repo = "selftest/proxy-cut";
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let err = oci::upload_blob(&c, &proxy.addr(), repo, data.clone(), None)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("error"), "{err:#}");
    let cut = proxy.faulted();
    assert_eq!(cut.len(), 1);
    assert_eq!(
        (
            cut[0].method.as_str(),
            cut[0].status,
            cut[0].upstream_status
        ),
        ("PUT", None, None)
    );
    // The retry goes through.
    let digest = oci::upload_blob(&c, &proxy.addr(), repo, data, None)
        .await
        .unwrap();
    assert_eq!(proxy.count("PUT", &digest), 2);
}

/// A tiny upstream that answers chunked bodies and a 307 pointing at itself.
async fn odd_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let me = addr.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let me = me.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_string();
                        seen.drain(..end + 4);
                        let resp = if head.starts_with("GET /redirect") {
                            format!(
                                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{me}/chunked\r\nContent-Length: 0\r\n\r\n"
                            )
                        } else {
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
                                .to_string()
                        };
                        s.write_all(resp.as_bytes()).await.unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn proxy_chunked_responses_and_redirects() {
    let upstream = odd_upstream().await;
    let proxy = FaultProxy::start(
        &upstream,
        vec![Rule::new("/chunked", Fault::CorruptBody { at_byte: 6 }).skip(1)],
    )
    .await;
    oci::install_crypto();
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .get(format!("{}/redirect", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        format!("{}/chunked", proxy.url()).as_str()
    );
    assert_eq!(
        c.get(format!("{}/chunked", proxy.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello world"
    );
    let corrupt = c
        .get(format!("{}/chunked", proxy.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&corrupt[..], b"hello \x88orld");
    proxy.set_rules(vec![Rule::new(
        "/chunked",
        Fault::Truncate { after_bytes: 7 },
    )]);
    let (got, err) = read_body(
        c.get(format!("{}/chunked", proxy.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((&got[..], err.is_some()), (&b"hello w"[..], true));
}

#[tokio::test]
async fn token_registry_challenge_push_and_pull() {
    let reg = TokenRegistry::start_default().await;
    let c = oci::client();
    let base = format!("http://{}", reg.registry_addr());
    let r = c.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!("Bearer realm=\"{}\",service=\"{SERVICE}\"", reg.realm())
    );

    let token = reg
        .fetch_token(
            Some(("alice", "alice-secret")),
            &["repository:selftest/x:pull,push"],
        )
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{base}/v2/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let image = oci::push_test_image(&c, &reg.registry_addr(), "selftest/x", "1.0", Some(&token))
        .await
        .unwrap();
    let r = c
        .get(format!("{base}/v2/selftest/x/manifests/1.0"))
        .header("accept", MANIFEST_ACCEPT)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["docker-content-digest"], image.digest.as_str());
    // Without a token the same GET is challenged with the scope it needs.
    let r = c
        .get(format!("{base}/v2/selftest/x/manifests/1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let ch = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(ch.contains("scope=\"repository:selftest/x:pull\""), "{ch}");

    assert_eq!((reg.token_requests(), reg.tokens_issued()), (1, 1));
    let log = reg.token_log();
    assert_eq!(log[0].user.as_deref(), Some("alice"));
    assert_eq!(log[0].granted, ["repository:selftest/x:pull,push"]);
}

#[tokio::test]
async fn token_registry_refuses_reader_push_and_bad_credentials() {
    let reg = TokenRegistry::start_default().await;
    let c = oci::client();
    let base = format!("http://{}", reg.registry_addr());
    let token = reg
        .fetch_token(
            Some(("reader", "reader-secret")),
            &["repository:selftest/x:pull,push"],
        )
        .await
        .unwrap();
    assert_eq!(reg.token_log()[0].granted, ["repository:selftest/x:pull"]);
    let r = c
        .post(format!("{base}/v2/selftest/x/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ch = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.text().await.unwrap();
    println!("reader push: {status} www-authenticate={ch:?} body={body}");
    assert_eq!(status, 401);
    assert!(ch.unwrap().contains("error=\"insufficient_scope\""));
    // The reader can pull.
    reg.push_test_image("selftest/x", "1.0").await.unwrap();
    let r = c
        .get(format!("{base}/v2/selftest/x/manifests/1.0"))
        .header("accept", MANIFEST_ACCEPT)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let bad = reg
        .fetch_token(Some(("alice", "wrong")), &["repository:selftest/x:pull"])
        .await;
    assert!(bad.unwrap_err().to_string().contains("401"));
    let anon = reg.fetch_token(None, &["repository:selftest/x:pull"]).await;
    assert!(anon.unwrap_err().to_string().contains("401"));
    reg.fail_next_token_requests(1, 503);
    let down = reg.fetch_token(Some(("alice", "alice-secret")), &[]).await;
    assert!(down.unwrap_err().to_string().contains("503"));
    assert_eq!((reg.token_requests(), reg.tokens_issued()), (4, 1));
}

#[tokio::test]
async fn token_registry_short_ttl_and_key_rotation() {
    let reg = TokenRegistry::start_default().await;
    let c = oci::client();
    let ping = format!("http://{}/v2/", reg.registry_addr());
    reg.set_token_ttl(Duration::from_secs(2));
    let short = reg
        .fetch_token(Some(("alice", "alice-secret")), &[])
        .await
        .unwrap();
    assert_eq!(
        c.get(&ping)
            .bearer_auth(&short)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = c.get(&ping).bearer_auth(&short).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let ch = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(ch.contains("error=\"invalid_token\""), "{ch}");

    reg.set_token_ttl(Duration::from_secs(300));
    let old = reg
        .fetch_token(Some(("alice", "alice-secret")), &[])
        .await
        .unwrap();
    assert_eq!(
        c.get(&ping)
            .bearer_auth(&old)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    reg.rotate_signing_key().await;
    assert_eq!(
        c.get(&ping)
            .bearer_auth(&old)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let new = reg
        .fetch_token(Some(("alice", "alice-secret")), &[])
        .await
        .unwrap();
    assert_eq!(
        c.get(&ping)
            .bearer_auth(&new)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn token_registry_kid_header_and_anonymous_pull() {
    let reg = TokenRegistry::start(TokenRegistryOptions {
        key_ref: KeyRef::Kid,
        anonymous: Some(vec!["pull".into()]),
        ..TokenRegistryOptions::default()
    })
    .await;
    let image = reg.push_test_image("selftest/kid", "v1").await.unwrap();
    let anon = reg
        .fetch_token(None, &["repository:selftest/kid:pull,push"])
        .await
        .unwrap();
    assert_eq!(reg.token_log()[0].granted, ["repository:selftest/kid:pull"]);
    let r = oci::client()
        .get(format!(
            "http://{}/v2/selftest/kid/manifests/v1",
            reg.registry_addr()
        ))
        .header("accept", MANIFEST_ACCEPT)
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", reg.log());
    assert_eq!(r.headers()["docker-content-digest"], image.digest.as_str());
}

#[tokio::test]
async fn token_registry_oauth_password_grant_through_proxy() {
    let reg = TokenRegistry::start_default().await;
    // The fault proxy also works in front of the token registry.
    let proxy = FaultProxy::start(
        &reg.registry_addr(),
        vec![Rule::new("/v2/", Fault::status(503))],
    )
    .await;
    let c = oci::client();
    let r = c
        .post(reg.realm())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(oci::form_encode(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-secret"),
            ("service", SERVICE),
            ("scope", "repository:selftest/o:pull,push"),
            ("client_id", "image-promote"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = oci::json(r).await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(body["expires_in"], 300);
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        c.get(format!("{}/v2/", proxy.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    oci::push_test_image(&c, &proxy.addr(), "selftest/o", "1", Some(token))
        .await
        .unwrap();
}

/// Raw-socket view of the connection-level faults: RST vs clean FIN.
#[tokio::test]
async fn proxy_reset_is_rst_and_truncate_is_fin() {
    require_harness().await;
    let proxy = FaultProxy::start(STAGING, vec![]).await;
    let request = format!(
        "GET {SMALL} HTTP/1.1\r\nHost: {}\r\nAccept: {MANIFEST_ACCEPT}\r\n\r\n",
        proxy.addr()
    );
    async fn exchange(addr: &str, request: &str) -> (Vec<u8>, std::io::Result<()>) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap()
            {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
    }
    proxy.set_rules(vec![Rule::new(SMALL, Fault::ResetBeforeHeaders)]);
    let (got, end) = exchange(&proxy.addr(), &request).await;
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);

    proxy.set_rules(vec![Rule::new(SMALL, Fault::Truncate { after_bytes: 100 })]);
    let (got, end) = exchange(&proxy.addr(), &request).await;
    end.unwrap();
    let head_len = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len() - head_len, 100);
    assert!(String::from_utf8_lossy(&got[..head_len]).contains("Content-Length: 789"));

    proxy.set_rules(vec![Rule::new(
        SMALL,
        Fault::ResetMidBody { after_bytes: 100 },
    )]);
    let (_, end) = exchange(&proxy.addr(), &request).await;
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
}

/// Streams 32 MiB (`SELFTEST_LARGE_MIB`) up and down through the proxy without either side holding it in memory.
#[tokio::test]
async fn proxy_streams_large_blob() {
    use sha2::{Digest, Sha256};
    require_harness().await;
    const MIB: usize = 1 << 20;
    let n_mib: usize = std::env::var("SELFTEST_LARGE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let block = bytes::Bytes::from(
        (0..MIB)
            .map(|i| (i % 241) as u8 ^ 0x5a)
            .collect::<Vec<u8>>(),
    );
    let mut h = Sha256::new();
    for _ in 0..n_mib {
        h.update(&block);
    }
    let digest = format!("sha256:{:x}", h.finalize());
    let proxy = FaultProxy::start(PRODUCTION, vec![]).await;
    let c = oci::client();
    let repo = "selftest/proxy-large";
    let started = Instant::now();
    let r = c
        .post(format!("{}/v2/{repo}/blobs/uploads/", proxy.url()))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let chunks =
        futures_util::stream::iter((0..n_mib).map(move |_| Ok::<_, std::io::Error>(block.clone())));
    let r = c
        .put(format!("{loc}&digest={digest}"))
        .header("content-length", (n_mib * MIB).to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let up = started.elapsed();
    let started = Instant::now();
    let resp = c
        .get(format!("{}/v2/{repo}/blobs/{digest}", proxy.url()))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let (mut h, mut total) = (Sha256::new(), 0);
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        total += b.len();
        h.update(&b);
    }
    assert_eq!(
        (total, format!("sha256:{:x}", h.finalize())),
        (n_mib * MIB, digest)
    );
    println!(
        "{n_mib} MiB through the proxy: upload {up:?}, download+hash {:?}",
        started.elapsed()
    );
}
