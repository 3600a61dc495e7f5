//! The format of the promotion history kept in the destination registry, no server: each
//! promotion (or rollback) that moves a moving tag pushes first a small record, an OCI
//! artifact whose `subject` is the promoted digest (artifactType [`ARTIFACT_TYPE`]). Its fields
//! are both in the record blob (JSON) and in the manifest's annotations, so that listing the
//! referrers of a digest (the referrers API, or the `sha256-<hex>` fallback index, which carry
//! the annotations) reads the history without fetching a blob. Reading tolerates what other tools
//! attach (cosign signatures, SBOMs: skipped and counted) and records of ours it cannot parse
//! (counted). This file holds the record format and its parsing (pure); the registry I/O (write
//! before the tags move, read in `plan`) is `release/ledger.rs`, on the referrers seam.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The artifactType (and the record blob's media type) of a promotion record.
pub const ARTIFACT_TYPE: &str = "application/vnd.image-promote.promotion.v1+json";
/// The empty config of an OCI artifact manifest.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// The OCI image manifest media type the record is pushed as.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The annotations' prefix.
const PREFIX: &str = "vnd.image-promote.record.";

pub use crate::report::lineage::Kind;

/// One promotion record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// `promotion` or `rollback`.
    pub kind: Kind,
    /// The service (the plan file's name, else the repository's last segment).
    pub service: String,
    /// The destination repository (`registry/path`).
    pub repository: String,
    /// The moving tags the promotion moves.
    pub tags: Vec<String>,
    /// The promoted digest (the record's subject).
    pub digest: Digest,
    /// What the moving tags held before (`null`: absent).
    pub previous_digest: Option<Digest>,
    /// The workflow run.
    pub run_url: Option<String>,
    /// The promotion's id (its audit file is `promotion-<id>.json`).
    pub promotion_id: String,
    /// When the record was made (RFC 3339, UTC).
    pub created_at: String,
    /// A rollback's reason.
    pub reason: Option<String>,
}

impl Record {
    /// The manifest annotations that carry the record (read back from referrer listings).
    #[must_use]
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            a.insert(format!("{PREFIX}{k}"), v);
        };
        put("kind", self.kind.as_str().to_owned());
        put("service", self.service.clone());
        put("repository", self.repository.clone());
        put("tags", self.tags.join(","));
        put("digest", self.digest.to_string());
        put(
            "previous-digest",
            self.previous_digest
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string),
        );
        put("promotion-id", self.promotion_id.clone());
        if let Some(u) = &self.run_url {
            put("run-url", u.clone());
        }
        if let Some(r) = &self.reason {
            put("reason", crate::text::shorten(r));
        }
        a.insert(
            "org.opencontainers.image.created".to_owned(),
            self.created_at.clone(),
        );
        a
    }

    /// The record read back from a referrer's annotations; `None` when they do not hold one.
    #[must_use]
    pub fn from_annotations(a: &BTreeMap<String, String>) -> Option<Self> {
        let get = |k: &str| a.get(&format!("{PREFIX}{k}")).cloned();
        let kind = match get("kind")?.as_str() {
            "promotion" => Kind::Promotion,
            "rollback" => Kind::Rollback,
            _ => return None,
        };
        let previous_digest = match get("previous-digest")?.as_str() {
            "none" => None,
            d => Some(Digest::parse(d).ok()?),
        };
        Some(Self {
            kind,
            service: get("service")?,
            repository: get("repository")?,
            tags: get("tags")?
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            digest: Digest::parse(&get("digest")?).ok()?,
            previous_digest,
            run_url: get("run-url"),
            promotion_id: get("promotion-id")?,
            created_at: a.get("org.opencontainers.image.created")?.clone(),
            reason: get("reason"),
        })
    }

    /// The record blob (JSON) and the artifact manifest whose subject is `subject` (its media
    /// type and size as the destination holds it): `(blob, manifest)`, both as bytes.
    ///
    /// # Errors
    /// Internal serialization errors.
    pub fn to_artifact(
        &self,
        subject_media_type: &str,
        subject_size: u64,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let internal = |e: serde_json::Error| Error::internal(e.to_string());
        let blob = serde_json::to_vec(self).map_err(internal)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": EMPTY_CONFIG, "digest": Digest::sha256_of(b"{}").to_string(), "size": 2, "data": "e30="},
            "layers": [{"mediaType": ARTIFACT_TYPE, "digest": Digest::sha256_of(&blob).to_string(), "size": blob.len()}],
            "subject": {"mediaType": subject_media_type, "digest": self.digest.to_string(), "size": subject_size},
            "annotations": self.annotations(),
        });
        Ok((blob, serde_json::to_vec(&manifest).map_err(internal)?))
    }
}

/// What the referrers of one digest say about one repository's tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Our records for the repository and tag, newest first.
    pub records: Vec<Record>,
    /// Referrers of other tools (cosign, SBOMs, …): skipped.
    pub foreign: usize,
    /// Referrers with our artifactType whose annotations could not be read.
    pub unparsed: usize,
}

impl History {
    /// Reads the referrer descriptors (`artifactType`, annotations) of a digest for `repository`'s
    /// `tag`. Tolerant: other artifact types are counted as foreign, unreadable records of ours
    /// as unparsed; neither is an error.
    #[must_use]
    pub fn from_referrers<'a>(
        referrers: impl IntoIterator<Item = (Option<&'a str>, &'a BTreeMap<String, String>)>,
        repository: &str,
        tag: &str,
    ) -> Self {
        let mut h = Self::default();
        for (artifact_type, annotations) in referrers {
            if artifact_type != Some(ARTIFACT_TYPE) {
                h.foreign += 1;
                continue;
            }
            match Record::from_annotations(annotations) {
                Some(r) if r.repository == repository && r.tags.iter().any(|t| t == tag) => {
                    h.records.push(r);
                }
                Some(_) => {}
                None => h.unparsed += 1,
            }
        }
        // RFC 3339 UTC sorts as text; newest first.
        h.records.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.promotion_id.cmp(&a.promotion_id))
        });
        h
    }

    /// The newest record, if any.
    #[must_use]
    pub fn latest(&self) -> Option<&Record> {
        self.records.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, n: u8, at: &str) -> Record {
        Record {
            kind,
            service: "api".into(),
            repository: "b.io/acme/api".into(),
            tags: vec!["prod".into(), "latest".into()],
            digest: Digest::sha256_of(&[n]),
            previous_digest: Some(Digest::sha256_of(&[n + 1])),
            run_url: Some("https://github.com/acme/app/actions/runs/1".into()),
            promotion_id: format!("id-{n}"),
            created_at: at.into(),
            reason: None,
        }
    }

    #[test]
    fn annotations_round_trip() {
        let r = record(Kind::Promotion, 1, "2026-12-02T01:00:00Z");
        assert_eq!(Record::from_annotations(&r.annotations()), Some(r.clone()));
        let mut first = r.clone();
        first.previous_digest = None;
        first.run_url = None;
        first.kind = Kind::Rollback;
        first.reason = Some("5xx after deploy".into());
        assert_eq!(Record::from_annotations(&first.annotations()), Some(first));
        let mut broken = r.annotations();
        broken.insert(format!("{PREFIX}digest"), "sha256:nope".into());
        assert_eq!(Record::from_annotations(&broken), None);
    }

    #[test]
    fn artifact_manifest_has_subject_and_type() {
        let r = record(Kind::Promotion, 1, "t");
        let (blob, manifest) = r.to_artifact(OCI_MANIFEST, 528).unwrap();
        let back: Record = serde_json::from_slice(&blob).unwrap();
        assert_eq!(back, r);
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(m["artifactType"], ARTIFACT_TYPE);
        assert_eq!(m["subject"]["digest"], r.digest.to_string());
        assert_eq!(m["subject"]["size"], 528);
        assert_eq!(
            m["layers"][0]["digest"],
            Digest::sha256_of(&blob).to_string()
        );
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["annotations"][format!("{PREFIX}kind")], "promotion");
    }

    #[test]
    fn reading_tolerates_foreign_and_broken_referrers() {
        let old = record(Kind::Promotion, 1, "2026-12-01T00:00:00Z").annotations();
        let new = record(Kind::Rollback, 1, "2026-12-02T00:00:00Z").annotations();
        let mut other_repo = record(Kind::Promotion, 1, "2026-12-03T00:00:00Z");
        other_repo.repository = "b.io/acme/web".into();
        let other_repo = other_repo.annotations();
        let cosign = BTreeMap::from([("dev.sigstore.cosign/bundle".to_owned(), "{}".to_owned())]);
        let broken = BTreeMap::from([(format!("{PREFIX}kind"), "promotion".to_owned())]);
        let h = History::from_referrers(
            [
                (Some(ARTIFACT_TYPE), &old),
                (
                    Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
                    &cosign,
                ),
                (None, &cosign),
                (Some(ARTIFACT_TYPE), &broken),
                (Some(ARTIFACT_TYPE), &new),
                (Some(ARTIFACT_TYPE), &other_repo),
            ],
            "b.io/acme/api",
            "prod",
        );
        assert_eq!(h.foreign, 2);
        assert_eq!(h.unparsed, 1);
        assert_eq!(h.records.len(), 2);
        assert_eq!(h.latest().unwrap().kind, Kind::Rollback, "newest first");
        let none =
            History::from_referrers([(Some(ARTIFACT_TYPE), &old)], "b.io/acme/api", "stable");
        assert!(
            none.latest().is_none(),
            "a record for other tags does not count"
        );
    }
}
