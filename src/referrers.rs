//! OCI 1.1 referrers over a [`RegistryClient`]: whether a repository serves the referrers API
//! (probed, cached for the run), listing the referrers of a subject (through the API with its
//! pagination, else the fallback index at tag `sha256-<hex>`), the cosign tag names
//! (`sha256-<hex>.sig|.att|.sbom`), and attaching a referrer manifest (PUT by digest, then, where
//! the API is missing, merged into the fallback index — never overwritten, read back and re-merged
//! when a concurrent writer replaced it).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::media::{Descriptor, MAX_MANIFEST_BYTES, Manifest, ManifestView, OCI_INDEX};
use crate::reference::Reference;
use crate::registry::RegistryClient;

/// Whether a repository serves `GET /v2/<name>/referrers/<digest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersApi {
    /// It answered 200.
    Supported,
    /// It answered 400, 404 or 405: referrers live in the fallback tag schema.
    Unsupported,
}

/// Which path a listing or an attachment took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The referrers API.
    Api,
    /// The fallback index at tag `sha256-<hex>`.
    FallbackTag,
}

impl Path {
    /// `api` or `fallback-tag`, for reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::FallbackTag => "fallback-tag",
        }
    }
}

/// The referrers of one subject.
#[derive(Debug, Clone)]
pub struct Referrers {
    /// How they were found.
    pub path: Path,
    /// Their descriptors (digest, media type, size, artifact type, annotations), unknown
    /// artifact types kept.
    pub descriptors: Vec<Descriptor>,
}

/// What [`attach`] did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The path taken.
    pub path: Path,
    /// Whether the fallback index already listed it (nothing rewritten).
    pub already_listed: bool,
}

/// How many times a fallback index is re-merged after a concurrent writer replaced it.
pub const MERGE_ATTEMPTS: u32 = 5;

/// Largest number of referrer pages followed for one subject.
const MAX_PAGES: usize = 64;

/// The cosign tag suffixes of the legacy tag schema.
pub const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// The probe results of this run, per registry host and repository.
static API: Mutex<BTreeMap<String, ReferrersApi>> = Mutex::new(BTreeMap::new());

fn cache_key(repo: &Reference) -> String {
    format!("{}/{}", repo.api_host(), repo.repository())
}

fn cached(repo: &Reference) -> Option<ReferrersApi> {
    API.lock()
        .ok()
        .and_then(|m| m.get(&cache_key(repo)).copied())
}

fn remember(repo: &Reference, api: ReferrersApi) {
    if let Ok(mut m) = API.lock() {
        m.insert(cache_key(repo), api);
    }
}

/// The fallback tag of `subject`: `<algorithm>-<hex>`, the algorithm cut to 32 and the hex to 64
/// characters, characters invalid in a tag replaced by `-` (distribution-spec v1.1).
#[must_use]
pub fn fallback_tag(subject: &Digest) -> String {
    let text = subject.to_string();
    let (alg, hex) = text.split_once(':').unwrap_or((text.as_str(), ""));
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .take(n)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("{}-{}", clean(alg, 32), clean(hex, 64))
}

/// The cosign tag of `subject` with `suffix` (`sig`, `att` or `sbom`): `sha256-<hex>.<suffix>`.
#[must_use]
pub fn cosign_tag(subject: &Digest, suffix: &str) -> String {
    format!("{}.{suffix}", fallback_tag(subject))
}

/// Probes whether `repo` serves the referrers API (cached per registry and repository for the
/// run). `OCI-Subject` alone is never trusted: only a 200 on the endpoint counts.
///
/// # Errors
/// Registry, network and access errors of the probe.
pub async fn probe(client: &RegistryClient, repo: &Reference) -> Result<ReferrersApi> {
    if let Some(api) = cached(repo) {
        return Ok(api);
    }
    let page = client
        .get_referrers_page(repo, &Digest::sha256_of(b""), None)
        .await?;
    let api = if page.status == 200 {
        ReferrersApi::Supported
    } else {
        ReferrersApi::Unsupported
    };
    remember(repo, api);
    Ok(api)
}

/// The referrers of `subject` in `repo`: through the API where it answers 200 (every page), else
/// the fallback index at [`fallback_tag`] (none when the tag is absent).
///
/// # Errors
/// Registry errors; a REGISTRY error when a page or the fallback tag is not an OCI index.
pub async fn list(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
) -> Result<Referrers> {
    match cached(repo) {
        Some(ReferrersApi::Unsupported) => listed_in_fallback(client, repo, subject).await,
        Some(ReferrersApi::Supported) => match listed_by_api(client, repo, subject).await? {
            Some(r) => Ok(r),
            None => listed_in_fallback(client, repo, subject).await,
        },
        // Not known yet for this repository: ask the API and read the fallback tag at once, one
        // round trip instead of two where the API is missing (one spare GET where it answers).
        None => {
            let (api, fallback) = futures_util::future::join(
                listed_by_api(client, repo, subject),
                listed_in_fallback(client, repo, subject),
            )
            .await;
            match api? {
                Some(r) => Ok(r),
                None => fallback,
            }
        }
    }
}

/// Every page of the referrers API's listing of `subject`; `None` (and the repository remembered
/// as without the API) when the first page is not a 200.
async fn listed_by_api(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
) -> Result<Option<Referrers>> {
    let mut descriptors = Vec::new();
    let mut next: Option<String> = None;
    for page_no in 0..MAX_PAGES {
        let page = client
            .get_referrers_page(repo, subject, next.as_deref())
            .await?;
        if page.status != 200 {
            if page_no == 0 {
                remember(repo, ReferrersApi::Unsupported);
                return Ok(None);
            }
            return Err(Error::registry(format!(
                "referrers of {subject} in {}: page {} answered HTTP {}",
                repo.name(),
                page_no + 1,
                page.status
            )));
        }
        remember(repo, ReferrersApi::Supported);
        let what = format!("referrers of {subject} in {}", repo.name());
        descriptors.extend(index_entries(&what, &page.body)?);
        match page.next {
            Some(n) => next = Some(n),
            None => {
                return Ok(Some(Referrers {
                    path: Path::Api,
                    descriptors: dedupe(descriptors),
                }));
            }
        }
    }
    Err(Error::registry(format!(
        "referrers of {subject} in {}: more than {MAX_PAGES} pages",
        repo.name()
    )))
}

/// The referrers of `subject` that its fallback index lists (none when the tag is absent).
async fn listed_in_fallback(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
) -> Result<Referrers> {
    let descriptors = match fallback_index(client, repo, subject).await? {
        Some(index) => index_descriptors(&index, repo, subject)?,
        None => Vec::new(),
    };
    Ok(Referrers {
        path: Path::FallbackTag,
        descriptors,
    })
}

/// PUTs the referrer manifest `manifest_bytes` (of `media_type`, whose `subject` is `subject`)
/// by digest; where `repo` has no referrers API, merges its descriptor into the fallback index
/// (every existing entry kept, deduplicated by digest), PUTs that back and reads it back,
/// re-merging up to [`MERGE_ATTEMPTS`] times when a concurrent writer replaced it.
///
/// # Errors
/// Input errors for a manifest that does not parse or whose subject is another digest; registry
/// errors, among them a fallback tag that holds something other than an OCI index.
pub async fn attach(
    client: &RegistryClient,
    repo: &Reference,
    manifest_bytes: Bytes,
    media_type: &str,
    subject: &Digest,
) -> Result<Attached> {
    let what = format!("referrer for {subject} in {}", repo.name());
    let manifest = Manifest::parse(&what, manifest_bytes, Some(media_type))?;
    match &manifest.subject {
        Some(s) if s.digest == *subject => {}
        Some(s) => {
            return Err(Error::input(format!(
                "{what}: its subject is {}, not {subject}",
                s.digest
            )));
        }
        None => return Err(Error::input(format!("{what}: it has no `subject` field"))),
    }
    client
        .put_manifest(repo, &manifest.digest.to_string(), &manifest)
        .await?;
    if probe(client, repo).await? == ReferrersApi::Supported {
        return Ok(Attached {
            digest: manifest.digest,
            path: Path::Api,
            already_listed: false,
        });
    }
    let entry = descriptor_of(&manifest);
    let tag = fallback_tag(subject);
    for _ in 0..MERGE_ATTEMPTS {
        let existing = fallback_index(client, repo, subject).await?;
        let (bytes, already) = merged(existing.as_ref(), &entry, &manifest.digest)?;
        if already {
            return Ok(Attached {
                digest: manifest.digest,
                path: Path::FallbackTag,
                already_listed: true,
            });
        }
        let index = Manifest::parse(&format!("{}:{tag}", repo.name()), bytes, Some(OCI_INDEX))?;
        client.put_manifest(repo, &tag, &index).await?;
        let back = fallback_index(client, repo, subject).await?;
        if back.as_ref().is_some_and(|b| lists(b, &manifest.digest)) {
            return Ok(Attached {
                digest: manifest.digest,
                path: Path::FallbackTag,
                already_listed: false,
            });
        }
    }
    Err(Error::new(
        Reason::ServerError,
        format!(
            "{}:{tag}: the fallback index lost the referrer {} {MERGE_ATTEMPTS} times (concurrent writers)",
            repo.name(),
            manifest.digest
        ),
    ))
}

/// The index descriptor of a referrer manifest: its media type, digest, size, `artifactType`
/// (its own, else its config's media type) and all its annotations.
#[must_use]
pub fn descriptor_of(manifest: &Manifest) -> Value {
    let mut d = Map::new();
    d.insert("mediaType".into(), Value::from(manifest.media_type.clone()));
    d.insert("digest".into(), Value::from(manifest.digest.to_string()));
    d.insert("size".into(), Value::from(manifest.bytes.len() as u64));
    let artifact_type = manifest
        .artifact_type
        .clone()
        .or_else(|| match &manifest.view {
            ManifestView::Image { config, .. } => Some(config.media_type.clone()),
            ManifestView::Index { .. } => None,
        });
    if let Some(a) = artifact_type.filter(|a| !a.is_empty()) {
        d.insert("artifactType".into(), Value::from(a));
    }
    if !manifest.annotations.is_empty() {
        let a: Map<String, Value> = manifest
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        d.insert("annotations".into(), Value::Object(a));
    }
    Value::Object(d)
}

/// The fallback index of `subject` in `repo`, or `None` when the tag is absent.
async fn fallback_index(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
) -> Result<Option<Manifest>> {
    let tag = fallback_tag(subject);
    match client.get_manifest(repo, &tag).await {
        Ok(m) if m.media_type == OCI_INDEX => Ok(Some(m)),
        Ok(m) => Err(Error::registry(format!(
            "{}:{tag} is the referrers fallback tag of {subject} but holds a `{}`, not an OCI image index",
            repo.name(),
            crate::text::shorten(&m.media_type)
        ))
        .hint("move or delete that tag; it is not overwritten")),
        Err(e) if e.reason == Reason::ManifestUnknown => Ok(None),
        Err(e) if e.reason == Reason::InvalidInput => Err(Error::registry(format!(
            "{}:{tag} is the referrers fallback tag of {subject} but is not a readable OCI index: {}",
            repo.name(),
            e.message
        ))
        .hint("move or delete that tag; it is not overwritten")),
        Err(e) => Err(e),
    }
}

fn index_descriptors(
    index: &Manifest,
    repo: &Reference,
    subject: &Digest,
) -> Result<Vec<Descriptor>> {
    match &index.view {
        ManifestView::Index { manifests } => Ok(dedupe(manifests.clone())),
        ManifestView::Image { .. } => Err(Error::registry(format!(
            "{}:{} is not an OCI image index",
            repo.name(),
            fallback_tag(subject)
        ))),
    }
}

/// The entries of an index body served by the referrers API.
fn index_entries(what: &str, body: &[u8]) -> Result<Vec<Descriptor>> {
    let index =
        Manifest::parse(what, Bytes::copy_from_slice(body), Some(OCI_INDEX)).map_err(|e| {
            Error::registry(format!(
                "{what}: the registry's answer is not an OCI index: {}",
                e.message
            ))
        })?;
    match index.view {
        ManifestView::Index { manifests } => Ok(manifests),
        ManifestView::Image { .. } => Err(Error::registry(format!(
            "{what}: the registry's answer is an image manifest, not an OCI index"
        ))),
    }
}

fn dedupe(descriptors: Vec<Descriptor>) -> Vec<Descriptor> {
    let mut seen = std::collections::BTreeSet::new();
    descriptors
        .into_iter()
        .filter(|d| seen.insert(d.digest.clone()))
        .collect()
}

fn lists(index: &Manifest, digest: &Digest) -> bool {
    matches!(&index.view, ManifestView::Index { manifests } if manifests.iter().any(|m| m.digest == *digest))
}

/// The fallback index with `entry` added: every field and entry of `existing` kept as it was
/// (raw JSON), `entry` appended unless its digest is listed already (then `true`, nothing to do).
fn merged(existing: Option<&Manifest>, entry: &Value, digest: &Digest) -> Result<(Bytes, bool)> {
    let mut root = match existing {
        Some(m) => {
            if lists(m, digest) {
                return Ok((m.bytes.clone(), true));
            }
            match serde_json::from_slice::<Value>(&m.bytes) {
                Ok(Value::Object(o)) => o,
                _ => {
                    return Err(Error::registry(format!(
                        "the fallback index {} is not a JSON object",
                        m.digest
                    )));
                }
            }
        }
        None => {
            let mut o = Map::new();
            o.insert("schemaVersion".into(), Value::from(2));
            o.insert("mediaType".into(), Value::from(OCI_INDEX));
            o
        }
    };
    let manifests = root
        .entry("manifests")
        .or_insert_with(|| Value::Array(Vec::new()));
    match manifests {
        Value::Array(a) => a.push(entry.clone()),
        _ => {
            return Err(Error::registry(
                "the fallback index's `manifests` is not an array",
            ));
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(root))
        .map_err(|e| Error::internal(format!("cannot serialize the fallback index: {e}")))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::registry(format!(
            "the fallback index of {digest} would be {} bytes, over the 4 MiB manifest limit",
            bytes.len()
        )));
    }
    Ok((Bytes::from(bytes), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn tags_follow_the_schemas() {
        let d = digest('a');
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "a".repeat(64)));
        assert_eq!(
            cosign_tag(&d, "sig"),
            format!("sha256-{}.sig", "a".repeat(64))
        );
        let long = Digest::parse(&format!("sha512:{}", "b".repeat(128))).unwrap();
        assert_eq!(fallback_tag(&long), format!("sha512-{}", "b".repeat(64)));
        Reference::validate_tag(&fallback_tag(&long)).unwrap();
    }

    fn index_with(entries: &[Value]) -> Manifest {
        let v = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries, "annotations": {"keep": "me"}});
        Manifest::parse("t", Bytes::from(serde_json::to_vec(&v).unwrap()), None).unwrap()
    }

    #[test]
    fn merge_keeps_entries_and_fields_and_dedupes() {
        let old = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('1').to_string(), "size": 10, "artifactType": "x/unknown", "extra": true});
        let existing = index_with(std::slice::from_ref(&old));
        let new = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('2').to_string(), "size": 20});
        let (bytes, already) = merged(Some(&existing), &new, &digest('2')).unwrap();
        assert!(!already);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["manifests"][0], old);
        assert_eq!(v["manifests"][1], new);
        assert_eq!(v["annotations"]["keep"], "me");
        let again = Manifest::parse("t", bytes, None).unwrap();
        let (_, already) = merged(Some(&again), &new, &digest('2')).unwrap();
        assert!(already);
        let (fresh, _) = merged(None, &new, &digest('2')).unwrap();
        let v: Value = serde_json::from_slice(&fresh).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], OCI_INDEX);
    }

    #[test]
    fn descriptor_takes_artifact_type_from_the_config() {
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.dev.cosign.artifact.sig.v1+json", "digest": digest('3').to_string(), "size": 2},
            "layers": [], "annotations": {"a": "b"},
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest('4').to_string(), "size": 1}});
        let m = Manifest::parse("t", Bytes::from(serde_json::to_vec(&m).unwrap()), None).unwrap();
        let d = descriptor_of(&m);
        assert_eq!(
            d["artifactType"],
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        );
        assert_eq!(d["annotations"]["a"], "b");
        assert_eq!(d["size"], m.bytes.len() as u64);
    }
}
