//! `feedwatch send-test NOTIFIER`: sends a sample alert through one notifier and explains a
//! failure with a hint.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use crate::config::Config;
use crate::domain::{Alert, AlertPayload, error_chain};
use crate::notify::Notifier;

/// A sample alert for `send-test`.
fn sample_alert(notifier: &str) -> Alert {
    let now = Utc::now();
    let snippet = "…invited the Taliban to the so-called \u{201c}Moscow format\u{201d} talks, envoy Zamir Kabulov said…".to_string();
    let hl = |needle: &str| {
        snippet
            .find(needle)
            .map(|a| (a, a + needle.len()))
            .unwrap_or((0, 0))
    };
    let highlights = vec![hl("Moscow format"), hl("Kabulov")];
    Alert {
        id: 0,
        uid: format!("test-{}", now.timestamp()),
        notifier: notifier.to_string(),
        attempts: 0,
        created_at: now.timestamp(),
        digest: None,
        payload: AlertPayload {
            rule: "send-test".into(),
            query: "\"Moscow format\" OR Kabulov".into(),
            matched: vec!["Moscow format".into(), "Kabulov".into()],
            feed_name: "feedwatch test".into(),
            feed_url: "https://feedwatch.invalid/test.xml".into(),
            title: "feedwatch test alert: Russia Invites Taliban for Afghan Talks".into(),
            link: Some("https://feedwatch.invalid/test".into()),
            published: Some(now),
            snippet,
            highlights,
            summary: "A sample alert sent by `feedwatch send-test`.".into(),
            ..AlertPayload::default()
        },
    }
}

pub async fn run(path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let Some(cfg) = config.notifiers.get(name) else {
        let known: Vec<&str> = config.notifiers.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no notifier named {name:?} in {} (configured: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let notifier = Notifier::from_config(cfg, &config.poll.user_agent)
        .with_context(|| format!("cannot set up notifier {name:?}"))?;
    let alert = sample_alert(name);
    let mut out = super::stdout();
    match notifier.send(&alert, Utc::now().timestamp()).await {
        Ok(d) => {
            writeln!(out, "{name}: delivered; the server answered: {}", d.detail)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // Not delivered is the answer, even when nobody reads it any more (`| true`): a
            // closed pipe must not turn it into success.
            let _ = writeln!(out, "{name}: NOT delivered: {}", error_chain(&e));
            if let Some(h) = notifier.hint(&e) {
                let _ = writeln!(out, "hint: {h}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
