//! The farm's documents, shared by `benches/farm.rs` (which serves them) and
//! `benches/floor.rs` (which parses and inserts the same ones): feed `n` at `version` is a
//! distinct RSS 2.0 or Atom document of `items` items, each with a title, link, id, date and an
//! HTML summary (escaped, as real feeds send it) of pseudo-words from a 4,096-word vocabulary,
//! so that no two items read alike (story de-duplication compares titles and leads).
//!
//! A feed "gains items" by bumping its version: [`NEW_ITEMS_PER_CHANGE`] new items at the top,
//! as many old ones drop off the bottom. Some items carry [`TOKEN`] in their title (about one
//! in [`TOKEN_EVERY`], chosen by a hash of feed and item): the rules the farm configures match
//! those, so a round's alerts are known in advance ([`Shape::matching_new_items`]).

#![allow(dead_code)] // each bench uses its own part

use std::fmt::Write as _;

/// Items a changed feed gains per version bump.
pub const NEW_ITEMS_PER_CHANGE: u32 = 2;
/// The word the farm's alerting rule watches.
pub const TOKEN: &str = "Kabulov";
/// About one item in this many carries [`TOKEN`].
pub const TOKEN_EVERY: u64 = 19;

/// What the farm's documents look like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Items per document.
    pub items: u32,
    /// Share of feeds (percent) served as Atom; the rest are RSS 2.0.
    pub atom_percent: usize,
    /// Words in each item's summary.
    pub words: usize,
    /// Every version's newest item carries the token (latency runs: one alert per change).
    pub newest_matches: bool,
}

impl Shape {
    /// `items` items per document, about 5 KB in all.
    pub fn new(items: u32, atom_percent: usize) -> Shape {
        // ~270 bytes of markup per item; the rest of ~5 KB is summary words of ~8 bytes.
        let words = (5_000 / items.max(1) as usize).saturating_sub(270) / 8;
        Shape {
            items,
            atom_percent,
            words: words.clamp(6, 60),
            newest_matches: false,
        }
    }

    /// Whether feed `n` is served as Atom (spread evenly: every other feed at 50 %).
    pub fn is_atom(&self, n: usize) -> bool {
        (n * self.atom_percent) % 100 + self.atom_percent > 99 && self.atom_percent > 0
    }

    /// The item numbers (newest first) in feed `n`'s document at `version`.
    pub fn item_range(&self, version: u32) -> std::ops::Range<u32> {
        let newest = version * NEW_ITEMS_PER_CHANGE + self.items;
        newest - self.items..newest
    }

    /// Whether item `k` of feed `n` carries the token.
    pub fn has_token(&self, n: usize, k: u32) -> bool {
        if self.newest_matches {
            return k >= self.items && (k - self.items) % NEW_ITEMS_PER_CHANGE == 1;
        }
        mix(n as u64, u64::from(k), 0xabc).is_multiple_of(TOKEN_EVERY)
    }

    /// How many of the items feed `n` gains going from `version - 1` to `version` carry the
    /// token (each is one alert).
    pub fn matching_new_items(&self, n: usize, version: u32) -> usize {
        let newest = version * NEW_ITEMS_PER_CHANGE + self.items;
        (newest - NEW_ITEMS_PER_CHANGE..newest)
            .filter(|&k| self.has_token(n, k))
            .count()
    }

    /// `(content type, document)` of feed `n` at `version`, links under `origin`.
    pub fn document(&self, origin: &str, n: usize, version: u32) -> (&'static str, String) {
        let atom = self.is_atom(n);
        let mut s = String::with_capacity(6 * 1024);
        if atom {
            let _ = write!(
                s,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Farm feed {n}</title>\
                 <id>urn:farm:{n}</id><link href=\"{origin}/\"/><updated>{}</updated>\n",
                date(self.item_range(version).end).to_rfc3339()
            );
        } else {
            let _ = write!(
                s,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
                 <title>Farm feed {n}</title><link>{origin}/</link>\
                 <description>Synthetic feed {n} of the feedwatch load benchmark</description>\n"
            );
        }
        for k in self.item_range(version).rev() {
            let token = if self.has_token(n, k) { TOKEN } else { "" };
            let title = format!(
                "Story {k} from feed {n}: {} {} {token}",
                word(n, k, 1),
                word(n, k, 2)
            );
            let mut summary = String::from("&lt;p&gt;");
            for i in 0..self.words {
                if i == self.words / 2 {
                    summary.push_str("&lt;/p&gt;&lt;p&gt;");
                }
                summary.push_str(word(n, k, i + 3));
                summary.push(' ');
            }
            summary.push_str("&lt;/p&gt;");
            let link = format!("{origin}/feed/{n}/story/{k}");
            if atom {
                let _ = writeln!(
                    s,
                    "<entry><title>{title}</title><link href=\"{link}\"/>\
                     <id>urn:farm:{n}:{k}</id><updated>{}</updated>\
                     <summary type=\"html\">{summary}</summary></entry>",
                    date(k).to_rfc3339()
                );
            } else {
                let _ = writeln!(
                    s,
                    "<item><title>{title}</title><link>{link}</link>\
                     <guid isPermaLink=\"false\">farm-{n}-{k}</guid>\
                     <pubDate>{}</pubDate><description>{summary}</description></item>",
                    date(k).to_rfc2822()
                );
            }
        }
        s.push_str(if atom {
            "</feed>\n"
        } else {
            "</channel></rss>\n"
        });
        let content_type = if atom {
            "application/atom+xml; charset=utf-8"
        } else {
            "application/rss+xml; charset=utf-8"
        };
        (content_type, s)
    }
}

/// The page item `k` of feed `n` links to: a news article of a few paragraphs inside page
/// furniture (navigation, footer), for readability to find.
pub fn article_page(n: usize, k: u32) -> String {
    let mut s = format!(
        "<!doctype html><html><head><title>Story {k} from feed {n}</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/world\">World</a></nav><main><article>\
         <h1>Story {k} from feed {n}</h1>"
    );
    for p in 0..6 {
        s.push_str("<p>");
        for i in 0..60 {
            s.push_str(word(n, k, 100 + p * 60 + i));
            s.push(' ');
        }
        s.push_str("</p>");
    }
    s.push_str("</article></main><footer>Copyright the farm</footer></body></html>");
    s
}

/// Item `k`'s date: hours after 2026-01-01, so on a first poll nothing is inside the backlog.
fn date(k: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(k) * 3600, 0)
        .expect("2026 is in range")
}

/// A 64-bit mix of three numbers (splitmix64's finaliser).
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(b.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(c);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Word `i` of item `k` of feed `n`, from a fixed vocabulary of 4,096 pseudo-words.
fn word(n: usize, k: u32, i: usize) -> &'static str {
    let v = vocabulary();
    v[(mix(n as u64, u64::from(k), i as u64) % v.len() as u64) as usize].as_str()
}

fn vocabulary() -> &'static [String] {
    static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        const SYL: [&str; 16] = [
            "ka", "lo", "mir", "sen", "ta", "vor", "ni", "bel", "stra", "do", "gu", "pen", "ri",
            "mon", "zel", "ha",
        ];
        (0..4096)
            .map(|i| {
                let (a, b, c) = (i % 16, (i / 16) % 16, (i / 256) % 16);
                format!("{}{}{}", SYL[a], SYL[b], SYL[c])
            })
            .collect()
    })
}
