//! Secrets never leave the process: every `copy` path (success, authentication failure,
//! permission failure, network failure, docker config credentials), each with `RUST_LOG=trace`,
//! is run with recognizable passwords, and neither they, their Basic-auth base64 form, nor a bearer
//! token (a JWT, `eyJ…`) appears on stdout or stderr.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use support::harness::{bin, registries, text, unique};
use support::token::TokenRegistry;

fn forbidden(secrets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for s in secrets {
        out.push((*s).to_owned());
        for user in ["alice", "reader", "harness"] {
            out.push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{s}")));
        }
    }
    out.push("eyJ".to_owned());
    out
}

fn assert_clean(out: &std::process::Output, secrets: &[&str]) {
    let all = text(out);
    for f in forbidden(secrets) {
        assert!(!all.contains(&f), "`{f}` leaked:\n{all}");
    }
}

async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut c = bin();
        c.args(&args).env("RUST_LOG", "trace");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    })
    .await
    .unwrap()
}

fn a(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output_of_any_copy_path() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let tr = TokenRegistry::start_default().await;
    let src = format!("{}/app/small:1.0", r.staging);
    let ca = r.secure_cacert.to_str().unwrap().to_owned();

    // Success, basic auth over TLS, password from the environment.
    let dst = format!("{}/{}:1.0", r.secure, unique("secret-ok"));
    let out = run(
        a(&[
            "copy",
            &src,
            &dst,
            "--ca-cert",
            &ca,
            "--destination-username",
            "harness",
            "--json",
        ]),
        vec![("IMAGE_PROMOTE_DESTINATION_PASSWORD", "harness-pass".into())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_clean(&out, &["harness-pass"]);

    // Success through the token flow (a bearer token is minted and used).
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("secret-token"));
    let out = run(
        a(&["copy", &src, &dst, "--dest-creds", "alice:alice-secret"]),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_clean(&out, &["alice-secret"]);

    // Authentication failure.
    let out = run(
        a(&["copy", &src, &dst, "--dest-creds", "alice:Wrong-Secret-123"]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(5));
    assert_clean(&out, &["Wrong-Secret-123"]);

    // Permission failure.
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("secret-reader"));
    let out = run(
        a(&["copy", &src, &dst, "--dest-creds", "reader:reader-secret"]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(5));
    assert_clean(&out, &["reader-secret"]);

    // Network failure (nothing listens there).
    let out = run(
        a(&[
            "copy",
            &src,
            "127.0.0.1:9/x/y:1",
            "--dest-creds",
            "alice:Net-Secret-456",
            "--retry-attempts",
            "2",
            "--retry-base-delay",
            "10ms",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_clean(&out, &["Net-Secret-456"]);

    // Credentials from docker's config.json.
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:alice-secret");
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            tr.registry_addr()
        ),
    )
    .unwrap();
    let dst = format!("{}/{}:1.0", tr.registry_addr(), unique("secret-cfg"));
    let out = run(
        a(&["copy", &src, &dst]),
        vec![("DOCKER_CONFIG", dir.path().display().to_string())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_clean(&out, &["alice-secret"]);
}
