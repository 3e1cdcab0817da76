//! `feedwatch alerts`: lists the outbox, or requeues one alert or every dead one.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::cli::{AlertsAction, AlertsArgs};
use crate::config::Config;
use crate::domain::AlertStatus;
use crate::store::Store;

pub async fn run(path: &Path, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let now = Utc::now().timestamp();
    let mut out = super::stdout();
    match args.action {
        Some(AlertsAction::Retry { id: Some(id), .. }) => {
            if store.requeue(id, now).await? {
                writeln!(out, "alert {id} requeued")?;
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("feedwatch: no undelivered alert with id {id}");
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
                        format!("waiting for digest {}", r.digest.as_deref().unwrap_or(""))
                    }
                    (_, _, Some(t)) => format!("next attempt {}", time(t)),
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
