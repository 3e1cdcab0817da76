//! Kinds read from real lettre and reqwest errors (a scripted SMTP peer and bare TCP listeners
//! on loopback), and the hint table.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// Longest any one exchange below may take: lettre's async transport bounds only the connect.
const BOUND: Duration = Duration::from_secs(20);

const SMTP: Destination<'static> = Destination::Smtp {
    host: "mail.example.org",
    port: 587,
    tls: SmtpTls::Opportunistic,
    login: false,
};

fn smtp_with(tls: SmtpTls) -> Destination<'static> {
    Destination::Smtp {
        host: "mail.example.org",
        port: 587,
        tls,
        login: false,
    }
}

fn smtp_login(tls: SmtpTls) -> Destination<'static> {
    Destination::Smtp {
        host: "mail.example.org",
        port: 587,
        tls,
        login: true,
    }
}

#[test]
fn hints_follow_the_kind_and_the_configured_tls_mode() {
    use AuthFailure::{Refused, Required};
    use FailureKind as K;
    // (name, kind, destination, a phrase the hint must contain; None: no hint)
    let cases: Vec<(&str, FailureKind, Destination, Option<&str>)> = vec![
        (
            "refused smtp",
            K::Connect(ConnectFailure::Refused),
            SMTP,
            Some("nothing listens there: check host and port (25, 465"),
        ),
        (
            "refused webhook",
            K::Connect(ConnectFailure::Refused),
            Destination::Webhook,
            Some("check the host and port in `url`"),
        ),
        (
            "unresolvable name",
            K::Connect(ConnectFailure::Unreachable),
            SMTP,
            None,
        ),
        (
            "tls=required, no STARTTLS offered",
            K::Tls(TlsFailure::StartTlsNotOffered),
            smtp_with(SmtpTls::Required),
            Some("does not offer STARTTLS, which ?tls=required insists on"),
        ),
        (
            "a login without STARTTLS: clear text only by ?tls=none",
            K::Tls(TlsFailure::StartTlsNotOffered),
            smtp_login(SmtpTls::Required),
            Some("only for a trusted local relay add ?tls=none"),
        ),
        (
            "untrusted certificate",
            K::Tls(TlsFailure::Certificate),
            Destination::Webhook,
            Some("certificate is not trusted"),
        ),
        (
            "smtps:// to a plain port",
            K::Tls(TlsFailure::NotTls),
            smtp_with(SmtpTls::Wrapper),
            Some("TLS mode mismatch: port 465 wants smtps://"),
        ),
        (
            "https:// to a plain port: the SMTP advice would mislead",
            K::Tls(TlsFailure::NotTls),
            Destination::Webhook,
            None,
        ),
        (
            "535",
            K::Auth(Refused),
            smtp_with(SmtpTls::None),
            Some("check `username` and the password"),
        ),
        (
            "530 in clear: STARTTLS first",
            K::Auth(Required),
            smtp_with(SmtpTls::None),
            Some("requires STARTTLS: use smtp://mail.example.org:587?tls=required"),
        ),
        (
            "530 over TLS: the login",
            K::Auth(Required),
            SMTP,
            Some("check `username` and the password"),
        ),
        ("webhook 401", K::Auth(Refused), Destination::Webhook, None),
        ("550", K::AddressRejected, SMTP, None),
        (
            "silence from a plain-text port",
            K::Timeout,
            SMTP,
            Some("usually 465, use smtps://mail.example.org:587), or raise `timeout`"),
        ),
        (
            "silence from an implicit-TLS port",
            K::Timeout,
            smtp_with(SmtpTls::Wrapper),
            Some("speaking TLS from the first byte, or raise `timeout`"),
        ),
        ("webhook timeout", K::Timeout, Destination::Webhook, None),
        ("stdout closed", K::Local, Destination::Stdout, None),
    ];
    for (name, kind, to, want) in cases {
        let got = kind.hint(&to);
        match want {
            Some(phrase) => assert!(
                got.as_deref().is_some_and(|h| h.contains(phrase)),
                "{name}: {got:?}"
            ),
            None => assert_eq!(got, None, "{name}"),
        }
    }
}

#[test]
fn tls_required_without_starttls_never_suggests_tls_required() {
    // The old text-based hint answered "use smtp://HOST:587?tls=required" to exactly the user
    // who had written ?tls=required.
    let hint = FailureKind::Tls(TlsFailure::StartTlsNotOffered)
        .hint(&smtp_with(SmtpTls::Required))
        .expect("a hint");
    assert!(!hint.contains("use smtp://"), "{hint}");
    assert!(hint.contains("smtps://mail.example.org:587"), "{hint}");
}

#[test]
fn smtp_reply_codes_map_to_kinds() {
    use FailureKind as K;
    let cases = [
        (535, K::Auth(AuthFailure::Refused)),
        (530, K::Auth(AuthFailure::Required)),
        (534, K::Auth(AuthFailure::Required)),
        (538, K::Auth(AuthFailure::Required)),
        (550, K::AddressRejected),
        (551, K::AddressRejected),
        (553, K::AddressRejected),
        (552, K::Rejected),
        (554, K::Rejected),
        (421, K::Rejected),
        (450, K::Rejected),
        (451, K::Rejected),
        (500, K::Protocol),
        (503, K::Protocol),
        (555, K::Protocol),
    ];
    for (code, want) in cases {
        assert_eq!(smtp_reply(code), want, "{code}");
    }
}

/// Where the scripted peer differs from a willing server: (command word, reply), where a
/// `None` reply hangs up.
type Script = &'static [(&'static str, Option<&'static str>)];

/// The scripted reply to one command line.
fn reply(script: Script, command: &str) -> Option<&'static str> {
    let word = command.split(' ').next().unwrap_or("");
    match script.iter().find(|(w, _)| *w == word) {
        Some((_, reply)) => *reply,
        None => Some(match word {
            "EHLO" => "250 fake",
            "DATA" => "354 go on",
            "QUIT" => "221 bye",
            _ => "250 ok",
        }),
    }
}

/// A one-connection SMTP peer on loopback: sends `greeting`, then answers each command line
/// as `script` says; a message body is read up to its lone dot and accepted.
async fn scripted_smtp(greeting: &'static str, script: Script) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut in_body = false;
        if write.write_all(greeting.as_bytes()).await.is_err() {
            return;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let reply = match (in_body, line.as_str()) {
                (true, ".") => Some("250 queued"),
                (true, _) => continue,
                (false, command) => reply(script, command),
            };
            let Some(reply) = reply else { return };
            in_body = reply.starts_with("354");
            if write
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    port
}

/// A port nothing listens on (a listener bound and dropped).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

async fn smtp_error(port: u16, tls: Tls, login: bool) -> lettre::transport::smtp::Error {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(5)));
    if login {
        builder = builder.credentials(Credentials::new("user".into(), "wrong".into()));
    }
    let message = Message::builder()
        .from("fw@example.org".parse().expect("address"))
        .to("a@example.org".parse().expect("address"))
        .subject("test")
        .body(String::from("body"))
        .expect("message");
    tokio::time::timeout(BOUND, builder.build().send(message))
        .await
        .expect("the exchange ends")
        .expect_err("the exchange fails")
}

#[tokio::test]
async fn smtp_failures_are_classified_from_lettre_errors() {
    use AuthFailure::{Refused, Required};
    use FailureKind as K;
    const HELLO: &str = "220 fake ESMTP\r\n";
    let tls = || TlsParameters::new("127.0.0.1".into()).expect("TLS parameters");
    // (name, greeting, script, TLS mode, log in, kind)
    let cases: Vec<(&str, &str, Script, Tls, bool, FailureKind)> = vec![
        (
            "tls=required against a server without STARTTLS",
            HELLO,
            &[],
            Tls::Required(tls()),
            false,
            K::Tls(TlsFailure::StartTlsNotOffered),
        ),
        (
            "smtps:// against a plain-text server",
            HELLO,
            &[],
            Tls::Wrapper(tls()),
            false,
            K::Tls(TlsFailure::NotTls),
        ),
        (
            "credentials refused",
            HELLO,
            &[
                ("EHLO", Some("250-fake\r\n250 AUTH PLAIN LOGIN")),
                ("AUTH", Some("535 5.7.8 authentication failed")),
            ],
            Tls::None,
            true,
            K::Auth(Refused),
        ),
        (
            "no login method offered",
            HELLO,
            &[],
            Tls::None,
            true,
            K::Auth(Required),
        ),
        (
            "530 must issue STARTTLS",
            HELLO,
            &[(
                "MAIL",
                Some("530 5.7.0 Must issue a STARTTLS command first"),
            )],
            Tls::None,
            false,
            K::Auth(Required),
        ),
        (
            "recipient refused",
            HELLO,
            &[("RCPT", Some("550 5.1.1 no such user"))],
            Tls::None,
            false,
            K::AddressRejected,
        ),
        (
            "mailbox full, try later",
            HELLO,
            &[("RCPT", Some("452 4.2.2 over quota"))],
            Tls::None,
            false,
            K::Rejected,
        ),
        (
            "busy at the greeting",
            "421 4.3.2 too busy\r\n",
            &[],
            Tls::None,
            false,
            K::Rejected,
        ),
        (
            "a greeting that is not SMTP",
            "hello there\r\n",
            &[],
            Tls::None,
            false,
            K::Protocol,
        ),
        (
            "hangs up after EHLO",
            HELLO,
            &[("MAIL", None)],
            Tls::None,
            false,
            K::Protocol,
        ),
    ];
    for (name, greeting, script, tls, login, want) in cases {
        let port = scripted_smtp(greeting, script).await;
        let e = smtp_error(port, tls, login).await;
        assert_eq!(smtp(&e), want, "{name}: {e:?}");
    }
    let e = smtp_error(closed_port().await, Tls::None, false).await;
    assert_eq!(
        smtp(&e),
        K::Connect(ConnectFailure::Refused),
        "nothing listens: {e:?}"
    );
}

/// A one-connection HTTP peer that waits for the request and answers `answer` (or nothing).
async fn raw_http(answer: Option<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        match answer {
            Some(a) => {
                let _ = stream.write_all(a.as_bytes()).await;
            }
            None => tokio::time::sleep(BOUND).await,
        }
    });
    port
}

#[tokio::test]
async fn webhook_failures_are_classified_from_reqwest_errors() {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let error = async |url: String| {
        client
            .post(url)
            .send()
            .await
            .expect_err("the request fails")
    };
    let refused = error(format!("http://127.0.0.1:{}/", closed_port().await)).await;
    assert_eq!(
        http(&refused),
        FailureKind::Connect(ConnectFailure::Refused),
        "{refused:?}"
    );
    let plain = raw_http(Some(
        "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let not_tls = error(format!("https://127.0.0.1:{plain}/")).await;
    assert_eq!(
        http(&not_tls),
        FailureKind::Tls(TlsFailure::NotTls),
        "{not_tls:?}"
    );
    let silent = raw_http(None).await;
    let slow = error(format!("http://127.0.0.1:{silent}/")).await;
    assert_eq!(http(&slow), FailureKind::Timeout, "{slow:?}");

    for (status, want) in [
        (401, FailureKind::Auth(AuthFailure::Refused)),
        (403, FailureKind::Auth(AuthFailure::Refused)),
        (408, FailureKind::Timeout),
        (404, FailureKind::Rejected),
        (302, FailureKind::Rejected),
        (503, FailureKind::Rejected),
    ] {
        assert_eq!(http_status(status), want, "{status}");
    }
}
