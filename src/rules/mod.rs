//! Watch rules: the query language users write and the matcher that runs thousands of them.
//!
//! Pure: no I/O, no clock, no global state besides lazily-built constant tables (the folding
//! table in [`crate::text`]). The language itself is documented for users in `docs/rules.md`;
//! keep the two in sync.
//!
//! * `query.rs`: tokenizer and recursive-descent parser → [`Query`] (terms folded, regexes
//!   compiled, so a bad rule fails when the config loads, with a [`QueryError`] position).
//! * `matcher.rs`: [`RuleSet`] compiles all queries into one Aho-Corasick automaton over every
//!   literal of every rule; a document is folded once ([`PreparedDocument`]), scanned once,
//!   and only the rules whose literals hit (plus the few with no required literal) are
//!   evaluated.
//! * `forms.rs`: word forms (`languages`) and transliteration: a query word's bases and the
//!   endings a text word may add to them.
//! * `lint.rs`: warnings about valid queries that probably do not say what was meant
//!   (`kabulov or lavrov`, `NEAR/5`, `NOT football` alone, `Kabulov OR Kabulov*`).
//! * `snippet.rs`: the ~120-char excerpt of original text shown in alerts.
//!
//! What `docs/rules.md` tells users in their words, in the API's: [`RuleSet::matches`] returns
//! one [`MatchedTerm`] per positive term and field (`term`, `field`, `snippet`, `highlight` as a
//! byte range in the snippet); a parse failure is a [`QueryError`] whose `caret(query)` draws
//! the position `check` and `test-rule` show; folding is `crate::text::fold`. The tests in
//! `tests.rs` are organised like that page.
//!
//! Documents given here are already plain text: callers run [`crate::text::html_to_text`] on
//! HTML fields first. Folding (case, accents, `ё`, quotes, whitespace) happens inside.

mod forms;
mod lint;
mod matcher;
mod query;
mod snippet;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_forms;

pub use forms::{Language, MatchOptions};
pub use lint::QueryWarning;
pub use matcher::{MatchedTerm, PreparedDocument, RuleHit, RuleSet};
pub use query::{MAX_NESTING, MAX_PROXIMITY, Query, QueryError};

use serde::{Deserialize, Serialize};

/// A searchable part of a feed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Content,
    Author,
    Category,
    Link,
    Feed,
    /// The main text of the page the item links to (`fetch_article = true`); empty otherwise.
    Article,
}

impl Field {
    /// Every field, in the order results are reported.
    pub const ALL: [Field; 8] = [
        Field::Title,
        Field::Summary,
        Field::Content,
        Field::Author,
        Field::Category,
        Field::Link,
        Field::Feed,
        Field::Article,
    ];

    /// The name used in queries (`title:`) and in serialized hits.
    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
            Field::Author => "author",
            Field::Category => "category",
            Field::Link => "link",
            Field::Feed => "feed",
            Field::Article => "article",
        }
    }

    /// Parses a field name as written before `:` in a query (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A small set of [`Field`]s (one bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FieldSet(u8);

impl FieldSet {
    /// Where an unscoped term looks: title, summary, content and the linked article.
    pub const UNSCOPED: FieldSet = FieldSet(
        1 << Field::Title as u8
            | 1 << Field::Summary as u8
            | 1 << Field::Content as u8
            | 1 << Field::Article as u8,
    );

    pub fn only(field: Field) -> FieldSet {
        FieldSet(1 << field as u8)
    }

    pub fn contains(self, field: Field) -> bool {
        self.0 & (1 << field as u8) != 0
    }

    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// A feed item as the matcher sees it. Every field is plain text already (HTML converted by
/// [`crate::text::html_to_text`]); the matcher folds case, accents and whitespace itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub title: String,
    pub summary: String,
    pub content: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub link: String,
    /// The feed's name as configured (or its title).
    pub feed: String,
    /// The linked page's main text (`fetch_article = true`), empty when not fetched.
    pub article: String,
}
