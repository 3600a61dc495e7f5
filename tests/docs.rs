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
