//! The project's ignore list: vulnerability ids to suppress, each until an expiry date.
//!
//! [`apply_ignores`] moves matching findings of a [`ScanReport`] to its
//! `suppressed` list; an expired entry suppresses nothing and is reported so
//! the caller can warn about it.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ScanReport, SuppressedBy, Suppression};

/// A calendar date (proleptic Gregorian, years 0–9999), written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// A date that is not a valid `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date `{text}`: {problem}; expected YYYY-MM-DD, e.g. 2025-06-30")]
pub struct DateError {
    /// The text that was given.
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Date {
    /// The date, if `month` is 1–12, `day` exists in that month and `year` ≤ 9999.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let ok = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        ok.then_some(Date { year, month, day })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The date `days` days after 1970-01-01 (negative: before), if in range.
    pub fn from_unix_days(days: i64) -> Option<Date> {
        // 0000-03-01 .. 9999-12-31, so the arithmetic below cannot overflow.
        if !(-719_468..=2_932_896).contains(&days) {
            return None;
        }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }

    /// Today's date in UTC, from the system clock (1970-01-01 if the clock is before it).
    pub fn today_utc() -> Date {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        Date::from_unix_days(days).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Parses exactly `YYYY-MM-DD` (surrounding blanks allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| DateError {
            text: s.to_owned(),
            problem,
        };
        let t = s.trim();
        let b = t.as_bytes();
        let shape_ok = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(err("not in the form YYYY-MM-DD"));
        }
        let num = |range: std::ops::Range<usize>| t.get(range).and_then(|p| p.parse::<u16>().ok());
        let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
            return Err(err("not in the form YYYY-MM-DD"));
        };
        if !(1..=12).contains(&month) {
            return Err(err("no such month"));
        }
        let (month, day) = (
            u8::try_from(month).unwrap_or(0),
            u8::try_from(day).unwrap_or(0),
        );
        Date::new(year, month, day).ok_or_else(|| err("no such day in that month"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One entry of the ignore list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreEntry {
    /// Vulnerability id to ignore (`CVE-…`, `GHSA-…`); compared ignoring case.
    pub id: String,
    /// Last day the entry applies; from the next day on it is expired.
    /// `None`: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Date>,
    /// Why the finding is ignored; copied onto the suppressed findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl IgnoreEntry {
    /// True when `today` is after the entry's expiry date.
    pub fn is_expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|last_day| today > last_day)
    }

    fn matches(&self, id: &str) -> bool {
        self.id.trim().eq_ignore_ascii_case(id.trim())
    }
}

/// What one ignore entry did to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IgnoreOutcome {
    /// It moved this many findings (≥ 1) to `suppressed`.
    Suppressed {
        /// Findings moved.
        findings: usize,
    },
    /// It is expired and suppressed nothing; this many findings still carry its id.
    Expired {
        /// Counted findings with the entry's id.
        matching: usize,
    },
    /// It is in force but no counted finding has its id.
    Unmatched,
}

/// One ignore entry with what it did (see [`apply_ignores`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedIgnore {
    /// The entry as given.
    pub entry: IgnoreEntry,
    /// What it did.
    pub outcome: IgnoreOutcome,
}

impl AppliedIgnore {
    /// True for an expired entry: the caller should warn about it.
    pub fn is_expired(&self) -> bool {
        matches!(self.outcome, IgnoreOutcome::Expired { .. })
    }
}

/// Moves findings whose id an unexpired entry names from `report.findings` to
/// `report.suppressed` (marked [`SuppressedBy::IgnoreList`] with the entry's reason).
///
/// Returns one [`AppliedIgnore`] per entry, in order. An entry whose expiry
/// date is before `today` applies to nothing and comes back as
/// [`IgnoreOutcome::Expired`].
pub fn apply_ignores(
    report: &mut ScanReport,
    entries: &[IgnoreEntry],
    today: Date,
) -> Vec<AppliedIgnore> {
    let mut applied = Vec::with_capacity(entries.len());
    for entry in entries {
        let outcome = if entry.is_expired(today) {
            let matching = report
                .findings
                .iter()
                .filter(|f| entry.matches(&f.id))
                .count();
            IgnoreOutcome::Expired { matching }
        } else {
            let (hit, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut report.findings)
                .into_iter()
                .partition(|f| entry.matches(&f.id));
            report.findings = kept;
            let findings = hit.len();
            report.suppressed.extend(hit.into_iter().map(|mut f| {
                f.suppression = Some(Suppression {
                    by: SuppressedBy::IgnoreList,
                    reason: entry.reason.clone(),
                });
                f
            }));
            if findings == 0 {
                IgnoreOutcome::Unmatched
            } else {
                IgnoreOutcome::Suppressed { findings }
            }
        };
        applied.push(AppliedIgnore {
            entry: entry.clone(),
            outcome,
        });
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn entry(id: &str, expires: Option<&str>, reason: Option<&str>) -> IgnoreEntry {
        IgnoreEntry {
            id: id.to_owned(),
            expires: expires.map(date),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(Date::new(2024, 2, 29), Some(date("2024-02-29")));
        assert_eq!(date(" 2025-06-30 ").to_string(), "2025-06-30");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "",
            "2024-01-01T00:00",
        ] {
            let e = bad.parse::<Date>().unwrap_err();
            assert!(e.to_string().contains("expected YYYY-MM-DD"), "{e}");
        }
        assert!(date("2024-12-31") < date("2025-01-01"));
        assert_eq!(Date::from_unix_days(0), Some(date("1970-01-01")));
        assert_eq!(Date::from_unix_days(19_723), Some(date("2024-01-01")));
        assert_eq!(Date::from_unix_days(20_000), Some(date("2024-10-04")));
        assert_eq!(Date::from_unix_days(-1), Some(date("1969-12-31")));
        assert_eq!(Date::from_unix_days(i64::MAX), None);
        assert!(Date::today_utc() > date("2024-01-01"));
    }

    #[test]
    fn entries_deserialize_from_json() {
        let list: Vec<IgnoreEntry> = serde_json::from_str(
            r#"[{"id": "CVE-2025-26519", "expires": "2025-03-31", "reason": "musl not reachable"}, {"id": "GHSA-x"}]"#,
        )
        .unwrap();
        assert_eq!(
            list[0],
            entry(
                "CVE-2025-26519",
                Some("2025-03-31"),
                Some("musl not reachable")
            )
        );
        assert_eq!(list[1], entry("GHSA-x", None, None));
        let err = serde_json::from_str::<IgnoreEntry>(r#"{"id": "a", "expires": "31/03/2025"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("expected YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn unexpired_entry_suppresses_every_package_with_the_id() {
        let mut r = parse("trivy-alpine-nodejs-unknown-severity.json");
        let before = r.counts();
        let entries = [
            entry(
                "cve-2025-26519",
                Some("2025-03-31"),
                Some("musl not reachable"),
            ),
            entry("CVE-0000-0000", None, None),
        ];
        let applied = apply_ignores(&mut r, &entries, date("2025-03-31"));
        assert_eq!(
            applied[0].outcome,
            IgnoreOutcome::Suppressed { findings: 2 }
        );
        assert_eq!(applied[1].outcome, IgnoreOutcome::Unmatched);
        assert!(!applied.iter().any(AppliedIgnore::is_expired));
        assert_eq!(r.findings.len(), 5);
        assert_eq!(r.suppressed.len(), 2);
        assert!(r.findings.iter().all(|f| f.id != "CVE-2025-26519"));
        for f in &r.suppressed {
            assert_eq!(f.id, "CVE-2025-26519");
            assert_eq!(
                f.suppression,
                Some(Suppression {
                    by: SuppressedBy::IgnoreList,
                    reason: Some("musl not reachable".to_owned()),
                })
            );
        }
        let (after, gone) = (r.counts(), r.suppressed_counts());
        for s in super::super::Severity::ALL {
            assert_eq!(after.get(s) + gone.get(s), before.get(s));
        }
    }

    #[test]
    fn expired_entry_applies_to_nothing_and_is_reported() {
        let mut r = parse("trivy-alpine-nodejs-unknown-severity.json");
        let entries = [entry(
            "CVE-2025-26519",
            Some("2025-03-31"),
            Some("temporary"),
        )];
        let applied = apply_ignores(&mut r, &entries, date("2025-04-01"));
        assert_eq!(applied.len(), 1);
        assert!(applied[0].is_expired());
        assert_eq!(applied[0].outcome, IgnoreOutcome::Expired { matching: 2 });
        assert_eq!(applied[0].entry, entries[0]);
        assert_eq!(r.findings.len(), 7);
        assert!(r.suppressed.is_empty());
    }

    #[test]
    fn ignores_work_on_grype_and_sarif_ids() {
        // Same GHSA in two Go binaries (README): both go.
        let mut g = parse("grype-chainguard-gomodules-critical.json");
        let total = g.findings.len();
        let id = g.findings[0].id.clone();
        let applied = apply_ignores(&mut g, &[entry(&id, None, None)], date("2030-01-01"));
        let IgnoreOutcome::Suppressed { findings } = applied[0].outcome else {
            panic!("{:?}", applied[0]);
        };
        assert_eq!(g.findings.len() + findings, total);
        // Grype SARIF rule ids carry the package; the finding id is the bare CVE.
        let mut s = parse("grype-wolfi-nginx-levels.sarif");
        let applied = apply_ignores(
            &mut s,
            &[entry("CVE-2026-9256", None, None)],
            date("2030-01-01"),
        );
        assert!(
            matches!(applied[0].outcome, IgnoreOutcome::Suppressed { findings } if findings >= 3)
        );
    }
}
