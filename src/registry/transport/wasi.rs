//! The wasm32-wasip2 [`Transport`]: `wasi:http` through `wstd`, the only file that touches wstd's
//! HTTP client. The WASI host (Node's preview2 shim in the Action) follows no redirects, so the
//! connection wraps it in [`super::redirect::Redirecting`]. TLS is the host's: `--ca-cert` works only when the host
//! trusts the certificates already (the Node action's wrapper restarts Node with
//! `NODE_EXTRA_CA_CERTS`, [`HOST_TRUSTS_CA_ENV`]); unverified TLS is not possible (an
//! `insecure-registries` host falls back to plain HTTP).
//! Under the Node action a request with a small body goes by the host's one-call exchange instead
//! ([`super::host_http`], which decides per request); blob streams stay on wasi:http.

use futures_util::StreamExt as _;
use wstd::http::BodyExt as _;
use wstd::http::error::ErrorCode;

use super::{
    Body, BodyStream, BoxFuture, FinalUrl, Response, Transport, TransportError, TransportOptions,
    host_http::{self, InFlight, Route, Setting},
    redact_url,
};
use crate::error::{Error, Result};
use crate::runtime::AssertSend;

/// Set by the Node action's wrapper when it put the `ca-cert` input into Node's trust store
/// (`NODE_EXTRA_CA_CERTS`): the certificates are then trusted by the host, not by this transport.
pub const HOST_TRUSTS_CA_ENV: &str = "IMAGE_PROMOTE_HOST_TRUSTS_CA";

/// wasi:http, through wstd.
pub struct WasiTransport {
    options: TransportOptions,
    host: Setting,
}

impl WasiTransport {
    /// The transport for `options`.
    ///
    /// # Errors
    /// An input error when `options` asks for what the WASI host decides (extra CA certificates
    /// it does not trust already, see [`HOST_TRUSTS_CA_ENV`]).
    pub fn new(options: &TransportOptions) -> Result<Self> {
        if !options.ca_certs.is_empty() && std::env::var_os(HOST_TRUSTS_CA_ENV).is_none() {
            return Err(Error::input(
                "ca-cert: the Node action trusts what Node trusts; it cannot add CA certificates itself",
            )
            .hint("set NODE_EXTRA_CA_CERTS to the PEM file in the step's env, or use the container action"));
        }
        Ok(Self {
            options: options.clone(),
            host: Setting::parse(std::env::var(host_http::HOST_HTTP_ENV).ok().as_deref()),
        })
    }

    async fn send_one(&self, request: http::Request<Body>) -> Result<Response, TransportError> {
        let url = request.uri().to_string();
        let shown = redact_url(&url);
        let (parts, body) = request.into_parts();
        if let Route::Host { limit, resend } =
            host_http::route(&parts.method, &body, InFlight::count(), self.host)
        {
            match host_http::send(&parts, &body, limit, &self.options, &shown).await {
                Some(answer) => return answer,
                None if resend => {}
                None => {
                    return Err(TransportError::Connect(format!(
                        "{shown}: the response body is over {limit} bytes"
                    )));
                }
            }
        }
        let in_flight = InFlight::open();
        let body = match body {
            Body::Empty => wstd::http::Body::empty(),
            Body::Bytes(b) => wstd::http::Body::from(b),
            Body::Stream(s, _) => wstd::http::Body::from_try_stream(super::coalesce::coalesced(s)),
        };
        let mut client = wstd::http::Client::new();
        client.set_connect_timeout(self.options.connect_timeout);
        client.set_first_byte_timeout(self.options.read_timeout);
        client.set_between_bytes_timeout(self.options.read_timeout);
        let inner = client
            .send(http::Request::from_parts(parts, body))
            .await
            .map_err(|e| classify(&e, &shown))?;
        let (head, body) = inner.into_parts();
        let stream_url = shown.clone();
        let stream: BodyStream = Box::pin(AssertSend::new(
            body.into_boxed_body().into_data_stream().map(move |chunk| {
                let _open = &in_flight;
                chunk.map_err(|e| Error::from(classify(&e, &stream_url)))
            }),
        ));
        let mut response = http::Response::from_parts(head, stream);
        response.extensions_mut().insert(FinalUrl(url));
        Ok(response)
    }
}

impl Transport for WasiTransport {
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'_, Result<Response, TransportError>> {
        Box::pin(AssertSend::new(self.send_one(request)))
    }
}

/// Our own body errors (a digest verifier) come back as themselves; the host's error codes are
/// classified by kind, never by message text.
fn classify(e: &wstd::http::Error, url: &str) -> TransportError {
    for cause in e.chain() {
        if let Some(ours) = cause.downcast_ref::<Error>() {
            return TransportError::Body(ours.clone());
        }
    }
    let code = e.chain().find_map(|c| c.downcast_ref::<ErrorCode>());
    let shown = format!("{url}: {}", redact_words(&format!("{e:#}")));
    match code {
        Some(
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout,
        ) => TransportError::Timeout(format!("{shown} (timed out)")),
        Some(ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_)) => {
            TransportError::Certificate(format!("{shown} (TLS certificate not trusted)"))
        }
        Some(ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid) => {
            TransportError::Request(shown)
        }
        _ => TransportError::Connect(shown),
    }
}

/// The host's messages may carry URLs: their queries (upload state) are dropped.
pub(super) fn redact_words(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                redact_url(w)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
