//! `feedwatch import-opml` and `export-opml`: feeds from and to other readers.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;

pub fn import(path: &Path, file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // OPML exports are UTF-8 in practice; an old Latin-1 one decodes as windows-1252.
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
    };
    let mut feeds = crate::opml::parse_opml(&text)
        .with_context(|| format!("cannot read {} as OPML", file.display()))?;
    // Leave out what the config already has (when there is a config to compare with).
    let existing: Vec<String> = Config::load(path)
        .map(|c| c.feeds.iter().map(|f| f.url.to_string()).collect())
        .unwrap_or_default();
    let total = feeds.len();
    feeds.retain(|f| {
        let normalized = url::Url::parse(&f.url)
            .map(|u| u.to_string())
            .unwrap_or_default();
        !existing.contains(&normalized)
    });
    let toml = crate::opml::to_toml_feeds(&feeds);
    let skipped = total - feeds.len();
    match output {
        Some(out) => {
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(out, &toml)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "wrote {} feed(s) to {} ({skipped} already configured); include it with include = [\"{}\"] and run `feedwatch check`",
                feeds.len(),
                out.display(),
                out.display()
            );
        }
        None => {
            print!("{toml}");
            eprintln!(
                "{} feed(s) to add ({skipped} already configured)",
                feeds.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let feeds: Vec<crate::opml::OpmlFeed> = config
        .feeds
        .iter()
        .map(|f| crate::opml::OpmlFeed {
            url: f.url.to_string(),
            name: Some(f.name.clone()),
            tags: f.tags.clone(),
        })
        .collect();
    print!("{}", crate::opml::to_opml(&feeds, "feedwatch feeds"));
    Ok(ExitCode::SUCCESS)
}
