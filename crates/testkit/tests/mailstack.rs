//! Smoke tests of the private mail stack (`scripts/mailstack`, started by `scripts/test`): what the
//! engine, sync and warmup tests rely on. They fail, never skip, when the stack's variables are
//! missing.

use std::net::SocketAddr;
use std::time::Duration;

use reachkit_domain::esp::Provider;
use reachkit_testkit::mailstack::{MailStack, contains, smtp_reply_code};
use tokio::net::UdpSocket;

/// Upper bound for a delivery that normally takes tens of milliseconds; only a failure waits it.
const DELIVERY: Duration = Duration::from_secs(20);

fn stack() -> MailStack {
    MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"))
}

/// A token unique to this test run, to find our own messages in shared mailboxes.
fn token(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

fn message(from: &str, to: &str, token: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: mailstack smoke {token}\r\n\
         Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{token}@reachkit.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello {token}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn the_environment_describes_five_sending_inboxes_a_sink_and_the_special_recipients() {
    let stack = stack();
    let names: Vec<&str> = stack.users.iter().map(|u| u.address.as_str()).collect();
    assert_eq!(
        names,
        [
            "alice@reachkit.test",
            "bob@reachkit.test",
            "carol@reachkit.test",
            "dave@reachkit.test",
            "erin@reachkit.test"
        ]
    );
    assert_eq!(stack.user("alice").unwrap().password, "alice-pass");
    assert_eq!(stack.sink.address, "sink@sink.test");
    assert_eq!(stack.reject_rcpt, "nobody@prospects.test");
    assert_eq!(stack.tempfail_rcpt, "greylist@prospects.test");
    assert!(stack.outside_domains.contains(&"prospects.test".to_owned()));
}

#[tokio::test]
async fn alice_reaches_bob_in_his_inbox_and_an_outside_address_in_the_sink() {
    let stack = stack();
    let alice = stack.user("alice").unwrap().clone();
    let bob = stack.user("bob").unwrap().clone();
    let outside = "jane@prospects.test";
    let id = token("to-bob-and-outside");
    stack
        .send_raw(
            &alice.address,
            &[&bob.address, outside],
            &message(&alice.address, &bob.address, &id),
        )
        .await
        .unwrap();

    let at_bob = stack
        .wait_for_message(&bob.address, &bob.password, "INBOX", &id, DELIVERY)
        .await
        .unwrap();
    assert!(contains(&at_bob, b"Return-Path: <alice@reachkit.test>"));

    let in_sink = stack
        .wait_for_message(
            &stack.sink.address,
            &stack.sink.password,
            "INBOX",
            &id,
            DELIVERY,
        )
        .await
        .unwrap();
    assert!(
        contains(
            &in_sink,
            b"Delivered-To: sink+jane=prospects.test@sink.test"
        ),
        "the sink copy names the outside recipient"
    );
}

#[tokio::test]
async fn the_reject_recipient_is_refused_at_rcpt_with_550() {
    let stack = stack();
    let id = token("reject");
    let error = stack
        .send_raw(
            "alice",
            &[&stack.reject_rcpt],
            &message("alice@reachkit.test", &stack.reject_rcpt, &id),
        )
        .await
        .expect_err("the 550 recipient must be refused");
    assert_eq!(smtp_reply_code(&error), Some(550), "{error:#}");
    assert!(format!("{error:#}").contains("5.1.1"), "{error:#}");
}

#[tokio::test]
async fn the_tempfail_recipient_is_refused_at_rcpt_with_451() {
    let stack = stack();
    let id = token("tempfail");
    let error = stack
        .send_raw(
            "bob",
            &[&stack.tempfail_rcpt],
            &message("bob@reachkit.test", &stack.tempfail_rcpt, &id),
        )
        .await
        .expect_err("the 451 recipient must be refused for now");
    assert_eq!(smtp_reply_code(&error), Some(451), "{error:#}");
}

#[tokio::test]
async fn submission_refuses_a_wrong_password() {
    let mut stack = stack();
    stack.users[0].password = "not-the-password".to_owned();
    let error = stack
        .send_raw("alice", &["bob@reachkit.test"], b"Subject: x\r\n\r\nx\r\n")
        .await
        .expect_err("a wrong password must not send");
    assert_eq!(smtp_reply_code(&error), Some(535), "{error:#}");
}

#[tokio::test]
async fn the_junk_senders_mail_lands_in_the_junk_recipients_junk_and_in_other_inboxes() {
    let stack = stack();
    let sender = stack.junk_sender.clone();
    let junk_rcpt = stack.user(&stack.junk_recipient).unwrap().clone();
    let other = stack
        .users
        .iter()
        .find(|u| u.address != sender && u.address != junk_rcpt.address)
        .unwrap()
        .clone();
    let id = token("junk");
    stack
        .send_raw(
            &sender,
            &[&junk_rcpt.address, &other.address],
            &message(&sender, &junk_rcpt.address, &id),
        )
        .await
        .unwrap();

    stack
        .wait_for_message(
            &junk_rcpt.address,
            &junk_rcpt.password,
            "Junk",
            &id,
            DELIVERY,
        )
        .await
        .unwrap();
    // Delivery to one recipient is atomic: once in Junk, it is not also in INBOX.
    let inbox = stack
        .fetch_all(&junk_rcpt.address, &junk_rcpt.password, "INBOX")
        .await
        .unwrap();
    assert!(!inbox.iter().any(|m| contains(m, id.as_bytes())));
    // The rule is about that one recipient: the other copy is in an ordinary INBOX.
    stack
        .wait_for_message(&other.address, &other.password, "INBOX", &id, DELIVERY)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_prospect_reply_on_the_mx_port_reaches_the_inbox_without_auth() {
    let stack = stack();
    let carol = stack.user("carol").unwrap().clone();
    let id = token("reply");
    stack
        .send_inbound(
            "lead@prospects.test",
            &[&carol.address],
            &message("lead@prospects.test", &carol.address, &id),
        )
        .await
        .unwrap();
    stack
        .wait_for_message(&carol.address, &carol.password, "INBOX", &id, DELIVERY)
        .await
        .unwrap();

    let error = stack
        .send_inbound(
            "lead@prospects.test",
            &["someone@gmail-like.test"],
            &message("lead@prospects.test", "someone@gmail-like.test", &id),
        )
        .await
        .expect_err("the MX port does not relay");
    assert_eq!(smtp_reply_code(&error), Some(554), "{error:#}");
}

#[tokio::test]
async fn the_trusted_relay_port_sends_to_outside_addresses_without_auth() {
    let stack = stack();
    let id = token("relay");
    stack
        .send_relayed(
            "dave@reachkit.test",
            &["max@gmail-like.test"],
            &message("dave@reachkit.test", "max@gmail-like.test", &id),
        )
        .await
        .unwrap();
    let captured = stack
        .wait_for_message(
            &stack.sink.address,
            &stack.sink.password,
            "INBOX",
            &id,
            DELIVERY,
        )
        .await
        .unwrap();
    assert!(contains(
        &captured,
        b"Delivered-To: sink+max=gmail-like.test@sink.test"
    ));
}

#[tokio::test]
async fn an_unknown_local_user_and_the_bounce_recipient_produce_dsns_to_the_sender() {
    let stack = stack();
    let erin = stack.user("erin").unwrap().clone();
    for rcpt in [&stack.unknown_local_rcpt, &stack.bounce_rcpt] {
        let id = token("dsn");
        stack
            .send_raw(&erin.address, &[rcpt], &message(&erin.address, rcpt, &id))
            .await
            .unwrap();
        let dsn = stack
            .wait_for_message(&erin.address, &erin.password, "INBOX", &id, DELIVERY)
            .await
            .unwrap();
        assert!(
            contains(&dsn, b"report-type=delivery-status"),
            "a DSN for {rcpt}"
        );
        assert!(contains(&dsn, b"Status: 5.1.1"), "a hard bounce for {rcpt}");
    }
}

// --- a minimal DNS client: one MX question over UDP ---

/// The answer to an MX query: the response code and the (preference, host) records.
#[derive(Debug)]
struct MxAnswer {
    rcode: u8,
    records: Vec<(u16, String)>,
}

fn read_name(packet: &[u8], mut at: usize) -> (String, usize) {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = usize::from(packet[at]);
        if len == 0 {
            at += 1;
            break;
        }
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = (len & 0x3F) << 8 | usize::from(packet[at + 1]);
            continue;
        }
        labels.push(String::from_utf8_lossy(&packet[at + 1..at + 1 + len]).into_owned());
        at += 1 + len;
    }
    (labels.join("."), end.unwrap_or(at))
}

fn u16_at(packet: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([packet[at], packet[at + 1]])
}

async fn query_mx(server: SocketAddr, domain: &str) -> MxAnswer {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in domain.split('.') {
        query.push(u8::try_from(label.len()).unwrap());
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 15, 0, 1]);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&query, server).await.unwrap();
    let mut packet = vec![0; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut packet))
        .await
        .expect("dnsmasq answers within 5 s")
        .unwrap();
    packet.truncate(len);
    assert_eq!(&packet[..2], &[0x12, 0x34], "the answer to our query");
    let rcode = packet[3] & 0x0F;
    let answers = u16_at(&packet, 6);
    let (_, mut at) = read_name(&packet, 12);
    at += 4;
    let mut records = Vec::new();
    for _ in 0..answers {
        let (_, next) = read_name(&packet, at);
        let kind = u16_at(&packet, next);
        let rdlen = usize::from(u16_at(&packet, next + 8));
        let rdata = next + 10;
        if kind == 15 {
            let (host, _) = read_name(&packet, rdata + 2);
            records.push((u16_at(&packet, rdata), host));
        }
        at = rdata + rdlen;
    }
    records.sort();
    MxAnswer { rcode, records }
}

#[tokio::test]
async fn dnsmasq_answers_mx_records_that_name_each_provider() {
    let stack = stack();
    assert!(stack.esp_domains.len() >= 5);
    for (domain, provider) in &stack.esp_domains {
        let answer = query_mx(stack.dns, domain).await;
        assert_eq!(answer.rcode, 0, "{domain}: NOERROR");
        let detected = Provider::from_mx_hosts(answer.records.iter().map(|(_, h)| h.as_str()));
        assert_eq!(detected.as_str(), provider, "{domain}: {answer:?}");
    }

    let google = query_mx(stack.dns, "google-lead.test").await;
    assert_eq!(
        google.records,
        [
            (1, "aspmx.l.google.com".to_owned()),
            (5, "alt1.aspmx.l.google.com".to_owned())
        ]
    );
    let ms = query_mx(stack.dns, "ms-lead.test").await;
    assert_eq!(
        ms.records,
        [(0, "ms-lead-test.mail.protection.outlook.com".to_owned())]
    );

    let nomx = query_mx(stack.dns, "nomx-lead.test").await;
    assert_eq!((nomx.rcode, nomx.records.len()), (0, 0), "NODATA");
    let unknown = query_mx(stack.dns, "no-such-domain.test").await;
    assert_eq!(unknown.rcode, 3, "NXDOMAIN");
}

#[tokio::test]
async fn a_vacation_script_set_over_managesieve_answers_the_sender() {
    let stack = stack();
    let alice = stack.user("alice").unwrap().clone();
    let bob = stack.user("bob").unwrap().clone();
    let script = format!(
        "require [\"vacation\", \"vacation-seconds\"];\r\n\
         vacation :seconds 0 :subject \"Out of office\" :addresses [\"{}\"] \
         \"I am away until Monday.\";\r\n",
        alice.address
    );
    stack
        .set_sieve_script(&alice.address, &alice.password, "vacation", Some(&script))
        .await
        .unwrap();
    let id = token("vacation");
    let sent = stack
        .send_raw(
            &bob.address,
            &[&alice.address],
            &message(&bob.address, &alice.address, &id),
        )
        .await;
    let reply = match sent {
        Ok(()) => {
            stack
                .wait_for_message(&bob.address, &bob.password, "INBOX", &id, DELIVERY)
                .await
        }
        Err(e) => Err(e),
    };
    stack
        .set_sieve_script(&alice.address, &alice.password, "vacation", None)
        .await
        .unwrap();
    let reply = reply.unwrap();
    assert!(contains(&reply, b"Auto-Submitted: auto-replied"));
    assert!(contains(&reply, b"Subject: Out of office"));
}

#[tokio::test]
async fn a_recipient_switched_to_tempfail_gets_451_until_switched_back() {
    let stack = stack();
    let id = token("flaky");
    let address = format!("{id}@prospects.test");
    let mail = message("carol@reachkit.test", &address, &id);

    stack.set_tempfail(&address, true).await.unwrap();
    let error = stack
        .send_raw("carol", &[&address], &mail)
        .await
        .expect_err("451 while switched on");
    assert_eq!(smtp_reply_code(&error), Some(451), "{error:#}");

    stack.set_tempfail(&address, false).await.unwrap();
    stack.send_raw("carol", &[&address], &mail).await.unwrap();
    stack
        .wait_for_message(
            &stack.sink.address,
            &stack.sink.password,
            "INBOX",
            &id,
            DELIVERY,
        )
        .await
        .unwrap();
}
