//! The step summary (`$GITHUB_STEP_SUMMARY`, Markdown): the outcome at a glance, source →
//! destination with digests, the checks table (✅/⚠️/❌), overrides, errors by category, the state
//! timeline and timings. Input: the [`Promotion`] record. Every list is capped so the summary stays
//! far below GitHub's 1 MiB limit, even for an index of hundreds of platforms.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::record::{
    ApprovalLookup, CheckOutcome, ConditionStatus, Promotion, SeverityName, State, Status,
};

/// Rows shown per table before "… and N more".
pub const MAX_ROWS: usize = 60;
/// Characters kept of one message.
pub const MAX_CELL: usize = 240;
/// Hard ceiling of the rendered summary (GitHub refuses more than 1 MiB per step).
pub const MAX_BYTES: usize = 256 * 1024;

/// Renders the summary of `record`.
#[must_use]
pub fn render(record: &Promotion) -> String {
    let mut out = String::with_capacity(8 * 1024);
    heading(&mut out, record);
    glance(&mut out, record);
    conditions(&mut out, record);
    checks(&mut out, record);
    overrides(&mut out, record);
    rollback(&mut out, record);
    errors(&mut out, record);
    timeline(&mut out, record);
    timings(&mut out, record);
    platforms(&mut out, record);
    cap(out)
}

fn icon(status: Status) -> &'static str {
    match status {
        Status::Promoted | Status::NoOp => "✅",
        Status::DryRun => "🧪",
        Status::Refused => "⛔",
        Status::Failed => "❌",
        Status::Interrupted => "⏹️",
    }
}

/// One table cell: single line, pipes escaped, HTML neutralized, length capped.
fn cell(text: &str) -> String {
    let mut s: String = text
        .replace('\r', "")
        .replace('\n', " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if s.chars().count() > MAX_CELL {
        s = s.chars().take(MAX_CELL).collect::<String>() + "…";
    }
    s
}

/// Inline code that cannot break out of its backticks.
fn code(text: &str) -> String {
    format!("`{}`", cell(text).replace('`', "'"))
}

fn heading(out: &mut String, r: &Promotion) {
    let forced = if r.forced { " (forced)" } else { "" };
    let kind = if r.kind == crate::report::lineage::Kind::Rollback {
        "rollback "
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "## {} image-promote: {kind}{}{forced}\n",
        icon(r.status),
        r.status.as_str()
    );
}

/// A rollback's section: what went back where, why, and every candidate weighed.
fn rollback(out: &mut String, r: &Promotion) {
    let Some(rb) = &r.rollback else {
        return;
    };
    let digest = |d: &Option<String>| {
        d.as_deref()
            .map_or_else(|| "—".to_owned(), |d| code(&short(d)))
    };
    let _ = writeln!(
        out,
        "### Rollback\n\n{} : {} → {} (`--to {}`; the digest rolled back from is held: `plan` will not promote it again)\n\nReason: **{}**\n",
        rb.tags
            .iter()
            .map(|t| code(t))
            .collect::<Vec<_>>()
            .join(", "),
        digest(&rb.from_digest),
        digest(&rb.to_digest),
        cell(&rb.target),
        cell(&rb.reason)
    );
    if rb.candidates.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| | Candidate | From | Promoted | Why |\n|---|---|---|---|---|"
    );
    for c in rb.candidates.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            if c.taken { "✅" } else { "⏭️" },
            code(&short(&c.digest)),
            match c.origin {
                crate::report::lineage::CandidateOrigin::History => "history",
                crate::report::lineage::CandidateOrigin::Audit => "audit",
                crate::report::lineage::CandidateOrigin::Explicit => "--to",
            },
            c.promoted_at.as_deref().map_or_else(String::new, cell),
            cell(&c.why)
        );
    }
    more(out, rb.candidates.len());
    out.push('\n');
}

fn glance(out: &mut String, r: &Promotion) {
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| **Status** | **{}**{} |",
        r.status.as_str(),
        if r.forced { " · forced" } else { "" }
    );
    let source_digest = r.image.as_ref().map(|i| i.source_digest.as_str());
    let _ = writeln!(
        out,
        "| **Source** | {}{} |",
        code(&r.request.source),
        source_digest
            .map(|d| format!(" @ {}", code(d)))
            .unwrap_or_default()
    );
    let dest_digest = r
        .image
        .as_ref()
        .and_then(|i| i.destination_digest.as_deref());
    let _ = writeln!(
        out,
        "| **Destination** | {}{} |",
        code(&r.request.destination),
        dest_digest
            .map(|d| format!(" @ {}", code(d)))
            .unwrap_or_default()
    );
    if let (Some(s), Some(d)) = (source_digest, dest_digest) {
        let same = if s == d {
            "✅ identical"
        } else {
            "❌ differ"
        };
        let _ = writeln!(out, "| **Digests** | {same} |");
    }
    if let Some(copy) = &r.copy {
        let tags: Vec<String> = copy
            .tags
            .iter()
            .take(MAX_ROWS)
            .map(|t| {
                let change = match (&t.previous, t.written) {
                    (None, _) => "new".to_owned(),
                    (Some(p), true) => format!("moved from {}", code(&p.short())),
                    (Some(_), false) => "unchanged".to_owned(),
                };
                format!("{} ({change})", code(&t.reference))
            })
            .collect();
        if !tags.is_empty() {
            let _ = writeln!(out, "| **Tags** | {} |", tags.join("<br>"));
        }
        let _ = writeln!(
            out,
            "| **Blobs** | {} copied ({}), {} mounted, {} already present{} |",
            copy.blobs_copied,
            bytes(copy.bytes_copied),
            copy.blobs_mounted,
            copy.blobs_skipped,
            if copy.blobs_would_transfer > 0 {
                format!(", {} would transfer", copy.blobs_would_transfer)
            } else {
                String::new()
            }
        );
        if let Some(line) = crate::copy::summary_line(&copy.referrers) {
            let _ = writeln!(out, "| **Signatures & referrers** | {} |", cell(&line));
        }
    }
    if let Some(s) = &r.signing {
        let forms = |facts: &[crate::report::facts::SignatureFact]| {
            facts
                .iter()
                .map(|f| {
                    format!(
                        "{} ({}, {})",
                        code(&short(&f.digest)),
                        cell(&f.format),
                        cell(&f.path)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| **Signed** | key {}: signature {}; attestation {} (`{}`) |",
            code(&s.key),
            forms(&s.signatures),
            forms(&s.attestations),
            cell(&s.predicate_type)
        );
    }
    if let Some(env) = &r.approval.environment {
        let _ = writeln!(out, "| **Environment** | {} |", code(env));
    }
    if let Some(line) = approval_line(r) {
        let _ = writeln!(out, "| **Approval** | {line} |");
    }
    if let Some(url) = &r.environment_url {
        let _ = writeln!(out, "| **Environment URL** | {} |", cell(url));
    }
    if let Some(d) = &r.dispatch {
        let what = match (&d.event, &d.workflow) {
            (Some(e), _) => format!("repository_dispatch {}", code(e)),
            (None, Some(w)) => format!("workflow_dispatch {}", code(w)),
            (None, None) => String::new(),
        };
        let outcome = match (d.sent, &d.run_url) {
            (true, Some(url)) => format!("started {}", cell(url)),
            (true, None) => "sent".to_owned(),
            (false, _) => "not sent (see the warnings)".to_owned(),
        };
        let _ = writeln!(
            out,
            "| **Deploy** | {what} in {}: {outcome} |",
            code(&d.repository)
        );
    }
    for n in &r.notifications {
        let outcome = if n.sent {
            "sent"
        } else {
            "failed (see the warnings)"
        };
        let _ = writeln!(out, "| **Notified** | {}: {outcome} |", cell(&n.kind));
    }
    let (pass, warn, fail) = r
        .checks
        .iter()
        .fold((0, 0, 0), |(p, w, f), c| match c.status {
            CheckOutcome::Pass => (p + 1, w, f),
            CheckOutcome::Warn => (p, w + 1, f),
            CheckOutcome::Fail => (p, w, f + 1),
            CheckOutcome::Skipped => (p, w, f),
        });
    let _ = writeln!(
        out,
        "| **Checks** | {pass} passed · {warn} warnings · {fail} failed |"
    );
    if let Some(url) = r.workflow.as_ref().and_then(|w| w.run_url.as_deref()) {
        let _ = writeln!(out, "| **Run** | {} |", cell(url));
    }
    let _ = writeln!(out, "| **Audit id** | {} |\n", code(&r.id));
}

/// `approved by @alice: "ship it"` for each review of the environment, with the time bound;
/// `None` when the record was not looked up.
fn approval_line(r: &Promotion) -> Option<String> {
    let a = &r.approval;
    let line = match a.lookup? {
        ApprovalLookup::NotApplicable => return None,
        ApprovalLookup::Unavailable => {
            "not readable from GitHub (see the warnings: `actions: read`)".to_owned()
        }
        ApprovalLookup::Read if a.reviews.is_empty() => {
            "GitHub shows no review of this environment".to_owned()
        }
        ApprovalLookup::Read => {
            let reviews: Vec<String> = a
                .reviews
                .iter()
                .take(10)
                .map(|v| {
                    let mut s = format!("{} by @{}", cell(&v.state), cell(&v.reviewer));
                    if !v.comment.is_empty() {
                        let _ = write!(s, ": \"{}\"", cell(&v.comment));
                    }
                    if v.self_review {
                        s.push_str(" (the run's actor)");
                    }
                    s
                })
                .collect();
            let mut line = reviews.join(" · ");
            if let Some(bound) = &a.approved_no_later_than {
                let basis = if bound.basis == "job-start" {
                    "the job's start"
                } else {
                    "when it was read"
                };
                let _ = write!(line, " (no later than {}, {basis})", cell(&bound.at));
            }
            line
        }
    };
    Some(line)
}

fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => code(&format!("{alg}:{}", &hex[..12])),
        _ => code(digest),
    }
}

#[allow(clippy::cast_precision_loss, reason = "display only")]
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn more(out: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(
            out,
            "\n_… and {} more (see the audit file)._",
            total - MAX_ROWS
        );
    }
}

fn conditions(out: &mut String, r: &Promotion) {
    if r.conditions.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Conditions\n\n| | Condition | Result |\n|---|---|---|"
    );
    for c in &r.conditions {
        let mark = match c.status {
            ConditionStatus::Passed => "✅",
            ConditionStatus::Failed => "❌",
            ConditionStatus::NotChecked => "➖",
        };
        let _ = writeln!(out, "| {mark} | {} | {} |", code(&c.id), cell(&c.message));
    }
    out.push('\n');
}

fn checks(out: &mut String, r: &Promotion) {
    if r.checks.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Checks\n\n| | Check | Platform | Severity | Result |\n|---|---|---|---|---|"
    );
    // Failures and warnings first, so a cap never hides them.
    let mut rows: Vec<_> = r.checks.iter().collect();
    rows.sort_by_key(|c| match c.status {
        CheckOutcome::Fail => 0,
        CheckOutcome::Warn => 1,
        CheckOutcome::Pass => 2,
        CheckOutcome::Skipped => 3,
    });
    for c in rows.iter().take(MAX_ROWS) {
        let mark = match (c.status, c.overridden) {
            (CheckOutcome::Fail, true) => "⚠️ overridden",
            (CheckOutcome::Fail, false) => "❌",
            (CheckOutcome::Warn, _) => "⚠️",
            (CheckOutcome::Pass, _) => "✅",
            (CheckOutcome::Skipped, _) => "➖",
        };
        let _ = writeln!(
            out,
            "| {mark} | {} | {} | {} | {} |",
            code(&c.id),
            c.platform.as_deref().map(cell).unwrap_or_default(),
            c.severity.as_str(),
            cell(&c.message)
        );
    }
    more(out, rows.len());
    out.push('\n');
}

fn overrides(out: &mut String, r: &Promotion) {
    if r.overrides.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Overrides\n\nForced past {} failed check(s). Reason: **{}**\n\n| Check | Platform | Severity | Failure |\n|---|---|---|---|",
        r.overrides.len(),
        cell(r.request.force_reason.as_deref().unwrap_or("(none)"))
    );
    for o in r.overrides.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            code(&o.check),
            o.platform.as_deref().map(cell).unwrap_or_default(),
            o.severity.as_str(),
            cell(&o.message)
        );
    }
    more(out, r.overrides.len());
    out.push('\n');
}

fn errors(out: &mut String, r: &Promotion) {
    if r.errors.is_empty() {
        return;
    }
    let mut by_category: BTreeMap<&str, (usize, SeverityName)> = BTreeMap::new();
    for e in &r.errors {
        let entry = by_category
            .entry(e.category.as_str())
            .or_insert((0, SeverityName::Low));
        entry.0 += 1;
        entry.1 = entry.1.min(e.severity);
    }
    let _ = writeln!(
        out,
        "### Errors\n\n| Category | Count | Worst severity |\n|---|---|---|"
    );
    for (category, (count, worst)) in &by_category {
        let _ = writeln!(out, "| {category} | {count} | {} |", worst.as_str());
    }
    out.push('\n');
    for e in r.errors.iter().take(MAX_ROWS) {
        let _ = write!(
            out,
            "- **{} · {}** {}",
            e.category.as_str(),
            e.severity.as_str(),
            cell(&e.message)
        );
        if let Some(h) = &e.hint {
            let _ = write!(out, "<br>→ {}", cell(h));
        }
        out.push('\n');
    }
    more(out, r.errors.len());
    out.push('\n');
}

fn timeline(out: &mut String, r: &Promotion) {
    let steps: Vec<String> = r
        .transitions
        .iter()
        .map(|t| {
            let s = format!("{} +{} ms", code(t.state.as_str()), t.elapsed_ms);
            if matches!(
                t.state,
                State::ValidationFailed | State::PromotionFailed | State::Failed
            ) {
                format!("**{s}**")
            } else {
                s
            }
        })
        .collect();
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Timeline\n\n{}\n", steps.join(" → "));
}

fn timings(out: &mut String, r: &Promotion) {
    let t = &r.timings;
    let rows = [
        ("validate conditions", t.validate_ms),
        ("resolve source", t.resolve_ms),
        ("checks", t.checks_ms),
        ("blobs", t.blobs_ms),
        ("manifests", t.manifests_ms),
        ("verify", t.verify_ms),
        ("referrers", t.referrers_ms),
        ("tags", t.tag_ms),
        ("copy (all passes)", t.copy_ms),
        ("total", t.total_ms),
    ];
    if rows.iter().all(|(_, v)| v.is_none()) {
        return;
    }
    let _ = writeln!(out, "### Timings\n\n| Operation | ms |\n|---|---:|");
    for (name, v) in rows {
        if let Some(v) = v {
            let _ = writeln!(out, "| {name} | {v} |");
        }
    }
    out.push('\n');
}

fn platforms(out: &mut String, r: &Promotion) {
    let Some(image) = &r.image else { return };
    if image.platforms.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Image: {} manifest(s), {} blob(s), {}</summary>\n\n| Platform | Manifest | Layers | Size |\n|---|---|---:|---:|",
        image.manifests,
        image.blobs,
        bytes(image.total_bytes)
    );
    for p in image.platforms.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            p.platform.as_deref().map_or_else(|| "—".to_owned(), cell),
            short(&p.digest),
            p.layers.len(),
            bytes(p.size)
        );
    }
    more(out, image.platforms.len());
    out.push_str("\n</details>\n");
}

/// Hard cap: cut at a line boundary below [`MAX_BYTES`].
fn cap(mut out: String) -> String {
    if out.len() <= MAX_BYTES {
        return out;
    }
    let mut end = MAX_BYTES - 200;
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(nl) = out[..end].rfind('\n') {
        end = nl + 1;
    }
    out.truncate(end);
    out.push_str("\n_Summary truncated; the audit file has everything._\n");
    out
}

#[cfg(test)]
#[path = "summary/tests.rs"]
mod tests;
