//! `subject = "…"`: an email subject template, parsed once when the config loads; rendering
//! it for an alert is `notify::render`'s job.

/// Default email subject template.
pub const DEFAULT_SUBJECT: &str = "[feedwatch] {rule}: {title}";

/// A field of the alert a subject template can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectField {
    /// `{rule}` (or `{rules}`): the names of the rules that matched, comma-separated.
    Rule,
    /// `{title}`: the item's title.
    Title,
    /// `{feed}`: the feed's name.
    Feed,
    /// `{matched}`: the matched terms.
    Matched,
    /// `{link}`: the item's link.
    Link,
}

/// Placeholder names, in the order a mistake's message lists them.
const FIELDS: [(&str, SubjectField); 6] = [
    ("rule", SubjectField::Rule),
    ("rules", SubjectField::Rule),
    ("title", SubjectField::Title),
    ("feed", SubjectField::Feed),
    ("matched", SubjectField::Matched),
    ("link", SubjectField::Link),
];

/// One piece of a subject template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPiece {
    /// Literal text (`{{` and `}}` already turned into braces).
    Text(String),
    /// A `{placeholder}`.
    Field(SubjectField),
}

/// A parsed subject template: literal text and `{placeholder}` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate(Vec<SubjectPiece>);

impl SubjectTemplate {
    /// Parses `{rule}`-style placeholders; `{{` and `}}` are literal braces.
    pub fn parse(t: &str) -> Result<SubjectTemplate, String> {
        let mut out = Vec::new();
        let mut rest = t;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("{{") {
                out.push(SubjectPiece::Text("{".into()));
                rest = r;
            } else if let Some(r) = rest.strip_prefix("}}") {
                out.push(SubjectPiece::Text("}".into()));
                rest = r;
            } else if let Some(r) = rest.strip_prefix('{') {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` in subject template {t:?}"))?;
                let name = r[..end].trim();
                let Some((_, field)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                    // Aliases (`{rules}`) are not listed: one name per field.
                    let names: Vec<String> = FIELDS
                        .iter()
                        .filter(|(n, _)| *n != "rules")
                        .map(|(n, _)| format!("{{{n}}}"))
                        .collect();
                    return Err(format!(
                        "unknown placeholder {{{name}}} in subject template; available: {}",
                        names.join(", ")
                    ));
                };
                out.push(SubjectPiece::Field(*field));
                rest = &r[end + 1..];
            } else if rest.starts_with('}') {
                return Err(format!(
                    "stray `}}` in subject template {t:?} (write `}}}}` for a literal brace)"
                ));
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                out.push(SubjectPiece::Text(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(SubjectTemplate(out))
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[SubjectPiece] {
        &self.0
    }
}

impl Default for SubjectTemplate {
    fn default() -> Self {
        SubjectTemplate::parse(DEFAULT_SUBJECT).expect("the default subject template parses")
    }
}
