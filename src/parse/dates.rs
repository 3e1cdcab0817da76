//! Entry timestamps: feed-rs' own lenient reading of dates, with a quick way for the two
//! shapes nearly every feed writes. Pure: no I/O, no clock.
//!
//! feed-rs reads every date by rewriting it with up to nine regex replacements before chrono
//! sees it (an RSS date, RFC 2822, first fails as RFC 3339): 8 % of a first poll's instructions
//! (issue 13's profile). A date already in the strict form of RFC 3339 (`2024-03-01T12:00:00Z`)
//! or RFC 2822 (`Fri, 01 Mar 2024 12:00:00 +0000`) is left as it was by every one of those
//! replacements (each case is argued in [`quick`]), so chrono reads it directly, with exactly
//! the call feed-rs would end with; anything else is handed to feed-rs' own default parser
//! ([`lenient`]). A test reads dates both through feed-rs' own parser and through
//! this one, so a feed-rs upgrade that reads dates differently fails it.

use chrono::{DateTime, Utc};

/// The timestamp parser given to feed-rs: what feed-rs' default would return for `text`.
pub(super) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    quick(text.trim()).or_else(|| lenient(text))
}

/// `text` (trimmed) read directly when it is strict RFC 3339 or RFC 2822; `None` sends it the
/// lenient way, which also covers a strict-looking date chrono refuses (a 31st of June).
fn quick(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if strict_rfc3339(b) {
        // feed-rs tries RFC 3339 first, after two replacements that change nothing here: a
        // sign followed by four digits (`+0100`) — the signs of a strict date are each
        // followed by two digits and `-`, `T` or `:`; and `-dd` at the end (a date without a
        // time) — the end is `Z` or `:mm`. It then calls exactly this.
        return DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    let (date, zone) = strict_rfc2822(text)?;
    // RFC 3339 fails on it (it starts with a letter, not a year), then RFC 2822's replacements:
    // `UTC` (absent) or a final `-0000` becomes `+0000`; the weekday and its `, ` are dropped;
    // a month name is cut to three letters (it has three); `Mon d yyyy` is reordered (here the
    // day comes first); ` 24:` becomes ` 00:` (refused by `strict_rfc2822`); a one-digit hour
    // is padded (it has two). What is left is this string, given to this call.
    let read = |s: &str| DateTime::parse_from_rfc2822(s).ok();
    let t = match zone {
        "-0000" => read(&format!("{}+0000", &date[..date.len() - zone.len()])),
        _ => read(date),
    };
    t.map(|t| t.with_timezone(&Utc))
}

/// `Www, ` as it starts an RFC 2822 date.
const WEEKDAY: &str = "Www, ";
const WEEKDAYS: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `yyyy-mm-ddThh:mm:ss`, an optional fraction of digits, then `Z` or `±hh:mm`.
fn strict_rfc3339(b: &[u8]) -> bool {
    let Some((head, rest)) = b.split_at_checked(19) else {
        return false;
    };
    let digits_at = |s: &[u8], at: &[usize]| at.iter().all(|&i| s[i].is_ascii_digit());
    let shape = digits_at(head, &[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
        && (head[4], head[7], head[10], head[13], head[16]) == (b'-', b'-', b'T', b':', b':');
    if !shape {
        return false;
    }
    let rest = match rest.strip_prefix(b".") {
        Some(fraction) => {
            let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            &fraction[digits..]
        }
        None => rest,
    };
    match rest {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => digits_at(&[*h1, *h2, *m1, *m2], &[0, 1, 2, 3]),
        _ => false,
    }
}

/// `Www, d Mmm yyyy hh:mm:ss zone` (day of one or two digits, hour not 24), zone `GMT` or
/// `±hhmm`: the text after the weekday's `Www, `, and the zone.
fn strict_rfc2822(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let (weekday, rest) = b.split_at_checked(3)?;
    let rest = rest.strip_prefix(b", ")?;
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let day_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let rest = rest[day_len..].strip_prefix(b" ")?;
    let (month, rest) = rest.split_at_checked(3)?;
    if !MONTHS.contains(&month) {
        return None;
    }
    let (time, zone) = rest.split_at_checked(" yyyy hh:mm:ss ".len())?;
    let digits = |at: &[usize]| at.iter().all(|&i| time[i].is_ascii_digit());
    let shape = digits(&[1, 2, 3, 4, 6, 7, 9, 10, 12, 13])
        && (time[0], time[5], time[8], time[11], time[14]) == (b' ', b' ', b':', b':', b' ');
    if !shape || &time[6..8] == b"24" {
        return None;
    }
    let zone_ok = match zone {
        b"GMT" => true,
        [b'+' | b'-', rest @ ..] => rest.len() == 4 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    // All ASCII up to here, so both cuts fall on char boundaries.
    zone_ok.then(|| (&text[WEEKDAY.len()..], &text[text.len() - zone.len()..]))
}

/// What feed-rs' default timestamp parser makes of `text`, asked through its public API: the
/// text as the `<pubDate>` of a one-item RSS document, parsed with the default builder. (The
/// lenient parser itself is private to feed-rs; this keeps its reading exactly, whatever its
/// version, without a copy of it.) Only dates [`quick`] does not read come here, a few
/// microseconds each. We run inside feed-rs' parse of the feed, under its panic guard.
fn lenient(text: &str) -> Option<DateTime<Utc>> {
    let feed = feed_rs::parser::parse(pub_date_document(text).as_bytes()).ok()?;
    feed.entries.first().and_then(|e| e.published)
}

/// A one-item RSS document whose item's `<pubDate>` reads as `text`.
fn pub_date_document(text: &str) -> String {
    format!(
        "<rss version=\"2.0\"><channel><item><pubDate>{}</pubDate></item></channel></rss>",
        quick_xml::escape::escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(feed-rs' default, ours)` for `date` as the `<pubDate>` of an RSS item: both through
    /// the whole of feed-rs, which hands the element's text to its timestamp parser.
    fn read_both(date: &str) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let doc = pub_date_document(date);
        let published = |feed: Result<feed_rs::model::Feed, _>| {
            feed.ok()
                .and_then(|f| f.entries.first().and_then(|e| e.published))
        };
        let theirs = published(feed_rs::parser::parse(doc.as_bytes()));
        let ours = published(
            feed_rs::parser::Builder::new()
                .timestamp_parser(parse_timestamp)
                .build()
                .parse(doc.as_bytes()),
        );
        (theirs, ours)
    }

    #[test]
    fn the_usual_shapes_are_read_the_quick_way_as_feed_rs_reads_them() {
        let cases = [
            ("RFC 2822 with an offset", "Fri, 01 Mar 2024 12:00:00 +0000"),
            (
                "RFC 2822, negative offset",
                "Thu, 13 Jun 2024 07:38:00 -0500",
            ),
            ("RFC 2822, -0000", "Thu, 13 Jun 2024 07:38:00 -0000"),
            ("RFC 2822, GMT", "Tue, 04 Jun 2024 23:59:59 GMT"),
            ("RFC 2822, one-digit day", "Sat, 1 Jun 2024 10:00:00 +0200"),
            (
                "RFC 2822, wrong weekday (dropped, as feed-rs drops it)",
                "Mon, 01 Mar 2024 12:00:00 +0000",
            ),
            ("RFC 3339, Z", "2024-03-01T12:00:00Z"),
            ("RFC 3339, offset", "2024-03-01T12:00:00+03:00"),
            ("RFC 3339, fraction", "2024-03-01T12:00:00.123456-07:30"),
            ("surrounded by whitespace", "\n  2024-03-01T12:00:00Z \t"),
        ];
        for (name, date) in cases {
            assert!(quick(date.trim()).is_some(), "{name}: not the quick way");
            let (theirs, ours) = read_both(date);
            assert!(theirs.is_some(), "{name}: feed-rs reads it");
            assert_eq!(ours, theirs, "{name}");
        }
    }

    #[test]
    fn other_shapes_are_read_as_feed_rs_reads_them() {
        let cases = [
            ("UTC", "Fri, 01 Mar 2024 12:00:00 UTC"),
            ("long weekday", "Thurs, 13 Jul 2011 07:38:00 GMT"),
            ("long month", "Fri, 01 March 2024 12:00:00 +0000"),
            ("month first", "Fri, Mar 01 2024 12:00:00 +0000"),
            ("hour 24", "Fri, 01 Mar 2024 24:00:00 +0000"),
            ("one-digit hour", "Fri, 01 Mar 2024 9:00:00 +0000"),
            ("no weekday", "01 Mar 2024 12:00:00 +0000"),
            ("no seconds", "Thu, 21 Aug 2024 10:30 EDT"),
            ("a named zone", "Thu, 22 Feb 2024 10:00:00 PST"),
            ("Z after a space", "Tue, 15 Nov 2022 20:15:04 Z"),
            ("French", "mer, 13 nov 2024 10:00:00 +0100"),
            ("offset without colon", "2024-03-01T12:00:00+0300"),
            ("date only", "2024-03-01"),
            ("space for T", "2024-03-01 12:00:00Z"),
            ("lower-case z", "2024-03-01t12:00:00z"),
            ("31 June", "2024-06-31T12:00:00Z"),
            ("31 June, RFC 2822", "Sun, 31 Jun 2024 12:00:00 +0000"),
            ("hour 25", "2024-03-01T25:00:00Z"),
            ("empty", ""),
            ("not a date", "yesterday"),
        ];
        for (name, date) in cases {
            let (theirs, ours) = read_both(date);
            assert_eq!(ours, theirs, "{name}: {date:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Near-misses of both shapes, piece by piece: every one is read as feed-rs reads it.
        #[test]
        fn dates_are_read_as_feed_rs_reads_them(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Fri", "Thurs", "mer", ", ", ",", " ", "1", "01", "13", "24", "31", "9",
                    "Mar", "March", "jun", "2024", "24", ":", "00", "59", "60", "T", "t", "Z",
                    "z", "GMT", "UTC", "EST", "+0000", "-0000", "+03:00", "-05", ".123", "-",
                    "\t", "é",
                ]),
                0..14,
            )
        ) {
            let date = parts.concat();
            let (theirs, ours) = read_both(&date);
            proptest::prop_assert_eq!(ours, theirs, "{:?}", date);
        }

        /// Well-formed dates with random fields, in both shapes and every zone form.
        #[test]
        fn whole_dates_are_read_as_feed_rs_reads_them(
            (y, mo, d, h, mi, s) in (1900u32..2100, 0u32..14, 0u32..33, 0u32..26, 0u32..61, 0u32..61),
            weekday in proptest::sample::select(vec!["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
            zone in proptest::sample::select(vec!["Z", "+00:00", "-07:30", "GMT", "+0000", "-0000", "+1400", "UT"]),
            rfc3339 in proptest::bool::ANY,
            pad in proptest::bool::ANY,
        ) {
            let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                "Nov", "Dec", "Foo", "Feb"][mo as usize];
            let date = if rfc3339 {
                format!("{y:04}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}", mo + 1)
            } else if pad {
                format!("{weekday}, {d:02} {month} {y} {h:02}:{mi:02}:{s:02} {zone}")
            } else {
                format!("{weekday}, {d} {month} {y} {h}:{mi:02}:{s:02} {zone}")
            };
            let (theirs, ours) = read_both(&date);
            proptest::prop_assert_eq!(ours, theirs, "{:?}", date);
        }
    }
}
