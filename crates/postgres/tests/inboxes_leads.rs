//! Inboxes and leads in PostgreSQL: counters, duplicates under concurrency, cascades, isolation
//! and encrypted passwords. A fresh database per test.

use std::sync::Arc;

use diesel::sql_types::{Bytea, Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::blocklist::ListQuery;
use reachkit_core::connection_check::{ConnectionCheckRepository, STALE_CLAIM};
use reachkit_core::ids::{CampaignId, InboxId, WorkspaceId};
use reachkit_core::inboxes::{
    ConnectionStatus, InboxChanges, InboxRepository, InboxService, InboxSort, NewInboxInput,
    PasswordField, ServerInput, password_aad,
};
use reachkit_core::leads::{LeadService, LeadSort, NewLeadInput};
use reachkit_core::paging::{PageRequest, SortOrder};
use reachkit_core::secrets::{AesGcmSecretBox, Password, SecretBox};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_domain::lead::LeadStatus;
use reachkit_postgres::{PgInboxRepository, PgLeadRepository, PgWorkspaceRepository};
use reachkit_testkit::{
    SettableClock, TestDatabase, attach_inbox, execute, insert_campaign, lead_counters,
};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-30 09:00:00.123456 UTC);

async fn database() -> TestDatabase {
    match TestDatabase::create().await {
        Ok(db) => db,
        Err(e) => panic!("cannot create a test database: {e:#}"),
    }
}

async fn workspace(db: &TestDatabase, name: &str) -> WorkspaceId {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        created_at: T0,
        updated_at: T0,
    };
    PgWorkspaceRepository::new(db.db.clone())
        .insert(&ws)
        .await
        .expect("insert workspace");
    ws.id
}

fn secret_box() -> Arc<AesGcmSecretBox> {
    Arc::new(AesGcmSecretBox::from_base64(&AesGcmSecretBox::generate_key_base64()).expect("key"))
}

struct Inboxes {
    service: InboxService,
    repo: Arc<PgInboxRepository>,
    secrets: Arc<AesGcmSecretBox>,
}

fn inboxes(db: &TestDatabase) -> Inboxes {
    let repo = Arc::new(PgInboxRepository::new(db.db.clone()));
    let secrets = secret_box();
    Inboxes {
        service: InboxService::new(
            repo.clone(),
            secrets.clone(),
            Arc::new(SettableClock::new(T0)),
        ),
        repo,
        secrets,
    }
}

fn leads(db: &TestDatabase) -> LeadService {
    LeadService::new(
        Arc::new(PgLeadRepository::new(db.db.clone())),
        Arc::new(SettableClock::new(T0)),
    )
}

fn server(user: &str, password: &str) -> ServerInput {
    ServerInput {
        host: "mail.acme.com".into(),
        port: 587,
        security: "starttls".into(),
        username: user.into(),
        password: Password::new(password),
    }
}

fn new_inbox(email: &str) -> NewInboxInput {
    NewInboxInput {
        email: email.into(),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        provider: None,
        smtp: server(email, "smtp-Secret-1"),
        imap: server(email, "imap-Secret-2"),
    }
}

fn lead(email: &str) -> NewLeadInput {
    NewLeadInput {
        email: email.into(),
        ..NewLeadInput::default()
    }
}

#[derive(diesel::QueryableByName)]
struct Passwords {
    #[diesel(sql_type = Nullable<Bytea>)]
    smtp_password: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    imap_password: Option<Vec<u8>>,
}

async fn stored_passwords(db: &TestDatabase, id: InboxId) -> Passwords {
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    diesel::sql_query("SELECT smtp_password, imap_password FROM inboxes WHERE id = $1")
        .bind::<SqlUuid, _>(id.as_uuid())
        .get_result(&mut conn)
        .await
        .expect("passwords")
}

#[tokio::test]
async fn stored_passwords_are_ciphertext_that_opens_only_for_its_own_row_and_column() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let i = inboxes(&db);
    let one = i
        .service
        .create(ws, &new_inbox("one@acme.com"))
        .await
        .expect("one");
    let two = i
        .service
        .create(ws, &new_inbox("two@acme.com"))
        .await
        .expect("two");
    let stored = stored_passwords(&db, one.id).await;
    let smtp = stored.smtp_password.expect("smtp sealed");
    let imap = stored.imap_password.expect("imap sealed");
    for (sealed, clear) in [(&smtp, "smtp-Secret-1"), (&imap, "imap-Secret-2")] {
        assert!(
            !sealed.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "the clear password is in the table"
        );
    }
    assert_eq!(
        i.secrets
            .open(&smtp, &password_aad(one.id, PasswordField::Smtp))
            .as_deref(),
        Ok(b"smtp-Secret-1".as_slice())
    );
    assert!(
        i.secrets
            .open(&smtp, &password_aad(two.id, PasswordField::Smtp))
            .is_err()
    );
    assert!(
        i.secrets
            .open(&smtp, &password_aad(one.id, PasswordField::Imap))
            .is_err()
    );
    // Same password, different rows: different bytes (fresh nonces).
    let other = stored_passwords(&db, two.id)
        .await
        .smtp_password
        .expect("sealed");
    assert_ne!(smtp, other);
}

#[tokio::test]
async fn a_workspace_has_each_address_once_and_a_delete_frees_it() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let other = workspace(&db, "B").await;
    let i = inboxes(&db);
    let first = i
        .service
        .create(ws, &new_inbox("sales@acme.com"))
        .await
        .expect("first");
    assert!(matches!(
        i.service.create(ws, &new_inbox("SALES@acme.com")).await,
        Err(reachkit_core::inboxes::InboxError::Duplicate)
    ));
    // Another workspace may use the same address.
    i.service
        .create(other, &new_inbox("sales@acme.com"))
        .await
        .expect("other workspace");
    // B can neither see nor delete A's inbox.
    assert!(i.repo.get(other, first.id).await.expect("get").is_none());
    assert!(!i.repo.delete(other, first.id).await.expect("delete"));
    i.service.delete(ws, first.id).await.expect("delete");
    i.service
        .create(ws, &new_inbox("sales@acme.com"))
        .await
        .expect("address freed");
}

#[tokio::test]
async fn listing_searches_sorts_pages_and_stays_in_the_workspace() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let other = workspace(&db, "B").await;
    let i = inboxes(&db);
    for address in ["carol@acme.com", "alice@acme.com", "bob@globex.com"] {
        i.service
            .create(ws, &new_inbox(address))
            .await
            .expect("create");
    }
    i.service
        .create(other, &new_inbox("alice@acme.com"))
        .await
        .expect("create");
    let query = |search: Option<&str>, sort, order| ListQuery {
        page: PageRequest::new(None, Some(2), 30).expect("page"),
        search: search.map(str::to_owned),
        sort,
        order,
    };
    let page = i
        .repo
        .list(ws, &query(None, InboxSort::Email, SortOrder::Asc))
        .await
        .expect("list");
    let emails: Vec<&str> = page.items.iter().map(|x| x.email.as_str()).collect();
    assert_eq!(emails, ["alice@acme.com", "bob@globex.com"]);
    assert_eq!(page.total_count, 3);
    let page = i
        .repo
        .list(ws, &query(Some("acme"), InboxSort::Email, SortOrder::Desc))
        .await
        .expect("list");
    let emails: Vec<&str> = page.items.iter().map(|x| x.email.as_str()).collect();
    assert_eq!(emails, ["carol@acme.com", "alice@acme.com"]);
    assert_eq!(page.total_count, 2);
    let by_name = i
        .repo
        .list(
            ws,
            &query(Some("ann"), InboxSort::CreatedAt, SortOrder::Desc),
        )
        .await
        .expect("list");
    assert_eq!(by_name.total_count, 3, "first names match too");
    let none = i
        .repo
        .list(ws, &query(Some("%"), InboxSort::UpdatedAt, SortOrder::Asc))
        .await
        .expect("list");
    assert_eq!(none.total_count, 0, "% matches literally");
}

#[tokio::test]
async fn show_lists_the_inboxes_campaigns_and_deletes_cascade_both_ways() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let i = inboxes(&db);
    let inbox = i
        .service
        .create(ws, &new_inbox("sales@acme.com"))
        .await
        .expect("inbox");
    let c1 = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let c2 = insert_campaign(&db, ws, "Q2").await.expect("campaign");
    attach_inbox(&db, ws, c1, inbox.id).await.expect("attach");
    attach_inbox(&db, ws, c2, inbox.id).await.expect("attach");
    let detail = i.service.get(ws, inbox.id).await.expect("show");
    let names: Vec<&str> = detail.campaigns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Q1") && names.contains(&"Q2"));
    assert!(
        detail
            .campaigns
            .iter()
            .all(|c| c.status.as_str() == "draft")
    );

    execute(&db.url, &format!("DELETE FROM campaigns WHERE id = '{c1}'"))
        .await
        .expect("delete campaign");
    let detail = i.service.get(ws, inbox.id).await.expect("show");
    assert_eq!(detail.campaigns.len(), 1);

    i.service.delete(ws, inbox.id).await.expect("delete inbox");
    let left = execute(
        &db.url,
        &format!("UPDATE campaign_inboxes SET created_at = now() WHERE campaign_id = '{c2}'"),
    )
    .await
    .expect("count");
    assert_eq!(left, 0, "the attachment went with the inbox");
}

#[tokio::test]
async fn an_update_applies_every_field_together_and_new_credentials_reset_the_check() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let i = inboxes(&db);
    let inbox = i
        .service
        .create(ws, &new_inbox("sales@acme.com"))
        .await
        .expect("inbox");
    execute(
        &db.url,
        &format!(
            "UPDATE inboxes SET connection_status = 'error', connection_error = 'x' WHERE id = '{}'",
            inbox.id
        ),
    )
    .await
    .expect("set error");
    let changes = InboxChanges {
        is_active: Some(false),
        is_warming: Some(true),
        reply_to: Some("Boss@acme.com".into()),
        signature: Some("-- Ann".into()),
        daily_campaign_limit: Some(500),
        daily_warmup_limit: Some(100),
        ..InboxChanges::default()
    };
    let updated = i
        .service
        .update(ws, inbox.id, &changes)
        .await
        .expect("update")
        .inbox;
    assert!(!updated.is_active && updated.is_warming);
    assert_eq!(updated.reply_to, "boss@acme.com");
    assert_eq!(
        (updated.daily_campaign_limit, updated.daily_warmup_limit),
        (500, 100)
    );
    assert_eq!(
        updated.connection_status,
        ConnectionStatus::Error,
        "no new credentials"
    );

    let cleared = i
        .service
        .update(
            ws,
            inbox.id,
            &InboxChanges {
                reply_to: Some(String::new()),
                smtp: Some(server("", "")),
                ..InboxChanges::default()
            },
        )
        .await
        .expect("update")
        .inbox;
    assert_eq!(cleared.reply_to, "");
    assert_eq!(cleared.connection_status, ConnectionStatus::Pending);
    assert_eq!(cleared.connection_error, None);
    assert_eq!(cleared.smtp.username, "");
    assert!(
        stored_passwords(&db, inbox.id)
            .await
            .smtp_password
            .is_none()
    );

    let other = workspace(&db, "B").await;
    assert!(
        i.repo
            .update(other, inbox.id, &Default::default())
            .await
            .expect("update")
            .is_none()
    );
}

#[tokio::test]
async fn pending_inboxes_are_claimed_once_and_only_the_current_claim_records() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let i = inboxes(&db);
    let a = i
        .service
        .create(ws, &new_inbox("a@acme.com"))
        .await
        .expect("a");
    let b = i
        .service
        .create(ws, &new_inbox("b@acme.com"))
        .await
        .expect("b");
    let now = T0 + time::Duration::minutes(1);
    let claimed = i
        .repo
        .claim_pending(now, now - STALE_CLAIM, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let a_claim = claimed
        .iter()
        .find(|c| c.inbox_id == a.id)
        .expect("a claimed");
    assert_eq!(a_claim.smtp.username, "a@acme.com");
    assert!(a_claim.smtp_password.is_some());
    assert!(
        i.repo
            .claim_pending(now, now - STALE_CLAIM, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(
        i.service
            .get(ws, a.id)
            .await
            .expect("a")
            .inbox
            .connection_status,
        ConnectionStatus::Validating
    );

    assert!(i.repo.record(a.id, &Ok(()), now).await.expect("record"));
    let a_now = i.service.get(ws, a.id).await.expect("a").inbox;
    assert_eq!(a_now.connection_status, ConnectionStatus::Connected);

    // b's settings change during its check: the stale outcome is dropped, b stays pending.
    i.service
        .update(
            ws,
            b.id,
            &InboxChanges {
                imap: Some(server("b", "new")),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert!(
        !i.repo
            .record(b.id, &Err("535 refused".into()), now)
            .await
            .expect("record")
    );
    let b_now = i.service.get(ws, b.id).await.expect("b").inbox;
    assert_eq!(b_now.connection_status, ConnectionStatus::Pending);

    // A claim abandoned by a dead process is taken again once stale.
    let later = now + time::Duration::minutes(1);
    let again = i
        .repo
        .claim_pending(later, later - STALE_CLAIM, 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    let much_later = later + STALE_CLAIM + time::Duration::seconds(1);
    let stale = i
        .repo
        .claim_pending(much_later, much_later - STALE_CLAIM, 10)
        .await
        .expect("claim");
    assert_eq!(stale.len(), 1);
    assert!(
        !i.repo
            .record(b.id, &Ok(()), later)
            .await
            .expect("old claim")
    );
    assert!(
        i.repo
            .record(b.id, &Err("refused".into()), much_later)
            .await
            .expect("record")
    );
    let b_now = i.service.get(ws, b.id).await.expect("b").inbox;
    assert_eq!(b_now.connection_status, ConnectionStatus::Error);
    assert_eq!(b_now.connection_error.as_deref(), Some("refused"));
}

#[tokio::test]
async fn adding_and_deleting_leads_keeps_the_campaign_counters_in_step() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let a = s.add(ws, campaign, &lead("a@acme.com")).await.expect("a");
    assert!(a.created);
    assert_eq!(a.lead.company_domain.as_deref(), Some("acme.com"));
    let b = s.add(ws, campaign, &lead("b@gmail.com")).await.expect("b");
    assert_eq!(b.lead.company_domain, None);
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (2, 0)
    );

    assert!(matches!(
        s.add(ws, campaign, &lead(" A@ACME.com")).await,
        Err(reachkit_core::leads::LeadError::Duplicate)
    ));
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (2, 0)
    );

    // A finished lead leaves both counters when deleted.
    execute(
        &db.url,
        &format!(
            "UPDATE leads SET status = 'replied' WHERE id = '{}'",
            b.lead.id
        ),
    )
    .await
    .expect("reply");
    execute(
        &db.url,
        &format!("UPDATE campaign_stats SET finished_leads = 1 WHERE campaign_id = '{campaign}'"),
    )
    .await
    .expect("finished");
    s.delete(ws, campaign, b.lead.id).await.expect("delete b");
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1, 0)
    );
    s.delete(ws, campaign, a.lead.id).await.expect("delete a");
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (0, 0)
    );
    assert!(
        s.delete(ws, campaign, a.lead.id).await.is_err(),
        "already gone"
    );
}

#[tokio::test]
async fn skip_returns_the_lead_unchanged_and_update_merges_it() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let first = NewLeadInput {
        email: "ann@acme.com".into(),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        variables: json!({"company": "Acme", "size": 10}).as_object().cloned(),
        if_exists: None,
    };
    let created = s.add(ws, campaign, &first).await.expect("create").lead;
    let skipped = s
        .add(
            ws,
            campaign,
            &NewLeadInput {
                first_name: Some("Other".into()),
                if_exists: Some("skip".into()),
                ..first.clone()
            },
        )
        .await
        .expect("skip");
    assert!(!skipped.created);
    assert_eq!(skipped.lead, created);
    let updated = s
        .add(
            ws,
            campaign,
            &NewLeadInput {
                email: "ANN@acme.com".into(),
                first_name: Some("Annie".into()),
                last_name: None,
                variables: json!({"size": 20, "role": "VP"}).as_object().cloned(),
                if_exists: Some("update".into()),
            },
        )
        .await
        .expect("update");
    assert!(!updated.created);
    assert_eq!(updated.lead.id, created.id);
    assert_eq!(updated.lead.first_name, "Annie");
    assert_eq!(updated.lead.last_name, "Lee", "an omitted name is kept");
    assert_eq!(
        serde_json::Value::Object(updated.lead.variables),
        json!({"company": "Acme", "size": 20, "role": "VP"})
    );
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_of_one_address_make_one_lead_and_count_it_once() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mode = if n % 2 == 0 { "skip" } else { "fail" };
            s.add(
                ws,
                campaign,
                &NewLeadInput {
                    email: "same@acme.com".into(),
                    if_exists: Some(mode.into()),
                    ..NewLeadInput::default()
                },
            )
            .await
            .map(|a| a.created)
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(true) => created += 1,
            Ok(false) | Err(reachkit_core::leads::LeadError::Duplicate) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1, 0)
    );
    let page = s
        .list(ws, campaign, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(page.total_count, 1);
}

#[tokio::test]
async fn leads_stay_in_their_workspace_and_go_with_their_campaign() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let other = workspace(&db, "B").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    let lead_a = s
        .add(ws, campaign, &lead("a@acme.com"))
        .await
        .expect("add")
        .lead;

    use reachkit_core::leads::LeadError;
    assert!(matches!(
        s.add(other, campaign, &lead("x@acme.com")).await,
        Err(LeadError::CampaignNotFound)
    ));
    assert!(matches!(
        s.list(other, campaign, &ListQuery::default()).await,
        Err(LeadError::CampaignNotFound)
    ));
    assert!(matches!(
        s.get(other, campaign, lead_a.id).await,
        Err(LeadError::NotFound)
    ));
    assert!(matches!(
        s.delete(other, campaign, lead_a.id).await,
        Err(LeadError::NotFound)
    ));
    let elsewhere = insert_campaign(&db, ws, "Q2").await.expect("campaign");
    assert!(matches!(
        s.get(ws, elsewhere, lead_a.id).await,
        Err(LeadError::NotFound)
    ));
    assert!(matches!(
        s.add(ws, CampaignId::new(), &lead("x@acme.com")).await,
        Err(LeadError::CampaignNotFound)
    ));
    assert_eq!(
        lead_counters(&db, campaign).await.expect("counters"),
        (1, 0)
    );

    execute(
        &db.url,
        &format!("DELETE FROM campaigns WHERE id = '{campaign}'"),
    )
    .await
    .expect("delete campaign");
    let left = execute(
        &db.url,
        &format!(
            "UPDATE leads SET first_name = '' WHERE id = '{}'",
            lead_a.id
        ),
    )
    .await
    .expect("update");
    assert_eq!(left, 0, "the lead went with its campaign");
}

#[tokio::test]
async fn leads_are_searched_and_sorted() {
    let db = database().await;
    let ws = workspace(&db, "A").await;
    let campaign = insert_campaign(&db, ws, "Q1").await.expect("campaign");
    let s = leads(&db);
    for (email, first, last) in [
        ("zed@acme.com", "Zed", "Adams"),
        ("amy@globex.com", "Amy", "Zhou"),
        ("bo@acme.com", "Bo", "Marsh"),
    ] {
        s.add(
            ws,
            campaign,
            &NewLeadInput {
                email: email.into(),
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                ..NewLeadInput::default()
            },
        )
        .await
        .expect("add");
    }
    let list = |search: Option<&str>, sort, order| {
        let s = s.clone();
        let search = search.map(str::to_owned);
        async move {
            s.list(
                ws,
                campaign,
                &ListQuery {
                    page: PageRequest::default(),
                    search,
                    sort,
                    order,
                },
            )
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|l| l.email.into_string())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(None, LeadSort::Email, SortOrder::Asc).await,
        ["amy@globex.com", "bo@acme.com", "zed@acme.com"]
    );
    assert_eq!(
        list(None, LeadSort::LastName, SortOrder::Asc).await,
        ["zed@acme.com", "bo@acme.com", "amy@globex.com"]
    );
    assert_eq!(
        list(None, LeadSort::FirstName, SortOrder::Desc).await,
        ["zed@acme.com", "bo@acme.com", "amy@globex.com"]
    );
    assert_eq!(
        list(Some("acme"), LeadSort::Email, SortOrder::Asc).await,
        ["bo@acme.com", "zed@acme.com"]
    );
    assert_eq!(
        list(Some("zhou"), LeadSort::Status, SortOrder::Asc).await,
        ["amy@globex.com"]
    );
    let page = s
        .list(ws, campaign, &ListQuery::default())
        .await
        .expect("list");
    assert!(
        page.items
            .iter()
            .all(|l| l.status == LeadStatus::Uncontacted && l.provider.is_none())
    );
}
