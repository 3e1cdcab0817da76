//! `feedwatch check`: loads and validates the config, prints what will be watched, matched and
//! sent where, with warnings about queries and notifiers that are valid but probably not what
//! was meant. A bad config is a `ConfigError`, which `main` maps to exit 78; warnings never
//! change the exit status.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Email, NotifierKind, SmtpTls};
use crate::notify::email::server_url;
use crate::redact::Redacted;
use crate::store::Mute;

/// `verbose` (`check -v`): also show how each rule's query was read.
pub async fn run(path: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    // The config is what `check` judges: a database it cannot read (another user's, say)
    // only leaves the mutes out of the summary, and says so.
    let mutes = match super::mute::mutes_if_any(&config).await {
        Ok(mutes) => mutes,
        Err(e) => {
            say!("feedwatch: warning: muted rules not shown: {e:#}");
            Vec::new()
        }
    };
    // `write!` not `print!`: a closed pipe is an error for `main`, not a panic.
    std::io::Write::write_all(
        &mut super::stdout(),
        summary(&config, &mutes, verbose).as_bytes(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The `check` summary: what will be watched, matched and sent where, which rules are muted
/// (`mutes`, from the database), and with `verbose`, how each query was read.
pub fn summary(c: &Config, mutes: &[Mute], verbose: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "config OK: {}", c.source.display());
    let _ = writeln!(s, "storage: {}", c.storage.path.display());
    let _ = writeln!(
        s,
        "poll: every {} by default, timeout {}, max body {} bytes, backlog {}",
        humantime::format_duration(c.poll.interval),
        humantime::format_duration(c.poll.timeout),
        c.poll.max_body,
        humantime::format_duration(c.poll.backlog)
    );
    let _ = writeln!(s, "feeds: {}", c.feeds.len());
    for f in &c.feeds {
        let tags = if f.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", f.tags.join(", "))
        };
        let _ = writeln!(
            s,
            "  - {} <{}> every {}{tags}",
            f.name,
            Redacted::url(&f.url),
            humantime::format_duration(f.interval)
        );
    }
    let enabled = c.rules.iter().filter(|r| r.enabled).count();
    let _ = writeln!(s, "rules: {} ({} enabled)", c.rules.len(), enabled);
    for r in &c.rules {
        let _ = writeln!(
            s,
            "  - {}{}{}: {} → {} feed(s), notify {}",
            r.name,
            if r.enabled { "" } else { " (disabled)" },
            super::mute::mute_note(mutes, &r.name),
            r.query_text,
            r.feeds.len(),
            r.notify.join(", ")
        );
        if verbose {
            let _ = writeln!(s, "    read as: {}", r.query);
        }
        for w in r.query.warnings() {
            let _ = writeln!(s, "    warning: {w}");
        }
    }
    let _ = writeln!(s, "notifiers: {}", c.notifiers.len());
    for n in c.notifiers.values() {
        let detail = match &n.kind {
            NotifierKind::Email(e) => {
                let to: Vec<String> = e.to.iter().map(|m| m.to_string()).collect();
                format!(
                    "{} → {}{}",
                    server_url(&e.host, e.port, e.tls),
                    to.join(", "),
                    login(e)
                )
            }
            NotifierKind::Stdout => "standard output".to_string(),
            NotifierKind::Webhook(w) => {
                format!("POST {} ({:?})", Redacted::webhook(&w.url), w.format)
            }
        };
        let digest = n
            .digest
            .map(|d| format!(", digest {}", d.label()))
            .unwrap_or_default();
        // Quiet hours are wall-clock hours: the zone says whose.
        let quiet = n
            .quiet_hours
            .map(|q| format!(", quiet hours {q} ({})", n.timezone))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  - {} ({}): {detail}{digest}{quiet}",
            n.name,
            n.kind.type_name()
        );
        if let NotifierKind::Email(e) = &n.kind
            && e.logs_in()
            && e.tls == SmtpTls::None
        {
            let _ = writeln!(
                s,
                "    warning: notify.{} sends its SMTP password in clear (?tls=none): only for a \
                 trusted local relay",
                n.name
            );
        }
        if n.digest.is_some() && n.quiet_hours.is_some() {
            let _ = writeln!(
                s,
                "    warning: notify.{} has a digest: its alerts keep to the digest's schedule and \
                 quiet_hours holds none of them (set the digest's time outside the quiet hours)",
                n.name
            );
        }
        if !c
            .rules
            .iter()
            .any(|r| r.enabled && r.notify.contains(&n.name))
        {
            let _ = writeln!(
                s,
                "    warning: notify.{} is used by no enabled rule: it receives only feed-health \
                 alerts",
                n.name
            );
        }
    }
    s
}

/// How an email notifier logs in, for its summary line.
fn login(e: &Email) -> String {
    let Some(user) = e.username.as_deref().filter(|_| e.logs_in()) else {
        return String::new();
    };
    match e.tls {
        // `smtp://` with a login is already upgraded to this (config's `SmtpTls::for_login`).
        SmtpTls::Required => {
            format!(" (login {user}, STARTTLS required: the password is never sent in clear)")
        }
        SmtpTls::Wrapper => format!(" (login {user} over TLS)"),
        SmtpTls::None | SmtpTls::Opportunistic => format!(" (login {user} in clear)"),
    }
}
