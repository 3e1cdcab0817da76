//! `feedwatch test-rule QUERY --file F | --url U`: parses one feed and shows which items a
//! query matches, with the matched terms highlighted, after how the query was read and any
//! warnings about it. With `--fetch-article`, or for a configured feed that sets
//! `fetch_article = true`, the items' articles are fetched as a poll fetches them and matched
//! as the `article` field.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{FeedBody, FeedSource, print_hit};
use crate::article::{Articles, DEFAULT_MAX_ARTICLES_PER_POLL};
use crate::cli::TestRuleArgs;
use crate::config::{ArticleSettings, Config};
use crate::fetch::FetchSettings;
use crate::parse::ParsedFeed;
use crate::rules::{Query, RuleSet};

/// Exit status when the feed could not be read, fetched or parsed: not 1 ("nothing matched"),
/// so that a script can tell a broken feed from a quiet one.
pub const EXIT_NO_FEED: u8 = 3;

pub async fn run(config: &Path, args: &TestRuleArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let query = match Query::parse_with(&args.query, args.match_options()) {
        Ok(q) => q,
        Err(e) => {
            say!("feedwatch: invalid query: {e}\n{}", e.caret(&args.query));
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(selector) = &args.article_selector
        && !crate::article::valid_selector(selector)
    {
        say!("feedwatch: invalid --article-selector {selector:?}: not a CSS selector");
        return Ok(ExitCode::from(2));
    }
    super::show_query(&mut super::stdout(), &query, args.json)?;
    let (mut feed, base) = match load(args).await {
        Ok(loaded) => loaded,
        Err(e) => {
            say!("feedwatch: error: {e:#}");
            return Ok(ExitCode::from(EXIT_NO_FEED));
        }
    };
    let article_errors = match article_plan(config, args) {
        Some(plan) => Some(plan.fill(&base, &mut feed).await?),
        None => None,
    };
    let feed_name = feed.title.clone().unwrap_or_else(|| base.to_string());
    let rules = RuleSet::new(vec![query]);
    let tty = std::io::stdout().is_terminal();
    let mut json = Vec::new();
    let mut out = super::stdout();
    let mut count = 0;
    for (n, item) in feed.items.iter().enumerate() {
        let doc = crate::pipeline::document(item, &feed_name);
        let Some(hit) = rules.matches(&doc).into_iter().next() else {
            continue;
        };
        count += 1;
        let article_error = article_errors.as_ref().and_then(|e| e.get(&n));
        if args.json {
            let mut entry = serde_json::json!({
                "title": item.title, "link": item.link, "published": item.published,
                "matched": hit.terms,
            });
            if article_errors.is_some() {
                entry["article"] = item.article.clone().into();
                entry["article_error"] = article_error.cloned().into();
            }
            json.push(entry);
        } else {
            print_hit(&mut out, &item.title, item.link.as_deref(), "", &hit, tty)?;
            if let Some(e) = article_error {
                writeln!(out, "  article not used: {e}")?;
            }
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        if let Some(errors) = &article_errors {
            let fetched = feed.items.iter().filter(|i| !i.article.is_empty()).count();
            writeln!(out, "articles: {fetched} fetched, {} failed", errors.len())?;
        }
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
        .with_context(|| format!("cannot parse {}", crate::redact::Redacted::url(&base)))?;
    Ok((feed, base))
}

/// How `test-rule` fetches articles: a configured feed's settings, or the flags'.
struct ArticlePlan {
    settings: ArticleSettings,
    fetch: FetchSettings,
    per_host: usize,
}

/// The article settings for this run, if any: `--fetch-article` (with `--article-selector`),
/// else those of the configured feed with this `--url` when it sets `fetch_article = true`.
/// The config is optional here (test-rule tries feeds not yet subscribed to): when it cannot
/// be read, the defaults apply.
fn article_plan(config: &Path, args: &TestRuleArgs) -> Option<ArticlePlan> {
    let config = Config::load(config).ok();
    let configured = config.as_ref().and_then(|c| {
        let url = url::Url::parse(args.url.as_deref()?).ok()?;
        c.feeds.iter().find(|f| f.url == url)?.article.clone()
    });
    let settings = match configured {
        Some(mut s) if args.fetch_article => {
            s.selector = args.article_selector.clone().or(s.selector);
            s
        }
        Some(s) => s,
        None if args.fetch_article => ArticleSettings {
            selector: args.article_selector.clone(),
            allow_private: None,
            max_per_poll: DEFAULT_MAX_ARTICLES_PER_POLL,
            user_agent: None,
        },
        None => return None,
    };
    let (fetch, per_host) = match &config {
        Some(c) => (
            FetchSettings::new(c.poll.timeout, c.poll.max_body, c.poll.user_agent.clone()),
            c.poll.per_host,
        ),
        None => (
            FetchSettings::new(
                crate::config::DEFAULT_TIMEOUT,
                crate::config::DEFAULT_MAX_BODY,
                crate::config::default_user_agent(),
            ),
            crate::config::DEFAULT_PER_HOST,
        ),
    };
    Some(ArticlePlan {
        settings,
        fetch,
        per_host,
    })
}

impl ArticlePlan {
    /// Fetches the items' articles (the first `max_articles` with a link) into `feed`; returns
    /// why each failed one could not be used, by item index.
    async fn fill(
        &self,
        base: &url::Url,
        feed: &mut ParsedFeed,
    ) -> anyhow::Result<std::collections::HashMap<usize, String>> {
        let articles =
            Articles::new(&self.fetch, self.per_host).context("cannot set up article fetching")?;
        let outcomes = articles
            .fill(&self.settings, base, &mut feed.items, &|_| true)
            .await;
        Ok(outcomes
            .into_iter()
            .filter_map(|(w, r)| {
                let e = r.err()?;
                let reason = crate::domain::error_chain(&e);
                Some((
                    w.item,
                    format!("{}: {reason}", crate::pipeline::redacted_link(&w.link)),
                ))
            })
            .collect())
    }
}
