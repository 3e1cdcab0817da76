//! The compiled rule set: one Aho-Corasick automaton over the literals that can trigger a rule.
//!
//! Compiling: every literal (word, phrase, prefix, proximity word) of every rule is folded and
//! deduplicated into a *pattern*. For each rule we derive *requirement groups*: sets of
//! patterns such that, for the rule to be true, at least one pattern of every group must occur
//! (`Kabulov talks -football` → `{kabulov}`, `{talks}`; `(a OR b) c` → `{a, b}`, `{c}`).
//! Grouped patterns go into one Aho-Corasick automaton; a rule becomes a *candidate* only when
//! all its groups hit, so `Kabulov talks` costs nothing on a text that says `talks` but not
//! `Kabulov`. Patterns in no group (only under `NOT`) are looked up lazily, when a candidate
//! needs them. Rules with no group at all (`NOT x`, regex-only) are on the small "always
//! evaluate" list; all regexes share one `RegexSet` pass per field.
//!
//! Matching a document: fold each needed field once ([`PreparedDocument`]), run the automaton
//! over it once (overlapping, so `moscow` and `moscow format` both report), keep the hits that
//! sit on word boundaries, then evaluate only the candidates plus the "always" list. Cost grows
//! with the text and the number of *hits*, not with the number of rules.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder, SetMatches};
use serde::{Deserialize, Serialize};

use super::query::{Node, Query, TermKind};
use super::snippet::{LIST_SEPARATOR, snippet};
use super::{Document, Field, FieldSet};
use crate::text::{Folded, collapse_whitespace, fold_with_map, is_unspaced_script, is_word_char};

/// Rule sets with at most this many trigger patterns get a full DFA (fastest scan, memory grows
/// with patterns × alphabet); bigger ones use the contiguous NFA, which stays compact.
const DFA_MAX_PATTERNS: usize = 5_000;

/// Requirement groups tracked per rule (bits of a `u64`); further groups are ignored, which
/// only makes more rules candidates.
const MAX_GROUPS: usize = 64;

/// Compiled-size limit for the combined `RegexSet`, in bytes. Above it, regexes run one by one
/// (same results, slower): a size error must never reject a config whose regexes each compiled.
const REGEX_SET_SIZE_LIMIT: usize = 64 << 20;

/// All rules, compiled for matching many documents.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Folded text of every distinct literal; a pattern id indexes this and the vectors below.
    patterns: Vec<String>,
    /// Fields in which each pattern is looked for (union over the terms that use it).
    pattern_fields: Vec<FieldSet>,
    /// Whether each pattern is in the automaton (a trigger) or looked up lazily.
    in_automaton: Vec<bool>,
    /// Over the trigger patterns; automaton pattern `i` is pattern id `automaton_ids[i]`.
    /// `None` when no rule has a trigger.
    automaton: Option<AhoCorasick>,
    automaton_ids: Vec<u32>,
    /// `triggers[pattern]`: the (rule, requirement group) pairs this pattern satisfies.
    triggers: Vec<Vec<(u32, u8)>>,
    /// Number of requirement groups of each rule (0 for rules on the `always` list).
    group_counts: Vec<u8>,
    /// Rules that can match without any literal hit (`NOT x`, regex-only): evaluated always.
    always: Vec<u32>,
    /// Fields the automaton scans: where trigger patterns are looked for.
    scan_fields: FieldSet,
    /// Every regex term of every rule; `CKind::Regex::set_index` indexes it. `None` if there are
    /// no regexes or the set was too large to build (then each regex runs on its own).
    regex_set: Option<RegexSet>,
}

/// A rule that matched a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    /// Index of the rule in the `Vec<Query>` given to [`RuleSet::new`].
    pub rule: usize,
    /// The positive terms (not under `NOT`) that occur in the document, one entry per term and
    /// field, in query order then field order. Empty for a purely negative rule.
    pub terms: Vec<MatchedTerm>,
}

/// Where one query term was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedTerm {
    /// The term as written in the query: `Moscow format`, `talib*`, `/kabul(ov)?/i`.
    pub term: String,
    pub field: Field,
    /// About 120 chars of the field's original text around the first occurrence, whitespace
    /// collapsed, with `…` where it was cut.
    pub snippet: String,
    /// Byte range of the occurrence inside `snippet`.
    pub highlight: Range<usize>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    root: CNode,
    terms: Vec<CTerm>,
}

#[derive(Debug, Clone)]
enum CNode {
    And(Vec<CNode>),
    Or(Vec<CNode>),
    Not(Box<CNode>),
    /// Index into `CompiledRule::terms`.
    Leaf(usize),
}

#[derive(Debug, Clone)]
struct CTerm {
    written: String,
    fields: FieldSet,
    /// Under an even number of `NOT`s: reported in [`RuleHit::terms`] when present.
    positive: bool,
    kind: CKind,
}

#[derive(Debug, Clone)]
enum CKind {
    Literal { pattern: u32, prefix: bool },
    Near { patterns: Vec<u32>, distance: u32 },
    Regex { regex: Regex, set_index: usize },
}

/// A document with each field folded at most once, lazily (only fields some rule looks at).
#[derive(Debug)]
pub struct PreparedDocument<'a> {
    fields: [PreparedField<'a>; 7],
}

#[derive(Debug)]
struct PreparedField<'a> {
    /// Plain text as given (list fields joined with [`LIST_SEPARATOR`]).
    original: Cow<'a, str>,
    folded: OnceCell<Folded>,
    /// Whitespace-collapsed original: what regexes run on.
    collapsed: OnceCell<String>,
    /// Byte offsets in the folded text where words start (for proximity).
    word_starts: OnceCell<Vec<u32>>,
}

impl<'a> PreparedField<'a> {
    fn new(original: Cow<'a, str>) -> Self {
        PreparedField {
            original,
            folded: OnceCell::new(),
            collapsed: OnceCell::new(),
            word_starts: OnceCell::new(),
        }
    }

    fn folded(&self) -> &Folded {
        self.folded.get_or_init(|| fold_with_map(&self.original))
    }

    fn collapsed(&self) -> &str {
        self.collapsed
            .get_or_init(|| collapse_whitespace(&self.original))
    }

    /// Index of the word that contains (or follows) folded byte `offset`.
    fn word_index(&self, offset: u32) -> usize {
        let starts = self.word_starts.get_or_init(|| {
            let mut starts = Vec::new();
            let mut in_word = false;
            for (i, c) in self.folded().text.char_indices() {
                let w = is_word_char(c);
                if w && (!in_word || is_unspaced_script(c)) {
                    starts.push(i as u32);
                }
                in_word = w;
            }
            starts
        });
        starts.partition_point(|&s| s <= offset)
    }
}

impl<'a> PreparedDocument<'a> {
    /// Wraps `doc` for matching. Cheap: fields are folded on first use.
    pub fn new(doc: &'a Document) -> Self {
        let joined = |values: &[String]| -> Cow<'a, str> {
            match values {
                [] => Cow::Borrowed(""),
                [one] => Cow::Owned(one.clone()),
                many => Cow::Owned(many.join(&LIST_SEPARATOR.to_string())),
            }
        };
        PreparedDocument {
            fields: [
                PreparedField::new(Cow::Borrowed(&doc.title)),
                PreparedField::new(Cow::Borrowed(&doc.summary)),
                PreparedField::new(Cow::Borrowed(&doc.content)),
                PreparedField::new(joined(&doc.authors)),
                PreparedField::new(joined(&doc.categories)),
                PreparedField::new(Cow::Borrowed(&doc.link)),
                PreparedField::new(Cow::Borrowed(&doc.feed)),
            ],
        }
    }

    fn field(&self, field: Field) -> &PreparedField<'a> {
        &self.fields[field.index()]
    }
}

/// One occurrence of a pattern whose start is on a word boundary.
#[derive(Debug, Clone, Copy)]
struct Hit {
    pattern: u32,
    field: Field,
    /// Byte range in the field's folded text.
    start: u32,
    end: u32,
    /// The end is on a word boundary too (a whole-word match, not only a prefix match).
    whole: bool,
}

impl Hit {
    /// The hit of `pattern` at `start..end` of `text`, if its start is on a word boundary.
    fn at(text: &str, start: usize, end: usize, pattern: u32, field: Field) -> Option<Hit> {
        let inner = text.get(start..end)?;
        let first = inner.chars().next()?;
        let last = inner.chars().next_back()?;
        if !boundary_ok(text.get(..start)?.chars().next_back(), first) {
            return None;
        }
        Some(Hit {
            pattern,
            field,
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
            whole: boundary_ok(text.get(end..)?.chars().next(), last),
        })
    }
}

/// Accumulates the pieces of a [`RuleSet`] while queries are compiled.
#[derive(Default)]
struct Compiler {
    patterns: Vec<String>,
    pattern_fields: Vec<FieldSet>,
    ids: HashMap<String, u32>,
    regex_sources: Vec<String>,
}

impl Compiler {
    fn intern(&mut self, folded: &str, fields: FieldSet) -> u32 {
        if let Some(&id) = self.ids.get(folded) {
            self.pattern_fields[id as usize] = self.pattern_fields[id as usize].union(fields);
            return id;
        }
        let id = u32::try_from(self.patterns.len()).expect("fewer than 4 billion distinct terms");
        self.patterns.push(folded.to_string());
        self.pattern_fields.push(fields);
        self.ids.insert(folded.to_string(), id);
        id
    }

    fn node(&mut self, node: Node, positive: bool, terms: &mut Vec<CTerm>) -> CNode {
        match node {
            Node::And(items) => CNode::And(
                items
                    .into_iter()
                    .map(|n| self.node(n, positive, terms))
                    .collect(),
            ),
            Node::Or(items) => CNode::Or(
                items
                    .into_iter()
                    .map(|n| self.node(n, positive, terms))
                    .collect(),
            ),
            Node::Not(inner) => CNode::Not(Box::new(self.node(*inner, !positive, terms))),
            Node::Term(term) => {
                let kind = match term.kind {
                    TermKind::Literal { folded, prefix } => CKind::Literal {
                        pattern: self.intern(&folded, term.fields),
                        prefix,
                    },
                    TermKind::Near { words, distance } => CKind::Near {
                        patterns: words.iter().map(|w| self.intern(w, term.fields)).collect(),
                        distance,
                    },
                    TermKind::Regex { regex, set_source } => {
                        self.regex_sources.push(set_source);
                        CKind::Regex {
                            regex,
                            set_index: self.regex_sources.len() - 1,
                        }
                    }
                };
                terms.push(CTerm {
                    written: term.written,
                    fields: term.fields,
                    positive,
                    kind,
                });
                CNode::Leaf(terms.len() - 1)
            }
        }
    }
}

impl RuleSet {
    /// Compiles `queries` (rule `i` is `queries[i]`) into one automaton.
    pub fn new(queries: Vec<Query>) -> RuleSet {
        let mut compiler = Compiler::default();
        let mut rules = Vec::with_capacity(queries.len());
        for query in queries {
            let mut terms = Vec::new();
            let root = compiler.node(query.root, true, &mut terms);
            rules.push(CompiledRule { root, terms });
        }
        let Compiler {
            patterns,
            pattern_fields,
            regex_sources,
            ..
        } = compiler;

        let mut triggers: Vec<Vec<(u32, u8)>> = vec![Vec::new(); patterns.len()];
        let mut always = Vec::new();
        let mut group_counts = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 4 billion rules");
            let mut groups = requirement_groups(&rule.root, &rule.terms);
            // Dropping groups only weakens the candidate test, never makes it wrong.
            groups.truncate(MAX_GROUPS);
            if groups.is_empty() {
                always.push(i);
            }
            group_counts.push(groups.len() as u8);
            for (g, group) in groups.into_iter().enumerate() {
                for p in group {
                    triggers[p as usize].push((i, g as u8));
                }
            }
        }
        let mut in_automaton = vec![false; patterns.len()];
        let mut automaton_ids = Vec::new();
        let mut scan_fields = FieldSet::default();
        for (p, t) in triggers.iter_mut().enumerate() {
            t.dedup();
            if !t.is_empty() {
                in_automaton[p] = true;
                automaton_ids.push(p as u32);
                scan_fields = scan_fields.union(pattern_fields[p]);
            }
        }
        let automaton = (!automaton_ids.is_empty())
            .then(|| build_automaton(automaton_ids.iter().map(|&p| patterns[p as usize].as_str())));
        let regex_set = if regex_sources.is_empty() {
            None
        } else {
            RegexSetBuilder::new(&regex_sources)
                .size_limit(REGEX_SET_SIZE_LIMIT)
                .build()
                .ok()
        };
        RuleSet {
            rules,
            patterns,
            pattern_fields,
            in_automaton,
            automaton,
            automaton_ids,
            triggers,
            group_counts,
            always,
            scan_fields,
            regex_set,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that match `doc`, in index order, each with the terms that explain it.
    pub fn matches(&self, doc: &Document) -> Vec<RuleHit> {
        self.matches_prepared(&PreparedDocument::new(doc))
    }

    /// [`RuleSet::matches`] on a document prepared once, e.g. to run several rule sets.
    pub fn matches_prepared(&self, doc: &PreparedDocument<'_>) -> Vec<RuleHit> {
        let hits = self.scan(doc);
        let mut candidates: Vec<u32> = self.always.clone();
        // Groups hit so far by each multi-group rule (bit g = group g). Dense: zeroing one word
        // per rule is cheaper than hashing the thousands of updates common words cause.
        let mut groups_hit: Vec<u64> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        let mut last = None;
        for h in &hits {
            if last == Some(h.pattern) {
                continue;
            }
            last = Some(h.pattern);
            for &(rule, group) in &self.triggers[h.pattern as usize] {
                if self.group_counts[rule as usize] == 1 {
                    candidates.push(rule);
                    continue;
                }
                if groups_hit.is_empty() {
                    groups_hit = vec![0; self.rules.len()];
                }
                let mask = &mut groups_hit[rule as usize];
                if *mask == 0 {
                    touched.push(rule);
                }
                *mask |= 1 << group;
            }
        }
        candidates.extend(touched.into_iter().filter(|&rule| {
            groups_hit[rule as usize].count_ones() == u32::from(self.group_counts[rule as usize])
        }));
        candidates.sort_unstable();
        candidates.dedup();
        let ctx = Ctx {
            set: self,
            doc,
            hits: &hits,
            lazy_hits: RefCell::new(HashMap::new()),
            lazy_first: RefCell::new(HashMap::new()),
            regex_matches: Default::default(),
        };
        let mut out = Vec::new();
        for r in candidates {
            let rule = &self.rules[r as usize];
            if ctx.eval(rule, &rule.root) {
                out.push(RuleHit {
                    rule: r as usize,
                    terms: ctx.explain(rule),
                });
            }
        }
        out
    }

    /// Runs the automaton over every scanned field; returns boundary-checked hits sorted by
    /// (pattern, field, start).
    fn scan(&self, doc: &PreparedDocument<'_>) -> Vec<Hit> {
        let mut hits = Vec::new();
        let Some(ac) = &self.automaton else {
            return hits;
        };
        for field in self.scan_fields.iter() {
            let pf = doc.field(field);
            if pf.original.is_empty() {
                continue;
            }
            let text = pf.folded().text.as_str();
            for m in ac.find_overlapping_iter(text) {
                let pattern = self.automaton_ids[m.pattern().as_usize()];
                if !self.pattern_fields[pattern as usize].contains(field) {
                    continue;
                }
                hits.extend(Hit::at(text, m.start(), m.end(), pattern, field));
            }
        }
        hits.sort_unstable_by_key(|h| (h.pattern, h.field, h.start));
        hits
    }

    /// All boundary-checked occurrences of a pattern that is not in the automaton, found with
    /// a substring search of each field it applies to.
    fn search(&self, doc: &PreparedDocument<'_>, pattern: u32) -> Vec<Hit> {
        let mut hits = Vec::new();
        for field in self.pattern_fields[pattern as usize].iter() {
            self.search_field(doc, pattern, field, |hit| {
                hits.push(hit);
                false
            });
        }
        hits
    }

    /// Feeds `f` the boundary-checked occurrences of a non-automaton pattern in one field, in
    /// order, until `f` returns true.
    fn search_field(
        &self,
        doc: &PreparedDocument<'_>,
        pattern: u32,
        field: Field,
        mut f: impl FnMut(Hit) -> bool,
    ) {
        let needle = self.patterns[pattern as usize].as_str();
        let pf = doc.field(field);
        if pf.original.is_empty() || needle.is_empty() {
            return;
        }
        let text = pf.folded().text.as_str();
        if !self_overlapping(needle) {
            // Occurrences of a needle that cannot overlap itself are exactly the
            // non-overlapping ones; `match_indices` builds its searcher once.
            for (start, _) in text.match_indices(needle) {
                if let Some(hit) = Hit::at(text, start, start + needle.len(), pattern, field)
                    && f(hit)
                {
                    return;
                }
            }
            return;
        }
        // Restart one char after each occurrence so overlapping occurrences are all seen.
        let step = needle.chars().next().map_or(1, char::len_utf8);
        let mut from = 0;
        while let Some(i) = text.get(from..).and_then(|rest| rest.find(needle)) {
            let start = from + i;
            if let Some(hit) = Hit::at(text, start, start + needle.len(), pattern, field)
                && f(hit)
            {
                return;
            }
            from = start + step;
        }
    }
}

/// Whether two occurrences of `needle` can overlap (a proper prefix is also a suffix, as in
/// `abab` or `a a`).
fn self_overlapping(needle: &str) -> bool {
    needle
        .char_indices()
        .skip(1)
        .any(|(i, _)| needle.starts_with(&needle[i..]))
}

fn build_automaton<'p>(patterns: impl Iterator<Item = &'p str> + Clone) -> AhoCorasick {
    let kind = if patterns.clone().count() <= DFA_MAX_PATTERNS {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    };
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(Some(kind))
        .build(patterns.clone())
        .or_else(|_| {
            // A DFA/contiguous NFA can exceed its size limits; the noncontiguous NFA cannot
            // for any realistic rule set.
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                .build(patterns)
        })
        .expect("aho-corasick NFA limits (2^31 states) are far above any rule set")
}

/// Whether a hit edge is a word boundary: `outside` is the char next to the hit (None at the
/// text's edge), `inside` the hit's char at that edge. Only word-char against word-char is a
/// non-boundary, and never next to a script written without spaces (CJK, Thai…).
fn boundary_ok(outside: Option<char>, inside: char) -> bool {
    match outside {
        None => true,
        Some(o) => {
            !(is_word_char(o) && is_word_char(inside))
                || is_unspaced_script(o)
                || is_unspaced_script(inside)
        }
    }
}

/// Requirement groups of `node`: for `node` to be true, at least one pattern of every group
/// must occur (as a start-boundary hit). Empty: `node` can be true with no literal hit at all.
fn requirement_groups(node: &CNode, terms: &[CTerm]) -> Vec<Vec<u32>> {
    match node {
        CNode::Leaf(i) => match &terms[*i].kind {
            CKind::Literal { pattern, .. } => vec![vec![*pattern]],
            // Every word must occur.
            CKind::Near { patterns, .. } => patterns.iter().map(|&p| vec![p]).collect(),
            CKind::Regex { .. } => Vec::new(),
        },
        // All children must be true: all their groups are required.
        CNode::And(items) => items
            .iter()
            .flat_map(|n| requirement_groups(n, terms))
            .collect(),
        // Any child may be the true one: one group, the union of every child's patterns, and
        // only if every child has a requirement.
        CNode::Or(items) => {
            let mut union = Vec::new();
            for n in items {
                let groups = requirement_groups(n, terms);
                if groups.is_empty() {
                    return Vec::new();
                }
                union.extend(groups.into_iter().flatten());
            }
            union.sort_unstable();
            union.dedup();
            vec![union]
        }
        CNode::Not(_) => Vec::new(),
    }
}

/// Per-document evaluation state.
struct Ctx<'d, 'a> {
    set: &'d RuleSet,
    doc: &'d PreparedDocument<'a>,
    /// Automaton hits, sorted by (pattern, field, start).
    hits: &'d [Hit],
    /// All hits of non-trigger patterns, searched on first use (proximity needs them all).
    lazy_hits: RefCell<HashMap<u32, Vec<Hit>>>,
    /// First qualifying hit of a non-trigger literal per (pattern, field, prefix?): most
    /// lookups only need existence, and common words stop the search at their first use.
    lazy_first: RefCell<HashMap<(u32, Field, bool), Option<Hit>>>,
    /// Which regexes of the set match each field, computed on first use.
    regex_matches: [OnceCell<SetMatches>; 7],
}

/// Where a term matched, in the coordinates of the text it was matched against.
enum Found {
    /// Byte range in the field's folded text.
    Folded(Range<usize>),
    /// Byte range in the field's whitespace-collapsed original text.
    Collapsed(Range<usize>),
}

impl Ctx<'_, '_> {
    fn eval(&self, rule: &CompiledRule, node: &CNode) -> bool {
        match node {
            CNode::And(items) => items.iter().all(|n| self.eval(rule, n)),
            CNode::Or(items) => items.iter().any(|n| self.eval(rule, n)),
            CNode::Not(inner) => !self.eval(rule, inner),
            CNode::Leaf(i) => {
                let term = &rule.terms[*i];
                term.fields.iter().any(|f| self.occurs(term, f))
            }
        }
    }

    /// Whether `term` occurs in `field` (cheaper than [`Ctx::find`] for regexes).
    fn occurs(&self, term: &CTerm, field: Field) -> bool {
        match (&term.kind, &self.set.regex_set) {
            (CKind::Regex { set_index, .. }, Some(set)) => self.regex_matches[field as usize]
                .get_or_init(|| set.matches(self.doc.field(field).collapsed()))
                .matched(*set_index),
            _ => self.find(term, field).is_some(),
        }
    }

    /// The positive terms present in the document, with snippets.
    fn explain(&self, rule: &CompiledRule) -> Vec<MatchedTerm> {
        let mut out = Vec::new();
        for term in rule.terms.iter().filter(|t| t.positive) {
            for field in term.fields.iter() {
                let Some(found) = self.find(term, field) else {
                    continue;
                };
                let pf = self.doc.field(field);
                let list = matches!(field, Field::Author | Field::Category);
                let (snippet, highlight) = match found {
                    Found::Folded(r) => snippet(&pf.original, pf.folded().original_range(r), list),
                    Found::Collapsed(r) => snippet(pf.collapsed(), r, list),
                };
                out.push(MatchedTerm {
                    term: term.written.clone(),
                    field,
                    snippet,
                    highlight,
                });
            }
        }
        out
    }

    /// Calls `f` with the hits of `pattern` (all fields, sorted by field then start).
    fn with_hits<R>(&self, pattern: u32, f: impl FnOnce(&[Hit]) -> R) -> R {
        if self.set.in_automaton[pattern as usize] {
            let lo = self.hits.partition_point(|h| h.pattern < pattern);
            let hi = lo + self.hits[lo..].partition_point(|h| h.pattern == pattern);
            return f(&self.hits[lo..hi]);
        }
        if !self.lazy_hits.borrow().contains_key(&pattern) {
            let found = self.set.search(self.doc, pattern);
            self.lazy_hits.borrow_mut().insert(pattern, found);
        }
        let lazy = self.lazy_hits.borrow();
        f(lazy.get(&pattern).map_or(&[], Vec::as_slice))
    }

    /// First occurrence of a literal in `field` (whole word unless `prefix`).
    fn first_hit(&self, pattern: u32, field: Field, prefix: bool) -> Option<Hit> {
        let qualifies = |h: &Hit| h.field == field && (prefix || h.whole);
        if self.set.in_automaton[pattern as usize] {
            return self.with_hits(pattern, |hits| hits.iter().copied().find(qualifies));
        }
        let key = (pattern, field, prefix);
        if let Some(found) = self.lazy_first.borrow().get(&key) {
            return *found;
        }
        let mut found = None;
        self.set.search_field(self.doc, pattern, field, |h| {
            if qualifies(&h) {
                found = Some(h);
            }
            found.is_some()
        });
        self.lazy_first.borrow_mut().insert(key, found);
        found
    }

    /// First occurrence of `term` in `field`.
    fn find(&self, term: &CTerm, field: Field) -> Option<Found> {
        match &term.kind {
            CKind::Literal { pattern, prefix } => self
                .first_hit(*pattern, field, *prefix)
                .map(|h| Found::Folded(h.start as usize..h.end as usize)),
            CKind::Near { patterns, distance } => {
                self.near(patterns, *distance, field).map(Found::Folded)
            }
            CKind::Regex { regex, .. } => {
                let text = self.doc.field(field).collapsed();
                regex.find(text).map(|m| Found::Collapsed(m.range()))
            }
        }
    }

    /// Smallest window of `field` holding every pattern as a whole word, if its span (last
    /// word index − first word index) is at most `distance`. Returns the folded byte range.
    fn near(&self, patterns: &[u32], distance: u32, field: Field) -> Option<Range<usize>> {
        // (word index, which pattern, start, end), sorted by position.
        let mut occ: Vec<(usize, usize, u32, u32)> = Vec::new();
        let pf = self.doc.field(field);
        for (k, &p) in patterns.iter().enumerate() {
            let before = occ.len();
            self.with_hits(p, |hits| {
                occ.extend(
                    hits.iter()
                        .filter(|h| h.field == field && h.whole)
                        .map(|h| (pf.word_index(h.start), k, h.start, h.end)),
                );
            });
            if occ.len() == before {
                return None;
            }
        }
        occ.sort_unstable();
        // Minimum window covering all k patterns (two pointers over positions).
        let k = patterns.len();
        let mut counts = vec![0usize; k];
        let mut covered = 0;
        let mut best: Option<(usize, usize, usize)> = None; // (span, lo, hi)
        let mut lo = 0;
        for hi in 0..occ.len() {
            if counts[occ[hi].1] == 0 {
                covered += 1;
            }
            counts[occ[hi].1] += 1;
            while covered == k {
                let span = occ[hi].0 - occ[lo].0;
                if best.is_none_or(|(s, _, _)| span < s) {
                    best = Some((span, lo, hi));
                }
                counts[occ[lo].1] -= 1;
                if counts[occ[lo].1] == 0 {
                    covered -= 1;
                }
                lo += 1;
            }
        }
        let (span, lo, hi) = best?;
        if span > distance as usize {
            return None;
        }
        let start = occ[lo..=hi].iter().map(|o| o.2).min()?;
        let end = occ[lo..=hi].iter().map(|o| o.3).max()?;
        Some(start as usize..end as usize)
    }
}
