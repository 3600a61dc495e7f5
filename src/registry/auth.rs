//! Authentication: the `WWW-Authenticate` challenge parser, the token reply parser, and the flow
//! every request goes through (anonymous, basic, or the Docker bearer-token flow: one token per
//! host covering every declared scope, one re-auth on a 401, `insufficient_scope` as PERMISSION,
//! credentials only ever sent to the registry's own origin).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use base64::Engine as _;
use serde::Deserialize;

use super::hosts::Host;
use super::transport::{self, Body, Method, Request, Response, ResponseExt as _};
use super::{RegistryClient, retry, same_origin};
use crate::error::{Error, Reason, Result};

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

impl RegistryClient {
    pub(super) async fn fetch_token(
        &self,
        host_name: &str,
        host: &Host,
        force: bool,
    ) -> Result<Option<String>> {
        let challenge = host
            .challenge
            .lock()
            .map_err(|_| Error::internal("auth state poisoned"))?
            .clone();
        let (realm, service) = match challenge {
            Challenge::None => return Ok(None),
            Challenge::Basic => {
                let Some(c) = &host.credential else {
                    return Err(self.no_credentials(host_name));
                };
                let raw = format!("{}:{}", c.username, c.password.expose());
                return Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )));
            }
            Challenge::Bearer { realm, service, .. } => (realm, service),
        };
        let mut slot = host.token.lock().await;
        if !force
            && let Some(t) = slot.as_ref()
            && t.expires > Instant::now()
        {
            return Ok(Some(format!("Bearer {}", t.value.expose())));
        }
        let scopes = self.scope_for(host_name);
        let realm_url = url::Url::parse(&realm).map_err(|_| {
            Error::registry(format!(
                "{host_name} named an invalid token realm `{}`",
                crate::reference::shorten(&realm)
            ))
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default();
        let registry_host = url::Url::parse(&host.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if realm_url.scheme() != "https" && realm_host != registry_host {
            return Err(Error::authentication(format!(
                "{host_name} sends credentials to a token realm on another host over plain HTTP ({})",
                transport::redact_url(&realm)
            ))
            .hint("refused so that credentials are not exposed; the registry's token realm must use HTTPS"));
        }
        let mut url = realm_url.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &service {
                q.append_pair("service", s);
            }
            for s in &scopes {
                q.append_pair("scope", s);
            }
        }
        let mut request = Request::new(Method::GET, url.to_string());
        if let Some(c) = &host.credential {
            let raw = format!("{}:{}", c.username, c.password.expose());
            request = request.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ),
            );
        }
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.connection.send(request).await?;
        if response.status() == 401 || response.status() == 403 {
            return Err(if host.credential.is_some() {
                Error::authentication(format!(
                    "the token service for {host_name} rejected the {} credentials",
                    self.role
                ))
                .hint(format!(
                    "check the {} username and password (or token) for {host_name}",
                    self.role
                ))
            } else {
                self.no_credentials(host_name)
            });
        }
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(retry::classify_status(
                status,
                None,
                retry::Route::Other,
                format!(
                    "token request to {} failed with HTTP {status}",
                    transport::redact_url(&realm)
                ),
            ));
        }
        let body = response.bytes_limited(1 << 20).await?;
        let token = parse_token_reply(&body, &scopes.join(" "))?;
        let header = format!("Bearer {}", token.value.expose());
        *slot = Some(token);
        Ok(Some(header))
    }

    fn no_credentials(&self, host: &str) -> Error {
        Error::authentication(format!(
            "{host} requires authentication and no {} credentials were given",
            self.role
        ))
        .hint(format!(
            "pass --{}-username/--{}-password (or log in so that docker's config.json has {host})",
            self.role, self.role
        ))
    }

    /// Sends a request built by `build` with authentication, handling one re-auth on 401.
    /// The request is not retried here (see [`Self::execute`]).
    pub(super) async fn send_authed(
        &self,
        host_name: &str,
        build: &(dyn Fn(&str) -> Request + Sync),
    ) -> Result<Response> {
        let host = self.host(host_name).await?;
        let mut auth = self.fetch_token(host_name, &host, false).await?;
        let mut reauthed = false;
        loop {
            let mut request = build(&host.base);
            // Credentials only ever go to the registry's own origin: an upload Location on
            // another host gets none (like redirects, which the native transport strips).
            if let Some(a) = &auth
                && same_origin(&request.url, &host.base)
            {
                request = request.header("Authorization", a.clone());
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            // A streamed body (a blob upload) cannot be sent twice.
            let replayable = !matches!(request.body, Body::Stream(..));
            let response = self.connection.send(request).await?;
            if response.status() != 401 {
                return Ok(response);
            }
            let header = response.header("www-authenticate").map(str::to_owned);
            let challenge = match &header {
                Some(h) => parse_challenge(h)?,
                None => Challenge::None,
            };
            if let Challenge::Bearer { error: Some(e), .. } = &challenge
                && e == "insufficient_scope"
            {
                return Err(Error::permission(format!(
                    "the {} credentials may not do this on {host_name} (insufficient_scope)",
                    self.role
                ))
                .hint(format!(
                    "check that the {} credentials can {} the repository",
                    self.role,
                    if self.role == "destination" {
                        "push to"
                    } else {
                        "pull from"
                    }
                )));
            }
            if reauthed || matches!(challenge, Challenge::None) {
                return Err(if host.credential.is_some() {
                    Error::authentication(format!(
                        "{host_name} rejected the {} credentials",
                        self.role
                    ))
                    .hint(format!(
                        "check the {} username and password (or token) for {host_name}",
                        self.role
                    ))
                } else {
                    self.no_credentials(host_name)
                });
            }
            if let Ok(mut c) = host.challenge.lock() {
                *c = challenge;
            }
            if !replayable {
                // The token stopped working during an upload: drop it, and let the caller's retry
                // restart the whole blob transfer with a new one.
                *host.token.lock().await = None;
                return Err(Error::new(
                    Reason::TokenExpired,
                    format!(
                        "{host_name} stopped accepting the {} token during an upload",
                        self.role
                    ),
                ));
            }
            reauthed = true;
            auth = self.fetch_token(host_name, &host, true).await?;
        }
    }
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
