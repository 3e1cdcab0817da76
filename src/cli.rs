//! Command-line interface (clap). The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;

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

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print a summary; lists every problem and exits 78 if
    /// there is any.
    Check,
    /// Poll every feed once, queue and deliver alerts, then exit (1 if any feed failed or any
    /// alert is still undelivered).
    Once,
    /// Run the daemon: poll feeds on their intervals and deliver alerts until SIGTERM/SIGINT.
    Run,
}
