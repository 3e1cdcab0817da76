//! Rule matching throughput: 1,000 and 10,000 rules against 100,000 generated news items, in
//! two labelled workloads.
//!
//! Run with `cargo bench --bench rules` (both workloads, 1,000 and 10,000 rules). Arguments
//! narrow it: `-- realistic`, `-- harsh`, rule counts (`-- harsh 10000`), `plain` or `opt`
//! (one configuration only, see below), `items=N` (fewer items, e.g. under a profiler) and
//! `rounds=N` (time each measurement N times and keep the best: on a shared, loaded machine
//! the least disturbed round is the truest). Everything is generated from a seeded PRNG, so
//! figures are comparable between runs. The timed loop is exactly what the daemon does per
//! item: `RuleSet::matches(&Document)` (folding, scanning, evaluation and snippets of the
//! rules that match). Each line prints the automaton's literals and size, items/s, MB/s of
//! item text, and how many items matched and how many (rule, item) hits there were, so a
//! reader can judge the workload. Target (issue #3): ≥ 50 MB/s with 10,000 rules on one core
//! in the *realistic* workload, and sub-linear slow-down from 1,000 to 10,000 rules.
//!
//! Each rule count runs in two configurations: no options (`realistic` lines), and
//! `languages = ["en", "ru"]` with `transliterate = true` on every rule (`realistic+opt`
//! lines; issue 11). Each configuration also measures its *floor*, alternating with the
//! matcher on the same items: folding the same fields plus one overlapping Aho-Corasick pass
//! (a DFA, the fastest kind, however many literals) over the very literals that
//! configuration's automaton holds (with options on, the bases of every word form and
//! transliteration), doing nothing with the hits: what no matcher can beat. A summary line
//! prints, for both configurations side by side, the matcher's MB/s, its floor's, and the
//! ratio (issue 11's target: ≥ 0.5 × floor on the realistic workload).
//!
//! **realistic**: a watch list as users write it, over news where watched things are rare.
//! * The world has 200,000 named entities (people `First Last`, places, organisations with
//!   multi-word names and acronyms; about a tenth Cyrillic). An item mentions 4–9 of them,
//!   drawn by Zipf's law over popularity rank (a few entities are in the news all the time,
//!   most rarely), and otherwise uses a Zipf-distributed English/Russian vocabulary of common
//!   words (the 110 + 38 below), with line breaks, curly quotes and accented names.
//! * Rules name entities: 95% drawn uniformly from the whole world (a watch list is a long
//!   tail: your company, your town, your minister), 5% from the 1,000 most popular. Shapes:
//!   a phrase or a surname (35%), OR of 2–3 entities (15%), entity AND context word (10%),
//!   entity minus a word (10%), `title:` scope (8%), name prefix `Kabulo*` (6%), proximity
//!   `"… word"~10` (6%), `author:`/`category:` scope (5%), Cyrillic forms (4%), regex with a
//!   literal (1%), regex with no literal at all (0.05%: runs on every item).
//!
//! **harsh**: the previous benchmark, kept unchanged so figures stay comparable and so a
//! regression on unfriendly rule sets shows. Rules pick from a small pool of syllable names
//! that items also use densely, so ~90% of items match at 10,000 rules (~6 rules per item),
//! and many rules pair a name with a common word.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use feedwatch::rules::{Document, Field, MatchOptions, Query, RuleSet};
use feedwatch::text::{fold, html_to_text};

const ITEMS: usize = 100_000;
/// Named entities in the realistic world.
const ENTITIES: usize = 200_000;
/// Rules that pick from the most popular entities pick among this many.
const POPULAR: usize = 1_000;
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

fn harsh_item(rng: &mut Rng) -> Document {
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
        article: String::new(),
        feed: rng
            .pick(&["TASS", "Reuters World", "Interfax", "Al Jazeera"])
            .to_string(),
    }
}

/// A harsh-mode watch rule: names from the dense syllable pool, phrases and combinations with
/// common words, a few exclusions, prefixes, proximity, field scopes and regexes.
fn harsh_rule(rng: &mut Rng) -> String {
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

/// The realistic world: entity names by popularity rank (0 = most often in the news).
struct World {
    entities: Vec<Entity>,
}

struct Entity {
    /// As written in news text: `Zamir Kabulov`, `Bank of Tashkent`, `Кабулов`.
    name: String,
    /// A shorter form used in text and rules (a surname, an acronym), if any.
    short: Option<String>,
    /// The one distinctive word of the name (`Kabulov`, `Tashkent` in `Bank of Tashkent`),
    /// which proximity, prefix and regex rules are built on.
    key: String,
}

const FIRST_NAMES: &[&str] = &[
    "Zamir",
    "Sergei",
    "Anna",
    "Maria",
    "John",
    "Ahmad",
    "Ali",
    "Fatima",
    "Olga",
    "Ivan",
    "Dmitry",
    "Elena",
    "James",
    "Sarah",
    "Mohammed",
    "Hamid",
    "Li",
    "Wei",
    "Jürgen",
    "François",
    "José",
    "Zoë",
    "Søren",
    "Łukasz",
    "Ana",
    "Peter",
    "Hans",
    "Omar",
    "Nadia",
    "Yusuf",
];

const CYRILLIC_FIRST: &[&str] = &[
    "Замир",
    "Сергей",
    "Анна",
    "Мария",
    "Иван",
    "Дмитрий",
    "Елена",
    "Ольга",
    "Пётр",
    "Алёна",
];

const CYRILLIC_SYLLABLES: &[&str] = &[
    "ка", "бу", "ло", "за", "ми", "ро", "та", "ли", "ше", "ёв", "ков", "ин", "ски", "ра", "дан",
    "нур", "сул", "тан", "гор", "вил", "мар", "ша", "риф", "пет",
];

const ORG_FORMS: &[&str] = &[
    "{} Group",
    "Bank of {}",
    "{} Energy",
    "{} Airlines",
    "University of {}",
    "{} Ministry",
    "{} Holdings",
    "{} Institute",
];

/// Words rules add as context or exclusion (`Kabulov sanctions`, `Herat -football`).
const CONTEXT_WORDS: &[&str] = &[
    "sanctions",
    "election",
    "talks",
    "ceasefire",
    "energy",
    "trade",
    "court",
    "football",
    "sport",
    "weather",
    "санкции",
    "переговоры",
    "выборы",
];

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn syllable_word(rng: &mut Rng, syllables: &[&str], min: usize) -> String {
    let n = min + rng.below(2);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(syllables));
    }
    capitalised(&s)
}

impl World {
    fn new(rng: &mut Rng) -> World {
        let entities = (0..ENTITIES)
            .map(|i| {
                // The real names of the harsh vocabulary are the most popular entities.
                if let Some(&name) = NAMES.get(i) {
                    return Entity {
                        name: name.to_string(),
                        short: None,
                        key: name.split(' ').next_back().unwrap_or(name).to_string(),
                    };
                }
                match rng.below(100) {
                    0..=44 => {
                        let first = rng.pick(FIRST_NAMES);
                        let last = syllable_word(rng, SYLLABLES, 3);
                        Entity {
                            name: format!("{first} {last}"),
                            key: last.clone(),
                            short: Some(last),
                        }
                    }
                    45..=54 => {
                        let first = rng.pick(CYRILLIC_FIRST);
                        let last = syllable_word(rng, CYRILLIC_SYLLABLES, 3);
                        Entity {
                            name: format!("{first} {last}"),
                            key: last.clone(),
                            short: Some(last),
                        }
                    }
                    55..=79 => {
                        let name = syllable_word(rng, SYLLABLES, 3);
                        Entity {
                            key: name.clone(),
                            name,
                            short: None,
                        }
                    }
                    _ => {
                        let base = syllable_word(rng, SYLLABLES, 3);
                        let name = rng.pick(ORG_FORMS).replace("{}", &base);
                        let acronym: String = name
                            .split(' ')
                            .filter_map(|w| w.chars().next())
                            .filter(|c| c.is_uppercase())
                            .chain(base.chars().skip(1).take(2).flat_map(char::to_uppercase))
                            .collect();
                        Entity {
                            name,
                            short: Some(acronym),
                            key: base,
                        }
                    }
                }
            })
            .collect();
        World { entities }
    }

    /// An entity index by Zipf's law over popularity rank (s = 1): rank r with probability
    /// ∝ 1/(r + 1). Inverse-CDF on the continuous approximation: r = (n+1)^u − 1.
    fn zipf(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let r = ((self.entities.len() as f64 + 1.0).powf(u) - 1.0) as usize;
        r.min(self.entities.len() - 1)
    }

    /// How an entity is mentioned in text: full name, or sometimes its short form.
    fn mention(&self, rng: &mut Rng, i: usize) -> String {
        let e = &self.entities[i];
        match &e.short {
            Some(short) if rng.chance(40) => short.clone(),
            _ => e.name.clone(),
        }
    }

    /// Common words by Zipf's law over the vocabulary (the first words of each list are the
    /// most frequent), 70% English and 30% Russian.
    fn common_word(&self, rng: &mut Rng) -> &'static str {
        let list = if rng.chance(70) {
            ENGLISH
        } else {
            RUSSIAN_COMMON
        };
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let r = ((list.len() as f64 + 1.0).powf(u) - 1.0) as usize;
        list[r.min(list.len() - 1)]
    }

    fn sentence(&self, rng: &mut Rng, words: usize, mentions: usize) -> String {
        let mut slots: Vec<Option<usize>> = vec![None; words];
        // An article keeps coming back to its subject: the first mention repeats.
        let subject = self.zipf(rng);
        for m in 0..mentions {
            let at = rng.below(words.max(1));
            slots[at] = Some(if m % 2 == 0 { subject } else { self.zipf(rng) });
        }
        let mut s = String::new();
        for (i, slot) in slots.iter().enumerate() {
            if i > 0 {
                s.push(if rng.chance(3) { '\n' } else { ' ' });
            }
            let w = match slot {
                Some(e) => self.mention(rng, *e),
                None => self.common_word(rng).to_string(),
            };
            if rng.chance(3) {
                s.push_str(&format!("“{w}”"));
            } else {
                s.push_str(&w);
            }
        }
        s.push('.');
        s
    }

    fn item(&self, rng: &mut Rng) -> Document {
        let content_words = 110 + rng.below(110);
        let title_words = 6 + rng.below(6);
        let summary_words = 20 + rng.below(15);
        let summary_mentions = 1 + rng.below(2);
        let content_mentions = 2 + rng.below(5);
        Document {
            title: self.sentence(rng, title_words, 1),
            summary: self.sentence(rng, summary_words, summary_mentions),
            content: self.sentence(rng, content_words, content_mentions),
            authors: vec![format!(
                "{} {}",
                rng.pick(FIRST_NAMES),
                syllable_word(rng, SYLLABLES, 3)
            )],
            categories: vec![
                rng.pick(&["World", "Politics", "Asia", "Economy", "Sport", "Science"])
                    .to_string(),
            ],
            link: format!(
                "https://news.example.org/{}/{}",
                rng.below(1000),
                rng.next() % 1_000_000
            ),
            article: String::new(),
            feed: rng
                .pick(&[
                    "TASS",
                    "Reuters World",
                    "Interfax",
                    "Al Jazeera",
                    "BBC News",
                ])
                .to_string(),
        }
    }

    /// An entity a user watches: long tail, with some interest in what is in the news.
    fn watched(&self, rng: &mut Rng) -> &Entity {
        let i = if rng.chance(5) {
            rng.below(POPULAR)
        } else {
            rng.below(self.entities.len())
        };
        &self.entities[i]
    }

    /// The entity as a query term: a quoted phrase if it has several words.
    fn term(&self, e: &Entity, short: bool) -> String {
        let text = match (&e.short, short) {
            (Some(s), true) => s.as_str(),
            _ => e.name.as_str(),
        };
        if text.contains(' ') {
            format!("\"{text}\"")
        } else {
            text.to_string()
        }
    }

    fn rule(&self, rng: &mut Rng) -> String {
        let e = self.watched(rng);
        let short = rng.chance(30);
        let t = self.term(e, short);
        match rng.below(10_000) {
            0..=3_499 => t,
            3_500..=4_999 => {
                let n = 1 + rng.below(2);
                let mut parts = vec![t];
                for _ in 0..n {
                    let other = self.watched(rng);
                    parts.push(self.term(other, rng.chance(30)));
                }
                format!("({})", parts.join(" OR "))
            }
            5_000..=5_999 => format!("{t} {}", rng.pick(CONTEXT_WORDS)),
            6_000..=6_999 => format!("{t} -{}", rng.pick(CONTEXT_WORDS)),
            7_000..=7_799 => format!("title:{t}"),
            7_800..=8_399 => {
                // `Kabulo*` for Kabulova, Kabulov's: the name less its last letter.
                let cut = e.key.char_indices().next_back().map_or(0, |(i, _)| i);
                if cut >= 5 {
                    format!("{}*", &e.key[..cut])
                } else {
                    format!("{}*", e.key)
                }
            }
            8_400..=8_999 => format!("\"{} {}\"~10", e.key, rng.pick(CONTEXT_WORDS)),
            9_000..=9_249 => format!("author:{}", syllable_word(rng, SYLLABLES, 3)),
            9_250..=9_499 => format!(
                "category:{} {t}",
                rng.pick(&["World", "Politics", "Asia", "Economy"])
            ),
            9_500..=9_894 => {
                let first = rng.pick(CYRILLIC_FIRST);
                format!("\"{first} {}\"", syllable_word(rng, CYRILLIC_SYLLABLES, 3))
            }
            9_895..=9_994 => {
                let word = e.key.to_lowercase();
                format!("/\\b{}(a|s|'s)?\\b/i", regex_escape(&word))
            }
            _ => "/\\b[A-Z]{2,5}-\\d{2,4}\\b/".to_string(),
        }
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$#&-~".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The most frequent Russian words of the vocabulary (no entity names: those are the world's).
const RUSSIAN_COMMON: &[&str] = &[
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
];

fn doc_bytes(d: &Document) -> usize {
    d.title.len()
        + d.summary.len()
        + d.content.len()
        + d.authors.iter().map(String::len).sum::<usize>()
        + d.categories.iter().map(String::len).sum::<usize>()
        + d.link.len()
        + d.feed.len()
}

/// `languages = ["en", "ru"]` and `transliterate = true` on every rule (issue 11).
const ALL_OPTIONS: MatchOptions = MatchOptions {
    en: true,
    ru: true,
    transliterate: true,
};

/// Which rule-option configurations a run measures (`-- plain` or `-- opt` narrows it).
#[derive(Debug, Clone, Copy)]
struct Configs {
    plain: bool,
    options: bool,
}

/// What one rule-option configuration of a workload measured.
struct Measured {
    /// Best matching time over the rounds.
    matcher: Duration,
    /// Best floor time over the rounds (same literals, same fields, same items).
    floor: Duration,
}

/// Compiles `queries`, then times matching every item and the floor of the same rule set,
/// alternately, `rounds` times each (best of each kept: on a shared, loaded machine the best
/// round is the one least disturbed, and alternating exposes both to the same load). Prints
/// one line.
fn run(
    label: &str,
    queries: Vec<Query>,
    items: &[Document],
    total_bytes: usize,
    rounds: usize,
) -> Measured {
    let rules = queries.len();
    let build = Instant::now();
    let set = RuleSet::new(queries);
    let build_time = build.elapsed();
    let floor_scan = FloorScan::new(&set);
    let mut matcher = Duration::MAX;
    let mut floor = Duration::MAX;
    let mut hits = 0usize;
    let mut matched_items = 0usize;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        hits = 0;
        matched_items = 0;
        for item in items {
            let h = set.matches(black_box(item));
            matched_items += usize::from(!h.is_empty());
            hits += h.len();
        }
        matcher = matcher.min(start.elapsed());
        floor = floor.min(floor_scan.time(items));
    }
    let secs = matcher.as_secs_f64();
    println!(
        "{label:<13} {rules:>6} rules: build {:>6.1} ms ({} literals, automaton {:.1} MB) | {:.1} MB in {:.2} s | {:>7.0} items/s | {:>6.1} MB/s | items matched {:>5.1}% | {:.2} rule hits/item",
        build_time.as_secs_f64() * 1e3,
        floor_scan.literals,
        set.automaton_bytes() as f64 / 1e6,
        total_bytes as f64 / 1e6,
        secs,
        items.len() as f64 / secs,
        total_bytes as f64 / 1e6 / secs,
        100.0 * matched_items as f64 / items.len().max(1) as f64,
        hits as f64 / items.len().max(1) as f64,
    );
    Measured { matcher, floor }
}

/// The text of `field` as the matcher reads it (list fields joined).
fn field_text(d: &Document, field: Field) -> std::borrow::Cow<'_, str> {
    match field {
        Field::Title => d.title.as_str().into(),
        Field::Summary => d.summary.as_str().into(),
        Field::Content => d.content.as_str().into(),
        Field::Author => d.authors.join("\u{1F}").into(),
        Field::Category => d.categories.join("\u{1F}").into(),
        Field::Link => d.link.as_str().into(),
        Field::Feed => d.feed.as_str().into(),
        Field::Article => d.article.as_str().into(),
    }
}

/// The floor no matcher can beat (issue 11): fold the fields the rule set scans and run one
/// overlapping Aho-Corasick pass (a DFA, the fastest kind, whatever the pattern count) over
/// the very literals the rule set's own automaton holds, counting hits and doing nothing with
/// them. Each configuration gets the floor of its own literals: the options-on floor scans
/// the base of every word form and transliteration the options-on matcher scans.
struct FloorScan {
    ac: AhoCorasick,
    fields: Vec<Field>,
    literals: usize,
}

impl FloorScan {
    fn new(set: &RuleSet) -> FloorScan {
        let (literals, fields) = set.scanned_literals();
        let build = |kind| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&literals)
        };
        let ac = build(AhoCorasickKind::DFA)
            .or_else(|_| build(AhoCorasickKind::ContiguousNFA))
            .expect("the rules' literals fit an automaton");
        FloorScan {
            ac,
            fields,
            literals: literals.len(),
        }
    }

    fn time(&self, items: &[Document]) -> Duration {
        let start = Instant::now();
        let mut hits = 0usize;
        for item in items {
            for &field in &self.fields {
                let text = field_text(black_box(item), field);
                if text.is_empty() {
                    continue;
                }
                hits += self.ac.find_overlapping_iter(&fold(&text)).count();
            }
        }
        black_box(hits);
        start.elapsed()
    }
}

fn parse_all(
    label: &str,
    options: MatchOptions,
    sources: impl Iterator<Item = String>,
) -> Vec<Query> {
    sources
        .map(|src| {
            Query::parse_with(&src, options)
                .unwrap_or_else(|e| panic!("generated {label} rule {src:?}: {e}"))
        })
        .collect()
}

/// Runs one workload for every rule count, in each configuration; prints each
/// configuration's MB/s beside its floor's and the ratio, then the 1,000 → largest scaling.
fn workload(
    label: &str,
    counts: &[usize],
    items: &[Document],
    configs: Configs,
    rounds: usize,
    mut rules: impl FnMut(usize, MatchOptions) -> Vec<Query>,
) {
    let total_bytes: usize = items.iter().map(doc_bytes).sum();
    println!(
        "{label}: {} items, avg {} bytes/item",
        items.len(),
        total_bytes / items.len().max(1)
    );
    let mut times = Vec::new();
    let mb = total_bytes as f64 / 1e6;
    let speed = |t: Duration| mb / t.as_secs_f64();
    for &n in counts {
        let mut summary = format!(
            "{label:<13} {n:>6} rules: ratio to floor (fold + one Aho-Corasick pass over the same literals)"
        );
        let chosen = [
            (configs.plain, MatchOptions::default(), "", "no options"),
            (
                configs.options,
                ALL_OPTIONS,
                "+opt",
                "languages en,ru + transliterate",
            ),
        ];
        for (_, options, suffix, name) in chosen.into_iter().filter(|c| c.0) {
            let m = run(
                &format!("{label}{suffix}"),
                rules(n, options),
                items,
                total_bytes,
                rounds,
            );
            summary.push_str(&format!(
                " | {name}: {:.1} MB/s, floor {:.1} MB/s = {:.2} × floor",
                speed(m.matcher),
                speed(m.floor),
                m.floor.as_secs_f64() / m.matcher.as_secs_f64(),
            ));
            if !options.any() {
                times.push((n, m.matcher));
            }
        }
        println!("{summary}");
    }
    if let (Some((n1, t1)), Some((n2, t2))) = (times.iter().find(|t| t.0 == 1_000), times.last())
        && n2 > n1
    {
        println!(
            "{label} scaling: {}x rules → {:.2}x time",
            n2 / n1,
            t2.as_secs_f64() / t1.as_secs_f64()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` / `--all-targets` runs this unoptimized, with no arguments (a
    // harness = false binary gets none): only smoke-test it then.
    let quick = args.iter().any(|a| a == "--test") || cfg!(debug_assertions);
    // `items=N`: fewer items, e.g. to profile under callgrind.
    let n_items = args
        .iter()
        .find_map(|a| a.strip_prefix("items=")?.parse().ok())
        .unwrap_or(if quick { 1_000 } else { ITEMS });
    let chosen: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let counts: &[usize] = if quick {
        &[100]
    } else if !chosen.is_empty() {
        &chosen
    } else {
        &[1_000, 10_000]
    };
    let only_harsh = args.iter().any(|a| a == "harsh");
    let only_realistic = args.iter().any(|a| a == "realistic");
    let only_plain = args.iter().any(|a| a == "plain");
    let only_options = args.iter().any(|a| a == "opt");
    let configs = Configs {
        plain: !only_options || only_plain,
        options: !only_plain || only_options,
    };
    let rounds = args
        .iter()
        .find_map(|a| a.strip_prefix("rounds=")?.parse().ok())
        .unwrap_or(1);

    if !only_harsh {
        let mut rng = Rng(SEED);
        let world = World::new(&mut rng);
        let items: Vec<Document> = (0..n_items).map(|_| world.item(&mut rng)).collect();
        workload(
            "realistic",
            counts,
            &items,
            configs,
            rounds,
            |n, options| {
                let mut rng = Rng(SEED ^ n as u64);
                parse_all("realistic", options, (0..n).map(|_| world.rule(&mut rng)))
            },
        );
    }
    if !only_realistic {
        let mut rng = Rng(SEED);
        let items: Vec<Document> = (0..n_items).map(|_| harsh_item(&mut rng)).collect();
        workload("harsh", counts, &items, configs, rounds, |n, options| {
            let mut rng = Rng(SEED ^ n as u64);
            parse_all("harsh", options, (0..n).map(|_| harsh_rule(&mut rng)))
        });
        if !only_harsh {
            html_bench(&items, quick);
        }
    }
}

/// html_to_text: the other per-item cost on the ingest path.
fn html_bench(items: &[Document], quick: bool) {
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
