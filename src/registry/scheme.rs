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
        self.transport.send(request.into_http()?).await
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
