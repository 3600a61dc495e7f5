//! The Resolve stage: everything learnt about the source image before it is judged or copied,
//! in one [`ResolvedImage`] that the checks, the copy and the reports read. [`resolve_graph`]
//! walks the manifest graph; [`inspect`] reads each image config once (raw bytes and parsed
//! view) and probes the blobs (HEAD; in deep mode download and hash). All the I/O of the
//! pipeline before the copy is here, so the checks are pure functions of a `ResolvedImage`.

mod blobs;
mod graph;
mod images;

use std::collections::{BTreeMap, BTreeSet};

pub use blobs::{BlobProbe, BlobState, BlobStates, DeepStats};
pub use graph::{ImageGraph, resolve_graph, resolve_graph_from};
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
/// shared by two manifests is read once), all at once, and — at the same time, since the graph
/// alone names them — HEADs the blobs as `probe` says; a deep probe then downloads what it must.
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
    let started = std::time::Instant::now();
    let classified = images::classify(&graph);
    let mut to_read = Vec::new();
    let mut read = BTreeSet::new();
    for (m, kind) in &classified {
        if let (ManifestView::Image { config, .. }, ImageKind::Image) = (&m.view, kind)
            && read.insert(config.digest.clone())
        {
            to_read.push(config);
        }
    }
    let wanted = blobs::wanted(&classified, &read);
    let reads = futures_util::future::try_join_all(to_read.into_iter().map(|config| async {
        let r = images::read_config(client, &graph, config).await?;
        Ok::<_, crate::error::Error>((config.digest.clone(), r))
    }));
    let (configs, heads) = futures_util::future::join(
        reads,
        blobs::head_wanted(client, &graph.reference, &wanted, probe),
    )
    .await;
    let configs: BTreeMap<Digest, ConfigRead> = configs?.into_iter().collect();
    let mut image = ResolvedImage::new(graph, &configs);
    image.blobs = blobs::finish_probe(
        client,
        &image.graph.reference,
        &image.images,
        (&wanted, heads),
        probe,
        started,
    )
    .await;
    Ok(image)
}
