//! Policy files (YAML): `Policy::parse` never panics; errors name the file; an accepted policy
//! prints (`to_yaml`) to YAML that parses back to the same policy. Sizes: `parse_size` never
//! panics, and a parsed size written as plain bytes parses to the same number.
#![no_main]

use image_promote::error::ErrorKind;
use image_promote::policy::{Policy, parse_size};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz-policy.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text, FILE) {
        Ok(p) => {
            assert_eq!(p.version, 1);
            let yaml = p
                .to_yaml()
                .unwrap_or_else(|e| panic!("accepted policy does not print: {e:?}"));
            let again = Policy::parse(&yaml, "printed")
                .unwrap_or_else(|e| panic!("printed policy does not parse: {e:?}\n{yaml}"));
            assert_eq!(again, p, "print → parse round trip\n{yaml}");
        }
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Input);
            assert!(e.message.contains(FILE), "{}", e.message);
        }
    }

    if text.len() <= 64
        && let Ok(n) = parse_size(text)
    {
        assert_eq!(parse_size(&n.to_string()).ok(), Some(n), "{text:?}");
    }
});
