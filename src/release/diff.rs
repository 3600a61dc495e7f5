//! The plan of a release: for each service of the plan file, what comes in (the source's digest,
//! platforms, revision and source labels) against what goes out (what each destination tag holds
//! now), and the action a promotion would take. [`decide`] is pure (the tag plan of
//! [`crate::tags::TagPlan`] judged by the plan file's tag kinds); [`plan_service`] does the
//! read-only I/O: the source is resolved (manifests and configs, no blob), each destination tag
//! HEADed. Nothing is written.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Reason, Result};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::release::history::{Kind, Record};
use crate::release::plan_file::{PlanFile, Service};
use crate::resolve::{BlobProbe, ImageKind, ResolvedImage};
use crate::tags::{TagAction, TagPlan};

/// The schema id of the plan document.
pub const SCHEMA: &str = "image-promote/plan/v1";

/// Label (or annotation) of the source revision.
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";
/// Label (or annotation) of the source repository URL.
pub const SOURCE_LABEL: &str = "org.opencontainers.image.source";

/// What a promotion of the service would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// None of the service's tags exists yet, or only new tags are created.
    Promote,
    /// A moving tag moves from another digest (new version tags may be created alongside).
    Update,
    /// Every tag already points at the incoming digest.
    NoOp,
    /// A version tag points at another digest (blocks).
    Conflict,
    /// The source does not resolve, or not to the pinned digest (blocks).
    Missing,
    /// A moving tag holds a digest the history does not show as its last promotion: production
    /// was changed outside the tool (blocks).
    Drift,
    /// The incoming digest was rolled back from, and nothing was promoted since (blocks).
    Held,
}

impl Action {
    /// Whether the entry blocks the release (exit 3).
    #[must_use]
    pub fn blocks(self) -> bool {
        matches!(
            self,
            Self::Conflict | Self::Missing | Self::Drift | Self::Held
        )
    }

    /// Whether a matrix leg runs for it.
    #[must_use]
    pub fn changes(self) -> bool {
        matches!(self, Self::Promote | Self::Update)
    }

    /// The name as written in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Update => "update",
            Self::NoOp => "no-op",
            Self::Conflict => "conflict",
            Self::Missing => "missing",
            Self::Drift => "drift",
            Self::Held => "held",
        }
    }
}

/// What the source holds.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Incoming {
    /// The source reference as the plan file names it.
    pub reference: String,
    /// Its top manifest digest (`null`: it does not resolve).
    pub digest: Option<Digest>,
    /// The top manifest's media type.
    pub media_type: Option<String>,
    /// The platforms of its images (`os/architecture[/variant]`).
    pub platforms: Vec<String>,
    /// `org.opencontainers.image.revision`, from the annotations or the config labels.
    pub revision: Option<String>,
    /// `org.opencontainers.image.source`, from the annotations or the config labels.
    pub source_url: Option<String>,
}

/// What the destination holds now under the service's main tag (its first moving tag, else its
/// first tag).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Outgoing {
    /// `registry/repository:tag`.
    pub reference: String,
    /// The digest the tag points at.
    pub digest: Digest,
    /// The revision label of that image, when it could be read.
    pub revision: Option<String>,
}

/// Whether a tag is a version tag (created once) or a moving tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TagKind {
    /// From `tags`: never moved.
    Immutable,
    /// From `moving-tags`: may move.
    Moving,
}

/// One destination tag: before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TagChange {
    /// The tag.
    pub tag: String,
    /// Version or moving tag.
    pub kind: TagKind,
    /// What it points at now (`null`: absent).
    pub before: Option<Digest>,
    /// What it would point at (`null`: unchanged because the plan is blocked).
    pub after: Option<Digest>,
}

/// One service of the plan.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ServicePlan {
    /// The service's name.
    pub name: String,
    /// What a promotion would do.
    pub action: Action,
    /// The destination repository.
    pub destination: String,
    /// The GitHub environment of its leg.
    pub environment: Option<String>,
    /// What comes in.
    pub incoming: Incoming,
    /// What goes out (`null`: no tag of the service exists yet).
    pub outgoing: Option<Outgoing>,
    /// Every destination tag, version tags first.
    pub tags: Vec<TagChange>,
    /// The digest the moving tags hold now (the compare-and-swap value of the leg); `null` when
    /// none exists.
    pub previous_digest: Option<Digest>,
    /// A compare link between the outgoing and incoming revisions (GitHub sources only).
    pub diff_url: Option<String>,
    /// Why the action was chosen, for humans.
    pub reasons: Vec<String>,
}

/// Counts per action.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Services in the plan.
    pub services: usize,
    /// `promote` entries.
    pub promote: usize,
    /// `update` entries.
    pub update: usize,
    /// `no-op` entries.
    #[serde(rename = "no-op")]
    pub no_op: usize,
    /// Entries that block (conflict, missing, drift, held).
    pub blocked: usize,
}

/// The plan document (`image-promote plan --format json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReleasePlan {
    /// Always `image-promote/plan/v1`.
    pub schema: String,
    /// The plan file as named.
    pub plan_file: String,
    /// The sha256 of the plan file's bytes.
    pub plan_file_sha256: Digest,
    /// When the plan was made (RFC 3339, UTC).
    pub created_at: String,
    /// Counts.
    pub summary: Summary,
    /// One entry per service, in file order.
    pub services: Vec<ServicePlan>,
}

impl ReleasePlan {
    /// The plan of `services` for `file`, counted.
    #[must_use]
    pub fn new(file: &PlanFile, created_at: String, services: Vec<ServicePlan>) -> Self {
        let mut summary = Summary {
            services: services.len(),
            ..Summary::default()
        };
        for s in &services {
            match s.action {
                Action::Promote => summary.promote += 1,
                Action::Update => summary.update += 1,
                Action::NoOp => summary.no_op += 1,
                Action::Conflict | Action::Missing | Action::Drift | Action::Held => {
                    summary.blocked += 1;
                }
            }
        }
        Self {
            schema: SCHEMA.to_owned(),
            plan_file: file.file.clone(),
            plan_file_sha256: file.sha256.clone(),
            created_at,
            summary,
            services,
        }
    }
}

/// Decides a service's action from the incoming digest (`None`: missing, with `why`) and what
/// each tag holds now (`heads`, in [`Service::all_tags`] order). Pure.
#[must_use]
pub fn decide(
    service: &Service,
    incoming: Option<&Digest>,
    heads: Vec<(String, Option<Digest>)>,
) -> (Action, Vec<TagChange>, Vec<String>) {
    let kind = |tag: &str| {
        if service.tags.iter().any(|t| t == tag) {
            TagKind::Immutable
        } else {
            TagKind::Moving
        }
    };
    let Some(target) = incoming else {
        let tags = heads
            .into_iter()
            .map(|(tag, before)| TagChange {
                kind: kind(&tag),
                tag,
                before,
                after: None,
            })
            .collect();
        return (Action::Missing, tags, Vec::new());
    };
    // The tag plan of `promote`, every move allowed: the plan file's kinds judge the moves.
    let plan = TagPlan::decide(&service.destination, target, heads, true);
    let mut reasons = Vec::new();
    let (mut created, mut moved, mut conflict) = (0, 0, false);
    let tags: Vec<TagChange> = plan
        .entries
        .iter()
        .map(|e| {
            let kind = kind(&e.tag);
            match (e.action, kind) {
                (TagAction::Create, _) => created += 1,
                (TagAction::Keep, _) => {}
                (TagAction::Move | TagAction::Refuse, TagKind::Moving) => moved += 1,
                (TagAction::Move | TagAction::Refuse, TagKind::Immutable) => {
                    conflict = true;
                    reasons.push(format!(
                        "version tag `{}` already points at {}, not at {target}",
                        e.tag,
                        e.previous
                            .as_ref()
                            .map_or_else(String::new, Digest::to_string)
                    ));
                }
            }
            TagChange {
                tag: e.tag.clone(),
                kind,
                before: e.previous.clone(),
                after: Some(target.clone()),
            }
        })
        .collect();
    let action = if conflict {
        Action::Conflict
    } else if moved > 0 {
        reasons.push(format!("{moved} moving tag(s) move to {}", target.short()));
        Action::Update
    } else if created > 0 {
        reasons.push(format!("{created} tag(s) created"));
        Action::Promote
    } else {
        reasons.push("already promoted: every tag points at the incoming digest".to_owned());
        Action::NoOp
    };
    (action, tags, reasons)
}

/// Judges a decided action against the newest record of the main moving tag (`last`; `None`:
/// the tag has no history, the tool's first use, which is never drift): `held` when the incoming
/// digest is the one the last rollback moved away from; `drift` when the tag holds (`now`)
/// another digest than the last record promoted — unless it still holds the digest that record
/// moved from: the record is written before the tags move, so a promotion that failed after
/// writing it (a tag refused, the run cut) leaves exactly that state, and the next plan is an
/// ordinary update, not a block. Pure.
#[must_use]
pub fn judge_history(
    action: Action,
    incoming: Option<&Digest>,
    now: Option<&Digest>,
    last: Option<&Record>,
) -> Option<(Action, String)> {
    let last = last?;
    if action.blocks() {
        return None;
    }
    if last.kind == Kind::Rollback
        && last.previous_digest.as_ref() == incoming
        && incoming.is_some()
    {
        return Some((
            Action::Held,
            format!(
                "{} was rolled back from (to {}, {}): promote a newer digest",
                incoming.map_or_else(String::new, Digest::short),
                last.digest.short(),
                last.created_at
            ),
        ));
    }
    match now {
        Some(now) if *now != last.digest && last.previous_digest.as_ref() != Some(now) => Some((
            Action::Drift,
            format!(
                "the tag holds {now}, but the last recorded {} was {} ({}): it was changed outside image-promote",
                match last.kind {
                    Kind::Promotion => "promotion",
                    Kind::Rollback => "rollback",
                },
                last.digest,
                last.created_at
            ),
        )),
        _ => None,
    }
}

/// The digest the service's moving tags hold now, if any holds one (the first that exists).
fn previous_digest(tags: &[TagChange]) -> Option<Digest> {
    tags.iter()
        .filter(|t| t.kind == TagKind::Moving)
        .find_map(|t| t.before.clone())
}

/// Plans one service: resolves the source (manifests and configs; a missing source or a pin
/// mismatch is `missing`), HEADs each destination tag, reads the outgoing image's revision label,
/// and decides. Read-only.
///
/// # Errors
/// Registry, network and access errors other than a missing source manifest.
pub async fn plan_service(
    source: &RegistryClient,
    destination: &RegistryClient,
    service: &Service,
) -> Result<ServicePlan> {
    let mut reasons = Vec::new();
    let mut incoming = Incoming {
        reference: service.source.to_string(),
        ..Incoming::default()
    };
    match crate::resolve::resolve_graph(source, &service.source).await {
        Ok(graph) => {
            let image = crate::resolve::inspect(source, graph, &BlobProbe::None).await?;
            let digest = image.graph.root.digest.clone();
            incoming.media_type = Some(image.graph.root.media_type.clone());
            incoming.platforms = platforms(&image);
            let labels = labels(&image);
            incoming.revision = labels.get(REVISION_LABEL).cloned();
            incoming.source_url = labels.get(SOURCE_LABEL).cloned();
            match &service.digest {
                Some(pin) if *pin != digest => reasons.push(format!(
                    "the source resolves to {digest}, not to the pinned digest {pin}"
                )),
                _ => incoming.digest = Some(digest),
            }
        }
        Err(e) if e.reason == Reason::ManifestUnknown => {
            reasons.push(format!("the source {} does not exist", service.source));
        }
        Err(e) => return Err(e),
    }
    let mut heads = Vec::new();
    for tag in service.all_tags() {
        crate::runtime::check_interrupted()?;
        let now = destination
            .head_manifest(&service.destination.with_tag(&tag), &tag)
            .await?;
        heads.push((tag, now));
    }
    let (mut action, tags, why) = decide(service, incoming.digest.as_ref(), heads);
    reasons.extend(why);
    if let Some(tag) = tags.iter().find(|t| t.kind == TagKind::Moving) {
        let last =
            crate::release::ledger::last(destination, &service.destination, &tag.tag).await?;
        let judged = judge_history(
            action,
            incoming.digest.as_ref(),
            tag.before.as_ref(),
            last.as_ref(),
        );
        if let Some((judged, why)) = judged {
            action = judged;
            reasons.push(format!("`{}`: {why}", tag.tag));
        }
    }
    let main = service
        .moving_tags
        .first()
        .or_else(|| service.tags.first())
        .and_then(|m| tags.iter().find(|t| &t.tag == m));
    let outgoing = match main.and_then(|t| t.before.clone().map(|d| (t.tag.clone(), d))) {
        Some((tag, digest)) => {
            let revision = if Some(&digest) == incoming.digest.as_ref() {
                incoming.revision.clone()
            } else {
                outgoing_revision(destination, &service.destination, &digest).await
            };
            Some(Outgoing {
                reference: service.destination.with_tag(&tag).to_string(),
                digest,
                revision,
            })
        }
        None => None,
    };
    let diff_url = compare_url(
        incoming.source_url.as_deref(),
        outgoing.as_ref().and_then(|o| o.revision.as_deref()),
        incoming.revision.as_deref(),
    );
    Ok(ServicePlan {
        name: service.name.clone(),
        action,
        destination: service.destination.name(),
        environment: service.environment.clone(),
        incoming,
        previous_digest: previous_digest(&tags),
        outgoing,
        tags,
        diff_url,
        reasons,
    })
}

/// The revision label of the image at `repository@digest`; `None` when it cannot be read (the
/// plan does not fail for a label).
async fn outgoing_revision(
    client: &RegistryClient,
    repository: &Reference,
    digest: &Digest,
) -> Option<String> {
    let reference = repository.with_digest(digest);
    let graph = crate::resolve::resolve_graph(client, &reference)
        .await
        .ok()?;
    let image = crate::resolve::inspect(client, graph, &BlobProbe::None)
        .await
        .ok()?;
    labels(&image).remove(REVISION_LABEL)
}

/// The platforms of the runnable images.
fn platforms(image: &ResolvedImage) -> Vec<String> {
    let mut out: Vec<String> = image
        .images
        .iter()
        .filter(|i| i.kind == ImageKind::Image)
        .filter_map(|i| {
            i.descriptor_platform
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| {
                    let c = i.config.as_ref()?;
                    let mut p = format!("{}/{}", c.os.as_deref()?, c.architecture.as_deref()?);
                    if let Some(v) = &c.variant {
                        p.push('/');
                        p.push_str(v);
                    }
                    Some(p)
                })
        })
        .collect();
    out.dedup();
    out
}

/// The top manifest's annotations, then the first image config's labels for keys not annotated.
fn labels(image: &ResolvedImage) -> BTreeMap<String, String> {
    let mut out = image.graph.root.annotations.clone();
    let config_labels = image
        .images
        .iter()
        .filter(|i| i.kind == ImageKind::Image)
        .find_map(|i| i.config.as_ref()?.config.as_ref()?.labels.clone())
        .unwrap_or_default();
    for (k, v) in config_labels {
        out.entry(k).or_insert(v);
    }
    out
}

/// `https://github.com/OWNER/REPO/compare/FROM...TO` when `source_url` is a GitHub repository
/// and both revisions are known and differ (hex or ref names; nothing else is put in a URL).
#[must_use]
pub fn compare_url(
    source_url: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Option<String> {
    let (url, from, to) = (source_url?, from?, to?);
    let path = url
        .strip_prefix("https://github.com/")?
        .trim_end_matches('/')
        .trim_end_matches(".git");
    let mut parts = path.split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if parts.next().is_some()
        || !safe(owner)
        || !safe(repo)
        || !safe(from)
        || !safe(to)
        || from == to
    {
        return None;
    }
    Some(format!(
        "https://github.com/{owner}/{repo}/compare/{from}...{to}"
    ))
}

#[cfg(test)]
mod tests;
