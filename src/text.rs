//! Text as a reader sees it, and text as the rule matcher compares it.
//!
//! Two pure transformations live here and nothing else (no I/O, no clock):
//!
//! * [`html_to_text`]: feed HTML → the plain text a reader sees (tags removed, entities decoded,
//!   `<script>`/`<style>` dropped, blocks separated, whitespace collapsed). Parsing is done by
//!   `html2text` (html5ever underneath); the only markup read by hand is the simple kind most
//!   summaries are made of (`simple`: paragraphs, links, bold…), and only where a test shows
//!   html2text reads it the same. The work per field is
//!   bounded, because a feed is untrusted input: at most [`MAX_HTML_BYTES`] of HTML is read,
//!   elements nested deeper than [`MAX_HTML_DEPTH`] are flattened first (conversion cost grows
//!   with the square of the depth; see `nesting`), and at most [`MAX_TEXT_BYTES`] of text is
//!   kept.
//! * [`fold`] / [`Folded`]: the matching form of a text (NFKC, full Unicode case folding,
//!   diacritics removed, Russian `ё` ≡ `е`, typographic quotes mapped to ASCII, hyphens and
//!   dashes read as spaces, whitespace runs → one space), plus a byte-offset map back into the original so a hit in folded text
//!   can be highlighted in the original.
//!
//! The rules engine (`crate::rules`) folds queries and documents with the same function, so any
//! choice made here is symmetric by construction.

use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{canonical_combining_class, is_combining_mark};
use unicode_script::{Script, UnicodeScript};

mod nesting;
mod simple;

pub use nesting::MAX_HTML_DEPTH;

/// Longest HTML read per field, in bytes (1 MiB); the rest of a longer field is dropped unread.
/// A whole article is a few tens of KB.
pub const MAX_HTML_BYTES: usize = 1024 * 1024;

/// Longest text kept per field, in bytes of UTF-8 (256 KiB, a book chapter); the rest is cut
/// at a char boundary. Rules match only what is kept.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Width given to html2text: large enough that it never wraps a line (a wrap would only turn into
/// a space after collapsing, but wrapping costs time and could split a URL-like token).
const HTML_RENDER_WIDTH: usize = 1 << 20;

/// Returns the text a reader sees in `html`, on one line with whitespace runs collapsed.
///
/// Plain text (no `<`) is not handed to the HTML parser: only its entities are decoded
/// (feed-rs leaves `&nbsp;`/`&mdash;` literally in XML-parsed text) and whitespace collapsed, so
/// a `<`-free string comes back unchanged apart from those two things. Never panics: if the
/// renderer fails (or panics) the input is returned whitespace-collapsed.
///
/// Bounded work whatever the input: only the first [`MAX_HTML_BYTES`] are read, tags nested
/// deeper than [`MAX_HTML_DEPTH`] become spaces, and the text is cut to [`MAX_TEXT_BYTES`].
pub fn html_to_text(html: &str) -> String {
    let html = prefix(html, MAX_HTML_BYTES);
    let text = if !html.contains(['<', '&']) {
        collapse_whitespace(html)
    } else if let Some(text) = simple::plain_text(html) {
        // The markup most summaries use, read without a document tree (see `simple`).
        collapse_whitespace(&text)
    } else if !html.contains('<') {
        // Only entities to decode: escape nothing else, let html5ever decode them as text.
        render_html(html).unwrap_or_else(|| collapse_whitespace(html))
    } else {
        render_html(&nesting::bound_depth(html)).unwrap_or_else(|| collapse_whitespace(html))
    };
    clip_text(text)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn prefix(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// `text` (collapsed) cut to [`MAX_TEXT_BYTES`], still without a trailing space.
fn clip_text(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let cut = prefix(&text, MAX_TEXT_BYTES).trim_end().len();
        text.truncate(cut);
    }
    text
}

/// Runs html2text with [`ReaderDecorator`], which adds nothing a reader would not see.
fn render_html(html: &str) -> Option<String> {
    // html2text has had panics on hostile input in the past (deep tables, odd widths); one bad
    // item must not take the daemon down, so a panic becomes "render failed".
    let rendered = std::panic::catch_unwind(|| {
        html2text::config::with_decorator(ReaderDecorator)
            .link_footnotes(false)
            .no_table_borders()
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), HTML_RENDER_WIDTH)
    });
    match rendered {
        Ok(Ok(text)) => Some(collapse_whitespace(&text)),
        _ => None,
    }
}

/// The html2text decorator for text as a reader sees it: no markup of its own (no `[link]`
/// brackets, `*` bullets, `#` headings or `^{…}` around superscripts) and nothing for images.
/// html2text's `TrivialDecorator` comes close but renders an image as its `alt` text (and an
/// inline SVG as its `<title>`): attributes a reader never sees, so a rule must not match
/// them (issue 11: an `<img alt="Zamir Kabulov …">` alerted on `Kabulov`).
struct ReaderDecorator;

/// The start/end decoration methods of inline styles a reader sees as plain text: both empty.
macro_rules! plain_inline_styles {
    ($($start:ident / $end:ident),* $(,)?) => {$(
        fn $start(&self) -> (String, ()) {
            (String::new(), ())
        }
        fn $end(&self) -> String {
            String::new()
        }
    )*};
}

impl html2text::render::TextDecorator for ReaderDecorator {
    type Annotation = ();

    plain_inline_styles!(
        decorate_em_start / decorate_em_end,
        decorate_strong_start / decorate_strong_end,
        decorate_strikeout_start / decorate_strikeout_end,
        decorate_code_start / decorate_code_end,
        decorate_superscript_start / decorate_superscript_end,
    );

    fn decorate_link_start(&mut self, _url: &str) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_link_end(&mut self) -> String {
        String::new()
    }
    fn decorate_preformat_first(&self) {}
    fn decorate_preformat_cont(&self) {}
    fn decorate_image(&mut self, _src: &str, _alt: &str) -> (String, ()) {
        (String::new(), ())
    }
    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }
    fn quote_prefix(&self) -> String {
        String::new()
    }
    fn unordered_item_prefix(&self) -> String {
        String::new()
    }
    fn ordered_item_prefix(&self, _i: i64) -> String {
        String::new()
    }
    fn make_subblock_decorator(&self) -> Self {
        ReaderDecorator
    }
    fn finalise(&mut self, _urls: Vec<String>) -> Vec<html2text::render::TaggedLine<()>> {
        Vec::new()
    }
}

/// Collapses every run of Unicode whitespace (incl. NBSP and line breaks) to one ASCII space
/// and trims both ends.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Copies runs of text as slices, single spaces included; per byte, only the four UTF-8
    // lead bytes that can start a non-ASCII whitespace char are decoded (the matcher calls
    // this on every field that a regex looks at, and Cyrillic text is all non-ASCII).
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() {
            match whitespace_len(s, i) {
                0 => break,
                n => i += n,
            }
        }
        if i >= bytes.len() {
            return out;
        }
        let start = i;
        while i < bytes.len() {
            let b = bytes[i];
            if b > b' ' && !matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3) {
                i += 1;
                continue;
            }
            match whitespace_len(s, i) {
                0 => i += 1,
                // A lone space between two words stays inside the run.
                1 if b == b' ' && i + 1 < bytes.len() && whitespace_len(s, i + 1) == 0 => {
                    i += 1;
                }
                _ => break,
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&s[start..i]);
    }
}

/// Length in bytes of the whitespace char (`char::is_whitespace`) starting at byte `i` of `s`,
/// 0 if there is none. Only `C2` (NEL, NBSP), `E1` (U+1680), `E2` (U+2000…) and `E3`
/// (U+3000) can start a non-ASCII one; any other byte is decided without decoding.
#[inline(always)]
pub(crate) fn whitespace_len(s: &str, i: usize) -> usize {
    match s.as_bytes()[i] {
        b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' => 1,
        0xC2 | 0xE1 | 0xE2 | 0xE3 => s
            .get(i..)
            .and_then(|rest| rest.chars().next())
            .filter(|c| c.is_whitespace())
            .map_or(0, char::len_utf8),
        _ => 0,
    }
}

/// Whether `s` is already what [`collapse_whitespace`] would return: no leading or trailing
/// whitespace, and no whitespace but single ASCII spaces.
pub fn is_collapsed(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    let mut prev_space = false;
    let mut i = 0;
    // Only ASCII controls and space, and the lead bytes of the non-ASCII whitespace chars,
    // need a look (as in `whitespace_len`); runs of other bytes are skipped in one go (the
    // matcher asks this of every snippet it builds).
    while let Some(k) = bytes.get(i..).and_then(|rest| {
        rest.iter()
            .position(|&b| b <= b' ' || matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3))
    }) {
        let at = i + k;
        if k > 0 {
            prev_space = false;
        }
        match (bytes[at], whitespace_len(s, at)) {
            (_, 0) => prev_space = false,
            (b' ', _) if !prev_space => prev_space = true,
            _ => return false,
        }
        i = at + 1;
    }
    true
}

/// Folded (matching) form of a text plus a map from each folded byte back to the original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// The folded text. Never starts or ends with a space; never contains two spaces in a row.
    pub text: String,
    /// `map[i]` is the byte offset in the original of the start of the source segment that
    /// produced folded byte `base + i`; `map[text.len()]` is the original's length (or, for a
    /// fold stopped early, where the next folded byte would come from). Non-decreasing.
    map: Vec<u32>,
    /// Offset of `text` in the whole fold: 0, except for a window resumed at a [`FoldPoint`]
    /// (see [`fold_with_map_from`]).
    base: usize,
}

impl Folded {
    /// Offset of [`Folded::text`] in the whole fold (0 unless resumed at a point).
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// Maps a byte range of [`Folded::text`] back to the byte range of the original text that
    /// produced it (always on char boundaries of the original). Out-of-range input is clamped.
    pub fn original_range(&self, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let len = self.text.len();
        let start = range.start.saturating_sub(self.base).min(len);
        let end = range.end.saturating_sub(self.base).clamp(start, len);
        let orig_start = self.map[start] as usize;
        if end == start {
            return orig_start..orig_start;
        }
        // The end is the end of the source segment that produced the last folded byte: the
        // next map entry that differs from it (a segment such as `ß` → `ss` spans several
        // folded bytes that all map to the same source offset).
        let last = self.map[end - 1];
        let orig_end = self.map[end..]
            .iter()
            .copied()
            .find(|&o| o > last)
            .unwrap_or(last) as usize;
        orig_start..orig_end.max(orig_start)
    }
}

/// Folds `s` for matching: NFKC, full case folding, diacritics removed, `ё` → `е`,
/// typographic quotes/apostrophes → ASCII, hyphens and dashes → spaces, whitespace runs → one
/// space, trimmed.
///
/// ```
/// assert_eq!(feedwatch::text::fold("Zürich  “Straße” — ЁЛКА"), "zurich \"strasse\" елка");
/// assert_eq!(feedwatch::text::fold("al-Qaeda’s Moscow–format"), "al qaeda's moscow format");
/// ```
pub fn fold(s: &str) -> String {
    let mut text = String::with_capacity(s.len());
    fold_into(s, &mut text, &mut NoMap, usize::MAX, FoldPoint::START);
    text
}

/// A place in the fold of a text where folding can resume and give exactly the rest of the
/// whole fold (and its offset map): the state of the folding loop between two source chars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoldPoint {
    /// Folded bytes before this point.
    pub(crate) folded: usize,
    /// Byte offset in the original where folding resumes.
    original: u32,
    /// Original offset of the whitespace owed (as one space) before the next folded char.
    pending_space: Option<u32>,
}

impl FoldPoint {
    /// The start of every fold.
    pub(crate) const START: FoldPoint = FoldPoint {
        folded: 0,
        original: 0,
        pending_space: None,
    };
}

/// [`fold`], also returning a [`FoldPoint`] about every `stride` folded bytes (where the
/// folding loop passes an ASCII byte: between words of any script written with spaces), so
/// that the offset map of any part can be built later from the nearest point before it
/// instead of from the start ([`fold_with_map_from`]). The matcher folds every field this way
/// and maps back only the few hits it reports.
pub(crate) fn fold_with_points(s: &str, stride: usize) -> (String, Vec<FoldPoint>) {
    let mut text = String::with_capacity(s.len());
    let mut points = Points {
        points: Vec::new(),
        next: stride.max(1),
        stride: stride.max(1),
    };
    fold_into(s, &mut text, &mut points, usize::MAX, FoldPoint::START);
    (text, points.points)
}

/// [`fold`], keeping the offset map back into `s` (see [`Folded::original_range`]).
pub fn fold_with_map(s: &str) -> Folded {
    fold_with_map_prefix(s, usize::MAX).0
}

/// [`fold_with_map`] of only as much of `s` as it takes for the folded text to pass
/// `folded_len` bytes: [`Folded::original_range`] then gives the same answer as on the whole
/// fold for any range ending at or before `folded_len`. The bool says whether all of `s` was
/// folded. A reported hit needs the map only up to the hit, and mapping is the costly part.
pub(crate) fn fold_with_map_prefix(s: &str, folded_len: usize) -> (Folded, bool) {
    fold_with_map_from(s, FoldPoint::START, folded_len)
}

/// [`fold_with_map_prefix`] of the part of the fold that starts at `from` (a point of `s`
/// from [`fold_with_points`]): [`Folded::original_range`] gives the same answer as on the
/// whole fold for any range of the whole fold's offsets from `from.folded` to `folded_end`.
pub(crate) fn fold_with_map_from(s: &str, from: FoldPoint, folded_end: usize) -> (Folded, bool) {
    // A point of another text could fall inside a char: start over rather than panic.
    let from = if s.is_char_boundary(from.original as usize) {
        from
    } else {
        FoldPoint::START
    };
    let base = from.folded;
    let limit = folded_end.saturating_sub(base);
    let rest = s.len().saturating_sub(from.original as usize);
    let mut text = String::with_capacity(rest.min(limit.saturating_add(64)));
    let mut map: Vec<u32> = Vec::with_capacity(text.capacity() + 1);
    let (last, complete) = fold_into(s, &mut text, &mut map, limit, from);
    map.push(last);
    (Folded { text, map, base }, complete)
}

/// Where [`fold_into`] records, for each folded byte, the original offset it came from. The
/// matcher folds every field of every item but needs the map only for the few it reports, so
/// the map-less variant ([`NoMap`]) is the hot path and compiles to no bookkeeping at all.
trait OffsetMap {
    /// `n` folded bytes were produced by the source segment starting at `at`.
    fn repeat(&mut self, at: u32, n: usize);
    /// Folded bytes copied one-to-one from the source bytes `range`.
    fn identity(&mut self, range: std::ops::Range<u32>);
    /// The loop may resume here: see [`FoldPoint`].
    #[inline(always)]
    fn point(&mut self, _at: FoldPoint) {}
}

/// Records a [`FoldPoint`] about every `stride` folded bytes, and no map.
struct Points {
    points: Vec<FoldPoint>,
    /// Folded length at or after which the next point is recorded.
    next: usize,
    stride: usize,
}

impl OffsetMap for Points {
    #[inline]
    fn repeat(&mut self, _at: u32, _n: usize) {}
    #[inline]
    fn identity(&mut self, _range: std::ops::Range<u32>) {}
    #[inline]
    fn point(&mut self, at: FoldPoint) {
        if at.folded >= self.next {
            self.points.push(at);
            self.next = at.folded + self.stride;
        }
    }
}

struct NoMap;

impl OffsetMap for NoMap {
    #[inline]
    fn repeat(&mut self, _at: u32, _n: usize) {}
    #[inline]
    fn identity(&mut self, _range: std::ops::Range<u32>) {}
}

impl OffsetMap for Vec<u32> {
    #[inline]
    fn repeat(&mut self, at: u32, n: usize) {
        self.extend(std::iter::repeat_n(at, n));
    }
    #[inline]
    fn identity(&mut self, range: std::ops::Range<u32>) {
        self.extend(range);
    }
}

/// The folding loop shared by [`fold`] and [`fold_with_map`], starting at `from` (whose
/// folded bytes are not in `text`). Stops before emitting more once `text` is longer than
/// `limit` bytes. Returns the map's final entry and whether all of `s` was folded: `s.len()`
/// (below 4 GiB), or on a stop the original offset the next folded byte would have mapped
/// to, exactly as in the whole fold (so the last complete segment maps to the same range
/// either way).
fn fold_into(
    s: &str,
    text: &mut String,
    map: &mut impl OffsetMap,
    limit: usize,
    from: FoldPoint,
) -> (u32, bool) {
    // Offsets are stored as u32 to halve the map's size; a longer text is folded only up to
    // 4 GiB, which no feed item reaches (and the tail is then simply not matchable).
    let s = if s.len() >= u32::MAX as usize {
        let mut cut = u32::MAX as usize - 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        &s[..cut]
    } else {
        s
    };
    // Whether a space is owed before the next non-space output (collapsing + trimming).
    let mut pending_space: Option<u32> = from.pending_space;
    // Whether folded text was produced before `from` (a leading space is trimmed, not owed).
    let resumed = from.folded > 0;
    let bytes = s.as_bytes();
    let mut i = from.original as usize;
    let mut scratch = String::new();
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            map.point(FoldPoint {
                folded: from.folded + text.len(),
                original: i as u32,
                pending_space,
            });
            if is_ascii_separator(b) {
                if (resumed || !text.is_empty()) && pending_space.is_none() {
                    pending_space = Some(i as u32);
                }
                i += 1;
                continue;
            }
            // ASCII fast path: a run of ASCII non-space bytes is copied and lowercased in one
            // go (one byte in, one byte out), which is most of any Latin-script text.
            if text.len() > limit {
                return (pending_space.unwrap_or(i as u32), false);
            }
            if let Some(at) = pending_space.take() {
                text.push(' ');
                map.repeat(at, 1);
            }
            let run_end = ascii_run_end(bytes, i);
            let out_start = text.len();
            text.push_str(&s[i..run_end]);
            text[out_start..].make_ascii_lowercase();
            map.identity(i as u32..run_end as u32);
            i = run_end;
            continue;
        }
        // Two-byte chars (Latin-1, Latin Extended, Greek, Cyrillic…) that fold to one other
        // char and are not followed by a combining char: one table load and one push, no
        // segment scan or string copy. This is every letter of Russian text.
        if (0xC2..=0xDF).contains(&b)
            && let Some(&b1) = bytes.get(i + 1)
        {
            let cp = (u32::from(b & 0x1F) << 6) | u32::from(b1 & 0x3F);
            let folded = fold_table_two_byte()[(cp - 0x80) as usize];
            let next_joins = bytes.get(i + 2).is_some_and(|&n| {
                n >= 0x80 && s[i + 2..].chars().next().is_some_and(joins_previous)
            });
            if folded != '\0' && !next_joins {
                if text.len() > limit {
                    return (pending_space.unwrap_or(i as u32), false);
                }
                if let Some(at) = pending_space.take() {
                    text.push(' ');
                    map.repeat(at, 1);
                }
                text.push(folded);
                map.repeat(i as u32, folded.len_utf8());
                i += 2;
                continue;
            }
        }
        // A segment: one char plus any following combining chars, so that a base letter and
        // its accents are normalized together.
        let seg_end = segment_end(s, i);
        let seg = &s[i..seg_end];
        let folded: &str = if seg.chars().nth(1).is_none() {
            let c = seg.chars().next().unwrap_or(' ');
            match fold_table_lookup(c) {
                Some(f) => f,
                None => {
                    scratch.clear();
                    fold_segment(seg, &mut scratch);
                    &scratch
                }
            }
        } else {
            scratch.clear();
            fold_segment(seg, &mut scratch);
            &scratch
        };
        if !folded.contains(' ') {
            // Most segments: no whitespace inside, so the whole fold is copied at once.
            if !folded.is_empty() {
                if text.len() > limit {
                    return (pending_space.unwrap_or(i as u32), false);
                }
                if let Some(at) = pending_space.take() {
                    text.push(' ');
                    map.repeat(at, 1);
                }
                text.push_str(folded);
                map.repeat(i as u32, folded.len());
            }
            i = seg_end;
            continue;
        }
        if text.len() > limit && folded.chars().any(|c| c != ' ') {
            return (pending_space.unwrap_or(i as u32), false);
        }
        for c in folded.chars() {
            if c == ' ' {
                if (resumed || !text.is_empty()) && pending_space.is_none() {
                    pending_space = Some(i as u32);
                }
            } else {
                if let Some(at) = pending_space.take() {
                    text.push(' ');
                    map.repeat(at, 1);
                }
                let before = text.len();
                text.push(c);
                map.repeat(i as u32, text.len() - before);
            }
        }
        i = seg_end;
    }
    (s.len() as u32, true)
}

/// ASCII bytes that fold to a word separator: whitespace (with the vertical tab, which
/// `is_ascii_whitespace` leaves out) and the hyphen-minus (see [`is_dash`]).
#[inline(always)]
fn is_ascii_separator(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0B || b == b'-'
}

/// End of the run of ASCII text starting at `start` (a non-space ASCII byte) that folding
/// copies as is apart from case: ASCII bytes other than separators (whitespace, `-`), and
/// single spaces between them.
/// Copying whole runs, spaces included, rather than word by word saves a `memcpy` call per
/// word.
#[inline]
fn ascii_run_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' {
            match bytes.get(i + 1) {
                Some(&n) if n.is_ascii() && !is_ascii_separator(n) => i += 2,
                _ => return i,
            }
        } else if !b.is_ascii() || is_ascii_separator(b) {
            return i;
        } else {
            i += 1;
        }
    }
    i
}

/// The folded form of a literal `lit` trimmed so that it is a substring of `fold(t)` for
/// *every* text `t` containing `lit` (at char boundaries). Used to prefilter regexes: the
/// regex crate finds `lit` in the original text, the matcher looks for this in folded text.
///
/// Folding works segment by segment (a char plus the combining marks after it), so `fold(lit)`
/// can differ from the fold of the same chars inside a longer text only at `lit`'s edges: a
/// leading combining mark belongs to the previous char in `t`, and a trailing non-ASCII char
/// may be followed by marks in `t` that compose with it (`и` + U+0306 folds to `й`). Both
/// edges are dropped; an ASCII char is always its own segment and is kept.
pub(crate) fn fold_literal_core(lit: &str) -> String {
    let lit = lit.trim_start_matches(joins_previous);
    let body = lit.trim_end_matches(joins_previous);
    let end = match body.chars().next_back() {
        // Trailing marks after an ASCII char are their own segment in `t`, possibly longer.
        Some(c) if c.is_ascii() => body.len(),
        Some(c) => body.len() - c.len_utf8(),
        None => 0,
    };
    fold(&lit[..end])
}

/// Whether `c` belongs to the segment of the char before it: a combining char or a conjoining
/// Hangul vowel/trailing jamo.
fn joins_previous(c: char) -> bool {
    // Fast path for the letters of most news text (Latin, Greek, Cyrillic, Armenian), which
    // hold no combining char: the table lookups below dominated folding Cyrillic text.
    let cp = c as u32;
    if cp < 0x300 || (0x370..0x483).contains(&cp) || (0x48A..0x591).contains(&cp) {
        return false;
    }
    canonical_combining_class(c) != 0
        || is_combining_mark(c)
        || ('\u{1160}'..='\u{11FF}').contains(&c)
        || ('\u{D7B0}'..='\u{D7FF}').contains(&c)
}

/// End (byte offset) of the segment starting at `start`: the char there plus every following
/// char that is a combining char or a conjoining Hangul vowel/trailing jamo.
fn segment_end(s: &str, start: usize) -> usize {
    let mut chars = s[start..].char_indices();
    chars.next();
    for (off, c) in chars {
        if !joins_previous(c) {
            return start + off;
        }
    }
    s.len()
}

/// First code point not covered by the precomputed single-char fold table.
const FOLD_TABLE_END: u32 = 0x3000;

/// Fold of every single char below [`FOLD_TABLE_END`] (Latin, Greek, Cyrillic, punctuation…),
/// computed once: the per-char normalization pipeline is too slow to run on every char of
/// 100k items, and for a lone char its result never changes.
static FOLD_TABLE: LazyLock<Vec<Box<str>>> = LazyLock::new(|| {
    (0..FOLD_TABLE_END)
        .map(|cp| {
            let mut out = String::new();
            if let Some(c) = char::from_u32(cp) {
                fold_segment(c.encode_utf8(&mut [0; 4]), &mut out);
            }
            out.into_boxed_str()
        })
        .collect()
});

/// For each two-byte UTF-8 char (U+0080..U+0800): its fold when that is exactly one char
/// other than a space, else `'\0'` (take the general path). Derived from [`FOLD_TABLE`].
fn fold_table_two_byte() -> &'static [char; 0x780] {
    static TABLE: LazyLock<Box<[char; 0x780]>> = LazyLock::new(|| {
        let mut table = Box::new(['\0'; 0x780]);
        for (slot, cp) in table.iter_mut().zip(0x80u32..) {
            let folded = char::from_u32(cp).and_then(fold_table_lookup).unwrap_or("");
            let mut chars = folded.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && c != ' '
            {
                *slot = c;
            }
        }
        table
    });
    &TABLE
}

fn fold_table_lookup(c: char) -> Option<&'static str> {
    FOLD_TABLE.get(c as usize).map(|b| &**b)
}

/// Han ideographs and precomposed Hangul syllables: no case, no compatibility decomposition,
/// no diacritics, so they fold to themselves (a fast path for CJK feeds).
fn is_stable_ideograph(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
}

/// The slow, exact fold of one segment (a base char plus its combining marks), appended to
/// `out`. Whitespace becomes a single `' '` (collapsed by the caller).
fn fold_segment(seg: &str, out: &mut String) {
    // Compatibility caseless form (Unicode §3.13 D146): NFKD(fold(NFKD(fold(NFD(x))))), which is
    // what `caseless::compatibility_caseless_match` compares; the second round is needed for
    // chars whose folding is not stable under normalization (e.g. U+0345).
    use caseless::Caseless;
    let mut chars = seg.chars();
    if let (Some(first), None) = (chars.next(), chars.next()) {
        // Checked before normalization: NFKC would turn `″` into two primes and `´` into a
        // space plus a combining accent.
        if let Some(mapped) = ascii_punctuation(first) {
            out.push(mapped);
            return;
        }
        if is_dash(first) {
            out.push(' ');
            return;
        }
        if is_stable_ideograph(first) {
            out.push(first);
            return;
        }
    }
    let decomposed: Vec<char> = seg
        .chars()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkd()
        .collect();
    let base_is_cyrillic = decomposed.first().is_some_and(|&c| is_cyrillic(c));
    let mut kept: Vec<char> = Vec::with_capacity(decomposed.len());
    for (idx, &c) in decomposed.iter().enumerate() {
        if is_diacritic(c) {
            // Latin/Greek accents are dropped (café → cafe). Cyrillic letters keep theirs (й is
            // not и) except the diaeresis on е: Russian writes ё and е interchangeably.
            let on_cyrillic_e = idx > 0 && decomposed[idx - 1] == 'е' && c == '\u{0308}';
            if !base_is_cyrillic || on_cyrillic_e {
                continue;
            }
        }
        kept.push(c);
    }
    for c in kept.into_iter().nfc() {
        // NFKC can yield a dash (`﹣` → `-`): a separator like the original would be.
        if c.is_whitespace() || is_dash(c) {
            out.push(' ');
        } else if let Some(mapped) = ascii_punctuation(c).or_else(|| strip_stroke(c)) {
            out.push(mapped);
        } else if !is_ignorable(c) {
            out.push(c);
        }
    }
}

/// Combining diacritical marks (the blocks that carry accents for Latin/Greek/Cyrillic). Marks
/// of other scripts (Devanagari vowel signs, Arabic harakat…) are letters' parts and are kept.
fn is_diacritic(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

fn is_cyrillic(c: char) -> bool {
    c.script() == Script::Cyrillic
}

/// Invisible format chars that only split words visually: soft hyphen, zero-width space and
/// joiners, word joiner, BOM. `Kabu\u{AD}lov` is `Kabulov` to a reader.
fn is_ignorable(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Latin letters whose diacritic (a stroke or a missing dot) has no Unicode decomposition, so
/// NFD cannot remove it: `Łódź` must fold like `Lodz`, `Ørsted` like `Orsted`. Applied after
/// case folding, so only lowercase forms appear.
fn strip_stroke(c: char) -> Option<char> {
    Some(match c {
        'ł' => 'l',
        'ø' => 'o',
        'đ' => 'd',
        'ħ' => 'h',
        'ŧ' => 't',
        'ƚ' => 'l',
        'ı' => 'i',
        _ => return None,
    })
}

/// Typographic quotes and apostrophes → their ASCII forms.
fn ascii_punctuation(c: char) -> Option<char> {
    Some(match c {
        '“' | '”' | '„' | '‟' | '«' | '»' | '″' | '‶' | '〝' | '〞' | '〟' | '＂' => {
            '"'
        }
        '‘' | '’' | '‚' | '‛' | '‹' | '›' | '′' | '‵' | 'ʹ' | 'ʻ' | 'ʼ' | 'ʽ' | '´' | '＇' => {
            '\''
        }
        _ => return None,
    })
}

/// Hyphens and dashes: the ASCII hyphen-minus, the typographic hyphens and dashes, the minus
/// sign, and the hyphens of other scripts (Armenian, Hebrew maqaf, Canadian syllabics, Katakana
/// double hyphen). They separate words exactly as a space does: a reader sees `Moscow-format`,
/// `Moscow–format` and `Moscow format` as the same two words (issue 11).
pub(crate) fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '‐'
            | '‑'
            | '‒'
            | '–'
            | '—'
            | '―'
            | '−'
            | '⁃'
            | '﹘'
            | '﹣'
            | '－'
            | '⸺'
            | '⸻'
            | '\u{058A}'
            | '\u{05BE}'
            | '\u{1400}'
            | '\u{2E17}'
            | '\u{2E1A}'
            | '\u{2E40}'
            | '\u{2E5D}'
            | '\u{30A0}'
    )
}

/// Whether `c` is part of a word for whole-word matching: letters, digits and combining marks
/// (Unicode-aware: Cyrillic, Greek, CJK are all word chars).
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    // The Cyrillic letters (all alphabetic) without the Unicode table lookup: the matcher asks
    // about every char of the Russian text it finds words in.
    if matches!(c, '\u{0400}'..='\u{045F}') {
        return true;
    }
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Scripts written without spaces between words: a whole-word boundary cannot be required next
/// to them or no CJK query could ever match.
const UNSPACED_SCRIPTS: [Script; 7] = [
    Script::Han,
    Script::Hiragana,
    Script::Katakana,
    Script::Thai,
    Script::Lao,
    Script::Khmer,
    Script::Myanmar,
];

/// No char below this (the first Thai letter) is in an [`UNSPACED_SCRIPTS`] script, so most
/// text is decided without a table lookup: the matcher asks about every char of every word.
const FIRST_UNSPACED: char = '\u{0E01}';

/// Whether `c` is written in a script without spaces between words (Han, Kana, Thai, Lao, Khmer,
/// Myanmar), per the Unicode Script property (UAX #24).
pub fn is_unspaced_script(c: char) -> bool {
    c >= FIRST_UNSPACED && script_is_unspaced(c)
}

/// [`is_unspaced_script`] without the fast path.
fn script_is_unspaced(c: char) -> bool {
    match c.script() {
        // Signs that only unspaced scripts share (the prolonged sound mark `ー`, the kana voicing
        // marks) belong with them; `ʼ` or a combining tilde, shared with Latin, do not.
        Script::Common | Script::Inherited => {
            let shared_by = c.script_extension();
            !shared_by.is_common()
                && !shared_by.is_inherited()
                && !shared_by.is_empty()
                && shared_by.iter().all(|s| UNSPACED_SCRIPTS.contains(&s))
        }
        script => UNSPACED_SCRIPTS.contains(&script),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_cases() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "bold_inside_phrase",
                "<b>Moscow</b> format",
                "Moscow format",
            ),
            ("paragraphs_do_not_glue", "<p>a</p><p>b</p>", "a b"),
            (
                "divs_do_not_glue",
                "<div>one</div><div>two</div>",
                "one two",
            ),
            ("br_separates", "a<br>b", "a b"),
            (
                "list_items_separate",
                "<ul><li>x</li><li>y</li></ul>",
                "x y",
            ),
            (
                "table_cells_separate",
                "<table><tr><td>x</td><td>y</td></tr></table>",
                "x y",
            ),
            ("inline_spans_join", "Ka<span>bul</span>ov", "Kabulov"),
            ("nbsp_entity", "Moscow&nbsp;format", "Moscow format"),
            ("mdash_entity_plain", "a &mdash; b", "a — b"),
            ("amp_in_html", "<p>R&amp;D</p>", "R&D"),
            ("numeric_entities", "&#1050;&#x430;", "Ка"),
            ("script_dropped", "a<script>var x = 1;</script> b", "a b"),
            (
                "style_dropped",
                "<style>p{color:red}</style><p>text</p>",
                "text",
            ),
            (
                "link_text_no_brackets",
                "see <a href=\"http://x\">the report</a>.",
                "see the report.",
            ),
            (
                "heading_no_hashes",
                "<h1>Title</h1><p>body</p>",
                "Title body",
            ),
            (
                "plain_text_unchanged",
                "Plain text, with *stars* and [brackets]",
                "Plain text, with *stars* and [brackets]",
            ),
            ("plain_text_whitespace_collapsed", "  a\n\n b\tc  ", "a b c"),
            (
                "unicode_whitespace_collapsed",
                "a\u{A0}\u{2009}b\u{3000}ж\u{B}x",
                "a b ж x",
            ),
            ("lone_less_than", "1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
            ("empty", "", ""),
            ("only_tags", "<p></p><br/>", ""),
            ("unclosed_tag", "<b>bold <i>text", "bold text"),
            ("cyrillic", "<p>Кабулов</p>", "Кабулов"),
            (
                "img_alt_invisible",
                "<p>Talks <img src=\"k.jpg\" alt=\"Zamir Kabulov at the talks\"> today</p>",
                "Talks today",
            ),
            (
                "img_title_invisible",
                "<img src=\"k.jpg\" title=\"Zamir Kabulov\" alt=\"Kabulov\">caption",
                "caption",
            ),
            (
                "linked_img_alt_invisible",
                "<a href=\"/x\" title=\"Kabulov\"><img src=\"k.jpg\" alt=\"Kabulov\"></a>Read",
                "Read",
            ),
            (
                "title_attributes_invisible",
                "<abbr title=\"Zamir Kabulov\">ZK</abbr> <span title=\"Kabulov\">said</span>",
                "ZK said",
            ),
            (
                "svg_title_invisible",
                "<svg><title>Kabulov</title><circle r=\"1\"/></svg>text",
                "text",
            ),
            (
                "superscript_unmarked",
                "the 10<sup>th</sup> round",
                "the 10th round",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(html_to_text(input), *want, "case {name}");
        }
    }

    #[test]
    fn html_to_text_survives_deep_nesting() {
        let html = "<div>".repeat(5_000) + "deep" + &"</div>".repeat(5_000);
        assert!(html_to_text(&html).contains("deep"));
        let tables = "<table><tr><td>".repeat(500) + "x";
        let _ = html_to_text(&tables);
    }

    #[test]
    fn html_to_text_reads_and_keeps_a_bounded_amount() {
        let cases: &[(&str, String)] = &[
            ("plain", "word ".repeat(MAX_HTML_BYTES)),
            ("entities", "a&amp;b ".repeat(MAX_HTML_BYTES / 4)),
            ("html", "<p>Кабулов сказал</p>".repeat(MAX_HTML_BYTES / 16)),
        ];
        for (name, input) in cases {
            assert!(input.len() > MAX_HTML_BYTES, "{name}: input large enough");
            let text = html_to_text(input);
            assert!(
                text.len() <= MAX_TEXT_BYTES && text.len() > MAX_TEXT_BYTES - 64,
                "{name}: {} bytes",
                text.len()
            );
            assert!(is_collapsed(&text), "{name}: still collapsed after the cut");
        }
        // Text past the first MAX_HTML_BYTES is never read.
        let tail = "x".repeat(MAX_HTML_BYTES) + " needle";
        assert!(!html_to_text(&format!("<p>{tail}</p>")).contains("needle"));
    }

    #[test]
    fn fold_cases() {
        let cases: &[(&str, &str, &str)] = &[
            ("ascii_lowercase", "KABULOV", "kabulov"),
            ("cyrillic_upper", "КАБУЛОВ", "кабулов"),
            ("yo_to_ye", "Ёлка ёж", "елка еж"),
            ("yo_decomposed", "е\u{0308}ж", "еж"),
            ("short_i_kept", "Йошкар-Ола мой", "йошкар ола мой"),
            ("umlaut", "Zürich", "zurich"),
            ("acute", "café", "cafe"),
            ("decomposed_acute", "cafe\u{0301}", "cafe"),
            ("sharp_s", "Straße", "strasse"),
            ("capital_sharp_s", "STRAẞE", "strasse"),
            ("greek_final_sigma", "ΟΔΟΣ οδος", "οδοσ οδοσ"),
            ("greek_tonos", "Αθήνα", "αθηνα"),
            ("ligature_nfkc", "ﬁle", "file"),
            ("fullwidth_nfkc", "ＡＢＣ", "abc"),
            ("roman_numeral", "Ⅻ", "xii"),
            ("curly_double_quotes", "“a” „b“ «c»", "\"a\" \"b\" \"c\""),
            (
                "curly_single_quotes",
                "Kabulov’s ‘x’ ‹y›",
                "kabulov's 'x' 'y'",
            ),
            ("dashes_are_spaces", "a–b—c‐d−e-f", "a b c d e f"),
            ("spaced_dash_is_one_space", "a — b - c", "a b c"),
            ("edge_dashes_trimmed", "-a- —", "a"),
            ("fullwidth_hyphen", "a－b﹣c", "a b c"),
            ("prime", "5′", "5'"),
            ("whitespace_runs", "a \n\n\t b\u{00A0}c\u{2009}d", "a b c d"),
            ("trimmed", "  a  ", "a"),
            ("soft_hyphen_removed", "Kabu\u{00AD}lov", "kabulov"),
            ("zero_width_space_removed", "Kabu\u{200B}lov", "kabulov"),
            ("cjk_unchanged", "北京", "北京"),
            ("stroke_letters", "Łódź Ørsted Đakovo", "lodz orsted dakovo"),
            ("dotless_i", "KIRIKKALE kırıkkale", "kirikkale kirikkale"),
            ("devanagari_marks_kept", "हिन्दी", "हिन्दी"),
            ("empty", "", ""),
        ];
        for (name, input, want) in cases {
            assert_eq!(fold(input), *want, "case {name}");
        }
    }

    #[test]
    fn fold_map_points_back_into_original() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // (name, original, folded needle, expected original slice)
            ("ascii", "Hello World", "world", "World"),
            ("after_accent", "Zürich Kabulov", "kabulov", "Kabulov"),
            ("accented_word", "in Zürich.", "zurich", "Zürich"),
            ("cyrillic", "посол КАБУЛОВ сказал", "кабулов", "КАБУЛОВ"),
            ("sharp_s_whole", "die Straße hier", "strasse", "Straße"),
            ("sharp_s_partial", "Straße", "stras", "Straß"),
            (
                "collapsed_whitespace",
                "Moscow\n\n  format talks",
                "moscow format",
                "Moscow\n\n  format",
            ),
            ("decomposed", "cafe\u{0301} noir", "cafe", "cafe\u{0301}"),
            (
                "hyphen",
                "the Moscow-format talks",
                "moscow format",
                "Moscow-format",
            ),
            (
                "spaced_dash",
                "Moscow – format talks",
                "moscow format",
                "Moscow – format",
            ),
            ("en_dash", "Moscow–format", "moscow format", "Moscow–format"),
        ];
        for (name, orig, needle, want) in cases {
            let f = fold_with_map(orig);
            let at = f
                .text
                .find(needle)
                .unwrap_or_else(|| panic!("case {name}: {needle} not in {}", f.text));
            let r = f.original_range(at..at + needle.len());
            assert_eq!(&orig[r], *want, "case {name}");
        }
    }

    #[test]
    fn fold_is_idempotent_on_samples() {
        for s in ["Zürich Straße ЁЖ “x” — ﬁ", "ΣΊΣΥΦΟΣ", "Ⅻ ½ ㎏", "ǅ ǆ"] {
            let once = fold(s);
            assert_eq!(fold(&once), once, "{s}");
        }
    }

    /// (name, literal, expected core)
    #[test]
    fn fold_literal_core_drops_unsafe_edges() {
        let cases: &[(&str, &str, &str)] = &[
            ("ascii_kept_whole", "Kabulov", "kabulov"),
            ("case_variant", "KaBuLoV", "kabulov"),
            ("accented_end_dropped", "Zürich café", "zurich caf"),
            ("cyrillic_last_char_dropped", "Кабулов", "кабуло"),
            ("leading_mark_dropped", "\u{301}abc", "abc"),
            ("ascii_then_mark", "cafe\u{301}", "cafe"),
            ("single_non_ascii", "ж", ""),
            ("spaces_trimmed", " moscow format ", "moscow format"),
        ];
        for (name, lit, want) in cases {
            assert_eq!(fold_literal_core(lit), *want, "case {name}");
        }
    }

    proptest::proptest! {
        /// The one collapser (OPML names and mail subjects use it too) is `split_whitespace`
        /// joined with single spaces, only faster.
        #[test]
        fn collapse_whitespace_is_split_whitespace_joined(
            text in "[a-zж.\t\n\r\u{B}\u{C} \u{85}\u{A0}\u{1680}\u{2000}-\u{200B}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}]{0,40}",
        ) {
            let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
            proptest::prop_assert_eq!(collapse_whitespace(&text), joined);
        }

        /// The regex prefilter's soundness: wherever a literal occurs in a text, its folded
        /// core occurs in the folded text (a miss here would be a missed alert).
        #[test]
        fn literal_core_occurs_in_folded_text(
            text in "(\\PC|[\u{300}-\u{36F}\u{1160}-\u{11FF}иеЙйё \n\u{A0}\u{A8}]){0,30}",
            a in 0usize..40,
            b in 0usize..40,
        ) {
            // Regexes run on the whitespace-collapsed text; the prefilter on the folded one.
            let hay = collapse_whitespace(&text);
            let bounds: Vec<usize> = hay
                .char_indices()
                .map(|(i, _)| i)
                .chain([hay.len()])
                .collect();
            let (a, b) = (bounds[a % bounds.len()], bounds[b % bounds.len()]);
            let lit = &hay[a.min(b)..a.max(b)];
            let core = fold_literal_core(lit);
            proptest::prop_assert!(
                fold(&text).contains(&core),
                "{lit:?} in {text:?}: core {core:?} not in {:?}",
                fold(&text)
            );
        }

        #[test]
        fn fold_and_fold_with_map_agree(text in "\\PC{0,60}", a in 0usize..80, b in 0usize..80) {
            let mapped = fold_with_map(&text);
            // A prefix map answers like the whole one for ranges it covers.
            let (lo, hi) = (a.min(b).min(mapped.text.len()), a.max(b).min(mapped.text.len()));
            let (prefix, _) = fold_with_map_prefix(&text, hi);
            proptest::prop_assert_eq!(prefix.original_range(lo..hi), mapped.original_range(lo..hi));
            proptest::prop_assert_eq!(fold(&text), mapped.text.clone());
            // A window resumed at any fold point answers like the whole map for the ranges
            // it covers (stride 1: a point wherever the loop may resume).
            let (folded, points) = fold_with_points(&text, 1);
            proptest::prop_assert_eq!(&folded, &mapped.text);
            for point in points.iter().filter(|p| p.folded <= lo) {
                let (window, _) = fold_with_map_from(&text, *point, hi);
                proptest::prop_assert_eq!(
                    window.original_range(lo..hi),
                    mapped.original_range(lo..hi),
                    "resumed at {:?}",
                    point
                );
            }
            let r = mapped.original_range(0..mapped.text.len());
            proptest::prop_assert!(text.get(r).is_some());
            proptest::prop_assert_eq!(is_collapsed(&text), collapse_whitespace(&text) == text);
        }
    }

    #[test]
    fn unspaced_scripts_are_told_by_the_unicode_script_property() {
        let cases: &[(&str, char, bool)] = &[
            ("thai_letter", 'ก', true),
            ("lao_letter", 'ກ', true),
            ("khmer_letter", 'ក', true),
            ("myanmar_letter", 'က', true),
            ("hiragana", 'の', true),
            ("katakana", 'カ', true),
            ("prolonged_sound_mark_shared_by_kana", 'ー', true),
            ("kana_voicing_mark_shared_by_kana", '\u{3099}', true),
            ("han_ideograph", '中', true),
            ("han_extension_b", '𠀀', true),
            ("han_compatibility_ideograph", '\u{F900}', true),
            ("han_iteration_mark", '々', true),
            ("latin", 'a', false),
            ("digit", '7', false),
            ("cyrillic", 'ж', false),
            ("hangul_is_written_with_spaces", '한', false),
            ("apostrophe_letter_shared_with_latin", 'ʼ', false),
            ("combining_tilde_shared_with_latin", '\u{0303}', false),
            ("ideographic_full_stop_shared_with_hangul", '。', false),
        ];
        for (name, c, want) in cases {
            assert_eq!(is_unspaced_script(*c), *want, "{name}: {c:?}");
        }
    }

    #[test]
    fn unspaced_script_fast_path_agrees_with_the_tables() {
        for c in '\0'..FIRST_UNSPACED {
            assert!(!script_is_unspaced(c), "{c:?} U+{:04X}", c as u32);
        }
    }

    #[test]
    fn joins_previous_fast_path_agrees_with_tables() {
        for c in (0..0x600u32).filter_map(char::from_u32) {
            let slow = canonical_combining_class(c) != 0
                || is_combining_mark(c)
                || ('\u{1160}'..='\u{11FF}').contains(&c)
                || ('\u{D7B0}'..='\u{D7FF}').contains(&c);
            assert_eq!(joins_previous(c), slow, "{c:?} U+{:04X}", c as u32);
        }
    }

    #[test]
    fn is_collapsed_agrees_with_collapse_whitespace() {
        for s in [
            "",
            "a",
            "a b",
            "a  b",
            " a",
            "a ",
            "a\nb",
            "a\tb",
            "a\u{A0}b",
            "ж ж",
            "ж\u{3000}ж",
            "a\u{B}b",
            "a\u{1F}b",
            "Zürich “x” — y",
        ] {
            assert_eq!(is_collapsed(s), collapse_whitespace(s) == s, "{s:?}");
        }
    }

    #[test]
    fn prefix_map_agrees_with_whole_map_before_trailing_whitespace() {
        // The whole fold maps its last char's end past the trimmed trailing whitespace; a
        // prefix fold that stops just after that char must too (found by proptest).
        for text in ["ab cd ", "ab Ύ ", "Кабулов  \n", "x\u{A8}"] {
            let whole = fold_with_map(text);
            for end in 0..=whole.text.len() {
                let (prefix, _) = fold_with_map_prefix(text, end);
                assert_eq!(
                    prefix.original_range(0..end),
                    whole.original_range(0..end),
                    "{text:?} ..{end}"
                );
            }
        }
    }

    #[test]
    fn resumed_fold_maps_like_the_whole_fold() {
        // Points between words of every kind of text: whitespace runs, dashes, Cyrillic,
        // accents, a trailing space (owed, then trimmed), and a text with no point at all.
        for text in [
            "Zamir  Kabulov said — in Moscow-format talks ",
            "посол  Кабулов\nзаявил, что «московский формат» ",
            "Zürich, Straße; cafe\u{301} noir — ǅ ½",
            "北京北京",
        ] {
            let whole = fold_with_map(text);
            let (folded, points) = fold_with_points(text, 1);
            assert_eq!(folded, whole.text, "{text:?}");
            assert!(text.is_ascii() || !points.is_empty() || !text.contains(' '));
            for point in &points {
                for start in point.folded..=whole.text.len() {
                    for end in start..=whole.text.len() {
                        let (window, _) = fold_with_map_from(text, *point, end);
                        assert_eq!(
                            window.original_range(start..end),
                            whole.original_range(start..end),
                            "{text:?} from {point:?}: {start}..{end}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn word_chars_are_unicode_aware() {
        let cases = [
            ('a', true),
            ('Я', true),
            ('ж', true),
            ('7', true),
            ('\'', false),
            ('-', false),
            (' ', false),
            ('北', true),
        ];
        for (c, want) in cases {
            assert_eq!(is_word_char(c), want, "{c:?}");
        }
    }

    /// The Cyrillic fast path answers what the Unicode tables do, for every char it covers.
    #[test]
    fn cyrillic_fast_path_agrees_with_unicode() {
        for c in '\u{0400}'..='\u{045F}' {
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "{c:?}");
        }
    }
}
