//! The command-line contract: `check` exit codes and messages, the default config, and that
//! the README shows the commands and the config keys that the code accepts.

mod support;

use support::feedwatch;

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn check_accepts_the_default_config() {
    let run = feedwatch(&["--config", &repo("config/feedwatch.toml"), "check"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("config OK"), "{}", run.stdout);
    assert!(run.stdout.contains("The Moscow Times"), "{}", run.stdout);
    assert!(run.stdout.contains("moscow-format"), "{}", run.stdout);
}

#[tokio::test]
async fn check_lists_every_mistake_with_key_and_line_and_exits_78() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        r#"[poll]
interval = "often"

[[feed]]
url = "not a url"

[[rule]]
name = "r"
query = "Kabulov"
notify = ["nobody"]

[notify.console]
type = "stdout"
"#,
    )
    .expect("write");
    let run = feedwatch(&["--config", cfg.to_str().expect("utf-8"), "check"]).await;
    assert_eq!(run.code, Some(78), "{run:#?}");
    for needle in [
        "3 problems",
        "line 2: poll.interval: invalid duration",
        "line 5: feed[0].url: invalid URL",
        "line 10: rule[0].notify[0]: no notifier named \"nobody\"",
    ] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn missing_config_file_is_a_config_error() {
    let run = feedwatch(&["--config", "/nonexistent/feedwatch.toml", "check"]).await;
    assert_eq!(run.code, Some(78), "{run:#?}");
    assert!(
        run.stderr
            .contains("cannot read config file /nonexistent/feedwatch.toml")
    );
}

#[test]
fn readme_documents_commands_and_every_config_key() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    for needle in [
        "cargo run --release -- --config config/feedwatch.toml run",
        "cargo test",
        "feedwatch check",
        "feedwatch once",
        "feedwatch run",
        "FEEDWATCH_CONFIG",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}");
    }
    for (table, _) in feedwatch::config::schema_keys() {
        let heading = match table {
            "" => continue,
            "feed" | "rule" => format!("`[[{table}]]`"),
            t if t.starts_with("notify.") => "`[notify.NAME]`".to_string(),
            t => format!("`[{t}]`"),
        };
        assert!(
            readme.contains(&heading),
            "README lacks the {heading} section"
        );
    }
    // Every key the config accepts is documented (the list comes from the code).
    for key in feedwatch::config::schema_keys()
        .iter()
        .filter(|(table, _)| !table.is_empty())
        .flat_map(|(_, keys)| keys.iter())
    {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README does not document `{key}`"
        );
    }
}

#[tokio::test]
async fn every_subcommand_in_help_is_documented_in_the_readme() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    let help = feedwatch(&["--help"]).await;
    assert_eq!(help.code, Some(0));
    let commands: Vec<&str> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() >= 10,
        "parsed the command list: {commands:?}"
    );
    for c in commands {
        assert!(
            readme.contains(&format!("`feedwatch {c}")),
            "README does not document `feedwatch {c}`"
        );
    }
}

#[tokio::test]
async fn the_example_configs_are_valid() {
    for cfg in ["config/feedwatch.toml", "packaging/feedwatch.toml"] {
        let run = feedwatch(&["--config", &repo(cfg), "check"]).await;
        assert_eq!(run.code, Some(0), "{cfg}: {run:#?}");
    }
}
