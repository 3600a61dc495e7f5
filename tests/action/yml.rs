//! `action.yml` against the CLI: the inputs and outputs issue 5 names, each input a long flag of
//! `promote`, defaults stated only in descriptions and equal to clap's.

use clap::CommandFactory as _;
use image_promote::cli::Cli;

use crate::runner::{action_inputs, action_yml};

/// `action.yml` declares exactly the inputs and outputs of issue 5; every input is a long flag of
/// `promote`, and a default stated in a description is clap's default.
#[test]
fn action_yml_matches_the_cli() {
    let yml = action_yml();
    assert_eq!(yml["runs"]["using"], "node24");
    assert_eq!(yml["runs"]["main"], "dist/index.mjs");
    let inputs = action_inputs();
    let names: Vec<&str> = inputs.keys().map(String::as_str).collect();
    let mut expected = vec![
        "source",
        "destination",
        "tags",
        "expected-digest",
        "policy",
        "scan-report",
        "deep",
        "max-size",
        "max-layer-size",
        "platforms",
        "required-labels",
        "verify-key",
        "sign-key",
        "sign-key-password",
        "sign-format",
        "force",
        "force-reason",
        "dry-run",
        "referrers",
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
        "github-token",
        "require-approval",
        "environment-url",
        "dispatch-event",
        "dispatch-workflow",
        "dispatch-ref",
        "dispatch-repository",
        "dispatch-token",
        "deployment",
        "deployment-environment",
        "notify-webhook",
        "notify-on",
        "notify-format",
        "notify-secret",
        "moving-tags",
        "expected-previous",
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
            "environment-url",
            "pin-digest",
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
        // The token is the one default the binary cannot know: an expression of the runner.
        if name == "github-token" {
            assert_eq!(input["default"], "${{ github.token }}");
        } else {
            assert!(
                input.get("default").is_none(),
                "input `{name}` repeats a default outside its description"
            );
        }
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

/// Flags of `promote` that are deliberately not Action inputs: aliases of an input (`tag`,
/// `insecure-registry`, `src-creds`, `dest-creds`), options a workflow has no use for, and clap's
/// own (`help`). Any other flag `promote` gains must become an input too.
const CLI_ONLY: [&str; 8] = [
    "tag",
    "insecure-registry",
    "src-creds",
    "dest-creds",
    "no-docker-config",
    "allow-tag-move",
    "read-timeout",
    "no-referrers",
];

/// Every long flag of `promote` is an input of `action.yml` unless it is listed in [`CLI_ONLY`]
/// (or hidden); in particular every check option `promote` shares with `check`.
#[test]
fn every_promote_flag_is_an_input() {
    let inputs = action_inputs();
    let cli = Cli::command();
    let promote = cli.find_subcommand("promote").unwrap();
    let check = cli.find_subcommand("check").unwrap();
    let mut missing = Vec::new();
    for arg in promote.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || long == "help" || CLI_ONLY.contains(&long) {
            continue;
        }
        if !inputs.contains_key(long) {
            missing.push(long.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "promote flags without an input: {missing:?}"
    );
    for long in [
        "max-size",
        "max-layer-size",
        "platforms",
        "required-labels",
        "deep",
    ] {
        assert!(check.get_arguments().any(|a| a.get_long() == Some(long)));
        assert!(inputs.contains_key(long), "{long}");
    }
    for long in CLI_ONLY {
        assert!(
            promote.get_arguments().any(|a| a.get_long() == Some(long)),
            "CLI_ONLY lists `{long}`, which promote does not have"
        );
    }
}

/// Every input set at once, as the runner passes them (`INPUT_*`, booleans `true`/`false`),
/// goes through `action::args_with_inputs` into a `promote` that clap accepts, each value where
/// the flag puts it.
#[test]
fn every_input_reaches_its_flag() {
    use image_promote::cli::Command;
    let sample = |name: &str| -> &'static str {
        match name {
            "source" => "127.0.0.1:5100/app/small:1.0",
            "destination" => "127.0.0.1:5101/app/small:1.0",
            "tags" => "a,b",
            "expected-digest" => {
                "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992"
            }
            "force" | "deep" | "dry-run" | "require-approval" | "deployment" => "true",
            "summary" | "referrers" => "false",
            "max-size" => "2GiB",
            "max-layer-size" => "1GiB",
            "platforms" => "linux/amd64,linux/arm64",
            "required-labels" => "org.opencontainers.image.revision",
            // A multi-line input: the PEM text of a public key, as a secret or variable gives it.
            "verify-key" => include_str!("../data/signatures/p256.pub"),
            // The signing key: a secret's multi-line PEM text.
            "sign-key" => include_str!("../data/signatures/p256.key"),
            "sign-format" => "legacy",
            "retry-attempts" => "3",
            "retry-max-delay" => "10s",
            "concurrency" => "4",
            _ => "x",
        }
    };
    let inputs = action_inputs();
    let mut env: std::collections::BTreeMap<String, String> = inputs
        .keys()
        .map(|k| {
            (
                image_promote::action::input_variable(k),
                sample(k).to_owned(),
            )
        })
        .collect();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    let vars: Vec<String> = env.keys().cloned().collect();
    let lookup = |k: &str| env.get(k).cloned();
    let args = image_promote::action::args_with_inputs(
        vec!["image-promote".into()],
        &Cli::command(),
        &lookup,
        &vars,
    )
    .unwrap();
    for name in inputs.keys() {
        assert!(
            args.iter()
                .any(|a| a.to_str().unwrap().starts_with(&format!("--{name}="))),
            "input `{name}` was not passed: {args:?}"
        );
    }
    let cli = <Cli as clap::Parser>::try_parse_from(&args).unwrap_or_else(|e| panic!("{e}"));
    let Command::Promote(mut p) = cli.command else {
        panic!("not promote")
    };
    assert!(p.checks.deep && p.gate.force && p.transfer.dry_run && !p.report.summary);
    assert!(!p.transfer.referrers && !p.transfer.carry_referrers());
    assert_eq!(p.checks.max_size, Some(2 << 30));
    assert_eq!(p.checks.max_layer_size, Some(1 << 30));
    assert_eq!(p.checks.platforms, ["linux/amd64,linux/arm64"]);
    assert_eq!(p.gate.force_reason.as_deref(), Some("x"));
    assert_eq!(p.transfer.concurrency, 4);
    assert_eq!(p.checks.policy.as_deref(), Some(std::path::Path::new("x")));
    p.checks.policy = None;
    let policy = p.checks.resolve_policy().unwrap();
    assert_eq!(policy.platform.required.len(), 2);
    assert_eq!(policy.labels.required.len(), 1);
    assert_eq!(policy.signature.keys.len(), 1);
    assert_eq!(
        p.sign.sign_format,
        image_promote::promote::sign::SignFormat::Legacy
    );
    assert!(
        p.sign.signing().unwrap().is_some(),
        "the sign-key input's PEM text reaches --sign-key"
    );
    assert!(image_promote::policy::CheckSettings::enabled(
        &policy.signature
    ));
}

/// The container action (`container/action.yml`) is the root action with the container's `runs:`
/// (exactly the same inputs and outputs, so the CLI agreement above holds for both), and the Node
/// action's `main` is committed.
#[test]
fn the_container_action_declares_what_the_node_action_declares() {
    let root = crate::support::harness::project_root();
    let text = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let container = std::fs::read_to_string(root.join("container/action.yml")).unwrap();
    let head = text.split("\nruns:\n").next().unwrap();
    assert_eq!(
        container,
        format!(
            "{head}\nruns:\n  using: docker\n{}\n  image: ../Dockerfile # zizmor: ignore[unpinned-images]\n  args:\n    - promote\n",
            "  # The repository's own Dockerfile, built from the same checkout (pinned by the action's ref)."
        ),
        "container/action.yml is stale: run bash scripts/sync-container-action.sh"
    );
    let parsed: serde_json::Value = serde_norway::from_str(&container).unwrap();
    assert_eq!(parsed["inputs"], action_yml()["inputs"]);
    assert_eq!(parsed["outputs"], action_yml()["outputs"]);
    assert!(root.join("Dockerfile").is_file());
    for file in [
        "dist/index.mjs",
        "dist/worker-thread.bundle.js",
        "dist/image-promote.core.wasm",
    ] {
        assert!(root.join(file).is_file(), "{file} is not committed");
    }
}
