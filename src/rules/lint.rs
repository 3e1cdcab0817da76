//! Warnings about queries that parse but probably do not say what their author meant: a
//! lowercase `or` between two terms, `NEAR/5` from another search engine, a rule with nothing
//! that must be present, a term that another makes redundant.
//!
//! Warnings never reject a rule (the query is valid and runs as documented); `check` and
//! `test-rule` print them. Pure, like the rest of `rules`: what is read here is the query's
//! own tokens and tree.

use std::fmt;

use super::query::{Node, Query, Term, TermKind, Tok, Token, lex, show};
use super::{Document, RuleSet};

/// One thing in a query worth a second look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWarning {
    /// Char offset in the query of what the warning is about, where it is one token.
    pub position: Option<usize>,
    /// Lowercase description with a suggestion, without the position.
    pub message: String,
}

impl fmt::Display for QueryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} (at position {p})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every warning for `query`, lexical ones (in query order) first.
pub(crate) fn warnings(query: &Query) -> Vec<QueryWarning> {
    // The query parsed, so it lexes; an error here would only mean no lexical warnings.
    let tokens = lex(query.source()).unwrap_or_default();
    let mut out = lexical(&tokens);
    if only_negative(query) {
        out.push(QueryWarning {
            position: None,
            message: "the query matches items that contain none of its terms: nothing in it must \
                      be present (`NOT football` alone matches every other item); add a term to \
                      look for, e.g. `Kabulov -football`"
                .to_string(),
        });
    }
    redundant(&query.root, &mut out);
    out
}

/// Lowercase operators between two terms, and proximity operators of other search engines.
fn lexical(tokens: &[Token]) -> Vec<QueryWarning> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Tok::Word(word) = &t.tok else {
            continue;
        };
        let before = i.checked_sub(1).and_then(|j| tokens.get(j));
        let after = tokens.get(i + 1);
        let between_terms =
            before.is_some_and(|b| ends_term(&b.tok)) && after.is_some_and(|a| starts_term(&a.tok));
        let lower = word.to_lowercase();
        if between_terms && matches!(lower.as_str(), "or" | "and" | "not") {
            let op = lower.to_uppercase();
            out.push(QueryWarning {
                position: Some(t.start),
                message: format!(
                    "`{word}` is searched as a word: operators are written in capitals; did you \
                     mean {op}?"
                ),
            });
        } else if let Some(n) = proximity_operator(&lower) {
            let words = |tok: Option<&Token>| match tok.map(|t| &t.tok) {
                Some(Tok::Word(w)) => Some(w.clone()),
                _ => None,
            };
            let example = match (words(before), words(after)) {
                (Some(a), Some(b)) => format!("\"{a} {b}\"~{n}"),
                _ => format!("\"Kabulov Lavrov\"~{n}"),
            };
            out.push(QueryWarning {
                position: Some(t.start),
                message: format!(
                    "`{word}` is not an operator here and is searched as a word; for words \
                     within {n} words of each other write {example}"
                ),
            });
        }
    }
    out
}

/// The distance of `near/5` or `w/5` (folded to lowercase), as other search engines write
/// proximity.
fn proximity_operator(lower: &str) -> Option<&str> {
    let (op, n) = lower.split_once('/')?;
    (matches!(op, "near" | "w") && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then_some(n)
}

fn ends_term(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Word(_) | Tok::Phrase { .. } | Tok::Regex { .. } | Tok::RParen
    )
}

fn starts_term(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Word(_)
            | Tok::Phrase { .. }
            | Tok::Regex { .. }
            | Tok::LParen
            | Tok::Field(_)
            | Tok::Minus
            | Tok::Not
    )
}

/// Whether the query is true for an item with no text at all: then nothing in it must be
/// present, and it matches every item that lacks its excluded terms.
fn only_negative(query: &Query) -> bool {
    !RuleSet::new(vec![query.clone()])
        .matches(&Document::default())
        .is_empty()
}

/// Terms of one AND or OR that another term of it makes redundant, at every level.
fn redundant(node: &Node, out: &mut Vec<QueryWarning>) {
    let (items, or) = match node {
        Node::And(items) => (items, false),
        Node::Or(items) => (items, true),
        Node::Not(inner) => return redundant(inner, out),
        Node::Term(_) => return,
    };
    let terms: Vec<&Term> = items
        .iter()
        .filter_map(|n| match n {
            Node::Term(t) => Some(t),
            _ => None,
        })
        .collect();
    for (i, a) in terms.iter().enumerate() {
        for b in &terms[i + 1..] {
            let (a_in_b, b_in_a) = (implies(a, b), implies(b, a));
            let message = match (a_in_b, b_in_a) {
                (true, true) => format!("`{}` is written twice", shown(a)),
                // In an OR the narrower term adds nothing; in an AND the wider one.
                (true, false) if or => narrower_in_or(a, b),
                (false, true) if or => narrower_in_or(b, a),
                (true, false) => wider_in_and(b, a),
                (false, true) => wider_in_and(a, b),
                (false, false) => continue,
            };
            out.push(QueryWarning {
                position: None,
                message,
            });
        }
    }
    for item in items {
        redundant(item, out);
    }
}

fn narrower_in_or(narrow: &Term, wide: &Term) -> String {
    format!(
        "`{}` is redundant: `{}` in the same OR already matches everything it matches",
        shown(narrow),
        shown(wide)
    )
}

fn wider_in_and(wide: &Term, narrow: &Term) -> String {
    format!(
        "`{}` is redundant: every item with `{}` (required beside it) has it",
        shown(wide),
        shown(narrow)
    )
}

/// A term as the read-back form writes it (`title:"Zamir Kabulov"`).
fn shown(term: &Term) -> String {
    show(&Node::Term(term.clone()))
}

/// Whether every occurrence of term `a` is also one of term `b` (in the same fields or
/// more). Decided for literal words, phrases and prefixes only; anything else is never
/// reported.
fn implies(a: &Term, b: &Term) -> bool {
    let (
        TermKind::Literal {
            folded: af,
            prefix: ap,
        },
        TermKind::Literal {
            folded: bf,
            prefix: bp,
        },
    ) = (&a.kind, &b.kind)
    else {
        return false;
    };
    if a.fields.union(b.fields) != b.fields {
        return false;
    }
    // Folded literals separate words by one space; a hit starts on a word boundary.
    if *bp {
        // `b` is a prefix: some word of `a` starts with it (and, where that word is `a`'s
        // own prefix, with all of `b`).
        return af.starts_with(bf.as_str()) || af.contains(&format!(" {bf}"));
    }
    // `b` is whole words: they must be whole words of `a`, and a prefix `a`'s last word is
    // not whole.
    let padded = if *ap {
        format!(" {af}")
    } else {
        format!(" {af} ")
    };
    padded.contains(&format!(" {bf} "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, query, expected fragments of the warnings in order; empty: no warning)
    #[test]
    fn warning_cases() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("clean", "Kabulov OR Lavrov", &[]),
            ("lowercase_or", "kabulov or lavrov", &["did you mean OR?"]),
            (
                "lowercase_and",
                "Kabulov and Lavrov",
                &["did you mean AND?"],
            ),
            (
                "lowercase_not",
                "Kabulov not football",
                &["did you mean NOT?"],
            ),
            ("mixed_case_or", "Kabulov Or Lavrov", &["did you mean OR?"]),
            ("or_at_the_end_is_a_word", "Kabulov or", &[]),
            ("or_at_the_start_is_a_word", "or Kabulov", &[]),
            ("quoted_or_is_a_phrase", "Kabulov \"or\" Lavrov", &[]),
            ("or_inside_phrase", "\"this or that\"", &[]),
            (
                "or_before_group",
                "Kabulov or (Lavrov OR Putin)",
                &["did you mean OR?"],
            ),
            ("near", "Kabulov NEAR/5 Lavrov", &["\"Kabulov Lavrov\"~5"]),
            (
                "near_lowercase",
                "Kabulov near/3 Lavrov",
                &["\"Kabulov Lavrov\"~3"],
            ),
            ("w_slash", "Kabulov w/5 Lavrov", &["\"Kabulov Lavrov\"~5"]),
            (
                "near_after_phrase",
                "\"Zamir Kabulov\" NEAR/5 Lavrov",
                &["~5"],
            ),
            ("near_without_number_is_a_word", "near/ x", &[]),
            (
                "only_negative_not",
                "NOT football",
                &["nothing in it must be present"],
            ),
            (
                "only_negative_minus",
                "-football",
                &["nothing in it must be present"],
            ),
            (
                "negative_branch_of_or",
                "Kabulov OR -football",
                &["nothing in it must be present"],
            ),
            ("positive_and_negative", "Kabulov -football", &[]),
            (
                "word_and_its_prefix",
                "Kabulov OR Kabulov*",
                &["`Kabulov` is redundant: `Kabulov*`"],
            ),
            (
                "longer_prefix_under_shorter",
                "Kabul* OR Kabulov*",
                &["`Kabulov*` is redundant: `Kabul*`"],
            ),
            (
                "phrase_under_its_word",
                "Kabulov OR \"Zamir Kabulov\"",
                &["`\"Zamir Kabulov\"` is redundant: `Kabulov`"],
            ),
            ("written_twice", "Kabulov OR kabulov", &["written twice"]),
            (
                "and_wider_term",
                "Kabulov Kabulov*",
                &["`Kabulov*` is redundant: every item with `Kabulov`"],
            ),
            (
                "nested",
                "Lavrov (Kabulov OR Kabulov*)",
                &["`Kabulov` is redundant"],
            ),
            (
                "word_under_shorter_prefix",
                "Kabul* OR Kabulov",
                &["`Kabulov` is redundant"],
            ),
            ("different_words", "Kabulov OR Kabulova* OR Lavrov*", &[]),
            (
                "narrower_field_is_redundant",
                "title:Kabulov OR Kabulov",
                &["`title:Kabulov` is redundant"],
            ),
            ("wider_field_is_not", "Kabulov OR title:Kabulov*", &[]),
            ("partial_word_is_not_whole", "\"Zamir Kab*\" OR Kab", &[]),
            ("regex_is_never_compared", "/kabul/ OR /kabul/", &[]),
        ];
        for (name, src, want) in cases {
            let q = Query::parse(src).unwrap_or_else(|e| panic!("case {name}: {e}"));
            let got: Vec<String> = warnings(&q).iter().map(ToString::to_string).collect();
            assert_eq!(got.len(), want.len(), "case {name}: {got:?}");
            for (g, w) in got.iter().zip(*want) {
                assert!(g.contains(w), "case {name}: {g:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn lexical_warnings_point_at_the_token() {
        let q = Query::parse("Кабулов or Lavrov").expect("valid");
        assert_eq!(warnings(&q)[0].position, Some(8));
    }
}
