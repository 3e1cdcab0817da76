//! One story, one alert (issue 12): a story that two rules match, carried by three feeds,
//! reaches each notifier once — one email naming both rules (subject, `X-Feedwatch-Rules`,
//! body), one webhook event with a `rules` array — against a real SMTP server and a real
//! webhook receiver, through the real binary.

mod support;

use std::path::PathBuf;

use support::{FeedServer, Mail, Route, SmtpServer, WebhookReceiver, feedwatch};

const TITLE: &str = "Russia Invites Taliban for Afghan Talks";
const LINK: &str = "https://www.themoscowtimes.com/2021/10/07/russia-invites-taliban-a75242";
const LEAD: &str = "Russia has invited representatives of the Taliban to talks in Moscow on \
                    Oct. 20, Kremlin envoy Zamir Kabulov said on Thursday. The so-called \
                    \u{201c}Moscow format\u{201d} talks have been held since 2017.";

/// The story as The Moscow Times published it.
fn original() -> String {
    story_feed("mt", TITLE, &format!("{LINK}?utm_source=rss"), LEAD)
}

/// The same story in a feed that keeps the original's link (tracking parameters aside).
fn mirror() -> String {
    story_feed("mirror", TITLE, &format!("{LINK}?utm_source=mirror"), LEAD)
}

/// The wire's copy: its own link, a site suffix on the headline, a dateline on the lead.
fn wire() -> String {
    story_feed(
        "wire",
        "Russia invites Taliban for Afghan talks — Reuters",
        "https://wire.example/world/russia-invites-taliban-afghan-talks-2021-10-07/",
        &format!("MOSCOW, Oct 7 (Reuters) - {LEAD}"),
    )
}

/// Another story with the same headline template, which both rules match too.
fn iran() -> String {
    story_feed(
        "iran",
        "Russia invites Iran to Moscow talks",
        "https://www.themoscowtimes.com/2021/10/11/russia-invites-iran-a75300",
        "Russia has invited Iran's foreign minister to the next round of \u{201c}Moscow \
         format\u{201d} consultations on Afghanistan, Kremlin envoy Zamir Kabulov told RIA \
         Novosti on Monday, adding that Tehran was expected to accept.",
    )
}

/// An RSS document from `site` with one item, published an hour ago.
fn story_feed(site: &str, title: &str, link: &str, lead: &str) -> String {
    let date = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{site}</title>\
         <item><guid>{site}-1</guid><title>{title}</title><link>{link}</link>\
         <pubDate>{date}</pubDate><description>{lead}</description></item></channel></rss>"
    )
}

/// Feeds, two rules that both match their stories, an email notifier and a webhook, on real
/// servers.
struct World {
    _feeds: FeedServer,
    smtp: SmtpServer,
    hooks: WebhookReceiver,
    _dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl World {
    /// The servers and the config: one feed per body in `feeds`; `email` holds extra keys
    /// for the email notifier, `extra` extra tables.
    async fn start(feeds: &[String], email: &str, extra: &str) -> World {
        let server = FeedServer::start().await;
        let smtp = SmtpServer::start();
        let hooks = WebhookReceiver::start().await;
        let mut text = format!("[storage]\npath = \"fw.db\"\n\n{extra}\n");
        for (n, body) in feeds.iter().enumerate() {
            let path = format!("/{n}.xml");
            server.set(&path, Route::rss(body.clone(), "\"1\""));
            text.push_str(&format!(
                "[[feed]]\nurl = \"{}\"\nname = \"feed {n}\"\n\n",
                server.url(&path)
            ));
        }
        text.push_str(&format!(
            "[[rule]]\nname = \"moscow-format\"\nquery = '\"Moscow format\"'\n\n\
             [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov OR Кабулов'\n\n\
             [notify.analyst]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"feedwatch <fw@localhost>\"\n\
             to = [\"analyst@example.org\"]\ntimeout = \"5s\"\n{email}\n\
             [notify.hook]\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            smtp.url(),
            hooks.url()
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("feedwatch.toml");
        std::fs::write(&cfg, text).expect("write config");
        World {
            _feeds: server,
            smtp,
            hooks,
            _dir: dir,
            cfg,
        }
    }

    /// `feedwatch once`, which must succeed.
    async fn once(&self) {
        let run = feedwatch(&["--config", self.cfg.to_str().expect("utf-8"), "once"]).await;
        assert_eq!(run.code, Some(0), "{run:#?}");
    }

    /// The subjects of the emails sent, sorted.
    fn subjects(&self) -> Vec<String> {
        let mut s: Vec<String> = self.smtp.mails().iter().map(Mail::subject).collect();
        s.sort();
        s
    }
}

fn header(m: &Mail, name: &str) -> String {
    m.header(name)
        .unwrap_or_else(|| panic!("no {name} header in:\n{}", String::from_utf8_lossy(&m.data)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_two_rules_match_in_three_feeds_gives_one_email_and_one_webhook_event() {
    let feeds = [original(), wire(), mirror()];
    // One poll at a time, in config order: the original is the alert, the others its sources.
    let one_by_one = "[poll]\nconcurrency = 1\n";
    let w = World::start(&feeds, "timezone = \"Europe/Moscow\"\n", one_by_one).await;
    w.once().await;
    let (smtp, hooks) = (&w.smtp, &w.hooks);

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one email for the story: {mails:#?}");
    let m = &mails[0];
    println!("--- email ---\n{}", String::from_utf8_lossy(&m.data));
    assert_eq!(
        m.subject(),
        format!("[feedwatch] moscow-format, kabulov: {TITLE}")
    );
    assert_eq!(header(m, "X-Feedwatch-Rules"), "moscow-format, kabulov");
    assert_eq!(header(m, "Auto-Submitted"), "auto-generated");
    assert_eq!(
        header(m, "List-Id"),
        "feedwatch alerts to analyst <analyst.feedwatch.localhost>"
    );
    let published = header(m, "X-Feedwatch-Published");
    assert!(
        published.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(&published).is_ok(),
        "UTC in the headers: {published}"
    );
    // Lines end in CRLF on the wire.
    let text = m.text().replace("\r\n", "\n");
    println!("--- text part ---\n{text}");
    for needle in [
        // The lead under the title, though the title is not where the rules matched.
        &format!("{TITLE}\n{LINK}?utm_source="),
        "\n\nRussia has invited representatives of the Taliban to talks in Moscow",
        "Rule:      moscow-format (\"Moscow format\")\nMatched:   Moscow format\n",
        "*Moscow format*",
        "Rule:      kabulov (Kabulov OR Кабулов)\nMatched:   Kabulov\n",
        "*Kabulov*",
        " MSK (",
    ] {
        assert!(text.contains(needle), "text lacks {needle:?}:\n{text}");
    }
    // The other two feeds that carried the story while it was queued are named.
    assert_eq!(text.matches("Also in:").count(), 2, "{text}");

    let got = hooks.hooks();
    assert_eq!(got.len(), 1, "one webhook event: {got:#?}");
    println!("--- webhook body ---\n{}", got[0].body);
    let v: serde_json::Value = serde_json::from_str(&got[0].body).expect("JSON");
    assert_eq!(v["version"], 2);
    let rules: Vec<&str> = v["rules"]
        .as_array()
        .expect("rules array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(rules, vec!["moscow-format", "kabulov"]);
    assert_eq!(v["rules"][1]["matched"][0], "Kabulov");
    assert!(
        v["rules"][1]["snippets"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("Zamir Kabulov")),
        "{v:#}"
    );
    assert_eq!(v["sources"].as_array().map(Vec::len), Some(2), "{v:#}");
    assert_eq!(v["item"]["title"], TITLE);

    // Polled again: nothing new, nothing sent again.
    w.once().await;
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(w.hooks.hooks().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rule_sends_one_email_per_rule_for_people_who_file_by_rule() {
    let w = World::start(&[original(), mirror()], "group = \"rule\"\n", "").await;
    w.once().await;
    assert_eq!(w.subjects().len(), 2);
    let mut subjects: Vec<(String, String)> = w
        .smtp
        .mails()
        .iter()
        .map(|m| (m.subject(), header(m, "X-Feedwatch-Rules")))
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            (
                format!("[feedwatch] kabulov: {TITLE}"),
                "kabulov".to_string()
            ),
            (
                format!("[feedwatch] moscow-format: {TITLE}"),
                "moscow-format".to_string()
            ),
        ]
    );
    // The webhook keeps the default: one event for the story.
    assert_eq!(w.hooks.hooks().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syndicated_copy_is_one_story_and_a_story_on_the_same_template_is_another() {
    let feeds = [original(), wire(), iran()];
    let w = World::start(&feeds, "", "").await;
    w.once().await;
    let subjects = w.subjects();
    assert_eq!(
        subjects.len(),
        2,
        "the wire copy is the same story: {subjects:#?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.ends_with("Russia invites Iran to Moscow talks")),
        "the Iran story is its own: {subjects:#?}"
    );
    assert_eq!(w.hooks.hooks().len(), 2);

    // Switched off, the copy alerts too.
    let w = World::start(&feeds, "", "[stories]\nwindow = \"0s\"\n").await;
    w.once().await;
    assert_eq!(w.subjects().len(), 3, "{:#?}", w.subjects());
}
