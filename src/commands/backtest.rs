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
    let rule = super::find_rule(&config, name)?;
    let store = Store::open(&config.storage.path).await?;
    // Matches a mute held back: shown, and marked, since they were never alerted.
    let held = store.muted_items(name).await?;
    let since_ts = Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let rules = RuleSet::new(vec![rule.query.clone()]);
    let tty = std::io::stdout().is_terminal();
    let mut json_out = Vec::new();
    let mut out = super::stdout();
    let items = store.items_since(since_ts).await?;
    let mut count = 0;
    let mut muted = 0;
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
        let was_muted = held.contains(&(
            stored.feed_url.clone(),
            stored.item.key.as_str().to_string(),
        ));
        muted += usize::from(was_muted);
        if json {
            json_out.push(serde_json::json!({
                "feed": feed.name, "title": stored.item.title, "link": stored.item.link,
                "published": stored.item.published, "matched": hit.terms, "muted": was_muted,
            }));
        } else {
            let mark = if was_muted {
                "  [muted: not alerted]"
            } else {
                ""
            };
            print_hit(
                &mut out,
                &stored.item.title,
                stored.item.link.as_deref(),
                &format!("  ({}){mark}", feed.name),
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
        if muted > 0 {
            writeln!(
                out,
                "{muted} of them matched while the rule was muted, and were not alerted"
            )?;
        }
        let mutes = store.mutes(Utc::now().timestamp()).await?;
        let note = super::mute::mute_note(&mutes, name);
        if !note.is_empty() {
            writeln!(out, "the rule is muted now{note}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
