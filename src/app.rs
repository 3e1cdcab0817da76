//! Wiring: builds the components from a [`Config`] and runs the `check`, `once` and `run`
//! commands. Errors are `anyhow` here and reported once, with their chain, by `main`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{Config, NotifierKind, SmtpTls};
use crate::fetch::{FetchSettings, Fetcher};
use crate::notify::Notifier;
use crate::outbox::Outbox;
use crate::pipeline::{Engine, error_chain};
use crate::store::Store;

/// Exit status for a bad configuration (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// How often the daemon's dispatcher looks for due retries when nothing wakes it.
pub const OUTBOX_TICK: Duration = Duration::from_secs(15);

/// Sets up `tracing` on stderr. `RUST_LOG` wins over `--log-level`.
pub fn init_logging(level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Runs one CLI invocation.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check => check(&cli.config),
        Command::Once => runtime()?.block_on(once(&cli.config)),
        Command::Run => runtime()?.block_on(daemon(&cli.config)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
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
        };
        let _ = writeln!(s, "  - {} ({}): {detail}", n.name, n.kind.type_name());
    }
    s
}

/// Everything a command needs, built from the config.
struct Parts {
    engine: Engine,
    outbox: Outbox,
    store: Store,
}

fn build(config: Config) -> anyhow::Result<Parts> {
    let store = Store::open(&config.storage.path)?;
    let fetcher = Fetcher::new(&FetchSettings {
        timeout: config.poll.timeout,
        max_body: config.poll.max_body,
        user_agent: config.poll.user_agent.clone(),
    })
    .context("cannot set up the HTTP client")?;
    let mut notifiers = BTreeMap::new();
    for (name, n) in &config.notifiers {
        let notifier =
            Notifier::from_config(n).with_context(|| format!("cannot set up notifier {name:?}"))?;
        notifiers.insert(name.clone(), notifier);
    }
    let outbox = Outbox::new(store.clone(), notifiers);
    let engine = Engine::new(Arc::new(config), fetcher, store.clone());
    Ok(Parts {
        engine,
        outbox,
        store,
    })
}

/// Polls one feed and logs the outcome once. Returns whether it succeeded.
async fn poll_and_log(engine: &Engine, n: usize) -> bool {
    let Some(feed) = engine.config().feeds.get(n) else {
        return false;
    };
    match engine.poll(n, Utc::now()).await {
        Ok(r) if r.not_modified => {
            tracing::info!(feed = %feed.name, url = %feed.url, "not modified");
            true
        }
        Ok(r) => {
            tracing::info!(feed = %feed.name, url = %feed.url, items = r.seen,
                new = r.new_items, alerts = r.alerts, "polled");
            true
        }
        Err(e) => {
            tracing::warn!(feed = %feed.name, url = %feed.url, error = %error_chain(&e),
                "poll failed");
            false
        }
    }
}

async fn once(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let concurrency = config.poll.concurrency;
    let parts = build(config)?;
    let feeds = parts.engine.config().feeds.len();
    let engine = &parts.engine;
    let failed = futures_util::stream::iter(0..feeds)
        .map(|n| poll_and_log(engine, n))
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    let delivery = parts.outbox.deliver_all(Utc::now().timestamp()).await?;
    let undelivered = parts.store.undelivered_count()?;
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

async fn daemon(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let concurrency = config.poll.concurrency;
    let intervals: Vec<Duration> = config.feeds.iter().map(|f| f.interval).collect();
    let parts = build(config)?;
    let shutdown = CancellationToken::new();
    // Wakes the dispatcher as soon as a poll may have queued alerts.
    let wake = Arc::new(Notify::new());

    tokio::spawn(watch_signals(shutdown.clone()));

    let dispatcher = {
        let outbox = parts.outbox.clone();
        let wake = wake.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                match outbox.deliver_due(Utc::now().timestamp()).await {
                    Ok(r) if r.sent + r.dead + r.deferred > 0 => {
                        tracing::debug!(
                            sent = r.sent,
                            deferred = r.deferred,
                            dead = r.dead,
                            "delivery pass"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %error_chain(&e), "outbox failed"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notified() => {}
                    () = tokio::time::sleep(OUTBOX_TICK) => {}
                }
            }
        })
    };

    tracing::info!(
        feeds = intervals.len(),
        rules = parts.engine.config().enabled_rules().count(),
        "feedwatch running"
    );
    let engine = parts.engine.clone();
    crate::scheduler::run(intervals, concurrency, shutdown.clone(), move |n| {
        let engine = engine.clone();
        let wake = wake.clone();
        async move {
            if poll_and_log(&engine, n).await {
                wake.notify_one();
            }
        }
    })
    .await;
    shutdown.cancel();
    if let Err(e) = dispatcher.await {
        tracing::error!(error = %e, "dispatcher task failed");
    }
    tracing::info!("feedwatch stopped");
    Ok(ExitCode::SUCCESS)
}

async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}
