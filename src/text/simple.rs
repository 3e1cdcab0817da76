//! The plain text of the simple markup most feeds put in their summaries (`<p>`, `<br>`,
//! `<a>`, `<b>`, `<em>` …, and the common entities), without building a document tree.
//!
//! html2text (html5ever underneath) is what [`super::html_to_text`] relies on; on issue 13's
//! farm it was half of the parsing cost of a first poll, for summaries that are a few
//! paragraphs with a link. [`plain_text`] reads only markup whose text html2text gives without
//! doubt — the text with inline tags removed, block tags read as line breaks, entities
//! decoded — and answers `None` for anything else (comments, scripts, tables, lists, unknown
//! entities, odd tag syntax …), which then goes to html2text as before. A differential test
//! checks that both agree on every input this path accepts.

/// Tags whose start or end separates text (html2text puts a line break there).
const BLOCK: &[&str] = &["p", "div", "br"];
/// Tags that only style their text: removed without a trace.
const INLINE: &[&str] = &[
    "a", "b", "i", "u", "em", "strong", "span", "font", "small", "abbr", "cite", "mark", "time",
];

/// Deepest nesting this path follows; deeper markup goes to html2text.
const MAX_DEPTH: usize = 32;

/// An element this path has open: its name, and whether any text but whitespace is in it.
struct Open {
    name: &'static str,
    has_text: bool,
}

/// The text of `html` as html2text would give it before whitespace is collapsed (block
/// boundaries as spaces), or `None` when the markup is not simple enough to be sure.
///
/// Beyond the tag and entity lists, "simple" means well nested, with no empty element (an
/// empty `<p>` gives no line break, a link holding only a space loses it: html2text's own
/// ways, not worth copying), no `<p>` or `<div>` inside a `<p>` and no link inside a link
/// (html5ever closes the outer one there).
pub fn plain_text(html: &str) -> Option<String> {
    let mut out = String::with_capacity(html.len());
    let mut open: Vec<Open> = Vec::new();
    let mut rest = html;
    loop {
        let stop = rest.find(['<', '&']).unwrap_or(rest.len());
        let (text, tail) = rest.split_at(stop);
        if text.chars().any(special) {
            return None;
        }
        if text.chars().any(|c| !c.is_whitespace()) {
            open.iter_mut().for_each(|o| o.has_text = true);
        }
        out.push_str(text);
        let Some(first) = tail.as_bytes().first() else {
            // Elements left open are closed by html5ever; each must hold text.
            return open.iter().all(|o| o.has_text).then_some(out);
        };
        rest = if *first == b'<' {
            // Only names of the two lists come back.
            let (name, end, after) = tag(tail)?;
            let block = BLOCK.contains(&name);
            if name == "br" {
                if end {
                    return None;
                }
            } else if end {
                let top = open.pop()?;
                if top.name != name || !top.has_text {
                    return None;
                }
            } else {
                let inside = |n: &str| open.iter().any(|o| o.name == n);
                let closes_outer = (block && inside("p")) || (name == "a" && inside("a"));
                if closes_outer || open.len() >= MAX_DEPTH {
                    return None;
                }
                open.push(Open {
                    name,
                    has_text: false,
                });
            }
            if block {
                out.push(' ');
            }
            after
        } else {
            let (c, after) = entity(tail)?;
            if special(c) {
                return None;
            }
            if !c.is_whitespace() {
                open.iter_mut().for_each(|o| o.has_text = true);
            }
            out.push(c);
            after
        };
    }
}

/// Characters html2text may treat its own way: controls, and invisible formatting characters
/// (a zero-width space it drops, a soft hyphen …).
fn special(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
        || matches!(c, '\u{7f}'..='\u{9f}' | '\u{ad}' | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// The name (from [`BLOCK`] or [`INLINE`], matched in any ASCII case) of the start or end tag
/// `s` opens with, whether it is an end tag, and what follows it; `None` for another name, or
/// anything but a plain tag (`<name attr="v">`, `</name>`, `<name/>`). The lists' own names
/// are returned, so reading a tag allocates nothing.
fn tag(s: &str) -> Option<(&'static str, bool, &str)> {
    let body = s.strip_prefix('<')?;
    let (end, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let name_len = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if name_len == 0 || !body.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    let written = &body[..name_len];
    let name = BLOCK
        .iter()
        .chain(INLINE)
        .find(|n| n.eq_ignore_ascii_case(written))
        .copied()?;
    let attrs = &body[name_len..];
    match attrs.bytes().next()? {
        b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | 0x0C => {}
        _ => return None,
    }
    // Find the `>` that ends the tag, skipping quoted attribute values (which may hold `>`).
    let bytes = attrs.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return Some((name, end, &attrs[i + 1..])),
            q @ (b'"' | b'\'') => {
                let close = attrs[i + 1..].find(char::from(q))?;
                i += close + 2;
            }
            // A `<` inside a tag is something html5ever reads its own way.
            b'<' => return None,
            _ => i += 1,
        }
    }
    None
}

/// The character the entity `s` opens with stands for, and what follows it; `None` for an
/// entity this path does not know (html5ever knows all of them, and its quirks).
fn entity(s: &str) -> Option<(char, &str)> {
    let end = s.bytes().take(12).position(|b| b == b';')?;
    let (name, after) = (&s[1..end], &s[end + 1..]);
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.len() <= 6 => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !num.is_empty() && num.len() <= 7 => num.parse().ok()?,
                _ => return None,
            };
            // Controls, C1 (which html5ever maps to windows-1252), surrogates and
            // noncharacters are html5ever's to decide.
            let plain =
                matches!(code, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFFD);
            if !plain {
                return None;
            }
            char::from_u32(code)?
        }
    };
    Some((c, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// html2text's reading, as `html_to_text` gives it without this path.
    fn html2text_way(html: &str) -> String {
        super::super::render_html(html).expect("renders")
    }

    #[test]
    fn simple_markup_reads_as_html2text_reads_it() {
        let cases: &[(&str, &str)] = &[
            ("paragraphs", "<p>Moscow format</p><p>Kabulov said</p>"),
            (
                "link",
                "Envoy <a href=\"https://x.test/?a=1&amp;b=2\">Kabulov</a> said",
            ),
            ("inline_joins", "Ka<span class='x'>bul</span>ov"),
            ("br", "a<br>b<br/>c<BR />d"),
            (
                "entities",
                "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x41;&nbsp;f",
            ),
            ("quoted_gt", "<a title=\"a > b\">x</a>y"),
            ("cyrillic", "<p>по словам Замира&nbsp;Кабулова</p>"),
            ("whitespace", "  <p>\n a \t b </p>\r\n<div> c</div> "),
            ("nested", "<div><p><b>a</b> <i>b</i></p></div><em>c</em>"),
        ];
        for (name, html) in cases {
            let fast = plain_text(html).unwrap_or_else(|| panic!("{name}: not simple"));
            assert_eq!(
                super::super::collapse_whitespace(&fast),
                html2text_way(html),
                "{name}"
            );
        }
    }

    #[test]
    fn anything_else_is_left_to_html2text() {
        let cases: &[(&str, &str)] = &[
            ("comment", "a<!-- b -->c"),
            ("script", "<script>x()</script>a"),
            ("table", "<table><tr><td>a</td></tr></table>"),
            ("list", "<ul><li>a</li></ul>"),
            ("image", "<img alt=\"Kabulov\" src=x>"),
            ("unknown_entity", "a &mdash; b"),
            ("entity_without_semicolon", "a &amp b"),
            ("c1_reference", "&#150;"),
            ("bare_lt", "a < b"),
            ("stray_end", "</b>a</p>b"),
            ("empty_paragraph", "a<p></p>b"),
            ("blank_link", "a<a href=x> </a>b"),
            ("link_in_link", "<a href=x>a<a href=y>b</a></a>"),
            ("misnested", "<b><i>a</b></i>"),
            ("div_in_paragraph", "<p>a<div>b</div></p>"),
            ("unclosed_tag", "a <b"),
            ("unclosed_quote", "<a href=\"x>y"),
            ("control", "a\u{1}b"),
        ];
        for (name, html) in cases {
            assert_eq!(plain_text(html), None, "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn whenever_this_path_reads_markup_html2text_reads_it_the_same(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "Kabulov", "Moscow", "format", "Кабулов", "a", " ", "  ", "\n", "\t", "\u{a0}",
                "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x41;", "&nbsp;", "&#1050;",
                "<p>", "</p>", "<br>", "<br/>", "<b>", "</b>", "<i>", "</i>", "<em>", "</em>",
                "<a href=\"x?a=1&amp;b=2\">", "</a>", "<div class='c'>", "</div>", "<span>",
                "</span>", "<strong>", "</strong>", "<P>", "</DIV>", "\u{ad}", "\u{200b}", ".",
                ",", "—", "«", "»", "&#8203;", "\u{2009}", "\u{3000}", "<a>", "<p >",
                "</p >", "<span\ttitle=\"a>b\">", "&#160;", "&#x2014;", "\r\n",
            ]), 0..24)
        ) {
            let html: String = parts.concat();
            if let Some(fast) = plain_text(&html) {
                proptest::prop_assert_eq!(
                    super::super::collapse_whitespace(&fast),
                    html2text_way(&html),
                    "{:?}", html
                );
            }
        }
    }
}
