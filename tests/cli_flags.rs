//! The flags of `copy`, `check` and `promote` are declared once (`src/cli/groups.rs`) and composed:
//! a flag two commands share is the same flag (name, value syntax, default, environment variable,
//! help), every boolean follows one convention (`--flag` or `--flag=true|false`), `promote` takes
//! every check option `check` takes and honours it, and `force-reason` without `force` is the same
//! input error on both commands that take it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{CommandFactory as _, Parser as _};
use image_promote::cli::{Cli, Command};
use image_promote::error::ErrorKind;

const SUBCOMMANDS: [&str; 3] = ["copy", "check", "promote"];

fn built() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    cli
}

/// Everything that makes a flag what it is, as text (clap's types are not all comparable).
fn signature(arg: &clap::Arg) -> Vec<String> {
    let strs = |v: &[&clap::builder::OsStr]| -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    };
    vec![
        format!("long {:?}", arg.get_long()),
        format!("short {:?}", arg.get_short()),
        format!("positional {}", arg.is_positional()),
        format!("value type {:?}", arg.get_value_parser().type_id()),
        format!(
            "possible values {:?}",
            arg.get_value_parser()
                .possible_values()
                .map(|p| p.map(|v| v.get_name().to_owned()).collect::<Vec<_>>())
        ),
        format!("num_args {:?}", arg.get_num_args()),
        format!("action {:?}", arg.get_action()),
        format!("require_equals {}", arg.is_require_equals_set()),
        format!(
            "default {:?}",
            strs(&arg.get_default_values().iter().collect::<Vec<_>>())
        ),
        format!("env {:?}", arg.get_env()),
        format!("value names {:?}", arg.get_value_names()),
        format!("help {:?}", arg.get_help().map(ToString::to_string)),
        format!("heading {:?}", arg.get_help_heading()),
        format!("hidden {}", arg.is_hide_set()),
        format!("global {}", arg.is_global_set()),
    ]
}

#[test]
fn shared_flags_are_identical_in_every_command() {
    let cli = built();
    let mut compared = 0;
    for (i, a) in SUBCOMMANDS.iter().enumerate() {
        for b in &SUBCOMMANDS[i + 1..] {
            let ca = cli.find_subcommand(a).unwrap();
            let cb = cli.find_subcommand(b).unwrap();
            for arg in ca.get_arguments() {
                let Some(other) = cb.get_arguments().find(|o| o.get_id() == arg.get_id()) else {
                    continue;
                };
                assert_eq!(
                    signature(arg),
                    signature(other),
                    "--{} differs between `{a}` and `{b}`",
                    arg.get_id()
                );
                compared += 1;
            }
            // Same long name means same arg id (no flag spelled alike but declared twice).
            for arg in ca.get_arguments() {
                if let Some(long) = arg.get_long() {
                    if let Some(o) = cb.get_arguments().find(|o| o.get_long() == Some(long)) {
                        assert_eq!(arg.get_id(), o.get_id(), "--{long} in `{a}` and `{b}`");
                    }
                }
            }
        }
    }
    // copy∩check, copy∩promote, check∩promote are not small: a regression that renames the ids
    // of a group would make this test vacuous.
    assert!(compared >= 60, "only {compared} shared flags compared");
}

#[test]
fn check_options_and_gate_are_on_check_and_promote() {
    let cli = built();
    for long in [
        "policy",
        "scan-report",
        "expected-digest",
        "deep",
        "max-size",
        "max-layer-size",
        "platforms",
        "required-labels",
        "verify-key",
        "force",
        "force-reason",
    ] {
        for sub in ["check", "promote"] {
            let cmd = cli.find_subcommand(sub).unwrap();
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                "`{sub}` lacks --{long}"
            );
        }
    }
    for long in [
        "tags",
        "tag",
        "allow-tag-move",
        "concurrency",
        "dry-run",
        "destination",
    ] {
        for sub in ["copy", "promote"] {
            let cmd = cli.find_subcommand(sub).unwrap();
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                "`{sub}` lacks --{long}"
            );
        }
    }
}

/// Every boolean flag of every command: `--flag`, `--flag=true`, `--flag=false`; nothing else.
#[test]
fn every_boolean_takes_both_forms() {
    let cli = built();
    let bool_type = clap::value_parser!(bool).type_id();
    let mut seen = 0;
    for sub in SUBCOMMANDS {
        let cmd = cli.find_subcommand(sub).unwrap();
        for arg in cmd.get_arguments() {
            if matches!(
                arg.get_action(),
                clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
            ) {
                panic!(
                    "`{sub} --{}` is a bare switch: use the BOOL convention",
                    arg.get_id()
                );
            }
            if arg.get_value_parser().type_id() != bool_type {
                continue;
            }
            seen += 1;
            let id = arg.get_id();
            assert_eq!(arg.get_num_args(), Some((0..=1).into()), "{sub} --{id}");
            assert!(arg.is_require_equals_set(), "{sub} --{id}");
            let long = arg.get_long().unwrap();
            for (form, want) in [
                (format!("--{long}"), true),
                (format!("--{long}=true"), true),
                (format!("--{long}=false"), false),
            ] {
                let m = cli
                    .clone()
                    .try_get_matches_from(["image-promote", sub, &form])
                    .unwrap_or_else(|e| panic!("{sub} {form}: {e}"));
                let (_, m) = m.subcommand().unwrap();
                assert_eq!(m.get_one::<bool>(id.as_str()), Some(&want), "{sub} {form}");
            }
            let bad = format!("--{long}=yes");
            assert!(
                cli.clone()
                    .try_get_matches_from(["image-promote", sub, &bad])
                    .is_err(),
                "{sub} {bad}"
            );
        }
    }
    assert!(seen >= 12, "{seen} boolean flags");
}

fn parse(args: &[&str]) -> Command {
    let mut full = vec!["image-promote"];
    full.extend_from_slice(args);
    Cli::try_parse_from(full)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .command
}

#[test]
fn booleans_parse_alike_everywhere() {
    for (sub, flag) in [
        ("copy", "--dry-run"),
        ("promote", "--dry-run"),
        ("check", "--force"),
        ("promote", "--force"),
        ("check", "--deep"),
        ("promote", "--deep"),
        ("copy", "--allow-tag-move"),
        ("promote", "--allow-tag-move"),
    ] {
        for (form, want) in [
            (flag.to_owned(), true),
            (format!("{flag}=true"), true),
            (format!("{flag}=FALSE"), false),
        ] {
            let positional: &[&str] = if sub == "check" {
                &["r/a:1"]
            } else {
                &["r/a:1", "r/b:1"]
            };
            let mut args = vec![sub];
            args.extend_from_slice(positional);
            args.push(&form);
            let got = match parse(&args) {
                Command::Copy(c) if flag == "--dry-run" => c.transfer.dry_run,
                Command::Copy(c) => c.tags.allow_tag_move,
                Command::Check(c) if flag == "--force" => c.gate.force,
                Command::Check(c) => c.checks.deep,
                Command::Promote(p) => match flag {
                    "--dry-run" => p.transfer.dry_run,
                    "--force" => p.gate.force,
                    "--deep" => p.checks.deep,
                    _ => p.tags.allow_tag_move,
                },
                Command::Plan(_) | Command::Report(_) | Command::Rollback(_) => {
                    panic!("{sub} {form}: not {sub}")
                }
            };
            assert_eq!(got, want, "{sub} {form}");
        }
        let mut full = vec!["image-promote", sub, "r/a:1"];
        let bad = format!("{flag}=yes");
        full.push(&bad);
        assert!(Cli::try_parse_from(full).is_err(), "{sub} {bad}");
    }
}

/// `promote` builds the same policy from the check flags as `check` does.
#[test]
fn promote_honours_every_check_flag() {
    let flags = [
        "--max-size=2GiB",
        "--max-layer-size",
        "512MiB",
        "--platforms",
        "linux/amd64,linux/arm64",
        "--required-labels",
        "org.opencontainers.image.source,team=^a",
        "--deep",
        "--expected-digest",
        "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992",
    ];
    let mut promote = vec!["promote", "r/a:1", "r/b:1"];
    promote.extend_from_slice(&flags);
    let mut check = vec!["check", "r/a:1"];
    check.extend_from_slice(&flags);
    let (Command::Promote(p), Command::Check(c)) = (parse(&promote), parse(&check)) else {
        panic!("wrong subcommands")
    };
    let plan = image_promote::commands::promote::plan(&p, None).unwrap();
    let policy = c.checks.resolve_policy().unwrap();
    assert_eq!(plan.policy.to_yaml().unwrap(), policy.to_yaml().unwrap());
    assert_eq!(plan.policy.size.max_size, Some(2 << 30));
    assert_eq!(plan.policy.size.max_layer_size, Some(512 << 20));
    assert_eq!(plan.policy.platform.required.len(), 2);
    assert_eq!(plan.policy.labels.required.len(), 2);
    assert!(plan.deep && c.checks.deep);
    assert_eq!(
        plan.expected_digest,
        c.checks.inputs(None).unwrap().expected_digest
    );
}

/// `force-reason` without `force` (and `force` without a reason) is an input error (exit 2) in
/// both commands, with the same message.
#[test]
fn force_reason_without_force_is_an_input_error_everywhere() {
    for (extra, needle) in [
        (
            &["--force-reason", "why"][..],
            "--force-reason is given without --force",
        ),
        (
            &["--force-reason", "why", "--force=false"][..],
            "--force-reason is given without --force",
        ),
        (&["--force"][..], "--force needs --force-reason"),
    ] {
        let mut promote = vec!["promote", "r/a:1", "r/b:1"];
        promote.extend_from_slice(extra);
        let mut check = vec!["check", "r/a:1"];
        check.extend_from_slice(extra);
        let (Command::Promote(p), Command::Check(c)) = (parse(&promote), parse(&check)) else {
            panic!("wrong subcommands")
        };
        let from_promote = image_promote::commands::promote::plan(&p, None).unwrap_err();
        let from_check = c
            .gate
            .reason(&c.checks.resolve_policy().unwrap())
            .unwrap_err();
        for e in [&from_promote, &from_check] {
            assert_eq!(e.kind, ErrorKind::Input, "{extra:?}");
            assert!(e.message.contains(needle), "{extra:?}: {}", e.message);
        }
        assert_eq!(from_promote.message, from_check.message);
    }
}

/// `SRC` wins over `--source` from the environment (no conflict error), as a flag wins over a
/// variable: the bad image in `IMAGE_PROMOTE_SOURCE` is never parsed, the bad digest after it is.
#[test]
fn positional_source_wins_over_the_environment() {
    for (sub, positional) in [
        ("check", &["r.example/a:1"][..]),
        ("promote", &["r.example/a:1", "r.example/b:1"][..]),
    ] {
        let audit = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_image-promote"));
        cmd.arg(sub)
            .args(positional)
            .args(["--expected-digest", "sha256:abc"])
            .env("IMAGE_PROMOTE_SOURCE", "Not A Reference!")
            .env("IMAGE_PROMOTE_DESTINATION", "Nor This!")
            .env("IMAGE_PROMOTE_AUDIT_DIR", audit.path())
            .env_remove("GITHUB_ACTIONS");
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {stderr}");
        assert!(stderr.contains("invalid digest"), "{sub}: {stderr}");
    }
}
