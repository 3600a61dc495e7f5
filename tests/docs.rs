//! The README stays true: its policy example parses with the real policy parser, and the two
//! commands it names exist and are executable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_policy_example_parses() {
    let text = readme();
    let start = text
        .find("```yaml\nversion: 1")
        .expect("policy example in README")
        + "```yaml\n".len();
    let end = start + text[start..].find("```").unwrap();
    let policy = image_promote::policy::Policy::parse(&text[start..end], "README.md").unwrap();
    let printed = format!("{policy:?}");
    assert!(printed.contains("CVE-2024-12345"), "{printed}");
}

#[test]
fn readme_commands_exist() {
    let text = readme();
    for script in ["scripts/demo.sh", "scripts/test.sh"] {
        assert!(text.contains(script), "README names {script}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{script} is executable");
    }
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        ci.contains("scripts/test.sh"),
        ".ci/run calls the README's test command"
    );
}

#[test]
fn readme_two_commands_near_the_top_need_no_sudo() {
    let text = readme();
    let top: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
    for command in ["./scripts/demo.sh", "./scripts/test.sh"] {
        let line = top
            .lines()
            .find(|l| l.trim_start().starts_with(command))
            .unwrap_or_else(|| {
                panic!("`{command}` is not a line of its own in the README's first 40 lines")
            });
        assert!(
            !line.contains("sudo"),
            "a fresh machine may have no sudo: {line}"
        );
    }
}

/// The project stands on its own: no file of the repository reads or names the directory that
/// sits beside a development checkout (a user's clone has none).
#[test]
fn nothing_names_a_directory_outside_the_repository() {
    let needle = ["..", "shared"].join("/");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | ".git" | "node_modules" | "artifacts"
                ) {
                    stack.push(path);
                }
            } else if let Ok(text) = std::fs::read_to_string(&path)
                && text.contains(&needle)
            {
                offenders.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    offenders.sort();
    assert!(offenders.is_empty(), "files naming {needle}: {offenders:?}");
}

/// docs/architecture.md's module map names every source file (regenerate it with
/// `scripts/module-map.sh` when files move), and no file it names is gone.
#[test]
fn architecture_module_map_is_complete() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut files = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root.join("src")).unwrap();
                files.push(rel.display().to_string());
            }
        }
    }
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !doc.contains(&format!("| `{f}` |")))
        .collect();
    assert!(missing.is_empty(), "not in the module map: {missing:?}");
    let listed = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|f| f.ends_with(".rs"))
        .filter(|f| !files.iter().any(|x| x == f))
        .collect::<Vec<_>>();
    assert!(listed.is_empty(), "in the module map but gone: {listed:?}");
}

/// The prebuilt CLI (issue 11): the release workflow builds the static binary for both Linux
/// architectures with the script the README names, natively on a runner of each, and publishes
/// one SHA256SUMS; the README's install section names the assets the workflow publishes.
#[test]
fn release_publishes_static_binaries_for_both_architectures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    let script = std::fs::read_to_string(root.join("scripts/build-release.sh")).unwrap();
    let readme = readme();
    for (runner, target) in [
        ("ubuntu-24.04", "x86_64-unknown-linux-musl"),
        ("ubuntu-24.04-arm", "aarch64-unknown-linux-musl"),
    ] {
        let leg = format!("- runner: {runner}\n            target: {target}");
        assert!(
            workflow.contains(&leg),
            "release.yml has no matrix leg {runner} → {target}"
        );
        assert!(
            readme.contains(&format!("image-promote-<version>-{target}")),
            "README's install section does not name the {target} asset"
        );
    }
    assert!(workflow.contains("bash scripts/build-release.sh"));
    assert!(workflow.contains("> SHA256SUMS") && workflow.contains("sha256sum -c"));
    assert!(readme.contains("sha256sum -c --ignore-missing SHA256SUMS"));
    // The asset name the script writes is the one the README and the workflow expect.
    assert!(script.contains(r#"name="image-promote-$version-$target""#));
    assert!(
        script.contains("readelf -l") && script.contains("(NEEDED)"),
        "the script checks the binary is static"
    );
}
