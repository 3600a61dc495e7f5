//! Integration tests of `image-promote check` against the real registries of the harness: each
//! fixture fails exactly one check (named, VALIDATION, with its severity; exit 3), the clean image
//! passes all; scan gating on the real reports in `tests/data/scan-reports` (counts are the
//! README's figures, written here); policy parsing, precedence and force.

// Panicking on an unexpected result is how these tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image_promote::policy::Policy;
use rstest::rstest;
use serde_json::Value;
use support::harness::{bin, project_root, registries, text};

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const SMALL_HEX: &str = "8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const MULTI_AMD64_CHILD: &str =
    "sha256:ba2db0bed6fbd59e21943d760bc695243d3d0084ab1b3d600d2e92ec3f5e531a";

fn image(name: &str) -> String {
    format!("{}/app/{name}", registries().staging)
}

/// Runs `image-promote check … --json` with extra environment; returns the exit code and the JSON.
fn check_env(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, Output) {
    let mut cmd = bin();
    cmd.arg("check").args(args).arg("--json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run image-promote");
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json, out)
}

fn check(args: &[&str]) -> (i32, Value, Output) {
    check_env(args, &[])
}

fn results<'a>(json: &'a Value, id: &str) -> Vec<&'a Value> {
    json["results"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["id"] == id).collect())
        .unwrap_or_default()
}

/// The ids of the failed results, each once.
fn failed_ids(json: &Value) -> Vec<String> {
    let mut ids: Vec<String> = json["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.dedup();
    ids
}

/// Asserts the run refused (exit 3) because of exactly check `id`, with VALIDATION and
/// `severity`; returns the failed results of that check.
fn assert_refused_by<'a>(
    code: i32,
    json: &'a Value,
    out: &Output,
    id: &str,
    severity: &str,
) -> Vec<&'a Value> {
    assert_eq!(code, 3, "{}", text(out));
    assert_eq!(failed_ids(json), vec![id.to_owned()], "{json:#}");
    assert_eq!(json["decision"], "refuse");
    assert_eq!(json["refusals"], serde_json::json!([id]));
    let failed: Vec<&Value> = results(json, id)
        .into_iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    for r in &failed {
        assert_eq!(r["category"], "VALIDATION", "{r:#}");
        assert_eq!(r["severity"], severity, "{r:#}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[VALIDATION]") && stderr.contains(id),
        "{stderr}"
    );
    failed
}

fn message(r: &Value) -> String {
    r["message"].as_str().unwrap_or_default().to_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

// ---------------------------------------------------------------------------------------------
// Fixtures: the clean image passes, each other fails exactly one check.

#[test]
fn clean_image_passes_every_check() {
    let (code, json, out) = check(&[&image("small:1.0")]);
    assert_eq!(code, 0, "{}", text(&out));
    assert_eq!(json["decision"], "promote");
    assert_eq!(json["digest"], SMALL);
    for r in json["results"].as_array().unwrap() {
        if r["id"] == "scan" {
            assert_eq!(r["status"], "skipped", "no report: skipped, visibly");
            assert!(message(r).contains("no scan report"), "{r}");
        } else if r["id"] == "signature" {
            assert_eq!(r["status"], "skipped", "no key: skipped, visibly");
            assert!(message(r).contains("no verification key given"), "{r}");
        } else {
            assert_eq!(r["status"], "pass", "{r:#}");
        }
    }
    let ids: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "exists",
            "size",
            "platform",
            "layers",
            "metadata",
            "labels",
            "entrypoint",
            "scan",
            "signature"
        ]
    );
    // The table shows the same.
    let out = bin().args(["check", &image("small:1.0")]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(table.contains("✅ entrypoint"), "{table}");
    assert!(table.contains("⏭ scan"), "{table}");
    assert!(table.contains("⏭ signature"), "{table}");
    assert!(table.contains("decision: promote"), "{table}");
}

/// Pushes app/small with its config's `Labels` removed (everything else identical; the manifest
/// keeps its `created` annotation) into a fresh staging repository; returns the reference.
fn push_small_without_labels() -> String {
    let reg = registries().staging.clone();
    let repo = support::harness::unique("nolabels-only");
    let curl = |args: &[&str]| -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-fsS", "--retry", "2"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {args:?}: {}", text(&out));
        out.stdout
    };
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json";
    let manifest: Value = serde_json::from_slice(&curl(&[
        "-H",
        accept,
        &format!("http://{reg}/v2/app/small/manifests/1.0"),
    ]))
    .unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let mut config: Value = serde_json::from_slice(&curl(&[&format!(
        "http://{reg}/v2/app/small/blobs/{config_digest}"
    )]))
    .unwrap();
    config["config"].as_object_mut().unwrap().remove("Labels");
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let new_config = support::oci::sha256_digest(&config_bytes);
    for layer in manifest["layers"].as_array().unwrap() {
        let d = layer["digest"].as_str().unwrap();
        curl(&[
            "-X",
            "POST",
            "-o",
            "/dev/null",
            &format!("http://{reg}/v2/{repo}/blobs/uploads/?mount={d}&from=app/small"),
        ]);
    }
    // Monolithic upload of the new config: POST, then PUT ?digest= to the Location.
    let out = Command::new("curl")
        .args(["-fsS", "-X", "POST", "-D", "-", "-o", "/dev/null"])
        .arg(format!("http://{reg}/v2/{repo}/blobs/uploads/"))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_string();
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .unwrap()
        .trim()
        .to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{reg}{location}")
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, &config_bytes).unwrap();
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", config_file.display()),
        "-o",
        "/dev/null",
        &format!("{location}{sep}digest={new_config}"),
    ]);
    let mut new_manifest = manifest.clone();
    new_manifest["config"]["digest"] = Value::String(new_config);
    new_manifest["config"]["size"] = Value::from(config_bytes.len());
    let manifest_file = dir.path().join("manifest.json");
    std::fs::write(&manifest_file, serde_json::to_vec(&new_manifest).unwrap()).unwrap();
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.manifest.v1+json",
        "--data-binary",
        &format!("@{}", manifest_file.display()),
        "-o",
        "/dev/null",
        &format!("http://{reg}/v2/{repo}/manifests/1.0"),
    ]);
    format!("{reg}/{repo}:1.0")
}

#[test]
fn missing_labels_fail_labels_only() {
    let reference = push_small_without_labels();
    let (code, json, out) = check(&[&reference]);
    let failed = assert_refused_by(code, &json, &out, "labels", "HIGH");
    let m = message(failed[0]);
    assert!(
        m.contains("org.opencontainers.image.source")
            && m.contains("org.opencontainers.image.revision")
            && m.contains("org.opencontainers.image.version"),
        "{m}"
    );
    // `created` is not in the config any more, but the manifest annotation supplies it.
    assert!(!m.contains("image.created"), "{m}");
    assert!(m.contains("manifest annotations"), "{m}");
    assert_eq!(
        failed[0]["details"]["sources"]["org.opencontainers.image.created"],
        "manifest-annotations"
    );

    // The harness's app/nolabels also lacks ENTRYPOINT/CMD and User; with that rule off, only
    // the labels fail.
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.yaml", "entrypoint:\n  enabled: false\n");
    let (code, json, out) = check(&[&image("nolabels:1.0"), "--policy", policy.to_str().unwrap()]);
    assert_refused_by(code, &json, &out, "labels", "HIGH");
    assert_eq!(results(&json, "entrypoint")[0]["status"], "skipped");
}

#[test]
fn no_entrypoint_fails_entrypoint_only() {
    let (code, json, out) = check(&[&image("noentry:1.0")]);
    let failed = assert_refused_by(code, &json, &out, "entrypoint", "HIGH");
    assert!(message(failed[0]).contains("no ENTRYPOINT and no CMD"));
}

#[rstest]
#[case("root:1.0", "User is not set")]
#[case("root:explicit", "User is `root`")]
fn root_user_fails_entrypoint_only(#[case] fixture: &str, #[case] needle: &str) {
    let (code, json, out) = check(&[&image(fixture)]);
    let failed = assert_refused_by(code, &json, &out, "entrypoint", "HIGH");
    assert!(
        message(failed[0]).contains(needle),
        "{}",
        message(failed[0])
    );
    assert_eq!(failed[0]["details"]["root"], true);
}

#[test]
fn wrong_architecture_fails_platform_only() {
    // The default policy allows linux/amd64 and linux/arm64.
    let (code, json, out) = check(&[&image("wrongarch:1.0")]);
    let failed = assert_refused_by(code, &json, &out, "platform", "HIGH");
    assert!(
        message(failed[0]).contains("linux/s390x is not an allowed platform"),
        "{}",
        message(failed[0])
    );
    // Requiring linux/amd64 of it fails the same check.
    let (code, json, out) = check(&[&image("wrongarch:1.0"), "--platforms", "linux/amd64"]);
    let failed = assert_refused_by(code, &json, &out, "platform", "HIGH");
    assert!(
        failed
            .iter()
            .any(|r| message(r).contains("required platform(s) missing: linux/amd64")),
        "{json:#}"
    );
}

#[test]
fn oversized_fails_size_with_a_policy_limit() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.yaml", "size:\n  max-size: 2MiB\n");
    let (code, json, out) = check(&[
        &image("oversized:1.0"),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let failed = assert_refused_by(code, &json, &out, "size", "HIGH");
    let m = message(failed[0]);
    assert!(m.contains("over max-size 2.00 MiB (2097152 bytes)"), "{m}");
    assert_eq!(failed[0]["details"]["max_size"], 2_097_152);
    // 3,302,483 bytes stored (harness README): config + 4 layers + the manifest.
    assert_eq!(failed[0]["details"]["total"], 3_302_483);
    // The default limits (2 GiB, 1 GiB per layer) pass it.
    let (code, _, out) = check(&[&image("oversized:1.0")]);
    assert_eq!(code, 0, "{}", text(&out));
}

#[test]
fn size_limit_precedence_is_flag_then_env_then_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "p.yaml", "size:\n  max-size: 2MiB\n");
    let p = policy.to_str().unwrap();
    let o = image("oversized:1.0");
    // file 2MiB < env 4MiB → pass
    let (code, _, out) = check_env(&[&o, "--policy", p], &[("IMAGE_PROMOTE_MAX_SIZE", "4MiB")]);
    assert_eq!(code, 0, "{}", text(&out));
    // env 4MiB < flag 2MB → fail
    let (code, json, out) = check_env(
        &[&o, "--policy", p, "--max-size", "2MB"],
        &[("IMAGE_PROMOTE_MAX_SIZE", "4MiB")],
    );
    assert_refused_by(code, &json, &out, "size", "HIGH");
    // A bare 2G is refused as usage (exit 2).
    let (code, _, out) = check(&[&o, "--max-size", "2G"]);
    assert_eq!(code, 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ambiguous"));
}

#[test]
fn missing_blob_fails_layers_and_cannot_be_forced() {
    let (code, json, out) = check(&[&image("corrupt:missing-blob")]);
    let failed = assert_refused_by(code, &json, &out, "layers", "CRITICAL");
    assert!(message(failed[0]).contains("missing from the registry"));
    assert_eq!(failed[0]["unforceable"], true);
    let (code, json, out) = check(&[
        &image("corrupt:missing-blob"),
        "--force",
        "--force-reason",
        "INC-7 hotfix",
    ]);
    let failed = assert_refused_by(code, &json, &out, "layers", "CRITICAL");
    assert_eq!(failed[0]["overridden"], false);
    assert_eq!(json["overridden"], serde_json::json!([]));
}

#[test]
fn corrupt_blob_fails_layers_with_deep() {
    // HEAD is fine: without --deep nothing fails.
    let (code, json, out) = check(&[&image("corrupt:1.0")]);
    assert_eq!(code, 0, "{}", text(&out));
    assert!(failed_ids(&json).is_empty());
    let (code, json, out) = check(&[&image("corrupt:1.0"), "--deep"]);
    let failed = assert_refused_by(code, &json, &out, "layers", "CRITICAL");
    let m = message(failed[0]);
    assert!(
        m.contains("wrong content") && m.contains("sha256:c13435b5"),
        "{m}"
    );
    assert_eq!(failed[0]["unforceable"], true);
    assert_eq!(failed[0]["details"]["deep"]["blobs"], 1);
}

#[test]
fn index_missing_a_platform_fails_platform_only() {
    let required = "linux/amd64,linux/arm64";
    let (code, json, out) = check(&[&image("multi:amd64-only"), "--platforms", required]);
    let failed = assert_refused_by(code, &json, &out, "platform", "HIGH");
    assert_eq!(failed.len(), 1);
    assert!(
        message(failed[0]).contains("required platform(s) missing: linux/arm64"),
        "{}",
        message(failed[0])
    );
    // linux/arm64 is satisfied by linux/arm64/v8 (containerd normalization); per-platform
    // results name their platform.
    let (code, json, out) = check(&[&image("multi:1.0"), "--platforms", required]);
    assert_eq!(code, 0, "{}", text(&out));
    let platforms: Vec<&str> = results(&json, "entrypoint")
        .iter()
        .map(|r| r["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
}

#[test]
fn expected_digest_mismatch_is_never_forced() {
    let (code, json, out) = check(&[&image("small:1.0"), "--expected-digest", SMALL]);
    assert_eq!(code, 0, "{}", text(&out));
    assert!(message(results(&json, "exists")[0]).contains("expected"));
    let (code, json, out) = check(&[
        &image("small:1.0"),
        "--expected-digest",
        MULTI_AMD64_CHILD,
        "--force",
        "--force-reason",
        "tested elsewhere",
    ]);
    let failed = assert_refused_by(code, &json, &out, "exists", "CRITICAL");
    assert_eq!(failed[0]["unforceable"], true);
    assert_eq!(failed[0]["overridden"], false);
}

#[test]
fn unknown_tag_fails_exists() {
    let (code, json, out) = check(&[&image("small:no-such-tag")]);
    assert_refused_by(code, &json, &out, "exists", "CRITICAL");
    assert!(
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"] != "exists")
            .all(|r| r["status"] == "skipped")
    );
}

// ---------------------------------------------------------------------------------------------
// Force.

#[test]
fn force_overrides_forceable_failures_with_the_reason() {
    let (code, json, out) = check(&[
        &image("noentry:1.0"),
        "--force",
        "--force-reason",
        "INC-42: debug image",
    ]);
    assert_eq!(code, 0, "{}", text(&out));
    assert_eq!(json["decision"], "promote-with-warnings");
    assert_eq!(json["forced"], true);
    assert_eq!(json["force_reason"], "INC-42: debug image");
    assert_eq!(json["overridden"], serde_json::json!(["entrypoint"]));
    let r = results(&json, "entrypoint")[0];
    assert_eq!(r["status"], "fail", "the failure is kept");
    assert_eq!(r["overridden"], true);
    assert_eq!(r["override_reason"], "INC-42: debug image");

    // Force with a forceable and an unforceable failure: only the first is overridden.
    let (code, json, out) = check(&[
        &image("corrupt:missing-blob"),
        "--required-labels",
        "org.example.absent",
        "--force",
        "--force-reason",
        "x",
    ]);
    assert_eq!(code, 3, "{}", text(&out));
    assert_eq!(json["overridden"], serde_json::json!(["labels"]));
    assert_eq!(json["refusals"], serde_json::json!(["layers"]));
}

#[rstest]
#[case(&["--force"], "--force needs --force-reason")]
#[case(&["--force", "--force-reason", "  "], "--force needs --force-reason")]
#[case(&["--force-reason", "why"], "without --force")]
fn force_without_a_reason_is_an_input_error(#[case] extra: &[&str], #[case] needle: &str) {
    let small = image("small:1.0");
    let mut args = vec![small.as_str()];
    args.extend_from_slice(extra);
    let (code, _, out) = check(&args);
    assert_eq!(code, 2, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(needle),
        "{}",
        text(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Scan reports (real files; counts are the figures of their README).

fn reports_dir() -> PathBuf {
    project_root().join("tests/data/scan-reports")
}

/// A copy of a real report in which the image digest it names is replaced by app/small's, so the
/// report belongs to app/small (only those hex characters change).
fn rebound(file: &str, hex: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(reports_dir().join(file)).unwrap();
    assert!(text.contains(hex), "{file} names {hex}");
    write(dir, file, &text.replace(hex, SMALL_HEX))
}

#[rstest]
#[case("trivy-debian13-python-critical.json", "010998df2131babc765129562a7739d871c572bdf35f68aa29afe8123c5ec438", [4, 19, 64, 68, 0, 30])]
#[case("trivy-alpine-gobinary-zero-vulns.json", "83508b68ad4cc406d89f3493f339a6203ddc91160fe04ad6c21f2a4c351ba54e", [0, 0, 0, 0, 0, 0])]
#[case("trivy-alpine-nodejs-unknown-severity.json", "bd7ea74c0ade8689c4ed0ed0c480619fe0352126306b712059233a39ccf8c564", [0, 1, 2, 2, 0, 2])]
#[case("trivy-ubi7-critical-2022.json", "a800eeec8d7d5645d9c8b995b34573aeb51fae7d5ec831271cf3e1efe1cb5fa6", [3, 23, 503, 471, 0, 0])]
#[case("grype-debian8-redis-critical.json", "730b765df9fe96af414da64a2b67f3a5f70b8fd13a31e5096fee4807ed802e20", [3, 70, 167, 77, 90, 0])]
#[case("grype-chainguard-gomodules-critical.json", "ae68dbccf075412cdf1910df6898e0dfc025efd237ac868216e9c37f5773fa22", [2, 18, 10, 3, 0, 0])]
#[case("trivy-debian13-python-critical.sarif", "010998df2131babc765129562a7739d871c572bdf35f68aa29afe8123c5ec438", [4, 20, 63, 68, 0, 30])]
#[case("grype-wolfi-nginx-levels.sarif", "cd8a5d6bb8efc02d296b9aeca072c2034eb5647280d7a52cf5328ece5f4df94a", [15, 42, 17, 4, 0, 78])]
#[case("trivy-alpine-zero-results.sarif", "68a13d7619fbeadb330f5515fdca746679b20c91d1ea3341d6f6c0dec69c35f0", [0, 0, 0, 0, 0, 0])]
fn scan_counts_and_default_thresholds(
    #[case] file: &str,
    #[case] hex: &str,
    #[case] counts: [u64; 6],
) {
    let dir = tempfile::tempdir().unwrap();
    let report = rebound(file, hex, dir.path());
    let (code, json, out) = check(&[
        &image("small:1.0"),
        "--scan-report",
        report.to_str().unwrap(),
    ]);
    let scan = results(&json, "scan")[0].clone();
    let c = &scan["details"]["counts"];
    let got = ["critical", "high", "medium", "low", "negligible", "unknown"]
        .map(|s| c[s].as_u64().unwrap());
    assert_eq!(got, counts, "{file}: C H M L N U");
    assert_eq!(
        scan["details"]["binding"]["matches"], SMALL,
        "{file} is now app/small's"
    );
    // Default thresholds: CRITICAL fails, HIGH and UNKNOWN warn, the rest is logged.
    let [critical, high, _, _, _, unknown] = counts;
    if critical > 0 {
        let failed = assert_refused_by(code, &json, &out, "scan", "CRITICAL");
        assert!(message(failed[0]).contains(&format!("{critical} CRITICAL finding(s)")));
    } else if high > 0 || unknown > 0 {
        assert_eq!(code, 0, "{}", text(&out));
        assert_eq!(scan["status"], "warn");
        assert_eq!(json["decision"], "promote-with-warnings");
    } else {
        assert_eq!(code, 0, "{}", text(&out));
        assert_eq!(scan["status"], "pass", "{scan:#}");
    }
}

#[rstest]
#[case("trivy-debian13-python-critical.json")]
#[case("trivy-alpine-gobinary-zero-vulns.json")]
#[case("grype-chainguard-gomodules-critical.json")]
#[case("trivy-alpine-zero-results.sarif")]
fn report_of_another_image_is_refused(#[case] file: &str) {
    let report = reports_dir().join(file);
    let (code, json, out) = check(&[
        &image("small:1.0"),
        "--scan-report",
        report.to_str().unwrap(),
    ]);
    let failed = assert_refused_by(code, &json, &out, "scan", "CRITICAL");
    assert!(
        message(failed[0]).contains("the report is of another image"),
        "{}",
        message(failed[0])
    );
    assert!(failed[0]["details"]["binding"]["mismatch"].is_object());
}

#[test]
fn report_that_names_no_digest_warns() {
    // The real zero-vulnerability Trivy report without its image identity.
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(reports_dir().join("trivy-alpine-gobinary-zero-vulns.json")).unwrap(),
    )
    .unwrap();
    let meta = v["Metadata"].as_object_mut().unwrap();
    meta.remove("RepoDigests");
    meta.remove("ImageID");
    let dir = tempfile::tempdir().unwrap();
    let report = write(dir.path(), "r.json", &v.to_string());
    let (code, json, out) = check(&[
        &image("small:1.0"),
        "--scan-report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{}", text(&out));
    let scan = results(&json, "scan")[0];
    assert_eq!(scan["status"], "warn");
    assert!(message(scan).contains("names no image digest"), "{scan}");
    assert_eq!(json["decision"], "promote-with-warnings");
}

/// The CRITICAL vulnerability ids of a Trivy report, read with serde_json (not our parser).
fn trivy_critical_ids(file: &str) -> Vec<String> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(reports_dir().join(file)).unwrap()).unwrap();
    let mut ids: Vec<String> = v["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["Severity"] == "CRITICAL")
        .map(|f| f["VulnerabilityID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[rstest]
#[case("2099-12-31", 0, "pass-critical")]
#[case("2020-01-01", 3, "expired")]
fn ignore_list_with_expiry(#[case] expires: &str, #[case] exit: i32, #[case] what: &str) {
    let file = "trivy-debian13-python-critical.json";
    let dir = tempfile::tempdir().unwrap();
    let report = rebound(
        file,
        "010998df2131babc765129562a7739d871c572bdf35f68aa29afe8123c5ec438",
        dir.path(),
    );
    let ids = trivy_critical_ids(file);
    assert!(!ids.is_empty());
    let mut yaml = String::from("scan:\n  ignore:\n");
    for id in &ids {
        yaml.push_str(&format!(
            "    - {{id: {id}, expires: {expires}, reason: not reachable}}\n"
        ));
    }
    let policy = write(dir.path(), "p.yaml", &yaml);
    let (code, json, out) = check(&[
        &image("small:1.0"),
        "--scan-report",
        report.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, exit, "{what}: {}", text(&out));
    let scan = results(&json, "scan")[0];
    if what == "expired" {
        assert_eq!(scan["status"], "fail");
        assert!(message(scan).contains("expired on 2020-01-01"), "{scan}");
        assert_eq!(scan["details"]["counts"]["critical"], 4);
    } else {
        assert_eq!(scan["status"], "warn", "HIGH findings still warn");
        assert_eq!(scan["details"]["counts"]["critical"], 0);
        assert_eq!(scan["details"]["suppressed"]["critical"], 4);
        assert!(message(scan).contains("ignored by the policy's ignore list"));
    }
}

#[rstest]
#[case("truncated", "ends early")]
#[case("log-lines", "expected JSON")]
#[case("unknown-format", "unrecognised JSON")]
fn malformed_report_exits_2_naming_the_file(#[case] kind: &str, #[case] needle: &str) {
    let real =
        std::fs::read_to_string(reports_dir().join("trivy-alpine-nodejs-unknown-severity.json"))
            .unwrap();
    let content = match kind {
        "truncated" => real[..real.len() / 2].to_owned(),
        "log-lines" => format!("2025-03-23T10:00:00Z INFO scanning...\n{real}"),
        _ => r#"{"hello": "world"}"#.to_owned(),
    };
    let dir = tempfile::tempdir().unwrap();
    let report = write(dir.path(), "report.json", &content);
    let (code, _, out) = check(&[
        &image("small:1.0"),
        "--scan-report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("report.json") && stderr.contains(needle),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Policy parsing.

#[rstest]
#[case("size:\n  max-size: 2G\n", "size.max-size", "ambiguous")]
#[case("size:\n  max-sise: 2GiB\n", "size.max-sise", "unknown field")]
#[case("labelz: {}\n", "labelz", "unknown field")]
#[case(
    "exists:\n  severity: urgent\n",
    "exists.severity",
    "critical, high, medium or low"
)]
#[case(
    "platform:\n  required: [linux]\n",
    "platform.required",
    "os/architecture"
)]
#[case(
    "labels:\n  required:\n    - {key: a, pattern: '('}\n",
    "labels.required",
    "not a valid regex"
)]
#[case(
    "scan:\n  thresholds: {critical: maybe}\n",
    "scan.thresholds.critical",
    "fail"
)]
#[case(
    "scan:\n  ignore:\n    - {id: CVE-1, expires: 31/12/2025}\n",
    "scan.ignore[0]",
    "YYYY-MM-DD"
)]
#[case("allow-force: sometimes\n", "allow-force", "boolean")]
#[case("version: 2\n", "version", "expected 1")]
#[case("size: [1, 2]\n", "size", "sequence")]
fn malformed_policy_names_file_and_field(
    #[case] yaml: &str,
    #[case] field: &str,
    #[case] expected: &str,
) {
    let e = Policy::parse(yaml, "team-policy.yaml").unwrap_err();
    assert_eq!(e.kind, image_promote::error::ErrorKind::Input);
    assert!(e.message.contains("team-policy.yaml"), "{}", e.message);
    assert!(
        e.message.contains(&format!("field `{field}")),
        "{field}: {}",
        e.message
    );
    assert!(e.message.contains(expected), "{expected}: {}", e.message);
}

#[rstest]
#[case("size:\n  max-size: 500MB\n  max-layer-size: null\n")]
#[case("platform:\n  required: [linux/amd64, linux/arm64/v8]\n  allowed: []\n")]
#[case(
    "labels:\n  required:\n    - org.opencontainers.image.source\n    - {key: org.opencontainers.image.revision, pattern: '[0-9a-f]{40}'}\n"
)]
#[case(
    "scan:\n  thresholds: {high: fail}\n  ignore:\n    - {id: CVE-2025-1, expires: 2025-12-31, reason: x}\n"
)]
#[case("entrypoint:\n  non-root: false\n  shell-form: fail\n")]
#[case("# only comments\n")]
fn valid_policies_parse(#[case] yaml: &str) {
    Policy::parse(yaml, "p.yaml").unwrap();
}

#[test]
fn bad_policy_file_exits_2_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "bad.yaml", "size:\n  max-size: lots\n");
    let (code, _, out) = check(&[&image("small:1.0"), "--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("size.max-size"),
        "{stderr}"
    );
    let (code, _, out) = check(&[&image("small:1.0"), "--policy", "/nonexistent/p.yaml"]);
    assert_eq!(code, 2, "{}", text(&out));
}

#[test]
fn print_policy_shows_the_effective_policy() {
    let out = bin()
        .args([
            "check",
            "--print-policy",
            "--max-size",
            "3GiB",
            "--platforms",
            "linux/arm64/v8",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout);
    let policy = Policy::parse(&yaml, "printed").unwrap();
    assert_eq!(policy.size.max_size, Some(3 << 30));
    assert_eq!(policy.platform.required.len(), 1);
    assert_eq!(policy.platform.required[0].to_string(), "linux/arm64");
}
