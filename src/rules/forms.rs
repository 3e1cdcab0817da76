//! Word forms and transliteration: what one query word expands to when a rule has
//! `languages` or `transliterate` on.
//!
//! Pure tables and string functions; nothing here sees a document. The matcher puts each
//! expansion's *base* into its automaton and, on a hit, checks that the rest of the text word
//! is one of the expansion's *endings* ([`Variant::accepts`]).
//!
//! Why not a stemmer: Snowball strips the nominative `-ов` of a surname, so `Кабулов` and the
//! city `Кабул` share a stem (shared/reference/russian-word-forms.md). Here a base is never
//! shorter than the query word less one inflectional ending chosen by the word's class
//! (`Кабулов` keeps its `-ов`: base `кабулов`), and the rest of a text word must be an ending
//! of that class. So `Кабулов` matches `Кабулова`, `Кабуловым`, never `Кабул`, `Кабула`;
//! `санкции` (base `санкци`) never matches `санкционировал` (`онировал` is no ending);
//! `Медведев` never matches `медведь`. The tests measure this on a table of wanted forms and
//! false friends.
//!
//! Transliteration happens here, at compile time, on query words (never on text): a Cyrillic
//! word gets the Latin spellings of its bases and endings under BGN/PCGN and the variants the
//! press uses (`х` → kh/h, `в` → v/w …); a Latin word gets the Cyrillic spellings that romanize
//! to it, each then declined as a Russian word when `ru` is on.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

/// A language whose inflected forms a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// English: plural and possessive nouns, `-s`/`-ed`/`-ing` of common words.
    En,
    /// Russian: nouns, adjectives and surnames in every case and number.
    Ru,
}

impl Language {
    /// Every language, in the order names are listed in messages.
    pub const ALL: [Language; 2] = [Language::En, Language::Ru];

    /// The code written in config and on the command line (`"ru"`, `"en"`).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    /// Parses a language code (ASCII case-insensitive, surrounding spaces ignored).
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a rule's words match beyond their exact folded spelling. The default (no language, no
/// transliteration) is exact matching: rules written before these options behave as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MatchOptions {
    /// Match the inflected forms of English words.
    pub en: bool,
    /// Match the inflected forms of Russian words.
    pub ru: bool,
    /// Match Latin words in Cyrillic spelling and the reverse.
    pub transliterate: bool,
}

impl MatchOptions {
    /// Whether any option is on (the query then compiles its words into word forms).
    pub fn any(self) -> bool {
        self.en || self.ru || self.transliterate
    }

    /// Turns `language` on.
    pub fn with_language(mut self, language: Language) -> Self {
        match language {
            Language::En => self.en = true,
            Language::Ru => self.ru = true,
        }
        self
    }

    /// The languages that are on, in [`Language::ALL`] order.
    pub fn languages(self) -> Vec<Language> {
        Language::ALL
            .into_iter()
            .filter(|l| match l {
                Language::En => self.en,
                Language::Ru => self.ru,
            })
            .collect()
    }
}

/// One way a query word can appear in text: the text word starts with `base` and the rest of
/// it is one of the `endings`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Variant {
    /// Folded text every matching text word starts with.
    pub base: String,
    pub endings: Endings,
}

impl Variant {
    fn new(base: impl Into<String>, endings: Endings) -> Variant {
        Variant {
            base: base.into(),
            endings,
        }
    }

    /// The word itself and nothing else.
    pub fn exact(word: &str) -> Variant {
        Variant::new(word, Endings::native(Paradigm::Exact))
    }
}

/// A set of endings: a paradigm in its own script, or romanized (for the Latin spelling of a
/// Russian base), optionally with the English name endings added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Endings(u16);

impl Endings {
    fn native(p: Paradigm) -> Endings {
        Endings(p as u16)
    }

    fn romanized(p: Paradigm, en: bool) -> Endings {
        let n = Paradigm::ALL.len() as u16;
        Endings(p as u16 + if en { 2 * n } else { n })
    }

    /// Whether `rest` (the text word after the base) is one of the endings.
    pub fn accepts(self, rest: &str) -> bool {
        self.list().iter().any(|e| e == rest)
    }

    /// The endings, the empty one included where the bare base is a form.
    pub fn list(self) -> &'static [String] {
        ENDING_TABLE
            .get(self.0 as usize)
            .map_or(&[][..], Vec::as_slice)
    }
}

/// Ending sets by word class. Order matters only for display (`Кабулов{а,у,ым,е,…}`).
///
/// No class of a singular word has the genitive plural in -ов/-ев (форматов, музеев,
/// Дмитриев): that form is also the surname made from the word (Кабул → Кабулов, песок →
/// Песков, Дмитрий → Дмитриев, Сергей → Сергеев), the text is matched folded so its capitals
/// cannot tell them apart, and a query must never turn one word into another. The plural
/// classes (a query written in the plural: переговоры, границы) keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paradigm {
    /// The word only.
    Exact,
    /// Russian surnames in -ов/-ев/-ин/-ын (and towns in -ов: Ростов, Псков).
    Surname,
    /// Lowercase nouns ending in a hard consonant: формат, переговор.
    Masc,
    /// Capitalised nouns ending in a consonant (a place, a foreign name): singular only, so
    /// `Кабул` never matches the surname `Кабулов` (as a plural genitive would).
    ProperMasc,
    /// Nouns in -ь: медведь, Кремль, площадь.
    Soft,
    /// Nouns in a vowel + -й (Сергей, Китай); the base keeps the vowel.
    NounJ,
    /// Nouns in -ий (Дмитрий, комментарий); the base keeps the и.
    NounIj,
    /// Adjectives and adjective-declined surnames: московский, Жириновский, новая.
    Adj,
    /// Nouns in -а: война, дорога.
    FemA,
    /// Capitalised nouns in -а (Москва, Газа): singular only.
    ProperFemA,
    /// Nouns in -а after ж, ш, ч, щ, ц (встреча, столица): the instrumental is -ей/-ею when
    /// unstressed, -ой/-ою when stressed (свечой), and the stress is not known: both.
    FemASib,
    ProperFemASib,
    /// Nouns in -я (неделя); capitalised ones use [`Paradigm::ProperFemJa`].
    FemJa,
    ProperFemJa,
    /// Nouns in -ия: Россия, санкция, and their plural -ии (санкции).
    Ija,
    /// Neuter nouns in -ие: заявление.
    Ie,
    /// Neuter nouns in -о: агентство; capitalised ones singular only.
    NeutO,
    ProperNeutO,
    /// Neuter nouns in -е (море) and the prepositional of a hard noun written as the query.
    NeutE,
    /// Plurals in -ы: переговоры, выборы.
    PluralY,
    /// Plurals in -цы (границы, месяцы): the -ей/-ев forms of a stem in ц as well.
    PluralYTs,
    /// Plurals in -и after a consonant: новости, книги.
    PluralI,
    /// English names and acronyms: Kabulov → Kabulovs.
    EnName,
    /// English common words: talk → talks, talked, talking.
    EnWord,
    /// English words of three letters: no -ed/-ing (car → cared is another word).
    EnShort,
    /// English words ending in s, x, z, ch, sh: tax → taxes.
    EnSibilant,
    /// English words in consonant + y, base without the y: policy → policies.
    EnY,
    /// English words in -e, base without the e: sanctione… use → uses, used, using.
    EnE,
    /// English plurals given as the query (talks), base without the s.
    EnPlural,
}

impl Paradigm {
    const ALL: [Paradigm; 29] = [
        Paradigm::Exact,
        Paradigm::Surname,
        Paradigm::Masc,
        Paradigm::ProperMasc,
        Paradigm::Soft,
        Paradigm::NounJ,
        Paradigm::NounIj,
        Paradigm::Adj,
        Paradigm::FemA,
        Paradigm::ProperFemA,
        Paradigm::FemASib,
        Paradigm::ProperFemASib,
        Paradigm::FemJa,
        Paradigm::ProperFemJa,
        Paradigm::Ija,
        Paradigm::Ie,
        Paradigm::NeutO,
        Paradigm::ProperNeutO,
        Paradigm::NeutE,
        Paradigm::PluralY,
        Paradigm::PluralYTs,
        Paradigm::PluralI,
        Paradigm::EnName,
        Paradigm::EnWord,
        Paradigm::EnShort,
        Paradigm::EnSibilant,
        Paradigm::EnY,
        Paradigm::EnE,
        Paradigm::EnPlural,
    ];

    fn endings(self) -> &'static [&'static str] {
        match self {
            Paradigm::Exact => &[""],
            Paradigm::Surname => &["", "а", "у", "ым", "е", "ом", "ой", "ы", "ых", "ыми"],
            Paradigm::Masc => &[
                "", "а", "у", "ом", "е", "ы", "и", "ей", "ам", "ами", "ах", "ем",
            ],
            Paradigm::ProperMasc => &["", "а", "у", "ом", "е", "ем"],
            Paradigm::Soft => &["ь", "я", "ю", "ем", "е", "и", "ей", "ью", "ям", "ями", "ях"],
            Paradigm::NounJ => &["й", "я", "ю", "ем", "е", "и", "ям", "ями", "ях"],
            Paradigm::NounIj => &["й", "я", "ю", "ем", "и", "ям", "ями", "ях"],
            Paradigm::Adj => &[
                "ий", "ый", "ой", "ая", "яя", "ое", "ее", "ие", "ые", "ого", "его", "ому", "ему",
                "им", "ым", "ом", "ем", "ую", "юю", "ою", "ею", "ей", "их", "ых", "ими", "ыми",
            ],
            Paradigm::FemA => &["а", "ы", "и", "е", "у", "ой", "ою", "", "ам", "ами", "ах"],
            Paradigm::ProperFemA => &["а", "ы", "и", "е", "у", "ой", "ою"],
            Paradigm::FemASib => &[
                "а", "ы", "и", "е", "у", "ей", "ею", "ой", "ою", "", "ам", "ами", "ах",
            ],
            Paradigm::ProperFemASib => &["а", "ы", "и", "е", "у", "ей", "ею", "ой", "ою"],
            Paradigm::FemJa => &["я", "и", "е", "ю", "ей", "ею", "ь", "ям", "ями", "ях"],
            Paradigm::ProperFemJa => &["я", "и", "е", "ю", "ей", "ею"],
            Paradigm::Ija => &["я", "и", "ю", "ей", "ею", "й", "ям", "ями", "ях"],
            Paradigm::Ie => &["е", "я", "ю", "ем", "и", "й", "ям", "ями", "ях"],
            Paradigm::NeutO => &["о", "а", "у", "ом", "е", "", "ам", "ами", "ах"],
            Paradigm::ProperNeutO => &["о", "а", "у", "ом", "е"],
            Paradigm::NeutE => &[
                "е", "я", "ю", "ем", "ей", "ям", "ями", "ях", "", "а", "у", "ом", "ы", "ам", "ами",
                "ах",
            ],
            Paradigm::PluralY => &[
                "ы", "", "а", "у", "ом", "е", "ов", "ам", "ами", "ах", "ой", "ою",
            ],
            Paradigm::PluralYTs => &[
                "ы", "", "а", "у", "ом", "ем", "е", "ов", "ев", "ам", "ами", "ах", "ой", "ою",
                "ей", "ею",
            ],
            Paradigm::PluralI => &[
                "и", "ь", "я", "ю", "ей", "ям", "ями", "ях", "а", "у", "е", "ой", "ов", "ам",
                "ами", "ах", "", "ом", "ем",
            ],
            Paradigm::EnName => &["", "s"],
            Paradigm::EnWord => &["", "s", "ed", "ing"],
            Paradigm::EnShort => &["", "s"],
            Paradigm::EnSibilant => &["", "es", "ed", "ing"],
            Paradigm::EnY => &["y", "ies", "ied", "ying"],
            Paradigm::EnE => &["e", "es", "ed", "ing"],
            Paradigm::EnPlural => &["s", "", "ed", "ing"],
        }
    }
}

/// Most Latin spellings kept per Cyrillic string (and Cyrillic per Latin word): the variants
/// beyond the first few are rare spellings that cost automaton patterns on every rule.
const MAX_SPELLINGS: usize = 8;

/// Every ending set: native, then romanized, then romanized plus the English name endings;
/// indexed by [`Endings`].
static ENDING_TABLE: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let native = Paradigm::ALL
        .iter()
        .map(|p| p.endings().iter().map(|e| e.to_string()).collect());
    let romanized = |en: bool| {
        Paradigm::ALL.iter().map(move |p| {
            let mut out: Vec<String> = Vec::new();
            for e in p.endings() {
                // After a consonant: what every base of a Russian paradigm ends with but the
                // vowel-keeping ones (NounJ, NounIj, Ija, Ie), whose endings start with a
                // letter romanized the same either way but `е`/`я`/`ю` (ye or e …: both kept).
                for prev in ['б', 'и'] {
                    for r in romanize_in_context(e, Some(prev)) {
                        if !out.contains(&r) {
                            out.push(r);
                        }
                    }
                }
            }
            if en {
                for e in Paradigm::EnName.endings() {
                    if !out.iter().any(|o| o == e) {
                        out.push(e.to_string());
                    }
                }
            }
            out
        })
    };
    native
        .chain(romanized(false))
        .chain(romanized(true))
        .collect()
});

/// How a word was written, which decides between paradigms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Lower,
    /// First letter uppercase: a name.
    Capitalised,
    /// Two or more letters, all uppercase: an acronym, never inflected in Russian.
    Acronym,
}

fn shape(written: &str) -> Shape {
    let letters: Vec<char> = written.chars().filter(|c| c.is_alphabetic()).collect();
    match letters.first() {
        Some(f) if f.is_uppercase() => {
            if letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase()) {
                Shape::Acronym
            } else {
                Shape::Capitalised
            }
        }
        _ => Shape::Lower,
    }
}

fn is_cyrillic_word(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| matches!(c, 'а'..='я' | 'ё'))
}

fn is_latin_word(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())
}

/// Shortest base a Russian or English word is cut to: shorter bases would make endings of
/// other words (`газ` + `а`).
const MIN_BASE_CHARS: usize = 3;

/// Variants of one folded query word (`folded`, as written `written`) under `options`.
pub(crate) fn expand(folded: &str, written: &str, options: MatchOptions) -> Vec<Variant> {
    let shape = shape(written);
    let mut out: Vec<Variant> = Vec::new();
    if is_cyrillic_word(folded) {
        let readings = if options.ru {
            ru_readings(folded, shape)
        } else {
            vec![(folded.to_string(), Paradigm::Exact)]
        };
        out.extend(
            readings
                .iter()
                .map(|(b, p)| Variant::new(b.clone(), Endings::native(*p))),
        );
        if options.transliterate {
            let with_yo = with_yo(folded, written);
            let spell = |base: &str| latin_spellings(base, with_yo.as_deref());
            // The word as written, spelled whole, where that differs from base and ending spelled
            // apart: `-ий` is spelled `-y` only together (Евгений → Yevgeny).
            let whole = if options.en {
                Endings::native(Paradigm::EnName)
            } else {
                Endings::native(Paradigm::Exact)
            };
            if folded.ends_with("ий") || folded.ends_with("ый") {
                out.extend(spell(folded).into_iter().map(|l| Variant::new(l, whole)));
            }
            for (base, p) in &readings {
                for latin in spell(base) {
                    let endings = if *p == Paradigm::Exact && !options.en {
                        Endings::native(Paradigm::Exact)
                    } else {
                        Endings::romanized(*p, options.en)
                    };
                    out.push(Variant::new(latin, endings));
                }
            }
        }
    } else if is_latin_word(folded) {
        let latin = if options.en {
            en_readings(folded, shape)
        } else {
            vec![(folded.to_string(), Paradigm::Exact)]
        };
        // German news spells a surname's в as w (Lawrow, Kabulow, Medwedew): one more Latin
        // spelling, only for the surname shapes, so other words gain no literal.
        let german = options.transliterate
            && ["ov", "ev", "ova", "eva"]
                .iter()
                .any(|e| folded.ends_with(e));
        for (b, p) in latin {
            let w = german.then(|| b.replace('v', "w"));
            out.push(Variant::new(b, Endings::native(p)));
            out.extend(w.map(|w| Variant::new(w, Endings::native(p))));
        }
        if options.transliterate {
            for cyr in cyrillize(folded) {
                if options.ru {
                    out.extend(
                        ru_readings(&cyr, shape)
                            .into_iter()
                            .map(|(b, p)| Variant::new(b, Endings::native(p))),
                    );
                } else {
                    out.push(Variant::exact(&cyr));
                }
            }
        }
    } else {
        out.push(Variant::exact(folded));
    }
    let mut seen = BTreeSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `word` less its last `n` chars.
fn cut(word: &str, n: usize) -> &str {
    let keep = chars(word).saturating_sub(n);
    word.char_indices()
        .nth(keep)
        .map_or(word, |(i, _)| &word[..i])
}

fn is_ru_vowel(c: char) -> bool {
    "аеёиоуыэюя".contains(c)
}

/// (base, paradigm) readings of a folded Russian word. Most words have one; a few endings are
/// ambiguous between classes (`-ой`: мировой or герой) and get both.
fn ru_readings(w: &str, shape: Shape) -> Vec<(String, Paradigm)> {
    use Paradigm as P;
    let n = chars(w);
    let exact = vec![(w.to_string(), P::Exact)];
    if shape == Shape::Acronym || n < MIN_BASE_CHARS {
        return exact;
    }
    let cap = shape == Shape::Capitalised;
    let mut out: Vec<(String, Paradigm)> = Vec::new();
    let mut push = |strip: usize, p: Paradigm| {
        let base = cut(w, strip);
        if chars(base) >= MIN_BASE_CHARS || (strip == 0 && chars(base) >= 2) {
            out.push((base.to_string(), p));
        }
    };
    let last = w.chars().next_back().unwrap_or(' ');
    let before = w.chars().rev().nth(1).unwrap_or(' ');
    let ends = |s: &str| w.ends_with(s);
    // Oblique adjective endings a query may be written in (`московского формата`).
    if ["ого", "его", "ому", "ему", "ыми", "ими"]
        .iter()
        .any(|e| ends(e))
    {
        push(3, P::Adj);
    } else if ends("ых")
        || (ends("их") && "кгхжшчщн".contains(cut(w, 2).chars().next_back().unwrap_or(' ')))
    {
        push(2, P::Adj);
    } else if !is_ru_vowel(last) && last != 'й' && last != 'ь' {
        // A surname is a surname however it is typed (`кабулов`, `lavrov`); a lowercase one
        // may also be a common noun (остров), so it keeps that reading too.
        let surname = ["ов", "ев", "ин", "ын"].iter().any(|e| ends(e));
        if surname {
            push(0, P::Surname);
        }
        if !cap {
            push(0, P::Masc);
        } else if !surname {
            push(0, P::ProperMasc);
        }
    } else if last == 'ь' {
        push(1, P::Soft);
    } else if ends("ый") {
        push(2, P::Adj);
    } else if ends("ий") {
        if "кгхжшчщн".contains(cut(w, 2).chars().next_back().unwrap_or(' ')) {
            push(2, P::Adj);
        } else {
            push(1, P::NounIj);
        }
    } else if ends("ой") {
        push(2, P::Adj);
        push(1, P::NounJ);
    } else if last == 'й' {
        push(1, P::NounJ);
    } else if ends("ая") || ends("яя") {
        push(2, P::Adj);
    } else if ends("ия") || ends("ии") {
        push(1, P::Ija);
    } else if last == 'я' {
        push(1, if cap { P::ProperFemJa } else { P::FemJa });
    } else if last == 'а' {
        if ["ова", "ева", "ина", "ына"].iter().any(|e| ends(e)) {
            push(1, P::Surname);
        }
        push(
            1,
            match (cap, "жшчщц".contains(before)) {
                (true, true) => P::ProperFemASib,
                (true, false) => P::ProperFemA,
                (false, true) => P::FemASib,
                (false, false) => P::FemA,
            },
        );
    } else if ends("ое") || ends("ее") || ends("ые") {
        push(2, P::Adj);
    } else if ends("ие") {
        push(2, P::Adj);
        push(1, P::Ie);
    } else if last == 'е' && !cap {
        push(1, P::NeutE);
    } else if last == 'о' {
        push(1, if cap { P::ProperNeutO } else { P::NeutO });
    } else if last == 'ы' {
        push(
            1,
            if before == 'ц' {
                P::PluralYTs
            } else {
                P::PluralY
            },
        );
    } else if last == 'и' && !cap && !is_ru_vowel(before) {
        push(1, P::PluralI);
    }
    // Indeclinable or unknown shapes (Шойгу, Сочи, кофе …): the word as written.
    if out.is_empty() { exact } else { out }
}

/// (base, paradigm) readings of a folded English word.
fn en_readings(w: &str, shape: Shape) -> Vec<(String, Paradigm)> {
    use Paradigm as P;
    let n = chars(w);
    if n < MIN_BASE_CHARS {
        return vec![(w.to_string(), P::Exact)];
    }
    if shape != Shape::Lower {
        // Names and acronyms: only the plural (the possessive `'s` is after a non-word char,
        // so `Kabulov's` already matches `Kabulov`).
        return vec![(w.to_string(), P::EnName)];
    }
    let ends = |s: &str| w.ends_with(s);
    let vowel = |c: char| "aeiou".contains(c);
    let before_last = w.chars().rev().nth(1).unwrap_or('a');
    let reading = if ends("ies") && n >= 5 {
        (format!("{}y", cut(w, 3)), P::EnY)
    } else if ends("y") && !vowel(before_last) {
        (cut(w, 1).to_string(), P::EnY)
    } else if ends("s") && n >= 5 && !["ss", "us", "is"].iter().any(|e| ends(e)) {
        (cut(w, 1).to_string(), P::EnPlural)
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|e| ends(e)) {
        (w.to_string(), P::EnSibilant)
    } else if n == 3 {
        (w.to_string(), P::EnShort)
    } else if ends("e") {
        (cut(w, 1).to_string(), P::EnE)
    } else {
        (w.to_string(), P::EnWord)
    };
    // `policies` read as policy: its base is `polic`, ending `y` (EnY keeps `y` as an ending).
    let reading = match reading {
        (b, P::EnY) if b.ends_with('y') => (cut(&b, 1).to_string(), P::EnY),
        other => other,
    };
    vec![reading]
}

// ---------------------------------------------------------------------------------------------
// Transliteration

/// Latin spellings of one Cyrillic letter, by its neighbours: BGN/PCGN first, then the
/// variants of the press (German w for в, French/German j for й …).
fn latin_options(prev: Option<char>, c: char) -> &'static [&'static str] {
    let after_vowel_or_start = prev.is_none_or(|p| is_ru_vowel(p) || p == 'ь' || p == 'ъ');
    match c {
        'а' => &["a"],
        'б' => &["b"],
        'в' => &["v", "w"],
        'г' => &["g"],
        'д' => &["d"],
        'е' if after_vowel_or_start => &["ye", "e"],
        'е' | 'э' => &["e"],
        'ё' => &["yo", "e"],
        'ж' => &["zh", "j"],
        'з' => &["z"],
        'и' => &["i"],
        // Word-final -ий/-ый are spelled together below; elsewhere й is y, i or j.
        'й' => &["y", "i", "j"],
        'к' => &["k"],
        'л' => &["l"],
        'м' => &["m"],
        'н' => &["n"],
        'о' => &["o"],
        'п' => &["p"],
        'р' => &["r"],
        'с' => &["s"],
        'т' => &["t"],
        'у' => &["u"],
        'ф' => &["f"],
        'х' => &["kh", "h"],
        'ц' => &["ts", "c", "tz"],
        'ч' => &["ch", "tch", "tsch"],
        'ш' => &["sh", "sch"],
        'щ' => &["shch", "sch"],
        'ъ' | 'ь' => &[""],
        'ы' => &["y", "i"],
        'ю' => &["yu", "iu", "ju"],
        'я' if prev == Some('и') => &["ya", "a"],
        'я' => &["ya", "ia", "ja"],
        _ => &[],
    }
}

/// Most extra Latin spellings with `yo` for a `ё` written in the query: `Королёв` gets
/// `korolyov`, `korolyow` besides its `е` spellings (`korolev` …).
const YO_SPELLINGS: usize = 2;

/// The query word lowercased with its `ё` kept, when it has one and folds to `folded` letter
/// for letter (folding reads `ё` as `е`, and text is matched folded, but the Latin spelling of
/// `ё` is `yo` as often as `e`: Пётр → Pyotr, Королёв → Korolyov).
fn with_yo(folded: &str, written: &str) -> Option<String> {
    let lower = written.to_lowercase();
    let same = chars(&lower) == chars(folded)
        && lower
            .chars()
            .zip(folded.chars())
            .all(|(l, f)| l == f || (l == 'ё' && f == 'е'));
    (same && lower.contains('ё')).then_some(lower)
}

/// Latin spellings of the folded Cyrillic `base`; with `with_yo` (the unfolded query word the
/// base is a prefix of, see [`with_yo`]), also up to [`YO_SPELLINGS`] spelling its `ё` as `yo`.
fn latin_spellings(base: &str, with_yo: Option<&str>) -> Vec<String> {
    let mut out = romanize(base);
    let unfolded: Option<String> = with_yo
        .map(|w| w.chars().take(chars(base)).collect())
        .filter(|u: &String| u.contains('ё'));
    if let Some(unfolded) = unfolded {
        let yo: Vec<String> = romanize(&unfolded)
            .into_iter()
            .filter(|l| !out.contains(l))
            .take(YO_SPELLINGS)
            .collect();
        out.extend(yo);
    }
    out
}

/// Latin spellings of a folded Cyrillic string, BGN/PCGN first, at most [`MAX_SPELLINGS`].
pub(crate) fn romanize(word: &str) -> Vec<String> {
    romanize_in_context(word, None)
        .into_iter()
        .take(MAX_SPELLINGS)
        .collect()
}

/// All Latin spellings of `s` when the letter before it is `prev` (for an ending, the base's
/// last letter), unbounded but small: only endings and single words are spelled.
fn romanize_in_context(s: &str, prev: Option<char>) -> Vec<String> {
    let cs: Vec<char> = s.chars().collect();
    let mut out: Vec<String> = vec![String::new()];
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let p = if i == 0 { prev } else { Some(cs[i - 1]) };
        let final_pair = i + 2 == cs.len() && cs[i + 1] == 'й';
        let (opts, width): (&[&str], usize) = match c {
            // -ский/-цкий: also Ukrainian-style -yy (Zelenskyy, as Reuters and AP write it).
            'и' if final_pair && p == Some('к') => (&["iy", "y", "i", "ii", "ij", "yy"], 2),
            'и' if final_pair => (&["iy", "y", "i", "ii", "ij"], 2),
            'ы' if final_pair => (&["y", "yy", "iy", "yj"], 2),
            'к' if cs.get(i + 1) == Some(&'с') => (&["ks", "x"], 2),
            _ => (latin_options(p, c), 1),
        };
        if opts.is_empty() {
            return Vec::new();
        }
        let mut next = Vec::with_capacity(out.len() * opts.len());
        for o in &out {
            for opt in opts {
                next.push(format!("{o}{opt}"));
            }
        }
        // Keep the search small: spellings are ordered preferred-first at every step.
        next.truncate(64);
        out = next;
        i += width;
    }
    let mut seen = BTreeSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out
}

/// Cyrillic readings of Latin letter groups, longest first within each starting letter.
/// Built as the inverse of [`latin_options`]; context (`й` only after a vowel, `э` only at
/// the start) is applied in [`cyrillize`].
const LATIN_KEYS: &[(&str, &[&str])] = &[
    ("shch", &["щ"]),
    ("tsch", &["ч"]),
    ("sch", &["ш", "щ"]),
    ("tch", &["ч"]),
    ("zh", &["ж"]),
    ("kh", &["х"]),
    ("ts", &["ц"]),
    ("tz", &["ц"]),
    ("ch", &["ч"]),
    ("sh", &["ш"]),
    ("yu", &["ю"]),
    ("iu", &["ю"]),
    ("ju", &["ю"]),
    ("ya", &["я"]),
    ("ja", &["я"]),
    ("ia", &["ия", "я"]),
    ("ie", &["ие"]),
    ("yo", &["е"]),
    ("jo", &["е"]),
    ("ye", &["е"]),
    ("je", &["е"]),
    ("iy", &["ий"]),
    ("yy", &["ый", "ий"]),
    ("yi", &["ьи"]),
    ("ks", &["кс"]),
    ("x", &["кс"]),
    ("a", &["а"]),
    ("b", &["б"]),
    ("c", &["ц", "к"]),
    ("d", &["д"]),
    ("e", &["е"]),
    ("f", &["ф"]),
    ("g", &["г"]),
    ("h", &["х"]),
    ("i", &["и"]),
    ("j", &["й"]),
    ("k", &["к"]),
    ("l", &["л"]),
    ("m", &["м"]),
    ("n", &["н"]),
    ("o", &["о"]),
    ("p", &["п"]),
    ("q", &["к"]),
    ("r", &["р"]),
    ("s", &["с"]),
    ("t", &["т"]),
    ("u", &["у"]),
    ("v", &["в"]),
    ("w", &["в"]),
    ("y", &["ы"]),
    ("z", &["з"]),
];

/// Cyrillic spellings that romanize to the folded Latin `word`: the readings that use the
/// fewest letter groups (`kh` is х, not к + х), at most [`MAX_SPELLINGS`].
pub(crate) fn cyrillize(word: &str) -> Vec<String> {
    let bytes = word.as_bytes();
    let n = bytes.len();
    if n == 0 || !word.is_ascii() {
        return Vec::new();
    }
    // fewest[i]: fewest groups that spell word[i..] (usize::MAX: cannot be spelled).
    let mut fewest = vec![usize::MAX; n + 1];
    fewest[n] = 0;
    for i in (0..n).rev() {
        for (key, _) in LATIN_KEYS {
            if word[i..].starts_with(key) && fewest[i + key.len()] != usize::MAX {
                fewest[i] = fewest[i].min(fewest[i + key.len()] + 1);
            }
        }
    }
    if fewest[0] == usize::MAX {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<(usize, String)> = vec![(0, String::new())];
    // Bounded: every step either finishes a spelling or extends one along a shortest path.
    let mut steps = 0;
    while let Some((i, acc)) = stack.pop() {
        steps += 1;
        if steps > 10_000 || out.len() >= MAX_SPELLINGS {
            break;
        }
        if i == n {
            if !out.contains(&acc) {
                out.push(acc);
            }
            continue;
        }
        let prev = acc.chars().next_back();
        let after_vowel = prev.is_some_and(is_ru_vowel);
        let after_consonant = prev.is_some_and(|p| !is_ru_vowel(p) && !"ьъй".contains(p));
        // (Cyrillic, length of the Latin group it spells), preferred first.
        let mut options: Vec<(&str, usize)> = Vec::new();
        for (key, cyr) in LATIN_KEYS {
            let end = i + key.len();
            if !word[i..].starts_with(key) || fewest[end] == usize::MAX {
                continue;
            }
            if fewest[i] != fewest[end] + 1 {
                continue;
            }
            let at = options.len();
            options.extend(cyr.iter().map(|c| (*c, key.len())));
            // Context: i and y after a vowel are й (Sergei, Sergey); y at the end after a
            // consonant is -ий or -ый (Zelensky); e at the start may be э (Erdogan).
            match *key {
                "i" | "y" if after_vowel => options.insert(at, ("й", 1)),
                "y" if end == n && i > 0 => {
                    options.insert(at, ("ий", 1));
                    options.push(("ый", 1));
                }
                // A final i after a consonant is -ий as well (Yuri, Dmitri).
                "i" if end == n && after_consonant => options.push(("ий", 1)),
                "e" if i == 0 => options.push(("э", 1)),
                // yi: ьи inside a word (Ilyin); -ий/-ый at the end (Zelenskyi); й + и after a
                // vowel.
                "yi" if end == n && after_consonant => {
                    options.truncate(at);
                    options.extend([("ий", 2), ("ый", 2)]);
                }
                "yi" if !after_consonant => {
                    options.truncate(at);
                    options.push(("йи", 2));
                }
                _ => {}
            }
            // BGN/PCGN writes ь as ʼ, which the press drops: a y-vowel after a consonant may
            // be ь + vowel (Tatyana, Ulyanov, Solovyov, Vasiliev), and l before a consonant
            // may be ль (Yeltsin, Navalny, Olga). Other ь are left out: each doubles the
            // spellings of every word it could stand in.
            let y_vowel = key.len() == 2 && matches!(key.as_bytes()[0], b'y' | b'j' | b'i');
            if after_consonant && y_vowel {
                let soft: Vec<(&str, usize)> = options[at..]
                    .iter()
                    .filter_map(|&(c, len)| Some((soft_sign_before(c)?, len)))
                    .collect();
                options.extend(soft);
            }
            let next = word.as_bytes().get(end).copied();
            if *key == "l" && next.is_some_and(|b| !b"aeiouyjl".contains(&b)) {
                options.push(("ль", 1));
            }
        }
        // Reverse so the preferred option is popped first.
        for (c, len) in options.into_iter().rev() {
            stack.push((i + len, format!("{acc}{c}")));
        }
    }
    out
}

/// `ь` + vowel for the Cyrillic that a Latin y-vowel or `ie` spells (я, ю, е, ие), else `None`.
fn soft_sign_before(c: &str) -> Option<&'static str> {
    match c {
        "я" => Some("ья"),
        "ю" => Some("ью"),
        "е" | "ие" => Some("ье"),
        _ => None,
    }
}

/// `Кабулов{а,у,ым,е,…}`: how the query word `written` (folded `folded`) expands, for
/// showing a user how a rule was read. Variants are separated by `|`.
pub(crate) fn describe(written: &str, folded: &str, variants: &[Variant]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for v in variants {
        let endings = v.endings.list();
        // Show the base in the user's spelling when the written word folds to it.
        let shown = written_prefix(written, folded, &v.base).unwrap_or_else(|| v.base.clone());
        if endings.len() == 1 && endings[0].is_empty() {
            parts.push(shown);
            continue;
        }
        let listed: Vec<&str> = endings
            .iter()
            .map(String::as_str)
            .filter(|e| !e.is_empty())
            .collect();
        parts.push(format!("{shown}{{{}}}", listed.join(",")));
    }
    parts.join("|")
}

/// The first chars of `written` that fold to `base`, when `written` folds to `folded`
/// char for char.
fn written_prefix(written: &str, folded: &str, base: &str) -> Option<String> {
    if chars(written) != chars(folded) || !folded.starts_with(base) {
        return None;
    }
    Some(written.chars().take(chars(base)).collect())
}
