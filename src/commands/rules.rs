//! `feedwatch rules [--json]`: the configured rules, their feeds and notifiers, and whatever
//! silences them (disabled in the config, muted with `feedwatch mute`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::mute::{mute_note, mutes_if_any};
use crate::config::Config;

pub async fn rules(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let mutes = mutes_if_any(&config).await?;
    let mut out = super::stdout();
    if json {
        let list: Vec<serde_json::Value> = (config.rules.iter())
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "query": r.query_text,
                    "enabled": r.enabled,
                    "feeds": r.feeds.iter().filter_map(|&n| config.feeds.get(n)).map(|f| &f.name).collect::<Vec<_>>(),
                    "notify": r.notify,
                    "muted": mutes.iter().find(|m| m.rule == r.name),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &config.rules {
        writeln!(
            out,
            "{}{}{}: {}",
            r.name,
            if r.enabled { "" } else { " (disabled)" },
            mute_note(&mutes, &r.name),
            r.query_text
        )?;
        writeln!(
            out,
            "    {} feed(s), notify {}",
            r.feeds.len(),
            r.notify.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
