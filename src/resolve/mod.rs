//! The Resolve stage: everything learnt about the source image before it is judged or copied,
//! in one [`ResolvedImage`] that the checks, the copy and the reports read. [`resolve_graph`]
//! walks the manifest graph; [`inspect`] reads each image config once (raw bytes and parsed
//! view) and probes the blobs (HEAD; in deep mode download and hash). All the I/O of the
//! pipeline before the copy is here, so the checks are pure functions of a `ResolvedImage`.

mod blobs;
mod graph;
mod images;

use std::collections::BTreeMap;

pub use blobs::{BlobProbe, BlobState, BlobStates, DeepStats};
pub use graph::{ImageGraph, resolve_graph};
pub use images::{ConfigProblem, ConfigRead, ImageInfo, ImageKind};

use crate::digest::Digest;
use crate::error::Result;
use crate::media::ManifestView;
use crate::registry::RegistryClient;

/// A source image, resolved: the manifest graph, each image manifest with its platform and
/// config, and what the source registry said about each blob.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The manifest graph (top manifest, children, blobs, foreign layers).
    pub graph: ImageGraph,
    /// Each image manifest: the root if it is one, else every image manifest under the index.
    pub images: Vec<ImageInfo>,
    /// The blob probe's findings (empty when no probe ran).
    pub blobs: BlobStates,
}

impl ResolvedImage {
    /// A resolved image from its graph and the configs read (by config digest), without a blob
    /// probe. Pure: unit tests build images with it.
    #[must_use]
    pub fn new(graph: ImageGraph, configs: &BTreeMap<Digest, ConfigRead>) -> Self {
        let images = images::image_infos(&graph, configs);
        Self {
            graph,
            images,
            blobs: BlobStates::default(),
        }
    }

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

/// Completes the Resolve stage for `graph` on `client`: reads each image config once (a config
/// shared by two manifests is read once), then probes the blobs as `probe` says.
///
/// # Errors
/// Registry, network and access errors while reading a config. A config that is missing (404),
/// corrupt or not valid JSON is not an error here but a [`ConfigProblem`]; a blob request that
/// fails is a [`BlobState::Unknown`] (the `layers` check reports both).
pub async fn inspect(
    client: &RegistryClient,
    graph: ImageGraph,
    probe: &BlobProbe,
) -> Result<ResolvedImage> {
    let mut configs: BTreeMap<Digest, ConfigRead> = BTreeMap::new();
    for (m, kind) in images::classify(&graph) {
        if let (ManifestView::Image { config, .. }, ImageKind::Image) = (&m.view, kind)
            && !configs.contains_key(&config.digest)
        {
            let read = images::read_config(client, &graph, config).await?;
            configs.insert(config.digest.clone(), read);
        }
    }
    let mut image = ResolvedImage::new(graph, &configs);
    image.blobs = blobs::probe_blobs(client, &image.graph.reference, &image.images, probe).await;
    Ok(image)
}
