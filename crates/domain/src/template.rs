//! Merge tags: parsing a subject or body once into a [`Template`], then rendering it per lead.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Normalises a variable name so `First Name`, `first_name`, `firstName` and `FIRST_NAME` are
/// the same key (`first_name`): words are split at any non-alphanumeric character and at
/// lower-to-upper case changes (`unsubscribeURL` -> `unsubscribe_url`, `HTMLBody` ->
/// `html_body`), lower-cased and joined with `_`.
#[must_use]
pub fn normalize_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    let mut pending_break = false;
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            pending_break = true;
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                pending_break = true;
            }
        }
        if pending_break && !out.is_empty() {
            out.push('_');
        }
        pending_break = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Why a template does not parse. Every error carries the byte offset of the offending `{{`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` with no `}}` after it (or another `{{` before its `}}`).
    #[error("unbalanced braces: the {{{{ at byte {offset} is not closed")]
    Unbalanced {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// `{{}}` or a name without letters or digits.
    #[error("empty merge tag at byte {offset}")]
    EmptyTag {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// `{{LOOM}}` or `{{LOOM|}}`: the column is missing.
    #[error("LOOM merge tag at byte {offset} needs a column: {{{{LOOM|column|fallback}}}}")]
    LoomWithoutColumn {
        /// Byte offset of the `{{`.
        offset: usize,
    },
    /// `{{SPINTAX}}` without options.
    #[error("SPINTAX merge tag at byte {offset} needs options: {{{{SPINTAX|one|two}}}}")]
    SpintaxWithoutOptions {
        /// Byte offset of the `{{`.
        offset: usize,
    },
}

impl TemplateError {
    /// Byte offset of the offending `{{` in the parsed text.
    #[must_use]
    pub const fn offset(self) -> usize {
        match self {
            Self::Unbalanced { offset }
            | Self::EmptyTag { offset }
            | Self::LoomWithoutColumn { offset }
            | Self::SpintaxWithoutOptions { offset } => offset,
        }
    }

    /// Stable code: `unbalanced_braces`, `empty_merge_tag`, `invalid_loom_tag`,
    /// `invalid_spintax_tag`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unbalanced { .. } => "unbalanced_braces",
            Self::EmptyTag { .. } => "empty_merge_tag",
            Self::LoomWithoutColumn { .. } => "invalid_loom_tag",
            Self::SpintaxWithoutOptions { .. } => "invalid_spintax_tag",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable {
        name: String,
        fallback: Option<String>,
    },
    Loom {
        column: String,
        fallback: Option<String>,
    },
    Spintax {
        options: Vec<String>,
        ordinal: u32,
    },
}

/// A parsed subject or body: text and merge tags.
///
/// Syntax: `{{name}}`, `{{name|fallback}}` (the fallback is everything after the first `|`),
/// `{{LOOM|column|fallback}}`, `{{SPINTAX|one|two|...}}` (keywords case-insensitive), `\{{`
/// for a literal `{{`. Names are normalised by [`normalize_name`]; names, fallbacks and options
/// are trimmed. A stray `}}` is ordinary text. Tags do not nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// A [`TemplateError`] with the byte offset of the offending `{{`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut spintax = 0u32;
        let mut i = 0;
        while i < source.len() {
            let rest = &source[i..];
            if rest.starts_with("\\{{") {
                text.push_str("{{");
                i += 3;
                continue;
            }
            if !rest.starts_with("{{") {
                let c = rest.chars().next().map_or(1, char::len_utf8);
                text.push_str(&rest[..c]);
                i += c;
                continue;
            }
            let offset = i;
            let inner_start = i + 2;
            let close = source[inner_start..]
                .find("}}")
                .ok_or(TemplateError::Unbalanced { offset })?;
            let inner = &source[inner_start..inner_start + close];
            if inner.contains("{{") {
                return Err(TemplateError::Unbalanced { offset });
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(parse_tag(inner, offset, &mut spintax)?);
            i = inner_start + close + 2;
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// Whether the template has no merge tags (its render is its text).
    #[must_use]
    pub fn is_plain(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The normalised names the template reads (variables and LOOM columns), in order of first
    /// use, each once; `required` tells whether a missing value has no fallback.
    #[must_use]
    pub fn variables(&self) -> Vec<(&str, bool)> {
        let mut out: Vec<(&str, bool)> = Vec::new();
        for p in &self.parts {
            let (name, fallback) = match p {
                Part::Variable { name, fallback } => (name, fallback),
                Part::Loom { column, fallback } => (column, fallback),
                _ => continue,
            };
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 |= fallback.is_none(),
                None => out.push((name, fallback.is_none())),
            }
        }
        out
    }

    /// Renders for one lead. Missing values without a fallback render as nothing and are
    /// listed in [`Rendered::missing`].
    #[must_use]
    pub fn render(&self, ctx: &RenderContext<'_>, format: Format) -> Rendered {
        let mut out = String::new();
        let mut missing: Vec<String> = Vec::new();
        let mut note_missing =
            |name: &str, fallback: Option<&String>, out: &mut String| match fallback {
                Some(f) => out.push_str(f),
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_owned());
                    }
                }
            };
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Variable { name, fallback } => match ctx.value(name) {
                    Some(v) => push_value(&mut out, &v, format),
                    None => note_missing(name, fallback.as_ref(), &mut out),
                },
                Part::Loom { column, fallback } => {
                    let url = ctx.value(column);
                    match url.as_deref().and_then(|u| loom_id(u).map(|id| (u, id))) {
                        Some((url, id)) => push_loom(&mut out, url, id, format),
                        None => note_missing(column, fallback.as_ref(), &mut out),
                    }
                }
                Part::Spintax { options, ordinal } => {
                    let pick = spin(ctx.lead_key, ctx.step, *ordinal, options.len());
                    out.push_str(&options[pick]);
                }
            }
        }
        Rendered { text: out, missing }
    }
}

fn parse_tag(inner: &str, offset: usize, spintax: &mut u32) -> Result<Part, TemplateError> {
    let mut fields = inner.split('|');
    let head = fields.next().unwrap_or("").trim();
    if head.eq_ignore_ascii_case("SPINTAX") {
        let options: Vec<String> = fields.map(|o| o.trim().to_owned()).collect();
        if options.is_empty() {
            return Err(TemplateError::SpintaxWithoutOptions { offset });
        }
        let ordinal = *spintax;
        *spintax += 1;
        return Ok(Part::Spintax { options, ordinal });
    }
    if head.eq_ignore_ascii_case("LOOM") {
        let column = normalize_name(fields.next().unwrap_or(""));
        if column.is_empty() {
            return Err(TemplateError::LoomWithoutColumn { offset });
        }
        let rest: Vec<&str> = fields.collect();
        let fallback = (!rest.is_empty()).then(|| rest.join("|").trim().to_owned());
        return Ok(Part::Loom { column, fallback });
    }
    let name = normalize_name(head);
    if name.is_empty() {
        return Err(TemplateError::EmptyTag { offset });
    }
    let rest: Vec<&str> = fields.collect();
    let fallback = (!rest.is_empty()).then(|| rest.join("|").trim().to_owned());
    Ok(Part::Variable { name, fallback })
}

/// Output format of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text (subjects, text parts): values inserted as they are.
    Text,
    /// HTML bodies: substituted values are HTML-escaped; fallbacks and spintax options are the
    /// author's (already normalised) HTML and are inserted as written.
    Html,
}

/// The result of a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered text.
    pub text: String,
    /// Normalised names that had no value and no fallback, in order of first use.
    pub missing: Vec<String>,
}

/// A lead's merge values: the built-in fields and the custom variables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeData {
    email: String,
    first_name: String,
    last_name: String,
    variables: BTreeMap<String, String>,
}

impl MergeData {
    /// Builds merge data; variable keys are normalised (the first of two keys that normalise
    /// alike wins).
    #[must_use]
    pub fn new<K: AsRef<str>, V: Into<String>>(
        email: &str,
        first_name: &str,
        last_name: &str,
        variables: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in variables {
            map.entry(normalize_name(k.as_ref()))
                .or_insert_with(|| v.into());
        }
        Self {
            email: email.to_owned(),
            first_name: first_name.trim().to_owned(),
            last_name: last_name.trim().to_owned(),
            variables: map,
        }
    }

    /// "first last", trimmed; empty when neither is known.
    #[must_use]
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }

    /// The value of a normalised name: built-ins (`first_name`, `last_name`, `email`,
    /// `full_name`, `contact` = full name or else the address) first, then the variables
    /// (`company` is an ordinary variable). Blank values count as missing.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<Cow<'_, str>> {
        let v: Cow<'_, str> = match name {
            "first_name" => Cow::Borrowed(&self.first_name),
            "last_name" => Cow::Borrowed(&self.last_name),
            "email" => Cow::Borrowed(&self.email),
            "full_name" => Cow::Owned(self.full_name()),
            "contact" => {
                let full = self.full_name();
                if full.is_empty() {
                    Cow::Borrowed(&self.email)
                } else {
                    Cow::Owned(full)
                }
            }
            _ => Cow::Borrowed(self.variables.get(name)?.as_str()),
        };
        (!v.trim().is_empty()).then_some(v)
    }
}

/// Everything a render needs besides the template.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The lead's values.
    pub data: &'a MergeData,
    /// The lead's unsubscribe link, for `{{unsubscribe_url}}`.
    pub unsubscribe_url: Option<&'a str>,
    /// A stable key of the lead (its id) for spintax choices.
    pub lead_key: &'a str,
    /// The step number, for spintax choices.
    pub step: u32,
}

impl RenderContext<'_> {
    fn value(&self, name: &str) -> Option<Cow<'_, str>> {
        if name == "unsubscribe_url" {
            return self
                .unsubscribe_url
                .filter(|u| !u.trim().is_empty())
                .map(Cow::Borrowed);
        }
        self.data.value(name)
    }
}

fn push_value(out: &mut String, value: &str, format: Format) {
    match format {
        Format::Text => out.push_str(value),
        Format::Html => escape_html(out, value),
    }
}

/// Appends `value` HTML-escaped (`& < > " '`), safe in text and in quoted attributes.
pub fn escape_html(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// The video id of a Loom share or embed URL (`https://www.loom.com/share/<id>`,
/// `https://loom.com/embed/<id>?sid=...`).
#[must_use]
pub fn loom_id(url: &str) -> Option<&str> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if !(host.eq_ignore_ascii_case("www.loom.com") || host.eq_ignore_ascii_case("loom.com")) {
        return None;
    }
    let id = path
        .strip_prefix("share/")
        .or_else(|| path.strip_prefix("embed/"))?;
    let end = id
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(id.len());
    (end > 0).then(|| &id[..end])
}

/// The animated thumbnail Loom serves for a video id.
#[must_use]
pub fn loom_thumbnail_url(id: &str) -> String {
    format!("https://cdn.loom.com/sessions/thumbnails/{id}-with-play.gif")
}

fn push_loom(out: &mut String, url: &str, id: &str, format: Format) {
    match format {
        Format::Text => out.push_str(url.trim()),
        Format::Html => {
            out.push_str("<a href=\"");
            escape_html(out, url.trim());
            out.push_str("\"><img src=\"");
            out.push_str(&loom_thumbnail_url(id));
            out.push_str("\" alt=\"Loom video\" width=\"320\"></a>");
        }
    }
}

/// 64-bit FNV-1a: stable across builds and platforms (unlike std's `RandomState`).
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// The option index a spintax tag picks: FNV-1a over (lead key, 0xFF, step, tag ordinal).
fn spin(lead_key: &str, step: u32, ordinal: u32, options: usize) -> usize {
    let mut bytes = Vec::with_capacity(lead_key.len() + 9);
    bytes.extend_from_slice(lead_key.as_bytes());
    bytes.push(0xff);
    bytes.extend_from_slice(&step.to_le_bytes());
    bytes.extend_from_slice(&ordinal.to_le_bytes());
    let n = u64::try_from(options).unwrap_or(u64::MAX).max(1);
    usize::try_from(fnv1a64(&bytes) % n).unwrap_or(0)
}
