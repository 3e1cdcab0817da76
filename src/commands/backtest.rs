//! `feedwatch backtest RULE --since D`: runs one configured rule over the items already stored.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;

use super::print_hit;
use crate::config::Config;
use crate::rules::RuleSet;
use crate::store::Store;

pub async fn run(path: &Path, name: &str, since: Duration, json: bool) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let config = Config::load(path)?;
    let Some(rule) = config.rules.iter().find(|r| r.name == name) else {
        let known: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
        anyhow::bail!("no rule named {name:?} (configured: {})", known.join(", "));
    };
    let store = Store::open(&config.storage.path).await?;
    let since_ts = Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let rules = RuleSet::new(vec![rule.query.clone()]);
    let tty = std::io::stdout().is_terminal();
    let mut json_out = Vec::new();
    let mut out = super::stdout();
    let items = store.items_since(since_ts).await?;
    let mut count = 0;
    for stored in &items {
        let Some(n) = config
            .feeds
            .iter()
            .position(|f| f.url.as_str() == stored.feed_url)
        else {
            continue; // a feed no longer configured
        };
        if !rule.feeds.contains(&n) {
            continue;
        }
        let feed = &config.feeds[n];
        let doc = crate::pipeline::document(&stored.item, &feed.name);
        let Some(hit) = rules.matches(&doc).into_iter().next() else {
            continue;
        };
        count += 1;
        if json {
            json_out.push(serde_json::json!({
                "feed": feed.name, "title": stored.item.title, "link": stored.item.link,
                "published": stored.item.published, "matched": hit.terms,
            }));
        } else {
            print_hit(
                &mut out,
                &stored.item.title,
                stored.item.link.as_deref(),
                &format!("  ({})", feed.name),
                &hit,
                tty,
            )?;
        }
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json_out)?)?;
    } else {
        writeln!(
            out,
            "rule {name:?} would have alerted on {count} of {} stored items from the last {}",
            items.len(),
            humantime::format_duration(since)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
