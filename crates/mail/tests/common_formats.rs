//! Common bounce and auto-reply layouts written from public examples of each provider's format
//! (not taken from the scored corpus), to keep the rules general.

use reachkit_mail::inbound::{Kind, classify};

fn first(raw: &str) -> (Kind, String, Option<String>, bool) {
    let c = classify(raw.as_bytes());
    let r = c
        .bounce
        .as_ref()
        .and_then(|b| b.recipients.first())
        .cloned();
    (
        c.kind,
        r.as_ref().map(|r| r.recipient.clone()).unwrap_or_default(),
        r.as_ref().and_then(|r| r.status.clone()),
        r.is_some_and(|r| r.hard),
    )
}

#[test]
fn gmail_plain_text_address_not_found() {
    let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
To: sam@reachkit.example\nSubject: Delivery Status Notification (Failure)\n\n\
** Address not found **\n\nYour message wasn't delivered to nobody@gmail.com because the address \
couldn't be found, or is unable to receive mail.\n\nThe response from the remote server was:\n\
550 5.1.1 The email account that you tried to reach does not exist. Please try\n\
550-5.1.1 double-checking the recipient's email address for typos\n";
    assert_eq!(
        first(raw),
        (
            Kind::Bounce,
            "nobody@gmail.com".into(),
            Some("5.1.1".into()),
            true
        )
    );
}

#[test]
fn yahoo_failure_notice_for_an_unknown_account() {
    let raw = "From: MAILER-DAEMON@yahoo.com\nTo: sam@reachkit.example\nSubject: Failure Notice\n\n\
Sorry, we were unable to deliver your message to the following address.\n\n\
<gone@yahoo.com>:\n554: delivery error: dd This user doesn't have a yahoo.com account \
(gone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com\n\n--- Below this line is a copy of the message.\n\n\
From: sam@reachkit.example\nTo: gone@yahoo.com\nMessage-ID: <m1@reachkit.example>\nSubject: hi\n\nhi\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    let b = c.bounce.expect("bounce");
    assert_eq!(
        b.original_message_id.as_deref(),
        Some("m1@reachkit.example")
    );
    assert_eq!(b.recipients[0].recipient, "gone@yahoo.com");
    assert_eq!(b.recipients[0].status.as_deref(), Some("5.0.0"));
    assert!(b.recipients[0].hard);
}

#[test]
fn qmail_mailbox_full_is_soft() {
    let raw = "From: MAILER-DAEMON@mx.example.net\nTo: sam@reachkit.example\nSubject: failure notice\n\n\
Hi. This is the qmail-send program at mx.example.net.\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
<full@example.net>:\nThe users mailfolder is over the allowed quota (size).\n";
    let (kind, recipient, _status, hard) = first(raw);
    assert_eq!(
        (kind, recipient.as_str(), hard),
        (Kind::Bounce, "full@example.net", false)
    );
}

#[test]
fn outlook_style_non_delivery_text_without_a_report() {
    let raw = "From: postmaster@outlook.example\nTo: sam@reachkit.example\n\
Subject: Undeliverable: Quick question\n\n\
Your message to ghost@contoso.example couldn't be delivered.\n\
ghost wasn't found at contoso.example.\n\n\
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n";
    assert_eq!(
        first(raw),
        (
            Kind::Bounce,
            "ghost@contoso.example".into(),
            Some("5.1.10".into()),
            true
        )
    );
}

#[test]
fn a_human_forwarding_a_bounce_is_not_a_bounce() {
    let raw = "From: Sam <sam@reachkit.example>\nTo: ops@reachkit.example\n\
Subject: Fwd: Undeliverable: Quick question\n\n\
Any idea why this could not be delivered?\n";
    assert_eq!(classify(raw.as_bytes()).kind, Kind::Reply);
}

#[test]
fn outlook_automatic_reply_with_auto_generated_header_is_an_auto_reply() {
    let raw = "From: Ana <ana@empresa.example>\nTo: sam@reachkit.example\n\
Subject: Respuesta automática: Quick question\nAuto-Submitted: auto-generated\n\
X-Auto-Response-Suppress: All\nIn-Reply-To: <m1@reachkit.example>\n\n\
Estoy fuera de la oficina hasta el lunes.\n";
    assert_eq!(classify(raw.as_bytes()).kind, Kind::AutoReply);
}

#[test]
fn a_newsletter_is_other() {
    let raw = "From: News <news@vendor.example>\nTo: sam@reachkit.example\nSubject: Our December update\n\
Precedence: bulk\nList-Unsubscribe: <mailto:unsub@vendor.example>\n\nHello!\n";
    assert_eq!(classify(raw.as_bytes()).kind, Kind::Other);
}
