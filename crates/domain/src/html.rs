//! HTML bodies: the allowlist normaliser, the derived text version and the unsubscribe block.
//!
//! Allowed: `<b>`, `<i>`, `<u>`, `<a href>`, `<img src alt width height>`, plus `<p>`, `<div>`
//! and `<br>` without attributes, kept so paragraphs and line breaks survive (and reach the text
//! version). Every other tag is unwrapped (its text kept), `<script>` and `<style>` are removed
//! with their content, unknown attributes are dropped. Links keep only `http:`, `https:` and
//! `mailto:` targets or a target that starts with a merge tag (`{{unsubscribe_url}}`,
//! `{{website}}/pricing`); images only `http:`/`https:` or a merge tag. A target the editor
//! percent-encoded (`%7B%7Bunsubscribe_url%7D%7D`) gets its braces back.

use std::sync::LazyLock;

use crate::template::{Template, TemplateError, normalize_name};

/// The block appended to bodies when the campaign's `unsubscribe_option` is on. Any link whose
/// target is the `{{unsubscribe_url}}` merge tag (in any spelling of the name) counts as the
/// unsubscribe link: one is never added when the body already has one.
pub const UNSUBSCRIBE_BLOCK: &str = r#"<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>"#;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.add_tags(["b", "i", "u", "a", "img", "p", "div", "br"])
        .add_tag_attributes("a", ["href"])
        .add_tag_attributes("img", ["src", "alt", "width", "height"])
        .add_clean_content_tags(["script", "style"])
        .add_url_schemes(["http", "https", "mailto"])
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(None)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("a", "href") => allowed_target(value, &["http:", "https:", "mailto:"]),
            ("img", "src") => allowed_target(value, &["http:", "https:"]),
            _ => Some(value.into()),
        });
    b
});

/// Keeps a URL with an allowed scheme or starting with a merge tag, restoring braces an editor
/// percent-encoded; anything else (relative paths, `javascript:`, `data:`) is dropped.
fn allowed_target<'u>(value: &'u str, schemes: &[&str]) -> Option<std::borrow::Cow<'u, str>> {
    let restored = restore_braces(value.trim());
    let lower = restored.to_ascii_lowercase();
    (restored.starts_with("{{") || schemes.iter().any(|s| lower.starts_with(s)))
        .then(|| restored.into())
}

fn restore_braces(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i..i + 6).map(str::to_ascii_uppercase);
        match code.as_deref() {
            Some("%7B%7B") => out.push_str("{{"),
            Some("%7D%7D") => out.push_str("}}"),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 6..];
    }
    out.push_str(rest);
    out
}

/// Normalises an HTML body to the allowlist (see the module docs). Idempotent.
#[must_use]
pub fn sanitize(html: &str) -> String {
    // Unwrapping a tag can leave markup that parses differently the second time (a `<p>` that
    // sat in a removed `<table>` inside another `<p>`), so clean until the output is stable;
    // real bodies take one extra pass.
    let mut out = SANITIZER.clean(html).to_string();
    for _ in 0..4 {
        let again = SANITIZER.clean(&out).to_string();
        if again == out {
            break;
        }
        out = again;
    }
    out
}

/// A tag found while scanning normalised HTML.
struct Tag<'a> {
    /// Byte range of the whole tag, `<` to `>`.
    start: usize,
    end: usize,
    name: &'a str,
    closing: bool,
    /// The raw (entity-escaped) `href` of an `<a>`.
    href: Option<&'a str>,
}

/// Iterates the tags of normalised HTML (the serialiser's output: lower-case names,
/// double-quoted attributes).
fn tags(html: &str) -> impl Iterator<Item = Tag<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let start = pos + html[pos..].find('<')?;
        let mut in_quote = false;
        let end = start
            + html[start..]
                .char_indices()
                .find(|&(_, c)| {
                    if c == '"' {
                        in_quote = !in_quote;
                    }
                    c == '>' && !in_quote
                })
                .map_or(html.len() - start, |(i, _)| i + 1);
        pos = end;
        let inner = html[start + 1..end].trim_end_matches('>');
        let closing = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let name_len = inner
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(inner.len());
        let name = &inner[..name_len];
        let href = inner
            .find("href=\"")
            .and_then(|i| inner[i + 6..].split('"').next());
        Some(Tag {
            start,
            end,
            name,
            closing,
            href,
        })
    })
}

/// Whether an `href` is the unsubscribe merge tag.
fn is_unsubscribe_target(href: &str) -> bool {
    href.trim()
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .is_some_and(|name| normalize_name(name) == "unsubscribe_url")
}

/// Byte ranges of every `<a>`...`</a>` whose target is the unsubscribe merge tag.
fn unsubscribe_links(html: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut open = None;
    for tag in tags(html) {
        if tag.name != "a" {
            continue;
        }
        if tag.closing {
            if let Some(start) = open.take() {
                ranges.push((start, tag.end));
            }
        } else {
            open = tag
                .href
                .filter(|h| is_unsubscribe_target(h))
                .map(|_| tag.start);
        }
    }
    ranges
}

/// Whether the (normalised) body links to `{{unsubscribe_url}}`.
#[must_use]
pub fn has_unsubscribe_link(html: &str) -> bool {
    !unsubscribe_links(html).is_empty()
}

fn remove_unsubscribe_links(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut last = 0;
    for (start, end) in unsubscribe_links(html) {
        out.push_str(&html[last..start]);
        last = end;
    }
    out.push_str(&html[last..]);
    // A block that held only the link is now an empty paragraph: drop it too.
    out.replace("<p></p>", "").replace("<div></div>", "")
}

/// Applies the campaign's unsubscribe option to a normalised body.
///
/// On: a body without an unsubscribe link gets [`UNSUBSCRIBE_BLOCK`] appended (a missing body
/// becomes the block alone); a body that has one is unchanged, so the block is never doubled
/// and an edit that removed it gets it back. Off: every link to `{{unsubscribe_url}}` is
/// removed with its text (and a paragraph left empty by that); a missing body stays missing.
#[must_use]
pub fn apply_unsubscribe(body_html: Option<&str>, on: bool) -> Option<String> {
    match (body_html, on) {
        (None, false) => None,
        (None, true) => Some(UNSUBSCRIBE_BLOCK.to_owned()),
        (Some(body), true) if has_unsubscribe_link(body) => Some(body.to_owned()),
        (Some(body), true) => Some(format!("{body}{UNSUBSCRIBE_BLOCK}")),
        (Some(body), false) => Some(remove_unsubscribe_links(body)),
    }
}

/// Whether a normalised body holds something besides white space and the unsubscribe link:
/// visible text or an image.
#[must_use]
pub fn has_content(html: &str) -> bool {
    let body = remove_unsubscribe_links(html);
    let mut last = 0;
    let mut text = String::new();
    for tag in tags(&body) {
        if tag.name == "img" {
            return true;
        }
        text.push_str(&body[last..tag.start]);
        last = tag.end;
    }
    text.push_str(&body[last..]);
    !text.replace("&nbsp;", " ").trim().is_empty()
}

/// The text version of a normalised body (for `body_text`): paragraphs and line breaks kept,
/// a link written as `text (url)` (just `url` when the text is the URL or empty), images
/// dropped, no line wrapping (so merge tags are never split). Merge tags stay as written.
#[must_use]
pub fn to_text(html: &str) -> String {
    let mut flat = String::with_capacity(html.len());
    let mut last = 0;
    let mut link: Option<(&str, usize)> = None;
    for tag in tags(html) {
        match (tag.name, tag.closing) {
            ("img", _) => {
                flat.push_str(&html[last..tag.start]);
                last = tag.end;
            }
            ("a", false) => {
                flat.push_str(&html[last..tag.start]);
                last = tag.end;
                link = tag.href.map(|h| (h, flat.len()));
            }
            ("a", true) => {
                flat.push_str(&html[last..tag.start]);
                last = tag.end;
                if let Some((href, text_start)) = link.take() {
                    let text = strip_tags(&flat[text_start..]);
                    if text.trim().is_empty() {
                        flat.truncate(text_start);
                        flat.push_str(href);
                    } else if text.trim() != href {
                        flat.push_str(" (");
                        flat.push_str(href);
                        flat.push(')');
                    }
                }
            }
            _ => {}
        }
    }
    flat.push_str(&html[last..]);
    let text = html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .no_link_wrapping()
        .string_from_read(flat.as_bytes(), usize::MAX / 4)
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

/// A variant body ready to store: normalised HTML and its text version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBody {
    /// Normalised HTML (`body_html`), with the unsubscribe block per the campaign's option.
    pub html: String,
    /// The text version (`body_text`).
    pub text: String,
}

/// The whole pipeline for a submitted `body_html`: merge tags are checked on the input (so an
/// error's offset points into what the user sent), the HTML is normalised, the unsubscribe
/// block applied ([`apply_unsubscribe`]) and the text version derived ([`to_text`]).
///
/// # Errors
/// The [`TemplateError`] of the submitted body.
pub fn prepare_body(raw: &str, unsubscribe_on: bool) -> Result<PreparedBody, TemplateError> {
    Template::parse(raw)?;
    let html = apply_unsubscribe(Some(&sanitize(raw)), unsubscribe_on).unwrap_or_default();
    // Normalisation only escapes text and drops markup, so the tags still parse; checked anyway
    // so a stored body always parses.
    Template::parse(&html)?;
    let text = to_text(&html);
    Ok(PreparedBody { html, text })
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for tag in tags(html) {
        out.push_str(&html[last..tag.start]);
        last = tag.end;
    }
    out.push_str(&html[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sanitize_keeps_the_allowlist_and_unwraps_the_rest() {
        let cases = [
            (
                "<b>bold</b> <i>it</i> <u>u</u>",
                "<b>bold</b> <i>it</i> <u>u</u>",
            ),
            ("<span style=\"color:red\">x</span>", "x"),
            ("<h1>Title</h1><ul><li>one</li></ul>", "Titleone"),
            (
                "<p class=\"x\">para</p><div id=\"d\">div</div>a<br>b",
                "<p>para</p><div>div</div>a<br>b",
            ),
            ("<strong>s</strong><em>e</em>", "se"),
            ("<script>alert(1)</script>after", "after"),
            ("<style>p { color: red }</style>after", "after"),
            ("<b onclick=\"x()\">b</b>", "<b>b</b>"),
            (
                "<a href=\"https://e.com/a?b=1&c=2\" target=\"_blank\">l</a>",
                "<a href=\"https://e.com/a?b=1&amp;c=2\">l</a>",
            ),
            (
                "<a href=\"http://e.com\">l</a>",
                "<a href=\"http://e.com\">l</a>",
            ),
            (
                "<a href=\"mailto:a@e.com\">m</a>",
                "<a href=\"mailto:a@e.com\">m</a>",
            ),
            ("<a href=\"javascript:alert(1)\">j</a>", "<a>j</a>"),
            ("<a href=\"/relative\">r</a>", "<a>r</a>"),
            ("<a href=\"ftp://e.com\">f</a>", "<a>f</a>"),
            (
                "<a href=\"{{unsubscribe_url}}\">u</a>",
                "<a href=\"{{unsubscribe_url}}\">u</a>",
            ),
            (
                "<a href=\"{{website}}/pricing?x={{email}}\">w</a>",
                "<a href=\"{{website}}/pricing?x={{email}}\">w</a>",
            ),
            (
                "<a href=\"%7B%7Bunsubscribe_url%7D%7D\">u</a>",
                "<a href=\"{{unsubscribe_url}}\">u</a>",
            ),
            (
                "<a href=\"https://e.com/?u=%7b%7bemail%7d%7d&p=%20\">x</a>",
                "<a href=\"https://e.com/?u={{email}}&amp;p=%20\">x</a>",
            ),
            (
                "<img src=\"https://e.com/a.png\" alt=\"A\" width=\"10\" height=\"20\" style=\"x\" onerror=\"y\">",
                "<img src=\"https://e.com/a.png\" alt=\"A\" width=\"10\" height=\"20\">",
            ),
            ("<img src=\"data:image/png;base64,AAAA\">", "<img>"),
            ("<img src=\"javascript:x\">", "<img>"),
            (
                "Hi {{first_name|there}} &amp; \\{{x}}",
                "Hi {{first_name|there}} &amp; \\{{x}}",
            ),
            ("a < b", "a &lt; b"),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitize(input), expected, "{input}");
        }
    }

    #[test]
    fn text_version_keeps_lines_links_and_merge_tags() {
        let html = sanitize(
            "<p>Hi {{first_name|there}},</p><p>See <b>our</b> <a href=\"https://e.com/?a=1&b=2\">site</a>.</p>\
             <div>Line one<br>Line two &amp; more</div><a href=\"https://e.com\">https://e.com</a>\
             <a href=\"https://e.com/x\"><img src=\"https://e.com/i.png\" alt=\"pic\"></a>",
        );
        let text = to_text(&html);
        assert_eq!(
            text,
            "Hi {{first_name|there}},\n\nSee our site (https://e.com/?a=1&b=2).\n\nLine one\nLine two & more\nhttps://e.comhttps://e.com/x"
        );
        assert_eq!(
            to_text(UNSUBSCRIBE_BLOCK),
            "Unsubscribe ({{unsubscribe_url}})"
        );
        let long = format!(
            "<p>{} {{{{company|Acme Corporation Worldwide}}}}</p>",
            "word ".repeat(60)
        );
        assert!(to_text(&long).contains("{{company|Acme Corporation Worldwide}}"));
        assert_eq!(to_text(""), "");
    }

    #[test]
    fn unsubscribe_block_is_added_kept_and_removed() {
        let body = "<p>Hello</p>";
        let with = apply_unsubscribe(Some(body), true).unwrap();
        assert_eq!(with, format!("<p>Hello</p>{UNSUBSCRIBE_BLOCK}"));
        // Never doubled.
        assert_eq!(apply_unsubscribe(Some(&with), true).unwrap(), with);
        // A custom unsubscribe link counts, in any spelling of the tag.
        let custom = "<p>Hi</p><p>Opt out <a href=\"{{ unsubscribeUrl }}\">here</a></p>";
        assert_eq!(
            apply_unsubscribe(Some(custom), true).as_deref(),
            Some(custom)
        );
        // An edit that dropped the block gets it back.
        assert_eq!(apply_unsubscribe(Some(body), true).unwrap(), with);
        // Off: removed, with the paragraph it leaves empty.
        assert_eq!(apply_unsubscribe(Some(&with), false).as_deref(), Some(body));
        assert_eq!(
            apply_unsubscribe(Some(custom), false).as_deref(),
            Some("<p>Hi</p><p>Opt out </p>")
        );
        // Missing bodies: the block alone, or still missing.
        assert_eq!(
            apply_unsubscribe(None, true).as_deref(),
            Some(UNSUBSCRIBE_BLOCK)
        );
        assert_eq!(apply_unsubscribe(None, false), None);
        // Other links are untouched.
        let other = "<a href=\"https://e.com/unsubscribe\">x</a>";
        assert_eq!(
            apply_unsubscribe(Some(other), false).as_deref(),
            Some(other)
        );
        assert!(!has_unsubscribe_link(other));
        // The block survives normalisation unchanged.
        assert_eq!(sanitize(UNSUBSCRIBE_BLOCK), UNSUBSCRIBE_BLOCK);
    }

    #[test]
    fn prepare_body_normalises_checks_tags_and_derives_text() {
        let p = prepare_body("<h1>Hi {{firstName|there}}</h1><script>x</script>", true).unwrap();
        assert_eq!(
            p.html,
            format!("Hi {{{{firstName|there}}}}{UNSUBSCRIBE_BLOCK}")
        );
        assert_eq!(
            p.text,
            "Hi {{firstName|there}}\n\nUnsubscribe ({{unsubscribe_url}})"
        );
        let off = prepare_body(&p.html, false).unwrap();
        assert_eq!(off.html, "Hi {{firstName|there}}");
        // The offset points into the submitted text, before normalisation.
        let err = prepare_body("<span style=\"x\">ab</span>{{oops", false).unwrap_err();
        assert_eq!(err, TemplateError::Unbalanced { offset: 25 });
    }

    #[test]
    fn content_means_text_or_an_image_beyond_the_unsubscribe_link() {
        let cases = [
            ("<p>Hello</p>", true),
            ("<img src=\"https://e.com/a.png\">", true),
            ("", false),
            ("<p> </p><br>", false),
            ("&nbsp;<p>&nbsp;</p>", false),
            (UNSUBSCRIBE_BLOCK, false),
            (
                "<p>Hi</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
                true,
            ),
        ];
        for (html, expected) in cases {
            assert_eq!(has_content(html), expected, "{html}");
        }
    }

    const ALLOWED: [(&str, &[&str]); 8] = [
        ("b", &[]),
        ("i", &[]),
        ("u", &[]),
        ("p", &[]),
        ("div", &[]),
        ("br", &[]),
        ("a", &["href"]),
        ("img", &["src", "alt", "width", "height"]),
    ];

    fn attribute_names(tag: &str) -> Vec<String> {
        // Attributes are `name="value"`: take the word before each `="`, outside values.
        let mut names = Vec::new();
        let mut rest = tag;
        while let Some(i) = rest.find("=\"") {
            let before = &rest[..i];
            let name = before
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("");
            names.push(name.to_owned());
            let after = &rest[i + 2..];
            rest = after.split_once('"').map_or("", |(_, r)| r);
        }
        names
    }

    proptest! {
        #[test]
        fn normalised_html_only_holds_allowed_tags_and_attributes(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z ]{0,8}",
                    Just("<script>x</script>".to_owned()),
                    Just("<style>y</style>".to_owned()),
                    "<(b|i|u|a|img|p|div|br|span|table|td|h1|iframe|form|input|svg|math|object)( (href|src|style|onclick|alt|width|class|id|height|data-x)=\"[a-z:/{}.%0-9 ]{0,12}\"){0,3}>",
                    "</(b|i|u|a|p|div|span|table|h1|iframe|svg)>",
                    "[<>\"'&/=a-z{}]{0,6}",
                ],
                0..16,
            )
        ) {
            let input: String = parts.concat();
            let out = sanitize(&input);
            prop_assert!(!out.contains("<script") && !out.contains("<style"), "{out}");
            for tag in tags(&out) {
                let allowed = ALLOWED.iter().find(|(n, _)| *n == tag.name);
                prop_assert!(allowed.is_some(), "tag {} in {}", tag.name, out);
                let attrs = allowed.map_or(&[][..], |(_, a)| *a);
                for name in attribute_names(&out[tag.start..tag.end]) {
                    prop_assert!(attrs.contains(&name.as_str()), "attribute {} in {}", name, out);
                }
                if let Some(href) = tag.href {
                    let ok = href.starts_with("{{") || ["http:", "https:", "mailto:"].iter().any(|s| href.to_ascii_lowercase().starts_with(s));
                    prop_assert!(ok, "href {} in {}", href, out);
                }
            }
            let again = sanitize(&out);
            prop_assert_eq!(again, out, "not idempotent");
        }
    }
}
