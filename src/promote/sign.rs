//! Signing the promotion (`--sign-key`): once the image and what the carry brought are verified
//! at the destination, and before its first tag is written, the promoted digest is signed in
//! production the way `cosign sign --key` does, and a promotion attestation (a DSSE-signed
//! in-toto statement whose predicate [`PROMOTION_PREDICATE`] holds the promotion's essentials:
//! source and destination, the checks and their results, the gate, approvals, run) is attached
//! to it. Two forms, as cosign has them:
//! - `bundle`: Sigstore bundles (DSSE over an in-toto statement; the signature's predicate
//!   `https://sigstore.dev/cosign/sign/v1`) attached as OCI 1.1 referrers;
//! - `legacy`: a simple-signing layer added to the `sha256-<hex>.sig` manifest and a DSSE
//!   envelope layer added to `sha256-<hex>.att`, merged with the layers already there (never
//!   overwriting them).
//!
//! `auto` (the default) signs in the form(s) the image's signatures already have at the
//! destination (after the carry), else as a bundle: cosign 3's `verify` reads bundles first and
//! falls back to `.sig` only when there is none, so a bundle added beside a legacy-only
//! signature would hide that signature from a default `cosign verify` with its own key.
//! `cosign verify --key` and `cosign verify-attestation --key --type <predicate>` accept what
//! is written. The key is read once, held as a
//! [`PrivateKey`](crate::signature::key::PrivateKey) (never printed), and never leaves the
//! process.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Value, json};

use super::Recorder;
use crate::copy::BeforeTags;
use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::media::{MAX_MANIFEST_BYTES, Manifest, OCI_MANIFEST};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::report::Promotion;
use crate::report::facts::{SignatureFact, SigningFacts};
use crate::signature::key::PrivateKey;
use crate::signature::{Format, bundle, legacy};

/// The predicate type of the promotion attestation.
pub const PROMOTION_PREDICATE: &str = "https://github.com/image-promote/image-promote/promotion/v1";

/// Which form the promotion's signature and attestation take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignFormat {
    /// The form(s) the image's signatures have at the destination; a bundle when it has none.
    Auto,
    /// Sigstore bundles attached as referrers (what cosign 3 writes and verifies).
    Bundle,
    /// cosign's `sha256-<hex>.sig` and `.att` tags (what cosign 2 and older verifiers read).
    Legacy,
}

/// How to sign: the key and the format.
#[derive(Debug)]
pub struct Signing {
    /// The private key.
    pub key: PrivateKey,
    /// The signature's form.
    pub format: SignFormat,
}

/// Reads the signing key: PEM text (`PRIVATE KEY` PKCS#8, `EC PRIVATE KEY`, cosign's
/// `ENCRYPTED SIGSTORE PRIVATE KEY` opened with `password`), or the path of a PEM file.
///
/// # Errors
/// An input error naming the path (never the key's text nor the password) and what is wrong.
pub fn load_private_key(value: &str, password: Option<&str>) -> Result<PrivateKey> {
    let value = value.trim();
    let (what, text) = if value.contains("-----BEGIN") {
        ("the signing key (PEM text)".to_owned(), value.to_owned())
    } else {
        let what = format!("the signing key {}", crate::text::shorten(value));
        let text = std::fs::read_to_string(value).map_err(|e| {
            Error::input(format!("{what}: cannot read it: {e}")).hint(
                "give the path of a PEM private key file, or the PEM text itself (for example from a secret)",
            )
        })?;
        (what, text)
    };
    PrivateKey::from_pem_with_password(&text, password.map(str::as_bytes))
        .map_err(|e| e.into_error(&what))
}

/// Signs `root` at `dst` before the tags move, recording what was written.
pub struct SignHook<'a> {
    /// The destination registry.
    pub destination: &'a RegistryClient,
    /// The destination repository.
    pub dst: &'a Reference,
    /// The promoted top manifest.
    pub root: &'a Manifest,
    /// Key and format.
    pub signing: &'a Arc<Signing>,
    /// The record (read for the attestation, written with the facts).
    pub rec: &'a Recorder<'a>,
    /// Whether the promotion writes no tag (a re-run): no new attestation then.
    pub no_op: bool,
}

impl BeforeTags for SignHook<'_> {
    async fn before_tags(&self) -> Result<()> {
        let record = self.rec.with(|r| r.clone());
        let facts = sign(
            self.destination,
            self.dst,
            self.root,
            self.signing,
            &record,
            self.no_op,
        )
        .await
        .map_err(|e| {
            let message = format!(
                "signing the promotion of {}@{} failed, so no tag is written: {}",
                self.dst.name(),
                self.root.digest,
                e.message
            );
            let hint = e.hint.clone().unwrap_or_else(|| {
                "check push rights on the destination and re-run (the copy is resumed)".to_owned()
            });
            Error::new(e.reason, message).hint(hint)
        })?;
        self.rec.with(|r| r.signing = Some(facts));
        Ok(())
    }
}

/// The promotion attestation's predicate: the promotion's essentials, no secret.
#[must_use]
pub fn predicate(record: &Promotion, dst: &Reference, digest: &Digest) -> Value {
    let checks: Vec<Value> = record
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "status": c.status, "severity": c.severity,
                "platform": c.platform, "overridden": c.overridden,
            })
        })
        .collect();
    json!({
        "promotion_id": record.id,
        "kind": record.kind,
        "tool": {"name": record.tool.name, "version": record.tool.version},
        "source": {
            "reference": record.request.source,
            "digest": record.image.as_ref().map(|i| i.source_digest.clone()),
        },
        "destination": {
            "repository": dst.name(),
            "digest": digest.to_string(),
            "tags": record.request.tags,
        },
        "checks": checks,
        "gate": record.gate.as_ref().map(|g| &g.decision),
        "forced": record.forced,
        "force_reason": record.request.force_reason,
        "approval": {
            "environment": record.approval.environment,
            "approvers": record.approval.approvers,
        },
        "run_url": record.workflow.as_ref().and_then(|w| w.run_url.clone()),
        "rollback": record.rollback.as_ref().map(|r| json!({
            "from_digest": r.from_digest, "reason": r.reason,
        })),
        "started_at": record.started_at,
    })
}

fn signing_error(e: &crate::signature::Problem) -> Error {
    Error::internal(format!("signing failed: {e}"))
}

/// The forms to write for `format` at `dst`: `(bundle, legacy)`. `auto` looks at what the image
/// has there now: its `.sig` tag (HEAD) and its bundle referrers.
async fn forms(
    client: &RegistryClient,
    dst: &Reference,
    root: &Manifest,
    format: SignFormat,
) -> Result<(bool, bool)> {
    match format {
        SignFormat::Bundle => Ok((true, false)),
        SignFormat::Legacy => Ok((false, true)),
        SignFormat::Auto => {
            let tag = crate::referrers::cosign_tag(&root.digest, "sig");
            let legacy = client
                .head_manifest(&dst.with_tag(&tag), &tag)
                .await?
                .is_some();
            let listed = crate::referrers::list(client, dst, &root.digest).await?;
            let bundles = listed.descriptors.iter().any(|d| {
                d.artifact_type.as_deref().is_some_and(bundle::is_bundle)
                    || d.annotations
                        .get("dev.sigstore.bundle.predicateType")
                        .map(String::as_str)
                        == Some(bundle::COSIGN_SIGN_PREDICATE)
            });
            Ok((bundles || !legacy, legacy))
        }
    }
}

/// The forms in which `root` is already signed by this key at `dst`: `(bundle, legacy)`.
async fn already_signed(
    client: &RegistryClient,
    dst: &Reference,
    root: &Manifest,
    signing: &Signing,
) -> Result<(bool, bool)> {
    let material = crate::signature::fetch::fetch(client, dst, &root.digest).await?;
    let verdict = crate::signature::verify_subject(
        &material,
        std::slice::from_ref(signing.key.public_key()),
        bundle::COSIGN_SIGN_PREDICATE,
    );
    let has = |f: Format| verdict.verified.iter().any(|v| v.format == f);
    Ok((has(Format::SigstoreBundle), has(Format::CosignLegacy)))
}

/// Signs `root` at `dst` and attaches the promotion attestation. Idempotent: a form in which
/// this key already signed the digest there is not signed again (reported with path `present`),
/// and a promotion that writes no tag (`no_op`, a re-run) adds no attestation.
///
/// # Errors
/// Signing (this build cannot) or registry errors; nothing is tagged by the caller then.
pub async fn sign(
    client: &RegistryClient,
    dst: &Reference,
    root: &Manifest,
    signing: &Signing,
    record: &Promotion,
    no_op: bool,
) -> Result<SigningFacts> {
    let t = Instant::now();
    let created = crate::report::record::timestamp(std::time::SystemTime::now());
    let subject = (
        root.media_type.as_str(),
        &root.digest,
        root.bytes.len() as u64,
    );
    let (as_bundle, as_legacy) = forms(client, dst, root, signing.format).await?;
    let (bundle_present, legacy_present) = already_signed(client, dst, root, signing).await?;
    let present = |format: &str| SignatureFact {
        kind: "signature".to_owned(),
        format: format.to_owned(),
        digest: root.digest.to_string(),
        path: "present".to_owned(),
    };
    let predicate = predicate(record, dst, &root.digest);
    let statement = bundle::sign(&signing.key, &root.digest, PROMOTION_PREDICATE, &predicate)
        .map_err(|e| signing_error(&e))?;
    let mut signatures = Vec::new();
    let mut attestations = Vec::new();
    if as_legacy && legacy_present {
        signatures.push(present("cosign-legacy"));
    } else if as_legacy {
        let ours =
            legacy::sign(&signing.key, &dst.name(), &root.digest).map_err(|e| signing_error(&e))?;
        let (_, fresh) = ours.manifest();
        let fresh: Value =
            serde_json::from_slice(&fresh).map_err(|e| Error::internal(e.to_string()))?;
        let layer = fresh["layers"][0].clone();
        signatures.push(merge_layer(client, dst, root, "sig", ours.payload, layer).await?);
    }
    if as_legacy && !no_op {
        let envelope = dsse_envelope(&statement)?;
        let layer = json!({
            "mediaType": DSSE_ENVELOPE,
            "size": envelope.len(),
            "digest": Digest::sha256_of(&envelope).to_string(),
            "annotations": {
                legacy::SIGNATURE_ANNOTATION: "",
                "predicateType": PROMOTION_PREDICATE,
            },
        });
        attestations.push(merge_layer(client, dst, root, "att", envelope, layer).await?);
    }
    if as_bundle && bundle_present {
        signatures.push(present("sigstore-bundle"));
    } else if as_bundle {
        let b = bundle::sign(
            &signing.key,
            &root.digest,
            bundle::COSIGN_SIGN_PREDICATE,
            &json!({}),
        )
        .map_err(|e| signing_error(&e))?;
        let manifest =
            bundle::referrer_manifest(&b, subject, bundle::COSIGN_SIGN_PREDICATE, &created);
        let blobs = [b"{}".to_vec(), b];
        signatures.push(attach(client, dst, root, &blobs, manifest, "signature").await?);
    }
    if as_bundle && !no_op {
        let manifest =
            bundle::referrer_manifest(&statement, subject, PROMOTION_PREDICATE, &created);
        let blobs = [b"{}".to_vec(), statement];
        attestations.push(attach(client, dst, root, &blobs, manifest, "attestation").await?);
    }
    Ok(SigningFacts {
        key: signing.key.public_key().short_fingerprint(),
        signatures,
        attestations,
        predicate_type: PROMOTION_PREDICATE.to_owned(),
        duration_ms: crate::report::record::millis_since(t),
    })
}

/// The media type of a legacy `.att` layer: a DSSE envelope.
const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The DSSE envelope of a bundle made by [`bundle::sign`], as cosign's legacy `.att` layer holds
/// it (`keyid` empty).
fn dsse_envelope(bundle_bytes: &[u8]) -> Result<Vec<u8>> {
    let v: Value =
        serde_json::from_slice(bundle_bytes).map_err(|e| Error::internal(e.to_string()))?;
    let e = &v["dsseEnvelope"];
    let signatures: Vec<Value> = e["signatures"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| json!({"keyid": "", "sig": s["sig"]}))
                .collect()
        })
        .unwrap_or_default();
    serde_json::to_vec(&json!({
        "payloadType": e["payloadType"],
        "payload": e["payload"],
        "signatures": signatures,
    }))
    .map_err(|e| Error::internal(e.to_string()))
}

/// Pushes `blobs`, then attaches `manifest` as a referrer of `root`.
async fn attach(
    client: &RegistryClient,
    dst: &Reference,
    root: &Manifest,
    blobs: &[Vec<u8>],
    manifest: Vec<u8>,
    kind: &str,
) -> Result<SignatureFact> {
    for blob in blobs {
        crate::release::ledger::push_blob(client, dst, Bytes::from(blob.clone())).await?;
    }
    let attached = crate::referrers::attach(
        client,
        dst,
        Bytes::from(manifest),
        OCI_MANIFEST,
        &root.digest,
    )
    .await?;
    Ok(SignatureFact {
        kind: kind.to_owned(),
        format: "sigstore-bundle".to_owned(),
        digest: attached.digest.to_string(),
        path: attached.path.as_str().to_owned(),
    })
}

/// Adds `layer` (whose blob is `blob`) to the destination's cosign tag `sha256-<hex>.<suffix>`
/// (its other layers kept; created when absent; the same layer twice is kept once), the config's
/// `diff_ids` following, then reads the tag back.
async fn merge_layer(
    client: &RegistryClient,
    dst: &Reference,
    root: &Manifest,
    suffix: &str,
    blob: Vec<u8>,
    layer: Value,
) -> Result<SignatureFact> {
    let tag = crate::referrers::cosign_tag(&root.digest, suffix);
    let at = dst.with_tag(&tag);
    let mut layers: Vec<Value> = match client.get_manifest(&at, &tag).await {
        Ok(m) => {
            let v: Value = serde_json::from_slice(&m.bytes).map_err(|e| {
                Error::registry(format!("{at}: the existing manifest is not JSON: {e}"))
                    .hint("remove or repair the tag, then re-run")
            })?;
            v["layers"].as_array().cloned().unwrap_or_default()
        }
        Err(e) if e.reason == Reason::ManifestUnknown => Vec::new(),
        Err(e) => return Err(e),
    };
    if !layers
        .iter()
        .any(|l| l["digest"] == layer["digest"] && l["annotations"] == layer["annotations"])
    {
        layers.push(layer);
    }
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {},
    }))
    .map_err(|e| Error::internal(e.to_string()))?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": crate::media::OCI_CONFIG,
            "size": config.len(),
            "digest": Digest::sha256_of(&config).to_string(),
        },
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::internal(e.to_string()))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::registry(format!(
            "{at}: the manifest would be {} bytes with our layer, over the {MAX_MANIFEST_BYTES}-byte limit",
            bytes.len()
        ))
        .hint("use --sign-format bundle (referrers of their own)"));
    }
    crate::release::ledger::push_blob(client, dst, Bytes::from(blob)).await?;
    crate::release::ledger::push_blob(client, dst, Bytes::from(config)).await?;
    let parsed = Manifest::parse(&tag, Bytes::from(bytes), Some(OCI_MANIFEST))?;
    client.put_manifest(&at, &tag, &parsed).await?;
    match client.head_manifest(&at, &tag).await? {
        Some(d) if d == parsed.digest => {}
        other => {
            return Err(Error::verification(format!(
                "{at}: read back {}, not the manifest written ({})",
                other.map_or_else(|| "nothing".to_owned(), |d| d.to_string()),
                parsed.digest
            )));
        }
    }
    Ok(SignatureFact {
        kind: if suffix == "sig" {
            "signature"
        } else {
            "attestation"
        }
        .to_owned(),
        format: "cosign-legacy".to_owned(),
        digest: parsed.digest.to_string(),
        path: "tag".to_owned(),
    })
}
