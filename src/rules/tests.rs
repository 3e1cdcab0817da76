//! Semantic tests of the rule language end to end (query → RuleSet → Document), one table per
//! bullet of the matching contract in docs/rules.md, plus property tests.

use proptest::prelude::*;

use super::*;
use crate::text::html_to_text;

const SEED: &str = "Russia has invited the Taliban to the so-called “Moscow\n\nformat” talks, envoy Zamir Kabulov said.";

fn content(text: &str) -> Document {
    Document {
        content: text.to_string(),
        ..Document::default()
    }
}

fn html(html: &str) -> Document {
    content(&html_to_text(html))
}

fn is_match(query: &str, doc: &Document) -> bool {
    let q = Query::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}\n{}", e.caret(query)));
    !RuleSet::new(vec![q]).matches(doc).is_empty()
}

/// Runs (name, query, document, expected) cases and reports every failure at once.
fn check(cases: &[(&str, &str, Document, bool)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(_, q, d, want)| is_match(q, d) != *want)
        .map(|(name, q, _, want)| {
            format!(
                "{name}: {q:?} should {}match",
                if *want { "" } else { "not " }
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_text_matches_the_issue_queries() {
    check(&[
        (
            "phrase_across_blank_line_and_curly_quotes",
            "\"Moscow format\"",
            content(SEED),
            true,
        ),
        ("bare_word", "Kabulov", content(SEED), true),
        (
            "phrase_or_word",
            "\"Moscow format\" OR Kabulov",
            content(SEED),
            true,
        ),
        (
            "issue_example",
            "(\"Moscow format\" OR Kabulov OR Кабулов) -football",
            content(SEED),
            true,
        ),
        (
            "issue_example_excluded",
            "(\"Moscow format\" OR Kabulov) -Taliban",
            content(SEED),
            false,
        ),
        ("absent_word", "Lavrov", content(SEED), false),
    ]);
}

#[test]
fn boolean_operators() {
    let d = || content("alpha beta gamma");
    check(&[
        ("implicit_and_true", "alpha gamma", d(), true),
        ("implicit_and_false", "alpha delta", d(), false),
        ("explicit_and", "alpha AND beta", d(), true),
        ("or_one_side", "delta OR beta", d(), true),
        ("or_neither", "delta OR epsilon", d(), false),
        ("not_present", "alpha NOT beta", d(), false),
        ("not_absent", "alpha NOT delta", d(), true),
        ("minus_present", "alpha -beta", d(), false),
        ("minus_absent", "alpha -delta", d(), true),
        ("precedence_and_over_or", "delta alpha OR beta", d(), true),
        (
            "parens_change_precedence",
            "delta (alpha OR beta)",
            d(),
            false,
        ),
        ("not_group", "alpha -(delta OR beta)", d(), false),
        ("pure_negative_matches_when_absent", "NOT delta", d(), true),
        ("pure_negative_fails_when_present", "-alpha", d(), false),
        ("or_with_negative_branch", "delta OR -epsilon", d(), true),
        ("lowercase_or_is_a_word", "alpha or beta", d(), false),
    ]);
}

#[test]
fn whole_words_by_default() {
    check(&[
        ("possessive", "Kabulov", content("Kabulov's visit"), true),
        (
            "curly_possessive",
            "Kabulov",
            content("Kabulov’s visit"),
            true,
        ),
        ("upper_case", "Kabulov", content("KABULOV SAID"), true),
        ("longer_word", "Kabulov", content("Kabulovsky said"), false),
        ("inside_word", "bul", content("Kabulov"), false),
        ("digit_suffix", "G7", content("G7 summit"), true),
        ("digit_glued", "G7", content("G77 summit"), false),
        ("punctuation_around", "Kabulov", content("(Kabulov)."), true),
        ("hyphen_separates", "Qaeda", content("al-Qaeda"), true),
        ("hyphenated_query", "al-Qaeda", content("al‑Qaeda"), true),
        ("cyrillic_word_chars", "Кабул", content("Кабулов"), false),
        ("cyrillic_whole", "Кабул", content("в Кабул."), true),
        ("cjk_no_spaces", "北京", content("他在北京市工作"), true),
        (
            "soft_hyphen_inside",
            "Kabulov",
            content("Kabu\u{AD}lov"),
            true,
        ),
        (
            "phrase_must_be_whole",
            "\"Moscow form\"",
            content(SEED),
            false,
        ),
    ]);
}

#[test]
fn unicode_case_and_normalization() {
    check(&[
        ("cyrillic_upper", "Кабулов", content("КАБУЛОВ заявил"), true),
        ("cyrillic_lower", "Кабулов", content("кабулов заявил"), true),
        ("cyrillic_query_upper", "КАБУЛОВ", content("Кабулов"), true),
        ("yo_in_text", "Королев", content("Королёв"), true),
        ("yo_in_query", "Королёв", content("Королев"), true),
        ("capital_yo", "ЁЖ", content("еж"), true),
        ("short_i_distinct", "мои", content("мой"), false),
        ("greek_case", "Αθήνα", content("ΑΘΗΝΑ"), true),
        ("greek_final_sigma", "οδος", content("ΟΔΟΣ"), true),
        ("sharp_s_vs_ss", "strasse", content("Hauptstraße"), false),
        ("sharp_s_word", "Strasse", content("Straße 5"), true),
        ("sharp_s_query", "Straße", content("STRASSE"), true),
        ("capital_sharp_s", "straße", content("STRAẞE"), true),
        ("nfkc_ligature", "file", content("ﬁle"), true),
        ("nfkc_fullwidth", "abc", content("ＡＢＣ"), true),
        (
            "turkish_dotted_i_folds",
            "istanbul",
            content("İstanbul"),
            true,
        ),
    ]);
}

#[test]
fn accents_and_diacritics_fold() {
    check(&[
        ("umlaut_text", "Zurich", content("Zürich"), true),
        ("umlaut_query", "Zürich", content("Zurich"), true),
        ("acute", "cafe", content("café"), true),
        ("decomposed_acute", "café", content("cafe\u{301}"), true),
        ("cedilla", "francais", content("Français"), true),
        ("polish_stroke", "Lodz", content("Łódź"), true),
        ("danish_stroke", "Orsted", content("Ørsted"), true),
        ("polish_accents", "Łodz", content("Łódź"), true),
        ("vietnamese", "Viet", content("Việt Nam"), true),
    ]);
}

#[test]
fn whitespace_and_punctuation() {
    check(&[
        (
            "phrase_over_newlines",
            "\"Moscow format\"",
            content("Moscow\r\n \t format"),
            true,
        ),
        (
            "phrase_over_nbsp",
            "\"Moscow format\"",
            content("Moscow\u{A0}format"),
            true,
        ),
        (
            "query_phrase_spaces",
            "\"Moscow    format\"",
            content("Moscow format"),
            true,
        ),
        (
            "phrase_needs_order",
            "\"format Moscow\"",
            content("Moscow format"),
            false,
        ),
        (
            "curly_quotes_equal_ascii",
            "'quoted'",
            content("‘quoted’"),
            true,
        ),
        (
            "em_dash_equals_hyphen",
            "\"2020-2021\"",
            content("2020–2021"),
            true,
        ),
        (
            "phrase_with_dash",
            "\"left - right\"",
            content("left — right"),
            true,
        ),
        ("guillemets", "\"«Moscow»\"", content("\"Moscow\""), true),
        ("guillemet_phrase", "«Moscow format»", content(SEED), true),
        (
            "guillemet_phrase_is_a_phrase",
            "«Moscow format»",
            content("Moscow switches its parks to a winter format"),
            false,
        ),
        (
            "typographic_query_quotes",
            "“Moscow format”",
            content(SEED),
            true,
        ),
    ]);
}

/// Every char [`crate::text`] reads as a hyphen or dash, each of which separates words like a
/// space does.
const DASHES: &[char] = &[
    '-', '‐', '‑', '‒', '–', '—', '―', '−', '⁃', '﹘', '﹣', '－', '⸺', '⸻', '\u{058A}',
    '\u{05BE}', '\u{1400}', '\u{2E17}', '\u{2E1A}', '\u{2E40}', '\u{2E5D}', '\u{30A0}',
];

#[test]
fn hyphens_and_dashes_separate_words_like_spaces() {
    let link = |url: &str| Document {
        link: url.into(),
        ..Document::default()
    };
    check(&[
        // A space in the query matches a hyphen or dash in the text.
        (
            "phrase_matches_hyphenated",
            "\"Moscow format\"",
            content("the Moscow-format consultations"),
            true,
        ),
        (
            "phrase_matches_en_dash",
            "\"Moscow format\"",
            content("Moscow–format talks"),
            true,
        ),
        (
            "phrase_matches_spaced_dash",
            "\"Moscow format\"",
            content("Moscow — format"),
            true,
        ),
        (
            "phrase_matches_dash_and_line_break",
            "\"Moscow format\"",
            content("Moscow-\nformat"),
            true,
        ),
        // A hyphen in the query matches a space (or another dash) in the text.
        (
            "hyphenated_word_matches_spaced",
            "Moscow-format",
            content("the Moscow format talks"),
            true,
        ),
        (
            "al_qaeda_spaced",
            "al-Qaeda",
            content("al Qaeda said"),
            true,
        ),
        ("al_qaeda_nb_hyphen", "al-Qaeda", content("al‑Qaeda"), true),
        (
            "hyphenated_word_matches_em_dash",
            "Moscow-format",
            content("Moscow—format"),
            true,
        ),
        (
            "hyphen_inside_phrase_query",
            "\"Moscow-format talks\"",
            content("Moscow format talks"),
            true,
        ),
        // One part of a hyphenated word is a whole word.
        ("part_after_hyphen", "Qaeda", content("al-Qaeda"), true),
        (
            "part_before_hyphen",
            "Kabulov",
            content("Kabulov-led talks"),
            true,
        ),
        (
            "phrase_over_compound",
            "\"Kabulov led\"",
            content("Kabulov-led"),
            true,
        ),
        (
            "cyrillic_compound",
            "\"Йошкар Ола\"",
            content("в Йошкар-Оле и Йошкар-Ола"),
            true,
        ),
        // Still whole words, still in order.
        (
            "still_whole_words",
            "Moscow-format",
            content("Moscow formats"),
            false,
        ),
        ("glued_is_not_spaced", "al-Qaeda", content("alQaeda"), false),
        (
            "comma_is_not_a_dash",
            "\"Moscow format\"",
            content("Moscow, format"),
            false,
        ),
        (
            "order_still_counts",
            "Moscow-format",
            content("format Moscow"),
            false,
        ),
        // Prefixes and proximity see the same words.
        ("prefix_across_hyphen", "al-Qa*", content("al Qaeda"), true),
        (
            "prefix_after_dash",
            "Moscow-form*",
            content("Moscow–formats"),
            true,
        ),
        (
            "proximity_counts_compound_parts",
            "\"Kabulov talks\"~2",
            content("Kabulov-led talks"),
            true,
        ),
        (
            "proximity_compound_parts_are_words",
            "\"Kabulov talks\"~1",
            content("Kabulov-led talks"),
            false,
        ),
        (
            "proximity_hyphenated_query",
            "\"Moscow-format talks\"~3",
            content("talks in Moscow format"),
            true,
        ),
        (
            "proximity_hyphenated_query_too_far",
            "\"Moscow-format talks\"~2",
            content("talks in Moscow format"),
            false,
        ),
        // Operators are unchanged: a leading `-` still excludes.
        (
            "minus_still_excludes",
            "Kabulov -led",
            content("Kabulov-led talks"),
            false,
        ),
        (
            "link_with_hyphen",
            "link:moscow-talks",
            link("https://example.com/news/moscow-talks"),
            true,
        ),
        (
            "slash_is_not_a_separator",
            "link:\"news moscow\"",
            link("https://example.com/news/moscow"),
            false,
        ),
    ]);
    // Every dash, in the text and in the query, both ways.
    let mut cases = Vec::new();
    for &d in DASHES {
        let name = format!("U+{:04X}", d as u32);
        cases.push((
            format!("{name}_in_text"),
            "\"Moscow format\"".to_string(),
            content(&format!("the Moscow{d}format talks")),
        ));
        cases.push((
            format!("{name}_in_query"),
            format!("Moscow{d}format"),
            content("the Moscow format talks"),
        ));
        cases.push((
            format!("{name}_word_part"),
            "Qaeda".to_string(),
            content(&format!("al{d}Qaeda")),
        ));
    }
    let failures: Vec<&str> = cases
        .iter()
        .filter(|(_, q, d)| !is_match(q, d))
        .map(|(name, ..)| name.as_str())
        .collect();
    assert!(failures.is_empty(), "no match: {failures:?}");
}

#[test]
fn hyphenated_hit_highlights_the_original_spelling() {
    let set = RuleSet::new(vec![Query::parse("\"Moscow format\"").expect("valid")]);
    for text in [
        "Russia hosts Moscow-format consultations",
        "Russia hosts Moscow–format consultations",
        "Russia hosts Moscow — format consultations",
    ] {
        let hits = set.matches(&content(text));
        assert_eq!(hits.len(), 1, "{text}");
        let t = &hits[0].terms[0];
        assert_eq!(t.snippet, text);
        let shown = &t.snippet[t.highlight.clone()];
        assert!(
            shown.starts_with("Moscow") && shown.ends_with("format"),
            "{text}: highlighted {shown:?}"
        );
    }
}

#[test]
fn html_is_matched_as_read() {
    check(&[
        (
            "bold_phrase",
            "\"Moscow format\"",
            html("<b>Moscow</b> format"),
            true,
        ),
        (
            "nbsp_entity",
            "\"Moscow format\"",
            html("Moscow&nbsp;format"),
            true,
        ),
        (
            "nbsp_in_plain_text",
            "\"Moscow format\"",
            html("the Moscow&nbsp;format talks"),
            true,
        ),
        ("entity_letter", "café", html("caf&eacute;"), true),
        (
            "paragraphs_do_not_glue",
            "ab",
            html("<p>a</p><p>b</p>"),
            false,
        ),
        ("tag_names_invisible", "span", html("<span>x</span>"), false),
        (
            "attributes_invisible",
            "evil",
            html("<a href=\"evil\">x</a>"),
            false,
        ),
        (
            "script_invisible",
            "alert",
            html("<script>alert(1)</script>text"),
            false,
        ),
    ]);
}

#[test]
fn field_scopes() {
    let d = || Document {
        title: "Moscow format talks".into(),
        summary: "summary words".into(),
        content: "body text about Kabul".into(),
        authors: vec!["Ann Smith".into(), "Zamir Kabulov".into()],
        categories: vec!["Politics".into(), "Asia".into()],
        link: "https://example.com/news/moscow-talks".into(),
        feed: "TASS English".into(),
        article: "The full story quotes Sergei Lavrov at length".into(),
    };
    check(&[
        ("article_scoped", "article:Lavrov", d(), true),
        ("article_unscoped_term_searches_it", "Lavrov", d(), true),
        ("article_phrase", "article:\"Sergei Lavrov\"", d(), true),
        ("article_not_in_title", "title:Lavrov", d(), false),
        (
            "title_not_in_article",
            "article:\"Moscow format\"",
            d(),
            false,
        ),
        ("title_phrase", "title:\"Moscow format\"", d(), true),
        ("title_miss", "title:Kabul", d(), false),
        ("content", "content:Kabul", d(), true),
        ("summary", "summary:words", d(), true),
        ("author", "author:Kabulov", d(), true),
        (
            "author_phrase_not_across_authors",
            "author:\"Smith Zamir\"",
            d(),
            false,
        ),
        ("category", "category:asia", d(), true),
        ("link", "link:example.com", d(), true),
        ("link_word", "link:moscow", d(), true),
        ("feed", "feed:tass", d(), true),
        ("unscoped_skips_author", "Kabulov", d(), false),
        ("unscoped_skips_feed", "TASS", d(), false),
        ("unscoped_title", "talks", d(), true),
        ("scoped_group", "title:(Kabul OR talks)", d(), true),
        ("scoped_negation", "Kabul -title:Kabul", d(), true),
        ("field_case_insensitive", "TITLE:moscow", d(), true),
    ]);
}

#[test]
fn wildcards_and_regexes() {
    check(&[
        ("prefix", "talib*", content("the Taliban said"), true),
        ("prefix_exact", "talib*", content("talib"), true),
        (
            "prefix_needs_word_start",
            "alib*",
            content("Taliban"),
            false,
        ),
        ("prefix_cyrillic", "талиб*", content("ТАЛИБАН"), true),
        (
            "regex_case_insensitive",
            "/kabul(ov)?/i",
            content("KABULOV said"),
            true,
        ),
        (
            "regex_case_sensitive",
            "/kabul(ov)?/",
            content("KABULOV said"),
            false,
        ),
        (
            "regex_is_not_whole_word",
            "/abul/",
            content("Kabulov"),
            true,
        ),
        (
            "regex_word_boundary",
            "/\\bKabul\\b/",
            content("Kabulov"),
            false,
        ),
        (
            "regex_unicode_boundary",
            "/(?i)\\bкабул\\b/",
            content("в Кабул."),
            true,
        ),
        (
            "regex_whitespace_collapsed",
            "/Moscow format/",
            content("Moscow\n\nformat"),
            true,
        ),
        (
            "regex_with_field",
            "link:/news\\/\\d+/",
            Document {
                link: "https://x.org/news/42".into(),
                ..Document::default()
            },
            true,
        ),
        (
            "regex_with_word",
            "/kabul(ov)?/i talks",
            content(SEED),
            true,
        ),
        ("regex_only_rule_misses", "/zzz/", content(SEED), false),
    ]);
}

#[test]
fn wildcards_inside_phrases_and_proximity() {
    let ru =
        "Переговоры в московском формате продолжатся; участники Московского формата встретятся";
    check(&[
        // Every word a prefix, still adjacent and in order.
        (
            "phrase_all_prefixes_locative",
            "\"московск* формат*\"",
            content("в московском формате"),
            true,
        ),
        (
            "phrase_all_prefixes_genitive_capitalised",
            "\"московск* формат*\"",
            content("участники Московского формата"),
            true,
        ),
        (
            "phrase_all_prefixes_not_adjacent",
            "\"московск* формат*\"",
            content("московские власти и новый формат"),
            false,
        ),
        (
            "phrase_all_prefixes_order",
            "\"московск* формат*\"",
            content("формат московский"),
            false,
        ),
        (
            "phrase_prefix_needs_word_start",
            "\"московск* формат*\"",
            content("подмосковском формате"),
            false,
        ),
        (
            "hyphen_ends_a_prefix_word",
            "\"Moscow* talks\"",
            content("the Moscow-based talks"),
            false,
        ),
        (
            "phrase_inner_prefix_then_whole_word",
            "\"talib* government\"",
            content("the Taliban government said"),
            true,
        ),
        (
            "phrase_inner_prefix_word_must_be_whole",
            "\"talib* govern\"",
            content("the Taliban government said"),
            false,
        ),
        (
            "phrase_prefix_over_apostrophe",
            "\"Kabul* envoy\"",
            content("Kabulov's envoy"),
            true,
        ),
        (
            "phrase_prefix_not_over_comma",
            "\"Kabul* envoy\"",
            content("Kabulov, envoy"),
            false,
        ),
        (
            "phrase_last_word_prefix",
            "\"Moscow talk*\"",
            content("the Moscow talks ended"),
            true,
        ),
        (
            "phrase_middle_prefix",
            "\"the Moscow* format talks\"",
            content("the Moscowite format talks"),
            true,
        ),
        (
            "phrase_prefix_across_hyphen",
            "\"Moscow form*\"",
            content("Moscow-format"),
            true,
        ),
        (
            "lone_star_in_phrase_is_literal",
            "\"5 * 3\"",
            content("5 * 3"),
            true,
        ),
        (
            "star_mid_word_in_phrase_is_literal",
            "\"ta*lib\"",
            content("Taliban"),
            false,
        ),
        // Proximity with prefix words.
        (
            "near_prefix",
            "\"Moscow talk*\"~3",
            content("Moscow said the talks"),
            true,
        ),
        (
            "near_prefix_too_far",
            "\"Moscow talk*\"~2",
            content("Moscow said the talks"),
            false,
        ),
        (
            "near_prefix_any_order",
            "\"Moscow talk*\"~3",
            content("talking in Moscow"),
            true,
        ),
        (
            "near_prefix_needs_word_start",
            "\"Moscow talk*\"~3",
            content("Moscow stalks"),
            false,
        ),
        (
            "near_whole_word_still_whole",
            "\"Moscow* talks\"~3",
            content("Moscowite talkshow"),
            false,
        ),
        (
            "near_all_prefixes",
            "\"московск* формат*\"~2",
            content(ru),
            true,
        ),
    ]);
}

#[test]
fn phrase_wildcards_stay_prefixes_with_word_forms_on() {
    let options = MatchOptions {
        en: true,
        ru: true,
        transliterate: true,
    };
    let set = RuleSet::new(vec![
        Query::parse_with("\"московск* формат*\"", options).expect("valid"),
        Query::parse_with("\"Moscow talk*\"~3", options).expect("valid"),
    ]);
    let rules =
        |text: &str| -> Vec<usize> { set.matches(&content(text)).iter().map(|h| h.rule).collect() };
    assert_eq!(rules("участники Московского формата"), vec![0]);
    assert_eq!(rules("Moscow said the talking"), vec![1]);
    assert_eq!(rules("формат московский"), Vec::<usize>::new());
}

#[test]
fn phrase_with_inner_wildcard_highlights_the_whole_phrase() {
    let set = RuleSet::new(vec![Query::parse("\"московск* формат*\"").expect("valid")]);
    let hits = set.matches(&content("Переговоры в Московском формате продолжатся"));
    assert_eq!(hits.len(), 1);
    let t = &hits[0].terms[0];
    assert_eq!(t.term, "московск* формат*");
    assert_eq!(&t.snippet[t.highlight.clone()], "Московском формат");
}

#[test]
fn regexes_behind_a_literal_prefilter_match_as_before() {
    check(&[
        (
            "case_insensitive_literal",
            "/kabul(ov|ev)?/i",
            content("KABULEV said"),
            true,
        ),
        (
            "case_sensitive_literal_other_case",
            "/Kabul/",
            content("KABUL said"),
            false,
        ),
        (
            "literal_absent",
            "/kabul(ov|ev)?/i",
            content("Lavrov said"),
            false,
        ),
        (
            "accented_literal",
            "/Zürich/",
            content("talks in Zürich"),
            true,
        ),
        (
            "cyrillic_literal_case_insensitive",
            "/кабулов/i",
            content("КАБУЛОВ заявил"),
            true,
        ),
        (
            "literal_before_combining_mark",
            // The regex matches `Кабули` in front of a combining breve; folded, the text
            // says `кабулй`, so the prefilter must not look for `кабули`.
            "/Кабули/",
            content("Кабули\u{306} сказал"),
            true,
        ),
        (
            "alternation_of_literals",
            "/(moscow|kabul) format/i",
            content("the Kabul Format talks"),
            true,
        ),
        (
            "suffix_literal",
            "/\\w+stan\\b/",
            content("envoy to Afghanistan"),
            true,
        ),
        (
            "literal_in_wrong_field",
            "title:/kabul/i",
            content("Kabul"),
            false,
        ),
        (
            "literal_present_regex_fails",
            "/kabul\\d+/i",
            content("Kabul said"),
            false,
        ),
        (
            "no_literal_always_runs",
            "/\\d{4}-\\d{2}/",
            content("on 2025-11 it"),
            true,
        ),
        (
            "no_literal_no_match",
            "/\\d{4}-\\d{2}/",
            content("no dates"),
            false,
        ),
        (
            "negated_prefiltered_regex",
            "Kabulov -/sport(s)?/i",
            content("Kabulov on SPORTS"),
            false,
        ),
        (
            "negated_prefiltered_regex_absent",
            "Kabulov -/sport(s)?/i",
            content("Kabulov on talks"),
            true,
        ),
        (
            "regex_and_word_trigger_choice",
            "talks /kabul(ov)?/i",
            content("Kabulov talks"),
            true,
        ),
    ]);
}

#[test]
fn trigger_choice_does_not_change_results() {
    // Only one requirement group per rule feeds the automaton; the others are checked when
    // the rule is evaluated. Every combination must still be decided on the whole rule.
    let d = |t: &str| content(t);
    check(&[
        ("and_both", "the Kabulov", d("the Kabulov"), true),
        ("and_rare_only", "the Kabulov", d("Kabulov said"), false),
        ("and_common_only", "the Kabulov", d("the said"), false),
        (
            "or_of_ands_left",
            "(a Kabulov) OR (b Lavrov)",
            d("a Kabulov"),
            true,
        ),
        (
            "or_of_ands_right",
            "(a Kabulov) OR (b Lavrov)",
            d("b Lavrov"),
            true,
        ),
        (
            "or_of_ands_mixed",
            "(a Kabulov) OR (b Lavrov)",
            d("a Lavrov"),
            false,
        ),
        (
            "near_rare_word",
            "\"the Kabulov\"~2",
            d("the envoy Kabulov"),
            true,
        ),
        (
            "near_too_far",
            "\"the Kabulov\"~1",
            d("the envoy Kabulov"),
            false,
        ),
        (
            "prefix_and_word",
            "talib* government",
            d("Taliban government"),
            true,
        ),
        (
            "prefix_and_word_missing",
            "talib* government",
            d("Taliban said"),
            false,
        ),
    ]);
}

#[test]
fn many_rules_with_shared_common_words_stay_exact() {
    // 300 rules `<common word> <rare name>`: each name triggers its own rule only.
    let words = ["the", "talks", "said"];
    let queries: Vec<Query> = (0..300)
        .map(|i| Query::parse(&format!("{} Name{i}", words[i % 3])).expect("valid"))
        .collect();
    let set = RuleSet::new(queries);
    let got = |t: &str| -> Vec<usize> { set.matches(&content(t)).iter().map(|h| h.rule).collect() };
    assert_eq!(got("the talks said Name3 Name4 Name5"), vec![3, 4, 5]);
    assert_eq!(got("Name3 Name4"), Vec::<usize>::new());
    assert_eq!(got("the talks said"), Vec::<usize>::new());
}

#[test]
fn proximity() {
    let text = "Moscow said on Tuesday that the planned talks would go ahead";
    check(&[
        // Moscow is word 0, talks is word 7.
        ("within_distance", "\"Moscow talks\"~8", content(text), true),
        ("exact_distance", "\"Moscow talks\"~7", content(text), true),
        ("too_far", "\"Moscow talks\"~6", content(text), false),
        ("any_order", "\"talks Moscow\"~7", content(text), true),
        (
            "three_words",
            "\"Moscow Tuesday talks\"~7",
            content(text),
            true,
        ),
        ("missing_word", "\"Moscow Kabul\"~20", content(text), false),
        (
            "whole_words_only",
            "\"Mosc talks\"~10",
            content(text),
            false,
        ),
        (
            "over_folded_text",
            "\"moscow TALKS\"~6",
            content("MOSCOW — the  talks"),
            true,
        ),
        (
            "not_across_fields",
            "\"Moscow talks\"~3",
            Document {
                title: "Moscow".into(),
                content: "talks".into(),
                ..Document::default()
            },
            false,
        ),
    ]);
}

#[test]
fn only_matching_rules_are_returned_in_index_order() {
    let queries = [
        "Lavrov",
        "Kabulov",
        "\"Moscow format\"",
        "NOT football",
        "football",
        "/Taliban/",
        "talib*",
    ];
    let set = RuleSet::new(
        queries
            .iter()
            .map(|q| Query::parse(q).expect("valid"))
            .collect(),
    );
    assert_eq!(set.len(), 7);
    let hits = set.matches(&content(SEED));
    let rules: Vec<usize> = hits.iter().map(|h| h.rule).collect();
    assert_eq!(rules, vec![1, 2, 3, 5, 6]);
}

#[test]
fn hits_explain_with_original_text_snippets() {
    let q = Query::parse("(\"Moscow format\" OR Kabulov OR Lavrov) -football").expect("valid");
    let set = RuleSet::new(vec![q]);
    let doc = Document {
        title: "Envoy KABULOV on talks".into(),
        content: SEED.into(),
        ..Document::default()
    };
    let hits = set.matches(&doc);
    assert_eq!(hits.len(), 1);
    let got: Vec<(&str, Field, &str)> = hits[0]
        .terms
        .iter()
        .map(|t| (t.term.as_str(), t.field, &t.snippet[t.highlight.clone()]))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Moscow format", Field::Content, "Moscow format"),
            ("Kabulov", Field::Title, "KABULOV"),
            ("Kabulov", Field::Content, "Kabulov"),
        ]
    );
    let content_hit = &hits[0].terms[0];
    assert!(
        content_hit.snippet.contains("“Moscow format”"),
        "{}",
        content_hit.snippet
    );
}

#[test]
fn snippet_highlights_accented_original() {
    let set = RuleSet::new(vec![Query::parse("zurich").expect("valid")]);
    let hits = set.matches(&content("Talks in ZÜRICH on Monday"));
    let t = &hits[0].terms[0];
    assert_eq!(&t.snippet[t.highlight.clone()], "ZÜRICH");
}

#[test]
fn many_rules_share_patterns() {
    let queries: Vec<Query> = (0..500)
        .map(|i| Query::parse(&format!("Kabulov rule{i} OR \"Moscow format\"")).expect("valid"))
        .collect();
    let set = RuleSet::new(queries);
    assert_eq!(set.matches(&content(SEED)).len(), 500);
    assert_eq!(
        set.matches(&content("rule7 Kabulov"))
            .iter()
            .map(|h| h.rule)
            .collect::<Vec<_>>(),
        vec![7]
    );
}

#[test]
fn non_trigger_terms_are_found_even_when_overlapping() {
    // `Kabulov` is the trigger; `"ab ab"` is looked up lazily and its only whole-word
    // occurrence overlaps an earlier partial one.
    check(&[
        (
            "overlapping_secondary",
            "Kabulov \"ab ab\"",
            content("Kabulov xab ab ab"),
            true,
        ),
        (
            "secondary_absent",
            "Kabulov \"ab ab\"",
            content("Kabulov xab ab"),
            false,
        ),
        (
            "secondary_negated",
            "Kabulov -\"ab ab\"",
            content("Kabulov xab ab ab"),
            false,
        ),
        (
            "common_word_secondary",
            "Kabulov the",
            content("the Kabulov"),
            true,
        ),
        (
            "common_word_in_other_word",
            "Kabulov the",
            content("Kabulov them other"),
            false,
        ),
    ]);
}

#[test]
fn empty_rule_set_and_empty_document() {
    assert!(RuleSet::new(Vec::new()).matches(&content(SEED)).is_empty());
    assert!(RuleSet::new(Vec::new()).is_empty());
    let set = RuleSet::new(vec![
        Query::parse("x").expect("valid"),
        Query::parse("-x").expect("valid"),
    ]);
    assert_eq!(
        set.matches(&Document::default())
            .iter()
            .map(|h| h.rule)
            .collect::<Vec<_>>(),
        vec![1]
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Words drawn from a mixed-script vocabulary, in random case.
fn word() -> impl Strategy<Value = String> {
    let vocab = prop::sample::select(vec![
        "moscow",
        "format",
        "kabulov",
        "taliban",
        "talks",
        "кабулов",
        "переговоры",
        "ёлка",
        "zürich",
        "café",
        "straße",
        "αθήνα",
        "envoy",
        "北京",
    ]);
    (vocab, any::<bool>(), any::<bool>()).prop_map(|(w, upper, title)| {
        if upper {
            w.to_uppercase()
        } else if title {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        } else {
            w.to_string()
        }
    })
}

fn separator() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        " ", "  ", "\n", "\n\n", "\t", "\u{A0}", " \r\n ", "-", "–", " — ", "-\n",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics(src in "\\PC{0,40}") {
        let _ = Query::parse(&src);
    }

    #[test]
    fn parser_never_panics_on_query_like_input(
        parts in prop::collection::vec(prop::sample::select(vec![
            "(", ")", "\"", "“", "OR", "AND", "NOT", "-", "title:", "titel:", "*", "~", "~5", "/", "/i",
            "a", "Кабулов", " ", "\\", "ß", "\u{301}", ":",
        ]), 0..16)
    ) {
        let src: String = parts.concat();
        if let Err(e) = Query::parse(&src) {
            prop_assert!(e.position <= src.chars().count());
            let _ = e.caret(&src);
        }
    }

    #[test]
    fn matcher_never_panics(
        query in "\\PC{0,20}",
        text in "\\PC{0,200}",
        // Word forms and transliteration (issue 11) take other paths through the matcher.
        options in prop::sample::select(vec![
            MatchOptions::default(),
            MatchOptions { en: true, ru: true, transliterate: true },
        ]),
    ) {
        if let Ok(q) = Query::parse_with(&query, options) {
            let _ = q.to_string();
            let set = RuleSet::new(vec![q]);
            let doc = Document {
                title: text.clone(),
                content: html_to_text(&text),
                authors: vec![text.clone(), text.clone()],
                ..Document::default()
            };
            for hit in set.matches(&doc) {
                for t in hit.terms {
                    prop_assert!(t.snippet.get(t.highlight.clone()).is_some());
                }
            }
        }
    }

    #[test]
    fn phrase_query_matches_text_built_to_contain_it(
        phrase in prop::collection::vec(word(), 1..4),
        before in prop::collection::vec(word(), 0..5),
        after in prop::collection::vec(word(), 0..5),
        seps in prop::collection::vec(separator(), 16),
        cuts in prop::collection::vec(0usize..8, 4),
    ) {
        let query = format!("\"{}\"", phrase.join(" "));
        let mut text = String::new();
        let words: Vec<&String> = before.iter().chain(&phrase).chain(&after).collect();
        for (i, w) in words.iter().enumerate() {
            text.push_str(w);
            text.push_str(&seps[i % seps.len()]);
        }
        prop_assert!(is_match(&query, &content(&text)), "{query} in {text:?}");
        // The same words as a proximity query and as bare words (implicit AND).
        let near = format!("\"{}\"~{}", phrase.join(" "), phrase.len());
        prop_assert!(is_match(&near, &content(&text)), "{near} in {text:?}");
        prop_assert!(is_match(&phrase.join(" "), &content(&text)));
        // Each word cut to a prefix with `*` (or kept whole): as a phrase and as proximity.
        let prefixed: Vec<String> = phrase
            .iter()
            .zip(&cuts)
            .map(|(w, &k)| {
                let n = w.chars().count();
                let keep = 1 + k % n;
                if keep == n {
                    w.clone()
                } else {
                    w.chars().take(keep).collect::<String>() + "*"
                }
            })
            .collect();
        let wild = format!("\"{}\"", prefixed.join(" "));
        prop_assert!(is_match(&wild, &content(&text)), "{wild} in {text:?}");
        let wild_near = format!("\"{}\"~{}", prefixed.join(" "), phrase.len());
        prop_assert!(is_match(&wild_near, &content(&text)), "{wild_near} in {text:?}");
    }
}
