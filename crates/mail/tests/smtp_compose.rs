//! Golden tests of `compose`: every email is parsed back with mail-parser and every header and
//! part is checked.

use mail_parser::{HeaderForm, HeaderValue, Message, MessageParser, MimeHeaders};
use reachkit_core::sending::{ListUnsubscribe, Mailbox, OutgoingEmail};
use reachkit_mail::smtp::compose;
use time::macros::datetime;

fn email() -> OutgoingEmail {
    OutgoingEmail {
        message_id: "0192f7a8-1111-7000-8000-000000000001@reachkit.test".into(),
        from: Mailbox {
            name: Some("Alice Archer".into()),
            email: "alice@reachkit.test".into(),
        },
        to: Mailbox {
            name: Some("Jane Doe".into()),
            email: "jane@prospects.test".into(),
        },
        reply_to: None,
        subject: "Quick question".into(),
        text: "Hi Jane,\r\n\r\nShall we talk?\r\n".into(),
        html: None,
        in_reply_to: None,
        references: Vec::new(),
        list_unsubscribe: None,
        extra_headers: Vec::new(),
        date: datetime!(2026-03-02 09:30:15 UTC),
    }
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("compose's output parses as a message")
}

fn first_addr(value: Option<&mail_parser::Address<'_>>) -> (Option<String>, String) {
    let addr = value.and_then(|a| a.first()).expect("an address");
    (
        addr.name().map(str::to_owned),
        addr.address().unwrap_or_default().to_owned(),
    )
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(ToString::to_string).collect(),
        HeaderValue::Empty => Vec::new(),
        HeaderValue::Address(list) => list
            .iter()
            .map(|a| a.address().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("not a list of ids: {other:?}"),
    }
}

fn text_of(raw: &[u8]) -> &str {
    std::str::from_utf8(raw).expect("the message is ASCII/UTF-8")
}

/// The raw header block (up to the first empty line).
fn header_block(raw: &[u8]) -> &str {
    let text = text_of(raw);
    text.split("\r\n\r\n").next().unwrap_or_default()
}

#[test]
fn a_text_only_email_has_every_header_and_one_text_part() {
    let raw = compose(&email());
    let message = parse(&raw);

    assert_eq!(
        first_addr(message.from()),
        (Some("Alice Archer".into()), "alice@reachkit.test".into())
    );
    assert_eq!(
        first_addr(message.to()),
        (Some("Jane Doe".into()), "jane@prospects.test".into())
    );
    assert!(message.reply_to().is_none());
    assert_eq!(message.subject(), Some("Quick question"));
    assert_eq!(
        message.message_id(),
        Some("0192f7a8-1111-7000-8000-000000000001@reachkit.test")
    );
    let date = message.date().expect("a Date header");
    assert_eq!(
        date.to_timestamp(),
        datetime!(2026-03-02 09:30:15 UTC).unix_timestamp()
    );
    assert!(message.in_reply_to().is_empty());
    assert!(message.references().is_empty());
    assert!(message.list_unsubscribe().is_empty());
    assert!(message.header_raw("List-Unsubscribe-Post").is_none());
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(
        message.html_body_count(),
        1,
        "mail-parser offers text as html too"
    );
    assert_eq!(
        message.body_text(0).as_deref(),
        Some("Hi Jane,\r\n\r\nShall we talk?\r\n")
    );
    let root = message.root_part();
    let content_type = root.content_type().expect("a Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("plain"))
    );
    assert!(header_block(&raw).contains("MIME-Version: 1.0"));
    assert_eq!(
        header_block(&raw).matches("Message-ID:").count(),
        1,
        "exactly our Message-ID, no generated one"
    );
    assert!(raw.ends_with(b"\r\n"));
    assert!(
        !text_of(&raw).replace("\r\n", "").contains('\n'),
        "bare LF in the output"
    );
}

#[test]
fn text_and_html_make_a_multipart_alternative_with_both_parts() {
    let mut e = email();
    e.html = Some("<p>Hi <b>Jane</b>,</p><p>Shall we talk?</p>".into());
    let raw = compose(&e);
    let message = parse(&raw);

    let content_type = message.root_part().content_type().expect("a Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    assert_eq!(
        message.body_text(0).as_deref(),
        Some("Hi Jane,\r\n\r\nShall we talk?\r\n")
    );
    assert_eq!(
        message.body_html(0).as_deref(),
        Some("<p>Hi <b>Jane</b>,</p><p>Shall we talk?</p>")
    );
    let html_part = message.html_part(0).expect("an html part");
    assert_eq!(
        html_part.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("text", Some("html")))
    );
}

#[test]
fn reply_to_and_a_bare_from_are_written_as_given() {
    let mut e = email();
    e.reply_to = Some("replies@reachkit.test".into());
    e.from.name = None;
    e.to.name = Some(String::new());
    let message_raw = compose(&e);
    let message = parse(&message_raw);
    assert_eq!(
        first_addr(message.reply_to()),
        (None, "replies@reachkit.test".into())
    );
    assert_eq!(
        first_addr(message.from()),
        (None, "alice@reachkit.test".into())
    );
    assert_eq!(
        first_addr(message.to()),
        (None, "jane@prospects.test".into())
    );
    assert!(header_block(&message_raw).contains("From: <alice@reachkit.test>"));
}

#[test]
fn a_follow_up_carries_in_reply_to_and_references_each_in_one_pair_of_brackets() {
    let mut e = email();
    e.subject = "Re: Quick question".into();
    e.in_reply_to = Some("step1@reachkit.test".into());
    // Brackets given by mistake are not doubled.
    e.references = vec!["<step0@reachkit.test>".into(), "step1@reachkit.test".into()];
    e.message_id = "<step2@reachkit.test>".into();
    let raw = compose(&e);
    let message = parse(&raw);

    assert_eq!(message.message_id(), Some("step2@reachkit.test"));
    assert_eq!(ids(message.in_reply_to()), ["step1@reachkit.test"]);
    assert_eq!(
        ids(message.references()),
        ["step0@reachkit.test", "step1@reachkit.test"]
    );
    let headers = header_block(&raw);
    assert!(
        headers.contains("In-Reply-To: <step1@reachkit.test>"),
        "{headers}"
    );
    assert!(
        headers.contains("References: <step0@reachkit.test> <step1@reachkit.test>"),
        "{headers}"
    );
    assert!(
        headers.contains("Message-ID: <step2@reachkit.test>"),
        "{headers}"
    );
    assert!(
        !headers.contains("<<") && !headers.contains(">>"),
        "{headers}"
    );
    assert_eq!(message.subject(), Some("Re: Quick question"));
}

#[test]
fn list_unsubscribe_has_both_uris_in_brackets_and_the_one_click_post_header() {
    let mut e = email();
    e.list_unsubscribe = Some(ListUnsubscribe {
        url: "https://reach.example/u/AbC-123_x".into(),
        mailto: "mailto:alice@reachkit.test?subject=unsubscribe".into(),
    });
    let raw = compose(&e);
    let message = parse(&raw);

    let unfolded = header_block(&raw)
        .replace("\r\n\t", " ")
        .replace("\r\n ", " ");
    assert!(
        unfolded.contains(
            "List-Unsubscribe: <https://reach.example/u/AbC-123_x>, \
             <mailto:alice@reachkit.test?subject=unsubscribe>"
        ) || unfolded.contains(
            "List-Unsubscribe: <https://reach.example/u/AbC-123_x>,  \
             <mailto:alice@reachkit.test?subject=unsubscribe>"
        ),
        "{unfolded}"
    );
    assert!(!unfolded.contains("<<"), "{unfolded}");
    let uris = ids(message.list_unsubscribe());
    assert_eq!(
        uris,
        [
            "https://reach.example/u/AbC-123_x",
            "mailto:alice@reachkit.test?subject=unsubscribe"
        ]
    );
    assert_eq!(
        message.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
}

#[test]
fn unicode_names_and_subjects_are_encoded_and_read_back_exactly() {
    let mut e = email();
    e.from.name = Some("Zoë Łukasiewicz-Müller".into());
    e.to.name = Some("José Ñúñez, Jr.".into());
    e.subject = "Café ☕ con José — ¿hablamos?".into();
    let raw = compose(&e);
    assert!(
        raw.is_ascii(),
        "headers must be 7-bit: {}",
        String::from_utf8_lossy(&raw)
    );
    let message = parse(&raw);
    assert_eq!(
        first_addr(message.from()),
        (
            Some("Zoë Łukasiewicz-Müller".into()),
            "alice@reachkit.test".into()
        )
    );
    assert_eq!(
        first_addr(message.to()),
        (Some("José Ñúñez, Jr.".into()), "jane@prospects.test".into())
    );
    assert_eq!(message.subject(), Some("Café ☕ con José — ¿hablamos?"));
}

#[test]
fn a_long_subject_is_folded_and_unfolds_to_the_same_text() {
    let mut e = email();
    let long = "A rather long subject line that goes on and on about our product and why \
                your team at Example Corporation would love it, honestly";
    e.subject = long.into();
    let raw = compose(&e);
    let headers = header_block(&raw);
    assert!(
        headers.lines().all(|l| l.len() <= 998),
        "no header line over the RFC 5322 limit"
    );
    assert_eq!(parse(&raw).subject(), Some(long));

    let long_unicode = "Überraschung für das gesamte Team: ein sehr langer Betreff mit Umlauten \
                        äöü und noch mehr Text, damit er umbrochen wird ✓";
    e.subject = long_unicode.into();
    let raw = compose(&e);
    assert!(raw.is_ascii());
    assert_eq!(parse(&raw).subject(), Some(long_unicode));
}

#[test]
fn line_breaks_in_a_subject_or_name_become_spaces_and_cannot_inject_headers() {
    let mut e = email();
    e.subject = "First line\r\nBcc: victim@example.com\nthird".into();
    e.from.name = Some("Alice\r\nX-Evil: 1".into());
    let raw = compose(&e);
    let message = parse(&raw);
    assert_eq!(
        message.subject(),
        Some("First line Bcc: victim@example.com third")
    );
    assert!(message.bcc().is_none());
    assert!(message.header_raw("X-Evil").is_none());
    assert_eq!(
        first_addr(message.from()).0.as_deref(),
        Some("Alice X-Evil: 1")
    );
}

#[test]
fn extra_headers_are_written_and_ours_cannot_be_overridden() {
    let mut e = email();
    e.extra_headers = vec![
        ("X-Reachkit-Warmup".into(), "w-42".into()),
        ("X-Note".into(), "naïve café".into()),
        ("Message-ID".into(), "<evil@x>".into()),
        ("Bad Name".into(), "dropped".into()),
        ("X-Multi".into(), "one\r\nX-Injected: yes".into()),
    ];
    let raw = compose(&e);
    let message = parse(&raw);
    assert_eq!(
        message
            .header("X-Reachkit-Warmup")
            .and_then(HeaderValue::as_text),
        Some("w-42")
    );
    let note = message.header_as("X-Note", HeaderForm::Text);
    assert_eq!(
        note.first().and_then(HeaderValue::as_text),
        Some("naïve café")
    );
    assert_eq!(
        message.header("X-Multi").and_then(HeaderValue::as_text),
        Some("one X-Injected: yes")
    );
    assert!(message.header_raw("X-Injected").is_none());
    assert_eq!(message.message_id(), Some(e.message_id.as_str()));
    assert_eq!(header_block(&raw).matches("Message-ID:").count(), 1);
    assert!(!header_block(&raw).contains("Bad Name"));
}

#[test]
fn the_same_email_composes_to_the_same_bytes_apart_from_mime_boundaries() {
    // A retry keeps the Message-ID and Date: only the random MIME boundary may differ.
    let e = email();
    assert_eq!(
        compose(&e),
        compose(&e),
        "text-only has no boundary: identical"
    );
}

#[test]
fn unicode_bodies_survive_in_both_parts() {
    let mut e = email();
    e.text = "Grüße aus Köln 👋\r\n".into();
    e.html = Some("<p>Grüße aus Köln 👋</p>".into());
    let raw = compose(&e);
    let message = parse(&raw);
    assert_eq!(
        message.body_text(0).as_deref(),
        Some("Grüße aus Köln 👋\r\n")
    );
    assert_eq!(
        message.body_html(0).as_deref(),
        Some("<p>Grüße aus Köln 👋</p>")
    );
}
