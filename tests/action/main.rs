//! The Action end to end: the built binary run exactly as the runner runs a Docker action
//! (`INPUT_*`, `GITHUB_*`, `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, the workspace as working
//! directory) against the real registries, asserting on outputs, summary, errors log and the
//! audit (validated against `schemas/audit.schema.json`). Also: `action.yml` agrees with clap.

// Helpers outside #[test] fns panic on setup failures on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod faults;
mod github;
mod node;
mod node_http;
mod node_signature;
mod notify;
mod release;
mod rollback;
mod runner;
mod yml;

use std::path::PathBuf;

use runner::{NOLABELS, SMALL, assert_no_secret, run_action, states, validator};
use support::harness::{bin, plain, registries, skopeo_digest, text, unique};

#[test]
fn clean_promotion_sets_outputs_summary_and_a_valid_audit() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let repo = unique("action-clean");
    let dst = format!("{}/{repo}:1.0", r.production);
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("tags", "stable,\nrc"),
        ("expected-digest", SMALL),
        ("environment", "production"),
    ]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("status"), "promoted");
    assert_eq!(run.output("digest"), SMALL);
    assert_eq!(run.output("source-digest"), SMALL);
    // No github-token here: the approval record cannot be read, a warning.
    assert_eq!(run.output("warnings"), "1");
    let promoted: Vec<&str> = run.output("promoted").lines().collect();
    assert_eq!(
        promoted,
        ["1.0", "stable", "rc"]
            .iter()
            .map(|t| format!("{}/{repo}:{t}@{SMALL}", r.production))
            .collect::<Vec<_>>()
    );
    for tag in ["1.0", "stable", "rc"] {
        let reference = format!("{}/{repo}:{tag}", r.production);
        assert_eq!(
            skopeo_digest(&reference, &plain()).as_deref(),
            Some(SMALL),
            "{reference}"
        );
    }

    let audit = run.audit();
    assert_eq!(audit["status"], "promoted");
    assert_eq!(audit["forced"], false);
    assert_eq!(audit["image"]["source_digest"], SMALL);
    assert_eq!(audit["image"]["destination_digest"], SMALL);
    assert_eq!(audit["approval"]["environment"], "production");
    assert_eq!(audit["workflow"]["run_id"], "4242");
    assert_eq!(
        audit["workflow"]["run_url"],
        "https://github.com/acme/app/actions/runs/4242/attempts/1"
    );
    assert_eq!(
        states(&audit),
        [
            "initializing",
            "validating-conditions",
            "validation-running",
            "validation-passed",
            "promotion-running",
            "promotion-succeeded",
            "generating-reports",
            "completed"
        ]
    );
    let conditions: Vec<(&str, &str)> = audit["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        conditions,
        [
            ("source-pull", "passed"),
            ("destination-reachable", "passed"),
            ("destination-tags", "passed"),
            ("destination-push", "passed")
        ]
    );
    assert!(audit["checks"].as_array().unwrap().len() >= 5);
    assert!(audit["timings"]["copy_ms"].is_u64());
    assert!(audit["image"]["platforms"][0]["layers"][0]["size"].is_u64());
    let log = run.errors_log();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("no github-token was given"), "{log}");
    assert_eq!(audit["approval"]["lookup"], "unavailable");

    assert!(
        run.summary.starts_with("## ✅ image-promote: promoted"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("| ✅ | `exists` |"), "{}", run.summary);
    assert!(run.summary.contains("✅ identical"));
    assert!(run.summary.contains("### Timeline"));
    let stdout = run.stdout();
    assert!(stdout.contains("::group::"), "{stdout}");
    assert!(!stdout.contains("::error"), "{stdout}");

    // Re-running the finished promotion is a no-op that still verifies and reports.
    let again = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("tags", "stable,rc"),
    ]);
    assert_eq!(again.code(), Some(0), "{}", text(&again.out));
    assert_eq!(again.output("status"), "no-op");
    assert_eq!(again.output("digest"), SMALL);
    assert_eq!(again.audit()["copy"]["no_op"], true);
}

#[test]
fn refused_promotion_exits_3_and_writes_no_tag() {
    let r = registries();
    let src = format!("{}/app/nolabels:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-refused"));
    let run = run_action(&[("source", &src), ("destination", &dst)]);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    assert_eq!(run.output("status"), "refused");
    assert_eq!(run.output("digest"), "");
    assert_eq!(run.output("source-digest"), NOLABELS);
    assert_eq!(run.output("promoted"), "");
    assert_eq!(
        skopeo_digest(&dst, &plain()),
        None,
        "a refused image got a tag"
    );

    let audit = run.audit();
    assert_eq!(audit["status"], "refused");
    // Broken copies of this audit must fail validation against the committed schema.
    let validator = validator();
    let mut broken = audit.clone();
    broken["status"] = "forced".into();
    assert!(
        !validator.is_valid(&broken),
        "a status outside the enum validated"
    );
    let mut broken = audit.clone();
    broken["errors"][0]["category"] = "OOPS".into();
    assert!(
        !validator.is_valid(&broken),
        "an unknown category validated"
    );
    let mut broken = audit.clone();
    broken.as_object_mut().unwrap().remove("workflow");
    broken.as_object_mut().unwrap().remove("transitions");
    assert!(
        !validator.is_valid(&broken),
        "an audit without transitions validated"
    );
    let mut broken = audit.clone();
    broken["password"] = "extra".into();
    assert!(!validator.is_valid(&broken), "an unknown field validated");
    assert_eq!(audit["gate"]["decision"], "refuse");
    assert!(audit["copy"].is_null());
    let s = states(&audit);
    assert_eq!(
        s[s.len() - 3..],
        ["validation-failed", "generating-reports", "failed"]
    );
    let labels = audit["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "labels")
        .unwrap();
    assert_eq!(labels["status"], "fail");
    assert_eq!(audit["errors"][0]["category"], "VALIDATION");

    let log = run.errors_log();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["promotion"], audit["id"]);
    assert!(line["hint"].as_str().unwrap().contains("force"));

    let stdout = run.stdout();
    assert!(
        stdout.contains("::error title=image-promote VALIDATION (CRITICAL)::refused by"),
        "{stdout}"
    );
    assert!(
        run.summary.starts_with("## ⛔ image-promote: refused"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("| ❌ | `labels` |"), "{}", run.summary);
    assert!(
        run.summary.contains("| VALIDATION | 1 | CRITICAL |"),
        "{}",
        run.summary
    );
}

#[test]
fn forced_promotion_records_overrides_and_the_reason() {
    let r = registries();
    let src = format!("{}/app/nolabels:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-forced"));
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("force", "true"),
        (
            "force-reason",
            "INC-42: hotfix, labels added in the next build",
        ),
    ]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("status"), "promoted");
    assert_eq!(run.output("digest"), NOLABELS);
    assert_eq!(skopeo_digest(&dst, &plain()).as_deref(), Some(NOLABELS));
    let audit = run.audit();
    assert_eq!(audit["status"], "promoted");
    assert_eq!(audit["forced"], true);
    let overrides = audit["overrides"].as_array().unwrap();
    assert!(
        overrides.iter().any(|o| o["check"] == "labels"),
        "{overrides:?}"
    );
    assert!(
        overrides
            .iter()
            .all(|o| o["reason"] == "INC-42: hotfix, labels added in the next build")
    );
    assert_eq!(
        audit["request"]["force_reason"],
        "INC-42: hotfix, labels added in the next build"
    );
    assert_eq!(
        run.output("warnings"),
        overrides.len().to_string(),
        "overridden checks count as warnings"
    );
    let s = states(&audit);
    let forced = s.iter().position(|x| x == "forced").unwrap();
    assert_eq!(s[forced - 1], "validation-failed");
    assert_eq!(s[forced + 1], "promotion-running");
    assert!(run.summary.contains("(forced)"), "{}", run.summary);
    assert!(run.summary.contains("### Overrides"));
    assert!(run.summary.contains("INC-42"));
}

#[test]
fn expected_digest_mismatch_is_never_forced() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-mismatch"));
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("expected-digest", NOLABELS),
        ("force", "true"),
        ("force-reason", "trying to force a different image"),
    ]);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    assert_eq!(run.output("status"), "refused");
    assert_eq!(run.audit()["forced"], false);
    assert_eq!(skopeo_digest(&dst, &plain()), None);

    // Not even with the `exists` check disabled by the policy.
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(policy.path(), "version: 1\nexists:\n  enabled: false\n").unwrap();
    let policy = policy.path().display().to_string();
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("expected-digest", NOLABELS),
        ("policy", &policy),
    ]);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    assert_eq!(run.output("status"), "refused");
    assert_eq!(run.audit()["request"]["policy"], policy.as_str());
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}

#[test]
fn dry_run_writes_nothing_to_the_registry() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let repo = unique("action-dry");
    let dst = format!("{}/{repo}:1.0", r.production);
    let run = run_action(&[("source", &src), ("destination", &dst), ("dry-run", "true")]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("status"), "dry-run");
    assert_eq!(run.output("digest"), "");
    assert_eq!(run.output("source-digest"), SMALL);
    assert_eq!(skopeo_digest(&dst, &plain()), None);
    // Not even an upload session: the repository does not exist in the registry's storage.
    let harness = PathBuf::from(support::harness::TEST_DIR);
    let storage = harness.join("production/data/docker/registry/v2/repositories");
    assert!(storage.is_dir(), "no storage at {}", storage.display());
    assert!(!storage.join(&repo).exists(), "a dry run created {repo}");
    let audit = run.audit();
    assert_eq!(audit["dry_run"], true);
    let push = audit["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "destination-push")
        .unwrap();
    assert_eq!(push["status"], "not-checked");
    assert!(audit["copy"]["blobs_would_transfer"].as_u64().unwrap() > 0);
    assert!(run.summary.contains("dry-run"));
}

#[test]
fn secrets_never_appear_in_any_output() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.secure, unique("action-secret"));
    let ca = r.secure_cacert.display().to_string();
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("destination-username", &r.secure_user),
        ("destination-password", &r.secure_password),
        ("ca-cert", &ca),
    ]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("digest"), SMALL);
    assert_no_secret(&run, &r.secure_password);

    // Wrong credentials fail in the conditions, before any byte moves, without leaking them.
    let wrong = "Wr0ng-pa55word-that-must-not-leak";
    let dst = format!("{}/{}:1.0", r.secure, unique("action-wrong"));
    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("destination-username", &r.secure_user),
        ("destination-password", wrong),
        ("ca-cert", &ca),
    ]);
    assert_eq!(run.code(), Some(5), "{}", text(&run.out));
    assert_eq!(run.output("status"), "failed");
    assert_no_secret(&run, wrong);
    let audit = run.audit();
    assert!(
        audit["checks"].as_array().unwrap().is_empty(),
        "checks ran after a failed condition"
    );
    assert!(audit["copy"].is_null());
    assert_eq!(audit["errors"][0]["category"], "AUTHENTICATION");
    assert!(
        audit["errors"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("destination")
    );
    assert!(
        run.stdout()
            .contains("::error title=image-promote AUTHENTICATION (CRITICAL)::")
    );
    assert!(
        run.summary.contains("| AUTHENTICATION | 1 | CRITICAL |"),
        "{}",
        run.summary
    );
}

#[test]
fn input_errors_are_reported_with_status_failed() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-noreason"));
    let run = run_action(&[("source", &src), ("destination", &dst), ("force", "true")]);
    assert_eq!(run.code(), Some(2), "{}", text(&run.out));
    assert_eq!(run.output("status"), "failed");
    let audit = run.audit();
    assert!(
        audit["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("force-reason")
    );

    let run = run_action(&[
        ("source", &src),
        ("destination", &dst),
        ("dry-run", "maybe"),
    ]);
    assert_eq!(run.code(), Some(2), "{}", text(&run.out));
}

#[test]
fn a_flag_on_the_command_line_wins_over_its_input() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("action-flag"));
    let workspace = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["promote", "--dry-run=true", "--source", &src])
        .current_dir(workspace.path())
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_SOURCE", "127.0.0.1:1/does/not:exist")
        .env("INPUT_DESTINATION", &dst)
        .env("INPUT_DRY-RUN", "false")
        .env("INPUT_SUMMARY", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry-run:"));
    assert_eq!(skopeo_digest(&dst, &plain()), None);
}
