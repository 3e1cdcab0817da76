//! One file per CLI command: each loads what it needs, does its one job and returns the exit
//! status. `app` dispatches to them; the shared terminal output helpers live here.

pub mod alerts;
pub mod backtest;
pub mod check;
pub mod feeds;
pub mod once;
pub mod opml;
pub mod run;
pub mod send_test;
pub mod test_rule;

use crate::rules::RuleHit;

/// Text with highlighted ranges marked: bold on a terminal, `*…*` otherwise.
pub(crate) fn mark(snippet: &str, range: std::ops::Range<usize>, tty: bool) -> String {
    let (Some(a), Some(b), Some(c)) = (
        snippet.get(..range.start),
        snippet.get(range.clone()),
        snippet.get(range.end..),
    ) else {
        return snippet.to_string();
    };
    if tty {
        format!("{a}\x1b[1m{b}\x1b[0m{c}")
    } else {
        format!("{a}*{b}*{c}")
    }
}

pub(crate) fn print_hit(title: &str, link: Option<&str>, extra: &str, hit: &RuleHit, tty: bool) {
    println!("{title}{extra}");
    if let Some(l) = link {
        println!("  {l}");
    }
    for t in &hit.terms {
        println!(
            "  {} in {}: {}",
            t.term,
            t.field.name(),
            mark(&t.snippet, t.highlight.clone(), tty)
        );
    }
}
