//! The manifest graph of a source image: the top manifest, every child manifest of its indexes
//! (nested up to [`MAX_INDEX_DEPTH`]) and the set of blobs they reference ([`resolve_graph`]).

use std::collections::BTreeSet;
use std::pin::Pin;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::{Descriptor, MAX_INDEX_DEPTH, Manifest, ManifestView, is_foreign_layer};
use crate::reference::Reference;
use crate::registry::RegistryClient;

/// A source image resolved down to every manifest and blob it references.
#[derive(Debug, Clone)]
pub struct ImageGraph {
    /// The reference it was resolved from.
    pub reference: Reference,
    /// The top manifest (image or index).
    pub root: Manifest,
    /// Child manifests, deepest first (the order they must be pushed in).
    pub children: Vec<Manifest>,
    /// Every distributable blob (configs and layers), each once.
    pub blobs: Vec<Descriptor>,
    /// Non-distributable (foreign) layers: not copied, reported.
    pub foreign: Vec<Descriptor>,
}

impl ImageGraph {
    /// Total bytes of the distributable blobs.
    #[must_use]
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Resolves `reference` on `client`: the top manifest, every child (indexes nest up to 8 deep),
/// and the set of blobs. A digest in the reference must match what the registry serves.
///
/// # Errors
/// Registry errors (a missing child manifest names it), VALIDATION errors for bad manifests.
pub async fn resolve_graph(client: &RegistryClient, reference: &Reference) -> Result<ImageGraph> {
    let root = client
        .get_manifest(reference, &reference.manifest_reference())
        .await?;
    resolve_graph_from(client, reference, root).await
}

/// [`resolve_graph`] from a top manifest fetched already (`promote`'s `source-pull` GETs it).
///
/// # Errors
/// As [`resolve_graph`], for the child manifests.
pub async fn resolve_graph_from(
    client: &RegistryClient,
    reference: &Reference,
    root: Manifest,
) -> Result<ImageGraph> {
    let mut graph = ImageGraph {
        reference: reference.clone(),
        root: root.clone(),
        children: Vec::new(),
        blobs: Vec::new(),
        foreign: Vec::new(),
    };
    let mut seen_blobs = BTreeSet::new();
    let mut seen_manifests = BTreeSet::new();
    walk(
        client,
        reference,
        &root,
        0,
        &mut graph,
        &mut seen_blobs,
        &mut seen_manifests,
    )
    .await?;
    Ok(graph)
}

fn walk<'a>(
    client: &'a RegistryClient,
    reference: &'a Reference,
    manifest: &'a Manifest,
    depth: usize,
    graph: &'a mut ImageGraph,
    seen_blobs: &'a mut BTreeSet<Digest>,
    seen_manifests: &'a mut BTreeSet<Digest>,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        match &manifest.view {
            ManifestView::Image { config, layers } => {
                for d in std::iter::once(config).chain(layers) {
                    if is_foreign_layer(&d.media_type) {
                        if !graph.foreign.iter().any(|f| f.digest == d.digest) {
                            graph.foreign.push(d.clone());
                        }
                    } else if seen_blobs.insert(d.digest.clone()) {
                        graph.blobs.push(d.clone());
                    }
                }
            }
            ManifestView::Index { manifests } => {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(Error::input(format!(
                        "{reference}: indexes nest deeper than {MAX_INDEX_DEPTH} levels"
                    ))
                    .hint("this is not a valid image; check how it was built"));
                }
                // The children of one index are fetched at once, then walked in order (a child
                // met in an earlier sibling's walk is skipped there, as before).
                let mut wanted = BTreeSet::new();
                let new: Vec<_> = manifests
                    .iter()
                    .filter(|c| !seen_manifests.contains(&c.digest) && wanted.insert(&c.digest))
                    .collect();
                let fetched = futures_util::future::try_join_all(new.iter().map(|child| async {
                    client
                        .get_manifest(reference, &child.digest.to_string())
                        .await
                        .map_err(|e| {
                            e.context(format_args!(
                                "index {} child {}",
                                manifest.digest.short(),
                                child.digest
                            ))
                        })
                }))
                .await?;
                for (child, m) in new.into_iter().zip(fetched) {
                    if !seen_manifests.insert(child.digest.clone()) {
                        continue;
                    }
                    if m.bytes.len() as u64 != child.size {
                        return Err(Error::verification(format!(
                            "{reference}: child manifest {} is {} bytes, the index declares {}",
                            child.digest,
                            m.bytes.len(),
                            child.size
                        )));
                    }
                    walk(
                        client,
                        reference,
                        &m,
                        depth + 1,
                        graph,
                        seen_blobs,
                        seen_manifests,
                    )
                    .await?;
                    graph.children.push(m);
                }
            }
        }
        Ok(())
    })
}
