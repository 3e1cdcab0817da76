//! The `feedwatch` binary: parses the command line, runs the library, maps errors to exit codes
//! (0 ok, 1 failure, 78 bad configuration — EX_CONFIG, 74 a database lost or damaged —
//! EX_IOERR; systemd is told not to restart on either).

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use feedwatch::app;
use feedwatch::cli::Cli;
use feedwatch::config::ConfigError;
use feedwatch::daemon::{DatabaseDamaged, DatabaseLost};

fn main() -> ExitCode {
    let cli = Cli::parse();
    app::init_logging(&cli.log_level, cli.log_format);
    match app::run(cli) {
        Ok(code) => code,
        // `feedwatch feeds | head -1`: the reader has all it wanted.
        Err(e) if feedwatch::commands::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`: a closed stderr must not turn the error into a panic.
            let _ = writeln!(std::io::stderr(), "feedwatch: error: {e:#}");
            if e.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(app::EXIT_CONFIG)
            } else if e.downcast_ref::<DatabaseLost>().is_some()
                || e.downcast_ref::<DatabaseDamaged>().is_some()
            {
                ExitCode::from(app::EXIT_DATABASE_LOST)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
