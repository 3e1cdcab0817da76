//! Alert text: subject line and plain-text body. Pure.

use crate::domain::AlertPayload;

/// Longest subject line, in characters, before the title is cut with an ellipsis.
const MAX_SUBJECT_CHARS: usize = 200;

/// `[feedwatch] RULE: TITLE`, on one line, bounded in length.
pub fn subject(p: &AlertPayload) -> String {
    let title = if p.title.trim().is_empty() {
        "(untitled)"
    } else {
        p.title.trim()
    };
    let s = format!("[feedwatch] {}: {}", p.rule, title);
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > MAX_SUBJECT_CHARS {
        let cut: String = s.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The plain-text body: title, link, feed, published time, rule and what matched.
pub fn text_body(p: &AlertPayload) -> String {
    let mut out = String::new();
    out.push_str(p.title.trim());
    out.push('\n');
    if let Some(link) = &p.link {
        out.push_str(link);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&format!("Feed:      {} <{}>\n", p.feed_name, p.feed_url));
    match p.published {
        Some(t) => out.push_str(&format!("Published: {}\n", t.format("%Y-%m-%d %H:%M UTC"))),
        None => out.push_str("Published: (no date in the feed)\n"),
    }
    out.push_str(&format!("Rule:      {} ({})\n", p.rule, p.query));
    if !p.matched.is_empty() {
        out.push_str(&format!("Matched:   {}\n", p.matched.join(", ")));
    }
    if !p.snippet.trim().is_empty() {
        out.push_str(&format!("\n{}\n", p.snippet.trim()));
    }
    out.push_str("\n-- \nSent by feedwatch\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(title: &str) -> AlertPayload {
        AlertPayload {
            rule: "moscow-format".into(),
            query: "\"Moscow format\" OR Kabulov".into(),
            matched: vec!["Kabulov".into()],
            feed_name: "The Moscow Times".into(),
            feed_url: "http://127.0.0.1/rss".into(),
            title: title.into(),
            link: Some("http://127.0.0.1/a".into()),
            published: chrono::DateTime::from_timestamp(1_633_600_000, 0),
            snippet: "envoy Zamir Kabulov said".into(),
        }
    }

    #[test]
    fn subject_is_one_bounded_line() {
        assert_eq!(
            subject(&payload("Russia Invites\nTaliban")),
            "[feedwatch] moscow-format: Russia Invites Taliban"
        );
        assert_eq!(
            subject(&payload("")),
            "[feedwatch] moscow-format: (untitled)"
        );
        let long = subject(&payload(&"x".repeat(500)));
        assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn body_names_title_link_feed_time_and_rule() {
        let b = text_body(&payload("Russia Invites Taliban for Afghan Talks"));
        for needle in [
            "Russia Invites Taliban for Afghan Talks\nhttp://127.0.0.1/a\n",
            "Feed:      The Moscow Times <http://127.0.0.1/rss>",
            "Published: 2021-10-07 09:46 UTC",
            "Rule:      moscow-format (\"Moscow format\" OR Kabulov)",
            "Matched:   Kabulov",
            "envoy Zamir Kabulov said",
        ] {
            assert!(b.contains(needle), "missing {needle:?} in:\n{b}");
        }
    }
}
