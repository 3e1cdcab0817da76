//! `feedwatch completions SHELL` and `feedwatch man`: the shell completion script and the man
//! page, generated from the command line's own definition.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    // Rendered in memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "feedwatch", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .context("cannot render the man page")?;
    // Unwrapped, so that a closed pipe ends quietly in `main`.
    std::io::stdout().lock().write_all(&page)?;
    Ok(ExitCode::SUCCESS)
}
