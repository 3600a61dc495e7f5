//! Grype JSON reports (`grype -o json`).
//!
//! Counts `matches[]`, with the mixed-case severity upper-cased (`Negligible`
//! kept apart); `ignoredMatches[]` become suppressed findings.

use serde_json::{Map, Value};

use super::fields::{Ctx, non_empty};
use super::model::push_digest;
use super::{Finding, ReportFormat, ScanError, ScanReport, Severity, SuppressedBy, Suppression};

/// Reads a Grype report whose top-level object is `root`.
pub(super) fn parse(root: &Map<String, Value>, ctx: &Ctx<'_>) -> Result<ScanReport, ScanError> {
    let tool = match ctx.opt_object(root, "descriptor", "")? {
        Some(d) => {
            let name = non_empty(ctx.opt_str(d, "name", "descriptor")?);
            let version = non_empty(ctx.opt_str(d, "version", "descriptor")?);
            match (name, version) {
                (Some(n), Some(v)) => Some(format!("{n} {v}")),
                (Some(n), None) => Some(n),
                (None, Some(v)) => Some(format!("grype {v}")),
                (None, None) => None,
            }
        }
        None => None,
    };

    let (image_digests, image_name) = identity(root, ctx)?;

    let mut findings = Vec::new();
    for (i, m) in ctx.opt_array(root, "matches", "")?.iter().enumerate() {
        let path = format!("matches[{i}]");
        findings.push(finding(ctx, ctx.object(m, &path)?, &path)?);
    }

    let mut suppressed = Vec::new();
    for (i, m) in ctx
        .opt_array(root, "ignoredMatches", "")?
        .iter()
        .enumerate()
    {
        let path = format!("ignoredMatches[{i}]");
        let m = ctx.object(m, &path)?;
        let mut f = finding(ctx, m, &path)?;
        f.suppression = Some(Suppression {
            by: SuppressedBy::Report,
            reason: ignore_reason(ctx, m, &path)?,
        });
        suppressed.push(f);
    }

    Ok(ScanReport {
        format: ReportFormat::Grype,
        tool,
        image_digests,
        image_name,
        findings,
        suppressed,
    })
}

/// Digests and name of the scanned image, from `source.target` (an object
/// for images; a plain string for directory and file sources).
fn identity(
    root: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<(Vec<String>, Option<String>), ScanError> {
    let mut digests = Vec::new();
    let Some(source) = ctx.opt_object(root, "source", "")? else {
        return Ok((digests, None));
    };
    let mut name = None;
    if let Some(Value::Object(target)) = source.get("target") {
        let p = "source.target";
        if let Some(d) = ctx.opt_str(target, "manifestDigest", p)? {
            push_digest(&mut digests, d);
        }
        for d in ctx.opt_str_list(target, "repoDigests", p)? {
            push_digest(&mut digests, d);
        }
        if let Some(d) = ctx.opt_str(target, "imageID", p)? {
            push_digest(&mut digests, d);
        }
        name = non_empty(ctx.opt_str(target, "userInput", p)?);
        if name.is_none() {
            name = non_empty(ctx.opt_str_list(target, "tags", p)?.first().copied());
        }
    }
    if name.is_none() {
        name = non_empty(ctx.opt_str(source, "name", "source")?);
    }
    Ok((digests, name))
}

/// One match (or ignored match) object.
fn finding(ctx: &Ctx<'_>, m: &Map<String, Value>, path: &str) -> Result<Finding, ScanError> {
    let vpath = format!("{path}.vulnerability");
    let Some(vuln) = ctx.opt_object(m, "vulnerability", path)? else {
        return Err(ctx.field_error(&vpath, "an object", None));
    };
    let apath = format!("{path}.artifact");
    let Some(artifact) = ctx.opt_object(m, "artifact", path)? else {
        return Err(ctx.field_error(&apath, "an object", None));
    };
    let severity_text = ctx.req_str(vuln, "severity", &vpath)?;
    let fixed = match ctx.opt_object(vuln, "fix", &vpath)? {
        Some(fix) => {
            let versions = ctx.opt_str_list(fix, "versions", &format!("{vpath}.fix"))?;
            let versions: Vec<&str> = versions.into_iter().filter(|v| !v.is_empty()).collect();
            non_empty(Some(&versions.join(", ")))
        }
        None => None,
    };
    Ok(Finding {
        id: ctx.req_str(vuln, "id", &vpath)?.to_owned(),
        package: ctx.req_str(artifact, "name", &apath)?.to_owned(),
        installed_version: ctx
            .opt_str(artifact, "version", &apath)?
            .unwrap_or_default()
            .to_owned(),
        fixed_version: fixed,
        severity: Severity::from_text(severity_text),
        title: non_empty(ctx.opt_str(vuln, "description", &vpath)?),
        source_severity_text: severity_text.to_owned(),
        suppression: None,
    })
}

/// The reasons of the ignore rules that caught an ignored match.
fn ignore_reason(
    ctx: &Ctx<'_>,
    m: &Map<String, Value>,
    path: &str,
) -> Result<Option<String>, ScanError> {
    let mut reasons: Vec<String> = Vec::new();
    for (i, rule) in ctx
        .opt_array(m, "appliedIgnoreRules", path)?
        .iter()
        .enumerate()
    {
        let rpath = format!("{path}.appliedIgnoreRules[{i}]");
        let rule = ctx.object(rule, &rpath)?;
        let reason = non_empty(ctx.opt_str(rule, "reason", &rpath)?)
            .or(non_empty(ctx.opt_str(rule, "vex-justification", &rpath)?))
            .or(non_empty(ctx.opt_str(rule, "vex-status", &rpath)?))
            .or_else(|| {
                rule.get("vulnerability")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("grype ignore rule for {v}"))
            });
        if let Some(r) = reason {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    Ok(if reasons.is_empty() {
        Some("grype ignore rule".to_owned())
    } else {
        Some(reasons.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::{SeverityCounts, parse_report};
    use super::*;

    #[test]
    fn debian8_redis_counts_negligible_apart() {
        let r = parse("grype-debian8-redis-critical.json");
        let expected = SeverityCounts {
            critical: 3,
            high: 70,
            medium: 167,
            low: 77,
            negligible: 90,
            unknown: 0,
        };
        assert_eq!(r.counts(), expected);
        assert_eq!(r.findings.len(), 407);
        assert!(r.suppressed.is_empty());
        assert_eq!(r.tool.as_deref(), Some("grype 0.86.1"));
        assert_eq!(r.image_name.as_deref(), Some("redis:3.0.7"));
        assert_eq!(r.image_digests.len(), 3);
        assert!(r.image_digests[0].starts_with("sha256:f441cd5b"));
        assert!(r.image_digests[0].ends_with("5307"));
        assert_eq!(
            r.image_digests[1],
            "sha256:730b765df9fe96af414da64a2b67f3a5f70b8fd13a31e5096fee4807ed802e20"
        );
        assert!(r.image_digests[2].starts_with("sha256:c44fa74e"));
        let f = &r.findings[0];
        assert_eq!(
            (
                f.id.as_str(),
                f.package.as_str(),
                f.installed_version.as_str()
            ),
            ("CVE-2019-3462", "apt", "1.0.9.8.4")
        );
        assert_eq!(f.fixed_version.as_deref(), Some("1.0.9.8.5"));
        assert_eq!(
            (f.severity, f.source_severity_text.as_str()),
            (Severity::High, "High")
        );
    }

    #[test]
    fn chainguard_single_line_no_ignored_key() {
        let r = parse("grype-chainguard-gomodules-critical.json");
        let expected = SeverityCounts {
            critical: 2,
            high: 18,
            medium: 10,
            low: 3,
            negligible: 0,
            unknown: 0,
        };
        assert_eq!(r.counts(), expected);
        assert!(r.suppressed.is_empty());
        assert_eq!(r.tool.as_deref(), Some("grype 0.112.0"));
        assert_eq!(r.image_name.as_deref(), Some("k8s-tooling-smarsh:v6"));
        // repoDigests is [], manifestDigest and imageID remain.
        assert_eq!(r.image_digests.len(), 2);
        assert_eq!(
            r.image_digests[0],
            "sha256:ae68dbccf075412cdf1910df6898e0dfc025efd237ac868216e9c37f5773fa22"
        );
        assert!(r.image_digests[1].starts_with("sha256:4bd8cff9"));
    }

    #[test]
    fn ignored_matches_are_suppressed() {
        let json = br#"{
          "descriptor": {"name": "grype", "version": "0.100.0"},
          "source": {"type": "directory", "target": "/src"},
          "matches": [
            {"vulnerability": {"id": "CVE-1", "severity": "Negligible", "fix": {"versions": [], "state": "not-fixed"}},
             "artifact": {"name": "a", "version": "1"}}
          ],
          "ignoredMatches": [
            {"vulnerability": {"id": "CVE-2", "severity": "Critical", "fix": {"versions": ["2.0", "1.9.3"], "state": "fixed"}},
             "artifact": {"name": "b", "version": "1.9"},
             "appliedIgnoreRules": [{"vulnerability": "CVE-2", "reason": "false positive"}]},
            {"vulnerability": {"id": "CVE-3", "severity": "medium"},
             "artifact": {"name": "c", "version": "3"},
             "appliedIgnoreRules": [{"vulnerability": "CVE-3"}]}
          ]}"#;
        let r = parse_report(json, "dir.json").unwrap();
        assert_eq!(r.counts().negligible, 1);
        assert_eq!(r.counts().total(), 1);
        assert_eq!(r.suppressed.len(), 2);
        assert_eq!(r.suppressed_counts().critical, 1);
        assert_eq!(r.suppressed_counts().medium, 1);
        assert_eq!(r.suppressed[0].fixed_version.as_deref(), Some("2.0, 1.9.3"));
        let reasons: Vec<Option<&str>> = r
            .suppressed
            .iter()
            .map(|f| f.suppression.as_ref().and_then(|s| s.reason.as_deref()))
            .collect();
        assert_eq!(
            reasons,
            [Some("false positive"), Some("grype ignore rule for CVE-3")]
        );
        // A directory scan names no image.
        assert!(r.image_digests.is_empty());
        assert_eq!(r.image_name, None);
    }
}
