//! One file per CLI command: each loads what it needs, does its one job and returns the exit
//! status. `app` dispatches to them; the shared terminal output helpers live here.

/// `eprintln!` that never panics: a message for the terminal is lost, not turned into exit 101,
/// when standard error is a pipe whose reader has gone (`feedwatch … 2>&1 | head -1`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod alerts;
pub mod backtest;
pub mod check;
pub mod feeds;
pub mod mute;
pub mod once;
pub mod opml;
pub mod parse;
pub mod rules;
pub mod run;
pub mod send_test;
pub mod shell;
pub mod test_rule;

use std::io::{self, Write};

use anyhow::Context;

use crate::fetch::{FetchOutcome, FetchSettings, Fetcher, Validators};
use crate::rules::{Query, QueryError, RuleHit};

/// Where a one-shot command reads a feed from (`parse`, `test-rule`).
pub(crate) enum FeedSource {
    /// A local file.
    File(std::path::PathBuf),
    /// A URL, fetched as a poll with the default settings fetches it.
    Url(url::Url),
}

/// A feed's body with what parsing it needs besides the bytes.
pub(crate) struct FeedBody {
    pub bytes: Vec<u8>,
    /// The HTTP `Content-Type` (its charset may name the encoding); `None` for a file.
    pub content_type: Option<String>,
    /// Where relative links resolve: the final URL after redirects, or the file's URL.
    pub base: url::Url,
}

impl FeedSource {
    /// An `http://` or `https://` argument is a URL, anything else a file path.
    pub fn from_arg(arg: &str) -> anyhow::Result<FeedSource> {
        let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = url::Url::parse(arg)
                .with_context(|| format!("invalid URL {:?}", crate::redact::redact_text(arg)))?;
            Ok(FeedSource::Url(url))
        } else {
            Ok(FeedSource::File(arg.into()))
        }
    }

    /// Reads the file or fetches the URL with the daemon's default fetch settings (timeout,
    /// decompressed-body cap, User-Agent); a file is held to the same size cap.
    pub async fn load(&self) -> anyhow::Result<FeedBody> {
        match self {
            FeedSource::File(file) => {
                let bytes = parse::read_capped(file, crate::config::DEFAULT_MAX_BODY)?;
                let abs = std::path::absolute(file).unwrap_or_else(|_| file.clone());
                let base = url::Url::from_file_path(&abs)
                    .unwrap_or_else(|()| url::Url::parse("file:///feed.xml").expect("valid URL"));
                Ok(FeedBody {
                    bytes,
                    content_type: None,
                    base,
                })
            }
            FeedSource::Url(url) => {
                let fetcher = Fetcher::new(&FetchSettings::new(
                    crate::config::DEFAULT_TIMEOUT,
                    crate::config::DEFAULT_MAX_BODY,
                    crate::config::default_user_agent(),
                ))?;
                let shown = crate::redact::Redacted::url(url);
                match fetcher.fetch(url, &Validators::default()).await {
                    Ok(FetchOutcome::Fetched(f)) => Ok(FeedBody {
                        bytes: f.body,
                        content_type: f.content_type,
                        base: f.final_url,
                    }),
                    Ok(FetchOutcome::NotModified(_)) => {
                        anyhow::bail!("{shown}: server answered 304 to an unconditional GET")
                    }
                    Err(e) => Err(anyhow::Error::new(e).context(format!("cannot fetch {shown}"))),
                }
            }
        }
    }
}

/// Text with highlighted ranges marked: bold on a terminal, `*…*` otherwise.
pub(crate) fn mark(snippet: &str, range: std::ops::Range<usize>, tty: bool) -> String {
    let (Some(a), Some(b), Some(c)) = (
        snippet.get(..range.start),
        snippet.get(range.clone()),
        snippet.get(range.end..),
    ) else {
        return snippet.to_string();
    };
    if tty {
        format!("{a}\x1b[1m{b}\x1b[0m{c}")
    } else {
        format!("{a}*{b}*{c}")
    }
}

/// Shows how `query` was read and warns about it, before a command runs it. The read-back is
/// part of the report (`out`), or goes to stderr with `json` (stdout is then one JSON
/// document); warnings always go to stderr, with a caret under the token they are about.
///
/// The read-back is `Query`'s `Display`: whatever a term expands to (word forms, where a rule
/// has languages) is shown there, here and in `check -v` alike.
pub(crate) fn show_query(out: &mut impl Write, query: &Query, json: bool) -> io::Result<()> {
    if json {
        say!("read as: {query}");
    } else {
        writeln!(out, "read as: {query}")?;
    }
    for w in query.warnings() {
        say!("feedwatch: warning: {w}");
        if let Some(position) = w.position {
            let at = QueryError {
                position,
                message: String::new(),
            };
            say!("{}", at.caret(query.source()));
        }
    }
    Ok(())
}

pub(crate) fn print_hit(
    out: &mut impl Write,
    title: &str,
    link: Option<&str>,
    extra: &str,
    hit: &RuleHit,
    tty: bool,
) -> io::Result<()> {
    writeln!(out, "{title}{extra}")?;
    if let Some(l) = link {
        writeln!(out, "  {l}")?;
    }
    for t in &hit.terms {
        writeln!(
            out,
            "  {} in {}: {}",
            t.term,
            t.field.name(),
            mark(&t.snippet, t.highlight.clone(), tty)
        )?;
    }
    Ok(())
}

/// The configured rule named `name`, or an error listing the configured ones.
pub(crate) fn find_rule<'c>(
    config: &'c crate::config::Config,
    name: &str,
) -> anyhow::Result<&'c crate::config::Rule> {
    if let Some(rule) = config.rules.iter().find(|r| r.name == name) {
        return Ok(rule);
    }
    let known: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    anyhow::bail!("no rule named {name:?} (configured: {known})")
}

/// A Unix time for the listings, in the local time zone with its offset
/// (`2026-11-29 05:49:12 +03:00`): a bare clock time was read as local by some and as UTC by
/// others. The zone is the machine's, or `TZ` when set (`TZ=UTC feedwatch alerts`). `None` for
/// a time out of chrono's range.
pub(crate) fn local_time(unix: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(unix, 0)?;
    Some(
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
    )
}

/// Standard output for a command's listing. Commands write through it with `?` rather than
/// `println!` (which panics, exit 101, when the reader has gone, as in `feedwatch feeds | head
/// -1`): the write error reaches `main`, which ends quietly on a closed pipe (see
/// [`is_closed_pipe`]).
pub(crate) fn stdout() -> io::StdoutLock<'static> {
    io::stdout().lock()
}

/// Whether a command failed only because whoever read its standard output stopped reading
/// (`EPIPE`): Unix tools end quietly then. Rust ignores SIGPIPE, so the closed pipe arrives as
/// this error from the first write after it; commands return it unwrapped (`writeln!(…)?`), so
/// the top of the chain is the `io::Error` itself, while a broken connection to a server is
/// always reported with context on top and stays an error.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
