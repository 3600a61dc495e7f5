//! The Action end to end: the built binary run exactly as the runner runs a Docker action
//! (`INPUT_*`, `GITHUB_*`, `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, the workspace as working
//! directory) against the real registries, asserting on outputs, summary, errors log and the
//! audit (validated against `schemas/audit.schema.json`). Also: `action.yml` agrees with clap.

// Helpers outside #[test] fns panic on setup failures on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use clap::CommandFactory as _;
use image_promote::cli::Cli;
use support::harness::{bin, plain, project_root, registries, skopeo_digest, text, unique};

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const NOLABELS: &str = "sha256:007c8b118f8a96a163e7f6c903855283bc1e8bfc4e544af28efb3147a2932182";

/// One run of the action and what it left behind.
struct Run {
    out: Output,
    workspace: tempfile::TempDir,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }

    fn audit(&self) -> serde_json::Value {
        let rel = self.output("audit-file");
        assert!(!rel.is_empty(), "no audit-file output\n{}", text(&self.out));
        assert!(
            Path::new(rel).is_relative(),
            "audit-file {rel} is not workspace-relative"
        );
        let path = self.workspace.path().join(rel);
        let audit: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        validate(&audit);
        audit
    }

    fn errors_log(&self) -> String {
        std::fs::read_to_string(
            self.workspace
                .path()
                .join("image-promote-audit/errors.jsonl"),
        )
        .unwrap_or_default()
    }

    /// Everything the step printed or wrote, for secret checks.
    fn everything(&self) -> String {
        let mut all = format!(
            "{}\n{}\n{}\n",
            self.stdout(),
            String::from_utf8_lossy(&self.out.stderr),
            self.summary
        );
        for entry in walk(self.workspace.path()) {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
        }
        all
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Validates `audit` against the committed schema.
fn validate(audit: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project_root().join("schemas/audit.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(audit)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "audit is not schema-valid: {problems:#?}\n{audit:#}"
    );
}

/// Parses a `$GITHUB_OUTPUT` file (`name<<DELIM` … `DELIM`, or `name=value`).
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            map.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            map.insert(name.to_owned(), value.to_owned());
        }
    }
    map
}

/// Runs the action with `inputs` (the runner passes every declared input; unset ones empty).
fn run_action(inputs: &[(&str, &str)]) -> Run {
    let workspace = tempfile::tempdir().unwrap();
    let commands = tempfile::tempdir().unwrap();
    let output = commands.path().join("set_output");
    let summary = commands.path().join("step_summary");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    let mut cmd = bin();
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k.starts_with("RUNNER_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("promote")
        .current_dir(workspace.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", workspace.path())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_RUN_ATTEMPT", "1")
        .env("GITHUB_RUN_NUMBER", "7")
        .env("GITHUB_WORKFLOW", "release")
        .env("GITHUB_JOB", "promote")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch");
    let declared = action_inputs();
    for name in declared.keys() {
        cmd.env(format!("INPUT_{}", name.to_uppercase()), "");
    }
    for (k, v) in inputs {
        assert!(
            declared.contains_key(*k),
            "input {k} is not declared in action.yml"
        );
        cmd.env(format!("INPUT_{}", k.to_uppercase()), v);
    }
    let out = cmd.output().unwrap();
    let outputs = parse_outputs(&std::fs::read_to_string(&output).unwrap());
    let summary = std::fs::read_to_string(&summary).unwrap();
    Run {
        out,
        workspace,
        outputs,
        summary,
    }
}

fn action_yml() -> serde_json::Value {
    let text = std::fs::read_to_string(project_root().join("action.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn action_inputs() -> serde_json::Map<String, serde_json::Value> {
    action_yml()["inputs"].as_object().unwrap().clone()
}

fn states(audit: &serde_json::Value) -> Vec<String> {
    audit["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

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
    assert_eq!(run.output("warnings"), "0");
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
            ("destination-push", "passed"),
            ("destination-tags", "passed")
        ]
    );
    assert!(audit["checks"].as_array().unwrap().len() >= 5);
    assert!(audit["timings"]["copy_ms"].is_u64());
    assert!(audit["image"]["platforms"][0]["layers"][0]["size"].is_u64());
    assert!(run.errors_log().is_empty(), "{}", run.errors_log());

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
    let harness = std::env::var_os("REG_HARNESS_DIR")
        .map_or_else(|| PathBuf::from("/tmp/reg-harness"), PathBuf::from);
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

fn assert_no_secret(run: &Run, secret: &str) {
    let stdout = run.stdout();
    let masked: Vec<&str> = stdout.lines().filter(|l| l.contains(secret)).collect();
    assert_eq!(
        masked,
        [format!("::add-mask::{secret}")],
        "only the mask command may carry the secret"
    );
    assert!(
        stdout.find("::add-mask::").unwrap() == 0,
        "masks come before anything else:\n{stdout}"
    );
    let without_mask = run
        .everything()
        .replace(&format!("::add-mask::{secret}"), "");
    assert!(
        !without_mask.contains(secret),
        "secret leaked:\n{without_mask}"
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

/// `action.yml` declares exactly the inputs and outputs of issue 5; every input is a long flag of
/// `promote`, and a default stated in a description is clap's default.
#[test]
fn action_yml_matches_the_cli() {
    let yml = action_yml();
    assert_eq!(yml["runs"]["using"], "docker");
    assert_eq!(yml["runs"]["image"], "Dockerfile");
    let inputs = action_inputs();
    let names: Vec<&str> = inputs.keys().map(String::as_str).collect();
    let mut expected = vec![
        "source",
        "destination",
        "tags",
        "expected-digest",
        "policy",
        "scan-report",
        "force",
        "force-reason",
        "dry-run",
        "retry-attempts",
        "retry-max-delay",
        "concurrency",
        "source-username",
        "source-password",
        "destination-username",
        "destination-password",
        "ca-cert",
        "insecure-registries",
        "audit-dir",
        "summary",
        "environment",
    ];
    let mut sorted = names.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    let outputs: Vec<&str> = yml["outputs"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut outputs_sorted = outputs.clone();
    outputs_sorted.sort_unstable();
    assert_eq!(
        outputs_sorted,
        [
            "audit-file",
            "digest",
            "promoted",
            "source-digest",
            "status",
            "warnings"
        ]
    );

    let cli = Cli::command();
    let promote = cli.find_subcommand("promote").unwrap();
    for (name, input) in &inputs {
        let arg = promote
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("input `{name}` has no --{name} flag in `promote`"));
        assert!(
            input.get("default").is_none(),
            "input `{name}` repeats a default outside its description"
        );
        let description = input["description"].as_str().unwrap();
        let clap_default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let stated = description
            .split("Default: `")
            .nth(1)
            .and_then(|rest| rest.split('`').next());
        match (stated, clap_default.as_slice()) {
            (Some(s), [d]) => {
                assert_eq!(s, d, "input `{name}`: description says {s}, clap says {d}")
            }
            (None, []) => {}
            (s, d) => panic!("input `{name}`: description default {s:?}, clap default {d:?}"),
        }
        let required = input.get("required").and_then(serde_json::Value::as_bool) == Some(true);
        assert_eq!(
            required,
            matches!(name.as_str(), "source" | "destination"),
            "{name}"
        );
    }
}
