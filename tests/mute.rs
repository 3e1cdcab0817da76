//! `feedwatch mute` / `unmute` with the real binary: a mute set from the command line holds in
//! a running daemon at once and across a reload, its matches are stored but not alerted and
//! `backtest` shows them, `check` and `rules` say so, and unmuting lets the next match alert.

mod support;

use support::{
    Daemon, FeedServer, Route, config_dir, eventually_within, feedwatch, kabulov_feed, send_signal,
};

/// The alerts in the outbox.
async fn alert_titles(cfg: &str) -> Vec<String> {
    let list = feedwatch(&["--config", cfg, "alerts", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("JSON");
    rows.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["title"].as_str().map(str::to_string))
        .collect()
}

/// Items stored and the backtest's lines, for rule `kabulov`.
async fn backtest(cfg: &str) -> String {
    let run = feedwatch(&["--config", cfg, "backtest", "kabulov"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_rule_stores_its_matches_without_alerting_until_unmuted() {
    let feeds = FeedServer::start().await;
    feeds.set("/k", Route::rss(kabulov_feed(2, "k"), "\"k2\""));
    let (dir, cfg) = config_dir(&format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\ntimeout = \"5s\"\n\
         [[feed]]\nurl = \"{}\"\nname = \"News\"\n\
         [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\
         [[rule]]\nname = \"taliban\"\nquery = 'Taliban'\n\
         [notify.console]\ntype = \"stdout\"\n",
        feeds.url("/k")
    ));
    let cfg_path = cfg.clone();
    let cfg = cfg.to_str().expect("utf-8");

    // An unknown rule is refused, naming the configured ones.
    let unknown = feedwatch(&["--config", cfg, "mute", "kabulof", "--for", "1d"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:#?}");
    assert!(
        unknown
            .stderr
            .contains("no rule named \"kabulof\" (configured: kabulov, taliban)"),
        "{}",
        unknown.stderr
    );
    let muted = feedwatch(&["--config", cfg, "mute", "kabulov", "--for", "1d"]).await;
    assert_eq!(muted.code, Some(0), "{muted:#?}");
    assert!(
        muted.stdout.contains("rule \"kabulov\" muted until 20"),
        "{}",
        muted.stdout
    );
    // Until unmuted, instead of for a day.
    let muted = feedwatch(&["--config", cfg, "mute", "kabulov"]).await;
    assert!(
        muted.stdout.contains("muted until `feedwatch unmute`"),
        "{}",
        muted.stdout
    );

    // The daemon stores the matches and alerts none of them.
    let daemon = Daemon::start(&cfg_path, &dir.path().join("daemon.log"));
    eventually_within(30, "both items stored", || feeds.seen("/k").len() >= 2).await;
    let out = backtest(cfg).await;
    assert!(out.contains("would have alerted on 2 of 2"), "{out}");
    assert_eq!(out.matches("[muted: not alerted]").count(), 2, "{out}");
    assert!(
        out.contains("2 of them matched while the rule was muted"),
        "{out}"
    );
    assert!(
        out.contains("the rule is muted now (muted until `feedwatch unmute`)"),
        "{out}"
    );
    assert_eq!(alert_titles(cfg).await, Vec::<String>::new());

    // `check` and `rules` show it.
    let check = feedwatch(&["--config", cfg, "check"]).await;
    assert!(
        check
            .stdout
            .contains("  - kabulov (muted until `feedwatch unmute`): Kabulov"),
        "{}",
        check.stdout
    );
    let rules = feedwatch(&["--config", cfg, "rules", "--json"]).await;
    let rules: serde_json::Value = serde_json::from_str(&rules.stdout).expect("JSON");
    assert_eq!(rules[0]["name"], "kabulov");
    assert_eq!(rules[0]["muted"]["until"], serde_json::Value::Null);
    assert!(rules[0]["muted"]["muted_at"].is_i64(), "{rules}");
    assert_eq!(rules[1]["muted"], serde_json::Value::Null);

    // A reload keeps the mute; a new match is stored, not alerted.
    std::fs::write(
        &cfg_path,
        std::fs::read_to_string(&cfg_path).expect("config") + "\n",
    )
    .expect("touch config");
    send_signal(daemon.pid(), libc::SIGHUP);
    eventually_within(30, "the reload", || {
        daemon.log_text().contains("config reloaded")
    })
    .await;
    feeds.set("/k", Route::rss(kabulov_feed(3, "k"), "\"k3\""));
    let mut out = String::new();
    for _ in 0..300 {
        out = backtest(cfg).await;
        if out.matches("[muted: not alerted]").count() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(out.matches("[muted: not alerted]").count(), 3, "{out}");
    assert_eq!(alert_titles(cfg).await, Vec::<String>::new());

    // Unmuted: the next match alerts, at once in the running daemon.
    let unmuted = feedwatch(&["--config", cfg, "unmute", "kabulov"]).await;
    assert_eq!(unmuted.code, Some(0), "{unmuted:#?}");
    assert!(
        unmuted.stdout.contains("rule \"kabulov\" unmuted"),
        "{}",
        unmuted.stdout
    );
    let again = feedwatch(&["--config", cfg, "unmute", "kabulov"]).await;
    assert!(again.stdout.contains("was not muted"), "{}", again.stdout);
    feeds.set("/k", Route::rss(kabulov_feed(4, "k"), "\"k4\""));
    let mut titles = Vec::new();
    for _ in 0..300 {
        titles = alert_titles(cfg).await;
        if !titles.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        titles,
        ["k story 03"],
        "only the match after the unmute alerts"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}

/// `check` judges the config: a database it cannot read leaves the mutes out of the summary,
/// with a warning that says so, and the exit status stays 0.
#[tokio::test]
async fn check_says_when_it_cannot_show_mutes() {
    let (dir, cfg) = config_dir(
        "[storage]\npath = \"fw.db\"\n[[feed]]\nurl = \"http://127.0.0.1:9/rss\"\n\
         [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n[notify.console]\ntype = \"stdout\"\n",
    );
    std::fs::write(
        dir.path().join("fw.db"),
        b"this is not a SQLite database, not at all",
    )
    .expect("write");
    let cfg = cfg.to_str().expect("utf-8 path");
    let check = feedwatch(&["--config", cfg, "check"]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    assert!(check.stdout.contains("kabulov"), "{check:#?}");
    assert!(
        check.stderr.contains("warning: muted rules not shown"),
        "{check:#?}"
    );
}
