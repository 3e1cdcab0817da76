//! `type = "webhook"`: POSTs each alert (or digest) to a URL, in feedwatch's versioned JSON
//! schema or in a preset shape for Slack, Discord or ntfy.
//!
//! Every request carries `Idempotency-Key: <alert id>`, so a receiver can drop the duplicate a
//! crash between "server accepted" and "outbox marked sent" may cause. With a `secret_file`,
//! requests are signed: `X-Feedwatch-Timestamp: <unix seconds>` and
//! `X-Feedwatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//!
//! Feed text never pings or links anyone: Discord messages go out with mentions disabled
//! (`allowed_mentions`), Slack text is escaped so `<!everyone>` stays text, and only
//! `http`/`https` item links become Slack links or ntfy click actions.

use hmac::{KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::json;

use super::{Cause, Delivered, NotifyError, failure, render};
use crate::config::{Webhook, WebhookFormat};
use crate::domain::{Alert, AlertPayload, hash_hex};
use crate::redact::Redacted;

/// Version of the JSON schema in `format = "json"` bodies. Version 2 (issue 12): one event
/// per story, with every rule that matched in `rules` (and other feeds in `sources`).
pub const SCHEMA_VERSION: u32 = 2;
/// How much of a receiver's answer is read (for logs and `send-test`).
const ANSWER_BYTES: usize = 4096;
/// Discord refuses messages longer than this many characters.
const DISCORD_MAX: usize = 2000;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Sends alerts to a webhook.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    cfg: Webhook,
    /// The notifier's `timezone`: `item.published_local`, and its digests' times of day.
    zone: chrono_tz::Tz,
}

impl WebhookNotifier {
    /// Builds the HTTP client for this webhook.
    pub fn new(
        cfg: &Webhook,
        user_agent: &str,
        zone: chrono_tz::Tz,
    ) -> Result<WebhookNotifier, NotifyError> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &cfg.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| NotifyError::setup("cannot read ca_file".into(), e))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .user_agent(user_agent)
            .default_headers(cfg.headers.clone())
            // reqwest's total timeout runs from connecting (DNS, TCP, TLS) until the answer's
            // body is read, so one `timeout` bounds the whole request (pinned by
            // tests/notify_deadlines.rs against a receiver that never answers).
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::setup("cannot set up HTTP client".into(), e))?;
        Ok(WebhookNotifier {
            client,
            cfg: cfg.clone(),
            zone,
        })
    }

    /// The notifier's `timezone`.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone
    }

    /// Posts one alert.
    pub async fn send(&self, alert: &Alert, now: i64) -> Result<Delivered, NotifyError> {
        let (body, content_type, extra) = self.body_for(&[alert], false);
        self.post(&alert.uid, body, content_type, extra, now).await
    }

    /// Posts a digest of several alerts in one request.
    pub async fn send_digest(&self, alerts: &[Alert], now: i64) -> Result<Delivered, NotifyError> {
        let ids: Vec<&str> = alerts.iter().map(|a| a.uid.as_str()).collect();
        let key = format!("digest-{}", &hash_hex(&ids)[..32]);
        let refs: Vec<&Alert> = alerts.iter().collect();
        let (body, content_type, extra) = self.body_for(&refs, true);
        self.post(&key, body, content_type, extra, now).await
    }

    fn body_for(&self, alerts: &[&Alert], digest: bool) -> (String, &'static str, HeaderMap) {
        let mut extra = HeaderMap::new();
        match self.cfg.format {
            WebhookFormat::Json => {
                let body = if digest {
                    json!({
                        "version": SCHEMA_VERSION,
                        "digest": true,
                        "alerts": alerts.iter().map(|a| alert_json(a, self.zone)).collect::<Vec<_>>(),
                    })
                } else {
                    alerts
                        .first()
                        .map(|a| alert_json(a, self.zone))
                        .unwrap_or_default()
                };
                (body.to_string(), "application/json", extra)
            }
            WebhookFormat::Slack => {
                let text = alerts
                    .iter()
                    .map(|a| slack_text(&a.payload))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                (
                    json!({ "text": text }).to_string(),
                    "application/json",
                    extra,
                )
            }
            WebhookFormat::Discord => {
                let mut text = alerts
                    .iter()
                    .map(|a| discord_text(&a.payload))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                if text.chars().count() > DISCORD_MAX {
                    text = text.chars().take(DISCORD_MAX - 1).collect::<String>() + "…";
                }
                (
                    // A feed title saying `@everyone` must not ping a whole server: no mention
                    // of any kind is parsed (Discord API, "Allowed Mentions Object").
                    json!({ "content": text, "allowed_mentions": { "parse": [] } }).to_string(),
                    "application/json",
                    extra,
                )
            }
            WebhookFormat::Ntfy => {
                let title = if digest {
                    let owned: Vec<Alert> = alerts.iter().map(|a| (*a).clone()).collect();
                    render::digest_subject(&owned)
                } else {
                    alerts
                        .first()
                        .map(|a| {
                            format!("{}: {}", a.payload.rule_names().join(", "), a.payload.title)
                        })
                        .unwrap_or_default()
                };
                // ntfy reads the title from a header, which must be visible ASCII/Latin-1;
                // RFC 2047 encoding is what ntfy documents for anything else.
                if let Ok(v) = HeaderValue::from_str(&rfc2047(&title)) {
                    extra.insert("Title", v);
                }
                if !digest
                    && let Some(link) = alerts.first().and_then(|a| a.payload.web_link())
                    && let Ok(v) = HeaderValue::from_str(link)
                {
                    extra.insert("Click", v);
                }
                extra.insert("Tags", HeaderValue::from_static("newspaper"));
                let text = alerts
                    .iter()
                    .map(|a| {
                        let p = &a.payload;
                        format!(
                            "{}\n{}{}",
                            p.title,
                            p.snippet,
                            if digest {
                                p.link
                                    .as_deref()
                                    .map(|l| format!("\n{l}"))
                                    .unwrap_or_default()
                            } else {
                                String::new()
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n");
                (text, "text/plain; charset=utf-8", extra)
            }
        }
    }

    async fn post(
        &self,
        idempotency_key: &str,
        body: String,
        content_type: &'static str,
        extra: HeaderMap,
        now: i64,
    ) -> Result<Delivered, NotifyError> {
        let mut req = self
            .client
            .post(self.cfg.url.clone())
            .header(CONTENT_TYPE, content_type)
            .header("Idempotency-Key", idempotency_key)
            .headers(extra);
        if let Some(secret) = &self.cfg.secret {
            req = req.header("X-Feedwatch-Timestamp", now.to_string()).header(
                "X-Feedwatch-Signature",
                format!("sha256={}", sign(secret.expose(), now, &body)),
            );
        }
        let mut resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::Transient {
                kind: failure::http(&e),
                cause: Cause::Request {
                    url: self.cfg.url.clone(),
                    source: e.without_url(),
                },
                retry_after: None,
            })?;
        let status = resp.status();
        // Shown in the error, so redacted like the webhook URL: a receiver that moved
        // usually redirects to the new secret path.
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| self.cfg.url.join(l).ok())
            .map(|l| Redacted::webhook(&l).to_string());
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                chrono::DateTime::<chrono::Utc>::from_timestamp(now, 0)
                    .and_then(|now| crate::http_time::parse_retry_after(v, now))
            });
        // Only the start of the answer is shown; a receiver that streams a huge body is not
        // read to the end.
        let mut head = Vec::new();
        while head.len() < ANSWER_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        head.truncate(ANSWER_BYTES);
        let text: String = String::from_utf8_lossy(&head).chars().take(200).collect();
        let detail = format!(
            "HTTP {}{}",
            status.as_u16(),
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", text.trim())
            }
        );
        let kind = failure::http_status(status.as_u16());
        if status.is_success() {
            Ok(Delivered { detail })
        } else if status.is_redirection() {
            // Redirects are not followed: a 301/302 would turn the POST into a bodyless GET
            // whose 200 looks like delivery. The URL needs fixing, which retrying won't do.
            Err(NotifyError::Permanent {
                kind,
                cause: Cause::Answer(format!(
                    "webhook answered {detail} (redirect to {}): set `url` to the final address",
                    location.as_deref().unwrap_or("an unnamed location")
                )),
            })
        } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(NotifyError::Transient {
                kind,
                cause: Cause::Answer(format!("webhook answered {detail}")),
                retry_after,
            })
        } else {
            Err(NotifyError::Permanent {
                kind,
                cause: Cause::Answer(format!("webhook answered {detail}")),
            })
        }
    }
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`: what a receiver recomputes.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The versioned JSON object for one alert (documented in README, "Webhook schema"). `rule`,
/// `query` and `matched` are kept from version 1: the first rule's name and query, and every
/// rule's matched terms. `item.published_local` is the publication time in `zone`, the
/// notifier's.
pub fn alert_json(a: &Alert, zone: chrono_tz::Tz) -> serde_json::Value {
    let p = &a.payload;
    let rules: Vec<serde_json::Value> = p
        .rule_matches()
        .iter()
        .map(|r| {
            json!({
                "name": r.rule,
                "query": r.query,
                "matched": r.matched(),
                "snippets": r.terms.iter().map(|t| json!({
                    "term": t.term,
                    "snippet": t.snippet,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sources: Vec<serde_json::Value> = p
        .sources
        .iter()
        .map(|s| {
            json!({
                "feed": { "url": s.feed_url, "name": s.feed_name },
                "title": s.title,
                "link": s.link,
            })
        })
        .collect();
    json!({
        "version": SCHEMA_VERSION,
        "id": a.uid,
        "rules": rules,
        "rule": p.rule,
        "query": p.query,
        "matched": p.matched,
        "sources": sources,
        "feed": { "url": p.feed_url, "name": p.feed_name },
        "item": {
            "title": p.title,
            "link": p.link,
            "published": p.published.map(|t| t.to_rfc3339()),
            // The same instant in the notifier's `timezone`, with its offset (RFC 3339).
            "published_local": p.published.map(|t| t.with_timezone(&zone).to_rfc3339()),
            "summary": p.summary,
            "snippet": p.snippet,
        },
    })
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_text(p: &AlertPayload) -> String {
    let title = match p.web_link() {
        Some(l) => format!("*<{}|{}>*", slack_escape(l), slack_escape(&p.title)),
        None => format!("*{}*", slack_escape(&p.title)),
    };
    let snippet: String = p
        .snippet_runs()
        .iter()
        .map(|(t, hl)| {
            if *hl {
                format!("*{}*", slack_escape(t))
            } else {
                slack_escape(t)
            }
        })
        .collect();
    format!(
        "{title}\n{} · rule {} · matched {}\n{snippet}",
        slack_escape(&p.feed_name),
        slack_escape(&p.rule_names().join(", ")),
        slack_escape(&p.matched.join(", "))
    )
}

fn discord_text(p: &AlertPayload) -> String {
    let snippet: String = p
        .snippet_runs()
        .iter()
        .map(|(t, hl)| {
            if *hl {
                format!("**{t}**")
            } else {
                (*t).to_string()
            }
        })
        .collect();
    format!(
        "**{}**\n{}\n{} · rule {} · matched {}\n{snippet}",
        p.title,
        p.link.as_deref().unwrap_or(""),
        p.feed_name,
        p.rule_names().join(", "),
        p.matched.join(", ")
    )
}

/// RFC 2047 encoded-word (base64) when `s` is not plain ASCII.
fn rfc2047(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    use base64::Engine as _;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'topsecret'
        assert_eq!(
            sign("topsecret", 1_700_000_000, r#"{"a":1}"#),
            "6a939b0c71853d606167625a15168ee9188c6a511c773ef4f42d307f3849e50f"
        );
    }

    #[test]
    fn slack_text_keeps_mentions_and_odd_links_as_text() {
        let mut p = crate::domain::AlertPayload {
            rule: "r".into(),
            query: "q".into(),
            matched: vec![],
            feed_name: "f".into(),
            feed_url: "http://f/".into(),
            title: "<!everyone> <!channel> <!here> <@U123>".into(),
            link: Some("javascript:alert(1)".into()),
            published: None,
            ..Default::default()
        };
        let text = slack_text(&p);
        assert!(!text.contains("<!") && !text.contains("<@"), "{text}");
        assert!(!text.contains("javascript"), "not a link: {text}");
        p.link = Some("https://news.test/a".into());
        assert!(slack_text(&p).starts_with("*<https://news.test/a|"));
    }

    #[test]
    fn published_is_utc_and_published_local_is_in_the_notifiers_zone() {
        let published = crate::domain::fixtures::at("2021-10-07T06:46:00Z");
        let alert = Alert {
            id: 1,
            uid: "u".into(),
            notifier: "hook".into(),
            attempts: 0,
            created_at: 0,
            digest: None,
            payload: crate::domain::AlertPayload {
                published: Some(published),
                ..Default::default()
            },
        };
        let cases = [
            (chrono_tz::Europe::Moscow, "2021-10-07T09:46:00+03:00"),
            (chrono_tz::America::New_York, "2021-10-07T02:46:00-04:00"),
            (chrono_tz::Tz::UTC, "2021-10-07T06:46:00+00:00"),
        ];
        for (zone, local) in cases {
            let item = &alert_json(&alert, zone)["item"];
            assert_eq!(item["published"], "2021-10-07T06:46:00+00:00", "{zone}");
            assert_eq!(item["published_local"], local, "{zone}");
        }
        let undated = Alert {
            payload: crate::domain::AlertPayload::default(),
            ..alert
        };
        let item = &alert_json(&undated, chrono_tz::Tz::UTC)["item"];
        assert!(item["published"].is_null() && item["published_local"].is_null());
    }

    #[test]
    fn rfc2047_only_when_needed() {
        assert_eq!(rfc2047("plain"), "plain");
        assert_eq!(rfc2047("Кабулов"), "=?UTF-8?B?0JrQsNCx0YPQu9C+0LI=?=");
    }
}
