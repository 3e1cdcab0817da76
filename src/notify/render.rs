//! Alert rendering: subject lines, plain-text and HTML bodies, single alerts and digests. Pure.
//!
//! Bodies are minijinja templates (HTML auto-escaped, so feed text can never inject markup);
//! the subject is a one-line template with `{placeholder}` fields, parsed when the config loads
//! ([`SubjectTemplate`]).
//! Only `http`/`https` item links become clickable (`href`); any other scheme a feed puts in
//! a link (`javascript:`, `data:`) is shown as text.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::{Environment, context};
use serde::Serialize;

use crate::config::{SubjectField, SubjectPiece, SubjectTemplate};
use crate::domain::{Alert, AlertPayload};

/// Longest subject line, in characters, before it is cut with an ellipsis.
const MAX_SUBJECT_CHARS: usize = 200;

/// The subject for one alert from `template`, on one line, bounded in length.
pub fn subject(template: &SubjectTemplate, p: &AlertPayload) -> String {
    let title = if p.title.trim().is_empty() {
        "(untitled)"
    } else {
        p.title.trim()
    };
    let s: String = template
        .pieces()
        .iter()
        .map(|piece| match piece {
            SubjectPiece::Text(t) => t.clone(),
            SubjectPiece::Field(SubjectField::Rule) => p.rule.clone(),
            SubjectPiece::Field(SubjectField::Title) => title.to_string(),
            SubjectPiece::Field(SubjectField::Feed) => p.feed_name.clone(),
            SubjectPiece::Field(SubjectField::Matched) => p.matched.join(", "),
            SubjectPiece::Field(SubjectField::Link) => p.link.clone().unwrap_or_default(),
        })
        .collect();
    one_line(&s)
}

fn one_line(s: &str) -> String {
    let s = crate::text::collapse_whitespace(s);
    if s.chars().count() > MAX_SUBJECT_CHARS {
        let cut: String = s.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Subject of a digest of `alerts`.
pub fn digest_subject(alerts: &[Alert]) -> String {
    let mut rules: Vec<&str> = alerts.iter().map(|a| a.payload.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    one_line(&format!(
        "[feedwatch] digest: {} item{} for {}",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        rules.join(", ")
    ))
}

/// What the templates see for one alert.
#[derive(Serialize)]
struct View<'a> {
    rule: &'a str,
    query: &'a str,
    matched: &'a [String],
    feed_name: &'a str,
    feed_url: &'a str,
    title: &'a str,
    /// The item link as the feed gave it, for plain text.
    link: Option<&'a str>,
    /// The item link when it may be clicked (http/https), for `href`.
    href: Option<&'a str>,
    published: String,
    snippet: Vec<(&'a str, bool)>,
}

fn view(p: &AlertPayload) -> View<'_> {
    View {
        rule: &p.rule,
        query: &p.query,
        matched: &p.matched,
        feed_name: &p.feed_name,
        feed_url: &p.feed_url,
        title: if p.title.trim().is_empty() {
            "(untitled)"
        } else {
            p.title.trim()
        },
        link: p.link.as_deref(),
        href: p.web_link(),
        published: p
            .published
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "(no date in the feed)".to_string()),
        snippet: p.snippet_runs(),
    }
}

const TEXT_ALERT: &str = "{{ a.title }}
{% if a.link %}{{ a.link }}
{% endif %}
Feed:      {{ a.feed_name }} <{{ a.feed_url }}>
Published: {{ a.published }}
Rule:      {{ a.rule }} ({{ a.query }})
{% if a.matched %}Matched:   {{ a.matched | join(', ') }}
{% endif %}{% if a.snippet %}
{% for run in a.snippet %}{% if run[1] %}*{{ run[0] }}*{% else %}{{ run[0] }}{% endif %}{% endfor %}
{% endif %}";

const HTML_ALERT: &str = r#"<div style="margin:0 0 1.2em 0">
<h3 style="margin:0 0 .3em 0">{% if a.href %}<a href="{{ a.href }}">{{ a.title }}</a>{% else %}{{ a.title }}{% endif %}</h3>
<p style="margin:0;color:#555">{{ a.feed_name }} · {{ a.published }}</p>
{% if a.link and not a.href %}<p style="margin:0;color:#555;font-size:smaller">Link (not a web address, not made clickable): {{ a.link }}</p>{% endif %}
{% if a.snippet %}<p style="margin:.5em 0">{% for run in a.snippet %}{% if run[1] %}<b>{{ run[0] }}</b>{% else %}{{ run[0] }}{% endif %}{% endfor %}</p>{% endif %}
<p style="margin:0;color:#555;font-size:smaller">Rule <b>{{ a.rule }}</b> ({{ a.query }}){% if a.matched %} matched {{ a.matched | join(", ") }}{% endif %}</p>
</div>"#;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let add = |env: &mut Environment<'static>, name: &'static str, src: String| {
        env.add_template_owned(name, src)
            .expect("built-in templates are valid");
    };
    add(
        &mut env,
        "alert.txt",
        format!("{{% set a = alert %}}{TEXT_ALERT}\n-- \nSent by feedwatch\n"),
    );
    add(
        &mut env,
        "alert.html",
        format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">{{% set a = alert %}}{HTML_ALERT}<p style=\"color:#999;font-size:smaller\">Sent by feedwatch</p></body></html>\n"
        ),
    );
    add(
        &mut env,
        "digest.txt",
        format!(
            "feedwatch digest: {{{{ count }}}} item{{% if count != 1 %}}s{{% endif %}}\n{{% for rule, items in groups|items %}}\n== {{{{ rule }}}} ({{{{ items|length }}}})\n{{% for a in items %}}\n{TEXT_ALERT}{{% endfor %}}{{% endfor %}}\n-- \nSent by feedwatch\n"
        ),
    );
    add(
        &mut env,
        "digest.html",
        format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h2>feedwatch digest: {{{{ count }}}} item{{% if count != 1 %}}s{{% endif %}}</h2>{{% for rule, items in groups|items %}}<h2 style=\"border-bottom:1px solid #ccc\">{{{{ rule }}}} ({{{{ items|length }}}})</h2>{{% for a in items %}}{HTML_ALERT}{{% endfor %}}{{% endfor %}}<p style=\"color:#999;font-size:smaller\">Sent by feedwatch</p></body></html>\n"
        ),
    );
    env
});

fn render(name: &str, ctx: minijinja::Value) -> String {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        // The templates are fixed and tested; a failure here is a bug, and the alert still
        // goes out with the error text rather than being lost.
        .unwrap_or_else(|e| format!("(feedwatch could not render this alert: {e})"))
}

/// The plain-text body of one alert: title, link, feed, published time, rule, matches, snippet
/// (matched terms between `*`).
pub fn text_body(p: &AlertPayload) -> String {
    render(
        "alert.txt",
        context! { alert => minijinja::value::Serde(view(p)) },
    )
}

/// The HTML body of one alert; matched terms in bold, everything from the feed escaped.
pub fn html_body(p: &AlertPayload) -> String {
    render(
        "alert.html",
        context! { alert => minijinja::value::Serde(view(p)) },
    )
}

fn groups(alerts: &[Alert]) -> BTreeMap<&str, Vec<View<'_>>> {
    let mut g: BTreeMap<&str, Vec<View<'_>>> = BTreeMap::new();
    for a in alerts {
        g.entry(a.payload.rule.as_str())
            .or_default()
            .push(view(&a.payload));
    }
    g
}

/// Plain-text digest, grouped by rule.
pub fn digest_text(alerts: &[Alert]) -> String {
    render(
        "digest.txt",
        context! { count => alerts.len(), groups => minijinja::value::Serde(groups(alerts)) },
    )
}

/// HTML digest, grouped by rule.
pub fn digest_html(alerts: &[Alert]) -> String {
    render(
        "digest.html",
        context! { count => alerts.len(), groups => minijinja::value::Serde(groups(alerts)) },
    )
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
            link: Some("http://127.0.0.1/a?x=1&y=2".into()),
            published: chrono::DateTime::from_timestamp(1_633_600_000, 0),
            snippet: "envoy Zamir Kabulov said <b>hi</b>".into(),
            highlights: vec![(12, 19)],
            summary: String::new(),
        }
    }

    #[test]
    fn subject_is_one_bounded_line() {
        assert_eq!(
            subject(
                &SubjectTemplate::default(),
                &payload("Russia Invites\nTaliban")
            ),
            "[feedwatch] moscow-format: Russia Invites Taliban"
        );
        assert_eq!(
            subject(&SubjectTemplate::default(), &payload("")),
            "[feedwatch] moscow-format: (untitled)"
        );
        let long = subject(&SubjectTemplate::default(), &payload(&"x".repeat(500)));
        assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn subject_templates() {
        let p = payload("T");
        let cases = [
            (
                "{feed} / {rule} / {matched}",
                "The Moscow Times / moscow-format / Kabulov",
            ),
            ("{{literal}} {title}", "{literal} T"),
            ("{ title }!", "T!"),
        ];
        for (t, want) in cases {
            let template = SubjectTemplate::parse(t).expect("valid template");
            assert_eq!(subject(&template, &p), want, "{t}");
        }
        for bad in ["{nope}", "{title", "a } b"] {
            assert!(SubjectTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_body_names_title_link_feed_time_and_rule() {
        let b = text_body(&payload("Russia Invites Taliban for Afghan Talks"));
        for needle in [
            "Russia Invites Taliban for Afghan Talks\nhttp://127.0.0.1/a?x=1&y=2\n",
            "Feed:      The Moscow Times <http://127.0.0.1/rss>",
            "Published: 2021-10-07 09:46 UTC",
            "Rule:      moscow-format (\"Moscow format\" OR Kabulov)",
            "Matched:   Kabulov",
            "envoy Zamir *Kabulov* said <b>hi</b>",
        ] {
            assert!(b.contains(needle), "missing {needle:?} in:\n{b}");
        }
    }

    #[test]
    fn html_body_escapes_feed_text_and_bolds_matches() {
        let h = html_body(&payload("A <script>x</script> title"));
        assert!(
            h.contains("envoy Zamir <b>Kabulov</b> said &lt;b&gt;hi&lt;&#x2f;b&gt;"),
            "{h}"
        );
        assert!(
            h.contains("A &lt;script&gt;x&lt;&#x2f;script&gt; title"),
            "{h}"
        );
        assert!(
            h.contains("href=\"http:&#x2f;&#x2f;127.0.0.1&#x2f;a?x=1&amp;y=2\""),
            "{h}"
        );
        assert!(!h.contains("<script>"));
    }

    #[test]
    fn only_web_links_become_hrefs_in_html() {
        let cases: &[(&str, bool)] = &[
            ("http://127.0.0.1/a", true),
            ("https://example.org/a", true),
            ("javascript:alert(document.cookie)", false),
            ("JAVASCRIPT:alert(1)", false),
            (
                "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                false,
            ),
            ("vbscript:msgbox(1)", false),
        ];
        for (link, clickable) in cases {
            let mut p = payload("T");
            p.link = Some((*link).to_string());
            for html in [
                html_body(&p),
                digest_html(&[Alert {
                    id: 1,
                    uid: "u".into(),
                    notifier: "n".into(),
                    attempts: 0,
                    created_at: 0,
                    digest: None,
                    payload: p.clone(),
                }]),
            ] {
                assert_eq!(html.contains("href="), *clickable, "{link}: {html}");
                // Not clickable, still visible as text.
                assert!(
                    html.contains(&link.replace('/', "&#x2f;")),
                    "{link}: {html}"
                );
            }
        }
    }

    #[test]
    fn digest_groups_by_rule() {
        let mk = |id: i64, rule: &str, title: &str| {
            let mut p = payload(title);
            p.rule = rule.into();
            Alert {
                id,
                uid: format!("u{id}"),
                notifier: "n".into(),
                attempts: 0,
                created_at: 0,
                digest: Some("1h".into()),
                payload: p,
            }
        };
        let alerts = vec![
            mk(1, "b-rule", "One"),
            mk(2, "a-rule", "Two"),
            mk(3, "b-rule", "Three"),
        ];
        assert_eq!(
            digest_subject(&alerts),
            "[feedwatch] digest: 3 items for a-rule, b-rule"
        );
        let t = digest_text(&alerts);
        let a = t.find("== a-rule (1)").expect("a group");
        let b = t.find("== b-rule (2)").expect("b group");
        assert!(
            a < b && t.find("One").expect("one") > b && t.find("Two").expect("two") < b,
            "{t}"
        );
        let h = digest_html(&alerts);
        assert_eq!(h.matches("<h3").count(), 3, "{h}");
    }
}
