//! The referrers seam against real registries: ferro-oci-server (the referrers API) and
//! distribution 2.8 (no API: the fallback `sha256-<hex>` index), through `image_promote::referrers`
//! over the real `RegistryClient`: probe, list, attach, merging into an existing fallback index,
//! and a fallback tag holding something else.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use image_promote::digest::Digest;
use image_promote::error::Category;
use image_promote::reference::Reference;
use image_promote::referrers::{self, Path, ReferrersApi};
use image_promote::registry::RegistryClient;
use image_promote::registry::credentials::CredentialSource;
use image_promote::registry::retry::RetryPolicy;
use image_promote::registry::scheme::Connection;
use image_promote::registry::transport::TransportOptions;
use support::harness::{self, ferro, registries};
use support::oci::{self, OCI_MANIFEST, push_test_image, upload_blob};

const EMPTY: &[u8] = b"{}";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";

fn client() -> RegistryClient {
    oci::install_crypto();
    let connection = Arc::new(Connection::native(TransportOptions::default()).unwrap());
    RegistryClient::new(
        connection,
        CredentialSource::default(),
        RetryPolicy::default(),
        "destination",
    )
}

/// An artifact manifest with `subject`, its blob pushed; `label` makes it unique.
async fn referrer(
    host: &str,
    repo: &str,
    subject: &str,
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
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        "annotations": {"org.example.label": label},
    }))
    .unwrap()
}

async fn image(host: &str, name: &str) -> (Reference, Digest) {
    let repo = harness::unique(&format!("sig-ref/{name}"));
    let img = push_test_image(&oci::client(), host, &repo, "1.0", None)
        .await
        .unwrap();
    let reference = Reference::parse(&format!("{host}/{repo}:1.0")).unwrap();
    (reference, Digest::parse(&img.digest).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_path_on_ferro() {
    let host = ferro();
    let (repo, subject) = image(host, "api").await;
    let c = client();
    assert_eq!(
        referrers::probe(&c, &repo).await.unwrap(),
        ReferrersApi::Supported
    );
    let none = referrers::list(&c, &repo, &subject).await.unwrap();
    assert_eq!(none.path, Path::Api);
    assert!(none.descriptors.is_empty());
    let m = referrer(
        host,
        repo.repository(),
        &subject.to_string(),
        "application/x.unknown.kind",
        "one",
    )
    .await;
    let digest = Digest::sha256_of(&m);
    let attached = referrers::attach(&c, &repo, Bytes::from(m), OCI_MANIFEST, &subject)
        .await
        .unwrap();
    assert_eq!(attached.path, Path::Api);
    assert_eq!(attached.digest, digest);
    let listed = referrers::list(&c, &repo, &subject).await.unwrap();
    assert_eq!(listed.path, Path::Api);
    assert_eq!(listed.descriptors.len(), 1);
    let d = &listed.descriptors[0];
    assert_eq!(d.digest, digest);
    assert_eq!(
        d.artifact_type.as_deref(),
        Some("application/x.unknown.kind")
    );
    assert_eq!(
        d.annotations.get("org.example.label").map(String::as_str),
        Some("one")
    );
    // No fallback tag is written where the API exists.
    let tags = c.list_tags(&repo).await.unwrap();
    assert!(
        !tags.contains(&referrers::fallback_tag(&subject)),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_path_on_distribution_keeps_existing_entries() {
    let host = registries().production.clone();
    let (repo, subject) = image(&host, "fallback").await;
    let c = client();
    assert_eq!(
        referrers::probe(&c, &repo).await.unwrap(),
        ReferrersApi::Unsupported
    );
    let none = referrers::list(&c, &repo, &subject).await.unwrap();
    assert_eq!(none.path, Path::FallbackTag);
    assert!(none.descriptors.is_empty());
    // An index already at the fallback tag, with an entry of an unknown kind and its own field.
    let old = referrer(
        &host,
        repo.repository(),
        &subject.to_string(),
        "application/x.old",
        "old",
    )
    .await;
    let old_digest = Digest::sha256_of(&old);
    let http = oci::client();
    let put = |tag: String, body: Vec<u8>, ct: &'static str| {
        let http = http.clone();
        let url = format!("http://{host}/v2/{}/manifests/{tag}", repo.repository());
        async move {
            let r = http
                .put(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    put(old_digest.to_string(), old.clone(), OCI_MANIFEST).await;
    let existing = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": old_digest.to_string(), "size": old.len(), "artifactType": "application/x.old", "x-kept": true}]});
    put(
        referrers::fallback_tag(&subject),
        serde_json::to_vec(&existing).unwrap(),
        "application/vnd.oci.image.index.v1+json",
    )
    .await;

    let new = referrer(
        &host,
        repo.repository(),
        &subject.to_string(),
        "application/x.new",
        "new",
    )
    .await;
    let new_digest = Digest::sha256_of(&new);
    let a = referrers::attach(&c, &repo, Bytes::from(new.clone()), OCI_MANIFEST, &subject)
        .await
        .unwrap();
    assert_eq!(a.path, Path::FallbackTag);
    assert!(!a.already_listed);
    // Again: deduplicated by digest, nothing rewritten.
    let again = referrers::attach(&c, &repo, Bytes::from(new), OCI_MANIFEST, &subject)
        .await
        .unwrap();
    assert!(again.already_listed);

    let listed = referrers::list(&c, &repo, &subject).await.unwrap();
    assert_eq!(listed.path, Path::FallbackTag);
    let digests: Vec<_> = listed
        .descriptors
        .iter()
        .map(|d| d.digest.clone())
        .collect();
    assert_eq!(digests, vec![old_digest, new_digest.clone()]);
    let newd = &listed.descriptors[1];
    assert_eq!(newd.artifact_type.as_deref(), Some("application/x.new"));
    assert_eq!(
        newd.annotations
            .get("org.example.label")
            .map(String::as_str),
        Some("new")
    );
    // The old entry is kept byte for byte, its unknown field included.
    let raw = c
        .get_manifest(&repo, &referrers::fallback_tag(&subject))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw.bytes).unwrap();
    assert_eq!(v["manifests"][0], existing["manifests"][0]);
    // The referrer itself is stored by digest.
    assert_eq!(
        c.head_manifest(&repo, &new_digest.to_string())
            .await
            .unwrap(),
        Some(new_digest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_tag_holding_an_image_is_not_overwritten() {
    let host = registries().production.clone();
    let (repo, subject) = image(&host, "squatted").await;
    let c = client();
    // An image manifest sits at the fallback tag.
    let squatter = c.get_manifest(&repo, "1.0").await.unwrap();
    c.put_manifest(&repo, &referrers::fallback_tag(&subject), &squatter)
        .await
        .unwrap();
    let m = referrer(
        &host,
        repo.repository(),
        &subject.to_string(),
        "application/x.k",
        "k",
    )
    .await;
    let e = referrers::attach(&c, &repo, Bytes::from(m), OCI_MANIFEST, &subject)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Registry, "{e}");
    assert!(
        e.message.contains(&referrers::fallback_tag(&subject)),
        "{e}"
    );
    assert!(e.message.contains("not an OCI image index"), "{e}");
    let e = referrers::list(&c, &repo, &subject).await.unwrap_err();
    assert_eq!(e.category, Category::Registry, "{e}");
    // Still the squatter.
    assert_eq!(
        c.head_manifest(&repo, &referrers::fallback_tag(&subject))
            .await
            .unwrap(),
        Some(squatter.digest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_refuses_a_manifest_for_another_subject() {
    let host = ferro();
    let (repo, subject) = image(host, "other").await;
    let other = Digest::sha256_of(b"another image");
    let m = referrer(
        host,
        repo.repository(),
        &other.to_string(),
        "application/x.k",
        "k",
    )
    .await;
    let e = referrers::attach(&client(), &repo, Bytes::from(m), OCI_MANIFEST, &subject)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Validation, "{e}");
    assert!(e.message.contains("its subject is"), "{e}");
}

/// Where it is not known yet whether a repository has the API, the first listing asks the API
/// and reads the fallback tag at once (one round trip, not two, on a registry without it): the
/// fallback GET goes out even when the API's answer turns out to be an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_listing_asks_the_api_and_the_fallback_tag_at_once() {
    use support::proxy::{Fault, FaultProxy, Rule};
    // The same repository, reached through `proxy`.
    let via = |proxy: &FaultProxy, repo: &Reference| {
        Reference::parse(&format!("{}/{}:1.0", proxy.addr(), repo.repository())).unwrap()
    };
    let r = registries();
    let (at_registry, subject) = image(&r.production, "both-at-once").await;
    let proxy = FaultProxy::start(
        &r.production,
        vec![Rule::new(
            "/referrers/",
            Fault::oci_error(403, "DENIED", "not for you"),
        )],
    )
    .await;
    let repo = via(&proxy, &at_registry);
    let e = referrers::list(&client(), &repo, &subject)
        .await
        .unwrap_err();
    assert_eq!(e.category, Category::Permission, "{e}");
    let fallback = format!("/manifests/{}", referrers::fallback_tag(&subject));
    assert_eq!(
        proxy.count("GET", "/referrers/"),
        1,
        "{:?}",
        proxy.requests()
    );
    assert_eq!(proxy.count("GET", &fallback), 1, "{:?}", proxy.requests());

    // Without a fault: the first listing sends both; once the repository is known to lack the
    // API, a listing is the fallback GET alone.
    let proxy = FaultProxy::start(&r.production, vec![]).await;
    let (at_registry, subject) = image(&r.production, "known-fallback").await;
    let repo = via(&proxy, &at_registry);
    let c = client();
    for _ in 0..2 {
        let listed = referrers::list(&c, &repo, &subject).await.unwrap();
        assert_eq!(listed.path, Path::FallbackTag);
        assert!(listed.descriptors.is_empty());
    }
    let fallback = format!("/manifests/{}", referrers::fallback_tag(&subject));
    assert_eq!(
        proxy.count("GET", "/referrers/"),
        1,
        "{:?}",
        proxy.requests()
    );
    assert_eq!(proxy.count("GET", &fallback), 2, "{:?}", proxy.requests());
}
