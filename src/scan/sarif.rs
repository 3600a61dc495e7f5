//! SARIF 2.1.0 reports (`trivy --format sarif`, `grype -o sarif`, others).
//!
//! Each result counts once, rated by the `security-severity` score of its rule
//! (joined by `ruleId`, else `ruleIndex`); the result `level` is used only
//! where the rule carries no score at all.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fields::{Ctx, non_empty, present};
use super::model::push_digest;
use super::{Finding, ReportFormat, ScanError, ScanReport, Severity, SuppressedBy, Suppression};

/// Reads a SARIF log whose top-level object is `root`.
pub(super) fn parse(root: &Map<String, Value>, ctx: &Ctx<'_>) -> Result<ScanReport, ScanError> {
    if let Some(v) = present(root, "version") {
        if v.as_str() != Some("2.1.0") {
            return Err(ctx.field_error(
                "version",
                "\"2.1.0\" (only SARIF 2.1.0 is read)",
                Some(v),
            ));
        }
    }
    let mut report = ScanReport {
        format: ReportFormat::Sarif,
        tool: None,
        image_digests: Vec::new(),
        image_name: None,
        findings: Vec::new(),
        suppressed: Vec::new(),
    };
    // Digests and name seen in result locations, used only when no run has properties naming them.
    let mut located = Located::default();
    for (r, run) in ctx.opt_array(root, "runs", "")?.iter().enumerate() {
        let rpath = format!("runs[{r}]");
        parse_run(
            ctx,
            ctx.object(run, &rpath)?,
            &rpath,
            &mut report,
            &mut located,
        )?;
    }
    if report.image_digests.is_empty() {
        report.image_digests = located.digests;
    }
    if report.image_name.is_none() {
        report.image_name = located.name;
    }
    Ok(report)
}

/// Image identity found in results rather than run properties.
#[derive(Default)]
struct Located {
    digests: Vec<String>,
    name: Option<String>,
}

/// One run: its tool, its rules, its image properties, its results.
fn parse_run(
    ctx: &Ctx<'_>,
    run: &Map<String, Value>,
    rpath: &str,
    report: &mut ScanReport,
    located: &mut Located,
) -> Result<(), ScanError> {
    let tpath = format!("{rpath}.tool");
    let Some(tool) = ctx.opt_object(run, "tool", rpath)? else {
        return Err(ctx.field_error(&tpath, "an object", None));
    };
    let dpath = format!("{tpath}.driver");
    let Some(driver) = ctx.opt_object(tool, "driver", &tpath)? else {
        return Err(ctx.field_error(&dpath, "an object", None));
    };
    if report.tool.is_none() {
        let name = non_empty(ctx.opt_str(driver, "name", &dpath)?);
        let version = non_empty(match ctx.opt_str(driver, "version", &dpath)? {
            Some(v) => Some(v),
            None => ctx.opt_str(driver, "semanticVersion", &dpath)?,
        });
        report.tool = match (name, version) {
            (Some(n), Some(v)) => Some(format!("{n} {v}")),
            (n, _) => n,
        };
    }

    let mut rules: Vec<&Map<String, Value>> = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (k, rule) in ctx.opt_array(driver, "rules", &dpath)?.iter().enumerate() {
        let path = format!("{dpath}.rules[{k}]");
        let rule = ctx.object(rule, &path)?;
        if let Some(id) = ctx.opt_str(rule, "id", &path)? {
            by_id.entry(id).or_insert(k);
        }
        rules.push(rule);
    }

    if let Some(props) = ctx.opt_object(run, "properties", rpath)? {
        let ppath = format!("{rpath}.properties");
        if report.image_name.is_none() {
            report.image_name = non_empty(ctx.opt_str(props, "imageName", &ppath)?);
        }
        for d in ctx.opt_str_list(props, "repoDigests", &ppath)? {
            push_digest(&mut report.image_digests, d);
        }
        if let Some(id) = ctx.opt_str(props, "imageID", &ppath)? {
            push_digest(&mut report.image_digests, id);
        }
    }

    for (i, result) in ctx.opt_array(run, "results", rpath)?.iter().enumerate() {
        let path = format!("{rpath}.results[{i}]");
        let result = ctx.object(result, &path)?;
        scan_locations(result, located);
        let rule = find_rule(ctx, result, &path, &rules, &by_id)?;
        let finding = finding(ctx, result, rule, &path)?;
        if finding.suppression.is_some() {
            report.suppressed.push(finding);
        } else {
            report.findings.push(finding);
        }
    }
    Ok(())
}

/// The rule a result points to: by `ruleId` (or `rule.id`), else by
/// `ruleIndex` (or `rule.index`).
fn find_rule<'v>(
    ctx: &Ctx<'_>,
    result: &'v Map<String, Value>,
    path: &str,
    rules: &[&'v Map<String, Value>],
    by_id: &HashMap<&str, usize>,
) -> Result<Option<&'v Map<String, Value>>, ScanError> {
    let reference = ctx.opt_object(result, "rule", path)?;
    let id = match ctx.opt_str(result, "ruleId", path)? {
        Some(id) => Some(id),
        None => match reference {
            Some(r) => ctx.opt_str(r, "id", &format!("{path}.rule"))?,
            None => None,
        },
    };
    if let Some(k) = id.and_then(|id| by_id.get(id)) {
        return Ok(rules.get(*k).copied());
    }
    let index = present(result, "ruleIndex")
        .or_else(|| reference.and_then(|r| present(r, "index")))
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok());
    Ok(index.and_then(|i| rules.get(i).copied()))
}

/// A rule's `security-severity`, as SARIF consumers (GitHub) read it.
enum Score {
    /// A finite number.
    Value(f64, String),
    /// Present but not a finite number.
    Unparseable(String),
    /// No rule, no properties or no `security-severity`.
    Absent,
}

fn score_of(rule: Option<&Map<String, Value>>) -> Score {
    let raw = rule
        .and_then(|r| r.get("properties"))
        .and_then(Value::as_object)
        .and_then(|p| present(p, "security-severity"));
    match raw {
        None => Score::Absent,
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Score::Value(x, s.clone()),
            _ => Score::Unparseable(s.clone()),
        },
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Score::Value(x, n.to_string()),
            _ => Score::Unparseable(n.to_string()),
        },
        Some(other) => Score::Unparseable(other.to_string()),
    }
}

/// ≥ 9.0 CRITICAL, ≥ 7.0 HIGH, ≥ 4.0 MEDIUM, > 0 LOW, else (0.0) UNKNOWN.
fn severity_of_score(x: f64) -> Severity {
    if x >= 9.0 {
        Severity::Critical
    } else if x >= 7.0 {
        Severity::High
    } else if x >= 4.0 {
        Severity::Medium
    } else if x > 0.0 {
        Severity::Low
    } else {
        Severity::Unknown
    }
}

/// error → HIGH, warning → MEDIUM, note → LOW, anything else → UNKNOWN.
fn severity_of_level(level: &str) -> Severity {
    match level {
        "error" => Severity::High,
        "warning" => Severity::Medium,
        "note" => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// One result, rated and described with the help of its rule.
fn finding(
    ctx: &Ctx<'_>,
    result: &Map<String, Value>,
    rule: Option<&Map<String, Value>>,
    path: &str,
) -> Result<Finding, ScanError> {
    let message = match ctx.opt_object(result, "message", path)? {
        Some(m) => ctx.opt_str(m, "text", &format!("{path}.message"))?,
        None => None,
    };
    let help = rule.and_then(|r| text_of(r, "help"));

    let (severity, source_severity_text) = match score_of(rule) {
        Score::Value(x, raw) => (severity_of_score(x), raw),
        Score::Unparseable(raw) => (Severity::Unknown, raw),
        Score::Absent => {
            // SARIF: result level, else the rule's default level, else "warning".
            let level = match ctx.opt_str(result, "level", path)? {
                Some(l) => l,
                None => rule
                    .and_then(|r| r.get("defaultConfiguration"))
                    .and_then(|c| c.get("level"))
                    .and_then(Value::as_str)
                    .unwrap_or("warning"),
            };
            (severity_of_level(level), level.to_owned())
        }
    };

    let rule_id = ctx
        .opt_str(result, "ruleId", path)?
        .or_else(|| rule.and_then(|r| r.get("id")).and_then(Value::as_str));
    let id = help
        .and_then(vulnerability_id)
        .or_else(|| message.and_then(vulnerability_id))
        .or(rule_id)
        .map_or_else(|| path.to_owned(), str::to_owned);

    let field = |keys: &[&str]| -> Option<String> {
        // The result's own message wins, even when it leaves the value empty.
        non_empty(first_key_value(message, keys).or_else(|| first_key_value(help, keys)))
    };

    Ok(Finding {
        id,
        package: field(&["Package"]).unwrap_or_default(),
        installed_version: field(&["Installed Version", "Version"]).unwrap_or_default(),
        fixed_version: field(&["Fixed Version", "Fix Version"]),
        severity,
        title: rule.and_then(|r| {
            non_empty(text_of(r, "shortDescription")).or(non_empty(text_of(r, "fullDescription")))
        }),
        source_severity_text,
        suppression: suppression(ctx, result, path)?,
    })
}

/// `obj[key].text`, leniently (descriptive text only).
fn text_of<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    obj.get(key)?.get("text")?.as_str()
}

/// `X` from a `Vulnerability X` line (Trivy and Grype help and messages).
fn vulnerability_id(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Vulnerability "))
        .and_then(|rest| rest.split_whitespace().next())
}

/// The value of the first of `keys` found as a `Key: value` line in `text`.
fn first_key_value<'t>(text: Option<&'t str>, keys: &[&str]) -> Option<&'t str> {
    let text = text?;
    keys.iter().find_map(|k| key_value(text, k))
}

/// The value of a `Key: value` line; `Some("")` when the key is there but empty.
fn key_value<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// A result is suppressed when it has a suppression that is not rejected or under review.
fn suppression(
    ctx: &Ctx<'_>,
    result: &Map<String, Value>,
    path: &str,
) -> Result<Option<Suppression>, ScanError> {
    for (i, s) in ctx
        .opt_array(result, "suppressions", path)?
        .iter()
        .enumerate()
    {
        let spath = format!("{path}.suppressions[{i}]");
        let s = ctx.object(s, &spath)?;
        let status = ctx.opt_str(s, "status", &spath)?;
        if status.is_none() || status == Some("accepted") {
            return Ok(Some(Suppression {
                by: SuppressedBy::Report,
                reason: non_empty(ctx.opt_str(s, "justification", &spath)?)
                    .or(non_empty(ctx.opt_str(s, "kind", &spath)?)),
            }));
        }
    }
    Ok(None)
}

/// Collects `…@sha256:<64 hex>` references from a result's logical locations
/// and message (Grype names the image only there).
fn scan_locations(result: &Map<String, Value>, located: &mut Located) {
    let locations = result.get("locations").and_then(Value::as_array);
    for loc in locations.into_iter().flatten() {
        let logical = loc.get("logicalLocations").and_then(Value::as_array);
        for l in logical.into_iter().flatten() {
            if let Some(fqn) = l.get("fullyQualifiedName").and_then(Value::as_str) {
                scan_text(fqn, located, true);
            }
        }
    }
    if let Some(text) = result
        .get("message")
        .and_then(|m| m.get("text"))
        .and_then(Value::as_str)
    {
        scan_text(text, located, false);
    }
}

/// Finds `@sha256:<64 hex>` in `text`; with `name_before`, the text before
/// the first such `@` is the image name (`klass-web:latest@sha256:…:/path`).
fn scan_text(text: &str, located: &mut Located, name_before: bool) {
    const MARK: &str = "@sha256:";
    for (at, _) in text.match_indices(MARK) {
        let hex_start = at + MARK.len();
        let Some(hex) = text.get(hex_start..hex_start + 64) else {
            continue;
        };
        let next_is_hex = text
            .as_bytes()
            .get(hex_start + 64)
            .is_some_and(u8::is_ascii_hexdigit);
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) || next_is_hex {
            continue;
        }
        push_digest(&mut located.digests, &format!("sha256:{hex}"));
        if name_before && located.name.is_none() {
            located.name = non_empty(text.get(..at));
        }
    }
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

    /// The report with every rule's `security-severity` removed, so levels decide.
    fn without_scores(name: &str) -> ScanReport {
        let mut v: Value = serde_json::from_slice(&read(name)).unwrap();
        for run in v["runs"].as_array_mut().unwrap() {
            for rule in run["tool"]["driver"]["rules"].as_array_mut().unwrap() {
                rule["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("security-severity");
            }
        }
        parse_report(&serde_json::to_vec(&v).unwrap(), name).unwrap()
    }

    #[test]
    fn trivy_sarif_scores_not_trivy_severity() {
        let r = parse("trivy-debian13-python-critical.sarif");
        // The score maps CVE-2026-8643 (pip) to HIGH: 20/63 where the JSON has 19/64.
        assert_eq!(r.counts(), counts(4, 20, 63, 68, 30));
        assert_eq!(r.findings.len(), 185);
        assert_eq!(r.tool.as_deref(), Some("Trivy 0.74.0"));
        assert_eq!(r.image_name.as_deref(), Some("container-security-app"));
        assert_eq!(
            r.image_digests,
            ["sha256:010998df2131babc765129562a7739d871c572bdf35f68aa29afe8123c5ec438"]
        );
        let f = &r.findings[0];
        assert_eq!(
            (
                f.id.as_str(),
                f.package.as_str(),
                f.installed_version.as_str()
            ),
            ("CVE-2011-3374", "apt", "3.0.3")
        );
        assert_eq!(f.fixed_version, None);
        assert_eq!(
            (f.severity, f.source_severity_text.as_str()),
            (Severity::Low, "2.0")
        );
        let pip = r.findings.iter().find(|f| f.id == "CVE-2026-8643").unwrap();
        assert_eq!(
            (pip.package.as_str(), pip.severity),
            ("pip", Severity::High)
        );
    }

    #[test]
    fn trivy_sarif_levels_where_no_score() {
        // README: levels e/w/n 23/64/98.
        assert_eq!(
            without_scores("trivy-debian13-python-critical.sarif").counts(),
            counts(0, 23, 64, 98, 0)
        );
    }

    #[test]
    fn grype_sarif_zero_score_is_unknown_and_image_from_locations() {
        let r = parse("grype-wolfi-nginx-levels.sarif");
        assert_eq!(r.counts(), counts(15, 42, 17, 4, 78));
        assert_eq!(r.tool.as_deref(), Some("grype 0.114.0"));
        assert_eq!(
            r.image_digests,
            ["sha256:cd8a5d6bb8efc02d296b9aeca072c2034eb5647280d7a52cf5328ece5f4df94a"]
        );
        assert_eq!(r.image_name.as_deref(), Some("klass-web:latest"));
        let f = &r.findings[0];
        assert_eq!(f.id, "CVE-2026-9256");
        assert_eq!(
            (f.package.as_str(), f.installed_version.as_str()),
            ("nginx-mainline", "1.29.5-r0")
        );
        assert_eq!(f.fixed_version.as_deref(), Some("1.31.1-r2"));
        assert_eq!(f.severity, Severity::Critical);
        // README: levels e/w/n 57/17/82.
        assert_eq!(
            without_scores("grype-wolfi-nginx-levels.sarif").counts(),
            counts(0, 57, 17, 82, 0)
        );
    }

    #[test]
    fn trivy_sarif_zero_results_names_image_in_properties() {
        let r = parse("trivy-alpine-zero-results.sarif");
        assert_eq!(r.counts(), counts(0, 0, 0, 0, 0));
        assert_eq!(r.tool.as_deref(), Some("Trivy 0.48.1"));
        assert_eq!(
            r.image_name.as_deref(),
            Some("docker.io/anaisurlichs/cns-website:c7144588c571bf379e9ffaf2fa979200d5e697b6")
        );
        assert_eq!(
            r.image_digests,
            ["sha256:68a13d7619fbeadb330f5515fdca746679b20c91d1ea3341d6f6c0dec69c35f0"]
        );
    }

    #[test]
    fn rule_index_is_the_fallback_join() {
        let name = "trivy-debian13-python-critical.sarif";
        let mut v: Value = serde_json::from_slice(&read(name)).unwrap();
        for result in v["runs"][0]["results"].as_array_mut().unwrap() {
            result["ruleId"] = Value::String("no-such-rule".to_owned());
        }
        let r = parse_report(&serde_json::to_vec(&v).unwrap(), name).unwrap();
        assert_eq!(r.counts(), counts(4, 20, 63, 68, 30));
    }

    #[test]
    fn score_zero_missing_unparseable_and_suppressed() {
        let json = br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x","rules":[
            {"id":"zero","properties":{"security-severity":"0.0"}},
            {"id":"none","defaultConfiguration":{"level":"note"}},
            {"id":"bad","properties":{"security-severity":"high"}},
            {"id":"num","properties":{"security-severity":9.5}},
            {"id":"nan","properties":{"security-severity":"NaN"}}]}},
          "results":[
            {"ruleId":"zero","level":"error"},
            {"ruleId":"none","level":"error"},
            {"ruleId":"none"},
            {"ruleId":"missing-rule"},
            {"ruleId":"bad","level":"error"},
            {"ruleId":"num"},
            {"ruleId":"nan"},
            {"ruleId":"num","suppressions":[{"kind":"external","status":"accepted","justification":"risk accepted"}]},
            {"ruleId":"num","suppressions":[{"kind":"inSource","status":"rejected"}]}
          ]}]}"#;
        let r = parse_report(json, "hand.sarif").unwrap();
        // zero → U; none+error → H; none+default note → L; no rule → warning → M;
        // "high" → U; 9.5 → C (twice: rejected suppression still counts); NaN → U.
        assert_eq!(r.counts(), counts(2, 1, 1, 1, 3));
        assert_eq!(r.suppressed.len(), 1);
        assert_eq!(
            r.suppressed[0]
                .suppression
                .as_ref()
                .and_then(|s| s.reason.as_deref()),
            Some("risk accepted")
        );
        assert_eq!(r.findings[0].source_severity_text, "0.0");
        assert_eq!(r.findings[1].source_severity_text, "error");
        assert_eq!(r.findings[3].id, "missing-rule");
        assert_eq!(r.tool.as_deref(), Some("x"));
        assert_eq!(r.belongs_to(&["sha256:00"]), super::super::Binding::Unnamed);
    }
}
