use reachkit_core::classifier::ReplyClassifier;
use reachkit_domain::label::ReplyLabel::{self, *};

use super::{RuleClassifier, classify_text};

fn check(label: ReplyLabel, texts: &[&str]) {
    assert!(texts.len() >= 5, "at least five examples for {label}");
    for text in texts {
        assert_eq!(classify_text(text), label, "{text:?}");
    }
}

#[test]
fn interested_replies_are_labelled_interested() {
    check(
        Interested,
        &[
            "Hi Alice, this sounds interesting. We'd love to hear more about it.",
            "Yes, we're interested!",
            "Sounds good, count me in.",
            "Absolutely, let's do it.",
            "I'm interested.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Alice <alice@reachkit.test> wrote:\n> Are you interested in a demo?",
            "Klingt gut, wir sind interessiert.",
            "Oui, ça m'intéresse.",
            "Sí, me interesa.",
        ],
    );
}

#[test]
fn refusals_are_labelled_not_interested() {
    check(
        NotInterested,
        &[
            "Not interested, thanks.",
            "No thanks, we're all set.",
            "We already have a provider for this. We'll pass.",
            "Thanks but this is not a fit for us at the moment.",
            "Not at this time.\n\n> Would you be interested in a demo?",
            "Kein Interesse, danke.",
            "Non merci, pas intéressé.",
            "No gracias, no estamos interesados.",
        ],
    );
}

#[test]
fn requests_for_details_are_labelled_needs_more_info() {
    check(
        NeedsMoreInfo,
        &[
            "Can you send me more information?",
            "Could you share your pricing?",
            "Please send over a case study or two.",
            "How much does it cost per seat?",
            "Tell me more about how it works.",
            "Können Sie mir weitere Informationen schicken?",
            "Pouvez-vous m'envoyer plus d'informations ?",
            "¿Me puede enviar más información?",
        ],
    );
}

#[test]
fn asks_for_a_call_are_labelled_meeting_requested() {
    check(
        MeetingRequested,
        &[
            "Let's schedule a call next week.",
            "Happy to hop on a call. Does Thursday work?",
            "Can you send me a calendar invite for Tuesday at 2pm?",
            "Book a time here: https://calendly.com/bob/30min",
            "I'm interested, are you available on Friday morning?",
            "Gerne, lassen Sie uns einen Termin vereinbaren.",
            "On peut fixer un rendez-vous mardi ?",
            "¿Podemos agendar una llamada el lunes?",
        ],
    );
}

#[test]
fn not_my_job_replies_are_labelled_wrong_person() {
    check(
        WrongPerson,
        &[
            "I'm not the right person for this.",
            "You have the wrong person, sorry.",
            "I don't handle purchasing.",
            "This is not my area, I work in finance.",
            "I'm not responsible for marketing tools.",
            "Dafür bin ich nicht zuständig.",
            "Je ne suis pas la bonne personne.",
            "No soy la persona adecuada.",
        ],
    );
}

#[test]
fn away_notices_are_labelled_out_of_office() {
    check(
        OutOfOffice,
        &[
            "I am out of the office until January 12 with limited access to email.",
            "Out of office: I'm on vacation and will return on Monday.",
            "Thanks for your email. I am currently away on annual leave.",
            "Automatic reply: I'm on parental leave until March.",
            "Ich bin bis 12.01. nicht im Büro und habe keinen Zugriff auf E-Mails.",
            "Je suis absent du bureau jusqu'au 12 janvier.",
            "Estoy fuera de la oficina hasta el lunes.",
        ],
    );
}

#[test]
fn pointers_to_someone_else_are_labelled_referral() {
    check(
        Referral,
        &[
            "I'm not the right person, please reach out to jane@acme.test.",
            "Looping in my colleague Jane who handles this.",
            "You should talk to our head of sales, Mark.",
            "Jane is the right person for this, I've copied her here.",
            "Jane Doe is in charge of procurement, please contact her.",
            "Bitte wenden Sie sich an meinen Kollegen Herrn Müller.",
            "Veuillez contacter notre directeur commercial.",
        ],
    );
}

#[test]
fn open_questions_are_labelled_question() {
    check(
        Question,
        &[
            "Who gave you my address?",
            "What exactly does your company do?",
            "Is this an automated email?",
            "Which companies do you work with?",
            "Where are you based?",
            "¿Quién le dio mi dirección?",
        ],
    );
}

#[test]
fn replies_without_a_clear_intent_are_labelled_neutral() {
    check(
        Neutral,
        &[
            "Thanks for reaching out.",
            "Received.",
            "Noted, thank you.",
            "",
            "> Only the quoted original came back",
            "Ok.\n\nSent from my iPhone",
        ],
    );
}

#[test]
fn requests_to_stop_are_labelled_unsubscribe() {
    check(
        Unsubscribe,
        &[
            "Unsubscribe",
            "Please remove me from your list.",
            "Stop emailing me.",
            "Not interested. Take me off your mailing list.",
            "Do not contact me again.",
            "Bitte abmelden.",
            "Merci de me désinscrire.",
            "Por favor, darme de baja.",
        ],
    );
}

#[test]
fn former_employee_notices_are_labelled_left_company() {
    check(
        LeftCompany,
        &[
            "Bob is no longer with Acme.",
            "I no longer work at Acme Corp.",
            "Please note that Bob has left the company.",
            "Bob no longer works here. For sales questions email info@acme.test.",
            "Herr Müller ist nicht mehr bei der Firma.",
            "M. Dupont ne fait plus partie de la société.",
            "El Sr. García ya no trabaja en la empresa.",
        ],
    );
}

#[test]
fn the_quoted_original_never_decides_the_label() {
    let reply = "No thanks.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Alice <alice@reachkit.test> wrote:\n> Would you like to schedule a call? Let me know if you're interested.";
    assert_eq!(classify_text(reply), NotInterested);
    let outlook = "Who are you?\n\n-----Original Message-----\nFrom: Alice\nSent: Monday\nSubject: Demo\n\nInterested in a meeting?";
    assert_eq!(classify_text(outlook), Question);
}

#[test]
fn the_rule_classifier_is_the_port() {
    let c: &dyn ReplyClassifier = &RuleClassifier;
    assert_eq!(c.classify("Please unsubscribe me"), Unsubscribe);
}
