//! Bounds how deeply nested the HTML handed to html2text can be ([`bound_depth`]).
//!
//! html5ever's tree builder scans its stack of open elements for most tags, and html2text
//! renders each nested block into its own buffer: both costs grow with the square of the
//! nesting depth (issue 10: 40,000 nested `<div>`s took 12 s, 60,000 took 60 s). No article
//! nests anywhere near [`MAX_HTML_DEPTH`]; in a document that does, every tag beyond that depth
//! is replaced by a space and its text is kept, so rules still see every word.
//!
//! This is a filter, not a parser: the document is copied through and only tags are judged.
//! Its count of open elements must never be below html5ever's, or a crafted document could
//! slip past it, so:
//! - what it could read differently from html5ever never reaches html5ever: comments,
//!   `<!…>`/`<?…>` declarations and `<script>`/`<style>` are removed (a reader sees none of
//!   them), and the few elements whose content is not markup (`<textarea>`, `<title>`, `<xmp>`,
//!   `<iframe>`, `<noembed>`, `<noframes>`, `<plaintext>`) become their escaped content;
//! - tags are delimited with the HTML tokenizer's own attribute rules (WHATWG HTML §13.2.5.32–
//!   §13.2.5.42), so a quote or `>` inside an attribute cannot hide tags from the count;
//! - an element leaves the count only when html5ever surely closes it too: the end tag of the
//!   element on top; a `<p>`, `<li>`, `<dd>`, `<dt>` or `<option>` after one of its own name; the
//!   end tag of a block element with only implicitly closed elements (`<p>`, `<li>`, …) above
//!   it. Anything else (mis-nested end tags) keeps counting, which only errs on the safe side.
//!
//! html5ever may still add a few elements of its own (`<tbody>`, reopened `<b>`s), so its depth
//! stays within a small multiple of [`MAX_HTML_DEPTH`]; the tests measure it on hostile input.

use std::borrow::Cow;

/// Deepest element nesting html2text is given; tags nested deeper become a space.
pub const MAX_HTML_DEPTH: usize = 256;

/// Elements that hold no content and so never nest (WHATWG HTML §13.1.2, plus the legacy names
/// html5ever treats the same way).
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose content html5ever reads as text, not markup, and a reader never sees.
const HIDDEN_RAW: &[&str] = &["script", "style"];

/// Elements whose content html5ever reads as text, not markup, and shows: (name, whether
/// entities in it are decoded). `<plaintext>` has no end: all that follows is its text.
const SHOWN_RAW: &[(&str, bool)] = &[
    ("textarea", true),
    ("title", true),
    ("xmp", false),
    ("iframe", false),
    ("noembed", false),
    ("noframes", false),
    ("plaintext", false),
];

/// Start tags that close an element of their own name on top of the stack (html5ever does the
/// same whenever it is on top: WHATWG HTML §13.2.6.4.7, "in body", `p`, `li`, `dd`/`dt`,
/// `option`).
const CLOSES_SIBLING: &[&str] = &["p", "li", "dd", "dt", "option"];

/// Elements html5ever closes implicitly when a block around them ends ("generate implied end
/// tags", WHATWG HTML §13.2.6.3).
const IMPLIED_END: &[&str] = &[
    "p", "li", "dd", "dt", "option", "optgroup", "rb", "rp", "rt", "rtc",
];

/// How many implicitly closed elements an end tag may close on its way to its own element;
/// a bound so that each tag costs a constant (a deeper match is simply not closed: safe).
const IMPLIED_SCAN: usize = 8;

/// Blocks whose end tag closes them (and the [`IMPLIED_END`] elements above them) whenever they
/// are in scope (WHATWG HTML §13.2.6.4.7, "in body", end tags).
const CLOSES_IN_SCOPE: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "pre",
    "search",
    "section",
    "summary",
    "ul",
    "p",
    "li",
    "dd",
    "dt",
];

fn is_one_of(name: &str, set: &[&str]) -> bool {
    set.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// `html` with every tag nested deeper than [`MAX_HTML_DEPTH`] replaced by a space. Borrowed
/// when the document has too few tags to nest that deep at all (most feed HTML).
pub(super) fn bound_depth(html: &str) -> Cow<'_, str> {
    if html.match_indices('<').nth(MAX_HTML_DEPTH).is_none() {
        return Cow::Borrowed(html);
    }
    let mut filter = Filter {
        html,
        out: String::with_capacity(html.len()),
        open: Vec::with_capacity(MAX_HTML_DEPTH),
        excess: 0,
    };
    filter.run();
    Cow::Owned(filter.out)
}

/// One pass of [`bound_depth`].
struct Filter<'a> {
    html: &'a str,
    out: String,
    /// Names of the elements counted as open, outermost first; never longer than
    /// [`MAX_HTML_DEPTH`].
    open: Vec<&'a str>,
    /// Start tags replaced by a space (the stack was full) not yet matched by an end tag, which
    /// is then replaced too.
    excess: usize,
}

/// What starts at a `<`.
enum Markup<'a> {
    /// Not markup: the `<` is text (`a < b`, `<3`).
    Text,
    /// Invisible markup up to this byte offset (a comment, a declaration, `</>`): removed.
    Invisible(usize),
    /// `<name …>`; `end` is the offset after its `>`.
    Start { name: &'a str, end: usize },
    /// `</name …>`.
    End { name: &'a str, end: usize },
}

impl<'a> Filter<'a> {
    fn run(&mut self) {
        let html = self.html;
        let mut at = 0;
        while let Some(lt) = html[at..].find('<').map(|i| at + i) {
            self.out.push_str(&html[at..lt]);
            let Some(markup) = markup_at(html, lt) else {
                // A tag or comment that never ends: html5ever shows nothing from here on.
                return;
            };
            at = match markup {
                Markup::Text => {
                    // Escaped, so that no removal next to it can splice a tag together.
                    self.out.push_str("&lt;");
                    lt + 1
                }
                Markup::Invisible(end) => end,
                Markup::Start { name, end } => self.start_tag(lt, name, end),
                Markup::End { name, end } => {
                    self.end_tag(name, &html[lt..end]);
                    end
                }
            };
        }
        self.out.push_str(&html[at..]);
    }

    /// Handles the start tag `html[lt..end]`; returns where scanning goes on.
    fn start_tag(&mut self, lt: usize, name: &'a str, end: usize) -> usize {
        let html = self.html;
        if is_one_of(name, HIDDEN_RAW) {
            return raw_end(html, end, name).map_or(html.len(), |(_, after)| after);
        }
        if let Some(&(_, decodes_entities)) =
            SHOWN_RAW.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            let (content_end, after) = raw_end(html, end, name).unwrap_or((html.len(), html.len()));
            self.out.push(' ');
            escape_into(&mut self.out, &html[end..content_end], decodes_entities);
            self.out.push(' ');
            return after;
        }
        if is_one_of(name, VOID) {
            self.out.push_str(&html[lt..end]);
            return end;
        }
        // `<div/>` opens a div in HTML (the slash is ignored), so it counts like `<div>`.
        if self.excess == 0
            && is_one_of(name, CLOSES_SIBLING)
            && self
                .open
                .last()
                .is_some_and(|top| top.eq_ignore_ascii_case(name))
        {
            self.open.pop();
        }
        if self.excess == 0 && self.open.len() < MAX_HTML_DEPTH {
            self.open.push(name);
            self.out.push_str(&html[lt..end]);
        } else {
            self.excess += 1;
            self.out.push(' ');
        }
        end
    }

    fn end_tag(&mut self, name: &str, tag: &str) {
        if self.excess > 0 {
            self.excess -= 1;
            self.out.push(' ');
            return;
        }
        let scan = if is_one_of(name, CLOSES_IN_SCOPE) {
            IMPLIED_SCAN + 1
        } else {
            1
        };
        // From the top: the element itself, past at most IMPLIED_SCAN implicitly closed ones.
        for (above, n) in self.open.iter().rev().take(scan).enumerate() {
            if n.eq_ignore_ascii_case(name) {
                self.open.truncate(self.open.len() - above - 1);
                break;
            }
            if !is_one_of(n, IMPLIED_END) {
                break;
            }
        }
        // A stray end tag opens nothing (html5ever ignores it, or makes an empty `<p>`/`<br>`).
        self.out.push_str(tag);
    }
}

/// Reads the markup starting at `html[lt]` (a `<`) the way the HTML tokenizer does in its data
/// state. `None`: it runs to the end of the document (html5ever then drops it).
fn markup_at(html: &str, lt: usize) -> Option<Markup<'_>> {
    let b = html.as_bytes();
    let next = b.get(lt + 1).copied();
    // A tag whose name starts at `from`: its name and where it ends.
    let tag = |from: usize| {
        let name_end = name_end(b, from);
        tag_end(b, name_end).map(|end| (&html[from..name_end], end))
    };
    match next {
        Some(c) if c.is_ascii_alphabetic() => {
            tag(lt + 1).map(|(name, end)| Markup::Start { name, end })
        }
        Some(b'/') => match b.get(lt + 2).copied() {
            Some(c) if c.is_ascii_alphabetic() => {
                tag(lt + 2).map(|(name, end)| Markup::End { name, end })
            }
            Some(b'>') => Some(Markup::Invisible(lt + 3)),
            // `</` then anything else is a bogus comment up to `>` (§13.2.5.9).
            Some(_) => find_from(html, lt + 2, ">").map(|i| Markup::Invisible(i + 1)),
            None => Some(Markup::Text),
        },
        Some(b'!') if html[lt..].starts_with("<!--") => {
            comment_end(html, lt).map(Markup::Invisible)
        }
        // Any other `<!…>` (a doctype, `<![CDATA[` outside SVG) or `<?…>` is invisible up to
        // the first `>` (§13.2.5.42, §13.2.5.6).
        Some(b'!' | b'?') => find_from(html, lt + 2, ">").map(|i| Markup::Invisible(i + 1)),
        _ => Some(Markup::Text),
    }
}

/// Where the comment starting at `html[lt]` (`<!--`) ends: after `-->` or `--!>`, searched from
/// just after `<!` because `<!-->` and `<!--->` are complete (empty) comments. Only how far the
/// comment reaches matters for fidelity, not for the bound: it is removed either way.
fn comment_end(html: &str, lt: usize) -> Option<usize> {
    let mut at = lt + 2;
    loop {
        let dashes = find_from(html, at, "--")?;
        let rest = &html[dashes + 2..];
        if rest.starts_with('>') {
            return Some(dashes + 3);
        }
        if rest.starts_with("!>") {
            return Some(dashes + 4);
        }
        at = dashes + 1;
    }
}

fn find_from(html: &str, from: usize, needle: &str) -> Option<usize> {
    html.get(from..)?.find(needle).map(|i| from + i)
}

fn is_tag_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// End of the tag name that starts at `b[from]`.
fn name_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| is_tag_space(c) || c == b'/' || c == b'>')
        .map_or(b.len(), |i| from + i)
}

/// Where the tag whose name ends at `from` ends (the offset after its `>`), by the tokenizer's
/// attribute states (WHATWG HTML §13.2.5.32–§13.2.5.42): a
/// quote only opens a value right after `=`, and a `>` ends the tag anywhere but inside one.
/// `None`: the document ends inside the tag.
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    #[derive(Clone, Copy)]
    enum State {
        /// Between attributes (also just after the name).
        Between,
        /// In an attribute name.
        Name,
        /// After an attribute name, before `=` or the next attribute.
        AfterName,
        /// After `=`.
        BeforeValue,
        DoubleQuoted,
        SingleQuoted,
        Unquoted,
        /// Right after a `/`.
        Slash,
    }
    let mut state = State::Between;
    for (i, &c) in b.iter().enumerate().skip(from) {
        state = match (state, c) {
            (State::DoubleQuoted, b'"') | (State::SingleQuoted, b'\'') => State::Between,
            (State::DoubleQuoted, _) => State::DoubleQuoted,
            (State::SingleQuoted, _) => State::SingleQuoted,
            (_, b'>') => return Some(i + 1),
            (State::Unquoted, c) if is_tag_space(c) => State::Between,
            (State::Unquoted, _) => State::Unquoted,
            (State::BeforeValue, b'"') => State::DoubleQuoted,
            (State::BeforeValue, b'\'') => State::SingleQuoted,
            (State::BeforeValue, c) if is_tag_space(c) => State::BeforeValue,
            (State::BeforeValue, _) => State::Unquoted,
            (State::Name | State::AfterName, b'=') => State::BeforeValue,
            (State::Name | State::AfterName, c) if is_tag_space(c) => State::AfterName,
            (State::Between | State::Slash, c) if is_tag_space(c) => State::Between,
            (_, b'/') => State::Slash,
            // `=` where a name is expected starts a name (§13.2.5.32).
            _ => State::Name,
        };
    }
    None
}

/// For a raw-text element whose start tag ends at `from`: where its content ends (at
/// `</name` followed by a space, `/` or `>`, §13.2.5.3) and where its end tag ends. `None`: it
/// has no end tag, so its content runs to the end of the document.
fn raw_end(html: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    let b = html.as_bytes();
    let mut at = from;
    loop {
        let lt = find_from(html, at, "</")?;
        let name_end = lt + 2 + name.len();
        let named = b
            .get(lt + 2..name_end)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        if named
            && b.get(name_end)
                .is_some_and(|&c| is_tag_space(c) || c == b'/' || c == b'>')
        {
            // Past `</name`, html5ever is in the end tag's attribute states.
            let after = tag_end(b, name_end).unwrap_or(html.len());
            return Some((lt, after));
        }
        at = lt + 2;
    }
}

/// Appends `text` so that html5ever reads it back as the same text: `<` always escaped, `&`
/// too when the element it came from does not decode entities.
fn escape_into(out: &mut String, text: &str, decodes_entities: bool) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' if !decodes_entities => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How deep html5ever's tree for `html` is, as html2text builds it (elements and text).
    fn parsed_depth(html: &str) -> usize {
        let dom = html2text::config::plain()
            .parse_html(html.as_bytes())
            .expect("html5ever parses anything");
        let mut deepest = 0;
        let mut stack = vec![(dom.document.clone(), 0usize)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            for child in node.children.borrow().iter() {
                stack.push((child.clone(), depth + 1));
            }
        }
        deepest
    }

    /// What html5ever may add on top of the filter's count: `<html>`, `<body>`, a `<tbody>` and
    /// `<tr>` per table, reopened formatting elements. Measured, with room to spare.
    const PARSED_DEPTH_BOUND: usize = 3 * MAX_HTML_DEPTH;

    #[test]
    fn sixty_thousand_nested_divs_are_flattened_beyond_the_limit_and_keep_their_text() {
        let html = "<div>".repeat(60_000) + "deep text" + &"</div>".repeat(60_000);
        let bounded = bound_depth(&html);
        assert_eq!(bounded.matches("<div>").count(), MAX_HTML_DEPTH);
        assert_eq!(bounded.matches("</div>").count(), MAX_HTML_DEPTH);
        assert!(bounded.contains("deep text"));
        let depth = parsed_depth(&bounded);
        assert!(
            (MAX_HTML_DEPTH..MAX_HTML_DEPTH + 4).contains(&depth),
            "{depth}"
        );
        assert_eq!(super::super::html_to_text(&html), "deep text");
    }

    /// Each pattern, repeated, would nest thousands deep in html5ever if the filter read it
    /// differently from html5ever (a quote, a comment, raw text, a mis-nested end tag).
    #[test]
    fn crafted_nesting_cannot_slip_past_the_filter() {
        let cases: &[(&str, &str)] = &[
            ("plain_divs", "<div>"),
            ("unclosed_paragraph_in_div", "<div><p>x"),
            ("end_tag_across_a_table", "<div><table></div>"),
            ("end_tag_across_a_cell", "<div><table><td></div>"),
            ("form_end_tag_removes_not_pops", "<form><div></form>"),
            ("li_end_across_a_list", "<li><ul></li>"),
            ("p_end_after_li", "<p><li></p>"),
            ("span_end_across_a_block", "<span><p></span>"),
            ("formatting_reopened_per_block", "<b><p>x</b>"),
            ("anchor_in_anchor", "<a><div>"),
            ("self_closing_div", "<div/>"),
            ("comment_inside_script", "<script><!--</script><div>"),
            ("spliced_by_a_removed_comment", "<<!---->div>"),
            ("abrupt_empty_comment", "<!--><div>"),
            ("bang_comment_end", "<!-- --!><div>"),
            ("quote_in_attribute_name", "<div x\"><div>"),
            ("gt_in_quoted_value", "<div a='>'><div>"),
            ("equals_before_name", "<div =\"x><div>"),
            ("script_in_svg", "<svg><script><div>"),
            ("cdata_in_svg", "<svg><![CDATA[<div>]]><div>"),
            ("textarea_then_div", "<textarea>t</textarea><div>"),
            ("title_end_with_attributes", "<title>t</title x='>'><div>"),
            ("select_and_options", "<select><option><div>"),
            ("template", "<template><div>"),
            ("math_text", "<math><mi><div>"),
            ("custom_elements", "<x-a><x-b>"),
            ("upper_case", "<DIV><P>x</p>"),
        ];
        for (name, pattern) in cases {
            let html = pattern.repeat(4_000) + "end";
            let depth = parsed_depth(&bound_depth(&html));
            assert!(depth <= PARSED_DEPTH_BOUND, "{name}: depth {depth}");
        }
        // Formatting elements that differ only in attributes all stay in html5ever's list of
        // active formatting elements, and each new block reopens them all.
        let reopened: String = (0..4_000).map(|i| format!("<b id={i}><p>x</p>")).collect();
        let depth = parsed_depth(&bound_depth(&reopened));
        assert!(depth <= PARSED_DEPTH_BOUND, "distinct formatting: {depth}");
    }

    /// Ordinary documents read exactly as before: the filter only touches tags beyond the depth
    /// limit, and what it removes (comments, scripts) html2text never shows.
    #[test]
    fn shallow_documents_convert_exactly_as_without_the_filter() {
        let convert = |html: &str| super::super::render_html(html);
        let cases: Vec<(&str, String)> = vec![
            (
                "long_article",
                "<p>Envoy <b>Zamir</b> Kabulov said &amp; <a href=\"http://x/?a=1&b=2\">more</a>.</p>\n"
                    .repeat(600),
            ),
            (
                "sloppy_paragraphs_and_lists",
                "<div><p>one<p>two<ul><li>a<li>b</ul></div>".repeat(300),
            ),
            (
                "comments_scripts_styles",
                "<p>x<!-- hidden <div> --></p><script>if (a < b) { document.write('<div>') }</script><style>p{}</style><p>y</p>".repeat(300),
            ),
            (
                "tables",
                "<table><tr><td>cell</td><td>two</td></tr></table>".repeat(300),
            ),
            (
                "attributes_with_markup",
                "<p title='a > b' data-x=\"<div>\">text</p>".repeat(300),
            ),
            (
                "text_with_less_than",
                "<p>1 < 2 and 3 <= 4, <3 </p>".repeat(300),
            ),
        ];
        for (name, html) in cases {
            assert!(
                matches!(bound_depth(&html), Cow::Owned(_)),
                "{name}: filtered"
            );
            assert_eq!(convert(&bound_depth(&html)), convert(&html), "{name}");
        }
    }

    #[test]
    fn documents_with_few_tags_are_not_copied() {
        let html = "<p>a</p>".repeat(MAX_HTML_DEPTH / 2);
        assert!(matches!(bound_depth(&html), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Tag soup from the pieces that make tokenizers and tree builders disagree never
        /// nests deeper than the bound once filtered.
        #[test]
        fn filtered_tag_soup_stays_within_the_depth_bound(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "<div>", "</div>", "<p>", "</p>", "<li>", "</li>", "<ul>", "</ul>", "<b>",
                    "</b>", "<b id=1>", "<a>", "</a>", "<table>", "</table>", "<tr>", "<td>",
                    "<form>", "</form>", "<span>", "</span>", "<svg>", "<math>", "<select>",
                    "<option>", "<template>", "<script>", "</script>", "<style>", "<textarea>",
                    "<title>", "<!--", "-->", "--!>", "<!", "<?", "<![CDATA[", "]]>", "<", ">",
                    "\"", "'", "=", " ", "/", "x", "&lt;", "<plaintext>",
                ]),
                0..2_500,
            )
        ) {
            let html: String = pieces.concat();
            let depth = parsed_depth(&bound_depth(&html));
            proptest::prop_assert!(depth <= PARSED_DEPTH_BOUND, "depth {}", depth);
        }
    }
}
