//! Is this the same story? Syndicated copies of one wire story — republished by other feeds
//! under their own URLs, with a site suffix on the headline ("— Reuters"), other punctuation
//! or case, a trimmed or lightly edited lead — are one story; two stories that share a
//! headline template ("Russia invites Iran to Moscow talks" and "Russia invites the Taliban
//! to Moscow talks") are not. Pure: no I/O, no clock.
//!
//! An item is described by the **shingles** of its title and lead (folded words and word
//! pairs, the title's site suffix dropped), kept as a bottom-k MinHash sketch: the
//! [`SKETCH_SIZE`] smallest shingle hashes. Two items are compared by **containment** — the
//! share of the smaller item's shingles found in the other — so a trimmed lead still matches
//! its full original. The sketch is exact for texts of up to [`SKETCH_SIZE`] shingles (a title
//! and a lead of a few hundred characters, what alerts carry); for longer ones containment is
//! estimated from the sketches (Broder, "On the resemblance and containment of documents",
//! 1997). Items with fewer than [`MIN_SHINGLES`] shingles are never called the same: a bare
//! "Live updates" says nothing about which story it is, and a missed alert is worse than a
//! duplicate.

use crate::text::{fold, is_dash, is_word_char};

/// Shingle hashes a sketch keeps (the smallest ones).
pub const SKETCH_SIZE: usize = 256;
/// Fewest shingles an item must have to be compared at all.
pub const MIN_SHINGLES: u32 = 12;
/// Default share of shingles two items must have in common to be one story
/// (`[stories] similarity`), chosen on the table of pairs in this module's tests.
pub const DEFAULT_SIMILARITY: f64 = 0.8;
/// Longest site suffix dropped from a headline ("The Moscow Times", "Reuters"), in words.
const SUFFIX_WORDS: usize = 4;

/// An item's shingles as a bottom-k MinHash sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    /// How many distinct shingles the item had.
    pub shingles: u32,
    /// The smallest shingle hashes, ascending, at most [`SKETCH_SIZE`].
    pub mins: Vec<u64>,
}

impl Sketch {
    /// The sketch of an item with this title and lead (summary as text).
    pub fn of(title: &str, lead: &str) -> Sketch {
        let mut hashes: Vec<u64> = Vec::new();
        for part in [strip_site_suffix(title), lead] {
            let words = words(part);
            hashes.extend(words.iter().map(|w| hash(&[w])));
            hashes.extend(words.windows(2).map(|p| hash(&[&p[0], &p[1]])));
        }
        hashes.sort_unstable();
        hashes.dedup();
        let shingles = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
        hashes.truncate(SKETCH_SIZE);
        Sketch {
            shingles,
            mins: hashes,
        }
    }

    /// The share (0–1) of the smaller item's shingles that the other has too; `None` when
    /// either is too short to tell ([`MIN_SHINGLES`]).
    pub fn containment(&self, other: &Sketch) -> Option<f64> {
        let (na, nb) = (self.shingles, other.shingles);
        if na.min(nb) < MIN_SHINGLES || self.mins.is_empty() || other.mins.is_empty() {
            return None;
        }
        let exact =
            self.mins.len() as u64 == u64::from(na) && other.mins.len() as u64 == u64::from(nb);
        let common = if exact {
            f64::from(count_common(&self.mins, &other.mins))
        } else {
            // The k smallest hashes of the union are a uniform sample of it; the share of
            // them in both sketches estimates the Jaccard index J, and |A ∩ B| = J·|A ∪ B|
            // with |A ∪ B| = (|A| + |B|) / (1 + J).
            let k = self.mins.len().min(other.mins.len());
            let union = union_bottom(&self.mins, &other.mins, k);
            let both = union
                .iter()
                .filter(|h| {
                    self.mins.binary_search(h).is_ok() && other.mins.binary_search(h).is_ok()
                })
                .count();
            let j = both as f64 / union.len().max(1) as f64;
            j * (f64::from(na) + f64::from(nb)) / (1.0 + j)
        };
        Some((common / f64::from(na.min(nb))).min(1.0))
    }

    /// The sketch as stored: the shingle count, then each hash, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.mins.len());
        out.extend_from_slice(&self.shingles.to_le_bytes());
        for h in &self.mins {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out
    }

    /// A stored sketch; `None` for bytes that are not one (never trusted).
    pub fn from_bytes(b: &[u8]) -> Option<Sketch> {
        let (count, rest) = b.split_first_chunk::<4>()?;
        if rest.len() % 8 != 0 || rest.len() / 8 > SKETCH_SIZE {
            return None;
        }
        let mut mins: Vec<u64> = rest
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes))
            .collect();
        mins.sort_unstable();
        mins.dedup();
        Some(Sketch {
            shingles: u32::from_le_bytes(*count),
            mins,
        })
    }
}

/// The headline without a trailing site name: "Russia Invites Taliban — Reuters" →
/// "Russia Invites Taliban". A suffix is what follows the last ` — `, ` – `, ` - ` or ` | `
/// when it is at most [`SUFFIX_WORDS`] words and the headline keeps at least as many.
fn strip_site_suffix(title: &str) -> &str {
    let title = title.trim();
    let cut = title
        .char_indices()
        .rev()
        .find(|&(i, c)| {
            (is_dash(c) || c == '|')
                && title[..i].ends_with(' ')
                && title[i + c.len_utf8()..].starts_with(' ')
        })
        .map(|(i, _)| i);
    let Some(at) = cut else {
        return title;
    };
    let (head, tail) = (title[..at].trim_end(), &title[at..]);
    let tail_words = tail.split_whitespace().count().saturating_sub(1);
    if tail_words <= SUFFIX_WORDS && head.split_whitespace().count() >= SUFFIX_WORDS {
        head
    } else {
        title
    }
}

/// The folded words of `s` (case, accents and punctuation do not count).
fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// FNV-1a over the words with a separator, finished by splitmix64 so that the low hashes a
/// sketch keeps are spread evenly. Stable across versions and machines: sketches are stored.
fn hash(words: &[&String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Elements in both sorted, deduplicated lists.
fn count_common(a: &[u64], b: &[u64]) -> u32 {
    let (mut i, mut j, mut n) = (0, 0, 0u32);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// The `k` smallest distinct elements of two sorted lists together.
fn union_bottom(a: &[u64], b: &[u64], k: usize) -> Vec<u64> {
    let mut all: Vec<u64> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests;
