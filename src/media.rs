//! Media types and read-only views of manifests, indexes and image configs. The raw bytes are the
//! truth (docs/architecture.md, invariant 1): a [`Manifest`] keeps the bytes fetched, their digest and media
//! type; the parsed form beside them is a view used to walk the graph, never re-serialized.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (unsupported).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1, signed (unsupported).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The `Accept` header for manifest requests: every type we can copy.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest body accepted (4 MiB, as distribution and containerd).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of indexes accepted.
pub const MAX_INDEX_DEPTH: usize = 8;

/// Whether a layer media type is non-distributable (foreign): such layers are not copied.
#[must_use]
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

/// The compression a layer media type declares, for reports.
#[must_use]
pub fn layer_compression(media_type: &str) -> &'static str {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        "gzip"
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
        "zstd"
    } else if media_type.ends_with(".tar") || media_type.ends_with("diff.tar") {
        "uncompressed"
    } else {
        "other"
    }
}

/// An OS/architecture pair with optional variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// e.g. `10.0.17763.1234`.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor, validated: the digest parses and the size is not negative.
#[derive(Debug, Clone, Serialize)]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Where a foreign layer can be downloaded from.
    pub urls: Vec<String>,
    /// Platform, for index entries.
    pub platform: Option<Platform>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Artifact type, for artifacts and referrers.
    pub artifact_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    artifact_type: Option<String>,
}

impl RawDescriptor {
    fn validate(self, field: &str) -> Result<Descriptor> {
        let digest = Digest::parse(&self.digest)
            .map_err(|e| Error::input(format!("{field}: {}", e.message)))?;
        let size = u64::try_from(self.size)
            .map_err(|_| Error::input(format!("{field}: size {} is negative", self.size)))?;
        // 1 TiB: no real layer is larger; a larger size is a hostile or broken manifest.
        if size > (1u64 << 40) {
            return Err(Error::input(format!(
                "{field}: size {size} is implausibly large (over 1 TiB)"
            )));
        }
        Ok(Descriptor {
            media_type: self.media_type.unwrap_or_default(),
            digest,
            size,
            urls: self.urls.unwrap_or_default(),
            platform: self.platform,
            annotations: self.annotations.unwrap_or_default(),
            artifact_type: self.artifact_type,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    artifact_type: Option<String>,
}

/// The parsed view of a manifest.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per manifest; boxing buys nothing"
)]
pub enum ManifestView {
    /// An image (or artifact) manifest.
    Image {
        /// The config descriptor.
        config: Descriptor,
        /// The layers, in order.
        layers: Vec<Descriptor>,
    },
    /// An index or manifest list.
    Index {
        /// The child manifests.
        manifests: Vec<Descriptor>,
    },
}

/// A manifest as fetched: raw bytes, their digest, the media type, and a parsed view.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The bytes exactly as the registry served them.
    pub bytes: Bytes,
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The media type (from the body's `mediaType`, else the `Content-Type`).
    pub media_type: String,
    /// The parsed view.
    pub view: ManifestView,
    /// `subject` (referrers), if any.
    pub subject: Option<Descriptor>,
    /// `artifactType`, if any.
    pub artifact_type: Option<String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses raw manifest bytes served with `content_type`, computing the digest over the bytes.
    ///
    /// # Errors
    /// Input errors naming `what` and the field: too large, not JSON, schema 1 or unknown media
    /// type, malformed descriptors.
    pub fn parse(what: &str, bytes: Bytes, content_type: Option<&str>) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::input(format!(
                "manifest {what} is {} bytes, over the 4 MiB limit",
                bytes.len()
            ))
            .hint(
                "registries and runtimes refuse manifests over 4 MiB; this is not a valid image",
            ));
        }
        let raw: RawManifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(format!("manifest {what} is not valid manifest JSON: {e}"))
                .hint("the registry served something that is not an OCI or Docker manifest")
        })?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|c| !c.is_empty());
        let media_type = raw
            .media_type
            .clone()
            .or_else(|| content_type.clone())
            .or_else(|| {
                // OCI allows a missing mediaType; infer it from the shape.
                if raw.manifests.is_some() {
                    Some(OCI_INDEX.to_owned())
                } else if raw.config.is_some() {
                    Some(OCI_MANIFEST.to_owned())
                } else {
                    None
                }
            })
            .unwrap_or_default();
        if raw.schema_version == Some(1)
            || media_type == DOCKER_SCHEMA1
            || media_type == DOCKER_SCHEMA1_SIGNED
        {
            return Err(Error::input(format!(
                "manifest {what} is Docker schema 1, which is unsupported"
            ))
            .hint("rebuild and push the image with a current builder (schema 2 or OCI); schema 1 cannot be copied digest-preserving"));
        }
        if raw.schema_version != Some(2) {
            return Err(Error::input(format!(
                "manifest {what}: schemaVersion is {:?}, expected 2",
                raw.schema_version
            )));
        }
        let view = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let config = raw
                    .config
                    .ok_or_else(|| {
                        Error::input(format!("manifest {what}: field `config` is missing"))
                    })?
                    .validate(&format!("manifest {what}: config"))?;
                let layers = raw
                    .layers
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| d.validate(&format!("manifest {what}: layers[{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                ManifestView::Image { config, layers }
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                let manifests = raw
                    .manifests
                    .ok_or_else(|| {
                        Error::input(format!("manifest {what}: field `manifests` is missing"))
                    })?
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| d.validate(&format!("manifest {what}: manifests[{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                ManifestView::Index { manifests }
            }
            other => {
                return Err(Error::input(format!(
                    "manifest {what} has unsupported media type `{}`",
                    crate::reference::shorten(other)
                ))
                .hint("supported: OCI image manifest and index, Docker v2 schema 2 manifest and manifest list"));
            }
        };
        let subject = raw
            .subject
            .map(|s| s.validate(&format!("manifest {what}: subject")))
            .transpose()?;
        Ok(Self {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type,
            view,
            subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations.unwrap_or_default(),
        })
    }

    /// Whether this is an index or manifest list.
    #[must_use]
    pub fn is_index(&self) -> bool {
        matches!(self.view, ManifestView::Index { .. })
    }
}

/// The parts of an image config the checks read (a view; unknown fields ignored).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ImageConfig {
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// e.g. `amd64`.
    #[serde(default)]
    pub architecture: Option<String>,
    /// e.g. `linux`.
    #[serde(default)]
    pub os: Option<String>,
    /// e.g. `v8`.
    #[serde(default)]
    pub variant: Option<String>,
    /// The runtime configuration.
    #[serde(default)]
    pub config: Option<RuntimeConfig>,
    /// Layer diff ids.
    #[serde(default)]
    pub rootfs: Option<RootFs>,
    /// Build history.
    #[serde(default)]
    pub history: Option<Vec<History>>,
}

/// The runtime part of an image config.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    /// User the process runs as.
    #[serde(default)]
    pub user: Option<String>,
    /// Entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Environment.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Uncompressed layer digests.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One history entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct History {
    /// Command that created the entry.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Whether no layer was produced.
    #[serde(default)]
    pub empty_layer: Option<bool>,
}

impl ImageConfig {
    /// Parses a config blob.
    ///
    /// # Errors
    /// An input error naming the config digest.
    pub fn parse(digest: &Digest, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::input(format!("config {digest} is not a valid image config: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(body: &str) -> Result<Manifest> {
        Manifest::parse("test", Bytes::from(body.to_owned()), None)
    }

    #[test]
    fn keeps_raw_bytes_and_digest() {
        let body = format!(
            r#"{{"schemaVersion":2,  "mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{D}","size":0}},"layers":[],"zzz":1}}"#
        );
        let m = manifest(&body).unwrap();
        assert_eq!(m.bytes, body.as_bytes());
        assert_eq!(m.digest, Digest::sha256_of(body.as_bytes()));
        assert!(!m.is_index());
    }

    #[test]
    fn refuses_bad_manifests() {
        let e = manifest(r#"{"schemaVersion":1,"name":"x"}"#).unwrap_err();
        assert!(e.message.contains("schema 1"), "{}", e.message);
        let e = manifest(r#"{"schemaVersion":2,"mediaType":"text/plain"}"#).unwrap_err();
        assert!(
            e.message.contains("unsupported media type"),
            "{}",
            e.message
        );
        let e = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"sha256:../../x","size":1}},"layers":[]}}"#
        ))
        .unwrap_err();
        assert!(e.message.contains("config"), "{}", e.message);
        let e = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{D}","size":-1}},"layers":[]}}"#
        ))
        .unwrap_err();
        assert!(e.message.contains("negative"), "{}", e.message);
        let e = manifest("{not json").unwrap_err();
        assert!(e.message.contains("not valid manifest JSON"));
        let big = Bytes::from(vec![b' '; MAX_MANIFEST_BYTES + 1]);
        assert!(
            Manifest::parse("big", big, None)
                .unwrap_err()
                .message
                .contains("4 MiB")
        );
    }
}
