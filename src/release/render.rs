//! The renderings of a [`ReleasePlan`]: the JSON document (its schema in
//! `schemas/plan.schema.json`, generated from the types), the Markdown table of the step summary,
//! and the GitHub Actions matrix (`{"include":[…]}`, one leg per service that changes something,
//! values all strings) with its size checked against the Actions limits.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::release::diff::{Action, ReleasePlan, ServicePlan, TagKind};

/// The schema's `$id`.
pub const SCHEMA_ID: &str =
    "https://github.com/image-promote/image-promote/blob/main/schemas/plan.schema.json";

/// Most legs one matrix may have (GitHub Actions: 256 jobs per matrix).
pub const MAX_LEGS: usize = 256;

/// Largest matrix output, in UTF-16 code units (a job's outputs are limited to 1 MB, counted as
/// UTF-16; a margin is left for the other outputs).
pub const MAX_MATRIX_UTF16: usize = 900 * 1024;

/// One matrix leg: the inputs of a plain `promote` step (strings, lists comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// The service.
    pub service: String,
    /// `promote` or `update`.
    pub action: String,
    /// The source, pinned by digest (`registry/repo@sha256:…`).
    pub source: String,
    /// The destination repository.
    pub destination: String,
    /// The incoming digest (the leg's `expected-digest`).
    pub digest: String,
    /// Version tags, comma-separated.
    pub tags: String,
    /// Moving tags, comma-separated.
    pub moving_tags: String,
    /// What the moving tags hold now (the leg's `expected-previous`; `none` when absent).
    pub previous_digest: String,
    /// The GitHub environment of the leg (empty: none).
    pub environment: String,
}

/// The `matrix` output.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The legs.
    pub include: Vec<Leg>,
}

/// The matrix of `plan`: one leg per `promote` / `update` entry.
///
/// # Errors
/// A REFUSED error when the matrix exceeds the Actions limits (legs, output size).
pub fn matrix(plan: &ReleasePlan) -> Result<Matrix> {
    let include: Vec<Leg> = plan
        .services
        .iter()
        .filter(|s| s.action.changes())
        .filter_map(leg)
        .collect();
    if include.len() > MAX_LEGS {
        return Err(Error::refused(format!(
            "the matrix would have {} legs; GitHub Actions runs at most {MAX_LEGS} jobs per matrix",
            include.len()
        ))
        .hint("split the plan file"));
    }
    let matrix = Matrix { include };
    let size = to_compact(&matrix)?.encode_utf16().count();
    if size > MAX_MATRIX_UTF16 {
        return Err(Error::refused(format!(
            "the matrix output would be {size} UTF-16 units, above the {MAX_MATRIX_UTF16} kept under the 1 MB limit of job outputs"
        ))
        .hint("split the plan file"));
    }
    Ok(matrix)
}

fn leg(s: &ServicePlan) -> Option<Leg> {
    let digest = s.incoming.digest.as_ref()?;
    let list = |kind: TagKind| {
        s.tags
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| t.tag.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    Some(Leg {
        service: s.name.clone(),
        action: s.action.as_str().to_owned(),
        source: format!("{}@{digest}", strip_reference(&s.incoming.reference)),
        destination: s.destination.clone(),
        digest: digest.to_string(),
        tags: list(TagKind::Immutable),
        moving_tags: list(TagKind::Moving),
        previous_digest: s
            .previous_digest
            .as_ref()
            .map_or_else(|| "none".to_owned(), ToString::to_string),
        environment: s.environment.clone().unwrap_or_default(),
    })
}

/// `registry/repo:tag@digest` → `registry/repo`.
fn strip_reference(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// Compact JSON (one line), as `$GITHUB_OUTPUT` and `fromJSON` take it.
///
/// # Errors
/// Internal serialization errors.
pub fn to_compact<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(e.to_string()))
}

/// The plan as pretty JSON with a trailing newline.
///
/// # Errors
/// Internal serialization errors.
pub fn to_json(plan: &ReleasePlan) -> Result<String> {
    let mut s = serde_json::to_string_pretty(plan).map_err(|e| Error::internal(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// The JSON Schema of the plan document, generated from [`ReleasePlan`].
#[must_use]
pub fn schema_json() -> String {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(ReleasePlan)).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), SCHEMA_ID.into());
    }
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

fn mark(action: Action) -> &'static str {
    match action {
        Action::Promote => "🆕 promote",
        Action::Update => "⬆️ update",
        Action::NoOp => "✅ no-op",
        Action::Conflict => "⛔ conflict",
        Action::Missing => "⛔ missing",
        Action::Drift => "⛔ drift",
        Action::Held => "⛔ held",
    }
}

/// Markdown table cells: pipes and newlines escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The Markdown of the plan: a headline, then one row per service (service, action,
/// outgoing → incoming, tags, diff), then the reasons of blocking entries.
#[must_use]
pub fn markdown(plan: &ReleasePlan) -> String {
    let s = &plan.summary;
    let mut out = format!(
        "### Release plan `{}`\n\n{} services: {} promote, {} update, {} no-op, {} blocked\n\n",
        cell(&plan.plan_file),
        s.services,
        s.promote,
        s.update,
        s.no_op,
        s.blocked
    );
    out.push_str(
        "| service | action | outgoing → incoming | tags | diff |\n|---|---|---|---|---|\n",
    );
    for p in &plan.services {
        let outgoing = p
            .outgoing
            .as_ref()
            .map_or_else(|| "—".to_owned(), |o| format!("`{}`", o.digest.short()));
        let incoming = p
            .incoming
            .digest
            .as_ref()
            .map_or_else(|| "missing".to_owned(), |d| format!("`{}`", d.short()));
        let tags = p
            .tags
            .iter()
            .map(|t| {
                let changed = t.after.is_some() && t.before != t.after;
                if changed {
                    format!("**{}**", cell(&t.tag))
                } else {
                    cell(&t.tag)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let diff = p
            .diff_url
            .as_ref()
            .map_or_else(String::new, |u| format!("[compare]({u})"));
        out.push_str(&format!(
            "| {} | {} | {outgoing} → {incoming} | {tags} | {diff} |\n",
            cell(&p.name),
            mark(p.action)
        ));
    }
    let blocked: Vec<&ServicePlan> = plan.services.iter().filter(|p| p.action.blocks()).collect();
    if !blocked.is_empty() {
        out.push_str("\n**Blocked:**\n\n");
        for p in blocked {
            out.push_str(&format!(
                "- `{}` ({}): {}\n",
                cell(&p.name),
                p.action.as_str(),
                cell(&p.reasons.join("; "))
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::digest::Digest;
    use crate::release::diff::{Incoming, Outgoing, Summary, TagChange};

    fn service(name: &str, action: Action, n: u8) -> ServicePlan {
        let digest = Digest::sha256_of(&[n]);
        let before = Digest::sha256_of(&[n + 100]);
        ServicePlan {
            name: name.into(),
            action,
            destination: format!("b.io/acme/{name}"),
            environment: Some("production".into()),
            incoming: Incoming {
                reference: format!("a.io:5000/acme/{name}:1.{n}"),
                digest: Some(digest.clone()),
                ..Incoming::default()
            },
            outgoing: Some(Outgoing {
                reference: format!("b.io/acme/{name}:prod"),
                digest: before.clone(),
                revision: None,
            }),
            tags: vec![
                TagChange {
                    tag: format!("1.{n}"),
                    kind: TagKind::Immutable,
                    before: None,
                    after: Some(digest.clone()),
                },
                TagChange {
                    tag: "prod".into(),
                    kind: TagKind::Moving,
                    before: Some(before.clone()),
                    after: Some(digest),
                },
            ],
            previous_digest: Some(before),
            diff_url: Some("https://github.com/acme/x/compare/a...b".into()),
            reasons: vec!["why | not".into()],
        }
    }

    fn plan(services: Vec<ServicePlan>) -> ReleasePlan {
        ReleasePlan {
            schema: crate::release::diff::SCHEMA.into(),
            plan_file: "promotions.yaml".into(),
            plan_file_sha256: Digest::sha256_of(b"x"),
            created_at: "2026-12-02T00:00:00Z".into(),
            summary: Summary::default(),
            services,
        }
    }

    #[test]
    fn matrix_has_only_changing_legs() {
        let p = plan(vec![
            service("api", Action::Update, 1),
            service("web", Action::NoOp, 2),
            service("db", Action::Conflict, 3),
            service("new", Action::Promote, 4),
        ]);
        let m = matrix(&p).unwrap();
        let names: Vec<_> = m.include.iter().map(|l| l.service.as_str()).collect();
        assert_eq!(names, ["api", "new"]);
        let leg = &m.include[0];
        assert_eq!(
            leg.source,
            format!("a.io:5000/acme/api@{}", Digest::sha256_of(&[1]))
        );
        assert_eq!(leg.tags, "1.1");
        assert_eq!(leg.moving_tags, "prod");
        assert_eq!(leg.previous_digest, Digest::sha256_of(&[101]).to_string());
        let json = to_compact(&m).unwrap();
        assert!(
            json.starts_with("{\"include\":[{\"service\":\"api\""),
            "{json}"
        );
        assert!(!json.contains('\n'));
        assert_eq!(
            to_compact(&matrix(&plan(vec![])).unwrap()).unwrap(),
            "{\"include\":[]}"
        );
    }

    #[test]
    fn matrix_limits() {
        let many: Vec<_> = (0..=MAX_LEGS)
            .map(|i| service(&format!("s{i}"), Action::Promote, 1))
            .collect();
        let e = matrix(&plan(many)).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Refused);
        assert!(e.message.contains("257 legs"), "{}", e.message);
        let full: Vec<_> = (0..MAX_LEGS)
            .map(|i| service(&format!("s{i}"), Action::Promote, 1))
            .collect();
        let m = matrix(&plan(full)).unwrap();
        let size = to_compact(&m).unwrap().len();
        assert!(size < 200 * 1024, "256 legs come to {size} bytes");
    }

    #[test]
    fn markdown_table() {
        let md = markdown(&plan(vec![
            service("api", Action::Update, 1),
            service("db", Action::Conflict, 3),
        ]));
        assert!(
            md.contains("| service | action | outgoing → incoming | tags | diff |"),
            "{md}"
        );
        let short = |n: u8| Digest::sha256_of(&[n]).short();
        assert!(
            md.contains(&format!("| api | ⬆️ update | `{}` → `{}` | **1.1**, **prod** | [compare](https://github.com/acme/x/compare/a...b) |", short(101), short(1))),
            "{md}"
        );
        assert!(md.contains("- `db` (conflict): why \\| not"), "{md}");
    }

    #[test]
    fn committed_schema_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json");
        let generated = schema_json();
        if std::env::var_os("IMAGE_PROMOTE_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/plan.schema.json is stale; regenerate it with \
             `IMAGE_PROMOTE_BLESS=1 cargo test --lib release::render` and commit the result"
        );
    }
}
