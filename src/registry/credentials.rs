//! Where credentials come from: explicit options (flags, `INPUT_*`, `IMAGE_PROMOTE_*` env), else
//! docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`): `credHelpers`, `credsStore`, `auths`.
//! Secrets are wrapped in [`Secret`], whose `Debug` and `Display` never show the value.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// A secret string; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that sends it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A username and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: Secret,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Credential {
    /// Parses skopeo's `USER:PASSWORD` form.
    ///
    /// # Errors
    /// An input error naming the flag (never the value).
    pub fn parse_pair(flag: &str, value: &str) -> Result<Self> {
        match value.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Self {
                username: user.to_owned(),
                password: Secret::new(password),
            }),
            _ => Err(Error::input(format!(
                "{flag} must be USER:PASSWORD (the value given has no user part)"
            ))),
        }
    }
}

/// Where credentials for a registry come from.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    /// Explicit credentials, used for every host of this role.
    pub explicit: Option<Credential>,
    /// The docker config directory (default `$DOCKER_CONFIG` or `~/.docker`); `None` disables it.
    pub docker_config_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// The default docker config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
#[must_use]
pub fn default_docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker"))
}

fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == crate::reference::DOCKER_HUB {
        keys.insert(0, "https://index.docker.io/v1/".to_owned());
        keys.push("index.docker.io".to_owned());
        keys.push("registry-1.docker.io".to_owned());
    }
    keys
}

impl CredentialSource {
    /// Finds credentials for `host` (as written in the reference, e.g. `ghcr.io`, `docker.io`).
    ///
    /// # Errors
    /// DOCKER errors for an unreadable or malformed `config.json` or a failing helper.
    pub async fn lookup(&self, host: &str) -> Result<Option<Credential>> {
        if let Some(c) = &self.explicit {
            return Ok(Some(c.clone()));
        }
        let Some(dir) = &self.docker_config_dir else {
            return Ok(None);
        };
        let path = dir.join("config.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(
                    Error::docker(format!("cannot read {}: {e}", path.display())).hint(
                        "fix the file's permissions or point DOCKER_CONFIG at another directory",
                    ),
                );
            }
        };
        match parse_docker_config(&bytes, &path, host)? {
            DockerConfigAnswer::Helper(helper) => run_helper(&helper, host).await,
            DockerConfigAnswer::Credential(c) => Ok(Some(c)),
            DockerConfigAnswer::Nothing => Ok(None),
        }
    }
}

/// What a docker `config.json` says about one registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerConfigAnswer {
    /// Ask `docker-credential-<helper> get` (from `credHelpers`, else `credsStore`).
    Helper(String),
    /// A credential stored in `auths`.
    Credential(Credential),
    /// Nothing for this host.
    Nothing,
}

/// Parses the bytes of a docker `config.json` (read from `path`, named in errors) and finds what
/// it holds for `host`: a `credHelpers` entry wins, then `auths`, then `credsStore`. Runs nothing.
///
/// # Errors
/// DOCKER errors for malformed JSON or a malformed `auths` entry; never echoes a secret.
pub fn parse_docker_config(bytes: &[u8], path: &Path, host: &str) -> Result<DockerConfigAnswer> {
    let config: DockerConfig = serde_json::from_slice(bytes).map_err(|e| {
        // serde quotes a misplaced string value, which may be a secret: say where, not what.
        let why = if e.is_data() {
            format!(
                "a field is malformed at line {} column {} (the value is not shown: it may be a secret)",
                e.line(),
                e.column()
            )
        } else {
            e.to_string()
        };
        Error::docker(format!(
            "{} is not valid docker config JSON: {why}",
            path.display()
        ))
        .hint("repair the file (e.g. run `docker login` again) or point DOCKER_CONFIG elsewhere")
    })?;
    let keys = keys_for(host);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return Ok(DockerConfigAnswer::Helper(helper.clone()));
    }
    for key in &keys {
        if let Some(entry) = config.auths.get(key) {
            if let Some(c) = entry_credential(entry, path, key)? {
                return Ok(DockerConfigAnswer::Credential(c));
            }
        }
    }
    if let Some(store) = config.creds_store.filter(|s| !s.is_empty()) {
        return Ok(DockerConfigAnswer::Helper(store));
    }
    Ok(DockerConfigAnswer::Nothing)
}

fn entry_credential(entry: &AuthEntry, path: &Path, key: &str) -> Result<Option<Credential>> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::docker(format!(
                    "{}: auths[\"{key}\"].auth is not base64 of USER:PASSWORD",
                    path.display()
                ))
                .hint("run `docker login` again to rewrite the entry")
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            Error::docker(format!(
                "{}: auths[\"{key}\"].auth does not hold USER:PASSWORD",
                path.display()
            ))
        })?;
        return Ok(Some(Credential {
            username: user.to_owned(),
            password: Secret::new(password),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credential {
            username: u.clone(),
            password: Secret::new(p.clone()),
        }));
    }
    if let Some(token) = &entry.identitytoken {
        return Ok(Some(Credential {
            username: "<token>".to_owned(),
            password: Secret::new(token.clone()),
        }));
    }
    Ok(None)
}

#[cfg(not(target_family = "wasm"))]
async fn run_program(program: &str, host: &str) -> std::io::Result<(bool, Vec<u8>, Vec<u8>)> {
    crate::native::process::run_with_stdin(program, &["get"], host.as_bytes()).await
}

/// The wasm build runs no subprocess (WASI has none): the Node action's wrapper runs the helpers
/// first (`action-js/credentials.mjs`) and leaves in the config only those that failed.
#[cfg(target_family = "wasm")]
async fn run_program(_program: &str, _host: &str) -> std::io::Result<(bool, Vec<u8>, Vec<u8>)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the Node action runs credential helpers before the promotion starts, and this one failed or is not installed (see the warning above)",
    ))
}

async fn run_helper(helper: &str, host: &str) -> Result<Option<Credential>> {
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::docker(format!(
            "credential helper name `{}` is not valid",
            crate::reference::shorten(helper)
        )));
    }
    let program = format!("docker-credential-{helper}");
    let output = run_program(&program, host)
        .await
        .map_err(|e| {
            Error::docker(format!("cannot run {program}: {e}"))
                .hint(format!("install {program} on PATH, or remove it from config.json, or pass credentials explicitly"))
        })?;
    if !output.0 {
        let stderr = String::from_utf8_lossy(&output.2);
        let stdout = String::from_utf8_lossy(&output.1);
        let said = format!("{} {}", stdout.trim(), stderr.trim());
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::docker(format!(
            "{program} get failed for {host}: {}",
            crate::reference::shorten(said.trim())
        ))
        .hint(format!(
            "run `echo {host} | {program} get` to see why, or pass credentials explicitly"
        )));
    }
    let reply: HelperReply = serde_json::from_slice(&output.1).map_err(|_| {
        Error::docker(format!(
            "{program} get returned something that is not {{\"Username\",\"Secret\"}} JSON"
        ))
    })?;
    Ok(Some(Credential {
        username: reply.username,
        password: Secret::new(reply.secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_with(config: &str) -> (tempfile::TempDir, CredentialSource) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let src = CredentialSource {
            explicit: None,
            docker_config_dir: Some(dir.path().to_owned()),
        };
        (dir, src)
    }

    #[tokio::test]
    async fn reads_auths() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
        let (_d, src) = source_with(&format!(
            r#"{{"auths":{{"127.0.0.1:5002":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"bob","password":"pw"}}}}}}"#
        ));
        let c = src.lookup("127.0.0.1:5002").await.unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "s3cret-pw");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            src.lookup("docker.io").await.unwrap().unwrap().username,
            "bob"
        );
        assert!(src.lookup("ghcr.io").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn malformed_config_is_docker_error() {
        let (_d, src) = source_with("{\"auths\": ");
        let e = src.lookup("x.io").await.unwrap_err();
        assert_eq!(e.category, crate::error::Category::Docker);
        let (_d, src) = source_with(r#"{"auths":{"x.io":{"auth":"!!!"}}}"#);
        let e = src.lookup("x.io").await.unwrap_err();
        assert!(e.message.contains("base64"), "{}", e.message);
    }

    #[tokio::test]
    async fn missing_helper_is_docker_error() {
        let (_d, src) = source_with(r#"{"credHelpers":{"x.io":"nonexistent-helper-zz"}}"#);
        let e = src.lookup("x.io").await.unwrap_err();
        assert_eq!(e.category, crate::error::Category::Docker);
        assert!(
            e.message
                .contains("docker-credential-nonexistent-helper-zz")
        );
    }

    #[test]
    fn pair_parsing_never_echoes_secret() {
        let e = Credential::parse_pair("--dest-creds", "nocolonsecret").unwrap_err();
        assert!(!e.message.contains("nocolonsecret"));
        let c = Credential::parse_pair("--dest-creds", "u:p:q").unwrap();
        assert_eq!(c.password.expose(), "p:q");
    }
}
