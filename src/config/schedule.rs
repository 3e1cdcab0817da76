//! When digests go out and when a notifier keeps quiet: `digest = "daily 08:00"`, `"weekly mon
//! 08:00"` or a period such as `"1h"`, and `quiet_hours = "22:00-07:00"`, with the pure
//! computation of the next time one is due. Times of day are wall-clock times in the
//! notifier's `timezone`; nothing here reads a clock: every function is given "now".
//!
//! Daylight-saving changes follow what people expect of an alarm clock (and what cron
//! implementations such as cronie do): a time of day that does not exist on the day clocks
//! spring forward fires at the first instant that does (02:30 in a 02:00 → 03:00 jump fires at
//! 03:00); a time of day that happens twice when clocks fall back fires once, the first time.

use std::fmt;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;

/// How a digest schedule is written, for messages.
const DIGEST_FORMS: &str = r#"write a period like "1h" or "daily 08:00""#;
/// The longest gap a daylight-saving (or calendar) change can open in a day's wall-clock
/// times: Samoa skipped all of 30 December 2011. A time of day inside a gap fires at the gap's
/// end, found by stepping a minute at a time at most this far.
const LONGEST_GAP_MINUTES: i64 = 25 * 60;

/// A wall-clock time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay {
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
}

impl TimeOfDay {
    /// Parses `HH:MM` (`8:00` too); the error says what is wrong, without naming the key.
    fn parse(s: &str) -> Result<TimeOfDay, TimeError> {
        let (h, m) = s.trim().split_once(':').ok_or(TimeError::Shape)?;
        let hour: u32 = h.trim().parse().map_err(|_| TimeError::Hour)?;
        let minute: u32 = m.trim().parse().map_err(|_| TimeError::Minute)?;
        if hour > 23 || minute > 59 {
            return Err(TimeError::Range);
        }
        Ok(TimeOfDay { hour, minute })
    }

    /// Minutes since midnight.
    fn minutes(self) -> u32 {
        self.hour * 60 + self.minute
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// What is wrong with an `HH:MM`.
enum TimeError {
    /// No `:`.
    Shape,
    /// The hour is not a number.
    Hour,
    /// The minute is not a number.
    Minute,
    /// Hour above 23 or minute above 59.
    Range,
}

impl TimeError {
    /// The message for the schedule or quiet hours `s` this time is part of.
    fn message(&self, s: &str, forms: &str) -> String {
        match self {
            TimeError::Shape => format!("invalid digest {s:?}: {forms}"),
            TimeError::Hour => format!("invalid hour in {s:?}"),
            TimeError::Minute => format!("invalid minute in {s:?}"),
            TimeError::Range => format!("invalid time of day in {s:?}"),
        }
    }
}

/// When digests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestSchedule {
    /// `digest = "1h"`: at most one digest per this period.
    Every(Duration),
    /// `digest = "daily 08:00"`: once a day at this time in the notifier's `timezone`.
    DailyAt {
        /// Hour, 0–23 (the notifier's zone).
        hour: u32,
        /// Minute, 0–59.
        minute: u32,
    },
    /// `digest = "weekly mon 08:00"`: once a week, on this day at this time in the notifier's
    /// `timezone`.
    WeeklyAt {
        /// Day of the week.
        weekday: Weekday,
        /// Hour, 0–23 (the notifier's zone).
        hour: u32,
        /// Minute, 0–59.
        minute: u32,
    },
    /// Alerts held during the notifier's `quiet_hours`: sent when they end. Written by
    /// feedwatch on queued alerts (label `quiet 22:00-07:00`), never in a config.
    QuietUntil(QuietHours),
    /// Alerts `feedwatch alerts flush` released: due at once. Written by feedwatch (label
    /// `now`), never in a config.
    Now,
}

impl DigestSchedule {
    /// Parses what a config may say: `"1h"`, `"30m"`, `"daily HH:MM"` or `"weekly DAY HH:MM"`
    /// (`mon` … `sun` or `monday` … `sunday`, any case). The error is the message `check`
    /// shows under the key.
    pub fn parse(s: &str) -> Result<DigestSchedule, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("daily") {
            let at = TimeOfDay::parse(rest).map_err(|e| {
                e.message(s, r#"write "daily HH:MM" (in the notifier's time zone)"#)
            })?;
            return Ok(DigestSchedule::DailyAt {
                hour: at.hour,
                minute: at.minute,
            });
        }
        // A bare "weekly" is read as a period, as it always was, so its message stays the same.
        if let Some(rest) = s.strip_prefix("weekly").filter(|r| !r.trim().is_empty()) {
            let forms = r#"write "weekly DAY HH:MM", like "weekly mon 08:00""#;
            let rest = rest.trim_start();
            let (day, time) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let weekday: Weekday = day.parse().map_err(|_| {
                format!(
                    "invalid day {day:?} in digest {s:?}: {forms} (the day in English: mon … \
                     sun or monday … sunday)"
                )
            })?;
            let at = TimeOfDay::parse(time).map_err(|e| e.message(s, forms))?;
            return Ok(DigestSchedule::WeeklyAt {
                weekday,
                hour: at.hour,
                minute: at.minute,
            });
        }
        let d = humantime::parse_duration(s)
            .map_err(|e| format!("invalid digest {s:?} ({e}); {DIGEST_FORMS}"))?;
        if d < Duration::from_secs(1) {
            return Err("a digest period must be at least 1s".to_string());
        }
        Ok(DigestSchedule::Every(d))
    }

    /// Reads a label stored with queued alerts ([`DigestSchedule::label`]): what a config may
    /// say, and the labels feedwatch itself writes (quiet hours, a flush).
    pub fn from_label(label: &str) -> Result<DigestSchedule, String> {
        let label = label.trim();
        if label == NOW_LABEL {
            return Ok(DigestSchedule::Now);
        }
        if let Some(rest) = label.strip_prefix(QUIET_LABEL) {
            return QuietHours::parse(rest).map(DigestSchedule::QuietUntil);
        }
        DigestSchedule::parse(label)
    }

    /// The canonical text form, stored with queued alerts.
    pub fn label(&self) -> String {
        match self {
            DigestSchedule::Every(d) => humantime::format_duration(*d).to_string(),
            DigestSchedule::DailyAt { hour, minute } => format!("daily {hour:02}:{minute:02}"),
            DigestSchedule::WeeklyAt {
                weekday,
                hour,
                minute,
            } => format!(
                "weekly {} {hour:02}:{minute:02}",
                weekday.to_string().to_lowercase()
            ),
            DigestSchedule::QuietUntil(q) => format!("{QUIET_LABEL}{q}"),
            DigestSchedule::Now => NOW_LABEL.to_string(),
        }
    }

    /// When the digest after one sent at `last` (unix seconds) is due; `first` is when the
    /// oldest alert now waiting was queued. A period counts from the previous digest (from
    /// `first` when there was none); a time of day is the first one after both, in `zone`
    /// (see the module doc for daylight-saving days), so an alert queued at 10:00 waits for
    /// tomorrow's 08:00 however long ago the last digest went out.
    pub fn next_due(&self, last: Option<i64>, first: i64, zone: Tz) -> i64 {
        let after = last.map_or(first, |l| l.max(first));
        match *self {
            DigestSchedule::Every(d) => {
                let period = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                last.unwrap_or(first).saturating_add(period)
            }
            DigestSchedule::DailyAt { hour, minute } => {
                next_at(after, zone, None, TimeOfDay { hour, minute })
            }
            DigestSchedule::WeeklyAt {
                weekday,
                hour,
                minute,
            } => next_at(after, zone, Some(weekday), TimeOfDay { hour, minute }),
            DigestSchedule::QuietUntil(q) => q.end_after(first, zone),
            DigestSchedule::Now => first,
        }
    }
}

/// The label of alerts held by quiet hours: `quiet 22:00-07:00`.
const QUIET_LABEL: &str = "quiet ";
/// The label of alerts `feedwatch alerts flush` released.
const NOW_LABEL: &str = "now";

/// `quiet_hours = "22:00-07:00"`: the wall-clock hours, in the notifier's `timezone`, during
/// which alerts that would go out at once are held, and sent as one digest when they end.
/// The start is inside, the end is not; the hours may cross midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// First quiet minute.
    pub start: TimeOfDay,
    /// First minute no longer quiet.
    pub end: TimeOfDay,
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM`; the error is the message `check` shows under the key.
    pub fn parse(s: &str) -> Result<QuietHours, String> {
        let s = s.trim();
        let forms = r#"write "HH:MM-HH:MM" in the notifier's time zone, like "22:00-07:00""#;
        let shape = || format!("invalid quiet hours {s:?}: {forms}");
        let (a, b) = s.split_once('-').ok_or_else(shape)?;
        let time = |t: &str| {
            TimeOfDay::parse(t).map_err(|e| match e {
                TimeError::Shape => shape(),
                other => other.message(s, forms),
            })
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(format!(
                "invalid quiet hours {s:?}: they start and end at the same time"
            ));
        }
        Ok(QuietHours { start, end })
    }

    /// Is the unix time `at` inside the quiet hours, in `zone`?
    pub fn contains(&self, at: i64, zone: Tz) -> bool {
        let Some(t) = DateTime::from_timestamp(at, 0) else {
            return false;
        };
        let local = t.with_timezone(&zone);
        let m = local.hour() * 60 + local.minute();
        let (start, end) = (self.start.minutes(), self.end.minutes());
        if start < end {
            start <= m && m < end
        } else {
            m >= start || m < end
        }
    }

    /// The first end of quiet hours after the unix time `after`, in `zone`: when alerts held
    /// at `after` go out.
    pub fn end_after(&self, after: i64, zone: Tz) -> i64 {
        next_at(after, zone, None, self.end)
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The first instant strictly after the unix time `after` at which the wall clock in `zone`
/// shows `at` (on a `weekday`, when given). See the module doc for daylight-saving days.
pub fn next_at(after: i64, zone: Tz, weekday: Option<Weekday>, at: TimeOfDay) -> i64 {
    let fallback = after.saturating_add(86_400);
    let Some(start) = DateTime::from_timestamp(after, 0) else {
        return fallback;
    };
    // From the day before (a skipped time there may fire early on this day) through eight
    // days on: every weekday comes round in that span.
    let today = start.with_timezone(&zone).date_naive();
    let Some(from) = today.pred_opt() else {
        return fallback;
    };
    from.iter_days()
        .take(10)
        .filter(|day| weekday.is_none_or(|w| day.weekday() == w))
        .filter_map(|day| fire_on(day, at, zone))
        .find(|t| *t > after)
        .unwrap_or(fallback)
}

/// The instant `day` at `at` in `zone`: the earlier one when the wall clock shows it twice,
/// the end of the gap when it skips it.
fn fire_on(day: NaiveDate, at: TimeOfDay, zone: Tz) -> Option<i64> {
    let local: NaiveDateTime = day.and_hms_opt(at.hour, at.minute, 0)?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp()),
        LocalResult::None => (1..=LONGEST_GAP_MINUTES).find_map(|m| {
            zone.from_local_datetime(&(local + chrono::Duration::minutes(m)))
                .earliest()
                .map(|t| t.timestamp())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::{Berlin, Moscow};

    fn t(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .timestamp()
    }

    #[test]
    fn daily_and_weekly_digests_are_due_at_the_time_of_day_in_the_notifiers_zone() {
        // (schedule, last digest, oldest waiting alert, zone, due)
        let cases: &[(&str, Option<&str>, &str, Tz, &str)] = &[
            // Moscow is UTC+3 all year: 08:00 there is 05:00 UTC.
            (
                "daily 08:00",
                None,
                "2026-11-29T04:00:00Z",
                Moscow,
                "2026-11-29T05:00:00Z",
            ),
            (
                "daily 08:00",
                None,
                "2026-11-29T05:00:00Z",
                Moscow,
                "2026-11-30T05:00:00Z",
            ),
            (
                "daily 08:00",
                None,
                "2026-11-29T04:00:00Z",
                Tz::UTC,
                "2026-11-29T08:00:00Z",
            ),
            (
                "daily 00:30",
                None,
                "2026-11-29T21:00:00Z",
                Moscow,
                "2026-11-29T21:30:00Z",
            ),
            // A digest sent long ago does not make a new alert due at once.
            (
                "daily 08:00",
                Some("2026-11-20T05:00:00Z"),
                "2026-11-29T07:00:00Z",
                Moscow,
                "2026-11-30T05:00:00Z",
            ),
            // The daemon was down at 08:00: the alert queued before it goes out at once.
            (
                "daily 08:00",
                Some("2026-11-28T05:00:00Z"),
                "2026-11-28T09:00:00Z",
                Moscow,
                "2026-11-29T05:00:00Z",
            ),
            // 2026-11-29 is a Sunday.
            (
                "weekly mon 08:00",
                None,
                "2026-11-29T04:00:00Z",
                Moscow,
                "2026-11-30T05:00:00Z",
            ),
            (
                "weekly sun 08:00",
                None,
                "2026-11-29T04:00:00Z",
                Moscow,
                "2026-11-29T05:00:00Z",
            ),
            (
                "weekly sun 08:00",
                None,
                "2026-11-29T06:00:00Z",
                Moscow,
                "2026-12-06T05:00:00Z",
            ),
            (
                "weekly Saturday 23:00",
                None,
                "2026-11-29T06:00:00Z",
                Moscow,
                "2026-12-05T20:00:00Z",
            ),
            // Berlin in summer is UTC+2, in winter UTC+1.
            (
                "daily 08:00",
                None,
                "2026-07-01T00:00:00Z",
                Berlin,
                "2026-07-01T06:00:00Z",
            ),
            (
                "daily 08:00",
                None,
                "2026-12-01T00:00:00Z",
                Berlin,
                "2026-12-01T07:00:00Z",
            ),
            // Spring forward, Berlin 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist and
            // fires at 03:00 CEST (01:00 UTC); the next day at 02:30 CEST again.
            (
                "daily 02:30",
                None,
                "2026-03-29T00:00:00Z",
                Berlin,
                "2026-03-29T01:00:00Z",
            ),
            (
                "daily 02:30",
                Some("2026-03-29T01:00:00Z"),
                "2026-03-29T01:00:00Z",
                Berlin,
                "2026-03-30T00:30:00Z",
            ),
            // The days around it keep their wall-clock time.
            (
                "daily 08:00",
                None,
                "2026-03-28T12:00:00Z",
                Berlin,
                "2026-03-29T06:00:00Z",
            ),
            // Fall back, Berlin 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice and fires
            // once, the first time (00:30 UTC); after it, the next is the following day.
            (
                "daily 02:30",
                None,
                "2026-10-24T12:00:00Z",
                Berlin,
                "2026-10-25T00:30:00Z",
            ),
            (
                "daily 02:30",
                Some("2026-10-25T00:30:00Z"),
                "2026-10-25T00:40:00Z",
                Berlin,
                "2026-10-26T01:30:00Z",
            ),
            // New York, spring forward 2026-03-08 02:00 EST → 03:00 EDT.
            (
                "daily 02:15",
                None,
                "2026-03-08T05:00:00Z",
                New_York,
                "2026-03-08T07:00:00Z",
            ),
            (
                "weekly sunday 02:15",
                None,
                "2026-03-02T00:00:00Z",
                New_York,
                "2026-03-08T07:00:00Z",
            ),
            (
                "daily 08:00",
                None,
                "2026-03-08T05:00:00Z",
                New_York,
                "2026-03-08T12:00:00Z",
            ),
            // New York, fall back 2026-11-01 02:00 EDT → 01:00 EST: 01:30 fires once (EDT).
            (
                "daily 01:30",
                None,
                "2026-11-01T04:00:00Z",
                New_York,
                "2026-11-01T05:30:00Z",
            ),
            (
                "weekly sun 01:30",
                Some("2026-11-01T05:30:00Z"),
                "2026-11-01T06:00:00Z",
                New_York,
                "2026-11-08T06:30:00Z",
            ),
            // A period counts from the last digest.
            (
                "1h",
                None,
                "2026-11-29T04:00:00Z",
                Moscow,
                "2026-11-29T05:00:00Z",
            ),
            (
                "1h",
                Some("2026-11-29T04:30:00Z"),
                "2026-11-29T04:40:00Z",
                Moscow,
                "2026-11-29T05:30:00Z",
            ),
        ];
        for (schedule, last, first, zone, want) in cases {
            let s = DigestSchedule::parse(schedule).expect("valid schedule");
            assert_eq!(
                s.next_due(last.map(t), t(first), *zone),
                t(want),
                "{schedule} after {last:?}/{first} in {zone}"
            );
        }
    }

    #[test]
    fn labels_read_back_as_the_same_schedule() {
        let cases = [
            ("daily 08:00", "daily 08:00"),
            ("daily 8:05", "daily 08:05"),
            ("weekly mon 08:00", "weekly mon 08:00"),
            ("weekly MONDAY 8:00", "weekly mon 08:00"),
            ("weekly Fri 18:30", "weekly fri 18:30"),
            ("1h", "1h"),
            ("90m", "1h 30m"),
        ];
        for (written, label) in cases {
            let s = DigestSchedule::parse(written).expect(written);
            assert_eq!(s.label(), label, "{written}");
            assert_eq!(DigestSchedule::from_label(label), Ok(s), "{label}");
        }
        let quiet = DigestSchedule::QuietUntil(QuietHours::parse("22:00-7:00").expect("valid"));
        assert_eq!(quiet.label(), "quiet 22:00-07:00");
        assert_eq!(DigestSchedule::from_label("quiet 22:00-07:00"), Ok(quiet));
        assert_eq!(DigestSchedule::from_label("now"), Ok(DigestSchedule::Now));
        // What only feedwatch writes is not a config value.
        assert!(DigestSchedule::parse("quiet 22:00-07:00").is_err());
        assert!(DigestSchedule::parse("now").is_err());
    }

    #[test]
    fn bad_schedules_say_what_to_write() {
        let cases = [
            (
                "weekly funday 08:00",
                r#"invalid day "funday" in digest "weekly funday 08:00": write "weekly DAY HH:MM", like "weekly mon 08:00" (the day in English: mon … sun or monday … sunday)"#,
            ),
            (
                "weekly mon",
                r#"invalid digest "weekly mon": write "weekly DAY HH:MM", like "weekly mon 08:00""#,
            ),
            (
                "weekly mon 24:00",
                r#"invalid time of day in "weekly mon 24:00""#,
            ),
            (
                "weekly",
                r#"invalid digest "weekly" (expected number at 0); write a period like "1h" or "daily 08:00""#,
            ),
            ("daily 25:00", r#"invalid time of day in "daily 25:00""#),
            ("daily x:00", r#"invalid hour in "daily x:00""#),
        ];
        for (written, message) in cases {
            assert_eq!(
                DigestSchedule::parse(written).err().as_deref(),
                Some(message),
                "{written}"
            );
        }
    }

    #[test]
    fn quiet_hours_hold_from_start_until_end_in_the_notifiers_zone() {
        let night = QuietHours::parse("22:00-07:00").expect("valid");
        let small = QuietHours::parse("01:00-05:00").expect("valid");
        // (hours, instant, zone, inside, end after it)
        let cases: &[(QuietHours, &str, Tz, bool, &str)] = &[
            // 22:30 Moscow.
            (
                night,
                "2026-11-29T19:30:00Z",
                Moscow,
                true,
                "2026-11-30T04:00:00Z",
            ),
            // 03:00 Moscow: the end is the same morning.
            (
                night,
                "2026-11-30T00:00:00Z",
                Moscow,
                true,
                "2026-11-30T04:00:00Z",
            ),
            // 22:00 sharp is quiet, 07:00 sharp is not.
            (
                night,
                "2026-11-29T19:00:00Z",
                Moscow,
                true,
                "2026-11-30T04:00:00Z",
            ),
            (
                night,
                "2026-11-30T04:00:00Z",
                Moscow,
                false,
                "2026-12-01T04:00:00Z",
            ),
            (
                night,
                "2026-11-30T09:00:00Z",
                Moscow,
                false,
                "2026-12-01T04:00:00Z",
            ),
            (
                small,
                "2026-11-29T23:30:00Z",
                Moscow,
                true,
                "2026-11-30T02:00:00Z",
            ),
            (
                small,
                "2026-11-29T20:30:00Z",
                Moscow,
                false,
                "2026-11-30T02:00:00Z",
            ),
            (
                small,
                "2026-11-30T02:00:00Z",
                Moscow,
                false,
                "2026-12-01T02:00:00Z",
            ),
            // Same instant, another zone: 22:30 UTC is quiet in UTC, 01:30 in Moscow is too.
            (
                night,
                "2026-11-29T22:30:00Z",
                Tz::UTC,
                true,
                "2026-11-30T07:00:00Z",
            ),
            // Berlin spring forward: the night before ends at 07:00 CEST (05:00 UTC).
            (
                night,
                "2026-03-28T22:00:00Z",
                Berlin,
                true,
                "2026-03-29T05:00:00Z",
            ),
        ];
        for (hours, at, zone, inside, end) in cases {
            assert_eq!(
                hours.contains(t(at), *zone),
                *inside,
                "{hours} at {at} in {zone}"
            );
            assert_eq!(
                hours.end_after(t(at), *zone),
                t(end),
                "{hours} after {at} in {zone}"
            );
            let held = DigestSchedule::QuietUntil(*hours);
            assert_eq!(
                held.next_due(None, t(at), *zone),
                t(end),
                "{hours} held at {at}"
            );
        }
    }

    #[test]
    fn bad_quiet_hours_say_what_to_write() {
        let forms = r#"write "HH:MM-HH:MM" in the notifier's time zone, like "22:00-07:00""#;
        let cases = [
            ("22-7", format!(r#"invalid quiet hours "22-7": {forms}"#)),
            ("22:00", format!(r#"invalid quiet hours "22:00": {forms}"#)),
            (
                "22:00-25:00",
                r#"invalid time of day in "22:00-25:00""#.to_string(),
            ),
            (
                "07:00-07:00",
                r#"invalid quiet hours "07:00-07:00": they start and end at the same time"#
                    .to_string(),
            ),
        ];
        for (written, message) in cases {
            assert_eq!(
                QuietHours::parse(written).err().as_deref(),
                Some(message.as_str()),
                "{written}"
            );
        }
    }

    #[test]
    fn the_next_time_never_panics_at_the_ends_of_time() {
        let at = TimeOfDay { hour: 8, minute: 0 };
        for after in [i64::MIN, -1, 0, i64::MAX, 253_402_300_799] {
            let _ = next_at(after, Moscow, Some(Weekday::Mon), at);
            let _ = next_at(after, New_York, None, at);
        }
    }
}
