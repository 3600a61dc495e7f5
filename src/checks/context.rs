//! What the checks read, loaded once before they run: the [`ResolvedImage`] (from the Resolve
//! stage), the scan report (parsed from its file), the expected digest and the commit being
//! promoted. [`load_context`] is the one async part of the checks: it reads the scan report,
//! then has the Resolve stage read the configs and probe the blobs the policy needs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::ManifestView;
use crate::policy::{CheckSettings as _, Policy};
use crate::registry::RegistryClient;
use crate::resolve::{BlobProbe, ImageGraph, ResolvedImage, inspect};
use crate::scan::{ScanReport, parse_report};
use crate::signature::fetch::fetch as fetch_signatures;
use crate::signature::{PublicKey, SubjectMaterial, load_public_keys};

/// What the `signature` check needs read: the keys (loaded from the policy) and whether each
/// image of an index must be signed too. `None` in [`CheckInputs`] when the check is off.
#[derive(Debug, Clone)]
pub struct SignatureRequest {
    /// The public keys; a signature by any of them counts.
    pub keys: Vec<PublicKey>,
    /// Whether each image of an index is checked too.
    pub children: bool,
}

/// What the registry reads found for the `signature` check.
#[derive(Debug, Clone)]
pub struct SignatureInput {
    /// The public keys.
    pub keys: Vec<PublicKey>,
    /// Per digest checked (the top manifest first): what was found, or the request that failed.
    pub subjects: Vec<(Digest, std::result::Result<SubjectMaterial, Error>)>,
}

/// The [`SignatureRequest`] of `policy`: `None` when the check is off.
///
/// # Errors
/// An input error (exit 2) for a key that cannot be read or is not an ECDSA P-256 public key,
/// or for a check turned on without any key.
pub fn signature_request(policy: &Policy) -> Result<Option<SignatureRequest>> {
    if !policy.signature.enabled() {
        return Ok(None);
    }
    if policy.signature.keys.is_empty() {
        return Err(
            Error::input("policy: `signature.enabled` is true but no key is given").hint(
                "pass --verify-key (a cosign.pub path or its PEM text) or list `signature.keys`",
            ),
        );
    }
    Ok(Some(SignatureRequest {
        keys: load_public_keys(&policy.signature.keys)?,
        children: policy.signature.children,
    }))
}

/// What the caller knows besides the image: the inputs of `check` and `promote`.
#[derive(Debug, Clone, Default)]
pub struct CheckInputs {
    /// The digest the image must have (e.g. the one that was tested).
    pub expected_digest: Option<Digest>,
    /// A Trivy JSON, Grype JSON or SARIF 2.1.0 report of the image.
    pub scan_report: Option<PathBuf>,
    /// The commit being promoted (`GITHUB_SHA`), for `labels.revision-matches-commit`.
    pub github_sha: Option<String>,
    /// What the `signature` check verifies with ([`signature_request`]); `None`: off.
    pub signature: Option<SignatureRequest>,
}

/// A scan report and the file it came from.
#[derive(Debug, Clone)]
pub struct ScanInput {
    /// The file as given.
    pub file: PathBuf,
    /// The parsed report (ignore list not yet applied).
    pub report: ScanReport,
}

/// Everything the checks read.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The resolved source image.
    pub image: ResolvedImage,
    /// The scan report, if one was given.
    pub scan: Option<ScanInput>,
    /// The digest the image must have.
    pub expected_digest: Option<Digest>,
    /// The commit being promoted.
    pub github_sha: Option<String>,
    /// The signatures found, when the `signature` check is on.
    pub signatures: Option<SignatureInput>,
}

impl CheckContext {
    /// The context of `image` with `inputs` (whose scan report, if any, was read into `scan`).
    #[must_use]
    pub fn new(image: ResolvedImage, scan: Option<ScanInput>, inputs: &CheckInputs) -> Self {
        Self {
            image,
            scan,
            expected_digest: inputs.expected_digest.clone(),
            github_sha: inputs
                .github_sha
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            signatures: None,
        }
    }
}

/// What the blob probe must learn for `policy`: nothing when the `layers` check is disabled,
/// else a HEAD per blob, and in `deep` mode a download and hash of each blob not in
/// `verified_by_copy` (blobs the copy will stream and hash anyway).
#[must_use]
pub fn blob_probe(policy: &Policy, deep: bool, verified_by_copy: BTreeSet<Digest>) -> BlobProbe {
    if !policy.layers.enabled() {
        BlobProbe::None
    } else if deep {
        BlobProbe::Deep { verified_by_copy }
    } else {
        BlobProbe::Head
    }
}

/// Reads a scan report file into a [`ScanInput`].
///
/// # Errors
/// An input error (exit 2) naming the file and what is wrong with it.
pub fn read_scan_report(path: &std::path::Path) -> Result<ScanInput> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::input(format!("scan report {shown}: cannot read it: {e}"))
            .hint("pass --scan-report the JSON or SARIF file the scanner wrote")
    })?;
    let report = parse_report(&bytes, &shown).map_err(|e| {
        Error::input(e.to_string()).hint(
            "write the report with `trivy image --format json`, `grype -o json` or `--format sarif`, to a file of its own",
        )
    })?;
    Ok(ScanInput {
        file: path.to_owned(),
        report,
    })
}

/// Loads what the checks read: the scan report (read first, so a bad file fails before any
/// request), then the Resolve stage's configs and blob probe ([`inspect`]) from `client`.
///
/// # Errors
/// Input errors for a bad scan report; registry, network and access errors while reading a
/// config. A config that is missing (404), corrupt or not valid JSON is not an error here: the
/// `layers` and `metadata` checks report it.
pub async fn load_context(
    client: &RegistryClient,
    graph: ImageGraph,
    inputs: &CheckInputs,
    probe: &BlobProbe,
) -> Result<CheckContext> {
    let scan = inputs
        .scan_report
        .as_deref()
        .map(read_scan_report)
        .transpose()?;
    let image = inspect(client, graph, probe).await?;
    let mut ctx = CheckContext::new(image, scan, inputs);
    if let Some(request) = &inputs.signature {
        let repo = ctx.image.graph.reference.clone();
        let mut subjects = Vec::new();
        for digest in signed_digests(&ctx.image.graph, request.children) {
            let found = fetch_signatures(client, &repo, &digest).await;
            subjects.push((digest, found));
        }
        ctx.signatures = Some(SignatureInput {
            keys: request.keys.clone(),
            subjects,
        });
    }
    Ok(ctx)
}

/// The digests whose signatures are checked: the top manifest, and with `children` each image
/// an index lists (not attestation manifests, not `unknown/unknown` entries).
#[must_use]
pub fn signed_digests(graph: &ImageGraph, children: bool) -> Vec<Digest> {
    let mut out = vec![graph.root.digest.clone()];
    if children && let ManifestView::Index { manifests } = &graph.root.view {
        for d in manifests {
            let attestation = d
                .annotations
                .get("vnd.docker.reference.type")
                .is_some_and(|t| t == "attestation-manifest");
            let unknown = d.platform.as_ref().is_some_and(|p| p.os == "unknown");
            if !attestation && !unknown && !out.contains(&d.digest) {
                out.push(d.digest.clone());
            }
        }
    }
    out
}
