//! Email over TLS to a real SMTP server on loopback: STARTTLS required, a private CA trusted
//! through `ca_file`, and the failures a user meets when TLS is misconfigured.

mod support;

use std::path::Path;

use support::{Run, SmtpServer, feedwatch, test_pki};

fn config(dir: &Path, smtp: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    let path = dir.join(format!("fw-{}.toml", ca.len()));
    std::fs::write(
        &path,
        format!(
            "[storage]\npath = \"fw.db\"\n[notify.mail]\ntype = \"email\"\nsmtp = \"{smtp}\"\n\
             from = \"fw@localhost\"\nto = [\"a@example.org\"]\ntimeout = \"10s\"\n{ca}"
        ),
    )
    .expect("write config");
    path.to_str().expect("utf-8").to_string()
}

/// `feedwatch send-test mail` to `smtp`, trusting `ca` if given.
async fn send_test(dir: &Path, smtp: &str, ca: Option<&Path>) -> Run {
    feedwatch(&["--config", &config(dir, smtp, ca), "send-test", "mail"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_with_a_private_ca_delivers_and_fails_closed_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, leaf, key) = test_pki(dir.path());
    let smtp = SmtpServer::start_starttls(&leaf, &key, &ca);
    let url = format!("smtp://localhost:{}?tls=required", smtp.port);

    let ok = send_test(dir.path(), &url, Some(&ca)).await;
    assert_eq!(ok.code, Some(0), "{ok:#?}");
    assert!(
        ok.stdout.contains("delivered; the server answered: 250"),
        "{}",
        ok.stdout
    );
    assert_eq!(smtp.mails().len(), 1);
    assert!(
        smtp.mails()[0]
            .subject()
            .starts_with("[feedwatch] send-test:")
    );

    // Without the CA the certificate is not trusted: nothing is sent in clear instead.
    let untrusted = send_test(dir.path(), &url, None).await;
    assert_eq!(untrusted.code, Some(1), "{untrusted:#?}");
    assert!(
        untrusted.stdout.contains("NOT delivered"),
        "{}",
        untrusted.stdout
    );
    assert!(
        untrusted.stdout.to_lowercase().contains("certificate"),
        "{}",
        untrusted.stdout
    );
    assert!(
        untrusted
            .stdout
            .contains("hint: the server's TLS certificate is not trusted"),
        "{}",
        untrusted.stdout
    );
    assert_eq!(smtp.mails().len(), 1, "fails closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_smtp_upgrades_when_starttls_is_offered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, leaf, key) = test_pki(dir.path());
    let smtp = SmtpServer::start_starttls(&leaf, &key, &ca);
    // Plain smtp:// upgrades when the server offers STARTTLS; with the CA it verifies.
    let url = format!("smtp://localhost:{}", smtp.port);
    let run = send_test(dir.path(), &url, Some(&ca)).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(smtp.mails().len(), 1);
    // Proof that it upgraded rather than sent in clear: without the CA the handshake fails.
    let run = send_test(dir.path(), &url, None).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout.to_lowercase().contains("certificate"),
        "{}",
        run.stdout
    );
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requiring_tls_from_a_server_without_starttls_hints_at_smtps_not_at_tls_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let smtp = SmtpServer::start(); // no STARTTLS offered
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port);
    let run = send_test(dir.path(), &url, None).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("NOT delivered"), "{}", run.stdout);
    // The hint names the real problem and the way out; it used to advise "?tls=required" to
    // the very user who had set it.
    let hint = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("a hint:\n{}", run.stdout));
    assert!(
        hint.contains("does not offer STARTTLS") && hint.contains("smtps://127.0.0.1:"),
        "{hint}"
    );
    assert!(!hint.contains("use smtp://"), "{hint}");
    assert!(smtp.mails().is_empty());
}
