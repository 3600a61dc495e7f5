//! A registry behind Docker token auth, for tests: an in-process token server
//! (`GET /token?service=..&scope=..` with HTTP Basic, or the OAuth2 password grant
//! `POST /token`) issuing ES256 JWTs, plus a real `docker-registry` (distribution 2.8)
//! process on 127.0.0.1 with its own temporary storage, configured with
//! `auth: token: {realm, service, issuer, rootcertbundle}`.
//!
//! distribution adds a 60 s leeway to `exp`, so tokens are minted with
//! `exp = iat + ttl − 60`: the registry then stops accepting a token `ttl` seconds after
//! it was issued, which is what [`TokenRegistry::set_token_ttl`] controls.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::http1::{Head, Reader, request_framing};
pub use super::jwt::KeyRef;
use super::jwt::SigningKey;
use super::oci::{self, TestImage};

/// `service` (JWT audience) configured in the registry.
pub const SERVICE: &str = "token-registry";
/// JWT issuer configured in the registry.
pub const ISSUER: &str = "image-promote-test";
/// distribution's clock-skew leeway on `exp`/`nbf`.
const LEEWAY_SECS: u64 = 60;

/// A user of the token server; `actions` are granted on every repository
/// (`"pull"`, `"push"`, `"delete"`, or `"*"` for everything including `registry:catalog:*`).
#[derive(Clone, Debug)]
pub struct TokenUser {
    /// Basic-auth user name.
    pub username: String,
    /// Basic-auth password.
    pub password: String,
    /// Actions granted.
    pub actions: Vec<String>,
}

impl TokenUser {
    /// Builds a user.
    pub fn new(username: &str, password: &str, actions: &[&str]) -> TokenUser {
        TokenUser {
            username: username.into(),
            password: password.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// Configuration of a [`TokenRegistry`].
#[derive(Clone, Debug)]
pub struct TokenRegistryOptions {
    /// Known users. Default: `alice`/`alice-secret` (pull, push, delete) and
    /// `reader`/`reader-secret` (pull).
    pub users: Vec<TokenUser>,
    /// Requests without credentials: `None` → 401 from the token server (default);
    /// `Some(actions)` → a token granting those actions (`Some(vec![])`: a token with no access).
    pub anonymous: Option<Vec<String>>,
    /// How tokens name their signing key. Default [`KeyRef::X5c`].
    pub key_ref: KeyRef,
    /// Token lifetime. Default 300 s.
    pub token_ttl: Duration,
}

impl Default for TokenRegistryOptions {
    fn default() -> Self {
        TokenRegistryOptions {
            users: vec![
                TokenUser::new("alice", "alice-secret", &["pull", "push", "delete"]),
                TokenUser::new("reader", "reader-secret", &["pull"]),
            ],
            anonymous: None,
            key_ref: KeyRef::X5c,
            token_ttl: Duration::from_secs(300),
        }
    }
}

/// One request to the token server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// `GET` or `POST`.
    pub method: String,
    /// Authenticated user (`None`: anonymous or rejected).
    pub user: Option<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Granted scopes (`repository:app/x:pull,push`).
    pub granted: Vec<String>,
    /// Status answered.
    pub status: u16,
}

struct TokenState {
    users: Vec<TokenUser>,
    anonymous: Option<Vec<String>>,
    key_ref: KeyRef,
    key: Mutex<Arc<SigningKey>>,
    ttl_secs: AtomicU64,
    requests: AtomicUsize,
    issued: AtomicUsize,
    fail_next: Mutex<(usize, u16)>,
    log: Mutex<Vec<TokenRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The token server plus the registry process. Dropping it stops both and deletes storage.
pub struct TokenRegistry {
    state: Arc<TokenState>,
    token_addr: String,
    registry_port: u16,
    server: JoinHandle<()>,
    child: Mutex<Option<Child>>,
    dir: tempfile::TempDir,
}

impl TokenRegistry {
    /// Starts with [`TokenRegistryOptions::default`].
    pub async fn start_default() -> TokenRegistry {
        TokenRegistry::start(TokenRegistryOptions::default()).await
    }

    /// Starts the token server and the registry, and waits until `/v2/` answers 401 with a
    /// `Bearer` challenge.
    pub async fn start(opts: TokenRegistryOptions) -> TokenRegistry {
        let dir = tempfile::Builder::new()
            .prefix("token-registry-")
            .tempdir()
            .expect("create temp dir");
        let key = SigningKey::generate(dir.path(), "token");
        std::fs::write(dir.path().join("rootcerts.pem"), key.cert_pem())
            .expect("write rootcertbundle");
        let state = Arc::new(TokenState {
            users: opts.users,
            anonymous: opts.anonymous,
            key_ref: opts.key_ref,
            key: Mutex::new(Arc::new(key)),
            ttl_secs: AtomicU64::new(opts.token_ttl.as_secs().max(1)),
            requests: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
            fail_next: Mutex::new((0, 503)),
            log: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind token server");
        let token_addr = listener
            .local_addr()
            .expect("token server addr")
            .to_string();
        let server = tokio::spawn(serve_tokens(listener, state.clone()));
        let mut reg = TokenRegistry {
            state,
            token_addr,
            registry_port: 0,
            server,
            child: Mutex::new(None),
            dir,
        };
        let mut last_err = String::new();
        for _ in 0..5 {
            reg.registry_port = free_port();
            match reg.spawn_registry().await {
                Ok(()) => return reg,
                Err(e) => {
                    last_err = e.to_string();
                    reg.kill_registry();
                }
            }
        }
        panic!("docker-registry did not start: {last_err}\n{}", reg.log());
    }

    /// `"127.0.0.1:PORT"` of the registry.
    pub fn registry_addr(&self) -> String {
        format!("127.0.0.1:{}", self.registry_port)
    }

    /// `"127.0.0.1:PORT"` of the token server.
    pub fn token_addr(&self) -> String {
        self.token_addr.clone()
    }

    /// The realm URL advertised by the registry.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.token_addr)
    }

    /// Requests the token server received (including refused ones).
    pub fn token_requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Tokens issued.
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Every token request so far.
    pub fn token_log(&self) -> Vec<TokenRecord> {
        lock(&self.state.log).clone()
    }

    /// Lifetime of tokens issued from now on (whole seconds, at least 1): the registry
    /// rejects them with 401 `invalid_token` once it has passed.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state
            .ttl_secs
            .store(ttl.as_secs().max(1), Ordering::SeqCst);
    }

    /// The next `n` token requests get `status` (e.g. 503) instead of a token.
    pub fn fail_next_token_requests(&self, n: usize, status: u16) {
        *lock(&self.state.fail_next) = (n, status);
    }

    /// Revokes every token issued so far: generates a new signing key and restarts the
    /// registry (same port, same storage) trusting only the new one.
    pub async fn rotate_signing_key(&self) {
        let key = SigningKey::generate(self.dir.path(), "token");
        std::fs::write(self.dir.path().join("rootcerts.pem"), key.cert_pem())
            .expect("write rootcertbundle");
        *lock(&self.state.key) = Arc::new(key);
        self.kill_registry();
        if let Err(e) = self.spawn_registry().await {
            panic!("docker-registry did not restart: {e}\n{}", self.log());
        }
    }

    /// Mints a token directly (not counted as a token request).
    /// `access` = `[("app/x", &["pull", "push"])]`.
    pub fn issue_token(&self, subject: &str, access: &[(&str, &[&str])]) -> String {
        let access: Vec<serde_json::Value> = access
            .iter()
            .map(|(name, actions)| serde_json::json!({"type": "repository", "name": name, "actions": actions}))
            .collect();
        self.state.mint(subject, SERVICE, access).0
    }

    /// Fetches a token from the token server like a client would (GET with Basic auth).
    pub async fn fetch_token(
        &self,
        creds: Option<(&str, &str)>,
        scopes: &[&str],
    ) -> Result<String> {
        let mut query: Vec<(&str, &str)> = vec![("service", SERVICE)];
        query.extend(scopes.iter().map(|s| ("scope", *s)));
        let mut rb = oci::client().get(format!("{}?{}", self.realm(), oci::form_encode(&query)));
        if let Some((u, p)) = creds {
            rb = rb.basic_auth(u, Some(p));
        }
        let resp = rb.send().await?;
        let status = resp.status();
        let body = oci::json(resp).await.unwrap_or_default();
        if !status.is_success() {
            bail!("token server answered {status}: {body}");
        }
        match body["token"].as_str() {
            Some(t) => Ok(t.to_string()),
            None => bail!("token response without token: {body}"),
        }
    }

    /// Pushes [`oci::test_image`] as `repo:tag` with a directly minted push token.
    pub async fn push_test_image(&self, repo: &str, tag: &str) -> Result<TestImage> {
        let token = self.issue_token("test-setup", &[(repo, &["pull", "push"])]);
        oci::push_test_image(
            &oci::client(),
            &self.registry_addr(),
            repo,
            tag,
            Some(&token),
        )
        .await
    }

    /// The registry's log so far (useful when a test fails).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    async fn spawn_registry(&self) -> Result<()> {
        let dir = self.dir.path();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
             cache:\n    blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: token-registry-test-secret\n\
             auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
             rootcertbundle: {certs}\n",
            data = dir.join("data").display(),
            port = self.registry_port,
            realm = self.realm(),
            certs = dir.join("rootcerts.pem").display(),
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        *lock(&self.child) = Some(cmd.spawn()?);

        let client = oci::client();
        let url = format!("http://{}/v2/", self.registry_addr());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(Ok(Some(status))) = lock(&self.child).as_mut().map(|c| c.try_wait()) {
                bail!("docker-registry exited during startup: {status}");
            }
            if let Ok(resp) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if resp.status() == reqwest::StatusCode::UNAUTHORIZED
                    && challenge.starts_with("Bearer ")
                {
                    return Ok(());
                }
                bail!(
                    "unexpected answer from {url}: {} {challenge:?}",
                    resp.status()
                );
            }
            if Instant::now() > deadline {
                bail!("docker-registry not ready on {url} after 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill_registry(&self) {
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.server.abort();
        self.kill_registry();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

impl TokenState {
    /// Returns (token, expires_in).
    fn mint(&self, subject: &str, audience: &str, access: Vec<serde_json::Value>) -> (String, u64) {
        let ttl = self.ttl_secs.load(Ordering::SeqCst);
        let iat = now_secs();
        let exp = (iat + ttl) as i64 - LEEWAY_SECS as i64;
        let jti = format!(
            "{iat}-{}",
            self.issued.load(Ordering::SeqCst) + self.requests.load(Ordering::SeqCst)
        );
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": audience,
            "exp": exp, "nbf": iat, "iat": iat, "jti": jti,
            "access": access,
        });
        let key = lock(&self.key).clone();
        (key.sign(&claims, self.key_ref), ttl)
    }

    /// Handles one HTTP request; returns (status, extra headers, JSON body).
    fn handle(&self, head: &Head, body: &[u8]) -> (u16, Vec<(String, String)>, serde_json::Value) {
        let method = head.method().to_string();
        let (path, query) = head.target().split_once('?').unwrap_or((head.target(), ""));
        if path != "/token" {
            return (404, vec![], serde_json::json!({"details": "not found"}));
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut params = parse_form(query);
        if method == "POST" {
            params.extend(parse_form(&String::from_utf8_lossy(body)));
        }
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let scopes: Vec<String> = params
            .iter()
            .filter(|(n, _)| n == "scope")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let mut record = TokenRecord {
            method: method.clone(),
            user: None,
            scopes: scopes.clone(),
            granted: vec![],
            status: 200,
        };
        let reply = |record: &mut TokenRecord,
                     status: u16,
                     headers: Vec<(String, String)>,
                     body: serde_json::Value| {
            record.status = status;
            lock(&self.log).push(record.clone());
            (status, headers, body)
        };

        {
            let mut fail = lock(&self.fail_next);
            if fail.0 > 0 {
                fail.0 -= 1;
                let status = fail.1;
                drop(fail);
                return reply(
                    &mut record,
                    status,
                    vec![],
                    serde_json::json!({"details": "injected failure"}),
                );
            }
        }

        // Credentials: Basic header, or the OAuth2 password grant.
        let mut creds = head.get("authorization").and_then(parse_basic);
        if method == "POST" {
            match get("grant_type").as_deref() {
                Some("password") => {
                    creds = Some((
                        get("username").unwrap_or_default(),
                        get("password").unwrap_or_default(),
                    ))
                }
                _ => {
                    return reply(
                        &mut record,
                        400,
                        vec![],
                        serde_json::json!({"error": "unsupported_grant_type"}),
                    );
                }
            }
        }
        let allowed: Vec<String> = match creds {
            Some((user, pass)) => match self
                .users
                .iter()
                .find(|u| u.username == user && u.password == pass)
            {
                Some(u) => {
                    record.user = Some(u.username.clone());
                    u.actions.clone()
                }
                None => {
                    let h = vec![(
                        "WWW-Authenticate".to_string(),
                        "Basic realm=\"token\"".to_string(),
                    )];
                    return reply(
                        &mut record,
                        401,
                        h,
                        serde_json::json!({"details": "incorrect username or password"}),
                    );
                }
            },
            None => match &self.anonymous {
                Some(actions) => actions.clone(),
                None => {
                    let h = vec![(
                        "WWW-Authenticate".to_string(),
                        "Basic realm=\"token\"".to_string(),
                    )];
                    return reply(
                        &mut record,
                        401,
                        h,
                        serde_json::json!({"details": "authentication required"}),
                    );
                }
            },
        };

        let mut access = Vec::new();
        for scope in &scopes {
            let Some((typ, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let all = allowed.iter().any(|a| a == "*");
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|a| all || (typ == "repository" && allowed.iter().any(|x| x == a)))
                .collect();
            if !granted.is_empty() {
                record
                    .granted
                    .push(format!("{typ}:{name}:{}", granted.join(",")));
                access.push(serde_json::json!({"type": typ, "name": name, "actions": granted}));
            }
        }
        let audience = get("service").unwrap_or_else(|| SERVICE.to_string());
        let subject = record.user.clone().unwrap_or_default();
        let (token, ttl) = self.mint(&subject, &audience, access);
        self.issued.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": rfc3339(now_secs()),
        });
        reply(&mut record, 200, vec![], body)
    }
}

async fn serve_tokens(listener: TcpListener, state: Arc<TokenState>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    conns.spawn(serve_conn(state.clone(), stream));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(state: Arc<TokenState>, stream: TcpStream) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = Reader::new(r);
    while let Some(raw) = r.read_head().await? {
        let head = Head::parse(&raw)?;
        let body = r.read_small_body(&request_framing(&head)?, 1 << 20).await?;
        let (status, headers, json) = state.handle(&head, &body);
        let json = json.to_string();
        let mut resp = Head::response(status);
        for (n, v) in headers {
            resp.push(&n, v);
        }
        resp.push("Content-Type", "application/json");
        resp.push("Content-Length", json.len().to_string());
        let close = head.wants_close();
        if close {
            resp.push("Connection", "close");
        }
        w.write_all(&resp.to_bytes()).await?;
        if head.method() != "HEAD" {
            w.write_all(json.as_bytes()).await?;
        }
        if close {
            break;
        }
    }
    w.shutdown().await
}

fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Parses `a=b&c=d` with percent-decoding and `+` as space.
fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
