//! Reading a config file into the serde types of `raw` with the `toml` crate's own
//! deserializer, so that `check` can list every mistake at once, each with its key path and
//! line. Three things are added to plain `toml::from_str`:
//!
//! - every value is a [`Lenient`]: one its type rejects is recorded and read as `Invalid`, and
//!   the rest of its table is still read;
//! - a table is read through [`Keys`], which records every unknown key with a "did you mean"
//!   and the keys the table accepts (`deny_unknown_fields` would stop at the first);
//! - `FEEDWATCH_SECTION__KEY` overrides are applied to the parsed tree before it is read.
//!
//! Nothing here names a config key. Problems go to the [`Sink`] of the load, which the reading
//! finds in a thread-local because serde gives a `Deserialize` impl no context of its own.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::PathBuf;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess};
use serde::de::{DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::Problem;

/// Prefix of environment overrides: `FEEDWATCH_POLL__INTERVAL=5m` sets `[poll] interval`.
const ENV_PREFIX: &str = "FEEDWATCH_";
/// Separates table and key in an override. Only variables containing it are overrides, so
/// `FEEDWATCH_CONFIG` and `FEEDWATCH_LOG` stay plain settings of the program.
const ENV_SEPARATOR: &str = "__";
/// The span of a value from the environment: past the end of any file, so it has no line.
const NOWHERE: Range<usize> = usize::MAX..usize::MAX;

thread_local! {
    /// The sink of the file being read on this thread (see the module comment).
    static READING: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Parses TOML text; on a syntax error, its line and message.
pub(super) fn parse(text: &str) -> Result<DeTable<'_>, (Option<usize>, String)> {
    DeTable::parse(text).map(Spanned::into_inner).map_err(|e| {
        let line = e.span().and_then(|s| File::new(None, text).line(s.start));
        (line, format!("TOML syntax error: {}", e.message().trim()))
    })
}

/// Applies `FEEDWATCH_SECTION__KEY=value` overrides (any depth, names lowercased) on top of the
/// file, as the `config` crate's environment source did: a string that replaces whatever was
/// there, keeping the line of what it replaced.
pub(super) fn apply_env(root: &mut DeTable<'_>, env: &[(String, String)]) {
    let entry = |name: &str, value| (Spanned::new(NOWHERE, Cow::Owned(name.into())), value);
    for (name, text) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path = rest.to_lowercase();
        let Some((tables, key)) = path.rsplit_once(ENV_SEPARATOR) else {
            continue;
        };
        let mut table = &mut *root;
        for name in tables.split(ENV_SEPARATOR) {
            let (k, empty) = entry(name, Spanned::new(NOWHERE, DeValue::Table(DeTable::new())));
            let slot = table.entry(k).or_insert(empty);
            if !slot.get_ref().is_table() {
                *slot = Spanned::new(slot.span(), DeValue::Table(DeTable::new()));
            }
            let DeValue::Table(t) = slot.get_mut() else {
                unreachable!("made a table just above");
            };
            table = t;
        }
        let span = table.get(key).map_or(NOWHERE, Spanned::span);
        let value = DeValue::String(Cow::Owned(text.clone()));
        let (k, v) = entry(key, Spanned::new(span, value));
        table.insert(k, v);
    }
}

/// Tables told apart by a key, like `[notify.NAME] type = "email"`.
pub(super) struct Tagged {
    /// The table holding them (`notify`).
    pub section: &'static str,
    /// The key that tells them apart (`type`) and what its value names (`notifier`).
    pub tag: [&'static str; 2],
    /// The tag's values.
    pub variants: &'static [&'static str],
}

/// Rewrites each table of a [`Tagged`] section into serde's externally tagged form,
/// `{ type = "email", … }` into `{ email = { type = "email", … } }`: toml's tables are sorted by
/// key, so the tag cannot be read first. A table whose tag is missing, not a string or not one
/// of the variants is recorded here and emptied, which its reader takes as reported already.
/// `root_keys` are the keys of the root table, which order problems without a line.
pub(super) fn retag(root: &mut DeTable<'_>, sink: &mut Sink, tagged: &Tagged, root_keys: &[&str]) {
    let Tagged {
        section,
        tag: [tag, noun],
        variants,
    } = *tagged;
    let quoted: Vec<String> = variants.iter().map(|v| format!("{v:?}")).collect();
    let choices = or_list(&quoted);
    let index = root_keys
        .iter()
        .position(|k| *k == section)
        .unwrap_or(root_keys.len());
    let Some(DeValue::Table(named)) = root.get_mut(section).map(Spanned::get_mut) else {
        return;
    };
    for (rank, (name, table)) in named.iter_mut().enumerate() {
        let span = table.span();
        let DeValue::Table(entries) = table.get_mut() else {
            continue;
        };
        let key = format!("{section}.{}", name.get_ref());
        let mut pos = vec![to_pos(index + 1), to_pos(rank)];
        let (key, offset, problem) = match entries.get(tag).map(|t| (t.span(), t.get_ref())) {
            Some((_, DeValue::String(v))) if variants.contains(&v.as_ref()) => {
                let variant = Spanned::new(span.clone(), Cow::Owned(v.to_string()));
                let inner = std::mem::take(entries);
                entries.insert(variant, Spanned::new(span, DeValue::Table(inner)));
                continue;
            }
            Some((at, v)) => {
                let problem = match v {
                    DeValue::String(v) => format!("unknown {noun} {tag} {v:?}; expected {choices}"),
                    v => format!("expected a string, found {}", kind(v.type_str())),
                };
                pos.push(0);
                (format!("{key}.{tag}"), at.start, problem)
            }
            None => (
                key,
                span.start,
                format!("missing required key `{tag}` ({choices})"),
            ),
        };
        let at = sink.at(0, key, offset, pos);
        sink.record(at, problem, false);
        entries.clear();
    }
}

fn to_pos(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// "a, b or c".
fn or_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

/// One file of a load: where it is (`None`: the main file) and where its lines start.
#[derive(Debug)]
pub(super) struct File {
    pub path: Option<PathBuf>,
    newlines: Vec<usize>,
    len: usize,
}

impl File {
    pub(super) fn new(path: Option<PathBuf>, text: &str) -> File {
        let newlines = text.match_indices('\n').map(|(i, _)| i).collect();
        File {
            path,
            newlines,
            len: text.len(),
        }
    }

    /// The 1-based line of a byte offset; `None` past the end (a value from the environment).
    fn line(&self, offset: usize) -> Option<usize> {
        (offset <= self.len).then(|| self.newlines.partition_point(|&n| n < offset) + 1)
    }
}

/// Where a value is: its file (index into [`Sink::files`]), key path and line, and its place in
/// the schema (`pos`: the index of each key in its table, unknown keys first), which orders
/// problems on one line, or without one, the way the keys are declared.
#[derive(Debug, Clone)]
pub(super) struct At {
    pub file: usize,
    pub key: String,
    pub line: Option<usize>,
    pos: Vec<u32>,
}

impl At {
    /// A key of the main file that may be absent from it (then it has no line).
    pub(super) fn main(key: &str) -> At {
        At {
            file: 0,
            key: key.to_string(),
            line: None,
            pos: vec![u32::MAX],
        }
    }
}

/// Collects every problem of a load, from reading and from the checks after it, and the
/// places of values read, so a check can report a problem at a value without naming its key.
#[derive(Debug, Default)]
pub(super) struct Sink {
    /// The main file, then each included file.
    pub files: Vec<File>,
    places: RefCell<Vec<At>>,
    /// Each problem, and whether it is an unknown key (which leaves its table usable).
    problems: RefCell<Vec<(At, String, bool)>>,
    /// While reading: the file, and the path to the value being read, each step with its `pos`
    /// and the offset of its key (`usize::MAX` for an array's item).
    file: usize,
    path: Vec<(String, u32, usize)>,
}

impl Sink {
    /// A place in file number `file`, at a byte offset.
    pub(super) fn at(&self, file: usize, key: String, offset: usize, pos: Vec<u32>) -> At {
        let line = self.files.get(file).and_then(|f| f.line(offset));
        At {
            file,
            key,
            line,
            pos,
        }
    }

    /// Keeps a value's place; its number is what [`Lenient::Valid`] holds.
    fn keep(&self, at: At) -> usize {
        let mut places = self.places.borrow_mut();
        places.push(at);
        places.len() - 1
    }

    fn here(&self, offset: usize) -> At {
        let key: String = self.path.iter().map(|(k, _, _)| k.as_str()).collect();
        let key = key.strip_prefix('.').unwrap_or(&key).to_string();
        let pos = self.path.iter().map(|(_, p, _)| *p).collect();
        self.at(self.file, key, offset, pos)
    }

    fn record(&self, at: At, message: String, unknown: bool) {
        self.problems.borrow_mut().push((at, message, unknown));
    }

    /// Records a problem at a place.
    pub(super) fn report(&self, at: &At, message: impl Into<String>) {
        self.record(at.clone(), message.into(), false);
    }

    /// Records a problem at a value read (or its table).
    pub(super) fn err<T>(&self, value: &Lenient<T>, message: impl Into<String>) {
        if let Some(at) = self.place(value) {
            self.record(at, message.into(), false);
        }
    }

    /// Where a value read is.
    pub(super) fn place<T>(&self, value: &Lenient<T>) -> Option<At> {
        match value {
            Lenient::Valid(_, place) => self.places.borrow().get(*place).cloned(),
            _ => None,
        }
    }

    /// Whether no problem (but an unknown key) is recorded at a value or inside it.
    pub(super) fn clean<T>(&self, value: &Lenient<T>) -> bool {
        let Lenient::Valid(_, place) = value else {
            return matches!(value, Lenient::Absent);
        };
        let Some(at) = self.places.borrow().get(*place).cloned() else {
            return true;
        };
        let inside = |key: &str| {
            key.strip_prefix(at.key.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        !(self.problems.borrow().iter())
            .any(|(p, _, unknown)| !unknown && p.file == at.file && inside(&p.key))
    }

    /// Reads `T` from the tree of file number `file` (an index into `files`).
    pub(super) fn decode<T: Read>(&mut self, root: DeTable<'_>, file: usize) -> Lenient<T> {
        let mut sink = std::mem::take(self);
        sink.file = file;
        READING.with(|r| *r.borrow_mut() = Some(sink));
        let de = ValueDeserializer::from(Spanned::new(0..0, DeValue::Table(root)));
        let read = Lenient::deserialize(de).unwrap_or(Lenient::Invalid);
        *self = READING.with(|r| r.borrow_mut().take()).unwrap_or_default();
        read
    }

    /// Every problem in file order: the main file first, then included files by name, each by
    /// line; problems without a line (from the environment) last within their file.
    pub(super) fn into_problems(self) -> Vec<Problem> {
        let files = self.files;
        let mut problems = self.problems.into_inner();
        let file = |at: &At| files.get(at.file).and_then(|f| f.path.clone());
        problems.sort_by_cached_key(|(at, _, _)| {
            let f = file(at);
            (
                f.is_some(),
                f,
                at.line.unwrap_or(usize::MAX),
                at.pos.clone(),
            )
        });
        let problem = |(at, message, _): (At, String, bool)| Problem {
            file: file(&at),
            key: at.key,
            line: at.line,
            message,
        };
        problems.into_iter().map(problem).collect()
    }
}

/// Runs `f` on the sink of the file being read.
fn with<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    READING.with(|r| f(r.borrow_mut().get_or_insert_with(Sink::default)))
}

/// A value that may be absent, or present but invalid, without failing the table around it:
/// how reading goes on after a mistake. `Invalid` means the problem is recorded; `Valid`
/// carries the value's place for later checks ([`Sink::err`]).
#[derive(Debug, Default)]
pub(super) enum Lenient<T> {
    #[default]
    Absent,
    Invalid,
    Valid(T, usize),
}

impl<T> Lenient<T> {
    /// The value, if present and valid.
    pub(super) fn get(&self) -> Option<&T> {
        match self {
            Lenient::Valid(v, _) => Some(v),
            _ => None,
        }
    }
}

impl<'de, T: Read> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let read = Spanned::<Attempt<T>>::deserialize(d)?;
        let at = with(|s| s.here(read.span().start));
        Ok(match read.into_inner().0 {
            Ok(value) => Lenient::Valid(value, with(|s| s.keep(at))),
            Err(bad) => {
                let key = at.key.rsplit(['.', '[']).next().unwrap_or_default();
                let message = match bad {
                    Bad::Found(kind) => {
                        let expected = T::EXPECTING.replace("{key}", key);
                        format!("expected {expected}, found {kind}")
                    }
                    Bad::Says(message) => message,
                    Bad::Reported => return Ok(Lenient::Invalid),
                };
                with(|s| s.record(at, message, false));
                Lenient::Invalid
            }
        })
    }
}

/// One value read by its [`Read`] impl; an error of the deserializer itself (a number too
/// large for TOML, say) is a problem of that value, not the end of the file.
struct Attempt<T>(Result<T, Bad>);

impl<'de, T: Read> Deserialize<'de> for Attempt<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let read = T::read(d).unwrap_or_else(|e| Err(Bad::Says(e.to_string().trim().into())));
        Ok(Attempt(read))
    }
}

/// Why a value could not be read.
pub(super) enum Bad {
    /// It is of another kind altogether ("a number"): "expected …, found" it.
    Found(&'static str),
    /// What is wrong with it.
    Says(String),
    /// Recorded already.
    Reported,
}

/// How a config value is read. A leaf reads the TOML value whole ([`leaf`]); a container is
/// given the table, array or string it is written as by the hooks, and any other kind of value
/// is reported as not what it expects.
pub(super) trait Read: Sized {
    /// What a value looks like, for "expected …, found a number"; `{key}` is its key.
    const EXPECTING: &'static str;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        d.deserialize_any(Shape(PhantomData))
    }

    fn from_map<'de, A: MapAccess<'de>>(_: A) -> Result<Result<Self, Bad>, A::Error> {
        Ok(Err(Bad::Found("a table")))
    }

    fn from_seq<'de, A: SeqAccess<'de>>(_: A) -> Result<Result<Self, Bad>, A::Error> {
        Ok(Err(Bad::Found("an array")))
    }

    fn from_str(_: &str) -> Result<Self, Bad> {
        Err(Bad::Found("a string"))
    }
}

/// A table of the schema: a serde struct, read through [`Keys`].
pub(super) trait Table: DeserializeOwned + Default {}

impl<T: Table> Read for T {
    const EXPECTING: &'static str = "a table";

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let keys = Keys {
            map,
            fields: keys_of::<T>(),
        };
        T::deserialize(MapAccessDeserializer::new(keys)).map(Ok)
    }
}

/// Reads a leaf value whole, as a TOML value.
pub(super) fn leaf<'de, D: Deserializer<'de>, T>(
    d: D,
    f: impl FnOnce(toml::Value) -> Result<T, Bad>,
) -> Result<Result<T, Bad>, D::Error> {
    toml::Value::deserialize(d).map(f)
}

/// A leaf written as a string and parsed by `parse`, whose message is the problem. Datetimes
/// count as strings, as the `config` crate read them.
pub(super) fn text<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Result<T, Bad>, D::Error> {
    leaf(d, |v| match v {
        toml::Value::String(s) => parse(&s).map_err(Bad::Says),
        toml::Value::Datetime(t) => parse(&t.to_string()).map_err(Bad::Says),
        other => Err(Bad::Found(kind(other.type_str()))),
    })
}

/// "a number" for `integer`: a TOML type (`type_str`) as messages name it.
pub(super) fn kind(type_str: &str) -> &'static str {
    match type_str {
        "string" | "datetime" => "a string",
        "integer" | "float" => "a number",
        "boolean" => "a boolean",
        "array" => "an array",
        _ => "a table",
    }
}

impl Read for String {
    const EXPECTING: &'static str = "a string";

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        text(d, |s| Ok(s.to_string()))
    }
}

/// Environment overrides are strings, so a string also stands for a number or a boolean.
impl Read for u64 {
    const EXPECTING: &'static str = "a whole number of 0 or more";

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        leaf(d, |v| {
            let n = match v {
                toml::Value::Integer(i) => u64::try_from(i).ok(),
                toml::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            n.ok_or_else(|| Bad::Says(format!("expected {}", Self::EXPECTING)))
        })
    }
}

impl Read for f64 {
    const EXPECTING: &'static str = "a number";

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        leaf(d, |v| {
            let n = match v {
                toml::Value::Float(f) => Some(f),
                toml::Value::Integer(i) => Some(i as f64),
                toml::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            n.filter(|f| f.is_finite())
                .ok_or_else(|| Bad::Says(format!("expected {}", Self::EXPECTING)))
        })
    }
}

impl Read for bool {
    const EXPECTING: &'static str = "true or false";

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        leaf(d, |v| match v {
            toml::Value::Boolean(b) => Ok(b),
            toml::Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            other => Err(Bad::Found(kind(other.type_str()))),
        })
    }
}

/// Any value (a notifier's `type`, which selected its table already).
impl Read for IgnoredAny {
    const EXPECTING: &'static str = "anything";

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        IgnoredAny::deserialize(d).map(Ok)
    }
}

/// Reads the items of an array, each on its own.
pub(super) fn items<'de, A: SeqAccess<'de>, T: Read>(
    mut seq: A,
) -> Result<Vec<Lenient<T>>, A::Error> {
    let mut out = Vec::new();
    loop {
        let index = to_pos(out.len());
        with(|s| s.path.push((format!("[{index}]"), index, usize::MAX)));
        let item = seq.next_element::<Lenient<T>>();
        with(|s| s.path.pop());
        match item? {
            Some(item) => out.push(item),
            None => return Ok(out),
        }
    }
}

/// A single value where a list is expected: a list of one, at the key's line.
pub(super) fn one<T>(value: T) -> Lenient<T> {
    with(|s| {
        let offset = s.path.last().map_or(usize::MAX, |(_, _, offset)| *offset);
        let mut at = s.here(offset);
        at.key.push_str("[0]");
        at.pos.push(0);
        Lenient::Valid(value, s.keep(at))
    })
}

/// Reads the entries of a table of named values, each on its own.
pub(super) fn named<'de, A: MapAccess<'de>, T: Read>(
    mut map: A,
) -> Result<Vec<(String, Lenient<T>)>, A::Error> {
    let mut out = Vec::new();
    while let Some(name) = map.next_key::<String>()? {
        let rank = to_pos(out.len());
        with(|s| s.path.push((format!(".{name}"), rank, usize::MAX)));
        let value = map.next_value::<Lenient<T>>();
        with(|s| s.path.pop());
        out.push((name, value?));
    }
    Ok(out)
}

/// Reads a value of `T` where a map's or array's own reader wants one (a tagged variant).
pub(super) struct Seed<T>(pub PhantomData<T>);

impl<'de, T: Read> DeserializeSeed<'de> for Seed<T> {
    type Value = Result<T, Bad>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        T::read(d)
    }
}

/// Gives a [`Read`] container the kind of value it is written as.
struct Shape<T>(PhantomData<T>);

impl<'de, T: Read> Visitor<'de> for Shape<T> {
    type Value = Result<T, Bad>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(s))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(Bad::Found("a boolean")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(Bad::Found("a number")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(Bad::Found("a number")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(Bad::Found("a number")))
    }
}

/// The entries of a table whose keys are `fields`: every other key is recorded as unknown
/// and skipped, and the path follows the key being read.
struct Keys<A> {
    map: A,
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Keys<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<Spanned<String>>()? {
            if let Some(i) = self.fields.iter().position(|f| f == key.get_ref()) {
                let step = (
                    format!(".{}", key.get_ref()),
                    to_pos(i + 1),
                    key.span().start,
                );
                with(|s| s.path.push(step));
                return seed
                    .deserialize(key.into_inner().into_deserializer())
                    .map(Some);
            }
            with(|s| unknown(s, &key, self.fields));
            self.map.next_value::<IgnoredAny>()?;
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let value = self.map.next_value_seed(seed);
        with(|s| s.path.pop());
        value
    }
}

fn unknown(s: &Sink, key: &Spanned<String>, fields: &[&str]) {
    let message = if s.file > 0 && s.path.is_empty() {
        let tables: Vec<String> = fields.iter().map(|f| format!("[[{f}]]")).collect();
        let tables = tables.join(" and ");
        format!("not allowed in an included file; included files hold only {tables}")
    } else {
        let hint = closest(key.get_ref(), fields)
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        format!("unknown key{hint}; expected one of: {}", fields.join(", "))
    };
    let mut at = s.here(key.span().start);
    at.key = [at.key.as_str(), key.get_ref()].join(if at.key.is_empty() { "" } else { "." });
    at.pos.push(0);
    s.record(at, message, true);
}

/// The allowed key closest to a misspelt one, if any is close.
fn closest<'f>(key: &str, allowed: &[&'f str]) -> Option<&'f str> {
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// The keys serde's derive lists for the table type `T`, in declaration order.
pub(super) fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    serde_aux::serde_introspection::serde_introspect::<T>()
}
