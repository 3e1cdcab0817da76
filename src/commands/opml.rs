//! `feedwatch import-opml` and `export-opml`: feeds from and to other readers.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, ConfigError};
use crate::redact::Redacted;

pub fn import(path: &Path, file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // OPML exports are UTF-8 in practice; an old Latin-1 one decodes as windows-1252.
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
    };
    let mut feeds = crate::opml::parse_opml(&text)
        .with_context(|| format!("cannot read {} as OPML", file.display()))?;
    // Leave out what the config already has (when there is a config to compare with), and
    // keep its names: an imported name that is taken gets a number. A config that exists but
    // does not load (a rule naming a tag the imported feeds will bring, say) cannot say which
    // feeds it has: the import goes on, and says so.
    let (existing, names): (Vec<String>, Vec<String>) = match Config::load(path) {
        Ok(c) => {
            let urls = c.feeds.iter().map(|f| f.url.to_string()).collect();
            (urls, c.feeds.into_iter().map(|f| f.name).collect())
        }
        Err(ConfigError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
            Default::default()
        }
        Err(e) => {
            say!(
                "feedwatch: warning: {e:#}\nfeedwatch: warning: the config does not load, so \
                 feeds it has already may be imported again; `feedwatch check` will name them"
            );
            Default::default()
        }
    };
    let total = feeds.len();
    let mut invalid = 0;
    feeds.retain(|f| {
        let Some(url) = checked_url(f) else {
            invalid += 1;
            return false;
        };
        !existing.iter().any(|e| e == url.as_str())
    });
    let toml = crate::opml::to_toml_feeds(&feeds, &names);
    let skipped = total - invalid - feeds.len();
    let skipped = if invalid > 0 {
        format!("{skipped} already configured, {invalid} invalid skipped")
    } else {
        format!("{skipped} already configured")
    };
    match output {
        Some(out) => {
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(out, &toml)
                .with_context(|| format!("cannot write {}", out.display()))?;
            say!(
                "wrote {} feed(s) to {} ({skipped}); include it with include = [\"{}\"] and run `feedwatch check`",
                feeds.len(),
                out.display(),
                include_path(path, out).display()
            );
        }
        None => {
            super::stdout().write_all(toml.as_bytes())?;
            say!("{} feed(s) to add ({skipped})", feeds.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How the config at `config` names the file `out` in its `include`: relative to the config's
/// folder, as `include` patterns are read (absolute when `out` is outside that folder).
fn include_path(config: &Path, out: &Path) -> PathBuf {
    let folder = config.parent().unwrap_or(Path::new("."));
    let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    match out.strip_prefix(&folder) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => out,
    }
}

/// The entry's URL if the config would accept it; otherwise says on stderr which entry is
/// skipped and why. The text of an unparseable URL is not echoed (as in config errors: which
/// part of it is a secret cannot be known); the entry's name points at it.
fn checked_url(f: &crate::opml::OpmlFeed) -> Option<url::Url> {
    let entry = match &f.name {
        Some(name) => format!("{name:?}"),
        None => "without a name".to_string(),
    };
    match url::Url::parse(f.url.trim()) {
        Ok(url) if crate::config::fetchable(&url) => Some(url),
        Ok(url) => {
            say!(
                "skipped the entry {entry}: {} is not an http:// or https:// URL with a host",
                Redacted::url(&url)
            );
            None
        }
        Err(e) => {
            say!("skipped the entry {entry}: invalid URL ({e})");
            None
        }
    }
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
    super::stdout().write_all(crate::opml::to_opml(&feeds, "feedwatch feeds").as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
