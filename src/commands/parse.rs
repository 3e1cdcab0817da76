//! `feedwatch parse FILE|URL [--json]`: reads one feed exactly as a poll does (the same fetch
//! settings, body cap, decoding, parse on the blocking pool under the same time limit, the same
//! normalization and keys) and prints its items as the rules see them, with the repairs that
//! were needed to read it. Exit 0 when the feed was read, 1 with one line on stderr otherwise.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{FeedSource, stdout};
use crate::parse::{ParsedFeed, rekey_by_link};
use crate::pipeline::{PARSE_TIME_LIMIT, spawn_parse};

/// Runs the command. Every failure is one line on stderr and exit 1, never a panic: the parse
/// runs where a poll's runs, and a panic there becomes an error value.
pub async fn run(source: &str, json: bool) -> anyhow::Result<ExitCode> {
    // A URL is shown masked (userinfo, query values), as everywhere a URL is shown; a file
    // path as it is.
    let shown = match FeedSource::from_arg(source) {
        Ok(FeedSource::File(_)) => source.to_string(),
        _ => crate::redact::redact_text(source),
    };
    // A panic inside the parser is caught and reported as this command's one error line; the
    // default hook would print a multi-line message to stderr first.
    std::panic::set_hook(Box::new(|_| {}));
    match read(source).await {
        Ok(feed) => {
            print(&shown, &feed, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!("feedwatch: cannot parse {shown}: {}", one_line(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The error chain on one line: causes joined by `: `, a cause that only repeats the end of
/// the message before it left out (quick-xml's errors embed their source), whitespace runs
/// (feed-rs messages may span lines) collapsed.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&msg)) {
            parts.push(msg);
        }
    }
    crate::text::collapse_whitespace(&parts.join(": "))
}

/// Fetches or reads `source` and parses it as the daemon does.
async fn read(source: &str) -> anyhow::Result<ParsedFeed> {
    let body = FeedSource::from_arg(source)?.load().await?;
    let joined = spawn_parse(
        body.bytes,
        body.content_type,
        body.base,
        PARSE_TIME_LIMIT,
        CancellationToken::new(),
    )
    .await;
    let mut feed = match joined {
        Ok(parsed) => parsed?,
        Err(e) => anyhow::bail!("the feed parser crashed on this input: {e}"),
    };
    // What a poll does with such a feed (and from then on with every later poll of it).
    if feed.guids_unreliable {
        rekey_by_link(&mut feed.items);
    }
    Ok(feed)
}

fn print(source: &str, feed: &ParsedFeed, json: bool) -> anyhow::Result<()> {
    let recoveries: Vec<&str> = feed.recoveries.iter().map(|r| r.as_str()).collect();
    if json {
        let out = serde_json::json!({
            "source": source,
            "title": feed.title,
            "encoding": feed.encoding,
            "recoveries": recoveries,
            "guids_unreliable": feed.guids_unreliable,
            "items": feed.items,
        });
        writeln!(stdout(), "{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    // Unwrapped: `main` ends quietly on a closed pipe (`feedwatch parse F | head`).
    write_text(&mut stdout(), source, feed, &recoveries)?;
    Ok(())
}

fn write_text(
    out: &mut impl std::io::Write,
    source: &str,
    feed: &ParsedFeed,
    recoveries: &[&str],
) -> std::io::Result<()> {
    writeln!(out, "{}", feed.title.as_deref().unwrap_or(source))?;
    writeln!(out, "encoding: {}", feed.encoding)?;
    if recoveries.is_empty() {
        writeln!(out, "recovered: nothing (well-formed)")?;
    } else {
        writeln!(out, "recovered: {}", recoveries.join(", "))?;
    }
    if feed.guids_unreliable {
        writeln!(out, "keys: by link (the feed repeats its GUIDs)")?;
    }
    writeln!(out, "items: {}", feed.items.len())?;
    for item in &feed.items {
        writeln!(out)?;
        writeln!(out, "key:        {}", item.key)?;
        writeln!(out, "title:      {}", item.title)?;
        let fields = [
            ("link:      ", item.link.clone().unwrap_or_default()),
            (
                "published: ",
                item.published.map(|p| p.to_rfc3339()).unwrap_or_default(),
            ),
            ("summary:   ", item.summary.clone()),
            ("content:   ", item.content.clone()),
            ("authors:   ", item.authors.join(", ")),
            ("categories:", item.categories.join(", ")),
        ];
        for (name, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
            writeln!(out, "{name} {value}")?;
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of `file`; more is an error, as a larger body is for a poll.
pub(crate) fn read_capped(file: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > limit {
        anyhow::bail!(
            "{} is larger than the {} a feed may be",
            file.display(),
            bytesize::ByteSize(limit)
        );
    }
    Ok(bytes)
}
