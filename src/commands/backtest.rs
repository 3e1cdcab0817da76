//! `feedwatch backtest RULE | --query Q --since D`: runs one configured rule, or an ad-hoc
//! query, over the items already stored, marking those that already alerted (and, for a rule,
//! those a mute held back).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::print_hit;
use crate::cli::BacktestArgs;
use crate::config::Config;
use crate::domain::AlertStatus;
use crate::rules::{Query, RuleSet};
use crate::store::Store;

pub async fn run(path: &Path, args: &BacktestArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let config = Config::load(path)?;
    // What runs where: a rule over its own feeds, an ad-hoc query over every feed (with the
    // `[matching]` defaults a rule without options gets).
    let (label, query, feeds, rule_name) = match (&args.query, &args.rule) {
        (Some(src), _) => match Query::parse_with(src, config.matching) {
            Ok(q) => (
                format!("query {src:?}"),
                q,
                (0..config.feeds.len()).collect(),
                None,
            ),
            Err(e) => {
                say!("feedwatch: invalid query: {e}\n{}", e.caret(src));
                return Ok(ExitCode::from(2));
            }
        },
        (None, Some(name)) => {
            let rule = super::find_rule(&config, name)?;
            let label = format!("rule {name:?}");
            (label, rule.query.clone(), rule.feeds.clone(), Some(name))
        }
        (None, None) => anyhow::bail!("give a rule name or --query"),
    };
    super::show_query(&mut super::stdout(), &query, args.json)?;
    let store = Store::open(&config.storage.path).await?;
    // Matches a mute held back: shown, and marked, since they were never alerted.
    let held = match rule_name {
        Some(name) => store.muted_items(name).await?,
        None => HashSet::new(),
    };
    let since_ts =
        Utc::now().timestamp() - i64::try_from(args.since.as_secs()).unwrap_or(i64::MAX / 2);
    let rules = RuleSet::new(vec![query]);
    let tty = std::io::stdout().is_terminal();
    let mut json_out = Vec::new();
    let mut out = super::stdout();
    let items = store.items_since(since_ts).await?;
    let (mut count, mut muted, mut already, mut on_the_way, mut given_up) = (0, 0, 0, 0, 0);
    for stored in &items {
        let Some(n) = config
            .feeds
            .iter()
            .position(|f| f.url.as_str() == stored.feed_url)
        else {
            continue; // a feed no longer configured
        };
        if !feeds.contains(&n) {
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
        let alerted = stored.rules_with(&[AlertStatus::Sent]);
        let queued = stored.rules_with(&[AlertStatus::Pending, AlertStatus::Retry]);
        let failed = stored.rules_with(&[AlertStatus::Dead]);
        already += usize::from(!alerted.is_empty());
        on_the_way += usize::from(alerted.is_empty() && !queued.is_empty());
        given_up += usize::from(alerted.is_empty() && queued.is_empty() && !failed.is_empty());
        if args.json {
            json_out.push(serde_json::json!({
                "feed": feed.name, "title": stored.item.title, "link": stored.item.link,
                "published": stored.item.published, "matched": hit.terms, "muted": was_muted,
                "alerted": alerted, "queued": queued, "failed": failed,
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
            for (what, rules) in [
                ("already alerted", &alerted),
                ("alert queued, not delivered yet", &queued),
                ("alert given up, never delivered", &failed),
            ] {
                if !rules.is_empty() {
                    writeln!(out, "  {what}: {}", rules.join(", "))?;
                }
            }
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json_out)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{label} would have alerted on {count} of {} stored items from the last {} \
         ({already} already alerted{})",
        items.len(),
        humantime::format_duration(args.since),
        undelivered_note(on_the_way, given_up),
    )?;
    if let Some(name) = rule_name {
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

/// `, 2 queued, 1 given up` after the count of items already alerted: matches whose alert was
/// decided but has not reached anyone (yet, or ever). Empty when there are none.
fn undelivered_note(queued: usize, given_up: usize) -> String {
    let mut note = String::new();
    if queued > 0 {
        note.push_str(&format!(", {queued} queued"));
    }
    if given_up > 0 {
        note.push_str(&format!(", {given_up} given up"));
    }
    note
}
