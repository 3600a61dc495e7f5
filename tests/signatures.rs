//! The `signature` check against real registries and real cosign 3.1.1 signatures: legacy `.sig`
//! and Sigstore bundles, on distribution 2.8 (fallback tag) and ferro-oci-server (referrers API);
//! signatures of another key, of another digest, tampered, missing, oversized or malformed fail
//! naming the problem; force overrides with a reason; bad keys are input errors (exit 2). And what
//! `image_promote::signature` signs, cosign verifies. Skipped only when cosign is absent outside
//! CI (`scripts/harness/fetch-peers.sh` installs it; in CI its absence fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::harness::{self, bin, ferro, registries};
use support::oci::{self, OCI_MANIFEST, push_test_image, upload_blob};

const PEERS: &str = "/tmp/image-promote-peers/bin";

/// cosign, or `None` (skip) outside CI when it is not installed.
fn cosign() -> Option<PathBuf> {
    let path = Path::new(PEERS).join("cosign");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "cosign is missing at {}: run scripts/harness/fetch-peers.sh",
        path.display()
    );
    eprintln!("skipped: cosign is not installed (scripts/harness/fetch-peers.sh)");
    None
}

fn data(name: &str) -> String {
    harness::project_root()
        .join("tests/data/signatures")
        .join(name)
        .display()
        .to_string()
}

/// A key pair made by `cosign generate-key-pair` in a directory of its own.
struct KeyPair {
    dir: tempfile::TempDir,
}

impl KeyPair {
    fn new(cosign: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(cosign)
            .arg("generate-key-pair")
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }
    fn private(&self) -> String {
        self.dir.path().join("cosign.key").display().to_string()
    }
    fn public(&self) -> String {
        self.dir.path().join("cosign.pub").display().to_string()
    }
}

fn run_cosign(cosign: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(cosign)
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join("tuf"))
        .env_remove("SIGSTORE_ROOT_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cosign {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Legacy,
    Bundle,
}

/// Signs `reference` (`host/repo@digest`) with cosign in the format of `kind`.
fn sign(cosign: &Path, key: &KeyPair, reference: &str, kind: Kind) {
    let dir = key.dir.path();
    match kind {
        Kind::Legacy => run_cosign(
            cosign,
            &[
                "sign",
                "--key",
                &key.private(),
                "--new-bundle-format=false",
                "--use-signing-config=false",
                "--tlog-upload=false",
                "--allow-http-registry",
                "-y",
                reference,
            ],
            dir,
        ),
        Kind::Bundle => {
            let sc = dir.join("sc.json");
            std::fs::write(
                &sc,
                r#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}"#,
            )
            .unwrap();
            run_cosign(
                cosign,
                &[
                    "sign",
                    "--key",
                    &key.private(),
                    "--signing-config",
                    &sc.display().to_string(),
                    "--allow-http-registry",
                    "-y",
                    reference,
                ],
                dir,
            );
        }
    }
}

/// A policy with only the checks a tiny test image passes, plus `extra`.
fn policy(dir: &Path, extra: &str) -> String {
    let path = dir.join("policy.yml");
    std::fs::write(
        &path,
        format!("version: 1\nlabels: {{enabled: false}}\nentrypoint: {{enabled: false}}\nmetadata: {{enabled: false}}\n{extra}"),
    )
    .unwrap();
    path.display().to_string()
}

/// `image-promote check REF --json` with `args`: exit code, the signature result, stderr.
fn check(reference: &str, args: &[&str]) -> (i32, Value, String) {
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
async fn image(host: &str, name: &str, tag: &str) -> (String, String) {
    let repo = harness::unique(&format!("sig/{name}"));
    let img = push_test_image(&oci::client(), host, &repo, tag, None)
        .await
        .unwrap();
    (format!("{host}/{repo}"), img.digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_signatures_verify_in_both_formats_on_both_registries() {
    let Some(cosign) = cosign() else { return };
    let staging = registries().staging.clone();
    let key = KeyPair::new(&cosign);
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    for (host, kind, found) in [
        (staging.as_str(), Kind::Legacy, "tag"),
        (staging.as_str(), Kind::Bundle, "fallback-tag"),
        (ferro(), Kind::Legacy, "tag"),
        (ferro(), Kind::Bundle, "referrers-api"),
    ] {
        let (repo, digest) = image(host, "ok", "1.0").await;
        let reference = format!("{repo}@{digest}");
        sign(&cosign, &key, &reference, kind);
        let (code, r, err) = check(
            &reference,
            &["--policy", &policy, "--verify-key", &key.public()],
        );
        assert_eq!(code, 0, "{host} {kind:?}: {r}\n{err}");
        assert_eq!(r["status"], "pass", "{host} {kind:?}: {r}");
        let v = &r["details"]["subjects"][0]["verified"][0];
        let format = if kind == Kind::Legacy {
            "cosign-legacy"
        } else {
            "sigstore-bundle"
        };
        assert_eq!(v["format"], format, "{host} {kind:?}: {r}");
        assert_eq!(v["found"], found, "{host} {kind:?}: {r}");
        assert_eq!(v["signer"]["kind"], "key");
        // The key as PEM text, and among other keys, verifies too; by tag as well as digest.
        let pem = std::fs::read_to_string(key.public()).unwrap();
        let (code, r, _) = check(
            &format!("{repo}:1.0"),
            &[
                "--policy",
                &policy,
                "--verify-key",
                &data("other.pub"),
                "--verify-key",
                &pem,
            ],
        );
        assert_eq!(code, 0, "{host} {kind:?}: {r}");
    }
}

/// GETs a manifest's raw bytes.
async fn get_manifest(host_repo: &str, reference: &str) -> Vec<u8> {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .get(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("Accept", format!("{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"))
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

async fn get_blob(host_repo: &str, digest: &str) -> Vec<u8> {
    let (host, repo) = host_repo.split_once('/').unwrap();
    let resp = oci::client()
        .get(format!("http://{host}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.bytes().await.unwrap().to_vec()
}

async fn put_manifest(host_repo: &str, tag: &str, bytes: Vec<u8>) {
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

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// Rewrites the first layer of `repo`'s `.sig` for `digest` with `edit` (on the layer JSON and
/// the payload bytes), pushing a new payload blob when it changed.
async fn rewrite_sig(repo: &str, digest: &str, edit: impl FnOnce(&mut Value, &mut Vec<u8>)) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_fail_naming_what_is_wrong() {
    let Some(cosign) = cosign() else { return };
    let host = registries().staging.clone();
    let key = KeyPair::new(&cosign);
    let other = KeyPair::new(&cosign);
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let verify = |reference: &str, extra: &[&str]| {
        let mut args = vec!["--policy", policy.as_str(), "--verify-key"];
        let public = key.public();
        let owned: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let mut all: Vec<String> = args.drain(..).map(str::to_owned).collect();
        all.push(public);
        all.extend(owned);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        check(reference, &refs)
    };

    // No signature at all.
    let (repo, digest) = image(&host, "none", "1.0").await;
    let (code, r, _) = verify(&format!("{repo}@{digest}"), &[]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["status"], "fail");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("no signature found"), "{msg}");
    assert!(msg.contains(&sig_tag(&digest)), "{msg}");
    // Force overrides it, with a reason.
    let (code, r, err) = verify(
        &format!("{repo}@{digest}"),
        &["--force", "--force-reason", "signed elsewhere, ticket 12"],
    );
    assert_eq!(code, 0, "{r}\n{err}");
    assert_eq!(r["overridden"], true, "{r}");

    // Signed with another key, both formats.
    for kind in [Kind::Legacy, Kind::Bundle] {
        let (repo, digest) = image(&host, "otherkey", "1.0").await;
        let reference = format!("{repo}@{digest}");
        sign(&cosign, &other, &reference, kind);
        let (code, r, _) = verify(&reference, &[]);
        assert_eq!(code, 3, "{kind:?}: {r}");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains("signed by another key"), "{kind:?}: {msg}");
    }

    // Image B's signature copied to image A's `.sig` tag: a signature of another digest.
    let (repo, a) = image(&host, "copied", "a").await;
    let b = push_test_image(
        &oci::client(),
        repo.split_once('/').unwrap().0,
        repo.split_once('/').unwrap().1,
        "b",
        None,
    )
    .await
    .unwrap()
    .digest;
    sign(&cosign, &key, &format!("{repo}@{b}"), Kind::Legacy);
    let b_sig = get_manifest(&repo, &sig_tag(&b)).await;
    put_manifest(&repo, &sig_tag(&a), b_sig).await;
    let (code, r, _) = verify(&format!("{repo}@{a}"), &[]);
    assert_eq!(code, 3, "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("it signs {b}, another image")),
        "{msg}"
    );

    // A tampered payload (the blob replaced, the manifest updated to match).
    let (repo, digest) = image(&host, "tampered", "1.0").await;
    sign(&cosign, &key, &format!("{repo}@{digest}"), Kind::Legacy);
    rewrite_sig(&repo, &digest, |_, payload| {
        let text = String::from_utf8(payload.clone())
            .unwrap()
            .replace("\"optional\":null", "\"optional\":{\"x\":\"y\"}");
        *payload = text.into_bytes();
    })
    .await;
    let (code, r, _) = verify(&format!("{repo}@{digest}"), &[]);
    assert_eq!(code, 3, "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("the signed payload was changed"),
        "{r}"
    );

    // A layer that declares a huge size: refused before it is asked for.
    let (repo, digest) = image(&host, "huge", "1.0").await;
    sign(&cosign, &key, &format!("{repo}@{digest}"), Kind::Legacy);
    rewrite_sig(&repo, &digest, |layer, _| {
        layer["size"] = Value::from(10_u64 << 30)
    })
    .await;
    let (code, r, _) = verify(&format!("{repo}@{digest}"), &[]);
    assert_eq!(code, 3, "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("over the 262144-byte limit"),
        "{r}"
    );

    // A malformed layer: its signature annotation is not base64; its payload not JSON.
    let (repo, digest) = image(&host, "malformed", "1.0").await;
    sign(&cosign, &key, &format!("{repo}@{digest}"), Kind::Legacy);
    rewrite_sig(&repo, &digest, |layer, payload| {
        layer["annotations"]["dev.cosignproject.cosign/signature"] = Value::from("%%% not base64");
        *payload = b"\x00\xff garbage".to_vec();
    })
    .await;
    let (code, r, _) = verify(&format!("{repo}@{digest}"), &[]);
    assert_eq!(code, 3, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("not valid base64"),
        "{r}"
    );
}

#[test]
fn bad_keys_are_input_errors() {
    let reference = format!("{}/app/small:1.0", registries().staging);
    let missing = data("missing.pub");
    for (key, expected) in [
        (
            data("p384.pub"),
            "it is an ECDSA P-384 key; only ECDSA P-256 keys are supported",
        ),
        (data("rsa.pub"), "it is an RSA key"),
        (data("ed25519.pub"), "it is an Ed25519 key"),
        (data("p256.key"), "it is a private key"),
        (data("README.md"), "it holds no PEM block"),
        (missing, "cannot read it"),
        (
            "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n".to_owned(),
            "its DER is not a SubjectPublicKeyInfo",
        ),
    ] {
        let (code, _, err) = check(&reference, &["--verify-key", &key]);
        assert_eq!(code, 2, "{key}: {err}");
        assert!(err.contains(expected), "{key}: {err}");
        assert!(!err.contains("MIG"), "a key's text is never quoted: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_image_promote_signs_cosign_verifies() {
    use image_promote::digest::Digest;
    use image_promote::signature::{PrivateKey, bundle, legacy};
    let Some(cosign) = cosign() else { return };
    let private =
        PrivateKey::from_pem(&std::fs::read_to_string(data("p256.key")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    for host in [registries().staging.clone(), ferro().to_owned()] {
        // Legacy `.sig`, pushed as cosign would.
        let (repo, digest) = image(&host, "ours", "1.0").await;
        let (h, name) = repo.split_once('/').unwrap();
        let subject = Digest::parse(&digest).unwrap();
        let sig = legacy::sign(&private, &repo, &subject).unwrap();
        let (config, manifest) = sig.manifest();
        let http = oci::client();
        upload_blob(&http, h, name, config, None).await.unwrap();
        upload_blob(&http, h, name, sig.payload.clone(), None)
            .await
            .unwrap();
        put_manifest(&repo, &sig_tag(&digest), manifest).await;
        let reference = format!("{repo}@{digest}");
        run_cosign(
            &cosign,
            &[
                "verify",
                "--key",
                &data("p256.pub"),
                "--insecure-ignore-tlog=true",
                "--allow-http-registry",
                &reference,
            ],
            dir.path(),
        );
        let (code, r, err) = check(
            &reference,
            &["--policy", &policy, "--verify-key", &data("p256.pub")],
        );
        assert_eq!(code, 0, "{r}\n{err}");

        // A v3 bundle, attached as a referrer.
        let (repo, digest) = image(&host, "ours-bundle", "1.0").await;
        let (h, name) = repo.split_once('/').unwrap();
        let subject = Digest::parse(&digest).unwrap();
        let b = bundle::sign(
            &private,
            &subject,
            bundle::COSIGN_SIGN_PREDICATE,
            &serde_json::json!({}),
        )
        .unwrap();
        let size = get_manifest(&repo, &digest).await.len() as u64;
        let m = bundle::referrer_manifest(
            &b,
            (OCI_MANIFEST, &subject, size),
            bundle::COSIGN_SIGN_PREDICATE,
            "2026-12-02T00:00:00Z",
        );
        upload_blob(&http, h, name, b"{}".to_vec(), None)
            .await
            .unwrap();
        upload_blob(&http, h, name, b.clone(), None).await.unwrap();
        attach(&repo, m, &subject).await;
        let reference = format!("{repo}@{digest}");
        run_cosign(
            &cosign,
            &[
                "verify",
                "--key",
                &data("p256.pub"),
                "--insecure-ignore-tlog=true",
                "--allow-http-registry",
                &reference,
            ],
            dir.path(),
        );
        let (code, r, err) = check(
            &reference,
            &["--policy", &policy, "--verify-key", &data("p256.pub")],
        );
        assert_eq!(code, 0, "{r}\n{err}");
        assert_eq!(
            r["details"]["subjects"][0]["verified"][0]["format"],
            "sigstore-bundle"
        );
    }
}

/// Attaches a referrer manifest through `image_promote::referrers::attach`.
async fn attach(repo: &str, manifest: Vec<u8>, subject: &image_promote::digest::Digest) {
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

/// `promote --verify-key`: a signed image is promoted; an unsigned one is refused (exit 3) before
/// anything is written, its destination tag never created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_verifies_before_it_writes() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let key = KeyPair::new(&cosign);
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let audit = dir.path().join("audit");
    for signed in [true, false] {
        let (repo, digest) = image(&r.staging, "promote", "1.0").await;
        if signed {
            sign(&cosign, &key, &format!("{repo}@{digest}"), Kind::Bundle);
        }
        let dst_repo = harness::unique("sig/promoted");
        let out = bin()
            .args([
                "promote",
                &format!("{repo}:1.0"),
                &format!("{}/{dst_repo}:1.0", r.production),
            ])
            .args([
                "--policy",
                &policy,
                "--verify-key",
                &key.public(),
                "--summary=false",
            ])
            .args(["--audit-dir", &audit.display().to_string()])
            .output()
            .unwrap();
        let shown = harness::text(&out);
        let written = oci::tag_digest(&r.production, &dst_repo, "1.0").await;
        if signed {
            assert!(out.status.success(), "{shown}");
            assert_eq!(written.as_deref(), Some(digest.as_str()));
        } else {
            assert_eq!(out.status.code(), Some(3), "{shown}");
            assert!(shown.contains("no signature found"), "{shown}");
            assert_eq!(
                written, None,
                "nothing is written when the signature check refuses"
            );
        }
    }
}

/// `signature.children`: each image of an index must be signed too; the message names the
/// unsigned one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_an_index_are_checked_when_asked() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let repo = format!("{}/{}", r.staging, harness::unique("sig/multi"));
    let out = bin()
        .args([
            "copy",
            &format!("{}/app/multi:1.0", r.staging),
            &format!("{repo}:1.0"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", harness::text(&out));
    let index: Value = serde_json::from_slice(&get_manifest(&repo, "1.0").await).unwrap();
    let root =
        image_promote::digest::Digest::sha256_of(&get_manifest(&repo, "1.0").await).to_string();
    let children: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["platform"]["os"] != "unknown")
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    assert!(children.len() >= 2, "{index}");
    let key = KeyPair::new(&cosign);
    sign(&cosign, &key, &format!("{repo}@{root}"), Kind::Legacy);
    let dir = tempfile::tempdir().unwrap();
    let plain = policy(dir.path(), "platform: {enabled: false}\n");
    let (code, res, _) = check(
        &format!("{repo}:1.0"),
        &["--policy", &plain, "--verify-key", &key.public()],
    );
    assert_eq!(
        code, 0,
        "the index alone is signed, children not asked: {res}"
    );
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    let with_children = policy(
        &dir.path().join("c"),
        "platform: {enabled: false}\nsignature: {children: true}\n",
    );
    let (code, res, _) = check(
        &format!("{repo}:1.0"),
        &["--policy", &with_children, "--verify-key", &key.public()],
    );
    assert_eq!(code, 3, "{res}");
    let msg = res["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{}: no signature found", children[0])),
        "{msg}"
    );
    for child in &children {
        sign(&cosign, &key, &format!("{repo}@{child}"), Kind::Legacy);
    }
    let (code, res, _) = check(
        &format!("{repo}:1.0"),
        &["--policy", &with_children, "--verify-key", &key.public()],
    );
    assert_eq!(code, 0, "{res}");
    assert_eq!(
        res["details"]["subjects"].as_array().unwrap().len(),
        1 + children.len(),
        "{res}"
    );
}
