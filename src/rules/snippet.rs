//! The excerpt of original text shown with a hit: about [`SNIPPET_CHARS`] chars around it,
//! cut at spaces, whitespace collapsed, `…` where text was cut, and the hit's byte range.
//!
//! Works on any plain text; multi-valued fields (authors, categories) are joined with
//! [`LIST_SEPARATOR`] and a snippet never crosses it.

use std::ops::Range;

use crate::text::{is_collapsed, whitespace_len};

/// Target length of a snippet, in chars (the hit included).
pub const SNIPPET_CHARS: usize = 120;

/// Joins the values of a list field (authors, categories). A control char: not whitespace and
/// not a word char, so a phrase can never match across two authors, and the folder keeps it.
pub const LIST_SEPARATOR: char = '\u{1F}';

const ELLIPSIS: &str = "…";

/// Returns `(snippet, highlight)` where `highlight` is the byte range of `hit` inside the
/// snippet. `hit` is a byte range of `text` (clamped and snapped to char boundaries if not).
/// `list`: `text` is a joined list field; the snippet stays inside the hit's value.
pub fn snippet(text: &str, hit: Range<usize>, list: bool) -> (String, Range<usize>) {
    let hit = snap(text, hit);
    let (region_start, region_end) = region(text, &hit, list);

    let hit_chars = text[hit.clone()].chars().count();
    let (start, end, hit) = if hit_chars >= SNIPPET_CHARS {
        // A regex can match a whole article: show its beginning only.
        let cut = chars_after(text, hit.start, SNIPPET_CHARS, text.len());
        (hit.start, cut, hit.start..cut)
    } else {
        let budget = (SNIPPET_CHARS - hit_chars) / 2;
        let mut start = chars_before(text, hit.start, budget, region_start);
        if start > region_start {
            // Do not begin mid-word: skip to just after the first space, if there is one.
            if let Some(ws) = (start..hit.start).find(|&i| whitespace_len(text, i) > 0) {
                start = ws;
            }
        }
        let mut end = chars_after(text, hit.end, budget, region_end);
        if end < region_end
            && let Some(ws) = (hit.end..end).rev().find(|&i| whitespace_len(text, i) > 0)
        {
            end = ws;
        }
        (start, end, hit)
    };

    let mut out = String::with_capacity(end - start + 2 * ELLIPSIS.len());
    if start > region_start {
        out.push_str(ELLIPSIS);
    }
    // Most text (all that `html_to_text` returns) is already collapsed: then the snippet is
    // the slice after the space it starts at. Unless it starts with `…`, which would hide
    // the space after it below (`out != ELLIPSIS`).
    let body = start + usize::from(text.as_bytes().get(start) == Some(&b' '));
    if body <= end
        && (body..=end).contains(&hit.start)
        && hit.end <= end
        && is_collapsed(&text[body..end])
        && !text[body..end].starts_with(ELLIPSIS)
    {
        let at = out.len();
        out.push_str(&text[body..end]);
        // A highlight ending at a word ends before the space in front of it.
        let space_before_end = hit.end > body && text.as_bytes()[hit.end - 1] == b' ';
        let hl_end = at + (hit.end - body) - usize::from(space_before_end);
        let highlight = (at + (hit.start - body)).min(hl_end)..hl_end;
        if end < region_end {
            out.push_str(ELLIPSIS);
        }
        return (out, highlight);
    }
    let mut hl_start = None;
    let mut hl_end = None;
    let mut pending_space = false;
    // Whitespace runs become one space (none at the start), words are copied whole: a
    // snippet is built for every reported term, so not char by char.
    let mut at = start;
    while at < end {
        let space = whitespace_run_end(text, at, end);
        if space > at {
            // Positions inside a whitespace run map to where the space will go.
            if (at..space).contains(&hit.start) {
                hl_start = Some(out.len());
            }
            if (at..space).contains(&hit.end) {
                hl_end = Some(out.len());
            }
            pending_space = true;
            at = space;
            continue;
        }
        let word = word_end(text, at, end);
        if at == hit.start {
            hl_start = Some(out.len());
        }
        if at == hit.end {
            hl_end = Some(out.len());
        }
        if pending_space && !out.is_empty() && out != ELLIPSIS {
            out.push(' ');
        }
        pending_space = false;
        let base = out.len();
        if (at..word).contains(&hit.start) {
            hl_start = Some(base + (hit.start - at));
        }
        if (at + 1..word).contains(&hit.end) {
            hl_end = Some(base + (hit.end - at));
        }
        out.push_str(&text[at..word]);
        at = word;
    }
    let hl_end = hl_end.unwrap_or(out.len());
    let hl_start = hl_start.unwrap_or(hl_end).min(hl_end);
    if end < region_end {
        out.push_str(ELLIPSIS);
    }
    (out, hl_start..hl_end)
}

/// Start of the char `n` chars before byte `from` of `text`, or `floor` if there are fewer
/// chars between them (both char boundaries).
fn chars_before(text: &str, from: usize, n: usize, floor: usize) -> usize {
    let bytes = text.as_bytes();
    // Chars are counted a window at a time (a count of the bytes that start one, which
    // compiles to vector code), each window as long as the chars still missing.
    let mut lo = from;
    let mut need = n;
    while need > 0 && lo > floor {
        let next = lo.saturating_sub(need).max(floor);
        need -= char_starts(&bytes[next..lo]);
        lo = next;
    }
    // `lo` may be inside the earliest char counted: its start is the first one at or after.
    while lo < from && is_continuation(bytes[lo]) {
        lo += 1;
    }
    lo
}

/// Start of the char `n` chars after byte `from` of `text`, or `ceiling` if that char would
/// not start before it (both char boundaries).
fn chars_after(text: &str, from: usize, n: usize, ceiling: usize) -> usize {
    let bytes = text.as_bytes();
    let mut hi = from;
    let mut need = n;
    while need > 0 && hi < ceiling {
        let next = hi.saturating_add(need).min(ceiling);
        need -= char_starts(&bytes[hi..next]);
        hi = next;
    }
    // `hi` may be inside the last char counted: the next one starts after it.
    while hi < ceiling && is_continuation(bytes[hi]) {
        hi += 1;
    }
    hi
}

/// How many chars start in `bytes`.
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| !is_continuation(b)).count()
}

/// A UTF-8 continuation byte (not the start of a char).
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// End of the run of whitespace chars (`char::is_whitespace`) starting at byte `at`, before
/// `end`; `at` if there is none.
fn whitespace_run_end(text: &str, mut at: usize, end: usize) -> usize {
    while at < end {
        match whitespace_len(text, at) {
            0 => break,
            n => at += n,
        }
    }
    at.min(end)
}

/// End of the run of non-whitespace chars starting at byte `at`, before `end`.
fn word_end(text: &str, mut at: usize, end: usize) -> usize {
    let bytes = &text.as_bytes()[..end];
    // Only ASCII controls and space, and the lead bytes of the few non-ASCII whitespace
    // chars, need a closer look.
    while let Some(k) = bytes[at..]
        .iter()
        .position(|&b| b <= b' ' || matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3))
    {
        at += k;
        if whitespace_len(text, at) > 0 {
            return at;
        }
        at += 1;
    }
    end
}

/// The part of `text` a snippet of `hit` may show: all of it, or in a list field the value
/// that holds the hit.
fn region(text: &str, hit: &Range<usize>, list: bool) -> (usize, usize) {
    if !list {
        return (0, text.len());
    }
    let start = text[..hit.start]
        .rfind(LIST_SEPARATOR)
        .map_or(0, |i| i + LIST_SEPARATOR.len_utf8());
    let end = text[hit.end..]
        .find(LIST_SEPARATOR)
        .map_or(text.len(), |i| hit.end + i);
    (start, end)
}

/// Clamps `r` into `text` and moves both ends back onto char boundaries.
fn snap(text: &str, r: Range<usize>) -> Range<usize> {
    let mut start = r.start.min(text.len());
    let mut end = r.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The snippet as first written, char by char: what [`snippet`] must keep returning.
    fn snippet_char_by_char(text: &str, hit: Range<usize>, list: bool) -> (String, Range<usize>) {
        let hit = snap(text, hit);
        let (region_start, region_end) = region(text, &hit, list);
        let hit_chars = text[hit.clone()].chars().count();
        let (start, end, hit) = if hit_chars >= SNIPPET_CHARS {
            let cut = text[hit.start..]
                .char_indices()
                .nth(SNIPPET_CHARS)
                .map_or(hit.end, |(i, _)| hit.start + i);
            (hit.start, cut, hit.start..cut)
        } else {
            let budget = (SNIPPET_CHARS - hit_chars) / 2;
            let mut start = text[region_start..hit.start]
                .char_indices()
                .rev()
                .take(budget)
                .last()
                .map_or(hit.start, |(i, _)| region_start + i);
            if start > region_start
                && let Some(ws) = text[start..hit.start].find(char::is_whitespace)
            {
                start += ws;
            }
            let mut end = text[hit.end..region_end]
                .char_indices()
                .nth(budget)
                .map_or(region_end, |(i, _)| hit.end + i);
            if end < region_end
                && let Some(ws) = text[hit.end..end].rfind(char::is_whitespace)
            {
                end = hit.end + ws;
            }
            (start, end, hit)
        };
        let mut out = String::new();
        if start > region_start {
            out.push_str(ELLIPSIS);
        }
        let (mut hl_start, mut hl_end) = (None, None);
        let mut pending_space = false;
        for (off, c) in text[start..end].char_indices() {
            let at = start + off;
            if at == hit.start {
                hl_start = Some(out.len());
            }
            if at == hit.end {
                hl_end = Some(out.len());
            }
            if c.is_whitespace() {
                pending_space = true;
                continue;
            }
            if pending_space && !out.is_empty() && out != ELLIPSIS {
                out.push(' ');
                if at == hit.start {
                    hl_start = Some(out.len());
                }
            }
            pending_space = false;
            out.push(c);
        }
        let hl_end = hl_end.unwrap_or(out.len());
        let hl_start = hl_start.unwrap_or(hl_end).min(hl_end);
        if end < region_end {
            out.push_str(ELLIPSIS);
        }
        (out, hl_start..hl_end)
    }

    proptest::proptest! {
        /// Same snippet and highlight as the char-by-char original, on text mixing words,
        /// every kind of whitespace, list separators and multi-byte chars; and on collapsed
        /// text (what `html_to_text` returns), which takes a shortcut.
        #[test]
        fn snippet_is_what_it_was_char_by_char(
            words in proptest::prop_oneof![
                proptest::collection::vec(
                    "[a-zA-Z\\u{430}-\\u{44F}\\u{1F}\\u{301}\\u{A0}\\u{2003}\\u{3000}\\u{85}\\u{1680} \\n\\t\\u{B}.,«»北]{0,12}",
                    0..40,
                ),
                proptest::collection::vec("[a-z\\u{430}-\\u{44F}…\\u{1F}]{1,9}", 0..60),
            ],
            a in 0usize..900,
            b in 0usize..900,
            list: bool,
        ) {
            let text = words.join(" ");
            let (lo, hi) = (a.min(b), a.max(b));
            proptest::prop_assert_eq!(
                snippet(&text, lo..hi, list),
                snippet_char_by_char(&text, lo..hi, list),
                "{:?} {}..{}", text, lo, hi
            );
        }
    }

    #[test]
    fn snippet_cases() {
        let long_before = "word ".repeat(40);
        let long_after = " tail".repeat(40);
        let long = format!("{long_before}Kabulov said{long_after}");
        let cases: Vec<(&str, String, &str, &str)> = vec![
            // (name, text, needle, expected snippet)
            (
                "short_text_whole",
                "envoy Zamir Kabulov said.".into(),
                "Kabulov",
                "envoy Zamir Kabulov said.",
            ),
            (
                "whitespace_collapsed",
                "the “Moscow\n\nformat” talks".into(),
                "Moscow\n\nformat",
                "the “Moscow format” talks",
            ),
            (
                "list_field_clipped",
                "Ann Smith\u{1F}Zamir Kabulov\u{1F}Bob".into(),
                "Kabulov",
                "Zamir Kabulov",
            ),
            (
                "hit_at_start",
                "Kabulov said".into(),
                "Kabulov",
                "Kabulov said",
            ),
        ];
        for (name, text, needle, want) in &cases {
            let at = text.find(needle).expect("needle present");
            let (snip, hl) = snippet(text, at..at + needle.len(), text.contains(LIST_SEPARATOR));
            assert_eq!(&snip, want, "case {name}");
            assert_eq!(
                crate::text::collapse_whitespace(&snip[hl]),
                crate::text::collapse_whitespace(needle),
                "case {name}"
            );
        }
        let at = long.find("Kabulov").expect("present");
        let (snip, hl) = snippet(&long, at..at + 7, false);
        assert!(snip.starts_with('…') && snip.ends_with('…'), "{snip}");
        assert!(
            snip.chars().count() <= SNIPPET_CHARS + 2,
            "{}",
            snip.chars().count()
        );
        assert_eq!(&snip[hl], "Kabulov");
        assert!(!snip.contains("  "));
    }

    #[test]
    fn huge_hit_is_cut() {
        let text = "x".repeat(1000);
        let (snip, hl) = snippet(&text, 0..1000, false);
        assert_eq!(snip.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(hl, 0..SNIPPET_CHARS);
    }

    #[test]
    fn out_of_range_hit_does_not_panic() {
        let (snip, _) = snippet("Жжж", 1..100, true);
        assert_eq!(snip, "Жжж");
    }
}
