//! Authentication against real registries: the Docker token flow (a distribution registry with
//! `auth: token` and the test token server), docker `config.json` credentials and credential
//! helpers, and the categories of each failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Output;

use support::harness::{bin, registries, text, unique};
use support::token::TokenRegistry;

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";

async fn run(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn setup() -> (&'static support::harness::Registries, TokenRegistry) {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    (r, TokenRegistry::start_default().await)
}

fn copy(src: &str, dst: &str, extra: &[&str]) -> std::process::Command {
    let mut c = bin();
    c.args(["copy", src, dst, "--json"]).args(extra);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_flow_push_and_same_registry_mount() {
    let (r, tr) = setup().await;
    let repo = unique("token");
    let dst = format!("{}/{repo}:1.0", tr.registry_addr());
    let out = run(copy(
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        &["--dest-creds", "alice:alice-secret"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["destination_digest"], SMALL);
    // One token covers every request of the run (cached per scope).
    assert_eq!(tr.tokens_issued(), 1, "{:?}", tr.token_log());

    // Same registry, another repository: the token asks pull on the source too, so blobs mount.
    let dst2 = format!("{}/{}:1.0", tr.registry_addr(), unique("token-mount"));
    let creds = [
        "--src-creds",
        "alice:alice-secret",
        "--dest-creds",
        "alice:alice-secret",
    ];
    let out = run(copy(&dst, &dst2, &creds)).await;
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["blobs"]["mounted"], 4, "{report}");
    let last = tr.token_log().last().cloned().unwrap();
    assert!(
        last.scopes
            .iter()
            .any(|s| s.ends_with(&format!("{repo}:pull"))),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_only_credentials_are_a_permission_error() {
    let (r, tr) = setup().await;
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("token-reader"));
    let out = run(copy(
        &format!("{}/app/small:1.0", r.staging),
        &dst,
        &["--dest-creds", "reader:reader-secret"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("[PERMISSION]") && all.contains("insufficient_scope"),
        "{all}"
    );
    assert!(!all.contains("reader-secret"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_are_authentication_errors() {
    let (r, tr) = setup().await;
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("token-bad"));
    let src = format!("{}/app/small:1.0", r.staging);
    let out = run(copy(
        &src,
        &dst,
        &["--dest-creds", "alice:Not-The-Secret-42"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("[AUTHENTICATION]") && all.contains("rejected"),
        "{all}"
    );
    assert!(!all.contains("Not-The-Secret-42"), "{all}");

    let out = run(copy(&src, &dst, &[])).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("no destination credentials were given"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_config_auths_and_credential_helpers() {
    use base64::Engine as _;
    let (r, tr) = setup().await;
    let src = format!("{}/app/small:1.0", r.staging);
    let dir = tempfile::tempdir().unwrap();

    // auths entry.
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:alice-secret");
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            tr.registry_addr()
        ),
    )
    .unwrap();
    let mut cmd = copy(
        &src,
        &format!("{}/{}:1.0", tr.registry_addr(), unique("cfg-auths")),
        &[],
    );
    cmd.env("DOCKER_CONFIG", dir.path());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));

    // credHelpers entry with a helper on PATH.
    let bin_dir = tempfile::tempdir().unwrap();
    let helper = bin_dir.path().join("docker-credential-itest");
    std::fs::write(&helper, "#!/bin/sh\nread host\necho '{\"ServerURL\":\"'$host'\",\"Username\":\"alice\",\"Secret\":\"alice-secret\"}'\n").unwrap();
    let broken = bin_dir.path().join("docker-credential-broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'helper exploded' >&2\nexit 1\n").unwrap();
    for f in [&helper, &broken] {
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(f).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin_dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"itest"}}}}"#, tr.registry_addr()),
    )
    .unwrap();
    let mut cmd = copy(
        &src,
        &format!("{}/{}:1.0", tr.registry_addr(), unique("cfg-helper")),
        &[],
    );
    cmd.env("DOCKER_CONFIG", dir.path()).env("PATH", &path);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));

    // A failing helper is a DOCKER error (exit 5).
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"credsStore":"broken","auths":{}}"#,
    )
    .unwrap();
    let mut cmd = copy(
        &src,
        &format!("{}/{}:1.0", tr.registry_addr(), unique("cfg-broken")),
        &[],
    );
    cmd.env("DOCKER_CONFIG", dir.path()).env("PATH", &path);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("[DOCKER]") && text(&out).contains("helper exploded"),
        "{}",
        text(&out)
    );

    // A malformed config.json is a DOCKER error too.
    std::fs::write(dir.path().join("config.json"), "{\"auths\": {").unwrap();
    let mut cmd = copy(
        &src,
        &format!("{}/{}:1.0", tr.registry_addr(), unique("cfg-bad")),
        &[],
    );
    cmd.env("DOCKER_CONFIG", dir.path());
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("[DOCKER]"), "{}", text(&out));
}
