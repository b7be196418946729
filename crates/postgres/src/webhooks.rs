//! Webhook endpoints and the delivery outbox in PostgreSQL (docs/WEBHOOKS.md). Deliveries are
//! created by the `events` fan-out trigger (migration 000010) or by [`WebhookRepository::enqueue`].

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{
    BigInt, Integer, Interval, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::AsyncConnection;
use diesel_async::RunQueryDsl;
use reachkit_core::StoreError;
use reachkit_core::ids::{CampaignId, WebhookDeliveryId, WebhookEndpointId, WorkspaceId};
use reachkit_core::paging::{Page, PageRequest};
use reachkit_core::webhooks::{
    AttemptOutcome, Delivery, DeliveryStatus, DueDelivery, NewEndpoint, WebhookEndpoint,
    WebhookRepository,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{TxError, corrupt, from_diesel};
use crate::pool::Db;
use crate::schema::{campaigns, webhook_deliveries as deliveries, webhook_endpoints as endpoints};

#[derive(Queryable, Selectable)]
#[diesel(table_name = endpoints, check_for_backend(diesel::pg::Pg))]
struct EndpointRow {
    id: Uuid,
    workspace_id: Uuid,
    url: String,
    description: String,
    event_types: Vec<Option<String>>,
    campaign_id: Option<Uuid>,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: WebhookEndpointId::from_uuid(r.id),
            workspace_id: WorkspaceId::from_uuid(r.workspace_id),
            url: r.url,
            description: r.description,
            event_types: r.event_types.into_iter().flatten().collect(),
            campaign_id: r.campaign_id.map(CampaignId::from_uuid),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    event_type: String,
    payload: serde_json::Value,
    status: String,
    attempts: i32,
    next_attempt_at: OffsetDateTime,
    last_attempt_at: Option<OffsetDateTime>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        let status = DeliveryStatus::parse(&r.status)
            .ok_or_else(|| corrupt(format!("delivery {} status {}", r.id, r.status)))?;
        Ok(Self {
            id: WebhookDeliveryId::from_uuid(r.id),
            endpoint_id: WebhookEndpointId::from_uuid(r.endpoint_id),
            event_type: r.event_type,
            payload: r.payload,
            status,
            attempts: u32::try_from(r.attempts).unwrap_or_default(),
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(r.next_attempt_at),
            last_attempt_at: r.last_attempt_at,
            last_status_code: r.last_status_code.and_then(|c| u16::try_from(c).ok()),
            last_error: r.last_error,
            delivered_at: r.delivered_at,
            created_at: r.created_at,
        })
    }
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    endpoint_id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    secret: Vec<u8>,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

fn interval(d: Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(
        i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    )
}

/// [`WebhookRepository`] over PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgWebhookRepository {
    db: Db,
}

impl PgWebhookRepository {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn page_of<T>(items: Vec<T>, request: PageRequest, total: i64) -> Page<T> {
    Page {
        items,
        request,
        total_count: u64::try_from(total).unwrap_or_default(),
    }
}

#[async_trait]
impl WebhookRepository for PgWebhookRepository {
    async fn campaign_exists(
        &self,
        workspace_id: WorkspaceId,
        campaign_id: CampaignId,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::select(diesel::dsl::exists(
            campaigns::table
                .filter(campaigns::workspace_id.eq(workspace_id.as_uuid()))
                .filter(campaigns::id.eq(campaign_id.as_uuid())),
        ))
        .get_result(&mut conn)
        .await
        .map_err(from_diesel)
    }

    async fn create(&self, new: &NewEndpoint) -> Result<(), StoreError> {
        let e = &new.endpoint;
        let mut conn = self.db.conn().await?;
        diesel::insert_into(endpoints::table)
            .values((
                endpoints::id.eq(e.id.as_uuid()),
                endpoints::workspace_id.eq(e.workspace_id.as_uuid()),
                endpoints::url.eq(&e.url),
                endpoints::description.eq(&e.description),
                endpoints::event_types.eq(e
                    .event_types
                    .iter()
                    .map(|t| Some(t.clone()))
                    .collect::<Vec<_>>()),
                endpoints::campaign_id.eq(e.campaign_id.map(|c| c.as_uuid())),
                endpoints::secret.eq(&new.sealed_secret),
                endpoints::enabled.eq(e.enabled),
                endpoints::disabled_reason.eq(&e.disabled_reason),
                endpoints::created_at.eq(e.created_at),
                endpoints::updated_at.eq(e.updated_at),
            ))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn get(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row = endpoints::table
            .filter(endpoints::workspace_id.eq(workspace_id.as_uuid()))
            .filter(endpoints::id.eq(id.as_uuid()))
            .select(EndpointRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        Ok(row.map(Into::into))
    }

    async fn list(
        &self,
        workspace_id: WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let ws = workspace_id.as_uuid();
        let mut conn = self.db.conn().await?;
        let total: i64 = endpoints::table
            .filter(endpoints::workspace_id.eq(ws))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let rows = endpoints::table
            .filter(endpoints::workspace_id.eq(ws))
            .order((endpoints::created_at.asc(), endpoints::id.asc()))
            .offset(page.offset())
            .limit(page.limit())
            .select(EndpointRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(page_of(
            rows.into_iter().map(Into::into).collect(),
            page,
            total,
        ))
    }

    async fn update(
        &self,
        e: &WebhookEndpoint,
        set_enabled: bool,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (ws, id) = (e.workspace_id.as_uuid(), e.id.as_uuid());
        let types: Vec<Option<String>> = e.event_types.iter().map(|t| Some(t.clone())).collect();
        let mut conn = self.db.conn().await?;
        let row = conn
            .transaction::<_, TxError, _>(async |c| {
                let target = || {
                    endpoints::table
                        .filter(endpoints::workspace_id.eq(ws))
                        .filter(endpoints::id.eq(id))
                };
                let n = diesel::update(target())
                    .set((
                        endpoints::url.eq(&e.url),
                        endpoints::description.eq(&e.description),
                        endpoints::event_types.eq(&types),
                        endpoints::campaign_id.eq(e.campaign_id.map(|c| c.as_uuid())),
                        endpoints::updated_at.eq(e.updated_at),
                    ))
                    .execute(c)
                    .await?;
                if n == 0 {
                    return Ok(None);
                }
                // Only an explicit `enabled` touches the state the worker also writes.
                if set_enabled {
                    diesel::update(target())
                        .set((
                            endpoints::enabled.eq(e.enabled),
                            endpoints::disabled_reason.eq(&e.disabled_reason),
                            endpoints::consecutive_failures.eq(0),
                        ))
                        .execute(c)
                        .await?;
                }
                Ok(Some(
                    target().select(EndpointRow::as_select()).first(c).await?,
                ))
            })
            .await?;
        Ok(row.map(Into::into))
    }

    async fn delete(
        &self,
        workspace_id: WorkspaceId,
        id: WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(
            endpoints::table
                .filter(endpoints::workspace_id.eq(workspace_id.as_uuid()))
                .filter(endpoints::id.eq(id.as_uuid())),
        )
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(n > 0)
    }

    async fn enqueue(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        delivery_id: WebhookDeliveryId,
        event_type: &str,
        payload: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::id.eq(delivery_id.as_uuid()),
                deliveries::endpoint_id.eq(endpoint_id.as_uuid()),
                deliveries::workspace_id.eq(workspace_id.as_uuid()),
                deliveries::event_type.eq(event_type),
                deliveries::payload.eq(payload),
                deliveries::next_attempt_at.eq(now),
                deliveries::created_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let (ws, ep) = (workspace_id.as_uuid(), endpoint_id.as_uuid());
        let mut conn = self.db.conn().await?;
        let total: i64 = deliveries::table
            .filter(deliveries::workspace_id.eq(ws))
            .filter(deliveries::endpoint_id.eq(ep))
            .count()
            .get_result(&mut conn)
            .await
            .map_err(from_diesel)?;
        let rows = deliveries::table
            .filter(deliveries::workspace_id.eq(ws))
            .filter(deliveries::endpoint_id.eq(ep))
            .order(deliveries::seq.desc())
            .offset(page.offset())
            .limit(page.limit())
            .select(DeliveryRow::as_select())
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(page_of(
            rows.into_iter()
                .map(Delivery::try_from)
                .collect::<Result<_, _>>()?,
            page,
            total,
        ))
    }

    async fn redeliver(
        &self,
        workspace_id: WorkspaceId,
        endpoint_id: WebhookEndpointId,
        delivery_id: WebhookDeliveryId,
        now: OffsetDateTime,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut conn = self.db.conn().await?;
        let row = diesel::update(
            deliveries::table
                .filter(deliveries::workspace_id.eq(workspace_id.as_uuid()))
                .filter(deliveries::endpoint_id.eq(endpoint_id.as_uuid()))
                .filter(deliveries::id.eq(delivery_id.as_uuid())),
        )
        .set((
            deliveries::status.eq("pending"),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(now),
            deliveries::lease_owner.eq(None::<String>),
            deliveries::lease_expires_at.eq(None::<OffsetDateTime>),
        ))
        .returning(DeliveryRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(from_diesel)?;
        row.map(Delivery::try_from).transpose()
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut conn = self.db.conn().await?;
        // Per-lead order: a delivery waits while an earlier pending one of the same endpoint and
        // lead exists, whether it is due, leased by someone, or waiting for its retry.
        let rows: Vec<DueRow> = diesel::sql_query(
            "WITH due AS ( \
               SELECT d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1) \
                 AND (d.lead_id IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM webhook_deliveries p \
                   WHERE p.endpoint_id = d.endpoint_id AND p.lead_id = d.lead_id \
                     AND p.status = 'pending' AND p.seq < d.seq)) \
               ORDER BY d.seq LIMIT $4 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries d SET lease_owner = $2, lease_expires_at = $1 + $3 \
             FROM due, webhook_endpoints e \
             WHERE d.id = due.id AND e.id = d.endpoint_id \
             RETURNING d.id, d.endpoint_id, e.url, e.secret, d.payload, d.attempts, d.seq",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<Text, _>(owner)
        .bind::<Interval, _>(interval(lease))
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(from_diesel)?;
        let mut rows = rows;
        rows.sort_by_key(|r| r.seq);
        Ok(rows
            .into_iter()
            .map(|r| DueDelivery {
                id: WebhookDeliveryId::from_uuid(r.id),
                endpoint_id: WebhookEndpointId::from_uuid(r.endpoint_id),
                url: r.url,
                sealed_secret: r.secret,
                payload: r.payload,
                attempts: u32::try_from(r.attempts).unwrap_or_default(),
            })
            .collect())
    }

    async fn record_attempt(
        &self,
        id: WebhookDeliveryId,
        now: OffsetDateTime,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let id = id.as_uuid();
        let outcome = outcome.clone();
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, TxError, _>(async |c| {
            let (status, code, error, next) = match &outcome {
                AttemptOutcome::Delivered { status_code } => {
                    ("delivered", Some(*status_code), None, None)
                }
                AttemptOutcome::Retry {
                    status_code,
                    error,
                    next_attempt_at,
                } => (
                    "pending",
                    *status_code,
                    Some(error.clone()),
                    Some(*next_attempt_at),
                ),
                AttemptOutcome::GaveUp {
                    status_code, error, ..
                } => ("failed", *status_code, Some(error.clone()), None),
            };
            let endpoint: Option<Uuid> = diesel::update(deliveries::table.find(id))
                .set((
                    deliveries::status.eq(status),
                    deliveries::attempts.eq(deliveries::attempts + 1),
                    deliveries::lease_owner.eq(None::<String>),
                    deliveries::lease_expires_at.eq(None::<OffsetDateTime>),
                    deliveries::last_attempt_at.eq(now),
                    deliveries::last_status_code.eq(code.map(i32::from)),
                    deliveries::last_error.eq(error),
                ))
                .returning(deliveries::endpoint_id)
                .get_result(c)
                .await
                .optional()?;
            let Some(endpoint) = endpoint else {
                return Ok(());
            };
            if let Some(next) = next {
                diesel::update(deliveries::table.find(id))
                    .set(deliveries::next_attempt_at.eq(next))
                    .execute(c)
                    .await?;
            }
            match &outcome {
                AttemptOutcome::Delivered { .. } => {
                    diesel::update(deliveries::table.find(id))
                        .set(deliveries::delivered_at.eq(now))
                        .execute(c)
                        .await?;
                    diesel::update(endpoints::table.find(endpoint))
                        .set(endpoints::consecutive_failures.eq(0))
                        .execute(c)
                        .await?;
                }
                AttemptOutcome::Retry { .. } => {}
                AttemptOutcome::GaveUp { disable_after, .. } => {
                    diesel::sql_query(
                        "UPDATE webhook_endpoints SET \
                               consecutive_failures = consecutive_failures + 1, \
                               enabled = CASE WHEN consecutive_failures + 1 >= $2 \
                                 THEN false ELSE enabled END, \
                               disabled_reason = CASE WHEN consecutive_failures + 1 >= $2 \
                                 AND enabled THEN $3 ELSE disabled_reason END \
                             WHERE id = $1",
                    )
                    .bind::<SqlUuid, _>(endpoint)
                    .bind::<Integer, _>(i32::try_from(*disable_after).unwrap_or(i32::MAX))
                    .bind::<Nullable<Text>, _>(Some(format!(
                        "disabled after {disable_after} deliveries failed in a row"
                    )))
                    .execute(c)
                    .await?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
