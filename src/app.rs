//! Wiring: builds the components from a [`Config`] and runs the `check`, `once` and `run`
//! commands. Errors are `anyhow` here and reported once, with their chain, by `main`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::cli::{AlertsAction, AlertsArgs, Cli, Command, TestRuleArgs};
use crate::config::{Config, NotifierKind, SmtpTls};
use crate::domain::{Alert, AlertPayload};
use crate::fetch::{FetchOutcome, FetchSettings, Fetcher, Validators};
use crate::notify::Notifier;
use crate::outbox::Outbox;
use crate::pipeline::{Engine, error_chain};
use crate::rules::{Query, RuleHit, RuleSet};
use crate::store::Store;

/// Exit status for a bad configuration (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// Sets up `tracing` on stderr. `RUST_LOG` wins over `--log-level`. On a terminal: colours
/// and timestamps; otherwise (systemd, pipes) neither, since journald stamps every line
/// itself; `--log-format json` gives one JSON object per line. Field names are stable:
/// `feed`, `url`, `status`, `alert_id`, `notifier`, `attempt`, `error`.
pub fn init_logging(level: &str, format: crate::cli::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let tty = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        crate::cli::LogFormat::Text if tty => builder.with_ansi(true).try_init(),
        crate::cli::LogFormat::Text => builder.with_ansi(false).without_time().try_init(),
    };
}

/// Runs one CLI invocation.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check => check(&cli.config),
        Command::Once => once_runtime()?.block_on(once(&cli.config)),
        Command::Run => runtime()?.block_on(crate::daemon::run(&cli.config)),
        Command::Alerts(a) => alerts(&cli.config, &a),
        Command::SendTest { notifier } => runtime()?.block_on(send_test(&cli.config, &notifier)),
        Command::TestRule(a) => runtime()?.block_on(test_rule(&a)),
        Command::Backtest { rule, since, json } => backtest(&cli.config, &rule, since, json),
        Command::Feeds { json } => feeds(&cli.config, json),
        Command::ImportOpml { file, output } => import_opml(&cli.config, &file, output.as_deref()),
        Command::ExportOpml => export_opml(&cli.config),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "feedwatch", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .context("cannot write the man page")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `once` runs its polls on one thread (parsing still goes to the blocking pool): a poll is
/// mostly waiting plus short bursts of work under the store's one mutex, and spreading those
/// bursts over worker threads only adds wake-ups, work stealing and lock hand-offs. Measured by
/// `cargo bench --bench farm`: the multi-thread runtime doubled CPU per unchanged feed for no
/// gain in wall time.
fn once_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    print!("{}", summary(&config));
    Ok(ExitCode::SUCCESS)
}

/// The `check` summary: what will be watched, matched and sent where.
pub fn summary(c: &Config) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "config OK: {}", c.source.display());
    let _ = writeln!(s, "storage: {}", c.storage.path.display());
    let _ = writeln!(
        s,
        "poll: every {} by default, timeout {}, max body {} bytes, backlog {}",
        humantime::format_duration(c.poll.interval),
        humantime::format_duration(c.poll.timeout),
        c.poll.max_body,
        humantime::format_duration(c.poll.backlog)
    );
    let _ = writeln!(s, "feeds: {}", c.feeds.len());
    for f in &c.feeds {
        let tags = if f.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", f.tags.join(", "))
        };
        let _ = writeln!(
            s,
            "  - {} <{}> every {}{tags}",
            f.name,
            f.url,
            humantime::format_duration(f.interval)
        );
    }
    let enabled = c.rules.iter().filter(|r| r.enabled).count();
    let _ = writeln!(s, "rules: {} ({} enabled)", c.rules.len(), enabled);
    for r in &c.rules {
        let _ = writeln!(
            s,
            "  - {}{}: {} → {} feed(s), notify {}",
            r.name,
            if r.enabled { "" } else { " (disabled)" },
            r.query_text,
            r.feeds.len(),
            r.notify.join(", ")
        );
    }
    let _ = writeln!(s, "notifiers: {}", c.notifiers.len());
    for n in c.notifiers.values() {
        let detail = match &n.kind {
            NotifierKind::Email(e) => {
                let scheme = match e.tls {
                    SmtpTls::Wrapper => "smtps",
                    _ => "smtp",
                };
                let tls = match e.tls {
                    SmtpTls::Required => "?tls=required",
                    SmtpTls::None => "?tls=none",
                    _ => "",
                };
                let to: Vec<String> = e.to.iter().map(|m| m.to_string()).collect();
                format!("{scheme}://{}:{}{tls} → {}", e.host, e.port, to.join(", "))
            }
            NotifierKind::Stdout => "standard output".to_string(),
            NotifierKind::Webhook(w) => format!("POST {} ({:?})", w.url, w.format),
        };
        let digest = n
            .digest
            .map(|d| format!(", digest {}", d.label()))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  - {} ({}): {detail}{digest}",
            n.name,
            n.kind.type_name()
        );
    }
    s
}

/// Everything a command needs, built from the config.
pub(crate) struct Parts {
    pub(crate) engine: Engine,
    pub(crate) outbox: Outbox,
    pub(crate) store: Store,
}

/// Builds the components for `config`, opening the database.
fn build(config: Config) -> anyhow::Result<Parts> {
    let store = Store::open(&config.storage.path)?;
    build_with_store(config, store)
}

/// Builds the components for `config` on an already open store (a reload keeps it).
pub(crate) fn build_with_store(config: Config, store: Store) -> anyhow::Result<Parts> {
    let mut settings = FetchSettings::new(
        config.poll.timeout,
        config.poll.max_body,
        config.poll.user_agent.clone(),
    );
    settings.proxy = config.poll.proxy.clone();
    let fetcher = Fetcher::new(&settings).context("cannot set up the HTTP client")?;
    let mut notifiers = BTreeMap::new();
    for (name, n) in &config.notifiers {
        let notifier = Notifier::from_config(n, &config.poll.user_agent)
            .with_context(|| format!("cannot set up notifier {name:?}"))?;
        notifiers.insert(name.clone(), notifier);
    }
    let outbox = Outbox::new(store.clone(), notifiers, config.delivery.clone());
    let engine = Engine::new(Arc::new(config), fetcher, store.clone());
    Ok(Parts {
        engine,
        outbox,
        store,
    })
}

/// Polls one feed and logs the outcome once. Returns the result (for `once`) and when the
/// feed is next due.
pub(crate) async fn poll_and_log(engine: &Engine, n: usize) -> (bool, Option<Duration>) {
    let Some(feed) = engine.config().feeds.get(n) else {
        return (false, None);
    };
    let now = Utc::now();
    let started = std::time::Instant::now();
    let polled = engine.poll(n, now).await;
    metrics::histogram!(crate::metrics::POLL_SECONDS).record(started.elapsed().as_secs_f64());
    let next_in = polled
        .next_poll
        .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO));
    let next = polled
        .next_poll
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "never".into());
    let ok = match polled.result {
        Ok(r) if r.not_modified => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "not_modified").increment(1);
            tracing::info!(feed = %feed.name, url = %feed.url, next_poll = %next, "not modified");
            true
        }
        Ok(r) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "ok").increment(1);
            metrics::counter!(crate::metrics::ITEMS).increment(r.new_items as u64);
            tracing::info!(feed = %feed.name, url = %feed.url, items = r.seen,
                new = r.new_items, alerts = r.alerts, next_poll = %next, "polled");
            true
        }
        Err(e) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "error").increment(1);
            let status = match &e {
                crate::pipeline::PollError::Fetch(crate::fetch::FetchError::Status {
                    status,
                    ..
                }) => Some(*status),
                crate::pipeline::PollError::Fetch(crate::fetch::FetchError::Gone) => Some(410),
                _ => None,
            };
            tracing::warn!(feed = %feed.name, url = %feed.url, status, error = %error_chain(&e),
                next_poll = %next, "poll failed");
            false
        }
    };
    (ok, next_in)
}

async fn once(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let concurrency = config.poll.concurrency;
    let per_host = config.poll.per_host;
    let keep = config.storage.keep;
    let parts = build(config)?;
    let failed = poll_all_once(&parts.engine, concurrency, per_host).await;
    let feeds = parts.engine.config().feeds.len();
    // Only the holder of the delivery lock sends: beside a running daemon, `once` polls and
    // queues, and leaves sending to the daemon (so nothing goes out twice).
    let (delivery, undelivered) = match parts.store.try_delivery_lock()? {
        Some(_lock) => (
            parts.outbox.deliver_all(Utc::now().timestamp()).await?,
            parts.store.undelivered_count()?,
        ),
        None => {
            tracing::info!(
                "another feedwatch process (the daemon) holds this database's delivery lock; \
                 it delivers the queued alerts"
            );
            (crate::outbox::DeliveryReport::default(), 0)
        }
    };
    if let Some(keep) = keep {
        crate::daemon::prune(&parts.store, keep);
    }
    tracing::info!(
        feeds,
        failed_feeds = failed,
        sent = delivery.sent,
        dead = delivery.dead,
        undelivered,
        "once: done"
    );
    Ok(if failed == 0 && undelivered == 0 && delivery.dead == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Polls every feed once, at most `concurrency` at a time and `per_host` against one host (the
/// daemon's scheduler with every feed due now and none rescheduled), and returns how many
/// failed.
async fn poll_all_once(engine: &Engine, concurrency: usize, per_host: usize) -> usize {
    let feeds = engine.config().feeds.len();
    if feeds == 0 {
        return 0;
    }
    let now = tokio::time::Instant::now();
    let jobs = engine
        .config()
        .feeds
        .iter()
        .map(|f| crate::scheduler::Job {
            first: now,
            host: crate::scheduler::host_key(&f.url),
        })
        .collect();
    let tally = Arc::new(Tally {
        feeds,
        finished: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        done: tokio_util::sync::CancellationToken::new(),
    });
    let poll = {
        let (tally, engine) = (tally.clone(), engine.clone());
        move |n| {
            let finish = Finish {
                tally: tally.clone(),
                ok: false,
            };
            let engine = engine.clone();
            async move {
                // Move the whole guard in (a closure would capture only its `ok` field).
                let mut finish = finish;
                finish.ok = poll_and_log(&engine, n).await.0;
                // `once` polls each feed once: never reschedule.
                None
            }
        }
    };
    crate::scheduler::run(jobs, concurrency, per_host, tally.done.clone(), poll).await;
    tally.failed.load(Ordering::Relaxed)
}

/// What [`poll_all_once`] counts across its poll tasks.
struct Tally {
    /// Feeds to poll.
    feeds: usize,
    /// Polls finished (failed or not); the one that makes it `feeds` cancels `done`.
    finished: AtomicUsize,
    /// Polls that failed (or panicked).
    failed: AtomicUsize,
    /// Ends the scheduler once every feed has been polled.
    done: tokio_util::sync::CancellationToken,
}

/// Counts one poll as finished when dropped — also if the poll panicked, so a panic is one
/// feed's failure and the round still ends.
struct Finish {
    tally: Arc<Tally>,
    /// Set when the poll completed successfully.
    ok: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.ok {
            self.tally.failed.fetch_add(1, Ordering::Relaxed);
        }
        if self.tally.finished.fetch_add(1, Ordering::AcqRel) + 1 == self.tally.feeds {
            self.tally.done.cancel();
        }
    }
}

fn alerts(path: &Path, args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path)?;
    let now = Utc::now().timestamp();
    match args.action {
        Some(AlertsAction::Retry { id: Some(id), .. }) => {
            if store.requeue(id, now)? {
                println!("alert {id} requeued");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("feedwatch: no undelivered alert with id {id}");
                Ok(ExitCode::FAILURE)
            }
        }
        Some(AlertsAction::Retry { .. }) => {
            let n = store.requeue_dead(now)?;
            println!("{n} dead alert{} requeued", if n == 1 { "" } else { "s" });
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let rows = store.list_alerts(args.status.map(|s| s.as_str()), args.limit)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("no alerts");
            }
            let time = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default()
            };
            for r in rows {
                let when = match (r.status.as_str(), r.sent_at, r.next_attempt_at) {
                    ("sent", Some(t), _) => format!("sent {}", time(t)),
                    ("dead", _, _) => "gave up; `feedwatch alerts retry ID` requeues".to_string(),
                    (_, _, Some(_)) if r.digest.is_some() && r.status == "pending" => {
                        format!("waiting for digest {}", r.digest.as_deref().unwrap_or(""))
                    }
                    (_, _, Some(t)) => format!("next attempt {}", time(t)),
                    _ => String::new(),
                };
                println!(
                    "{:>6}  {:<7}  {:<16}  {:<12}  {}  [{}]",
                    r.id, r.status, r.rule, r.notifier, r.title, when
                );
                if let Some(e) = &r.last_error {
                    println!(
                        "        last error ({} attempt{}): {e}",
                        r.attempts,
                        if r.attempts == 1 { "" } else { "s" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A sample alert for `send-test`.
fn sample_alert(notifier: &str) -> Alert {
    let now = Utc::now();
    let snippet = "…invited the Taliban to the so-called \u{201c}Moscow format\u{201d} talks, envoy Zamir Kabulov said…".to_string();
    let hl = |needle: &str| {
        snippet
            .find(needle)
            .map(|a| (a, a + needle.len()))
            .unwrap_or((0, 0))
    };
    let highlights = vec![hl("Moscow format"), hl("Kabulov")];
    Alert {
        id: 0,
        uid: format!("test-{}", now.timestamp()),
        notifier: notifier.to_string(),
        attempts: 0,
        created_at: now.timestamp(),
        digest: None,
        payload: AlertPayload {
            rule: "send-test".into(),
            query: "\"Moscow format\" OR Kabulov".into(),
            matched: vec!["Moscow format".into(), "Kabulov".into()],
            feed_name: "feedwatch test".into(),
            feed_url: "https://feedwatch.invalid/test.xml".into(),
            title: "feedwatch test alert: Russia Invites Taliban for Afghan Talks".into(),
            link: Some("https://feedwatch.invalid/test".into()),
            published: Some(now),
            snippet,
            highlights,
            summary: "A sample alert sent by `feedwatch send-test`.".into(),
        },
    }
}

async fn send_test(path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let Some(cfg) = config.notifiers.get(name) else {
        let known: Vec<&str> = config.notifiers.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no notifier named {name:?} in {} (configured: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let notifier = Notifier::from_config(cfg, &config.poll.user_agent)
        .with_context(|| format!("cannot set up notifier {name:?}"))?;
    let alert = sample_alert(name);
    match notifier.send(&alert, Utc::now().timestamp()).await {
        Ok(d) => {
            println!("{name}: delivered; the server answered: {}", d.detail);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{name}: NOT delivered: {e}");
            if let NotifyHint::Some(h) = hint(&e.to_string()) {
                println!("hint: {h}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

enum NotifyHint {
    Some(&'static str),
    None,
}

/// The most common SMTP set-up mistakes, recognised from the error text.
fn hint(error: &str) -> NotifyHint {
    let e = error.to_ascii_lowercase();
    if e.contains("starttls") || e.contains("must issue") {
        NotifyHint::Some("the server requires STARTTLS: use smtp://HOST:587?tls=required")
    } else if e.contains("certificate") || e.contains("invalidcertificate") {
        NotifyHint::Some("the server's TLS certificate is not trusted for this host name")
    } else if e.contains("authentication") || e.contains("535") || e.contains("530") {
        NotifyHint::Some("check `username` and the password in `password_file` / `password_env`")
    } else if e.contains("connection refused") {
        NotifyHint::Some("nothing listens there: check host and port (25, 465 for smtps://, 587)")
    } else if e.contains("corrupt message") || e.contains("wrong version number") {
        NotifyHint::Some("TLS mode mismatch: port 465 wants smtps://, ports 25/587 want smtp://")
    } else {
        NotifyHint::None
    }
}

/// Text with highlighted ranges marked: bold on a terminal, `*…*` otherwise.
fn mark(snippet: &str, range: std::ops::Range<usize>, tty: bool) -> String {
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

fn print_hit(title: &str, link: Option<&str>, extra: &str, hit: &RuleHit, tty: bool) {
    println!("{title}{extra}");
    if let Some(l) = link {
        println!("  {l}");
    }
    for t in &hit.terms {
        println!(
            "  {} in {}: {}",
            t.term,
            t.field.name(),
            mark(&t.snippet, t.highlight.clone(), tty)
        );
    }
}

async fn test_rule(args: &TestRuleArgs) -> anyhow::Result<ExitCode> {
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
            print_hit(&item.title, item.link.as_deref(), "", &hit, tty);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{count} of {} items matched", feed.items.len());
    }
    Ok(if count > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn backtest(path: &Path, name: &str, since: Duration, json: bool) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let config = Config::load(path)?;
    let Some(rule) = config.rules.iter().find(|r| r.name == name) else {
        let known: Vec<&str> = config.rules.iter().map(|r| r.name.as_str()).collect();
        anyhow::bail!("no rule named {name:?} (configured: {})", known.join(", "));
    };
    let store = Store::open(&config.storage.path)?;
    let since_ts = Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let rules = RuleSet::new(vec![rule.query.clone()]);
    let tty = std::io::stdout().is_terminal();
    let mut out = Vec::new();
    let items = store.items_since(since_ts)?;
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
            out.push(serde_json::json!({
                "feed": feed.name, "title": stored.item.title, "link": stored.item.link,
                "published": stored.item.published, "matched": hit.terms,
            }));
        } else {
            print_hit(
                &stored.item.title,
                stored.item.link.as_deref(),
                &format!("  ({})", feed.name),
                &hit,
                tty,
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "rule {name:?} would have alerted on {count} of {} stored items from the last {}",
            items.len(),
            humantime::format_duration(since)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::<Utc>::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn feeds(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path)?;
    let rows = store.feeds_overview()?;
    let by_url: BTreeMap<&str, &crate::store::FeedRow> =
        rows.iter().map(|r| (r.url.as_str(), r)).collect();
    if json {
        let out: Vec<serde_json::Value> = config
            .feeds
            .iter()
            .map(|f| {
                let mut v = serde_json::json!({ "name": f.name, "url": f.url.as_str() });
                if let Some(r) = by_url.get(f.url.as_str()) {
                    v["state"] = serde_json::to_value(r).unwrap_or_default();
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for f in &config.feeds {
        println!("{}  <{}>", f.name, f.url);
        let Some(r) = by_url.get(f.url.as_str()) else {
            println!("    never polled");
            continue;
        };
        if let Some(t) = &r.title {
            println!("    title:        {t}");
        }
        let health = if r.gone_at.is_some() {
            format!("GONE (410 since {}): not polled", when(r.gone_at))
        } else if r.consecutive_failures > 0 {
            format!(
                "FAILING since {} ({} in a row): {}",
                when(r.failing_since),
                r.consecutive_failures,
                r.last_error.as_deref().unwrap_or("")
            )
        } else {
            "ok".to_string()
        };
        println!("    health:       {health}");
        println!("    last success: {}", when(r.last_success_at));
        println!("    next poll:    {}", when(r.next_poll_at));
        println!(
            "    items: {}   etag: {}   last-modified: {}",
            r.items,
            if r.has_etag { "yes" } else { "no" },
            if r.has_last_modified { "yes" } else { "no" }
        );
        if let Some(m) = &r.moved_to {
            println!("    moved permanently to {m}: update the config");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import_opml(path: &Path, file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // OPML exports are UTF-8 in practice; an old Latin-1 one decodes as windows-1252.
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
    };
    let mut feeds = crate::opml::parse_opml(&text)
        .with_context(|| format!("cannot read {} as OPML", file.display()))?;
    // Leave out what the config already has (when there is a config to compare with).
    let existing: Vec<String> = Config::load(path)
        .map(|c| c.feeds.iter().map(|f| f.url.to_string()).collect())
        .unwrap_or_default();
    let total = feeds.len();
    feeds.retain(|f| {
        let normalized = url::Url::parse(&f.url)
            .map(|u| u.to_string())
            .unwrap_or_default();
        !existing.contains(&normalized)
    });
    let toml = crate::opml::to_toml_feeds(&feeds);
    let skipped = total - feeds.len();
    match output {
        Some(out) => {
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(out, &toml)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "wrote {} feed(s) to {} ({skipped} already configured); include it with include = [\"{}\"] and run `feedwatch check`",
                feeds.len(),
                out.display(),
                out.display()
            );
        }
        None => {
            print!("{toml}");
            eprintln!(
                "{} feed(s) to add ({skipped} already configured)",
                feeds.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export_opml(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let feeds: Vec<crate::opml::OpmlFeed> = config
        .feeds
        .iter()
        .map(|f| crate::opml::OpmlFeed {
            url: f.url.to_string(),
            name: Some(f.name.clone()),
            tags: f.tags.clone(),
        })
        .collect();
    print!("{}", crate::opml::to_opml(&feeds, "feedwatch feeds"));
    Ok(ExitCode::SUCCESS)
}
