//! Which scheme each registry host speaks, decided once per host above the transport so that every
//! [`Transport`] shares the rule: HTTPS with verification first; plain HTTP only for loopback or
//! `insecure-registries` hosts whose HTTPS attempt failed; a certificate error is never
//! downgraded (unless the host is listed as insecure). A [`Connection`] is the transport plus
//! these decisions, shared by the source and destination clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::Either;

use super::transport::{Method, Request, Response, Transport, TransportError};
use crate::error::{Error, Result};

/// A transport and the per-host scheme decisions.
pub struct Connection {
    transport: Arc<dyn Transport>,
    insecure_registries: Vec<String>,
    bases: Mutex<HashMap<String, String>>,
}

impl Connection {
    /// A connection over `transport`; `insecure_registries` (`host[:port]`) may use plain HTTP.
    #[must_use]
    pub fn new(transport: Arc<dyn Transport>, insecure_registries: Vec<String>) -> Self {
        Self {
            transport,
            insecure_registries,
            bases: Mutex::new(HashMap::new()),
        }
    }

    fn is_insecure(&self, host: &str) -> bool {
        self.insecure_registries.iter().any(|h| h == host)
    }

    /// Sends one request (no retries here: callers go through the retry policy).
    ///
    /// # Errors
    /// Classified NETWORK/TIMEOUT errors; HTTP error statuses are returned as responses.
    pub async fn send(&self, request: Request) -> Result<Response> {
        Ok(self.send_raw(request).await?)
    }

    async fn send_raw(&self, request: Request) -> Result<Response, TransportError> {
        // `-vv` (trace) shows every exchange: method, URL, status or kind of failure, time.
        if !tracing::enabled!(tracing::Level::TRACE) {
            return self.transport.send(request.into_http()?).await;
        }
        let (method, url) = (request.method.clone(), traced_url(&request.url));
        let start = std::time::Instant::now();
        let answer = self.transport.send(request.into_http()?).await;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        match &answer {
            Ok(r) => tracing::trace!(%method, %url, status = r.status().as_u16(), ms, "request"),
            Err(e) => tracing::trace!(%method, %url, error = failure_kind(e), ms, "request"),
        }
        answer
    }

    /// The base URL (`https://host` or `http://host`) for a registry host, probing `/v2/` once.
    /// Returns the base and the probe's response (status and `WWW-Authenticate`); `None` when
    /// the host was probed before.
    ///
    /// # Errors
    /// NETWORK errors when no allowed scheme answers; a certificate error is never downgraded.
    pub async fn resolve_base(&self, host: &str) -> Result<(String, Option<Response>)> {
        if let Some(b) = self
            .bases
            .lock()
            .map_err(|_| Error::internal("scheme cache poisoned"))?
            .get(host)
        {
            return Ok((b.clone(), None));
        }
        let https = format!("https://{host}");
        let http = format!("http://{host}");
        let may_use_http = self.is_insecure(host) || crate::reference::is_loopback_host(host);
        // For a host listed in `insecure-registries` (plain HTTP allowed whatever HTTPS says),
        // both probes go out at once (HTTPS still wins when it answers): a plain registry costs
        // one round trip, not a failed handshake and then one. An answered HTTPS probe drops the
        // plain one unfinished (a TLS port may never answer it). Loopback hosts that are not
        // listed send plain HTTP only after HTTPS failed without a certificate error.
        let https_probe = self.send_raw(Request::new(Method::GET, format!("{https}/v2/")));
        let (first, mut plain) = if self.is_insecure(host) {
            let http_probe = self.send_raw(Request::new(Method::GET, format!("{http}/v2/")));
            match futures_util::future::select(Box::pin(https_probe), Box::pin(http_probe)).await {
                Either::Left((Ok(r), _)) => (Ok(r), None),
                Either::Left((Err(e), http_probe)) => (Err(e), Some(http_probe.await)),
                Either::Right((plain, https_probe)) => (https_probe.await, Some(plain)),
            }
        } else {
            (https_probe.await, None)
        };
        let (base, response) = match first {
            Ok(r) => (https, r),
            Err(e) if !may_use_http => return Err(e.into()),
            Err(e @ TransportError::Certificate(_)) if !self.is_insecure(host) => {
                return Err(Error::from(e).context(format_args!("{host} speaks HTTPS with a certificate that is not trusted (never downgraded to HTTP)")));
            }
            Err(https_error) => {
                let plain = match plain.take() {
                    Some(p) => p,
                    None => {
                        self.send_raw(Request::new(Method::GET, format!("{http}/v2/")))
                            .await
                    }
                };
                match plain {
                    Ok(r) => (http, r),
                    Err(_) => return Err(https_error.into()),
                }
            }
        };
        self.bases
            .lock()
            .map_err(|_| Error::internal("scheme cache poisoned"))?
            .insert(host.to_owned(), base.clone());
        Ok((base, Some(response)))
    }
}

impl Connection {
    /// The connection of this build: reqwest natively, wasi:http on wasm32-wasip2.
    ///
    /// # Errors
    /// Input errors for options the transport cannot honour (unusable CA certificates).
    pub fn for_this_build(options: super::transport::TransportOptions) -> Result<Self> {
        #[cfg(not(target_family = "wasm"))]
        return Self::native(options);
        #[cfg(target_family = "wasm")]
        return Self::wasi(options);
    }

    /// The native connection: reqwest with `options`.
    ///
    /// # Errors
    /// Input errors for unusable CA certificates.
    #[cfg(not(target_family = "wasm"))]
    pub fn native(options: super::transport::TransportOptions) -> Result<Self> {
        let transport = super::transport::reqwest::ReqwestTransport::new(&options)?;
        Ok(Self::new(Arc::new(transport), options.insecure_registries))
    }

    /// The wasm connection: wasi:http with `options`, redirects followed above it (the WASI host
    /// follows none).
    ///
    /// # Errors
    /// An input error for CA certificates the host does not trust already.
    #[cfg(target_family = "wasm")]
    pub fn wasi(options: super::transport::TransportOptions) -> Result<Self> {
        use super::transport::{redirect::Redirecting, wasi::WasiTransport};
        let transport = Redirecting::new(Arc::new(WasiTransport::new(&options)?));
        Ok(Self::new(Arc::new(transport), options.insecure_registries))
    }
}

/// A URL as the request trace shows it: a registry API URL (`/v2/…`) without credentials or
/// query; any other (a token realm, a notification webhook — whose path is its secret) as its
/// origin only.
fn traced_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.path().starts_with("/v2/") => super::transport::redact_url(url),
        Ok(u) => format!("{}://{}/…", u.scheme(), super::transport::host_port(url)),
        Err(_) => "<url>".to_owned(),
    }
}

/// The kind of a failed exchange, for the trace (its message may hold a URL).
fn failure_kind(e: &TransportError) -> &'static str {
    match e {
        TransportError::Connect(_) => "connect",
        TransportError::Timeout(_) => "timeout",
        TransportError::Certificate(_) => "certificate",
        TransportError::Redirect(_) => "redirect",
        TransportError::Request(_) => "request",
        TransportError::Body(_) => "body",
        TransportError::Setup(_) => "setup",
    }
}

#[cfg(test)]
mod tests {
    use super::traced_url;

    #[test]
    fn the_trace_shows_registry_paths_and_only_the_origin_of_other_urls() {
        assert_eq!(
            traced_url("https://u:p@r.io/v2/app/blobs/uploads/x?_state=secret&digest=d"),
            "https://r.io/v2/app/blobs/uploads/x"
        );
        let hook = traced_url("https://hooks.example.com/services/T000/B000/XXXXSECRET");
        assert_eq!(hook, "https://hooks.example.com/…");
        assert_eq!(
            traced_url("http://127.0.0.1:5100/token?scope=x"),
            "http://127.0.0.1:5100/…"
        );
        assert_eq!(traced_url("not a url"), "<url>");
    }
}
