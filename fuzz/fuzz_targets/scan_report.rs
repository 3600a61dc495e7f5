//! Scan reports (Trivy JSON, Grype JSON, SARIF 2.1.0): `parse_report` never panics; errors name the
//! file; an accepted report is consistent (counts, suppressions, normalized digests) and survives
//! a serde round trip.
#![no_main]

use image_promote::scan::{Binding, ScanReport, SeverityCounts, parse_report};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz-report.json";

fuzz_target!(|data: &[u8]| {
    let parsed = parse_report(data, FILE);
    assert_eq!(parsed, parse_report(data, FILE), "deterministic");
    let report = match parsed {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().contains(FILE), "{e}");
            return;
        }
    };
    assert_eq!(report.counts().total(), report.findings.len());
    assert_eq!(report.suppressed_counts().total(), report.suppressed.len());
    assert_eq!(report.counts(), SeverityCounts::of(&report.findings));
    assert!(report.findings.iter().all(|f| f.suppression.is_none()));
    assert!(report.suppressed.iter().all(|f| f.suppression.is_some()));
    for (i, d) in report.image_digests.iter().enumerate() {
        assert!(
            !report.image_digests[..i].contains(d),
            "duplicate digest {d}"
        );
        let (algo, hex) = d.split_once(':').unwrap_or_else(|| panic!("digest {d:?}"));
        assert!(!algo.is_empty() && hex.len() >= 32, "digest {d:?}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "digest {d:?} is not lower-case hex"
        );
    }
    match report.image_digests.first() {
        Some(d) => {
            assert_eq!(
                report.belongs_to(&[d.as_str()]),
                Binding::Matches(d.clone())
            );
            // `name@digest` with upper-case hex names the same image.
            let (algo, hex) = d.split_once(':').unwrap_or_default();
            let loud = format!("example.org/x@{algo}:{}", hex.to_ascii_uppercase());
            assert_eq!(report.belongs_to(&[&loud]), Binding::Matches(d.clone()));
        }
        None => assert_eq!(report.belongs_to(&["sha256:00"]), Binding::Unnamed),
    }
    let json = serde_json::to_string(&report).unwrap();
    let back: ScanReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report, "serde round trip");
});
