//! Authentication: the flow every request goes through (anonymous, basic, or the Docker
//! bearer-token flow: one token per host covering every declared scope, one re-auth on a 401,
//! `insufficient_scope` as PERMISSION, credentials only ever sent to the registry's own origin).
//! The parsers it uses are in `challenge.rs` (re-exported here).

use std::sync::atomic::Ordering;
use std::time::Instant;

use base64::Engine as _;

pub use super::challenge::{Challenge, Token, parse_challenge, parse_token_reply};
use super::hosts::Host;
use super::transport::{self, Body, Method, Request, Response, ResponseExt as _};
use super::{RegistryClient, retry, same_origin};
use crate::error::{Error, Reason, Result};

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
                return Ok(Some(basic(c)));
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
            request = request.header("Authorization", basic(c));
        }
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.connection.send(request).await?;
        if response.status() == 401 || response.status() == 403 {
            return Err(self.rejected(host_name, host, "the token service for "));
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

    /// `who` (the registry `host_name` itself, or its token service) refused: the credentials are
    /// wrong, or none were given.
    fn rejected(&self, host_name: &str, host: &Host, who: &str) -> Error {
        if host.credential.is_none() {
            return self.no_credentials(host_name);
        }
        Error::authentication(format!(
            "{who}{host_name} rejected the {} credentials",
            self.role
        ))
        .hint(format!(
            "check the {} username and password (or token) for {host_name}",
            self.role
        ))
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
                return Err(self.rejected(host_name, &host, ""));
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

/// The `Authorization` value of basic authentication with `credential`.
fn basic(credential: &super::credentials::Credential) -> String {
    let raw = format!("{}:{}", credential.username, credential.password.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}
