//! What a reload changed: feeds, rules and notifiers added, removed or changed, for the one
//! log line that says a reload happened. Pure: two validated configs in, a summary out.
//!
//! Feeds are compared by URL (their identity in the database), rules and notifiers by name.
//! "Changed" compares each one's settings through their `Debug` form, which covers every field
//! (including those added later) without a hand-kept list, plus what that form hides on
//! purpose: secrets, header values, the webhook's full URL, and the email settings its short
//! form leaves out (see [`hidden`]). The fingerprints are compared, never printed: the log line
//! names what changed, not how.

use std::collections::BTreeMap;
use std::fmt;

use super::{Config, NotifierKind, Rule};

/// Names added, removed and changed in one kind of thing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Present only in the new config.
    pub added: Vec<String>,
    /// Present only in the old config.
    pub removed: Vec<String>,
    /// In both, with different settings.
    pub changed: Vec<String>,
}

impl Delta {
    /// Compares two keyed maps of (shown name, settings fingerprint).
    fn of(
        old: &BTreeMap<String, (String, String)>,
        new: &BTreeMap<String, (String, String)>,
    ) -> Delta {
        let mut d = Delta::default();
        for (key, (name, print)) in new {
            match old.get(key) {
                None => d.added.push(name.clone()),
                Some((_, before)) if before != print => d.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        d.removed = (old.iter())
            .filter(|(key, _)| !new.contains_key(*key))
            .map(|(_, (name, _))| name.clone())
            .collect();
        d
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changed between two configs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Feeds, by URL; shown by name.
    pub feeds: Delta,
    /// Rules, by name.
    pub rules: Delta,
    /// Notifiers, by name.
    pub notifiers: Delta,
    /// Anything else (`[poll]`, `[storage]`, `[delivery]`, `[metrics]`).
    pub settings: bool,
}

impl Changes {
    /// What `new` changes compared with `old`.
    pub fn between(old: &Config, new: &Config) -> Changes {
        Changes {
            feeds: Delta::of(&feeds(old), &feeds(new)),
            rules: Delta::of(&rules(old), &rules(new)),
            notifiers: Delta::of(&notifiers(old), &notifiers(new)),
            settings: settings(old) != settings(new),
        }
    }
}

fn feeds(c: &Config) -> BTreeMap<String, (String, String)> {
    (c.feeds.iter())
        .map(|f| {
            let print = format!("{f:?} {:?}", header_values(&f.headers));
            (f.url.to_string(), (f.name.clone(), print))
        })
        .collect()
}

/// Header values, which `HeaderMap`'s `Debug` shows as `Sensitive` (they are marked so at
/// load): a changed token is a changed feed or notifier.
fn header_values(h: &reqwest::header::HeaderMap) -> Vec<&[u8]> {
    h.values().map(|v| v.as_bytes()).collect()
}

fn rules(c: &Config) -> BTreeMap<String, (String, String)> {
    (c.rules.iter())
        .map(|r| (r.name.clone(), (r.name.clone(), rule_print(c, r))))
        .collect()
}

/// A rule's settings, with the feeds it watches by URL: indices into the feed list move when
/// a feed is added before them, which changes nothing about the rule.
fn rule_print(c: &Config, r: &Rule) -> String {
    let watched: Vec<&str> = (r.feeds.iter())
        .filter_map(|&n| c.feeds.get(n).map(|f| f.url.as_str()))
        .collect();
    let rule = Rule {
        feeds: Vec::new(),
        selectors: Vec::new(),
        ..r.clone()
    };
    format!("{rule:?} {watched:?}")
}

fn notifiers(c: &Config) -> BTreeMap<String, (String, String)> {
    (c.notifiers.iter())
        .map(|(name, n)| {
            let print = format!("{n:?} {}", hidden(&n.kind));
            (name.clone(), (name.clone(), print))
        })
        .collect()
}

/// What a notifier's `Debug` leaves out, so that a reload that changes only a password, a
/// recipient, a subject or a webhook's token in its path still reports the notifier changed.
fn hidden(kind: &NotifierKind) -> String {
    match kind {
        NotifierKind::Email(e) => format!(
            "{:?} {:?} {:?} {:?} {:?}",
            e.password.as_ref().map(|p| p.expose()),
            e.to.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            e.timeout,
            e.subject,
            e.ca_pem,
        ),
        NotifierKind::Webhook(w) => format!(
            "{} {:?} {:?} {:?} {:?}",
            w.url,
            header_values(&w.headers),
            w.secret.as_ref().map(|s| s.expose()),
            w.timeout,
            w.ca_pem,
        ),
        NotifierKind::Stdout => String::new(),
    }
}

fn settings(c: &Config) -> String {
    format!(
        "{:?} {:?} {:?} {:?}",
        c.storage, c.poll, c.delivery, c.metrics
    )
}

impl fmt::Display for Changes {
    /// `feeds added: A, B; rules changed: r`, or `nothing changed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, d) in [
            ("feeds", &self.feeds),
            ("rules", &self.rules),
            ("notifiers", &self.notifiers),
        ] {
            for (how, names) in [
                ("added", &d.added),
                ("removed", &d.removed),
                ("changed", &d.changed),
            ] {
                if !names.is_empty() {
                    parts.push(format!("{what} {how}: {}", names.join(", ")));
                }
            }
        }
        if self.settings {
            parts.push("other settings changed".to_string());
        }
        if parts.is_empty() {
            return f.write_str("nothing changed");
        }
        f.write_str(&parts.join("; "))
    }
}

impl Changes {
    /// Whether the reload changed nothing at all.
    pub fn is_empty(&self) -> bool {
        self.feeds.is_empty()
            && self.rules.is_empty()
            && self.notifiers.is_empty()
            && !self.settings
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(feeds: &[(&str, &str)], rules: &[(&str, &str, &str)]) -> Config {
        let mut text = String::from("[notify.console]\ntype = \"stdout\"\n");
        for (url, interval) in feeds {
            text.push_str(&format!(
                "[[feed]]\nurl = \"{url}\"\ninterval = \"{interval}\"\n"
            ));
        }
        for (name, query, sel) in rules {
            text.push_str(&format!(
                "[[rule]]\nname = \"{name}\"\nquery = \"{query}\"\nfeeds = [\"{sel}\"]\n"
            ));
        }
        match super::super::check::load(&text, Path::new("/etc/feedwatch"), &[]) {
            Ok(c) => c,
            Err(p) => panic!("{p:#?}"),
        }
    }

    #[test]
    fn a_reload_says_what_it_added_removed_and_changed() {
        let old = config(
            &[("https://a.org/rss", "5m"), ("https://b.org/rss", "5m")],
            &[
                ("kabulov", "Kabulov", "b.org"),
                ("taliban", "Taliban", "a.org"),
            ],
        );
        // c.org comes first, so every index moves; b.org's interval changes; a.org goes, and
        // with it rule taliban's feed (changed); rule iran is new.
        let new = config(
            &[("https://c.org/rss", "5m"), ("https://b.org/rss", "10m")],
            &[
                ("kabulov", "Kabulov", "b.org"),
                ("taliban", "Taliban", "c.org"),
                ("iran", "Iran", "c.org"),
            ],
        );
        let changes = Changes::between(&old, &new);
        assert_eq!(
            changes.to_string(),
            "feeds added: c.org; feeds removed: a.org; feeds changed: b.org; \
             rules added: iran; rules changed: taliban"
        );
        assert!(Changes::between(&new, &new).is_empty());
        assert_eq!(Changes::between(&new, &new).to_string(), "nothing changed");
    }

    fn load(text: &str) -> Config {
        match super::super::check::load(text, Path::new("/etc/feedwatch"), &[]) {
            Ok(c) => c,
            Err(p) => panic!("{p:#?}"),
        }
    }

    #[test]
    fn changes_that_debug_hides_still_count() {
        let text = |to: &str, token: &str, auth: &str| {
            format!(
                "[notify.mail]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\n\
                 from = \"fw@example.org\"\nto = [\"{to}\"]\n\
                 [notify.hook]\ntype = \"webhook\"\nurl = \"https://hooks.example.org/{token}\"\n\
                 [[feed]]\nurl = \"https://a.org/rss\"\nheaders = {{ Authorization = \"{auth}\" }}\n"
            )
        };
        let old = load(&text("a@example.org", "T0KEN", "Bearer one"));
        assert!(Changes::between(&old, &old).is_empty());
        let new = load(&text("b@example.org", "T0KEN", "Bearer one"));
        assert_eq!(
            Changes::between(&old, &new).to_string(),
            "notifiers changed: mail"
        );
        let new = load(&text("a@example.org", "OTHER", "Bearer one"));
        let shown = Changes::between(&old, &new).to_string();
        assert_eq!(shown, "notifiers changed: hook");
        assert!(!shown.contains("OTHER"), "{shown}");
        let new = load(&text("a@example.org", "T0KEN", "Bearer two"));
        assert_eq!(
            Changes::between(&old, &new).to_string(),
            "feeds changed: a.org"
        );
    }
}
