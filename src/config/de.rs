//! Reading a config file into the types of `config` with the `toml` crate's own deserializer,
//! so that `check` can list every mistake at once, each with its key path and line. Three
//! things are added to plain `toml::from_str`:
//!
//! - a value its type rejects is recorded and its field keeps its default, and the rest of its
//!   table is still read ([`Field`]);
//! - a table declared with [`table!`] records every unknown key with a "did you mean" and the
//!   keys the table accepts (`deny_unknown_fields` would stop at the first);
//! - `FEEDWATCH_SECTION__KEY` overrides are applied to the parsed tree before it is read.
//!
//! Every value read leaves its place (file, key path, line, and whether it was valid) in the
//! [`Sink`], where the checks after reading find it by key path. Nothing here names a config
//! key. The sink of the load is in a thread-local because serde gives a `Deserialize` impl no
//! context of its own.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::PathBuf;

use rustc_hash::FxHashMap;
use serde::de::{self, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess};
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

/// Declares a table of the config file: the struct, each key once with its doc comment, type
/// and default (`key: Type = default`); its `Default`; its keys in declaration order; and how
/// it is read ([`Fields`]). `as "name"` gives a key another name than its field; `=> Via` reads
/// the value as `Via` and converts it (`From<Via>`), for a field whose type reads differently
/// elsewhere. Fields after `;` are not keys: the checks fill them once the file is read.
macro_rules! table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident $(as $key:literal)? : $ty:ty = $default:expr $(=> $via:ty)?,
            )*
            $(;
                $(
                    $(#[doc = $ddoc:literal])*
                    $dfield:ident : $dty:ty = $ddefault:expr,
                )*
            )?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $($( $(#[doc = $ddoc])* pub $dfield: $dty, )*)?
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $default, )*
                    $($( $dfield: $ddefault, )*)?
                }
            }
        }

        impl $crate::config::de::Fields for $name {
            const KEYS: &'static [&'static str] =
                &[$( $crate::config::de::table!(@key $field $($key)?) ),*];

            #[allow(clippy::useless_conversion)]
            fn read_field<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                $(
                    if key == $crate::config::de::table!(@key $field $($key)?) {
                        type Via = $crate::config::de::table!(@via $ty $(, $via)?);
                        let seed = $crate::config::de::Field::<Via>::new();
                        if let Some(value) = map.next_value_seed(seed)? {
                            self.$field = value.into();
                        }
                        return Ok(());
                    }
                )*
                map.next_value::<serde::de::IgnoredAny>().map(drop)
            }
        }
    };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@via $ty:ty) => { $ty };
    (@via $ty:ty, $via:ty) => { $via };
}
pub(super) use table;

/// Parses TOML text; on a syntax error, its line and message.
pub(super) fn parse(text: &str) -> Result<DeTable<'_>, (Option<usize>, String)> {
    DeTable::parse(text).map(Spanned::into_inner).map_err(|e| {
        let line = e.span().and_then(|s| File::new(None, text).line(s.start));
        (line, format!("TOML syntax error: {}", e.message().trim()))
    })
}

/// Applies `FEEDWATCH_SECTION__KEY=value` overrides (any depth, names lowercased) on top of the
/// file, as the `config` crate's environment source did: a string that replaces whatever was
/// there, keeping the line of what it replaced. Returns the key path each one set, with its
/// variable, so a problem with such a value can name where it came from.
pub(super) fn apply_env(root: &mut DeTable<'_>, env: &[(String, String)]) -> Vec<(String, String)> {
    let mut set = Vec::new();
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
        set.push((path.replace(ENV_SEPARATOR, "."), name.clone()));
    }
    set
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

/// Where a value read is (its file and key are those it is kept under), and whether its type
/// took it.
#[derive(Debug)]
struct Place {
    line: Option<usize>,
    pos: Vec<u32>,
    valid: bool,
}

impl Place {
    fn at(&self, file: usize, key: &str) -> At {
        At {
            file,
            key: key.to_string(),
            line: self.line,
            pos: self.pos.clone(),
        }
    }
}

/// Collects every problem of a load, from reading and from the checks after it, and the
/// place of every value read, so a check can report a problem at a value by its key path.
#[derive(Debug, Default)]
pub(super) struct Sink {
    /// The main file, then each included file.
    pub files: Vec<File>,
    /// The config's folder: relative paths in it start there.
    pub base: PathBuf,
    /// The process environment (for `password_env`, systemd credentials and `$TZ`).
    pub env: Vec<(String, String)>,
    /// The key paths that `FEEDWATCH_*__*` variables set, with each variable's name.
    pub from_env: Vec<(String, String)>,
    /// Each value read by file and key path: where it is, and whether its type took it.
    /// (FxHash: a load looks a place up several times for each of thousands of feeds.)
    places: RefCell<Vec<FxHashMap<String, Place>>>,
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

    /// The sink of a load from the config's folder `base` with the environment `env`.
    pub(super) fn new(base: &std::path::Path, env: &[(String, String)]) -> Sink {
        Sink {
            base: base.to_path_buf(),
            env: env.to_vec(),
            ..Sink::default()
        }
    }

    /// The value of an environment variable.
    pub(super) fn env(&self, name: &str) -> Option<&str> {
        let found = self.env.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    }

    fn keep(&self, at: At, valid: bool) {
        let mut places = self.places.borrow_mut();
        if places.len() <= at.file {
            places.resize_with(at.file + 1, FxHashMap::default);
        }
        let place = Place {
            line: at.line,
            pos: at.pos,
            valid,
        };
        places[at.file].insert(at.key, place);
    }

    /// `f` of the place of the value at `key` of file `file` (`None`: absent).
    fn look<R>(&self, file: usize, key: &str, f: impl FnOnce(Option<&Place>) -> R) -> R {
        f(self.places.borrow().get(file).and_then(|p| p.get(key)))
    }

    /// The key path of the value being read.
    pub(super) fn key(&self) -> String {
        let mut key: String = self.path.iter().map(|(k, _, _)| k.as_str()).collect();
        if key.starts_with('.') {
            key.remove(0);
        }
        key
    }

    fn here(&self, offset: usize) -> At {
        let pos = self.path.iter().map(|(_, p, _)| *p).collect();
        self.at(self.file, self.key(), offset, pos)
    }

    fn record(&self, at: At, message: String, unknown: bool) {
        self.problems.borrow_mut().push((at, message, unknown));
    }

    /// Records a problem at a place.
    pub(super) fn report(&self, at: &At, message: impl Into<String>) {
        self.record(at.clone(), message.into(), false);
    }

    /// Where the value at `key` of file `file` is, and whether it is valid; `None`: absent.
    pub(super) fn place(&self, file: usize, key: &str) -> Option<(At, bool)> {
        self.look(file, key, |p| p.map(|p| (p.at(file, key), p.valid)))
    }

    /// Whether the value at `key` of file `file` was read (valid or not).
    pub(super) fn present(&self, file: usize, key: &str) -> bool {
        self.look(file, key, |p| p.is_some())
    }

    /// Whether the value at `key` of file `file` was read and is valid.
    pub(super) fn valid(&self, file: usize, key: &str) -> bool {
        self.look(file, key, |p| p.is_some_and(|p| p.valid))
    }

    /// Records a problem at a valid value (a check's); nothing if the value is absent or
    /// invalid already, when its field holds the default.
    pub(super) fn err(&self, file: usize, key: &str, message: impl Into<String>) {
        if let Some(at) = self.look(file, key, |p| {
            p.filter(|p| p.valid).map(|p| p.at(file, key))
        }) {
            self.record(at, message.into(), false);
        }
    }

    /// Records that the value at `key` is not valid after all, and why.
    fn fail(&self, file: usize, key: String, message: String) {
        let mut places = self.places.borrow_mut();
        if let Some(place) = places.get_mut(file).and_then(|p| p.get_mut(&key)) {
            place.valid = false;
            self.record(place.at(file, &key), message, false);
        }
    }

    /// Whether no problem (but an unknown key) is recorded at a value or inside it; an absent
    /// value is clean, an invalid one is not.
    pub(super) fn clean(&self, file: usize, key: &str) -> bool {
        let Some((at, valid)) = self.place(file, key) else {
            return true;
        };
        let inside = |k: &str| {
            k.strip_prefix(at.key.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        valid
            && !(self.problems.borrow().iter())
                .any(|(p, _, unknown)| !unknown && p.file == at.file && inside(&p.key))
    }

    /// Reads `T` from the tree of file number `file` (an index into `files`).
    pub(super) fn decode<T: Read>(&mut self, root: DeTable<'_>, file: usize) -> Option<T> {
        let mut sink = std::mem::take(self);
        sink.file = file;
        READING.with(|r| *r.borrow_mut() = Some(sink));
        let de = ValueDeserializer::from(Spanned::new(0..0, DeValue::Table(root)));
        let read = Field::<T>::new().deserialize(de).ok().flatten();
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
        let from_env = self.from_env;
        let problem = |(at, mut message, _): (At, String, bool)| {
            // A value from the environment keeps the line of what it replaced (or has none):
            // the variable says where to look. (`[0]`: a single value read as a list of one.)
            let var = (from_env.iter()).find(|(key, _)| {
                at.file == 0
                    && (at.key.strip_prefix(key.as_str()))
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
            });
            if let Some((_, var)) = var {
                message.push_str(&format!(" (set by {var})"));
            }
            Problem {
                file: file(&at),
                key: at.key,
                line: at.line,
                message,
            }
        };
        problems.into_iter().map(problem).collect()
    }
}

/// Runs `f` on the sink of the file being read.
pub(super) fn with<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    READING.with(|r| f(r.borrow_mut().get_or_insert_with(Sink::default)))
}

/// An environment variable of the load on this thread, if one is being read.
pub(super) fn env_var(name: &str) -> Option<String> {
    READING.with(|r| Some(r.borrow().as_ref()?.env(name)?.to_owned()))
}

/// Records that the value being read is not valid after all (a check its own reader makes once
/// its parts are read, like a header's name).
fn fail_here(message: String) {
    with(|s| s.fail(s.file, s.key(), message));
}

/// Reads one value as `T`, leaving its place in the sink: `None` when it is not a valid `T`
/// (the problem is recorded), so its field keeps its default and reading goes on.
pub(super) struct Field<T>(PhantomData<T>);

impl<T> Field<T> {
    pub(super) fn new() -> Self {
        Field(PhantomData)
    }
}

impl<'de, T: Read> DeserializeSeed<'de> for Field<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        let read = Spanned::<Attempt<T>>::deserialize(d)?;
        let at = with(|s| s.here(read.span().start));
        Ok(settle(at, read.into_inner().0))
    }
}

/// Keeps the place of a value read and records why it is not valid, if it is not.
fn settle<T: Read>(at: At, read: Result<T, Bad>) -> Option<T> {
    let bad = match read {
        Ok(value) => {
            with(|s| s.keep(at, true));
            return Some(value);
        }
        Err(bad) => bad,
    };
    with(|s| s.keep(at.clone(), false));
    let key = at.key.rsplit(['.', '[']).next().unwrap_or_default();
    let message = match bad {
        Bad::Found(kind) => {
            let expected = T::EXPECTING.replace("{key}", key);
            format!("expected {expected}, found {kind}")
        }
        Bad::Says(message) => message,
        Bad::Reported => return None,
    };
    with(|s| s.record(at, message, false));
    None
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
    /// What a list of these looks like.
    const LIST: &'static str = "a list of strings";
    /// Whether one value stands for a list of one.
    const ALONE: bool = true;

    /// What an invalid item of a list is read as, so the items after it keep their index.
    fn placeholder() -> Option<Self> {
        None
    }

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

/// A table of the schema, declared with [`table!`].
pub(super) trait Fields: Default {
    /// Its keys, in declaration order.
    const KEYS: &'static [&'static str];

    /// Reads the value of `key`, one of [`Fields::KEYS`], into its field.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

impl<T: Fields> Read for T {
    const EXPECTING: &'static str = "a table";
    const LIST: &'static str = "an array of tables ([[{key}]])";
    const ALONE: bool = false;

    fn placeholder() -> Option<Self> {
        Some(T::default())
    }

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let mut table = T::default();
        read_table(map, T::KEYS, |key, map| table.read_field(key, map))?;
        Ok(Ok(table))
    }
}

/// Reads the entries of a table whose keys are `keys` with `field`: every other key is
/// recorded as unknown and skipped, and the path follows the key being read.
pub(super) fn read_table<'de, A: MapAccess<'de>>(
    mut map: A,
    keys: &[&str],
    mut field: impl FnMut(&str, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<Spanned<String>>()? {
        let Some(i) = keys.iter().position(|k| k == key.get_ref()) else {
            with(|s| unknown(s, &key, keys));
            map.next_value::<IgnoredAny>()?;
            continue;
        };
        let step = (
            format!(".{}", key.get_ref()),
            to_pos(i + 1),
            key.span().start,
        );
        with(|s| s.path.push(step));
        let read = field(key.get_ref(), &mut map);
        with(|s| s.path.pop());
        read?;
    }
    Ok(())
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

    fn placeholder() -> Option<Self> {
        Some(String::new())
    }

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

impl Read for usize {
    const EXPECTING: &'static str = u64::EXPECTING;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        let n = u64::read(d)?;
        Ok(n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
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

/// An optional key: `None` when absent.
impl<T: Read> Read for Option<T> {
    const EXPECTING: &'static str = T::EXPECTING;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        Ok(T::read(d)?.map(Some))
    }
}

/// A list, each item read on its own; a single value is a list of one where `T::ALONE`.
impl<T: Read> Read for Vec<T> {
    const EXPECTING: &'static str = T::LIST;

    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, Bad>, A::Error> {
        let mut out = Vec::new();
        for index in 0.. {
            let index = to_pos(index);
            with(|s| s.path.push((format!("[{index}]"), index, usize::MAX)));
            let item = seq.next_element_seed(Field::<T>::new());
            with(|s| s.path.pop());
            match item? {
                Some(item) => out.extend(item.or_else(T::placeholder)),
                None => break,
            }
        }
        Ok(Ok(out))
    }

    /// At the key's line: a single value has no place of its own.
    fn from_str(s: &str) -> Result<Self, Bad> {
        if !T::ALONE {
            return Err(Bad::Found("a string"));
        }
        let at = with(|sink| {
            let offset = sink
                .path
                .last()
                .map_or(usize::MAX, |(_, _, offset)| *offset);
            let mut at = sink.here(offset);
            at.key.push_str("[0]");
            at.pos.push(0);
            at
        });
        let de: de::value::StrDeserializer<'_, de::value::Error> = s.into_deserializer();
        let read = T::read(de);
        let read = read.unwrap_or_else(|e| Err(Bad::Says(e.to_string())));
        Ok(settle(at, read).into_iter().collect())
    }
}

/// `[section.NAME]` tables or `{ NAME = value }`: each entry read on its own. An invalid entry
/// is its placeholder, so its name is still known.
impl<T: Read> Read for BTreeMap<String, T> {
    const EXPECTING: &'static str = "tables like [{key}.NAME]";

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let mut out = BTreeMap::new();
        named::<A, T>(map, |name, value| {
            if let Some(value) = value.or_else(T::placeholder) {
                out.insert(name, value);
            }
            Ok(())
        })?;
        Ok(Ok(out))
    }
}

/// Reads the entries of a table of named values, each on its own, and hands each to `entry`
/// while its path is the current one (an `Err` fails it).
pub(super) fn named<'de, A: MapAccess<'de>, T: Read>(
    mut map: A,
    mut entry: impl FnMut(String, Option<T>) -> Result<(), String>,
) -> Result<(), A::Error> {
    let mut rank = 0;
    while let Some(name) = map.next_key::<String>()? {
        with(|s| s.path.push((format!(".{name}"), to_pos(rank), usize::MAX)));
        rank += 1;
        let read = map.next_value_seed(Field::<T>::new()).map(|value| {
            if let Err(problem) = entry(name, value) {
                fail_here(problem);
            }
        });
        with(|s| s.path.pop());
        read?;
    }
    Ok(())
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
