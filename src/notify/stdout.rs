//! `type = "stdout"`: prints each alert to standard output. Needs no server, so a new user
//! sees alerts at once; under systemd the lines land in the journal.

use std::io::Write;

use super::{NotifyError, render};
use crate::domain::Alert;

/// Prints alerts to standard output.
#[derive(Debug, Clone, Copy)]
pub struct StdoutNotifier;

impl StdoutNotifier {
    /// Writes one alert block; fails (transiently) only if stdout is closed or full.
    pub fn send(&self, alert: &Alert) -> Result<(), NotifyError> {
        let text = format!(
            "=== {} [alert {}]\n{}\n",
            render::subject(&alert.payload),
            alert.uid,
            render::text_body(&alert.payload)
        );
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| NotifyError::Transient {
                message: format!("cannot write to standard output: {e}"),
            })
    }
}
