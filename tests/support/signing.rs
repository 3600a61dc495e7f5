//! cosign for the signature tests (on [`super::cosign`]): the peer binary (skipping outside CI when absent), key pairs
//! made by `cosign generate-key-pair`, signing in either format, `image-promote check` returning
//! the `signature` result, and raw manifest and blob reads and writes on the test registries.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::harness::{self, bin};
use super::oci::{self, OCI_MANIFEST, push_test_image, upload_blob};

/// cosign, or `None` (skip) outside CI when it is not installed.
pub fn cosign() -> Option<PathBuf> {
    super::cosign::bin()
}

pub fn data(name: &str) -> String {
    harness::project_root()
        .join("tests/data/signatures")
        .join(name)
        .display()
        .to_string()
}

/// A key pair made by `cosign generate-key-pair` in a directory of its own.
pub struct KeyPair {
    pub dir: tempfile::TempDir,
}

impl KeyPair {
    pub fn new(cosign: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        super::cosign::ok(cosign, dir.path(), &["generate-key-pair"]);
        Self { dir }
    }
    pub fn private(&self) -> String {
        self.dir.path().join("cosign.key").display().to_string()
    }
    pub fn public(&self) -> String {
        self.dir.path().join("cosign.pub").display().to_string()
    }
}

pub fn run_cosign(cosign: &Path, args: &[&str], dir: &Path) {
    super::cosign::ok(cosign, dir, args);
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Legacy,
    Bundle,
}

/// Signs `reference` (`host/repo@digest`) with cosign in the format of `kind`.
pub fn sign(cosign: &Path, key: &KeyPair, reference: &str, kind: Kind) {
    let dir = key.dir.path();
    let private = key.private();
    let mut args = vec!["sign", "--key", private.as_str()];
    let sc = dir.join("sc.json").display().to_string();
    match kind {
        Kind::Legacy => args.extend(super::cosign::LEGACY),
        Kind::Bundle => {
            std::fs::write(&sc, super::cosign::SIGNING_CONFIG).unwrap();
            args.extend(["--signing-config", sc.as_str()]);
        }
    }
    args.extend(["--allow-http-registry", "-y", reference]);
    run_cosign(cosign, &args, dir);
}

/// A policy with only the checks a tiny test image passes, plus `extra`.
pub fn policy(dir: &Path, extra: &str) -> String {
    let path = dir.join("policy.yml");
    std::fs::write(
        &path,
        format!("version: 1\nlabels: {{enabled: false}}\nentrypoint: {{enabled: false}}\nmetadata: {{enabled: false}}\n{extra}"),
    )
    .unwrap();
    path.display().to_string()
}

/// `image-promote check REF --json` with `args`: exit code, the signature result, stderr.
pub fn check(reference: &str, args: &[&str]) -> (i32, Value, String) {
    let out = bin()
        .arg("check")
        .arg(reference)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let result = json["results"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == "signature").cloned())
        .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        result,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pushes a fresh test image to `host`; returns (`host/repo`, digest).
pub async fn image(host: &str, name: &str, tag: &str) -> (String, String) {
    let repo = harness::unique(&format!("sig/{name}"));
    let img = push_test_image(&oci::client(), host, &repo, tag, None)
        .await
        .unwrap();
    (format!("{host}/{repo}"), img.digest)
}

/// GETs a manifest's raw bytes.
pub async fn get_manifest(host_repo: &str, reference: &str) -> Vec<u8> {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .get(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header(
            "Accept",
            format!("{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "GET {reference}: {}",
        resp.status()
    );
    resp.bytes().await.unwrap().to_vec()
}

pub async fn get_blob(host_repo: &str, digest: &str) -> Vec<u8> {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .get(format!("http://{host}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.bytes().await.unwrap().to_vec()
}

pub async fn put_manifest(host_repo: &str, tag: &str, bytes: Vec<u8>) {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .put(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("content-type", OCI_MANIFEST)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "PUT {tag}: {} {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
}

pub fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// Rewrites the first layer of `repo`'s `.sig` for `digest` with `edit` (on the layer JSON and
/// the payload bytes), pushing a new payload blob when it changed.
pub async fn rewrite_sig(repo: &str, digest: &str, edit: impl FnOnce(&mut Value, &mut Vec<u8>)) {
    let tag = sig_tag(digest);
    let mut m: Value = serde_json::from_slice(&get_manifest(repo, &tag).await).unwrap();
    let layer = m["layers"][0].clone();
    let mut payload = get_blob(repo, layer["digest"].as_str().unwrap()).await;
    let before = payload.clone();
    let mut layer = layer;
    edit(&mut layer, &mut payload);
    if payload != before {
        let (host, name) = repo.split_once('/').unwrap();
        let d = upload_blob(&oci::client(), host, name, payload.clone(), None)
            .await
            .unwrap();
        layer["digest"] = Value::from(d);
        layer["size"] = Value::from(payload.len());
    }
    m["layers"][0] = layer;
    put_manifest(repo, &tag, serde_json::to_vec(&m).unwrap()).await;
}

/// Attaches a referrer manifest through `image_promote::referrers::attach`.
pub async fn attach(repo: &str, manifest: Vec<u8>, subject: &image_promote::digest::Digest) {
    use image_promote::reference::Reference;
    use image_promote::registry::RegistryClient;
    use image_promote::registry::credentials::CredentialSource;
    use image_promote::registry::retry::RetryPolicy;
    use image_promote::registry::scheme::Connection;
    use image_promote::registry::transport::TransportOptions;
    use std::sync::Arc;
    oci::install_crypto();
    let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
    let client = RegistryClient::new(
        connection,
        CredentialSource::default(),
        RetryPolicy::default(),
        "destination",
    );
    let reference = Reference::parse(&format!("{repo}:x")).unwrap();
    image_promote::referrers::attach(
        &client,
        &reference,
        bytes::Bytes::from(manifest),
        OCI_MANIFEST,
        subject,
    )
    .await
    .unwrap();
}

/// PUTs an OCI index under `tag`.
pub async fn put_index(host_repo: &str, tag: &str, bytes: Vec<u8>) {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .put(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT {tag}: {}", resp.status());
}
