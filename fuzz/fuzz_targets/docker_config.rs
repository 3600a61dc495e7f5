//! Docker `config.json`: `parse_docker_config` never panics, is deterministic, and never puts a
//! string value of the file (a password, a base64 `auth`, a token) into an error message or into
//! a credential's `Debug` output.
#![no_main]

use std::path::Path;

use image_promote::error::Category;
use image_promote::registry::credentials::{DockerConfigAnswer, parse_docker_config};
use libfuzzer_sys::fuzz_target;

const HOSTS: [&str; 4] = ["docker.io", "ghcr.io", "127.0.0.1:5000", "localhost:5002"];

/// Every string value (not key) in the document, long enough not to match message text by chance.
fn string_values(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.chars().count() >= 12 => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| string_values(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| string_values(v, out)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/fuzz/.docker/config.json");
    let mut values = Vec::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        string_values(&v, &mut values);
    }
    for host in HOSTS {
        let answer = parse_docker_config(data, path, host);
        assert_eq!(
            format!("{answer:?}"),
            format!("{:?}", parse_docker_config(data, path, host)),
            "deterministic"
        );
        match answer {
            Ok(DockerConfigAnswer::Helper(h)) => assert!(!h.is_empty()),
            Ok(DockerConfigAnswer::Credential(c)) => {
                let shown = format!("{c:?}");
                let secret = c.password.expose();
                assert!(
                    secret.len() < 8 || c.username.contains(secret) || !shown.contains(secret),
                    "Debug shows the password: {shown}"
                );
            }
            Ok(DockerConfigAnswer::Nothing) => {}
            Err(e) => {
                assert_eq!(e.category, Category::Docker);
                assert!(e.message.contains("config.json"), "{}", e.message);
                let text = format!("{} {}", e.message, e.hint.as_deref().unwrap_or(""));
                for v in &values {
                    assert!(
                        !text.contains(v.as_str()),
                        "error echoes the value {v:?}: {text}"
                    );
                }
            }
        }
    }
});
