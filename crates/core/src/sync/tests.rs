use std::collections::BTreeMap;
use std::sync::Mutex;

use time::macros::datetime;

use super::*;
use crate::classifier::MockAsyncReplyClassifier;
use crate::inboxes::Security;
use crate::secrets::AesGcmSecretBox;

const NOW: OffsetDateTime = datetime!(2026-11-30 15:00 UTC);

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
    }
}

/// A mailbox: folder -> (uidvalidity, messages by uid). Records what was fetched.
#[derive(Clone, Default)]
struct FakeReader {
    folders: BTreeMap<String, (u32, Vec<FetchedMessage>)>,
    fail: Option<ReadError>,
    fetches: Arc<Mutex<Vec<(String, u32)>>>,
    logins: Arc<Mutex<Vec<String>>>,
    settled: Settled,
}

/// (folder, uids, moved to INBOX) per `settle_warmup` call.
type Settled = Arc<Mutex<Vec<(String, Vec<u32>, bool)>>>;

struct FakeSession {
    reader: FakeReader,
    open: Option<String>,
}

#[async_trait]
impl MailboxReader for FakeReader {
    async fn open(&self, login: &ServerLogin) -> Result<Box<dyn MailboxSession>, ReadError> {
        self.logins.lock().expect("lock").push(format!(
            "{}:{}",
            login.username,
            login.password.expose()
        ));
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        Ok(Box::new(FakeSession {
            reader: self.clone(),
            open: None,
        }))
    }
}

#[async_trait]
impl MailboxSession for FakeSession {
    async fn folders(&mut self) -> Result<Vec<String>, ReadError> {
        Ok(self.reader.folders.keys().cloned().collect())
    }
    async fn examine(&mut self, folder: &str) -> Result<u32, ReadError> {
        self.open = Some(folder.to_owned());
        Ok(self.reader.folders[folder].0)
    }
    async fn fetch_after(
        &mut self,
        after: u32,
        limit: usize,
    ) -> Result<Vec<FetchedMessage>, ReadError> {
        let folder = self.open.clone().expect("a folder is open");
        self.reader
            .fetches
            .lock()
            .expect("lock")
            .push((folder.clone(), after));
        Ok(self.reader.folders[&folder]
            .1
            .iter()
            .filter(|m| m.uid > after)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn settle_warmup(
        &mut self,
        folder: &str,
        uids: &[u32],
        move_to_inbox: bool,
    ) -> Result<(), ReadError> {
        self.reader.settled.lock().expect("lock").push((
            folder.to_owned(),
            uids.to_vec(),
            move_to_inbox,
        ));
        Ok(())
    }
    async fn close(self: Box<Self>) {}
}

fn message(kind: InboundKind, text: &str) -> InboundMessage {
    InboundMessage {
        kind,
        message_id: Some(format!("{text}@x.test")),
        in_reply_to: None,
        references: Vec::new(),
        from: Some("ada@prospects.test".into()),
        to: Vec::new(),
        cc: Vec::new(),
        subject: "Re: hi".into(),
        text: text.into(),
        html: String::new(),
        date: None,
        attachments: Vec::new(),
        digest: "00".into(),
        warmup: None,
    }
}

/// The analyzer reads the raw bytes as "kind:text".
struct FakeAnalyzer;
impl InboundAnalyzer for FakeAnalyzer {
    fn analyze(&self, raw: &[u8]) -> InboundMessage {
        let raw = String::from_utf8_lossy(raw);
        let (kind, text) = raw.split_once(':').expect("kind:text");
        let kind = match kind {
            "reply" => InboundKind::Reply,
            "auto" => InboundKind::AutoReply,
            "bounce" => InboundKind::Bounce {
                recipients: Vec::new(),
                original_message_id: None,
            },
            _ => InboundKind::Other,
        };
        let mut m = message(kind, text);
        if let Some(token) = text.strip_prefix("warmup-") {
            m.warmup = Some(token.to_owned());
        }
        m
    }
}

struct KeywordClassifier;
impl ReplyClassifier for KeywordClassifier {
    fn classify(&self, text: &str) -> ReplyLabel {
        if text.contains("interested") {
            ReplyLabel::Interested
        } else {
            ReplyLabel::Neutral
        }
    }
}

fn fetched(uid: u32, raw: &str) -> FetchedMessage {
    FetchedMessage {
        uid,
        raw: raw.as_bytes().to_vec(),
    }
}

fn secrets() -> Arc<AesGcmSecretBox> {
    Arc::new(AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"))
}

fn inbox(secrets: &AesGcmSecretBox) -> SyncInbox {
    let id = InboxId::new();
    SyncInbox {
        id,
        workspace_id: WorkspaceId::new(),
        email: "alice@reachkit.test".into(),
        imap: ServerSettings {
            host: "imap.test".into(),
            port: 143,
            security: Security::None,
            username: "alice".into(),
        },
        imap_password: Some(
            secrets
                .seal(b"s3cret", &password_aad(id, PasswordField::Imap))
                .expect("seal"),
        ),
    }
}

type Batches = Arc<Mutex<Vec<InboundBatch>>>;
type Releases = Arc<Mutex<Vec<Option<String>>>>;

fn store(
    inbox: SyncInbox,
    checkpoints: BTreeMap<String, Checkpoint>,
) -> (MockSyncStore, Batches, Releases) {
    let mut store = MockSyncStore::new();
    store
        .expect_claim_due()
        .withf(|owner, now, due, lease, limit| {
            owner == "me"
                && *now == NOW
                && *due == NOW - Duration::seconds(60)
                && *lease == NOW + Duration::seconds(600)
                && *limit == INBOXES_PER_STEP
        })
        .times(1)
        .returning(move |_, _, _, _, _| Ok(vec![inbox.clone()]));
    store
        .expect_checkpoint()
        .returning(move |_, folder| Ok(checkpoints.get(folder).copied()));
    let batches: Batches = Arc::default();
    let b = batches.clone();
    store.expect_apply_batch().returning(move |owner, batch| {
        assert_eq!(owner, "me");
        b.lock().expect("lock").push(batch.clone());
        Ok(Some(BatchReport {
            replies: 1,
            ..BatchReport::default()
        }))
    });
    let releases: Releases = Arc::default();
    let r = releases.clone();
    store.expect_release().returning(move |_, _, at, error| {
        assert_eq!(at, NOW);
        r.lock().expect("lock").push(error);
        Ok(())
    });
    (store, batches, releases)
}

fn service(store: MockSyncStore, reader: FakeReader, secrets: Arc<AesGcmSecretBox>) -> SyncService {
    service_with(store, reader, secrets, Arc::new(KeywordClassifier))
}

fn service_with(
    store: MockSyncStore,
    reader: FakeReader,
    secrets: Arc<AesGcmSecretBox>,
    classifier: Arc<dyn AsyncReplyClassifier>,
) -> SyncService {
    SyncService::new(
        Arc::new(store),
        Arc::new(reader),
        Arc::new(FakeAnalyzer),
        classifier,
        secrets,
        Arc::new(FixedClock),
        SyncSettings::default(),
        "me".into(),
    )
}

#[tokio::test]
async fn new_messages_are_labelled_and_applied_with_the_checkpoint_and_the_lease_is_released() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader.folders.insert(
        "INBOX".into(),
        (
            7,
            vec![
                fetched(3, "reply:I am interested"),
                fetched(4, "auto:away"),
                fetched(9, "bounce:x"),
                fetched(10, "other:news"),
            ],
        ),
    );
    reader.folders.insert("Junk".into(), (8, Vec::new()));
    let logins = reader.logins.clone();
    let fetches = reader.fetches.clone();
    let checkpoints = BTreeMap::from([(
        "INBOX".to_owned(),
        Checkpoint {
            uidvalidity: 7,
            last_uid: 2,
        },
    )]);
    let (store, batches, releases) = store(ibx.clone(), checkpoints);
    let report = service(store, reader, secrets)
        .sync_due(NOW)
        .await
        .expect("sync");
    assert_eq!((report.inboxes, report.failed), (1, 0));
    assert_eq!(logins.lock().expect("lock").as_slice(), ["alice:s3cret"]);
    assert!(
        fetches
            .lock()
            .expect("lock")
            .contains(&("INBOX".to_owned(), 2))
    );
    let batches = batches.lock().expect("lock");
    let inbox_batch = batches.iter().find(|b| b.folder == "INBOX").expect("INBOX");
    assert_eq!(
        inbox_batch.checkpoint,
        Checkpoint {
            uidvalidity: 7,
            last_uid: 10
        }
    );
    let labels: Vec<Option<ReplyLabel>> = inbox_batch.items.iter().map(|i| i.label).collect();
    assert_eq!(
        labels,
        [
            Some(ReplyLabel::Interested),
            Some(ReplyLabel::OutOfOffice),
            None,
            None
        ]
    );
    assert_eq!(inbox_batch.inbox_id, ibx.id);
    // The empty spam folder records its UIDVALIDITY with no messages.
    let junk = batches.iter().find(|b| b.folder == "Junk").expect("Junk");
    assert_eq!(
        junk.checkpoint,
        Checkpoint {
            uidvalidity: 8,
            last_uid: 0
        }
    );
    assert!(junk.items.is_empty());
    assert_eq!(releases.lock().expect("lock").as_slice(), [None]);
}

#[tokio::test]
async fn replies_are_labelled_through_the_async_classifier_port_before_their_batch_reaches_the_store()
 {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader.folders.insert(
        "INBOX".into(),
        (
            7,
            vec![
                fetched(1, "reply:Could we talk on Tuesday?"),
                fetched(2, "auto:away"),
                fetched(3, "bounce:x"),
                fetched(4, "other:news"),
            ],
        ),
    );
    let (store, batches, _) = store(ibx, BTreeMap::new());
    let mut classifier = MockAsyncReplyClassifier::new();
    let seen = batches.clone();
    // Only the human reply is classified (auto-replies are out_of_office without asking), and
    // before any batch is applied: the store's transaction never waits for the classifier.
    classifier
        .expect_classify_reply()
        .withf(|text| text == "Could we talk on Tuesday?")
        .times(1)
        .returning(move |_| {
            assert!(seen.lock().expect("lock").is_empty());
            ReplyLabel::MeetingRequested
        });
    service_with(store, reader, secrets, Arc::new(classifier))
        .sync_due(NOW)
        .await
        .expect("sync");
    let batches = batches.lock().expect("lock");
    let labels: Vec<Option<ReplyLabel>> = batches[0].items.iter().map(|i| i.label).collect();
    assert_eq!(
        labels,
        [
            Some(ReplyLabel::MeetingRequested),
            Some(ReplyLabel::OutOfOffice),
            None,
            None
        ]
    );
}

#[tokio::test]
async fn a_changed_uidvalidity_rescans_the_folder_from_the_start() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader
        .folders
        .insert("INBOX".into(), (99, vec![fetched(1, "reply:hello")]));
    let fetches = reader.fetches.clone();
    let checkpoints = BTreeMap::from([(
        "INBOX".to_owned(),
        Checkpoint {
            uidvalidity: 7,
            last_uid: 40,
        },
    )]);
    let (store, batches, _) = store(ibx, checkpoints);
    service(store, reader, secrets)
        .sync_due(NOW)
        .await
        .expect("sync");
    assert_eq!(fetches.lock().expect("lock")[0], ("INBOX".to_owned(), 0));
    assert_eq!(
        batches.lock().expect("lock")[0].checkpoint,
        Checkpoint {
            uidvalidity: 99,
            last_uid: 1
        }
    );
}

#[tokio::test]
async fn nothing_new_after_the_checkpoint_applies_nothing() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader
        .folders
        .insert("INBOX".into(), (7, vec![fetched(5, "reply:hello")]));
    let checkpoints = BTreeMap::from([(
        "INBOX".to_owned(),
        Checkpoint {
            uidvalidity: 7,
            last_uid: 5,
        },
    )]);
    let (store, batches, releases) = store(ibx, checkpoints);
    service(store, reader, secrets)
        .sync_due(NOW)
        .await
        .expect("sync");
    assert!(batches.lock().expect("lock").is_empty());
    assert_eq!(releases.lock().expect("lock").as_slice(), [None]);
}

#[tokio::test]
async fn a_refused_login_is_recorded_on_the_lease_and_the_step_goes_on() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let reader = FakeReader {
        fail: Some(ReadError::Auth("NO bad credentials".into())),
        ..FakeReader::default()
    };
    let (store, batches, releases) = store(ibx, BTreeMap::new());
    let report = service(store, reader, secrets)
        .sync_due(NOW)
        .await
        .expect("sync");
    assert_eq!((report.inboxes, report.failed), (1, 1));
    assert!(batches.lock().expect("lock").is_empty());
    let releases = releases.lock().expect("lock");
    let error = releases[0].as_deref().expect("an error");
    assert!(error.contains("NO bad credentials"));
    assert!(!error.contains("s3cret"));
}

#[test]
fn the_dedupe_key_is_the_message_id_else_the_digest_and_answered_ids_put_in_reply_to_first() {
    let mut m = message(InboundKind::Reply, "x");
    m.in_reply_to = Some("b@x".into());
    m.references = vec!["a@x".into(), "b@x".into()];
    assert_eq!(m.key(), "mid:x@x.test");
    assert_eq!(m.answered_ids(), ["b@x", "a@x"]);
    m.message_id = None;
    assert_eq!(m.key(), "sha256:00");
}

type Recorded = Arc<Mutex<Vec<(Vec<crate::warmup::WarmupReceipt>, OffsetDateTime)>>>;

fn warmup_receiver(known: &'static [&'static str], share: u8) -> (WarmupReceiver, Recorded) {
    let mut store = crate::warmup::MockWarmupStore::new();
    store.expect_known_tokens().returning(move |_, tokens| {
        Ok(tokens
            .iter()
            .filter(|t| known.contains(&t.as_str()))
            .cloned()
            .collect())
    });
    let recorded: Recorded = Arc::default();
    let r = recorded.clone();
    store
        .expect_record_received()
        .returning(move |_, receipts, now| {
            r.lock().expect("lock").push((receipts.to_vec(), now));
            Ok(())
        });
    (WarmupReceiver::new(Arc::new(store), share), recorded)
}

#[tokio::test]
async fn warmup_emails_are_settled_recorded_and_kept_out_of_the_batches() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader.folders.insert(
        "INBOX".into(),
        (
            7,
            vec![
                fetched(3, "reply:warmup-aaa"),
                fetched(4, "reply:I am interested"),
                // A marker nobody here sent: ordinary mail.
                fetched(5, "reply:warmup-forged"),
            ],
        ),
    );
    reader
        .folders
        .insert("Junk".into(), (8, vec![fetched(2, "other:warmup-bbb")]));
    let settled = reader.settled.clone();
    let (store, batches, _) = store(ibx, BTreeMap::new());
    let (receiver, recorded) = warmup_receiver(&["aaa", "bbb"], 100);
    let service = service(store, reader, secrets).with_warmup(receiver);
    service.sync_due(NOW).await.expect("sync");

    assert_eq!(
        *settled.lock().expect("lock"),
        vec![
            ("INBOX".to_owned(), vec![3], false),
            ("Junk".to_owned(), vec![2], true),
        ]
    );
    let recorded = recorded.lock().expect("lock");
    let flags: Vec<(String, bool, bool, bool)> = recorded
        .iter()
        .flat_map(|(r, _)| r.iter())
        .map(|r| (r.token.clone(), r.in_spam, r.saved, r.reply_wanted))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("aaa".to_owned(), false, false, true),
            ("bbb".to_owned(), true, true, true),
        ]
    );
    let batches = batches.lock().expect("lock");
    let texts: Vec<&str> = batches
        .iter()
        .flat_map(|b| b.items.iter())
        .map(|i| i.message.text.as_str())
        .collect();
    assert_eq!(texts, vec!["I am interested", "warmup-forged"]);
    // The checkpoints still move past the warmup emails.
    let last: Vec<(String, u32)> = batches
        .iter()
        .map(|b| (b.folder.clone(), b.checkpoint.last_uid))
        .collect();
    assert_eq!(last, vec![("INBOX".to_owned(), 5), ("Junk".to_owned(), 2)]);
}

#[tokio::test]
async fn without_a_warmup_receiver_marked_mail_is_ordinary_mail() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut reader = FakeReader::default();
    reader
        .folders
        .insert("INBOX".into(), (7, vec![fetched(3, "reply:warmup-aaa")]));
    let settled = reader.settled.clone();
    let (store, batches, _) = store(ibx, BTreeMap::new());
    service(store, reader, secrets)
        .sync_due(NOW)
        .await
        .expect("sync");
    assert!(settled.lock().expect("lock").is_empty());
    assert_eq!(batches.lock().expect("lock")[0].items.len(), 1);
}
