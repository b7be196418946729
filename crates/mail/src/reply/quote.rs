//! Removing the quoted part of a reply: what the sender wrote is what comes before the first
//! attribution line ("On ... wrote:" and its German, French and Spanish forms), the first quoted
//! line (`>`), a forwarded-message header block ("-----Original Message-----", Outlook's
//! "From:/Sent:" block, "Von:", "De :") or the signature ("-- ", "Sent from my iPhone", a closing
//! such as "Best regards" after the first line).

/// Separator lines that start the original message.
const SEPARATORS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "----- ursprüngliche nachricht -----",
    "-------- message d'origine --------",
    "-----message d'origine-----",
    "-----mensaje original-----",
    "----- mensaje original -----",
    "________________________________",
    "---------- forwarded message ---------",
    "begin forwarded message:",
];

/// Lines that start a mobile or client signature.
const SIGNATURE_STARTS: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "sent from mail for windows",
    "get outlook for ",
    "von meinem iphone gesendet",
    "von meinem ipad gesendet",
    "gesendet von meinem",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "enviado desde mi ",
];

/// Closings after which only the sender's name and signature follow.
const CLOSINGS: &[&str] = &[
    "best",
    "best,",
    "best regards",
    "best regards,",
    "kind regards",
    "kind regards,",
    "regards",
    "regards,",
    "warm regards",
    "warm regards,",
    "cheers",
    "cheers,",
    "sincerely",
    "sincerely,",
    "thanks,",
    "many thanks,",
    "mit freundlichen grüßen",
    "mit freundlichen grüßen,",
    "viele grüße",
    "viele grüße,",
    "beste grüße",
    "beste grüße,",
    "cordialement",
    "cordialement,",
    "bien cordialement",
    "bien cordialement,",
    "saludos",
    "saludos,",
    "un saludo",
    "un saludo,",
    "atentamente",
    "atentamente,",
];

/// Header names that follow `From:` in a quoted header block.
const HEADER_FOLLOWERS: &[&str] = &[
    "sent:",
    "date:",
    "to:",
    "subject:",
    "cc:",
    "gesendet:",
    "datum:",
    "an:",
    "betreff:",
    "envoyé :",
    "envoyé:",
    "date :",
    "à :",
    "objet :",
    "enviado:",
    "fecha:",
    "para:",
    "asunto:",
];

fn is_attribution(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    let ends = |suffixes: &[&str]| suffixes.iter().any(|s| l.ends_with(s));
    (l.starts_with("on ") && ends(&["wrote:", "wrote :"]))
        || (l.starts_with("am ") && l.contains(" schrieb") && l.ends_with(':'))
        || (l.starts_with("le ") && ends(&["a écrit :", "a écrit:"]))
        || (l.starts_with("el ") && ends(&["escribió:", "escribió :"]))
}

/// Whether the line starts an attribution that wraps onto the next line ("On Mon, ... Alice
/// <alice@example.com>" then "wrote:").
fn is_wrapped_attribution(line: &str, next: Option<&str>) -> bool {
    let Some(next) = next else { return false };
    let joined = format!("{} {}", line.trim(), next.trim());
    let l = line.trim_start().to_lowercase();
    (l.starts_with("on ") || l.starts_with("am ") || l.starts_with("le ") || l.starts_with("el "))
        && is_attribution(&joined)
}

fn is_header_block(lines: &[&str], i: usize) -> bool {
    let l = lines[i].trim().to_lowercase();
    let from = ["from:", "von:", "de :", "de:"]
        .iter()
        .any(|p| l.starts_with(p));
    from && lines[i + 1..].iter().take(4).any(|n| {
        let n = n.trim().to_lowercase();
        HEADER_FOLLOWERS.iter().any(|h| n.starts_with(h))
    })
}

/// What the sender wrote in `text`, without the quoted original, forwarded headers or
/// signature; trimmed.
#[must_use]
pub fn strip_quoted(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalised.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        let cut = trimmed.starts_with('>')
            || is_attribution(trimmed)
            || is_wrapped_attribution(trimmed, lines.get(i + 1).copied())
            || SEPARATORS.iter().any(|s| lower.starts_with(s))
            || is_header_block(&lines, i)
            || line.trim_end_matches(['\r']) == "-- "
            || trimmed == "--"
            || SIGNATURE_STARTS.iter().any(|s| lower.starts_with(s))
            || (i > 0 && CLOSINGS.contains(&lower.as_str()));
        if cut {
            end = i;
            break;
        }
    }
    lines[..end].join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::strip_quoted;

    #[test]
    fn quoted_parts_signatures_and_forwarded_headers_are_removed() {
        let cases: &[(&str, &str)] = &[
            (
                "Sounds good, let's talk.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Alice <alice@reachkit.test> wrote:\n> Hi Bob,\n> would you like a demo?",
                "Sounds good, let's talk.",
            ),
            (
                "Yes please.\r\n\r\nOn Mon, Jan 5, 2026 at 10:00 AM Alice Smith <alice@reachkit.test>\r\nwrote:\r\n> Hi",
                "Yes please.",
            ),
            ("No thanks\n> quoted\n> more", "No thanks"),
            (
                "Not for us.\n\n-----Original Message-----\nFrom: Alice\nSent: Monday\nSubject: Demo",
                "Not for us.",
            ),
            (
                "Bitte melden Sie sich nächste Woche.\n\nVon: Alice <alice@reachkit.test>\nGesendet: Montag, 5. Januar 2026\nAn: Bob\nBetreff: Demo",
                "Bitte melden Sie sich nächste Woche.",
            ),
            (
                "Merci, pas intéressé.\n\nDe : Alice <alice@reachkit.test>\nEnvoyé : lundi 5 janvier 2026\nÀ : Bob\nObjet : Démo",
                "Merci, pas intéressé.",
            ),
            (
                "Gerne!\n\nAm 05.01.2026 um 10:00 schrieb Alice <alice@reachkit.test>:\n> Hallo",
                "Gerne!",
            ),
            (
                "Oui, avec plaisir.\n\nLe lun. 5 janv. 2026 à 10:00, Alice <alice@reachkit.test> a écrit :\n> Bonjour",
                "Oui, avec plaisir.",
            ),
            (
                "Claro que sí.\n\nEl lun, 5 ene 2026 a las 10:00, Alice (<alice@reachkit.test>) escribió:\n> Hola",
                "Claro que sí.",
            ),
            ("Interested!\n\nSent from my iPhone", "Interested!"),
            (
                "Let's talk Tuesday.\n\nBest regards,\nBob Jones\nCTO, Acme\n+1 555 0100",
                "Let's talk Tuesday.",
            ),
            ("Call me.\n-- \nBob Jones\nAcme Inc.", "Call me."),
            (
                "Please send pricing.\n\n________________________________\nFrom: Alice <alice@reachkit.test>\nSent: Monday",
                "Please send pricing.",
            ),
            ("Thanks,\nBob", "Thanks,\nBob"),
            ("", ""),
            ("> only a quote", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(&strip_quoted(input), expected, "{input:?}");
        }
    }

    #[test]
    fn a_from_line_without_a_header_block_is_kept() {
        assert_eq!(
            strip_quoted("From: the team at Acme, we'd love a call."),
            "From: the team at Acme, we'd love a call."
        );
    }
}
