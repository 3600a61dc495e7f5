//! One attempt budget per request (issue 10, defect 1): with `--retry-attempts N`, a blob GET
//! that answers 503 forever is sent exactly N times by `copy` and by `promote` — retry loops do
//! not nest, an exhausted error is not retried again, and promote's second pass does not
//! multiply attempts. Counted at a fault proxy in front of the real staging registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use reqwest::Method;
use support::harness::{plain, registries, skopeo_digest, text, unique};
use support::proxy::{Fault, FaultProxy, Rule};

/// Effectively forever: the fault never heals.
const FOREVER: usize = 1_000_000;

/// The config and layer digests of app/small.
async fn small_blobs(staging: &str) -> (String, Vec<String>) {
    let response = support::oci::client()
        .get(format!("http://{staging}/v2/app/small/manifests/1.0"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    let manifest = support::oci::json(response).await.unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (config, layers)
}

async fn run(args: Vec<String>) -> Output {
    support::harness::promote_async(args).await
}

fn retry_flags(attempts: u32) -> Vec<String> {
    vec![
        "--retry-attempts".into(),
        attempts.to_string(),
        "--retry-base-delay".into(),
        "10ms".into(),
        "--retry-max-delay".into(),
        "50ms".into(),
    ]
}

/// The GETs each digest received at the proxy.
fn gets(proxy: &FaultProxy, digests: &[String]) -> BTreeMap<String, usize> {
    digests
        .iter()
        .map(|d| {
            (
                d[..19].to_owned(),
                proxy.count("GET", &format!("/blobs/{d}")),
            )
        })
        .collect()
}

/// Asserts the failure: exit 4, a NETWORK/REGISTRY category, "gave up after" exactly once.
fn assert_exhausted(out: &Output, attempts: u32) {
    assert_eq!(out.status.code(), Some(4), "{}", text(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.starts_with("error: [REGISTRY]") || line.starts_with("error: [NETWORK]"),
        "{line}"
    );
    eprintln!("{line}");
    assert_eq!(line.matches("gave up after").count(), 1, "{line}");
    assert!(
        line.contains(&format!("gave up after {attempts} attempts")),
        "{line}"
    );
}

enum Command {
    Copy,
    Promote,
}

/// Runs `command` with every layer GET of app/small answering 503 forever; returns the GETs per
/// layer digest (and of the config blob, which is not faulted).
async fn layers_fail_forever(command: Command, attempts: u32) -> BTreeMap<String, usize> {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let (_config, layers) = small_blobs(&r.staging).await;
    let rules = layers
        .iter()
        .map(|d| {
            Rule::new(d, Fault::status(503))
                .method(Method::GET)
                .times(FOREVER)
        })
        .collect();
    let src = FaultProxy::start(&r.staging, rules).await;
    let dst = FaultProxy::start(&r.production, vec![]).await;
    let repo = unique("budget");
    let audit = tempfile::tempdir().unwrap();
    let mut args = match command {
        Command::Copy => vec!["copy".to_owned()],
        Command::Promote => vec![
            "promote".to_owned(),
            "--summary=false".to_owned(),
            "--audit-dir".to_owned(),
            audit.path().display().to_string(),
        ],
    };
    args.push(format!("{}/app/small:1.0", src.addr()));
    args.push(format!("{}/{repo}:1.0", dst.addr()));
    args.extend(retry_flags(attempts));
    let out = run(args).await;
    let counts = gets(&src, &layers);
    eprintln!(
        "{} --retry-attempts {attempts}: layer GETs {counts:?}, {} source requests in all",
        match command {
            Command::Copy => "copy",
            Command::Promote => "promote",
        },
        src.requests().len()
    );
    assert_exhausted(&out, attempts);
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()),
        None,
        "no tag after a failure"
    );
    counts
}

#[rstest::rstest]
#[case::three(3)]
#[case::five(5)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sends_each_failing_blob_exactly_n_times(#[case] attempts: u32) {
    let counts = layers_fail_forever(Command::Copy, attempts).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (digest, n) in &counts {
        assert_eq!(*n, attempts as usize, "{digest}: {counts:?}");
    }
}

#[rstest::rstest]
#[case::three(3)]
#[case::five(5)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_sends_each_failing_blob_exactly_n_times(#[case] attempts: u32) {
    let counts = layers_fail_forever(Command::Promote, attempts).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (digest, n) in &counts {
        assert_eq!(*n, attempts as usize, "{digest}: {counts:?}");
    }
}

/// The config is read into memory by the checks of `promote` (a request wrapped in its own
/// verification): it too is sent N times, not N × N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_reads_a_failing_config_exactly_n_times() {
    let attempts = 4;
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let (config, _) = small_blobs(&r.staging).await;
    let src = FaultProxy::start(
        &r.staging,
        vec![
            Rule::new(&config, Fault::status(503))
                .method(Method::GET)
                .times(FOREVER),
        ],
    )
    .await;
    let dst = FaultProxy::start(&r.production, vec![]).await;
    let audit = tempfile::tempdir().unwrap();
    let mut args = vec![
        "promote".to_owned(),
        "--summary=false".to_owned(),
        "--audit-dir".to_owned(),
        audit.path().display().to_string(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{}:1.0", dst.addr(), unique("budget-config")),
    ];
    args.extend(retry_flags(attempts));
    let out = run(args).await;
    let n = src.count("GET", &format!("/blobs/{config}"));
    eprintln!("promote --retry-attempts {attempts}: config GETs {n}");
    assert_exhausted(&out, attempts);
    assert_eq!(n, attempts as usize);
}

/// The destination side of a transfer: an upload PUT that fails forever, with 500 or with
/// `BLOB_UPLOAD_UNKNOWN` (a restarted upload is one attempt of the transfer). Every blob's
/// transfer is attempted N times: N sessions opened, N GETs and N PUTs per blob, never more.
#[rstest::rstest]
#[case::server_error(Fault::status(500))]
#[case::upload_unknown(Fault::oci_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_attempts_a_failing_upload_exactly_n_times(#[case] fault: Fault) {
    let attempts = 3;
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let (config, layers) = small_blobs(&r.staging).await;
    let src = FaultProxy::start(&r.staging, vec![]).await;
    let dst = FaultProxy::start(
        &r.production,
        vec![
            Rule::new("/blobs/uploads/", fault)
                .method(Method::PUT)
                .times(FOREVER),
        ],
    )
    .await;
    let repo = unique("budget-upload");
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{repo}:1.0", dst.addr()),
    ];
    args.extend(retry_flags(attempts));
    let out = run(args).await;
    let blobs: Vec<String> = layers.iter().chain([&config]).cloned().collect();
    let puts: BTreeMap<String, usize> = blobs
        .iter()
        .map(|d| (d[..19].to_owned(), dst.count("PUT", &format!("digest={d}"))))
        .collect();
    let posts = dst.count("POST", "/blobs/uploads/");
    eprintln!(
        "copy --retry-attempts {attempts}, upload PUT failing: PUTs {puts:?}, {posts} POSTs, GETs {:?}",
        gets(&src, &blobs)
    );
    assert_exhausted(&out, attempts);
    for (digest, n) in &puts {
        assert_eq!(*n, attempts as usize, "{digest}: {puts:?}");
    }
    for (digest, n) in gets(&src, &blobs) {
        assert_eq!(n, attempts as usize, "{digest}");
    }
    assert_eq!(posts, blobs.len() * attempts as usize);
}

/// A manifest whose body is cut short forever: the GET and the reading of its body are one unit,
/// attempted N times (the cut is retried, and not N × N times).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_reads_a_truncated_manifest_exactly_n_times() {
    let attempts = 3;
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let src = FaultProxy::start(
        &r.staging,
        vec![
            Rule::new("/manifests/", Fault::Truncate { after_bytes: 100 })
                .method(Method::GET)
                .times(FOREVER),
        ],
    )
    .await;
    let dst = FaultProxy::start(&r.production, vec![]).await;
    let mut args = vec![
        "copy".to_owned(),
        format!("{}/app/small:1.0", src.addr()),
        format!("{}/{}:1.0", dst.addr(), unique("budget-manifest")),
    ];
    args.extend(retry_flags(attempts));
    let out = run(args).await;
    let n = src.count("GET", "/manifests/");
    eprintln!("copy --retry-attempts {attempts}, manifest body cut: {n} manifest GETs");
    assert_exhausted(&out, attempts);
    assert_eq!(n, attempts as usize);
}
