//! Notifiers: deliver one alert (or one digest of alerts) to one destination. They see only
//! [`Alert`]s from the outbox — never feeds, items or rules — and report failures as
//! [`NotifyError`] values the outbox uses to decide between retrying and giving up.

pub mod email;
mod failure;
pub mod render;
pub mod stdout;
pub mod webhook;

use std::time::Duration;

pub use failure::{AuthFailure, ConnectFailure, Destination, FailureKind, TlsFailure};

use crate::config::{self, NotifierKind};
use crate::domain::Alert;

/// Why a delivery failed: retry or not (the outbox branches on the variant), what kind of
/// failure (for `send-test` hints), and the cause chain as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth retrying later: connection refused, timeout, SMTP 4xx, HTTP 5xx/408/429.
    #[error("temporary delivery failure")]
    Transient {
        /// What kind of failure.
        kind: FailureKind,
        /// What failed.
        #[source]
        cause: Cause,
        /// How long the server asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: SMTP 5xx, HTTP 4xx, bad address, refused credentials.
    #[error("permanent delivery failure")]
    Permanent {
        /// What kind of failure.
        kind: FailureKind,
        /// What failed.
        #[source]
        cause: Cause,
    },
}

/// What failed, in this layer's words, with the transport's own error as its source.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The SMTP exchange failed; lettre's error says where and why.
    #[error(transparent)]
    Smtp(lettre::transport::smtp::Error),
    /// The SMTP server did not answer within the notifier's `timeout`.
    #[error("no answer from {server} within {} while {step}", humantime::format_duration(*within))]
    NoAnswer {
        /// The server as `check` shows it (`smtp://host:port…`); never holds credentials.
        server: String,
        /// The notifier's `timeout`, which bounds the whole exchange.
        within: Duration,
        /// What feedwatch was waiting for when time ran out.
        step: email::SmtpStep,
    },
    /// The webhook request got no HTTP answer.
    #[error("POST {} failed", crate::redact::Redacted::webhook(url))]
    Request {
        /// The webhook URL (shown redacted: its path is the credential).
        url: url::Url,
        /// reqwest's error, without the URL it would otherwise print in full.
        #[source]
        source: reqwest::Error,
    },
    /// The webhook answered, but not with success (status and the start of the body).
    #[error("{0}")]
    Answer(String),
    /// The notifier could not be set up (`ca_file`, TLS settings, the HTTP client).
    #[error("{what}")]
    Setup {
        /// What could not be done, e.g. `cannot read ca_file`.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The email message could not be built.
    #[error("cannot build message")]
    Message(#[source] lettre::error::Error),
    /// Standard output is closed or full.
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
}

impl NotifyError {
    /// Should the outbox try again later?
    pub fn is_transient(&self) -> bool {
        matches!(self, NotifyError::Transient { .. })
    }

    /// What kind of failure this was.
    pub fn kind(&self) -> FailureKind {
        match self {
            NotifyError::Transient { kind, .. } | NotifyError::Permanent { kind, .. } => *kind,
        }
    }

    /// A notifier that cannot be set up: permanent, nothing was sent.
    fn setup(what: String, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        NotifyError::Permanent {
            kind: FailureKind::Local,
            cause: Cause::Setup {
                what,
                source: source.into(),
            },
        }
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
            NotifierKind::Email(e) => Notifier::Email(email::EmailNotifier::new(e, cfg.timezone)?),
            NotifierKind::Stdout => Notifier::Stdout(stdout::StdoutNotifier(cfg.timezone)),
            NotifierKind::Webhook(w) => {
                Notifier::Webhook(webhook::WebhookNotifier::new(w, user_agent, cfg.timezone)?)
            }
        })
    }

    /// The zone this notifier shows times in, and its digests' times of day are in.
    pub fn zone(&self) -> chrono_tz::Tz {
        match self {
            Notifier::Email(n) => n.zone(),
            Notifier::Stdout(n) => n.0,
            Notifier::Webhook(n) => n.zone(),
        }
    }

    /// Where this notifier delivers, as far as a hint needs to know.
    pub fn destination(&self) -> Destination<'_> {
        match self {
            Notifier::Email(n) => n.destination(),
            Notifier::Stdout(_) => Destination::Stdout,
            Notifier::Webhook(_) => Destination::Webhook,
        }
    }

    /// A suggestion for the set-up mistake most likely behind `e` (for `send-test`).
    pub fn hint(&self, e: &NotifyError) -> Option<String> {
        e.kind().hint(&self.destination())
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
