//! The built-in reply classifier: pure rules over what the sender wrote (the quoted part
//! removed, see [`strip_quoted`]), in English with the most common phrases in German, French and
//! Spanish. It implements the `ReplyClassifier` port of `reachkit-core`.
//!
//! The rules are checked in a fixed order, the first match wins, so the more specific and the
//! negative readings come before the generic positive ones ("not interested" before
//! "interested", "unsubscribe" before "not interested"):
//! out_of_office, left_company, unsubscribe, not_interested, referral, wrong_person,
//! meeting_requested, needs_more_info, interested, question (a `?`), else neutral.
//!
//! [`llm::LlmClassifier`] is the optional remote classifier (an OpenAI-compatible
//! chat-completions endpoint) that falls back to these rules.

pub mod http;
pub mod llm;
mod quote;

use reachkit_core::classifier::ReplyClassifier;
use reachkit_domain::label::ReplyLabel;

pub use quote::strip_quoted;

const OUT_OF_OFFICE: &[&str] = &[
    "out of office",
    "out of the office",
    "ooo",
    "on vacation",
    "on holiday",
    "on holidays",
    "on annual leave",
    "on leave",
    "on parental leave",
    "on maternity leave",
    "on paternity leave",
    "away from the office",
    "away from my desk until",
    "limited access to email",
    "limited access to my email",
    "automatic reply",
    "auto reply",
    "autoreply",
    "i am currently away",
    "i'm currently away",
    "i will be back",
    "i'll be back on",
    "will return on",
    "returning on",
    "abwesend",
    "im urlaub",
    "außer haus",
    "nicht im büro",
    "abwesenheitsnotiz",
    "absent du bureau",
    "en congé",
    "en vacances",
    "réponse automatique",
    "fuera de la oficina",
    "de vacaciones",
    "respuesta automática",
];

const LEFT_COMPANY: &[&str] = &[
    "no longer with",
    "no longer work",
    "no longer works",
    "no longer working",
    "no longer employed",
    "no longer at",
    "no longer part of",
    "has left the company",
    "have left the company",
    "left the company",
    "has left acme",
    "left the organization",
    "left the organisation",
    "not with the company anymore",
    "not working here anymore",
    "doesn't work here anymore",
    "does not work here anymore",
    "nicht mehr bei",
    "nicht mehr im unternehmen",
    "hat das unternehmen verlassen",
    "ne fait plus partie",
    "ne travaille plus",
    "a quitté",
    "ya no trabaja",
    "ya no forma parte",
    "dejó la empresa",
];

const UNSUBSCRIBE: &[&str] = &[
    "unsubscribe",
    "remove me",
    "remove us",
    "take me off",
    "take us off",
    "stop emailing",
    "stop sending",
    "stop contacting",
    "stop writing",
    "do not contact",
    "don't contact",
    "do not email",
    "don't email",
    "never contact",
    "opt out",
    "opt me out",
    "off your list",
    "off your mailing list",
    "abmelden",
    "austragen",
    "keine weiteren e mails",
    "désinscrire",
    "désinscrivez moi",
    "désabonner",
    "désabonnez moi",
    "retirez moi",
    "darme de baja",
    "dar de baja",
    "darse de baja",
];

const NOT_INTERESTED: &[&str] = &[
    "not interested",
    "no interest",
    "not be interested",
    "no thanks",
    "no thank you",
    "no thx",
    "not a fit",
    "not a good fit",
    "not the right fit",
    "not at this time",
    "not right now",
    "not for us",
    "not looking",
    "we're all set",
    "we are all set",
    "we're good",
    "we already have",
    "we already use",
    "we already work with",
    "we'll pass",
    "we will pass",
    "i'll pass",
    "pass on this",
    "no need",
    "no budget",
    "don't need",
    "do not need",
    "not something we need",
    "kein interesse",
    "nicht interessiert",
    "kein bedarf",
    "pas intéressé",
    "pas intéressée",
    "pas intéressés",
    "pas besoin",
    "non merci",
    "no estamos interesados",
    "no estoy interesado",
    "no estoy interesada",
    "no me interesa",
    "no nos interesa",
    "no gracias",
];

/// A pointer to someone else: only a referral when the reply points somewhere.
const REFERRAL: &[&str] = &[
    "reach out to",
    "get in touch with",
    "please contact my",
    "please contact our",
    "please contact him",
    "please contact her",
    "you should contact",
    "you could contact",
    "you should talk to",
    "please talk to",
    "better to talk to",
    "talk to my",
    "talk to our",
    "you should speak",
    "please speak",
    "speak to my",
    "speak to our",
    "speak with my",
    "speak with our",
    "best person",
    "better person",
    "right person is",
    "is the right person",
    "is the person you",
    "the person you want",
    "looping in",
    "loop in",
    "cc'ing",
    "cc'd",
    "i've copied",
    "i have copied",
    "copying my colleague",
    "forwarded your email to",
    "forwarded this to",
    "forwarding this to",
    "passed this on to",
    "passed your email to",
    "is in charge of",
    "is responsible for",
    "handles this",
    "handles that",
    "wenden sie sich an",
    "ansprechpartner ist",
    "veuillez contacter",
    "contactez plutôt",
    "s'adresser à",
    "póngase en contacto con",
    "contacta con",
];

const WRONG_PERSON: &[&str] = &[
    "wrong person",
    "not the right person",
    "not the person",
    "not the correct person",
    "not the right contact",
    "wrong contact",
    "not responsible for",
    "not my area",
    "not my department",
    "i don't handle",
    "i do not handle",
    "i'm not involved",
    "i am not involved",
    "not involved in",
    "nicht zuständig",
    "falscher ansprechpartner",
    "pas la bonne personne",
    "pas le bon interlocuteur",
    "no soy la persona",
    "persona equivocada",
];

const MEETING: &[&str] = &[
    "schedule a call",
    "schedule a meeting",
    "schedule some time",
    "set up a call",
    "set up a meeting",
    "set up a time",
    "book a call",
    "book a meeting",
    "book a time",
    "hop on a call",
    "jump on a call",
    "get on a call",
    "have a call",
    "quick call",
    "a call next",
    "a call on",
    "a call this",
    "call me",
    "give me a call",
    "let's meet",
    "lets meet",
    "meet next",
    "meet on",
    "a meeting",
    "a demo",
    "send me an invite",
    "send an invite",
    "calendar invite",
    "send a calendar",
    "my calendar",
    "calendly",
    "grab some time",
    "grab time",
    "find a time",
    "what time works",
    "does tuesday work",
    "does monday work",
    "does wednesday work",
    "does thursday work",
    "does friday work",
    "how about tuesday",
    "how about monday",
    "how about wednesday",
    "how about thursday",
    "how about friday",
    "free on",
    "available on",
    "are you available",
    "termin",
    "telefonat",
    "gespräch vereinbaren",
    "rendez vous",
    "un appel",
    "une réunion",
    "una llamada",
    "una reunión",
    "agendar",
];

const MORE_INFO: &[&str] = &[
    "more info",
    "more information",
    "more details",
    "further details",
    "additional information",
    "send me some",
    "send me more",
    "send over",
    "send me the",
    "send me a",
    "can you share",
    "could you share",
    "please share",
    "pricing",
    "price list",
    "how much",
    "case study",
    "case studies",
    "brochure",
    "one pager",
    "one-pager",
    "deck",
    "some details",
    "tell me more",
    "learn more",
    "mehr informationen",
    "weitere informationen",
    "mehr details",
    "plus d'informations",
    "plus d'infos",
    "plus de détails",
    "más información",
    "más detalles",
];

const INTERESTED: &[&str] = &[
    "interested",
    "sounds good",
    "sounds great",
    "sounds interesting",
    "sounds promising",
    "i'd love",
    "we'd love",
    "love to",
    "would love",
    "happy to",
    "let's do it",
    "let's do this",
    "let's talk",
    "let's chat",
    "count me in",
    "sign me up",
    "keen",
    "i'm in",
    "we're in",
    "yes",
    "sure thing",
    "for sure",
    "absolutely",
    "definitely",
    "go ahead",
    "let's go",
    "interessiert",
    "gerne",
    "klingt gut",
    "intéressé",
    "intéressée",
    "avec plaisir",
    "ça m'intéresse",
    "interesado",
    "interesada",
    "me interesa",
    "nos interesa",
    "claro que sí",
];

/// Lower-cased, typographic apostrophes made plain, every run of characters that are not
/// letters, digits, `'` or `@` turned into one space, padded with spaces so phrases match on
/// word boundaries.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if matches!(c, '\u{2019}' | '\u{2018}' | '`') {
            '\''
        } else {
            c
        };
        if c.is_alphanumeric() || c == '\'' || c == '@' {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
    out
}

fn any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        let p = normalise(p);
        text.contains(p.as_str())
    })
}

/// The label of what the sender wrote in `text` (quoted parts removed first).
#[must_use]
pub fn classify_text(text: &str) -> ReplyLabel {
    let own = strip_quoted(text);
    let words = normalise(&own);
    if words.trim().is_empty() {
        return ReplyLabel::Neutral;
    }
    let rules: [(&[&str], ReplyLabel); 9] = [
        (OUT_OF_OFFICE, ReplyLabel::OutOfOffice),
        (LEFT_COMPANY, ReplyLabel::LeftCompany),
        (UNSUBSCRIBE, ReplyLabel::Unsubscribe),
        (NOT_INTERESTED, ReplyLabel::NotInterested),
        (REFERRAL, ReplyLabel::Referral),
        (WRONG_PERSON, ReplyLabel::WrongPerson),
        (MEETING, ReplyLabel::MeetingRequested),
        (MORE_INFO, ReplyLabel::NeedsMoreInfo),
        (INTERESTED, ReplyLabel::Interested),
    ];
    for (phrases, label) in rules {
        if any(&words, phrases) {
            return label;
        }
    }
    if own.contains('?') || own.contains('¿') {
        return ReplyLabel::Question;
    }
    ReplyLabel::Neutral
}

/// The built-in, offline [`ReplyClassifier`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleClassifier;

impl ReplyClassifier for RuleClassifier {
    fn classify(&self, text: &str) -> ReplyLabel {
        classify_text(text)
    }
}

#[cfg(test)]
mod tests;
