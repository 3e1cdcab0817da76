//! Alert rendering: subject lines, plain-text and HTML bodies, single alerts and digests. Pure.
//!
//! Bodies are minijinja templates (HTML auto-escaped, so feed text can never inject markup);
//! the subject is a one-line template with `{placeholder}` fields, parsed when the config loads
//! ([`SubjectTemplate`]).
//! Only `http`/`https` item links become clickable (`href`); any other scheme a feed puts in
//! a link (`javascript:`, `data:`) is shown as text.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, context};
use serde::Serialize;

use crate::config::{SubjectField, SubjectPiece, SubjectTemplate};
use crate::domain::{Alert, AlertPayload, RuleMatch};

/// Longest subject line, in characters, before it is cut with an ellipsis.
const MAX_SUBJECT_CHARS: usize = 200;
/// Rules a subject names before it says how many more there are (`a, b, c +2 more`): mail
/// filters read every name in `X-Feedwatch-Rules`; a subject is for people.
const SUBJECT_RULES: usize = 3;

/// The subject for one alert from `template`, on one line, bounded in length. `{rule}` (and
/// its alias `{rules}`) names every rule that matched the story. When the line is too long the
/// title gives way first, cut at a word, so the rule names and the template's text stay.
pub fn subject(template: &SubjectTemplate, p: &AlertPayload) -> String {
    let title = crate::text::collapse_whitespace(if p.title.trim().is_empty() {
        "(untitled)"
    } else {
        p.title.trim()
    });
    let names = p.rule_names();
    let rules = if names.len() > SUBJECT_RULES {
        format!(
            "{} +{} more",
            names[..SUBJECT_RULES].join(", "),
            names.len() - SUBJECT_RULES
        )
    } else {
        names.join(", ")
    };
    let fill = |title: &str| -> String {
        template
            .pieces()
            .iter()
            .map(|piece| match piece {
                SubjectPiece::Text(t) => t.clone(),
                SubjectPiece::Field(SubjectField::Rule) => rules.clone(),
                SubjectPiece::Field(SubjectField::Title) => title.to_string(),
                SubjectPiece::Field(SubjectField::Feed) => p.feed_name.clone(),
                SubjectPiece::Field(SubjectField::Matched) => p.matched.join(", "),
                SubjectPiece::Field(SubjectField::Link) => p.link.clone().unwrap_or_default(),
            })
            .collect()
    };
    let full = crate::text::collapse_whitespace(&fill(&title));
    let over = full.chars().count().saturating_sub(MAX_SUBJECT_CHARS);
    let title_chars = title.chars().count();
    let uses_title = template
        .pieces()
        .contains(&SubjectPiece::Field(SubjectField::Title));
    if over > 0 && uses_title && over < title_chars {
        let shorter = fill(&cut_at_word(&title, title_chars - over - 1));
        return one_line(&shorter);
    }
    one_line(&full)
}

/// The first `max` chars of `s` (one line), cut after the last whole word when there is one
/// in the second half, with `…` appended.
fn cut_at_word(s: &str, max: usize) -> String {
    let head: String = s.chars().take(max).collect();
    let at_word = head
        .rfind(' ')
        .filter(|&i| head[..i].chars().count() * 2 >= max);
    format!(
        "{}…",
        at_word.map_or(head.as_str(), |i| head[..i].trim_end())
    )
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

/// `X-Feedwatch-Rules`: every rule that matched, comma-separated, each on one line.
pub fn rules_header<'a>(payloads: impl IntoIterator<Item = &'a AlertPayload>) -> String {
    let mut names: Vec<String> = Vec::new();
    for name in payloads.into_iter().flat_map(AlertPayload::rule_names) {
        let name = crate::text::collapse_whitespace(name);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

/// Subject of a digest of `alerts`.
pub fn digest_subject(alerts: &[Alert]) -> String {
    let mut rules: Vec<&str> = alerts.iter().flat_map(|a| a.payload.rule_names()).collect();
    rules.sort_unstable();
    rules.dedup();
    one_line(&format!(
        "[feedwatch] digest: {} item{} for {}",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        rules.join(", ")
    ))
}

/// When a story was published, as a notifier shows it: in `zone` (named, e.g. `MSK`), with
/// the UTC time beside it unless the zone is UTC.
pub fn published(at: Option<DateTime<Utc>>, zone: Tz) -> String {
    let Some(at) = at else {
        return "(no date in the feed)".to_string();
    };
    let local = at.with_timezone(&zone);
    if zone == Tz::UTC {
        return local.format("%Y-%m-%d %H:%M UTC").to_string();
    }
    let utc = if local.date_naive() == at.date_naive() {
        at.format("%H:%M UTC")
    } else {
        at.format("%Y-%m-%d %H:%M UTC")
    };
    format!("{} ({utc})", local.format("%Y-%m-%d %H:%M %Z"))
}

/// What the templates see for one rule that matched.
#[derive(Serialize)]
struct RuleView<'a> {
    rule: &'a str,
    query: &'a str,
    matched: Vec<String>,
    /// Each excerpt as (text, highlighted) runs.
    excerpts: Vec<Vec<(&'a str, bool)>>,
}

/// Another feed that carried the story.
#[derive(Serialize)]
struct SourceView<'a> {
    feed_name: &'a str,
    title: &'a str,
    link: Option<&'a str>,
    href: Option<&'a str>,
}

/// What the templates see for one alert.
#[derive(Serialize)]
struct View<'a> {
    /// The rules' names, comma-separated.
    rule: String,
    feed_name: &'a str,
    feed_url: &'a str,
    title: &'a str,
    /// The item link as the feed gave it, for plain text.
    link: Option<&'a str>,
    /// The item link when it may be clicked (http/https), for `href`.
    href: Option<&'a str>,
    /// The story's lead (its summary as text), shown under the title wherever the match was.
    lead: &'a str,
    published: String,
    rules: Vec<RuleView<'a>>,
    sources: Vec<SourceView<'a>>,
}

fn view<'a>(p: &'a AlertPayload, matches: &'a [RuleMatch], zone: Tz) -> View<'a> {
    View {
        rule: p.rule_names().join(", "),
        feed_name: &p.feed_name,
        feed_url: &p.feed_url,
        title: if p.title.trim().is_empty() {
            "(untitled)"
        } else {
            p.title.trim()
        },
        link: p.link.as_deref(),
        href: p.web_link(),
        lead: p.summary.trim(),
        published: published(p.published, zone),
        rules: matches
            .iter()
            .map(|m| RuleView {
                rule: &m.rule,
                query: &m.query,
                matched: m.matched(),
                excerpts: m.excerpts().iter().map(|e| e.runs()).collect(),
            })
            .collect(),
        sources: p
            .sources
            .iter()
            .map(|s| SourceView {
                feed_name: &s.feed_name,
                title: &s.title,
                link: s.link.as_deref(),
                href: s.link.as_deref().filter(|l| {
                    url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                }),
            })
            .collect(),
    }
}

const TEXT_ALERT: &str = "{{ a.title }}
{% if a.link %}{{ a.link }}
{% endif %}{% if a.lead %}
{{ a.lead }}
{% endif %}
Feed:      {{ a.feed_name }} <{{ a.feed_url }}>
{% for s in a.sources %}Also in:   {{ s.feed_name }}: {{ s.title }}{% if s.link %} <{{ s.link }}>{% endif %}
{% endfor %}Published: {{ a.published }}
{% for r in a.rules %}
Rule:      {{ r.rule }}{% if r.query %} ({{ r.query }}){% endif %}
{% if r.matched %}Matched:   {{ r.matched | join(', ') }}
{% endif %}{% for e in r.excerpts %}  {% for run in e %}{% if run[1] %}*{{ run[0] }}*{% else %}{{ run[0] }}{% endif %}{% endfor %}
{% endfor %}{% endfor %}";

const HTML_ALERT: &str = r#"<div style="margin:0 0 1.2em 0">
<h3 style="margin:0 0 .3em 0">{% if a.href %}<a href="{{ a.href }}">{{ a.title }}</a>{% else %}{{ a.title }}{% endif %}</h3>
<p style="margin:0;color:#555">{{ a.feed_name }} · {{ a.published }}</p>
{% if a.link and not a.href %}<p style="margin:0;color:#555;font-size:smaller">Link (not a web address, not made clickable): {{ a.link }}</p>{% endif %}
{% if a.lead %}<p style="margin:.5em 0">{{ a.lead }}</p>{% endif %}
{% for r in a.rules %}<p style="margin:.5em 0 0 0;color:#555;font-size:smaller">Rule <b>{{ r.rule }}</b>{% if r.query %} ({{ r.query }}){% endif %}{% if r.matched %} matched {{ r.matched | join(", ") }}{% endif %}</p>
{% for e in r.excerpts %}<p style="margin:.2em 0 .2em 1em">{% for run in e %}{% if run[1] %}<b>{{ run[0] }}</b>{% else %}{{ run[0] }}{% endif %}{% endfor %}</p>
{% endfor %}{% endfor %}{% if a.sources %}<p style="margin:.5em 0 0 0;color:#555;font-size:smaller">Also in: {% for s in a.sources %}{% if not loop.first %} · {% endif %}{{ s.feed_name }}: {% if s.href %}<a href="{{ s.href }}">{{ s.title }}</a>{% else %}{{ s.title }}{% if s.link %} ({{ s.link }}){% endif %}{% endif %}{% endfor %}</p>{% endif %}
</div>"#;

/// A feed-health alert: about a feed, not an item, so none of an item alert's lines (no
/// publication date, no rule with a query, no excerpt).
const TEXT_HEALTH: &str = "{{ a.title }}

Feed:  {{ a.feed_name }} <{{ a.feed_url }}>
{{ a.detail }}

`feedwatch feeds` shows the health of every feed.
-- \nSent by feedwatch
";

const HTML_HEALTH: &str = r#"<!DOCTYPE html><html><body style="font-family:sans-serif">
<h3 style="margin:0 0 .3em 0">{{ a.title }}</h3>
<p style="margin:0;color:#555">Feed: {{ a.feed_name }} &lt;{{ a.feed_url }}&gt;</p>
<p style="margin:.5em 0">{{ a.detail }}</p>
<p style="color:#999;font-size:smaller">`feedwatch feeds` shows the health of every feed. Sent by feedwatch</p></body></html>
"#;

/// What the feed-health templates see.
#[derive(Serialize)]
struct HealthView<'a> {
    title: &'a str,
    feed_name: &'a str,
    feed_url: &'a str,
    /// The last error, or since when the feed had been failing.
    detail: &'a str,
}

fn health_view(p: &AlertPayload) -> minijinja::Value {
    let view = HealthView {
        title: p.title.trim(),
        feed_name: &p.feed_name,
        feed_url: &p.feed_url,
        detail: p.snippet.trim(),
    };
    context! { alert => minijinja::value::Serde(view) }
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let add = |env: &mut Environment<'static>, name: &'static str, src: String| {
        env.add_template_owned(name, src)
            .expect("built-in templates are valid");
    };
    add(
        &mut env,
        "health.txt",
        format!("{{% set a = alert %}}{TEXT_HEALTH}"),
    );
    add(
        &mut env,
        "health.html",
        format!("{{% set a = alert %}}{HTML_HEALTH}"),
    );
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

/// The plain-text body of one alert: title, link, lead, feed (and the other feeds that
/// carried the story), published time in `zone`, then each rule with its matched terms and
/// their excerpts (matched terms between `*`).
pub fn text_body(p: &AlertPayload, zone: Tz) -> String {
    if p.is_feed_health() {
        return render("health.txt", health_view(p));
    }
    let matches = p.rule_matches();
    render(
        "alert.txt",
        context! { alert => minijinja::value::Serde(view(p, &matches, zone)) },
    )
}

/// The HTML body of one alert; matched terms in bold, everything from the feed escaped.
pub fn html_body(p: &AlertPayload, zone: Tz) -> String {
    if p.is_feed_health() {
        return render("health.html", health_view(p));
    }
    let matches = p.rule_matches();
    render(
        "alert.html",
        context! { alert => minijinja::value::Serde(view(p, &matches, zone)) },
    )
}

/// The alerts of a digest by the rules that matched them (one entry per story: a story that
/// several rules matched is listed once, under all their names).
fn groups<'a>(
    alerts: &'a [Alert],
    matches: &'a [Vec<RuleMatch>],
    zone: Tz,
) -> BTreeMap<String, Vec<View<'a>>> {
    let mut g: BTreeMap<String, Vec<View<'a>>> = BTreeMap::new();
    for (a, m) in alerts.iter().zip(matches) {
        let v = view(&a.payload, m, zone);
        g.entry(v.rule.clone()).or_default().push(v);
    }
    g
}

fn digest(name: &str, alerts: &[Alert], zone: Tz) -> String {
    let matches: Vec<Vec<RuleMatch>> = alerts.iter().map(|a| a.payload.rule_matches()).collect();
    render(
        name,
        context! {
            count => alerts.len(),
            groups => minijinja::value::Serde(groups(alerts, &matches, zone)),
        },
    )
}

/// Plain-text digest, one entry per story, grouped by the rules that matched.
pub fn digest_text(alerts: &[Alert], zone: Tz) -> String {
    digest("digest.txt", alerts, zone)
}

/// HTML digest, one entry per story, grouped by the rules that matched.
pub fn digest_html(alerts: &[Alert], zone: Tz) -> String {
    digest("digest.html", alerts, zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TermSnippet;

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
            ..AlertPayload::default()
        }
    }

    /// The story of the issue: matched by two rules, each with its terms and excerpts.
    fn two_rules() -> AlertPayload {
        let excerpt = |term: &str, snippet: &str| {
            let at = snippet.find(term).expect("term in snippet");
            TermSnippet {
                term: term.into(),
                snippet: snippet.into(),
                highlights: vec![(at, at + term.len())],
            }
        };
        let base = AlertPayload {
            summary: "Russia has invited representatives of the Taliban to talks in Moscow.".into(),
            ..payload("Russia Invites Taliban for Afghan Talks")
        };
        AlertPayload::for_rules(
            base,
            vec![
                RuleMatch {
                    rule: "moscow-format".into(),
                    query: "\"Moscow format\" OR Kabulov".into(),
                    terms: vec![
                        excerpt("Moscow format", "…the so-called Moscow format talks…"),
                        excerpt("Kabulov", "envoy Zamir Kabulov said"),
                    ],
                },
                RuleMatch {
                    rule: "kabulov".into(),
                    query: "Kabulov".into(),
                    terms: vec![excerpt("Kabulov", "envoy Zamir Kabulov said")],
                },
            ],
        )
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
            ("{rules}: {title}", "moscow-format: T"),
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
        let b = text_body(&payload("Russia Invites Taliban for Afghan Talks"), Tz::UTC);
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
        let h = html_body(&payload("A <script>x</script> title"), Tz::UTC);
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
                html_body(&p, Tz::UTC),
                digest_html(
                    &[Alert {
                        id: 1,
                        uid: "u".into(),
                        notifier: "n".into(),
                        attempts: 0,
                        created_at: 0,
                        digest: None,
                        payload: p.clone(),
                    }],
                    Tz::UTC,
                ),
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
        let t = digest_text(&alerts, Tz::UTC);
        let a = t.find("== a-rule (1)").expect("a group");
        let b = t.find("== b-rule (2)").expect("b group");
        assert!(
            a < b && t.find("One").expect("one") > b && t.find("Two").expect("two") < b,
            "{t}"
        );
        let h = digest_html(&alerts, Tz::UTC);
        assert_eq!(h.matches("<h3").count(), 3, "{h}");
    }

    #[test]
    fn a_story_of_two_rules_names_both_in_subject_header_and_body() {
        let p = two_rules();
        assert_eq!(
            subject(&SubjectTemplate::default(), &p),
            "[feedwatch] moscow-format, kabulov: Russia Invites Taliban for Afghan Talks"
        );
        assert_eq!(rules_header([&p]), "moscow-format, kabulov");
        let b = text_body(&p, Tz::UTC);
        for needle in [
            "Russia Invites Taliban for Afghan Talks\nhttp://127.0.0.1/a?x=1&y=2\n\nRussia has invited representatives of the Taliban to talks in Moscow.\n",
            "Rule:      moscow-format (\"Moscow format\" OR Kabulov)\nMatched:   Moscow format, Kabulov\n  …the so-called *Moscow format* talks…\n  envoy Zamir *Kabulov* said\n",
            "Rule:      kabulov (Kabulov)\nMatched:   Kabulov\n  envoy Zamir *Kabulov* said\n",
        ] {
            assert!(b.contains(needle), "missing {needle:?} in:\n{b}");
        }
        let h = html_body(&p, Tz::UTC);
        assert!(
            h.contains("<b>moscow-format</b>") && h.contains("<b>kabulov</b>"),
            "{h}"
        );
        assert!(
            h.contains("the so-called <b>Moscow format</b> talks"),
            "{h}"
        );
    }

    #[test]
    fn the_lead_is_shown_even_when_the_match_is_in_the_title() {
        let mut p = payload("Kabulov visits Kabul");
        p.summary = "The envoy met ministers on Tuesday.".into();
        p.snippet = "Kabulov visits Kabul".into();
        p.highlights = vec![(0, 7)];
        let b = text_body(&p, Tz::UTC);
        assert!(
            b.contains("Kabulov visits Kabul\nhttp://127.0.0.1/a?x=1&y=2\n\nThe envoy met ministers on Tuesday.\n"),
            "{b}"
        );
        assert!(html_body(&p, Tz::UTC).contains("The envoy met ministers on Tuesday."));
    }

    #[test]
    fn published_time_is_shown_in_the_notifiers_zone_with_utc_beside() {
        let at = chrono::DateTime::from_timestamp(1_633_589_160, 0); // 2021-10-07 06:46 UTC
        let cases: &[(Tz, &str)] = &[
            (Tz::UTC, "2021-10-07 06:46 UTC"),
            (
                chrono_tz::Europe::Moscow,
                "2021-10-07 09:46 MSK (06:46 UTC)",
            ),
            (
                chrono_tz::America::New_York,
                "2021-10-07 02:46 EDT (06:46 UTC)",
            ),
            (
                chrono_tz::Pacific::Kiritimati,
                "2021-10-07 20:46 +14 (06:46 UTC)",
            ),
            (
                chrono_tz::Pacific::Pago_Pago,
                "2021-10-06 19:46 SST (2021-10-07 06:46 UTC)",
            ),
        ];
        for (zone, want) in cases {
            assert_eq!(published(at, *zone), *want, "{zone}");
        }
        assert_eq!(published(None, Tz::UTC), "(no date in the feed)");
        let mut p = payload("T");
        p.published = at;
        let b = text_body(&p, chrono_tz::Europe::Moscow);
        assert!(
            b.contains("Published: 2021-10-07 09:46 MSK (06:46 UTC)"),
            "{b}"
        );
    }

    #[test]
    fn a_long_subject_cuts_the_title_at_a_word_and_keeps_the_rules() {
        let mut p = two_rules();
        p.title = "Russia invites the Taliban to Moscow talks ".repeat(10);
        let s = subject(&SubjectTemplate::default(), &p);
        assert!(s.chars().count() <= MAX_SUBJECT_CHARS, "{s}");
        assert!(
            s.starts_with("[feedwatch] moscow-format, kabulov: Russia invites"),
            "{s}"
        );
        let kept = s.strip_suffix('…').expect("cut with an ellipsis");
        assert!(
            p.title
                .split(' ')
                .any(|w| !w.is_empty() && kept.ends_with(&format!(" {w}"))),
            "cut after a whole word: {s}"
        );
        let mut many = p.clone();
        many.rules = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|r| RuleMatch {
                rule: (*r).into(),
                ..RuleMatch::default()
            })
            .collect();
        many.title = "Short".into();
        assert_eq!(
            subject(&SubjectTemplate::default(), &many),
            "[feedwatch] a, b, c +2 more: Short"
        );
        assert_eq!(rules_header([&many]), "a, b, c, d, e");
    }
}
