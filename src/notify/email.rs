//! `type = "email"`: one message per alert through lettre's async SMTP transport (pooled).
//! The Message-ID is derived from the alert's stable uid, so a resend after a crash is
//! recognisable as the same message.

use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Cause, Delivered, Destination, FailureKind, NotifyError, failure, render};
use crate::config::{Email, SmtpTls, SubjectTemplate};
use crate::domain::{Alert, hash_hex};

/// Domain part of generated Message-IDs.
const MESSAGE_ID_DOMAIN: &str = "feedwatch.invalid";

/// Sends alerts by SMTP.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    subject: SubjectTemplate,
    /// Host, port and TLS mode as configured, for hints.
    host: String,
    port: u16,
    tls: SmtpTls,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// Builds the (lazy) transport; no connection is made until the first send.
    pub fn new(cfg: &Email) -> Result<EmailNotifier, NotifyError> {
        let tls_params = || {
            let mut builder = TlsParameters::builder(cfg.host.clone());
            if let Some(pem) = &cfg.ca_pem {
                let ca = Certificate::from_pem(pem)
                    .map_err(|e| NotifyError::setup("cannot read ca_file".into(), e))?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build()
                .map_err(|e| NotifyError::setup(format!("cannot set up TLS for {}", cfg.host), e))
        };
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(tls_params()?),
            SmtpTls::Required => Tls::Required(tls_params()?),
            SmtpTls::Wrapper => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(EmailNotifier {
            transport: builder.build(),
            from: cfg.from.clone(),
            to: cfg.to.clone(),
            subject: cfg.subject.clone(),
            host: cfg.host.clone(),
            port: cfg.port,
            tls: cfg.tls,
        })
    }

    /// The configured server, for hints.
    pub fn destination(&self) -> Destination<'_> {
        Destination::Smtp {
            host: &self.host,
            port: self.port,
            tls: self.tls,
        }
    }

    /// Renders and sends one alert.
    pub async fn send(&self, alert: &Alert) -> Result<Delivered, NotifyError> {
        let message = self.message(
            render::subject(&self.subject, &alert.payload),
            &alert.uid,
            render::text_body(&alert.payload),
            render::html_body(&alert.payload),
        )?;
        self.deliver(message).await
    }

    /// Renders and sends one digest of several alerts.
    pub async fn send_digest(&self, alerts: &[Alert]) -> Result<Delivered, NotifyError> {
        let ids: Vec<&str> = alerts.iter().map(|a| a.uid.as_str()).collect();
        let message = self.message(
            render::digest_subject(alerts),
            &format!("digest-{}", &hash_hex(&ids)[..32]),
            render::digest_text(alerts),
            render::digest_html(alerts),
        )?;
        self.deliver(message).await
    }

    async fn deliver(&self, message: Message) -> Result<Delivered, NotifyError> {
        match self.transport.send(message).await {
            Ok(resp) => Ok(Delivered {
                detail: format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Err(e) => {
                let kind = failure::smtp(&e);
                // Only an SMTP 5xx is permanent; everything else (4xx, network, TLS) is retried.
                let permanent = e.is_permanent();
                let cause = Cause::Smtp(e);
                Err(if permanent {
                    NotifyError::Permanent { kind, cause }
                } else {
                    NotifyError::Transient {
                        kind,
                        cause,
                        retry_after: None,
                    }
                })
            }
        }
    }

    fn message(
        &self,
        subject: String,
        id: &str,
        text: String,
        html: String,
    ) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{id}@{MESSAGE_ID_DOMAIN}>")));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| NotifyError::Permanent {
                kind: FailureKind::Local,
                cause: Cause::Message(e),
            })
    }
}
