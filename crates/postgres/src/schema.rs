// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        name -> Text,
        prefix -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        message_id -> Uuid,
        filename -> Text,
        content_type -> Text,
        size -> Int8,
        content -> Nullable<Bytea>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    blocklist_entries (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        email -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_daily_stats (campaign_id, day) {
        campaign_id -> Uuid,
        day -> Date,
        workspace_id -> Uuid,
        sent -> Int8,
        replies -> Int8,
    }
}

diesel::table! {
    campaign_inboxes (campaign_id, inbox_id) {
        campaign_id -> Uuid,
        inbox_id -> Uuid,
        workspace_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_stats (campaign_id) {
        campaign_id -> Uuid,
        workspace_id -> Uuid,
        leads_count -> Int8,
        finished_leads -> Int8,
        sent -> Int8,
        contacted -> Int8,
        replies -> Int8,
        positive_replies -> Int8,
        bounced -> Int8,
        unsubscribed -> Int8,
        unknown -> Int8,
    }
}

diesel::table! {
    campaign_usage (campaign_id, day) {
        campaign_id -> Uuid,
        day -> Date,
        sends -> Int4,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        name -> Text,
        status -> Text,
        daily_limit -> Int4,
        stop_on_reply -> Bool,
        stop_on_company_reply -> Bool,
        text_only -> Bool,
        esp_matching -> Bool,
        unsubscribe_option -> Bool,
        timezone -> Text,
        window_start -> Int2,
        window_end -> Int2,
        schedule_days -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        inbox_id -> Uuid,
        lead_id -> Nullable<Uuid>,
        campaign_id -> Nullable<Uuid>,
        subject -> Text,
        label -> Nullable<Text>,
        label_override -> Nullable<Text>,
        is_positive -> Bool,
        folder -> Text,
        started_by_hand -> Bool,
        last_message_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        workspace_id -> Uuid,
        campaign_id -> Nullable<Uuid>,
        lead_id -> Nullable<Uuid>,
        send_id -> Nullable<Uuid>,
        kind -> Text,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (workspace_id, key) {
        workspace_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Nullable<Int2>,
        response_headers -> Nullable<Jsonb>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    inbound_seen (inbox_id, message_key) {
        inbox_id -> Uuid,
        message_key -> Text,
        outcome -> Text,
        seen_at -> Timestamptz,
    }
}

diesel::table! {
    inbox_folders (inbox_id, folder) {
        inbox_id -> Uuid,
        folder -> Text,
        uidvalidity -> Int8,
        last_uid -> Int8,
        synced_at -> Timestamptz,
    }
}

diesel::table! {
    inbox_send_state (inbox_id) {
        inbox_id -> Uuid,
        next_slot_at -> Nullable<Timestamptz>,
        auth_failures -> Int4,
    }
}

diesel::table! {
    inbox_sync_leases (inbox_id) {
        inbox_id -> Uuid,
        owner -> Nullable<Text>,
        expires_at -> Nullable<Timestamptz>,
        last_synced_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        wake_requested_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    inbox_usage (inbox_id, day) {
        inbox_id -> Uuid,
        day -> Date,
        campaign_sends -> Int4,
        warmup_sends -> Int4,
    }
}

diesel::table! {
    inbox_watches (inbox_id) {
        inbox_id -> Uuid,
        owner -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    inboxes (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        email -> Text,
        domain -> Text,
        provider -> Text,
        connection_type -> Text,
        connection_status -> Text,
        connection_error -> Nullable<Text>,
        connection_checked_at -> Nullable<Timestamptz>,
        first_name -> Text,
        last_name -> Text,
        reply_to -> Text,
        signature -> Text,
        is_active -> Bool,
        is_warming -> Bool,
        daily_campaign_limit -> Int4,
        daily_warmup_limit -> Int4,
        smtp_host -> Text,
        smtp_port -> Int4,
        smtp_security -> Text,
        smtp_username -> Text,
        smtp_password -> Nullable<Bytea>,
        imap_host -> Text,
        imap_port -> Int4,
        imap_security -> Text,
        imap_username -> Text,
        imap_password -> Nullable<Bytea>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    leads (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        campaign_id -> Uuid,
        email -> Text,
        email_domain -> Text,
        company_domain -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        variables -> Jsonb,
        status -> Text,
        is_bounced -> Bool,
        is_unsubscribed -> Bool,
        provider -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        next_step -> Int4,
        next_due_at -> Nullable<Timestamptz>,
        inbox_id -> Nullable<Uuid>,
        thread_message_ids -> Array<Nullable<Text>>,
        thread_subject -> Nullable<Text>,
        last_sent_at -> Nullable<Timestamptz>,
        finished_reason -> Nullable<Text>,
        provider_checked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        conversation_id -> Uuid,
        direction -> Text,
        inbox_id -> Uuid,
        rfc_message_id -> Text,
        in_reply_to -> Nullable<Text>,
        references_ids -> Array<Nullable<Text>>,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        from_email -> Text,
        to_recipients -> Jsonb,
        cc_recipients -> Jsonb,
        bcc_recipients -> Jsonb,
        email_date -> Timestamptz,
        is_read -> Bool,
        kind -> Text,
        send_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    positive_reply_leads (lead_id) {
        lead_id -> Uuid,
        counted_at -> Timestamptz,
    }
}

diesel::table! {
    sends (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        campaign_id -> Uuid,
        lead_id -> Uuid,
        step -> Int4,
        variant_id -> Nullable<Uuid>,
        inbox_id -> Nullable<Uuid>,
        message_id -> Text,
        status -> Text,
        attempts -> Int4,
        not_before -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        last_reply -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        inbox_day -> Date,
        campaign_day -> Date,
        queued_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        subject -> Nullable<Text>,
        text_body -> Nullable<Text>,
        html_body -> Nullable<Text>,
    }
}

diesel::table! {
    sequences (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        campaign_id -> Uuid,
        step -> Int4,
        delay_days -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    variants (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        campaign_id -> Uuid,
        sequence_id -> Uuid,
        letter -> Text,
        ordinal -> Int4,
        subject -> Nullable<Text>,
        body_html -> Nullable<Text>,
        body_text -> Nullable<Text>,
        enabled -> Bool,
        sent -> Int8,
        replies -> Int8,
        positive_replies -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        assigned -> Int8,
    }
}

diesel::table! {
    warmup_messages (id) {
        id -> Uuid,
        token -> Text,
        message_id -> Text,
        sender_inbox_id -> Uuid,
        recipient_inbox_id -> Uuid,
        subject -> Text,
        reply_to_id -> Nullable<Uuid>,
        status -> Text,
        sent_day -> Date,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        received_at -> Nullable<Timestamptz>,
        received_day -> Nullable<Date>,
        landed_in_spam -> Bool,
        saved_from_spam -> Bool,
        reply_wanted -> Bool,
        replied_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    warmup_state (inbox_id) {
        inbox_id -> Uuid,
        started_on -> Nullable<Date>,
        next_send_at -> Nullable<Timestamptz>,
        sends_total -> Int8,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        seq -> Int8,
        endpoint_id -> Uuid,
        workspace_id -> Uuid,
        event_id -> Nullable<Int8>,
        event_type -> Text,
        lead_id -> Nullable<Uuid>,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        last_attempt_at -> Nullable<Timestamptz>,
        last_status_code -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        workspace_id -> Uuid,
        url -> Text,
        description -> Text,
        event_types -> Array<Nullable<Text>>,
        campaign_id -> Nullable<Uuid>,
        secret -> Bytea,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        consecutive_failures -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> workspaces (workspace_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(attachments -> workspaces (workspace_id));
diesel::joinable!(blocklist_entries -> workspaces (workspace_id));
diesel::joinable!(campaign_daily_stats -> campaigns (campaign_id));
diesel::joinable!(campaign_daily_stats -> workspaces (workspace_id));
diesel::joinable!(campaign_inboxes -> campaigns (campaign_id));
diesel::joinable!(campaign_inboxes -> inboxes (inbox_id));
diesel::joinable!(campaign_inboxes -> workspaces (workspace_id));
diesel::joinable!(campaign_stats -> campaigns (campaign_id));
diesel::joinable!(campaign_stats -> workspaces (workspace_id));
diesel::joinable!(campaign_usage -> campaigns (campaign_id));
diesel::joinable!(campaigns -> workspaces (workspace_id));
diesel::joinable!(conversations -> campaigns (campaign_id));
diesel::joinable!(conversations -> inboxes (inbox_id));
diesel::joinable!(conversations -> leads (lead_id));
diesel::joinable!(conversations -> workspaces (workspace_id));
diesel::joinable!(events -> campaigns (campaign_id));
diesel::joinable!(events -> workspaces (workspace_id));
diesel::joinable!(idempotency_keys -> workspaces (workspace_id));
diesel::joinable!(inbound_seen -> inboxes (inbox_id));
diesel::joinable!(inbox_folders -> inboxes (inbox_id));
diesel::joinable!(inbox_send_state -> inboxes (inbox_id));
diesel::joinable!(inbox_sync_leases -> inboxes (inbox_id));
diesel::joinable!(inbox_usage -> inboxes (inbox_id));
diesel::joinable!(inbox_watches -> inboxes (inbox_id));
diesel::joinable!(inboxes -> workspaces (workspace_id));
diesel::joinable!(leads -> campaigns (campaign_id));
diesel::joinable!(leads -> inboxes (inbox_id));
diesel::joinable!(leads -> workspaces (workspace_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(messages -> inboxes (inbox_id));
diesel::joinable!(messages -> sends (send_id));
diesel::joinable!(messages -> workspaces (workspace_id));
diesel::joinable!(positive_reply_leads -> leads (lead_id));
diesel::joinable!(sends -> campaigns (campaign_id));
diesel::joinable!(sends -> inboxes (inbox_id));
diesel::joinable!(sends -> leads (lead_id));
diesel::joinable!(sends -> variants (variant_id));
diesel::joinable!(sends -> workspaces (workspace_id));
diesel::joinable!(sequences -> campaigns (campaign_id));
diesel::joinable!(sequences -> workspaces (workspace_id));
diesel::joinable!(variants -> campaigns (campaign_id));
diesel::joinable!(variants -> sequences (sequence_id));
diesel::joinable!(variants -> workspaces (workspace_id));
diesel::joinable!(warmup_state -> inboxes (inbox_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> workspaces (workspace_id));
diesel::joinable!(webhook_endpoints -> campaigns (campaign_id));
diesel::joinable!(webhook_endpoints -> workspaces (workspace_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    attachments,
    blocklist_entries,
    campaign_daily_stats,
    campaign_inboxes,
    campaign_stats,
    campaign_usage,
    campaigns,
    conversations,
    events,
    idempotency_keys,
    inbound_seen,
    inbox_folders,
    inbox_send_state,
    inbox_sync_leases,
    inbox_usage,
    inbox_watches,
    inboxes,
    leads,
    messages,
    positive_reply_leads,
    sends,
    sequences,
    variants,
    warmup_messages,
    warmup_state,
    webhook_deliveries,
    webhook_endpoints,
    workspaces,
);
