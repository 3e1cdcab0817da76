//! The excerpt of original text shown with a hit: about [`SNIPPET_CHARS`] chars around it,
//! cut at spaces, whitespace collapsed, `…` where text was cut, and the hit's byte range.
//!
//! Works on any plain text; multi-valued fields (authors, categories) are joined with
//! [`LIST_SEPARATOR`] and a snippet never crosses it.

use std::ops::Range;

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
    let (region_start, region_end) = if list {
        let start = text[..hit.start]
            .rfind(LIST_SEPARATOR)
            .map_or(0, |i| i + LIST_SEPARATOR.len_utf8());
        let end = text[hit.end..]
            .find(LIST_SEPARATOR)
            .map_or(text.len(), |i| hit.end + i);
        (start, end)
    } else {
        (0, text.len())
    };

    let hit_chars = text[hit.clone()].chars().count();
    let (start, end, hit) = if hit_chars >= SNIPPET_CHARS {
        // A regex can match a whole article: show its beginning only.
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
        if start > region_start {
            // Do not begin mid-word: skip to just after the first space, if there is one.
            if let Some(ws) = text[start..hit.start].find(char::is_whitespace) {
                start += ws;
            }
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

    let mut out = String::with_capacity(end - start + 2 * ELLIPSIS.len());
    if start > region_start {
        out.push_str(ELLIPSIS);
    }
    let mut hl_start = None;
    let mut hl_end = None;
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
