//! `feedwatch run`: the daemon in the foreground, stopped by SIGTERM/SIGINT and reloaded by
//! SIGHUP. The daemon itself is [`crate::daemon::run`]; this file adds the signals.

use std::path::Path;
use std::process::ExitCode;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon::{self, Reload};
use crate::store::Store;

/// Runs the daemon on the config at `path` until SIGTERM/SIGINT.
pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = Store::open(&config.storage.path).await?;
    let shutdown = CancellationToken::new();
    let (reload_tx, reload) = Reload::from_file(path.to_path_buf());
    let signals = tokio::spawn(watch_signals(shutdown.clone(), reload_tx));
    let result = daemon::run(config, store, shutdown, reload).await;
    signals.abort();
    result.map(|()| ExitCode::SUCCESS)
}

/// SIGTERM/SIGINT cancel `shutdown`; SIGHUP asks for a reload.
async fn watch_signals(shutdown: CancellationToken, reload: mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the config");
                // Full channel: a reload is already pending and will read the newest file.
                let _ = reload.try_send(());
            }
        }
    }
    shutdown.cancel();
}
