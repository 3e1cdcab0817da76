//! Notifiers: deliver one rendered alert to one destination. They see only [`Alert`]s from the
//! outbox — never feeds, items or rules — and report failures as [`NotifyError`] values the
//! outbox uses to decide between retrying and giving up.

pub mod email;
pub mod render;
pub mod stdout;

use crate::config::{self, NotifierKind};
use crate::domain::Alert;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth retrying later: connection refused, timeout, SMTP 4xx, HTTP 5xx.
    #[error("temporary delivery failure: {message}")]
    Transient {
        /// What the server or network said.
        message: String,
    },
    /// Retrying will not help: SMTP 5xx, bad address, refused credentials.
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

/// A configured notifier, ready to send.
#[derive(Debug, Clone)]
pub enum Notifier {
    /// SMTP email.
    Email(email::EmailNotifier),
    /// Standard output.
    Stdout(stdout::StdoutNotifier),
}

impl Notifier {
    /// Builds the notifier from its validated config.
    pub fn from_config(cfg: &config::Notifier) -> Result<Notifier, NotifyError> {
        Ok(match &cfg.kind {
            NotifierKind::Email(e) => Notifier::Email(email::EmailNotifier::new(e)?),
            NotifierKind::Stdout => Notifier::Stdout(stdout::StdoutNotifier),
        })
    }

    /// Delivers one alert.
    pub async fn send(&self, alert: &Alert) -> Result<(), NotifyError> {
        match self {
            Notifier::Email(n) => n.send(alert).await,
            Notifier::Stdout(n) => n.send(alert),
        }
    }
}
