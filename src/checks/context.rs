//! What the checks read, loaded once before they run: from a resolved [`ImageGraph`], every
//! image manifest with its platform and parsed [`ImageConfig`], plus the scan report (parsed from
//! its file), the expected digest and the commit being promoted ([`load_context`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::copy::ImageGraph;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Reason, Result};
use crate::media::{
    DOCKER_CONFIG, Descriptor, ImageConfig, Manifest, ManifestView, OCI_CONFIG, Platform,
};
use crate::registry::RegistryClient;
use crate::scan::{ScanReport, parse_report};

/// Largest config blob read (configs with long histories reach a few hundred KiB).
const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;

/// What the caller knows besides the image: the inputs of `check` and `promote`.
#[derive(Debug, Clone, Default)]
pub struct CheckInputs {
    /// The digest the image must have (e.g. the one that was tested).
    pub expected_digest: Option<Digest>,
    /// A Trivy JSON, Grype JSON or SARIF 2.1.0 report of the image.
    pub scan_report: Option<PathBuf>,
    /// The commit being promoted (`GITHUB_SHA`), for `labels.revision-matches-commit`.
    pub github_sha: Option<String>,
}

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
    /// The parsed config, when it could be read.
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
    pub graph: ImageGraph,
    /// Each image manifest: the root if it is one, else every image manifest under the index.
    pub images: Vec<ImageInfo>,
    /// The scan report, if one was given.
    pub scan: Option<ScanInput>,
    /// The digest the image must have.
    pub expected_digest: Option<Digest>,
    /// The commit being promoted.
    pub github_sha: Option<String>,
}

impl CheckContext {
    /// Every digest that identifies the image: the top manifest, each child manifest, each config.
    #[must_use]
    pub fn image_digests(&self) -> Vec<String> {
        let mut out = vec![self.graph.root.digest.to_string()];
        out.extend(self.graph.children.iter().map(|m| m.digest.to_string()));
        out.extend(
            self.images
                .iter()
                .map(|i| i.config_descriptor.digest.to_string()),
        );
        out.dedup();
        out
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
/// request), then each image manifest's config from `client`.
///
/// # Errors
/// Input errors for a bad scan report; registry, network and access errors while reading a
/// config. A config that is missing (404), corrupt or not valid JSON is not an error here: the
/// `layers` and `metadata` checks report it.
pub async fn load_context(
    client: &RegistryClient,
    graph: ImageGraph,
    inputs: &CheckInputs,
) -> Result<CheckContext> {
    let scan = inputs
        .scan_report
        .as_deref()
        .map(read_scan_report)
        .transpose()?;
    // Read each image config once (a config shared by two manifests is read once).
    let mut configs: BTreeMap<Digest, ConfigRead> = BTreeMap::new();
    for (m, kind) in classify(&graph) {
        if let (ManifestView::Image { config, .. }, ImageKind::Image) = (&m.view, kind)
            && !configs.contains_key(&config.digest)
        {
            let read = read_config(client, &graph, config).await?;
            configs.insert(config.digest.clone(), read);
        }
    }
    let images = image_infos(&graph, &configs);
    Ok(CheckContext {
        graph,
        images,
        scan,
        expected_digest: inputs.expected_digest.clone(),
        github_sha: inputs
            .github_sha
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    })
}

/// A config as read: parsed, or why not.
pub(crate) type ConfigRead = (Option<ImageConfig>, Option<ConfigProblem>);

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
fn classify(graph: &ImageGraph) -> Vec<(&Manifest, ImageKind)> {
    let entries = index_entries(graph);
    std::iter::once(&graph.root)
        .chain(&graph.children)
        .filter_map(|m| {
            let ManifestView::Image { config, .. } = &m.view else {
                return None;
            };
            let entry = entries.get(&m.digest);
            let attestation = entry.is_some_and(|d| {
                super::platform::is_attestation(d.platform.as_ref(), &d.annotations)
            });
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

/// The [`ImageInfo`]s of a graph, given the configs read (by config digest).
pub(crate) fn image_infos(
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
        let (parsed, problem) = configs.get(&config.digest).cloned().unwrap_or_default();
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
            config: parsed,
            config_descriptor: config.clone(),
            config_problem: problem,
        });
    }
    images
}

async fn read_config(
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
            Ok(c) => Ok((Some(c), None)),
            Err(e) => Ok((None, Some(ConfigProblem::Invalid(e.message)))),
        },
        Err(e) if e.reason == Reason::BlobUnknown => Ok((
            None,
            Some(ConfigProblem::Missing(format!(
                "config blob {} is missing from the registry",
                config.digest
            ))),
        )),
        Err(e) if e.kind == ErrorKind::Verification => {
            Ok((None, Some(ConfigProblem::Corrupt(e.message))))
        }
        Err(e) if e.kind == ErrorKind::Input => Ok((None, Some(ConfigProblem::Invalid(e.message)))),
        Err(e) => Err(e),
    }
}
