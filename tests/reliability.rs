//! Reliability against the real registries: SIGKILL at 20 seeded points never leaves a
//! destination tag and a re-run always completes with identical digests; SIGTERM stops cleanly;
//! concurrent promotions agree; version tags are immutable; a token that stops working mid-copy
//! is renewed once; a registry that refuses monolithic uploads gets chunked ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use support::harness::{bin, plain, registries, skopeo_digest, text, unique};
use support::proxy::{Fault, FaultProxy, Rule};
use support::token::TokenRegistry;

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const MULTI: &str = "sha256:f4bde69193791bb9b12817907ecaa4613f0c5400ea04135655c76f6a99694d3b";
const MANY: &str = "sha256:398d22ec3018c1bdc67ef5ac5dfcd232b8d8010b658d1d56adfeabe38a7a8faa";

async fn run(args: Vec<String>) -> Output {
    support::harness::promote_async(args).await
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_twenty_points_never_leaves_a_tag_and_reruns_complete() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dst_proxy = FaultProxy::start(&r.production, vec![]).await;
    let src = format!("{}/app/multi:1.0", r.staging);
    let (mut killed, mut completed_before_kill, mut tagged_before_kill) = (0, 0, 0);
    // Calibrate: how many destination requests a whole run makes.
    let calibrate = format!("{}/{}:1.0", dst_proxy.addr(), unique("kill-calibrate"));
    let out = run(s(&["copy", &src, &calibrate, "--concurrency", "1"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let total = dst_proxy.requests().len();
    for point in 0..20usize {
        // Spread the kill points over the whole promotion, first request to last.
        let after = 1 + point * (total - 2) / 19;
        let repo = unique(&format!("kill-{point}"));
        let dst = format!("{}/{repo}:1.0", dst_proxy.addr());
        dst_proxy.clear_requests();
        let mut child = bin()
            .args(["copy", &src, &dst, "--concurrency", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if dst_proxy.requests().len() >= after {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "copy hung");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let tag = format!("{}/{repo}:1.0", r.production);
        match exited {
            Some(status) => {
                assert!(status.success());
                completed_before_kill += 1;
            }
            None => {
                killed += 1;
                // The tag is the last write: if the kill came after it, the image behind it is
                // complete (skopeo reads every blob back); before it, the tag does not exist.
                if let Some(d) = skopeo_digest(&tag, &plain()) {
                    assert_eq!(d, MULTI, "killed after {after} requests");
                    // The proxy records a request when the upstream answers it, which can come a
                    // moment after the registry wrote the tag: wait for that record (up to 5 s).
                    let waited = Instant::now();
                    while dst_proxy.count("PUT", "/manifests/1.0") == 0
                        && waited.elapsed() < Duration::from_secs(5)
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    assert!(
                        dst_proxy.count("PUT", "/manifests/1.0") > 0,
                        "a tag exists only once its PUT was sent: {:?}",
                        dst_proxy.requests()
                    );
                    assert!(support::harness::skopeo_reads_back(
                        &tag,
                        &["--src-tls-verify=false"]
                    ));
                    tagged_before_kill += 1;
                }
            }
        }
        let out = run(s(&["copy", &src, &dst])).await;
        assert!(
            out.status.success(),
            "re-run after kill at {after}: {}",
            text(&out)
        );
        assert_eq!(skopeo_digest(&tag, &plain()).as_deref(), Some(MULTI));
    }
    eprintln!(
        "SIGKILL points: {killed} killed mid-run ({tagged_before_kill} of them after the tag write), {completed_before_kill} finished first; 20 re-runs completed with identical digests"
    );
    assert!(
        killed >= 15,
        "most points must interrupt a running copy ({killed})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_new_work_and_exits_143() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    // Stall the largest layer so the copy is surely in flight when the signal comes.
    let src_proxy = FaultProxy::start(
        &r.staging,
        vec![
            Rule::new(
                "sha256:715fea9229f2",
                Fault::Stall {
                    after_bytes: 1000,
                    duration: Duration::from_secs(3),
                },
            )
            .method(Method::GET),
        ],
    )
    .await;
    let repo = unique("sigterm");
    let child = bin()
        .args([
            "copy",
            &format!("{}/app/small:1.0", src_proxy.addr()),
            &format!("{}/{repo}:1.0", r.production),
            "--concurrency",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t = Instant::now();
    unsafe_kill(child.id(), 15);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGTERM"),
        "{}",
        text(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()),
        None
    );
    // Blobs that were not started were not started: fewer than all 4 source blob GETs happened.
    assert!(
        src_proxy.count("GET", "/blobs/") < 4,
        "{:?}",
        src_proxy.requests()
    );
}

fn unsafe_kill(pid: u32, signal: i32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_promotions_at_once_both_succeed_and_agree() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let repo = unique("concurrent");
    let src = format!("{}/app/multi:1.0", r.staging);
    let dst = format!("{}/{repo}:1.0", r.production);
    let a = run(s(&["copy", &src, &dst, "--json"]));
    let b = run(s(&["copy", &src, &dst, "--json"]));
    let (a, b) = tokio::join!(a, b);
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", text(out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["destination_digest"], MULTI);
    }
    assert_eq!(skopeo_digest(&dst, &plain()).as_deref(), Some(MULTI));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_tags_are_immutable_unless_allowed_and_previous_digest_is_recorded() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let repo = unique("tags");
    let small = format!("{}/app/small:1.0", r.staging);
    let multi = format!("{}/app/multi:1.0", r.staging);
    let dst = format!("{}/{repo}:1.2.3", r.production);
    let out = run(s(&["copy", &small, &dst, "--tags", "prod"])).await;
    assert!(out.status.success(), "{}", text(&out));

    // Moving the version tag is refused before a byte moves; the tag keeps its digest.
    let out = run(s(&["copy", &multi, &dst, "--json"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("version tags are immutable"),
        "{}",
        text(&out)
    );
    assert_eq!(skopeo_digest(&dst, &plain()).as_deref(), Some(SMALL));

    // `prod` may move; its previous digest is recorded.
    let out = run(s(&[
        "copy",
        &multi,
        &format!("{}/{repo}:prod", r.production),
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tags"][0]["previous"], SMALL, "{report}");
    assert_eq!(report["tags"][0]["written"], true);

    // With --allow-tag-move the version tag moves too.
    let out = run(s(&["copy", &multi, &dst, "--allow-tag-move", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(skopeo_digest(&dst, &plain()).as_deref(), Some(MULTI));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_that_stops_working_mid_copy_is_renewed() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let tr = TokenRegistry::start_default().await;
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("reauth"));
    let args = s(&[
        "copy",
        &format!("{}/app/many:1.0", r.staging),
        &dst,
        "--dest-creds",
        "alice:alice-secret",
        "--concurrency",
        "2",
        "--retry-base-delay",
        "100ms",
        "--json",
    ]);
    let copy = tokio::spawn(run(args));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // New signing key: every token issued so far is rejected (401 invalid_token).
    tr.rotate_signing_key().await;
    let out = copy.await.unwrap();
    assert!(
        out.status.success(),
        "{}\nregistry log tail: {}",
        text(&out),
        tr.log()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["destination_digest"], MANY);
    assert!(
        tr.tokens_issued() >= 2,
        "a new token was fetched: {:?}",
        tr.token_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_monolithic_upload_falls_back_to_chunked() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dst_proxy = FaultProxy::start(
        &r.production,
        vec![
            Rule::new(
                "/blobs/uploads/",
                Fault::oci_error(405, "UNSUPPORTED", "monolithic uploads are not supported"),
            )
            .method(Method::PUT),
        ],
    )
    .await;
    let repo = unique("chunked");
    let out = run(s(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &format!("{}/{repo}:1.0", dst_proxy.addr()),
        "--concurrency",
        "1",
        "--retry-base-delay",
        "10ms",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        dst_proxy.count("PATCH", "/blobs/uploads/") >= 3,
        "{:?}",
        dst_proxy.requests()
    );
    assert_eq!(
        skopeo_digest(&format!("{}/{repo}:1.0", r.production), &plain()).as_deref(),
        Some(SMALL)
    );
}
