//! Auto-replies (out-of-office, vacation, autoresponders) and other machine-sent mail.
//!
//! Checked after bounces: a DSN is auto-submitted too. The rules, strongest first:
//!
//! 1. `Auto-Submitted: auto-replied`, an `X-Autoreply`/`X-Autorespond`-style header or
//!    `Precedence: auto_reply` is an auto-reply.
//! 2. An out-of-office subject in one of the supported languages is an auto-reply.
//! 3. Any other `Auto-Submitted` value except `no` (`auto-generated`, `auto-notified`), or
//!    `Precedence: bulk`/`junk`, is machine mail: an auto-reply when it answers something
//!    (`In-Reply-To`) or reads like an out-of-office, else [`Verdict::Automated`] (left alone).
//! 4. Out-of-office body text counts only with a null return path (`Return-Path: <>`), which
//!    humans never send: otherwise "I will be out of the office next week, call me after"
//!    would hide a real reply.
//! 5. Mailing-list mail (`List-Id`, `List-Unsubscribe`) that answers nothing is automated.
//!
//! `X-Auto-Response-Suppress` is deliberately not a marker: Outlook and Exchange put it on
//! ordinary human mail as well.

use super::text::contains_any;

/// What the headers and text say about who sent the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    AutoReply,
    Automated,
    Human,
}

/// The inputs of the decision, gathered from the message by the caller.
#[derive(Debug, Default)]
pub(crate) struct Signals<'a> {
    pub(crate) auto_submitted: Option<&'a str>,
    pub(crate) autoreply_header: bool,
    pub(crate) precedence: Option<&'a str>,
    pub(crate) list_mail: bool,
    pub(crate) null_return_path: bool,
    pub(crate) answers_something: bool,
    pub(crate) subject: &'a str,
    pub(crate) body: &'a str,
}

const OOO_SUBJECT: &[&str] = &[
    "out of office",
    "out of the office",
    "out-of-office",
    "ooo:",
    "[ooo]",
    "automatic reply",
    "automatic response",
    "automated reply",
    "automated response",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "auto-antwort",
    "on vacation",
    "vacation reply",
    "away from the office",
    "away from office",
    "i am away",
    "i'm away",
    // German
    "abwesenheitsnotiz",
    "abwesenheit",
    "automatische antwort",
    "außer haus",
    "ausser haus",
    "nicht im büro",
    // French
    "réponse automatique",
    "reponse automatique",
    "absence du bureau",
    "absent du bureau",
    "message d'absence",
    // Spanish
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "fuera de oficina",
    // Italian
    "risposta automatica",
    "fuori ufficio",
    "fuori sede",
    // Dutch
    "afwezig",
    "automatisch antwoord",
    "afwezigheidsbericht",
    // Portuguese
    "resposta automática",
    "resposta automatica",
    "fora do escritório",
    "fora do escritorio",
    "ausência temporária",
    // Nordic, Finnish, Polish, Turkish, Japanese, Chinese
    "autosvar",
    "automatisk svar",
    "automatiskt svar",
    "automaattinen vastaus",
    "automatyczna odpowiedź",
    "otomatik yanıt",
    "自動応答",
    "自動返信",
    "自动回复",
];

/// Subject prefixes that mark an auto-reply only at the very start ("Auto: Re: offer").
const OOO_SUBJECT_PREFIX: &[&str] = &[
    "auto:",
    "autosvar:",
    "vacation:",
    "abwesend:",
    "absent:",
    "ausente:",
    "assente:",
];

const OOO_BODY: &[&str] = &[
    "out of the office",
    "out of office",
    "i am away",
    "i'm away",
    "i am currently away",
    "i am on vacation",
    "i'm on vacation",
    "on annual leave",
    "on holiday",
    "on parental leave",
    "on maternity leave",
    "on paternity leave",
    "limited access to email",
    "limited access to my email",
    "limited access to e-mail",
    "away from my desk",
    "i will be back",
    "i will return",
    "abwesend",
    "nicht im büro",
    "außer haus",
    "ausser haus",
    "je suis absent",
    "je serai absent",
    "en congé",
    "en congés",
    "estoy fuera",
    "estaré fuera",
    "de vacaciones",
    "sono fuori",
    "sarò assente",
    "in ferie",
    "ik ben afwezig",
    "met vakantie",
    "estou fora",
    "estarei ausente",
    "de férias",
];

/// Whether a subject reads like an out-of-office notice.
pub(crate) fn ooo_subject(subject: &str) -> bool {
    let s = subject.trim().to_lowercase();
    contains_any(&s, OOO_SUBJECT) || OOO_SUBJECT_PREFIX.iter().any(|p| s.starts_with(p))
}

/// Whether the first lines of a body read like an out-of-office notice.
pub(crate) fn ooo_body(body: &str) -> bool {
    let head: String = body.chars().take(2000).collect::<String>().to_lowercase();
    contains_any(&head, OOO_BODY)
}

pub(crate) fn verdict(s: &Signals<'_>) -> Verdict {
    let auto_submitted = s
        .auto_submitted
        .map(|v| {
            v.split([';', '(', ' ', '\t'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty() && v != "no");
    let precedence = s.precedence.map(|p| p.trim().to_ascii_lowercase());

    if auto_submitted.as_deref() == Some("auto-replied")
        || s.autoreply_header
        || precedence.as_deref() == Some("auto_reply")
    {
        return Verdict::AutoReply;
    }
    if ooo_subject(s.subject) {
        return Verdict::AutoReply;
    }
    let body_ooo = ooo_body(s.body);
    let machine =
        auto_submitted.is_some() || matches!(precedence.as_deref(), Some("bulk" | "junk"));
    if machine {
        return if s.answers_something || body_ooo {
            Verdict::AutoReply
        } else {
            Verdict::Automated
        };
    }
    if body_ooo && s.null_return_path {
        return Verdict::AutoReply;
    }
    if (s.list_mail || precedence.as_deref() == Some("list")) && !s.answers_something {
        return Verdict::Automated;
    }
    Verdict::Human
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals<'a>(subject: &'a str, body: &'a str) -> Signals<'a> {
        Signals {
            subject,
            body,
            ..Signals::default()
        }
    }

    #[test]
    fn out_of_office_subjects_in_several_languages() {
        for subject in [
            "Out of Office: Re: intro",
            "Automatic reply: Quick question",
            "Abwesenheitsnotiz: Ihre Anfrage",
            "Réponse automatique : Bonjour",
            "Respuesta automática: hola",
            "Risposta automatica: ciao",
            "Afwezig: hallo",
            "Resposta automática: olá",
            "Autoreply: hi",
            "Auto: Re: offer",
        ] {
            assert_eq!(
                verdict(&signals(subject, "")),
                Verdict::AutoReply,
                "{subject}"
            );
        }
    }

    #[test]
    fn human_text_about_being_away_stays_human() {
        let s = signals(
            "Re: intro",
            "I will be out of the office next week, call me after.",
        );
        assert_eq!(verdict(&s), Verdict::Human);
    }

    #[test]
    fn auto_response_suppress_alone_is_not_a_marker() {
        // The header is not even an input: an otherwise plain message stays human.
        assert_eq!(
            verdict(&signals("Re: intro", "Sounds good")),
            Verdict::Human
        );
    }

    #[test]
    fn auto_generated_without_an_answer_is_automated() {
        let s = Signals {
            auto_submitted: Some("auto-generated"),
            ..signals("Your invoice", "Invoice attached")
        };
        assert_eq!(verdict(&s), Verdict::Automated);
        let no = Signals {
            auto_submitted: Some("no"),
            ..signals("Re: intro", "Sure")
        };
        assert_eq!(verdict(&no), Verdict::Human);
    }
}
