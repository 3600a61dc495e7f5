//! Snapshot tests (insta) of what users read: `--help` of every command, the rendered error and
//! hint of typical input errors, and the step summary, audit JSON and errors log of a fixed
//! in-memory promotion record (built without a registry). Timestamps, the promotion id, elapsed
//! milliseconds and the tool version are filtered; everything else must match the committed
//! `tests/snapshots/*.snap` byte for byte. A changed or missing snapshot fails the test (CI runs
//! with `CI=true`, where insta never writes snapshots; elsewhere it leaves a `.snap.new` to review
//! with `cargo insta review` and still fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use image_promote::checks::{CheckResult, CheckStatus};
use image_promote::copy::{CarryStatus, ReferrerKind, ReferrerPath, ReferrerRecord};
use image_promote::digest::Digest;
use image_promote::error::{Error, Severity};
use image_promote::report::record::{
    Approval, Check, Condition, ConditionStatus, CopySummary, Image, Layer, Override,
    PlatformImage, Request, Workflow,
};
use image_promote::report::{Promotion, State, Status, audit, errors, summary};
use image_promote::tags::TagRecord;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_image-promote"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config");
    for (k, _) in std::env::vars() {
        if k.starts_with("IMAGE_PROMOTE_") || k.starts_with("INPUT_") || k.starts_with("GITHUB_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Filters for what changes from run to run (or release to release) and nothing else.
fn filters() -> Vec<(String, String)> {
    [
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]"),
        (r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[promotion-id]"),
        (r#""elapsed_ms": \d+"#, r#""elapsed_ms": "[ms]""#),
        (r"`([a-z-]+)` \+\d+ ms", "`$1` +[ms] ms"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .chain([(
        format!(
            r#""version": "{}""#,
            env!("CARGO_PKG_VERSION").replace('.', r"\.")
        ),
        r#""version": "[version]""#.to_owned(),
    )])
    .collect()
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        for (regex, replacement) in filters() {
            settings.add_filter(&regex, replacement);
        }
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

#[test]
fn help_of_every_command() {
    for sub in [None, Some("copy"), Some("check"), Some("promote")] {
        let mut args: Vec<&str> = sub.into_iter().collect();
        args.push("--help");
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        snapshot!(format!("help-{}", sub.unwrap_or("image-promote")), stdout);
    }
}

#[test]
fn typical_input_errors_with_their_hints() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "error-bad-reference",
            &["check", "Staging.Example/App:1.0!"],
        ),
        (
            "error-bad-digest",
            &[
                "check",
                "r.example/app:1",
                "--expected-digest",
                "sha256:abc",
            ],
        ),
        (
            "error-not-a-policy",
            &[
                "check",
                "r.example/app:1",
                "--policy",
                "tests/data/policies/not-a-policy.yaml",
            ],
        ),
        (
            "error-bad-size-in-policy",
            &[
                "check",
                "r.example/app:1",
                "--policy",
                "tests/data/policies/bad-size.yaml",
            ],
        ),
        (
            "error-bad-size-flag",
            &[
                "promote",
                "r.example/a:1",
                "r.example/b:1",
                "--max-size",
                "2G",
            ],
        ),
        (
            "error-force-reason-without-force",
            &[
                "promote",
                "r.example/a:1",
                "r.example/b:1",
                "--force-reason",
                "INC-1",
            ],
        ),
    ];
    let audit_dir = tempfile::tempdir().unwrap();
    for (name, args) in cases {
        let mut args = args.to_vec();
        if args[0] == "promote" {
            // `promote` records even a refused input; keep that out of the working tree.
            args.extend(["--audit-dir", audit_dir.path().to_str().unwrap()]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{name}: {stderr}");
        if args[0] == "check" {
            assert_eq!(stdout.trim(), "", "{name}");
        }
        snapshot!(name, format!("exit {code}\n{stderr}"));
    }
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// A forced promotion of a two-platform index: conditions, checks (one overridden, one warning),
/// the gate, the copy with a moved and a new tag, and one non-fatal error.
fn record() -> Promotion {
    let env = |k: &str| -> Option<String> {
        match k {
            "GITHUB_ACTIONS" => Some("true".into()),
            "GITHUB_RUN_ID" => Some("4242".into()),
            "GITHUB_RUN_ATTEMPT" => Some("2".into()),
            "GITHUB_REPOSITORY" => Some("acme/app".into()),
            "GITHUB_SERVER_URL" => Some("https://github.com".into()),
            "GITHUB_SHA" => Some("0123456789abcdef0123456789abcdef01234567".into()),
            "GITHUB_ACTOR" => Some("octocat".into()),
            "GITHUB_WORKFLOW" => Some("release".into()),
            _ => None,
        }
    };
    let started = std::time::Instant::now();
    let mut p = Promotion::new(
        Request {
            source: "staging.example/acme/app:1.2.3".into(),
            destination: "prod.example/acme/app:1.2.3".into(),
            tags: vec!["1.2.3".into(), "stable".into()],
            expected_digest: Some(digest(1)),
            policy: Some("policy.yaml".into()),
            scan_report: Some("trivy.json".into()),
            force: true,
            force_reason: Some("INC-42: label added in the next build".into()),
            dry_run: false,
            concurrency: 8,
            retry_attempts: 5,
            retry_max_delay: "30s".into(),
            insecure_registries: vec![],
        },
        Workflow::from_env(&env),
        Approval {
            environment: Some("production".into()),
            approvers: vec![],
            ..Approval::default()
        },
    );
    p.enter(State::ValidatingConditions, started);
    p.conditions = ["source-pull", "destination-push"]
        .iter()
        .map(|id| Condition {
            id: (*id).into(),
            status: ConditionStatus::Passed,
            message: "allowed".into(),
            duration_ms: 3,
        })
        .collect();
    p.enter(State::ValidationRunning, started);
    let layer = |n: u8, size: u64| Layer {
        digest: digest(n),
        size,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
    };
    p.image = Some(Image {
        source_digest: digest(1),
        destination_digest: Some(digest(1)),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        platforms: vec![
            PlatformImage {
                platform: Some("linux/amd64".into()),
                digest: digest(2),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                config: digest(4),
                layers: vec![layer(6, 31_457_280), layer(7, 1_048_576)],
                size: 32_506_880,
            },
            PlatformImage {
                platform: Some("linux/arm64/v8".into()),
                digest: digest(3),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                config: digest(5),
                layers: vec![layer(8, 29_360_128), layer(7, 1_048_576)],
                size: 30_408_704,
            },
        ],
        manifests: 3,
        blobs: 5,
        total_bytes: 61_868_032,
        foreign_layers: vec![],
    });
    let mut results = vec![
        CheckResult::new("exists", CheckStatus::Pass, Severity::Critical, "resolved"),
        CheckResult::new(
            "size",
            CheckStatus::Pass,
            Severity::High,
            "31.0 MiB of at most 2.0 GiB",
        ),
        CheckResult::new(
            "labels",
            CheckStatus::Fail,
            Severity::High,
            "missing label org.opencontainers.image.source",
        ),
        CheckResult::new(
            "scan",
            CheckStatus::Warn,
            Severity::Medium,
            "3 MEDIUM findings (allowed: any)",
        ),
    ];
    results[1].platform = Some("linux/amd64".into());
    let gate =
        image_promote::gate::gate(&mut results, Some("INC-42: label added in the next build"));
    p.checks = results.iter().map(Check::from).collect();
    p.overrides = results
        .iter()
        .filter(|r| r.overridden)
        .map(|r| Override {
            check: r.id.clone(),
            platform: r.platform.clone(),
            severity: r.severity,
            message: r.message.clone(),
            reason: r.override_reason.clone().unwrap_or_default(),
        })
        .collect();
    p.forced = true;
    p.gate = Some(gate);
    p.enter(State::ValidationFailed, started);
    p.enter(State::Forced, started);
    p.enter(State::PromotionRunning, started);
    p.record_error(
        &Error::network("GET staging.example/v2/acme/app/blobs/sha256:0606…: connection reset")
            .severity(Severity::Low)
            .hint("retried; no action needed"),
    );
    p.copy = Some(CopySummary {
        blobs_copied: 3,
        blobs_mounted: 1,
        blobs_skipped: 1,
        blobs_would_transfer: 0,
        bytes_copied: 60_817_408,
        manifests_pushed: 3,
        tags: vec![
            TagRecord {
                reference: "prod.example/acme/app:1.2.3".into(),
                previous: None,
                written: true,
            },
            TagRecord {
                reference: "prod.example/acme/app:stable".into(),
                previous: Some(Digest::parse(&digest(9)).unwrap()),
                written: true,
            },
        ],
        referrers: vec![
            ReferrerRecord {
                kind: ReferrerKind::CosignSig,
                artifact_type: Some("application/vnd.dev.cosign.simplesigning.v1+json".into()),
                digest: digest(5),
                subject: digest(1),
                depth: 1,
                source_path: ReferrerPath::Tag,
                path: ReferrerPath::Tag,
                status: CarryStatus::Carried,
                reason: None,
            },
            ReferrerRecord {
                kind: ReferrerKind::Referrer,
                artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".into()),
                digest: digest(6),
                subject: digest(1),
                depth: 1,
                source_path: ReferrerPath::Api,
                path: ReferrerPath::FallbackTag,
                status: CarryStatus::Carried,
                reason: None,
            },
        ],
        no_op: false,
        requests_source: 14,
        requests_destination: 19,
        retries: 1,
        passes: 1,
    });
    p.promoted = vec![
        format!("prod.example/acme/app:1.2.3@{}", digest(1)),
        format!("prod.example/acme/app:stable@{}", digest(1)),
    ];
    p.enter(State::PromotionSucceeded, started);
    p.enter(State::GeneratingReports, started);
    p.enter(State::Completed, started);
    p.status = Status::Promoted;
    p.timings.total_ms = Some(1234);
    p.count_warnings();
    p.finished_at = Some(p.started_at.clone());
    p
}

#[test]
fn step_summary_of_a_forced_promotion() {
    snapshot!("summary-forced-promotion", summary::render(&record()));
}

#[test]
fn audit_json_of_a_forced_promotion() {
    let record = record();
    let json = audit::to_json(&record).unwrap();
    // What is snapshotted is also what the committed schema accepts.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/audit.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&value),
        "{:?}",
        validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    snapshot!("audit-forced-promotion", json);
    snapshot!(
        "errors-log-forced-promotion",
        errors::render(&record).unwrap()
    );
}
