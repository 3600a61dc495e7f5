//! ECDSA under the Node action (`dist/index.mjs`, Node 20 and Node 24): the component verifies and
//! signs through its host import `image-promote:host/ecdsa` (Node's crypto). `verify-key` passes
//! for an image cosign 3.1.1 signed (legacy `.sig` and Sigstore bundle) and refuses an unsigned one,
//! as the native binary does; `sign-key` signs and attests the promotion in either form, and
//! `cosign verify --key` / `cosign verify-attestation --key` accept what the Node action wrote.
//! Skipped only when cosign is absent outside CI (`scripts/harness/fetch-peers.sh`).

use std::path::Path;
use std::process::Command;

use crate::node::{nodes, run_node, shape};
use crate::runner::{Run, SMALL, run_action};
use crate::support::harness::{ferro, plain, registries, skopeo_digest, text, unique};
use crate::support::signing::{self, KeyPair, Kind, cosign, data};

const PREDICATE: &str = "https://github.com/image-promote/image-promote/promotion/v1";

/// The `signature` check of a run's audit.
fn signature_check(run: &Run) -> serde_json::Value {
    let audit = run.audit();
    audit["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "signature").cloned())
        .unwrap_or_else(|| panic!("no signature check in {audit:#}"))
}

/// `cosign ARGS…` offline in a directory of its own: success and everything printed.
fn cosign_run(cosign: &Path, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(cosign)
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("TUF_ROOT", dir.path().join("tuf"))
        .env_remove("SIGSTORE_ROOT_FILE")
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// `cosign verify --key PUBLIC` of `reference`, and `cosign verify-attestation` of the promotion
/// predicate.
fn cosign_verifies(cosign: &Path, public: &str, reference: &str) -> (bool, bool, String) {
    let common = [
        "--key",
        public,
        "--insecure-ignore-tlog=true",
        "--allow-http-registry",
    ];
    let mut args = vec!["verify"];
    args.extend(common);
    args.push(reference);
    let (signed, out) = cosign_run(cosign, &args);
    let mut args = vec!["verify-attestation", "--type", PREDICATE];
    args.extend(common);
    args.push(reference);
    let (attested, out2) = cosign_run(cosign, &args);
    (signed, attested, format!("{out}\n{out2}"))
}

/// `verify-key` with a cosign key: a legacy-signed and a bundle-signed image pass (the key as a
/// file path, then as PEM text; the bundle found by the fallback tag on distribution and by the
/// referrers API on ferro); an unsigned one, and one whose signature is not DER (what the host is
/// given must come back `false`, not a trap), are refused (exit 3, nothing written); every Node run
/// is the native binary's run.
#[test]
fn node_action_verifies_cosign_signatures_like_the_binary() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = KeyPair::new(&cosign);
    let dir = tempfile::tempdir().unwrap();
    let policy = signing::policy(dir.path(), "");
    let pem = std::fs::read_to_string(key.public()).unwrap();
    let staging = r.staging.as_str();
    // (registry, how cosign signed it, whether its signature is then made not DER, verify-key,
    // exit code, the check's status)
    let cases = [
        (staging, Some(Kind::Legacy), false, key.public(), 0, "pass"),
        (staging, Some(Kind::Bundle), false, pem.clone(), 0, "pass"),
        (ferro(), Some(Kind::Bundle), false, pem, 0, "pass"),
        (staging, None, false, key.public(), 3, "fail"),
        (staging, Some(Kind::Legacy), true, key.public(), 3, "fail"),
    ];
    for (host, kind, not_der, verify_key, code, status) in cases {
        let (repo, digest) = rt.block_on(signing::image(host, "node-verify", "1.0"));
        if let Some(kind) = kind {
            signing::sign(&cosign, &key, &format!("{repo}@{digest}"), kind);
        }
        if not_der {
            // Valid base64 of a DER SEQUENCE header with garbage after it.
            rt.block_on(signing::rewrite_sig(&repo, &digest, |layer, _| {
                layer["annotations"]["dev.cosignproject.cosign/signature"] =
                    serde_json::Value::from("MEQCIGdhcmJhZ2UgZ2FyYmFnZQ==");
            }));
        }
        let src = format!("{repo}:1.0");
        let inputs = |dst: &str| {
            [
                ("source", src.clone()),
                ("destination", dst.to_owned()),
                ("policy", policy.clone()),
                ("verify-key", verify_key.clone()),
            ]
        };
        let native_repo = unique("node-verify-native");
        let dst = format!("{}/{native_repo}:1.0", r.production);
        let owned = inputs(&dst);
        let native = run_action(&owned.each_ref().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(native.code(), Some(code), "{kind:?}: {}", text(&native.out));
        assert_eq!(signature_check(&native)["status"], status, "{kind:?}");
        let expected = shape(&native, &native_repo);
        for (label, node) in nodes() {
            let repo = unique(&format!("node-verify-{label}"));
            let dst = format!("{}/{repo}:1.0", r.production);
            let owned = inputs(&dst);
            let (run, ms) = run_node(&node, &owned.each_ref().map(|(k, v)| (*k, v.as_str())));
            assert_eq!(
                run.code(),
                Some(code),
                "{label} {kind:?}: {}",
                text(&run.out)
            );
            let check = signature_check(&run);
            assert_eq!(check["status"], status, "{label} {kind:?}: {check:#}");
            assert_eq!(
                shape(&run, &repo),
                expected,
                "{label} {kind:?} differs from the native binary"
            );
            let message = check["message"].as_str().unwrap_or_default();
            if code == 0 {
                assert_eq!(run.output("digest"), digest, "{label} {kind:?}");
                assert_eq!(
                    skopeo_digest(&dst, &plain()).as_deref(),
                    Some(digest.as_str())
                );
            } else {
                let want = if not_der {
                    "does not verify"
                } else {
                    "no signature found"
                };
                assert!(message.contains(want), "{label}: {message}");
                assert_eq!(
                    skopeo_digest(&dst, &plain()),
                    None,
                    "{label}: nothing written"
                );
            }
            eprintln!("{label}: {host} {kind:?} verify-key {status} in {ms} ms");
        }
    }
}

/// `sign-key` (tests/data/signatures/p256.key) under the Node action: the promoted digest is
/// signed and the promotion attested, in the bundle form (`auto` on distribution) with the key as
/// a path, and in the legacy form with the key as PEM text (which never shows); cosign accepts
/// both with p256.pub and refuses another key; the run is the native binary's.
#[test]
fn node_action_signs_the_promotion_and_cosign_verifies_it() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let pem = std::fs::read_to_string(data("p256.key")).unwrap();
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect();
    assert!(!body.is_empty());
    let (public, other) = (data("p256.pub"), data("other.pub"));
    for (key, format, form) in [
        (data("p256.key"), "auto", "sigstore-bundle"),
        (pem.clone(), "legacy", "cosign-legacy"),
    ] {
        let inputs = |dst: &str| {
            [
                ("source", src.clone()),
                ("destination", dst.to_owned()),
                ("sign-key", key.clone()),
                ("sign-format", format.to_owned()),
            ]
        };
        let native_repo = unique("node-sign-native");
        let dst = format!("{}/{native_repo}:1.0", r.production);
        let owned = inputs(&dst);
        let native = run_action(&owned.each_ref().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(native.code(), Some(0), "{format}: {}", text(&native.out));
        let expected = shape(&native, &native_repo);
        let native_signing = native.audit()["signing"].clone();
        for (label, node) in nodes() {
            let repo = unique(&format!("node-sign-{label}"));
            let dst = format!("{}/{repo}:1.0", r.production);
            let owned = inputs(&dst);
            let (run, ms) = run_node(&node, &owned.each_ref().map(|(k, v)| (*k, v.as_str())));
            assert_eq!(run.code(), Some(0), "{label} {format}: {}", text(&run.out));
            assert_eq!(
                shape(&run, &repo),
                expected,
                "{label} {format} differs from the native binary"
            );
            let signing = run.audit()["signing"].clone();
            assert_eq!(
                signing["signatures"][0]["format"], form,
                "{label}: {signing:#}"
            );
            for field in ["key", "predicate_type"] {
                assert_eq!(signing[field], native_signing[field], "{label}: {field}");
            }
            let reference = format!("{}/{repo}@{SMALL}", r.production);
            let (signed, attested, out) = cosign_verifies(&cosign, &public, &reference);
            assert!(signed, "{label} {format}: cosign verify refused: {out}");
            assert!(
                attested,
                "{label} {format}: cosign verify-attestation refused: {out}"
            );
            let (signed, _, _) = cosign_verifies(&cosign, &other, &reference);
            assert!(!signed, "{label} {format}: another key must not verify");
            let all = run.unmasked();
            for line in &body {
                assert!(!all.contains(line), "{label}: the key's text shows:\n{all}");
            }
            eprintln!("{label}: promoted, signed and attested ({format}) in {ms} ms");
        }
    }
}

/// cosign's own encrypted `cosign.key` under the Node action: `sign-key-password` opens it in
/// the wasm component (scrypt and secretbox run there), cosign accepts the signature with
/// cosign-encrypted.pub, and the password never shows.
#[test]
fn node_action_signs_with_cosigns_encrypted_key() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    let password = "correct horse";
    for (label, node) in nodes() {
        let repo = unique(&format!("node-encrypted-{label}"));
        let dst = format!("{}/{repo}:1.0", r.production);
        let key = data("cosign-encrypted.key");
        let (run, ms) = run_node(
            &node,
            &[
                ("source", src.as_str()),
                ("destination", dst.as_str()),
                ("sign-key", key.as_str()),
                ("sign-key-password", password),
            ],
        );
        assert_eq!(run.code(), Some(0), "{label}: {}", text(&run.out));
        let reference = format!("{}/{repo}@{SMALL}", r.production);
        let (signed, attested, out) =
            cosign_verifies(&cosign, &data("cosign-encrypted.pub"), &reference);
        assert!(signed && attested, "{label}: cosign refused: {out}");
        let all = run.unmasked();
        assert!(
            !all.contains(password),
            "{label}: the password shows:\n{all}"
        );
        eprintln!("{label}: signed with the encrypted key in {ms} ms");
    }
}
