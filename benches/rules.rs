//! Rule matching throughput: 1,000 and 10,000 rules against 100,000 generated news items.
//!
//! Run with `cargo bench --bench rules`. Items and rules are generated deterministically from a
//! seeded PRNG over a mixed English/Russian/accented vocabulary (~1–2 KB per item), so figures
//! are comparable between runs. The timed loop is exactly what the daemon does per item:
//! `RuleSet::matches(&Document)` (folding included). Target: ≥ 50 MB/s with 10,000 rules on
//! one core, and sub-linear slow-down from 1,000 to 10,000 rules.

use std::hint::black_box;
use std::time::{Duration, Instant};

use feedwatch::rules::{Document, Query, RuleSet};
use feedwatch::text::html_to_text;

const ITEMS: usize = 100_000;
const HTML_ITEMS: usize = 10_000;
const SEED: u64 = 0x5EED_F33D_2025;

/// SplitMix64: tiny, deterministic, good enough to shuffle words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const ENGLISH: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "by",
    "at",
    "from",
    "said",
    "has",
    "have",
    "will",
    "would",
    "after",
    "before",
    "government",
    "minister",
    "president",
    "talks",
    "meeting",
    "officials",
    "security",
    "foreign",
    "military",
    "economic",
    "agreement",
    "sanctions",
    "country",
    "region",
    "border",
    "forces",
    "attack",
    "report",
    "according",
    "statement",
    "week",
    "year",
    "month",
    "people",
    "city",
    "capital",
    "international",
    "relations",
    "delegation",
    "envoy",
    "representatives",
    "conference",
    "negotiations",
    "ceasefire",
    "humanitarian",
    "aid",
    "trade",
    "energy",
    "oil",
    "gas",
    "prices",
    "market",
    "bank",
    "inflation",
    "election",
    "parliament",
    "vote",
    "opposition",
    "court",
    "police",
    "arrested",
    "killed",
    "wounded",
    "province",
    "district",
    "village",
    "refugees",
    "crisis",
    "support",
    "policy",
    "announced",
    "visit",
    "invited",
    "format",
    "so-called",
    "spokesman",
    "agency",
    "news",
    "Tuesday",
    "Monday",
    "Friday",
    "earlier",
    "later",
    "also",
    "however",
    "while",
    "during",
    "between",
    "against",
    "new",
    "first",
    "last",
    "two",
    "three",
];

const RUSSIAN: &[&str] = &[
    "и",
    "в",
    "на",
    "с",
    "по",
    "заявил",
    "министр",
    "правительство",
    "переговоры",
    "встреча",
    "безопасность",
    "президент",
    "делегация",
    "соглашение",
    "санкции",
    "граница",
    "регион",
    "представители",
    "посол",
    "заявление",
    "неделе",
    "года",
    "ёлка",
    "всё",
    "еще",
    "её",
    "объявил",
    "сотрудничество",
    "экономика",
    "выборы",
    "Москва",
    "Кабул",
    "Талибан",
    "Кабулов",
    "Лавров",
    "Пекин",
    "Ташкент",
    "Душанбе",
];

const NAMES: &[&str] = &[
    "Kabulov",
    "Lavrov",
    "Moscow",
    "Kabul",
    "Taliban",
    "Zürich",
    "Genève",
    "São Paulo",
    "Kraków",
    "Łódź",
    "Ørsted",
    "Straße",
    "café",
    "Beijing",
    "Tashkent",
    "Islamabad",
    "Tehran",
    "Doha",
    "Ankara",
    "Erdoğan",
    "Müller",
    "Dvořák",
    "Brussels",
    "Washington",
    "NATO",
    "OPEC",
    "Gazprom",
    "Rosneft",
    "Herat",
    "Kandahar",
    "Mazar-i-Sharif",
    "Ghani",
    "Karzai",
    "Blinken",
];

const SYLLABLES: &[&str] = &[
    "ka", "bu", "lo", "za", "mi", "ro", "ta", "li", "ban", "mos", "kov", "ev", "ski", "ra", "dan",
    "nur", "sul", "tan", "gor", "vil", "mar", "sha", "rif", "hel", "dor", "pet", "vin", "zar",
];

/// A synthetic proper name (`Kabuloev`), so rule sets can grow to 10k distinct terms.
fn synthetic_name(rng: &mut Rng) -> String {
    let n = 3 + rng.below(2);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(SYLLABLES));
    }
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(if rng.chance(3) { '\n' } else { ' ' });
        }
        // Well-known names are rare (≈1 per item), so most items match few rules, as in life.
        let w = match rng.below(1000) {
            0..=659 => rng.pick(ENGLISH).to_string(),
            660..=969 => rng.pick(RUSSIAN).to_string(),
            970..=973 => rng.pick(NAMES).to_string(),
            _ => synthetic_name(rng),
        };
        if rng.chance(5) {
            s.push_str(&format!("“{w}”"));
        } else {
            s.push_str(&w);
        }
    }
    s.push('.');
    s
}

fn item(rng: &mut Rng) -> Document {
    let content_words = 110 + rng.below(110); // ~1–2 KB with the title and summary
    let title_words = 6 + rng.below(6);
    let summary_words = 20 + rng.below(15);
    Document {
        title: sentence(rng, title_words),
        summary: sentence(rng, summary_words),
        content: sentence(rng, content_words),
        authors: vec![format!("{} {}", synthetic_name(rng), synthetic_name(rng))],
        categories: vec![
            rng.pick(&["World", "Politics", "Asia", "Economy"])
                .to_string(),
        ],
        link: format!(
            "https://news.example.org/{}/{}",
            rng.below(1000),
            rng.next() % 1_000_000
        ),
        feed: rng
            .pick(&["TASS", "Reuters World", "Interfax", "Al Jazeera"])
            .to_string(),
    }
}

/// A realistic watch rule: mostly names and phrases, some combinations, a few exclusions,
/// prefixes, proximity, field scopes, and rare regexes / pure negations.
fn rule(rng: &mut Rng) -> String {
    let name = |rng: &mut Rng| -> String {
        if rng.chance(3) {
            rng.pick(NAMES).to_string()
        } else {
            synthetic_name(rng)
        }
    };
    match rng.below(1000) {
        0..=349 => name(rng),
        350..=549 => format!("\"{} {}\"", rng.pick(ENGLISH), name(rng)),
        550..=699 => format!(
            "({} OR {} OR {}) -{}",
            name(rng),
            name(rng),
            name(rng),
            rng.pick(ENGLISH)
        ),
        700..=799 => format!("{} {}", name(rng), rng.pick(ENGLISH)),
        800..=869 => format!("title:{}", name(rng)),
        870..=929 => {
            let n = synthetic_name(rng);
            let cut = n.char_indices().nth(6).map_or(n.len(), |(i, _)| i);
            format!("{}*", &n[..cut])
        }
        930..=989 => format!("\"{} {}\"~5", name(rng), rng.pick(ENGLISH)),
        990..=995 => format!("author:{} NOT feed:TASS", synthetic_name(rng)),
        _ => format!("/{}(ov|ev)?/i", synthetic_name(rng).to_lowercase()),
    }
}

fn doc_bytes(d: &Document) -> usize {
    d.title.len()
        + d.summary.len()
        + d.content.len()
        + d.authors.iter().map(String::len).sum::<usize>()
        + d.categories.iter().map(String::len).sum::<usize>()
        + d.link.len()
        + d.feed.len()
}

fn run(rules: usize, items: &[Document], total_bytes: usize) -> Duration {
    let mut rng = Rng(SEED ^ rules as u64);
    let queries: Vec<Query> = (0..rules)
        .map(|_| {
            let src = rule(&mut rng);
            Query::parse(&src).unwrap_or_else(|e| panic!("generated rule {src:?}: {e}"))
        })
        .collect();
    let build = Instant::now();
    let set = RuleSet::new(queries);
    let build_time = build.elapsed();
    let start = Instant::now();
    let mut hits = 0usize;
    let mut matched_items = 0usize;
    for item in items {
        let h = set.matches(black_box(item));
        matched_items += usize::from(!h.is_empty());
        hits += h.len();
    }
    let elapsed = start.elapsed();
    let secs = elapsed.as_secs_f64();
    println!(
        "{rules:>6} rules: build {:>7.1} ms | {} items, {:.1} MB in {:.2} s | {:>9.0} items/s | {:>6.1} MB/s | {} rule hits, {} items matched",
        build_time.as_secs_f64() * 1e3,
        items.len(),
        total_bytes as f64 / 1e6,
        secs,
        items.len() as f64 / secs,
        total_bytes as f64 / 1e6 / secs,
        hits,
        matched_items,
    );
    elapsed
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--test`-like args; keep that cheap.
    let quick = std::env::args().any(|a| a == "--test");
    let n_items = if quick { 1_000 } else { ITEMS };
    let mut rng = Rng(SEED);
    let items: Vec<Document> = (0..n_items).map(|_| item(&mut rng)).collect();
    let total_bytes: usize = items.iter().map(doc_bytes).sum();
    println!(
        "feedwatch rules bench: {} items, avg {} bytes/item (text incl. Cyrillic)",
        items.len(),
        total_bytes / items.len().max(1)
    );
    // `cargo bench --bench rules -- 10000` runs only the given rule counts.
    let chosen: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let counts: &[usize] = if quick {
        &[100]
    } else if !chosen.is_empty() {
        &chosen
    } else {
        &[100, 1_000, 10_000]
    };
    let mut times = Vec::new();
    for &n in counts {
        times.push((n, run(n, &items, total_bytes)));
    }
    if let (Some((n1, t1)), Some((n2, t2))) = (times.iter().find(|t| t.0 == 1_000), times.last())
        && n2 > n1
    {
        println!(
            "scaling: {}x rules → {:.2}x time",
            n2 / n1,
            t2.as_secs_f64() / t1.as_secs_f64()
        );
    }

    // html_to_text: the other per-item cost on the ingest path.
    let n_html = if quick { 100 } else { HTML_ITEMS };
    let html: Vec<String> = items
        .iter()
        .take(n_html)
        .map(|d| {
            format!(
                "<div><h2>{}</h2><p>{}</p><p><b>{}</b> &mdash; <a href=\"{}\">more</a></p></div>",
                d.title, d.summary, d.content, d.link
            )
        })
        .collect();
    let html_bytes: usize = html.iter().map(String::len).sum();
    let start = Instant::now();
    let mut out = 0usize;
    for h in &html {
        out += html_to_text(black_box(h)).len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "html_to_text: {} items, {:.1} MB in {:.2} s | {:.0} items/s | {:.1} MB/s ({} bytes out)",
        html.len(),
        html_bytes as f64 / 1e6,
        secs,
        html.len() as f64 / secs,
        html_bytes as f64 / 1e6 / secs,
        out
    );
}
