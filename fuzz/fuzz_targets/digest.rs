//! Digests: `Digest::parse` accepts exactly `sha256:<64 lower hex>` and `sha512:<128 lower hex>`,
//! and displays what it parsed; the streaming `Verifier` agrees with hashing the whole input.
#![no_main]

use image_promote::digest::{Digest, Verifier};
use image_promote::error::{Category, ErrorKind};
use libfuzzer_sys::fuzz_target;

fn well_formed(s: &str) -> bool {
    let hex_ok = |h: &str, n: usize| {
        h.len() == n && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match s.split_once(':') {
        Some(("sha256", h)) => hex_ok(h, 64),
        Some(("sha512", h)) => hex_ok(h, 128),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data) {
        match Digest::parse(input) {
            Ok(d) => {
                assert!(well_formed(input), "accepted {input:?}");
                assert_eq!(d.to_string(), input);
                assert_eq!(Digest::parse(&d.to_string()).ok().as_ref(), Some(&d));
                assert!(input.ends_with(d.hex()));
                assert!(input.starts_with(&d.short()));
                let json = serde_json::to_string(&d).unwrap();
                assert_eq!(serde_json::from_str::<Digest>(&json).ok(), Some(d.clone()));
                assert_eq!(d.same_algorithm_of(b"").algorithm(), d.algorithm());
            }
            Err(e) => {
                assert!(!well_formed(input), "refused {input:?}: {}", e.message);
                assert_eq!(e.kind, ErrorKind::Input);
            }
        }
    }

    // The input as a blob, fed in chunks whose sizes the input itself picks.
    let whole = Digest::sha256_of(data);
    let mut v = Verifier::new(&whole, Some(data.len() as u64));
    let mut rest = data;
    let mut i = 0usize;
    while !rest.is_empty() {
        let n = (usize::from(data[i % data.len()]) % 17 + 1).min(rest.len());
        v.update(&rest[..n]).unwrap();
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(v.seen(), data.len() as u64);
    assert_eq!(v.finish().unwrap(), whole);

    if let Some((last, head)) = data.split_last() {
        // Short body: retryable network error.
        let mut v = Verifier::new(&whole, Some(data.len() as u64));
        v.update(head).unwrap();
        let e = v.finish().unwrap_err();
        assert!(e.retryable && e.category == Category::Network, "{e:?}");
        // Full length, one byte changed: verification error, not retryable.
        let mut flipped = data.to_vec();
        *flipped.last_mut().unwrap() = last ^ 0x01;
        let mut v = Verifier::new(&whole, Some(data.len() as u64));
        v.update(&flipped).unwrap();
        let e = v.finish().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Verification);
        assert_eq!(e.category, Category::Validation);
        assert!(!e.retryable);
        // Too long: refused as soon as it happens.
        let mut v = Verifier::new(&whole, Some(head.len() as u64));
        assert!(v.update(data).is_err());
    }
});
