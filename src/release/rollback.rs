//! `image-promote rollback`: which digest a moving tag goes back to. Reads the tag's lineage — the
//! promotion history kept in the registry (the newest record through the tag's pointer, then the
//! record of each previous digest, newest first), else earlier audit files — refuses what must not
//! be rolled back (a tag that a rollback moved last, a tag that a third party moved since the
//! last record), and weighs the candidates newest first: a digest is skipped when it is what the
//! tag holds now, was itself rolled back from (held), no longer exists in the repository, or fails
//! today's policy. The rollback itself is then an ordinary promotion (`promote.rs`) of the chosen
//! digest onto the moving tags, with the same checks, gate, compare-and-swap, record (`kind:
//! rollback`, previous digest = the digest rolled back from, which `plan` then reports as held)
//! and summary. The glue is `commands/rollback.rs`.

use std::collections::BTreeSet;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::release::history::{Kind, Record};
use crate::report::Promotion;
use crate::report::lineage::{CandidateFact, CandidateOrigin};

/// How far back the history is walked (records read), at most.
pub const MAX_STEPS: usize = 32;

/// `--to`: where the tag goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The newest good predecessor (the default).
    Previous,
    /// The Nth earlier digest of the lineage (1 = the one before what the tag holds now).
    Back(usize),
    /// This digest.
    Digest(Digest),
    /// What this tag of the repository holds.
    Tag(String),
}

impl Target {
    /// Parses `--to`: `previous`, a count, a digest or a tag.
    ///
    /// # Errors
    /// An input error naming `--to` and what it takes.
    pub fn parse(value: &str) -> Result<Self> {
        let v = value.trim();
        let bad = |why: String| {
            Error::input(format!("--to `{}`: {why}", crate::text::shorten(v))).hint(
                "pass --to previous, a count (1 = the digest before the current one), a digest (sha256:…) or a tag of the repository",
            )
        };
        if v.is_empty() || v == "previous" {
            return Ok(Self::Previous);
        }
        if v.chars().all(|c| c.is_ascii_digit()) {
            return match v.parse::<usize>() {
                Ok(0) => Err(bad("0 is what the tag holds now; counts start at 1".into())),
                Ok(n) if n <= MAX_STEPS => Ok(Self::Back(n)),
                _ => Err(bad(format!("at most {MAX_STEPS} steps back"))),
            };
        }
        if v.contains(':') {
            return Digest::parse(v)
                .map(Self::Digest)
                .map_err(|e| bad(e.message));
        }
        if crate::reference::valid_tag(v) {
            Ok(Self::Tag(v.to_owned()))
        } else {
            Err(bad("neither a count, a digest nor a valid tag".into()))
        }
    }
}

/// One state the tag was put in: the digest, when, by what, and what it held before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The digest the tag was moved to.
    pub digest: Digest,
    /// When (the record's or the audit's time), if known.
    pub at: Option<String>,
    /// What moved it (`promotion` when only known as an earlier record's previous digest).
    pub kind: Kind,
    /// What the tag held before (`None`: absent, or unknown).
    pub previous: Option<Digest>,
    /// Where this step is known from.
    pub origin: CandidateOrigin,
}

/// What a tag went through, newest first: `steps[0]` is what it holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The steps, newest first.
    pub steps: Vec<Step>,
}

impl Lineage {
    /// The digests rolled back from (each rollback's previous digest): never a candidate.
    #[must_use]
    pub fn held(&self) -> BTreeSet<Digest> {
        self.steps
            .iter()
            .filter(|s| s.kind == Kind::Rollback)
            .filter_map(|s| s.previous.clone())
            .collect()
    }

    /// The earlier digests, newest first, each once, without what the tag holds now.
    #[must_use]
    pub fn earlier(&self) -> Vec<&Step> {
        let now = self.steps.first().map(|s| &s.digest);
        let mut seen = BTreeSet::new();
        self.steps
            .iter()
            .skip(1)
            .filter(|s| Some(&s.digest) != now && seen.insert(s.digest.clone()))
            .collect()
    }
}

/// How the tag's newest record relates to what the tag holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// The tag has no record at all (the tool never moved it).
    NoHistory,
    /// The newest record moved the tag to what it holds now.
    Recorded(Record),
    /// The newest record was written, but its promotion failed before the tag moved: the tag
    /// still holds that record's previous digest (the lineage resumes at the record of it).
    Unfinished(Record),
}

/// Judges the newest record of `tag` against what it holds now (`now`). Pure.
///
/// # Errors
/// A refusal when a rollback moved the tag last (a rollback of a rollback), or when the tag holds
/// a digest that no record put there (a third party moved it).
pub fn head(tag: &str, last: Option<Record>, now: &Digest) -> Result<Head> {
    let Some(last) = last else {
        return Ok(Head::NoHistory);
    };
    if last.digest == *now {
        if last.kind == Kind::Rollback {
            return Err(Error::refused(format!(
                "`{tag}` was put on {} by a rollback ({}, from {}): a rollback of a rollback is refused",
                now.short(),
                last.created_at,
                last.previous_digest
                    .as_ref()
                    .map_or_else(|| "nothing".to_owned(), Digest::short)
            ))
            .hint("promote the fixed image with `promote` (it is checked and recorded like any promotion)"));
        }
        return Ok(Head::Recorded(last));
    }
    if last.previous_digest.as_ref() == Some(now) {
        return Ok(Head::Unfinished(last));
    }
    Err(Error::refused(format!(
        "`{tag}` holds {now}, but its last recorded {} put {} there ({}): it was moved outside image-promote since, so the history does not say what to go back to",
        last.kind.as_str(),
        last.digest,
        last.created_at
    ))
    .hint("find out who moved it; to put a known digest back anyway, pass --to DIGEST"))
}

/// The step of `record`.
fn step_of(record: &Record) -> Step {
    Step {
        digest: record.digest.clone(),
        at: Some(record.created_at.clone()),
        kind: record.kind,
        previous: record.previous_digest.clone(),
        origin: CandidateOrigin::History,
    }
}

/// The newest record among `records` (of one digest) that is older than `before`. Pure.
#[must_use]
pub fn record_before<'a>(
    records: &'a [Record],
    digest: &Digest,
    before: Option<&str>,
) -> Option<&'a Record> {
    records
        .iter()
        .filter(|r| r.digest == *digest)
        .find(|r| before.is_none_or(|b| r.created_at.as_str() < b))
}

/// The lineage of `repository`'s `tag` from the promotion history in the registry, `now` being
/// what the tag holds. `None` when the tag has no history.
///
/// # Errors
/// The refusals of [`head`]; registry errors of the reads.
pub async fn from_history(
    client: &RegistryClient,
    repository: &Reference,
    tag: &str,
    now: &Digest,
) -> Result<Option<Lineage>> {
    let last = crate::release::ledger::last(client, repository, tag).await?;
    let mut steps = Vec::new();
    let mut cursor = match head(tag, last, now)? {
        Head::NoHistory => return Ok(None),
        Head::Recorded(r) => {
            steps.push(step_of(&r));
            r.previous_digest.map(|d| (d, Some(r.created_at)))
        }
        // The unfinished record's digest never reached the tag: resume at the record of `now`.
        Head::Unfinished(r) => Some((now.clone(), Some(r.created_at))),
    };
    while let Some((digest, before)) = cursor.take() {
        if steps.len() >= MAX_STEPS {
            break;
        }
        crate::runtime::check_interrupted()?;
        let history = crate::release::ledger::records_of(client, repository, &digest, tag).await?;
        match record_before(&history.records, &digest, before.as_deref()) {
            Some(r) => {
                steps.push(step_of(r));
                cursor = r
                    .previous_digest
                    .clone()
                    .map(|d| (d, Some(r.created_at.clone())));
            }
            None => {
                // Known only as an earlier record's previous digest: the tag's state before the
                // tool's first use.
                steps.push(Step {
                    digest,
                    at: None,
                    kind: Kind::Promotion,
                    previous: None,
                    origin: CandidateOrigin::History,
                });
            }
        }
    }
    Ok(Some(Lineage { steps }))
}

/// The lineage of `repository`'s `tag` from earlier audit records (when the registry keeps no
/// history): the successful, non-dry-run promotions and rollbacks that wrote `tag` to
/// `repository`, newest first, with `now` as the first step. Pure.
#[must_use]
pub fn from_audits(audits: &[Promotion], repository: &str, tag: &str, now: &Digest) -> Lineage {
    let mut found: Vec<(String, Step)> = audits
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                crate::report::Status::Promoted | crate::report::Status::NoOp
            ) && !a.dry_run
        })
        .filter_map(|a| {
            let destination = Reference::parse(&a.request.destination).ok()?;
            let wrote_tag =
                destination.tag() == Some(tag) || a.request.tags.iter().any(|t| t == tag);
            if destination.name() != repository || !wrote_tag {
                return None;
            }
            let digest = Digest::parse(a.image.as_ref()?.destination_digest.as_deref()?).ok()?;
            let at = a
                .finished_at
                .clone()
                .unwrap_or_else(|| a.started_at.clone());
            let previous = a
                .rollback
                .as_ref()
                .and_then(|r| r.from_digest.as_deref())
                .and_then(|d| Digest::parse(d).ok());
            Some((
                at.clone(),
                Step {
                    digest,
                    at: Some(at),
                    kind: a.kind,
                    previous,
                    origin: CandidateOrigin::Audit,
                },
            ))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    let mut steps = vec![Step {
        digest: now.clone(),
        at: None,
        kind: Kind::Promotion,
        previous: None,
        origin: CandidateOrigin::Audit,
    }];
    steps.extend(found.into_iter().map(|(_, s)| s));
    Lineage { steps }
}

/// Why a candidate cannot be put back, or `None` when it can: the judgement of one digest.
pub type Verdict = Option<String>;

/// What [`choose`] decided: the digest to put back, or the refusal (naming every candidate and
/// why it was skipped, or that the lineage is too short, with a hint naming `--to`); and the
/// candidates weighed, for the record, either way.
#[derive(Debug)]
pub struct Choice {
    /// The digest, or the refusal.
    pub outcome: Result<Digest>,
    /// Every candidate listed, newest first, taken or skipped and why.
    pub facts: Vec<CandidateFact>,
}

/// The candidates weighed for `target`, and the chosen digest. `judge` decides one digest (what
/// the tag holds now and held digests are decided here, before it is asked). Candidates older
/// than the one taken are listed as not weighed.
///
/// # Errors
/// The errors of `judge` (a registry that could not be asked); a refusal is in the [`Choice`].
pub async fn choose<F, Fut>(
    lineage: &Lineage,
    now: &Digest,
    target: &Target,
    explicit: Option<Digest>,
    mut judge: F,
) -> Result<Choice>
where
    F: FnMut(Digest) -> Fut,
    Fut: std::future::Future<Output = Result<Verdict>>,
{
    let held = lineage.held();
    let earlier = lineage.earlier();
    let mut facts: Vec<CandidateFact> = Vec::new();
    let fact = |s: &Step, taken: bool, why: String| CandidateFact {
        digest: s.digest.to_string(),
        origin: s.origin,
        promoted_at: s.at.clone(),
        taken,
        why,
    };
    let explicit_step;
    let (weigh, listed_before): (Vec<&Step>, Vec<&Step>) = match target {
        Target::Previous => (earlier.clone(), Vec::new()),
        Target::Back(n) => {
            let Some(step) = earlier.get(n - 1) else {
                return Ok(Choice {
                    outcome: Err(Error::refused(format!(
                        "--to {n}: the history of this tag holds {} earlier digest(s)",
                        earlier.len()
                    ))
                    .hint("pass a smaller count, or name the digest with --to DIGEST")),
                    facts,
                });
            };
            (vec![*step], earlier[..n - 1].to_vec())
        }
        Target::Digest(_) | Target::Tag(_) => {
            let Some(digest) = explicit else {
                return Err(Error::internal("an explicit --to without its digest"));
            };
            explicit_step = Step {
                digest: digest.clone(),
                at: lineage
                    .steps
                    .iter()
                    .find(|s| s.digest == digest)
                    .and_then(|s| s.at.clone()),
                kind: Kind::Promotion,
                previous: None,
                origin: CandidateOrigin::Explicit,
            };
            (vec![&explicit_step], Vec::new())
        }
    };
    for s in listed_before {
        facts.push(fact(
            s,
            false,
            format!("passed over: --to {}", describe(target)),
        ));
    }
    let mut chosen = None;
    for s in &weigh {
        if chosen.is_some() {
            facts.push(fact(
                s,
                false,
                "older than the digest taken: not weighed".into(),
            ));
            continue;
        }
        let why = if s.digest == *now {
            Some("it is what the tag holds now".to_owned())
        } else if held.contains(&s.digest) {
            Some("it was rolled back from (held): promote a newer digest instead".to_owned())
        } else {
            judge(s.digest.clone()).await?
        };
        match why {
            None => {
                let taken = match target {
                    Target::Previous => "the newest good predecessor".to_owned(),
                    other => format!("named by --to {}", describe(other)),
                };
                facts.push(fact(s, true, taken));
                chosen = Some(s.digest.clone());
            }
            Some(why) => facts.push(fact(s, false, why)),
        }
    }
    if let Some(d) = chosen {
        return Ok(Choice {
            outcome: Ok(d),
            facts,
        });
    }
    let detail = if facts.is_empty() {
        "the history holds no earlier digest".to_owned()
    } else {
        facts
            .iter()
            .map(|f| format!("{}: {}", short(&f.digest), f.why))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let refusal = Error::refused(format!(
        "no digest to roll back to from {}: {detail}",
        now.short()
    ))
    .hint("name the digest to put back with --to DIGEST (or a tag with --to TAG); it is checked like any promotion");
    Ok(Choice {
        outcome: Err(refusal),
        facts,
    })
}

fn short(digest: &str) -> String {
    Digest::parse(digest).map_or_else(|_| digest.to_owned(), |d| d.short())
}

/// `--to` as the user wrote it, for messages.
#[must_use]
pub fn describe(target: &Target) -> String {
    match target {
        Target::Previous => "previous".to_owned(),
        Target::Back(n) => n.to_string(),
        Target::Digest(d) => d.to_string(),
        Target::Tag(t) => t.clone(),
    }
}

#[cfg(test)]
#[path = "rollback/tests.rs"]
mod tests;
