//! `type = "email"`: one message per alert through lettre's async SMTP transport (pooled).
//! The Message-ID is derived from the alert's stable uid, so a resend after a crash is
//! recognisable as the same message.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{NotifyError, render};
use crate::config::{Email, SmtpTls};
use crate::domain::Alert;

/// Domain part of generated Message-IDs.
const MESSAGE_ID_DOMAIN: &str = "feedwatch.invalid";

/// Sends alerts by SMTP.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
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
            TlsParameters::new(cfg.host.clone()).map_err(|e| NotifyError::Permanent {
                message: format!("cannot set up TLS for {}: {e}", cfg.host),
            })
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
        })
    }

    /// Renders and sends one alert.
    pub async fn send(&self, alert: &Alert) -> Result<(), NotifyError> {
        let message = self.message(alert)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let message = error_chain(&e);
                if e.is_permanent() {
                    Err(NotifyError::Permanent { message })
                } else {
                    Err(NotifyError::Transient { message })
                }
            }
        }
    }

    fn message(&self, alert: &Alert) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(render::subject(&alert.payload))
            .message_id(Some(format!("<{}@{MESSAGE_ID_DOMAIN}>", alert.uid)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(render::text_body(&alert.payload))
            .map_err(|e| NotifyError::Permanent {
                message: format!("cannot build message: {e}"),
            })
    }
}

/// The error with its causes, on one line (lettre's Display omits the source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
