//! The binary's front: logging set-up, the runtimes, and the dispatch of each CLI command to
//! its file in [`crate::commands`]. Errors are `anyhow` here and reported once, with their
//! chain, by `main`.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::commands;

/// Exit status for a bad configuration (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit status when the daemon's database file was deleted or replaced under it, or is
/// damaged at start-up (sysexits EX_IOERR): systemd is told not to restart on it, since a
/// restart would begin an empty database and alert again on recent items, or fail again.
pub const EXIT_DATABASE_LOST: u8 = 74;

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
        Command::Check { verbose } => {
            current_thread_runtime()?.block_on(commands::check::run(&cli.config, verbose))
        }
        Command::Once => current_thread_runtime()?.block_on(commands::once::run(&cli.config)),
        Command::Run => runtime()?.block_on(commands::run::run(&cli.config)),
        Command::Alerts(a) => {
            current_thread_runtime()?.block_on(commands::alerts::run(&cli.config, &a))
        }
        Command::SendTest { notifier } => {
            runtime()?.block_on(commands::send_test::run(&cli.config, &notifier))
        }
        Command::TestRule(a) => runtime()?.block_on(commands::test_rule::run(&cli.config, &a)),
        Command::Parse { source, json } => {
            current_thread_runtime()?.block_on(commands::parse::run(&source, json))
        }
        Command::Backtest(a) => {
            current_thread_runtime()?.block_on(commands::backtest::run(&cli.config, &a))
        }
        Command::Mute { rule, duration } => {
            current_thread_runtime()?.block_on(commands::mute::mute(&cli.config, &rule, duration))
        }
        Command::Unmute { rule } => {
            current_thread_runtime()?.block_on(commands::mute::unmute(&cli.config, &rule))
        }
        Command::Rules { json } => {
            current_thread_runtime()?.block_on(commands::rules::rules(&cli.config, json))
        }
        Command::Feeds { json } => {
            current_thread_runtime()?.block_on(commands::feeds::run(&cli.config, json))
        }
        Command::ImportOpml { file, output } => {
            commands::opml::import(&cli.config, &file, output.as_deref())
        }
        Command::ExportOpml => commands::opml::export(&cli.config),
        Command::Completions { shell } => commands::shell::completions(shell),
        Command::Man => commands::shell::man(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `once` runs its polls on one thread (parsing still goes to the blocking pool, database work
/// to the store's own thread): a poll is mostly waiting plus short bursts of work, and
/// spreading those bursts over worker threads only adds wake-ups and work stealing. Measured by
/// `cargo bench --bench farm`: the multi-thread runtime doubled CPU per unchanged feed for no
/// gain in wall time. The commands that only read or requeue in the database (`alerts`,
/// `feeds`, `backtest`) run their few store calls on it too.
fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
