//! `feedwatch feeds`: each configured feed with its health, schedule and validators.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::config::Config;
use crate::redact::{Redacted, redact_text};
use crate::store::{FeedRow, Store};

pub async fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let rows = store.feeds_overview().await?;
    let by_url: BTreeMap<&str, &FeedRow> = rows.iter().map(|r| (r.url.as_str(), r)).collect();
    if json {
        let out: Vec<serde_json::Value> = config
            .feeds
            .iter()
            .map(|f| {
                let url = Redacted::url(&f.url).to_string();
                let mut v = serde_json::json!({ "name": f.name, "url": url });
                if let Some(r) = by_url.get(f.url.as_str()) {
                    let shown = FeedRow {
                        url,
                        moved_to: r.moved_to.as_deref().map(redact_text),
                        ..(*r).clone()
                    };
                    v["state"] = serde_json::to_value(shown).unwrap_or_default();
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for f in &config.feeds {
        println!("{}  <{}>", f.name, Redacted::url(&f.url));
        let Some(r) = by_url.get(f.url.as_str()) else {
            println!("    never polled");
            continue;
        };
        if let Some(t) = &r.title {
            println!("    title:        {t}");
        }
        let health = if r.gone_at.is_some() {
            format!("GONE (410 since {}): not polled", when(r.gone_at))
        } else if r.consecutive_failures > 0 {
            format!(
                "FAILING since {} ({} in a row): {}",
                when(r.failing_since),
                r.consecutive_failures,
                r.last_error.as_deref().unwrap_or("")
            )
        } else {
            "ok".to_string()
        };
        println!("    health:       {health}");
        println!("    last success: {}", when(r.last_success_at));
        println!("    next poll:    {}", when(r.next_poll_at));
        println!(
            "    items: {}   etag: {}   last-modified: {}",
            r.items,
            if r.has_etag { "yes" } else { "no" },
            if r.has_last_modified { "yes" } else { "no" }
        );
        if let Some(m) = &r.moved_to {
            println!(
                "    moved permanently to {}: update the config",
                redact_text(m)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::<Utc>::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string())
}
