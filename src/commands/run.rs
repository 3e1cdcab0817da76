//! `feedwatch run`: the daemon in the foreground, stopped by SIGTERM/SIGINT and reloaded by
//! SIGHUP. The daemon itself is [`crate::daemon::run`]; this file adds the signals.

use std::path::Path;
use std::process::ExitCode;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon::{self, DatabaseDamaged, DatabaseLost, Reload};
use crate::store::{Store, StoreError};

/// Runs the daemon on the config at `path` until SIGTERM/SIGINT.
pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let store = match Store::open(&config.storage.path).await {
        Ok(store) => store,
        Err(e) if e.is_damaged() => return Err(DatabaseDamaged(e).into()),
        // Truncated after use: its contents are lost as surely as a deleted file's.
        Err(e @ StoreError::Emptied { .. }) => return Err(DatabaseLost(e).into()),
        Err(e) => return Err(e.into()),
    };
    let shutdown = CancellationToken::new();
    let (reload_tx, reload) = Reload::from_file(path.to_path_buf());
    let signals = tokio::spawn(watch_signals(shutdown.clone(), reload_tx));
    let result = daemon::run(config, store, shutdown, reload).await;
    signals.abort();
    result.map(|()| ExitCode::SUCCESS)
}

/// Signal numbers (the same on every Linux architecture), for the exit status of a forced
/// stop: 128 + the signal, as a shell reports a process killed by it.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// SIGTERM/SIGINT cancel `shutdown`; SIGHUP asks for a reload. A second SIGTERM/SIGINT while
/// the daemon is stopping exits the process at once: whoever sends it does not want to wait
/// for the grace given to a send in flight.
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
    let (name, number) = tokio::select! {
        _ = term.recv() => ("SIGTERM", SIGTERM),
        _ = int.recv() => ("SIGINT", SIGINT),
    };
    tracing::warn!(
        "second {name}: exiting at once; an alert whose send was in flight stays queued and \
         may be sent twice"
    );
    std::process::exit(128 + number);
}
