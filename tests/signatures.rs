//! The `signature` check against real registries and real cosign 3.1.1 signatures: legacy `.sig`
//! and Sigstore bundles, on distribution 2.8 (fallback tag) and ferro-oci-server (referrers API);
//! signatures of another key, of another digest, tampered, missing, oversized or malformed fail
//! naming the problem; force overrides with a reason; bad keys are input errors (exit 2). And what
//! `image_promote::signature` signs, cosign verifies. Skipped only when cosign is absent outside
//! CI (`scripts/harness/fetch-peers.sh` installs it; in CI its absence fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::harness::{self, bin, ferro, registries};
use support::oci::{self, OCI_MANIFEST, push_test_image, upload_blob};
use support::signing::{
    KeyPair, Kind, attach, check, cosign, data, get_blob, get_manifest, image, policy, put_index,
    put_manifest, rewrite_sig, run_cosign, sig_tag, sign,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_signatures_verify_in_both_formats_on_both_registries() {
    let Some(cosign) = cosign() else { return };
    let staging = registries().staging.clone();
    let key = KeyPair::new(&cosign);
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let (keyed, disabled) = (dir.path().join("keyed"), dir.path().join("off"));
    std::fs::create_dir_all(&keyed).unwrap();
    std::fs::create_dir_all(&disabled).unwrap();
    let with_key = support::signing::policy(
        &keyed,
        &format!("signature: {{keys: ['{}']}}\n", key.public()),
    );
    let off = support::signing::policy(
        &disabled,
        &format!(
            "signature: {{enabled: false, keys: ['{}']}}\n",
            key.public()
        ),
    );
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
        assert_eq!(r["status"], "pass", "{host} {kind:?}: {r}");
        // The key from the policy file alone; and a flag beats `enabled: false` in the file.
        let (code, r, _) = check(&reference, &["--policy", &with_key]);
        assert_eq!((code, &r["status"]), (0, &Value::from("pass")), "{r}");
        let (code, r, _) = check(
            &reference,
            &["--policy", &off, "--verify-key", &key.public()],
        );
        assert_eq!((code, &r["status"]), (0, &Value::from("pass")), "{r}");
        let (_, r, _) = check(&reference, &["--policy", &off]);
        assert_eq!(r["status"], "skipped", "{r}");
    }
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

    // A tampered bundle: its statement changed, the blob, the referrer and the fallback index
    // rewritten to match. The bundle still names the key (its hint), which no longer verifies it.
    let (repo, digest) = image(&host, "tampered-bundle", "1.0").await;
    sign(&cosign, &key, &format!("{repo}@{digest}"), Kind::Bundle);
    tamper_bundle(&repo, &digest).await;
    let (code, r, _) = verify(&format!("{repo}@{digest}"), &[]);
    assert_eq!(code, 3, "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("sigstore-bundle"), "{msg}");
    assert!(msg.contains("the bundle names the given key"), "{msg}");
    assert!(msg.contains("the signed payload was changed"), "{msg}");

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

/// Rewrites the one bundle referrer in `repo`'s fallback index for `digest`: the statement's
/// predicate changed (the signature kept), the bundle blob, the referrer manifest and the index
/// pushed again to match.
async fn tamper_bundle(repo: &str, digest: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (host, name) = repo.split_once('/').unwrap();
    let http = oci::client();
    let index_tag = digest.replace(':', "-");
    let mut index: Value = serde_json::from_slice(&get_manifest(repo, &index_tag).await).unwrap();
    let referrer = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut manifest: Value = serde_json::from_slice(&get_manifest(repo, &referrer).await).unwrap();
    let blob = get_blob(repo, manifest["layers"][0]["digest"].as_str().unwrap()).await;
    let mut bundle: Value = serde_json::from_slice(&blob).unwrap();
    let payload = b64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let mut statement: Value = serde_json::from_slice(&payload).unwrap();
    statement["predicate"] = serde_json::json!({"tampered": true});
    bundle["dsseEnvelope"]["payload"] =
        Value::from(b64.encode(serde_json::to_vec(&statement).unwrap()));
    let blob = serde_json::to_vec(&bundle).unwrap();
    let blob_digest = upload_blob(&http, host, name, blob.clone(), None)
        .await
        .unwrap();
    manifest["layers"][0]["digest"] = Value::from(blob_digest);
    manifest["layers"][0]["size"] = Value::from(blob.len());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = oci::sha256_digest(&manifest);
    put_manifest(repo, &manifest_digest, manifest.clone()).await;
    index["manifests"][0]["digest"] = Value::from(manifest_digest);
    index["manifests"][0]["size"] = Value::from(manifest.len());
    put_index(repo, &index_tag, serde_json::to_vec(&index).unwrap()).await;
}
