//! The inbox sync's store (docs/SYNC.md): leases, IMAP checkpoints, and the effects of inbound
//! mail (replies, auto-replies, bounces) applied with the checkpoint in one transaction.
//!
//! Lock order inside `apply_batch`: the inbox's lease row, then per message the lead row, its
//! conversation, its sends and the usage rows of sends it cancels. A deadlock with the engine
//! (which locks usage rows before leads) rolls the batch back; the next poll applies it again.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::ids::{InboxId, WorkspaceId};
use reachkit_core::inboxes::{Security, ServerSettings};
use reachkit_core::sync::{
    BatchReport, Checkpoint, InboundBatch, InboundItem, InboundKind, Recipient, SyncInbox,
    SyncStore,
};
use reachkit_domain::label::ReplyLabel;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;

/// [`SyncStore`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSyncStore {
    db: Db,
}

impl PgSyncStore {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// An inbox with its IMAP settings, as the sync and the IDLE watcher (`crate::watch`) claim it.
#[derive(QueryableByName)]
pub(crate) struct InboxRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    imap_host: String,
    #[diesel(sql_type = Integer)]
    imap_port: i32,
    #[diesel(sql_type = Text)]
    imap_security: String,
    #[diesel(sql_type = Text)]
    imap_username: String,
    #[diesel(sql_type = Nullable<Bytea>)]
    imap_password: Option<Vec<u8>>,
}

impl InboxRow {
    pub(crate) fn into_sync_inbox(self) -> Result<SyncInbox, StoreError> {
        Ok(SyncInbox {
            id: InboxId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            email: self.email,
            imap: ServerSettings {
                host: self.imap_host,
                port: u16::try_from(self.imap_port)
                    .map_err(|_| corrupt(format!("imap_port {}", self.imap_port)))?,
                security: Security::parse(&self.imap_security)
                    .ok_or_else(|| corrupt(format!("imap_security {}", self.imap_security)))?,
                username: self.imap_username,
            },
            imap_password: self.imap_password,
        })
    }
}

// Due: never synced, last synced before $2, or woken (IDLE saw new mail: `wake_requested_at`).
// Claiming clears the wake request, so mail arriving during this sync asks for the next one.
const CLAIM: &str = "\
WITH due AS (
    SELECT i.id FROM inboxes i
    LEFT JOIN inbox_sync_leases l ON l.inbox_id = i.id
    WHERE i.is_active AND i.connection_status = 'connected'
      AND (l.inbox_id IS NULL OR ((l.expires_at IS NULL OR l.expires_at <= $1)
           AND (l.last_synced_at IS NULL OR l.last_synced_at <= $2
                OR l.wake_requested_at IS NOT NULL)))
    ORDER BY l.wake_requested_at IS NULL, l.last_synced_at NULLS FIRST, i.id
    LIMIT $5
    FOR UPDATE OF i SKIP LOCKED
), taken AS (
    INSERT INTO inbox_sync_leases (inbox_id, owner, expires_at)
    SELECT id, $3, $4 FROM due
    ON CONFLICT (inbox_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
        wake_requested_at = NULL
    WHERE inbox_sync_leases.expires_at IS NULL OR inbox_sync_leases.expires_at <= $1
    RETURNING inbox_id
)
SELECT i.id, i.workspace_id, i.email, i.imap_host, i.imap_port, i.imap_security,
       i.imap_username, i.imap_password
FROM inboxes i JOIN taken t ON t.inbox_id = i.id
ORDER BY i.id";

#[derive(QueryableByName)]
struct CheckpointRow {
    #[diesel(sql_type = BigInt)]
    uidvalidity: i64,
    #[diesel(sql_type = BigInt)]
    last_uid: i64,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct ConversationMatch {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    lead_id: Option<Uuid>,
}

#[derive(QueryableByName)]
struct LeadRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    is_bounced: bool,
    #[diesel(sql_type = Bool)]
    is_unsubscribed: bool,
    #[diesel(sql_type = Nullable<Text>)]
    finished_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    company_domain: Option<String>,
    #[diesel(sql_type = Bool)]
    stop_on_reply: bool,
    #[diesel(sql_type = Bool)]
    stop_on_company_reply: bool,
    #[diesel(sql_type = Text)]
    timezone: String,
}

impl LeadRow {
    /// Whether the lead already counts in `finished_leads` (the engine's rule).
    fn counted_finished(&self) -> bool {
        self.finished_reason.is_some()
            || self.status == "replied"
            || self.is_bounced
            || self.is_unsubscribed
    }
}

#[derive(QueryableByName)]
struct ConversationRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    is_positive: bool,
}

#[derive(QueryableByName)]
struct CountedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    counted: bool,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[async_trait]
impl SyncStore for PgSyncStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        due_before: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SyncInbox>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<InboxRow> = diesel::sql_query(CLAIM)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(due_before)
            .bind::<Text, _>(owner)
            .bind::<Timestamptz, _>(lease_until)
            .bind::<BigInt, _>(limit)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(InboxRow::into_sync_inbox).collect()
    }

    async fn checkpoint(
        &self,
        inbox: InboxId,
        folder: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row: Option<CheckpointRow> = diesel::sql_query(
            "SELECT uidvalidity, last_uid FROM inbox_folders WHERE inbox_id = $1 AND folder = $2",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<Text, _>(folder)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(from_diesel)?;
        Ok(row.map(|r| Checkpoint {
            uidvalidity: u32::try_from(r.uidvalidity).unwrap_or(0),
            last_uid: u32::try_from(r.last_uid).unwrap_or(0),
        }))
    }

    async fn apply_batch(
        &self,
        owner: &str,
        batch: &InboundBatch,
    ) -> Result<Option<BatchReport>, StoreError> {
        let mut conn = self.db.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async |c| apply_in(c, owner, batch).await)
            .await?)
    }

    async fn release(
        &self,
        owner: &str,
        inbox: InboxId,
        now: OffsetDateTime,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query(
            "UPDATE inbox_sync_leases SET owner = NULL, expires_at = NULL, last_synced_at = $3, \
             last_error = $4 WHERE inbox_id = $1 AND owner = $2",
        )
        .bind::<SqlUuid, _>(inbox.as_uuid())
        .bind::<Text, _>(owner)
        .bind::<Timestamptz, _>(now)
        .bind::<Nullable<Text>, _>(error)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }
}

async fn apply_in(
    c: &mut AsyncPgConnection,
    owner: &str,
    batch: &InboundBatch,
) -> Result<Option<BatchReport>, TxError> {
    let held: Option<IdRow> = diesel::sql_query(
        "SELECT inbox_id AS id FROM inbox_sync_leases WHERE inbox_id = $1 AND owner = $2 \
         FOR UPDATE",
    )
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .bind::<Text, _>(owner)
    .get_result(c)
    .await
    .optional()?;
    if held.is_none() {
        return Ok(None);
    }
    let mut report = BatchReport::default();
    for item in &batch.items {
        let key = item.message.key();
        let fresh = diesel::sql_query(
            "INSERT INTO inbound_seen (inbox_id, message_key, outcome, seen_at) \
             VALUES ($1, $2, 'pending', $3) ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
        .bind::<Text, _>(&key)
        .bind::<Timestamptz, _>(batch.now)
        .execute(c)
        .await?;
        let outcome = if fresh == 0 {
            "already_seen"
        } else {
            apply_item(c, batch, item, &mut report).await?
        };
        if outcome == "ignored" || outcome == "already_seen" || outcome == "unmatched" {
            report.ignored += 1;
        }
        diesel::sql_query(
            "UPDATE inbound_seen SET outcome = $3 WHERE inbox_id = $1 AND message_key = $2 \
             AND outcome = 'pending'",
        )
        .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
        .bind::<Text, _>(&key)
        .bind::<Text, _>(outcome)
        .execute(c)
        .await?;
    }
    diesel::sql_query(
        "INSERT INTO inbox_folders (inbox_id, folder, uidvalidity, last_uid, synced_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (inbox_id, folder) DO UPDATE SET \
         uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid, \
         synced_at = EXCLUDED.synced_at",
    )
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .bind::<Text, _>(&batch.folder)
    .bind::<BigInt, _>(i64::from(batch.checkpoint.uidvalidity))
    .bind::<BigInt, _>(i64::from(batch.checkpoint.last_uid))
    .bind::<Timestamptz, _>(batch.now)
    .execute(c)
    .await?;
    Ok(Some(report))
}

async fn apply_item(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    item: &InboundItem,
    report: &mut BatchReport,
) -> Result<&'static str, TxError> {
    let m = &item.message;
    match &m.kind {
        InboundKind::Other => Ok("ignored"),
        InboundKind::Reply | InboundKind::AutoReply => {
            let auto = matches!(m.kind, InboundKind::AutoReply);
            let label = item.label.unwrap_or(if auto {
                ReplyLabel::OutOfOffice
            } else {
                ReplyLabel::Neutral
            });
            let Some((lead, conversation)) = match_reply(c, batch, item).await? else {
                return Ok("unmatched");
            };
            match (lead, conversation) {
                (Some(lead), _) => {
                    let Some(lead) = lock_lead(c, lead).await? else {
                        return Ok("unmatched");
                    };
                    let conv = lead_conversation(c, batch, &lead, &m.subject).await?;
                    let became_positive = add_incoming(c, batch, item, conv.id, auto, label)
                        .await?
                        && !conv.is_positive;
                    if auto {
                        event(
                            c,
                            batch,
                            Some(&lead),
                            "auto_reply_received",
                            json!({
                                "conversation_id": conv.id.to_string(),
                            }),
                        )
                        .await?;
                    } else {
                        reply_effects(c, batch, &lead, conv.id, label, became_positive).await?;
                    }
                }
                (None, Some(conv)) => {
                    add_incoming(c, batch, item, conv, auto, label).await?;
                }
                (None, None) => return Ok("unmatched"),
            }
            if auto {
                report.auto_replies += 1;
                Ok("auto_reply")
            } else {
                report.replies += 1;
                Ok("reply")
            }
        }
        InboundKind::Bounce {
            recipients,
            original_message_id,
        } => {
            let mut lead_id: Option<Uuid> = None;
            if let Some(omid) = original_message_id {
                lead_id = diesel::sql_query(
                    "SELECT lead_id AS id FROM sends WHERE workspace_id = $1 AND message_id = $2",
                )
                .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
                .bind::<Text, _>(omid.trim_matches(['<', '>']))
                .get_result::<IdRow>(c)
                .await
                .optional()?
                .map(|r| r.id);
            }
            let addresses: Vec<String> = recipients
                .iter()
                .flat_map(|r| std::iter::once(r.email.clone()).chain(r.original.clone()))
                .map(|a| a.trim().to_lowercase())
                .collect();
            if lead_id.is_none() && !addresses.is_empty() {
                lead_id = diesel::sql_query(
                    "SELECT id FROM leads WHERE workspace_id = $1 AND inbox_id = $2 \
                     AND email = ANY($3) ORDER BY last_sent_at DESC NULLS LAST LIMIT 1",
                )
                .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
                .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
                .bind::<Array<Text>, _>(&addresses)
                .get_result::<IdRow>(c)
                .await
                .optional()?
                .map(|r| r.id);
            }
            let Some(lead_id) = lead_id else {
                return Ok("unmatched");
            };
            let Some(lead) = lock_lead(c, lead_id).await? else {
                return Ok("unmatched");
            };
            // The recipient that is the lead decides; else a single reported one; else any.
            let own = recipients.iter().find(|r| {
                r.email.eq_ignore_ascii_case(&lead.email)
                    || r.original
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(&lead.email))
            });
            let (hard, status) = match own {
                Some(r) => (r.hard, r.status.clone()),
                None => (
                    recipients.iter().any(|r| r.hard),
                    recipients.iter().find_map(|r| r.status.clone()),
                ),
            };
            if !hard {
                report.soft_bounces += 1;
                event(
                    c,
                    batch,
                    Some(&lead),
                    "lead_soft_bounced",
                    json!({ "status": status }),
                )
                .await?;
                return Ok("soft_bounce");
            }
            report.bounces += 1;
            if !lead.is_bounced {
                let newly = i64::from(!lead.counted_finished());
                diesel::sql_query(
                    "UPDATE leads SET is_bounced = true, next_due_at = NULL, \
                     finished_reason = COALESCE(finished_reason, 'bounced'), updated_at = $2 \
                     WHERE id = $1",
                )
                .bind::<SqlUuid, _>(lead.id)
                .bind::<Timestamptz, _>(batch.now)
                .execute(c)
                .await?;
                diesel::sql_query(
                    "UPDATE campaign_stats SET bounced = bounced + 1, \
                     finished_leads = finished_leads + $2 WHERE campaign_id = $1",
                )
                .bind::<SqlUuid, _>(lead.campaign_id)
                .bind::<BigInt, _>(newly)
                .execute(c)
                .await?;
                cancel_queued(c, &[lead.id], "bounced", batch.now).await?;
            }
            event(
                c,
                batch,
                Some(&lead),
                "lead_bounced",
                json!({ "status": status, "source": "dsn" }),
            )
            .await?;
            Ok("bounce")
        }
    }
}

/// Finds what a reply answers: (lead, manual conversation). By In-Reply-To/References among our
/// sends, then among the inbox's conversation messages, else by sender among the inbox's leads.
async fn match_reply(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    item: &InboundItem,
) -> Result<Option<(Option<Uuid>, Option<Uuid>)>, TxError> {
    let ids = item.message.answered_ids();
    if !ids.is_empty() {
        let by_send: Option<IdRow> = diesel::sql_query(
            "SELECT lead_id AS id FROM sends WHERE workspace_id = $1 AND message_id = ANY($2) \
             ORDER BY array_position($2, message_id) LIMIT 1",
        )
        .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
        .bind::<Array<Text>, _>(&ids)
        .get_result(c)
        .await
        .optional()?;
        if let Some(r) = by_send {
            return Ok(Some((Some(r.id), None)));
        }
        let by_message: Option<ConversationMatch> = diesel::sql_query(
            "SELECT cv.id, cv.lead_id FROM messages m JOIN conversations cv \
             ON cv.id = m.conversation_id WHERE m.inbox_id = $1 AND m.rfc_message_id = ANY($2) \
             ORDER BY array_position($2, m.rfc_message_id) LIMIT 1",
        )
        .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
        .bind::<Array<Text>, _>(&ids)
        .get_result(c)
        .await
        .optional()?;
        if let Some(r) = by_message {
            return Ok(Some((r.lead_id, Some(r.id))));
        }
    }
    let Some(from) = item.message.from.as_deref() else {
        return Ok(None);
    };
    let by_sender: Option<IdRow> = diesel::sql_query(
        "SELECT id FROM leads WHERE workspace_id = $1 AND inbox_id = $2 AND email = $3 \
         ORDER BY last_sent_at DESC NULLS LAST LIMIT 1",
    )
    .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .bind::<Text, _>(from.trim().to_lowercase())
    .get_result(c)
    .await
    .optional()?;
    Ok(by_sender.map(|r| (Some(r.id), None)))
}

async fn lock_lead(c: &mut AsyncPgConnection, id: Uuid) -> Result<Option<LeadRow>, TxError> {
    Ok(diesel::sql_query(
        "SELECT l.id, l.campaign_id, l.email, l.status, l.is_bounced, l.is_unsubscribed, \
         l.finished_reason, l.company_domain, c.stop_on_reply, c.stop_on_company_reply, \
         c.timezone FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE l.id = $1 \
         FOR UPDATE OF l",
    )
    .bind::<SqlUuid, _>(id)
    .get_result(c)
    .await
    .optional()?)
}

/// The (inbox, lead) conversation, created if needed, with the lead's sent campaign emails from
/// this inbox as outgoing messages (as rendered when sent).
async fn lead_conversation(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    lead: &LeadRow,
    incoming_subject: &str,
) -> Result<ConversationRow, TxError> {
    let conv: ConversationRow = diesel::sql_query(
        "INSERT INTO conversations (id, workspace_id, inbox_id, lead_id, campaign_id, subject, \
         folder, started_by_hand, last_message_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT s.subject FROM sends s WHERE s.lead_id = $4 \
         AND s.status = 'sent' AND s.subject IS NOT NULL ORDER BY s.step LIMIT 1), $6), \
         'others', false, $7, $7, $7) \
         ON CONFLICT (inbox_id, lead_id) WHERE lead_id IS NOT NULL \
         DO UPDATE SET updated_at = conversations.updated_at \
         RETURNING id, is_positive",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .bind::<SqlUuid, _>(lead.id)
    .bind::<SqlUuid, _>(lead.campaign_id)
    .bind::<Text, _>(incoming_subject)
    .bind::<Timestamptz, _>(batch.now)
    .get_result(c)
    .await?;
    diesel::sql_query(
        "INSERT INTO messages (id, workspace_id, conversation_id, direction, inbox_id, \
         rfc_message_id, in_reply_to, subject, text_body, html_body, from_email, to_recipients, \
         email_date, is_read, kind, send_id, created_at) \
         SELECT gen_random_uuid(), s.workspace_id, $1, 'outgoing', s.inbox_id, s.message_id, \
         NULL, COALESCE(s.subject, ''), COALESCE(s.text_body, ''), COALESCE(s.html_body, ''), \
         i.email, jsonb_build_array(jsonb_build_object('email', l.email, 'name', \
         btrim(l.first_name || ' ' || l.last_name))), COALESCE(s.sent_at, s.updated_at), true, \
         'campaign', s.id, $3 \
         FROM sends s JOIN inboxes i ON i.id = s.inbox_id JOIN leads l ON l.id = s.lead_id \
         WHERE s.lead_id = $2 AND s.inbox_id = $4 AND s.status = 'sent' \
         ON CONFLICT (conversation_id, rfc_message_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(conv.id)
    .bind::<SqlUuid, _>(lead.id)
    .bind::<Timestamptz, _>(batch.now)
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .execute(c)
    .await?;
    Ok(conv)
}

fn recipients_json(list: &[Recipient]) -> Value {
    Value::Array(
        list.iter()
            .map(|r| json!({ "email": r.email, "name": r.name.clone().unwrap_or_default() }))
            .collect(),
    )
}

fn positive_labels() -> Vec<String> {
    ReplyLabel::ALL
        .iter()
        .filter(|l| l.is_positive())
        .map(|l| l.as_str().to_owned())
        .collect()
}

/// Adds the incoming message (and its attachments) and updates the conversation's label,
/// folder and date. Returns whether the conversation is positive afterwards.
async fn add_incoming(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    item: &InboundItem,
    conversation: Uuid,
    auto: bool,
    label: ReplyLabel,
) -> Result<bool, TxError> {
    let m = &item.message;
    let date = m.date.unwrap_or(batch.now);
    let inserted: Option<IdRow> = diesel::sql_query(
        "INSERT INTO messages (id, workspace_id, conversation_id, direction, inbox_id, \
         rfc_message_id, in_reply_to, references_ids, subject, text_body, html_body, from_email, \
         to_recipients, cc_recipients, email_date, is_read, kind, created_at) \
         VALUES ($1, $2, $3, 'incoming', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, false, \
         $15, $16) ON CONFLICT (conversation_id, rfc_message_id) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
    .bind::<SqlUuid, _>(conversation)
    .bind::<SqlUuid, _>(batch.inbox_id.as_uuid())
    .bind::<Text, _>(m.message_id.clone().unwrap_or_else(|| m.key()))
    .bind::<Nullable<Text>, _>(m.in_reply_to.as_deref())
    .bind::<Array<Text>, _>(&m.references)
    .bind::<Text, _>(&m.subject)
    .bind::<Text, _>(&m.text)
    .bind::<Text, _>(&m.html)
    .bind::<Text, _>(m.from.as_deref().unwrap_or_default())
    .bind::<Jsonb, _>(recipients_json(&m.to))
    .bind::<Jsonb, _>(recipients_json(&m.cc))
    .bind::<Timestamptz, _>(date)
    .bind::<Text, _>(if auto { "auto_reply" } else { "reply" })
    .bind::<Timestamptz, _>(batch.now)
    .get_result(c)
    .await
    .optional()?;
    if let Some(message) = inserted {
        for a in &m.attachments {
            diesel::sql_query(
                "INSERT INTO attachments (id, workspace_id, message_id, filename, content_type, \
                 size, content, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
            .bind::<SqlUuid, _>(message.id)
            .bind::<Text, _>(&a.filename)
            .bind::<Text, _>(&a.content_type)
            .bind::<BigInt, _>(i64::try_from(a.size).unwrap_or(i64::MAX))
            .bind::<Nullable<Bytea>, _>(a.content.as_deref())
            .bind::<Timestamptz, _>(batch.now)
            .execute(c)
            .await?;
        }
    }
    // A human reply sets the label and moves the conversation to primary; an auto-reply labels
    // only a conversation that has no human reply yet (folder others).
    diesel::sql_query(
        "UPDATE conversations SET \
         label = CASE WHEN $2 OR folder = 'others' THEN $3 ELSE label END, \
         folder = CASE WHEN $2 THEN 'primary' ELSE folder END, \
         last_message_at = GREATEST(last_message_at, $4), updated_at = $5 \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(conversation)
    .bind::<Bool, _>(!auto)
    .bind::<Text, _>(label.as_str())
    .bind::<Timestamptz, _>(date)
    .bind::<Timestamptz, _>(batch.now)
    .execute(c)
    .await?;
    let updated: ConversationRow = diesel::sql_query(
        "UPDATE conversations SET is_positive = COALESCE(label_override, label) = ANY($2) \
         WHERE id = $1 RETURNING id, is_positive",
    )
    .bind::<SqlUuid, _>(conversation)
    .bind::<Array<Text>, _>(positive_labels())
    .get_result(c)
    .await?;
    Ok(updated.is_positive)
}

/// Records that `lead` counts in positive_replies; false when it was counted before.
async fn first_positive(
    c: &mut AsyncPgConnection,
    lead: Uuid,
    now: OffsetDateTime,
) -> Result<bool, TxError> {
    let inserted = diesel::sql_query(
        "INSERT INTO positive_reply_leads (lead_id, counted_at) VALUES ($1, $2) \
         ON CONFLICT (lead_id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(lead)
    .bind::<Timestamptz, _>(now)
    .execute(c)
    .await?;
    Ok(inserted == 1)
}

/// A human reply of a lead: replied (counters once per lead), stops, company stop, event.
async fn reply_effects(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    lead: &LeadRow,
    conversation: Uuid,
    label: ReplyLabel,
    became_positive: bool,
) -> Result<(), TxError> {
    let first_reply = lead.status != "replied";
    // The variant of the last email the lead was sent.
    let variant: Option<IdRow> = diesel::sql_query(
        "SELECT variant_id AS id FROM sends WHERE lead_id = $1 AND status = 'sent' \
         AND variant_id IS NOT NULL ORDER BY sent_at DESC NULLS LAST LIMIT 1",
    )
    .bind::<SqlUuid, _>(lead.id)
    .get_result(c)
    .await
    .optional()?;
    // positive_replies counts distinct leads: only the first time a lead's conversation turns
    // positive (positive_reply_leads remembers it), not again after a negative reply in between.
    let counted_positive = became_positive && first_positive(c, lead.id, batch.now).await?;
    let positive = i64::from(counted_positive);
    if first_reply {
        let newly = i64::from(!lead.counted_finished());
        diesel::sql_query("UPDATE leads SET status = 'replied', updated_at = $2 WHERE id = $1")
            .bind::<SqlUuid, _>(lead.id)
            .bind::<Timestamptz, _>(batch.now)
            .execute(c)
            .await?;
        diesel::sql_query(
            "UPDATE campaign_stats SET replies = replies + 1, \
             positive_replies = positive_replies + $2, finished_leads = finished_leads + $3 \
             WHERE campaign_id = $1",
        )
        .bind::<SqlUuid, _>(lead.campaign_id)
        .bind::<BigInt, _>(positive)
        .bind::<BigInt, _>(newly)
        .execute(c)
        .await?;
        diesel::sql_query(
            "INSERT INTO campaign_daily_stats (campaign_id, day, workspace_id, replies) \
             VALUES ($1, ($3 AT TIME ZONE $4)::date, $2, 1) \
             ON CONFLICT (campaign_id, day) DO UPDATE SET \
             replies = campaign_daily_stats.replies + 1",
        )
        .bind::<SqlUuid, _>(lead.campaign_id)
        .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
        .bind::<Timestamptz, _>(batch.now)
        .bind::<Text, _>(&lead.timezone)
        .execute(c)
        .await?;
        if let Some(v) = &variant {
            diesel::sql_query(
                "UPDATE variants SET replies = replies + 1, \
                 positive_replies = positive_replies + $2 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(v.id)
            .bind::<BigInt, _>(positive)
            .execute(c)
            .await?;
        }
    } else if counted_positive {
        diesel::sql_query(
            "UPDATE campaign_stats SET positive_replies = positive_replies + 1 \
             WHERE campaign_id = $1",
        )
        .bind::<SqlUuid, _>(lead.campaign_id)
        .execute(c)
        .await?;
        if let Some(v) = &variant {
            diesel::sql_query(
                "UPDATE variants SET positive_replies = positive_replies + 1 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(v.id)
            .execute(c)
            .await?;
        }
    }
    event(
        c,
        batch,
        Some(lead),
        "reply_received",
        json!({ "conversation_id": conversation.to_string(), "label": label.as_str() }),
    )
    .await?;
    if lead.stop_on_reply && lead.finished_reason.is_none() {
        diesel::sql_query(
            "UPDATE leads SET finished_reason = 'replied', next_due_at = NULL WHERE id = $1",
        )
        .bind::<SqlUuid, _>(lead.id)
        .execute(c)
        .await?;
        cancel_queued(c, &[lead.id], "replied", batch.now).await?;
    }
    if lead.stop_on_company_reply
        && let Some(domain) = &lead.company_domain
    {
        let stopped: Vec<CountedRow> = diesel::sql_query(
            "UPDATE leads l SET finished_reason = 'replied', next_due_at = NULL, updated_at = $4 \
             WHERE l.campaign_id = $1 \
             AND l.company_domain = $2 AND l.id <> $3 AND l.finished_reason IS NULL \
             RETURNING l.id, (l.status = 'replied' OR l.is_bounced OR l.is_unsubscribed) \
             AS counted",
        )
        .bind::<SqlUuid, _>(lead.campaign_id)
        .bind::<Text, _>(domain)
        .bind::<SqlUuid, _>(lead.id)
        .bind::<Timestamptz, _>(batch.now)
        .load(c)
        .await?;
        if !stopped.is_empty() {
            let newly = stopped.iter().filter(|s| !s.counted).count();
            diesel::sql_query(
                "UPDATE campaign_stats SET finished_leads = finished_leads + $2 \
                 WHERE campaign_id = $1",
            )
            .bind::<SqlUuid, _>(lead.campaign_id)
            .bind::<BigInt, _>(i64::try_from(newly).unwrap_or(0))
            .execute(c)
            .await?;
            let ids: Vec<Uuid> = stopped.iter().map(|s| s.id).collect();
            cancel_queued(c, &ids, "replied", batch.now).await?;
            diesel::sql_query(
                "INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at) \
                 SELECT $1, $2, id, 'lead_stopped', $4, $5 FROM unnest($3::uuid[]) AS id",
            )
            .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
            .bind::<SqlUuid, _>(lead.campaign_id)
            .bind::<Array<SqlUuid>, _>(&ids)
            .bind::<Jsonb, _>(
                json!({ "reason": "company_replied", "replied_lead_id": lead.id.to_string() }),
            )
            .bind::<Timestamptz, _>(batch.now)
            .execute(c)
            .await?;
        }
    }
    Ok(())
}

/// Cancels the leads' queued or deferred sends and returns their reservations (campaign day,
/// inbox day, variant assignment), as the engine does for a stopped lead.
async fn cancel_queued(
    c: &mut AsyncPgConnection,
    leads: &[Uuid],
    reason: &str,
    now: OffsetDateTime,
) -> Result<i64, TxError> {
    let row: CountRow = diesel::sql_query(
        "WITH cancelled AS ( \
           UPDATE sends SET status = 'cancelled', cancel_reason = $2, updated_at = $3 \
           WHERE lead_id = ANY($1) AND status IN ('queued', 'deferred') \
           RETURNING campaign_id, campaign_day, inbox_id, inbox_day, variant_id), \
         cu AS (UPDATE campaign_usage u SET sends = greatest(u.sends - x.n, 0) \
           FROM (SELECT campaign_id, campaign_day, count(*)::int AS n FROM cancelled \
                 GROUP BY 1, 2) x \
           WHERE u.campaign_id = x.campaign_id AND u.day = x.campaign_day), \
         iu AS (UPDATE inbox_usage u SET campaign_sends = greatest(u.campaign_sends - x.n, 0) \
           FROM (SELECT inbox_id, inbox_day, count(*)::int AS n FROM cancelled \
                 WHERE inbox_id IS NOT NULL GROUP BY 1, 2) x \
           WHERE u.inbox_id = x.inbox_id AND u.day = x.inbox_day), \
         va AS (UPDATE variants v SET assigned = greatest(v.assigned - x.n, 0) \
           FROM (SELECT variant_id, count(*) AS n FROM cancelled \
                 WHERE variant_id IS NOT NULL GROUP BY 1) x WHERE v.id = x.variant_id) \
         SELECT count(*) AS n FROM cancelled",
    )
    .bind::<Array<SqlUuid>, _>(leads)
    .bind::<Text, _>(reason)
    .bind::<Timestamptz, _>(now)
    .get_result(c)
    .await?;
    Ok(row.n)
}

async fn event(
    c: &mut AsyncPgConnection,
    batch: &InboundBatch,
    lead: Option<&LeadRow>,
    kind: &str,
    data: Value,
) -> Result<(), TxError> {
    diesel::sql_query(
        "INSERT INTO events (workspace_id, campaign_id, lead_id, kind, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind::<SqlUuid, _>(batch.workspace_id.as_uuid())
    .bind::<Nullable<SqlUuid>, _>(lead.map(|l| l.campaign_id))
    .bind::<Nullable<SqlUuid>, _>(lead.map(|l| l.id))
    .bind::<Text, _>(kind)
    .bind::<Jsonb, _>(data)
    .bind::<Timestamptz, _>(batch.now)
    .execute(c)
    .await?;
    Ok(())
}
