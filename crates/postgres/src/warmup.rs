//! The warmup store (docs/WARMUP.md): per-inbox leases and pacing in `warmup_state`, one row per
//! warmup email in `warmup_messages` (keyed by its marker token and its Message-ID), and the
//! statistics counted from those rows. The pool spans every workspace of the installation.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Date as SqlDate, Integer, Nullable, Text, Timestamptz,
    Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::engine::SendInbox;
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inboxes::{Security, ServerSettings};
use reachkit_core::warmup::{
    PoolInbox, ReplyTask, WarmupCounts, WarmupDayCounts, WarmupIntent, WarmupReceipt, WarmupSender,
    WarmupStore, utc_day,
};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;

/// [`WarmupStore`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgWarmupStore {
    db: Db,
}

impl PgWarmupStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// The pool: warming, active, connected inboxes (an inbox in error is left out).
const IN_POOL: &str = "i.is_warming AND i.is_active AND i.connection_status = 'connected'";

const CLAIM: &str = "\
WITH due AS (
    SELECT s.inbox_id FROM warmup_state s JOIN inboxes i ON i.id = s.inbox_id
    WHERE i.is_warming AND i.is_active AND i.connection_status = 'connected'
      AND (s.next_send_at IS NULL OR s.next_send_at <= $1)
      AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= $1)
    ORDER BY s.next_send_at NULLS FIRST, s.inbox_id
    LIMIT $4
    FOR UPDATE OF s SKIP LOCKED
), taken AS (
    UPDATE warmup_state s SET lease_owner = $2, lease_expires_at = $3,
        started_on = COALESCE(s.started_on, $5)
    FROM due WHERE s.inbox_id = due.inbox_id
    RETURNING s.inbox_id, s.started_on, s.sends_total
)
SELECT i.id, i.workspace_id, i.email, i.first_name, i.last_name, i.reply_to, i.signature,
       i.smtp_host, i.smtp_port, i.smtp_security, i.smtp_username, i.smtp_password,
       i.daily_warmup_limit, t.started_on, t.sends_total,
       (SELECT count(*) FROM warmup_messages m
        WHERE m.sender_inbox_id = i.id AND m.sent_day = $5 AND m.status <> 'failed') AS sent_today
FROM inboxes i JOIN taken t ON t.inbox_id = i.id
ORDER BY i.id";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
    #[diesel(sql_type = Text)]
    reply_to: String,
    #[diesel(sql_type = Text)]
    signature: String,
    #[diesel(sql_type = Text)]
    smtp_host: String,
    #[diesel(sql_type = Integer)]
    smtp_port: i32,
    #[diesel(sql_type = Text)]
    smtp_security: String,
    #[diesel(sql_type = Text)]
    smtp_username: String,
    #[diesel(sql_type = Nullable<Bytea>)]
    smtp_password: Option<Vec<u8>>,
    #[diesel(sql_type = Integer)]
    daily_warmup_limit: i32,
    #[diesel(sql_type = SqlDate)]
    started_on: Date,
    #[diesel(sql_type = BigInt)]
    sends_total: i64,
    #[diesel(sql_type = BigInt)]
    sent_today: i64,
}

#[derive(QueryableByName)]
struct PoolRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
}

impl From<PoolRow> for PoolInbox {
    fn from(r: PoolRow) -> Self {
        Self {
            id: InboxId::from_uuid(r.id),
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
        }
    }
}

#[derive(QueryableByName)]
struct ReplyRow {
    #[diesel(sql_type = SqlUuid)]
    original_id: Uuid,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    #[expect(dead_code, reason = "only its presence matters")]
    ok: bool,
}

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = Text)]
    token: String,
}

#[derive(QueryableByName)]
struct FinishedRow {
    #[diesel(sql_type = SqlUuid)]
    sender_inbox_id: Uuid,
    #[diesel(sql_type = SqlDate)]
    sent_day: Date,
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = SqlDate)]
    day: Date,
    #[diesel(sql_type = BigInt)]
    sent: i64,
    #[diesel(sql_type = BigInt)]
    spam: i64,
}

#[derive(QueryableByName)]
struct ReceivedRow {
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    saved: i64,
}

#[derive(QueryableByName)]
struct StartedRow {
    #[diesel(sql_type = Nullable<SqlDate>)]
    started_on: Option<Date>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn sender(r: ClaimRow) -> Result<WarmupSender, StoreError> {
    Ok(WarmupSender {
        inbox: SendInbox {
            id: InboxId::from_uuid(r.id),
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            reply_to: r.reply_to,
            signature: r.signature,
            smtp: ServerSettings {
                host: r.smtp_host,
                port: u16::try_from(r.smtp_port)
                    .map_err(|_| corrupt(format!("smtp_port {}", r.smtp_port)))?,
                security: Security::parse(&r.smtp_security)
                    .ok_or_else(|| corrupt(format!("smtp_security {}", r.smtp_security)))?,
                username: r.smtp_username,
            },
            smtp_password: r.smtp_password,
        },
        workspace_id: WorkspaceId::from_uuid(r.workspace_id),
        daily_warmup_limit: u32::try_from(r.daily_warmup_limit).unwrap_or(0),
        started_on: r.started_on,
        sends_total: count(r.sends_total),
        sent_today: u32::try_from(r.sent_today).unwrap_or(u32::MAX),
    })
}

#[async_trait]
impl WarmupStore for PgWarmupStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<WarmupSender>, StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query(format!(
            "INSERT INTO warmup_state (inbox_id) SELECT i.id FROM inboxes i WHERE {IN_POOL} \
             ON CONFLICT (inbox_id) DO NOTHING"
        ))
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        let rows: Vec<ClaimRow> = diesel::sql_query(CLAIM)
            .bind::<Timestamptz, _>(now)
            .bind::<Text, _>(owner)
            .bind::<Timestamptz, _>(lease_until)
            .bind::<BigInt, _>(limit)
            .bind::<SqlDate, _>(utc_day(now))
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(sender).collect()
    }

    async fn pool(&self) -> Result<Vec<PoolInbox>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<PoolRow> = diesel::sql_query(format!(
            "SELECT i.id, i.email, i.first_name, i.last_name FROM inboxes i WHERE {IN_POOL} \
             ORDER BY i.id"
        ))
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(rows.into_iter().map(PoolInbox::from).collect())
    }

    async fn due_reply(&self, inbox: InboxId) -> Result<Option<ReplyTask>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row: Option<ReplyRow> = diesel::sql_query(format!(
            "SELECT m.id AS original_id, m.message_id, m.subject, i.id, i.email, i.first_name, \
             i.last_name FROM warmup_messages m JOIN inboxes i ON i.id = m.sender_inbox_id \
             WHERE m.recipient_inbox_id = $1 AND m.reply_wanted AND m.replied_at IS NULL \
             AND {IN_POOL} ORDER BY m.received_at, m.id LIMIT 1"
        ))
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(from_diesel)?;
        Ok(row.map(|r| ReplyTask {
            original_id: r.original_id,
            original_message_id: r.message_id,
            subject: r.subject,
            to: PoolInbox {
                id: InboxId::from_uuid(r.id),
                email: r.email,
                first_name: r.first_name,
                last_name: r.last_name,
            },
        }))
    }

    async fn begin_send(&self, owner: &str, intent: &WarmupIntent) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let intent = intent.clone();
        let owner = owner.to_owned();
        let began = conn
            .transaction::<_, TxError, _>(async |c| {
                let held: Option<Flag> = diesel::sql_query(
                    "SELECT true AS ok FROM warmup_state s JOIN inboxes i ON i.id = s.inbox_id \
                     WHERE s.inbox_id = $1 AND s.lease_owner = $2 AND i.is_warming \
                     AND i.is_active FOR UPDATE OF s",
                )
                .bind::<SqlUuid, _>(intent.sender.as_uuid())
                .bind::<Text, _>(&owner)
                .get_result(c)
                .await
                .optional()?;
                if held.is_none() {
                    return Ok(false);
                }
                diesel::sql_query(
                    "INSERT INTO warmup_messages (id, token, message_id, sender_inbox_id, \
                     recipient_inbox_id, subject, reply_to_id, sent_day, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind::<SqlUuid, _>(intent.id)
                .bind::<Text, _>(&intent.token)
                .bind::<Text, _>(&intent.message_id)
                .bind::<SqlUuid, _>(intent.sender.as_uuid())
                .bind::<SqlUuid, _>(intent.recipient.as_uuid())
                .bind::<Text, _>(&intent.subject)
                .bind::<Nullable<SqlUuid>, _>(intent.reply_to_id)
                .bind::<SqlDate, _>(intent.day)
                .bind::<Timestamptz, _>(intent.now)
                .execute(c)
                .await?;
                diesel::sql_query(
                    "UPDATE warmup_state SET sends_total = sends_total + 1 WHERE inbox_id = $1",
                )
                .bind::<SqlUuid, _>(intent.sender.as_uuid())
                .execute(c)
                .await?;
                if let Some(original) = intent.reply_to_id {
                    diesel::sql_query(
                        "UPDATE warmup_messages SET replied_at = $2 \
                         WHERE id = $1 AND replied_at IS NULL",
                    )
                    .bind::<SqlUuid, _>(original)
                    .bind::<Timestamptz, _>(intent.now)
                    .execute(c)
                    .await?;
                }
                Ok(true)
            })
            .await?;
        Ok(began)
    }

    async fn finish_send(
        &self,
        id: Uuid,
        sent: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, TxError, _>(async |c| {
            let row: Option<FinishedRow> = diesel::sql_query(
                "UPDATE warmup_messages SET status = CASE WHEN $2 THEN 'sent' ELSE 'failed' END, \
                 sent_at = CASE WHEN $2 THEN $3 END \
                 WHERE id = $1 AND status = 'sending' RETURNING sender_inbox_id, sent_day",
            )
            .bind::<SqlUuid, _>(id)
            .bind::<Bool, _>(sent)
            .bind::<Timestamptz, _>(now)
            .get_result(c)
            .await
            .optional()?;
            if let (Some(row), true) = (row, sent) {
                diesel::sql_query(
                    "INSERT INTO inbox_usage (inbox_id, day, warmup_sends) VALUES ($1, $2, 1) \
                     ON CONFLICT (inbox_id, day) \
                     DO UPDATE SET warmup_sends = inbox_usage.warmup_sends + 1",
                )
                .bind::<SqlUuid, _>(row.sender_inbox_id)
                .bind::<SqlDate, _>(row.sent_day)
                .execute(c)
                .await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn release(
        &self,
        owner: &str,
        inbox: InboxId,
        next_send_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query(
            "UPDATE warmup_state SET lease_owner = NULL, lease_expires_at = NULL, \
             next_send_at = $3 WHERE inbox_id = $1 AND lease_owner = $2",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<Text, _>(owner)
        .bind::<Timestamptz, _>(next_send_at)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }

    async fn known_tokens(
        &self,
        recipient: InboxId,
        tokens: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.conn().await?;
        let rows: Vec<TokenRow> = diesel::sql_query(
            "SELECT token FROM warmup_messages WHERE recipient_inbox_id = $1 \
             AND token = ANY($2)",
        )
        .bind::<SqlUuid, _>(recipient.as_uuid())
        .bind::<Array<Text>, _>(tokens)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(rows.into_iter().map(|r| r.token).collect())
    }

    async fn record_received(
        &self,
        recipient: InboxId,
        receipts: &[WarmupReceipt],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        let receipts = receipts.to_vec();
        conn.transaction::<_, TxError, _>(async |c| {
            for r in &receipts {
                // A reply is never answered (threads stay two emails long).
                diesel::sql_query(
                    "UPDATE warmup_messages SET received_at = COALESCE(received_at, $3), \
                     received_day = COALESCE(received_day, $4), \
                     landed_in_spam = landed_in_spam OR $5, \
                     saved_from_spam = saved_from_spam OR $6, \
                     reply_wanted = reply_wanted OR ($7 AND reply_to_id IS NULL) \
                     WHERE recipient_inbox_id = $1 AND token = $2",
                )
                .bind::<SqlUuid, _>(recipient.as_uuid())
                .bind::<Text, _>(&r.token)
                .bind::<Timestamptz, _>(now)
                .bind::<SqlDate, _>(utc_day(now))
                .bind::<Bool, _>(r.in_spam)
                .bind::<Bool, _>(r.saved)
                .bind::<Bool, _>(r.reply_wanted)
                .execute(c)
                .await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn counts(
        &self,
        inbox: InboxId,
        from: Date,
        to: Date,
    ) -> Result<WarmupCounts, StoreError> {
        let mut conn = self.db.conn().await?;
        let days: Vec<DayRow> = diesel::sql_query(
            "SELECT sent_day AS day, count(*) AS sent, \
             count(*) FILTER (WHERE landed_in_spam) AS spam FROM warmup_messages \
             WHERE sender_inbox_id = $1 AND status = 'sent' AND sent_day BETWEEN $2 AND $3 \
             GROUP BY sent_day",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<SqlDate, _>(from)
        .bind::<SqlDate, _>(to)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let received: ReceivedRow = diesel::sql_query(
            "SELECT count(*) AS received, count(*) FILTER (WHERE saved_from_spam) AS saved \
             FROM warmup_messages WHERE recipient_inbox_id = $1 \
             AND received_day BETWEEN $2 AND $3",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<SqlDate, _>(from)
        .bind::<SqlDate, _>(to)
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)?;
        let started: Option<StartedRow> =
            diesel::sql_query("SELECT started_on FROM warmup_state WHERE inbox_id = $1")
                .bind::<SqlUuid, _>(inbox.as_uuid())
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
        Ok(WarmupCounts {
            daily: days
                .into_iter()
                .map(|d| WarmupDayCounts {
                    date: d.day,
                    sent: count(d.sent),
                    spam: count(d.spam),
                })
                .collect(),
            received: count(received.received),
            saved_from_spam: count(received.saved),
            started_on: started.and_then(|s| s.started_on),
        })
    }
}
