//! `feedwatch test-rule QUERY --file F | --url U`: parses one feed and shows which items a
//! query matches, with the matched terms highlighted.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::print_hit;
use crate::cli::TestRuleArgs;
use crate::fetch::{FetchOutcome, FetchSettings, Fetcher, Validators};
use crate::rules::{Query, RuleSet};

pub async fn run(args: &TestRuleArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let query = match Query::parse(&args.query) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("feedwatch: invalid query: {e}\n{}", e.caret(&args.query));
            return Ok(ExitCode::from(2));
        }
    };
    let (bytes, content_type, base) = match (&args.file, &args.url) {
        (Some(file), _) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let abs = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            let base = url::Url::from_file_path(&abs)
                .unwrap_or_else(|()| url::Url::parse("file:///feed.xml").expect("valid URL"));
            (bytes, None, base)
        }
        (None, Some(u)) => {
            let url = url::Url::parse(u).with_context(|| format!("invalid URL {u:?}"))?;
            let fetcher = Fetcher::new(&FetchSettings::new(
                crate::config::DEFAULT_TIMEOUT,
                crate::config::DEFAULT_MAX_BODY,
                crate::config::default_user_agent(),
            ))?;
            match fetcher.fetch(&url, &Validators::default()).await {
                Ok(FetchOutcome::Fetched(f)) => (f.body, f.content_type, f.final_url),
                Ok(FetchOutcome::NotModified(_)) => {
                    anyhow::bail!("{u}: server answered 304 to an unconditional GET")
                }
                Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot fetch {u}"))),
            }
        }
        (None, None) => anyhow::bail!("give --file or --url"),
    };
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
