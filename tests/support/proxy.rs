//! A fault-injecting HTTP/1.1 reverse proxy for tests: forwards every request to a
//! plain-HTTP upstream (a local registry), streaming bodies both ways, and applies
//! [`Fault`]s to chosen requests according to [`Rule`]s that can be changed at run time.
//!
//! Each client connection gets its own upstream connection (keep-alive on both sides).
//! The client's `Host` header is forwarded unchanged and `Location` headers that point at
//! the upstream are rewritten to point at the proxy.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::http1::{
    BodyFault, Framing, Head, Reader, RelayEnd, relay_body, request_framing, response_framing,
};

/// What to do to a matched request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, headers and body instead of forwarding (the upstream never
    /// sees the request). `Content-Length` is added unless given.
    Status(u16, Vec<(String, String)>, Vec<u8>),
    /// Forward the request, then close the client connection with a TCP RST
    /// (`SO_LINGER` 0) instead of sending the response head.
    ResetBeforeHeaders,
    /// Requests with a body: forward `after_bytes` of the request body, then RST the client
    /// connection (the upstream connection is dropped too). Requests without a body:
    /// forward the response head and `after_bytes` of the response body, then RST.
    ResetMidBody {
        /// Body bytes forwarded before the reset.
        after_bytes: u64,
    },
    /// Forward the response head (with the upstream `Content-Length`) and only
    /// `after_bytes` of the body, then close cleanly (FIN).
    Truncate {
        /// Body bytes sent before the close.
        after_bytes: u64,
    },
    /// Forward `after_bytes` of the response body, pause for `duration`, then continue.
    Stall {
        /// Body bytes sent before the pause.
        after_bytes: u64,
        /// Length of the pause.
        duration: Duration,
    },
    /// Flip all bits of response body byte `at_byte` (same length).
    CorruptBody {
        /// 0-based offset of the flipped byte.
        at_byte: u64,
    },
}

impl Fault {
    /// A bare status answer with an empty body.
    pub fn status(code: u16) -> Fault {
        Fault::Status(code, Vec::new(), Vec::new())
    }

    /// A status answer with a `Retry-After` header (seconds, or an HTTP-date).
    pub fn retry_after(code: u16, value: impl Into<String>) -> Fault {
        Fault::Status(code, vec![("Retry-After".into(), value.into())], Vec::new())
    }

    /// `429` with `Retry-After` as an HTTP-date `secs` seconds from now.
    pub fn retry_after_date(code: u16, secs: u64) -> Fault {
        let when = std::time::SystemTime::now() + Duration::from_secs(secs);
        Fault::retry_after(code, httpdate::fmt_http_date(when))
    }

    /// A status answer with a distribution-style error body, e.g.
    /// `oci_error(403, "DENIED", "requested access to the resource is denied")`.
    pub fn oci_error(code: u16, error_code: &str, message: &str) -> Fault {
        let body = serde_json::json!({"errors": [{"code": error_code, "message": message, "detail": null}]});
        Fault::Status(
            code,
            vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body.to_string().into_bytes(),
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(code, ..) => write!(f, "status {code}"),
            Fault::ResetBeforeHeaders => write!(f, "reset-before-headers"),
            Fault::ResetMidBody { after_bytes } => write!(f, "reset-mid-body@{after_bytes}"),
            Fault::Truncate { after_bytes } => write!(f, "truncate@{after_bytes}"),
            Fault::Stall {
                after_bytes,
                duration,
            } => write!(f, "stall@{after_bytes}+{duration:?}"),
            Fault::CorruptBody { at_byte } => write!(f, "corrupt@{at_byte}"),
        }
    }
}

/// When to apply a [`Fault`]. Every rule matching a request counts it; the first rule
/// whose window (`skip` passed, fewer than `times` applied) covers that count wins.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Only requests with this method (`None`: any).
    pub method: Option<Method>,
    /// Only requests whose path-and-query contains this (`""`: any).
    pub path_contains: String,
    /// Let the first `skip` matching requests through untouched.
    pub skip: usize,
    /// Then apply the fault to the next `times` matching requests (`usize::MAX`: all).
    pub times: usize,
    /// The fault.
    pub action: Fault,
}

impl Rule {
    /// A rule applying `action` once to the first request whose path contains `path_contains`.
    pub fn new(path_contains: &str, action: Fault) -> Rule {
        Rule {
            method: None,
            path_contains: path_contains.to_string(),
            skip: 0,
            times: 1,
            action,
        }
    }

    /// Restricts the rule to one method.
    pub fn method(mut self, method: Method) -> Rule {
        self.method = Some(method);
        self
    }

    /// Sets `skip`.
    pub fn skip(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// Sets `times`.
    pub fn times(mut self, n: usize) -> Rule {
        self.times = n;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.as_str().eq_ignore_ascii_case(method))
            && target.contains(&self.path_contains)
    }
}

/// One request seen by the proxy. It is recorded before the client can observe any part of
/// the response, so a test that got an answer (or an error) always finds the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Request method.
    pub method: String,
    /// Request target as sent by the client.
    pub path_and_query: String,
    /// Status sent to the client; `None` when the connection was reset before a head.
    pub status: Option<u16>,
    /// Status the upstream answered; `None` for [`Fault::Status`] and cut uploads.
    pub upstream_status: Option<u16>,
    /// The applied fault, as text (e.g. `"status 503"`, `"truncate@1024"`).
    pub fault: Option<String>,
}

struct Shared {
    upstream: String,
    addr: String,
    rules: Mutex<Vec<(Rule, usize)>>,
    records: Mutex<Vec<RequestRecord>>,
    connections: AtomicUsize,
}

impl Shared {
    fn pick(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let mut chosen = None;
        for (rule, seen) in rules.iter_mut() {
            if !rule.matches(method, target) {
                continue;
            }
            let n = *seen;
            *seen += 1;
            if chosen.is_none() && n >= rule.skip && n - rule.skip < rule.times {
                chosen = Some(rule.action.clone());
            }
        }
        chosen
    }

    fn record(&self, rec: RequestRecord) {
        lock(&self.records).push(rec);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The proxy; it stops (closing every connection) when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Binds `127.0.0.1:0` and forwards to `upstream` (`"127.0.0.1:5000"`).
    pub async fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let addr = listener.local_addr().expect("proxy local addr").to_string();
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            addr,
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            records: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy { shared, task }
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        self.shared.addr.clone()
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Every request so far, in the order the proxy decided on them.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.records).clone()
    }

    /// Requests with `method` (`"*"`: any) whose path-and-query contains `path_substring`.
    pub fn count(&self, method: &str, path_substring: &str) -> usize {
        lock(&self.shared.records)
            .iter()
            .filter(|r| {
                (method == "*" || r.method.eq_ignore_ascii_case(method))
                    && r.path_and_query.contains(path_substring)
            })
            .count()
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> Vec<RequestRecord> {
        lock(&self.shared.records)
            .iter()
            .filter(|r| r.fault.is_some())
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.records).clear();
    }

    /// Replaces the rules (their counters start from zero).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *lock(&self.shared.rules) = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Client connections accepted so far (keep-alive reuse keeps this low).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                conns.spawn(handle_conn(shared.clone(), stream));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

struct Side {
    r: Reader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Side {
    fn new(stream: TcpStream) -> Side {
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        Side {
            r: Reader::new(r),
            w,
        }
    }

    /// True when the peer has not closed the connection and sent nothing unexpected.
    fn looks_alive(&self) -> bool {
        let mut probe = [0u8; 1];
        self.r.buffered() == 0
            && matches!(self.r.get_ref().try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Closes with RST: `SO_LINGER` 0, then close.
    fn reset(self) {
        if let Ok(stream) = self.r.into_inner().reunite(self.w) {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }

    /// Closes cleanly: FIN after everything written.
    async fn close(mut self) {
        let _ = self.w.shutdown().await;
    }
}

/// What to do with the client connection after one exchange.
enum Next {
    KeepAlive,
    Close,
    Reset,
}

async fn handle_conn(shared: Arc<Shared>, stream: TcpStream) {
    let mut client = Side::new(stream);
    let mut upstream: Option<Side> = None;
    loop {
        let raw = match client.r.read_head().await {
            Ok(Some(raw)) => raw,
            _ => return,
        };
        let Ok(req) = Head::parse(&raw) else { return };
        match exchange(&shared, &mut client, &mut upstream, req).await {
            Ok(Next::KeepAlive) => {}
            Ok(Next::Close) => return client.close().await,
            Ok(Next::Reset) => return client.reset(),
            Err(_) => return,
        }
    }
}

/// Result of the concurrent request-body / response part of an exchange.
enum Outcome {
    /// The request body relay was cut by the fault: reset the client.
    RequestCut,
    /// The response was handled; `keep` tells whether both connections stay usable.
    Response { next: Next, keep: bool },
}

async fn exchange(
    shared: &Shared,
    client: &mut Side,
    upstream: &mut Option<Side>,
    req: Head,
) -> io::Result<Next> {
    let method = req.method().to_string();
    let target = req.target().to_string();
    let fault = shared.pick(&method, &target);
    let fault_text = fault.as_ref().map(|f| f.to_string());
    let req_framing = request_framing(&req)?;
    let client_close = req.wants_close();

    if let Some(Fault::Status(code, headers, body)) = &fault {
        let expect_continue = req.has_token("expect", "100-continue");
        if !expect_continue {
            relay_body(
                &mut client.r,
                &mut tokio::io::sink(),
                &req_framing,
                &BodyFault::None,
            )
            .await?;
        }
        let close = expect_continue || client_close;
        let mut head = Head::response(*code);
        for (n, v) in headers {
            head.push(n, v.clone());
        }
        if head.get("content-length").is_none() {
            head.push("Content-Length", body.len().to_string());
        }
        if close {
            head.push("Connection", "close");
        }
        shared.record(RequestRecord {
            method: method.clone(),
            path_and_query: target,
            status: Some(*code),
            upstream_status: None,
            fault: fault_text,
        });
        client.w.write_all(&head.to_bytes()).await?;
        if !method.eq_ignore_ascii_case("HEAD") {
            client.w.write_all(body).await?;
        }
        return Ok(if close { Next::Close } else { Next::KeepAlive });
    }

    // Which body the fault applies to.
    let (req_fault, resp_fault) = match &fault {
        Some(Fault::ResetMidBody { after_bytes }) if req_framing != Framing::None => (
            BodyFault::Cut {
                after: *after_bytes,
            },
            BodyFault::None,
        ),
        Some(Fault::ResetMidBody { after_bytes } | Fault::Truncate { after_bytes }) => (
            BodyFault::None,
            BodyFault::Cut {
                after: *after_bytes,
            },
        ),
        Some(Fault::Stall {
            after_bytes,
            duration,
        }) => (
            BodyFault::None,
            BodyFault::Stall {
                after: *after_bytes,
                duration: *duration,
            },
        ),
        Some(Fault::CorruptBody { at_byte }) => {
            (BodyFault::None, BodyFault::Corrupt { at: *at_byte })
        }
        _ => (BodyFault::None, BodyFault::None),
    };
    let reset_on_cut = matches!(fault, Some(Fault::ResetMidBody { .. }));

    // Upstream connection: reuse if still alive, else (re)connect.
    if upstream.as_ref().is_some_and(|u| !u.looks_alive()) {
        *upstream = None;
    }
    if upstream.is_none() {
        match TcpStream::connect(&shared.upstream).await {
            Ok(s) => *upstream = Some(Side::new(s)),
            Err(e) => {
                shared.record(RequestRecord {
                    method,
                    path_and_query: target,
                    status: Some(502),
                    upstream_status: None,
                    fault: fault_text,
                });
                let body = format!("upstream {} unreachable: {e}", shared.upstream);
                let mut head = Head::response(502);
                head.push("Content-Length", body.len().to_string());
                head.push("Connection", "close");
                client.w.write_all(&head.to_bytes()).await?;
                client.w.write_all(body.as_bytes()).await?;
                return Ok(Next::Close);
            }
        }
    }
    let Some(up) = upstream.as_mut() else {
        return Err(io::ErrorKind::NotConnected.into());
    };
    up.w.write_all(&req.to_bytes()).await?;

    let recorded = std::sync::atomic::AtomicBool::new(false);
    let record = |status: Option<u16>, upstream_status: Option<u16>| {
        if !recorded.swap(true, Ordering::SeqCst) {
            shared.record(RequestRecord {
                method: method.clone(),
                path_and_query: target.clone(),
                status,
                upstream_status,
                fault: fault_text.clone(),
            });
        }
    };

    let outcome: io::Result<Outcome> = {
        let (cr, cw) = (&mut client.r, &mut client.w);
        let (ur, uw) = (&mut up.r, &mut up.w);
        let req_fut = relay_body(cr, uw, &req_framing, &req_fault);
        let resp_fut = async {
            let (raw_head, status) = loop {
                let raw = ur.read_head().await?.ok_or(io::ErrorKind::UnexpectedEof)?;
                let head = Head::parse(&raw)?;
                let status = head.status()?;
                if (100..200).contains(&status) && status != 101 {
                    cw.write_all(&raw).await?; // 100 Continue and friends
                    continue;
                }
                break (head, status);
            };
            if matches!(fault, Some(Fault::ResetBeforeHeaders)) {
                record(None, Some(status));
                return Ok((Next::Reset, false, true));
            }
            let mut head = raw_head;
            let upstream_prefix = format!("http://{}", shared.upstream);
            for (name, value) in head.headers.iter_mut() {
                if name.eq_ignore_ascii_case("location") && value.starts_with(&upstream_prefix) {
                    *value = format!("http://{}{}", shared.addr, &value[upstream_prefix.len()..]);
                }
            }
            let framing = response_framing(&method, &head)?;
            record(Some(status), Some(status));
            cw.write_all(&head.to_bytes()).await?;
            let end = relay_body(ur, cw, &framing, &resp_fault).await?;
            if end == RelayEnd::Cut {
                let next = if reset_on_cut {
                    Next::Reset
                } else {
                    Next::Close
                };
                return Ok((next, false, true));
            }
            let keep = framing != Framing::UntilClose && !head.wants_close() && !client_close;
            Ok((
                if keep { Next::KeepAlive } else { Next::Close },
                keep,
                false,
            ))
        };
        tokio::pin!(req_fut, resp_fut);
        let mut req_done = false;
        loop {
            tokio::select! {
                r = &mut req_fut, if !req_done => {
                    req_done = true;
                    match r {
                        Ok(RelayEnd::Complete) => {}
                        Ok(RelayEnd::Cut) => break Ok(Outcome::RequestCut),
                        Err(e) => break Err(e),
                    }
                }
                r = &mut resp_fut => {
                    break r.map(|(next, keep, faulted)| {
                        if req_done || faulted {
                            Outcome::Response { next, keep }
                        } else {
                            // The upstream answered before the request body was fully sent:
                            // the connections are out of step, close both.
                            Outcome::Response { next: Next::Close, keep: false }
                        }
                    });
                }
            }
        }
    };
    match outcome {
        Ok(Outcome::RequestCut) => {
            record(None, None);
            *upstream = None;
            Ok(Next::Reset)
        }
        Ok(Outcome::Response { next, keep }) => {
            if !keep {
                *upstream = None;
            }
            Ok(next)
        }
        Err(e) => {
            *upstream = None;
            Err(e)
        }
    }
}
