//! Trivy JSON reports (`trivy image --format json`, SchemaVersion 2).
//!
//! Counts `Results[].Vulnerabilities[]` (the key may be absent or null);
//! `ExperimentalModifiedFindings` (VEX / ignore-file hits) become suppressed.

use serde_json::{Map, Value};

use super::fields::{Ctx, non_empty};
use super::model::push_digest;
use super::{Finding, ReportFormat, ScanError, ScanReport, Severity, SuppressedBy, Suppression};

/// Reads a Trivy report whose top-level object is `root`.
pub(super) fn parse(root: &Map<String, Value>, ctx: &Ctx<'_>) -> Result<ScanReport, ScanError> {
    let version = match ctx.opt_object(root, "Trivy", "")? {
        Some(t) => ctx.opt_str(t, "Version", "Trivy")?,
        None => None,
    };
    let tool = Some(match version {
        Some(v) => format!("Trivy {v}"),
        None => "Trivy".to_owned(),
    });

    let mut image_digests = Vec::new();
    if let Some(meta) = ctx.opt_object(root, "Metadata", "")? {
        for d in ctx.opt_str_list(meta, "RepoDigests", "Metadata")? {
            push_digest(&mut image_digests, d);
        }
        if let Some(id) = ctx.opt_str(meta, "ImageID", "Metadata")? {
            push_digest(&mut image_digests, id);
        }
    }

    let mut findings = Vec::new();
    let mut suppressed = Vec::new();
    for (i, result) in ctx.opt_array(root, "Results", "")?.iter().enumerate() {
        let rpath = format!("Results[{i}]");
        let result = ctx.object(result, &rpath)?;
        for (j, vuln) in ctx
            .opt_array(result, "Vulnerabilities", &rpath)?
            .iter()
            .enumerate()
        {
            let vpath = format!("{rpath}.Vulnerabilities[{j}]");
            findings.push(vulnerability(ctx, ctx.object(vuln, &vpath)?, &vpath)?);
        }
        let modified = ctx.opt_array(result, "ExperimentalModifiedFindings", &rpath)?;
        for (j, m) in modified.iter().enumerate() {
            let mpath = format!("{rpath}.ExperimentalModifiedFindings[{j}]");
            let m = ctx.object(m, &mpath)?;
            // Misconfigurations and secrets can be modified too; only vulnerabilities count here.
            let kind = ctx.opt_str(m, "Type", &mpath)?;
            if kind.is_some_and(|k| !k.eq_ignore_ascii_case("vulnerability")) {
                continue;
            }
            let Some(inner) = ctx.opt_object(m, "Finding", &mpath)? else {
                return Err(ctx.field_error(&format!("{mpath}.Finding"), "an object", None));
            };
            let mut f = vulnerability(ctx, inner, &format!("{mpath}.Finding"))?;
            f.suppression = Some(Suppression {
                by: SuppressedBy::Report,
                reason: modified_reason(ctx, m, &mpath)?,
            });
            suppressed.push(f);
        }
    }

    Ok(ScanReport {
        format: ReportFormat::Trivy,
        tool,
        image_digests,
        image_name: non_empty(ctx.opt_str(root, "ArtifactName", "")?),
        findings,
        suppressed,
    })
}

/// One `DetectedVulnerability` object.
fn vulnerability(ctx: &Ctx<'_>, v: &Map<String, Value>, path: &str) -> Result<Finding, ScanError> {
    let severity_text = ctx.req_str(v, "Severity", path)?;
    Ok(Finding {
        id: ctx.req_str(v, "VulnerabilityID", path)?.to_owned(),
        package: ctx.req_str(v, "PkgName", path)?.to_owned(),
        installed_version: ctx
            .opt_str(v, "InstalledVersion", path)?
            .unwrap_or_default()
            .to_owned(),
        fixed_version: non_empty(ctx.opt_str(v, "FixedVersion", path)?),
        severity: Severity::from_text(severity_text),
        title: non_empty(ctx.opt_str(v, "Title", path)?),
        source_severity_text: severity_text.to_owned(),
        suppression: None,
    })
}

/// `not_affected (VEX: file.json): statement`, from what the entry records.
fn modified_reason(
    ctx: &Ctx<'_>,
    m: &Map<String, Value>,
    path: &str,
) -> Result<Option<String>, ScanError> {
    let status = non_empty(ctx.opt_str(m, "Status", path)?);
    let source = non_empty(ctx.opt_str(m, "Source", path)?);
    let statement = non_empty(ctx.opt_str(m, "Statement", path)?);
    let head = match (status, source) {
        (Some(st), Some(src)) => Some(format!("{st} ({src})")),
        (Some(st), None) => Some(st),
        (None, Some(src)) => Some(src),
        (None, None) => None,
    };
    Ok(match (head, statement) {
        (Some(h), Some(s)) => Some(format!("{h}: {s}")),
        (h, s) => h.or(s),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parse, read};
    use super::super::{SeverityCounts, parse_report};
    use super::*;

    fn counts(c: usize, h: usize, m: usize, l: usize, u: usize) -> SeverityCounts {
        SeverityCounts {
            critical: c,
            high: h,
            medium: m,
            low: l,
            negligible: 0,
            unknown: u,
        }
    }

    #[test]
    fn debian13_python_counts_and_identity() {
        let r = parse("trivy-debian13-python-critical.json");
        assert_eq!(r.counts(), counts(4, 19, 64, 68, 30));
        assert_eq!(r.findings.len(), 185);
        assert!(r.suppressed.is_empty());
        assert_eq!(r.tool.as_deref(), Some("Trivy 0.74.0"));
        assert_eq!(r.image_name.as_deref(), Some("container-security-app"));
        // RepoDigests and ImageID carry the same sha256: listed once.
        assert_eq!(
            r.image_digests,
            ["sha256:010998df2131babc765129562a7739d871c572bdf35f68aa29afe8123c5ec438"]
        );
        let f = &r.findings[0];
        assert_eq!(f.id, "CVE-2011-3374");
        assert_eq!(f.package, "apt");
        assert_eq!(f.installed_version, "3.0.3");
        assert_eq!(f.fixed_version, None);
        assert_eq!(f.severity, Severity::Low);
        assert_eq!(f.source_severity_text, "LOW");
        assert!(
            f.title
                .as_deref()
                .unwrap_or("")
                .starts_with("It was found that apt-key")
        );
        // README: 125 of 185 findings have no FixedVersion.
        assert_eq!(
            r.findings
                .iter()
                .filter(|f| f.fixed_version.is_none())
                .count(),
            125
        );
    }

    #[test]
    fn alpine_gobinary_zero_vulns_without_key() {
        let r = parse("trivy-alpine-gobinary-zero-vulns.json");
        assert_eq!(r.counts(), counts(0, 0, 0, 0, 0));
        assert_eq!(r.tool.as_deref(), Some("Trivy 0.69.3"));
        assert_eq!(
            r.image_name.as_deref(),
            Some("ghcr.io/steadybit/checkout-go:main")
        );
        assert_eq!(
            r.image_digests,
            [
                "sha256:83508b68ad4cc406d89f3493f339a6203ddc91160fe04ad6c21f2a4c351ba54e",
                "sha256:2f4f64201862fb6bfaa0a4bb4037395f52d6037bb2df24f4f3a7a5331426d962",
            ]
        );
    }

    #[test]
    fn alpine_nodejs_unknown_severity_no_version() {
        let r = parse("trivy-alpine-nodejs-unknown-severity.json");
        assert_eq!(r.counts(), counts(0, 1, 2, 2, 2));
        assert_eq!(r.tool.as_deref(), Some("Trivy"));
        assert_eq!(r.image_digests.len(), 2);
        assert_eq!(
            r.image_digests[0],
            "sha256:bd7ea74c0ade8689c4ed0ed0c480619fe0352126306b712059233a39ccf8c564"
        );
        assert!(r.image_digests[1].starts_with("sha256:07dc1a1e"));
        // CVE-2025-26519 is on both musl and musl-utils: two findings.
        let musl: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.id == "CVE-2025-26519")
            .map(|f| f.package.as_str())
            .collect();
        assert_eq!(musl, ["musl", "musl-utils"]);
    }

    #[test]
    fn ubi7_2022_vintage() {
        let r = parse("trivy-ubi7-critical-2022.json");
        assert_eq!(r.counts(), counts(3, 23, 503, 471, 0));
        assert_eq!(r.findings.len(), 1000);
        assert_eq!(r.tool.as_deref(), Some("Trivy"));
        assert_eq!(
            r.image_name.as_deref(),
            Some("registry.access.redhat.com/ubi7/ubi:7.6-73")
        );
        assert_eq!(
            r.image_digests[0],
            "sha256:a800eeec8d7d5645d9c8b995b34573aeb51fae7d5ec831271cf3e1efe1cb5fa6"
        );
        assert!(r.image_digests[1].starts_with("sha256:6e1a4a3f"));
        assert_eq!(
            r.findings
                .iter()
                .filter(|f| f.fixed_version.is_none())
                .count(),
            741
        );
    }

    #[test]
    fn null_vulnerabilities_and_modified_findings() {
        // Pre-SchemaVersion-2 style `null`, plus one VEX-suppressed finding.
        let json = br#"{
          "SchemaVersion": 2, "ArtifactName": "x",
          "Results": [
            {"Target": "a", "Vulnerabilities": null},
            {"Target": "b",
             "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "HIGH"}],
             "ExperimentalModifiedFindings": [
               {"Type": "vulnerability", "Status": "not_affected", "Statement": "not reachable", "Source": "vex.json",
                "Finding": {"VulnerabilityID": "CVE-2", "PkgName": "q", "InstalledVersion": "2", "FixedVersion": "3", "Severity": "CRITICAL"}},
               {"Type": "misconfiguration", "Status": "ignored", "Finding": {"ID": "DS001"}}
             ]}
          ]}"#;
        let r = parse_report(json, "vex.json").unwrap();
        assert_eq!(r.counts(), counts(0, 1, 0, 0, 0));
        assert_eq!(r.suppressed.len(), 1);
        assert_eq!(r.suppressed_counts().critical, 1);
        let s = &r.suppressed[0];
        assert_eq!(s.fixed_version.as_deref(), Some("3"));
        assert_eq!(
            s.suppression,
            Some(Suppression {
                by: SuppressedBy::Report,
                reason: Some("not_affected (vex.json): not reachable".to_owned()),
            })
        );
        assert!(r.image_digests.is_empty());
    }

    #[test]
    fn missing_vulnerability_id_is_a_field_error() {
        let mut v: Value =
            serde_json::from_slice(&read("trivy-alpine-nodejs-unknown-severity.json")).unwrap();
        v["Results"][1]["Vulnerabilities"][0]
            .as_object_mut()
            .unwrap()
            .remove("VulnerabilityID");
        let e = parse_report(&serde_json::to_vec(&v).unwrap(), "n.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "scan report n.json (Trivy JSON): field `Results[1].Vulnerabilities[0].VulnerabilityID`: expected a string, found nothing (the field is missing)"
        );
    }
}
