//! The Node action's one-call HTTP exchange (`image-promote:host/http` in `wit/host.wit`) beside
//! wasi:http, inside [`super::wasi::WasiTransport`] (so under [`super::redirect::Redirecting`]:
//! redirects, credentials dropped on an origin change and the HTTPS → HTTP refusal are the same
//! code for both paths). A wasi:http request under the preview2 shim costs about a dozen
//! synchronous round trips to the shim's worker thread (request, headers, body streams, finish,
//! poll, response, reads, …); the host's exchange is one, with the bodies whole in memory, and
//! the requests that are ready at the same moment (the HEADs of an image's blobs) share it: each
//! queues (`start`, no I/O), yields until a turn passes with nothing else queued, then waits
//! (`finish`), which sends all queued at once.
//!
//! [`route`] decides per request: by the host when the request body is empty or in memory (at most
//! [`REQUEST_LIMIT`]) and no wasi:http transfer is in flight ([`InFlight`]: a host call blocks the
//! component's one thread, which would stall them); everything else — blob uploads, and any
//! request while a blob streams — by wasi:http. A GET or HEAD whose response body is over the
//! limit ([`RESPONSE_LIMIT`], a blob) is refused by the host unread (`too-big`) and sent again by
//! wasi:http, streamed; another method's responses are headers and short error documents, taken
//! up to [`REQUEST_LIMIT`] (over it the request fails as a NETWORK error: it cannot be replayed).
//! Host errors are classified as the shim's are: a timeout is a TIMEOUT, anything else (refused,
//! reset, DNS, TLS) a NETWORK error. [`HOST_HTTP_ENV`] turns the path off or lowers the limit.

use std::sync::atomic::{AtomicUsize, Ordering};

use http::Method;

use super::Body;
use crate::media::MAX_MANIFEST_BYTES;

/// The largest response body to a GET or HEAD the host reads whole (1 MiB: manifests, configs,
/// tokens); over it the request goes again by wasi:http, streamed.
pub const RESPONSE_LIMIT: u32 = 1 << 20;

/// The largest request body sent through the host (a manifest; bodies in memory already), and the
/// response body limit for methods that cannot be sent twice.
pub const REQUEST_LIMIT: usize = MAX_MANIFEST_BYTES;

/// `off`: every request by wasi:http; a number: the GET/HEAD response limit in bytes (tests use a
/// small one to see the fallback). Read by the component from its environment.
pub const HOST_HTTP_ENV: &str = "IMAGE_PROMOTE_HOST_HTTP";

/// How a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// By the host in one call, taking at most `limit` response body bytes; `resend`: over the
    /// limit the request may go again by wasi:http (GET and HEAD).
    Host {
        /// Response body limit.
        limit: u32,
        /// Whether a refused (too big) response may be fetched again by wasi:http.
        resend: bool,
    },
    /// By wasi:http, streamed.
    Wasi,
}

/// What [`HOST_HTTP_ENV`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The host path is off.
    Off,
    /// The GET/HEAD response body limit.
    Limit(u32),
}

impl Setting {
    /// From the variable's value (unset or unreadable: the default limit).
    #[must_use]
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("off" | "0") => Self::Off,
            Some(v) => v.parse().map_or(Self::Limit(RESPONSE_LIMIT), Self::Limit),
            None => Self::Limit(RESPONSE_LIMIT),
        }
    }
}

/// Decides how to send a request with `method` and `body` while `in_flight` wasi:http exchanges
/// are open (see the module doc).
#[must_use]
pub fn route(method: &Method, body: &Body, in_flight: usize, setting: Setting) -> Route {
    let Setting::Limit(limit) = setting else {
        return Route::Wasi;
    };
    if in_flight > 0 {
        return Route::Wasi;
    }
    match body {
        Body::Stream(..) => return Route::Wasi,
        Body::Bytes(b) if b.len() > REQUEST_LIMIT => return Route::Wasi,
        Body::Empty | Body::Bytes(_) => {}
    }
    if *method == Method::GET || *method == Method::HEAD {
        Route::Host {
            limit,
            resend: true,
        }
    } else {
        Route::Host {
            limit: u32::try_from(REQUEST_LIMIT).unwrap_or(u32::MAX),
            resend: false,
        }
    }
}

/// wasi:http exchanges open: from the request until its response body is dropped.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one wasi:http exchange as open while it lives.
pub struct InFlight(());

impl InFlight {
    /// Opens one.
    #[must_use]
    pub fn open() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Self(())
    }

    /// How many are open now.
    #[must_use]
    pub fn count() -> usize {
        IN_FLIGHT.load(Ordering::Relaxed)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(target_family = "wasm")]
pub(super) use host_call::send;

#[cfg(target_family = "wasm")]
mod host_call {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use http::{HeaderName, HeaderValue, StatusCode};

    use super::super::{Body, BodyStream, FinalUrl, Response, TransportError, TransportOptions};
    use crate::host::http as host;

    /// One exchange queued by the host: the first poll queues it and yields until the others of
    /// the same moment have queued too ([`settle`]: the host sends them together), the last
    /// waits for the answer. Dropped before its answer, it is cancelled.
    struct Exchange(Option<u32>);

    impl Exchange {
        fn answer(&mut self) -> Option<Result<host::Response, host::Error>> {
            let id = self.0.take()?;
            FINISHED.fetch_add(1, Ordering::Relaxed);
            Some(host::finish(id))
        }
    }

    impl Drop for Exchange {
        fn drop(&mut self) {
            if let Some(id) = self.0.take() {
                host::cancel(id);
            }
        }
    }

    /// Exchanges queued, and `finish` calls made, so far in this process (generation counts for
    /// [`settle`]).
    static QUEUED: AtomicU64 = AtomicU64::new(0);
    static FINISHED: AtomicU64 = AtomicU64::new(0);

    /// The most turns [`settle`] waits.
    const MAX_TURNS: u32 = 16;

    /// Yields to the executor (woken at once) until a turn passes in which no other exchange was
    /// queued, or until one was finished (every `finish` sends all that is queued, this one
    /// included: its answer is there to take). The requests of one moment then share the host
    /// call even when they are reached over several turns — a `FuturesUnordered`
    /// (`buffer_unordered`, a large `try_join_all`) stops polling its futures for the turn once
    /// two have woken themselves, so with one yield the third HEAD of a set missed the batch and
    /// cost a round trip of its own. A lone request yields once, as before (each turn costs wstd
    /// a check of its pollables).
    async fn settle() {
        let finished = FINISHED.load(Ordering::Relaxed);
        let mut seen = QUEUED.load(Ordering::Relaxed);
        for _ in 0..MAX_TURNS {
            yield_once().await;
            let now = QUEUED.load(Ordering::Relaxed);
            if now == seen || FINISHED.load(Ordering::Relaxed) != finished {
                return;
            }
            seen = now;
        }
    }

    /// Yields to the executor once (woken at once).
    async fn yield_once() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
    }

    /// Sends by the host; `None` when the response body was over `limit` (not read).
    pub(in super::super) async fn send(
        parts: &http::request::Parts,
        body: &Body,
        limit: u32,
        options: &TransportOptions,
        shown: &str,
    ) -> Option<Result<Response, TransportError>> {
        let url = parts.uri.to_string();
        let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let request = host::Request {
            method: parts.method.as_str().to_owned(),
            url: url.clone(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: match body {
                Body::Bytes(b) => b.to_vec(),
                Body::Empty | Body::Stream(..) => Vec::new(),
            },
            connect_timeout_ms: ms(options.connect_timeout),
            read_timeout_ms: ms(options.read_timeout),
            body_limit: limit,
        };
        let mut exchange = Exchange(Some(host::start(&request)));
        QUEUED.fetch_add(1, Ordering::Relaxed);
        settle().await;
        let Some(answer) = exchange.answer() else {
            return Some(Err(TransportError::Setup(format!(
                "{shown}: the host exchange was already taken"
            ))));
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(host::Error::TooBig) => return None,
            Err(host::Error::Timeout(m)) => {
                return Some(Err(TransportError::Timeout(format!(
                    "{shown}: {} (timed out)",
                    super::super::wasi::redact_words(&m)
                ))));
            }
            Err(host::Error::Connect(m)) => {
                return Some(Err(TransportError::Connect(format!(
                    "{shown}: {}",
                    super::super::wasi::redact_words(&m)
                ))));
            }
        };
        let Ok(status) = StatusCode::from_u16(answer.status) else {
            return Some(Err(TransportError::Connect(format!(
                "{shown}: the host answered with status {}",
                answer.status
            ))));
        };
        let chunk = (!answer.body.is_empty()).then(|| Ok(Bytes::from(answer.body)));
        let stream: BodyStream = Box::pin(futures_util::stream::iter(chunk));
        let mut response = http::Response::new(stream);
        *response.status_mut() = status;
        for (name, value) in answer.headers {
            // Node parsed them: a name or value `http` refuses is not expected; it is left out.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                response.headers_mut().append(n, v);
            }
        }
        response.extensions_mut().insert(FinalUrl(url));
        Some(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const DEFAULT: Setting = Setting::Limit(RESPONSE_LIMIT);

    #[test]
    fn small_requests_go_by_the_host_when_nothing_streams() {
        for method in [Method::GET, Method::HEAD] {
            assert_eq!(
                route(&method, &Body::Empty, 0, DEFAULT),
                Route::Host {
                    limit: RESPONSE_LIMIT,
                    resend: true
                }
            );
        }
        let manifest = Body::Bytes(Bytes::from_static(b"{}"));
        for method in [Method::PUT, Method::POST, Method::DELETE] {
            let body = if method == Method::PUT {
                &manifest
            } else {
                &Body::Empty
            };
            assert_eq!(
                route(&method, body, 0, DEFAULT),
                Route::Host {
                    limit: 4 << 20,
                    resend: false
                }
            );
        }
    }

    #[test]
    fn streams_big_bodies_and_transfers_in_flight_go_by_wasi_http() {
        let stream = Body::Stream(Box::pin(futures_util::stream::empty()), Some(10));
        assert_eq!(route(&Method::PUT, &stream, 0, DEFAULT), Route::Wasi);
        let big = Body::Bytes(Bytes::from(vec![0; REQUEST_LIMIT + 1]));
        assert_eq!(route(&Method::PUT, &big, 0, DEFAULT), Route::Wasi);
        let just = Body::Bytes(Bytes::from(vec![0; REQUEST_LIMIT]));
        assert_ne!(route(&Method::PUT, &just, 0, DEFAULT), Route::Wasi);
        assert_eq!(route(&Method::HEAD, &Body::Empty, 1, DEFAULT), Route::Wasi);
        assert_eq!(
            route(&Method::GET, &Body::Empty, 0, Setting::Off),
            Route::Wasi
        );
    }

    #[test]
    fn the_setting_turns_the_path_off_or_sets_the_limit() {
        assert_eq!(Setting::parse(None), DEFAULT);
        assert_eq!(Setting::parse(Some("off")), Setting::Off);
        assert_eq!(Setting::parse(Some("0")), Setting::Off);
        assert_eq!(Setting::parse(Some(" 64 ")), Setting::Limit(64));
        assert_eq!(Setting::parse(Some("lots")), DEFAULT);
        assert_eq!(
            route(&Method::GET, &Body::Empty, 0, Setting::Limit(64)),
            Route::Host {
                limit: 64,
                resend: true
            }
        );
    }

    #[test]
    fn an_exchange_counts_as_in_flight_until_dropped() {
        let before = InFlight::count();
        let a = InFlight::open();
        let b = InFlight::open();
        assert!(InFlight::count() >= before + 2);
        drop(a);
        drop(b);
        // Other tests run in parallel threads and never open one: back to where it was.
        assert_eq!(InFlight::count(), before);
    }
}
