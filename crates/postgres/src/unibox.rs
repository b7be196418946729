//! Unibox conversations in PostgreSQL.
//!
//! Recipients are stored as JSON arrays of `{"email": string, "name": string|null}`. A page
//! is read in three queries (conversations, their messages, the attachments' descriptions),
//! never the attachments' bytes except for a download.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reachkit_core::StoreError;
use reachkit_core::engine::SendInbox;
use reachkit_core::ids::{AttachmentId, ConversationId, InboxId, LeadId, MessageId, WorkspaceId};
use reachkit_core::inboxes::{Security, ServerSettings};
use reachkit_core::paging::Page;
use reachkit_core::unibox::{
    AttachmentContent, AttachmentMeta, Conversation, ConversationChanges, ConversationQuery,
    ConversationRepository, Direction, Folder, Message, MessageKind, NewConversation, Recipient,
};
use reachkit_domain::label::ReplyLabel;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::blocklist::like_pattern;
use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;
use crate::schema::{attachments, conversations, inboxes, messages};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
struct ConversationRow {
    id: Uuid,
    workspace_id: Uuid,
    inbox_id: Uuid,
    lead_id: Option<Uuid>,
    subject: String,
    label: Option<String>,
    label_override: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
struct MessageRow {
    id: Uuid,
    workspace_id: Uuid,
    conversation_id: Uuid,
    direction: String,
    inbox_id: Uuid,
    rfc_message_id: String,
    in_reply_to: Option<String>,
    references_ids: Vec<Option<String>>,
    subject: String,
    text_body: String,
    html_body: String,
    from_email: String,
    to_recipients: Value,
    cc_recipients: Value,
    bcc_recipients: Value,
    email_date: OffsetDateTime,
    is_read: bool,
    kind: String,
    created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg))]
struct AttachmentRow {
    id: Uuid,
    message_id: Uuid,
    filename: String,
    content_type: String,
    size: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = inboxes, check_for_backend(diesel::pg::Pg))]
struct InboxRow {
    id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    reply_to: String,
    signature: String,
    smtp_host: String,
    smtp_port: i32,
    smtp_security: String,
    smtp_username: String,
    smtp_password: Option<Vec<u8>>,
}

fn label(stored: Option<&str>) -> Result<Option<ReplyLabel>, StoreError> {
    stored
        .map(|s| ReplyLabel::parse(s).map_err(|_| corrupt(format!("label {s}"))))
        .transpose()
}

fn recipients_json(list: &[Recipient]) -> Value {
    Value::Array(
        list.iter()
            .map(|r| json!({"email": r.email, "name": r.name}))
            .collect(),
    )
}

fn recipients(value: &Value) -> Vec<Recipient> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some(Recipient {
                        email: item.get("email")?.as_str()?.to_owned(),
                        name: item.get("name").and_then(Value::as_str).map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn direction(s: &str) -> Result<Direction, StoreError> {
    match s {
        "outgoing" => Ok(Direction::Outgoing),
        "incoming" => Ok(Direction::Incoming),
        _ => Err(corrupt(format!("direction {s}"))),
    }
}

fn kind(s: &str) -> Result<MessageKind, StoreError> {
    match s {
        "campaign" => Ok(MessageKind::Campaign),
        "manual" => Ok(MessageKind::Manual),
        "reply" => Ok(MessageKind::Reply),
        "auto_reply" => Ok(MessageKind::AutoReply),
        _ => Err(corrupt(format!("message kind {s}"))),
    }
}

impl MessageRow {
    fn from_message(
        m: &Message,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: m.id.as_uuid(),
            workspace_id: workspace_id.as_uuid(),
            conversation_id: conversation_id.as_uuid(),
            direction: m.direction.as_str().to_owned(),
            inbox_id: m.inbox_id.as_uuid(),
            rfc_message_id: m.rfc_message_id.clone(),
            in_reply_to: m.in_reply_to.clone(),
            references_ids: m.references.iter().cloned().map(Some).collect(),
            subject: m.subject.clone(),
            text_body: m.text_body.clone(),
            html_body: m.html_body.clone(),
            from_email: m.from_email.clone(),
            to_recipients: recipients_json(&m.to),
            cc_recipients: recipients_json(&m.cc),
            bcc_recipients: recipients_json(&m.bcc),
            email_date: m.email_date,
            is_read: m.is_read,
            kind: m.kind.as_str().to_owned(),
            created_at: now,
        }
    }

    fn into_message(self, attachments: Vec<AttachmentMeta>) -> Result<Message, StoreError> {
        Ok(Message {
            id: MessageId::from_uuid(self.id),
            direction: direction(&self.direction)?,
            kind: kind(&self.kind)?,
            inbox_id: InboxId::from_uuid(self.inbox_id),
            rfc_message_id: self.rfc_message_id,
            in_reply_to: self.in_reply_to,
            references: self.references_ids.into_iter().flatten().collect(),
            subject: self.subject,
            text_body: self.text_body,
            html_body: self.html_body,
            from_email: self.from_email,
            to: recipients(&self.to_recipients),
            cc: recipients(&self.cc_recipients),
            bcc: recipients(&self.bcc_recipients),
            email_date: self.email_date,
            is_read: self.is_read,
            attachments,
        })
    }
}

/// Loads the messages (and attachment descriptions) of these conversations and assembles them.
async fn assemble(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    rows: Vec<ConversationRow>,
) -> Result<Vec<Conversation>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let message_rows: Vec<MessageRow> = messages::table
        .filter(messages::workspace_id.eq(workspace_id))
        .filter(messages::conversation_id.eq_any(&ids))
        .order((messages::email_date.asc(), messages::id.asc()))
        .select(MessageRow::as_select())
        .load(conn)
        .await
        .map_err(from_diesel)?;
    let message_ids: Vec<Uuid> = message_rows.iter().map(|m| m.id).collect();
    let attachment_rows: Vec<AttachmentRow> = attachments::table
        .filter(attachments::workspace_id.eq(workspace_id))
        .filter(attachments::message_id.eq_any(&message_ids))
        .order((attachments::created_at.asc(), attachments::id.asc()))
        .select(AttachmentRow::as_select())
        .load(conn)
        .await
        .map_err(from_diesel)?;
    let mut by_message: HashMap<Uuid, Vec<AttachmentMeta>> = HashMap::new();
    for a in attachment_rows {
        by_message
            .entry(a.message_id)
            .or_default()
            .push(AttachmentMeta {
                id: AttachmentId::from_uuid(a.id),
                filename: a.filename,
                content_type: a.content_type,
                size: a.size,
            });
    }
    let mut by_conversation: HashMap<Uuid, Vec<Message>> = HashMap::new();
    for m in message_rows {
        let attachments = by_message.remove(&m.id).unwrap_or_default();
        let conversation_id = m.conversation_id;
        by_conversation
            .entry(conversation_id)
            .or_default()
            .push(m.into_message(attachments)?);
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(Conversation {
            id: ConversationId::from_uuid(row.id),
            workspace_id: WorkspaceId::from_uuid(row.workspace_id),
            inbox_id: InboxId::from_uuid(row.inbox_id),
            lead_id: row.lead_id.map(LeadId::from_uuid),
            label: label(row.label.as_deref())?,
            label_override: label(row.label_override.as_deref())?,
            subject: row.subject,
            messages: by_conversation.remove(&row.id).unwrap_or_default(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        });
    }
    Ok(out)
}

async fn load_one(
    conn: &mut AsyncPgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Conversation>, StoreError> {
    let row = conversations::table
        .filter(conversations::workspace_id.eq(workspace_id))
        .filter(conversations::id.eq(id))
        .select(ConversationRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(from_diesel)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(assemble(conn, workspace_id, vec![row]).await?.pop()),
    }
}

/// [`ConversationRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgConversationRepository {
    db: Db,
}

impl PgConversationRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ConversationRepository for PgConversationRepository {
    async fn list(
        &self,
        workspace_id: WorkspaceId,
        query: &ConversationQuery,
    ) -> Result<Page<Conversation>, StoreError> {
        let ws = workspace_id.as_uuid();
        let filtered = || {
            let mut q = conversations::table
                .filter(conversations::workspace_id.eq(ws))
                .into_boxed();
            if let Some(folder) = query.folder {
                q = q.filter(conversations::folder.eq(folder.as_str()));
            }
            if let Some(term) = &query.search {
                let p = like_pattern(term);
                q = q.filter(
                    diesel::dsl::sql::<Bool>("(conversations.subject ILIKE ")
                        .bind::<Text, _>(p.clone())
                        .sql(" OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND m.workspace_id = conversations.workspace_id AND (m.subject ILIKE ")
                        .bind::<Text, _>(p.clone())
                        .sql(" OR m.from_email ILIKE ")
                        .bind::<Text, _>(p.clone())
                        .sql(" OR m.to_recipients::text ILIKE ")
                        .bind::<Text, _>(p.clone())
                        .sql(" OR m.cc_recipients::text ILIKE ")
                        .bind::<Text, _>(p.clone())
                        .sql(" OR m.text_body ILIKE ")
                        .bind::<Text, _>(p)
                        .sql(")))"),
                );
            }
            q
        };
        let mut conn = self.db.conn().await?;
        let total: i64 = filtered()
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let rows = filtered()
            .order((
                conversations::last_message_at.desc(),
                conversations::id.desc(),
            ))
            .offset(query.page.offset())
            .limit(query.page.limit())
            .select(ConversationRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        let items = assemble(&mut conn, ws, rows).await?;
        Ok(Page {
            items,
            request: query.page,
            total_count: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        let mut conn = self.db.conn().await?;
        load_one(&mut conn, workspace_id.as_uuid(), id.as_uuid()).await
    }

    async fn update(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
        changes: ConversationChanges,
        now: OffsetDateTime,
    ) -> Result<Option<Conversation>, StoreError> {
        let (ws, id) = (workspace_id.as_uuid(), id.as_uuid());
        let mut conn = self.db.conn().await?;
        let found = conn
            .transaction(async |c| -> Result<bool, TxError> {
                let current: Option<Option<String>> = conversations::table
                    .filter(conversations::workspace_id.eq(ws))
                    .filter(conversations::id.eq(id))
                    .select(conversations::label)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let Some(classified) = current else {
                    return Ok(false);
                };
                if let Some(new_override) = changes.label_override {
                    let effective = match new_override {
                        Some(l) => Some(l),
                        None => label(classified.as_deref())?,
                    };
                    diesel::update(conversations::table.filter(conversations::id.eq(id)))
                        .set((
                            conversations::label_override.eq(new_override.map(ReplyLabel::as_str)),
                            conversations::is_positive
                                .eq(effective.is_some_and(ReplyLabel::is_positive)),
                        ))
                        .execute(c)
                        .await?;
                }
                if let Some(read) = changes.is_read {
                    diesel::update(
                        messages::table
                            .filter(messages::workspace_id.eq(ws))
                            .filter(messages::conversation_id.eq(id)),
                    )
                    .set(messages::is_read.eq(read))
                    .execute(c)
                    .await?;
                }
                diesel::update(conversations::table.filter(conversations::id.eq(id)))
                    .set(conversations::updated_at.eq(now))
                    .execute(c)
                    .await?;
                Ok(true)
            })
            .await?;
        if !found {
            return Ok(None);
        }
        load_one(&mut conn, ws, id).await
    }

    async fn sending_inbox(
        &self,
        workspace_id: WorkspaceId,
        inbox_id: Option<InboxId>,
    ) -> Result<Option<SendInbox>, StoreError> {
        let mut conn = self.db.conn().await?;
        let mut q = inboxes::table
            .filter(inboxes::workspace_id.eq(workspace_id.as_uuid()))
            .into_boxed();
        q = match inbox_id {
            Some(id) => q.filter(inboxes::id.eq(id.as_uuid())),
            None => q
                .filter(inboxes::is_active.eq(true))
                .order((inboxes::created_at.asc(), inboxes::id.asc())),
        };
        let row: Option<InboxRow> = q
            .select(InboxRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(|r| {
            let security = Security::parse(&r.smtp_security)
                .ok_or_else(|| corrupt(format!("smtp_security {}", r.smtp_security)))?;
            Ok(SendInbox {
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
                    security,
                    username: r.smtp_username,
                },
                smtp_password: r.smtp_password,
            })
        })
        .transpose()
    }

    async fn create(&self, new: &NewConversation) -> Result<Conversation, StoreError> {
        let ws = new.workspace_id.as_uuid();
        let id = new.id.as_uuid();
        let row = ConversationRow {
            id,
            workspace_id: ws,
            inbox_id: new.inbox_id.as_uuid(),
            lead_id: None,
            subject: new.subject.clone(),
            label: None,
            label_override: None,
            created_at: new.at,
            updated_at: new.at,
        };
        let message = MessageRow::from_message(&new.message, new.workspace_id, new.id, new.at);
        let mut conn = self.db.conn().await?;
        conn.transaction(async |c| -> Result<(), TxError> {
            diesel::insert_into(conversations::table)
                .values((
                    &row,
                    conversations::folder.eq(Folder::Primary.as_str()),
                    conversations::started_by_hand.eq(true),
                    conversations::is_positive.eq(false),
                    conversations::last_message_at.eq(new.at),
                ))
                .execute(c)
                .await?;
            diesel::insert_into(messages::table)
                .values(&message)
                .execute(c)
                .await?;
            Ok(())
        })
        .await?;
        load_one(&mut conn, ws, id)
            .await?
            .ok_or_else(|| corrupt("a conversation just created is gone"))
    }

    async fn add_message(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        message: &Message,
        now: OffsetDateTime,
    ) -> Result<Option<Message>, StoreError> {
        let (ws, id) = (workspace_id.as_uuid(), conversation_id.as_uuid());
        let row = MessageRow::from_message(message, workspace_id, conversation_id, now);
        let mut conn = self.db.conn().await?;
        let stored = conn
            .transaction(async |c| -> Result<Option<MessageRow>, TxError> {
                let exists: Option<Uuid> = conversations::table
                    .filter(conversations::workspace_id.eq(ws))
                    .filter(conversations::id.eq(id))
                    .select(conversations::id)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                if exists.is_none() {
                    return Ok(None);
                }
                let stored = diesel::insert_into(messages::table)
                    .values(&row)
                    .returning(MessageRow::as_returning())
                    .get_result(c)
                    .await?;
                diesel::update(conversations::table.filter(conversations::id.eq(id)))
                    .set((
                        conversations::last_message_at.eq(diesel::dsl::sql::<
                            diesel::sql_types::Timestamptz,
                        >(
                            "GREATEST(last_message_at, "
                        )
                        .bind::<diesel::sql_types::Timestamptz, _>(message.email_date)
                        .sql(")")),
                        conversations::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                Ok(Some(stored))
            })
            .await?;
        stored.map(|r| r.into_message(Vec::new())).transpose()
    }

    async fn attachment(
        &self,
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        attachment_id: AttachmentId,
    ) -> Result<Option<AttachmentContent>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row: Option<(String, String, Option<Vec<u8>>)> = attachments::table
            .inner_join(messages::table)
            .filter(attachments::workspace_id.eq(workspace_id.as_uuid()))
            .filter(attachments::id.eq(attachment_id.as_uuid()))
            .filter(messages::workspace_id.eq(workspace_id.as_uuid()))
            .filter(messages::conversation_id.eq(conversation_id.as_uuid()))
            .select((
                attachments::filename,
                attachments::content_type,
                attachments::content,
            ))
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        Ok(row.and_then(|(filename, content_type, content)| {
            content.map(|content| AttachmentContent {
                filename,
                content_type,
                content,
            })
        }))
    }
}
