use std::collections::VecDeque;

use time::macros::datetime;

use super::*;
use crate::ids::WorkspaceId;
use crate::inboxes::{PasswordField, Security, ServerSettings, password_aad};
use crate::secrets::AesGcmSecretBox;

const NOW: OffsetDateTime = datetime!(2026-11-30 15:00 UTC);

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        NOW
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

/// Answers each wait with the next scripted outcome; records the longest wait asked for.
struct ScriptedSession {
    outcomes: VecDeque<Result<bool, ReadError>>,
    waits: Vec<StdDuration>,
}

#[async_trait]
impl IdleSession for ScriptedSession {
    async fn wait(&mut self, max: StdDuration) -> Result<bool, ReadError> {
        self.waits.push(max);
        self.outcomes.pop_front().expect("a scripted outcome")
    }
    async fn close(self: Box<Self>) {}
}

fn service(
    store: MockWatchStore,
    watcher: MockMailboxWatcher,
    secrets: Arc<AesGcmSecretBox>,
) -> WatchService {
    WatchService::new(
        Arc::new(store),
        Arc::new(watcher),
        secrets,
        Arc::new(FixedClock),
        WatchSettings {
            max_inboxes: 7,
            lease_seconds: 90,
        },
        "me".into(),
    )
}

#[tokio::test]
async fn claiming_renews_and_takes_watch_leases_up_to_the_process_limit() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut store = MockWatchStore::new();
    let returned = ibx.clone();
    store
        .expect_claim_watches()
        .withf(|owner, now, until, limit| {
            owner == "me" && *now == NOW && *until == NOW + Duration::seconds(90) && *limit == 7
        })
        .times(1)
        .returning(move |_, _, _, _| Ok(vec![returned.clone()]));
    let watched = service(store, MockMailboxWatcher::new(), secrets)
        .claim()
        .await
        .expect("claim");
    assert_eq!(watched, [ibx]);
}

#[tokio::test]
async fn connecting_logs_in_with_the_opened_password_and_a_server_without_idle_gives_none() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut watcher = MockMailboxWatcher::new();
    watcher
        .expect_connect()
        .withf(|login| {
            login.host == "imap.test"
                && login.port == 143
                && login.username == "alice"
                && login.password.expose() == "s3cret"
        })
        .times(1)
        .returning(|_| Ok(None));
    let session = service(MockWatchStore::new(), watcher, secrets)
        .connect(&ibx)
        .await
        .expect("connect");
    assert!(session.is_none());
}

#[tokio::test]
async fn an_undecryptable_password_is_an_auth_error_and_no_connection_is_attempted() {
    let ibx = inbox(&secrets());
    // Another key: the sealed password cannot be opened.
    let mut watcher = MockMailboxWatcher::new();
    watcher.expect_connect().never();
    let error = service(MockWatchStore::new(), watcher, secrets())
        .connect(&ibx)
        .await
        .err()
        .expect("an error");
    assert!(matches!(error, ReadError::Auth(_)), "{error:?}");
}

#[tokio::test]
async fn new_mail_reported_by_idle_wakes_the_inbox_and_a_quiet_renewal_does_not() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let id = ibx.id;
    let mut store = MockWatchStore::new();
    store
        .expect_wake()
        .withf(move |inbox, now| *inbox == id && *now == NOW)
        .times(1)
        .returning(|_, _| Ok(()));
    let service = service(store, MockMailboxWatcher::new(), secrets);
    let mut session = ScriptedSession {
        outcomes: VecDeque::from([
            Ok(false),
            Ok(true),
            Err(ReadError::Connection("reset".into())),
        ]),
        waits: Vec::new(),
    };
    assert!(!service.idle_once(id, &mut session).await.expect("quiet"));
    assert!(service.idle_once(id, &mut session).await.expect("new mail"));
    let error = service
        .idle_once(id, &mut session)
        .await
        .expect_err("error");
    assert!(matches!(error, WatchError::Read(ReadError::Connection(_))));
    // IDLE is re-issued at most every 29 minutes (RFC 2177).
    assert!(session.waits.iter().all(|w| *w == IDLE_RENEW));
    assert_eq!(IDLE_RENEW, StdDuration::from_secs(29 * 60));
}

#[tokio::test]
async fn a_wake_that_cannot_be_stored_is_reported_as_a_store_error() {
    let secrets = secrets();
    let ibx = inbox(&secrets);
    let mut store = MockWatchStore::new();
    store
        .expect_wake()
        .returning(|_, _| Err(StoreError::Unavailable(anyhow::anyhow!("db down"))));
    let service = service(store, MockMailboxWatcher::new(), secrets);
    let mut session = ScriptedSession {
        outcomes: VecDeque::from([Ok(true)]),
        waits: Vec::new(),
    };
    let error = service
        .idle_once(ibx.id, &mut session)
        .await
        .expect_err("error");
    assert!(matches!(error, WatchError::Store(_)));
}

#[tokio::test]
async fn releasing_gives_up_the_owners_watch_leases() {
    let mut store = MockWatchStore::new();
    store
        .expect_release_watches()
        .withf(|owner| owner == "me")
        .times(1)
        .returning(|_| Ok(()));
    service(store, MockMailboxWatcher::new(), secrets())
        .release()
        .await
        .expect("release");
}
