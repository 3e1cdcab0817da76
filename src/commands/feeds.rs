//! `feedwatch feeds`: each configured feed with its health, schedule and validators.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::redact::{Redacted, redact_text};
use crate::store::{FeedRow, Store};

pub async fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let rows = store.feeds_overview().await?;
    let by_url: BTreeMap<&str, &FeedRow> = rows.iter().map(|r| (r.url.as_str(), r)).collect();
    let mut out = super::stdout();
    if json {
        let list: Vec<serde_json::Value> = config
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
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for f in &config.feeds {
        writeln!(out, "{}  <{}>", f.name, Redacted::url(&f.url))?;
        let Some(r) = by_url.get(f.url.as_str()) else {
            writeln!(out, "    never polled")?;
            continue;
        };
        if let Some(t) = &r.title {
            writeln!(out, "    title:        {t}")?;
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
        writeln!(out, "    health:       {health}")?;
        writeln!(out, "    last success: {}", when(r.last_success_at))?;
        writeln!(out, "    next poll:    {}", when(r.next_poll_at))?;
        writeln!(
            out,
            "    items: {}   etag: {}   last-modified: {}",
            r.items,
            if r.has_etag { "yes" } else { "no" },
            if r.has_last_modified { "yes" } else { "no" }
        )?;
        if f.article.is_some() || r.articles.fetched + r.articles.failed > 0 {
            let a = &r.articles;
            // Stored with its link masked already ("LINK: reason"): shown as it is.
            let last = (a.error.as_deref())
                .map(|e| format!("   last failure: {e}"))
                .unwrap_or_default();
            writeln!(
                out,
                "    articles: {} fetched, {} failed{last}",
                a.fetched, a.failed
            )?;
        }
        if let Some(m) = &r.moved_to {
            writeln!(
                out,
                "    moved permanently to {}: update the config",
                redact_text(m)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn when(t: Option<i64>) -> String {
    t.and_then(super::local_time)
        .unwrap_or_else(|| "-".to_string())
}
