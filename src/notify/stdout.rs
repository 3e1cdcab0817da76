//! `type = "stdout"`: prints each alert to standard output. Needs no server, so a new user
//! sees alerts at once; under systemd the lines land in the journal.

use std::io::Write;
use std::sync::LazyLock;

use chrono_tz::Tz;

use super::{Cause, Delivered, FailureKind, NotifyError, render};
use crate::config::SubjectTemplate;
use crate::domain::Alert;

/// Standard output always shows the default subject line.
static SUBJECT: LazyLock<SubjectTemplate> = LazyLock::new(SubjectTemplate::default);

/// Prints alerts to standard output, with times in its zone.
#[derive(Debug, Clone, Copy)]
pub struct StdoutNotifier(pub Tz);

impl StdoutNotifier {
    /// Writes one alert block; fails (transiently) only if stdout is closed or full.
    pub fn send(&self, alert: &Alert) -> Result<Delivered, NotifyError> {
        write(&format!(
            "=== {} [alert {}]\n{}\n",
            render::subject(&SUBJECT, &alert.payload),
            alert.uid,
            render::text_body(&alert.payload, self.0)
        ))
    }

    /// Writes one digest block.
    pub fn send_digest(&self, alerts: &[Alert]) -> Result<Delivered, NotifyError> {
        write(&format!(
            "=== {}\n{}\n",
            render::digest_subject(alerts),
            render::digest_text(alerts, self.0)
        ))
    }
}

fn write(text: &str) -> Result<Delivered, NotifyError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map(|()| Delivered {
            detail: "written to standard output".to_string(),
        })
        .map_err(|e| NotifyError::Transient {
            kind: FailureKind::Local,
            cause: Cause::Stdout(e),
            retry_after: None,
        })
}
