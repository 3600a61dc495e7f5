//! `image-promote rollback DEST --tag prod [--to previous|N|DIGEST|TAG] --reason TEXT`: reads what
//! the moving tags hold now and the tag's lineage (the history in the registry, else earlier audit
//! files), chooses the digest to put back ([`crate::release::rollback`]: held, missing and
//! policy-failing digests skipped), then runs it as a promotion of `DEST@digest` onto the moving
//! tags ([`super::promote::run_as`]): the same conditions, checks, gate, compare-and-swap (the
//! tags must still hold what they held when the rollback chose), record (`kind: rollback`), audit,
//! summary, outputs, deployment and notifications. A refusal (no history and no `--to`, a
//! rollback of a rollback, a tag moved by a third party, no good candidate) is recorded and
//! reported like a refused promotion, and changes nothing.

use std::collections::BTreeSet;

use crate::checks::{CheckInputs, blob_probe, load_context, run_checks};
use crate::cli::{
    DestinationArgs, LegArgs, PromoteArgs, RegistryArgs, RollbackArgs, SourceArgs, TagArgs,
};
use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::gate::{GateDecision, gate};
use crate::policy::Policy;
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::release::ledger::Intent;
use crate::release::rollback::{self, Lineage, Target, Verdict};
use crate::report::lineage::{Kind, RollbackFacts};

/// Runs `rollback`.
///
/// # Errors
/// Input errors (2) before anything is read; then what the promotion of the chosen digest
/// returns, a refusal (3) when there is nothing good to go back to.
pub async fn run(args: RollbackArgs) -> Result<()> {
    let reason = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::input("no --reason given").hint(
                "say why production goes back (--reason TEXT): the history, the audit and the summary record it",
            )
        })?
        .to_owned();
    let destination = args.destination.reference()?;
    let tags = args.tags();
    let Some(main_tag) = tags.first().cloned() else {
        return Err(
            Error::input(format!("no tag to roll back in {}", destination.name()))
                .hint("name the moving tag with --tag (for example --tag prod)"),
        );
    };
    for tag in &tags {
        if !crate::reference::valid_tag(tag) {
            return Err(Error::input(format!(
                "--tag `{}` is not a valid tag",
                crate::text::shorten(tag)
            ))
            .hint("a tag is 1-128 characters of [A-Za-z0-9_.-], not starting with . or -"));
        }
        if crate::tags::is_version_tag(tag) {
            return Err(Error::input(format!(
                "--tag `{tag}` is a version tag: a rollback moves only moving tags (prod, latest), never a version tag, which is created once"
            ))
            .hint("roll back the moving tag that points at this version; to pin a version, deploy its digest"));
        }
    }
    let target = Target::parse(&args.to)?;
    let repository = destination.with_tag(&main_tag);
    let (_, client) = args.registry.clients()?;
    client.add_scope(repository.api_host(), repository.repository(), "pull,push");

    let now = current(&client, &repository, &tags).await?;
    let chosen = match &now {
        Ok(now) => choose(&args, &client, &repository, &main_tag, now, &target).await?,
        Err(e) => Err((e.clone(), Vec::new())),
    };
    let (digest, candidates, refusal) = match chosen {
        Ok((d, c)) => (Some(d), c, None),
        Err((e, c)) => (None, c, Some(e)),
    };
    let from = now.as_ref().ok().cloned();
    let facts = RollbackFacts {
        tags: tags.clone(),
        target: rollback::describe(&target),
        from_digest: from.as_ref().map(ToString::to_string),
        to_digest: digest.as_ref().map(ToString::to_string),
        reason: reason.clone(),
        candidates,
    };
    let source = digest.as_ref().map_or_else(
        || repository.to_string(),
        |d| repository.with_digest(d).to_string(),
    );
    let mut checks = args.checks;
    if let Some(d) = &digest {
        checks.expected_digest = Some(d.to_string());
    }
    let promote = PromoteArgs {
        source: SourceArgs {
            src: None,
            source: Some(source),
        },
        destination: DestinationArgs {
            dst: None,
            destination: Some(repository.to_string()),
        },
        tags: TagArgs {
            tags: Vec::new(),
            tag: tags[1..].to_vec(),
            allow_tag_move: false,
        },
        checks,
        gate: args.gate,
        transfer: args.transfer,
        report: args.report,
        github: args.github,
        notify: args.notify,
        sign: args.sign,
        leg: LegArgs {
            moving_tags: tags,
            expected_previous: from.as_ref().map(ToString::to_string),
        },
        registry: destination_on_both_sides(args.registry),
    };
    let lineage = super::promote::Lineage {
        intent: Intent {
            kind: Kind::Rollback,
            reason: Some(reason),
        },
        rollback: Some(facts),
        refusal,
    };
    super::promote::run_as(promote, lineage).await
}

/// The source of a rollback is the destination repository itself: its credentials serve both.
fn destination_on_both_sides(mut registry: RegistryArgs) -> RegistryArgs {
    let c = &mut registry.credentials;
    c.source_username.clone_from(&c.destination_username);
    c.source_password.clone_from(&c.destination_password);
    c.src_creds.clone_from(&c.dest_creds);
    registry
}

/// What the moving tags hold now (all the same digest): `Ok(Err)` is a refusal to record.
async fn current(
    client: &RegistryClient,
    repository: &Reference,
    tags: &[String],
) -> Result<std::result::Result<Digest, Error>> {
    let mut held: Vec<(String, Option<Digest>)> = Vec::new();
    for tag in tags {
        let d = client.head_manifest(&repository.with_tag(tag), tag).await?;
        held.push((tag.clone(), d));
    }
    let Some(now) = held.first().and_then(|(_, d)| d.clone()) else {
        return Ok(Err(Error::refused(format!(
            "nothing to roll back: {} does not exist",
            repository
        ))
        .hint(
            "check the repository and the tag; a rollback puts an existing moving tag back",
        )));
    };
    if held
        .iter()
        .any(|(_, d)| d.as_ref().is_some_and(|d| *d != now))
    {
        let listing = held
            .iter()
            .map(|(t, d)| {
                format!(
                    "`{t}` holds {}",
                    d.as_ref()
                        .map_or_else(|| "nothing".to_owned(), Digest::short)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Ok(Err(Error::refused(format!(
            "the tags to roll back hold different digests ({listing})"
        ))
        .hint("roll back each tag on its own (one --tag per run)")));
    }
    Ok(Ok(now))
}

type Chosen = std::result::Result<
    (Digest, Vec<crate::report::lineage::CandidateFact>),
    (Error, Vec<crate::report::lineage::CandidateFact>),
>;

/// The lineage and the choice; refusals (with the candidates weighed) are `Ok(Err)`.
async fn choose(
    args: &RollbackArgs,
    client: &RegistryClient,
    repository: &Reference,
    tag: &str,
    now: &Digest,
    target: &Target,
) -> Result<Chosen> {
    let lineage = match rollback::from_history(client, repository, tag, now).await {
        Ok(Some(lineage)) => lineage,
        Ok(None) => from_audit_files(args, &repository.name(), tag, now)?,
        Err(e) if e.reason == Reason::Refused => return Ok(Err((e, Vec::new()))),
        Err(e) => return Err(e),
    };
    let explicit = match target {
        Target::Digest(d) => Some(d.clone()),
        Target::Tag(t) => match client.head_manifest(&repository.with_tag(t), t).await? {
            Some(d) => Some(d),
            None => {
                return Ok(Err((
                    Error::refused(format!("--to {t}: {} has no tag `{t}`", repository.name()))
                        .hint("name a tag of the repository, or a digest"),
                    Vec::new(),
                )));
            }
        },
        Target::Previous | Target::Back(_) => None,
    };
    let policy = args.checks.resolve_policy()?;
    let mut inputs = args.checks.inputs(None)?;
    inputs.expected_digest = None;
    let (policy, inputs) = (&policy, &inputs);
    let choice = rollback::choose(&lineage, now, target, explicit, |digest| async move {
        judge(client, repository, digest, policy, inputs).await
    })
    .await?;
    Ok(match choice.outcome {
        Ok(d) => Ok((d, choice.facts)),
        Err(e) => Err((e, choice.facts)),
    })
}

/// The lineage from `--history-audit` files (and the audit directory's own earlier records).
fn from_audit_files(
    args: &RollbackArgs,
    repository: &str,
    tag: &str,
    now: &Digest,
) -> Result<Lineage> {
    let mut files = Vec::new();
    for path in &args.history_audit {
        files.extend(super::report::audit_files(path)?);
    }
    if args.history_audit.is_empty()
        && args.report.audit_dir.is_dir()
        && let Ok(found) = super::report::audit_files(&args.report.audit_dir)
    {
        files.extend(found);
    }
    let mut audits = Vec::new();
    for file in files {
        audits.push(crate::release::merge::Leg::read(&file)?.record);
    }
    Ok(rollback::from_audits(&audits, repository, tag, now))
}

/// Whether `digest` can be put back: it exists in the repository and passes today's policy.
async fn judge(
    client: &RegistryClient,
    repository: &Reference,
    digest: Digest,
    policy: &Policy,
    inputs: &CheckInputs,
) -> Result<Verdict> {
    let reference = repository.with_digest(&digest);
    let graph = match crate::resolve::resolve_graph(client, &reference).await {
        Ok(g) => g,
        Err(e) if e.reason == Reason::ManifestUnknown => {
            return Ok(Some(
                "it no longer exists in the repository (deleted or garbage-collected)".to_owned(),
            ));
        }
        Err(e) => return Err(e),
    };
    let probe = blob_probe(policy, false, BTreeSet::new());
    let ctx = load_context(client, graph, inputs, &probe).await?;
    let mut results = run_checks(&ctx, policy);
    let g = gate(&mut results, None);
    if g.decision != GateDecision::Refuse {
        return Ok(None);
    }
    let failing = results
        .iter()
        .filter(|c| crate::gate::refuses(c))
        .take(3)
        .map(|c| format!("{}: {}", c.id, c.message))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Some(format!("it fails today's policy ({failing})")))
}
