//! `type = "email"`: one message per alert over SMTP, one connection per delivery attempt.
//! The Message-ID is derived from the alert's stable uid, so a resend after a crash is
//! recognisable as the same message.
//!
//! The conversation is driven step by step on lettre's [`AsyncSmtpConnection`] under one
//! deadline, the notifier's `timeout`: lettre's async transport bounds only the TCP connect
//! (its `timeout` reaches `connect_tokio1` and nothing after it, lettre 0.11
//! `client/async_net.rs`), so a server that accepts and never greets held a send, and the
//! outbox behind it, for ever. There is no connection pool: a pooled connection abandoned
//! mid-conversation by a timeout went back to lettre's pool as healthy and the next send
//! waited on it, and alert traffic is far too light for reuse to matter.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::MultiPart;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, address::Envelope};
use tokio::time::Instant;

use super::{Cause, Delivered, Destination, FailureKind, NotifyError, failure, render};
use crate::config::{Email, SmtpTls, SubjectTemplate};
use crate::domain::{Alert, AlertPayload, hash_hex};

/// Domain part of generated Message-IDs.
const MESSAGE_ID_DOMAIN: &str = "feedwatch.invalid";
/// Where `List-Id`s live: RFC 2919 section 3 reserves `localhost` for lists without a domain
/// of their own.
const LIST_ID_NAMESPACE: &str = "feedwatch.localhost";

/// What an SMTP delivery was waiting for when its time ran out (see [`Cause::NoAnswer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStep {
    /// The TCP connection (and the TLS handshake for `smtps://`), the greeting and the EHLO
    /// reply: lettre does these in one call.
    Connect,
    /// `STARTTLS` and the TLS handshake after it.
    StartTls,
    /// `AUTH`.
    Auth,
    /// `MAIL`, `RCPT`, `DATA` and the message.
    Send,
}

impl std::fmt::Display for SmtpStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SmtpStep::Connect => "connecting or waiting for the greeting and the EHLO reply",
            SmtpStep::StartTls => "upgrading to TLS (STARTTLS)",
            SmtpStep::Auth => "logging in (AUTH)",
            SmtpStep::Send => "sending the message (MAIL, RCPT, DATA)",
        })
    }
}

/// The server as `check` and errors show it: `smtp://host:port`, `?tls=…` when not the
/// default, `smtps://` for implicit TLS. Credentials are never part of it.
pub fn server_url(host: &str, port: u16, tls: SmtpTls) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match tls {
        SmtpTls::Opportunistic => format!("smtp://{host}:{port}"),
        SmtpTls::Required => format!("smtp://{host}:{port}?tls=required"),
        SmtpTls::None => format!("smtp://{host}:{port}?tls=none"),
        SmtpTls::Wrapper => format!("smtps://{host}:{port}"),
    }
}

/// Sends alerts by SMTP.
#[derive(Clone)]
pub struct EmailNotifier {
    /// Host name or address, as configured (also the name TLS certificates are checked for).
    host: String,
    port: u16,
    /// TLS mode in force: with a login, opportunistic is already required.
    tls: SmtpTls,
    /// Certificate checks for the TLS session; `None` under `?tls=none`.
    tls_params: Option<TlsParameters>,
    /// The login, when `username` and a password are configured.
    credentials: Option<Credentials>,
    /// Our name in EHLO.
    hello: ClientId,
    /// Bound on one delivery attempt as a whole.
    timeout: Duration,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    subject: SubjectTemplate,
    /// The zone bodies show times in.
    zone: Tz,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("EmailNotifier")
            .field("server", &server_url(&self.host, self.port, self.tls))
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// Prepares the TLS settings and the login; no connection is made until the first send.
    pub fn new(cfg: &Email, zone: Tz) -> Result<EmailNotifier, NotifyError> {
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(user), Some(pass)) => {
                Some(Credentials::new(user.clone(), pass.expose().to_string()))
            }
            _ => None,
        };
        // Config already upgrades the mode for a login; doing it again here keeps an `Email`
        // built any other way from logging in over plain text.
        let tls = if credentials.is_some() {
            cfg.tls.for_login()
        } else {
            cfg.tls
        };
        let tls_params = match tls {
            SmtpTls::None => None,
            SmtpTls::Opportunistic | SmtpTls::Required | SmtpTls::Wrapper => {
                let mut builder = TlsParameters::builder(cfg.host.clone());
                if let Some(pem) = &cfg.ca_pem {
                    let ca = Certificate::from_pem(pem)
                        .map_err(|e| NotifyError::setup("cannot read ca_file".into(), e))?;
                    builder = builder.add_root_certificate(ca);
                }
                Some(builder.build().map_err(|e| {
                    NotifyError::setup(format!("cannot set up TLS for {}", cfg.host), e)
                })?)
            }
        };
        Ok(EmailNotifier {
            host: cfg.host.clone(),
            port: cfg.port,
            tls,
            tls_params,
            credentials,
            hello: ClientId::default(),
            timeout: cfg.timeout,
            from: cfg.from.clone(),
            to: cfg.to.clone(),
            subject: cfg.subject.clone(),
            zone,
        })
    }

    /// The configured server, for hints.
    pub fn destination(&self) -> Destination<'_> {
        Destination::Smtp {
            host: &self.host,
            port: self.port,
            tls: self.tls,
            login: self.credentials.is_some(),
        }
    }

    /// Renders and sends one alert.
    pub async fn send(&self, alert: &Alert) -> Result<Delivered, NotifyError> {
        let p = &alert.payload;
        let message = self.message(
            render::subject(&self.subject, p),
            &alert.uid,
            headers(&alert.notifier, [p], p.published),
            (
                render::text_body(p, self.zone),
                render::html_body(p, self.zone),
            ),
        )?;
        self.deliver(message).await
    }

    /// The notifier's `timezone`.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Renders and sends one digest of several alerts.
    pub async fn send_digest(&self, alerts: &[Alert]) -> Result<Delivered, NotifyError> {
        let ids: Vec<&str> = alerts.iter().map(|a| a.uid.as_str()).collect();
        let notifier = alerts.first().map_or("", |a| a.notifier.as_str());
        let message = self.message(
            render::digest_subject(alerts),
            &format!("digest-{}", &hash_hex(&ids)[..32]),
            headers(notifier, alerts.iter().map(|a| &a.payload), None),
            (
                render::digest_text(alerts, self.zone),
                render::digest_html(alerts, self.zone),
            ),
        )?;
        self.deliver(message).await
    }

    /// One SMTP conversation on a fresh connection, every step bounded by one deadline
    /// `timeout` away. Dropping a step's future on the deadline closes the connection.
    async fn deliver(&self, message: Message) -> Result<Delivered, NotifyError> {
        let envelope: Envelope = message.envelope().clone();
        let body = message.formatted();
        let deadline = Instant::now() + self.timeout;
        let implicit_tls = match self.tls {
            SmtpTls::Wrapper => self.tls_params.clone(),
            _ => None,
        };
        let connect = async {
            // Nagle's algorithm off (TCP_NODELAY): lettre writes a message and its closing
            // `.` in two writes, and with Nagle on the second waits for the server's delayed
            // ACK — 40 ms per message on Linux, which was most of a farm round's delivery time
            // (issue 13). lettre opens sockets without it, so the plain TCP connection is
            // opened here; implicit TLS (`smtps://`) still goes through lettre.
            if implicit_tls.is_none()
                && let Ok(tcp) =
                    tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await
            {
                let _ = tcp.set_nodelay(true);
                return AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await;
            }
            // lettre connects (again) and reports a failure in its own terms, which the
            // failure hints read.
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                implicit_tls,
                None,
            )
            .await
        };
        let mut conn = self.step(deadline, SmtpStep::Connect, connect).await?;
        let starttls = match self.tls {
            SmtpTls::Required => true,
            SmtpTls::Opportunistic => conn.can_starttls(),
            SmtpTls::None | SmtpTls::Wrapper => false,
        };
        if let (true, Some(params)) = (starttls, &self.tls_params) {
            // Under `Required` lettre refuses a server that does not offer STARTTLS before
            // anything else is said.
            let upgrade = conn.starttls(params.clone(), &self.hello);
            self.step(deadline, SmtpStep::StartTls, upgrade).await?;
        }
        if let Some(credentials) = &self.credentials {
            let login = conn.auth(DEFAULT_MECHANISMS, credentials);
            self.step(deadline, SmtpStep::Auth, login).await?;
        }
        let sent = conn.send(&envelope, &body);
        let resp = self.step(deadline, SmtpStep::Send, sent).await?;
        // The server has taken the message: QUIT is a courtesy within what is left of the
        // deadline, and its failure must not turn a delivery into a retry (and a duplicate).
        let _ = tokio::time::timeout_at(deadline, conn.quit()).await;
        Ok(Delivered {
            detail: format!(
                "{} {}",
                resp.code(),
                resp.message().collect::<Vec<_>>().join(" ")
            ),
        })
    }

    /// Runs one step of the conversation until `deadline`.
    async fn step<T>(
        &self,
        deadline: Instant,
        step: SmtpStep,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, NotifyError> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(smtp_error(e)),
            Err(_elapsed) => Err(NotifyError::Transient {
                kind: FailureKind::Timeout,
                cause: Cause::NoAnswer {
                    server: server_url(&self.host, self.port, self.tls),
                    within: self.timeout,
                    step,
                },
                retry_after: None,
            }),
        }
    }

    fn message(
        &self,
        subject: String,
        id: &str,
        headers: Vec<HeaderValue>,
        (text, html): (String, String),
    ) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{id}@{MESSAGE_ID_DOMAIN}>")));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        for h in headers {
            builder = builder.raw_header(h);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| NotifyError::Permanent {
                kind: FailureKind::Local,
                cause: Cause::Message(e),
            })
    }
}

/// The headers every alert email carries besides the usual ones:
///
/// - `X-Feedwatch-Rules: moscow-format, kabulov`: the rules that matched, for mail filters;
/// - `Auto-Submitted: auto-generated` (RFC 3834): no vacation or out-of-office replies;
/// - `List-Id: <NAME.feedwatch.localhost>` (RFC 2919, the unmanaged `localhost` namespace):
///   one list per notifier, so mail clients can file and mute each;
/// - `X-Feedwatch-Published: 2021-10-07T06:46:00Z`: the story's publication time in UTC (the
///   body shows it in the notifier's zone), when the feed gave one.
fn headers<'a>(
    notifier: &str,
    payloads: impl IntoIterator<Item = &'a AlertPayload>,
    published: Option<DateTime<Utc>>,
) -> Vec<HeaderValue> {
    let mut out = vec![
        HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Feedwatch-Rules"),
            render::rules_header(payloads),
        ),
        HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ),
        HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            format!(
                "feedwatch alerts to {} <{}.{LIST_ID_NAMESPACE}>",
                crate::text::collapse_whitespace(notifier),
                list_label(notifier)
            ),
        ),
    ];
    if let Some(at) = published {
        out.push(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Feedwatch-Published"),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ));
    }
    out
}

/// A notifier's name as the label of a `List-Id` (RFC 2919: a dot-atom): lowercase letters,
/// digits and hyphens; anything else becomes a hyphen. Never empty.
fn list_label(notifier: &str) -> String {
    let label: String = notifier
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "notifier".to_string()
    } else {
        label.to_string()
    }
}

/// A failed SMTP step as a [`NotifyError`]: only an SMTP 5xx is permanent; everything else
/// (4xx, network, TLS) is retried.
fn smtp_error(e: lettre::transport::smtp::Error) -> NotifyError {
    let kind = failure::smtp(&e);
    let permanent = e.is_permanent();
    let cause = Cause::Smtp(e);
    if permanent {
        NotifyError::Permanent { kind, cause }
    } else {
        NotifyError::Transient {
            kind,
            cause,
            retry_after: None,
        }
    }
}
