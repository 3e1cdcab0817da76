//! The collecting deserializer: a TOML text (plus environment overrides) as a tree of values
//! that remember their line, and a serde `Deserializer` over it that records every mistake —
//! unknown keys (with a "did you mean"), values of the wrong type, values their type rejects —
//! with its key path and line, and goes on where `toml::from_str` would stop at the first.
//!
//! The schema is the serde types in `raw`: nothing here names a config key. What is decided
//! here is how loosely values are read, as the `config` crate read them before: environment
//! overrides are strings, so a string also stands for a boolean or a whole number; and a table
//! read as an enum picks its variant by its `type` key (serde's own internally tagged layout
//! would buffer the table and lose key paths and lines).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};

use super::Problem;

/// The key a table-valued enum is selected by (`[notify.NAME] type = "email"`).
const TAG: &str = "type";
/// Prefix of environment overrides: `FEEDWATCH_POLL__INTERVAL=5m` sets `[poll] interval`.
const ENV_PREFIX: &str = "FEEDWATCH_";
/// Separates table and key in an override. Only variables containing it are overrides, so
/// `FEEDWATCH_CONFIG` and `FEEDWATCH_LOG` stay plain settings of the program.
const ENV_SEPARATOR: &str = "__";
/// Name under which [`Lenient`] asks the deserializer for its value's place.
const LOCATED: &str = "$feedwatch::config::Lenient";

/// One value of the tree, with the line of its key (table entries) or of itself (array items);
/// `None` when it came from the environment.
#[derive(Debug)]
pub(super) struct Node {
    line: Option<usize>,
    value: Value,
}

/// TOML's value kinds. Datetimes are kept as their text, as the `config` crate did.
#[derive(Debug)]
enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<(String, Node)>),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self.value {
            Value::Str(_) => "a string",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses TOML text into a tree; on a syntax error, its line and message.
pub(super) fn parse(text: &str) -> Result<Node, (Option<usize>, String)> {
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line = |offset: usize| Some(newlines.partition_point(|&n| n < offset) + 1);
    match DeTable::parse(text) {
        Ok(root) => Ok(Node {
            line: None,
            value: convert(&DeValue::Table(root.into_inner()), &line),
        }),
        Err(e) => Err((
            e.span().and_then(|s| line(s.start)),
            format!("TOML syntax error: {}", e.message().trim()),
        )),
    }
}

fn convert(v: &DeValue<'_>, line: &dyn Fn(usize) -> Option<usize>) -> Value {
    match v {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            i64::from_str_radix(i.as_str(), i.radix()).map_or(Value::Float(f64::NAN), Value::Int)
        }
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Str(d.to_string()),
        DeValue::Array(a) => Value::Array(
            a.iter()
                .map(|item| Node {
                    line: line(item.span().start),
                    value: convert(item.get_ref(), line),
                })
                .collect(),
        ),
        DeValue::Table(t) => Value::Table(
            t.iter()
                .map(|(k, v)| {
                    let node = Node {
                        line: line(k.span().start),
                        value: convert(v.get_ref(), line),
                    };
                    (k.get_ref().to_string(), node)
                })
                .collect(),
        ),
    }
}

/// Applies `FEEDWATCH_SECTION__KEY=value` overrides (any depth, names lowercased) on top of the
/// file, as the `config` crate's environment source did: a string value that replaces whatever
/// was there. An overridden key keeps its line in the file.
pub(super) fn apply_env(root: &mut Node, env: &[(String, String)]) {
    for (name, text) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains(ENV_SEPARATOR) {
            continue;
        }
        let mut node = &mut *root;
        for seg in rest.to_lowercase().split(ENV_SEPARATOR) {
            if !matches!(node.value, Value::Table(_)) {
                node.value = Value::Table(Vec::new());
            }
            let Value::Table(entries) = &mut node.value else {
                unreachable!("made a table just above");
            };
            let at = match entries.iter().position(|(k, _)| k == seg) {
                Some(at) => at,
                None => {
                    let value = Value::Table(Vec::new());
                    entries.push((seg.to_string(), Node { line: None, value }));
                    entries.len() - 1
                }
            };
            node = &mut entries[at].1;
        }
        node.value = Value::Str(text.clone());
    }
}

/// Where a value is: its file (index into [`Sink::files`]), key path and line, and when it was
/// read (`seq`: problems on one line, or without one, are listed in the order they were read,
/// which is the order of the keys in the schema).
#[derive(Debug, Clone)]
pub(super) struct At {
    pub file: usize,
    pub key: String,
    pub line: Option<usize>,
    pub seq: usize,
}

impl At {
    /// A key of the main file that may be absent from it (then it has no line).
    pub(super) fn main(key: &str) -> At {
        At {
            file: 0,
            key: key.to_string(),
            line: None,
            seq: usize::MAX,
        }
    }
}

/// Collects every problem of a load, from decoding and from the checks after it, and the
/// places of decoded values, so a check can report a problem at a value without naming its key.
#[derive(Debug)]
pub(super) struct Sink {
    /// The main file (`None`), then each included file.
    pub files: Vec<Option<PathBuf>>,
    places: RefCell<Vec<At>>,
    problems: RefCell<Vec<(At, String)>>,
    /// Unknown keys, kept apart: they do not make the table around them unusable.
    unknown: RefCell<Vec<(At, String)>>,
    /// Counts the places made, for [`At::seq`].
    seq: Cell<usize>,
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            files: vec![None],
            places: RefCell::default(),
            problems: RefCell::default(),
            unknown: RefCell::default(),
            seq: Cell::new(0),
        }
    }
}

impl Sink {
    /// Records a problem at `at`.
    pub(super) fn at(&self, at: &At, message: impl Into<String>) {
        self.problems
            .borrow_mut()
            .push((at.clone(), message.into()));
    }

    /// Records a problem at a decoded value (or its table).
    pub(super) fn err<T>(&self, value: &Lenient<T>, message: impl Into<String>) {
        if let Some(at) = self.place(value) {
            self.at(&at, message);
        }
    }

    /// Where a decoded value is.
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
        let problems = self.problems.borrow();
        !problems
            .iter()
            .any(|(p, _)| p.file == at.file && inside(&p.key))
    }

    /// Decodes `T` from `root` of file number `file` (an index into `files`).
    pub(super) fn decode<'de, T: Deserialize<'de>>(&self, root: &Node, file: usize) -> Lenient<T> {
        let de = De {
            node: root,
            key: String::new(),
            file,
            sink: self,
        };
        Lenient::deserialize(de).unwrap_or(Lenient::Invalid)
    }

    /// Every problem in file order: the main file first, then included files by name, each by
    /// line; problems without a line (from the environment) last within their file.
    pub(super) fn into_problems(self) -> Vec<Problem> {
        let files = self.files;
        let mut problems = self.problems.into_inner();
        problems.extend(self.unknown.into_inner());
        let file = |at: &At| files.get(at.file).cloned().flatten();
        problems.sort_by_cached_key(|(at, _)| {
            let f = file(at);
            (f.is_some(), f, at.line.unwrap_or(usize::MAX), at.seq)
        });
        let problem = |(at, message): (At, String)| Problem {
            file: file(&at),
            key: at.key,
            line: at.line,
            message,
        };
        problems.into_iter().map(problem).collect()
    }
}

/// A value that may be absent, or present but invalid, without failing the table around it:
/// how decoding goes on after a mistake. `Invalid` means the collecting deserializer has
/// recorded why; `Valid` carries the value's place for later checks ([`Sink::err`]). Only
/// meaningful under that deserializer.
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_tuple_struct(LOCATED, 2, LenientVisitor(PhantomData))
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value with its place")
    }

    /// The deserializer sends the place, then the value itself.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
        let place: usize = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        Ok(match seq.next_element() {
            Ok(Some(value)) => Lenient::Valid(value, place),
            _ => Lenient::Invalid,
        })
    }
}

/// Error of the collecting deserializer: a message not yet tied to a key, or the note that it
/// has been recorded already.
#[derive(Debug)]
pub(super) enum Error {
    Message(String),
    /// A value of the wrong kind; `expected` may name its key as `{key}`.
    Expected {
        expected: String,
        found: &'static str,
    },
    Reported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Message(m) => f.write_str(m),
            Error::Expected { expected, found } => write!(f, "expected {expected}, found {found}"),
            Error::Reported => f.write_str("reported"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        let found = match unexp {
            Unexpected::Bool(_) => "a boolean",
            Unexpected::Str(_) | Unexpected::Char(_) => "a string",
            Unexpected::Seq => "an array",
            Unexpected::Map => "a table",
            Unexpected::Unit | Unexpected::Option => "nothing",
            _ => "a number",
        };
        let expected = exp.to_string();
        Error::Expected { expected, found }
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }
}

/// The deserializer over one node of the tree.
struct De<'a> {
    node: &'a Node,
    key: String,
    file: usize,
    sink: &'a Sink,
}

impl<'a> De<'a> {
    fn child(&self, node: &'a Node, key: String) -> De<'a> {
        De {
            node,
            key,
            file: self.file,
            sink: self.sink,
        }
    }

    fn at(&self) -> At {
        self.sink.seq.set(self.sink.seq.get() + 1);
        At {
            file: self.file,
            key: self.key.clone(),
            line: self.node.line,
            seq: self.sink.seq.get(),
        }
    }

    /// Records `e` at this key (once) and returns the note that it is recorded.
    fn report(&self, e: Error) -> Error {
        let message = match e {
            Error::Message(m) => m,
            Error::Expected { expected, found } => {
                // An expectation may name its key: "an array of tables ([[{key}]])".
                let key = self.key.rsplit(['.', '[']).next().unwrap_or_default();
                format!("expected {}, found {found}", expected.replace("{key}", key))
            }
            Error::Reported => return Error::Reported,
        };
        self.sink.at(&self.at(), message);
        Error::Reported
    }

    fn mismatch(&self, expected: &str) -> Error {
        let (expected, found) = (expected.to_string(), self.node.kind());
        self.report(Error::Expected { expected, found })
    }

    fn unknown_key(&self, key: &str, line: Option<usize>, fields: &[&str]) {
        let message = if self.file > 0 && self.key.is_empty() {
            let tables: Vec<String> = fields.iter().map(|f| format!("[[{f}]]")).collect();
            let tables = tables.join(" and ");
            format!("not allowed in an included file; included files hold only {tables}")
        } else {
            let hint = closest(key, fields)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            format!("unknown key{hint}; expected one of: {}", fields.join(", "))
        };
        let at = At {
            key: self.key_of(key),
            line,
            ..self.at()
        };
        self.sink.unknown.borrow_mut().push((at, message));
    }

    fn key_of(&self, key: &str) -> String {
        if self.key.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.key)
        }
    }
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

impl<'de> Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::Str(s) => visitor.visit_str(s),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter().enumerate(),
                de: &self,
            }),
            Value::Table(entries) => visitor.visit_map(Entries {
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                pending: None,
                de: &self,
            }),
        };
        result.map_err(|e| self.report(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = match &self.node.value {
            Value::Bool(b) => *b,
            Value::Str(s) if s == "true" => true,
            Value::Str(s) if s == "false" => false,
            _ => return Err(self.mismatch("true or false")),
        };
        visitor.visit_bool(b).map_err(|e| self.report(e))
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = match &self.node.value {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        let Some(n) = n else {
            let e = Error::Message("expected a whole number of 0 or more".into());
            return Err(self.report(e));
        };
        visitor.visit_u64(n).map_err(|e| self.report(e))
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    /// Asked for a list, a single string is a list of one (`to = "a@example.org"`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !matches!(self.node.value, Value::Str(_)) {
            return self.deserialize_any(visitor);
        }
        let one = Items {
            items: std::iter::once((0, self.node)),
            de: &self,
        };
        visitor.visit_seq(one).map_err(|e| self.report(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name != LOCATED {
            return self.deserialize_any(visitor);
        }
        let place = {
            let mut places = self.sink.places.borrow_mut();
            places.push(self.at());
            places.len() - 1
        };
        visitor.visit_seq(Located {
            place: Some(place),
            value: Some(self),
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Table(entries) = &self.node.value else {
            return Err(self.mismatch("a table"));
        };
        for (key, node) in entries {
            if !fields.contains(&key.as_str()) {
                self.unknown_key(key, node.line, fields);
            }
        }
        // Known keys in the schema's order, so problems are found (and listed) in that order.
        let known = fields
            .iter()
            .filter_map(|f| entries.iter().find(|(k, _)| k == f));
        let access = Entries {
            entries: known.collect::<Vec<_>>().into_iter(),
            pending: None,
            de: &self,
        };
        visitor.visit_map(access).map_err(|e| self.report(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Table(entries) = &self.node.value else {
            return Err(self.mismatch("a table"));
        };
        let quoted: Vec<String> = variants.iter().map(|v| format!("{v:?}")).collect();
        let choices = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.join(""),
        };
        let Some((_, tag)) = entries.iter().find(|(k, _)| k == TAG) else {
            let e = format!("missing required key `{TAG}` ({choices})");
            return Err(self.report(Error::Message(e)));
        };
        let tag_de = self.child(tag, self.key_of(TAG));
        let variant = match &tag.value {
            Value::Str(v) if variants.contains(&v.as_str()) => v.as_str(),
            Value::Str(v) => {
                let e = format!("unknown {name} {TAG} {v:?}; expected {choices}");
                return Err(tag_de.report(Error::Message(e)));
            }
            _ => return Err(tag_de.mismatch("a string")),
        };
        visitor.visit_enum(Tagged { variant, de: self })
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct tuple map identifier
    }
}

/// The items of an array.
struct Items<'a, 'd, I> {
    items: I,
    de: &'d De<'a>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for Items<'a, '_, I> {
    type Error = Error;

    fn next_element_seed<T>(&mut self, seed: T) -> Result<Option<T::Value>, Error>
    where
        T: DeserializeSeed<'de>,
    {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let key = format!("{}[{i}]", self.de.key);
        seed.deserialize(self.de.child(node, key)).map(Some)
    }
}

/// The entries of a table (for a struct, only its known keys).
struct Entries<'a, 'd> {
    entries: std::vec::IntoIter<&'a (String, Node)>,
    pending: Option<&'a (String, Node)>,
    de: &'d De<'a>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K>(&mut self, seed: K) -> Result<Option<K::Value>, Error>
    where
        K: DeserializeSeed<'de>,
    {
        self.pending = self.entries.next();
        match self.pending {
            Some((key, _)) => seed.deserialize(key.as_str().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V>(&mut self, seed: V) -> Result<V::Value, Error>
    where
        V: DeserializeSeed<'de>,
    {
        let (key, node) = self
            .pending
            .take()
            .ok_or_else(|| Error::Message("a value was asked for before its key".into()))?;
        seed.deserialize(self.de.child(node, self.de.key_of(key)))
    }
}

/// What [`Lenient`] is sent: the value's place, then the value.
struct Located<'a> {
    place: Option<usize>,
    value: Option<De<'a>>,
}

impl<'de> de::SeqAccess<'de> for Located<'_> {
    type Error = Error;

    fn next_element_seed<T>(&mut self, seed: T) -> Result<Option<T::Value>, Error>
    where
        T: DeserializeSeed<'de>,
    {
        if let Some(place) = self.place.take() {
            let place = u64::try_from(place).unwrap_or(u64::MAX);
            return seed.deserialize(place.into_deserializer()).map(Some);
        }
        self.value.take().map(|de| seed.deserialize(de)).transpose()
    }
}

/// A table read as an enum: its variant is its `type`, its content the whole table.
struct Tagged<'a> {
    variant: &'a str,
    de: De<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for Tagged<'a> {
    type Error = Error;
    type Variant = De<'a>;

    fn variant_seed<V>(self, seed: V) -> Result<(V::Value, De<'a>), Error>
    where
        V: DeserializeSeed<'de>,
    {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, self.de))
    }
}

impl<'de> de::VariantAccess<'de> for De<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_struct("", fields, visitor)
    }
}

/// Reads a list whose bad items are reported and kept as `Invalid`, not fatal to the rest.
pub(super) struct ListVisitor<T> {
    pub expecting: &'static str,
    pub item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<Lenient<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }
}

/// Reads a table of named entries, each decoded on its own.
pub(super) struct NamedVisitor<T> {
    pub expecting: &'static str,
    pub item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for NamedVisitor<T> {
    type Value = Vec<(String, Lenient<T>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = map.next_entry()? {
            out.push(entry);
        }
        Ok(out)
    }
}

/// The keys serde's derive lists for the table type `T`, in declaration order.
pub(super) fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    // Fails by design: the probe only wants to see what `T` asks for.
    let _ = T::deserialize(KeysProbe(&mut keys));
    keys
}

struct KeysProbe<'k>(&'k mut &'static [&'static str]);

impl<'de> Deserializer<'de> for KeysProbe<'_> {
    type Error = Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        *self.0 = fields;
        Err(Error::Reported)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Reported)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
