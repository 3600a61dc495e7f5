//! Integration tests of `image-promote copy` against real distribution registries: digests are
//! identical to the source (checked with skopeo), skopeo reads the destination back, corrupt
//! sources are refused without a tag, re-runs are no-ops, dry runs write nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::harness::{
    plain, promote, registries, skopeo_digest, skopeo_reads_back, text, unique,
};

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const MULTI: &str = "sha256:f4bde69193791bb9b12817907ecaa4613f0c5400ea04135655c76f6a99694d3b";
const MANY: &str = "sha256:398d22ec3018c1bdc67ef5ac5dfcd232b8d8010b658d1d56adfeabe38a7a8faa";
const DOCKER: &str = "sha256:22d0869eed7a56ec232b28233226d62232ca8e342147de7132300f21a947d341";
const NESTED: &str = "sha256:e9d42961c5852258c8eefb67b79a18e87454f5bc1c278a8456702ffd760ad777";
const ARTIFACT: &str = "sha256:5b4afae65e5cdbb0e5d5a89089f80e2ddacb775b57eb29622b00b6c9662f3b3c";
const ZSTD: &str = "sha256:58235c6b42efb0022123c4f93aeb3244c094bb0a2a992b0798979c94baa69751";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// Copies `app/<name>` staging → production (cross-registry), then production → production
/// (another repository: mounts), checking digests with skopeo and that skopeo reads both back.
fn round_trip(name: &str, expected: &str, check_skopeo_copy: bool) {
    let r = registries();
    let src = format!("{}/app/{name}", r.staging);
    assert_eq!(
        skopeo_digest(&src, &plain()).as_deref(),
        Some(expected),
        "fixture {src}"
    );
    let base = name.split(':').next().unwrap();
    let dst = format!("{}/{}:1.0", r.production, unique(base));
    let out = promote(&["copy", &src, &dst, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["source_digest"], expected);
    assert_eq!(report["destination_digest"], expected);
    assert_eq!(
        skopeo_digest(&dst, &plain()).as_deref(),
        Some(expected),
        "destination digest"
    );
    if check_skopeo_copy {
        assert!(skopeo_reads_back(&dst, &["--src-tls-verify=false"]));
    }

    // Same registry, other repository: every blob is mounted, none streamed.
    let dst2 = format!("{}/{}:1.0", r.production, unique(&format!("{base}-mount")));
    let out = promote(&["copy", &dst, &dst2, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["blobs"]["copied"], 0, "{report}");
    assert!(report["blobs"]["mounted"].as_u64().unwrap() > 0);
    assert_eq!(skopeo_digest(&dst2, &plain()).as_deref(), Some(expected));
}

#[test]
fn small_oci_image() {
    round_trip("small:1.0", SMALL, true);
}

#[test]
fn docker_v2s2_image() {
    round_trip("docker:1.0", DOCKER, true);
}

#[test]
fn two_platform_index() {
    round_trip("multi:1.0", MULTI, true);
}

#[test]
fn two_hundred_layers() {
    round_trip("many:1.0", MANY, true);
}

#[test]
fn nested_index_artifact_and_zstd_are_verbatim() {
    round_trip("nested:1.0", NESTED, false);
    round_trip("artifact:1.0", ARTIFACT, false);
    round_trip("zstd:1.0", ZSTD, true);
}

#[test]
fn corrupt_source_blob_is_refused_and_no_tag_is_written() {
    let r = registries();
    let dst = format!("{}/{}:1.0", r.production, unique("corrupt"));
    let out = promote(&["copy", &format!("{}/app/corrupt:1.0", r.staging), &dst]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[VALIDATION]") && stderr.contains("wrong content"),
        "{stderr}"
    );
    assert_eq!(
        skopeo_digest(&dst, &plain()),
        None,
        "the tag must not exist"
    );
}

#[test]
fn missing_source_blob_fails_without_tag() {
    let r = registries();
    let dst = format!("{}/{}:1.0", r.production, unique("missing"));
    let out = promote(&[
        "copy",
        &format!("{}/app/corrupt:missing-blob", r.staging),
        &dst,
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BLOB_UNKNOWN"),
        "{}",
        text(&out)
    );
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}

#[test]
fn rerun_is_a_verified_no_op_and_extra_tags_are_written_last() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let repo = unique("rerun");
    let dst = format!("{}/{repo}:1.0", r.production);
    let out = promote(&[
        "copy",
        &src,
        &dst,
        "--tags",
        "prod,stable",
        "--tag",
        "v1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for tag in ["1.0", "prod", "stable", "v1"] {
        assert_eq!(
            skopeo_digest(&format!("{}/{repo}:{tag}", r.production), &plain()).as_deref(),
            Some(SMALL),
            "{tag}"
        );
    }
    let out = promote(&[
        "copy",
        &src,
        &dst,
        "--tags",
        "prod,stable",
        "--tag",
        "v1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["no_op"], true, "{report}");
    assert_eq!(report["blobs"]["skipped"], 4);
    assert_eq!(report["destination_digest"], SMALL);
}

#[test]
fn dry_run_writes_nothing() {
    let r = registries();
    let dst = format!("{}/{}:1.0", r.production, unique("dry"));
    let out = promote(&[
        "copy",
        &format!("{}/app/multi:1.0", r.staging),
        &dst,
        "--dry-run",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["destination_digest"], serde_json::Value::Null);
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}

#[test]
fn pinned_digest_source_and_mismatch() {
    let r = registries();
    let dst = format!("{}/{}:1.0", r.production, unique("pinned"));
    let out = promote(&["copy", &format!("{}/app/small@{SMALL}", r.staging), &dst]);
    assert!(out.status.success(), "{}", text(&out));
    // A tag pinned to a digest it does not carry: refused, nothing written.
    let dst = format!("{}/{}:1.0", r.production, unique("pinned-bad"));
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0@{MULTI}", r.staging),
        &dst,
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}

#[test]
fn secure_registry_with_ca_and_basic_auth() {
    let r = registries();
    let dst = format!("{}/{}:1.0", r.secure, unique("secure"));
    let ca = r.secure_cacert.to_str().unwrap();
    let creds = format!("{}:{}", r.secure_user, r.secure_password);
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        "--ca-cert",
        ca,
        "--dest-creds",
        &creds,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let cert_dir = support::harness::harness_cert_dir();
    let extra = [format!("--cert-dir={cert_dir}"), format!("--creds={creds}")];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    assert_eq!(skopeo_digest(&dst, &extra).as_deref(), Some(SMALL));

    // Without the CA: a certificate error, never downgraded to plain HTTP (even on loopback).
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        "--dest-creds",
        &creds,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        text(&out)
    );

    // Wrong password: AUTHENTICATION, exit 5, and the password never printed.
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        "--ca-cert",
        ca,
        "--dest-creds",
        "harness:wrong-Pa55word-xyz",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("[AUTHENTICATION]"), "{all}");
    assert!(!all.contains("wrong-Pa55word-xyz"), "{all}");

    // The CA given as PEM text works too; so does insecure-registries without it.
    let pem = std::fs::read_to_string(ca).unwrap();
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        "--ca-cert",
        &pem,
        "--dest-creds",
        &creds,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = promote(&[
        "copy",
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        "--insecure-registries",
        &r.secure,
        "--dest-creds",
        &creds,
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn malformed_references_exit_2() {
    for (src, dst) in [
        ("Bad/Ref", "127.0.0.1:5101/x"),
        ("127.0.0.1:5100/app/small:1.0", "127.0.0.1:5101/x:bad tag"),
    ] {
        let out = promote(&["copy", src, dst]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid image reference"),
            "{}",
            text(&out)
        );
    }
}

/// The destination's requests, counted by a proxy: a fresh copy HEADs the top manifest by digest
/// once (sent with the blobs), a re-run not at all (the tag plan's HEAD named it); each tag is
/// HEADed by the plan, re-checked before it is written and read back after; a tag already at the
/// digest (a re-run) is HEADed by the plan only; the top manifest is read back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_requests_of_a_fresh_copy_and_of_a_rerun() {
    use support::proxy::FaultProxy;
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dst = FaultProxy::start(&r.production, vec![]).await;
    let src = format!("{}/app/small:1.0", r.staging);
    let dst_ref = format!("{}/{}:1.0", dst.addr(), unique("requests"));
    let copy = || {
        let (src, dst_ref) = (src.clone(), dst_ref.clone());
        tokio::task::spawn_blocking(move || promote(&["copy", &src, &dst_ref, "--json"]))
    };
    let out = copy().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["blobs"]["copied"], 4);
    assert_eq!(dst.count("HEAD", "/manifests/sha256:"), 1);
    assert_eq!(dst.count("HEAD", "/manifests/1.0"), 3);
    assert_eq!(dst.count("GET", "/manifests/"), 1);
    assert_eq!(dst.count("PUT", "/manifests/"), 2);
    dst.clear_requests();
    let out = copy().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["no_op"], true, "{report}");
    assert_eq!(dst.count("HEAD", "/manifests/sha256:"), 0);
    assert_eq!(dst.count("HEAD", "/manifests/1.0"), 1);
    assert_eq!(dst.count("GET", "/manifests/"), 1);
    assert_eq!(dst.count("HEAD", "/blobs/"), 4);
    assert_eq!(dst.count("PUT", "/"), 0);

    // An index: each child manifest HEADed once and pushed once, the index last.
    dst.clear_requests();
    let (src, dst_ref) = (
        format!("{}/app/multi:1.0", r.staging),
        format!("{}/{}:1.0", dst.addr(), unique("requests-index")),
    );
    let out = tokio::task::spawn_blocking(move || promote(&["copy", &src, &dst_ref, "--json"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["manifests_pushed"], 3);
    assert_eq!(dst.count("HEAD", "/manifests/sha256:"), 3);
    assert_eq!(dst.count("PUT", "/manifests/sha256:"), 3);
    let puts: Vec<String> = dst
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path_and_query.contains("/manifests/sha256:"))
        .map(|q| q.path_and_query)
        .collect();
    assert!(
        puts.last().is_some_and(|p| p.ends_with(MULTI)),
        "the index is pushed last: {puts:?}"
    );
}

/// A re-run of the 200-layer image probes the destination's blobs up front, beyond
/// `--concurrency` (which bounds transfers): each blob HEADed once, nothing written, and the
/// proxy in front of the destination sees more connections at once than `--concurrency 2` (and
/// the old 8) would ever open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_probes_the_destination_blobs_at_once() {
    use support::proxy::FaultProxy;
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let repo = unique("probe-many");
    let src = format!("{}/app/many:1.0", r.staging);
    let direct = format!("{}/{repo}:1.0", r.production);
    let first = {
        let src = src.clone();
        tokio::task::spawn_blocking(move || promote(&["copy", &src, &direct, "--json"]))
    };
    let out = first.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let blobs = json(&out)["blobs"]["copied"].as_u64().unwrap();
    assert!(blobs > 200, "{}", json(&out));
    let dst = FaultProxy::start(&r.production, vec![]).await;
    let via_proxy = format!("{}/{repo}:1.0", dst.addr());
    let out = tokio::task::spawn_blocking(move || {
        promote(&["copy", &src, &via_proxy, "--json", "--concurrency", "2"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["no_op"], true, "{report}");
    assert_eq!(report["blobs"]["skipped"].as_u64(), Some(blobs), "{report}");
    assert_eq!(
        dst.count("HEAD", "/blobs/"),
        usize::try_from(blobs).unwrap()
    );
    assert_eq!(dst.count("POST", "/"), 0);
    assert_eq!(dst.count("PUT", "/"), 0);
    assert!(
        dst.connections() > 8,
        "the probe should run up to 32 HEADs at once: {} connections",
        dst.connections()
    );
}
