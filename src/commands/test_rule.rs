//! `feedwatch test-rule QUERY --file F | --url U`: parses one feed and shows which items a
//! query matches, with the matched terms highlighted.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::{FeedBody, FeedSource, print_hit};
use crate::cli::TestRuleArgs;
use crate::rules::{Query, RuleSet};

pub async fn run(args: &TestRuleArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let query = match Query::parse_with(&args.query, args.match_options()) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("feedwatch: invalid query: {e}\n{}", e.caret(&args.query));
            return Ok(ExitCode::from(2));
        }
    };
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
