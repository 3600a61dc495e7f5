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
