//! Unit tests of the scan parsers on the real reports in `tests/data/scan-reports/` (counts from
//! its README) and on hand-written edge cases.

use super::*;

/// Directory of the real reports (see its README.md for the figures).
pub(crate) const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scan-reports/");

pub(crate) fn read(name: &str) -> Vec<u8> {
    let path = format!("{DATA}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub(crate) fn parse(name: &str) -> ScanReport {
    parse_report(&read(name), name).unwrap_or_else(|e| panic!("{e}"))
}

const ALL_FILES: [&str; 9] = [
    "trivy-debian13-python-critical.json",
    "trivy-alpine-gobinary-zero-vulns.json",
    "trivy-alpine-nodejs-unknown-severity.json",
    "trivy-ubi7-critical-2022.json",
    "grype-debian8-redis-critical.json",
    "grype-chainguard-gomodules-critical.json",
    "trivy-debian13-python-critical.sarif",
    "grype-wolfi-nginx-levels.sarif",
    "trivy-alpine-zero-results.sarif",
];

fn err_of(bytes: &[u8], name: &str) -> String {
    match parse_report(bytes, name) {
        Ok(r) => panic!("{name}: expected an error, parsed {:?} report", r.format),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "message does not name the file: {msg}");
            msg
        }
    }
}

#[test]
fn detects_every_format() {
    let formats: Vec<ReportFormat> = ALL_FILES.iter().map(|f| parse(f).format).collect();
    use ReportFormat::*;
    assert_eq!(
        formats,
        [
            Trivy, Trivy, Trivy, Trivy, Grype, Grype, Sarif, Sarif, Sarif
        ]
    );
}

#[test]
fn severity_order_text_and_serde() {
    assert!(Severity::Critical > Severity::High);
    assert!(Severity::Low > Severity::Negligible);
    assert!(Severity::Negligible > Severity::Unknown);
    assert_eq!(Severity::from_text("Negligible"), Severity::Negligible);
    assert_eq!(Severity::from_text("bogus"), Severity::Unknown);
    assert_eq!(" high ".parse::<Severity>(), Ok(Severity::High));
    assert!("severe".parse::<Severity>().is_err());
    assert_eq!(Severity::Critical.to_string(), "CRITICAL");
    assert_eq!(
        serde_json::to_string(&Severity::Critical).unwrap(),
        "\"critical\""
    );
}

#[test]
fn counts_display_and_threshold() {
    let c = parse("trivy-debian13-python-critical.json").counts();
    assert_eq!(
        c.to_string(),
        "critical 4, high 19, medium 64, low 68, negligible 0, unknown 30"
    );
    assert_eq!(c.at_or_above(Severity::High), 23);
    assert_eq!(c.total(), 185);
}

#[test]
fn belongs_to_matching_mismatching_unnamed() {
    let r = parse("grype-debian8-redis-critical.json");
    let repo = "sha256:730b765df9fe96af414da64a2b67f3a5f70b8fd13a31e5096fee4807ed802e20";
    assert_eq!(r.belongs_to(&[repo]), Binding::Matches(repo.to_owned()));
    let with_name = format!(
        "docker.io/library/redis@{}",
        repo.to_uppercase().replace("SHA256", "sha256")
    );
    assert_eq!(
        r.belongs_to(&[&with_name]),
        Binding::Matches(repo.to_owned())
    );
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    match r.belongs_to(&[other, "not a digest"]) {
        Binding::Mismatch { named } => {
            assert_eq!(named.len(), 3);
            assert!(named.contains(&repo.to_owned()));
        }
        b => panic!("expected a mismatch, got {b:?}"),
    }
    let mut unnamed = r.clone();
    unnamed.image_digests.clear();
    assert_eq!(unnamed.belongs_to(&[repo]), Binding::Unnamed);
    // The Trivy SARIF names its image via run properties; Grype SARIF via locations.
    let s = parse("trivy-alpine-zero-results.sarif");
    let d = "sha256:68a13d7619fbeadb330f5515fdca746679b20c91d1ea3341d6f6c0dec69c35f0";
    assert_eq!(s.belongs_to(&[other, d]), Binding::Matches(d.to_owned()));
}

#[test]
fn log_line_before_json_names_file_position_and_fix() {
    let mut bytes = b"2024-01-01T10:00:00.000Z\tINFO\tVulnerability scanning is enabled\n".to_vec();
    bytes.extend(read("trivy-alpine-nodejs-unknown-severity.json"));
    let msg = err_of(&bytes, "trivy.json");
    assert!(msg.starts_with("scan report trivy.json: line 1 column 1: expected JSON, found `2024-01-01T10:00:00.000Z"), "{msg}");
    assert!(msg.contains("not the console log"), "{msg}");
    assert!(msg.contains("the JSON seems to start at line 2"), "{msg}");
}

#[test]
fn truncated_json_is_reported_as_truncated() {
    let bytes = read("grype-chainguard-gomodules-critical.json");
    let msg = err_of(&bytes[..bytes.len() / 2], "grype.json");
    assert!(msg.contains("line 1 column"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn trailing_console_output_is_a_syntax_error() {
    let mut bytes = read("trivy-alpine-zero-results.sarif");
    bytes.extend(b"\nDone in 3s\n");
    let msg = err_of(&bytes, "out.sarif");
    assert!(
        msg.starts_with(
            "scan report out.sarif: line 34 column 1: invalid JSON: other text follows"
        ),
        "{msg}"
    );
}

#[test]
fn unknown_json_shapes() {
    let msg = err_of(br#"{"foo": 1, "bar": [2]}"#, "x.json");
    assert!(
        msg.contains("unrecognised JSON: found an object with keys `bar`, `foo`"),
        "{msg}"
    );
    assert!(msg.contains("SchemaVersion"), "{msg}");
    let msg = err_of(b"[1, 2, 3]", "list.json");
    assert!(msg.contains("an array of 3 items, not an object"), "{msg}");
    let msg = err_of(b"{}", "empty-object.json");
    assert!(msg.contains("an empty object"), "{msg}");
    // CycloneDX SBOM: JSON, but not a vulnerability report this crate reads.
    let msg = err_of(
        br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#,
        "sbom.json",
    );
    assert!(msg.contains("`bomFormat`"), "{msg}");
}

#[test]
fn empty_and_blank_files() {
    for bytes in [&b""[..], b"  \n\t\r\n", b"\xEF\xBB\xBF"] {
        let msg = err_of(bytes, "empty.json");
        assert!(msg.contains("the file is empty"), "{msg}");
    }
}

#[test]
fn binary_garbage() {
    let gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xfe";
    let msg = err_of(gz, "report.json.gz");
    assert!(
        msg.contains("binary data (12 bytes starting 1f 8b 08 00)"),
        "{msg}"
    );
    assert!(msg.contains("gzip"), "{msg}");
    let mut rng = Rng(7);
    let noise: Vec<u8> = (0..4096).map(|_| rng.byte()).collect();
    let msg = err_of(&noise, "noise.bin");
    assert!(msg.contains("expected JSON"), "{msg}");
}

#[test]
fn field_errors_name_the_path() {
    let msg = err_of(
        br#"{"SchemaVersion":2,"Results":[{"Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"a","Severity":7}]}]}"#,
        "t.json",
    );
    assert_eq!(
        msg,
        "scan report t.json (Trivy JSON): field `Results[0].Vulnerabilities[0].Severity`: expected a string, found a number (7)"
    );
    let msg = err_of(br#"{"matches":{},"descriptor":{}}"#, "g.json");
    assert!(
        msg.contains("field `matches`: expected an array, found an object"),
        "{msg}"
    );
    let msg = err_of(
        br#"{"version":"2.1.0","runs":[{"results":[{"ruleId":"X"}]}]}"#,
        "s.sarif",
    );
    assert!(
        msg.contains("field `runs[0].tool`: expected an object, found nothing"),
        "{msg}"
    );
    let msg = err_of(
        br#"{"version":"2.0.0","$schema":"sarif-2.0.0","runs":[]}"#,
        "old.sarif",
    );
    assert!(msg.contains("field `version`: expected \"2.1.0\""), "{msg}");
}

/// A tiny deterministic PRNG (xorshift64*), so the test needs no crate.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
}

/// Parses `bytes`; any error must name the file. A panic fails the test.
fn survive(bytes: &[u8], name: &str) -> bool {
    match parse_report(bytes, name) {
        Ok(r) => {
            let _ = r.counts();
            true
        }
        Err(e) => {
            assert!(e.to_string().contains(name), "{e}");
            false
        }
    }
}

#[test]
fn truncations_never_panic() {
    for name in [
        "trivy-alpine-nodejs-unknown-severity.json",
        "grype-chainguard-gomodules-critical.json",
        "trivy-alpine-zero-results.sarif",
    ] {
        let bytes = read(name);
        let mut cut = 0;
        while cut < bytes.len() {
            // A cut inside trailing whitespace may still parse; anything else must fail.
            let ok = survive(&bytes[..cut], name);
            assert!(
                !ok || bytes[cut..].iter().all(u8::is_ascii_whitespace),
                "{name} cut at {cut}"
            );
            cut += 97;
        }
    }
}

#[test]
fn byte_mutations_never_panic() {
    const INTERESTING: &[u8] = b"{}[]\":,0-9.eE+ntfu\\\x00\xff";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for name in [
        "trivy-alpine-nodejs-unknown-severity.json",
        "trivy-alpine-zero-results.sarif",
    ] {
        let original = read(name);
        for _ in 0..1500 {
            let mut bytes = original.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(bytes.len());
                let b = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.byte()
                };
                match rng.below(3) {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            survive(&bytes, name);
        }
    }
}

/// Replaces one random node of `v` with a value of a random other kind.
fn mutate_value(v: &mut Value, rng: &mut Rng, depth: u32) {
    let descend = depth < 12 && rng.below(5) != 0;
    match v {
        Value::Object(o) if descend && !o.is_empty() => {
            let i = rng.below(o.len());
            if let Some((_, child)) = o.iter_mut().nth(i) {
                return mutate_value(child, rng, depth + 1);
            }
        }
        Value::Array(a) if descend && !a.is_empty() => {
            let i = rng.below(a.len());
            return mutate_value(&mut a[i], rng, depth + 1);
        }
        _ => {}
    }
    *v = match rng.below(8) {
        0 => Value::Null,
        1 => Value::Bool(true),
        2 => serde_json::json!(-1.5e300),
        3 => serde_json::json!(""),
        4 => serde_json::json!("NaN"),
        5 => serde_json::json!([]),
        6 => serde_json::json!({}),
        _ => serde_json::json!([null, 1, "x", {"a": []}]),
    };
}

#[test]
fn structural_mutations_never_panic() {
    let mut rng = Rng(42);
    for (name, rounds) in [
        ("trivy-alpine-nodejs-unknown-severity.json", 600),
        ("grype-chainguard-gomodules-critical.json", 300),
        ("trivy-alpine-zero-results.sarif", 300),
        ("trivy-debian13-python-critical.sarif", 40),
        ("grype-wolfi-nginx-levels.sarif", 40),
    ] {
        let original: Value = serde_json::from_slice(&read(name)).unwrap();
        for _ in 0..rounds {
            let mut v = original.clone();
            for _ in 0..=rng.below(3) {
                mutate_value(&mut v, &mut rng, 0);
            }
            survive(&serde_json::to_vec(&v).unwrap(), name);
        }
    }
}
