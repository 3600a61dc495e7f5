use super::*;
use crate::report::record::{Approval, Check, Image, Layer, PlatformImage, Request, SeverityName};

fn record() -> Promotion {
    let mut p = Promotion::new(
        Request {
            source: "staging/app:1.0".into(),
            destination: "prod/app:1.0".into(),
            ..Request::default()
        },
        None,
        Approval::default(),
    );
    p.status = Status::Promoted;
    p
}

#[test]
fn shows_outcome_checks_and_escapes_cells() {
    let mut p = record();
    p.checks.push(Check {
        id: "labels".into(),
        status: CheckOutcome::Fail,
        severity: SeverityName::High,
        message: "missing | <script> label\nsecond line".into(),
        platform: Some("linux/amd64".into()),
        details: serde_json::Value::Null,
        unforceable: false,
        overridden: false,
        override_reason: None,
        duration_ms: 1,
    });
    let md = render(&p);
    assert!(md.starts_with("## ✅ image-promote: promoted"), "{md}");
    assert!(
        md.contains(
            "| ❌ | `labels` | linux/amd64 | HIGH | missing \\| &lt;script&gt; label second line |"
        ),
        "{md}"
    );
    assert!(md.contains("`initializing` +0 ms"));
}

#[test]
fn stays_small_for_a_thousand_platforms() {
    let mut p = record();
    let layers: Vec<Layer> = (0..50)
        .map(|i| Layer {
            digest: format!("sha256:{i:064x}"),
            size: 1 << 20,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        })
        .collect();
    p.image = Some(Image {
        source_digest: format!("sha256:{:064x}", 1),
        platforms: (0..1000)
            .map(|i| PlatformImage {
                platform: Some(format!("linux/arch{i}")),
                digest: format!("sha256:{i:064x}"),
                media_type: String::new(),
                config: String::new(),
                layers: layers.clone(),
                size: 50 << 20,
            })
            .collect(),
        ..Image::default()
    });
    for i in 0..5000 {
        p.checks.push(Check {
            id: format!("check-{i}"),
            status: CheckOutcome::Pass,
            severity: SeverityName::Low,
            message: "x".repeat(10_000),
            platform: Some(format!("linux/arch{i}")),
            details: serde_json::Value::Null,
            unforceable: false,
            overridden: false,
            override_reason: None,
            duration_ms: 0,
        });
    }
    let md = render(&p);
    assert!(md.len() < 64 * 1024, "{} bytes", md.len());
    assert!(md.contains("… and 4940 more"));
    assert!(md.contains("… and 940 more"));
}

#[test]
fn cap_cuts_on_a_line() {
    let big = "line\n".repeat(MAX_BYTES);
    let capped = cap(big);
    assert!(capped.len() <= MAX_BYTES);
    assert!(capped.ends_with("has everything._\n"));
}
