//! Rollback end to end against the real registries, run as a step of a job: promote v1, then v2
//! (plan → leg, each recorded in the history), then `rollback --tag prod` puts v1's digest back
//! (read back from the registry), records `kind: rollback` (history, audit, summary), and `plan`
//! reports v2 as held. A dry run shows the candidates and writes nothing; a rollback of the
//! rollback and a tag moved by hand are refused and change nothing. With no history in the
//! registry, rollback refuses and names `--to`; earlier audit files (`--history-audit`) or
//! `--to DIGEST` then serve. On distribution 2.8 (fallback tags) and on the referrers API.

use std::path::PathBuf;

use crate::release::{
    RECORD_TYPE, Release, legs, manifest, plan, plan_json, push, referrers, run_leg, tag_digest,
    test_image,
};
use crate::runner::{Run, run_action, step_command};
use crate::support::harness::{bin, registries, text};

/// Runs `image-promote rollback ARGS…` as a step of a job.
fn rollback(args: &[&str]) -> Run {
    let mut cmd = bin();
    cmd.arg("rollback").args(args);
    let (mut cmd, step) = step_command(cmd, &[]);
    let out = cmd.output().unwrap();
    step.finish(out)
}

fn rollback_end_to_end(production: &str, api: bool) {
    let r = registries();
    let rel = Release::new(if api { "rb-api" } else { "rb-tag" });
    let repo = rel.repo("api");
    let (v1, v2, hotfix) = (
        test_image(&repo, "1.0"),
        test_image(&repo, "2.0"),
        test_image(&repo, "hotfix"),
    );
    push(&r.staging, &repo, &v1, &["1.0"]);
    push(&r.staging, &repo, &v2, &["2.0"]);
    for version in ["1.0", "2.0"] {
        let file = rel.write_to(production, &[("api", version, version)]);
        let leg = run_leg(&legs(&plan(&file))[0]);
        assert_eq!(leg.code(), Some(0), "{}", text(&leg.out));
    }
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v2.digest.as_str())
    );
    let dest = format!("{production}/{repo}");
    let reason = "5xx after the 2.0 deploy";

    // A dry run: the candidates and why, nothing written.
    let dry = rollback(&[&dest, "--tag", "prod", "--reason", reason, "--dry-run"]);
    assert_eq!(dry.code(), Some(0), "{}", text(&dry.out));
    assert_eq!(dry.output("status"), "dry-run");
    let stdout = dry.stdout();
    assert!(
        stdout.contains(&format!("candidate taken     {}", v1.digest)),
        "{stdout}"
    );
    assert!(stdout.contains("the newest good predecessor"), "{stdout}");
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v2.digest.as_str()),
        "a dry run moves nothing"
    );

    let run = rollback(&[&dest, "--tag", "prod", "--reason", reason]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("status"), "promoted");
    assert_eq!(run.output("digest"), v1.digest);
    // Read back from the registry: prod holds v1's digest; the version tags did not move.
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v1.digest.as_str())
    );
    assert_eq!(
        tag_digest(production, &repo, "2.0").as_deref(),
        Some(v2.digest.as_str())
    );
    assert_eq!(
        tag_digest(production, &repo, "1.0").as_deref(),
        Some(v1.digest.as_str())
    );
    let record = run.audit();
    assert_eq!(record["kind"], "rollback");
    assert_eq!(record["status"], "promoted");
    assert_eq!(record["rollback"]["from_digest"], v2.digest);
    assert_eq!(record["rollback"]["to_digest"], v1.digest);
    assert_eq!(record["rollback"]["reason"], reason);
    assert_eq!(record["rollback"]["candidates"][0]["digest"], v1.digest);
    assert_eq!(record["rollback"]["candidates"][0]["taken"], true);
    assert_eq!(record["rollback"]["candidates"][0]["origin"], "history");
    assert_eq!(record["history"]["previous_digest"], v2.digest);
    assert_eq!(
        record["history"]["path"],
        if api { "api" } else { "fallback-tag" }
    );
    assert!(
        record["checks"].as_array().is_some_and(|c| !c.is_empty()),
        "the same checks as a promotion: {record:#}"
    );
    assert!(
        run.summary.contains("image-promote: rollback promoted"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("### Rollback"), "{}", run.summary);
    assert!(run.summary.contains(reason), "{}", run.summary);

    // The history: a rollback record on v1, naming v2 as the previous digest.
    let listed = referrers(production, &repo, &v1.digest, api);
    let ours: Vec<&serde_json::Value> = listed
        .iter()
        .filter(|d| {
            d["artifactType"] == RECORD_TYPE
                && d["annotations"]["vnd.image-promote.record.kind"] == "rollback"
        })
        .collect();
    assert!(!ours.is_empty(), "{listed:#?}");
    let a = &ours[0]["annotations"];
    assert_eq!(a["vnd.image-promote.record.previous-digest"], v2.digest);
    assert_eq!(a["vnd.image-promote.record.reason"], reason);
    let pointer = manifest(production, &repo, "image-promote.prod").unwrap();
    assert_eq!(
        pointer["annotations"]["vnd.image-promote.record.kind"],
        "rollback"
    );

    // The next plan does not re-promote the digest rolled back from.
    let file = rel.write_to(production, &[("api", "2.0", "2.0")]);
    let held = plan(&file);
    assert_eq!(held.code(), Some(3), "{}", text(&held.out));
    let json = plan_json(&held);
    assert_eq!(json["services"][0]["action"], "held", "{json:#}");

    // A rollback of the rollback is refused, and changes nothing.
    let again = rollback(&[&dest, "--tag", "prod", "--reason", "again"]);
    assert_eq!(again.code(), Some(3), "{}", text(&again.out));
    assert!(
        text(&again.out).contains("a rollback of a rollback is refused"),
        "{}",
        text(&again.out)
    );
    assert_eq!(again.output("status"), "refused");
    assert_eq!(again.audit()["kind"], "rollback");
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v1.digest.as_str())
    );

    // A tag a third party moved since the last record is refused too.
    push(production, &repo, &hotfix, &["prod"]);
    let moved = rollback(&[&dest, "--tag", "prod", "--reason", "hotfix broke"]);
    assert_eq!(moved.code(), Some(3), "{}", text(&moved.out));
    assert!(
        text(&moved.out).contains("moved outside image-promote"),
        "{}",
        text(&moved.out)
    );
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(hotfix.digest.as_str())
    );
}

#[test]
fn rollback_puts_the_last_good_digest_back_on_distribution_fallback_tags() {
    rollback_end_to_end(&registries().production, false);
}

#[test]
fn rollback_puts_the_last_good_digest_back_on_the_referrers_api() {
    registries();
    rollback_end_to_end(crate::support::harness::ferro(), true);
}

/// With no history in the registry (promotions without moving tags record none), rollback
/// refuses and names `--to`; the earlier audit files, or `--to DIGEST`, then serve.
fn without_history(production: &str) {
    let r = registries();
    let rel = Release::new("rb-nohist");
    let repo = rel.repo("api");
    let (v1, v2) = (test_image(&repo, "1.0"), test_image(&repo, "2.0"));
    push(&r.staging, &repo, &v1, &["1.0"]);
    push(&r.staging, &repo, &v2, &["2.0"]);
    let dest = format!("{production}/{repo}");
    let audits = tempfile::tempdir().unwrap();
    for version in ["1.0", "2.0"] {
        let run = run_action(&[
            ("source", &format!("{}/{repo}:{version}", r.staging)),
            ("destination", &format!("{dest}:{version}")),
            ("tags", "prod"),
        ]);
        assert_eq!(run.code(), Some(0), "{}", text(&run.out));
        let file = run.workspace.path().join(run.output("audit-file"));
        std::fs::copy(&file, audits.path().join(file.file_name().unwrap())).unwrap();
    }
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v2.digest.as_str())
    );

    let refused = rollback(&[&dest, "--tag", "prod", "--reason", "bad"]);
    assert_eq!(refused.code(), Some(3), "{}", text(&refused.out));
    let all = text(&refused.out);
    assert!(all.contains("no earlier digest"), "{all}");
    assert!(all.contains("--to DIGEST"), "{all}");
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v2.digest.as_str()),
        "a refused rollback changes nothing"
    );

    let dir: PathBuf = audits.path().to_owned();
    let from_audit = rollback(&[
        &dest,
        "--tag",
        "prod",
        "--reason",
        "bad",
        "--history-audit",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(from_audit.code(), Some(0), "{}", text(&from_audit.out));
    assert_eq!(
        tag_digest(production, &repo, "prod").as_deref(),
        Some(v1.digest.as_str())
    );
    let record = from_audit.audit();
    assert_eq!(record["rollback"]["candidates"][0]["origin"], "audit");
    assert_eq!(record["rollback"]["to_digest"], v1.digest);

    // The rollback wrote the tag's first record: the tag now has a history, and it says a
    // rollback put v1 there. Going forward again is a promotion; `--to DIGEST` of a rollback
    // is refused like any rollback of a rollback.
    let explicit = rollback(&[
        &dest,
        "--tag",
        "prod",
        "--reason",
        "back to 2.0",
        "--to",
        &v2.digest,
    ]);
    assert_eq!(explicit.code(), Some(3), "{}", text(&explicit.out));
    assert!(text(&explicit.out).contains("rollback of a rollback"));

    // A version tag is never rolled back.
    let version = rollback(&[&dest, "--tag", "1.0", "--reason", "x"]);
    assert_eq!(version.code(), Some(2), "{}", text(&version.out));
    assert!(text(&version.out).contains("is a version tag"));
    // A reason is required.
    let no_reason = rollback(&[&dest, "--tag", "prod"]);
    assert_eq!(no_reason.code(), Some(2), "{}", text(&no_reason.out));
    assert!(text(&no_reason.out).contains("--reason"));
}

#[test]
fn without_history_rollback_refuses_then_reads_the_audit_files_on_distribution() {
    without_history(&registries().production);
}

#[test]
fn without_history_rollback_refuses_then_reads_the_audit_files_on_the_referrers_api() {
    registries();
    without_history(crate::support::harness::ferro());
}

/// `--to DIGEST` on a tag with no history puts the named digest back (checked like any
/// promotion), and `--to N` past the lineage is refused.
#[test]
fn to_digest_without_history_puts_the_named_digest_back() {
    let r = registries();
    let rel = Release::new("rb-to");
    let repo = rel.repo("api");
    let (v1, v2) = (test_image(&repo, "1.0"), test_image(&repo, "2.0"));
    push(&r.production, &repo, &v1, &["1.0"]);
    push(&r.production, &repo, &v2, &["2.0", "prod"]);
    let dest = format!("{}/{repo}", r.production);
    let too_far = rollback(&[&dest, "--tag", "prod", "--reason", "x", "--to", "2"]);
    assert_eq!(too_far.code(), Some(3), "{}", text(&too_far.out));
    assert!(text(&too_far.out).contains("0 earlier digest(s)"));
    // A digest that is not in the repository, and one that fails today's policy, are refused.
    let absent = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let gone = rollback(&[&dest, "--tag", "prod", "--reason", "x", "--to", absent]);
    assert_eq!(gone.code(), Some(3), "{}", text(&gone.out));
    assert!(
        text(&gone.out).contains("no longer exists in the repository"),
        "{}",
        text(&gone.out)
    );
    let strict = rollback(&[
        &dest,
        "--tag",
        "prod",
        "--reason",
        "x",
        "--to",
        "1.0",
        "--required-labels",
        "com.example.team",
    ]);
    assert_eq!(strict.code(), Some(3), "{}", text(&strict.out));
    assert!(
        text(&strict.out).contains("fails today's policy (labels"),
        "{}",
        text(&strict.out)
    );
    assert_eq!(strict.audit()["rollback"]["candidates"][0]["taken"], false);
    assert_eq!(
        tag_digest(&r.production, &repo, "prod").as_deref(),
        Some(v2.digest.as_str()),
        "refused rollbacks change nothing"
    );
    let run = rollback(&[&dest, "--tag", "prod", "--reason", "pin 1.0", "--to", "1.0"]);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(
        tag_digest(&r.production, &repo, "prod").as_deref(),
        Some(v1.digest.as_str())
    );
    let record = run.audit();
    assert_eq!(record["rollback"]["candidates"][0]["origin"], "explicit");
    assert_eq!(record["rollback"]["target"], "1.0");
}

/// A repository whose tags are immutable (the registry answers a tag overwrite with ECR's 400
/// `TAG_INVALID` "… because the repository is immutable", injected by the fault proxy): the
/// rollback is refused (exit 3, nothing moved) and outputs the digest to pin instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_immutable_tags_rollback_outputs_the_digest_to_pin() {
    use crate::support::proxy::{Fault, FaultProxy, Rule};
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let proxy = FaultProxy::start(&r.production, vec![]).await;
    let production = proxy.addr();
    let (staging, prod) = (r.staging.clone(), production.clone());
    let (repo, v1, v2) = tokio::task::spawn_blocking(move || {
        let rel = Release::new("rb-immutable");
        let repo = rel.repo("api");
        let (v1, v2) = (test_image(&repo, "1.0"), test_image(&repo, "2.0"));
        push(&staging, &repo, &v1, &["1.0"]);
        push(&staging, &repo, &v2, &["2.0"]);
        for version in ["1.0", "2.0"] {
            let run = run_action(&[
                ("source", &format!("{staging}/{repo}:{version}")),
                ("destination", &format!("{prod}/{repo}:{version}")),
                ("moving-tags", "prod"),
            ]);
            assert_eq!(run.code(), Some(0), "{}", text(&run.out));
        }
        (repo, v1, v2)
    })
    .await
    .unwrap();
    proxy.set_rules(vec![
        Rule::new(
            "/manifests/prod",
            Fault::oci_error(
                400,
                "TAG_INVALID",
                "The image tag 'prod' already exists in the 'api' repository and cannot be overwritten because the repository is immutable.",
            ),
        )
        .method(reqwest::Method::PUT)
        .times(1000),
    ]);
    let dest = format!("{production}/{repo}");
    let (d, p, rp) = (dest.clone(), production.clone(), repo.clone());
    let run =
        tokio::task::spawn_blocking(move || rollback(&[&d, "--tag", "prod", "--reason", "5xx"]))
            .await
            .unwrap();
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    let all = text(&run.out);
    assert!(all.contains("immutable"), "{all}");
    assert!(all.contains("by digest"), "{all}");
    assert_eq!(run.output("status"), "refused");
    assert_eq!(run.output("pin-digest"), v1.digest);
    assert_eq!(run.audit()["pin_digest"], v1.digest);
    let now = tokio::task::spawn_blocking(move || tag_digest(&p, &rp, "prod"))
        .await
        .unwrap();
    assert_eq!(
        now.as_deref(),
        Some(v2.digest.as_str()),
        "prod did not move"
    );
    assert!(
        proxy.count("PUT", "/manifests/prod") >= 1,
        "the tag write reached the registry"
    );
}
