//! Merge tags: parsing a subject or body once into a [`Template`], then rendering it per lead.

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
