//! systemd integration: the `sd_notify` messages a `Type=notify` service sends (READY, RELOADING,
//! STOPPING, STATUS, WATCHDOG), through the `sd-notify` crate, and the watchdog interval.
//!
//! Everything here is best effort. Without `$NOTIFY_SOCKET` (run by hand, or by a service
//! manager that does not listen) every call is a no-op, and a send that fails is logged at debug
//! and otherwise ignored: a lost notification must never stop the daemon, and systemd notices a
//! missing READY or WATCHDOG by itself. No policy lives here: *when* to ping the watchdog (after
//! checking that the store still answers, as miniflux does) is the caller's decision.
//!
//! Protocol reference: sd_notify(3) and sd_watchdog_enabled(3). Abstract-namespace sockets
//! (`NOTIFY_SOCKET=@…`) are not supported by sd-notify 0.5; systemd itself uses a path
//! (`/run/systemd/notify`), so a service it starts is unaffected.

use std::time::Duration;

use sd_notify::NotifyState;

/// Environment variable naming the socket notifications go to (sd_notify(3)).
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// Environment variable with the watchdog timeout in microseconds (sd_watchdog_enabled(3)).
const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// Environment variable naming the process the watchdog applies to (sd_watchdog_enabled(3)).
const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// Tells systemd that startup is finished (`READY=1`): the unit becomes "active" and
/// `systemctl start` returns. Also send it after a reload, whether the reload succeeded or not,
/// to end the "reloading" state that [`reloading`] began.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd that the configuration is being reloaded (`RELOADING=1`); follow it with
/// [`ready`] when done. `MONOTONIC_USEC` is sent with it because systemd ≥ 253 requires it for
/// `Type=notify-reload` units and older versions ignore it, so the same call works if the unit
/// is ever switched to `notify-reload` (bookworm's systemd 252 does not know that type).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the monotonic clock for MONOTONIC_USEC");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Tells systemd that the daemon is shutting down (`STOPPING=1`), so `systemctl status` shows
/// "deactivating" while queued work drains instead of a daemon that looks hung.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Sets the one-line status shown by `systemctl status` (`STATUS=…`), e.g.
/// `"watching 12 feeds, 0 alerts pending"`. Line breaks become spaces: each line of a
/// notification is a separate `KEY=VALUE` assignment, so a newline would end the status early
/// and turn the rest into a bogus assignment.
pub fn status(text: &str) {
    let line = single_line(text);
    send(&[NotifyState::Status(&line)]);
}

/// Pings the watchdog (`WATCHDOG=1`). With `WatchdogSec=` set, systemd kills and (with
/// `Restart=on-failure`) restarts the service when pings stop for that long; ping every
/// [`watchdog_interval`], and only while the daemon is really making progress.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to call [`watchdog`]: half the `WatchdogSec=` timeout, as sd_watchdog_enabled(3)
/// recommends, so one late tick does not trip it. `None` when no watchdog applies to this
/// process: not started with `NOTIFY_SOCKET`, `WATCHDOG_USEC` unset, zero or unparsable, or
/// `WATCHDOG_PID` naming another process (the variables leaked to a child).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_in(|key| std::env::var(key).ok(), std::process::id())
}

/// [`watchdog_interval`] over an explicit environment lookup and process id, so the rules can
/// be tested without touching the process environment.
fn watchdog_interval_in(env: impl Fn(&str) -> Option<String>, own_pid: u32) -> Option<Duration> {
    // Pings could reach no one; do not start a ticker for nothing.
    env(NOTIFY_SOCKET).filter(|s| !s.is_empty())?;
    let usec: u64 = env(WATCHDOG_USEC)?.trim().parse().ok()?;
    // libsystemd treats 0 and "infinity" (u64::MAX) as invalid, i.e. no watchdog.
    if usec == 0 || usec == u64::MAX {
        return None;
    }
    if let Some(pid) = env(WATCHDOG_PID) {
        // Like sd_watchdog_enabled(3): an unparsable WATCHDOG_PID disables the watchdog too.
        let pid: u32 = pid.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec) / 2)
}

/// Replaces every line break with a space.
fn single_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Sends one notification; failures are logged at debug and swallowed (see the module doc).
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        let what: Vec<String> = states.iter().map(ToString::to_string).collect();
        tracing::debug!(error = %e, notification = %what.join(" "), "sd_notify failed");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const OWN_PID: u32 = 4242;

    #[test]
    fn watchdog_interval_follows_sd_watchdog_enabled() {
        /// (case name, environment, expected interval)
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Option<Duration>,
        );
        let cases: &[Case] = &[
            ("nothing set", &[], None),
            ("no notify socket", &[("WATCHDOG_USEC", "60000000")], None),
            (
                "empty notify socket",
                &[("NOTIFY_SOCKET", ""), ("WATCHDOG_USEC", "60000000")],
                None,
            ),
            ("no watchdog", &[("NOTIFY_SOCKET", "/run/n")], None),
            (
                "half of WatchdogSec=60s",
                &[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "60000000")],
                Some(Duration::from_secs(30)),
            ),
            (
                "odd microseconds keep sub-second precision",
                &[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "3")],
                Some(Duration::from_nanos(1500)),
            ),
            (
                "pid is ours",
                &[
                    ("NOTIFY_SOCKET", "/run/n"),
                    ("WATCHDOG_USEC", "10000000"),
                    ("WATCHDOG_PID", "4242"),
                ],
                Some(Duration::from_secs(5)),
            ),
            (
                "pid is another process",
                &[
                    ("NOTIFY_SOCKET", "/run/n"),
                    ("WATCHDOG_USEC", "10000000"),
                    ("WATCHDOG_PID", "1"),
                ],
                None,
            ),
            (
                "pid unparsable",
                &[
                    ("NOTIFY_SOCKET", "/run/n"),
                    ("WATCHDOG_USEC", "10000000"),
                    ("WATCHDOG_PID", "me"),
                ],
                None,
            ),
            (
                "zero",
                &[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "0")],
                None,
            ),
            (
                "infinity",
                &[
                    ("NOTIFY_SOCKET", "/run/n"),
                    ("WATCHDOG_USEC", "18446744073709551615"),
                ],
                None,
            ),
            (
                "not a number",
                &[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "60s")],
                None,
            ),
            (
                "negative",
                &[("NOTIFY_SOCKET", "/run/n"), ("WATCHDOG_USEC", "-5")],
                None,
            ),
        ];
        for (name, vars, want) in cases {
            let env: HashMap<&str, &str> = vars.iter().copied().collect();
            let got = watchdog_interval_in(|k| env.get(k).map(|v| v.to_string()), OWN_PID);
            assert_eq!(got, *want, "case {name:?}");
        }
    }

    #[test]
    fn status_text_stays_on_one_line() {
        assert_eq!(single_line("a\nb\r\nc"), "a b  c");
        assert_eq!(single_line("watching 3 feeds"), "watching 3 feeds");
    }

    // The protocol itself (READY, STATUS, WATCHDOG, RELOADING, STOPPING on a real
    // NOTIFY_SOCKET) is tested end to end on the binary in tests/systemd_notify.rs.
}
