//! The authentication parsers: the `WWW-Authenticate` challenge a registry sends and the token
//! reply of a Docker token service. Pure functions of their input (fuzzed); the flow that uses
//! them is `auth.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No authentication asked for.
    None,
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…[,error=…]`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
        /// Scope the registry wants.
        scope: Option<String>,
        /// `insufficient_scope`, `invalid_token`, …
        error: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Unknown schemes and malformed input give an error
/// naming the header; never a panic.
///
/// # Errors
/// A REGISTRY error for headers that cannot be understood.
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest).ok_or_else(|| {
        Error::registry(format!(
            "malformed WWW-Authenticate header `{}`",
            crate::reference::shorten(header)
        ))
    })?;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Ok(Challenge::Basic),
        "bearer" => {
            let realm = params.get("realm").cloned().ok_or_else(|| {
                Error::registry(format!(
                    "Bearer challenge without realm: `{}`",
                    crate::reference::shorten(header)
                ))
            })?;
            Ok(Challenge::Bearer {
                realm,
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
                error: params.get("error").cloned(),
            })
        }
        _ => Err(Error::registry(format!(
            "unsupported authentication scheme in `{}`",
            crate::reference::shorten(header)
        ))),
    }
}

fn parse_params(mut s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if s.is_empty() {
            return Some(out);
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        s = &s[eq + 1..];
        let value;
        if let Some(rest) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = rest.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end?;
            value = v;
            s = &rest[end + 1..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_owned();
            s = &s[end..];
        }
        out.insert(key, value);
    }
}

/// A bearer token and when it stops being good.
#[derive(Clone)]
pub struct Token {
    /// The token value.
    pub value: crate::registry::credentials::Secret,
    /// When to fetch a new one.
    pub expires: Instant,
    /// The scope string it was asked for.
    pub scope: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Parses a token endpoint reply.
///
/// # Errors
/// An AUTHENTICATION error if the body holds no token.
pub fn parse_token_reply(body: &[u8], scope: &str) -> Result<Token> {
    let reply: TokenReply = serde_json::from_slice(body).map_err(|_| {
        Error::authentication("the token endpoint answered with something that is not token JSON")
            .hint("check the registry's token realm; a proxy or login page may be in the way")
    })?;
    let value = reply
        .token
        .filter(|t| !t.is_empty())
        .or(reply.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| Error::authentication("the token endpoint returned no token"))?;
    // Default lifetime 60 s (the spec's minimum); renew 10 % early. At most a day: a huge
    // `expires_in` would overflow `Instant` (issue 6, found by fuzzing).
    let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(60).clamp(1, 86_400));
    Ok(Token {
        value: crate::registry::credentials::Secret::new(value),
        expires: Instant::now() + lifetime.mul_f64(0.9),
        scope: scope.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer() {
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
                error: None
            }
        );
        let c = parse_challenge(r#"Bearer realm="http://127.0.0.1:1/t",error="insufficient_scope",scope="repository:a:pull,push""#).unwrap();
        assert!(
            matches!(c, Challenge::Bearer { error: Some(ref e), scope: Some(ref s), .. } if e == "insufficient_scope" && s == "repository:a:pull,push")
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="reg-harness""#).unwrap(),
            Challenge::Basic
        );
    }

    #[test]
    fn refuses_garbage() {
        for h in [
            "Bearer service=\"x\"",
            "Bearer realm=\"unterminated",
            "Negotiate abc",
            "Bearer =x",
            "\u{0}",
        ] {
            assert!(parse_challenge(h).is_err(), "{h}");
        }
    }

    #[test]
    fn token_reply() {
        let t = parse_token_reply(br#"{"access_token":"abc","expires_in":300}"#, "s").unwrap();
        assert_eq!(t.value.expose(), "abc");
        assert!(!format!("{t:?}").contains("abc"));
        assert!(parse_token_reply(b"<html>", "s").is_err());
        assert!(parse_token_reply(br#"{"token":""}"#, "s").is_err());
    }
}
