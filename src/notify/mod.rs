//! Notifiers: deliver one alert (or one digest of alerts) to one destination. They see only
//! [`Alert`]s from the outbox — never feeds, items or rules — and report failures as
//! [`NotifyError`] values the outbox uses to decide between retrying and giving up.

pub mod email;
pub mod render;
pub mod stdout;
pub mod webhook;

use std::time::Duration;

use crate::config::{self, NotifierKind};
use crate::domain::Alert;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth retrying later: connection refused, timeout, SMTP 4xx, HTTP 5xx/408/429.
    #[error("temporary delivery failure: {message}")]
    Transient {
        /// What the server or network said.
        message: String,
        /// How long the server asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: SMTP 5xx, HTTP 4xx, bad address, refused credentials.
    #[error("permanent delivery failure: {message}")]
    Permanent {
        /// What the server said.
        message: String,
    },
}

impl NotifyError {
    /// Should the outbox try again later?
    pub fn is_transient(&self) -> bool {
        matches!(self, NotifyError::Transient { .. })
    }
}

/// A successful delivery and what the server answered (for logs and `send-test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The server's answer, e.g. `250 2.0.0 Ok: queued` or `HTTP 204`.
    pub detail: String,
}

/// A configured notifier, ready to send.
#[derive(Debug, Clone)]
pub enum Notifier {
    /// SMTP email.
    Email(email::EmailNotifier),
    /// Standard output.
    Stdout(stdout::StdoutNotifier),
    /// HTTP webhook.
    Webhook(webhook::WebhookNotifier),
}

impl Notifier {
    /// Builds the notifier from its validated config.
    pub fn from_config(cfg: &config::Notifier, user_agent: &str) -> Result<Notifier, NotifyError> {
        Ok(match &cfg.kind {
            NotifierKind::Email(e) => Notifier::Email(email::EmailNotifier::new(e)?),
            NotifierKind::Stdout => Notifier::Stdout(stdout::StdoutNotifier),
            NotifierKind::Webhook(w) => {
                Notifier::Webhook(webhook::WebhookNotifier::new(w, user_agent)?)
            }
        })
    }

    /// Delivers one alert. `now` is unix seconds (webhook signatures carry it).
    pub async fn send(&self, alert: &Alert, now: i64) -> Result<Delivered, NotifyError> {
        match self {
            Notifier::Email(n) => n.send(alert).await,
            Notifier::Stdout(n) => n.send(alert),
            Notifier::Webhook(n) => n.send(alert, now).await,
        }
    }

    /// Delivers several alerts as one digest.
    pub async fn send_digest(&self, alerts: &[Alert], now: i64) -> Result<Delivered, NotifyError> {
        match self {
            Notifier::Email(n) => n.send_digest(alerts).await,
            Notifier::Stdout(n) => n.send_digest(alerts),
            Notifier::Webhook(n) => n.send_digest(alerts, now).await,
        }
    }
}
