//! An in-memory [`Transport`] for unit tests: a handler answers each request (or fails it with a
//! [`TransportError`]), and every request is recorded (method, URL, headers, body bytes) so that
//! tests can assert what was sent, how often, and with which credentials — without sockets.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderMap, Method, StatusCode};

use super::{Body, BodyStream, BoxFuture, FinalUrl, Response, Transport, TransportError};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body (a streamed body is drained).
    pub body: Bytes,
}

impl Recorded {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the handler answers.
pub type Answer = Result<http::Response<Bytes>, TransportError>;

type Handler = dyn Fn(&Recorded) -> Answer + Send + Sync;

/// The fake transport.
pub struct FakeTransport {
    handler: Box<Handler>,
    log: Mutex<Vec<Recorded>>,
}

impl FakeTransport {
    /// A fake answering with `handler`.
    pub fn new(handler: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many requests so far had `method` and a URL containing `fragment`.
    pub fn count(&self, method: &Method, fragment: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == *method && r.url.contains(fragment))
            .count()
    }
}

/// A response with `status`, `headers` and `body`.
pub fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let mut b = http::Response::builder()
        .status(StatusCode::from_u16(status).map_err(|e| TransportError::Setup(e.to_string()))?);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(body.into())
        .map_err(|e| TransportError::Setup(e.to_string()))
}

impl Transport for FakeTransport {
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'_, Result<Response, TransportError>> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body {
                Body::Empty => Bytes::new(),
                Body::Bytes(b) => b,
                Body::Stream(mut s, _) => {
                    let mut out = Vec::new();
                    while let Some(chunk) = s.next().await {
                        out.extend_from_slice(&chunk.map_err(TransportError::Body)?);
                    }
                    Bytes::from(out)
                }
            };
            let recorded = Recorded {
                method: parts.method,
                url: parts.uri.to_string(),
                headers: parts.headers,
                body,
            };
            if let Ok(mut log) = self.log.lock() {
                log.push(recorded.clone());
            }
            let (mut head, bytes) = (self.handler)(&recorded)?.into_parts();
            head.extensions.insert(FinalUrl(recorded.url.clone()));
            let stream: BodyStream = Box::pin(futures_util::stream::iter(
                (!bytes.is_empty()).then_some(Ok(bytes)),
            ));
            Ok(http::Response::from_parts(head, stream))
        })
    }
}
