//! The query language: tokenizer → recursive-descent parser → [`Node`] tree.
//!
//! Everything about *reading* a rule lives here (syntax, precedence, error positions);
//! nothing about matching documents (that is `matcher.rs`). Literal terms are folded with
//! [`crate::text::fold`] at parse time and regexes compiled, so a [`Query`] that parsed is a
//! query that can run: errors surface when the config loads, never at match time.
//!
//! Grammar (precedence low → high; see docs/rules.md):
//!
//! ```text
//! query   := or
//! or      := and ( "OR" and )*
//! and     := unary ( [ "AND" ] unary )*          -- juxtaposition is AND
//! unary   := ( "NOT" | "-" ) unary | primary
//! primary := "(" or ")" | FIELD ":" primary | term
//! term    := WORD | WORD "*" | PHRASE [ "~" N ] | "/" REGEX "/" FLAGS
//! ```

use std::fmt;

use regex::{Regex, RegexBuilder};

use super::forms::{self, MatchOptions, Variant};
use super::lint::QueryWarning;
use super::{Field, FieldSet};
use crate::text::fold;

/// Deepest nesting of parentheses / `NOT` accepted: keeps the recursive parser and evaluator
/// far from the stack limit on hostile input.
pub const MAX_NESTING: usize = 64;

/// Largest `~N` proximity distance, in words.
pub const MAX_PROXIMITY: u32 = 1000;

/// Compiled-program size limit for one regex, in bytes: a config with thousands of rules must
/// not be able to allocate gigabytes through one pathological pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Chars that open or close a phrase. Typographic quotes are accepted because users paste
/// queries from documents and chat apps that "smarten" them.
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”' | '„')
}

/// Chars that open a phrase: the quotes, and `«`, how Russian text quotes
/// (`«московский формат»`), which only `»` closes, so guillemets inside a `"…"` phrase stay
/// part of it.
fn opens_phrase(c: char) -> bool {
    is_quote(c) || c == '«'
}

/// A parsed, compiled query (one watch rule's `query`).
#[derive(Debug, Clone)]
pub struct Query {
    source: String,
    options: MatchOptions,
    pub(crate) root: Node,
}

/// Why a query was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct QueryError {
    /// Offset of the offending char, counted in chars (not bytes) from the start of the query.
    pub position: usize,
    /// Lowercase description of the problem, without the position.
    pub message: String,
}

impl QueryError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        QueryError {
            position,
            message: message.into(),
        }
    }

    /// Two lines: the query (tabs and line breaks shown as spaces so columns line up), then a
    /// `^` under the offending char.
    pub fn caret(&self, src: &str) -> String {
        let line: String = src
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        format!("{line}\n{}^", " ".repeat(self.position))
    }
}

/// A node of the query tree. `And`/`Or` are flattened (`a b c` is one `And` of three).
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Term(Term),
}

/// One word of a [`TermKind::Forms`] term and the ways it may be written in text.
#[derive(Debug, Clone)]
pub(crate) struct FormWord {
    /// As written in the query (for display).
    pub written: String,
    pub folded: String,
    pub variants: Vec<Variant>,
}

/// One leaf of the query: what to look for and in which fields.
#[derive(Debug, Clone)]
pub(crate) struct Term {
    /// The term as written, for reporting (`Moscow format`, `talib*`, `/kabul(ov)?/i`).
    pub written: String,
    /// Whether the user wrote an explicit field scope (only affects `Display`).
    pub scoped: bool,
    pub fields: FieldSet,
    pub kind: TermKind,
}

#[derive(Debug, Clone)]
pub(crate) enum TermKind {
    /// Folded literal matched on whole-word boundaries (`prefix`: only at its start). A phrase
    /// whose only wildcard is on its last word is one of these too (`"Moscow talk*"`).
    Literal { folded: String, prefix: bool },
    /// A phrase with a wildcard on an inner word (`"московск* формат*"`): its [`Chunk`]s must
    /// follow one another, each starting at the word after the previous one ends.
    Sequence { chunks: Vec<Chunk> },
    /// Folded words that must all occur within `distance` words of each other (`prefix`:
    /// the word written with `*`, which any word starting with it satisfies).
    Near { words: Vec<Chunk>, distance: u32 },
    /// A word, phrase or proximity phrase whose words also match their other forms (a rule
    /// with `languages` or `transliterate`): adjacent words when `distance` is `None`.
    Forms {
        words: Vec<FormWord>,
        distance: Option<u32>,
    },
    /// Regex run on the field's plain text (whitespace collapsed), not on the folded form.
    /// `set_source` is the same regex with its flags inline, from which the rule set extracts
    /// the literals that prefilter it.
    Regex { regex: Regex, set_source: String },
}

/// A folded word, or run of words, of a phrase; `prefix`: its last word was written with a
/// trailing `*` and matches any word that starts with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub folded: String,
    pub prefix: bool,
}

/// The empty query, which matches nothing: what a rule holds until its own query compiles.
impl Default for Query {
    fn default() -> Self {
        Query {
            source: String::new(),
            options: MatchOptions::default(),
            root: Node::Or(Vec::new()),
        }
    }
}

impl Query {
    /// Parses and compiles `src`. Any problem is reported with the char offset it was found at.
    pub fn parse(src: &str) -> Result<Query, QueryError> {
        Query::parse_with(src, MatchOptions::default())
    }

    /// [`Query::parse`] for a rule with `languages` / `transliterate`: its words and phrases
    /// also match their word forms and other-script spellings (see [`MatchOptions`]).
    pub fn parse_with(src: &str, options: MatchOptions) -> Result<Query, QueryError> {
        let tokens = lex(src)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            end: src.chars().count(),
            options,
        };
        let root = parser.parse_query()?;
        Ok(Query {
            source: src.to_string(),
            options,
            root,
        })
    }

    /// The options the query was compiled with.
    pub fn options(&self) -> MatchOptions {
        self.options
    }

    /// The query as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What in this (valid) query is probably not what its author meant: a lowercase `or`
    /// between two terms, `NEAR/5`, nothing that must be present, a redundant term.
    pub fn warnings(&self) -> Vec<QueryWarning> {
        super::lint::warnings(self)
    }
}

/// The query with its structure made explicit: every group parenthesized, implicit AND
/// spelled out. Useful to show a user how their rule was read.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, &self.root, true)
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node, top: bool) -> fmt::Result {
    let group = |f: &mut fmt::Formatter<'_>, items: &[Node], op: &str| -> fmt::Result {
        if !top {
            f.write_str("(")?;
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                write!(f, " {op} ")?;
            }
            write_node(f, item, false)?;
        }
        if !top {
            f.write_str(")")?;
        }
        Ok(())
    };
    match node {
        Node::And(items) => group(f, items, "AND"),
        Node::Or(items) => group(f, items, "OR"),
        Node::Not(inner) => {
            f.write_str(if top { "NOT " } else { "(NOT " })?;
            write_node(f, inner, false)?;
            if !top {
                f.write_str(")")?;
            }
            Ok(())
        }
        Node::Term(term) => {
            if term.scoped {
                let names: Vec<&str> = term.fields.iter().map(Field::name).collect();
                write!(f, "{}:", names.join("|"))?;
            }
            match &term.kind {
                // A bare word never holds a space: a term that does was written as a phrase.
                TermKind::Literal { .. } | TermKind::Sequence { .. }
                    if term.written.contains(' ') =>
                {
                    write!(f, "\"{}\"", term.written)
                }
                TermKind::Near { distance, .. } => write!(f, "\"{}\"~{distance}", term.written),
                TermKind::Forms { words, distance } => {
                    let shown: Vec<String> = words
                        .iter()
                        .map(|w| forms::describe(&w.written, &w.folded, &w.variants))
                        .collect();
                    match (shown.as_slice(), distance) {
                        ([one], None) => f.write_str(one),
                        (_, None) => write!(f, "\"{}\"", shown.join(" ")),
                        (_, Some(d)) => write!(f, "\"{}\"~{d}", shown.join(" ")),
                    }
                }
                _ => f.write_str(&term.written),
            }
        }
    }
}

/// One node (a term, a group) in the read-back form of [`Query`]'s `Display`.
pub(super) fn show(node: &Node) -> String {
    struct Show<'a>(&'a Node);
    impl fmt::Display for Show<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_node(f, self.0, true)
        }
    }
    Show(node).to_string()
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone)]
pub(super) enum Tok {
    LParen,
    RParen,
    Or,
    And,
    Not,
    /// `-` directly before a term.
    Minus,
    /// `title:` etc.; the term must follow without a space.
    Field(Field),
    /// A bare word as written (may end in `*`).
    Word(String),
    /// Inner text of a quoted phrase, and the `~N` after it.
    Phrase {
        text: String,
        near: Option<u32>,
    },
    /// A compiled `/regex/flags`, with the text as written.
    Regex {
        written: String,
        regex: Regex,
        set_source: String,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Char offset of the token's first char.
    pub(super) start: usize,
    /// Char offset just past the token.
    end: usize,
}

pub(super) fn lex(src: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            c if opens_phrase(c) => {
                let (tok, next) = lex_phrase(&chars, i)?;
                i = next;
                tok
            }
            '/' => {
                let (tok, next) = lex_regex(&chars, i)?;
                i = next;
                tok
            }
            '-' => {
                match chars.get(i + 1) {
                    Some(&n) if !n.is_whitespace() && n != ')' => {}
                    _ => {
                        return Err(QueryError::new(
                            i,
                            "`-` must be directly followed by the term to exclude",
                        ));
                    }
                }
                i += 1;
                Tok::Minus
            }
            _ => {
                let (tok, next) = lex_bare(&chars, i)?;
                i = next;
                tok
            }
        };
        tokens.push(Token { tok, start, end: i });
    }
    Ok(tokens)
}

fn lex_phrase(chars: &[char], open: usize) -> Result<(Tok, usize), QueryError> {
    let closes = |c: char| match chars[open] {
        '«' => c == '»',
        _ => is_quote(c),
    };
    let mut i = open + 1;
    while i < chars.len() && !closes(chars[i]) {
        i += 1;
    }
    if i >= chars.len() {
        return Err(QueryError::new(open, "unclosed quote"));
    }
    let text: String = chars[open + 1..i].iter().collect();
    i += 1; // closing quote
    let mut near = None;
    if chars.get(i) == Some(&'~') {
        let tilde = i;
        i += 1;
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(QueryError::new(
                tilde,
                "expected a number of words after `~`",
            ));
        }
        let digits: String = chars[digits_start..i].iter().collect();
        let n = digits
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PROXIMITY).contains(n));
        let Some(n) = n else {
            return Err(QueryError::new(
                digits_start,
                format!("proximity must be between 1 and {MAX_PROXIMITY} words"),
            ));
        };
        near = Some(n);
    }
    if let Some(&c) = chars.get(i)
        && !c.is_whitespace()
        && c != ')'
        && c != '('
        && !opens_phrase(c)
    {
        return Err(QueryError::new(
            i,
            "expected a space or `)` after the closing quote",
        ));
    }
    Ok((Tok::Phrase { text, near }, i))
}

fn lex_regex(chars: &[char], open: usize) -> Result<(Tok, usize), QueryError> {
    let mut i = open + 1;
    let mut pattern = String::new();
    loop {
        match chars.get(i) {
            None => {
                return Err(QueryError::new(
                    open,
                    "unclosed regex: missing the final `/`",
                ));
            }
            Some('/') => break,
            Some('\\') => {
                // Keep the escape: the regex crate accepts `\/` as a literal slash.
                pattern.push('\\');
                if let Some(&next) = chars.get(i + 1) {
                    pattern.push(next);
                }
                i += 2;
            }
            Some(&c) => {
                pattern.push(c);
                i += 1;
            }
        }
    }
    let close = i;
    i += 1;
    if pattern.is_empty() {
        return Err(QueryError::new(open, "empty regex"));
    }
    let mut builder = RegexBuilder::new(&pattern);
    builder.size_limit(REGEX_SIZE_LIMIT);
    let mut flags = String::new();
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() || c == ')' {
            break;
        }
        match c {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            'U' => builder.swap_greed(true),
            _ => {
                return Err(QueryError::new(
                    i,
                    format!("unknown regex flag `{c}` (known: i, m, s, x, U)"),
                ));
            }
        };
        flags.push(c);
        i += 1;
    }
    let regex = builder.build().map_err(|e| regex_error(&e, open, close))?;
    let written: String = chars[open..i].iter().collect();
    let set_source = if flags.is_empty() {
        pattern
    } else {
        format!("(?{flags}){pattern}")
    };
    Ok((
        Tok::Regex {
            written,
            regex,
            set_source,
        },
        i,
    ))
}

/// Turns a regex build error into a query error pointing inside the regex. The regex crate
/// does not expose the error span, but its syntax error text draws a caret under the pattern
/// (4-space indent), which gives the column.
fn regex_error(e: &regex::Error, open: usize, close: usize) -> QueryError {
    match e {
        regex::Error::Syntax(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let column = lines
                .iter()
                .find(|l| l.contains('^') && l.chars().all(|c| c == ' ' || c == '^'))
                .and_then(|l| l.find('^'))
                .map(|col| col.saturating_sub(4));
            let what = lines
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or("syntax error");
            let position = match column {
                Some(col) => (open + 1 + col).min(close),
                None => open + 1,
            };
            QueryError::new(position, format!("invalid regex: {what}"))
        }
        regex::Error::CompiledTooBig(_) => QueryError::new(open, "regex is too large"),
        _ => QueryError::new(open, format!("invalid regex: {e}")),
    }
}

fn lex_bare(chars: &[char], start: usize) -> Result<(Tok, usize), QueryError> {
    let mut i = start;
    // A field scope: ASCII letters then `:`, not followed by `//` (so `https://…` stays a word).
    while i < chars.len() && chars[i].is_ascii_alphabetic() {
        i += 1;
    }
    if i > start
        && chars.get(i) == Some(&':')
        && !(chars.get(i + 1) == Some(&'/') && chars.get(i + 2) == Some(&'/'))
    {
        let name: String = chars[start..i].iter().collect();
        return match Field::from_name(&name) {
            Some(field) => Ok((Tok::Field(field), i + 1)),
            None => Err(QueryError::new(
                start,
                format!(
                    "unknown field `{name}:` (known fields: {}; quote the term to search for a colon)",
                    Field::ALL.map(Field::name).join(", ")
                ),
            )),
        };
    }
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == '(' || c == ')' || opens_phrase(c) {
            break;
        }
        i += 1;
    }
    let word: String = chars[start..i].iter().collect();
    let tok = match word.as_str() {
        "OR" => Tok::Or,
        "AND" => Tok::And,
        "NOT" => Tok::Not,
        _ => {
            if let Some(star) = word.find('*')
                && star + 1 != word.len()
            {
                let at = start + word[..star].chars().count();
                return Err(QueryError::new(
                    at,
                    "wildcard `*` is only allowed at the end of a word",
                ));
            }
            if let Some(tilde) = word.find('~')
                && word[tilde + 1..].starts_with(|c: char| c.is_ascii_digit())
            {
                let at = start + word[..tilde].chars().count();
                return Err(QueryError::new(
                    at,
                    "proximity `~N` applies only to a quoted phrase, e.g. \"moscow talks\"~5",
                ));
            }
            Tok::Word(word)
        }
    };
    Ok((tok, i))
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Char length of the source: the position reported for "missing something at the end".
    end: usize,
    options: MatchOptions,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn parse_query(&mut self) -> Result<Node, QueryError> {
        if self.tokens.is_empty() {
            return Err(QueryError::new(0, "empty query"));
        }
        let node = self.parse_or(0)?;
        if let Some(t) = self.peek() {
            // parse_or only stops early at a `)` it did not open.
            return Err(QueryError::new(t.start, "unmatched `)`"));
        }
        Ok(node)
    }

    fn parse_or(&mut self, depth: usize) -> Result<Node, QueryError> {
        let mut items = vec![self.parse_and(depth)?];
        while let Some(t) = self.peek() {
            if !matches!(t.tok, Tok::Or) {
                break;
            }
            let (op_start, op_end) = (t.start, t.end);
            self.pos += 1;
            self.expect_operand("OR", op_start, op_end)?;
            items.push(self.parse_and(depth)?);
        }
        Ok(flatten(items, true))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Node, QueryError> {
        let mut items = vec![self.parse_unary(depth)?];
        while let Some(t) = self.peek() {
            match t.tok {
                Tok::And => {
                    let (op_start, op_end) = (t.start, t.end);
                    self.pos += 1;
                    self.expect_operand("AND", op_start, op_end)?;
                }
                Tok::Or | Tok::RParen => break,
                _ => {}
            }
            items.push(self.parse_unary(depth)?);
        }
        Ok(flatten(items, false))
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Node, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(QueryError::new(
                self.end,
                "expected a term at the end of the query",
            ));
        };
        match t.tok {
            Tok::Not | Tok::Minus => {
                if depth >= MAX_NESTING {
                    return Err(QueryError::new(t.start, "query is nested too deeply"));
                }
                self.pos += 1;
                let op = if matches!(t.tok, Tok::Not) {
                    "NOT"
                } else {
                    "-"
                };
                self.expect_operand(op, t.start, t.end)?;
                let inner = self.parse_unary(depth + 1)?;
                Ok(Node::Not(Box::new(inner)))
            }
            _ => self.parse_primary(depth, None),
        }
    }

    /// Errors unless the next token can start an operand of the operator just consumed.
    fn expect_operand(&self, op: &str, op_start: usize, _op_end: usize) -> Result<(), QueryError> {
        match self.peek().map(|t| &t.tok) {
            None => Err(QueryError::new(
                op_start,
                format!("`{op}` has nothing after it"),
            )),
            Some(Tok::Or | Tok::And | Tok::RParen) => Err(QueryError::new(
                op_start,
                format!("`{op}` has no term after it"),
            )),
            Some(_) => Ok(()),
        }
    }

    fn parse_primary(
        &mut self,
        depth: usize,
        scope: Option<(FieldSet, usize)>,
    ) -> Result<Node, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(QueryError::new(
                self.end,
                "expected a term at the end of the query",
            ));
        };
        self.pos += 1;
        let fields = scope.map(|(f, _)| f);
        match t.tok {
            Tok::LParen => {
                if depth >= MAX_NESTING {
                    return Err(QueryError::new(t.start, "query is nested too deeply"));
                }
                if matches!(self.peek().map(|n| &n.tok), Some(Tok::RParen)) {
                    return Err(QueryError::new(t.start, "empty parentheses"));
                }
                if self.peek().is_none() {
                    return Err(QueryError::new(t.start, "unclosed `(`"));
                }
                let inner = self.parse_scoped_group(depth + 1, scope)?;
                match self.peek() {
                    Some(close) if matches!(close.tok, Tok::RParen) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(QueryError::new(t.start, "unclosed `(`")),
                }
            }
            Tok::Field(field) => {
                let name = field.name();
                match self.peek() {
                    Some(next) if next.start == t.end => match next.tok {
                        Tok::Word(_) | Tok::Phrase { .. } | Tok::Regex { .. } | Tok::LParen => {
                            self.parse_primary(depth, Some((FieldSet::only(field), t.start)))
                        }
                        _ => Err(QueryError::new(
                            next.start,
                            format!("expected a word, phrase, regex or `(` after `{name}:`"),
                        )),
                    },
                    _ => Err(QueryError::new(
                        t.start,
                        format!("`{name}:` must be directly followed by a term (no space)"),
                    )),
                }
            }
            Tok::Word(word) => word_term(&word, t.start, fields, self.options),
            Tok::Phrase { text, near } => phrase_term(&text, near, t.start, fields, self.options),
            Tok::Regex {
                written,
                regex,
                set_source,
            } => Ok(Node::Term(Term {
                written,
                scoped: fields.is_some(),
                fields: fields.unwrap_or(FieldSet::UNSCOPED),
                kind: TermKind::Regex { regex, set_source },
            })),
            Tok::RParen => Err(QueryError::new(t.start, "unmatched `)`")),
            Tok::Or | Tok::And => Err(QueryError::new(
                t.start,
                format!(
                    "`{}` needs a term on its left",
                    if matches!(t.tok, Tok::Or) {
                        "OR"
                    } else {
                        "AND"
                    }
                ),
            )),
            Tok::Not | Tok::Minus => {
                // Only reachable right after a field scope, which is rejected above.
                Err(QueryError::new(t.start, "expected a term"))
            }
        }
    }

    /// A parenthesized group, with an outer field scope pushed down onto its terms.
    fn parse_scoped_group(
        &mut self,
        depth: usize,
        scope: Option<(FieldSet, usize)>,
    ) -> Result<Node, QueryError> {
        let node = self.parse_or(depth)?;
        Ok(match scope {
            Some((fields, _)) => apply_scope(node, fields),
            None => node,
        })
    }
}

/// Pushes a field scope onto every term that has no explicit scope of its own.
fn apply_scope(node: Node, fields: FieldSet) -> Node {
    match node {
        Node::And(items) => Node::And(items.into_iter().map(|n| apply_scope(n, fields)).collect()),
        Node::Or(items) => Node::Or(items.into_iter().map(|n| apply_scope(n, fields)).collect()),
        Node::Not(inner) => Node::Not(Box::new(apply_scope(*inner, fields))),
        Node::Term(mut term) => {
            if !term.scoped {
                term.scoped = true;
                term.fields = fields;
            }
            Node::Term(term)
        }
    }
}

/// One-item groups collapse; nested groups of the same kind merge (`a (b c)` is one AND).
fn flatten(items: Vec<Node>, or: bool) -> Node {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::Or(inner) if or => out.extend(inner),
            Node::And(inner) if !or => out.extend(inner),
            other => out.push(other),
        }
    }
    if out.len() == 1 {
        return out.pop().expect("length checked just above");
    }
    if or { Node::Or(out) } else { Node::And(out) }
}

fn word_term(
    word: &str,
    start: usize,
    fields: Option<FieldSet>,
    options: MatchOptions,
) -> Result<Node, QueryError> {
    // `=word`: this word exactly, whatever the rule's languages.
    let (word_body, exact) = match word.strip_prefix('=') {
        Some(rest) if !rest.is_empty() => (rest, true),
        _ => (word, false),
    };
    let (body, prefix) = match word_body.strip_suffix('*') {
        Some(body) => (body, true),
        None => (word_body, false),
    };
    let folded = fold(body);
    if folded.is_empty() {
        let message = if prefix {
            "wildcard `*` needs at least one character before it"
        } else {
            "term is empty after normalization"
        };
        return Err(QueryError::new(start, message));
    }
    let kind = if options.any() && !exact && !prefix {
        TermKind::Forms {
            words: form_words(body, &folded, options),
            distance: None,
        }
    } else {
        TermKind::Literal { folded, prefix }
    };
    Ok(Node::Term(Term {
        written: word.to_string(),
        scoped: fields.is_some(),
        fields: fields.unwrap_or(FieldSet::UNSCOPED),
        kind,
    }))
}

/// The words of `folded` (the fold of `written`) with their variants under `options`. A word's
/// capitals as written (a name, an acronym) choose its paradigm, so written words are paired
/// with folded ones when folding kept the word count.
fn form_words(written: &str, folded: &str, options: MatchOptions) -> Vec<FormWord> {
    let folded_words: Vec<&str> = folded.split(' ').collect();
    // Hyphens and dashes fold to spaces (`Moscow-format` is two words).
    let written_words: Vec<&str> = written
        .split(|c: char| c.is_whitespace() || crate::text::is_dash(c))
        .filter(|w| !w.is_empty())
        .collect();
    let paired = written_words.len() == folded_words.len();
    folded_words
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let w = if paired { written_words[i] } else { f };
            FormWord {
                written: w.to_string(),
                folded: f.to_string(),
                variants: forms::expand(f, w, options),
            }
        })
        .collect()
}

fn phrase_term(
    text: &str,
    near: Option<u32>,
    start: usize,
    fields: Option<FieldSet>,
    options: MatchOptions,
) -> Result<Node, QueryError> {
    let folded = fold(text);
    if folded.is_empty() {
        return Err(QueryError::new(start, "empty phrase"));
    }
    let written = crate::text::collapse_whitespace(text);
    let words: Vec<Chunk> = folded.split(' ').map(phrase_word).collect();
    let kind = match near {
        // A phrase with a wildcard keeps its prefixes (prefix terms have no word forms).
        _ if options.any() && !words.iter().any(|w| w.prefix) => {
            let mut words = form_words(&written, &folded, options);
            if near.is_some() {
                // A repeated word in a proximity phrase is one condition, as without options.
                let mut seen = std::collections::HashSet::new();
                words.retain(|w| seen.insert(w.folded.clone()));
            }
            TermKind::Forms {
                words,
                distance: near,
            }
        }
        Some(distance) => {
            let mut unique: Vec<Chunk> = Vec::new();
            for w in words {
                if !unique.contains(&w) {
                    unique.push(w);
                }
            }
            TermKind::Near {
                words: unique,
                distance,
            }
        }
        None => {
            // Words up to and including each wildcard word form one literal chunk: only a
            // wildcard *inside* the phrase needs the slower chunk-by-chunk match.
            let mut chunks: Vec<Chunk> = Vec::new();
            let mut open = false; // the last chunk can still take more words
            for w in words {
                match chunks.last_mut() {
                    Some(last) if open => {
                        last.folded.push(' ');
                        last.folded.push_str(&w.folded);
                        last.prefix = w.prefix;
                    }
                    _ => chunks.push(w.clone()),
                }
                open = !w.prefix;
            }
            match <[Chunk; 1]>::try_from(chunks) {
                Ok([one]) => TermKind::Literal {
                    folded: one.folded,
                    prefix: one.prefix,
                },
                Err(chunks) => TermKind::Sequence { chunks },
            }
        }
    };
    Ok(Node::Term(Term {
        written,
        scoped: fields.is_some(),
        fields: fields.unwrap_or(FieldSet::UNSCOPED),
        kind,
    }))
}

/// One folded word of a phrase. A `*` ending a word (after a letter or digit) is a wildcard:
/// `"московск* формат*"`. Any other `*` is an ordinary character, as it always was in phrases.
fn phrase_word(word: &str) -> Chunk {
    match word.strip_suffix('*') {
        Some(body)
            if body
                .chars()
                .next_back()
                .is_some_and(crate::text::is_word_char) =>
        {
            Chunk {
                folded: body.to_string(),
                prefix: true,
            }
        }
        _ => Chunk {
            folded: word.to_string(),
            prefix: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, query, expected canonical form)
    #[test]
    fn parses_to_expected_structure() {
        let cases: &[(&str, &str, &str)] = &[
            ("bare_word", "Kabulov", "Kabulov"),
            ("phrase", "\"Moscow format\"", "\"Moscow format\""),
            ("typographic_quotes", "“Moscow format”", "\"Moscow format\""),
            (
                "low_and_high_quotes",
                "„Moscow format“",
                "\"Moscow format\"",
            ),
            ("guillemets", "«московский формат»", "\"московский формат\""),
            (
                "guillemets_near",
                "«Moscow talks»~3 x",
                "\"Moscow talks\"~3 AND x",
            ),
            (
                "guillemets_field",
                "title:«Moscow format»",
                "title:\"Moscow format\"",
            ),
            ("implicit_and", "a b c", "a AND b AND c"),
            ("explicit_and", "a AND b", "a AND b"),
            ("or", "a OR b", "a OR b"),
            ("and_binds_tighter_than_or", "a b OR c", "(a AND b) OR c"),
            ("or_then_and", "a OR b c", "a OR (b AND c)"),
            ("not_binds_tightest", "NOT a b", "(NOT a) AND b"),
            ("minus", "a -b", "a AND (NOT b)"),
            ("parens", "(a OR b) c", "(a OR b) AND c"),
            (
                "issue_example",
                "(\"Moscow format\" OR Kabulov OR Кабулов) -football",
                "(\"Moscow format\" OR Kabulov OR Кабулов) AND (NOT football)",
            ),
            (
                "field",
                "title:\"Moscow format\"",
                "title:\"Moscow format\"",
            ),
            ("field_group", "title:(a OR b)", "title:a OR title:b"),
            (
                "inner_field_wins",
                "title:(a content:b)",
                "title:a AND content:b",
            ),
            ("field_case_insensitive", "TITLE:x", "title:x"),
            ("prefix", "talib*", "talib*"),
            ("regex", "/kabul(ov)?/i", "/kabul(ov)?/i"),
            ("regex_escaped_slash", "/a\\/b/", "/a\\/b/"),
            ("near", "\"Moscow talks\"~5", "\"Moscow talks\"~5"),
            ("near_prefix", "\"Moscow talk*\"~3", "\"Moscow talk*\"~3"),
            (
                "phrase_inner_wildcards",
                "\"московск* формат*\"",
                "\"московск* формат*\"",
            ),
            (
                "phrase_last_wildcard",
                "\"Moscow talk*\"",
                "\"Moscow talk*\"",
            ),
            (
                "url_is_a_word",
                "https://example.com/x",
                "https://example.com/x",
            ),
            (
                "link_field_url",
                "link:https://example.com",
                "link:https://example.com",
            ),
            ("lowercase_or_is_a_word", "a or b", "a AND or AND b"),
            ("not_group", "NOT (a OR b)", "NOT (a OR b)"),
            ("double_not", "NOT NOT a", "NOT (NOT a)"),
            ("nested_groups_merge", "a (b c)", "a AND b AND c"),
            ("hyphenated_word", "al-Qaeda", "al-Qaeda"),
        ];
        for (name, src, want) in cases {
            let q = Query::parse(src).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(q.to_string(), *want, "case {name}");
        }
    }

    /// (name, query, expected position, expected message fragment)
    #[test]
    fn rejects_bad_queries_with_position() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("empty", "", 0, "empty query"),
            ("blank", "   ", 0, "empty query"),
            ("unclosed_paren", "(a OR b", 0, "unclosed `(`"),
            ("unclosed_inner_paren", "x (a (b)", 2, "unclosed `(`"),
            ("unmatched_close", "a OR b)", 6, "unmatched `)`"),
            ("empty_parens", "a ()", 2, "empty parentheses"),
            ("empty_phrase", "a \"\"", 2, "empty phrase"),
            ("blank_phrase", "\"  \"", 0, "empty phrase"),
            ("unclosed_quote", "a \"Moscow", 2, "unclosed quote"),
            ("unknown_field", "titel:x", 0, "unknown field `titel:`"),
            (
                "field_without_term",
                "title:",
                0,
                "must be directly followed",
            ),
            (
                "field_then_space",
                "title: x",
                0,
                "must be directly followed",
            ),
            ("invalid_regex", "a /kabul(ov/i", 8, "invalid regex"),
            ("unknown_regex_flag", "/x/q", 3, "unknown regex flag `q`"),
            ("empty_regex", "//", 0, "empty regex"),
            ("unclosed_regex", "a /kab", 2, "unclosed regex"),
            ("dangling_or", "a OR", 2, "`OR` has nothing after it"),
            ("dangling_and", "a AND", 2, "`AND` has nothing after it"),
            ("dangling_not", "a NOT", 2, "`NOT` has nothing after it"),
            ("leading_or", "OR a", 0, "`OR` needs a term on its left"),
            (
                "double_operator",
                "a OR AND b",
                2,
                "`OR` has no term after it",
            ),
            (
                "or_before_paren",
                "(a OR) b",
                3,
                "`OR` has no term after it",
            ),
            (
                "dangling_minus",
                "a - b",
                2,
                "`-` must be directly followed",
            ),
            ("tilde_without_number", "\"a b\"~", 5, "expected a number"),
            ("tilde_zero", "\"a b\"~0", 6, "proximity must be between"),
            (
                "tilde_huge",
                "\"a b\"~99999999999",
                6,
                "proximity must be between",
            ),
            (
                "tilde_on_word",
                "word~3",
                4,
                "applies only to a quoted phrase",
            ),
            ("star_inside_word", "ta*lib", 2, "only allowed at the end"),
            ("lone_star", "*", 0, "needs at least one character"),
            ("junk_after_phrase", "\"a\"b", 3, "expected a space"),
            (
                "position_counts_chars",
                "Кабулов OR",
                8,
                "`OR` has nothing after it",
            ),
            (
                "ignorable_only_word",
                "\u{200B}",
                0,
                "empty after normalization",
            ),
        ];
        for (name, src, pos, fragment) in cases {
            match Query::parse(src) {
                Ok(q) => panic!("case {name}: parsed as {q}"),
                Err(e) => {
                    assert!(
                        e.message.contains(fragment),
                        "case {name}: message {:?}",
                        e.message
                    );
                    assert_eq!(e.position, *pos, "case {name}: {e}");
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for src in [
            "(".repeat(100_000),
            "NOT ".repeat(100_000) + "a",
            "-".repeat(100_000) + "a",
        ] {
            let err = Query::parse(&src).expect_err("too deep");
            assert!(
                err.message.contains("nested too deeply") || err.message.contains("unclosed"),
                "{err}"
            );
        }
        let ok = "(".repeat(MAX_NESTING - 1) + "a" + &")".repeat(MAX_NESTING - 1);
        assert!(Query::parse(&ok).is_ok());
    }

    #[test]
    fn caret_points_at_the_offending_char() {
        let src = "Кабулов OR (x";
        let err = Query::parse(src).expect_err("unclosed");
        assert_eq!(err.caret(src), "Кабулов OR (x\n           ^");
        assert_eq!(err.to_string(), "unclosed `(` at position 11");
    }
}
