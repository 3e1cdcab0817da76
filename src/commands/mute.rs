//! `feedwatch mute RULE [--for D]` and `feedwatch unmute RULE`: silencing a rule for a while
//! (`feedwatch rules` lists them with their mutes). The mutes live in the database
//! (`store::mutes`), so they hold across restarts and reloads and a running daemon sees them on
//! its next poll.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;

use super::{find_rule, local_time};
use crate::config::Config;
use crate::store::{Mute, Store};

pub async fn mute(path: &Path, rule: &str, duration: Option<Duration>) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    find_rule(&config, rule)?;
    if duration.is_some_and(|d| d.is_zero()) {
        anyhow::bail!("--for must be longer than 0s (or left out: until `feedwatch unmute`)");
    }
    let store = Store::open(&config.storage.path).await?;
    let now = Utc::now().timestamp();
    let until =
        duration.map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
    store.mute(rule, now, until).await?;
    writeln!(
        super::stdout(),
        "rule {rule:?} muted {}: its matches are stored but not alerted (`feedwatch backtest {rule}` shows them)",
        until_text(until)
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn unmute(path: &Path, rule: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let now = Utc::now().timestamp();
    // A rule removed from the config may still have a mute to lift; only a name that is
    // neither configured nor muted is a mistake.
    let muted = store.mutes(now).await?.iter().any(|m| m.rule == rule);
    if !muted {
        find_rule(&config, rule)?;
    }
    store.unmute(rule, now).await?;
    let mut out = super::stdout();
    if muted {
        writeln!(out, "rule {rule:?} unmuted: its next matches alert")?;
    } else {
        writeln!(out, "rule {rule:?} was not muted")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The rules muted now, from the config's database if it exists; none otherwise (a database
/// is not created just to find it empty).
pub(crate) async fn mutes_if_any(config: &Config) -> anyhow::Result<Vec<Mute>> {
    if !config.storage.path.exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&config.storage.path).await?;
    Ok(store.mutes(Utc::now().timestamp()).await?)
}

/// ` (muted until …)` after a rule's name when it is muted; empty otherwise.
pub(crate) fn mute_note(mutes: &[Mute], rule: &str) -> String {
    mutes
        .iter()
        .find(|m| m.rule == rule)
        .map(|m| format!(" (muted {})", until_text(m.until)))
        .unwrap_or_default()
}

fn until_text(until: Option<i64>) -> String {
    match until.and_then(local_time) {
        Some(t) => format!("until {t}"),
        None => "until `feedwatch unmute`".to_string(),
    }
}
