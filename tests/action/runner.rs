//! How the runner runs a Docker action, reproduced: every declared input as `INPUT_*` (empty when
//! unset), `GITHUB_*` metadata, `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, the workspace as
//! working directory; then the outputs file parsed, the audit validated against the schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::harness::{bin, project_root, text};

pub const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
pub const NOLABELS: &str =
    "sha256:007c8b118f8a96a163e7f6c903855283bc1e8bfc4e544af28efb3147a2932182";

/// One run of the action and what it left behind.
pub struct Run {
    pub out: Output,
    pub workspace: tempfile::TempDir,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }

    pub fn audit(&self) -> serde_json::Value {
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

    pub fn errors_log(&self) -> String {
        std::fs::read_to_string(
            self.workspace
                .path()
                .join("image-promote-audit/errors.jsonl"),
        )
        .unwrap_or_default()
    }

    /// Everything the step printed or wrote, for secret checks.
    pub fn everything(&self) -> String {
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

    /// [`Self::everything`] without the runner's masks (`::add-mask::` lines, the one place a
    /// secret may be written).
    pub fn unmasked(&self) -> String {
        self.everything()
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
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

/// A validator for the committed schema.
pub fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project_root().join("schemas/audit.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Validates `audit` against the committed schema.
pub fn validate(audit: &serde_json::Value) {
    let validator = validator();
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
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
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

/// The files the runner provides to one step.
pub struct Step {
    pub workspace: tempfile::TempDir,
    pub commands: tempfile::TempDir,
}

impl Step {
    /// Collects what the step left behind.
    pub fn finish(self, out: Output) -> Run {
        let read = |name: &str| std::fs::read_to_string(self.commands.path().join(name)).unwrap();
        Run {
            outputs: parse_outputs(&read("set_output")),
            summary: read("step_summary"),
            out,
            workspace: self.workspace,
        }
    }
}

/// Runs the action with `inputs` (the runner passes every declared input; unset ones empty).
pub fn run_action(inputs: &[(&str, &str)]) -> Run {
    let (mut cmd, step) = action_command(inputs);
    let out = cmd.output().unwrap();
    step.finish(out)
}

/// The command the runner would start for a step with `inputs`, and its files.
pub fn action_command(inputs: &[(&str, &str)]) -> (std::process::Command, Step) {
    let mut cmd = bin();
    cmd.arg("promote");
    step_command(cmd, inputs)
}

/// `cmd` set up as the runner starts a step with `inputs` (any kind of action), and its files.
pub fn step_command(
    mut cmd: std::process::Command,
    inputs: &[(&str, &str)],
) -> (std::process::Command, Step) {
    let workspace = tempfile::tempdir().unwrap();
    let commands = tempfile::tempdir().unwrap();
    let output = commands.path().join("set_output");
    let summary = commands.path().join("step_summary");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k.starts_with("RUNNER_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(workspace.path())
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
    (
        cmd,
        Step {
            workspace,
            commands,
        },
    )
}

pub fn action_yml() -> serde_json::Value {
    let text = std::fs::read_to_string(project_root().join("action.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

pub fn action_inputs() -> serde_json::Map<String, serde_json::Value> {
    action_yml()["inputs"].as_object().unwrap().clone()
}

pub fn states(audit: &serde_json::Value) -> Vec<String> {
    audit["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

pub fn assert_no_secret(run: &Run, secret: &str) {
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
