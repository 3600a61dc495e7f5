//! Notifications of a finished promotion (`notify-webhook`, a secret URL; `notify-on`;
//! `notify-format`): a Slack incoming webhook (`text` + `blocks`), a Microsoft Teams Workflows
//! webhook (an Adaptive Card in a `message`), or a generic JSON POST of the audit's essentials,
//! optionally signed like GitHub's webhooks (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the
//! body>`). Sent once: only a rate-limit answer (429) is retried, under the one retry policy. A
//! failure is a warning, never a failed promotion. The URL is never shown: messages name the
//! kind only, and the URL is a masked secret of the sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result, Severity};
use crate::registry::retry::{self, RetryPolicy};
use crate::registry::scheme::Connection;
use crate::registry::transport::{Body, Method, Request};
use crate::report::record::{NotificationRecord, Promotion, SeverityName, Status};

/// The payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams Workflows (Adaptive Card).
    Teams,
    /// Our own JSON.
    Json,
}

impl Format {
    /// The name used in inputs and the audit.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Json => "json",
        }
    }

    /// `notify-format` (`slack`, `teams`, `json`, or empty/`auto`: from the URL's host).
    ///
    /// # Errors
    /// An input error for another value.
    pub fn choose(given: Option<&str>, url: &str) -> Result<Self> {
        match given.map(str::trim).filter(|g| !g.is_empty()) {
            None | Some("auto") => Ok(Self::detect(url)),
            Some("slack") => Ok(Self::Slack),
            Some("teams") => Ok(Self::Teams),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(Error::input(format!(
                "notify-format `{}`: expected slack, teams, json or auto",
                crate::text::shorten(other)
            ))),
        }
    }

    fn detect(url: &str) -> Self {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host == "hooks.slack.com" {
            Self::Slack
        } else if host.ends_with(".logic.azure.com")
            || host.ends_with(".powerplatform.com")
            || host.ends_with(".webhook.office.com")
        {
            Self::Teams
        } else {
            Self::Json
        }
    }
}

/// The events `notify-on` may list.
pub const EVENTS: [&str; 4] = ["promoted", "refused", "failed", "rolled-back"];

/// The event of a finished promotion: `None` for a dry run, and for an interrupted run (whose
/// few remaining seconds go to the reports). `rolled-back` is accepted by `notify-on` for the
/// coming `rollback` command; `promote` never raises it.
#[must_use]
pub fn event(status: Status) -> Option<&'static str> {
    match status {
        Status::Promoted | Status::NoOp => Some("promoted"),
        Status::Refused => Some("refused"),
        Status::Failed => Some("failed"),
        Status::DryRun | Status::Interrupted => None,
    }
}

/// `notify-on`, checked.
///
/// # Errors
/// An input error naming an unknown event.
pub fn parse_events(list: &[String]) -> Result<Vec<String>> {
    for e in list {
        if !EVENTS.contains(&e.as_str()) {
            return Err(Error::input(format!(
                "notify-on `{}`: expected any of {}",
                crate::text::shorten(e),
                EVENTS.join(", ")
            )));
        }
    }
    Ok(list.to_vec())
}

/// A configured webhook.
pub struct Webhook {
    /// The secret URL (never shown).
    url: String,
    /// The payload shape.
    pub format: Format,
    /// HMAC secret for the `json` format.
    secret: Option<String>,
}

impl Webhook {
    /// A webhook at `url` with `format`, signed with `secret` (json only).
    #[must_use]
    pub fn new(url: String, format: Format, secret: Option<String>) -> Self {
        Self {
            url,
            format,
            secret: secret.filter(|s| !s.is_empty()),
        }
    }

    /// The body for `record`.
    #[must_use]
    pub fn payload(&self, record: &Promotion) -> Value {
        match self.format {
            Format::Slack => slack(record),
            Format::Teams => teams(record),
            Format::Json => essentials(record),
        }
    }

    /// Sends the notification of `record`; the result is the audit's record of it, and a
    /// warning when it failed.
    pub async fn send(
        &self,
        connection: &Arc<Connection>,
        policy: &RetryPolicy,
        record: &Promotion,
    ) -> (NotificationRecord, Option<Error>) {
        let body = self.payload(record).to_string();
        let signature = self.secret.as_ref().map(|s| {
            format!(
                "sha256={}",
                crate::digest::hex_lower(&hmac_sha256(s.as_bytes(), body.as_bytes()))
            )
        });
        let kind = self.format.as_str();
        let attempts = AtomicU32::new(0);
        let result = retry::run(policy, "notification", |n| {
            attempts.store(n, Ordering::Relaxed);
            let mut request = Request::new(Method::POST, self.url.clone())
                .header("content-type", "application/json")
                .header(
                    "user-agent",
                    concat!("image-promote/", env!("CARGO_PKG_VERSION")),
                )
                .body(Body::Bytes(body.clone().into()));
            if let Some(sig) = &signature {
                request = request.header("x-hub-signature-256", sig.clone());
            }
            async move {
                // Never the transport's message: it would name the URL.
                let response = connection.send(request).await.map_err(|e| {
                    retry::for_a_write(Error::new(
                        e.reason,
                        format!("the {kind} notification got no answer ({})", e.category),
                    ))
                })?;
                let status = response.status().as_u16();
                if response.status().is_success() {
                    return Ok(status);
                }
                Err(retry::for_a_write(crate::github::classify(
                    status,
                    response.headers(),
                    format!("the {kind} notification was answered HTTP {status}"),
                )))
            }
        })
        .await;
        let attempts = attempts.load(Ordering::Relaxed);
        match result {
            Ok(status) => (
                NotificationRecord {
                    kind: kind.to_owned(),
                    sent: true,
                    http_status: Some(status),
                    attempts,
                },
                None,
            ),
            Err(e) => (
                NotificationRecord {
                    kind: kind.to_owned(),
                    sent: false,
                    http_status: e.status,
                    attempts,
                },
                Some(
                    e.hint("check the notify-webhook secret and the receiver; the promotion itself is not affected")
                        .severity(Severity::Medium),
                ),
            ),
        }
    }
}

fn headline(r: &Promotion) -> String {
    let icon = match r.status {
        Status::Promoted | Status::NoOp => "✅",
        Status::Refused => "⛔",
        Status::DryRun => "🧪",
        Status::Failed | Status::Interrupted => "❌",
    };
    let forced = if r.forced { " (forced)" } else { "" };
    format!(
        "{icon} image-promote {}{forced}: {} → {}",
        r.status.as_str(),
        r.request.source,
        r.request.destination
    )
}

fn digest(r: &Promotion) -> String {
    r.image
        .as_ref()
        .map(|i| {
            i.destination_digest
                .clone()
                .unwrap_or_else(|| i.source_digest.clone())
        })
        .unwrap_or_default()
}

fn run_url(r: &Promotion) -> Option<String> {
    r.workflow.as_ref().and_then(|w| w.run_url.clone())
}

/// (title, value) pairs shown in Slack and Teams.
fn facts(r: &Promotion) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("Status", r.status.as_str().to_owned()),
        ("Digest", digest(r)),
    ];
    if let Some(env) = &r.approval.environment {
        out.push(("Environment", env.clone()));
    }
    if !r.approval.approvers.is_empty() {
        out.push(("Approved by", r.approval.approvers.join(", ")));
    }
    if let Some(e) = r
        .errors
        .iter()
        .find(|e| matches!(e.severity, SeverityName::Critical | SeverityName::High))
    {
        out.push(("Error", crate::text::shorten(&e.message)));
    }
    out
}

fn slack(r: &Promotion) -> Value {
    let fields: Vec<Value> = facts(r)
        .into_iter()
        .map(|(t, v)| json!({"type": "mrkdwn", "text": format!("*{t}*\n{v}")}))
        .collect();
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": headline(r)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(url) = run_url(r) {
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("<{url}|workflow run> · audit `{}`", r.id)}
        ]}));
    }
    json!({"text": headline(r), "blocks": blocks})
}

fn teams(r: &Promotion) -> Value {
    let facts: Vec<Value> = facts(r)
        .into_iter()
        .map(|(t, v)| json!({"title": t, "value": v}))
        .collect();
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": headline(r), "weight": "Bolder", "size": "Medium", "wrap": true},
            {"type": "FactSet", "facts": facts}
        ]
    });
    if let Some(url) = run_url(r) {
        content["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Workflow run", "url": url}]);
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null,
        "content": content
    }]})
}

fn essentials(r: &Promotion) -> Value {
    json!({
        "schema": "image-promote.notification/v1",
        "id": r.id,
        "status": r.status.as_str(),
        "forced": r.forced,
        "source": r.request.source,
        "destination": r.request.destination,
        "digest": digest(r),
        "promoted": r.promoted,
        "environment": r.approval.environment,
        "approvers": r.approval.approvers,
        "run_url": run_url(r),
        "warnings": r.warnings,
        "errors": r.errors.iter().map(|e| json!({"category": e.category.as_str(), "message": e.message})).collect::<Vec<_>>(),
    })
}

/// HMAC-SHA256 (RFC 2104).
#[must_use]
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests;
