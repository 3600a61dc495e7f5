//! The copy engine behind a fault-injecting proxy in front of the real registries: transient
//! faults (5xx, 429 + Retry-After, resets, truncation, stalls, forgotten uploads) are retried and
//! the copy ends with identical digests; permanent ones (403) fail fast with the right category;
//! wrong bytes are never pushed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::Method;
use support::harness::{audit_in, pairs, plain, promote, registries, skopeo_digest, text, unique};
use support::proxy::{Fault, FaultProxy, Rule};

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const MULTI: &str = "sha256:f4bde69193791bb9b12817907ecaa4613f0c5400ea04135655c76f6a99694d3b";
/// The largest layer of app/small (101,330 bytes).
const SMALL_BIG_LAYER: &str =
    "sha256:715fea9229f2d724a5adfd87dc9eef41aa879c6cc97c1c67eb7349a9c109337c";

async fn run(args: Vec<String>) -> (Output, Duration) {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = promote(&args);
        (out, t.elapsed())
    })
    .await
    .unwrap()
}

fn fast_retries() -> Vec<String> {
    [
        "--retry-base-delay",
        "50ms",
        "--retry-max-delay",
        "3s",
        "--retry-attempts",
        "5",
    ]
    .map(String::from)
    .to_vec()
}

async fn setup() -> (
    &'static support::harness::Registries,
    FaultProxy,
    FaultProxy,
) {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let src = FaultProxy::start(&r.staging, vec![]).await;
    let dst = FaultProxy::start(&r.production, vec![]).await;
    (r, src, dst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_digests_stay_identical() {
    let (r, src, dst) = setup().await;
    src.set_rules(vec![
        Rule::new("/manifests/", Fault::status(503))
            .method(Method::GET)
            .times(2),
        // The big layer: reset before headers, reset mid-body, truncated; the other blobs: 500
        // and 429 (seconds and HTTP-date).
        Rule::new(SMALL_BIG_LAYER, Fault::ResetBeforeHeaders).method(Method::GET),
        Rule::new(
            SMALL_BIG_LAYER,
            Fault::ResetMidBody {
                after_bytes: 40_000,
            },
        )
        .method(Method::GET)
        .skip(1),
        Rule::new(
            SMALL_BIG_LAYER,
            Fault::Truncate {
                after_bytes: 70_000,
            },
        )
        .method(Method::GET)
        .skip(2),
        Rule::new("sha256:bebc76b66f32", Fault::status(500)).method(Method::GET),
        Rule::new("sha256:642650a68e76", Fault::retry_after(429, "1")).method(Method::GET),
        Rule::new("sha256:eb683c3bc5b3", Fault::retry_after_date(429, 1)).method(Method::GET),
    ]);
    dst.set_rules(vec![
        Rule::new("/blobs/uploads/", Fault::status(502)).method(Method::POST),
        Rule::new(
            "/blobs/uploads/",
            Fault::ResetMidBody {
                after_bytes: 10_000,
            },
        )
        .method(Method::PUT),
        Rule::new("/manifests/", Fault::status(504)).method(Method::PUT),
        Rule::new("/manifests/", Fault::status(500)).method(Method::HEAD),
    ]);
    let repo = unique("faults");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
        "--json".to_owned(),
    ];
    args.extend(fast_retries());
    let (out, took) = run(args).await;
    assert!(out.status.success(), "{}", text(&out));
    let kinds: Vec<String> = src
        .faulted()
        .into_iter()
        .chain(dst.faulted())
        .filter_map(|r| r.fault)
        .collect();
    for kind in [
        "status 503",
        "reset-before-headers",
        "reset-mid-body@40000",
        "truncate@70000",
        "status 500",
        "status 429",
        "status 502",
        "status 504",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} was not injected: {kinds:?}"
        );
    }
    let faults = kinds.len();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["retries"].as_u64().unwrap() >= 8, "{report}");
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()).as_deref(),
        Some(SMALL)
    );
    eprintln!(
        "transient faults: {faults} injected, {} retries, {took:?}",
        report["retries"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_copy_survives_upload_faults() {
    let (r, src, dst) = setup().await;
    dst.set_rules(vec![
        // The registry forgets the upload session: the upload restarts.
        Rule::new(
            "/blobs/uploads/",
            Fault::oci_error(
                404,
                "BLOB_UPLOAD_UNKNOWN",
                "blob upload unknown to registry",
            ),
        )
        .method(Method::PUT)
        .times(2),
        Rule::new("/blobs/uploads/", Fault::status(503))
            .method(Method::POST)
            .skip(3)
            .times(2),
    ]);
    let repo = unique("faults-index");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/multi:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
    ];
    args.extend(fast_retries());
    let (out, _) = run(args).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dst.faulted().len(), 4);
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()).as_deref(),
        Some(MULTI)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_403_fails_fast_without_retry_storm() {
    let (r, src, dst) = setup().await;
    dst.set_rules(vec![
        Rule::new(
            "/blobs/uploads/",
            Fault::oci_error(403, "DENIED", "requested access to the resource is denied"),
        )
        .method(Method::POST)
        .times(1000),
    ]);
    let repo = unique("faults-403");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
    ];
    args.extend(fast_retries());
    let (out, took) = run(args).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[PERMISSION]") && stderr.contains("DENIED"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: check that the destination credentials can push"),
        "{stderr}"
    );
    let posts = dst.count("POST", "/blobs/uploads/");
    assert!(
        posts <= 4,
        "one attempt per blob at most, got {posts} POSTs"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()),
        None
    );
}

/// `promote`'s first conditions go out together: the destination is reached, and its tag
/// HEADed, while the source's GET is still out, and a refused source is still what the run
/// reports (exit 5, `source-pull` failed), with nothing written to the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_pull_and_the_destination_reads_go_out_together() {
    let (r, src, dst) = setup().await;
    src.set_rules(vec![
        Rule::new(
            "/manifests/1.0",
            Fault::oci_error(403, "DENIED", "requested access to the resource is denied"),
        )
        .method(Method::GET)
        .times(1000),
    ]);
    let repo = unique("faults-conditions");
    let audit = tempfile::tempdir().unwrap();
    let mut args = vec![
        "promote".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
        "--audit-dir".to_owned(),
        audit.path().display().to_string(),
    ];
    args.extend(fast_retries());
    let (out, _) = run(args).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert_eq!(
        src.count("HEAD", "/manifests/1.0"),
        0,
        "the source is asked once, by GET: {:?}",
        src.requests()
    );
    assert!(
        dst.count("GET", "/v2/") >= 1
            && dst.count("HEAD", &format!("/v2/{repo}/manifests/1.0")) == 1,
        "the destination was not reached, and its tag read, while the source GET was out: {:?}",
        dst.requests()
    );
    assert!(
        dst.requests()
            .iter()
            .all(|q| (q.method == "GET" && q.path_and_query == "/v2/")
                || (q.method == "HEAD" && q.path_and_query == format!("/v2/{repo}/manifests/1.0"))),
        "only the destination's ping and its tag's HEAD: {:?}",
        dst.requests()
    );
    let record = audit_in(audit.path());
    let conditions = pairs(&record["conditions"], "id", "status");
    assert_eq!(
        conditions,
        vec![("source-pull".to_owned(), "failed".to_owned())],
        "{record}"
    );
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_beyond_max_delay_fails_at_once() {
    let (_r, src, dst) = setup().await;
    src.set_rules(vec![
        Rule::new("/manifests/", Fault::retry_after(429, "600"))
            .method(Method::GET)
            .times(100),
    ]);
    let args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{}:1.0", dst.addr(), unique("faults-429")),
        "--retry-max-delay".to_owned(),
        "2s".to_owned(),
    ];
    let (out, took) = run(args).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("600 s") && stderr.contains("retry-max-delay"),
        "{stderr}"
    );
    assert_eq!(src.count("GET", "/manifests/"), 1);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_bytes_in_transit_are_never_pushed() {
    let (r, src, dst) = setup().await;
    src.set_rules(vec![
        Rule::new(SMALL_BIG_LAYER, Fault::CorruptBody { at_byte: 50_000 })
            .method(Method::GET)
            .times(100),
    ]);
    let repo = unique("faults-corrupt");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
    ];
    args.extend(fast_retries());
    let (out, _) = run(args).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[VALIDATION]"),
        "{}",
        text(&out)
    );
    assert_eq!(
        src.count("GET", SMALL_BIG_LAYER),
        1,
        "a wrong hash is not retried"
    );
    // The corrupt layer never reached the destination: not even as a blob.
    let head = support::oci::client()
        .head(format!(
            "http://{}/v2/{repo}/blobs/{SMALL_BIG_LAYER}",
            r.production
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_times_out_and_is_retried() {
    let (r, src, dst) = setup().await;
    src.set_rules(vec![
        Rule::new(
            SMALL_BIG_LAYER,
            Fault::Stall {
                after_bytes: 20_000,
                duration: Duration::from_secs(5),
            },
        )
        .method(Method::GET),
    ]);
    let repo = unique("faults-stall");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
        "--read-timeout".to_owned(),
        "1s".to_owned(),
    ];
    args.extend(fast_retries());
    let (out, took) = run(args).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(took < Duration::from_secs(5), "no hang: {took:?}");
    assert_eq!(src.count("GET", SMALL_BIG_LAYER), 2);
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()).as_deref(),
        Some(SMALL)
    );
}

/// One scenario of the fault matrix.
struct Scenario {
    name: &'static str,
    on_destination: bool,
    method: Method,
    path: &'static str,
    fault: Fault,
    times: usize,
    extra: &'static [&'static str],
    expect_code: i32,
}

fn scenario(
    name: &'static str,
    on_destination: bool,
    method: Method,
    path: &'static str,
    fault: Fault,
    expect_code: i32,
) -> Scenario {
    Scenario {
        name,
        on_destination,
        method,
        path,
        fault,
        times: 1,
        extra: &[],
        expect_code,
    }
}

/// Every fault of issue 6, one at a time, copying app/small: the outcome, the attempts the
/// faulted request took, and the time. The table is printed and written to
/// `target/fault-matrix.md` (the README's Reliability section quotes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let big = SMALL_BIG_LAYER;
    let (get, put, head, post, patch) = (
        Method::GET,
        Method::PUT,
        Method::HEAD,
        Method::POST,
        Method::PATCH,
    );
    let mut scenarios = vec![
        scenario(
            "500 on manifest GET",
            false,
            get.clone(),
            "/manifests/",
            Fault::status(500),
            0,
        ),
        scenario(
            "502 on manifest GET",
            false,
            get.clone(),
            "/manifests/",
            Fault::status(502),
            0,
        ),
        scenario(
            "503 on manifest PUT",
            true,
            put.clone(),
            "/manifests/",
            Fault::status(503),
            0,
        ),
        scenario(
            "504 on manifest PUT",
            true,
            put.clone(),
            "/manifests/",
            Fault::status(504),
            0,
        ),
        scenario(
            "500 on manifest HEAD",
            true,
            head.clone(),
            "/manifests/sha256",
            Fault::status(500),
            0,
        ),
        scenario(
            "503 on blob GET",
            false,
            get.clone(),
            big,
            Fault::status(503),
            0,
        ),
        scenario(
            "502 on upload POST",
            true,
            post.clone(),
            "/blobs/uploads/",
            Fault::status(502),
            0,
        ),
        scenario(
            "500 on upload PUT",
            true,
            put.clone(),
            "/blobs/uploads/",
            Fault::status(500),
            0,
        ),
        scenario(
            "429 + Retry-After: 1",
            false,
            get.clone(),
            big,
            Fault::retry_after(429, "1"),
            0,
        ),
        scenario(
            "429 + Retry-After: HTTP-date (+2 s)",
            false,
            get.clone(),
            big,
            Fault::retry_after_date(429, 2),
            0,
        ),
        scenario(
            "reset before headers (blob GET)",
            false,
            get.clone(),
            big,
            Fault::ResetBeforeHeaders,
            0,
        ),
        scenario(
            "reset mid-body (blob GET)",
            false,
            get.clone(),
            big,
            Fault::ResetMidBody {
                after_bytes: 50_000,
            },
            0,
        ),
        scenario(
            "reset mid-body (upload PUT)",
            true,
            put.clone(),
            big,
            Fault::ResetMidBody {
                after_bytes: 50_000,
            },
            0,
        ),
        scenario(
            "truncated body, correct Content-Length",
            false,
            get.clone(),
            big,
            Fault::Truncate {
                after_bytes: 60_000,
            },
            0,
        ),
        scenario(
            "upload session forgotten (404 BLOB_UPLOAD_UNKNOWN)",
            true,
            put.clone(),
            big,
            Fault::oci_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown"),
            0,
        ),
        scenario(
            "Retry-After: 120 over retry-max-delay 3s",
            false,
            get.clone(),
            big,
            Fault::retry_after(429, "120"),
            4,
        ),
        scenario(
            "403 DENIED on upload POST",
            true,
            post.clone(),
            "/blobs/uploads/",
            Fault::oci_error(403, "DENIED", "denied"),
            5,
        ),
        scenario(
            "404 NAME_UNKNOWN on manifest GET",
            false,
            get.clone(),
            "/manifests/",
            Fault::oci_error(404, "NAME_UNKNOWN", "repository name not known"),
            4,
        ),
        scenario(
            "400 MANIFEST_INVALID on manifest PUT",
            true,
            put.clone(),
            "/manifests/sha256",
            Fault::oci_error(400, "MANIFEST_INVALID", "manifest invalid"),
            4,
        ),
        scenario(
            "503 on blob GET, never heals",
            false,
            get.clone(),
            big,
            Fault::status(503),
            4,
        ),
        scenario(
            "bytes corrupted in transit",
            false,
            get.clone(),
            big,
            Fault::CorruptBody { at_byte: 1234 },
            6,
        ),
    ];
    let mut stall = scenario(
        "stalled body past read-timeout 1s",
        false,
        get.clone(),
        big,
        Fault::Stall {
            after_bytes: 10_000,
            duration: Duration::from_secs(4),
        },
        0,
    );
    stall.extra = &["--read-timeout", "1s"];
    scenarios.push(stall);
    let mut chunked = scenario(
        "405 on monolithic PUT, then 503 on PATCH",
        true,
        put.clone(),
        "/blobs/uploads/",
        Fault::status(405),
        0,
    );
    chunked.extra = &["--concurrency", "1"];
    scenarios.push(chunked);
    for s in &mut scenarios {
        if s.expect_code != 0 {
            s.times = 1000; // permanent
        }
    }

    let mut rows = vec![
        "| fault | where | outcome | attempts of the faulted request | wall time |".to_owned(),
        "|---|---|---|---:|---:|".to_owned(),
    ];
    for s in scenarios {
        let (r, src, dst) = setup().await;
        let fault = if s.name.contains("HTTP-date") {
            Fault::retry_after_date(429, 2) // made now: the date is absolute
        } else {
            s.fault.clone()
        };
        let rule = Rule::new(s.path, fault)
            .method(s.method.clone())
            .times(s.times);
        let proxy = if s.on_destination { &dst } else { &src };
        let mut rules = vec![rule];
        if s.name.starts_with("405") {
            rules.push(Rule::new("/blobs/uploads/", Fault::status(503)).method(patch.clone()));
        }
        proxy.set_rules(rules);
        let repo = unique("matrix");
        let mut args = vec![
            "copy".to_owned(),
            format!("{}/app/small:1.0", src.addr()),
            format!("{}/{repo}:1.0", dst.addr()),
        ];
        args.extend(fast_retries());
        args.extend(s.extra.iter().map(|x| (*x).to_owned()));
        let (out, took) = run(args).await;
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(code, s.expect_code, "{}: {}", s.name, text(&out));
        // Attempts of the faulted request: the faults injected, plus the one that went through.
        let injected = proxy.faulted().len();
        let attempts = if code == 0 {
            format!("{}", injected + 1)
        } else {
            format!("{injected}")
        };
        let digest = skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain());
        let outcome = if code == 0 {
            assert_eq!(digest.as_deref(), Some(SMALL), "{}", s.name);
            "copied, same digest".to_owned()
        } else {
            assert_eq!(digest, None, "{}: no tag after a failure", s.name);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let category = stderr
                .split('[')
                .nth(1)
                .and_then(|x| x.split(']').next())
                .unwrap_or("?")
                .to_owned();
            format!("exit {code} {category}, no tag")
        };
        if s.expect_code == 5
            || s.expect_code == 6
            || s.name.starts_with("404")
            || s.name.starts_with("400")
        {
            assert!(
                injected <= 4,
                "{}: permanent faults are not retried ({injected})",
                s.name
            );
        }
        if s.name.contains("never heals") {
            assert_eq!(injected, 5, "{}: one budget of 5 attempts in all", s.name);
        }
        let attempts = if s.name.starts_with("403") {
            format!("{attempts} (1 per blob, in parallel)")
        } else {
            attempts
        };
        let side = if s.on_destination {
            "destination"
        } else {
            "source"
        };
        rows.push(format!(
            "| {} | {side} {} | {outcome} | {attempts} | {:.2} s |",
            s.name,
            s.method,
            took.as_secs_f64()
        ));
    }
    let table = rows.join("\n");
    eprintln!("{table}");
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/fault-matrix.md"),
        format!("{table}\n"),
    );
}
