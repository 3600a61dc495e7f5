//! The tag plan (Plan stage): every destination tag is HEADed, its previous digest recorded and
//! its move judged ([`TagPlan::decide`], pure) before a byte moves; a plan with a refused tag
//! refuses the whole promotion, so a refusal leaves the destination untouched. After the copy,
//! [`apply`] writes the tags from the plan, re-checking that none changed since it was made. The
//! rollback of moved tags reads the same plan (the previous digests).

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media::Manifest;
use crate::reference::Reference;
use crate::registry::RegistryClient;

/// The hint of a refused tag move.
const MOVE_HINT: &str =
    "promote under a new version tag, or pass --allow-tag-move if moving this tag is intended";

/// Whether a tag looks like a release version (`1.2`, `1.2.3`, `v1.2.3`, `1.2.3-rc.1`): such tags
/// are immutable by default, while others (`prod`, `latest`, `stable`) may move.
#[must_use]
pub fn is_version_tag(tag: &str) -> bool {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let core = match t.find(['-', '+']) {
        Some(i) if i + 1 < t.len() => &t[..i],
        Some(_) => return false,
        None => t,
    };
    let parts: Vec<&str> = core.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The destination tags of a copy: the destination's own tag (else the source's), plus extras.
///
/// # Errors
/// Input errors for malformed extra tags.
pub fn destination_tags(
    source: &Reference,
    destination: &Reference,
    extra: &[String],
) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    if let Some(t) = destination.tag().or_else(|| {
        if destination.digest().is_none() {
            source.tag()
        } else {
            None
        }
    }) {
        tags.push(t.to_owned());
    }
    for t in extra {
        Reference::validate_tag(t)?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

/// What the plan does with one destination tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagAction {
    /// The tag does not exist yet: it is written.
    Create,
    /// The tag already points at the target: nothing to write.
    Keep,
    /// The tag points at another digest and may move: it is rewritten.
    Move,
    /// The tag is a version tag pointing at another digest: the whole plan is refused.
    Refuse,
}

/// The decision for one destination tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDecision {
    /// The tag.
    pub tag: String,
    /// The digest it pointed at when the plan was made (`None`: it did not exist).
    pub previous: Option<Digest>,
    /// What is done with it.
    pub action: TagAction,
}

impl TagDecision {
    /// Whether applying the plan writes this tag.
    #[must_use]
    pub fn writes(&self) -> bool {
        matches!(self.action, TagAction::Create | TagAction::Move)
    }
}

impl fmt::Display for TagDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.action, &self.previous) {
            (TagAction::Create, _) | (_, None) => write!(f, "{} (new)", self.tag),
            (TagAction::Keep, Some(p)) => write!(f, "{} (already {})", self.tag, p.short()),
            (TagAction::Move, Some(p)) => write!(f, "{} (moves from {})", self.tag, p.short()),
            (TagAction::Refuse, Some(p)) => {
                write!(f, "{} (refused: immutable at {})", self.tag, p.short())
            }
        }
    }
}

/// The destination tags of one promotion, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPlan {
    /// The destination repository (its own tag or digest is not used: see `entries`).
    pub destination: Reference,
    /// The digest every tag is to point at.
    pub target: Digest,
    /// Whether version tags may move (`--allow-tag-move`).
    pub allow_tag_move: bool,
    /// One decision per tag, in the order the tags are written.
    pub entries: Vec<TagDecision>,
}

impl TagPlan {
    /// Decides each tag from the digest it points at now (`heads`: tag → previous digest, in
    /// order): absent → create, at `target` → keep, elsewhere → move, unless it is a version tag
    /// and `allow_tag_move` is off → refuse. Pure: no request is sent.
    #[must_use]
    pub fn decide(
        destination: &Reference,
        target: &Digest,
        heads: Vec<(String, Option<Digest>)>,
        allow_tag_move: bool,
    ) -> Self {
        let entries = heads
            .into_iter()
            .map(|(tag, previous)| {
                let action = match &previous {
                    None => TagAction::Create,
                    Some(p) if p == target => TagAction::Keep,
                    Some(_) if is_version_tag(&tag) && !allow_tag_move => TagAction::Refuse,
                    Some(_) => TagAction::Move,
                };
                TagDecision {
                    tag,
                    previous,
                    action,
                }
            })
            .collect();
        Self {
            destination: destination.clone(),
            target: target.clone(),
            allow_tag_move,
            entries,
        }
    }

    /// The refused tags.
    pub fn refused(&self) -> impl Iterator<Item = &TagDecision> {
        self.entries
            .iter()
            .filter(|e| e.action == TagAction::Refuse)
    }

    /// `Ok` if no tag is refused; else one REFUSED error (exit 3) naming every refused tag, the
    /// digest it points at and the target.
    ///
    /// # Errors
    /// The refusal.
    pub fn ensure_allowed(&self) -> Result<()> {
        let refused: Vec<String> = self
            .refused()
            .map(|e| {
                let previous = e
                    .previous
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string);
                format!(
                    "{} already points at {previous}",
                    self.destination.with_tag(&e.tag)
                )
            })
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(Error::refused(format!(
            "{}; version tags are immutable, so nothing is written and no tag is moved to {}",
            refused.join("; "),
            self.target
        ))
        .hint(MOVE_HINT))
    }

    /// One line for humans: `1.0 (new), prod (moves from sha256:ab…)`.
    #[must_use]
    pub fn describe(&self) -> String {
        self.entries
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// HEADs every tag at `destination`, all at once: (tag, the digest it points at), in the order
/// of `tags`. Read-only and independent
/// of the source, so a command may send these while it resolves the source, then decide the plan
/// with [`TagPlan::decide`].
///
/// # Errors
/// Registry, network and access errors of the HEAD requests.
pub async fn head_tags(
    client: &RegistryClient,
    destination: &Reference,
    tags: &[String],
) -> Result<Vec<(String, Option<Digest>)>> {
    crate::runtime::check_interrupted()?;
    // All at once (reads; a promotion names a few tags): one round trip for any number of tags.
    futures_util::future::try_join_all(tags.iter().map(|tag| async move {
        let previous = client
            .head_manifest(&destination.with_tag(tag), tag)
            .await?;
        Ok::<_, crate::error::Error>((tag.clone(), previous))
    }))
    .await
}

/// The tags' states just before they are written, for [`apply_checked`]: each tag the plan
/// writes is HEADed again (all at once) so that one another writer moved since the plan is
/// refused, not overwritten; a tag the plan keeps (at the target already) is not asked again,
/// since nothing is written to it.
///
/// # Errors
/// Registry, network and access errors of the HEAD requests.
pub async fn recheck(
    client: &RegistryClient,
    plan: &TagPlan,
) -> Result<Vec<(String, Option<Digest>)>> {
    let written: Vec<String> = plan
        .entries
        .iter()
        .filter(|e| e.writes())
        .map(|e| e.tag.clone())
        .collect();
    let mut heads = head_tags(client, &plan.destination, &written)
        .await?
        .into_iter();
    plan.entries
        .iter()
        .map(|e| {
            if e.writes() {
                heads
                    .next()
                    .ok_or_else(|| Error::internal("a tag's re-check is missing"))
            } else {
                Ok((e.tag.clone(), e.previous.clone()))
            }
        })
        .collect()
}

/// A tag's state before and after.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRecord {
    /// The full reference `registry/repo:tag`.
    pub reference: String,
    /// The digest it pointed at before, if any.
    pub previous: Option<Digest>,
    /// Whether this run wrote it.
    pub written: bool,
}

/// Writes the tags of `plan` (whose target is `manifest`), in order, each HEADed back. Before
/// each write the tag is HEADed again: if it changed since the plan (to anything but the target,
/// which an earlier copy pass may have written), it is not written and the promotion fails. A
/// dry run writes nothing and reports what would be written.
///
/// # Errors
/// The plan's refusal; a tag changed concurrently (REFUSED); registry errors; a VERIFICATION
/// error if a tag does not resolve to the target after writing.
pub async fn apply(
    client: &RegistryClient,
    plan: &TagPlan,
    manifest: &Manifest,
    dry_run: bool,
) -> Result<Vec<TagRecord>> {
    let now = if dry_run {
        Vec::new()
    } else {
        recheck(client, plan).await?
    };
    apply_checked(client, plan, manifest, dry_run, now).await
}

/// [`apply`] with the tags re-checked already (by [`recheck`], after the manifests are in
/// place): the copy sends those HEADs while it reads the top manifest back.
///
/// # Errors
/// As [`apply`]; an internal error if `now` does not hold one state per tag.
pub async fn apply_checked(
    client: &RegistryClient,
    plan: &TagPlan,
    manifest: &Manifest,
    dry_run: bool,
    now: Vec<(String, Option<Digest>)>,
) -> Result<Vec<TagRecord>> {
    plan.ensure_allowed()?;
    if manifest.digest != plan.target {
        return Err(Error::internal(format!(
            "the tag plan targets {}, the manifest is {}",
            plan.target, manifest.digest
        )));
    }
    if !dry_run
        && (now.len() != plan.entries.len()
            || now.iter().zip(&plan.entries).any(|((t, _), e)| *t != e.tag))
    {
        return Err(Error::internal("the tag states do not match the tag plan"));
    }
    let mut now = now.into_iter();
    let mut records = Vec::with_capacity(plan.entries.len());
    for entry in &plan.entries {
        let tagged = plan.destination.with_tag(&entry.tag);
        if !dry_run {
            crate::runtime::check_interrupted()?;
            let now = now.next().and_then(|(_, d)| d);
            if now.as_ref() == Some(&plan.target) {
                // Already the target (a resumed pass wrote it): nothing to write.
            } else if now != entry.previous {
                return Err(Error::refused(format!(
                    "{tagged} changed concurrently since the tag plan: it pointed at {}, now at {}; it is not written",
                    shown(entry.previous.as_ref()),
                    shown(now.as_ref())
                ))
                .hint("another writer moved the tag during the promotion; re-run to plan the tags again"));
            } else if entry.writes() {
                client.put_manifest(&tagged, &entry.tag, manifest).await?;
                let back = client.head_manifest(&tagged, &entry.tag).await?;
                if back.as_ref() != Some(&plan.target) {
                    return Err(Error::verification(format!(
                        "{tagged}: after tagging, the tag resolves to {}, not {}",
                        shown(back.as_ref()),
                        plan.target
                    )));
                }
            }
        }
        records.push(TagRecord {
            reference: tagged.to_string(),
            previous: entry.previous.clone(),
            written: entry.writes() && !dry_run,
        });
    }
    Ok(records)
}

fn shown(digest: Option<&Digest>) -> String {
    digest.map_or_else(|| "nothing (absent)".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    #[test]
    fn version_tags() {
        for t in ["1.2.3", "v1.2.3", "1.2", "v10.0.1-rc.1", "1.2.3+build.5"] {
            assert!(is_version_tag(t), "{t}");
        }
        for t in [
            "latest", "prod", "1", "v1", "1.2.3.4", "1.x", "1.2-", "sha-abc", "",
        ] {
            assert!(!is_version_tag(t), "{t}");
        }
    }

    #[test]
    fn tags_default_to_source_tag() {
        let s = Reference::parse("a.io/x:1.0").unwrap();
        let d = Reference::parse("b.io/y").unwrap();
        assert_eq!(
            destination_tags(&s, &d, &["prod".into()]).unwrap(),
            vec!["1.0", "prod"]
        );
        let d = Reference::parse("b.io/y:2").unwrap();
        assert_eq!(destination_tags(&s, &d, &[]).unwrap(), vec!["2"]);
        assert!(destination_tags(&s, &d, &["bad tag".into()]).is_err());
    }

    #[test]
    fn decides_create_keep_move_refuse() {
        let dst = Reference::parse("b.io/y:prod").unwrap();
        let (a, b) = (digest(1), digest(2));
        let heads = vec![
            ("prod".to_owned(), Some(a.clone())),
            ("1.2.3".to_owned(), Some(a.clone())),
            ("2.0".to_owned(), Some(b.clone())),
            ("new".to_owned(), None),
            ("1.9".to_owned(), None),
        ];
        let plan = TagPlan::decide(&dst, &b, heads.clone(), false);
        let actions: Vec<_> = plan.entries.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                TagAction::Move,
                TagAction::Refuse,
                TagAction::Keep,
                TagAction::Create,
                TagAction::Create
            ]
        );
        assert_eq!(plan.entries[1].previous.as_ref(), Some(&a));
        let e = plan.ensure_allowed().unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Refused);
        assert!(
            e.message
                .contains(&format!("b.io/y:1.2.3 already points at {a}"))
        );
        assert!(e.message.contains(&b.to_string()), "{}", e.message);
        assert!(!e.message.contains("y:prod"), "only refused tags are named");
        assert!(e.hint.as_deref().unwrap().contains("--allow-tag-move"));

        let allowed = TagPlan::decide(&dst, &b, heads, true);
        assert_eq!(allowed.entries[1].action, TagAction::Move);
        assert!(allowed.ensure_allowed().is_ok());
        assert_eq!(allowed.refused().count(), 0);
        let writes: Vec<_> = allowed.entries.iter().map(TagDecision::writes).collect();
        assert_eq!(writes, [true, true, false, true, true]);
    }

    #[test]
    fn describes_each_tag() {
        let dst = Reference::parse("b.io/y").unwrap();
        let (a, b) = (digest(1), digest(2));
        let plan = TagPlan::decide(
            &dst,
            &b,
            vec![
                ("x".into(), None),
                ("y".into(), Some(b.clone())),
                ("z".into(), Some(a.clone())),
                ("1.0".into(), Some(a.clone())),
            ],
            false,
        );
        assert_eq!(
            plan.describe(),
            format!(
                "x (new), y (already {}), z (moves from {}), 1.0 (refused: immutable at {})",
                b.short(),
                a.short(),
                a.short()
            )
        );
    }
}
