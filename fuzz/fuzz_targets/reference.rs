//! Image references: parse → display → parse is the identity; accessors agree with the display.
#![no_main]

use image_promote::reference::{Reference, is_loopback_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Reference::parse(input);
    let Ok(r) = parsed else {
        let e = parsed.unwrap_err();
        assert!(!e.message.is_empty());
        assert!(
            e.hint.is_some(),
            "reference errors carry a hint: {}",
            e.message
        );
        return;
    };
    let shown = r.to_string();
    let again = Reference::parse(&shown)
        .unwrap_or_else(|e| panic!("{input:?} parsed, but its display {shown:?} does not: {e:?}"));
    assert_eq!(again, r, "{input:?} → {shown:?}");
    assert_eq!(again.to_string(), shown, "display is a fixed point");
    assert_eq!(format!("{r:?}"), shown);

    // The parts agree with the display.
    assert!(!r.registry().is_empty() && !r.repository().is_empty());
    assert_eq!(r.name(), format!("{}/{}", r.registry(), r.repository()));
    assert!(shown.starts_with(&r.name()));
    assert!(r.name().len() <= 255);
    if let Some(tag) = r.tag() {
        assert!(Reference::validate_tag(tag).is_ok(), "tag {tag:?}");
    }
    match (r.digest(), r.tag()) {
        (Some(d), _) => assert_eq!(r.manifest_reference(), d.to_string()),
        (None, Some(t)) => assert_eq!(r.manifest_reference(), t),
        (None, None) => assert_eq!(r.manifest_reference(), "latest"),
    }
    let _ = is_loopback_host(r.registry());
    let _ = r.api_host();

    // Derived references round-trip too.
    let retagged = r.with_tag("v1.2.3");
    assert_eq!(Reference::parse(&retagged.to_string()).ok(), Some(retagged));
    let pinned = r.with_digest(&image_promote::digest::Digest::sha256_of(data));
    assert_eq!(Reference::parse(&pinned.to_string()).ok(), Some(pinned));
});
