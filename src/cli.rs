//! Command-line interface (clap). The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;
use crate::domain::AlertStatus;
use crate::rules::{Language, MatchOptions};

/// feedwatch: watches news feeds for the things you care about and alerts you the moment
/// they appear.
#[derive(Debug, Parser)]
#[command(name = "feedwatch", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "FEEDWATCH_CONFIG",
        default_value = DEFAULT_CONFIG_PATH,
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter); RUST_LOG
    /// takes precedence when set.
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,

    /// Log format: `text` (human-readable; no colours or timestamps when not on a terminal,
    /// since journald adds its own) or `json` (one object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print a summary; lists every problem and exits 78 if
    /// there is any. Queries that are valid but probably not what was meant (a lowercase `or`,
    /// `NEAR/5`, nothing that must be present, a redundant term) and notifiers no rule uses get
    /// a warning, which does not change the exit status.
    Check {
        /// Also show how each rule's query was read (fully parenthesised).
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Poll every feed once, queue and deliver alerts, then exit (1 if any feed failed or any
    /// due alert is still undelivered). Retries skip feedwatch's back-off but never come
    /// before a server's Retry-After. Beside a running daemon, sending is left to it.
    Once,
    /// Run the daemon: poll feeds on their intervals and deliver alerts until SIGTERM/SIGINT.
    Run,
    /// List alerts in the outbox (newest first), requeue failed ones with `alerts retry`, or
    /// send waiting digests now with `alerts flush`.
    #[command(args_conflicts_with_subcommands = true)]
    Alerts(AlertsArgs),
    /// Send a sample alert through one notifier and show exactly what the server answered.
    SendTest {
        /// Notifier name (a `[notify.NAME]` table).
        notifier: String,
    },
    /// Try a query on a feed file or URL: print how the query was read, each matching item,
    /// the matched terms and where they matched, and warnings about the query on stderr. Exit
    /// 0 if anything matched, 1 if nothing did, 2 on a bad query, 3 if the feed could not be
    /// read, fetched or parsed.
    TestRule(TestRuleArgs),
    /// Read one feed file or URL exactly as a poll does and print its items as the rules see
    /// them (key, title, link, date, text fields), with any repair that was needed to read it.
    /// Exit 0 if the feed was read, 1 with one line on stderr if not.
    Parse {
        /// A feed file, or an http:// or https:// URL (fetched with the default poll settings).
        #[arg(value_name = "FILE|URL")]
        source: String,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Run a configured rule, or an ad-hoc query, over the items already stored and list what
    /// it would have alerted on, marking the items that already alerted, without sending
    /// anything.
    Backtest(BacktestArgs),
    /// Stop alerting on a rule, for a while or until `feedwatch unmute`. Its matches are still
    /// stored (`backtest` shows them). Takes effect at once, also in a running daemon, and
    /// lasts across restarts and reloads.
    Mute {
        /// Rule name (a `[[rule]]` name).
        rule: String,
        /// How long, e.g. `2h` or `1d` (default: until `feedwatch unmute`).
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Alert on a muted rule again.
    Unmute {
        /// Rule name (a `[[rule]]` name).
        rule: String,
    },
    /// List the configured rules: query, feeds, notifiers, and whether each is muted.
    Rules {
        /// Machine-readable output (one JSON array).
        #[arg(long)]
        json: bool,
    },
    /// List every feed with its health: last success, last error, consecutive failures, next
    /// poll, item count, stored validators.
    Feeds {
        /// Machine-readable output (one JSON array).
        #[arg(long)]
        json: bool,
    },
    /// Read an OPML subscription list and print the `[[feed]]` entries to add (or write them
    /// to a file that the config includes). Feeds already configured are left out.
    ImportOpml {
        /// The OPML file.
        file: PathBuf,
        /// Write the entries to this file (e.g. `feeds.d/imported.toml`) instead of printing.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the configured feeds as OPML 2.0 (tags become folders).
    ExportOpml,
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from this help.
    Man,
}

/// `feedwatch alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Only alerts with this status.
    #[arg(long, value_enum)]
    pub status: Option<AlertStatus>,
    /// Machine-readable output (one JSON array).
    #[arg(long)]
    pub json: bool,
    /// At most this many alerts.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Requeue or flush instead of listing.
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
}

/// How `--status` values are spelled and explained: the domain's statuses as stored.
impl clap::ValueEnum for AlertStatus {
    fn value_variants<'a>() -> &'a [Self] {
        &AlertStatus::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            AlertStatus::Pending => "Queued, not yet attempted (or waiting for its digest)",
            AlertStatus::Retry => "Failed transiently; another attempt is scheduled",
            AlertStatus::Dead => "Given up",
            AlertStatus::Sent => "Delivered",
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

/// `feedwatch alerts …` actions.
#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Requeue one alert by id, or every dead alert with --dead, for immediate delivery by the
    /// running daemon or the next `once` (by id even if its server asked to wait with
    /// Retry-After).
    Retry {
        /// Alert id (from `feedwatch alerts`).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Requeue every dead alert.
        #[arg(long)]
        dead: bool,
    },
    /// Send the waiting digests (and alerts held by quiet hours) now, of one notifier or of
    /// all: sent by this command, or by the running daemon within seconds.
    Flush {
        /// Notifier name (a `[notify.NAME]` table); every notifier when left out.
        notifier: Option<String>,
    },
}

/// `feedwatch backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Rule name (a `[[rule]]` name).
    #[arg(required_unless_present = "query", conflicts_with = "query")]
    pub rule: Option<String>,
    /// An ad-hoc query to try instead of a rule, e.g. '"Moscow format" OR Kabulov' (over
    /// every configured feed).
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub query: Option<String>,
    /// How far back to look (items first seen within this period).
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Machine-readable output (one JSON array).
    #[arg(long)]
    pub json: bool,
}

/// `feedwatch test-rule`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["file", "url"])))]
pub struct TestRuleArgs {
    /// The query, e.g. '"Moscow format" OR Kabulov' (it may start with `-`, as in
    /// '-football Kabulov').
    #[arg(allow_hyphen_values = true)]
    pub query: String,
    /// A feed file to test against.
    #[arg(long, value_name = "FEED.xml")]
    pub file: Option<PathBuf>,
    /// A feed URL to fetch and test against.
    #[arg(long)]
    pub url: Option<String>,
    /// Machine-readable output (one JSON array of matching items).
    #[arg(long)]
    pub json: bool,
    /// Also match the word forms of these languages, as a rule's `languages` does
    /// (comma-separated: ru, en).
    #[arg(long, value_delimiter = ',', value_name = "LANG,...", value_parser = parse_language)]
    pub languages: Vec<Language>,
    /// Also match Latin words in Cyrillic spelling and the reverse, as a rule's
    /// `transliterate = true` does.
    #[arg(long)]
    pub transliterate: bool,
    /// Fetch each item's link and match its main text as the `article` field, as a feed's
    /// `fetch_article = true` does (on by itself for a configured feed that sets it).
    #[arg(long)]
    pub fetch_article: bool,
    /// With --fetch-article: the CSS selector whose elements' text is the article, as a
    /// feed's `article_selector`.
    #[arg(long, value_name = "SELECTOR", requires = "fetch_article")]
    pub article_selector: Option<String>,
}

impl TestRuleArgs {
    /// The word-form options the flags ask for.
    pub fn match_options(&self) -> MatchOptions {
        let mut options = MatchOptions {
            transliterate: self.transliterate,
            ..MatchOptions::default()
        };
        for &l in &self.languages {
            options = options.with_language(l);
        }
        options
    }
}

fn parse_language(s: &str) -> Result<Language, String> {
    Language::from_code(s).ok_or_else(|| {
        let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
        format!("unknown language {s:?} (known: {})", known.join(", "))
    })
}
