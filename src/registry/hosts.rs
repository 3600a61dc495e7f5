//! The state of each registry host for one client: its base URL (scheme decided once by
//! [`super::scheme::Connection`]), the authentication challenge its `/v2/` probe sent, the
//! credential for it, the cached token, and whether it refused monolithic uploads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::lock::Mutex as AsyncMutex;

use super::RegistryClient;
use super::challenge::{self, Challenge, Token};
use super::credentials::Credential;
use super::transport::ResponseExt as _;
use crate::error::Result;

/// The state of one registry host for one role.
pub(super) struct Host {
    pub(super) base: String,
    pub(super) challenge: Mutex<Challenge>,
    pub(super) credential: Option<Credential>,
    pub(super) token: AsyncMutex<Option<Token>>,
    /// Set once monolithic PUT was refused: later uploads go straight to PATCH.
    pub(super) prefer_patch: AtomicBool,
}

impl RegistryClient {
    pub(super) async fn host(&self, host: &str) -> Result<Arc<Host>> {
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(host) {
            return Ok(h.clone());
        }
        let credential = self.credentials.lookup(host).await?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        // One attempt: every caller is inside a retry loop (its own request's, or its unit's).
        let (base, probe) = self.connection.resolve_base(host).await.map_err(|e| {
            e.context(format_args!(
                "cannot reach the {} registry {host}",
                self.role
            ))
        })?;
        let challenge = match probe
            .as_ref()
            .filter(|r| r.status() == 401)
            .and_then(|r| r.header("www-authenticate"))
        {
            Some(h) => challenge::parse_challenge(h)?,
            None => Challenge::None,
        };
        let h = Arc::new(Host {
            base,
            challenge: Mutex::new(challenge),
            credential,
            token: AsyncMutex::new(None),
            prefer_patch: AtomicBool::new(false),
        });
        hosts.insert(host.to_owned(), h.clone());
        Ok(h)
    }

    /// The base URL of a host (`http://127.0.0.1:5000`), probing it once.
    ///
    /// # Errors
    /// When the host cannot be reached.
    pub async fn base_url(&self, host: &str) -> Result<String> {
        let host = self.retried("ping", || self.host(host)).await?;
        Ok(host.base.clone())
    }
}
