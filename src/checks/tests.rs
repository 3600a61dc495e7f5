//! Unit tests of the synchronous checks on synthetic images built in memory (no registry): an
//! index with an attestation manifest, a shell-form entrypoint, labels from annotations, history
//! and diff_ids that disagree with the layers. The registry-backed tests are in `tests/checks.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::context::{ConfigRead, image_infos};
use super::*;
use crate::copy::ImageGraph;
use crate::media::{ImageConfig, Manifest, ManifestView, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::reference::Reference;

fn digest_of(v: &serde_json::Value) -> (Digest, usize) {
    let bytes = serde_json::to_vec(v).unwrap();
    (Digest::sha256_of(&bytes), bytes.len())
}

fn manifest(v: &serde_json::Value) -> Manifest {
    Manifest::parse("test", Bytes::from(serde_json::to_vec(v).unwrap()), None).unwrap()
}

const LAYER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// An image manifest + config; returns (manifest, config digest, parsed config).
fn image(config: &serde_json::Value, annotations: serde_json::Value) -> (Manifest, ImageConfig) {
    let (cd, cs) = digest_of(config);
    let m = manifest(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd.to_string(), "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER, "size": 10}],
        "annotations": annotations,
    }));
    let parsed = ImageConfig::parse(&cd, &serde_json::to_vec(config).unwrap()).unwrap();
    (m, parsed)
}

fn config(arch: &str, variant: Option<&str>, user: &str, entrypoint: &[&str]) -> serde_json::Value {
    json!({
        "created": "2024-01-01T00:00:00Z",
        "os": "linux",
        "architecture": arch,
        "variant": variant,
        "config": {"User": user, "Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": [LAYER]},
        "history": [{"created_by": "ADD x /"}, {"created_by": "USER 1000", "empty_layer": true}],
    })
}

struct Fixture {
    ctx: CheckContext,
}

impl Fixture {
    fn index(children: Vec<(Manifest, Option<ImageConfig>, serde_json::Value)>) -> Self {
        let entries: Vec<serde_json::Value> = children
            .iter()
            .map(|(m, _, entry)| {
                let mut e = entry.clone();
                e["mediaType"] = json!(OCI_MANIFEST);
                e["digest"] = json!(m.digest.to_string());
                e["size"] = json!(m.bytes.len());
                e
            })
            .collect();
        let root = manifest(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
            "annotations": {"org.opencontainers.image.source": "https://example.com/repo"},
        }));
        let mut configs: BTreeMap<Digest, ConfigRead> = BTreeMap::new();
        for (m, c, _) in &children {
            if let (ManifestView::Image { config, .. }, Some(c)) = (&m.view, c) {
                configs.insert(config.digest.clone(), (Some(c.clone()), None));
            }
        }
        let graph = ImageGraph {
            reference: Reference::parse("registry.example/app:1.0").unwrap(),
            root,
            children: children.into_iter().map(|(m, _, _)| m).collect(),
            blobs: Vec::new(),
            foreign: Vec::new(),
        };
        let images = image_infos(&graph, &configs);
        Self {
            ctx: CheckContext {
                graph,
                images,
                scan: None,
                expected_digest: None,
                github_sha: Some("124ecbc0e0e26f26eacb4c30bb925e46f140d8b9".to_owned()),
            },
        }
    }

    fn run(
        &self,
        policy: &Policy,
        check: fn(&CheckEnv<'_>) -> Vec<CheckResult>,
    ) -> Vec<CheckResult> {
        let transport = Arc::new(
            crate::registry::scheme::Connection::native(
                crate::registry::transport::TransportOptions::default(),
            )
            .unwrap(),
        );
        let client = RegistryClient::new(
            transport,
            crate::registry::credentials::CredentialSource::default(),
            crate::registry::retry::RetryPolicy::default(),
            "source",
        );
        let skip = BTreeSet::new();
        let env = CheckEnv {
            client: &client,
            ctx: &self.ctx,
            policy,
            deep: false,
            skip_deep_for: &skip,
        };
        check(&env)
    }
}

fn two_platforms_and_an_attestation() -> Fixture {
    let (amd, amd_c) = image(&config("amd64", None, "1000", &["/app"]), json!({}));
    let (arm, arm_c) = image(&config("arm64", Some("v8"), "1000", &["/app"]), json!({}));
    let (att, _) = image(&config("unknown", None, "", &[]), json!({}));
    Fixture::index(vec![
        (
            amd,
            Some(amd_c),
            json!({"platform": {"os": "linux", "architecture": "amd64"}}),
        ),
        (
            arm,
            Some(arm_c),
            json!({"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}),
        ),
        (
            att,
            None,
            json!({"platform": {"os": "unknown", "architecture": "unknown"},
                   "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}),
        ),
    ])
}

#[test]
fn attestation_manifests_are_not_platforms() {
    let f = two_platforms_and_an_attestation();
    assert_eq!(
        f.ctx.images.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [ImageKind::Image, ImageKind::Image, ImageKind::Attestation]
    );
    let mut policy = Policy::default();
    policy.platform.required = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ];
    let results = f.run(&policy, platform::check);
    assert!(
        results.iter().all(|r| r.status == CheckStatus::Pass),
        "{results:#?}"
    );
    let summary = results.last().unwrap();
    assert!(
        summary.message.contains("1 attestation manifest"),
        "{}",
        summary.message
    );
    assert_eq!(
        summary.details["present"],
        json!(["linux/amd64", "linux/arm64"])
    );
    // Per-platform checks skip the attestation: no root-user failure for it.
    let entry = f.run(&policy, entrypoint::check);
    assert_eq!(entry.len(), 2);
    assert!(entry.iter().all(|r| r.status == CheckStatus::Pass));
    assert_eq!(entry[1].platform.as_deref(), Some("linux/arm64/v8"));
}

#[test]
fn index_and_config_platforms_must_agree() {
    let (amd, amd_c) = image(&config("amd64", None, "1000", &["/app"]), json!({}));
    let f = Fixture::index(vec![(
        amd,
        Some(amd_c),
        json!({"platform": {"os": "linux", "architecture": "arm64"}}),
    )]);
    let results = f.run(&Policy::default(), platform::check);
    assert_eq!(results[0].status, CheckStatus::Fail);
    assert!(
        results[0]
            .message
            .contains("the index declares linux/arm64 but the config says linux/amd64"),
        "{}",
        results[0].message
    );
}

#[test]
fn shell_form_warns_and_labels_fall_back_to_annotations() {
    let mut c = config("amd64", None, "app", &["/bin/sh", "-c", "exec /app"]);
    c["config"]["Labels"] = json!({"org.opencontainers.image.version": "1.0.0"});
    let (m, parsed) = image(
        &c,
        json!({
            "org.opencontainers.image.revision": "124ecbc0e0e26f26eacb4c30bb925e46f140d8b9",
            "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        }),
    );
    let f = Fixture::index(vec![(
        m,
        Some(parsed),
        json!({"platform": {"os": "linux", "architecture": "amd64"}}),
    )]);
    let entry = f.run(&Policy::default(), entrypoint::check);
    assert_eq!(entry[0].status, CheckStatus::Warn, "{entry:#?}");
    assert!(entry[0].message.contains("shell form"));

    let mut policy = Policy::default();
    policy.labels.revision_matches_commit = true;
    let labels = f.run(&policy, labels::check);
    assert_eq!(labels[0].status, CheckStatus::Pass, "{labels:#?}");
    let sources = &labels[0].details["sources"];
    assert_eq!(sources["org.opencontainers.image.version"], "config");
    assert_eq!(
        sources["org.opencontainers.image.revision"],
        "manifest-annotations"
    );
    assert_eq!(
        sources["org.opencontainers.image.source"],
        "index-annotations"
    );
    assert_eq!(labels[0].details["revision"]["matches"], true);

    // Without the fallback, three are missing; a pattern that does not match fails too.
    policy.labels.annotations_fallback = false;
    policy
        .labels
        .required
        .push(crate::policy::LabelRule::parse("org.opencontainers.image.version=2\\..*").unwrap());
    let labels = f.run(&policy, labels::check);
    assert_eq!(labels[0].status, CheckStatus::Fail);
    assert_eq!(labels[0].details["missing"].as_array().unwrap().len(), 3);
    assert_eq!(
        labels[0].details["mismatched"],
        json!(["org.opencontainers.image.version"])
    );
}

#[test]
fn metadata_compares_history_and_diff_ids_with_layers() {
    let mut c = config("amd64", None, "1000", &["/app"]);
    c["history"] = json!([{"created_by": "a"}, {"created_by": "b"}]);
    c.as_object_mut().unwrap().remove("created");
    let (m, parsed) = image(&c, json!({}));
    let f = Fixture::index(vec![(
        m,
        Some(parsed),
        json!({"platform": {"os": "linux", "architecture": "amd64"}}),
    )]);
    let results = f.run(&Policy::default(), metadata::check);
    assert_eq!(results[0].status, CheckStatus::Fail);
    assert_eq!(
        results[0].severity,
        Severity::Medium,
        "metadata warns by default"
    );
    assert!(
        results[0].message.contains("lacks created"),
        "{}",
        results[0].message
    );
    assert!(
        results[0]
            .message
            .contains("history has 2 non-empty entries for 1 layers")
    );
    let gate = crate::policy::gate(&mut results.clone(), None);
    assert_eq!(
        gate.decision,
        crate::policy::GateDecision::PromoteWithWarnings
    );
}

#[test]
fn disabled_checks_are_skipped_visibly() {
    let f = two_platforms_and_an_attestation();
    let mut policy = Policy::default();
    policy.labels.enabled = false;
    policy.layers.enabled = false;
    let transport = Arc::new(
        crate::registry::scheme::Connection::native(
            crate::registry::transport::TransportOptions::default(),
        )
        .unwrap(),
    );
    let client = RegistryClient::new(
        transport,
        crate::registry::credentials::CredentialSource::default(),
        crate::registry::retry::RetryPolicy::default(),
        "source",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let results = runtime.block_on(run_checks(&client, &f.ctx, &policy, false));
    let labels: Vec<_> = results.iter().filter(|r| r.id == "labels").collect();
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].status, CheckStatus::Skipped);
    assert_eq!(labels[0].message, "disabled by the policy");
    assert!(
        results
            .iter()
            .any(|r| r.id == "scan" && r.status == CheckStatus::Skipped)
    );
}
