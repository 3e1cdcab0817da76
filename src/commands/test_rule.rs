//! `feedwatch test-rule QUERY --file F | --url U`: parses one feed and shows which items a
//! query matches, with the matched terms highlighted, after how the query was read and any
//! warnings about it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::{FeedBody, FeedSource, print_hit};
use crate::cli::TestRuleArgs;
use crate::parse::ParsedFeed;
use crate::rules::{Query, RuleSet};

/// Exit status when the feed could not be read, fetched or parsed: not 1 ("nothing matched"),
/// so that a script can tell a broken feed from a quiet one.
pub const EXIT_NO_FEED: u8 = 3;

pub async fn run(args: &TestRuleArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let query = match Query::parse_with(&args.query, args.match_options()) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("feedwatch: invalid query: {e}\n{}", e.caret(&args.query));
            return Ok(ExitCode::from(2));
        }
    };
    super::show_query(&mut super::stdout(), &query, args.json)?;
    let (feed, base) = match load(args).await {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("feedwatch: error: {e:#}");
            return Ok(ExitCode::from(EXIT_NO_FEED));
        }
    };
    let feed_name = feed.title.clone().unwrap_or_else(|| base.to_string());
    let rules = RuleSet::new(vec![query]);
    let tty = std::io::stdout().is_terminal();
    let mut json = Vec::new();
    let mut out = super::stdout();
    let mut count = 0;
    for item in &feed.items {
        let doc = crate::pipeline::document(item, &feed_name);
        let Some(hit) = rules.matches(&doc).into_iter().next() else {
            continue;
        };
        count += 1;
        if args.json {
            json.push(serde_json::json!({
                "title": item.title, "link": item.link, "published": item.published,
                "matched": hit.terms,
            }));
        } else {
            print_hit(&mut out, &item.title, item.link.as_deref(), "", &hit, tty)?;
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        writeln!(out, "{count} of {} items matched", feed.items.len())?;
    }
    Ok(if count > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reads or fetches the feed and parses it; any error here means there is no feed to try.
async fn load(args: &TestRuleArgs) -> anyhow::Result<(ParsedFeed, url::Url)> {
    let source = match (&args.file, &args.url) {
        (Some(file), _) => FeedSource::File(file.clone()),
        (None, Some(u)) => {
            FeedSource::Url(url::Url::parse(u).with_context(|| format!("invalid URL {u:?}"))?)
        }
        (None, None) => anyhow::bail!("give --file or --url"),
    };
    let FeedBody {
        bytes,
        content_type,
        base,
    } = source.load().await?;
    let feed = crate::parse::parse_feed(&bytes, content_type.as_deref(), &base)
        .with_context(|| format!("cannot parse {base}"))?;
    Ok((feed, base))
}
