//! How the store reports a database that fails (a full disk, a read-only or locked file, a
//! damaged page): once when queries start failing, and once when a write succeeds again — not
//! once per poll and feed, which during a one-minute fault at one poll a second was 480
//! warnings a minute for four feeds. The callers (a poll, a lane) log the same failure at
//! debug level only.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StoreError;
use crate::domain::error_chain;

/// A database that recovers and fails again within this long is not reported again (a
/// damaged page that fails some reads while writes succeed would otherwise log twice a poll).
pub(super) const REPORT_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// Whether the database is failing, shared by every clone of the store.
#[derive(Debug, Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// A query failed, and no write has succeeded since.
    failing: bool,
    /// This run of failures was logged at ERROR (so its end is logged too).
    reported: bool,
    /// When a failure was last logged at ERROR.
    last_report: Option<Instant>,
}

impl Health {
    /// A call failed with `e`: logs it if it starts a run of failures (and none was logged
    /// within [`REPORT_AGAIN_AFTER`]). Only query failures count: a lost file has its own
    /// report and stop.
    pub(super) fn failed(&self, e: &StoreError) {
        if !matches!(e, StoreError::Query { .. }) {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.failing {
            return;
        }
        st.failing = true;
        let now = Instant::now();
        if st
            .last_report
            .is_some_and(|t| now.duration_since(t) < REPORT_AGAIN_AFTER)
        {
            st.reported = false;
            tracing::debug!(error = %error_chain(e), "the database fails again");
            return;
        }
        st.reported = true;
        st.last_report = Some(now);
        tracing::error!(error = %error_chain(e),
            "the database fails: polls go on, but what they find is stored and alerted only \
             once it works again (logged once; its recovery is logged too)");
    }

    /// A write succeeded: ends a run of failures (logged if its start was).
    pub(super) fn wrote(&self, path: &Path) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.failing {
            return;
        }
        st.failing = false;
        if st.reported {
            tracing::info!(database = %path.display(), "the database works again");
        }
    }
}
