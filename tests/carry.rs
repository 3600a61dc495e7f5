//! The carry, end to end on real registries: images signed with cosign 3.1.1 (legacy `.sig`,
//! v3 bundle referrer, `.sbom`, `.att`; `tests/support/cosign.rs`) and a referrer of the bundle,
//! promoted with the binary between distribution 2.8 (no referrers API: the fallback tag) and
//! ferro-oci-server (the API), each as source and as destination. At the destination `cosign
//! verify` accepts the digest in both formats, every referrer of the source (root and children)
//! is there with the same digest, a foreign entry already there is kept, a second run carries
//! nothing and costs a few requests, `--no-referrers` and `--dry-run` write nothing, a differing
//! `.sig` is kept and a listed referrer of another subject skipped, each with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use image_promote::digest::Digest;
use image_promote::media::ManifestView;
use image_promote::reference::Reference;
use image_promote::referrers;
use image_promote::registry::RegistryClient;
use image_promote::registry::credentials::CredentialSource;
use image_promote::registry::retry::RetryPolicy;
use image_promote::registry::scheme::Connection;
use image_promote::registry::transport::TransportOptions;
use serde_json::Value;
use support::cosign::Cosign;
use support::harness::{audit_in, ferro, pairs, promote, registries, text, unique};
use support::oci::{self, OCI_MANIFEST, upload_blob};

const EMPTY: &[u8] = b"{}";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const NOTE_TYPE: &str = "application/x.image-promote.test.note";

/// Where an image lives: distribution 2.8 (staging as a source, production as a destination)
/// or ferro-oci-server.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Distribution,
    Ferro,
}

fn source_host(kind: Kind) -> String {
    match kind {
        Kind::Distribution => registries().staging.clone(),
        Kind::Ferro => {
            registries();
            ferro().to_owned()
        }
    }
}

fn destination_host(kind: Kind) -> String {
    match kind {
        Kind::Distribution => registries().production.clone(),
        Kind::Ferro => {
            registries();
            ferro().to_owned()
        }
    }
}

fn client() -> RegistryClient {
    oci::install_crypto();
    let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
    RegistryClient::new(
        connection,
        CredentialSource::default(),
        RetryPolicy::default(),
        "test",
    )
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

fn run(args: &[&str]) -> std::process::Output {
    let out = promote(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    out
}

/// Copies the fixture `app/<name>:1.0` into a new repository on `host` (nothing carried);
/// returns `host/repo` and the digest.
fn fixture(name: &str, host: &str) -> (String, Digest) {
    let repo = format!("{host}/{}", unique(&format!("carry/{name}")));
    let src = format!("{}/app/{name}:1.0", registries().staging);
    let out = run(&[
        "copy",
        "--no-referrers",
        "--json",
        &src,
        &format!("{repo}:1.0"),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = Digest::parse(report["source_digest"].as_str().unwrap()).unwrap();
    (repo, digest)
}

/// A small artifact manifest whose subject is `subject` (of `subject_type`), its blobs pushed.
async fn artifact(
    host: &str,
    repo: &str,
    subject: &Digest,
    artifact_type: &str,
    label: &str,
) -> Vec<u8> {
    let http = oci::client();
    let blob = format!("{{\"label\":\"{label}\"}}").into_bytes();
    let blob_digest = upload_blob(&http, host, repo, blob.clone(), None)
        .await
        .unwrap();
    upload_blob(&http, host, repo, EMPTY.to_vec(), None)
        .await
        .unwrap();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": oci::sha256_digest(EMPTY), "size": 2},
        "layers": [{"mediaType": "application/json", "digest": blob_digest, "size": blob.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": 1},
        "annotations": {"org.example.label": label},
    }))
    .unwrap()
}

/// Attaches an artifact of `artifact_type` to `subject` in `repo` (API or fallback index).
async fn attach(repo: &str, subject: &Digest, artifact_type: &str, label: &str) -> Digest {
    let r = reference(repo);
    let m = artifact(r.registry(), r.repository(), subject, artifact_type, label).await;
    referrers::attach(&client(), &r, Bytes::from(m), OCI_MANIFEST, subject)
        .await
        .unwrap()
        .digest
}

/// The referrer digests of `subject` in `repo`.
async fn listed(repo: &str, subject: &Digest) -> Vec<Digest> {
    referrers::list(&client(), &reference(repo), subject)
        .await
        .unwrap()
        .descriptors
        .into_iter()
        .map(|d| d.digest)
        .collect()
}

async fn tag(repo: &str, tag: &str) -> Option<Digest> {
    client().head_manifest(&reference(repo), tag).await.unwrap()
}

/// app/small in a new repository of `kind`, signed: legacy `.sig`, v3 bundle (a referrer),
/// `.sbom`, `.att`, and a note referring to the bundle (a referrer of a referrer). Returns the
/// repository, the digest and the bundle's digest.
async fn signed_small(cosign: &Cosign, kind: Kind) -> (String, Digest, Digest) {
    let (repo, digest) = fixture("small", &source_host(kind));
    let at = format!("{repo}@{digest}");
    cosign.sign_legacy(&at);
    cosign.sign_bundle(&at);
    cosign.attach_sbom(&at);
    cosign.attest_legacy(&at);
    let bundle = listed(&repo, &digest).await;
    assert_eq!(
        bundle.len(),
        1,
        "the bundle is the one referrer: {bundle:?}"
    );
    let bundle = bundle[0].clone();
    attach(&repo, &bundle, NOTE_TYPE, "note").await;
    (repo, digest, bundle)
}

fn promote_to(src: &str, dst: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().display().to_string();
    let mut args = vec!["promote", "--summary=false", "--audit-dir", &audit_dir];
    args.extend_from_slice(extra);
    args.extend([src, dst]);
    run(&args);
    audit_in(dir.path())
}

fn statuses(record: &Value) -> Vec<(String, String)> {
    pairs(&record["copy"]["referrers"], "kind", "status")
}

/// `copy --json` of `src` to `dst`: (source, destination) requests.
fn requests(src: &str, dst: &str, extra: &[&str]) -> (u64, u64) {
    let mut args = vec!["copy", "--json", src, dst];
    args.extend_from_slice(extra);
    let out = run(&args);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["no_op"], true, "{report}");
    let r = &report["requests"];
    (r[0].as_u64().unwrap(), r[1].as_u64().unwrap())
}

async fn carries_small(from: Kind, to: Kind) {
    let Some(cosign) = Cosign::find() else { return };
    let (src, digest, bundle) = signed_small(&cosign, from).await;
    let dst = format!("{}/{}", destination_host(to), unique("carry/small-dst"));
    // Something of someone else's already refers to the digest at the destination.
    let foreign = attach(&dst, &digest, "application/x.someone.else", "foreign").await;

    let record = promote_to(&format!("{src}:1.0"), &format!("{dst}:1.0"), &[]);
    assert_eq!(record["status"], "promoted", "{record}");
    let mut got = statuses(&record);
    got.sort();
    let carried = |k: &str| (k.to_owned(), "carried".to_owned());
    assert_eq!(
        got,
        [
            carried("cosign-att"),
            carried("cosign-sbom"),
            carried("cosign-sig"),
            carried("referrer"),
            carried("referrer"),
        ],
        "{record}"
    );

    // Both formats verify at the destination.
    let at = format!("{dst}@{digest}");
    let (ok, out) = cosign.verify(&at, true);
    assert!(ok, "legacy .sig at {at}: {out}");
    let (ok, out) = cosign.verify(&at, false);
    assert!(ok, "default verify at {at}: {out}");

    // Every referrer of the source is at the destination with the same digest; the foreign one
    // is kept.
    let mut want = listed(&src, &digest).await;
    want.push(foreign.clone());
    want.sort();
    let mut have = listed(&dst, &digest).await;
    have.sort();
    assert_eq!(have, want);
    assert_eq!(listed(&dst, &bundle).await, listed(&src, &bundle).await);
    assert_eq!(listed(&dst, &bundle).await.len(), 1);
    for suffix in ["sig", "att", "sbom"] {
        let t = referrers::cosign_tag(&digest, suffix);
        assert!(tag(&src, &t).await.is_some(), "{t}");
        assert_eq!(tag(&dst, &t).await, tag(&src, &t).await, "{t}");
    }
    let paths: Vec<&str> = record["copy"]["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "referrer")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    let types: Vec<&str> = record["copy"]["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "referrer")
        .map(|r| r["artifact_type"].as_str().unwrap())
        .collect();
    // Read from each manifest (cosign's fallback entries on distribution say `empty.v1`).
    assert_eq!(types, [BUNDLE_TYPE, NOTE_TYPE]);
    let want_path = if to == Kind::Ferro {
        "api"
    } else {
        "fallback-tag"
    };
    assert!(paths.iter().all(|p| *p == want_path), "{paths:?}");

    // A second run carries nothing, and the carry costs a few requests.
    let again = promote_to(&format!("{src}:1.0"), &format!("{dst}:1.0"), &[]);
    assert_eq!(again["status"], "no-op", "{again}");
    assert!(
        statuses(&again).iter().all(|(_, s)| s == "present"),
        "{again}"
    );
    let (src_with, dst_with) = requests(&format!("{src}:1.0"), &format!("{dst}:1.0"), &[]);
    let (src_without, dst_without) = requests(
        &format!("{src}:1.0"),
        &format!("{dst}:1.0"),
        &["--no-referrers"],
    );
    let (src_added, dst_added) = (src_with - src_without, dst_with - dst_without);
    eprintln!(
        "no-op re-run {from:?} -> {to:?}: the carry added {src_added} request(s) at the source, {dst_added} at the destination ({src_without}/{dst_without} without it)"
    );
    // Source: 3 cosign HEADs, the listing of the digest (+1 for the API probe on distribution),
    // of the bundle and of the note; destination: 3 cosign HEADs, the digest's and the bundle's
    // listing (+1).
    assert!(src_added <= 7, "{src_added} requests added at the source");
    assert!(
        dst_added <= 6,
        "{dst_added} requests added at the destination"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_distribution_to_distribution() {
    carries_small(Kind::Distribution, Kind::Distribution).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_distribution_to_ferro() {
    carries_small(Kind::Distribution, Kind::Ferro).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_ferro_to_distribution() {
    carries_small(Kind::Ferro, Kind::Distribution).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_ferro_to_ferro() {
    carries_small(Kind::Ferro, Kind::Ferro).await;
}

/// app/multi: the index signed (legacy), its amd64 child by a bundle only, its arm64 child by a
/// legacy `.sig` and an SBOM; each child's signature verifies at the destination on its own.
async fn carries_multi(from: Kind, to: Kind) {
    let Some(cosign) = Cosign::find() else { return };
    let (src, digest) = fixture("multi", &source_host(from));
    let index = client()
        .get_manifest(&reference(&src), &digest.to_string())
        .await
        .unwrap();
    let ManifestView::Index { manifests } = &index.view else {
        panic!("app/multi is an index")
    };
    let children: Vec<Digest> = manifests.iter().map(|m| m.digest.clone()).collect();
    assert!(children.len() >= 2);
    cosign.sign_legacy(&format!("{src}@{digest}"));
    cosign.sign_bundle(&format!("{src}@{}", children[0]));
    cosign.sign_legacy(&format!("{src}@{}", children[1]));
    cosign.attach_sbom(&format!("{src}@{}", children[1]));

    let dst = format!("{}/{}", destination_host(to), unique("carry/multi-dst"));
    let record = promote_to(&format!("{src}:1.0"), &format!("{dst}:1.0"), &[]);
    assert_eq!(record["status"], "promoted", "{record}");
    let mut got = statuses(&record);
    got.sort();
    let carried = |k: &str| (k.to_owned(), "carried".to_owned());
    assert_eq!(
        got,
        [
            carried("cosign-sbom"),
            carried("cosign-sig"),
            carried("cosign-sig"),
            carried("referrer"),
        ],
        "{record}"
    );
    let (ok, out) = cosign.verify(&format!("{dst}@{digest}"), true);
    assert!(ok, "the index's .sig: {out}");
    let (ok, out) = cosign.verify(&format!("{dst}@{}", children[0]), false);
    assert!(ok, "the amd64 child's bundle (its only signature): {out}");
    let (ok, out) = cosign.verify(&format!("{dst}@{}", children[1]), true);
    assert!(ok, "the arm64 child's .sig: {out}");
    for child in &children {
        assert_eq!(
            listed(&dst, child).await,
            listed(&src, child).await,
            "{child}"
        );
    }
    let sbom = referrers::cosign_tag(&children[1], "sbom");
    assert_eq!(tag(&dst, &sbom).await, tag(&src, &sbom).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_distribution_to_ferro() {
    carries_multi(Kind::Distribution, Kind::Ferro).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_ferro_to_distribution() {
    carries_multi(Kind::Ferro, Kind::Distribution).await;
}

/// `--dry-run` lists what would be carried and writes nothing; `--no-referrers` carries
/// nothing: the destination has the image, unsigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_no_referrers_write_nothing() {
    let Some(cosign) = Cosign::find() else { return };
    let (src, digest, _) = signed_small(&cosign, Kind::Distribution).await;
    let dst = format!(
        "{}/{}",
        destination_host(Kind::Distribution),
        unique("carry/none")
    );

    let dry = promote_to(&format!("{src}:1.0"), &format!("{dst}:1.0"), &["--dry-run"]);
    assert_eq!(dry["status"], "dry-run", "{dry}");
    let s = statuses(&dry);
    assert_eq!(s.len(), 5, "3 cosign tags, the bundle and its note: {dry}");
    assert!(s.iter().all(|(_, s)| s == "would-carry"), "{dry}");

    let none = promote_to(
        &format!("{src}:1.0"),
        &format!("{dst}:1.0"),
        &["--no-referrers"],
    );
    assert_eq!(none["status"], "promoted", "{none}");
    assert!(statuses(&none).is_empty(), "{none}");
    for suffix in ["sig", "att", "sbom"] {
        assert_eq!(
            tag(&dst, &referrers::cosign_tag(&digest, suffix)).await,
            None
        );
    }
    assert!(listed(&dst, &digest).await.is_empty());
    let (ok, _) = cosign.verify(&format!("{dst}@{digest}"), false);
    assert!(!ok, "nothing was carried, so nothing verifies");
}

/// A `.sig` at the destination that differs from the source's is kept and reported; a referrer
/// listed in the source's fallback index whose subject is another digest is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_differing_sig_is_kept_and_a_wrong_subject_skipped() {
    let Some(cosign) = Cosign::find() else { return };
    let (src, digest) = fixture("small", &source_host(Kind::Distribution));
    let at = format!("{src}@{digest}");
    cosign.sign_legacy(&at);
    // The source's fallback index also lists a manifest that refers to another digest.
    let other = Digest::sha256_of(b"some other image");
    let stray = attach(&src, &other, "application/x.stray", "stray").await;
    let c = client();
    let src_ref = reference(&src);
    let fallback = referrers::fallback_tag(&digest);
    let stray_manifest = c.get_manifest(&src_ref, &stray.to_string()).await.unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": stray.to_string(), "size": stray_manifest.bytes.len(), "artifactType": "application/x.stray"}]});
    let index = image_promote::media::Manifest::parse(
        "index",
        Bytes::from(serde_json::to_vec(&index).unwrap()),
        None,
    )
    .unwrap();
    c.put_manifest(&src_ref, &fallback, &index).await.unwrap();

    // The destination already has a `.sig` of its own for the digest (another key's, say).
    let dst = format!(
        "{}/{}",
        destination_host(Kind::Distribution),
        unique("carry/kept")
    );
    let dst_ref = reference(&dst);
    let theirs = artifact(
        dst_ref.registry(),
        dst_ref.repository(),
        &other,
        "application/x.theirs",
        "theirs",
    )
    .await;
    let theirs =
        image_promote::media::Manifest::parse("theirs", Bytes::from(theirs), None).unwrap();
    let sig = referrers::cosign_tag(&digest, "sig");
    c.put_manifest(&dst_ref, &sig, &theirs).await.unwrap();

    let record = promote_to(&format!("{src}:1.0"), &format!("{dst}:1.0"), &[]);
    assert_eq!(record["status"], "promoted", "{record}");
    let items = record["copy"]["referrers"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{record}");
    let sig_item = items.iter().find(|r| r["kind"] == "cosign-sig").unwrap();
    assert_eq!(sig_item["status"], "skipped", "{record}");
    assert!(
        sig_item["reason"].as_str().unwrap().contains("is kept"),
        "{record}"
    );
    let stray_item = items.iter().find(|r| r["kind"] == "referrer").unwrap();
    assert_eq!(stray_item["status"], "skipped", "{record}");
    assert!(
        stray_item["reason"]
            .as_str()
            .unwrap()
            .contains("its subject is"),
        "{record}"
    );
    assert_eq!(tag(&dst, &sig).await, Some(theirs.digest));
    assert!(listed(&dst, &digest).await.is_empty());
}

/// A failure to carry fails the promotion before its tags (a REGISTRY error, exit 4), never a
/// silent drop: here the source's fallback tag holds an image instead of an index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_to_carry_fails_the_promotion_before_the_tags() {
    let (src, digest) = fixture("small", &source_host(Kind::Distribution));
    let c = client();
    let src_ref = reference(&src);
    let image = c.get_manifest(&src_ref, &digest.to_string()).await.unwrap();
    c.put_manifest(&src_ref, &referrers::fallback_tag(&digest), &image)
        .await
        .unwrap();
    let dst = format!(
        "{}/{}",
        destination_host(Kind::Distribution),
        unique("carry/failed")
    );
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().display().to_string();
    let (from, to) = (format!("{src}:1.0"), format!("{dst}:1.0"));
    let out = promote(&[
        "promote",
        "--summary=false",
        "--audit-dir",
        &audit_dir,
        &from,
        &to,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(&referrers::fallback_tag(&digest)),
        "{}",
        text(&out)
    );
    let record = audit_in(dir.path());
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["errors"][0]["category"], "REGISTRY", "{record}");
    assert_eq!(tag(&dst, "1.0").await, None, "no tag after a failed carry");
    // Without the carry the same promotion goes through.
    run(&[
        "promote",
        "--summary=false",
        "--audit-dir",
        &audit_dir,
        "--no-referrers",
        &from,
        &to,
    ]);
    assert_eq!(tag(&dst, "1.0").await, Some(digest));
}
