//! The `entrypoint` check (Check stage): the image has an ENTRYPOINT or a CMD, preferably in
//! exec form (a shell form, `/bin/sh -c …`, warns by default), and — a rule on in the default
//! policy — it runs as a user that is set and is not root (`root`, `0`, `0:0`, `root:*`, `0:*`).

use super::{CheckEnv, CheckResult, CheckStatus, Outcome};
use crate::resolve::ImageKind;

/// Whether a `User` value means root: unset or empty, `root`, `0`, or either with any group.
#[must_use]
pub fn is_root(user: Option<&str>) -> bool {
    let Some(user) = user.map(str::trim).filter(|u| !u.is_empty()) else {
        return true;
    };
    let name = user.split_once(':').map_or(user, |(u, _)| u).trim();
    name == "root" || name.parse::<u64>() == Ok(0)
}

/// Whether an ENTRYPOINT or CMD array is the shell form Docker writes (`/bin/sh -c "…"`).
#[must_use]
pub fn is_shell_form(argv: &[String]) -> bool {
    let shells = [
        "/bin/sh",
        "sh",
        "/bin/bash",
        "bash",
        "/bin/ash",
        "/usr/bin/sh",
        "/usr/bin/bash",
        "cmd",
        "cmd.exe",
        "cmd /S /C",
        "powershell",
    ];
    match argv {
        [shell, flag, ..] => {
            shells.contains(&shell.as_str())
                && (flag == "-c"
                    || flag.eq_ignore_ascii_case("/S")
                    || flag.eq_ignore_ascii_case("/C"))
        }
        _ => false,
    }
}

/// Runs the `entrypoint` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let policy = &env.policy.entrypoint;
    let mut results = Vec::new();
    for image in env
        .ctx
        .image
        .images
        .iter()
        .filter(|i| i.kind != ImageKind::Attestation)
    {
        let label = image.platform_label.clone();
        if image.kind == ImageKind::Artifact {
            results.push(
                env.result("entrypoint", CheckStatus::Skipped, "artifact: nothing runs")
                    .platform(label),
            );
            continue;
        }
        let Some(config) = &image.config else {
            results.push(
                env.result(
                    "entrypoint",
                    CheckStatus::Skipped,
                    "the config could not be read (see `layers` and `metadata`)",
                )
                .platform(label),
            );
            continue;
        };
        let runtime = config.config.clone().unwrap_or_default();
        let entrypoint = runtime.entrypoint.unwrap_or_default();
        let cmd = runtime.cmd.unwrap_or_default();
        let mut out = Outcome::default();
        if entrypoint.is_empty() && cmd.is_empty() {
            out.fail("no ENTRYPOINT and no CMD: nothing to run".to_owned());
        } else {
            // What runs first: the entrypoint, else the cmd.
            let first = if entrypoint.is_empty() {
                ("CMD", &cmd)
            } else {
                ("ENTRYPOINT", &entrypoint)
            };
            if is_shell_form(first.1) {
                out.by_action(
                    policy.shell_form,
                    format!(
                        "{} is in shell form ({} {}): signals do not reach the process; prefer the exec form",
                        first.0, first.1[0], first.1[1]
                    ),
                );
            }
        }
        let user = runtime.user.as_deref().map(str::trim);
        if policy.non_root && is_root(user) {
            match user.filter(|u| !u.is_empty()) {
                None => out.fail("User is not set: the container runs as root".to_owned()),
                Some(u) => out.fail(format!("User is `{u}`: the container runs as root")),
            }
        }
        let summary = format!(
            "{}{}, user {}",
            if entrypoint.is_empty() {
                String::new()
            } else {
                format!("ENTRYPOINT {entrypoint:?}")
            },
            if cmd.is_empty() {
                String::new()
            } else if entrypoint.is_empty() {
                format!("CMD {cmd:?}")
            } else {
                format!(" CMD {cmd:?}")
            },
            user.filter(|u| !u.is_empty()).unwrap_or("(not set)")
        );
        let summary = if out.status() == CheckStatus::Pass {
            summary
        } else {
            String::new()
        };
        results.push(
            env.result("entrypoint", out.status(), out.message(&summary))
                .platform(label)
                .details(serde_json::json!({
                    "entrypoint": entrypoint,
                    "cmd": cmd,
                    "user": user,
                    "root": is_root(user),
                })),
        );
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(None, true)]
    #[case(Some(""), true)]
    #[case(Some("root"), true)]
    #[case(Some("0"), true)]
    #[case(Some("0:0"), true)]
    #[case(Some("root:wheel"), true)]
    #[case(Some("0:1000"), true)]
    #[case(Some("00"), true)]
    #[case(Some("1000"), false)]
    #[case(Some("1000:1000"), false)]
    #[case(Some("app"), false)]
    #[case(Some("nobody:nogroup"), false)]
    #[case(Some("1000:0"), false)]
    fn root_forms(#[case] user: Option<&str>, #[case] root: bool) {
        assert_eq!(is_root(user), root, "{user:?}");
    }

    #[test]
    fn shell_form() {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(is_shell_form(&v(&["/bin/sh", "-c", "exec server"])));
        assert!(!is_shell_form(&v(&["/app/bin/server"])));
        assert!(!is_shell_form(&v(&["/bin/sh"])));
        assert!(!is_shell_form(&v(&["/app/bin/server", "-c", "x"])));
    }
}
