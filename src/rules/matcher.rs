//! The compiled rule set: one Aho-Corasick automaton over every literal of every rule.
//!
//! Matching a document: fold each needed field once ([`PreparedDocument`]), run the automaton
//! over it once (overlapping, so `moscow` and `moscow format` both report), keep the hits that
//! sit on word boundaries, then evaluate only the rules that one of those hits can make true
//! (plus the "always evaluate" rules that have no required literal: pure negations, regexes).
//! Cost therefore grows with the text and the number of *hits*, not the number of rules.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::query::{Node, Query, TermKind};
use super::snippet::{LIST_SEPARATOR, snippet};
use super::{Document, Field, FieldSet};
use crate::text::{Folded, collapse_whitespace, fold_with_map, is_unspaced_script, is_word_char};

/// Rule sets with at most this many literal patterns get a full DFA (fastest scan, memory grows
/// with patterns × alphabet); bigger ones use the contiguous NFA, which stays compact.
const DFA_MAX_PATTERNS: usize = 5_000;

/// All rules, compiled for matching many documents.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Over the folded form of every literal (word, phrase, prefix, proximity word) of every
    /// rule, deduplicated: pattern id = index into `triggers`. `None` when there are no literals.
    automaton: Option<AhoCorasick>,
    /// `triggers[pattern]`: rules that may match when this pattern hits (sorted rule indices).
    triggers: Vec<Vec<u32>>,
    /// Rules that can match without any literal hit (`NOT x`, regex-only): evaluated always.
    always: Vec<u32>,
    /// Fields any literal looks in: the only ones folded and scanned.
    scan_fields: FieldSet,
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
    Regex(Regex),
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

impl RuleSet {
    /// Compiles `queries` (rule `i` is `queries[i]`) into one automaton.
    pub fn new(queries: Vec<Query>) -> RuleSet {
        let mut patterns: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut intern = |s: &str| -> u32 {
            if let Some(&id) = ids.get(s) {
                return id;
            }
            let id = u32::try_from(patterns.len()).expect("fewer than 4 billion distinct terms");
            patterns.push(s.to_string());
            ids.insert(s.to_string(), id);
            id
        };
        let mut rules = Vec::with_capacity(queries.len());
        let mut required: Vec<Option<Vec<u32>>> = Vec::with_capacity(queries.len());
        let mut scan_fields = FieldSet::default();
        for query in queries {
            let mut terms = Vec::new();
            let root = compile_node(query.root, true, &mut terms, &mut intern);
            for t in &terms {
                if !matches!(t.kind, CKind::Regex(_)) {
                    scan_fields = scan_fields.union(t.fields);
                }
            }
            required.push(required_patterns(&root, &terms));
            rules.push(CompiledRule { root, terms });
        }
        let mut triggers: Vec<Vec<u32>> = vec![Vec::new(); patterns.len()];
        let mut always = Vec::new();
        for (i, req) in required.into_iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 4 billion rules");
            match req {
                Some(pats) => pats.into_iter().for_each(|p| triggers[p as usize].push(i)),
                None => always.push(i),
            }
        }
        for t in &mut triggers {
            t.dedup();
        }
        let automaton = (!patterns.is_empty()).then(|| build_automaton(&patterns));
        RuleSet {
            rules,
            automaton,
            triggers,
            always,
            scan_fields,
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
        let mut last = None;
        for h in &hits {
            if last != Some(h.pattern) {
                last = Some(h.pattern);
                candidates.extend_from_slice(&self.triggers[h.pattern as usize]);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let ctx = Ctx { doc, hits: &hits };
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
                let (start, end) = (m.start(), m.end());
                let (Some(before), Some(inner), Some(after)) =
                    (text.get(..start), text.get(start..end), text.get(end..))
                else {
                    continue; // not on char boundaries: cannot happen for UTF-8 patterns
                };
                let (Some(first), Some(last)) = (inner.chars().next(), inner.chars().next_back())
                else {
                    continue;
                };
                if !boundary_ok(before.chars().next_back(), first) {
                    continue;
                }
                hits.push(Hit {
                    pattern: m.pattern().as_u32(),
                    field,
                    start: start as u32,
                    end: end as u32,
                    whole: boundary_ok(after.chars().next(), last),
                });
            }
        }
        hits.sort_unstable_by_key(|h| (h.pattern, h.field, h.start));
        hits
    }
}

fn build_automaton(patterns: &[String]) -> AhoCorasick {
    let kind = if patterns.len() <= DFA_MAX_PATTERNS {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    };
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(Some(kind))
        .build(patterns)
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

fn compile_node(
    node: Node,
    positive: bool,
    terms: &mut Vec<CTerm>,
    intern: &mut impl FnMut(&str) -> u32,
) -> CNode {
    match node {
        Node::And(items) => CNode::And(
            items
                .into_iter()
                .map(|n| compile_node(n, positive, terms, intern))
                .collect(),
        ),
        Node::Or(items) => CNode::Or(
            items
                .into_iter()
                .map(|n| compile_node(n, positive, terms, intern))
                .collect(),
        ),
        Node::Not(inner) => CNode::Not(Box::new(compile_node(*inner, !positive, terms, intern))),
        Node::Term(term) => {
            let kind = match term.kind {
                TermKind::Literal { folded, prefix } => CKind::Literal {
                    pattern: intern(&folded),
                    prefix,
                },
                TermKind::Near { words, distance } => CKind::Near {
                    patterns: words.iter().map(|w| intern(w)).collect(),
                    distance,
                },
                TermKind::Regex(regex) => CKind::Regex(regex),
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

/// Patterns of which at least one must hit for `node` to be true, or `None` if it can be true
/// with no literal hit at all (then the rule is evaluated for every document).
fn required_patterns(node: &CNode, terms: &[CTerm]) -> Option<Vec<u32>> {
    match node {
        CNode::Leaf(i) => match &terms[*i].kind {
            CKind::Literal { pattern, .. } => Some(vec![*pattern]),
            // Every word must occur; any one of them is a valid trigger.
            CKind::Near { patterns, .. } => patterns.first().map(|p| vec![*p]),
            CKind::Regex(_) => None,
        },
        // All children must be true: the smallest requirement of any child suffices.
        CNode::And(items) => items
            .iter()
            .filter_map(|n| required_patterns(n, terms))
            .min_by_key(Vec::len),
        // Any child may be the true one: every child must contribute a requirement.
        CNode::Or(items) => {
            let mut all = Vec::new();
            for n in items {
                all.extend(required_patterns(n, terms)?);
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
        CNode::Not(_) => None,
    }
}

/// Per-document evaluation state: the document and its sorted hits.
struct Ctx<'d, 'a> {
    doc: &'d PreparedDocument<'a>,
    hits: &'d [Hit],
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
                term.fields.iter().any(|f| self.find(term, f).is_some())
            }
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
                let (snippet, highlight) = match found {
                    Found::Folded(r) => snippet(&pf.original, pf.folded().original_range(r)),
                    Found::Collapsed(r) => snippet(pf.collapsed(), r),
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

    /// Hits of `pattern` (any field), a contiguous run of the sorted hit list.
    fn hits_of(&self, pattern: u32) -> &[Hit] {
        let lo = self.hits.partition_point(|h| h.pattern < pattern);
        let hi = lo + self.hits[lo..].partition_point(|h| h.pattern == pattern);
        &self.hits[lo..hi]
    }

    /// First occurrence of `term` in `field`.
    fn find(&self, term: &CTerm, field: Field) -> Option<Found> {
        match &term.kind {
            CKind::Literal { pattern, prefix } => self
                .hits_of(*pattern)
                .iter()
                .find(|h| h.field == field && (*prefix || h.whole))
                .map(|h| Found::Folded(h.start as usize..h.end as usize)),
            CKind::Near { patterns, distance } => {
                self.near(patterns, *distance, field).map(Found::Folded)
            }
            CKind::Regex(regex) => {
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
        for (k, &p) in patterns.iter().enumerate() {
            let before = occ.len();
            let pf = self.doc.field(field);
            occ.extend(
                self.hits_of(p)
                    .iter()
                    .filter(|h| h.field == field && h.whole)
                    .map(|h| (pf.word_index(h.start), k, h.start, h.end)),
            );
            if occ.len() == before {
                return None;
            }
        }
        occ.sort_unstable();
        // Classic minimum window covering all k kinds.
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
