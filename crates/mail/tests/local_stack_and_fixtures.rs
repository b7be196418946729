//! Exact expectations for the messages captured from the local Postfix/Dovecot stack
//! (`shared/corpora/mail`) and for this crate's own fixtures (`tests/fixtures`).

use std::path::PathBuf;

use reachkit_mail::inbound::{BounceReason, Classification, Kind, OtherReason, classify, cli_json};
use serde_json::json;

fn local_stack(name: &str) -> Classification {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/mail");
    assert!(
        dir.is_dir(),
        "the local-stack mail corpus is missing: expected {}",
        dir.display()
    );
    let raw = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    classify(&raw)
}

fn fixture(name: &str) -> Classification {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    classify(&raw)
}

#[test]
fn a_dsn_for_an_unknown_local_user_is_a_hard_bounce() {
    let c = local_stack("dsn-unknown-user.eml");
    assert_eq!(c.kind, Kind::Bounce);
    let bounce = c.bounce.as_ref().expect("bounce details");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("179603258014.4572.10093486311509465664@a.test")
    );
    assert_eq!(bounce.recipients.len(), 1);
    let r = &bounce.recipients[0];
    assert_eq!(r.recipient, "nobody@b.test");
    assert_eq!(r.original_recipient, None);
    assert_eq!(r.status.as_deref(), Some("5.1.1"));
    assert!(r.hard);
    assert!(!r.delayed);
    assert_eq!(r.reason, BounceReason::UserUnknown);
    assert_eq!(
        cli_json(&c),
        json!({"kind": "bounce", "bounce": {"recipient": "nobody@b.test", "status": "5.1.1", "hard": true}})
    );
}

#[test]
fn a_dsn_after_alias_expansion_keeps_the_original_recipient() {
    let c = local_stack("dsn-bounce-sim-external.eml");
    assert_eq!(c.kind, Kind::Bounce);
    let bounce = c.bounce.as_ref().expect("bounce details");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("179603258044.4572.9058917557154812332@a.test")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.recipient, "bounce-sim@sink.test");
    assert_eq!(
        r.original_recipient.as_deref(),
        Some("bounce-jane@outlook.com")
    );
    assert_eq!(r.status.as_deref(), Some("5.1.1"));
    assert!(r.hard);
    assert_eq!(c.from.as_deref(), Some("MAILER-DAEMON@mx.mailstack.test"));
}

#[test]
fn a_threaded_answer_from_the_stack_is_a_reply() {
    let c = local_stack("reply-bob-to-alice.eml");
    assert_eq!(c.kind, Kind::Reply);
    assert!(c.bounce.is_none());
    assert_eq!(c.from.as_deref(), Some("bob@b.test"));
    assert_eq!(c.subject.as_deref(), Some("Re: Intro 1796032578.4394"));
    assert_eq!(
        c.message_id.as_deref(),
        Some("179603258012.4572.12893950033979417589@b.test")
    );
    assert_eq!(
        c.in_reply_to.as_deref(),
        Some("179603257922.4572.11651684367317168618@a.test")
    );
    assert_eq!(
        c.references,
        ["179603257922.4572.11651684367317168618@a.test"]
    );
    assert_eq!(c.text.trim(), "Sure, let's talk.");
    assert_eq!(cli_json(&c), json!({"kind": "reply", "bounce": null}));
}

#[test]
fn the_sieve_vacation_answer_is_an_auto_reply() {
    let c = local_stack("vacation-autoreply.eml");
    assert_eq!(c.kind, Kind::AutoReply);
    assert!(c.bounce.is_none());
    assert_eq!(c.from.as_deref(), Some("bob@b.test"));
    assert_eq!(
        c.in_reply_to.as_deref(),
        Some("179603258054.4572.4286744034327566317@a.test")
    );
    assert_eq!(cli_json(&c), json!({"kind": "auto_reply", "bounce": null}));
}

#[test]
fn plain_messages_without_thread_headers_may_still_be_replies() {
    // Our own outgoing mail captured by the sink, and a message the spam filter flagged: both
    // are ordinary human-looking mail; matching by sender happens in the sync.
    for name in ["sink-captured-external.eml", "spam-rescued-to-inbox.eml"] {
        let c = local_stack(name);
        assert_eq!(c.kind, Kind::Reply, "{name}");
        assert!(c.bounce.is_none(), "{name}");
        assert_eq!(c.in_reply_to, None, "{name}");
        assert!(c.references.is_empty(), "{name}");
        assert_eq!(c.from.as_deref(), Some("alice@a.test"), "{name}");
    }
}

#[test]
fn a_human_reply_mentioning_an_absence_is_still_a_reply() {
    let c = fixture("human-reply.eml");
    assert_eq!(c.kind, Kind::Reply);
    assert_eq!(
        c.in_reply_to.as_deref(),
        Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@reachkit.example")
    );
    assert_eq!(c.from.as_deref(), Some("dana@acme.example"));
    assert!(c.text.contains("does Tuesday work?"));
}

#[test]
fn a_german_abwesenheitsnotiz_is_an_auto_reply() {
    let c = fixture("abwesenheitsnotiz.eml");
    assert_eq!(c.kind, Kind::AutoReply);
    assert_eq!(
        c.in_reply_to.as_deref(),
        Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c@reachkit.example")
    );
    assert!(c.text.contains("nicht im Büro"));
}

#[test]
fn an_html_only_reply_is_a_reply_with_text_derived_from_html() {
    let c = fixture("html-only-reply.eml");
    assert_eq!(c.kind, Kind::Reply);
    assert!(c.text.contains("interested"), "text: {:?}", c.text);
    assert!(!c.text.contains("<b>"), "text: {:?}", c.text);
    assert_eq!(
        c.references,
        [
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a00@reachkit.example",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d@reachkit.example"
        ]
    );
}

#[test]
fn an_auto_generated_notification_is_other_not_an_auto_reply() {
    let c = fixture("auto-generated-notification.eml");
    assert_eq!(c.kind, Kind::Other);
    assert_eq!(c.other, Some(OtherReason::Automated));
    assert_eq!(cli_json(&c), json!({"kind": "other", "bounce": null}));
}

#[test]
fn a_delay_notice_is_a_soft_bounce() {
    let c = fixture("delayed-dsn.eml");
    assert_eq!(c.kind, Kind::Bounce);
    let bounce = c.bounce.as_ref().expect("bounce details");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("0190a1b2-delayed@reachkit.example")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.recipient, "slow@far.example");
    assert_eq!(r.status.as_deref(), Some("4.4.1"));
    assert!(r.delayed);
    assert!(!r.hard);
}

#[test]
fn an_exim_quota_failure_is_a_soft_bounce_found_without_a_dsn() {
    let c = fixture("exim-quota.eml");
    assert_eq!(c.kind, Kind::Bounce);
    let bounce = c.bounce.as_ref().expect("bounce details");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("0190a1b2-exim@reachkit.example")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.recipient, "full@host.example");
    assert_eq!(r.status.as_deref(), Some("5.2.2"));
    assert_eq!(r.reason, BounceReason::MailboxFull);
    assert!(!r.hard);
    assert_eq!(
        cli_json(&c),
        json!({"kind": "bounce", "bounce": {"recipient": "full@host.example", "status": "5.2.2", "hard": false}})
    );
}

#[test]
fn feedback_reports_and_success_notices_are_other() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/bounces/eml");
    assert!(
        dir.is_dir(),
        "the bounce corpus is missing: expected {}",
        dir.display()
    );
    for (name, why) in [
        ("arf-01.eml", OtherReason::Complaint),
        ("arf-11.eml", OtherReason::Complaint),
        ("arf-16.eml", OtherReason::Complaint),
        ("rfc3464-28.eml", OtherReason::DeliveryReport),
    ] {
        let c = classify(&std::fs::read(dir.join(name)).expect("read corpus file"));
        assert_eq!(c.kind, Kind::Other, "{name}");
        assert_eq!(c.other, Some(why), "{name}");
        assert_eq!(
            cli_json(&c),
            json!({"kind": "other", "bounce": null}),
            "{name}"
        );
    }
}

#[test]
fn garbage_is_other() {
    let c = classify(b"");
    assert_eq!(c.kind, Kind::Other);
    assert_eq!(c.other, Some(OtherReason::Unparseable));
}
