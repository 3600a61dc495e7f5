//! The image manifests of a resolved graph ([`ImageInfo`]): each with its kind (image,
//! attestation, artifact), the platform its index declares and its config, read once (raw bytes
//! and parsed view, or why it could not be read).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::ImageGraph;
use crate::digest::Digest;
use crate::error::{ErrorKind, Reason, Result};
use crate::media::{
    DOCKER_CONFIG, Descriptor, ImageConfig, Manifest, ManifestView, OCI_CONFIG, Platform,
};
use crate::registry::RegistryClient;

/// Largest config blob read (configs with long histories reach a few hundred KiB).
const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;

/// What kind of manifest an [`ImageInfo`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// A runnable image (config of an image config media type).
    Image,
    /// A BuildKit attestation manifest inside an index: not a platform.
    Attestation,
    /// An OCI artifact (another config media type): only blob integrity is checked.
    Artifact,
}

/// Why an image's config could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// The registry does not have the config blob (404): an integrity failure.
    Missing(String),
    /// The config blob's bytes do not hash to its digest: an integrity failure.
    Corrupt(String),
    /// The config is not valid image-config JSON.
    Invalid(String),
}

/// One image manifest of the graph (the root, or each child of an index).
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The manifest (raw bytes kept).
    pub manifest: Manifest,
    /// Image, attestation or artifact.
    pub kind: ImageKind,
    /// The platform the parent index declares for it, if any.
    pub descriptor_platform: Option<Platform>,
    /// What results show as `platform`: set only for the children of an index
    /// (`linux/arm64/v8`, as the index writes it; else from the config; else the digest).
    pub platform_label: Option<String>,
    /// The config blob's bytes as the registry served them (verified against its digest).
    pub config_raw: Option<Bytes>,
    /// The parsed view of the config, when it could be read.
    pub config: Option<ImageConfig>,
    /// The config's digest and size.
    pub config_descriptor: Descriptor,
    /// Why the config could not be read.
    pub config_problem: Option<ConfigProblem>,
}

impl ImageInfo {
    /// The layers of the manifest.
    #[must_use]
    pub fn layers(&self) -> &[Descriptor] {
        match &self.manifest.view {
            ManifestView::Image { layers, .. } => layers,
            ManifestView::Index { .. } => &[],
        }
    }
}

/// Whether an index entry is an attestation manifest (BuildKit provenance/SBOM), not a platform:
/// platform `unknown/unknown`, or annotation `vnd.docker.reference.type: attestation-manifest`.
fn is_attestation(
    platform: Option<&Platform>,
    annotations: &std::collections::BTreeMap<String, String>,
) -> bool {
    platform.is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
        || annotations
            .get("vnd.docker.reference.type")
            .is_some_and(|v| v == "attestation-manifest")
}

/// A config as read: its bytes and parsed view, or why not.
#[derive(Debug, Clone, Default)]
pub struct ConfigRead {
    /// The bytes, verified against the digest.
    pub raw: Option<Bytes>,
    /// The parsed view.
    pub parsed: Option<ImageConfig>,
    /// Why it could not be read or parsed.
    pub problem: Option<ConfigProblem>,
}

impl ConfigRead {
    /// A config read and parsed.
    #[must_use]
    pub fn parsed(raw: Bytes, parsed: ImageConfig) -> Self {
        Self {
            raw: Some(raw),
            parsed: Some(parsed),
            problem: None,
        }
    }

    fn problem(problem: ConfigProblem) -> Self {
        Self {
            problem: Some(problem),
            ..Self::default()
        }
    }
}

/// Index entries by digest, for the platform (and annotations) each child is declared with.
fn index_entries(graph: &ImageGraph) -> BTreeMap<&Digest, &Descriptor> {
    let mut entries = BTreeMap::new();
    for m in std::iter::once(&graph.root).chain(&graph.children) {
        if let ManifestView::Index { manifests } = &m.view {
            for d in manifests {
                entries.entry(&d.digest).or_insert(d);
            }
        }
    }
    entries
}

/// Every image manifest of the graph with its kind (image, attestation, artifact).
pub(super) fn classify(graph: &ImageGraph) -> Vec<(&Manifest, ImageKind)> {
    let entries = index_entries(graph);
    std::iter::once(&graph.root)
        .chain(&graph.children)
        .filter_map(|m| {
            let ManifestView::Image { config, .. } = &m.view else {
                return None;
            };
            let entry = entries.get(&m.digest);
            let attestation =
                entry.is_some_and(|d| is_attestation(d.platform.as_ref(), &d.annotations));
            let kind = if attestation {
                ImageKind::Attestation
            } else if config.media_type == OCI_CONFIG || config.media_type == DOCKER_CONFIG {
                ImageKind::Image
            } else {
                ImageKind::Artifact
            };
            Some((m, kind))
        })
        .collect()
}

/// The [`ImageInfo`]s of a graph, given the configs read (by config digest). Pure.
pub(super) fn image_infos(
    graph: &ImageGraph,
    configs: &BTreeMap<Digest, ConfigRead>,
) -> Vec<ImageInfo> {
    let entries = index_entries(graph);
    let root_is_index = graph.root.is_index();
    let mut images = Vec::new();
    for (m, kind) in classify(graph) {
        let ManifestView::Image { config, .. } = &m.view else {
            continue;
        };
        let descriptor_platform = entries.get(&m.digest).and_then(|d| d.platform.clone());
        let read = configs.get(&config.digest).cloned().unwrap_or_default();
        let (parsed, problem) = (read.parsed, read.problem);
        let platform_label = root_is_index.then(|| {
            descriptor_platform
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| {
                    let c = parsed.as_ref()?;
                    Some(
                        Platform {
                            os: c.os.clone()?,
                            architecture: c.architecture.clone()?,
                            variant: c.variant.clone(),
                            os_version: None,
                        }
                        .to_string(),
                    )
                })
                .unwrap_or_else(|| {
                    if kind == ImageKind::Attestation {
                        format!("attestation {}", m.digest.short())
                    } else {
                        m.digest.short()
                    }
                })
        });
        images.push(ImageInfo {
            manifest: m.clone(),
            kind,
            descriptor_platform,
            platform_label,
            config_raw: read.raw,
            config: parsed,
            config_descriptor: config.clone(),
            config_problem: problem,
        });
    }
    images
}

/// Reads one config blob (at most [`MAX_CONFIG_BYTES`], verified against its digest) and
/// parses it. A missing, corrupt or invalid config is a [`ConfigProblem`], not an error.
///
/// # Errors
/// Registry, network and access errors.
pub(super) async fn read_config(
    client: &RegistryClient,
    graph: &ImageGraph,
    config: &Descriptor,
) -> Result<ConfigRead> {
    match client
        .get_blob_bytes(
            &graph.reference,
            &config.digest,
            config.size,
            MAX_CONFIG_BYTES,
        )
        .await
    {
        Ok(bytes) => match ImageConfig::parse(&config.digest, &bytes) {
            Ok(c) => Ok(ConfigRead::parsed(bytes, c)),
            Err(e) => Ok(ConfigRead {
                raw: Some(bytes),
                parsed: None,
                problem: Some(ConfigProblem::Invalid(e.message)),
            }),
        },
        Err(e) if e.reason == Reason::BlobUnknown => {
            Ok(ConfigRead::problem(ConfigProblem::Missing(format!(
                "config blob {} is missing from the registry",
                config.digest
            ))))
        }
        Err(e) if e.kind == ErrorKind::Verification => {
            Ok(ConfigRead::problem(ConfigProblem::Corrupt(e.message)))
        }
        Err(e) if e.kind == ErrorKind::Input => {
            Ok(ConfigRead::problem(ConfigProblem::Invalid(e.message)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestations_are_not_platforms() {
        let unknown = Platform {
            os: "unknown".into(),
            architecture: "unknown".into(),
            ..Platform::default()
        };
        assert!(is_attestation(Some(&unknown), &Default::default()));
        let mut ann = std::collections::BTreeMap::new();
        ann.insert(
            "vnd.docker.reference.type".to_owned(),
            "attestation-manifest".to_owned(),
        );
        assert!(is_attestation(None, &ann));
        assert!(!is_attestation(None, &Default::default()));
    }
}
