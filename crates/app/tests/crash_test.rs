//! The crash test (docs/ENGINE.md, docs/BENCHMARKS.md "Crash test"): real `reachkit worker`
//! processes send two campaigns into the private mail stack while the test SIGKILLs them at
//! random moments and restarts them; then every email is counted at the receiving side (the
//! sink's IMAP, by Message-ID). Promises checked: no Message-ID arrives twice, every `sent`
//! send arrived, every arrival is a `sent` or `unknown` send (nothing lost but the attempts
//! reported `unknown`), the campaign and inbox daily limits held (both binding).
//!
//! It is `#[ignore]`d in the normal run: `scripts/crash-test` runs it alone, after the rest of
//! `scripts/test` (it loads both cores for about a minute and puts thousands of messages in the
//! sink that other tests read in full; it deletes its own messages at the end).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inboxes::{PasswordField, password_aad};
use reachkit_core::secrets::{AesGcmSecretBox, SecretBox};
use reachkit_core::workspaces::{Workspace, WorkspaceRepository};
use reachkit_postgres::PgWorkspaceRepository;
use reachkit_testkit::mailstack::MailStack;
use reachkit_testkit::{TestDatabase, execute, insert_inbox};
use time::OffsetDateTime;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_reachkit");
/// Leads per campaign.
const LEADS: i64 = 2_000;
/// Campaign B's daily limit (below its number of leads): the limit must hold through the kills.
const LIMIT_B: i64 = 1_000;
/// Inbox erin's daily campaign limit (one of campaign B's three inboxes; the others have 500,
/// the most an inbox may have).
const LIMIT_ERIN: i64 = 200;
/// A claim of a killed worker becomes `unknown` this long after it was made (the minimum).
const LEASE_SECONDS: u64 = 30;
/// Bounds a failure only: the run normally takes well under a minute and a half.
const DEADLINE: StdDuration = StdDuration::from_secs(240);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct SendRow {
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    status: String,
}

async fn sql(url: &str, q: &str) {
    execute(url, q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e:#}"));
}

async fn count(conn: &mut AsyncPgConnection, q: &str) -> i64 {
    let c: Count = diesel::sql_query(q)
        .get_result(conn)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    c.n
}

/// A small deterministic generator for the kill moments (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

struct Worker {
    child: Child,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fleet {
    url: String,
    key: String,
    dns: String,
    logs: PathBuf,
    started: usize,
}

impl Fleet {
    fn spawn(&mut self) -> Worker {
        self.started += 1;
        let log = std::fs::File::create(self.logs.join(format!("worker-{}.log", self.started)))
            .expect("worker log");
        let child = Command::new(BIN)
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.url)
            .env("REACHKIT__SECRETS__KEY", &self.key)
            .env("REACHKIT__DNS__NAMESERVER", &self.dns)
            .env("REACHKIT__ENGINE__TICK_MS", "20")
            .env("REACHKIT__ENGINE__MIN_GAP_SECONDS", "0")
            .env("REACHKIT__ENGINE__MAX_JITTER_SECONDS", "0")
            .env("REACHKIT__ENGINE__RETRY_BASE_SECONDS", "1")
            .env("REACHKIT__ENGINE__LEASE_SECONDS", LEASE_SECONDS.to_string())
            .env("REACHKIT__ENGINE__BATCH_SIZE", "40")
            .env("REACHKIT__ENGINE__CONCURRENCY", "5")
            .env("REACHKIT__MAIL__ALLOW_INVALID_CERTS", "true")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .current_dir(&self.logs)
            .spawn()
            .expect("spawn reachkit worker");
        Worker { child }
    }
}

fn days_json() -> String {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let entries: Vec<String> = days
        .iter()
        .map(|d| format!(r#""{d}": {{"enabled": true, "start": null, "end": null}}"#))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// An active one-step campaign open 00:00-23:30 in `zone`.
async fn campaign(url: &str, ws: WorkspaceId, zone: &str, limit: i64) -> Uuid {
    let id = Uuid::now_v7();
    sql(
        url,
        &format!(
            "INSERT INTO campaigns (id, workspace_id, name, status, daily_limit, timezone, \
             window_start, window_end, schedule_days, unsubscribe_option, created_at, updated_at) \
             VALUES ('{id}', '{ws}', 'crash', 'active', {limit}, '{zone}', 0, 1410, \
             '{}'::jsonb, true, now(), now())",
            days_json()
        ),
    )
    .await;
    sql(
        url,
        &format!("INSERT INTO campaign_stats (campaign_id, workspace_id) VALUES ('{id}', '{ws}')"),
    )
    .await;
    let seq = Uuid::now_v7();
    sql(
        url,
        &format!(
            "INSERT INTO sequences (id, workspace_id, campaign_id, step, delay_days, created_at, \
             updated_at) VALUES ('{seq}', '{ws}', '{id}', 1, 0, now(), now())"
        ),
    )
    .await;
    sql(
        url,
        &format!(
            "INSERT INTO variants (id, workspace_id, campaign_id, sequence_id, letter, ordinal, \
             subject, body_html, body_text, created_at, updated_at) VALUES ('{}', '{ws}', '{id}', \
             '{seq}', 'A', 0, 'Hello {{{{first_name}}}}', \
             '<p>Hi {{{{first_name}}}}, a short note.</p><p><a href=\"{{{{unsubscribe_url}}}}\">Unsubscribe</a></p>', \
             'Hi {{{{first_name}}}}, a short note.\n\nUnsubscribe ({{{{unsubscribe_url}}}})', now(), now())",
            Uuid::now_v7()
        ),
    )
    .await;
    id
}

/// A connected inbox of the stack (SMTP AUTH on the submission port, STARTTLS) attached to
/// `campaign`.
async fn inbox(
    url: &str,
    ws: WorkspaceId,
    campaign: Uuid,
    stack: &MailStack,
    secrets: &AesGcmSecretBox,
    user: &str,
    limit: i64,
) -> Uuid {
    let u = stack.user(user).expect("user");
    let id = insert_inbox(url, ws.as_uuid(), &u.address, "connected")
        .await
        .expect("inbox");
    let sealed = secrets
        .seal(
            u.password.as_bytes(),
            &password_aad(InboxId::from_uuid(id), PasswordField::Smtp),
        )
        .expect("seal");
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(
        "UPDATE inboxes SET smtp_host = $2, smtp_port = $3, smtp_security = 'starttls', \
         smtp_username = $4, smtp_password = $5, first_name = 'Alice', last_name = 'Smith', \
         daily_campaign_limit = $6 WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(&stack.host)
    .bind::<Integer, _>(i32::from(stack.smtp_port))
    .bind::<Text, _>(&u.address)
    .bind::<Bytea, _>(&sealed)
    .bind::<Integer, _>(i32::try_from(limit).expect("limit"))
    .execute(&mut conn)
    .await
    .expect("inbox settings");
    sql(
        url,
        &format!(
            "INSERT INTO campaign_inboxes (campaign_id, inbox_id, workspace_id, created_at) \
             VALUES ('{campaign}', '{id}', '{ws}', now())"
        ),
    )
    .await;
    id
}

/// `LEADS` leads `<prefix><n>-<tag>@<domain>`, due since an hour ago.
async fn leads(url: &str, ws: WorkspaceId, campaign: Uuid, prefix: &str, tag: &str, domain: &str) {
    sql(
        url,
        &format!(
            "INSERT INTO leads (id, workspace_id, campaign_id, email, email_domain, first_name, \
             created_at, updated_at) \
             SELECT gen_random_uuid(), '{ws}', '{campaign}', '{prefix}' || g || '-{tag}@{domain}', \
             '{domain}', 'Jane', now() - interval '1 hour', now() - interval '1 hour' \
             FROM generate_series(1, {LEADS}) AS g"
        ),
    )
    .await;
    sql(
        url,
        &format!(
            "UPDATE campaign_stats SET leads_count = {LEADS} WHERE campaign_id = '{campaign}'"
        ),
    )
    .await;
}

fn queue_is_empty(stack: &MailStack) -> bool {
    let out = Command::new("postqueue")
        .arg("-c")
        .arg(stack.dir.join("etc/postfix"))
        .arg("-p")
        .stdin(Stdio::null())
        .output()
        .expect("postqueue");
    String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty")
}

/// The header value of `name` in a block of header lines (unfolded, trimmed).
fn header(block: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(block)
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    text.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/crash-test (which scripts/test runs after the suite)"]
#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
#[expect(
    clippy::print_stdout,
    reason = "the summary line scripts/crash-test shows"
)]
async fn killed_and_restarted_workers_never_send_twice_lose_only_unknowns_and_hold_limits() {
    let started = Instant::now();
    let stack = MailStack::from_env().unwrap_or_else(|e| panic!("{e:#}"));
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e:#}"));
    let url = db.url.clone();
    let key = AesGcmSecretBox::generate_key_base64();
    let secrets = AesGcmSecretBox::from_base64(&key).expect("key");
    let mut workspaces = Vec::new();
    for name in ["crash-a", "crash-b"] {
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: name.into(),
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        };
        PgWorkspaceRepository::new(db.db.clone())
            .insert(&ws)
            .await
            .expect("workspace");
        workspaces.push(ws.id);
    }
    let (ws_a, ws_b) = (workspaces[0], workspaces[1]);
    // The workers use the system clock: a zone whose 00:00-23:30 window is open now and stays
    // open (and on the same local day) for the next hour.
    let zone = if OffsetDateTime::now_utc().hour() >= 22 {
        "Asia/Tokyo"
    } else {
        "Europe/London"
    };
    let tag = Uuid::new_v4().simple().to_string();
    // A (workspace A): 2,000 leads, campaign limit far above, four inboxes of 500 (the most an
    // inbox may have). B (workspace B, the same mailboxes as other inboxes): 2,000 leads,
    // campaign limit 1,000, inboxes carol 500, dave 500, erin 200.
    let a = campaign(&url, ws_a, zone, 100_000).await;
    for user in ["alice", "bob", "carol", "dave"] {
        inbox(&url, ws_a, a, &stack, &secrets, user, 500).await;
    }
    leads(&url, ws_a, a, "a", &tag, "prospects.test").await;
    let b = campaign(&url, ws_b, zone, LIMIT_B).await;
    inbox(&url, ws_b, b, &stack, &secrets, "carol", 500).await;
    inbox(&url, ws_b, b, &stack, &secrets, "dave", 500).await;
    let erin = inbox(&url, ws_b, b, &stack, &secrets, "erin", LIMIT_ERIN).await;
    leads(&url, ws_b, b, "b", &tag, "gmail-like.test").await;

    let logs = std::env::temp_dir().join(format!("reachkit-crash-{tag}"));
    std::fs::create_dir_all(&logs).expect("log dir");
    let mut fleet = Fleet {
        url: url.clone(),
        key,
        dns: stack.dns.to_string(),
        logs: logs.clone(),
        started: 0,
    };
    let seed = u64::from(OffsetDateTime::now_utc().nanosecond()) | 1;
    let mut rng = Rng(seed);
    let mut workers: Vec<Worker> = vec![fleet.spawn(), fleet.spawn()];
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    let pending_q = format!(
        "SELECT count(*) AS n FROM sends WHERE campaign_id IN ('{a}', '{b}') \
         AND status IN ('queued', 'deferred', 'sending')"
    );
    let unsent_a_q = format!(
        "SELECT count(*) AS n FROM leads WHERE campaign_id = '{a}' AND finished_reason IS NULL"
    );
    let reserved_b_q = format!(
        "SELECT COALESCE(sum(sends), 0)::bigint AS n FROM campaign_usage WHERE campaign_id = '{b}'"
    );

    // Kill one of the two workers every 1-3 s while there is work not yet claimed.
    let mut kills = 0_u32;
    loop {
        tokio::time::sleep(StdDuration::from_millis(rng.between(1_000, 3_000))).await;
        let queued = count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM sends WHERE campaign_id IN ('{a}', '{b}') \
                 AND status IN ('queued', 'deferred')"
            ),
        )
        .await;
        let unplanned_a = count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM leads WHERE campaign_id = '{a}' \
                 AND next_due_at IS NOT NULL AND finished_reason IS NULL"
            ),
        )
        .await;
        let reserved_b = count(&mut conn, &reserved_b_q).await;
        if queued == 0 && unplanned_a == 0 && reserved_b >= LIMIT_B {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "still sending after {DEADLINE:?} (logs in {})",
            logs.display()
        );
        let victim = usize::try_from(rng.next() % 2).unwrap_or(0);
        // SIGKILL (Child::kill), then a new process in its place.
        drop(workers.swap_remove(victim));
        kills += 1;
        workers.push(fleet.spawn());
    }
    let killing_done = started.elapsed();

    // Drain: the claims of killed workers become `unknown` once their lease ends.
    loop {
        let pending = count(&mut conn, &pending_q).await;
        let unsent_a = count(&mut conn, &unsent_a_q).await;
        let reserved_b = count(&mut conn, &reserved_b_q).await;
        if pending == 0 && unsent_a == 0 && reserved_b >= LIMIT_B {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not drained after {DEADLINE:?}: {pending} sends pending, {unsent_a} leads of A \
             unfinished, {reserved_b} of B's {LIMIT_B} reserved (logs in {})",
            logs.display()
        );
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    // A few more passes must change nothing, then stop the workers.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    drop(workers);

    let rows: Vec<SendRow> = diesel::sql_query(
        "SELECT message_id, status FROM sends WHERE campaign_id = $1 OR campaign_id = $2",
    )
    .bind::<SqlUuid, _>(a)
    .bind::<SqlUuid, _>(b)
    .load(&mut conn)
    .await
    .expect("sends");
    let status_of: HashMap<String, String> = rows
        .iter()
        .map(|r| (format!("<{}>", r.message_id), r.status.clone()))
        .collect();
    assert_eq!(
        status_of.len(),
        rows.len(),
        "a Message-ID used twice in sends"
    );
    let sent: HashSet<&String> = status_of
        .iter()
        .filter(|(_, s)| *s == "sent")
        .map(|(id, _)| id)
        .collect();
    let unknown = status_of.values().filter(|s| *s == "unknown").count();

    // Receiving side: wait until Postfix's queue is empty and every `sent` send arrived.
    let sink = &stack.sink;
    let arrived: Vec<(u32, String)> = loop {
        let empty = queue_is_empty(&stack);
        let fetched = stack
            .fetch_header_fields(
                &sink.address,
                &sink.password,
                "INBOX",
                "MESSAGE-ID DELIVERED-TO",
            )
            .await
            .expect("sink headers");
        let ours: Vec<(u32, String)> = fetched
            .iter()
            .filter(|(_, h)| header(h, "Delivered-To").is_some_and(|d| d.contains(&tag)))
            .map(|(uid, h)| (*uid, header(h, "Message-ID").unwrap_or_default()))
            .collect();
        let ids: HashSet<&String> = ours.iter().map(|(_, id)| id).collect();
        if empty && sent.iter().all(|id| ids.contains(*id)) {
            break ours;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} of {} sent emails arrived; Postfix queue empty: {empty}",
            sent.iter().filter(|id| ids.contains(**id)).count(),
            sent.len()
        );
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    };
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (_, id) in &arrived {
        *copies.entry(id.as_str()).or_default() += 1;
    }
    let duplicates: Vec<&&str> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let lost: Vec<&&String> = sent
        .iter()
        .filter(|id| !copies.contains_key(id.as_str()))
        .collect();
    let stray: Vec<(&&str, Option<&String>)> = copies
        .keys()
        .map(|id| (id, status_of.get(*id)))
        .filter(|(_, s)| !matches!(s.map(String::as_str), Some("sent" | "unknown")))
        .collect();
    let unknown_arrived = copies
        .keys()
        .filter(|id| status_of.get(**id).is_some_and(|s| s == "unknown"))
        .count();

    // Limits: campaign B's daily limit and dave's inbox limit; every lead of A done once.
    let sends_a = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM sends WHERE campaign_id = '{a}' AND status <> 'cancelled'"
        ),
    )
    .await;
    let sends_b = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM sends WHERE campaign_id = '{b}' \
             AND status IN ('sent', 'unknown', 'bounced', 'queued', 'deferred', 'sending')"
        ),
    )
    .await;
    let sends_erin = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM sends WHERE inbox_id = '{erin}' \
             AND status IN ('sent', 'unknown', 'bounced')"
        ),
    )
    .await;
    let b_ids: HashSet<String> = {
        let b_rows: Vec<SendRow> =
            diesel::sql_query("SELECT message_id, status FROM sends WHERE campaign_id = $1")
                .bind::<SqlUuid, _>(b)
                .load(&mut conn)
                .await
                .expect("sends of B");
        b_rows
            .into_iter()
            .map(|r| format!("<{}>", r.message_id))
            .collect()
    };
    let arrived_b = copies.keys().filter(|id| b_ids.contains(**id)).count();
    let stats = count(
        &mut conn,
        &format!(
            "SELECT (sum(sent) * 1000000 + sum(unknown))::bigint AS n FROM campaign_stats \
             WHERE campaign_id IN ('{a}', '{b}')"
        ),
    )
    .await;

    println!(
        "crash test: leads={} sent={} unknown={} (arrived {unknown_arrived}) duplicates={} \
         lost={} stray={} kills={kills} campaign_b={sends_b}/{LIMIT_B} (arrived {arrived_b}) \
         inbox_erin={sends_erin}/{LIMIT_ERIN} seed={seed} killing={:.0}s total={:.0}s",
        2 * LEADS,
        sent.len(),
        unknown,
        duplicates.len(),
        lost.len(),
        stray.len(),
        killing_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        duplicates.is_empty(),
        "Message-IDs that arrived twice: {duplicates:?}"
    );
    assert!(lost.is_empty(), "sent but never arrived: {lost:?}");
    assert!(stray.is_empty(), "arrived but not sent/unknown: {stray:?}");
    assert_eq!(sends_a, LEADS, "every lead of A has exactly one send");
    assert!(sends_b <= LIMIT_B, "campaign B's limit overrun: {sends_b}");
    assert!(
        arrived_b <= usize::try_from(LIMIT_B).unwrap_or(0),
        "more of B arrived than its limit"
    );
    assert!(
        sends_erin <= LIMIT_ERIN,
        "erin's inbox limit overrun: {sends_erin}"
    );
    let over_inbox_limit = count(
        &mut conn,
        "SELECT count(*) AS n FROM (SELECT s.inbox_id FROM sends s \
         JOIN inboxes i ON i.id = s.inbox_id WHERE s.status IN ('sent', 'unknown', 'bounced') \
         GROUP BY s.inbox_id, i.daily_campaign_limit \
         HAVING count(*) > i.daily_campaign_limit) AS x",
    )
    .await;
    assert_eq!(
        over_inbox_limit, 0,
        "an inbox sent more than its daily campaign limit"
    );
    let sent_n = i64::try_from(sent.len()).unwrap_or(0);
    let unknown_n = i64::try_from(unknown).unwrap_or(0);
    assert_eq!(
        stats,
        sent_n * 1_000_000 + unknown_n,
        "campaign_stats sent/unknown disagree with the sends"
    );
    assert!(
        kills >= 3,
        "only {kills} kills: the sending ended too fast to test anything"
    );

    // Leave the shared sink as it was.
    let uids: Vec<u32> = arrived.iter().map(|(uid, _)| *uid).collect();
    stack
        .delete_uids(&sink.address, &sink.password, "INBOX", &uids)
        .await
        .expect("delete our messages from the sink");
    let _ = std::fs::remove_dir_all(&logs);
}
