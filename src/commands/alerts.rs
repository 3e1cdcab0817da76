//! `feedwatch alerts`: lists the outbox, requeues one alert or every dead one, or flushes the
//! waiting digests.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use anyhow::Context;

use crate::cli::{AlertsAction, AlertsArgs};
use crate::config::{Config, DigestSchedule};
use crate::domain::AlertStatus;
use crate::notify::Notifier;
use crate::outbox::{DeliveryReport, Outbox};
use crate::store::{DigestQueue, Store};

pub async fn run(path: &Path, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let now = Utc::now().timestamp();
    let mut out = super::stdout();
    match &args.action {
        Some(AlertsAction::Flush { notifier }) => {
            flush(&config, store, notifier.as_deref(), now, &mut out).await
        }
        Some(AlertsAction::Retry { id: Some(id), .. }) => {
            let id = *id;
            if store.requeue(id, now).await? {
                writeln!(out, "alert {id} requeued")?;
                Ok(ExitCode::SUCCESS)
            } else {
                say!("feedwatch: no undelivered alert with id {id}");
                Ok(ExitCode::FAILURE)
            }
        }
        Some(AlertsAction::Retry { .. }) => {
            let n = store.requeue_dead(now).await?;
            writeln!(
                out,
                "{n} dead alert{} requeued",
                if n == 1 { "" } else { "s" }
            )?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let rows = store.list_alerts(args.status, args.limit).await?;
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                writeln!(out, "no alerts")?;
            }
            let time = |t: i64| super::local_time(t).unwrap_or_default();
            for r in rows {
                let when = match (r.status, r.sent_at, r.next_attempt_at) {
                    (AlertStatus::Sent, Some(t), _) => format!("sent {}", time(t)),
                    (AlertStatus::Dead, _, _) => {
                        "gave up; `feedwatch alerts retry ID` requeues".to_string()
                    }
                    (AlertStatus::Pending, _, Some(_)) if r.digest.is_some() => {
                        waiting_for(r.digest.as_deref().unwrap_or(""))
                    }
                    // A server's Retry-After is named: `once` waits for it too.
                    (_, _, Some(t)) => match r.not_before.filter(|&nb| nb > now) {
                        Some(nb) if nb >= t => {
                            format!(
                                "next attempt {}, as the server asked (Retry-After)",
                                time(t)
                            )
                        }
                        Some(nb) => format!(
                            "next attempt {}; the server asked for none before {}",
                            time(t),
                            time(nb)
                        ),
                        None => format!("next attempt {}", time(t)),
                    },
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "{:>6}  {:<7}  {:<16}  {:<12}  {}  [{}]",
                    r.id, r.status, r.rule, r.notifier, r.title, when
                )?;
                if let Some(e) = &r.last_error {
                    writeln!(
                        out,
                        "        last error ({} attempt{}): {e}",
                        r.attempts,
                        if r.attempts == 1 { "" } else { "s" }
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `feedwatch alerts flush [NOTIFIER]`: makes the waiting digests due now and, when no daemon
/// holds the delivery lock, sends them; else the daemon sends them within seconds (its lanes
/// watch the database for other processes' changes). Exit 1 when one could not be sent (it
/// stays queued and is retried).
async fn flush(
    config: &Config,
    store: Store,
    only: Option<&str>,
    now: i64,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if let Some(name) = only {
        known_notifier(config, name)?;
    }
    // Taken before anything changes, so that no daemon can start sending between the flush
    // and this process's own delivery: one deliverer, nothing sent twice.
    let lock = store.try_delivery_lock()?;
    let mut notifiers = std::collections::BTreeMap::new();
    if lock.is_some() {
        for (name, cfg) in &config.notifiers {
            if only.is_none_or(|n| n == name) {
                let notifier = Notifier::from_config(cfg, &config.poll.user_agent)
                    .with_context(|| format!("cannot set up notifier {name:?}"))?;
                notifiers.insert(name.clone(), notifier);
            }
        }
    }
    let outbox = Outbox::new(store, notifiers, config.delivery.clone());
    let queues = outbox.flush(only, now).await?;
    if queues.is_empty() {
        match only {
            Some(name) => writeln!(out, "no digests waiting for {name}")?,
            None => writeln!(out, "no digests waiting")?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut by_notifier: std::collections::BTreeMap<&str, Vec<&DigestQueue>> = Default::default();
    for q in &queues {
        by_notifier.entry(&q.notifier).or_default().push(q);
    }
    let mut failed = false;
    for (name, queues) in by_notifier {
        let count: u64 = queues.iter().map(|q| q.count).sum();
        let what: Vec<String> = queues
            .iter()
            .map(|q| format!("{}: {}", describe(&q.schedule), q.count))
            .collect();
        write!(
            out,
            "{name}: {} flushed ({})",
            alerts(count),
            what.join("; ")
        )?;
        if lock.is_none() {
            writeln!(out)?;
            continue;
        }
        if !config.notifiers.contains_key(name) {
            writeln!(out, "; not sent: no notifier {name:?} is configured")?;
            failed = true;
            continue;
        }
        let report = outbox.deliver_digests(now, Some(name)).await?;
        match report {
            DeliveryReport {
                deferred: 0,
                dead: 0,
                ..
            } => writeln!(out, "; sent")?,
            DeliveryReport { dead: 0, .. } => {
                failed = true;
                writeln!(
                    out,
                    "; NOT sent: they stay queued and are retried (`feedwatch alerts` shows the \
                     error)"
                )?;
            }
            _ => {
                failed = true;
                writeln!(
                    out,
                    "; NOT sent: given up (`feedwatch alerts --status dead`)"
                )?;
            }
        }
    }
    if lock.is_none() {
        writeln!(
            out,
            "the running daemon holds the delivery lock: it sends them within seconds"
        )?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `name` is a configured notifier, or the error names the closest one and lists them all.
fn known_notifier(config: &Config, name: &str) -> anyhow::Result<()> {
    if config.notifiers.contains_key(name) {
        return Ok(());
    }
    let near = config
        .notifiers
        .keys()
        .map(|k| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("did you mean {k:?}? "))
        .unwrap_or_default();
    let known: Vec<&str> = config.notifiers.keys().map(String::as_str).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    anyhow::bail!("no notifier named {name:?} ({near}configured: {known})")
}

/// "1 alert", "3 alerts".
fn alerts(n: u64) -> String {
    format!("{n} alert{}", if n == 1 { "" } else { "s" })
}

/// A digest queue's label as the listings say it.
fn describe(label: &str) -> String {
    match DigestSchedule::from_label(label) {
        Ok(DigestSchedule::QuietUntil(q)) => format!("quiet hours {q}"),
        Ok(DigestSchedule::Now) => "flushed earlier".to_string(),
        _ => format!("digest {label}"),
    }
}

/// What an alert waiting in the digest queue `label` waits for, in the listing.
fn waiting_for(label: &str) -> String {
    match DigestSchedule::from_label(label) {
        Ok(DigestSchedule::QuietUntil(q)) => format!("held by quiet hours {q}"),
        Ok(DigestSchedule::Now) => "flushed: sending".to_string(),
        _ => format!("waiting for digest {label}"),
    }
}
