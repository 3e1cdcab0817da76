//! HTTP time values shared by the fetcher and the webhook notifier: `Retry-After` and
//! HTTP-dates. A leaf module: pure functions, no I/O, no knowledge of feeds or notifiers.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `Retry-After` as delay-seconds or an HTTP-date taken relative to `now` (the server's `Date`
/// when it sent one); a date in the past means "now".
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(
        at.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// An HTTP-date in any of the three forms a recipient must accept (RFC 9110 §5.6.7):
/// IMF-fixdate, the obsolete RFC 850 form, and asctime.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    httpdate::parse_http_date(value.trim())
        .ok()
        .map(DateTime::<Utc>::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::at;

    #[test]
    fn http_dates_in_all_three_forms() {
        let want = Some(at("1994-11-06T08:49:37Z"));
        for (name, value) in [
            ("imf-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("rfc850", "Sunday, 06-Nov-94 08:49:37 GMT"),
            ("asctime", "Sun Nov  6 08:49:37 1994"),
        ] {
            assert_eq!(parse_http_date(value), want, "{name}");
        }
        for bad in ["0", "-1", "", "tomorrow"] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_seconds_date_and_past_date() {
        let now = at("2015-10-21T07:28:00Z");
        let cases = [
            ("seconds", "120", Some(120)),
            ("date", "Wed, 21 Oct 2015 07:29:30 GMT", Some(90)),
            (
                "past date means now",
                "Wed, 21 Oct 2015 07:00:00 GMT",
                Some(0),
            ),
            ("garbage", "soon", None),
            ("negative", "-5", None),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{name}"
            );
        }
    }
}
