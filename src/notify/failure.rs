//! What kind of failure a delivery met, read from lettre's and reqwest's error *types* (reply
//! codes, I/O error kinds, rustls errors in the source chain), and the `send-test` hint each
//! kind gives for a destination. Whether to retry is not decided here: that stays where each
//! notifier builds its [`super::NotifyError`], and the outbox never looks at a kind.

use std::error::Error as StdError;
use std::io;

use crate::config::SmtpTls;

/// Why a delivery failed, as precisely as the transport's error types tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection could be opened.
    Connect(ConnectFailure),
    /// TLS could not be set up.
    Tls(TlsFailure),
    /// The server refused the login, or wants something before it: SMTP 530/534/535/538,
    /// an SMTP server offering no login method lettre can use, HTTP 401/403.
    Auth(AuthFailure),
    /// The server refused the sender or a recipient address: SMTP 550, 551, 553. RFC 5321
    /// §4.3.2 allows these for `MAIL` and `RCPT` alike, and lettre does not say which command
    /// failed, so this does not claim it was a recipient.
    AddressRejected,
    /// The server answered and refused delivery for another reason: any other SMTP 4xx/5xx,
    /// an HTTP status other than 2xx (a redirect included).
    Rejected,
    /// No answer in time: the notifier's `timeout` ran out, HTTP 408.
    Timeout,
    /// The exchange broke: the connection dropped mid-way, a reply was unreadable, or the
    /// server did not understand a command (SMTP 500–504, 555).
    Protocol,
    /// Nothing was sent: the notifier could not be set up, the message not built, or standard
    /// output is closed.
    Local,
}

/// Why no connection could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The host answered that nothing listens on that port.
    Refused,
    /// The name did not resolve, there is no route, or the network failed otherwise.
    Unreachable,
}

/// Why TLS could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// `?tls=required`, but the server does not offer STARTTLS. Nothing was sent in clear.
    StartTlsNotOffered,
    /// The server's certificate is not trusted: unknown CA, another host name, expired.
    Certificate,
    /// The peer's answer is not TLS at all: a plain-text port spoken to as `smtps://` or
    /// `https://`.
    NotTls,
    /// Another handshake failure (no common protocol version, an alert from the server…), or
    /// the TLS settings could not be built.
    Handshake,
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The credentials were refused (SMTP 535, HTTP 401/403).
    Refused,
    /// The server wants a login, a stronger method or STARTTLS first (SMTP 530, 534, 538), or
    /// offers no login method lettre can use. RFC 4954 §6 and RFC 3207 §4 both use 530, for
    /// "authentication required" and "must issue a STARTTLS command first".
    Required,
}

/// Where the failed notifier delivers: what a hint needs to know about its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// An SMTP server.
    Smtp {
        /// Host name or address, as configured.
        host: &'a str,
        /// Port, as configured or defaulted.
        port: u16,
        /// TLS mode in force (with a login, opportunistic is already required).
        tls: SmtpTls,
        /// Does feedwatch log in?
        login: bool,
    },
    /// A webhook URL.
    Webhook,
    /// Standard output.
    Stdout,
}

impl FailureKind {
    /// A one-line suggestion for the set-up mistake most likely behind this failure at `to`,
    /// or `None` when the error itself says all there is to say.
    pub fn hint(self, to: &Destination<'_>) -> Option<String> {
        use Destination::{Smtp, Webhook};
        let hint = match (self, *to) {
            (FailureKind::Connect(ConnectFailure::Refused), Smtp { .. }) => {
                "nothing listens there: check host and port (25, 465 for smtps://, 587)".into()
            }
            (FailureKind::Connect(ConnectFailure::Refused), Webhook) => {
                "nothing listens there: check the host and port in `url`".into()
            }
            // A login insists on TLS unless the user allowed clear text with `?tls=none`.
            (
                FailureKind::Tls(TlsFailure::StartTlsNotOffered),
                Smtp {
                    host,
                    port,
                    login: true,
                    ..
                },
            ) => format!(
                "the server does not offer STARTTLS, and feedwatch sends a password only over \
                 TLS (nothing was sent): if it speaks TLS from the first byte (usually port 465) \
                 use smtps://{host}:{port}; otherwise check the port (587 usually offers \
                 STARTTLS); only for a trusted local relay add ?tls=none to log in in clear"
            ),
            // Otherwise only `?tls=required` insists on STARTTLS, so the user already asked for
            // it: the way out is the other TLS mode (or another port), never `?tls=required`.
            (FailureKind::Tls(TlsFailure::StartTlsNotOffered), Smtp { host, port, .. }) => {
                format!(
                    "the server does not offer STARTTLS, which ?tls=required insists on (nothing \
                     was sent): if it speaks TLS from the first byte (usually port 465) use \
                     smtps://{host}:{port}; otherwise check the port (587 usually offers STARTTLS)"
                )
            }
            (FailureKind::Tls(TlsFailure::Certificate), Smtp { .. } | Webhook) => {
                "the server's TLS certificate is not trusted for this host name".into()
            }
            (FailureKind::Tls(TlsFailure::NotTls), Smtp { .. }) => {
                "TLS mode mismatch: port 465 wants smtps://, ports 25/587 want smtp://".into()
            }
            // In clear by choice (`?tls=none`): a server that wants a login or STARTTLS first
            // wants STARTTLS, since servers do not offer logins over plain text (RFC 4954 §4).
            (
                FailureKind::Auth(AuthFailure::Required),
                Smtp {
                    host,
                    tls: SmtpTls::None,
                    ..
                },
            ) => format!("the server requires STARTTLS: use smtp://{host}:587?tls=required"),
            // Silence after the connection is most often something other than SMTP on that
            // port, or a plain-text client at an implicit-TLS port (which waits for our TLS
            // hello while we wait for its greeting).
            (
                FailureKind::Timeout,
                Smtp {
                    host,
                    port,
                    tls: SmtpTls::Wrapper,
                    ..
                },
            ) => format!(
                "check that {host}:{port} is an SMTP server speaking TLS from the first byte, \
                 or raise `timeout`"
            ),
            (FailureKind::Timeout, Smtp { host, port, .. }) => format!(
                "check that {host}:{port} is an SMTP server (if it is an implicit-TLS port, \
                 usually 465, use smtps://{host}:{port}), or raise `timeout`"
            ),
            (FailureKind::Auth(_), Smtp { .. }) => {
                "check `username` and the password in `password_file` / `password_env`".into()
            }
            _ => return None,
        };
        Some(hint)
    }
}

/// lettre's message for a server without STARTTLS under `Tls::Required`
/// (`client/async_connection.rs`, lettre 0.11).
const LETTRE_NO_STARTTLS: &str = "STARTTLS is not supported on this server";
/// lettre's message when the server offers none of the login methods it knows.
const LETTRE_NO_AUTH_MECHANISM: &str = "No compatible authentication mechanism was found";

/// The kind of a failed SMTP send.
pub(super) fn smtp(e: &lettre::transport::smtp::Error) -> FailureKind {
    if let Some(code) = e.status() {
        return smtp_reply(u16::from(code));
    }
    if e.is_client() {
        // lettre gives its client errors no finer type than `Kind::Client` and a fixed message
        // of its own (never the server's words); the two that matter for set-up are matched
        // exactly, and tests/email_tls.rs pins the first against a real server.
        let message = e.source().map(ToString::to_string);
        return match message.as_deref() {
            Some(LETTRE_NO_STARTTLS) => FailureKind::Tls(TlsFailure::StartTlsNotOffered),
            Some(LETTRE_NO_AUTH_MECHANISM) => FailureKind::Auth(AuthFailure::Required),
            _ => FailureKind::Protocol,
        };
    }
    if e.is_response() {
        return FailureKind::Protocol;
    }
    if e.is_tls() {
        return FailureKind::Tls(TlsFailure::Handshake);
    }
    if e.is_transport_shutdown() {
        return FailureKind::Local;
    }
    // lettre's connection and network kinds have no public predicate; their sources are the
    // I/O and rustls errors themselves.
    from_chain(e).unwrap_or(FailureKind::Connect(ConnectFailure::Unreachable))
}

/// The kind of a negative SMTP reply (RFC 5321 §4.2.3, RFC 4954 §6).
fn smtp_reply(code: u16) -> FailureKind {
    match code {
        535 => FailureKind::Auth(AuthFailure::Refused),
        530 | 534 | 538 => FailureKind::Auth(AuthFailure::Required),
        550 | 551 | 553 => FailureKind::AddressRejected,
        500..=504 | 555 => FailureKind::Protocol,
        _ => FailureKind::Rejected,
    }
}

/// The kind of a webhook request that got no HTTP answer.
pub(super) fn http(e: &reqwest::Error) -> FailureKind {
    match from_chain(e) {
        Some(kind @ FailureKind::Tls(_)) => kind,
        // reqwest's own timer: no I/O error in the chain says so.
        _ if e.is_timeout() => FailureKind::Timeout,
        Some(kind) => kind,
        None if e.is_connect() => FailureKind::Connect(ConnectFailure::Unreachable),
        None if e.is_builder() => FailureKind::Local,
        None => FailureKind::Protocol,
    }
}

/// The kind of a webhook's non-2xx answer.
pub(super) fn http_status(status: u16) -> FailureKind {
    match status {
        401 | 403 => FailureKind::Auth(AuthFailure::Refused),
        408 => FailureKind::Timeout,
        _ => FailureKind::Rejected,
    }
}

/// What the lowest layers of an error chain say: a rustls error, else the innermost I/O error
/// kind.
fn from_chain(e: &(dyn StdError + 'static)) -> Option<FailureKind> {
    let mut io_kind = None;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(FailureKind::Tls(tls_failure(tls)));
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => {
                io_kind = Some(io.kind());
                // `io::Error::source` skips the error it wraps (it forwards that one's source),
                // and that is where tokio-rustls and hyper put theirs: step into it instead.
                io.get_ref().map(|inner| inner as &(dyn StdError + 'static))
            }
            None => err.source(),
        };
    }
    io_kind.map(io_failure)
}

fn tls_failure(e: &rustls::Error) -> TlsFailure {
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType => TlsFailure::Certificate,
        // A plain-text greeting ("220 …", "HTTP/1.1 400 …") read as a TLS record.
        rustls::Error::InvalidMessage(_) => TlsFailure::NotTls,
        _ => TlsFailure::Handshake,
    }
}

fn io_failure(kind: io::ErrorKind) -> FailureKind {
    match kind {
        io::ErrorKind::ConnectionRefused => FailureKind::Connect(ConnectFailure::Refused),
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::InvalidData => FailureKind::Protocol,
        // Name resolution failures have no stable kind of their own.
        _ => FailureKind::Connect(ConnectFailure::Unreachable),
    }
}

#[cfg(test)]
mod tests;
