//! Manifests and indexes: `Manifest::parse` never panics; when it accepts, the digest is the
//! SHA-256 of exactly the bytes given, the bytes are kept untouched, and the view matches the
//! media type. The same bytes are fed to `ImageConfig::parse`, whose output must re-serialize.
//!
//! Input: the first byte picks the `Content-Type` header; the rest is the body.
#![no_main]

use bytes::Bytes;
use image_promote::digest::Digest;
use image_promote::media::{
    self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ImageConfig, Manifest, ManifestView, OCI_INDEX,
    OCI_MANIFEST,
};
use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;

const CONTENT_TYPES: [Option<&str>; 10] = [
    None,
    Some(OCI_MANIFEST),
    Some(OCI_INDEX),
    Some(DOCKER_MANIFEST),
    Some(DOCKER_MANIFEST_LIST),
    Some(media::DOCKER_SCHEMA1_SIGNED),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some("application/json"),
    Some(""),
    Some(" ; "),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_descriptor(d: &media::Descriptor) {
    assert!(d.size <= 1 << 40, "size {} accepted", d.size);
    let shown = d.digest.to_string();
    assert_eq!(Digest::parse(&shown).ok().as_ref(), Some(&d.digest));
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let bytes = Bytes::copy_from_slice(body);
    let first = Manifest::parse("fuzz", bytes.clone(), content_type);
    let second = Manifest::parse("fuzz", bytes.clone(), content_type);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a.digest, b.digest),
        (Err(a), Err(b)) => assert_eq!(a.message, b.message),
        _ => panic!("Manifest::parse is not deterministic"),
    }
    match first {
        Ok(m) => {
            assert_eq!(m.bytes, bytes, "the bytes are kept as given");
            let sha = format!("sha256:{}", hex(&sha2::Sha256::digest(body)));
            assert_eq!(m.digest.to_string(), sha, "digest is sha256 of the bytes");
            assert_eq!(m.digest, Digest::sha256_of(body));
            assert!(body.len() <= media::MAX_MANIFEST_BYTES);
            match &m.view {
                ManifestView::Image { config, layers } => {
                    assert!(
                        m.media_type == OCI_MANIFEST || m.media_type == DOCKER_MANIFEST,
                        "image view for {:?}",
                        m.media_type
                    );
                    assert!(!m.is_index());
                    check_descriptor(config);
                    layers.iter().for_each(check_descriptor);
                }
                ManifestView::Index { manifests } => {
                    assert!(
                        m.media_type == OCI_INDEX || m.media_type == DOCKER_MANIFEST_LIST,
                        "index view for {:?}",
                        m.media_type
                    );
                    assert!(m.is_index());
                    manifests.iter().for_each(check_descriptor);
                }
            }
            if let Some(s) = &m.subject {
                check_descriptor(s);
            }
            // An accepted manifest says schemaVersion 2. (Only checked where the body is strict
            // JSON: serde skips unknown fields without validating their UTF-8 or escapes, so
            // such bytes are accepted, and kept as they are, like Go's encoding/json does.)
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                assert_eq!(v["schemaVersion"], serde_json::json!(2));
            }
        }
        Err(e) => {
            assert!(
                e.message.contains("fuzz"),
                "errors name the manifest: {}",
                e.message
            );
        }
    }

    // The same bytes as an image config.
    let d = Digest::sha256_of(body);
    match ImageConfig::parse(&d, body) {
        Ok(c) => {
            let json = serde_json::to_vec(&c).unwrap();
            let again = ImageConfig::parse(&d, &json).unwrap();
            assert_eq!(serde_json::to_vec(&again).unwrap(), json);
        }
        Err(e) => assert!(e.message.contains(&d.to_string())),
    }
});
