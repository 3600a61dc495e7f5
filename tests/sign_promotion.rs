//! `promote --sign-key`: the promoted digest is signed in production and the promotion attested,
//! before any tag moves, against the real registries (distribution 2.8: fallback index; ferro:
//! the referrers API), and cosign 3.1.1 accepts both (`cosign verify --key`, `cosign
//! verify-attestation --key --type`). The legacy form merges into a `.sig` the carry brought.
//! A bad key is an input error before anything is written, and the key's text never appears in
//! any output. cosign's own encrypted key file signs with its password, which never shows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::Command;

use support::harness::{bin, ferro, registries, text, unique};
use support::signing::{KeyPair, Kind, cosign, data, image, policy, sign};

const PREDICATE: &str = "https://github.com/image-promote/image-promote/promotion/v1";

/// Runs `image-promote promote SRC DST ARGS…` with its audit in `dir`: exit code, the audit
/// record (when written), everything printed.
fn promote(
    src: &str,
    dst: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value, String) {
    let audit_dir = dir.join(unique("audit"));
    let mut cmd = bin();
    cmd.arg("promote")
        .arg(src)
        .arg(dst)
        .arg("--audit-dir")
        .arg(&audit_dir)
        .args(args)
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let audit = std::fs::read_dir(&audit_dir)
        .ok()
        .and_then(|mut d| {
            d.find_map(|e| {
                let p = e.ok()?.path();
                p.file_name()?
                    .to_str()?
                    .starts_with("promotion-")
                    .then_some(p)
            })
        })
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .unwrap_or_default();
    (out.status.code().unwrap_or(-1), audit, text(&out))
}

/// What `HOST/REPO:TAG` (`dst`) points at now.
fn tag_of(host: &str, dst: &str) -> Option<String> {
    let rest = dst.strip_prefix(&format!("{host}/")).unwrap();
    let (repo, tag) = rest.rsplit_once(':').unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(support::oci::tag_digest(host, repo, tag))
}

/// `cosign ARGS…` (offline), its success and output.
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

fn verify(cosign: &Path, public: &str, reference: &str) -> (bool, String) {
    verify_with(cosign, public, reference, &[])
}

fn verify_with(cosign: &Path, public: &str, reference: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "verify",
        "--key",
        public,
        "--insecure-ignore-tlog=true",
        "--allow-http-registry",
    ];
    args.extend_from_slice(extra);
    args.push(reference);
    cosign_run(cosign, &args)
}

fn verify_attestation(cosign: &Path, public: &str, reference: &str) -> (bool, String) {
    cosign_run(
        cosign,
        &[
            "verify-attestation",
            "--key",
            public,
            "--type",
            PREDICATE,
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            reference,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promotion_is_signed_and_attested_on_both_registries() {
    let Some(cosign) = cosign() else { return };
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    for (host, path) in [
        (r.production.clone(), "fallback-tag"),
        (ferro().to_owned(), "api"),
    ] {
        let (src_repo, digest) = image(&r.staging, "signme", "1.0").await;
        let dst = format!("{host}/{}", unique("signed"));
        let (src, dst_tag, d, p, c) = (
            format!("{src_repo}:1.0"),
            format!("{dst}:1.0"),
            dir.path().to_owned(),
            policy.clone(),
            cosign.clone(),
        );
        let run = move || {
            promote(
                &src,
                &dst_tag,
                &d,
                &["--policy", &p, "--sign-key", &data("p256.key")],
                &[],
            )
        };
        let again = run.clone();
        let (code, audit, all) = tokio::task::spawn_blocking(run).await.unwrap();
        assert_eq!(code, 0, "{all}");
        // A re-run signs nothing twice and attests nothing new: the promotion changed nothing.
        let (code, rerun, all) = tokio::task::spawn_blocking(again).await.unwrap();
        assert_eq!(code, 0, "{all}");
        assert_eq!(rerun["status"], "no-op", "{all}");
        assert_eq!(
            rerun["signing"]["signatures"][0]["path"], "present",
            "{rerun:#}"
        );
        assert_eq!(rerun["signing"]["attestations"], serde_json::json!([]));
        let reference = format!("{dst}@{digest}");
        let pubkey = data("p256.pub");
        let (ok, out) = verify(&c, &pubkey, &reference);
        assert!(ok, "cosign verify at {host}: {out}");
        let (ok, out) = verify_attestation(&c, &pubkey, &reference);
        assert!(ok, "cosign verify-attestation at {host}: {out}");
        // Another key is refused by cosign: the signature is ours, not anyone's.
        let other = data("other.pub");
        assert!(
            !verify(&c, &other, &reference).0,
            "another key must not verify"
        );
        let signing = &audit["signing"];
        assert_eq!(
            signing["signatures"].as_array().unwrap().len(),
            1,
            "{signing:#}"
        );
        assert_eq!(signing["signatures"][0]["format"], "sigstore-bundle");
        assert_eq!(signing["signatures"][0]["path"], path, "{signing:#}");
        assert_eq!(signing["attestations"][0]["path"], path);
        assert_eq!(signing["predicate_type"], PREDICATE);
        assert!(
            signing["key"].as_str().unwrap().starts_with("sha256:"),
            "{signing:#}"
        );
        // The predicate names what was promoted.
        let statement = attestation_statement(&out);
        assert_eq!(statement["predicateType"], PREDICATE);
        assert_eq!(statement["predicate"]["destination"]["digest"], digest);
        assert_eq!(statement["predicate"]["promotion_id"], audit["id"]);
        assert!(
            statement["predicate"]["checks"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
    }
}

/// The in-toto statement of the first attestation `cosign verify-attestation` printed (its DSSE
/// payload, base64).
fn attestation_statement(out: &str) -> serde_json::Value {
    use base64::Engine as _;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with('{') && l.contains("payload"))
        .unwrap_or_else(|| panic!("no envelope in {out}"));
    let envelope: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// An image signed the legacy way at staging (by another key, with cosign): `auto` signs the same
/// way, our layer joining the `.sig` the carry brought (and the attestation the `.att`), so a
/// default `cosign verify` finds both signatures (cosign 3 reads bundles first and falls back to
/// `.sig` only when there is none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_signing_merges_into_the_carried_sig() {
    let Some(cosign) = cosign() else { return };
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let (src_repo, digest) = image(&r.staging, "signed-src", "1.0").await;
    let theirs = KeyPair::new(&cosign);
    sign(
        &cosign,
        &theirs,
        &format!("{src_repo}@{digest}"),
        Kind::Legacy,
    );
    let dst = format!("{}/{}", r.production, unique("legacy"));
    let (src, dst_tag, d, p) = (
        format!("{src_repo}:1.0"),
        format!("{dst}:1.0"),
        dir.path().to_owned(),
        policy.clone(),
    );
    let (code, audit, all) = tokio::task::spawn_blocking(move || {
        promote(
            &src,
            &dst_tag,
            &d,
            &["--policy", &p, "--sign-key", &data("p256.key")],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{all}");
    let signing = &audit["signing"];
    assert_eq!(
        signing["signatures"][0]["format"], "cosign-legacy",
        "{signing:#}"
    );
    assert_eq!(
        signing["signatures"].as_array().unwrap().len(),
        1,
        "{signing:#}"
    );
    assert_eq!(signing["attestations"][0]["format"], "cosign-legacy");
    let reference = format!("{dst}@{digest}");
    // Both signatures are layers of the one `.sig` manifest: cosign's default verifier and its
    // legacy one accept each key.
    for key in [data("p256.pub"), theirs.public()] {
        for extra in [&[][..], &["--new-bundle-format=false"][..]] {
            let (ok, out) = verify_with(&cosign, &key, &reference, extra);
            assert!(ok, "cosign verify {extra:?} --key {key}: {out}");
        }
    }
    let (ok, out) = verify_attestation(&cosign, &data("p256.pub"), &reference);
    assert!(ok, "cosign verify-attestation of the .att: {out}");
    let sig = support::signing::get_manifest(&dst, &support::signing::sig_tag(&digest)).await;
    let sig: serde_json::Value = serde_json::from_slice(&sig).unwrap();
    assert_eq!(sig["layers"].as_array().unwrap().len(), 2, "{sig:#}");
}

/// A key that cannot sign is an input error (exit 2) before any request writes anything, naming
/// the key's path, never its text; a key given as text (a secret) never appears in any output.
#[test]
fn bad_keys_are_refused_and_the_key_never_shows() {
    let r = registries();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let src = format!("{}/app/small:1.0", r.staging);
    let p384 = dir.path().join("p384.key");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
        ])
        .arg(&p384)
        .status()
        .unwrap();
    assert!(status.success());
    let p384 = p384.display().to_string();
    for (key, want) in [
        (p384.as_str(), "P-256"),
        (&data("p256.pub") as &str, "public"),
    ] {
        let dst = format!("{}/{}:1.0", r.production, unique("badkey"));
        let (code, _, all) = promote(
            &src,
            &dst,
            dir.path(),
            &["--policy", &policy, "--sign-key", key],
            &[],
        );
        assert_eq!(code, 2, "{all}");
        assert!(all.contains(key), "names the key's path: {all}");
        assert!(all.contains(want), "says what is wrong ({want}): {all}");
        assert_eq!(
            tag_of(&r.production, &dst),
            None,
            "nothing is written: {dst}"
        );
    }
    // The key as text, from the environment (as a secret is passed): signs, and never shows.
    let pem = std::fs::read_to_string(data("p256.key")).unwrap();
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect();
    assert!(!body.is_empty());
    let dst = format!("{}/{}:1.0", r.production, unique("pemkey"));
    let (code, audit, all) = promote(
        &src,
        &dst,
        dir.path(),
        &["--policy", &policy],
        &[("IMAGE_PROMOTE_SIGN_KEY", &pem)],
    );
    assert_eq!(code, 0, "{all}");
    assert!(audit["signing"].is_object(), "{audit:#}");
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap_or_default();
    let audit_text = audit.to_string();
    for line in body {
        for (what, hay) in [
            ("output", &all),
            ("audit", &audit_text),
            ("summary", &summary),
        ] {
            assert!(!hay.contains(line), "the key's text is in the {what}");
        }
    }
    // A broken key given as text: the error never quotes it.
    let broken = pem.replace("MIG", "XYZ");
    let dst = format!("{}/{}:1.0", r.production, unique("brokenkey"));
    let (code, _, all) = promote(
        &src,
        &dst,
        dir.path(),
        &["--policy", &policy],
        &[("IMAGE_PROMOTE_SIGN_KEY", &broken)],
    );
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("signing key (PEM text)"), "{all}");
    for line in broken
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
    {
        assert!(!all.contains(line), "the broken key's text is shown: {all}");
    }
}

/// cosign's own password-encrypted key file (`cosign generate-key-pair`): it signs with its
/// password (`--sign-key-password` or `COSIGN_PASSWORD`) and cosign accepts the signature; without
/// the password, or with a wrong one, it is an input error before anything is written; the
/// password never shows. A key pair cosign made with the empty password needs none.
#[test]
fn cosign_encrypted_keys_sign_with_their_password() {
    let Some(cosign) = cosign() else { return };
    let r = registries();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), "");
    let src = format!("{}/app/small:1.0", r.staging);
    let key = data("cosign-encrypted.key");
    let password = "correct horse";
    let refused = [
        (
            vec![],
            vec![("COSIGN_PASSWORD", "")],
            "no password was given",
        ),
        (
            vec!["--sign-key-password", "correct horsE"],
            vec![],
            "the password does not open it",
        ),
        (
            vec![],
            vec![("COSIGN_PASSWORD", "wrong")],
            "the password does not open it",
        ),
    ];
    for (flags, env, want) in refused {
        let dst = format!("{}/{}:1.0", r.production, unique("encrypted"));
        let mut args = vec!["--policy", &policy, "--sign-key", &key];
        args.extend(flags);
        let (code, _, all) = promote(&src, &dst, dir.path(), &args, &env);
        assert_eq!(code, 2, "{all}");
        assert!(all.contains(want), "{want}: {all}");
        assert!(all.contains("--sign-key-password"), "the hint: {all}");
        assert!(!all.contains("correct horsE"), "the password shows: {all}");
        assert_eq!(tag_of(&r.production, &dst), None, "nothing is written");
    }
    for (flags, env) in [
        (vec!["--sign-key-password", password], vec![]),
        (vec![], vec![("COSIGN_PASSWORD", password)]),
    ] {
        let repo = format!("{}/{}", r.production, unique("encrypted"));
        let mut args = vec!["--policy", &policy, "--sign-key", &key];
        args.extend(flags);
        let (code, audit, all) = promote(&src, &format!("{repo}:1.0"), dir.path(), &args, &env);
        assert_eq!(code, 0, "{all}");
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        for (what, hay) in [
            ("output", &all),
            ("audit", &audit.to_string()),
            ("summary", &summary),
        ] {
            assert!(!hay.contains(password), "the password is in the {what}");
        }
        let digest = audit["image"]["destination_digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let (ok, out) = verify(
            &cosign,
            &data("cosign-encrypted.pub"),
            &format!("{repo}@{digest}"),
        );
        assert!(ok, "cosign verify --key cosign-encrypted.pub: {out}");
    }
    let empty = KeyPair::new(&cosign);
    let repo = format!("{}/{}", r.production, unique("emptypw"));
    let (code, audit, all) = promote(
        &src,
        &format!("{repo}:1.0"),
        dir.path(),
        &["--policy", &policy, "--sign-key", &empty.private()],
        &[("COSIGN_PASSWORD", "")],
    );
    assert_eq!(code, 0, "{all}");
    let digest = audit["image"]["destination_digest"].as_str().unwrap();
    let (ok, out) = verify(&cosign, &empty.public(), &format!("{repo}@{digest}"));
    assert!(
        ok,
        "cosign verify of the empty-password key's signature: {out}"
    );
}
