//! One record for a release: the audit files of its matrix legs folded into one summary
//! (`image-promote report --merge AUDIT...`): per service (its destination repository) the final
//! status, digests, checks, approvals and timings, and the release's overall status. Legs may be
//! given in any order and a service may have several audits (a re-run leg): a status never moves
//! backwards — a success (`promoted`, `no-op`) outranks a failure (`refused`, `failed`,
//! `interrupted`), which outranks a `dry-run`; within a rank the audit that finished last wins.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::checks::CheckStatus;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::report::record::{Promotion, Status};

/// The schema id of the merged report.
pub const SCHEMA: &str = "image-promote/release-report/v1";

/// The rank of a status: higher is more final.
fn rank(status: Status) -> u8 {
    match status {
        Status::Promoted | Status::NoOp => 3,
        Status::Refused | Status::Failed | Status::Interrupted => 2,
        Status::DryRun => 1,
    }
}

/// An audit file read and parsed.
#[derive(Debug, Clone)]
pub struct Leg {
    /// The file as named.
    pub file: String,
    /// The record.
    pub record: Promotion,
}

impl Leg {
    /// Reads one audit file.
    ///
    /// # Errors
    /// An input error naming the file: unreadable, or not an audit record (with the field).
    pub fn read(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!("audit file {file}: cannot read it: {e}"))
                .hint("pass the audit files the legs wrote (their `audit-file` outputs)")
        })?;
        let record: Promotion = serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "audit file {file}: not an image-promote audit record: {e}"
            ))
            .hint("pass the promotion-*.json files the legs wrote")
        })?;
        Ok(Self { file, record })
    }

    /// The destination repository (`registry/path`, without tag or digest).
    fn repository(&self) -> String {
        let d = &self.record.request.destination;
        Reference::parse(d).map_or_else(|_| d.clone(), |r| r.name())
    }
}

/// Counts of check outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CheckCounts {
    /// Passed.
    pub passed: usize,
    /// Warned.
    pub warned: usize,
    /// Failed (overridden ones included).
    pub failed: usize,
}

/// An earlier (or lower-ranked) audit of the same service, kept for the record.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Superseded {
    /// Its status.
    pub status: Status,
    /// Its audit file.
    pub audit_file: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// One service of the release, from its final audit.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ServiceReport {
    /// The service: the last path segment of the destination repository.
    pub service: String,
    /// The destination repository.
    pub destination: String,
    /// The final status.
    pub status: Status,
    /// Whether failed checks were overridden.
    pub forced: bool,
    /// The source as requested.
    pub source: String,
    /// The source digest.
    pub source_digest: Option<String>,
    /// The destination digest read back.
    pub destination_digest: Option<String>,
    /// The references promoted.
    pub promoted: Vec<String>,
    /// The check outcomes.
    pub checks: CheckCounts,
    /// Who approved the leg's environment.
    pub approvers: Vec<String>,
    /// The leg's environment.
    pub environment: Option<String>,
    /// When the final audit started and finished.
    pub started_at: String,
    /// When the final audit finished.
    pub finished_at: Option<String>,
    /// Its total milliseconds.
    pub total_ms: Option<u64>,
    /// The leg's run.
    pub run_url: Option<String>,
    /// The final audit file.
    pub audit_file: String,
    /// The other audits of this service.
    pub superseded: Vec<Superseded>,
}

/// The release's overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overall {
    /// Every service promoted or already there.
    Success,
    /// At least one service refused, failed or was interrupted.
    Failure,
    /// Only dry runs (and successes).
    DryRun,
}

/// The merged report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReleaseReport {
    /// Always `image-promote/release-report/v1`.
    pub schema: String,
    /// The overall status.
    pub overall: Overall,
    /// Services per final status (`promoted`, `no-op`, …).
    pub counts: BTreeMap<String, usize>,
    /// One entry per service, by destination repository.
    pub services: Vec<ServiceReport>,
}

/// Folds the legs into one report (pure: the order of `legs` does not matter).
#[must_use]
pub fn merge(legs: Vec<Leg>) -> ReleaseReport {
    let mut by_service: BTreeMap<String, Vec<Leg>> = BTreeMap::new();
    for leg in legs {
        by_service.entry(leg.repository()).or_default().push(leg);
    }
    let mut services = Vec::new();
    for (destination, mut legs) in by_service {
        // Most final first: rank, then the latest finish (RFC 3339 UTC sorts as text), then file.
        legs.sort_by(|a, b| {
            let key = |l: &Leg| {
                (
                    rank(l.record.status),
                    l.record.finished_at.clone().unwrap_or_default(),
                    l.file.clone(),
                )
            };
            key(b).cmp(&key(a))
        });
        let mut legs = legs.into_iter();
        let Some(last) = legs.next() else { continue };
        let superseded = legs
            .map(|l| Superseded {
                status: l.record.status,
                audit_file: l.file,
                finished_at: l.record.finished_at,
            })
            .collect();
        services.push(service_report(destination, last, superseded));
    }
    let mut counts = BTreeMap::new();
    for s in &services {
        *counts.entry(s.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let overall = if services.iter().any(|s| rank(s.status) == 2) {
        Overall::Failure
    } else if services.iter().any(|s| s.status == Status::DryRun) {
        Overall::DryRun
    } else {
        Overall::Success
    };
    ReleaseReport {
        schema: SCHEMA.to_owned(),
        overall,
        counts,
        services,
    }
}

fn service_report(destination: String, leg: Leg, superseded: Vec<Superseded>) -> ServiceReport {
    let r = leg.record;
    let mut checks = CheckCounts::default();
    for c in &r.checks {
        match c.status {
            CheckStatus::Pass => checks.passed += 1,
            CheckStatus::Warn => checks.warned += 1,
            CheckStatus::Fail => checks.failed += 1,
            CheckStatus::Skipped => {}
        }
    }
    ServiceReport {
        service: destination
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        destination,
        status: r.status,
        forced: r.forced,
        source: r.request.source,
        source_digest: r.image.as_ref().map(|i| i.source_digest.clone()),
        destination_digest: r.image.and_then(|i| i.destination_digest),
        promoted: r.promoted,
        checks,
        approvers: r.approval.approvers,
        environment: r.approval.environment,
        started_at: r.started_at,
        finished_at: r.finished_at,
        total_ms: r.timings.total_ms,
        run_url: r.workflow.and_then(|w| w.run_url),
        audit_file: leg.file,
        superseded,
    }
}

/// The Markdown of the merged report for the step summary.
#[must_use]
pub fn markdown(report: &ReleaseReport) -> String {
    let overall = match report.overall {
        Overall::Success => "✅ success",
        Overall::Failure => "❌ failure",
        Overall::DryRun => "🧪 dry run",
    };
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let mut out = format!(
        "### Release: {overall}\n\n{} services: {}\n\n| service | status | digest | checks (✅/⚠/❌) | approved by | time |\n|---|---|---|---|---|---|\n",
        report.services.len(),
        counts.join(", ")
    );
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    for s in &report.services {
        let digest = s.destination_digest.as_ref().or(s.source_digest.as_ref());
        let digest = digest.map_or_else(
            || "—".to_owned(),
            |d| format!("`{}`", &d[..d.len().min(19)]),
        );
        let approvers = if s.approvers.is_empty() {
            "—".to_owned()
        } else {
            s.approvers
                .iter()
                .map(|a| format!("@{}", cell(a)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let time = s
            .total_ms
            .map_or_else(String::new, |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let reruns = if s.superseded.is_empty() {
            String::new()
        } else {
            format!(" (after {} earlier)", s.superseded.len())
        };
        out.push_str(&format!(
            "| {} | {}{reruns} | {digest} | {}/{}/{} | {approvers} | {time} |\n",
            cell(&s.service),
            s.status.as_str(),
            s.checks.passed,
            s.checks.warned,
            s.checks.failed
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record::{Approval, Request};

    fn leg(file: &str, destination: &str, status: Status, finished: &str) -> Leg {
        let mut record = Promotion::new(
            Request {
                source: "a.io/x@sha256:1".into(),
                destination: destination.into(),
                ..Request::default()
            },
            None,
            Approval::default(),
        );
        record.status = status;
        record.finished_at = Some(finished.into());
        Leg {
            file: file.into(),
            record,
        }
    }

    #[test]
    fn statuses_never_move_backwards() {
        let legs = vec![
            leg(
                "api-2.json",
                "b.io/acme/api:2.0",
                Status::Promoted,
                "2026-12-02T01:00:05Z",
            ),
            // A re-run that came later but failed (production moved): the success stands.
            leg(
                "api-3.json",
                "b.io/acme/api:2.0",
                Status::Refused,
                "2026-12-02T01:00:09Z",
            ),
            leg(
                "api-1.json",
                "b.io/acme/api:2.0",
                Status::Failed,
                "2026-12-02T01:00:01Z",
            ),
            leg(
                "web-1.json",
                "b.io/acme/web",
                Status::DryRun,
                "2026-12-02T01:00:00Z",
            ),
            leg(
                "web-2.json",
                "b.io/acme/web:1.0",
                Status::NoOp,
                "2026-12-02T00:59:00Z",
            ),
            leg(
                "db-1.json",
                "b.io/acme/db:1",
                Status::Failed,
                "2026-12-02T01:00:00Z",
            ),
        ];
        let mut reversed = legs.clone();
        reversed.reverse();
        for order in [legs, reversed] {
            let report = merge(order);
            let got: Vec<(&str, Status, &str)> = report
                .services
                .iter()
                .map(|s| (s.service.as_str(), s.status, s.audit_file.as_str()))
                .collect();
            assert_eq!(
                got,
                [
                    ("api", Status::Promoted, "api-2.json"),
                    ("db", Status::Failed, "db-1.json"),
                    ("web", Status::NoOp, "web-2.json"),
                ]
            );
            assert_eq!(report.services[0].superseded.len(), 2);
            assert_eq!(report.overall, Overall::Failure);
            assert_eq!(report.counts["promoted"], 1);
        }
        let ok = merge(vec![leg("a", "b.io/x:1", Status::Promoted, "t")]);
        assert_eq!(ok.overall, Overall::Success);
        let dry = merge(vec![leg("a", "b.io/x:1", Status::DryRun, "t")]);
        assert_eq!(dry.overall, Overall::DryRun);
    }

    #[test]
    fn markdown_table() {
        let report = merge(vec![
            leg("a.json", "b.io/acme/api:2.0", Status::Promoted, "2"),
            leg("b.json", "b.io/acme/api:2.0", Status::Failed, "1"),
        ]);
        let md = markdown(&report);
        assert!(md.starts_with("### Release: ✅ success"), "{md}");
        assert!(md.contains("| api | promoted (after 1 earlier) |"), "{md}");
    }

    #[test]
    fn bad_audit_files_are_named() {
        let dir = tempfile_dir();
        let path = dir.join("bad.json");
        std::fs::write(&path, "{\"status\": 1}").unwrap();
        let e = Leg::read(&path).unwrap_err();
        assert!(
            e.message.contains(&format!(
                "audit file {}: not an image-promote audit record",
                path.display()
            )),
            "{}",
            e.message
        );
        let e = Leg::read(&dir.join("absent.json")).unwrap_err();
        assert!(e.message.contains("cannot read it"));
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rel-merge-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
