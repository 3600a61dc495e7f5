//! The first stage of `promote`: the conditions checked before any check runs or any byte
//! moves (the approval GitHub shows, the source pulled, the destination reached, its tags planned
//! and judged, push permission), each recorded with its status and time.

use std::time::Instant;

use super::{Plan, Recorder};
use crate::error::{Error, Reason, Result};
use crate::media::Manifest;
use crate::registry::retry::Budget;
use crate::registry::{RegistryClient, UploadStart};
use crate::report::record::{Condition, ConditionStatus, millis_since};
use crate::tags::{TagPlan, destination_tags};

fn condition(rec: &Recorder<'_>, id: &str, status: ConditionStatus, message: String, t: Instant) {
    condition_took(rec, id, status, message, millis_since(t));
}

/// Records condition `id` as failed with `e`'s message after `duration_ms`; gives `e` back.
fn failed(rec: &Recorder<'_>, id: &str, e: Error, duration_ms: u64) -> Error {
    condition_took(
        rec,
        id,
        ConditionStatus::Failed,
        e.message.clone(),
        duration_ms,
    );
    e
}

fn condition_took(
    rec: &Recorder<'_>,
    id: &str,
    status: ConditionStatus,
    message: String,
    duration_ms: u64,
) {
    rec.with(|r| {
        r.conditions.push(Condition {
            id: id.to_owned(),
            status,
            message,
            duration_ms,
        });
    });
}

/// Checks, before any check or byte moves, that the source can be pulled, the destination
/// reached, the destination tags planned (none refused: see [`crate::tags`]) and the
/// destination pushed to. Fails in seconds with AUTHENTICATION / PERMISSION / REFUSED and a hint
/// instead of after a copy. Returns the tag plan and the source's top manifest (fetched to learn
/// its digest; the resolve starts from it).
pub(super) async fn validate_conditions(
    plan: &Plan,
    source: &RegistryClient,
    destination: &RegistryClient,
    rec: &Recorder<'_>,
) -> Result<(TagPlan, Manifest)> {
    let (src, dst) = (&plan.source, &plan.destination);
    macro_rules! check {
        ($id:expr, $t:expr, $e:expr) => {
            $e.map_err(|e| failed(rec, $id, e, millis_since($t)))?
        };
    }

    if let Some(verdict) = &plan.required_approval {
        let t = Instant::now();
        let shown = check!("approval", t, verdict.clone());
        condition(rec, "approval", ConditionStatus::Passed, shown, t);
    }

    // The destination's tags follow from the inputs alone, so the destination's arm HEADs them
    // right after its first contact, while the source's GET is out: the source pulled, the
    // destination reached and its tags read take two round trips, not three. They are judged in
    // this order (source-pull, destination-reachable, destination-tags), each with its own time.
    let tags = destination_tags(src, dst, &plan.extra_tags).and_then(|tags| {
        if tags.is_empty() {
            return Err(Error::input(format!(
                "no destination tag: {dst} names no tag and the source {src} has none"
            ))
            .hint("give the destination a tag (registry/repo:tag) or pass tags"));
        }
        Ok(tags)
    });
    let t = Instant::now();
    let ((found, found_ms), (reached, reached_ms, heads)) = futures_util::future::join(
        async {
            // A GET, not a HEAD: the resolve needs the manifest, so one request serves both.
            let found = source.get_manifest(src, &src.manifest_reference()).await;
            (found, millis_since(t))
        },
        async {
            let reached = destination.base_url(dst.api_host()).await;
            let reached_ms = millis_since(t);
            let heads = match (&reached, &tags) {
                (Ok(_), Ok(tags)) => {
                    let t = Instant::now();
                    let heads = crate::tags::head_tags(destination, dst, tags).await;
                    Some((heads, millis_since(t)))
                }
                _ => None,
            };
            (reached, reached_ms, heads)
        },
    )
    .await;
    let root = found
        .map_err(|e| {
            if e.reason == Reason::ManifestUnknown {
                Error::registry(format!("the source image {src} was not found"))
                    .hint("check that the image exists in the source registry and that the reference is spelled right")
            } else {
                e
            }
        })
        .map_err(|e| failed(rec, "source-pull", e, found_ms))?;
    let digest = root.digest.clone();
    condition_took(
        rec,
        "source-pull",
        ConditionStatus::Passed,
        format!("{src} resolves to {digest}"),
        found_ms,
    );
    let base = reached.map_err(|e| failed(rec, "destination-reachable", e, reached_ms))?;
    condition_took(
        rec,
        "destination-reachable",
        ConditionStatus::Passed,
        format!("{} answers at {base}", dst.registry()),
        reached_ms,
    );

    // The tag plan, before an upload session is opened: a refused tag leaves the destination
    // untouched.
    let tags = tags.map_err(|e| failed(rec, "destination-tags", e, 0))?;
    rec.with(|r| r.request.tags.clone_from(&tags));
    let (heads, tags_ms) = heads.unwrap_or_else(|| {
        (
            Err(Error::internal("the destination tags were not read")),
            0,
        )
    });
    let heads = heads.map_err(|e| failed(rec, "destination-tags", e, tags_ms))?;
    let tag_plan = TagPlan::decide(dst, &digest, heads, plan.allow_tag_move);
    let cas = crate::release::cas::check(plan.compare_and_swap.as_ref(), &tag_plan);
    if let Err(e) = tag_plan.ensure_allowed().and(cas) {
        // The audit lists every tag of the refused plan with its previous digest.
        let message = format!("{}; plan: {}", e.message, tag_plan.describe());
        condition_took(
            rec,
            "destination-tags",
            ConditionStatus::Failed,
            message,
            tags_ms,
        );
        return Err(e);
    }
    condition_took(
        rec,
        "destination-tags",
        ConditionStatus::Passed,
        tag_plan.describe(),
        tags_ms,
    );

    let t = Instant::now();
    if plan.dry_run {
        condition(
            rec,
            "destination-push",
            ConditionStatus::NotChecked,
            "dry run: no upload session is opened, so push permission is not checked".to_owned(),
            t,
        );
    } else if tag_plan
        .entries
        .iter()
        .all(|e| e.action == crate::tags::TagAction::Keep)
    {
        // A no-op re-run: no tag is written, so the permission to push is not needed (a POST and
        // a DELETE saved; a copy that still had to write would fail on its own with the cause).
        condition(
            rec,
            "destination-push",
            ConditionStatus::NotChecked,
            format!(
                "every destination tag already points at {digest}: no tag is written, so no upload session is opened to check push permission"
            ),
            t,
        );
    } else {
        let started = check!(
            "destination-push",
            t,
            destination
                .start_upload(dst, None, Budget::Own)
                .await
                .map_err(|e| {
                    if e.hint.is_none() {
                        e.hint(format!(
                            "check that the destination credentials can push to {}",
                            dst.name()
                        ))
                    } else {
                        e
                    }
                })
        );
        if let UploadStart::Session(session) = started {
            destination.cancel_upload(dst, &session).await;
        }
        condition(
            rec,
            "destination-push",
            ConditionStatus::Passed,
            format!(
                "an upload session to {} was opened and cancelled",
                dst.name()
            ),
            t,
        );
    }

    Ok((tag_plan, root))
}
