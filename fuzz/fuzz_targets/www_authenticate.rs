//! `WWW-Authenticate` challenges and token endpoint replies. A parsed Bearer challenge, written
//! back out with every parameter quoted, parses to the same challenge; only a `Bearer`/`Basic`
//! scheme is ever accepted. The same bytes are fed to `parse_token_reply`.
#![no_main]

use image_promote::error::Category;
use image_promote::registry::auth::{Challenge, parse_challenge, parse_token_reply};
use libfuzzer_sys::fuzz_target;

fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn scheme(header: &str) -> String {
    let header = header.trim();
    header
        .split_once(char::is_whitespace)
        .map_or(header, |(s, _)| s)
        .to_ascii_lowercase()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        let parsed = parse_challenge(header);
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", parse_challenge(header)),
            "deterministic"
        );
        match parsed {
            Ok(Challenge::None) => {}
            Ok(Challenge::Basic) => assert_eq!(scheme(header), "basic"),
            Ok(c @ Challenge::Bearer { .. }) => {
                assert_eq!(scheme(header), "bearer");
                let Challenge::Bearer {
                    realm,
                    service,
                    scope,
                    error,
                } = &c
                else {
                    unreachable!()
                };
                let mut out = format!("Bearer realm={}", quote(realm));
                for (k, v) in [("service", service), ("scope", scope), ("error", error)] {
                    if let Some(v) = v {
                        out.push_str(&format!(",{k}={}", quote(v)));
                    }
                }
                let again = parse_challenge(&out)
                    .unwrap_or_else(|e| panic!("{header:?} → {out:?} refused: {e:?}"));
                assert_eq!(again, c, "{header:?} → {out:?}");
            }
            Err(e) => {
                assert_eq!(e.category, Category::Registry);
                assert!(!e.message.is_empty());
            }
        }
    }

    match parse_token_reply(data, "repository:app/small:pull") {
        Ok(t) => {
            assert!(!t.value.expose().is_empty());
            assert_eq!(t.scope, "repository:app/small:pull");
            assert!(t.expires > std::time::Instant::now());
            assert!(!format!("{t:?}").contains(t.value.expose()) || t.value.expose().len() < 8);
        }
        Err(e) => assert_eq!(e.category, Category::Authentication),
    }
});
