//! `promote --deep` downloads no layer twice (docs/architecture.md, What "verified" means): the
//! layers the copy streams are hashed by the copy, the others by the checks; every layer is
//! fetched exactly once either way. (The image config, a few KiB that the checks read into memory
//! to judge labels and the entrypoint, is read again by the copy.) Counted at a proxy in front of
//! the real staging registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Output;

use support::harness::{plain, registries, skopeo_digest, text, unique};
use support::proxy::FaultProxy;

/// The layer digests of app/small.
async fn small_layers(staging: &str) -> Vec<String> {
    let response = support::oci::client()
        .get(format!("http://{staging}/v2/app/small/manifests/1.0"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    let manifest = support::oci::json(response).await.unwrap();
    let mut blobs = Vec::new();
    for l in manifest["layers"].as_array().unwrap() {
        blobs.push(l["digest"].as_str().unwrap().to_owned());
    }
    blobs
}

async fn run(args: Vec<String>) -> Output {
    support::harness::promote_async(args).await
}

/// The `layers` check of the audit in `dir`.
fn layers_check(dir: &std::path::Path) -> serde_json::Value {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("an audit file");
    let audit: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    audit["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "layers")
        .cloned()
        .expect("a layers check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_deep_fetches_every_source_blob_once() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let blobs = small_layers(&r.staging).await;
    assert_eq!(blobs.len(), 3);
    let src = FaultProxy::start(&r.staging, vec![]).await;
    let repo = unique("deep");
    let destination = format!("{}/{repo}:1.0", r.production);

    // A fresh destination: the copy streams every layer, the checks download none of them.
    let audit = tempfile::tempdir().unwrap();
    let out = run(vec![
        "promote".into(),
        "--deep".into(),
        "--summary=false".into(),
        "--audit-dir".into(),
        audit.path().display().to_string(),
        format!("{}/app/small:1.0", src.addr()),
        destination.clone(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for d in &blobs {
        assert_eq!(
            src.count("GET", &format!("/blobs/{d}")),
            1,
            "{d} fetched once on a fresh destination"
        );
    }
    let layers = layers_check(audit.path());
    assert_eq!(layers["status"], "pass", "{layers}");
    assert_eq!(layers["details"]["deep"]["verified_by_copy"], 3, "{layers}");
    assert_eq!(layers["details"]["deep"]["blobs"], 0, "{layers}");
    assert!(skopeo_digest(&destination, &plain()).is_some());

    // The same promotion again: nothing is streamed, so the checks download (and hash) each layer,
    // once; the total per layer is then 2 over two runs, never 2 in one run.
    let again = tempfile::tempdir().unwrap();
    let out = run(vec![
        "promote".into(),
        "--deep".into(),
        "--summary=false".into(),
        "--audit-dir".into(),
        again.path().display().to_string(),
        format!("{}/app/small:1.0", src.addr()),
        destination,
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for d in &blobs {
        assert_eq!(
            src.count("GET", &format!("/blobs/{d}")),
            2,
            "{d} downloaded by the checks of the re-run (the copy skips it)"
        );
    }
    let layers = layers_check(again.path());
    assert_eq!(layers["status"], "pass", "{layers}");
    assert_eq!(layers["details"]["deep"]["verified_by_copy"], 0, "{layers}");
    assert_eq!(layers["details"]["deep"]["blobs"], 3, "{layers}");
}
